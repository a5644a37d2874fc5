//! Building a package from its source distribution inside a lean container,
//! for packages with no wheel that fits the containers' Python.
//!
//! 1. The host's pip downloads the source distribution (`pip download
//!    --no-deps --no-binary :all:`), from the index or the find-links folder.
//! 2. A build container (a lean container like any other: its own cgroup
//!    and limits, chroot, nobody, read-only root) runs `python3 -m pip wheel
//!    --no-deps` on it with the containers' own Python. pip itself is the
//!    host's, mounted read-only (the base image has none); the find-links
//!    folder is mounted read-only for offline builds. Build isolation is
//!    on: pip installs the build backend the package declares into a
//!    temporary environment in the container's scratch, from the index
//!    (lean containers share the host's network) or the find-links folder.
//!    The wheel lands in the container's scratch.
//! 3. [`Installer::install_wheel_file`] installs it like a downloaded one.
//!
//! The base image has no C compiler: a package whose build needs one fails,
//! with the tail of pip's build log in the error.

use super::{io, normalize_key, tail, InstallError, Installed, Installer, Source};
use crate::container::{ContainerSpec, Executor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("no source distribution of {key}: {why}")]
    NoSdist { key: String, why: String },
    #[error("cannot find pip's package folder to mount in the build container ({0}); set SOCK_PIP to a `<python> -m pip` command")]
    NoPipHome(String),
    #[error("build container for {key}: {err}")]
    Container { key: String, err: String },
    #[error("building {key} from source failed; pip's log ends: {log}")]
    Failed { key: String, log: String },
}

/// The build container's handler: runs pip wheel, reports code and log.
const BUILD_HANDLER: &str = r#"import json
import os
import subprocess
import sys

with open("/handler/build.json") as f:
    BUILD = json.load(f)


def f(event):
    os.makedirs("/host/out", exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", "-w", "/host/out"]
    cmd += BUILD["index"] + ["/handler/" + BUILD["sdist"]]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
           "PYTHONPATH": BUILD["pip_home"], "PIP_CONFIG_FILE": "/dev/null", "LANG": "C.UTF-8"}
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return {"code": p.returncode, "log": p.stdout.decode(errors="replace")[-6000:]}
"#;

/// Builds `key` from source in a lean container and installs the wheel;
/// `Installed::elapsed` covers the download, the build and the install.
pub fn build_from_source(
    exec: &mut Executor,
    installer: &Installer,
    key: &str,
    timeout: Duration,
) -> Result<Installed, BuildError> {
    let start = std::time::Instant::now();
    let key = normalize_key(key)?;
    if installer.is_installed(&key) {
        return Ok(installer.install(&key)?);
    }
    let work = installer.tmp_path(&format!("build-{key}"));
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).map_err(io("create", &src))?;
    let sdist = installer.download_sdist(&key, &src)?;
    let pip_home = installer.pip_home()?;

    let mut packages = vec![("pip".to_string(), pip_home)];
    let mut index: Vec<String> = Vec::new();
    if let Source::FindLinks(dir) = installer.source() {
        packages.push(("find-links".to_string(), dir.clone()));
        index = vec![
            "--no-index".into(),
            "--find-links".into(),
            "/packages/find-links".into(),
        ];
    }
    let build = serde_json::json!({
        "sdist": sdist,
        "pip_home": "/packages/pip",
        "index": index,
    });
    let write = |name: &str, text: &str| -> Result<(), InstallError> {
        let p = src.join(name);
        std::fs::write(&p, text).map_err(io("write", &p))
    };
    write("f.py", BUILD_HANDLER)?;
    write("build.json", &build.to_string())?;
    super::world_readable(work.path())?;

    let spec = ContainerSpec {
        handler_dir: src.clone(),
        packages,
        imports: Vec::new(),
    };
    let cerr = |err: String| BuildError::Container {
        key: key.clone(),
        err,
    };
    let mut c = exec.create(&spec).map_err(|e| cerr(e.to_string()))?;
    let response = exec.invoke(&mut c, "{}", timeout);
    let wheel = response.as_ref().ok().and_then(|_| {
        let out = c.scratch.join("out");
        let found = std::fs::read_dir(&out)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))?;
        // Keep it beyond the container's scratch.
        let kept = work.path().join(found.file_name()?);
        std::fs::copy(&found, &kept).ok()?;
        Some(kept)
    });
    exec.destroy(c).map_err(|e| cerr(e.to_string()))?;
    let r = response.map_err(|e| cerr(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    let code = v["code"].as_i64();
    let log = tail(v["log"].as_str().unwrap_or(&r.body));
    match (r.status, code, wheel) {
        (200, Some(0), Some(wheel)) => {
            let mut got = installer.install_wheel_file(&key, &wheel)?;
            // The whole build: download, build container, install.
            got.elapsed = start.elapsed();
            Ok(got)
        }
        _ => Err(BuildError::Failed { key, log }),
    }
}

impl Installer {
    /// `pip download --no-deps --no-binary :all:` of `key` into `dir`;
    /// returns the file name of the source distribution.
    fn download_sdist(&self, key: &str, dir: &Path) -> Result<String, BuildError> {
        let mut cmd = self.pip_command();
        cmd.args([
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--quiet",
            "-d",
        ])
        .arg(dir)
        .arg(key);
        self.index_args(&mut cmd);
        let out = self.run(cmd)?;
        if !out.status.success() {
            return Err(BuildError::NoSdist {
                key: key.into(),
                why: tail(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        std::fs::read_dir(dir)
            .map_err(io("read", dir))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|n| n.ends_with(".tar.gz") || n.ends_with(".zip") || n.ends_with(".tar.bz2"))
            .ok_or_else(|| BuildError::NoSdist {
                key: key.into(),
                why: format!("pip downloaded nothing into {}", dir.display()),
            })
    }

    /// The folder holding the `pip` package of the pip this installer runs.
    fn pip_home(&self) -> Result<PathBuf, BuildError> {
        let pip = self.pip();
        if pip.len() < 3 || pip[1] != "-m" || pip[2] != "pip" {
            return Err(BuildError::NoPipHome(format!(
                "pip command {:?} is not `<python> -m pip`",
                pip.join(" ")
            )));
        }
        let out = Command::new(&pip[0])
            .args([
                "-c",
                "import os, pip; print(os.path.dirname(os.path.dirname(os.path.abspath(pip.__file__))))",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BuildError::NoPipHome(e.to_string()))?;
        let home = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || home.is_empty() || !Path::new(&home).join("pip").is_dir() {
            return Err(BuildError::NoPipHome(tail(&String::from_utf8_lossy(
                &out.stderr,
            ))));
        }
        Ok(PathBuf::from(home))
    }
}
