//! A pool of pre-created cgroups. Taking one is a pop; giving it back
//! kills anything left inside first, so a reused cgroup is always empty.

use super::{Cgroup, CgroupBackend, CgroupResult, Limits};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct CgroupPool {
    backend: CgroupBackend,
    prefix: PathBuf,
    limits: Limits,
    free: Vec<Cgroup>,
    /// Every cgroup this pool made (for teardown).
    all: Vec<Cgroup>,
}

impl CgroupPool {
    /// Pre-creates `size` cgroups `<prefix>/pool-<i>`.
    pub fn new(
        backend: CgroupBackend,
        prefix: &Path,
        size: usize,
        limits: Limits,
    ) -> CgroupResult<CgroupPool> {
        let mut pool = CgroupPool {
            backend,
            prefix: prefix.to_path_buf(),
            limits,
            free: Vec::new(),
            all: Vec::new(),
        };
        for _ in 0..size {
            let cg = pool.make()?;
            pool.free.push(cg);
        }
        Ok(pool)
    }

    pub fn backend(&self) -> &CgroupBackend {
        &self.backend
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    fn make(&mut self) -> CgroupResult<Cgroup> {
        let rel = self.prefix.join(format!("pool-{}", self.all.len()));
        let cg = self.backend.create(&rel, &self.limits)?;
        self.all.push(cg.clone());
        Ok(cg)
    }

    /// A free cgroup; grows the pool when all are in use.
    pub fn take(&mut self) -> CgroupResult<Cgroup> {
        match self.free.pop() {
            Some(cg) => Ok(cg),
            None => self.make(),
        }
    }

    /// Returns `cg` to the pool after making sure it is empty.
    pub fn give_back(&mut self, cg: Cgroup) -> CgroupResult<()> {
        if !self.backend.procs(&cg)?.is_empty() {
            self.backend.kill_all(&cg)?;
        }
        self.free.push(cg);
        Ok(())
    }

    pub fn size(&self) -> usize {
        self.all.len()
    }

    /// Cgroups ready to be taken.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Kills anything left and removes every cgroup of the pool.
    pub fn destroy(&mut self) -> CgroupResult<()> {
        self.free.clear();
        for cg in std::mem::take(&mut self.all) {
            if !self
                .backend
                .procs(&cg)
                .map(|p| p.is_empty())
                .unwrap_or(true)
            {
                self.backend.kill_all(&cg)?;
            }
            self.backend.remove(&cg)?;
        }
        let _ = self.backend.remove(&Cgroup {
            rel: self.prefix.clone(),
        });
        Ok(())
    }
}
