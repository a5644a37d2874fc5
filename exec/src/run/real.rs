//! The executor's side of the one engine: [`Real`] holds every container,
//! Zygote and package of a run and implements [`Effects`], so the plans
//! `sock_core::engine` orders are applied with real containers, and each
//! invocation is served in its *measured* time.
//!
//! Applying side decisions: pause / destroy / evict / expire handler
//! containers, create Zygotes (forked from their parent), repair a dead
//! one, fork spares (`Refill`), evict Zygotes, delete evicted packages,
//! forget a lost handler.

use super::summary::RunSummary;
use super::{cerr, private, RunError, RunOptions};
use crate::container::{Container, Executor, State};
use crate::install::Installer;
use sock_core::engine::{Call, Effects, EngineError, Served};
use sock_core::planner::{Plan, Planner, SideDecision};
use sock_core::record::InvocationRecord;
use sock_core::trace::Catalog;
use sock_core::{Micros, PackageId, PackageSet, ZygoteId};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

impl From<EngineError> for RunError {
    fn from(e: EngineError) -> Self {
        RunError::Engine(e)
    }
}

/// Everything a run holds for real.
#[derive(Debug)]
pub(super) struct Real<'e, 'c> {
    pub(super) exec: &'e mut Executor,
    pub(super) catalog: &'c Catalog,
    pub(super) installer: Installer,
    pub(super) opts: RunOptions,
    pub(super) handler_dirs: Vec<PathBuf>,
    /// Top-level modules of each package.
    pub(super) modules: Vec<Vec<String>>,
    pub(super) instances: HashMap<sock_core::InstanceId, Container>,
    /// The planner's Zygotes that run now (one that died is absent until
    /// repaired).
    pub(super) zygotes: BTreeMap<ZygoteId, Container>,
    /// Packages pip could not install, with why.
    pub(super) unavailable: HashMap<PackageId, String>,
    /// Container id -> id of the Zygote container it was forked from.
    pub(super) parent_of: HashMap<u64, u64>,
    /// Zygote container id -> how many containers forked from it live.
    pub(super) live_children: HashMap<u64, usize>,
    /// Zygotes the planner evicted (or that died) whose forked children
    /// still run: kept, with their cgroup, until the last child is gone.
    pub(super) retired: HashMap<u64, Container>,
    /// Packages installed outside the install cache ("uncached").
    pub(super) private: private::PrivateCopies,
    pub(super) summary: RunSummary,
    pub(super) started: Instant,
    /// Records of invocations served since the caller last took them.
    pub(super) records: Vec<InvocationRecord>,
    /// When the first attempt of the invocation being served began (a
    /// fallback's record counts from there: the failed attempt's time lands
    /// in its start phase).
    pub(super) attempt_start_ns: u64,
    /// Set in the concurrent replay: requests then stay in flight
    /// (`inflight`) and complete from its poll loop.
    pub(super) wall: Option<super::concurrent::Wall>,
    pub(super) inflight: HashMap<sock_core::InstanceId, super::concurrent::InFlight>,
    /// The concurrent replay's pip runs in the background, and the calls
    /// waiting for them (`pips.rs`).
    pub(super) pips: super::pips::Pips,
    /// Zygote container ids of spares found dead, not yet reported to the
    /// planner (one entry per spare).
    pub(super) lost_spares: Vec<u64>,
    /// Set while `pips.rs` applies put-off Zygote decisions.
    pub(super) applying_deferred: bool,
    /// Clients' events and responses (`sock-exec worker`).
    pub(super) requests: super::source::Requests,
    /// Released instances not paused yet, each with the virtual time it is
    /// paused after (`tiers.handler.pause_grace_ms`).
    pub(super) pending_pauses: HashMap<sock_core::InstanceId, Micros>,
}

impl Effects for Real<'_, '_> {
    type Error = RunError;

    fn apply(
        &mut self,
        planner: &Planner<'_>,
        side: &[SideDecision],
        now: Micros,
    ) -> Result<(), RunError> {
        self.pause_due(planner, now)?;
        for d in side {
            if self.defer(planner, d) {
                continue;
            }
            if let SideDecision::Pause { instance } = d {
                let grace = planner.pause_grace();
                if grace > Micros::ZERO {
                    self.pending_pauses.insert(*instance, now + grace);
                    continue;
                }
            }
            let t = std::time::Instant::now();
            self.apply_one(planner, d)?;
            let e = self.summary.side_ms.entry(kind(d).to_string()).or_default();
            e.0 += 1;
            e.1 += t.elapsed().as_secs_f64() * 1e3;
        }
        Ok(())
    }

    fn serve(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Served, RunError> {
        self.pause_due(planner, call.start)?;
        if call.attempt == 0 {
            self.private.begin_step();
            self.attempt_start_ns = crate::sys::clock::monotonic_ns();
        }
        if self.wall.is_some() {
            let served = self.serve_async(planner, call, plan)?;
            if matches!(served, Served::Failed(_)) {
                self.summary.fallbacks += 1;
            }
            return Ok(served);
        }
        match self.serve_plan(planner, call, plan)? {
            Ok(rec) => {
                let service = Micros(rec.latency_us - rec.phases_us.queue);
                self.records.push(rec);
                Ok(Served::Done { service })
            }
            Err(failure) => {
                self.summary.fallbacks += 1;
                Ok(Served::Failed(failure))
            }
        }
    }

    fn dropped(&mut self, planner: &Planner<'_>, call: &sock_core::engine::Dropped) {
        if self.requests.from_clients {
            self.requests.events.remove(&call.seq);
            self.requests.dropped.push((call.seq, call.reason.as_str()));
        }
        tracing::info!(
            seq = call.seq,
            function = %planner.catalog().function(call.inv.function).name,
            reason = call.reason.as_str(),
            "invocation dropped by the worker"
        );
    }
}

/// A side decision's name, for the time spent on each kind.
fn kind(d: &SideDecision) -> &'static str {
    match d {
        SideDecision::Pause { .. } => "pause",
        SideDecision::Destroy { .. } => "destroy",
        SideDecision::EvictHandler { .. } => "evict_handler",
        SideDecision::ExpireHandler { .. } => "expire_handler",
        SideDecision::CreateZygote { .. } => "create_zygote",
        SideDecision::EvictZygote { .. } => "evict_zygote",
        SideDecision::Refill { .. } => "refill",
        SideDecision::EvictPackage { .. } => "evict_package",
        SideDecision::RepairZygote { .. } => "repair_zygote",
        SideDecision::ForgetHandler { .. } => "forget_handler",
        SideDecision::Prewarm { .. } => "prewarm",
    }
}

impl Real<'_, '_> {
    /// Pauses the released instances whose pause grace ended before `now`
    /// (virtual time; `Micros(u64::MAX)`: all of them).
    pub(super) fn pause_due(&mut self, planner: &Planner<'_>, now: Micros) -> Result<(), RunError> {
        if self.pending_pauses.is_empty() {
            return Ok(());
        }
        let due: Vec<sock_core::InstanceId> = self
            .pending_pauses
            .iter()
            .filter(|(_, at)| **at < now)
            .map(|(id, _)| *id)
            .collect();
        for instance in due {
            self.pending_pauses.remove(&instance);
            self.apply_one(planner, &SideDecision::Pause { instance })?;
        }
        Ok(())
    }

    pub(super) fn apply_one(
        &mut self,
        planner: &Planner<'_>,
        d: &SideDecision,
    ) -> Result<(), RunError> {
        match *d {
            SideDecision::Pause { instance } => {
                if let Some(c) = self.instances.get_mut(&instance) {
                    if c.state == State::Dead
                        || (c.state == State::Running && self.exec.pause(c).is_err())
                    {
                        // Dead, or could not freeze it: drop it; a later hit
                        // on it finds it lost and the planner falls back.
                        if let Some(c) = self.instances.remove(&instance) {
                            self.destroy_logged(c, "a handler that could not be paused");
                        }
                    }
                }
            }
            SideDecision::Destroy { instance }
            | SideDecision::EvictHandler { instance }
            | SideDecision::ExpireHandler { instance } => {
                if let Some(c) = self.instances.remove(&instance) {
                    self.destroy(c)
                        .map_err(|e| cerr(format!("destroy instance {}", instance.0), e))?;
                }
            }
            SideDecision::ForgetHandler { instance } => {
                if let Some(c) = self.instances.remove(&instance) {
                    self.destroy_logged(c, "a handler lost while paused");
                }
            }
            SideDecision::CreateZygote { zygote, .. } => {
                self.summary.zygotes_created += 1;
                if let Err(e) = self.ensure_zygote(planner, zygote) {
                    // The model has it; the next fork from it fails and the
                    // planner repairs it.
                    self.summary.zygote_create_failures += 1;
                    tracing::warn!(zygote = zygote.0, error = %e, "creating a Zygote failed");
                }
            }
            SideDecision::RepairZygote { zygote, .. } => self.repair_zygote(planner, zygote),
            SideDecision::Prewarm {
                function, instance, ..
            } => self.prewarm(planner, function, instance)?,
            SideDecision::EvictZygote { zygote } => {
                self.pips.forget_deferred(zygote);
                if let Some(c) = self.zygotes.remove(&zygote) {
                    self.retire(c)
                        .map_err(|e| cerr(format!("destroy Zygote {}", zygote.0), e))?;
                }
            }
            SideDecision::Refill { zygote, .. } => self.refill(zygote),
            SideDecision::EvictPackage { package } => {
                self.summary.packages_evicted += 1;
                // pip never installed it: nothing on disk to delete.
                if self.unavailable.contains_key(&package) {
                    return Ok(());
                }
                let key = self.catalog.package(package).key();
                match self.installer.remove(&key) {
                    Ok(()) => {}
                    Err(e @ crate::install::InstallError::NotInstalled { .. }) => {
                        self.note_teardown_error("evicting a package", &e)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// A pre-warm (Hybrid Histogram): a fresh lean container for
    /// `function` that imports its whole closure, off the critical path,
    /// then paused. One that cannot be created or paused is logged and
    /// left out: a later hit on it finds it lost and the planner falls back.
    fn prewarm(
        &mut self,
        planner: &Planner<'_>,
        function: sock_core::FunctionId,
        instance: sock_core::InstanceId,
    ) -> Result<(), RunError> {
        let closure = self.catalog.closure(function).clone();
        // Not a second pip beside one in the background for the same package.
        self.finish_pips_for(&closure)?;
        self.install(planner, &closure)?;
        let spec = crate::container::ContainerSpec {
            handler_dir: self.handler_dirs[function.index()].clone(),
            packages: self.mounts(&closure)?,
            imports: self.import_list(&closure),
        };
        let mut c = match self.exec.create(&spec) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(instance = instance.0, error = %e, "pre-warming failed");
                return Ok(());
            }
        };
        self.private.hold(c.id, &spec.packages);
        if self.exec.pause(&mut c).is_err() {
            self.destroy_logged(c, "a pre-warmed handler that could not be paused");
            return Ok(());
        }
        self.instances.insert(instance, c);
        Ok(())
    }

    /// Moves the executor's list of spares found dead into `lost_spares`.
    pub(super) fn gather_lost_spares(&mut self) {
        let lost = self.exec.take_lost_spares();
        self.lost_spares.extend(lost);
    }

    pub(super) fn keys(&self, set: &PackageSet) -> Vec<String> {
        set.iter().map(|p| self.catalog.package(p).key()).collect()
    }

    pub(super) fn import_list(&self, set: &PackageSet) -> Vec<String> {
        set.iter()
            .filter(|p| !self.unavailable.contains_key(p))
            .flat_map(|p| self.modules[p.index()].iter().cloned())
            .collect()
    }

    /// The folders to mount for `set` (after any pip run in progress for
    /// them has ended: `pips.rs`).
    pub(super) fn mounts(&mut self, set: &PackageSet) -> Result<Vec<(String, PathBuf)>, RunError> {
        self.finish_pips_for(set)?;
        set.iter()
            .filter(|p| !self.unavailable.contains_key(p))
            .map(|p| {
                let key = self.catalog.package(p).key();
                let mut path = self.installer.key_path(&key)?;
                // Not in the cache: the private copy a Zygote was given.
                if !self.installer.is_installed(&key) {
                    if let Some(copy) = self.private.latest(p) {
                        path = copy.to_path_buf();
                    }
                }
                Ok((key, path))
            })
            .collect()
    }
}
