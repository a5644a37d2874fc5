//! Failures while a plan is applied, and the planner's answer to them.
//!
//! A plan can fail for real (a paused handler died, a Zygote was killed or
//! stopped answering) or by injection in a simulation. Either way the one
//! who applies the plan tells the planner ([`Planner::on_failure`]), and
//! the planner decides the fallback and the repair, so its state stays
//! true: the lost instance leaves the handler cache, a dead Zygote is not
//! offered again until its repair is ready, and its spares are counted
//! again from the repair. sim and sock-exec therefore take the same
//! fallbacks (issue 12).
//!
//! A spare (a Zygote's pre-forked child) can also die while it waits; no
//! plan fails then (the hit forks without it, or takes the next), but the
//! planner's count of ready spares must stay true: the executor reports
//! it ([`Planner::on_spare_lost`]) and the planner refills it.

use super::{Action, Failure, Plan, Planner, SideDecision};
use crate::trace::Invocation;
use crate::units::{Micros, ZygoteId};

impl Planner<'_> {
    /// `failed`, planned for `inv` to start at `now`, could not be served:
    /// `failure` says why. Returns the fallback plan, which starts at the
    /// same `now` and replaces `failed` entirely: apply its `before`, serve
    /// it, then apply its `after` (which keeps what `failed.after` still
    /// needs, e.g. a Zygote it grew). `failed.before` was already applied.
    ///
    /// The fallback is the cold start the planner would choose now: a fork
    /// from the best *ready* Zygote (a Zygote under repair is not ready) or a
    /// fresh start. A `failure` that does not match `failed`'s action (a
    /// caller's mistake) changes nothing but the lost instance.
    pub fn on_failure(
        &mut self,
        inv: Invocation,
        failed: &Plan,
        failure: Failure,
        now: Micros,
    ) -> Plan {
        self.counters.fallbacks += 1;
        // The failed attempt's instance is gone, and its pins with it.
        if let Some(inst) = self.handlers.lose(failed.instance) {
            self.installs.unpin(&inst.pinned);
        }
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut carried = failed.after.clone();
        match (failure, &failed.action) {
            (Failure::HandlerLost, Action::HandlerHit { instance }) => {
                self.counters.handlers_lost += 1;
                before.push(SideDecision::ForgetHandler {
                    instance: *instance,
                });
            }
            (Failure::ZygoteDied, Action::Fork { zygote, .. }) => {
                // Its spares died with it; the repair starts new ones.
                carried.retain(
                    |d| !matches!(d, SideDecision::Refill { zygote: z, .. } if z == zygote),
                );
                after.extend(self.repair_zygote(*zygote, now));
            }
            _ => debug_assert!(false, "{failure:?} for {:?}", failed.action),
        }
        let handler = self.catalog.handler_time(&inv, true);
        let mut plan = self.cold_start(inv.function, now, now - inv.time, handler);
        before.append(&mut plan.before);
        after.append(&mut carried);
        after.append(&mut plan.after);
        plan.before = before;
        plan.after = after;
        plan
    }

    /// Zygote `z` died at `now`: it serves again once re-created (forked
    /// from its parent, or a fresh interpreter for the root), and its
    /// spares start over from then.
    fn repair_zygote(&mut self, z: ZygoteId, now: Micros) -> Vec<SideDecision> {
        let Some(node) = self.tree.as_ref().and_then(|t| t.node(z)) else {
            return Vec::new();
        };
        let (packages, own, parent) = (node.packages.len(), node.own.clone(), node.parent);
        let start = match parent {
            Some(p) => self.cost.fork(self.lineage(p).1) + self.cost.import_time(&own),
            None => self.cost.python_start(),
        };
        let ready_at = now + self.cost.container_create(packages) + start;
        if let Some(t) = self.tree.as_mut() {
            t.set_ready_at(z, ready_at);
        }
        self.counters.zygote_repairs += 1;
        self.spares.remove(z);
        let mut side = vec![SideDecision::RepairZygote {
            zygote: z,
            ready_at,
        }];
        side.extend(self.start_spares(z, ready_at));
        side
    }

    /// A spare of Zygote `z` was found dead at `now` (killed while it
    /// waited): it leaves the count and a replacement is forked, as after a
    /// hit took it. Returns the `Refill` to apply (none if `z` counted no
    /// spare, e.g. it was repaired since).
    pub fn on_spare_lost(&mut self, z: ZygoteId, now: Micros) -> Vec<SideDecision> {
        self.counters.spares_lost += 1;
        if !self.spares.lose(z) {
            return Vec::new();
        }
        let (_, mem) = self.lineage(z);
        let ready_at = self.spares.refill(z, now, self.cost.fork(mem));
        vec![SideDecision::Refill {
            zygote: z,
            ready_at,
        }]
    }
}
