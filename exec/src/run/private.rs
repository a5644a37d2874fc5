//! Packages installed "uncached": the planner found no room for them in
//! the install cache, so the model charges an install on every miss and
//! keeps nothing (sock-core's `InstallCache`). The real side must match:
//! such a package is installed into a private folder `<work>/uncached/<n>`
//! (never the cache folder), mounted by the containers that need it (the
//! instance, a Zygote grown from it, that Zygote's children), and deleted
//! when the last of them is destroyed. So the disk stays within the
//! budget, and the next miss runs pip again, as predicted.

use crate::install::{InstallError, Installer};
use sock_core::PackageId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub(super) struct PrivateCopies {
    root: PathBuf,
    next: u64,
    /// The newest copy of each package (`<root>/<n>/<key>`): what a fork
    /// from a Zygote holding it mounts.
    latest: HashMap<PackageId, PathBuf>,
    /// Packages copied during the current step (a fallback reuses them).
    made_now: HashSet<PackageId>,
    /// Copy folder `<root>/<n>` -> live containers mounting it.
    holders: BTreeMap<PathBuf, usize>,
    /// Container id -> the copy folders it mounts.
    held_by: HashMap<u64, Vec<PathBuf>>,
}

impl PrivateCopies {
    pub(super) fn new(root: PathBuf) -> PrivateCopies {
        PrivateCopies {
            root,
            ..PrivateCopies::default()
        }
    }

    /// A new step: copies made before it are not reused by installs.
    pub(super) fn begin_step(&mut self) {
        self.made_now.clear();
    }

    /// Whether `p` was installed privately during this step.
    pub(super) fn made_now(&self, p: PackageId) -> bool {
        self.made_now.contains(&p)
    }

    /// The newest private copy of `p`, if one is still held.
    pub(super) fn latest(&self, p: PackageId) -> Option<&Path> {
        self.latest.get(&p).map(PathBuf::as_path)
    }

    /// An installer filling a new private folder `<root>/<n>`.
    pub(super) fn installer(&mut self, base: &Installer) -> Result<Installer, InstallError> {
        let dir = self.root.join(self.next.to_string());
        self.next += 1;
        let installer = base.elsewhere(&dir)?;
        self.holders.insert(dir, 0);
        Ok(installer)
    }

    /// Keeps the private folder `dir` (of [`Self::installer`]) from being
    /// swept while a background pip fills it and its call waits (pips.rs);
    /// [`Self::unreserve`] ends that once the call's container holds it.
    pub(super) fn reserve(&mut self, dir: &Path) {
        if let Some(n) = self.holders.get_mut(dir) {
            *n += 1;
        }
    }

    pub(super) fn unreserve(&mut self, dir: &Path) {
        if let Some(n) = self.holders.get_mut(dir) {
            *n = n.saturating_sub(1);
        }
    }

    /// `p` was installed privately at `path` (`<root>/<n>/<key>`).
    pub(super) fn record(&mut self, p: PackageId, path: PathBuf) {
        self.latest.insert(p, path);
        self.made_now.insert(p);
    }

    /// Container `id` mounts `packages`: count it as a holder of the
    /// private copies among them.
    pub(super) fn hold(&mut self, id: u64, packages: &[(String, PathBuf)]) {
        for (_, path) in packages {
            let Some(dir) = path.parent() else { continue };
            if let Some(n) = self.holders.get_mut(dir) {
                *n += 1;
                self.held_by.entry(id).or_default().push(dir.to_path_buf());
            }
        }
    }

    /// Container `id` is gone: delete the copies nobody holds any more.
    pub(super) fn release(&mut self, id: u64) -> Result<(), InstallError> {
        for dir in self.held_by.remove(&id).unwrap_or_default() {
            if let Some(n) = self.holders.get_mut(&dir) {
                *n = n.saturating_sub(1);
            }
        }
        self.sweep()
    }

    /// Deletes every copy no live container holds (also those whose
    /// container could not be made).
    pub(super) fn sweep(&mut self) -> Result<(), InstallError> {
        let unheld: Vec<PathBuf> = self
            .holders
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(d, _)| d.clone())
            .collect();
        for dir in unheld {
            self.holders.remove(&dir);
            self.latest.retain(|_, p| !p.starts_with(&dir));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|err| InstallError::Io {
                    op: "remove",
                    path: dir.clone(),
                    err,
                })?;
            }
        }
        Ok(())
    }
}
