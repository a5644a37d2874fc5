//! The worker model (issue 10): total memory shared by busy and idle
//! handlers and the Zygote tree, cores, and what a call that does not fit
//! does (queue with a maximum wait, or drop). Golden scenarios with counts
//! computed by hand, and properties over random traces.

mod common;

use common::{catalog, final_plan, inv, replay_stats, tiers, Logged};
use proptest::prelude::*;
use sock_core::config::ZygoteMode;
use sock_core::engine::EngineOptions;
use sock_core::planner::SideDecision;
use sock_core::trace::{Catalog, Function, Package, TraceHeader};
use sock_core::worker::{DropReason, WhenFull};
use sock_core::{Bytes, Micros, ZygoteId};

fn worker(mb: u64, when_full: WhenFull, max_wait_ms: Option<u64>) -> EngineOptions {
    EngineOptions {
        cores: None,
        memory: Some(Bytes::from_mb(mb)),
        when_full,
        max_wait: max_wait_ms.map(|ms| Micros(ms * 1000)),
    }
}

/// Functions of 50 MB each (`common::catalog`), 100 ms handlers, no
/// packages: three calls at once in a 100 MB worker.
fn three_at_once() -> (Catalog, Vec<sock_core::trace::Invocation>) {
    let c = catalog(&[], &[&[], &[], &[]], 100.0);
    (c, vec![inv(0, 0), inv(0, 1), inv(0, 2)])
}

#[test]
fn a_call_that_does_not_fit_is_dropped_under_drop() {
    let (c, invs) = three_at_once();
    let mut fx = Logged::default();
    let opts = worker(100, WhenFull::Drop, None);
    let (_, stats) =
        replay_stats(&c, tiers(ZygoteMode::Off, 0), opts, &mut fx, &invs).expect("replay");
    // 50 + 50 MB run; the third finds 100 MB busy and nothing idle.
    assert_eq!(fx.dropped.len(), 1);
    let d = fx.dropped[0];
    assert_eq!((d.seq, d.reason, d.at), (2, DropReason::Full, Micros(0)));
    assert_eq!(stats.dropped_full, 1);
    assert_eq!(stats.queued, 0);
    assert!(fx.served.iter().all(|(seq, _, _)| *seq != 2));
    assert!(fx.peak_memory <= Bytes::from_mb(100));
}

#[test]
fn queued_then_served_when_a_completion_frees_memory() {
    let (c, invs) = three_at_once();
    let mut fx = Logged::default();
    let opts = worker(100, WhenFull::Queue, None);
    let (planner, stats) =
        replay_stats(&c, tiers(ZygoteMode::Off, 0), opts, &mut fx, &invs).expect("replay");
    assert!(fx.dropped.is_empty());
    let end0 = final_plan(&fx, 0).phases.total();
    let p2 = final_plan(&fx, 2);
    // It waits for the first call to end: then f0's instance is paused
    // (idle, 50 MB) and evicted to make room.
    assert_eq!(p2.phases.queue, end0, "the wait is the queue phase");
    let first = final_plan(&fx, 0).instance;
    assert!(fx
        .applied
        .contains(&SideDecision::EvictHandler { instance: first }));
    assert_eq!((stats.queued, stats.queue_peak), (1, 1));
    assert_eq!(planner.counters().handler_evictions, 1);
    assert!(fx.peak_memory <= Bytes::from_mb(100));
}

#[test]
fn a_call_that_waits_past_max_wait_is_dropped() {
    let (c, invs) = three_at_once();
    let mut fx = Logged::default();
    // The first completion comes after ~123 ms (create + start + run):
    // later than the 50 ms the third call may wait.
    let opts = worker(100, WhenFull::Queue, Some(50));
    let (_, stats) =
        replay_stats(&c, tiers(ZygoteMode::Off, 0), opts, &mut fx, &invs).expect("replay");
    let end0 = final_plan(&fx, 0).phases.total();
    assert!(end0 > Micros(50_000));
    assert_eq!(fx.dropped.len(), 1);
    let d = fx.dropped[0];
    assert_eq!((d.seq, d.reason, d.at), (2, DropReason::Waited, end0));
    assert_eq!(stats.dropped_waited, 1);
}

#[test]
fn a_wait_that_ends_as_the_slot_frees_still_starts() {
    let (c, invs) = three_at_once();
    let mut probe = Logged::default();
    replay_stats(
        &c,
        tiers(ZygoteMode::Off, 0),
        worker(100, WhenFull::Queue, None),
        &mut probe,
        &invs,
    )
    .expect("replay");
    let end0 = final_plan(&probe, 0).phases.total();
    let mut fx = Logged::default();
    let opts = worker(100, WhenFull::Queue, None);
    let opts = EngineOptions {
        max_wait: Some(end0),
        ..opts
    };
    replay_stats(&c, tiers(ZygoteMode::Off, 0), opts, &mut fx, &invs).expect("replay");
    assert!(fx.dropped.is_empty(), "waited exactly max_wait: starts");
    assert_eq!(final_plan(&fx, 2).phases.queue, end0);
}

#[test]
fn bigger_than_the_worker_minus_the_root_is_dropped_at_once() {
    // Root Zygote 10 MB (pinned, spares 0): a 50 MB call never fits in 55.
    let c = catalog(&[], &[&[]], 100.0);
    let mut fx = Logged::default();
    let opts = worker(55, WhenFull::Queue, None);
    let (_, stats) =
        replay_stats(&c, tiers(ZygoteMode::Root, 0), opts, &mut fx, &[inv(0, 0)]).expect("replay");
    assert_eq!(stats.dropped_too_big, 1);
    assert_eq!(fx.dropped[0].reason, DropReason::TooBig);
    assert!(fx.served.is_empty());
}

/// p0: 50 ms, 20 MB. f0 needs p0, f1 nothing; 50 MB each.
fn zygote_catalog() -> Catalog {
    catalog(&[(50.0, 20.0)], &[&[0], &[]], 100.0)
}

#[test]
fn a_zygote_is_evicted_to_make_room_for_a_handler() {
    // 120 MB: f0 (50) forks the root (10) and grows Z1 (2 + 20 = 22 MB):
    // 82 used. f1 needs 50: nothing idle, so Z1 goes (60 + 50 = 110).
    let c = zygote_catalog();
    let mut fx = Logged::default();
    let opts = worker(120, WhenFull::Queue, None);
    let (planner, stats) = replay_stats(
        &c,
        tiers(ZygoteMode::Dynamic, 0),
        opts,
        &mut fx,
        &[inv(0, 0), inv(0, 1)],
    )
    .expect("replay");
    assert!(fx.applied.contains(&SideDecision::EvictZygote {
        zygote: ZygoteId(1)
    }));
    assert_eq!(planner.counters().zygote_evictions, 1);
    assert_eq!(stats.queued, 0, "it fit at once after the eviction");
    assert!(fx.peak_memory <= Bytes::from_mb(120));
}

#[test]
fn a_zygote_grows_only_into_free_worker_memory() {
    // 70 MB: f0 (50) + root (10) leaves 10 MB, less than Z1's 22.
    let c = zygote_catalog();
    let mut fx = Logged::default();
    let opts = worker(70, WhenFull::Queue, None);
    let (planner, _) = replay_stats(
        &c,
        tiers(ZygoteMode::Dynamic, 0),
        opts,
        &mut fx,
        &[inv(0, 0)],
    )
    .expect("replay");
    let counters = planner.counters();
    assert_eq!(
        (counters.zygotes_created, counters.zygote_growth_skipped),
        (0, 1)
    );
}

#[test]
fn a_handler_hit_needs_no_new_memory() {
    // 60 MB: f0 runs (50 + root 10), is paused, and its next call resumes
    // it although only 0 MB are free.
    let c = catalog(&[], &[&[]], 100.0);
    let mut fx = Logged::default();
    let opts = worker(60, WhenFull::Drop, None);
    let (_, stats) = replay_stats(
        &c,
        tiers(ZygoteMode::Root, 0),
        opts,
        &mut fx,
        &[inv(0, 0), inv(1000, 0)],
    )
    .expect("replay");
    assert_eq!(stats.dropped(), 0);
    assert!(matches!(
        final_plan(&fx, 1).action,
        sock_core::planner::Action::HandlerHit { .. }
    ));
}

/// Functions with the given memory (MB), one package each of `(ms, MB)`.
fn sized_catalog(mems: &[f64]) -> Catalog {
    let packages = (0..3)
        .map(|i| Package {
            name: format!("p{i}"),
            version: "1.0".into(),
            deps: Vec::new(),
            modules: vec![format!("p{i}")],
            import_ms: 20.0 * (i + 1) as f64,
            import_mb: 5.0 * (i + 1) as f64,
            install_ms: 10.0,
            disk_bytes: 1 << 20,
            imputed: false,
        })
        .collect();
    let functions = mems
        .iter()
        .enumerate()
        .map(|(i, &memory_mb)| Function {
            name: format!("f{i}"),
            packages: vec![(i % 3) as u32],
            duration_ms: 30.0 + 10.0 * i as f64,
            cold_duration_ms: None,
            memory_mb,
        })
        .collect();
    Catalog::new(TraceHeader::new(
        packages,
        functions,
        serde_json::Value::Null,
    ))
    .expect("valid catalog")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Worker memory never exceeds its total; every call is served or
    /// dropped exactly once; nothing is busy at the end.
    #[test]
    fn memory_is_bounded_and_every_call_is_served_or_dropped_once(
        mems in prop::collection::vec(10.0f64..120.0, 1..6),
        calls in prop::collection::vec((0u64..2_000, 0usize..6), 1..60),
        total in 40u64..400,
        cores in prop::option::of(1usize..4),
        drop_rule in any::<bool>(),
        max_wait in prop::option::of(0u64..500),
        mode in prop::sample::select(vec![ZygoteMode::Off, ZygoteMode::Root, ZygoteMode::Dynamic]),
        spares in 0u32..2,
    ) {
        let c = sized_catalog(&mems);
        let mut times: Vec<(u64, u32)> = calls
            .iter()
            .map(|&(t, f)| (t, (f % mems.len()) as u32))
            .collect();
        times.sort();
        let invs: Vec<_> = times.iter().map(|&(t, f)| inv(t, f)).collect();
        let opts = EngineOptions {
            cores,
            ..worker(
                total,
                if drop_rule { WhenFull::Drop } else { WhenFull::Queue },
                max_wait,
            )
        };
        let mut fx = Logged::default();
        let (planner, stats) = replay_stats(&c, tiers(mode, spares), opts, &mut fx, &invs)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(fx.peak_memory <= Bytes::from_mb(total), "{:?}", fx.peak_memory);
        let mut seen: Vec<u64> = fx.served.iter().map(|(s, _, _)| *s).collect();
        seen.dedup();
        let dropped: Vec<u64> = fx.dropped.iter().map(|d| d.seq).collect();
        prop_assert_eq!(seen.len() as u64 + stats.dropped(), invs.len() as u64);
        prop_assert!(dropped.iter().all(|d| !seen.contains(d)));
        let mut all: Vec<u64> = seen.iter().chain(&dropped).copied().collect();
        all.sort();
        prop_assert_eq!(all, (0..invs.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(planner.handlers().busy_bytes(), Bytes::ZERO);
    }
}
