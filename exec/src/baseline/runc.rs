//! runc baseline: an OCI bundle over the same root file system, run with
//! `runc run --bundle <dir> <unique id>` (foreground; runc deletes the
//! container when it exits).
//!
//! The bundle holds only `config.json` ([`super::oci`]); `root.path` is
//! the root file system's absolute path, so nothing is copied. After a
//! failed or timed-out run the container is removed with
//! `runc delete -f <id>` so no state is left in runc's state dir.

use super::oci::{self, Options};
use super::{last_line, render, run_captured, BaselineError, Probe, COMMAND_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `runc --version`: runc's version line, or why runc is skipped.
pub fn detect() -> Probe<String> {
    if !crate::sys::process::is_root() {
        return Probe::Skipped {
            reason: "runc needs root here (rootless runc needs a user-namespace config)".into(),
        };
    }
    match run_captured(
        Command::new("runc").arg("--version"),
        Duration::from_secs(20),
    ) {
        Err(BaselineError::Spawn { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
            Probe::Skipped {
                reason: "runc not installed".into(),
            }
        }
        Err(e) => Probe::Skipped {
            reason: format!("runc --version failed: {e}"),
        },
        Ok(f) if !f.success => Probe::Skipped {
            reason: format!("runc --version: {}", last_line(&f.stderr)),
        },
        Ok(f) => Probe::Ready(f.stdout.lines().next().unwrap_or("runc").to_string()),
    }
}

/// An OCI bundle and the runs made from it.
#[derive(Debug)]
pub struct Runc {
    bundle: PathBuf,
    rootfs: PathBuf,
    opts: Options,
    /// argv of the config.json on disk (rewritten when argv changes).
    written_for: Option<Vec<String>>,
    runs: u64,
}

impl Runc {
    /// Prepares `bundle` (created if missing) to run over `rootfs`.
    pub fn prepare(bundle: &Path, rootfs: &Path, opts: Options) -> Result<Runc, BaselineError> {
        let rootfs = rootfs.canonicalize().map_err(|err| BaselineError::Io {
            op: "canonicalize",
            path: rootfs.into(),
            err,
        })?;
        if !rootfs.join("usr").is_dir() {
            return Err(BaselineError::Rootfs {
                path: rootfs,
                reason: "no usr/ directory: not a root file system".into(),
            });
        }
        std::fs::create_dir_all(bundle).map_err(|err| BaselineError::Io {
            op: "create bundle dir",
            path: bundle.into(),
            err,
        })?;
        Ok(Runc {
            bundle: bundle.to_path_buf(),
            rootfs,
            opts,
            written_for: None,
            runs: 0,
        })
    }

    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    pub fn label(&self) -> String {
        format!(
            "runc run ({})",
            if self.opts.network_namespace {
                "new netns"
            } else {
                "host netns"
            }
        )
    }

    /// Writes config.json for `argv` unless it is already there.
    pub fn write_config(&mut self, argv: &[String]) -> Result<(), BaselineError> {
        if self.written_for.as_deref() == Some(argv) {
            return Ok(());
        }
        let path = self.bundle.join("config.json");
        let cfg = oci::config(&self.rootfs, argv, self.opts);
        // Serialising plain structs of strings, bools and integers cannot fail.
        let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
        std::fs::write(&path, text).map_err(|err| BaselineError::Io {
            op: "write",
            path,
            err,
        })?;
        self.written_for = Some(argv.to_vec());
        Ok(())
    }

    /// The exact command a run uses for container `id`.
    pub fn command(&self, id: &str) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("run").arg("--bundle").arg(&self.bundle).arg(id);
        cmd
    }

    /// One `runc run`: wall time from start to exit (the config is written
    /// before the clock starts); non-zero exit is an error, and the
    /// container is force-deleted.
    pub fn run_once(&mut self, argv: &[String]) -> Result<Duration, BaselineError> {
        if argv.is_empty() {
            return Err(BaselineError::EmptyArgv);
        }
        self.write_config(argv)?;
        self.runs += 1;
        let id = format!("sock-baseline-{}-{}", std::process::id(), self.runs);
        let mut cmd = self.command(&id);
        let outcome = run_captured(&mut cmd, COMMAND_TIMEOUT);
        match outcome {
            Ok(f) if f.success => Ok(f.elapsed),
            Ok(f) => {
                force_delete(&id);
                Err(BaselineError::Failed {
                    cmd: render(&cmd),
                    status: f.status,
                    stderr: last_line(&f.stderr),
                })
            }
            Err(e) => {
                force_delete(&id);
                Err(e)
            }
        }
    }
}

/// `runc delete -f <id>`; errors ignored (the container may never have
/// been created).
fn force_delete(id: &str) {
    let _ = run_captured(
        Command::new("runc").args(["delete", "-f", id]),
        Duration::from_secs(30),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_shape() {
        let argv = crate::baseline::noop_argv(false);
        let with = serde_json::to_value(oci::config(Path::new("/r"), &argv, Options::default()))
            .unwrap_or_default();
        assert_eq!(
            with["root"],
            serde_json::json!({"path": "/r", "readonly": true})
        );
        assert_eq!(
            with["process"]["args"],
            serde_json::json!(["/usr/bin/python3", "-S", "-c", "pass"])
        );
        assert_eq!(with["process"]["terminal"], false);
        assert_eq!(with["process"]["noNewPrivileges"], true);
        let ns: Vec<&str> = with["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
        let host_net = oci::config(
            Path::new("/r"),
            &argv,
            Options {
                network_namespace: false,
                readonly_root: false,
            },
        );
        assert!(host_net
            .linux
            .namespaces
            .iter()
            .all(|n| n.kind != "network"));
        assert!(!host_net.root.readonly);
    }
}
