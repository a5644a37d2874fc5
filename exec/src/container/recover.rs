//! Crash recovery: a run killed mid-way leaves mounts under the containers
//! folder, processes in the pool's cgroups, and container folders. The next
//! start finds them from the mount table and the cgroup tree and removes
//! them before doing anything else. Recovery is scoped: only the cgroups
//! below the executor's prefix and the mounts and folders below its own
//! containers folder (`<state>/containers/<prefix>`) are touched, under the
//! state folder's lock (`lock.rs`). A dropped executor runs the same sweep.

use super::ExecutorError;
use crate::cgroup::CgroupBackend;
use crate::sys::mount;
use std::path::{Path, PathBuf};

/// What recovery found and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub mounts: usize,
    pub cgroups: usize,
    pub dirs: usize,
}

impl Recovery {
    pub fn found_anything(&self) -> bool {
        // The containers folder's own private mount is expected once.
        self.mounts > 1 || self.cgroups > 0 || self.dirs > 0
    }
}

/// Mount points at or below `dir`, deepest first, from mountinfo text.
pub fn mounts_below(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse((m.components().count(), m.clone())));
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal (proc(5)).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn recover(
    containers: &Path,
    backend: &CgroupBackend,
    prefix: &Path,
) -> Result<Recovery, ExecutorError> {
    let mut r = Recovery::default();
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|err| ExecutorError::Io {
            path: "/proc/self/mountinfo".into(),
            err,
        })?;
    // Processes first, so nothing holds the mounts.
    for cg in backend.list_below(prefix) {
        backend.kill_all(&cg)?;
        backend.remove(&cg)?;
        r.cgroups += 1;
    }
    for m in mounts_below(&info, containers) {
        mount::unmount(&m, true)?;
        r.mounts += 1;
    }
    if let Ok(entries) = std::fs::read_dir(containers) {
        for e in entries.flatten() {
            let p = e.path();
            std::fs::remove_dir_all(&p).map_err(|err| ExecutorError::Io {
                path: p.clone(),
                err,
            })?;
            r.dirs += 1;
        }
    }
    // The prefix itself (the pool recreates it). It may hold a nested
    // prefix of another executor (`<prefix>/<sub>`), then it stays.
    if let Err(e) = backend.remove(&crate::cgroup::Cgroup {
        rel: prefix.to_path_buf(),
    }) {
        tracing::debug!(prefix = %prefix.display(), error = %e, "recovery: prefix cgroup kept");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_below_deepest_first() {
        let info = "\
1 0 0:1 / / rw - ext4 /dev/vda rw
2 1 0:2 / /var/lib/s/containers rw - ext4 /dev/vda rw
3 2 0:3 / /var/lib/s/containers/c1/root rw - ext4 /dev/vda rw
4 3 0:4 / /var/lib/s/containers/c1/root/handler rw - ext4 /dev/vda rw
5 1 0:5 / /var/lib/s/containers2 rw - ext4 /dev/vda rw
6 1 0:6 / /var/lib/s/containers/a\\040b rw - ext4 /dev/vda rw
";
        let m = mounts_below(info, Path::new("/var/lib/s/containers"));
        assert_eq!(m[0], PathBuf::from("/var/lib/s/containers/c1/root/handler"));
        assert_eq!(m.last(), Some(&PathBuf::from("/var/lib/s/containers")));
        assert!(m.contains(&PathBuf::from("/var/lib/s/containers/a b")));
        assert_eq!(m.len(), 4);
    }
}
