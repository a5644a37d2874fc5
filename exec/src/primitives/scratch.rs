//! Scratch space the study creates on the host, owned by guards that
//! remove it on drop (also when an experiment fails half-way).

use super::PrimError;
use crate::sys::prim::{mount_tmpfs, set_propagation, umount_detach, Propagation};
use std::path::{Path, PathBuf};

/// A tmpfs on a fresh directory `<parent>/sock-prim-<pid>-<name>`, with
/// the given propagation. Drop detaches it together with every mount
/// made below it (MNT_DETACH is recursive), then removes the directory.
#[derive(Debug)]
pub struct ScratchMount {
    dir: PathBuf,
    mounted: bool,
}

impl ScratchMount {
    pub fn new(
        parent: &Path,
        name: &str,
        propagation: Propagation,
    ) -> Result<ScratchMount, PrimError> {
        let dir = parent.join(format!("sock-prim-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(PrimError::io("create scratch dir", &dir))?;
        let mut guard = ScratchMount {
            dir,
            mounted: false,
        };
        mount_tmpfs(&guard.dir, "size=64m,mode=0700")?;
        guard.mounted = true;
        // A new mount under a shared parent is itself shared (systemd
        // makes `/` shared): set the propagation explicitly either way.
        set_propagation(&guard.dir, Propagation::Private)?;
        if propagation == Propagation::Shared {
            set_propagation(&guard.dir, Propagation::Shared)?;
        }
        Ok(guard)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchMount {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount_detach(&self.dir) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "primitives: could not unmount scratch tmpfs");
                return;
            }
        }
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "primitives: could not remove scratch dir");
        }
    }
}

/// A plain directory `<parent>/sock-prim-<pid>-<name>` on the parent's
/// file system, removed recursively on drop.
#[derive(Debug)]
pub struct ScratchDir {
    dir: PathBuf,
}

impl ScratchDir {
    pub fn new(parent: &Path, name: &str) -> Result<ScratchDir, PrimError> {
        let dir = parent.join(format!("sock-prim-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(PrimError::io("create scratch dir", &dir))?;
        Ok(ScratchDir { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "primitives: could not remove scratch dir");
        }
    }
}

/// Makes `n` directories `<dir>/<prefix><i>`.
pub fn make_dirs(dir: &Path, prefix: &str, n: usize) -> Result<Vec<PathBuf>, PrimError> {
    (0..n)
        .map(|i| {
            let d = dir.join(format!("{prefix}{i}"));
            std::fs::create_dir_all(&d).map_err(PrimError::io("create dir", &d))?;
            Ok(d)
        })
        .collect()
}

/// A tiny stand-in root file system (a few directories and files) for
/// when no real one is given: chroot and pivot_root only need a tree.
pub fn synthetic_rootfs(dir: &Path) -> Result<PathBuf, PrimError> {
    let root = dir.join("rootfs");
    for sub in ["bin", "etc", "usr/lib", "tmp", "proc", "dev"] {
        let d = root.join(sub);
        std::fs::create_dir_all(&d).map_err(PrimError::io("create dir", &d))?;
    }
    for (file, text) in [
        ("etc/hostname", "sock\n"),
        ("etc/os-release", "ID=sock-prim\n"),
    ] {
        let f = root.join(file);
        std::fs::write(&f, text).map_err(PrimError::io("write", &f))?;
    }
    Ok(root)
}

/// Lines of /proc/self/mountinfo: the mounts of the caller's namespace.
pub fn mount_count() -> Result<usize, PrimError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(PrimError::io("read", "/proc/self/mountinfo"))?;
    Ok(text.lines().count())
}
