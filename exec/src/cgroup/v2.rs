//! cgroup v2: one unified hierarchy. Controllers are enabled in a parent's
//! `cgroup.subtree_control`, and never on a cgroup that holds processes
//! (the "no internal processes" rule), so containers live in leaves.

use super::{mkdir, poll_until, read, rmdir, write, Cgroup, CgroupResult, Limits};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct V2 {
    pub root: PathBuf,
}

impl V2 {
    pub fn new(root: PathBuf) -> V2 {
        V2 { root }
    }

    pub fn path(&self, cg: &Cgroup) -> PathBuf {
        self.root.join(&cg.rel)
    }

    /// Controllers the root offers (`cgroup.controllers`); on a hybrid host
    /// the v2 hierarchy offers none, and limits cannot be set.
    pub fn available_controllers(&self) -> Vec<String> {
        read(self.root.join("cgroup.controllers"))
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub(super) fn create(&self, cg: &Cgroup, limits: &Limits) -> CgroupResult<()> {
        let wanted: Vec<&str> = [
            limits.memory_bytes.map(|_| "memory"),
            limits.pids.map(|_| "pids"),
            limits.cpu.map(|_| "cpu"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let available = self.available_controllers();
        let enable: Vec<&str> = wanted.iter().copied().filter(|c| available.iter().any(|a| a == c)).collect();
        // Enable controllers down the path: each ancestor below the root
        // only ever holds other cgroups, never processes.
        let mut dir = self.root.clone();
        let parts: Vec<_> = cg.rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            if !enable.is_empty() {
                let line: Vec<String> = enable.iter().map(|c| format!("+{c}")).collect();
                write(dir.join("cgroup.subtree_control"), &line.join(" "))?;
            }
            dir = dir.join(part);
            mkdir(&dir)?;
            if i + 1 == parts.len() {
                self.apply_limits(&dir, limits, &enable)?;
            }
        }
        Ok(())
    }

    fn apply_limits(&self, dir: &Path, limits: &Limits, enabled: &[&str]) -> CgroupResult<()> {
        if let (Some(m), true) = (limits.memory_bytes, enabled.contains(&"memory")) {
            write(dir.join("memory.max"), &m.to_string())?;
            // Without swap accounting the file is absent; then swap is not limited.
            let _ = write(dir.join("memory.swap.max"), "0");
        }
        if let (Some(p), true) = (limits.pids, enabled.contains(&"pids")) {
            write(dir.join("pids.max"), &p.to_string())?;
        }
        if let (Some((q, p)), true) = (limits.cpu, enabled.contains(&"cpu")) {
            write(dir.join("cpu.max"), &format!("{q} {p}"))?;
        }
        Ok(())
    }

    pub(super) fn set_frozen(&self, cg: &Cgroup, frozen: bool) -> CgroupResult<()> {
        let dir = self.path(cg);
        write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let events = dir.join("cgroup.events");
        poll_until(&events, want, Duration::from_secs(5), || Ok(read(&events)?.lines().any(|l| l.trim() == want)))
    }

    /// `cgroup.kill` (Linux 5.14) SIGKILLs every process atomically.
    pub(super) fn kill_all(&self, cg: &Cgroup) -> CgroupResult<()> {
        write(self.path(cg).join("cgroup.kill"), "1")
    }

    pub(super) fn remove(&self, cg: &Cgroup) -> CgroupResult<()> {
        rmdir(&self.path(cg))
    }
}
