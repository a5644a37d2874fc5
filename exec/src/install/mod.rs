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
//! [`wheel`] builds synthetic, installable test packages.

pub mod build;
mod dist;
mod pip;
pub mod wheel;

pub use dist::canonical_name;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// pip commands tried, in order, when `SOCK_PIP` is not set.
pub const PIP_CANDIDATES: [&[&str]; 3] = [
    &["python3", "-m", "pip"],
    &["/usr/bin/python3", "-m", "pip"],
    &["pip3"],
];

/// `--platform` values for the containers: Debian 12's glibc 2.36 on x86_64
/// accepts `manylinux_2_36` down to `manylinux_2_5`; pip 23 does not derive
/// the older tags from a `--platform` itself except for the legacy aliases
/// (`manylinux2014` adds `manylinux2010` and `manylinux1`), so all are
/// listed, newest first as pip ranks them natively. `linux_x86_64` (locally
/// built wheels, never on PyPI) comes last, as for a native pip. `any` is
/// not needed: pip always accepts `py3-none-any` and `cpXY-none-any`.
pub fn platform_tags() -> Vec<String> {
    let mut tags = Vec::new();
    for minor in (5..=36).rev() {
        tags.push(format!("manylinux_{}_{minor}_x86_64", 2));
        if minor == 17 {
            tags.push("manylinux2014_x86_64".into());
        }
    }
    tags.push("linux_x86_64".into());
    tags
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temporary path removed (file or folder) when dropped, unless kept.
struct TmpPath(Option<PathBuf>);

impl TmpPath {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    fn keep(mut self) {
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

/// The last lines of pip's stderr, for error messages.
fn tail(text: &str) -> String {
    const LINES: usize = 12;
    const CHARS: usize = 2000;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = lines[lines.len().saturating_sub(LINES)..].join("\n");
    if out.len() > CHARS {
        let mut cut = out.len() - CHARS;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("...{}", &out[cut..]);
    }
    out
}

/// Parses `pip X.Y[.Z] from ...`.
fn pip_version(version_output: &str) -> Option<(u32, u32, String)> {
    let v = version_output
        .trim()
        .strip_prefix("pip ")?
        .split_whitespace()
        .next()?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()
        .map(|m| {
            m.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor, v.to_string()))
}

/// Finds a working pip: `SOCK_PIP` (split on whitespace, used as given) if
/// set, else the first of [`PIP_CANDIDATES`] whose `--version` works and is
/// recent enough (a `<python> -m pip` with the interpreter's real path).
/// Returns the command prefix and pip's version.
pub fn detect_pip() -> Result<(Vec<String>, String), InstallError> {
    let from_env = std::env::var("SOCK_PIP")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let candidates: Vec<Vec<String>> = match &from_env {
        Some(s) => vec![s.split_whitespace().map(String::from).collect()],
        _ => PIP_CANDIDATES
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    let mut tried = Vec::new();
    for cand in candidates {
        let shown = cand.join(" ");
        let out = Command::new(&cand[0])
            .args(&cand[1..])
            .arg("--version")
            .stdin(Stdio::null())
            .output();
        let why = match out {
            Err(e) => e.to_string(),
            Ok(out) if !out.status.success() => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().rev().find(|l| !l.trim().is_empty());
                format!("{}: {}", out.status, last.unwrap_or("").trim())
            }
            Ok(out) => match pip_version(&String::from_utf8_lossy(&out.stdout)) {
                Some((major, minor, v)) if (major, minor) >= MIN_PIP => {
                    let cand = if from_env.is_none() {
                        real_python(cand)
                    } else {
                        cand
                    };
                    return Ok((cand, v));
                }
                Some((_, _, v)) => format!("pip {v} is too old"),
                None => "unrecognized `--version` output".into(),
            },
        };
        tried.push(format!("`{shown}` ({why})"));
    }
    if from_env.is_some() {
        tried.push("(from SOCK_PIP)".into());
    }
    Err(InstallError::NoPip {
        tried: tried.join(", "),
    })
}

/// `<python> -m pip` with `<python>` replaced by its `sys.executable`, so
/// that wrappers such as pyenv's shims (~60 ms a run) are not paid on every
/// pip call; unchanged if that fails or the command has another form.
fn real_python(mut cand: Vec<String>) -> Vec<String> {
    if cand.len() != 3 || cand[1] != "-m" || cand[2] != "pip" {
        return cand;
    }
    let out = Command::new(&cand[0])
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output();
    if let Ok(out) = out {
        let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && Path::new(&exe).is_absolute() && Path::new(&exe).is_file() {
            cand[0] = exe;
        }
    }
    cand
}

/// `PIP_*` variables kept for [`Source::Index`]: network and cache settings.
const PIP_ENV_KEPT: [&str; 14] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_PROXY",
    "PIP_TIMEOUT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "PIP_CONFIG_FILE",
    "PIP_CACHE_DIR",
    "PIP_NO_CACHE_DIR",
    "PIP_KEYRING_PROVIDER",
];

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

    /// Installs `key` (no dependencies) unless it is already installed.
    pub fn install(&self, key: &str) -> Result<Installed, InstallError> {
        self.install_from(key, None)
    }

    /// Installs `key` from a wheel file built here (see [`build`]) unless
    /// it is already installed.
    pub fn install_wheel_file(&self, key: &str, wheel: &Path) -> Result<Installed, InstallError> {
        self.install_from(key, Some(wheel))
    }

    fn install_from(&self, key: &str, wheel: Option<&Path>) -> Result<Installed, InstallError> {
        let start = Instant::now();
        let key = normalize_key(key)?;
        let dest = self.cache_dir.join(&key);
        if dest.join(MARKER).is_file() {
            return self.describe(&key, start, true);
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
        let out = self.run(cmd)?;
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

    fn not_installed(&self, key: &str) -> InstallError {
        InstallError::NotInstalled {
            key: key.to_string(),
            cache: self.cache_dir.clone(),
        }
    }

    /// (normalized key, dist-info folder) of an installed package.
    fn dist_info(&self, key: &str) -> Result<(String, PathBuf), InstallError> {
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

    fn describe(&self, key: &str, start: Instant, reused: bool) -> Result<Installed, InstallError> {
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
    fn tmp_path(&self, what: &str) -> TmpPath {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        TmpPath(Some(
            self.cache_dir
                .join(format!(".tmp-{what}-{}-{n}", std::process::id())),
        ))
    }

    fn describe_source(&self) -> String {
        match &self.source {
            Source::Index => "the package index".into(),
            Source::FindLinks(dir) => format!("{} (offline, --no-index)", dir.display()),
        }
    }

    /// `pip install` with the options every call shares: wheels only, for
    /// the containers' CPython and platform, from the source, quiet.
    /// pip with the environment cleaned (offline: no `PIP_*` at all, no
    /// configuration file) and, offline, `--no-index --find-links DIR`
    /// added by the callers that take index options.
    fn pip_command(&self) -> Command {
        let mut cmd = Command::new(&self.pip[0]);
        cmd.args(&self.pip[1..]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let offline = matches!(self.source, Source::FindLinks(_));
        for (var, _) in std::env::vars_os() {
            let Some(var) = var.to_str() else { continue };
            if var.starts_with("PIP_") && (offline || !PIP_ENV_KEPT.contains(&var)) {
                cmd.env_remove(var);
            }
        }
        if offline {
            cmd.env("PIP_CONFIG_FILE", "/dev/null");
        }
        cmd
    }

    /// The index options for `download` and `install`.
    fn index_args(&self, cmd: &mut Command) {
        if let Source::FindLinks(dir) = &self.source {
            cmd.arg("--no-index").arg("--find-links").arg(dir);
        }
    }

    fn pip_install(&self) -> Command {
        let mut cmd = self.pip_command();
        let abi = format!("cp{}", self.python_version.replace('.', ""));
        cmd.args([
            "install",
            "--only-binary=:all:",
            "--no-input",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-warn-script-location",
            "--progress-bar",
            "off",
            "--python-version",
            &self.python_version,
            "--implementation",
            "cp",
            "--abi",
            &abi,
        ]);
        for tag in platform_tags() {
            cmd.arg("--platform").arg(tag);
        }
        self.index_args(&mut cmd);
        cmd
    }

    /// Runs a pip command within the installer's timeout.
    fn run(&self, cmd: Command) -> Result<Output, InstallError> {
        let shown = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        pip::output_within(cmd, self.timeout).map_err(|e| match e {
            pip::RunError::Io(err) => InstallError::Io {
                op: "run",
                path: PathBuf::from(&self.pip[0]),
                err,
            },
            pip::RunError::Timeout => InstallError::Timeout {
                command: shown,
                timeout: self.timeout,
            },
        })
    }

    /// Turns a failed pip run into an error; when pip found no distribution,
    /// a verbose dry run tells "no such version" from "no fitting wheel".
    fn failure(&self, what: &str, out: &Output) -> InstallError {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let pip_said = tail(&stderr);
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
        let mut skipped = dist::skipped_links(&verbose, name, version);
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

/// True for a `.tmp-` entry (name after the prefix) whose process, the
/// `<pid>` in `<what>-<pid>-<n>[.json]`, no longer runs. This process's own
/// entries are never stale; without /proc nothing is.
fn tmp_is_stale(rest: &str) -> bool {
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

fn set_mode(path: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

/// `chmod -R o+rX` (symlinks untouched); returns the apparent size of the
/// regular files.
fn world_readable(path: &Path) -> Result<u64, InstallError> {
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

    #[test]
    fn platform_tags_cover_glibc_2_36() {
        let tags = platform_tags();
        assert_eq!(
            tags.first().map(String::as_str),
            Some("manylinux_2_36_x86_64")
        );
        for t in [
            "manylinux_2_28_x86_64",
            "manylinux2014_x86_64",
            "manylinux_2_5_x86_64",
        ] {
            assert!(tags.iter().any(|x| x == t), "{t}");
        }
        assert_eq!(tags.last().map(String::as_str), Some("linux_x86_64"));
    }

    #[test]
    fn pip_versions() {
        assert_eq!(
            pip_version("pip 23.2.1 from /x/pip (python 3.11)\n"),
            Some((23, 2, "23.2.1".into()))
        );
        assert_eq!(
            pip_version("pip 24.0 from x").map(|v| (v.0, v.1)),
            Some((24, 0))
        );
        assert_eq!(
            pip_version("pip 22.2b1 from x").map(|v| (v.0, v.1)),
            Some((22, 2))
        );
        assert_eq!(pip_version("Python 3.11"), None);
    }

    #[test]
    fn tails_are_short() {
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&long);
        assert!(t.starts_with("line 88") && t.ends_with("line 99"), "{t}");
        assert!(tail(&"é".repeat(5000)).len() <= 2004);
    }

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

    /// Issue 12: pip ran without a timeout, so a hung download or index
    /// stalled the whole run. Past the deadline the process group is
    /// killed and the install fails with `Timeout`.
    #[test]
    fn pip_that_hangs_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("helper-alive");
        // A "pip" that starts a helper and hangs; the helper would touch
        // the marker after 3 s if it survived the kill.
        let script = format!("(sleep 3; touch {}) & sleep 30", marker.display());
        let inst = Installer {
            cache_dir: dir.path().to_path_buf(),
            pip: vec!["/bin/sh".into(), "-c".into(), script, "sh".into()],
            pip_version: "23.0".into(),
            source: Source::Index,
            python_version: "3.11".into(),
            timeout: DEFAULT_PIP_TIMEOUT,
        }
        .with_timeout(Duration::from_millis(300));
        let t = Instant::now();
        let got = inst.install("a==1.0");
        assert!(matches!(got, Err(InstallError::Timeout { .. })), "{got:?}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(3500));
        assert!(!marker.exists(), "pip's helper survived the timeout");
    }
}
