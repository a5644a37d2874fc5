//! The subset of the OCI runtime spec (config.json, spec 1.0.2) the runc
//! baseline needs, as Rust structs serialised with serde.
//!
//! Defaults follow what `runc spec` and Docker give a container, so the
//! baseline pays what a stock container pays: pid, ipc, uts and mount
//! namespaces, optionally a network namespace, /proc, a tmpfs /dev with
//! devpts, shm and mqueue, read-only /sys, the usual masked and
//! read-only /proc paths, three capabilities, no_new_privileges.

use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub oci_version: String,
    pub process: Process,
    pub root: Root,
    pub hostname: String,
    pub mounts: Vec<Mount>,
    pub linux: Linux,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub terminal: bool,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Capabilities,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Root {
    /// Absolute, so the bundle needs no copy or link of the rootfs
    /// (the spec allows an absolute path or one relative to the bundle).
    pub path: String,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    pub namespaces: Vec<Namespace>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
}

/// Choices the baseline exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// A new, empty network namespace (only a loopback device, down):
    /// what `docker run --network none` gives. Without it the container
    /// shares the host's network namespace and skips the netns cost.
    pub network_namespace: bool,
    /// Mount the root file system read-only (lean containers' base image
    /// is read-only too).
    pub readonly_root: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            network_namespace: true,
            readonly_root: true,
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: destination.into(),
        kind: kind.into(),
        source: source.into(),
        options: strings(options),
    }
}

/// The config.json for running `argv` over `rootfs` (absolute path).
pub fn config(rootfs: &Path, argv: &[String], opts: Options) -> Config {
    let caps = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = strings(&["pid", "ipc", "uts", "mount"]);
    if opts.network_namespace {
        namespaces.push("network".into());
    }
    Config {
        oci_version: "1.0.2".into(),
        process: Process {
            terminal: false,
            user: User { uid: 0, gid: 0 },
            args: argv.to_vec(),
            env: strings(&["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            cwd: "/".into(),
            capabilities: Capabilities {
                bounding: caps.clone(),
                effective: caps.clone(),
                permitted: caps,
            },
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
        },
        root: Root {
            path: rootfs.display().to_string(),
            readonly: opts.readonly_root,
        },
        hostname: "sock-runc".into(),
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
        ],
        linux: Linux {
            namespaces: namespaces
                .into_iter()
                .map(|kind| Namespace { kind })
                .collect(),
            masked_paths: strings(&[
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware",
            ]),
            readonly_paths: strings(&[
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ]),
        },
    }
}
