//! `sock-exec run --trace FILE`: replays a trace on real lean containers,
//! Zygotes and an on-disk install cache, with every decision taken by the
//! same sock-core [`Planner`] `sim` uses, and writes one
//! [`InvocationRecord`] per invocation with *measured* phases.
//!
//! Time. The replay runs in the trace's virtual time, as `sim` does: each
//! invocation is planned at its arrival time, and it completes at arrival
//! plus its *measured* latency (where `sim` uses the predicted one). The
//! real work happens one invocation at a time, as fast as the host allows
//! (or paced with `speedup`); an instance that is busy in virtual time
//! stays unpaused until its virtual completion. So when measured and
//! predicted latencies agree, so do the decisions; where they differ
//! (a cold start slower than predicted keeps an instance busy longer), the
//! decision agreement `sim compare` reports shows the effect.
//!
//! Applying plans (see ARCHITECTURE.md, "sock-exec run"):
//! - `HandlerHit`: thaw the paused container, invoke.
//! - `Fork`: install missing packages, fork the Zygote into a new
//!   container (it imports what the Zygote lacks), invoke.
//! - `Fresh`: install, create a container whose fresh interpreter imports
//!   the closure, invoke.
//! - side decisions: pause / destroy / evict / expire handler containers,
//!   create Zygotes (forked from their parent, after the invocation, off
//!   its critical path), evict Zygotes, delete evicted packages.
//!
//! Failures never fail a request when another path can serve it: a fork
//! from a dead or broken Zygote falls back to a fresh start (recorded as
//! `fresh`) and the Zygote is repaired (re-forked from its parent, or
//! started fresh); a lost paused handler falls back to a fresh start.
//!
//! Phases: `install` is the pip time, `import` what the importing process
//! measured itself, `handler` what the runtime measured around `f(event)`;
//! the start phase of the path (`create` for fresh, `fork` for a Zygote
//! hit, `unpause` for a handler hit) takes the rest of the measured
//! end-to-end latency, so phases sum to `latency_us` as in `sim`. A Zygote
//! hit's `create` is the container set-up (create steps 1-7).

mod handlers;
mod private;
mod teardown;

use crate::container::{Container, ContainerSpec, Executor, Role, State};
use crate::install::{Installer, Source};
use crate::measure::{self, Marks, Measured};
use crate::sys::clock;
use crate::zygote::ForkError;
use sock_core::config::ZygoteMode;
use sock_core::cost::CostParams;
use sock_core::planner::{Action, Plan, Planner, SideDecision};
use sock_core::record::{InvocationRecord, PathKind, PhasesUs};
use sock_core::trace::{Catalog, Invocation};
use sock_core::zygote::StaticTreeNode;
use sock_core::{InstanceId, Micros, PackageId, PackageSet, ZygoteId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("planner: {0}")]
    Planner(#[from] sock_core::planner::PlannerError),
    #[error("install cache: {0}")]
    Install(#[from] crate::install::InstallError),
    #[error("{what}: {err}")]
    Container { what: String, err: String },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("writing records: {0}")]
    Records(std::io::Error),
    #[error("trace: {0}")]
    BadTrace(String),
    #[error("stopped by {0} (everything was torn down)")]
    Interrupted(nix::sys::signal::Signal),
}

fn cerr(what: impl Into<String>, err: impl std::fmt::Display) -> RunError {
    RunError::Container {
        what: what.into(),
        err: err.to_string(),
    }
}

/// Knobs of a run that are mechanism, not policy (policy is the settings).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where handler folders and the install cache live (recreated).
    pub work_dir: PathBuf,
    pub source: Source,
    /// The containers' Python, `major.minor`.
    pub python_version: String,
    /// Pace arrivals at `trace time / speedup` of wall time; `None`: as fast
    /// as the host allows.
    pub speedup: Option<f64>,
    /// Per-request and per-fork timeout.
    pub timeout: Duration,
    /// Progress line on stderr every this many invocations (0: never).
    pub progress_every: u64,
}

/// Totals of a run, beside the records.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    pub invocations: u64,
    pub handler_hits: u64,
    pub zygote_hits: u64,
    pub fresh: u64,
    /// Invocations whose planned path failed and were served fresh.
    pub fallbacks: u64,
    /// Zygotes re-created after they died or broke.
    pub zygote_repairs: u64,
    pub zygotes_created: u64,
    pub zygote_create_failures: u64,
    /// Pre-forked children the Zygotes forked (`Refill` decisions), and
    /// refills that failed.
    pub spares_forked: u64,
    pub refill_failures: u64,
    /// Zygotes that left the tree while containers forked from them still
    /// ran, and were kept until those were gone.
    pub zygotes_kept_for_children: u64,
    /// Of those, how many were still kept at the end of the replay.
    pub zygotes_retired: usize,
    /// Responses other than 200: handler errors, and requests that got no
    /// response (timeout, death; counted as status 599).
    pub errors: u64,
    /// Handlers that held a trace package outside their closure (must be 0).
    pub foreign_modules: u64,
    /// Invocations whose step boundaries came out of order, so their
    /// phases do not add up to the latency (must be 0).
    pub misordered_phases: u64,
    pub packages_installed: u64,
    /// Of those, built from source in a lean container (no wheel fitted).
    pub packages_built: u64,
    pub packages_evicted: u64,
    /// Packages pip could not install (`name==version`); their functions
    /// answered 500.
    pub packages_failed: Vec<String>,
    /// Failures to destroy a container or delete a package that the run
    /// survived (each logged with its error).
    pub teardown_errors: u64,
    /// cgroup memory reads that failed (left out of the measured figures,
    /// each logged).
    pub memory_read_errors: u64,
    pub wall_s: f64,
    /// Memory of the tiers at the end: the model's figure and the sum of
    /// the cgroups' memory usage (MB).
    pub zygote_mb_model: f64,
    pub zygote_mb_measured: f64,
    pub zygotes_live: usize,
    pub handler_idle_mb_model: f64,
    pub handler_idle_mb_measured: f64,
    pub handlers_live: usize,
}

#[derive(Debug)]
pub struct Runner<'e, 'c> {
    exec: &'e mut Executor,
    planner: Planner<'c>,
    catalog: &'c Catalog,
    installer: Installer,
    opts: RunOptions,
    handler_dirs: Vec<PathBuf>,
    /// Top-level modules of each package.
    modules: Vec<Vec<String>>,
    instances: HashMap<InstanceId, Container>,
    /// The planner's Zygotes that run now (one that died is absent until
    /// re-created).
    zygotes: BTreeMap<ZygoteId, Container>,
    /// Packages pip could not install, with why.
    unavailable: HashMap<PackageId, String>,
    /// Container id -> id of the Zygote container it was forked from.
    parent_of: HashMap<u64, u64>,
    /// Zygote container id -> how many containers forked from it live.
    live_children: HashMap<u64, usize>,
    /// Zygotes the planner evicted (or that died) whose forked children
    /// still run: kept, with their cgroup, until the last child is gone.
    retired: HashMap<u64, Container>,
    /// (virtual end, seq, instance) of invocations still busy.
    inflight: BinaryHeap<Reverse<(Micros, u64, InstanceId)>>,
    /// Packages installed outside the install cache ("uncached").
    private: private::PrivateCopies,
    summary: RunSummary,
    started: Instant,
}

impl<'e, 'c> Runner<'e, 'c> {
    /// Sets up the work folder (handlers, an empty install cache), the
    /// planner, and the Zygotes that exist from the start (the root, or a
    /// whole static tree).
    pub fn new(
        exec: &'e mut Executor,
        catalog: &'c Catalog,
        params: CostParams,
        tiers: sock_core::config::TierConfig,
        static_tree: Option<&StaticTreeNode>,
        opts: RunOptions,
    ) -> Result<Runner<'e, 'c>, RunError> {
        let planner = Planner::new(catalog, params, tiers, static_tree)?;
        let work = &opts.work_dir;
        if work.exists() {
            std::fs::remove_dir_all(work).map_err(|err| RunError::Io {
                op: "clear",
                path: work.clone(),
                err,
            })?;
        }
        let installer = Installer::new(
            work.join("packages"),
            opts.source.clone(),
            &opts.python_version,
        )?;
        let modules: Vec<Vec<String>> = (0..catalog.package_count())
            .map(|p| {
                let pkg = catalog.package(PackageId(p as u32));
                if pkg.modules.is_empty() {
                    vec![crate::install::wheel::module_name(&pkg.name)]
                } else {
                    pkg.modules.clone()
                }
            })
            .collect();
        let handler_dirs = handlers::write_handlers(catalog, &modules, &work.join("handlers"))?;
        let private = private::PrivateCopies::new(work.join("uncached"));
        let mut runner = Runner {
            exec,
            planner,
            catalog,
            installer,
            opts,
            handler_dirs,
            modules,
            instances: HashMap::new(),
            zygotes: BTreeMap::new(),
            unavailable: HashMap::new(),
            parent_of: HashMap::new(),
            live_children: HashMap::new(),
            retired: HashMap::new(),
            inflight: BinaryHeap::new(),
            private,
            summary: RunSummary::default(),
            started: Instant::now(),
        };
        runner.start_initial_zygotes()?;
        Ok(runner)
    }

    pub fn planner(&self) -> &Planner<'c> {
        &self.planner
    }

    /// Host pids of the live Zygotes (tests kill them to test repair).
    pub fn zygote_pids(&self) -> BTreeMap<ZygoteId, i32> {
        self.zygotes
            .iter()
            .map(|(z, c)| (*z, c.init.as_raw()))
            .collect()
    }

    fn keys(&self, set: &PackageSet) -> Vec<String> {
        set.iter().map(|p| self.catalog.package(p).key()).collect()
    }

    fn import_list(&self, set: &PackageSet) -> Vec<String> {
        set.iter()
            .filter(|p| !self.unavailable.contains_key(p))
            .flat_map(|p| self.modules[p.index()].iter().cloned())
            .collect()
    }

    fn mounts(&self, set: &PackageSet) -> Result<Vec<(String, PathBuf)>, RunError> {
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

    /// Installs what of `set` is missing; returns the time pip took. A
    /// package pip cannot install (no wheel for the containers' Python, not
    /// on the index) is reported once and left out: containers start
    /// without it, so its functions answer 500 (an import error) and the
    /// run goes on with the planner's decisions in step.
    fn install(&mut self, set: &PackageSet) -> Result<Duration, RunError> {
        let t = Instant::now();
        for p in set.iter() {
            let key = self.catalog.package(p).key();
            // The planner keeps it out of the install cache: a private
            // copy, deleted with the last container using it (private.rs).
            let uncached = !self.planner.installs().contains(p);
            let present = if uncached {
                self.private.made_now(p)
            } else {
                self.installer.is_installed(&key)
            };
            if self.unavailable.contains_key(&p) || present {
                continue;
            }
            use crate::install::{build::BuildError, InstallError};
            let installer = if uncached {
                self.private.installer(&self.installer)?
            } else {
                self.installer.clone()
            };
            // No wheel fits: built from source in a lean container.
            let build_timeout = self.opts.timeout.max(Duration::from_secs(600));
            let exec = &mut *self.exec;
            let result = match installer.install_or_build(&key, build_timeout, || Ok(exec)) {
                Ok((got, built)) => {
                    self.summary.packages_built += u64::from(built);
                    Ok(got.path)
                }
                Err(BuildError::Install(e @ InstallError::Io { .. })) => return Err(e.into()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(path) => {
                    self.summary.packages_installed += 1;
                    if uncached {
                        self.private.record(p, path);
                    }
                }
                Err(e) => {
                    eprintln!("sock-exec run: cannot install {key}: {e}; its functions will fail");
                    self.summary.packages_failed.push(key);
                    self.unavailable.insert(p, e);
                }
            }
        }
        Ok(t.elapsed())
    }

    fn start_initial_zygotes(&mut self) -> Result<(), RunError> {
        if self.planner.config().zygote.mode == ZygoteMode::Off {
            return Ok(());
        }
        let nodes: Vec<(ZygoteId, PackageSet)> = self
            .planner
            .tree()
            .map(|t| t.nodes().map(|n| (n.id, n.packages.clone())).collect())
            .unwrap_or_default();
        // Parents come before children (ids grow with depth in a loaded tree;
        // ensure_zygote forks from the parent, starting it first if needed).
        for (z, packages) in nodes {
            self.install(&packages)?;
            self.ensure_zygote(z)?;
        }
        let spares = self.planner.take_startup();
        self.apply(&spares)
    }

    /// Has Zygote `z` fork one more pre-forked child (a `Refill`).
    fn refill(&mut self, z: ZygoteId) {
        let Some(zc) = self.zygotes.get(&z) else {
            return; // dead: its repair starts its spares
        };
        match self.exec.refill(zc, self.opts.timeout) {
            Ok(_) => self.summary.spares_forked += 1,
            Err(e) => {
                self.summary.refill_failures += 1;
                tracing::warn!(zygote = z.0, error = %e, "forking a spare failed");
            }
        }
    }

    /// Makes Zygote `z` real: forked from its (real) parent, or started
    /// fresh when it is the root or its parent cannot fork.
    fn ensure_zygote(&mut self, z: ZygoteId) -> Result<(), RunError> {
        if self.zygotes.contains_key(&z) {
            return Ok(());
        }
        let Some(node) = self.planner.tree().and_then(|t| t.node(z)).cloned() else {
            return Ok(());
        };
        let packages = self.mounts(&node.packages)?;
        let mut forked = None;
        if let Some(parent) = node.parent {
            self.ensure_zygote(parent)?;
            let spec = ContainerSpec {
                packages: packages.clone(),
                imports: self.import_list(&node.own),
                ..ContainerSpec::default()
            };
            if let Some(pc) = self.zygotes.get(&parent) {
                match self
                    .exec
                    .fork_from(pc, &spec, Role::Zygote, self.opts.timeout)
                {
                    Ok((c, _)) => {
                        self.note_fork(pc.id, &c);
                        self.private.hold(c.id, &spec.packages);
                        forked = Some(c);
                    }
                    Err(e) => {
                        tracing::warn!(zygote = z.0, parent = parent.0, error = %e, "forking a Zygote failed; starting it fresh");
                        self.note_broken(parent, &e);
                    }
                }
            }
        }
        let c = match forked {
            Some(c) => c,
            None => {
                let spec = ContainerSpec {
                    packages,
                    imports: self.import_list(&node.packages),
                    ..ContainerSpec::default()
                };
                let c = self
                    .exec
                    .create_zygote(&spec)
                    .map_err(|e| cerr(format!("start Zygote {}", z.0), e))?;
                self.private.hold(c.id, &spec.packages);
                if let Err(e) = self.exec.ping(&c, self.opts.timeout) {
                    self.destroy_logged(c, "a Zygote that does not answer");
                    return Err(cerr(format!("start Zygote {}", z.0), e));
                }
                c
            }
        };
        self.zygotes.insert(z, c);
        Ok(())
    }

    /// `child` was forked from the Zygote container `parent`.
    fn note_fork(&mut self, parent: u64, child: &Container) {
        self.parent_of.insert(child.id, parent);
        *self.live_children.entry(parent).or_default() += 1;
    }

    /// Destroys a container; if it was the last live child of a retired
    /// Zygote, that Zygote goes too.
    fn destroy(&mut self, c: Container) -> Result<(), crate::container::ExecutorError> {
        let id = c.id;
        let result = self.exec.destroy(c);
        if let Err(e) = self.private.release(id) {
            self.note_teardown_error("deleting a private package copy", &e);
        }
        if let Some(parent) = self.parent_of.remove(&id) {
            let left = self.live_children.get_mut(&parent).map(|n| {
                *n -= 1;
                *n
            });
            if left == Some(0) {
                self.live_children.remove(&parent);
                if let Some(z) = self.retired.remove(&parent) {
                    self.destroy(z)?;
                }
            }
        }
        result
    }

    /// A Zygote leaves the tree: destroyed now, or, while containers forked
    /// from it live, kept (process, mounts and cgroup) until the last is
    /// gone. The pages they share with it are charged to its cgroup, so
    /// returning that cgroup to the pool early would bill them to the next
    /// container that gets it.
    fn retire(&mut self, c: Container) -> Result<(), crate::container::ExecutorError> {
        if self.live_children.get(&c.id).is_some_and(|n| *n > 0) {
            self.summary.zygotes_kept_for_children += 1;
            self.retired.insert(c.id, c);
            Ok(())
        } else {
            self.destroy(c)
        }
    }

    /// A Zygote failed to fork: if it is gone (crashed, killed), drop its
    /// container so the next use re-creates it.
    fn note_broken(&mut self, z: ZygoteId, e: &ForkError) {
        let dead = matches!(
            e,
            ForkError::Unreachable { .. } | ForkError::Closed(..) | ForkError::Timeout(_)
        );
        let alive = self
            .zygotes
            .get(&z)
            .is_some_and(|c| crate::sys::process::is_alive(c.init));
        if dead || !alive {
            if let Some(c) = self.zygotes.remove(&z) {
                if let Err(e) = self.retire(c) {
                    self.note_teardown_error("retiring a broken Zygote", &e);
                }
            }
            self.summary.zygote_repairs += 1;
        }
    }

    /// Runs one invocation (the `seq`-th of the trace) and returns its record.
    pub fn step(&mut self, seq: u64, inv: Invocation) -> Result<InvocationRecord, RunError> {
        self.private.begin_step();
        self.pace(inv.time);
        stopped()?;
        self.advance_to(inv.time)?;
        let side = self.planner.tick(inv.time);
        self.apply(&side)?;
        let plan = self.planner.invoke(inv, inv.time);
        // Package evictions come from making room for this plan's installs.
        let (before, after): (Vec<_>, Vec<_>) = plan
            .side
            .iter()
            .cloned()
            .partition(|d| matches!(d, SideDecision::EvictPackage { .. }));
        self.apply(&before)?;
        let rec = self.serve(seq, inv, &plan)?;
        self.apply(&after)?;
        // Private copies made for this step that no container took.
        self.private.sweep()?;
        let end = inv.time + Micros(rec.latency_us);
        self.inflight.push(Reverse((end, seq, plan.instance)));
        self.summary.invocations += 1;
        match rec.path {
            PathKind::HandlerHit => self.summary.handler_hits += 1,
            PathKind::ZygoteHit => self.summary.zygote_hits += 1,
            PathKind::Fresh => self.summary.fresh += 1,
        }
        if self.opts.progress_every > 0
            && self
                .summary
                .invocations
                .is_multiple_of(self.opts.progress_every)
        {
            let s = &self.summary;
            eprintln!(
                "run: {} invocations in {:.1} s: {} handler hits, {} Zygote hits, {} fresh ({} fallbacks), {} Zygotes live",
                s.invocations,
                self.started.elapsed().as_secs_f64(),
                s.handler_hits,
                s.zygote_hits,
                s.fresh,
                s.fallbacks,
                self.zygotes.len()
            );
        }
        Ok(rec)
    }

    /// Waits until `t / speedup` of wall time has passed since the start;
    /// returns early on a stop signal.
    fn pace(&self, t: Micros) {
        if let Some(speedup) = self.opts.speedup {
            // Saturates (a trace end beyond u64 seconds) instead of panicking.
            let due =
                Duration::try_from_secs_f64(t.0 as f64 / 1e6 / speedup).unwrap_or(Duration::MAX);
            while let Some(wait) = due.checked_sub(self.started.elapsed()) {
                if wait.is_zero() || crate::sys::signal::stop_requested().is_some() {
                    break;
                }
                std::thread::sleep(wait.min(Duration::from_millis(100)));
            }
        }
    }

    /// Completes every invocation whose virtual end is at or before `t`.
    fn advance_to(&mut self, t: Micros) -> Result<(), RunError> {
        while let Some(&Reverse((end, _, instance))) = self.inflight.peek() {
            if end > t {
                break;
            }
            self.inflight.pop();
            let side = self.planner.tick(end);
            self.apply(&side)?;
            let side = self.planner.complete(instance, end);
            self.apply(&side)?;
        }
        Ok(())
    }

    fn apply(&mut self, side: &[SideDecision]) -> Result<(), RunError> {
        for d in side {
            match *d {
                SideDecision::Pause { instance } => {
                    if let Some(c) = self.instances.get_mut(&instance) {
                        if c.state == State::Dead
                            || (c.state == State::Running && self.exec.pause(c).is_err())
                        {
                            // Dead, or could not freeze it: drop it; a later
                            // hit on it falls back to a fresh start.
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
                SideDecision::CreateZygote { zygote, .. } => {
                    self.summary.zygotes_created += 1;
                    if let Err(e) = self.ensure_zygote(zygote) {
                        // The model has it; the next fork from it retries.
                        self.summary.zygote_create_failures += 1;
                        tracing::warn!(zygote = zygote.0, error = %e, "creating a Zygote failed");
                    }
                }
                SideDecision::EvictZygote { zygote } => {
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
                        continue;
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
        }
        Ok(())
    }

    /// Serves `plan` for real; falls back to a fresh start when its path
    /// fails. Phases are measured between step boundaries (`crate::measure`).
    fn serve(
        &mut self,
        seq: u64,
        inv: Invocation,
        plan: &Plan,
    ) -> Result<InvocationRecord, RunError> {
        let f = inv.function;
        let closure = self.catalog.closure(f).clone();
        let mut marks = Marks {
            start_ns: clock::monotonic_ns(),
            ..Marks::default()
        };
        let mut rec = InvocationRecord {
            schema: sock_core::record::RECORD_SCHEMA,
            seq,
            arrival_us: inv.time.0,
            function: f.0,
            function_name: self.catalog.function(f).name.clone(),
            instance: plan.instance.0,
            path: plan.action.path(),
            zygote: None,
            zygote_depth: None,
            spare: false,
            imported: Vec::new(),
            installed: Vec::new(),
            phases_us: PhasesUs::default(),
            latency_us: 0,
        };
        let (response, measured) = match &plan.action {
            Action::HandlerHit { instance } => match self.instances.get_mut(instance) {
                Some(c) if c.state != State::Dead => {
                    if c.state == State::Paused {
                        self.exec
                            .resume(c)
                            .map_err(|e| cerr(format!("resume instance {}", instance.0), e))?;
                    }
                    let thawed = clock::monotonic_ns();
                    marks.installed_ns = thawed;
                    let r = failed_request(self.exec.invoke(c, "{}", self.opts.timeout));
                    marks.done_ns = clock::monotonic_ns();
                    let m = measure::handler_hit(&marks, thawed, &r);
                    (r, m)
                }
                _ => {
                    // Lost (died while paused): serve fresh.
                    self.summary.fallbacks += 1;
                    if let Some(c) = self.instances.remove(instance) {
                        self.destroy_logged(c, "a handler lost while paused");
                    }
                    rec.path = PathKind::Fresh;
                    rec.imported = self.keys(&closure);
                    self.fresh(plan.instance, f, &closure, &closure, &mut marks)?
                }
            },
            Action::Fork {
                zygote,
                depth,
                spare,
                import,
                install,
            } => {
                self.install(install)?;
                marks.installed_ns = clock::monotonic_ns();
                rec.installed = self.keys(install);
                let spec = ContainerSpec {
                    handler_dir: self.handler_dirs[f.index()].clone(),
                    packages: self.mounts(&closure)?,
                    imports: self.import_list(import),
                };
                let zc = self.zygotes.get(zygote);
                let zid = zc.map(|z| z.id);
                let forked = match zc {
                    Some(zc) => {
                        self.exec
                            .fork_with(zc, &spec, Role::Handler, *spare, self.opts.timeout)
                    }
                    None => Err(ForkError::Protocol(format!(
                        "Zygote {} is not running",
                        zygote.0
                    ))),
                };
                match forked {
                    Ok((mut c, report)) => {
                        if let Some(zid) = zid {
                            self.note_fork(zid, &c);
                        }
                        self.private.hold(c.id, &spec.packages);
                        rec.zygote = Some(zygote.0);
                        rec.zygote_depth = Some(*depth);
                        rec.spare = report.spare;
                        rec.imported = self.keys(import);
                        let r = failed_request(self.exec.invoke(&mut c, "{}", self.opts.timeout));
                        marks.done_ns = clock::monotonic_ns();
                        self.instances.insert(plan.instance, c);
                        let m = measure::zygote_hit(&marks, &report, &r);
                        (r, m)
                    }
                    Err(e) => {
                        tracing::warn!(zygote = zygote.0, error = %e, "fork failed; serving fresh and repairing the Zygote");
                        self.note_broken(*zygote, &e);
                        self.summary.fallbacks += 1;
                        rec.path = PathKind::Fresh;
                        rec.imported = self.keys(&closure);
                        let r = self.fresh(plan.instance, f, &closure, &closure, &mut marks)?;
                        // Repair off the critical path, with the spares the
                        // planner counts on.
                        match self.ensure_zygote(*zygote) {
                            Ok(()) => {
                                for _ in 0..self.planner.spares().count(*zygote) {
                                    self.refill(*zygote);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(zygote = zygote.0, error = %e, "repairing a Zygote failed")
                            }
                        }
                        r
                    }
                }
            }
            Action::Fresh { import, install } => {
                self.install(install)?;
                rec.installed = self.keys(install);
                rec.imported = self.keys(import);
                self.fresh(plan.instance, f, &closure, import, &mut marks)?
            }
        };
        if response.status != 200 {
            self.summary.errors += 1;
            tracing::warn!(seq, status = response.status, body = %response.body, "handler error");
        }
        if response.status == 200 && !self.holds_only_its_own(&closure, &response.body) {
            self.summary.foreign_modules += 1;
            tracing::warn!(seq, body = %response.body, "a handler holds a package its function did not ask for");
        }
        if !measured.consistent() {
            self.summary.misordered_phases += 1;
        }
        rec.phases_us = measured.phases;
        rec.latency_us = measured.latency_us;
        Ok(rec)
    }

    /// Whether the modules the handler reports holding all belong to its
    /// closure (a Zygote must never give it more than it asked for).
    fn holds_only_its_own(&self, closure: &PackageSet, body: &str) -> bool {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
            return false;
        };
        let own: std::collections::HashSet<&str> = closure
            .iter()
            .flat_map(|p| self.modules[p.index()].iter().map(String::as_str))
            .collect();
        v["modules"].as_array().is_some_and(|held| {
            held.iter()
                .all(|m| m.as_str().is_some_and(|m| own.contains(m)))
        })
    }

    /// A fresh container for `f` whose interpreter imports `import`; its
    /// phases run from `marks.start_ns` (a fallback's failed attempt lands
    /// in its `create`).
    fn fresh(
        &mut self,
        instance: InstanceId,
        f: sock_core::FunctionId,
        closure: &PackageSet,
        import: &PackageSet,
        marks: &mut Marks,
    ) -> Result<(crate::container::Response, Measured), RunError> {
        // A fallback may need packages the plan did not install.
        self.install(closure)?;
        marks.installed_ns = clock::monotonic_ns();
        let spec = ContainerSpec {
            handler_dir: self.handler_dirs[f.index()].clone(),
            packages: self.mounts(closure)?,
            imports: self.import_list(import),
        };
        let mut c = self
            .exec
            .create(&spec)
            .map_err(|e| cerr(format!("create instance {}", instance.0), e))?;
        self.private.hold(c.id, &spec.packages);
        let r = failed_request(self.exec.invoke(&mut c, "{}", self.opts.timeout));
        marks.done_ns = clock::monotonic_ns();
        self.instances.insert(instance, c);
        let m = measure::fresh(marks, &r);
        Ok((r, m))
    }

    /// Completes what is in flight, measures memory, tears everything down.
    pub fn finish(mut self) -> Result<RunSummary, RunError> {
        self.advance_to(Micros(u64::MAX))?;
        let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
        let usage = self.planner.usage();
        let mut s = std::mem::take(&mut self.summary);
        s.zygote_mb_model = usage.zygote.as_mb_f64();
        s.handler_idle_mb_model = usage.handler_idle.as_mb_f64();
        let zygotes: Vec<_> = self.zygotes.values().map(|c| c.cgroup.clone()).collect();
        for cg in zygotes {
            s.zygotes_live += 1;
            s.zygote_mb_measured += mb(self.memory_of(&cg));
        }
        let idle: Vec<_> = self
            .instances
            .values()
            .map(|c| (c.state == State::Paused).then(|| c.cgroup.clone()))
            .collect();
        for cg in idle {
            s.handlers_live += 1;
            if let Some(cg) = cg {
                s.handler_idle_mb_measured += mb(self.memory_of(&cg));
            }
        }
        s.zygotes_retired = self.retired.len();
        let torn = self.teardown();
        s.teardown_errors += self.summary.teardown_errors;
        s.memory_read_errors += self.summary.memory_read_errors;
        torn?;
        s.wall_s = self.started.elapsed().as_secs_f64();
        Ok(s)
    }
}

/// `Err(Interrupted)` once SIGINT or SIGTERM arrived (see
/// [`crate::sys::signal`]); the caller's `?` drops the runner, which tears
/// everything down.
fn stopped() -> Result<(), RunError> {
    match crate::sys::signal::stop_requested() {
        Some(sig) => Err(RunError::Interrupted(sig)),
        None => Ok(()),
    }
}

/// A request that got no response (timeout, the container died) counts as
/// an error response (status 599) and the run goes on; the executor has
/// killed the container, and the planner's next decision on it (pause or
/// a handler hit) finds it dead.
fn failed_request(
    r: Result<crate::container::Response, crate::container::InvokeError>,
) -> crate::container::Response {
    r.unwrap_or_else(|e| crate::container::Response {
        status: 599,
        body: e.to_string(),
        ..Default::default()
    })
}

/// Replays `invocations` with `runner`, writing records to `records`.
pub fn replay<I>(
    mut runner: Runner<'_, '_>,
    invocations: I,
    limit: Option<u64>,
    mut records: Option<&mut dyn Write>,
) -> Result<RunSummary, RunError>
where
    I: Iterator<Item = Result<Invocation, sock_core::trace::TraceError>>,
{
    for (seq, inv) in invocations.enumerate() {
        if limit.is_some_and(|l| seq as u64 >= l) {
            break;
        }
        let inv = inv.map_err(|e| cerr("trace", e))?;
        stopped()?;
        let rec = runner.step(seq as u64, inv)?;
        if let Some(out) = records.as_deref_mut() {
            serde_json::to_writer(&mut *out, &rec).map_err(|e| RunError::Records(e.into()))?;
            out.write_all(b"\n").map_err(RunError::Records)?;
        }
    }
    runner.finish()
}

impl RunSummary {
    /// The text summary `sock-exec run` prints.
    pub fn render(&self) -> String {
        let pct = |n: u64| 100.0 * n as f64 / self.invocations.max(1) as f64;
        format!(
            "invocations      {}  in {:.1} s wall\n\
             handler hits     {} ({:.1}%)\n\
             Zygote hits      {} ({:.1}%)\n\
             fresh            {} ({:.1}%), of which {} fallbacks from a failed path\n\
             Zygotes          {} created, {} failed to start, {} repaired, {} kept for their children after eviction, {} live at the end\n\
             packages         {} installed ({} built from source), {} evicted, {} could not be installed{}\n\
             errors           {} non-200 responses, {} handlers holding a package they did not ask for, {} teardown failures, {} failed memory reads (all logged)\n\
             memory at end    Zygotes: model {:.1} MB, cgroups {:.1} MB; idle handlers: model {:.1} MB, cgroups {:.1} MB ({} live)\n",
            self.invocations,
            self.wall_s,
            self.handler_hits,
            pct(self.handler_hits),
            self.zygote_hits,
            pct(self.zygote_hits),
            self.fresh,
            pct(self.fresh),
            self.fallbacks,
            self.zygotes_created,
            self.zygote_create_failures,
            self.zygote_repairs,
            self.zygotes_kept_for_children,
            self.zygotes_live,
            self.packages_installed,
            self.packages_built,
            self.packages_evicted,
            self.packages_failed.len(),
            if self.packages_failed.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.packages_failed.join(" "))
            },
            self.errors,
            self.foreign_modules,
            self.teardown_errors,
            self.memory_read_errors,
            self.zygote_mb_model,
            self.zygote_mb_measured,
            self.handler_idle_mb_model,
            self.handler_idle_mb_measured,
            self.handlers_live,
        )
    }
}
