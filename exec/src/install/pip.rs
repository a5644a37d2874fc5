//! pip itself: finding a usable one, the command every call shares
//! (wheels only, for the containers' CPython and platform, environment
//! cleaned) and running it under the installer's deadline. Its failures
//! become typed errors in `diagnose.rs`.

use super::deadline;
use super::{InstallError, Installer, Source, MIN_PIP};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// The last lines of pip's stderr, for error messages.
pub(crate) fn tail(text: &str) -> String {
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
pub(crate) fn pip_version(version_output: &str) -> Option<(u32, u32, String)> {
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
pub(crate) fn real_python(mut cand: Vec<String>) -> Vec<String> {
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
    pub(crate) fn describe_source(&self) -> String {
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
    pub(crate) fn pip_command(&self) -> Command {
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
    pub(crate) fn index_args(&self, cmd: &mut Command) {
        if let Source::FindLinks(dir) = &self.source {
            cmd.arg("--no-index").arg("--find-links").arg(dir);
        }
    }

    pub(crate) fn pip_install(&self) -> Command {
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
    pub(crate) fn run(&self, cmd: Command) -> Result<Output, InstallError> {
        let shown = shown(&cmd);
        deadline::output_within(cmd, self.timeout).map_err(|e| self.run_error(&shown, e))
    }

    /// Starts a pip command under the installer's timeout, without
    /// waiting; returns it and the command line (for a timeout's error).
    pub(super) fn spawn(&self, cmd: Command) -> Result<(deadline::Spawned, String), InstallError> {
        let shown = shown(&cmd);
        let run = deadline::spawn(cmd, self.timeout).map_err(|e| self.run_error(&shown, e))?;
        Ok((run, shown))
    }

    /// The typed error of a pip run that did not finish.
    pub(super) fn run_error(&self, shown: &str, e: deadline::RunError) -> InstallError {
        match e {
            deadline::RunError::Io(err) => InstallError::Io {
                op: "run",
                path: PathBuf::from(&self.pip[0]),
                err,
            },
            deadline::RunError::Timeout => InstallError::Timeout {
                command: shown.to_string(),
                timeout: self.timeout,
            },
        }
    }
}

/// A command line as shown in errors.
fn shown(cmd: &Command) -> String {
    format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::DEFAULT_PIP_TIMEOUT;
    use std::time::{Duration, Instant};

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
