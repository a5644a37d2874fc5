//! The calibration executor and its long-lived containers, and the three
//! measured operations every sample is made of: a fresh start, a fork
//! from a live Zygote, a Zygote start.

use super::samples::mb;
use super::TIMEOUT;
use crate::cgroup::Cgroup;
use crate::container::{Container, ContainerSpec, Executor, Response, Role};
use crate::measure::{self, Marks};
use crate::sys::clock;
use anyhow::{bail, Context};
use sock_core::record::PhasesUs;
use std::collections::HashMap;
use std::path::PathBuf;

/// A pooled cgroup's memory charge before a container enters it.
type Snapshot = HashMap<PathBuf, u64>;

/// One fork from a Zygote: its create, fork and transport phases (ms)
/// and the handler's memory (MB).
pub(super) struct ForkSample {
    pub(super) prepare: f64,
    pub(super) fork: f64,
    pub(super) transport: f64,
    pub(super) mem: f64,
}

/// The executor and the long-lived containers (Zygotes, the paused
/// handler), destroyed by [`Calibrator::teardown`] whatever happens.
pub(super) struct Calibrator {
    pub(super) exec: Executor,
    pub(super) live: Vec<Container>,
    pub(super) n: usize,
    pub(super) work: PathBuf,
    pub(super) noop: ContainerSpec,
}

impl Calibrator {
    pub(super) fn snapshot(&self) -> Snapshot {
        let b = self.exec.backend();
        b.list_below(&self.exec.config.cgroup_prefix)
            .into_iter()
            .filter_map(|cg| b.memory_current(&cg).ok().map(|m| (cg.rel, m)))
            .collect()
    }

    /// What `cg` holds beyond its charge in `before` (MB).
    pub(super) fn mem_since(&self, cg: &Cgroup, before: &Snapshot) -> anyhow::Result<f64> {
        let now = self
            .exec
            .backend()
            .memory_current(cg)
            .context("reading a cgroup's memory")?;
        Ok(mb(
            now.saturating_sub(before.get(&cg.rel).copied().unwrap_or(0))
        ))
    }

    /// Destroys `c`, then returns `r` (or the destroy error).
    pub(super) fn done<T>(&mut self, c: Container, r: anyhow::Result<T>) -> anyhow::Result<T> {
        let d = self.exec.destroy(c);
        // The idle point between samples, as between a run's calls: the
        // prepared roots are topped up, so creates take the run's path.
        let idle = self.exec.collect_teardowns();
        let t = r?;
        d.context("destroying a container")?;
        idle.context("completing teardowns")?;
        Ok(t)
    }

    /// Destroys a long-lived container.
    pub(super) fn drop_live(&mut self, i: usize) -> anyhow::Result<()> {
        let c = self.live.remove(i);
        self.exec.destroy(c).context("destroying a container")?;
        Ok(())
    }

    pub(super) fn teardown(mut self) -> anyhow::Result<()> {
        let mut first = None;
        for c in std::mem::take(&mut self.live) {
            if let Err(e) = self.exec.destroy(c) {
                first.get_or_insert(anyhow::Error::from(e));
            }
        }
        if let Err(e) = self.exec.shutdown() {
            first.get_or_insert(anyhow::Error::from(e));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A fresh container for `spec`, invoked once: (its phases, the
    /// response, the cgroup's memory after the response in MB).
    pub(super) fn fresh_once(
        &mut self,
        spec: &ContainerSpec,
    ) -> anyhow::Result<(PhasesUs, Response, f64)> {
        let before = self.snapshot();
        let start_ns = clock::monotonic_ns();
        let mut c = self.exec.create(spec).context("creating a container")?;
        let r = self.exec.invoke(&mut c, "{}", TIMEOUT);
        let marks = Marks {
            start_ns,
            installed_ns: start_ns,
            done_ns: clock::monotonic_ns(),
        };
        let wall = r.as_ref().ok().map(|r| measure::fresh(&marks, r).phases);
        let r = r
            .context("invoking a fresh container")
            .and_then(|r| ok(r, &c))
            .and_then(|r| Ok((r, self.mem_since(&c.cgroup, &before)?)));
        let (r, mem) = self.done(c, r)?;
        Ok((wall.unwrap_or_default(), r, mem))
    }

    /// Forks live Zygote `z` (from a pre-forked child with `spare`) into a
    /// no-op handler mounting `packages`, invokes it once, destroys it.
    pub(super) fn fork_once(
        &mut self,
        z: usize,
        packages: &[(String, PathBuf)],
        spare: bool,
    ) -> anyhow::Result<ForkSample> {
        let spec = ContainerSpec {
            packages: packages.to_vec(),
            ..self.noop.clone()
        };
        if spare {
            self.exec
                .refill(&self.live[z], TIMEOUT)
                .context("forking a spare")?;
        }
        let before = self.snapshot();
        let start_ns = clock::monotonic_ns();
        let (mut c, report) = self
            .exec
            .fork_with(&self.live[z], &spec, Role::Handler, spare, TIMEOUT)
            .context("forking from a Zygote")?;
        let mem = self.mem_since(&c.cgroup, &before);
        let r = self.exec.invoke(&mut c, "{}", TIMEOUT);
        let done_ns = clock::monotonic_ns();
        let r = r
            .context("invoking a forked handler")
            .and_then(|r| ok(r, &c));
        let r = self.done(c, r)?;
        if let Some(e) = report.load_error {
            bail!("the forked handler failed to load: {e}");
        }
        if report.spare != spare {
            bail!(
                "asked for spare = {spare}, the Zygote served spare = {}",
                report.spare
            );
        }
        let marks = Marks {
            start_ns,
            installed_ns: start_ns,
            done_ns,
        };
        let p = measure::zygote_hit(&marks, &report, &r).phases;
        Ok(ForkSample {
            prepare: p.create as f64 / 1e3,
            fork: p.fork as f64 / 1e3,
            transport: p.transport as f64 / 1e3,
            mem: mem?,
        })
    }

    /// Starts a Zygote for `spec` and waits until it serves; returns its
    /// index in `live` and its memory (MB).
    pub(super) fn zygote(&mut self, spec: &ContainerSpec) -> anyhow::Result<(usize, f64)> {
        let before = self.snapshot();
        let z = self.exec.create_zygote(spec).context("starting a Zygote")?;
        self.live.push(z);
        let i = self.live.len() - 1;
        let info = self
            .exec
            .ping(&self.live[i], TIMEOUT)
            .context("waiting for a Zygote")?;
        if info.modules != spec.imports {
            bail!(
                "the Zygote imported {:?}, not {:?}",
                info.modules,
                spec.imports
            );
        }
        let mem = self.mem_since(&self.live[i].cgroup, &before)?;
        Ok((i, mem))
    }
}

/// `r` if the handler answered 200.
pub(super) fn ok(r: Response, c: &Container) -> anyhow::Result<Response> {
    if r.status == 200 {
        return Ok(r);
    }
    let log = std::fs::read_to_string(c.scratch.join("output.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    bail!(
        "the handler answered {}: {} (log: {})",
        r.status,
        r.body.trim(),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}

pub(super) fn progress(msg: String) {
    eprintln!("calibrate: {msg}");
}
