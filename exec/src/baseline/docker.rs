//! Docker baseline: `docker run --rm --network none <image> argv`, the
//! command SOCK (and our aim of >= 20x) compares against.
//!
//! The image is built from the same root file system the lean containers
//! use: `tar -C <rootfs> -c . | docker import - sock-base:<tag>`, where the
//! tag fingerprints the root file system, so a second start reuses it.
//! No registry is needed.

use super::{last_line, render, run_captured, run_checked, BaselineError, Probe};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Repository name of imported images.
pub const IMAGE_REPO: &str = "sock-base";

/// A reachable Docker engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub server_version: String,
}

/// `docker info`: the engine, or why Docker is skipped (CLI missing,
/// daemon not running or not reachable). Never panics.
pub fn detect() -> Probe<Engine> {
    let mut cmd = Command::new("docker");
    cmd.args(["info", "--format", "{{.ServerVersion}}"]);
    match run_captured(&mut cmd, Duration::from_secs(20)) {
        Err(BaselineError::Spawn { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            Probe::Skipped {
                reason: "docker CLI not installed".into(),
            }
        }
        Err(e) => Probe::Skipped {
            reason: format!("docker info failed: {e}"),
        },
        Ok(f) if !f.success || f.stdout.trim().is_empty() => {
            let why = last_line(&f.stderr);
            Probe::Skipped {
                reason: format!(
                    "docker daemon not reachable: {}",
                    if why.is_empty() { f.status } else { why }
                ),
            }
        }
        Ok(f) => Probe::Ready(Engine {
            server_version: f.stdout.trim().to_string(),
        }),
    }
}

/// A cheap fingerprint of a root file system for the image tag: its
/// canonical path and the modification times and sizes of a few entries
/// that change when it is rebuilt or packages are added. (Hashing every
/// file would cost as much as the import it is meant to skip.)
pub fn rootfs_tag(rootfs: &Path) -> Result<String, BaselineError> {
    let canon = rootfs.canonicalize().map_err(|err| BaselineError::Io {
        op: "canonicalize",
        path: rootfs.into(),
        err,
    })?;
    let mut key = canon.display().to_string();
    for rel in [
        "",
        "usr/bin",
        "usr/lib",
        "etc",
        "var/lib/dpkg/status",
        "usr/bin/python3",
    ] {
        let p = canon.join(rel);
        if let Ok(m) = std::fs::metadata(&p) {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            key.push_str(&format!("|{rel}:{}:{}", mtime.as_nanos(), m.len()));
        }
    }
    Ok(format!("{:016x}", super::fnv1a(key.as_bytes())))
}

impl Engine {
    /// The image for `rootfs` (`sock-base:<tag>`, `tag` defaulting to
    /// [`rootfs_tag`]), imported unless it already exists.
    pub fn image_from_rootfs(
        &self,
        rootfs: &Path,
        tag: Option<&str>,
    ) -> Result<Docker, BaselineError> {
        if !rootfs.join("usr").is_dir() {
            return Err(BaselineError::Rootfs {
                path: rootfs.into(),
                reason: "no usr/ directory: not a root file system".into(),
            });
        }
        let tag = match tag {
            Some(t) => t.to_string(),
            None => rootfs_tag(rootfs)?,
        };
        let image = format!("{IMAGE_REPO}:{tag}");
        let mut inspect = Command::new("docker");
        inspect.args(["image", "inspect", "--format", "{{.Id}}", &image]);
        let cached = run_captured(&mut inspect, Duration::from_secs(60))?.success;
        if !cached {
            tracing::info!(image, rootfs = %rootfs.display(), "docker: importing root file system");
            import(rootfs, &image)?;
        }
        Ok(Docker {
            image,
            imported: !cached,
        })
    }
}

/// `tar -C <rootfs> --numeric-owner -c . | docker import - <image>`.
fn import(rootfs: &Path, image: &str) -> Result<(), BaselineError> {
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg(rootfs)
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let tar_text = render(&tar);
    let mut tar_child = tar.spawn().map_err(|err| BaselineError::Spawn {
        cmd: tar_text.clone(),
        err,
    })?;
    let Some(stream) = tar_child.stdout.take() else {
        let _ = tar_child.kill();
        let _ = tar_child.wait();
        return Err(BaselineError::Failed {
            cmd: tar_text,
            status: "no stdout".into(),
            stderr: String::new(),
        });
    };
    let mut docker = Command::new("docker");
    docker
        .args(["import", "-", image])
        .stdin(Stdio::from(stream))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let docker_text = render(&docker);
    let docker_out = docker.output();
    let tar_out = tar_child
        .wait_with_output()
        .map_err(|err| BaselineError::Spawn {
            cmd: tar_text.clone(),
            err,
        })?;
    let docker_out = docker_out.map_err(|err| BaselineError::Spawn {
        cmd: docker_text.clone(),
        err,
    })?;
    // docker first: when it fails, tar dies of SIGPIPE, which says little.
    if !docker_out.status.success() {
        let stderr = last_line(&String::from_utf8_lossy(&docker_out.stderr));
        return Err(BaselineError::Failed {
            cmd: docker_text,
            status: docker_out.status.to_string(),
            stderr,
        });
    }
    if !tar_out.status.success() {
        let stderr = last_line(&String::from_utf8_lossy(&tar_out.stderr));
        return Err(BaselineError::Failed {
            cmd: tar_text,
            status: tar_out.status.to_string(),
            stderr,
        });
    }
    Ok(())
}

/// Runs argv in fresh containers of one image.
#[derive(Debug, Clone)]
pub struct Docker {
    pub image: String,
    /// Whether [`Engine::image_from_rootfs`] had to import (not cached).
    pub imported: bool,
}

impl Docker {
    pub fn label(&self) -> String {
        "docker run --rm --network none".into()
    }

    /// The exact command [`Docker::run_once`] runs.
    pub fn command(&self, argv: &[String]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "--network", "none", &self.image])
            .args(argv);
        cmd
    }

    /// `docker run --rm --network none <image> argv`: wall time from the
    /// CLI's start to its exit; a non-zero exit is an error.
    pub fn run_once(&self, argv: &[String]) -> Result<Duration, BaselineError> {
        if argv.is_empty() {
            return Err(BaselineError::EmptyArgv);
        }
        run_checked(&mut self.command(argv))
    }

    /// Removes the image (`docker rmi`), e.g. after a test.
    pub fn remove_image(&self) -> Result<(), BaselineError> {
        run_checked(Command::new("docker").args(["rmi", "-f", &self.image])).map(|_| ())
    }
}
