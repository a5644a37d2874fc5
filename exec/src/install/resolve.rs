//! The dependency closure of a set of requirements, from pip's resolver,
//! or from the install cache alone when it already holds it.

use super::{canonical_name, io, normalize_key, InstallError, Installer, TmpPath};
use std::collections::{BTreeMap, BTreeSet};

impl Installer {
    /// The full closure of `requirements` (pip requirement strings, such as
    /// `numpy==1.26.4` or `requests>=2`), as sorted normalized `name==version`
    /// keys, from pip's resolver (`install --dry-run --report`) with the same
    /// wheel-only container target as [`Installer::install`]. Installs
    /// nothing.
    pub fn resolve(&self, requirements: &[String]) -> Result<Vec<String>, InstallError> {
        if requirements.is_empty() {
            return Ok(Vec::new());
        }
        for r in requirements {
            let reason = if r.trim().is_empty() {
                Some("empty")
            } else if r.trim_start().starts_with('-') {
                Some("looks like a pip option")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(InstallError::InvalidRequirement {
                    requirement: r.clone(),
                    reason,
                });
            }
        }
        let what = requirements.join(" ");
        let target = self.tmp_path("resolve");
        let report = TmpPath(Some(target.path().with_extension("json")));
        let mut cmd = self.pip_install();
        cmd.args(["--dry-run", "--ignore-installed", "--quiet", "--target"])
            .arg(target.path())
            .arg("--report")
            .arg(report.path())
            .args(requirements);
        let out = self.run(cmd)?;
        if !out.status.success() {
            return Err(self.failure(&what, &out));
        }
        let text = std::fs::read_to_string(report.path()).map_err(io("read", report.path()))?;
        let bad = |reason: String| InstallError::Metadata {
            key: what.clone(),
            reason: format!("pip's report {}: {reason}", report.path().display()),
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let items = json["install"]
            .as_array()
            .ok_or_else(|| bad("no `install` list".into()))?;
        let mut keys = Vec::new();
        for item in items {
            let meta = &item["metadata"];
            match (meta["name"].as_str(), meta["version"].as_str()) {
                (Some(n), Some(v)) => keys.push(format!("{}=={v}", canonical_name(n))),
                _ => return Err(bad(format!("an entry without name and version: {item}"))),
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The closure of exact `pins` from the cache when it holds all of it
    /// (so a second start needs no index), else [`Installer::resolve`].
    pub fn resolve_pins(&self, pins: &[String]) -> Result<Vec<String>, InstallError> {
        match self.cached_closure(pins) {
            Some(keys) => Ok(keys),
            None => self.resolve(pins),
        }
    }

    /// The closure of `pins` from the cache alone: every pin installed, and
    /// every `Requires-Dist` (markers other than extras not evaluated, so
    /// this may ask for more than pip would) installed in exactly one
    /// version; `None` sends the caller to pip's resolver.
    fn cached_closure(&self, pins: &[String]) -> Option<Vec<String>> {
        let installed = self.installed().ok()?;
        let mut by_name: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for k in &installed {
            let name = k.split_once("==").map_or(k.as_str(), |(n, _)| n);
            by_name.entry(canonical_name(name)).or_default().push(k);
        }
        let mut todo: Vec<String> = Vec::new();
        for p in pins {
            let key = normalize_key(p).ok()?;
            if !self.is_installed(&key) {
                return None;
            }
            todo.push(key);
        }
        let mut seen = BTreeSet::new();
        while let Some(key) = todo.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            for dep in self.requires(&key).ok()? {
                match by_name.get(&canonical_name(&dep)).map(Vec::as_slice) {
                    Some([one]) => todo.push((*one).clone()),
                    _ => return None,
                }
            }
        }
        Some(seen.into_iter().collect())
    }
}
