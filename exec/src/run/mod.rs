//! `sock-exec run --trace FILE`: replays a trace on real lean containers,
//! Zygotes and an on-disk install cache. The *same* engine as `sim`
//! (`sock_core::engine`) orders arrivals, the queue, completions and
//! failures and the *same* planner takes every decision; this module only
//! applies them ([`real::Real`] implements the engine's `Effects`), and
//! writes one [`InvocationRecord`] per invocation with *measured* phases.
//!
//! Time. The replay runs in the trace's virtual time, as `sim` does
//! (`VirtualReplay`): each invocation starts at its arrival (or when a slot
//! frees, with `--max-concurrency`), and completes at its start plus its
//! *measured* latency (where `sim` uses the predicted one). The real work
//! happens one invocation at a time, as fast as the host allows (or paced
//! with `speedup`); an instance that is busy in virtual time stays
//! unpaused until its virtual completion. So when measured and predicted
//! latencies agree, so do the decisions; where they differ, the decision
//! agreement `sim compare` reports shows the effect.
//!
//! Applying plans (see ARCHITECTURE.md, "sock-exec run"):
//! - `HandlerHit`: thaw the paused container, invoke.
//! - `Fork`: install missing packages, fork the Zygote into a new
//!   container (or hand a spare the container), which imports what the
//!   Zygote lacks, invoke.
//! - `Fresh`: install, create a container whose fresh interpreter imports
//!   the closure, invoke.
//! - side decisions: the plan's `before` (package evictions, forgetting a
//!   lost handler) ahead of the critical path, its `after` (Zygote growth,
//!   eviction, spares, repairs) behind it.
//!
//! Failures never fail a request when another path can serve it: a lost
//! paused handler or a fork from a dead or broken Zygote is reported to the
//! engine, the planner chooses the fallback (the best ready Zygote, or a
//! fresh start) and the repair (`RepairZygote`), and its state stays true.
//!
//! Phases: `install` is the pip time, `import` what the importing process
//! measured itself, `handler` what the runtime measured around `f(event)`,
//! `transport` the request's way in and the response's way out, and the
//! path's start phase what lies between its boundaries (`crate::measure`);
//! `queue` is the engine's virtual wait. Phases sum to `latency_us`.

mod concurrent;
pub(crate) mod handlers;
mod installs;
mod pips;
mod private;
mod real;
mod serve;
pub(crate) mod source;
mod summary;
mod teardown;
mod zygotes;

pub use summary::RunSummary;

use crate::container::Executor;
use crate::install::{Installer, Source};
use real::Real;
use sock_core::cost::CostParams;
use sock_core::engine::{Engine, EngineOptions, VirtualReplay};
use sock_core::planner::Planner;
use sock_core::record::{InvocationRecord, PathKind};
use sock_core::trace::{Catalog, Invocation};
use sock_core::zygote::StaticTreeNode;
use sock_core::{Micros, ZygoteId};
use std::collections::BTreeMap;
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
    #[error("engine: {0}")]
    Engine(sock_core::engine::EngineError),
    #[error("stopped by {0} (everything was torn down)")]
    Interrupted(nix::sys::signal::Signal),
}

pub(crate) fn cerr(what: impl Into<String>, err: impl std::fmt::Display) -> RunError {
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
    /// The worker (cores, memory, queue or drop), as in sim (`worker`).
    pub worker: sock_core::worker::WorkerConfig,
    /// Serve invocations concurrently in wall-clock time (paced at
    /// `speedup`, 1 when unset) instead of one at a time in virtual time.
    pub concurrent: bool,
    /// Each function's handler folder (holding `f.py`), by function index
    /// (`sock-exec worker`: the registry's folders); `None`: generated
    /// from the trace (`handlers.rs`).
    pub handler_dirs: Option<Vec<PathBuf>>,
    /// Calls come from clients (`sock-exec worker`): each carries its own
    /// event and gets its handler's response (`source::Requests`).
    pub from_clients: bool,
}
/// A run: the engine (with the planner) and what it holds for real.
#[derive(Debug)]
pub struct Runner<'e, 'c> {
    replay: VirtualReplay<'c>,
    real: Real<'e, 'c>,
}

impl<'e, 'c> Runner<'e, 'c> {
    /// Sets up the work folder (handlers, an empty install cache), the
    /// planner, and the Zygotes that exist from the start (the root, or a
    /// whole static tree) with their spares.
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
        let modules = handlers::package_modules(catalog);
        let handler_dirs = match &opts.handler_dirs {
            Some(dirs) if dirs.len() == catalog.function_count() => dirs.clone(),
            Some(dirs) => {
                return Err(RunError::BadTrace(format!(
                    "{} handler folders for {} functions",
                    dirs.len(),
                    catalog.function_count()
                )))
            }
            None => handlers::write_handlers(catalog, &modules, &work.join("handlers"))?,
        };
        let requests = source::Requests {
            from_clients: opts.from_clients,
            ..Default::default()
        };
        let private = private::PrivateCopies::new(work.join("uncached"));
        let options = EngineOptions::from_worker(&opts.worker);
        let mut real = Real {
            exec,
            catalog,
            installer,
            opts,
            handler_dirs,
            modules,
            instances: Default::default(),
            zygotes: BTreeMap::new(),
            unavailable: Default::default(),
            parent_of: Default::default(),
            live_children: Default::default(),
            retired: Default::default(),
            private,
            summary: RunSummary::default(),
            started: Instant::now(),
            records: Vec::new(),
            attempt_start_ns: 0,
            wall: None,
            inflight: Default::default(),
            pips: Default::default(),
            lost_spares: Vec::new(),
            applying_deferred: false,
            requests,
            pending_pauses: Default::default(),
        };
        real.start_zygotes(&planner)?;
        let mut replay = VirtualReplay::new(Engine::new(planner, options));
        replay.start_up(&mut real)?;
        Ok(Runner { replay, real })
    }

    pub fn planner(&self) -> &Planner<'c> {
        self.replay.engine().planner()
    }

    /// Serves `source`'s calls concurrently in wall-clock time until it
    /// ends and nothing is in flight or queued (`sock-exec worker`).
    pub(crate) fn serve(&mut self, source: &mut dyn source::Arrivals) -> Result<(), RunError> {
        concurrent::run(self, source)
    }

    /// The counts so far (the summary `finish` returns completes them).
    pub fn summary(&self) -> &RunSummary {
        &self.real.summary
    }

    /// The engine's counts (queued, dropped, ...).
    pub fn engine_stats(&self) -> sock_core::engine::EngineStats {
        self.replay.engine().stats()
    }

    /// Host pids of the live Zygotes (tests kill them to test repair).
    pub fn zygote_pids(&self) -> BTreeMap<ZygoteId, i32> {
        self.real
            .zygotes
            .iter()
            .map(|(z, c)| (*z, c.init.as_raw()))
            .collect()
    }

    /// Delivers the `seq`-th invocation of the trace (in arrival order) and
    /// returns the records of the invocations that started: this one, and
    /// queued ones that a completion before it let start.
    pub fn arrive(&mut self, seq: u64, inv: Invocation) -> Result<Vec<InvocationRecord>, RunError> {
        self.pace(inv.time);
        stopped()?;
        self.replay.arrive(&mut self.real, seq, inv)?;
        self.report_lost_spares(inv.time)?;
        self.note_queue();
        // Private copies made for this step that no container took.
        self.real.private.sweep()?;
        Ok(self.take_records())
    }

    /// Runs one invocation that starts on arrival and returns its record
    /// (tests; an invocation that would queue is an error here).
    pub fn step(&mut self, seq: u64, inv: Invocation) -> Result<InvocationRecord, RunError> {
        let mut recs = self.arrive(seq, inv)?;
        match recs.iter().position(|r| r.seq == seq) {
            Some(i) => Ok(recs.swap_remove(i)),
            None => Err(RunError::BadTrace(format!(
                "invocation {seq} is queued, so it has no record yet"
            ))),
        }
    }

    /// Tells the planner of the spares the executor found dead since the
    /// last event (`Planner::on_spare_lost`), so its count of ready spares
    /// stays true; spares of a Zygote since repaired or evicted (another
    /// container now, or none) are not its any more.
    fn report_lost_spares(&mut self, now: Micros) -> Result<(), RunError> {
        loop {
            self.real.gather_lost_spares();
            let lost = std::mem::take(&mut self.real.lost_spares);
            if lost.is_empty() {
                return Ok(());
            }
            for id in lost {
                let z = self.real.zygotes.iter().find(|(_, c)| c.id == id);
                let Some(z) = z.map(|(z, _)| *z) else {
                    continue;
                };
                self.real.summary.spares_lost += 1;
                let engine = self.replay.engine_mut();
                engine.spare_lost(&mut self.real, z, now)?;
            }
        }
    }

    /// Host pids of the spares waiting now, by Zygote (tests kill them).
    pub fn spare_pids(&self) -> BTreeMap<ZygoteId, Vec<i32>> {
        self.real
            .zygotes
            .iter()
            .map(|(z, c)| {
                let spares = self.real.exec.spares_of(c);
                (*z, spares.iter().map(|s| s.pid.as_raw()).collect())
            })
            .collect()
    }

    /// Copies the engine's queue counts into the summary.
    fn note_queue(&mut self) {
        let stats = self.replay.engine().stats();
        self.real.summary.queued = stats.queued;
        self.real.summary.dropped = stats.dropped();
    }

    fn take_records(&mut self) -> Vec<InvocationRecord> {
        let recs = std::mem::take(&mut self.real.records);
        for rec in &recs {
            let s = &mut self.real.summary;
            s.invocations += 1;
            match rec.path {
                PathKind::HandlerHit => s.handler_hits += 1,
                PathKind::ZygoteHit => s.zygote_hits += 1,
                PathKind::Fresh => s.fresh += 1,
            }
            let every = self.real.opts.progress_every;
            if every > 0 && s.invocations.is_multiple_of(every) {
                eprintln!(
                    "run: {} invocations in {:.1} s: {} handler hits, {} Zygote hits, {} fresh ({} fallbacks, {} queued), {} Zygotes live",
                    s.invocations,
                    self.real.started.elapsed().as_secs_f64(),
                    s.handler_hits,
                    s.zygote_hits,
                    s.fresh,
                    s.fallbacks,
                    s.queued,
                    self.real.zygotes.len()
                );
            }
        }
        recs
    }

    /// Waits until `t / speedup` of wall time has passed since the start;
    /// returns early on a stop signal.
    fn pace(&self, t: Micros) {
        if let Some(speedup) = self.real.opts.speedup {
            // Saturates (a trace end beyond u64 seconds) instead of panicking.
            let due =
                Duration::try_from_secs_f64(t.0 as f64 / 1e6 / speedup).unwrap_or(Duration::MAX);
            while let Some(wait) = due.checked_sub(self.real.started.elapsed()) {
                if wait.is_zero() || crate::sys::signal::stop_requested().is_some() {
                    break;
                }
                std::thread::sleep(wait.min(Duration::from_millis(100)));
            }
        }
    }

    /// Completes what is in flight or queued (returning the records of the
    /// queued ones), then [`Runner::finish`] can measure and tear down.
    pub fn drain(&mut self) -> Result<Vec<InvocationRecord>, RunError> {
        self.replay.finish(&mut self.real)?;
        Ok(self.take_records())
    }

    /// Completes what is in flight, measures memory, tears everything down.
    pub fn finish(mut self) -> Result<RunSummary, RunError> {
        let left = self.drain()?;
        if !left.is_empty() {
            return Err(RunError::BadTrace(format!(
                "{} queued invocations finished without being written; call drain first",
                left.len()
            )));
        }
        // Instances within their pause grace are paused (and measured so).
        let planner = self.replay.engine().planner();
        self.real.pause_due(planner, Micros(u64::MAX))?;
        let usage = self.planner().usage();
        self.real.finish(usage)
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
pub(crate) fn failed_request(
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
    let mut write = |recs: Vec<InvocationRecord>| -> Result<(), RunError> {
        let Some(out) = records.as_deref_mut() else {
            return Ok(());
        };
        for rec in recs {
            serde_json::to_writer(&mut *out, &rec).map_err(|e| RunError::Records(e.into()))?;
            out.write_all(b"\n").map_err(RunError::Records)?;
        }
        Ok(())
    };
    if runner.real.opts.concurrent {
        let arrivals = invocations
            .enumerate()
            .take_while(|(seq, _)| limit.is_none_or(|l| (*seq as u64) < l));
        let mut source = source::TraceArrivals {
            arrivals: arrivals.peekable(),
            write: &mut write,
        };
        concurrent::run(&mut runner, &mut source)?;
        return runner.finish();
    }
    for (seq, inv) in invocations.enumerate() {
        if limit.is_some_and(|l| seq as u64 >= l) {
            break;
        }
        let inv = inv.map_err(|e| cerr("trace", e))?;
        stopped()?;
        write(runner.arrive(seq as u64, inv)?)?;
        runner.real.idle();
    }
    write(runner.drain()?)?;
    runner.finish()
}
