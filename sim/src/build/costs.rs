//! Measured package costs (open-lambda/ReqBench `install_import.json`) and
//! observed dependency closures (`deps.json`).
//!
//! `install_import.json` is `{name: {version: {install_time, disk_size, top,
//! i-ms, i-mb, ms, mb, ...}}}`. The trace charges each package of a closure
//! once, so it takes the **exclusive** figures `ms` / `mb` (dependencies
//! already imported), not the inclusive `i-ms` / `i-mb`, which count every
//! dependency again. `mb` below 0 is measurement noise around tiny imports
//! and becomes 0 (counted).
//!
//! `deps.json` is `{name: {version: {"a==1,b==2,...": times_seen}}}`: the
//! closures pip resolved for the package in the GitHub corpus. The most
//! frequent one (ties: the smaller string) is the package's dependency set.

use super::json::{read_json, JsonError, OrderedMap};
use super::requirements::Requirement;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The costs a trace package carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Costs {
    pub import_ms: f64,
    pub import_mb: f64,
    pub install_ms: f64,
    pub disk_bytes: u64,
    pub modules: Vec<String>,
}

/// One record of `install_import.json` (other fields are ignored).
#[derive(Debug, Deserialize)]
struct Record {
    install_time: f64,
    disk_size: f64,
    #[serde(default)]
    top: Vec<String>,
    ms: f64,
    mb: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CostsError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error(
        "{path}: {key}: `{field}` is {value}; it must be a finite number >= 0 and at most 1e12"
    )]
    BadNumber {
        path: String,
        key: String,
        field: &'static str,
        value: f64,
    },
    #[error("{path}: no package costs in the file (it must hold at least one measured `name`/`version` record; an empty file would give every package zero cost)")]
    Empty { path: String },
    #[error("{path}: {key} appears twice once names are normalised")]
    Duplicate { path: String, key: String },
    #[error("{path}: {key}: closure entry {entry:?} is not `name==version`")]
    BadClosureEntry {
        path: String,
        key: String,
        entry: String,
    },
}

/// Measured costs keyed by package, and what reading them took.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub costs: BTreeMap<Requirement, Costs>,
    /// `mb` values below 0 that became 0.
    pub negative_mb: usize,
    /// `top` entries that are not importable module names (e.g. mypyc's
    /// `2ec0e72aa72355e6eccf__mypyc`), dropped: (package key, entry).
    pub bad_modules: Vec<(String, String)>,
}

/// Reads `install_import.json`.
pub fn load_measured(path: &Path) -> Result<Measured, CostsError> {
    let map: OrderedMap<OrderedMap<Record>> = read_json(path)?;
    let file = path.display().to_string();
    let mut out = Measured::default();
    for (name, versions) in map.0 {
        for (version, r) in versions.0 {
            let req = Requirement::new(&name, &version);
            let key = req.key();
            let check = |field: &'static str, value: f64| {
                // The trace reader's limits (sock_core::units), so a built
                // trace always loads: 1e12 ms, and 1e12 MB for sizes.
                if value.is_finite() && (0.0..=sock_core::units::MAX_MS).contains(&value) {
                    Ok(value)
                } else {
                    Err(CostsError::BadNumber {
                        path: file.clone(),
                        key: key.clone(),
                        field,
                        value,
                    })
                }
            };
            let costs = Costs {
                import_ms: check("ms", r.ms)?,
                install_ms: check("install_time", r.install_time)?,
                disk_bytes: check("disk_size", r.disk_size)?.round() as u64,
                import_mb: if r.mb.is_finite() && r.mb <= sock_core::units::MAX_MB {
                    r.mb.max(0.0)
                } else {
                    check("mb", r.mb)?
                },
                modules: Vec::new(),
            };
            let mut costs = costs;
            for m in r.top {
                // The trace reader accepts only dotted Python identifiers.
                if sock_core::trace::names::check_module(&m).is_ok() {
                    costs.modules.push(m);
                } else {
                    out.bad_modules.push((key.clone(), m));
                }
            }
            out.negative_mb += usize::from(r.mb < 0.0);
            if out.costs.insert(req, costs).is_some() {
                return Err(CostsError::Duplicate {
                    path: file.clone(),
                    key,
                });
            }
        }
    }
    if out.costs.is_empty() {
        return Err(CostsError::Empty { path: file });
    }
    Ok(out)
}

/// Reads `deps.json`: each package's most frequent observed closure, itself
/// excluded.
pub fn load_deps(path: &Path) -> Result<BTreeMap<Requirement, Vec<Requirement>>, CostsError> {
    let map: OrderedMap<OrderedMap<OrderedMap<u64>>> = read_json(path)?;
    let file = path.display().to_string();
    let mut out = BTreeMap::new();
    for (name, versions) in map.0 {
        for (version, closures) in versions.0 {
            let req = Requirement::new(&name, &version);
            let best = closures
                .0
                .iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
            let Some((text, _)) = best else { continue };
            let mut deps = Vec::new();
            for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (n, v) = entry
                    .split_once("==")
                    .ok_or_else(|| CostsError::BadClosureEntry {
                        path: file.clone(),
                        key: req.key(),
                        entry: entry.to_string(),
                    })?;
                let dep = Requirement::new(n, v);
                if dep != req {
                    deps.push(dep);
                }
            }
            deps.sort();
            deps.dedup();
            if out.insert(req.clone(), deps).is_some() {
                return Err(CostsError::Duplicate {
                    path: file.clone(),
                    key: req.key(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn reads_exclusive_costs_and_clamps_negative_mb() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(
            dir.path(),
            "ii.json",
            r#"{"Six": {"1.16.0": {"install_time": 500.5, "compressed_size": 0, "disk_size": 1000, "top": ["six"],
                "suffix": ".tar", "i-ms": 2, "i-mb": 0.5, "ms": 1.5, "mb": -0.01}}}"#,
        );
        let m = load_measured(&p).expect("valid");
        let c = &m.costs[&Requirement::new("six", "1.16.0")];
        assert_eq!(
            (c.import_ms, c.import_mb, c.install_ms, c.disk_bytes),
            (1.5, 0.0, 500.5, 1000)
        );
        assert_eq!(c.modules, ["six"]);
        assert_eq!(m.negative_mb, 1);
    }

    #[test]
    fn bad_costs_name_file_package_and_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(
            dir.path(),
            "ii.json",
            r#"{"a": {"1": {"install_time": -1, "disk_size": 1, "ms": 1, "mb": 1}}}"#,
        );
        let e = load_measured(&p).expect_err("negative").to_string();
        assert!(e.contains("ii.json: a==1: `install_time` is -1"), "{e}");
        let p = write(
            dir.path(),
            "ii.json",
            "{\"a\": {\"1\": {\"install_time\": 1,\n\"disk_size\": 1, \"mb\": 1}}}",
        );
        let e = load_measured(&p).expect_err("missing").to_string();
        assert!(
            e.contains("missing field `ms`") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn deps_take_the_most_frequent_closure() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = write(
            dir.path(),
            "deps.json",
            r#"{"scipy": {"1.11.2": {"numpy==1.24.4,scipy==1.11.2": 8, "numpy==1.25.2,scipy==1.11.2": 99}},
                "six": {"1.16.0": {"six==1.16.0": 3}}}"#,
        );
        let d = load_deps(&p).expect("valid");
        assert_eq!(
            d[&Requirement::new("scipy", "1.11.2")],
            vec![Requirement::new("numpy", "1.25.2")]
        );
        assert!(d[&Requirement::new("six", "1.16.0")].is_empty());
    }
}
