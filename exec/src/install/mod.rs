//! Tier 3 on disk: the install cache. Each package version is installed
//! once, by pip on the host, into its own folder `<cache>/<name==version>`,
//! which containers later bind-mount read-only at `/packages/<name==version>`
//! and put on `sys.path`. (The budget and LRU policy are sock-core's
//! [`sock_core::install_cache`]; this module is the real disk side.)
//!
//! Wheels are chosen for the *containers'* Python (the base image's Debian
//! CPython, 3.11 on bookworm), not for the host's: pip runs with
//! `--python-version`, `--implementation cp`, `--abi cpXY` and the manylinux
//! platform tags a glibc 2.36 x86_64 system accepts (see [`platform_tags`]),
//! with `--only-binary=:all:`, so nothing is ever built from source: a
//! package with no fitting wheel fails with [`InstallError::NoWheel`].
//!
//! An install goes to `<cache>/.tmp-<key>-<pid>-<n>`, is made world-readable
//! (`chmod -R o+rX`: handlers run as `nobody`), gets its completion marker
//! ([`MARKER`]) last, and is renamed into place, so a key folder is either
//! complete or absent; [`Installer::installed`] removes leftovers of
//! interrupted installs (of processes no longer running).
//!
//! Keys are exact pins `name==version`; names are compared PEP 503
//! normalized (`PyYAML==6.0` and `pyyaml==6.0` are one folder,
//! `pyyaml==6.0`). Environment markers of dependencies are evaluated by pip
//! against the host's Python, so the host should run the containers'
//! major.minor (both are 3.11 on the reference machine).
//!
//! One concept per file: `pip.rs` (finding pip, the shared command;
//! `deadline.rs` runs it with a timeout, `background.rs` lets a caller's
//! own poll loop wait for it, `diagnose.rs` turns its
//! failures into typed errors), `dist.rs` (reading what pip installed),
//! `cache.rs` (the cache folder: atomic install, remove, list, metadata),
//! `resolve.rs` (the closure from pip's resolver), [`build`] (source
//! builds in a lean container); [`Installer::install_or_build`] is the
//! one entry point that picks between a wheel and a build. [`wheel`]
//! builds synthetic, installable test packages.

mod background;
pub mod build;
mod cache;
mod deadline;
mod diagnose;
mod dist;
mod pip;
mod resolve;
pub mod wheel;

pub use background::{Begun, PipRun, Polled};
pub use dist::canonical_name;
pub use pip::{detect_pip, platform_tags, PIP_CANDIDATES};

pub(crate) use cache::{world_readable, TmpPath};
pub(crate) use pip::tail;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The completion marker inside a key folder, written last (JSON: key,
/// bytes, Python version).
pub const MARKER: &str = ".sock-installed";

/// How long one pip run may take before it is killed (a download that
/// hangs, an index that never answers): [`Installer::with_timeout`].
pub const DEFAULT_PIP_TIMEOUT: Duration = Duration::from_secs(900);

/// Oldest pip with `install --dry-run --report` (needed by
/// [`Installer::resolve`]) and `--root-user-action`.
pub const MIN_PIP: (u32, u32) = (22, 2);

/// Where wheels come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// pip's configured index (PyPI unless pip's configuration says
    /// otherwise; pip's `PIP_*` network settings are honoured).
    Index,
    /// Offline: `--no-index --find-links DIR`, and pip's configuration
    /// files and `PIP_*` variables are ignored, so nothing else leaks in.
    FindLinks(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("invalid package key {key:?}: {reason} (expected an exact pin `name==version`)")]
    InvalidKey { key: String, reason: &'static str },
    #[error("invalid requirement {requirement:?}: {reason}")]
    InvalidRequirement {
        requirement: String,
        reason: &'static str,
    },
    #[error("invalid Python version {0:?} (expected major.minor, e.g. \"3.11\")")]
    InvalidPython(String),
    #[error(
        "no usable pip (pip >= {}.{} needed); tried {tried}. Install pip \
         (`python3 -m ensurepip` or `apt-get install python3-pip`) or set SOCK_PIP \
         to a pip command such as \"python3 -m pip\"",
        MIN_PIP.0, MIN_PIP.1
    )]
    NoPip { tried: String },
    #[error(
        "no wheel for {key} that fits the containers' CPython {python} (manylinux x86_64); \
         pip does not build from source here: `install::build` does, in a lean container \
         (found only: {found})"
    )]
    NoWheel {
        key: String,
        python: String,
        /// The files pip skipped, with its reasons.
        found: String,
        stderr: String,
    },
    #[error("{key} not found in {place}; pip said: {stderr}")]
    NotFound {
        key: String,
        place: String,
        stderr: String,
    },
    #[error("pip failed for {key} ({status}); pip said: {stderr}")]
    Pip {
        key: String,
        status: String,
        stderr: String,
    },
    #[error("pip did not finish within {timeout:?} and was killed: {command}")]
    Timeout { command: String, timeout: Duration },
    #[error("{key} is not installed in {}", cache.display())]
    NotInstalled { key: String, cache: PathBuf },
    #[error("{key}: {reason}")]
    Metadata { key: String, reason: String },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |err| InstallError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// One installed package.
#[derive(Clone, Debug, PartialEq)]
pub struct Installed {
    /// Normalized `name==version`.
    pub key: String,
    /// `<cache>/<key>`, the folder to mount.
    pub path: PathBuf,
    /// Top-level import names.
    pub modules: Vec<String>,
    /// Direct dependencies (normalized names; see [`Installer::requires`]).
    pub requires: Vec<String>,
    /// Apparent size of its files.
    pub bytes: u64,
    /// Wall time of this call (the pip run, permissions, marker, rename).
    pub elapsed: Duration,
    /// True when the package was already in the cache (no pip run).
    pub reused: bool,
}

/// The on-disk install cache and the pip that fills it.
#[derive(Clone, Debug)]
pub struct Installer {
    cache_dir: PathBuf,
    /// Command prefix, e.g. `["python3", "-m", "pip"]`.
    pip: Vec<String>,
    pip_version: String,
    source: Source,
    /// The containers' Python, `major.minor`.
    python_version: String,
    /// Deadline of each pip run.
    timeout: Duration,
}

/// Splits and normalizes a key: (normalized name, version).
fn parse_key(key: &str) -> Result<(String, String), InstallError> {
    if let Some(reason) = dist::key_problem(key) {
        return Err(InstallError::InvalidKey {
            key: key.to_string(),
            reason,
        });
    }
    let (name, version) = key.split_once("==").unwrap_or((key, ""));
    Ok((canonical_name(name), version.to_string()))
}

/// The normalized form of a valid key (`PyYAML==6.0` -> `pyyaml==6.0`).
pub fn normalize_key(key: &str) -> Result<String, InstallError> {
    parse_key(key).map(|(n, v)| format!("{n}=={v}"))
}

impl Installer {
    /// An installer filling `cache_dir` (created, mode 0755, if missing)
    /// from `source`, choosing wheels for CPython `python_version`
    /// (`"3.11"`). Finds pip with [`detect_pip`].
    pub fn new(
        cache_dir: impl Into<PathBuf>,
        source: Source,
        python_version: &str,
    ) -> Result<Installer, InstallError> {
        let valid = python_version.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        });
        if !valid {
            return Err(InstallError::InvalidPython(python_version.into()));
        }
        let source = match source {
            Source::FindLinks(dir) => {
                let dir = std::path::absolute(&dir).map_err(io("resolve", &dir))?;
                if !dir.is_dir() {
                    return Err(InstallError::Io {
                        op: "find-links folder",
                        path: dir,
                        err: std::io::ErrorKind::NotFound.into(),
                    });
                }
                Source::FindLinks(dir)
            }
            Source::Index => Source::Index,
        };
        let cache_dir = cache_dir.into();
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&cache_dir)
                .map_err(io("create", &cache_dir))?;
        }
        let (pip, pip_version) = detect_pip()?;
        Ok(Installer {
            cache_dir,
            pip,
            pip_version,
            source,
            python_version: python_version.into(),
            timeout: DEFAULT_PIP_TIMEOUT,
        })
    }

    /// The same installer with each pip run limited to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Installer {
        self.timeout = timeout;
        self
    }

    /// The same pip, source and Python, filling another folder (created,
    /// mode 0755): `sock-exec run` installs packages the planner keeps out
    /// of the install cache this way, one private folder each.
    pub fn elsewhere(&self, cache_dir: &Path) -> Result<Installer, InstallError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cache_dir)
            .map_err(io("create", cache_dir))?;
        Ok(Installer {
            cache_dir: cache_dir.to_path_buf(),
            ..self.clone()
        })
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The pip command prefix in use.
    pub fn pip(&self) -> &[String] {
        &self.pip
    }

    /// The version of that pip (`"23.2.1"`).
    pub fn pip_version(&self) -> &str {
        &self.pip_version
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn python_version(&self) -> &str {
        &self.python_version
    }

    /// `<cache>/<normalized name==version>`; an invalid key is an error.
    pub fn key_path(&self, key: &str) -> Result<PathBuf, InstallError> {
        Ok(self.cache_dir.join(normalize_key(key)?))
    }

    /// True when `key` is completely installed (its marker exists); false
    /// for invalid keys.
    pub fn is_installed(&self, key: &str) -> bool {
        self.key_path(key).is_ok_and(|p| p.join(MARKER).is_file())
    }

    /// Installs `key` (no dependencies): a wheel for the containers'
    /// Python when one fits, else built from source in a lean container
    /// ([`build::build_from_source`], under `build_timeout`) of the
    /// executor `exec` gives: it is asked only when a build is needed (so
    /// wheel-only installs never start one, nor take the state's lock).
    /// The one entry point of "get this package installed" for
    /// `sock-exec install` and `sock-exec run`; `built` tells which way
    /// it went.
    pub fn install_or_build<'e>(
        &self,
        key: &str,
        build_timeout: Duration,
        exec: impl FnOnce() -> Result<&'e mut crate::container::Executor, build::BuildError>,
    ) -> Result<(Installed, bool), build::BuildError> {
        match self.install(key) {
            Err(InstallError::NoWheel { .. }) => {
                tracing::info!(
                    key,
                    "no wheel fits; building from source in a lean container"
                );
                let built = build::build_from_source(exec()?, self, key, build_timeout)?;
                Ok((built, true))
            }
            other => Ok((other?, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalize_and_reject() {
        assert_eq!(
            normalize_key("PyYAML==6.0.1").ok().as_deref(),
            Some("pyyaml==6.0.1")
        );
        assert_eq!(normalize_key("a_b.c==1").ok().as_deref(), Some("a-b-c==1"));
        for bad in ["../x==1", "x==../1", "x", "x==", "==1", "x==1/2"] {
            assert!(
                matches!(normalize_key(bad), Err(InstallError::InvalidKey { .. })),
                "{bad}"
            );
        }
        let err = normalize_key("a/b==1").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("a/b==1") && e.contains("separator")));
    }
}
