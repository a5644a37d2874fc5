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
        let enable: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| available.iter().any(|a| a == c))
            .collect();
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
        poll_until(&events, want, Duration::from_secs(5), || {
            Ok(read(&events)?.lines().any(|l| l.trim() == want))
        })
    }

    /// `cgroup.kill` (Linux 5.14) SIGKILLs every process atomically.
    pub(super) fn kill_all(&self, cg: &Cgroup) -> CgroupResult<()> {
        write(self.path(cg).join("cgroup.kill"), "1")
    }

    pub(super) fn remove(&self, cg: &Cgroup) -> CgroupResult<()> {
        rmdir(&self.path(cg))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CgroupBackend, Limits};
    use super::*;

    /// A fake unified hierarchy: files the kernel would provide are plain
    /// files; we check what the backend writes into them.
    #[test]
    fn create_enables_controllers_in_ancestors_and_sets_limits_in_the_leaf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .expect("write");
        let backend = CgroupBackend::V2(V2::new(root.to_path_buf()));
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            pids: Some(32),
            cpu: Some((50_000, 100_000)),
        };
        let cg = backend
            .create(Path::new("sock-exec/pool-0"), &limits)
            .expect("create");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
        assert_eq!(read("cgroup.subtree_control"), "+memory +pids +cpu");
        assert_eq!(
            read("sock-exec/cgroup.subtree_control"),
            "+memory +pids +cpu"
        );
        assert_eq!(
            read("sock-exec/pool-0/memory.max"),
            (64u64 << 20).to_string()
        );
        assert_eq!(read("sock-exec/pool-0/pids.max"), "32");
        assert_eq!(read("sock-exec/pool-0/cpu.max"), "50000 100000");
        // The leaf itself never gets controllers enabled (it holds processes).
        assert!(!root
            .join("sock-exec/pool-0/cgroup.subtree_control")
            .exists());
        assert_eq!(
            backend.join_files(&cg),
            vec![root.join("sock-exec/pool-0/cgroup.procs")]
        );
    }

    #[test]
    fn controllers_the_host_lacks_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cgroup.controllers"), "pids\n").expect("write");
        let backend = CgroupBackend::V2(V2::new(dir.path().to_path_buf()));
        backend
            .create(Path::new("a/b"), &Limits::default())
            .expect("create");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a/cgroup.subtree_control")).expect("read"),
            "+pids"
        );
        assert!(dir.path().join("a/b/pids.max").exists());
        assert!(!dir.path().join("a/b/memory.max").exists());
    }

    #[test]
    fn freeze_waits_for_the_kernel_to_report_frozen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v2 = V2::new(dir.path().to_path_buf());
        let cg = Cgroup { rel: "c".into() };
        std::fs::create_dir_all(dir.path().join("c")).expect("mkdir");
        // A fake kernel that already reports the frozen state.
        std::fs::write(
            dir.path().join("c/cgroup.events"),
            "populated 1\nfrozen 1\n",
        )
        .expect("write");
        v2.set_frozen(&cg, true).expect("freeze");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c/cgroup.freeze")).expect("read"),
            "1"
        );
    }
}
