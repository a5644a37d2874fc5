//! The cache folder itself: installing one key atomically (a temporary
//! folder, world-readable, marker last, renamed into place), removing,
//! listing (and cleaning interrupted installs), and reading an installed
//! package's modules, dependencies and size.

use super::{dist, io, normalize_key, InstallError, Installed, Installer, MARKER};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temporary path removed (file or folder) when dropped, unless kept.
pub(crate) struct TmpPath(pub(crate) Option<PathBuf>);

impl TmpPath {
    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TmpPath {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

impl Installer {
    /// Installs `key` (no dependencies) unless it is already installed.
    pub fn install(&self, key: &str) -> Result<Installed, InstallError> {
        self.install_from(key, None)
    }

    /// Installs `key` from a wheel file built here (see [`build`]) unless
    /// it is already installed.
    pub fn install_wheel_file(&self, key: &str, wheel: &Path) -> Result<Installed, InstallError> {
        self.install_from(key, Some(wheel))
    }

    pub(crate) fn install_from(
        &self,
        key: &str,
        wheel: Option<&Path>,
    ) -> Result<Installed, InstallError> {
        match self.begin_from(key, wheel)? {
            super::Begun::Ready(done) => Ok(done),
            super::Begun::Running(run) => {
                let out = run.child.wait().map_err(|e| self.run_error(&run.shown, e));
                self.finish_install(run.key, run.tmp, run.start, out?)
            }
        }
    }

    /// Starts pip on `key` (or on a `wheel` file built here) into a
    /// temporary folder, without waiting; `Ready` when it is installed
    /// already.
    pub(crate) fn begin_from(
        &self,
        key: &str,
        wheel: Option<&Path>,
    ) -> Result<super::Begun, InstallError> {
        let start = Instant::now();
        let key = normalize_key(key)?;
        let dest = self.cache_dir.join(&key);
        if dest.join(MARKER).is_file() {
            return self.describe(&key, start, true).map(super::Begun::Ready);
        }
        let tmp = self.tmp_path(&key);
        let mut cmd = self.pip_install();
        // pip byte-compiles with the host's Python. Containers mount the
        // folder read-only and never write .pyc files, so these are the only
        // ones they get; they are used when the host's Python has the
        // containers' minor version (3.11 on both here), else ignored and
        // every import compiles the source (slower, still correct).
        cmd.args(["--no-deps", "--quiet", "--target"])
            .arg(tmp.path());
        match wheel {
            Some(file) => cmd.arg(file),
            None => cmd.arg(&key),
        };
        let (child, shown) = self.spawn(cmd)?;
        Ok(super::Begun::Running(super::PipRun {
            key,
            tmp,
            start,
            child,
            shown,
        }))
    }

    /// The rest of an install once pip exited with `out`: check what it
    /// installed, make it world-readable, write the marker, rename into
    /// place.
    pub(crate) fn finish_install(
        &self,
        key: String,
        tmp: TmpPath,
        start: Instant,
        out: std::process::Output,
    ) -> Result<Installed, InstallError> {
        let dest = self.cache_dir.join(&key);
        if !out.status.success() {
            return Err(self.failure(&key, &out));
        }
        let name = key.split_once("==").map_or(key.as_str(), |(n, _)| n);
        if dist::find_dist_info(tmp.path(), name)
            .map_err(io("read", tmp.path()))?
            .is_none()
        {
            let reason = format!(
                "pip installed no {name} *.dist-info into {}",
                tmp.path().display()
            );
            return Err(InstallError::Metadata { key, reason });
        }
        let bytes = world_readable(tmp.path())?;
        let marker = tmp.path().join(MARKER);
        let text = serde_json::json!({
            "key": key,
            "bytes": bytes,
            "python_version": self.python_version,
        });
        std::fs::write(&marker, format!("{text}\n")).map_err(io("write", &marker))?;
        set_mode(&marker, 0o644)?;
        if let Err(err) = std::fs::rename(tmp.path(), &dest) {
            if dest.join(MARKER).is_file() {
                // Another installer finished first; ours is dropped.
            } else if dest.exists() {
                // Leftover of an interrupted install or removal.
                std::fs::remove_dir_all(&dest).map_err(io("remove", &dest))?;
                std::fs::rename(tmp.path(), &dest).map_err(io("rename to", &dest))?;
                tmp.keep();
            } else {
                return Err(InstallError::Io {
                    op: "rename to",
                    path: dest,
                    err,
                });
            }
        } else {
            tmp.keep();
        }
        self.describe(&key, start, false)
    }

    /// Removes an installed package (renamed away first, so it stops being
    /// installed atomically).
    pub fn remove(&self, key: &str) -> Result<(), InstallError> {
        let key = normalize_key(key)?;
        let dest = self.cache_dir.join(&key);
        if !dest.exists() {
            return Err(self.not_installed(&key));
        }
        let tmp = self.tmp_path(&key);
        std::fs::rename(&dest, tmp.path()).map_err(io("rename", &dest))?;
        std::fs::remove_dir_all(tmp.path()).map_err(io("remove", tmp.path()))?;
        tmp.keep();
        Ok(())
    }

    /// The complete keys in the cache, sorted. Removes incomplete leftovers:
    /// key folders without a marker and temporary entries of processes that
    /// no longer run. Other entries are left alone.
    pub fn installed(&self) -> Result<Vec<String>, InstallError> {
        let dir = &self.cache_dir;
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
            let entry = entry.map_err(io("read", dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(rest) = name.strip_prefix(".tmp-") {
                if tmp_is_stale(rest) {
                    let removed =
                        std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                    removed.map_err(io("remove", &path))?;
                }
                continue;
            }
            if normalize_key(&name).ok().as_deref() != Some(name.as_str())
                || !entry.file_type().map_err(io("stat", &path))?.is_dir()
            {
                continue;
            }
            if path.join(MARKER).is_file() {
                keys.push(name);
            } else {
                std::fs::remove_dir_all(&path).map_err(io("remove", &path))?;
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Top-level import names of an installed package: its
    /// `*.dist-info/top_level.txt`, else the first components of RECORD's
    /// paths (skipping metadata, `__pycache__`, `bin`, `..`), with `.py` and
    /// extension-module suffixes stripped.
    pub fn modules(&self, key: &str) -> Result<Vec<String>, InstallError> {
        let (key, dist_info) = self.dist_info(key)?;
        dist::modules_in(&dist_info).map_err(|e| InstallError::Metadata {
            key,
            reason: format!("{}: {e}", dist_info.display()),
        })
    }

    /// Direct dependencies of an installed package, PEP 503 normalized, from
    /// its METADATA `Requires-Dist`, skipping those whose marker mentions
    /// `extra`. Other markers are not evaluated (so this may list more than
    /// pip would install); [`Installer::resolve`] gives the exact closure.
    pub fn requires(&self, key: &str) -> Result<Vec<String>, InstallError> {
        let (key, dist_info) = self.dist_info(key)?;
        let path = dist_info.join("METADATA");
        let text = std::fs::read_to_string(&path).map_err(|e| InstallError::Metadata {
            key,
            reason: format!("{}: {e}", path.display()),
        })?;
        Ok(dist::requires_dist(&text))
    }

    /// Installed size of a package (apparent bytes of its files), as
    /// recorded in its marker.
    pub fn size(&self, key: &str) -> Result<u64, InstallError> {
        let key = normalize_key(key)?;
        let marker = self.cache_dir.join(&key).join(MARKER);
        let text = std::fs::read_to_string(&marker).map_err(|_| self.not_installed(&key))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["bytes"].as_u64())
            .ok_or_else(|| InstallError::Metadata {
                key,
                reason: format!("{}: no `bytes` in the marker", marker.display()),
            })
    }

    pub(crate) fn not_installed(&self, key: &str) -> InstallError {
        InstallError::NotInstalled {
            key: key.to_string(),
            cache: self.cache_dir.clone(),
        }
    }

    /// (normalized key, dist-info folder) of an installed package.
    pub(crate) fn dist_info(&self, key: &str) -> Result<(String, PathBuf), InstallError> {
        let key = normalize_key(key)?;
        let dest = self.cache_dir.join(&key);
        if !dest.join(MARKER).is_file() {
            return Err(self.not_installed(&key));
        }
        let name = key.split_once("==").map_or(key.as_str(), |(n, _)| n);
        match dist::find_dist_info(&dest, name) {
            Ok(Some(d)) => Ok((key, d)),
            Ok(None) => Err(InstallError::Metadata {
                reason: format!("no *.dist-info in {}", dest.display()),
                key,
            }),
            Err(e) => Err(InstallError::Metadata {
                reason: format!("{}: {e}", dest.display()),
                key,
            }),
        }
    }

    pub(crate) fn describe(
        &self,
        key: &str,
        start: Instant,
        reused: bool,
    ) -> Result<Installed, InstallError> {
        Ok(Installed {
            key: key.to_string(),
            path: self.cache_dir.join(key),
            modules: self.modules(key)?,
            requires: self.requires(key)?,
            bytes: self.size(key)?,
            elapsed: start.elapsed(),
            reused,
        })
    }

    /// `<cache>/.tmp-<what>-<pid>-<n>`, removed when dropped.
    pub(crate) fn tmp_path(&self, what: &str) -> TmpPath {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        TmpPath(Some(
            self.cache_dir
                .join(format!(".tmp-{what}-{}-{n}", std::process::id())),
        ))
    }
}

/// True for a `.tmp-` entry (name after the prefix) whose process, the
/// `<pid>` in `<what>-<pid>-<n>[.json]`, no longer runs. This process's own
/// entries are never stale; without /proc nothing is.
pub(crate) fn tmp_is_stale(rest: &str) -> bool {
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    let mut parts = rest.rsplitn(3, '-');
    let (Some(_n), Some(pid), Some(_what)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

/// `chmod -R o+rX` (symlinks untouched); returns the apparent size of the
/// regular files.
pub(crate) fn world_readable(path: &Path) -> Result<u64, InstallError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(io("stat", path))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Ok(0);
    }
    let mode = meta.permissions().mode() & 0o7777;
    let want = if kind.is_dir() || mode & 0o111 != 0 {
        mode | 0o005
    } else {
        mode | 0o004
    };
    if want != mode {
        set_mode(path, want)?;
    }
    if !kind.is_dir() {
        return Ok(if kind.is_file() { meta.len() } else { 0 });
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(io("read", path))? {
        total += world_readable(&entry.map_err(io("read", path))?.path())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tmp_entries() {
        let me = std::process::id();
        assert!(!tmp_is_stale(&format!("a==1.0-{me}-0")));
        assert!(!tmp_is_stale("garbage"));
        assert!(!tmp_is_stale("a==1.0-notapid-0"));
        // Far above any pid_max.
        assert!(tmp_is_stale("a==1.0-4294967295-3"));
        assert!(tmp_is_stale("resolve-4294967295-3.json"));
    }

    #[test]
    fn world_readable_tree() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("pkg");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("a.py"), "x = 1\n").expect("write");
        std::fs::write(sub.join("tool"), "#!/bin/sh\n").expect("write");
        set_mode(&sub.join("a.py"), 0o600).expect("chmod");
        set_mode(&sub.join("tool"), 0o700).expect("chmod");
        set_mode(&sub, 0o700).expect("chmod");
        let bytes = world_readable(dir.path()).expect("walk");
        assert_eq!(bytes, 6 + 10);
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .ok()
        };
        assert_eq!(mode(&sub), Some(0o705));
        assert_eq!(mode(&sub.join("a.py")), Some(0o604));
        assert_eq!(mode(&sub.join("tool")), Some(0o705));
    }
}
