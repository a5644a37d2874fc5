//! Serving one plan for real (the critical path): thaw a paused handler,
//! fork a Zygote (or hand a spare the container), or start a fresh
//! interpreter; then invoke it. Phases are measured between step
//! boundaries (`crate::measure`). A path that fails is reported to the
//! engine as a [`Failure`], and the planner chooses the fallback.

use super::real::Real;
use super::{cerr, failed_request, RunError};
use crate::container::{ContainerSpec, Response, Role, State};
use crate::measure::{self, Marks, Measured};
use crate::sys::clock;
use crate::zygote::ForkError;
use sock_core::engine::Call;
use sock_core::planner::{Action, Failure, Plan, Planner};
use sock_core::record::{InvocationRecord, PhasesUs};
use sock_core::{InstanceId, PackageSet};

impl Real<'_, '_> {
    /// Serves `plan` for `call`: its record, or the failure the planner
    /// needs to fall back. A fallback's phases run from its first
    /// attempt's start (the failed attempt lands in its start phase).
    pub(super) fn serve_plan(
        &mut self,
        planner: &Planner<'_>,
        call: &Call,
        plan: &Plan,
    ) -> Result<Result<InvocationRecord, Failure>, RunError> {
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
                    let r = match self.exec.invoke(c, "{}", self.opts.timeout) {
                        // Nobody listens: it died while paused and the
                        // request was never delivered, so serving it again
                        // elsewhere runs it once.
                        Err(crate::container::InvokeError::Connect { .. }) => {
                            return Ok(Err(Failure::HandlerLost))
                        }
                        r => failed_request(r),
                    };
                    marks.done_ns = clock::monotonic_ns();
                    let m = measure::handler_hit(&marks, thawed, &r);
                    (r, m)
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
                self.install(planner, install)?;
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
                        // The planner repairs it (`RepairZygote`) and falls
                        // back; a dead one's container goes now.
                        tracing::warn!(zygote = zygote.0, error = %e, "fork failed; the planner falls back and repairs the Zygote");
                        self.note_broken(*zygote, &e);
                        return Ok(Err(Failure::ZygoteDied));
                    }
                }
            }
            Action::Fresh { import, install } => {
                self.install(planner, install)?;
                rec.installed = self.keys(install);
                rec.imported = self.keys(import);
                self.fresh(planner, plan.instance, f, &closure, import, &mut marks)?
            }
        };
        let seq = call.seq;
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
        // The queue wait is the engine's (virtual) time, as in sim.
        let queue = (call.start - call.inv.time).0;
        rec.phases_us = measured.phases;
        rec.phases_us.queue = queue;
        rec.latency_us = measured.latency_us + queue;
        Ok(Ok(rec))
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
    /// phases run from `marks.start_ns`.
    fn fresh(
        &mut self,
        planner: &Planner<'_>,
        instance: InstanceId,
        f: sock_core::FunctionId,
        closure: &PackageSet,
        import: &PackageSet,
        marks: &mut Marks,
    ) -> Result<(Response, Measured), RunError> {
        // A fallback may need packages the first plan did not install.
        self.install(planner, closure)?;
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
}
