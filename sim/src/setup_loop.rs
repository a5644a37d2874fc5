//! `sim --serial-setup`: the set-up loop of `sock-exec run --concurrent`
//! in virtual time (issue 9's load term). That replay is one thread: it
//! owns every fork, clone and container set-up, so while it thaws a
//! handler, forks a child, clones an init or starts a Zygote, nothing
//! else is set up; a call due meanwhile waits, and the wait lands in its
//! `queue` phase (`exec/src/run/concurrent.rs`). Requests in flight, pip
//! runs and handlers run beside the loop, not in it.
//!
//! The loop is one server, busy until `free_at`. Per plan it is held by
//! the critical path's set-up (from the cost model, as predicted):
//!
//! | path | held for | from |
//! |---|---|---|
//! | handler hit | unpause | the call's start |
//! | Zygote hit | create + fork + import (the executor follows the fork until the child serves) | after its installs (pip runs beside the loop) |
//! | fresh | create − interpreter start (the clone; the interpreter starts in the child) | after its installs |
//!
//! and by side decisions whose end the planner knows (`ready_at`: a new
//! Zygote, a repair, a spare's refill), from when they are applied. Other
//! side work (pause, destroy, evictions) is left out: its cost is not in
//! the cost model (a pause measured 0.2 ms, an eviction 2 ms on the
//! reference host: `sock-exec run`'s `side work` line).
//!
//! The wait is added to the `queue` phase, or, for a call that installed
//! packages, to its `install` phase: sock-exec resumes such a call when
//! its pip run has ended and the loop is free, and that is when its
//! install phase ends.

use sock_core::planner::{Action, Plan, SideDecision};
use sock_core::Micros;

/// The one set-up loop: the intervals it is busy, in time order and
/// disjoint. A call whose pip run ends later reserves its set-up then,
/// and a call ready before that is set up before it, as the real loop
/// serves whatever is ready when it is free.
#[derive(Clone, Debug, Default)]
pub struct SetupLoop {
    busy: Vec<(Micros, Micros)>,
}

impl SetupLoop {
    /// Side decisions applied at `now` hold the loop until each is ready.
    /// Their `ready_at`s assume they start at `now`, one after the other
    /// (a new Zygote, then its spares), so each holds it from the one
    /// before's end.
    pub fn side(&mut self, decisions: &[SideDecision], now: Micros) {
        self.forget_before(now);
        let (mut planned, mut at) = (now, now);
        for d in decisions {
            let ready_at = match *d {
                SideDecision::CreateZygote { ready_at, .. }
                | SideDecision::RepairZygote { ready_at, .. }
                | SideDecision::Refill { ready_at, .. } => ready_at,
                _ => continue,
            };
            let held = ready_at.saturating_sub(planned);
            planned = planned.max(ready_at);
            at = self.reserve(at, held) + held;
        }
    }

    /// Serves `plan` for a call that starts at `start`: returns how long
    /// its set-up waits for the loop, and holds the loop for that set-up.
    /// `python_start` is the cost model's interpreter start (the part of
    /// a fresh start's `create` that runs in the child, beside the loop).
    pub fn serve(&mut self, plan: &Plan, start: Micros, python_start: Micros) -> Micros {
        self.forget_before(start);
        let p = &plan.phases;
        let (ready, held) = match plan.action {
            Action::HandlerHit { .. } => (start, p.unpause),
            Action::Fork { .. } => (start + p.install, p.create + p.fork + p.import),
            Action::Fresh { .. } => (start + p.install, p.create.saturating_sub(python_start)),
        };
        self.reserve(ready, held) - ready
    }

    /// Holds the loop for `held` from the first instant at or after
    /// `ready` it is free that long; returns that instant.
    fn reserve(&mut self, ready: Micros, held: Micros) -> Micros {
        let mut begin = ready;
        let mut at = self.busy.len();
        for (i, &(s, e)) in self.busy.iter().enumerate() {
            if e <= begin {
                continue;
            }
            if begin + held <= s {
                at = i;
                break;
            }
            begin = e;
        }
        if held > Micros::ZERO {
            self.busy.insert(at, (begin, begin + held));
        }
        begin
    }

    /// Calls are served in the order they start, and none is ready before
    /// its start: what ended by then can no longer delay anything.
    fn forget_before(&mut self, t: Micros) {
        let ended = self.busy.iter().take_while(|&&(_, e)| e <= t).count();
        self.busy.drain(..ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_core::cost::CostParams;
    use sock_core::cost::Phases;
    use sock_core::{InstanceId, PackageSet, ZygoteId};

    fn plan(action: Action, phases: Phases) -> Plan {
        Plan {
            function: sock_core::FunctionId(0),
            instance: InstanceId(0),
            action,
            phases,
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    fn fork() -> Action {
        Action::Fork {
            zygote: ZygoteId(0),
            depth: 0,
            spare: false,
            import: PackageSet::default(),
            install: PackageSet::default(),
        }
    }

    #[test]
    fn a_call_waits_for_the_set_up_before_it_and_its_installs_run_beside_the_loop() {
        let py = Micros::from_ms_f64(CostParams::default().python_start_ms);
        let mut l = SetupLoop::default();
        let ms = |v: u64| Micros(v * 1000);
        let hit = Phases {
            create: ms(1),
            fork: ms(2),
            import: ms(3),
            handler: ms(100),
            ..Phases::default()
        };
        // The first holds the loop for 6 ms from t = 10 ms.
        assert_eq!(l.serve(&plan(fork(), hit), ms(10), py), Micros::ZERO);
        // A call due at 12 ms waits until 16 ms.
        assert_eq!(l.serve(&plan(fork(), hit), ms(12), py), ms(4));
        // One installing for 50 ms sets up after its install: no wait.
        let installing = Phases {
            install: ms(50),
            ..hit
        };
        assert_eq!(l.serve(&plan(fork(), installing), ms(13), py), Micros::ZERO);
        // Its set-up (63-69 ms) does not hold up one ready before it.
        assert_eq!(l.serve(&plan(fork(), hit), ms(30), py), Micros::ZERO);
        // One ready at 60 ms does not fit before it: it waits until 69 ms.
        assert_eq!(l.serve(&plan(fork(), hit), ms(60), py), ms(9));
        // A fresh start holds the loop only for the clone, not the
        // interpreter start.
        let mut l = SetupLoop::default();
        let fresh = Phases {
            create: py + ms(1),
            ..Phases::default()
        };
        let action = Action::Fresh {
            import: PackageSet::default(),
            install: PackageSet::default(),
        };
        assert_eq!(l.serve(&plan(action, fresh), ms(0), py), Micros::ZERO);
        assert_eq!(l.serve(&plan(fork(), hit), ms(0), py), ms(1));
    }

    #[test]
    fn zygote_starts_and_refills_hold_the_loop_until_ready() {
        let py = Micros::from_ms_f64(CostParams::default().python_start_ms);
        let mut l = SetupLoop::default();
        let ms = |v: u64| Micros(v * 1000);
        l.side(
            &[
                SideDecision::CreateZygote {
                    zygote: ZygoteId(1),
                    parent: ZygoteId(0),
                    import: PackageSet::default(),
                    ready_at: ms(80),
                },
                // Its spare, forked once the Zygote serves.
                SideDecision::Refill {
                    zygote: ZygoteId(1),
                    ready_at: ms(85),
                },
                SideDecision::Pause {
                    instance: InstanceId(3),
                },
            ],
            ms(0),
        );
        let unpause = Phases {
            unpause: ms(1),
            ..Phases::default()
        };
        let action = Action::HandlerHit {
            instance: InstanceId(3),
        };
        // 80 ms for the Zygote, then 5 ms for the refill; the pause is free.
        assert_eq!(l.serve(&plan(action, unpause), ms(40), py), ms(45));
    }
}
