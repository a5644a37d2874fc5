//! Serving one plan for real (the critical path), in three steps:
//! [`Real::prepare`] makes the container ready (thaw a paused handler,
//! fork a Zygote or hand a spare the container, or start a fresh
//! interpreter), the request goes out (blocking in the one-at-a-time
//! replay, in flight in the concurrent one), and [`Real::record`] measures
//! the phases between step boundaries (`crate::measure`). A path that
//! fails is reported to the engine as a [`Failure`], and the planner
//! chooses the fallback.

use super::real::Real;
use super::{cerr, failed_request, RunError};
use crate::container::{ContainerSpec, InvokeError, Response, Role, State};
use crate::measure::{self, Marks, Measured};
use crate::sys::clock;
use crate::zygote::{ForkError, ForkReport};
use sock_core::engine::Call;
use sock_core::planner::{Action, Failure, Plan, Planner};
use sock_core::record::{InvocationRecord, PhasesUs};
use sock_core::{InstanceId, PackageSet};

/// How the container of a prepared invocation started.
#[derive(Debug)]
enum Start {
    /// Thawed at this instant.
    Hit {
        thawed_ns: u64,
    },
    Fork(ForkReport),
    Fresh,
}

/// A container ready to take the invocation's request.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) instance: InstanceId,
    rec: InvocationRecord,
    marks: Marks,
    start: Start,
    /// Its `queue` phase, fixed when it was served (a concurrent replay
    /// serves others before this one's response is read).
    queue_us: u64,
}

impl Prepared {
    /// Whether it resumed a paused handler.
    pub(super) fn is_hit(&self) -> bool {
        matches!(self.start, Start::Hit { .. })
    }
}

impl Real<'_, '_> {
    /// The `queue` phase of `call` (µs): the engine's wait in virtual time,
    /// or, in the concurrent replay, the measured wait from its arrival's
    /// due instant to the start of its first attempt (the engine's queue
    /// and the time the one forking thread was busy with others).
    fn queue_us(&self, call: &Call) -> u64 {
        match self.wall {
            Some(w) => {
                self.attempt_start_ns
                    .saturating_sub(w.due_ns(call.inv.time))
                    / 1000
            }
            None => (call.start - call.inv.time).0,
        }
    }

    /// Serves `plan` for `call` and waits for the response: its record, or
    /// the failure the planner needs to fall back.
    pub(super) fn serve_plan(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Result<InvocationRecord, Failure>, RunError> {
        let p = match self.prepare(planner, call, plan)? {
            Ok(p) => p,
            Err(f) => return Ok(Err(f)),
        };
        let timeout = self.opts.timeout;
        let Some(c) = self.instances.get_mut(&p.instance) else {
            return Err(cerr("serve", "the prepared container vanished"));
        };
        let body = self.requests.body(call.seq, plan);
        let r = match self.exec.invoke(c, &body, timeout) {
            // Nobody listens on a thawed handler: it died while paused and
            // the request was never delivered, so serving it elsewhere
            // runs it once.
            Err(InvokeError::Connect { .. }) if matches!(p.start, Start::Hit { .. }) => {
                return Ok(Err(Failure::HandlerLost))
            }
            r => failed_request(r),
        };
        let done_ns = clock::monotonic_ns();
        Ok(Ok(self.record(call, p, &r, done_ns)))
    }

    /// Makes the container for `plan` ready to take the request, with its
    /// step boundaries marked: installs what it needs (blocking), then
    /// [`Real::prepare_installed`]. A fallback's phases run from its first
    /// attempt's start (the failed attempt lands in its start phase).
    pub(super) fn prepare(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Result<Prepared, Failure>, RunError> {
        let set = self.to_install(call, plan);
        self.install(planner, &set)?;
        self.prepare_installed(call, plan, clock::monotonic_ns())
    }

    /// [`Real::prepare`] once its packages are installed, the last install
    /// having ended at `installed_ns` (the end of its `install` phase).
    pub(super) fn prepare_installed(
        &mut self,
        call: &Call,
        plan: &Plan,
        installed_ns: u64,
    ) -> Result<Result<Prepared, Failure>, RunError> {
        let f = call.inv.function;
        let closure = self.catalog.closure(f).clone();
        let mut marks = Marks {
            start_ns: self.attempt_start_ns,
            ..Marks::default()
        };
        let mut rec = InvocationRecord {
            schema: sock_core::record::RECORD_SCHEMA,
            seq: call.seq,
            arrival_us: call.inv.time.0,
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
        let start = match &plan.action {
            Action::HandlerHit { instance } => match self.instances.get_mut(instance) {
                Some(c) if c.state != State::Dead => {
                    // Within its pause grace: still running, no thaw.
                    self.pending_pauses.remove(instance);
                    if c.state == State::Paused {
                        self.exec
                            .resume(c)
                            .map_err(|e| cerr(format!("resume instance {}", instance.0), e))?;
                    }
                    let thawed_ns = clock::monotonic_ns();
                    marks.installed_ns = thawed_ns;
                    Start::Hit { thawed_ns }
                }
                // Died while paused: the plan's `ForgetHandler` clears it.
                _ => return Ok(Err(Failure::HandlerLost)),
            },
            Action::Fork {
                zygote,
                depth,
                spare,
                import,
                install,
            } => {
                marks.installed_ns = installed_ns;
                rec.installed = self.keys(install);
                let spec = ContainerSpec {
                    handler_dir: self.handler_dirs[f.index()].clone(),
                    packages: self.mounts(&closure)?,
                    imports: self.import_list(import),
                };
                self.gather_lost_spares();
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
                let mut lost = self.exec.take_lost_spares();
                if let (Ok((_, report)), Some(zid)) = (&forked, zid) {
                    // The planner took a spare for this hit: if the one
                    // found dead left none to use, that take was the dead
                    // one, and the planner's count is already true.
                    if *spare && !report.spare {
                        if let Some(i) = lost.iter().position(|&id| id == zid) {
                            lost.remove(i);
                        }
                    }
                }
                self.lost_spares.extend(lost);
                match forked {
                    Ok((c, report)) => {
                        if let Some(zid) = zid {
                            self.note_fork(zid, &c);
                        }
                        self.private.hold(c.id, &spec.packages);
                        rec.zygote = Some(zygote.0);
                        rec.zygote_depth = Some(*depth);
                        rec.spare = report.spare;
                        rec.imported = self.keys(import);
                        self.instances.insert(plan.instance, c);
                        Start::Fork(report)
                    }
                    Err(e) => {
                        // The planner repairs it (`RepairZygote`) and falls
                        // back; a dead one's container goes now.
                        tracing::warn!(zygote = zygote.0, error = %e, "fork failed; the planner falls back and repairs the Zygote");
                        self.note_broken(*zygote, &e);
                        return Ok(Err(Failure::ZygoteDied));
                    }
                }
            }
            Action::Fresh { import, install } => {
                rec.installed = self.keys(install);
                rec.imported = self.keys(import);
                marks.installed_ns = installed_ns;
                let spec = ContainerSpec {
                    handler_dir: self.handler_dirs[f.index()].clone(),
                    packages: self.mounts(&closure)?,
                    imports: self.import_list(import),
                };
                let c = self
                    .exec
                    .create(&spec)
                    .map_err(|e| cerr(format!("create instance {}", plan.instance.0), e))?;
                self.private.hold(c.id, &spec.packages);
                self.instances.insert(plan.instance, c);
                Start::Fresh
            }
        };
        Ok(Ok(Prepared {
            instance: plan.instance,
            rec,
            marks,
            start,
            queue_us: self.queue_us(call),
        }))
    }

    /// The record of a prepared invocation whose response `r` was read
    /// whole at `done_ns`. `queue` is the engine's wait (virtual time), and
    /// in the concurrent replay also the measured wait before dispatch.
    pub(super) fn record(
        &mut self,
        call: &Call,
        p: Prepared,
        r: &Response,
        done_ns: u64,
    ) -> InvocationRecord {
        let Prepared {
            mut rec,
            mut marks,
            start,
            queue_us: queue,
            ..
        } = p;
        marks.done_ns = done_ns;
        let measured: Measured = match &start {
            Start::Hit { thawed_ns } => measure::handler_hit(&marks, *thawed_ns, r),
            Start::Fork(report) => measure::zygote_hit(&marks, report, r),
            Start::Fresh => measure::fresh(&marks, r),
        };
        let closure = self.catalog.closure(call.inv.function);
        let seq = call.seq;
        if r.status != 200 {
            self.summary.errors += 1;
            tracing::warn!(seq, status = r.status, body = %r.body, "handler error");
        }
        // A registry's handler returns what it likes (`sock-exec worker`).
        let generated = !self.requests.from_clients;
        if generated && r.status == 200 && !self.holds_only_its_own(closure, &r.body) {
            self.summary.foreign_modules += 1;
            tracing::warn!(seq, body = %r.body, "a handler holds a package its function did not ask for");
        }
        if !measured.consistent() {
            self.summary.misordered_phases += 1;
        }
        rec.phases_us = measured.phases;
        rec.phases_us.queue = queue;
        rec.latency_us = measured.latency_us + queue;
        rec
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
}
