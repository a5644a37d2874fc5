//! pip's failures as typed errors: when pip found no distribution, a
//! verbose dry run and the files it skipped tell "no such version" from
//! "no fitting wheel".

use super::dist::canonical_name;
use super::{InstallError, Installer};
use std::process::Output;

impl Installer {
    /// Turns a failed pip run into an error; when pip found no distribution,
    /// a verbose dry run tells "no such version" from "no fitting wheel".
    pub(crate) fn failure(&self, what: &str, out: &Output) -> InstallError {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let pip_said = super::tail(&stderr);
        let missing = stderr.lines().find_map(|l| {
            l.trim()
                .strip_prefix("ERROR: No matching distribution found for ")
                .map(|r| r.trim().to_string())
        });
        let Some(req) = missing else {
            return InstallError::Pip {
                key: what.to_string(),
                status: out.status.to_string(),
                stderr: pip_said,
            };
        };
        let (name, version) = match req.split_once("==") {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => {
                let end = req
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                    .unwrap_or(req.len());
                (&req[..end], None)
            }
        };
        let target = self.tmp_path("diagnose");
        let mut cmd = self.pip_install();
        cmd.args([
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "-vv",
            "--target",
        ])
        .arg(target.path())
        .arg(&req);
        let verbose = match self.run(cmd) {
            Ok(o) => format!(
                "{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(_) => String::new(),
        };
        let mut skipped = skipped_links(&verbose, name, version);
        skipped.sort_by_key(|s| s.wheel); // source distributions first
        if skipped.is_empty() {
            return InstallError::NotFound {
                key: req,
                place: self.describe_source(),
                stderr: pip_said,
            };
        }
        const SHOWN: usize = 6;
        let mut found: Vec<String> = skipped
            .iter()
            .take(SHOWN)
            .map(
                |s| match (s.wheel, s.reason.starts_with("none of the wheel's tags")) {
                    (false, _) => format!("{} (source distribution)", s.file),
                    // The tags are in the file name.
                    (true, true) => s.file.clone(),
                    (true, false) => format!("{} ({})", s.file, s.reason),
                },
            )
            .collect();
        if skipped.len() > SHOWN {
            found.push(format!("and {} more", skipped.len() - SHOWN));
        }
        InstallError::NoWheel {
            key: req,
            python: self.python_version.clone(),
            found: found.join(", "),
            stderr: pip_said,
        }
    }
}

/// A file pip skipped while looking for `name` (`version`, if pinned): the
/// link's file name, whether it is a wheel, and pip's reason.
#[derive(Debug, PartialEq)]
pub(crate) struct Skipped {
    pub file: String,
    pub wheel: bool,
    pub reason: String,
}

/// The `Skipping link: <reason>: <url>` lines of `pip -vv` output that are
/// about `name` at `version` (any version if `None`).
pub(crate) fn skipped_links(output: &str, name: &str, version: Option<&str>) -> Vec<Skipped> {
    let want = canonical_name(name);
    let mut out = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("Skipping link: ") else {
            continue;
        };
        let Some((reason, url)) = rest.rsplit_once(": ") else {
            continue;
        };
        // `<url>[#hash] [(from <index page>)]`
        let url = url.split_whitespace().next().unwrap_or_default();
        let url = url.split(['#', '?']).next().unwrap_or_default();
        let file = url.rsplit('/').next().unwrap_or_default().to_string();
        let (project, ver, wheel) = if let Some(stem) = file.strip_suffix(".whl") {
            let mut parts = stem.split('-');
            (parts.next(), parts.next(), true)
        } else {
            let stem = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"]
                .iter()
                .find_map(|ext| file.strip_suffix(ext));
            match stem.and_then(|s| s.rsplit_once('-')) {
                Some((n, v)) => (Some(n), Some(v), false),
                None => continue,
            }
        };
        let (Some(project), Some(ver)) = (project, ver) else {
            continue;
        };
        if canonical_name(project) != want || version.is_some_and(|v| v != ver) {
            continue;
        }
        out.push(Skipped {
            file: file.clone(),
            wheel,
            reason: reason.to_string(),
        });
    }
    out.dedup_by(|a, b| a.file == b.file);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_links_are_filtered() {
        let out = "\
  Skipping link: No sources permitted for foo: https://x/foo-1.0.tar.gz#sha256=ab
  Skipping link: No sources permitted for foo: https://x/foo-0.9.tar.gz#sha256=ab
  Skipping link: No sources permitted for foo: https://x/Foo-1.0.zip (from https://pypi.org/simple/foo/)
  Skipping link: unsupported archive format: .exe: https://x/foo-1.0.win32.exe (from https://pypi.org/simple/foo/)
  Skipping link: none of the wheel's tags (cp312-cp312-manylinux_2_17_x86_64) are compatible (run pip debug --verbose to show compatible tags): https://x/Foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl
  Skipping link: wrong project name (not foo): file:///w/six-1.16.0-py2.py3-none-any.whl
";
        let got = skipped_links(out, "foo", Some("1.0"));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].file, "foo-1.0.tar.gz");
        assert!(!got[0].wheel);
        assert_eq!(got[1].file, "Foo-1.0.zip");
        assert!(got[2].wheel && got[2].reason.contains("cp312"));
        assert_eq!(skipped_links(out, "foo", None).len(), 4);
    }
}
