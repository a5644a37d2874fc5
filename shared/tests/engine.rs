//! The one engine (issue 12): event order, the queue, and failures with
//! the planner's fallbacks and repairs, driven through `Effects` exactly as
//! sim (cost model) and sock-exec (real containers) drive it.

use sock_core::config::ZygoteMode;
use sock_core::engine::{EngineError, EngineOptions};
use sock_core::planner::{Action, Failure, SideDecision};
use sock_core::trace::Invocation;
use sock_core::{Micros, ZygoteId};
use std::collections::BTreeMap;

mod common;

use common::{catalog, final_plan, inv, replay, tiers, Logged};

#[test]
fn a_lost_handler_is_forgotten_and_the_fallback_is_a_cold_start() {
    let c = catalog(&[(50.0, 10.0)], &[&[0]], 10.0);
    let mut fx = Logged::default();
    fx.inject.insert(1, Failure::HandlerLost);
    // f0 at 0 ms (fresh), at 1 s (a hit on instance 0, which is lost), at 2 s.
    let invs = [inv(0, 0), inv(1000, 0), inv(2000, 0)];
    let planner = replay(
        &c,
        tiers(ZygoteMode::Off, 0),
        EngineOptions::default(),
        &mut fx,
        &invs,
    )
    .expect("replay");
    let failed = &fx
        .served
        .iter()
        .find(|(s, a, _)| *s == 1 && *a == 0)
        .expect("seq 1's first attempt was served")
        .2;
    let Action::HandlerHit { instance: lost } = failed.action else {
        panic!("seq 1 should plan a handler hit: {:?}", failed.action);
    };
    let fallback = final_plan(&fx, 1);
    assert!(
        matches!(fallback.action, Action::Fresh { .. }),
        "{:?}",
        fallback.action
    );
    assert_ne!(fallback.instance, lost);
    assert_eq!(
        fallback.before,
        vec![SideDecision::ForgetHandler { instance: lost }]
    );
    // The planner's state is true: the third call hits the fallback's
    // instance, never the lost one.
    let third = final_plan(&fx, 2);
    assert_eq!(
        third.action,
        Action::HandlerHit {
            instance: fallback.instance
        }
    );
    assert!(planner.handlers().instance(lost).is_none());
    let n = planner.counters();
    assert_eq!((n.fallbacks, n.handlers_lost, n.zygote_repairs), (1, 1, 0));
}

#[test]
fn a_dead_zygote_is_repaired_and_not_offered_until_ready() {
    // One package; the root Zygote (no packages) serves every cold start.
    let c = catalog(&[(50.0, 10.0)], &[&[0], &[0], &[0]], 10.0);
    let mut fx = Logged::default();
    fx.inject.insert(0, Failure::ZygoteDied);
    let invs = [inv(0, 0), inv(1, 1), inv(5000, 2)];
    let planner = replay(
        &c,
        tiers(ZygoteMode::Root, 1),
        EngineOptions::default(),
        &mut fx,
        &invs,
    )
    .expect("replay");
    let first = final_plan(&fx, 0);
    assert!(
        matches!(first.action, Action::Fresh { .. }),
        "no other Zygote is ready: {:?}",
        first.action
    );
    let repair = first.after.iter().find_map(|d| match d {
        SideDecision::RepairZygote { zygote, ready_at } => Some((*zygote, *ready_at)),
        _ => None,
    });
    let (z, ready_at) = repair.expect("a repair decision");
    assert_eq!(z, ZygoteId(0));
    assert!(ready_at > Micros(0));
    // Its spares start over after the repair, in the same `after`.
    let refills: Vec<Micros> = first
        .after
        .iter()
        .filter_map(|d| match d {
            SideDecision::Refill { zygote, ready_at } if *zygote == z => Some(*ready_at),
            _ => None,
        })
        .collect();
    assert_eq!(refills.len(), 1);
    assert!(refills[0] > ready_at);
    // 1 ms later the root is still under repair: a fresh start.
    assert!(ready_at > Micros(1000));
    assert!(matches!(final_plan(&fx, 1).action, Action::Fresh { .. }));
    // 5 s later it serves again, with a spare.
    match &final_plan(&fx, 2).action {
        Action::Fork { zygote, spare, .. } => assert_eq!((*zygote, *spare), (z, true)),
        a => panic!("the repaired root should serve: {a:?}"),
    }
    let n = planner.counters();
    assert_eq!((n.fallbacks, n.zygote_repairs), (1, 1));
}

#[test]
fn a_dead_child_zygote_falls_back_to_its_parent() {
    // f0 grows Zygote {p0} from the root; f1 = {p0, p1} then forks from it.
    let c = catalog(&[(80.0, 10.0), (80.0, 10.0)], &[&[0], &[0, 1]], 10.0);
    let mut fx = Logged::default();
    fx.inject.insert(1, Failure::ZygoteDied);
    let invs = [inv(0, 0), inv(2000, 1)];
    replay(
        &c,
        tiers(ZygoteMode::Dynamic, 0),
        EngineOptions::default(),
        &mut fx,
        &invs,
    )
    .expect("replay");
    let failed = &fx
        .served
        .iter()
        .find(|(s, a, _)| *s == 1 && *a == 0)
        .expect("seq 1's first attempt was served")
        .2;
    let Action::Fork { zygote: child, .. } = failed.action else {
        panic!("seq 1 should fork the grown Zygote: {:?}", failed.action);
    };
    assert_ne!(child, ZygoteId(0));
    match &final_plan(&fx, 1).action {
        Action::Fork { zygote, .. } => assert_eq!(*zygote, ZygoteId(0), "the parent serves"),
        a => panic!("expected a fork from the root: {a:?}"),
    }
    assert!(fx.applied.contains(&SideDecision::RepairZygote {
        zygote: child,
        ready_at: match final_plan(&fx, 1).after.iter().find_map(|d| match d {
            SideDecision::RepairZygote { ready_at, .. } => Some(*ready_at),
            _ => None,
        }) {
            Some(t) => t,
            None => panic!("no repair"),
        }
    }));
}

#[test]
fn failing_every_plan_ends_with_a_clear_error_not_a_loop() {
    let c = catalog(&[(50.0, 10.0)], &[&[0]], 10.0);
    let mut fx = Logged {
        fail_always: true,
        ..Logged::default()
    };
    let err = replay(
        &c,
        tiers(ZygoteMode::Root, 0),
        EngineOptions::default(),
        &mut fx,
        &[inv(0, 0)],
    )
    .expect_err("no fallback is left");
    // The root fork fails, the fallback is fresh, and a fresh start has no
    // fallback.
    assert_eq!(
        err,
        EngineError::NoFallback {
            seq: 0,
            failure: Failure::ZygoteDied,
            path: "fresh"
        }
    );
    assert_eq!(fx.served.len(), 2);
}

#[test]
fn the_queue_holds_calls_beyond_the_limit_and_the_wait_is_the_queue_phase() {
    // 100 ms handlers, three calls at once, one slot.
    let c = catalog(&[(0.0, 0.0)], &[&[0]], 100.0);
    let mut fx = Logged::default();
    let invs = [inv(0, 0), inv(0, 0), inv(0, 0)];
    let options = EngineOptions {
        cores: Some(1),
        ..EngineOptions::default()
    };
    replay(&c, tiers(ZygoteMode::Off, 0), options, &mut fx, &invs).expect("replay");
    let (p0, p1, p2) = (final_plan(&fx, 0), final_plan(&fx, 1), final_plan(&fx, 2));
    assert_eq!(p0.phases.queue, Micros(0));
    let end0 = p0.phases.total();
    assert_eq!(p1.phases.queue, end0, "waits for the first to end");
    // The second reuses the first's instance (paused, then hit).
    assert_eq!(
        p1.action,
        Action::HandlerHit {
            instance: p0.instance
        }
    );
    assert_eq!(
        p2.phases.queue,
        end0 + (p1.phases.total() - p1.phases.queue)
    );
    // FIFO: served in arrival order.
    let order: Vec<u64> = fx.served.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(order, vec![0, 1, 2]);
}

#[test]
fn a_failure_that_does_not_fit_the_plan_is_an_error() {
    let c = catalog(&[(50.0, 10.0)], &[&[0]], 10.0);
    let mut fx = Logged {
        misfit: true,
        ..Logged::default()
    };
    fx.inject.insert(0, Failure::HandlerLost); // seq 0 is a fresh start
    let err = replay(
        &c,
        tiers(ZygoteMode::Off, 0),
        EngineOptions::default(),
        &mut fx,
        &[inv(0, 0)],
    )
    .expect_err("no fallback is left");
    assert!(
        matches!(err, EngineError::NoFallback { seq: 0, .. }),
        "{err}"
    );
}

/// A wall-clock driver learns of a failure after `serve` returned (sock-exec's
/// concurrent replay: the Zygote died while the call waited for its pip
/// run): `fail_running` re-plans in the same slot, repairs the Zygote, and
/// does not apply the failed plan's `after` a second time.
#[test]
fn a_failure_after_serving_is_re_planned_in_the_same_slot() {
    use sock_core::engine::{Call, Engine};
    let c = catalog(&[(50.0, 10.0)], &[&[0]], 10.0);
    let planner = sock_core::planner::Planner::new(
        &c,
        sock_core::cost::CostParams::default(),
        tiers(ZygoteMode::Root, 1),
        None,
    )
    .expect("planner");
    let mut engine = Engine::new(planner, EngineOptions::default());
    let mut fx = Logged::default();
    let i = inv(0, 0);
    engine.arrive(&mut fx, 0, i).expect("arrive");
    let failed = fx.served[0].2.clone();
    assert!(
        matches!(failed.action, Action::Fork { .. }),
        "{:?}",
        failed.action
    );
    assert_eq!(engine.running(), 1);
    let call = Call {
        seq: 0,
        inv: i,
        start: Micros(0),
        attempt: 0,
    };
    let now = Micros(2_000);
    let started = engine
        .fail_running(&mut fx, &call, &failed, Failure::ZygoteDied, now)
        .expect("fallback");
    let (seq, attempt, fallback) = fx.served.last().expect("served").clone();
    assert_eq!((seq, attempt), (0, 1));
    assert!(
        matches!(fallback.action, Action::Fresh { .. }),
        "{:?}",
        fallback.action
    );
    assert_eq!((started.instance, started.start), (fallback.instance, now));
    assert_eq!(
        engine.running(),
        1,
        "the fallback takes the failed call's slot"
    );
    assert!(fallback
        .after
        .iter()
        .any(|d| matches!(d, SideDecision::RepairZygote { zygote, .. } if *zygote == ZygoteId(0))));
    for d in &failed.after {
        let n = fx.applied.iter().filter(|a| *a == d).count();
        assert_eq!(n, 1, "{d:?} of the failed plan applied {n} times");
    }
    let n = engine.planner().counters();
    assert_eq!((n.fallbacks, n.zygote_repairs), (1, 1));
    engine
        .complete(&mut fx, fallback.instance, Micros(100_000))
        .expect("complete");
    assert_eq!(engine.running(), 0);
}

/// sock-exec finds a spare dead (killed while it waited): the planner drops
/// it from its count and refills it, so its count stays the real one.
#[test]
fn a_spare_found_dead_leaves_the_count_and_is_refilled() {
    use sock_core::engine::Engine;
    let c = catalog(&[(50.0, 10.0)], &[&[0]], 10.0);
    let planner = sock_core::planner::Planner::new(
        &c,
        sock_core::cost::CostParams::default(),
        tiers(ZygoteMode::Root, 2),
        None,
    )
    .expect("planner");
    let mut engine = Engine::new(planner, EngineOptions::default());
    let mut fx = Logged::default();
    engine.start_up(&mut fx).expect("start up");
    let z = ZygoteId(0);
    assert_eq!(engine.planner().spares().count(z), 2);
    fx.applied.clear();
    let now = Micros(1_000_000);
    engine.spare_lost(&mut fx, z, now).expect("report");
    match fx.applied.as_slice() {
        [SideDecision::Refill { zygote, ready_at }] => {
            assert_eq!(*zygote, z);
            assert!(*ready_at > now, "{ready_at:?}");
        }
        other => panic!("one refill expected: {other:?}"),
    }
    assert_eq!(
        engine.planner().spares().count(z),
        2,
        "one lost, one refilled"
    );
    assert_eq!(engine.planner().counters().spares_lost, 1);
    // A Zygote with no spares counted (e.g. repaired since) gets no refill.
    fx.applied.clear();
    engine
        .spare_lost(&mut fx, ZygoteId(7), now)
        .expect("report");
    assert!(fx.applied.is_empty());
}

mod random {
    //! Random traces with random failures: the engine and the planner keep
    //! their promises whatever fails when.
    use super::*;
    use proptest::prelude::*;

    /// (calls as (time / 10, function), failures as (seq, handler lost
    /// or else Zygote died), spares per Zygote, max concurrency).
    type Scenario = (Vec<(u64, u32)>, Vec<(usize, bool)>, u32, Option<usize>);

    fn scenario() -> impl Strategy<Value = Scenario> {
        (
            prop::collection::vec((0..400u64, 0..4u32), 1..60),
            prop::collection::vec((0..60usize, any::<bool>()), 0..20),
            0..3u32,
            prop_oneof![Just(None), Just(Some(1)), Just(Some(2))],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn failures_never_break_the_planners_state((calls, fails, spares, limit) in scenario()) {
            let c = catalog(
                &[(60.0, 10.0), (40.0, 5.0), (90.0, 20.0)],
                &[&[0], &[0, 1], &[1, 2], &[0, 1, 2]],
                30.0,
            );
            let mut invs: Vec<Invocation> = calls.iter().map(|&(t, f)| inv(t * 10, f)).collect();
            invs.sort_by_key(|i| i.time);
            let mut fx = Logged::default();
            for (seq, lost) in fails {
                let f = if lost { Failure::HandlerLost } else { Failure::ZygoteDied };
                fx.inject.insert(seq as u64, f);
            }
            let options = EngineOptions { cores: limit, ..EngineOptions::default() };
            let planner = replay(&c, tiers(ZygoteMode::Dynamic, spares), options, &mut fx, &invs)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Every invocation is served exactly once, in start order.
            let done: Vec<u64> = fx
                .served
                .windows(2)
                .filter(|w| w[0].0 != w[1].0)
                .map(|w| w[0].0)
                .chain(fx.served.last().map(|s| s.0))
                .collect();
            prop_assert_eq!(done.len(), invs.len());
            // Failures were taken only where they fit; each one re-planned.
            let fitted = fx.served.iter().filter(|(_, a, _)| *a == 1).count() as u64;
            prop_assert_eq!(planner.counters().fallbacks, fitted);
            // A forgotten handler is never hit again; a Zygote under repair
            // is never forked before it is ready.
            let mut forgotten = std::collections::BTreeSet::new();
            let mut repaired: BTreeMap<ZygoteId, Micros> = BTreeMap::new();
            for (seq, attempt, plan) in &fx.served {
                let start = invs[*seq as usize].time + plan.phases.queue;
                match &plan.action {
                    Action::HandlerHit { instance } => {
                        prop_assert!(!forgotten.contains(instance), "hit on lost {instance:?}");
                    }
                    Action::Fork { zygote, .. } => {
                        if let Some(&ready) = repaired.get(zygote) {
                            prop_assert!(start >= ready, "forked {zygote:?} at {start:?}, ready {ready:?}");
                        }
                    }
                    Action::Fresh { .. } => {}
                }
                let _ = attempt;
                for d in plan.side() {
                    match d {
                        SideDecision::ForgetHandler { instance } => {
                            forgotten.insert(*instance);
                        }
                        SideDecision::RepairZygote { zygote, ready_at } => {
                            repaired.insert(*zygote, *ready_at);
                        }
                        _ => {}
                    }
                }
            }
            // Nothing is left busy, and nothing lost is still counted.
            prop_assert_eq!(planner.usage().handler_busy, sock_core::Bytes::ZERO);
            for i in &forgotten {
                prop_assert!(planner.handlers().instance(*i).is_none());
            }
        }
    }
}
