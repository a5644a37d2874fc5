//! Keep-alive policies beyond TTL / LRU / GDSF (issue 10): the Hybrid
//! Histogram with pre-warming, a fixed lifetime not reset on reuse, and
//! GDSF's cost term as FaasCache defines it. Golden scenarios computed by
//! hand, and a property over random traces.

mod common;

use common::{catalog, inv, tiers, Logged};
use proptest::prelude::*;
use sock_core::config::{TierConfig, ZygoteMode};
use sock_core::cost::CostParams;
use sock_core::engine::{
    Call, Dropped, Effects, Engine, EngineError, EngineOptions, EngineStats, Served, VirtualReplay,
};
use sock_core::handler_cache::{GdsfCost, HybridConfig, PolicyConfig};
use sock_core::planner::{Action, Plan, Planner, SideDecision, TierUsage};
use sock_core::trace::{Catalog, Function, Invocation, Package, TraceHeader};
use sock_core::worker::WhenFull;
use sock_core::{Bytes, InstanceId, Micros};

const MIN: u64 = 60_000; // ms

/// [`Logged`], plus idle handler memory integrated over time (MB·s), from
/// one observation to the next.
#[derive(Default)]
struct Idle {
    log: Logged,
    last: Option<(Micros, Bytes)>,
    mb_s: f64,
}

impl Effects for Idle {
    type Error = EngineError;
    fn apply(&mut self, p: &Planner<'_>, d: &[SideDecision], t: Micros) -> Result<(), EngineError> {
        self.log.apply(p, d, t)
    }
    fn serve(&mut self, p: &Planner<'_>, c: &Call, plan: &Plan) -> Result<Served, EngineError> {
        self.log.serve(p, c, plan)
    }
    fn observe(&mut self, now: Micros, u: TierUsage) {
        if let Some((t, idle)) = self.last {
            self.mb_s += idle.as_mb_f64() * (now.0 - t.0) as f64 / 1e6;
        }
        self.last = Some((now, u.handler_idle));
        self.log.observe(now, u);
    }
    fn dropped(&mut self, p: &Planner<'_>, d: &Dropped) {
        self.log.dropped(p, d)
    }
}

fn run<'c>(
    c: &'c Catalog,
    t: TierConfig,
    o: EngineOptions,
    fx: &mut Idle,
    invs: &[Invocation],
) -> (Planner<'c>, EngineStats) {
    let planner = Planner::new(c, CostParams::default(), t, None).expect("planner");
    let mut r = VirtualReplay::new(Engine::new(planner, o));
    for (seq, i) in invs.iter().enumerate() {
        r.arrive(fx, seq as u64, *i).expect("arrive");
    }
    r.finish(fx).expect("finish");
    let e = r.into_engine();
    let s = e.stats();
    (e.into_planner(), s)
}

fn with_policy(p: PolicyConfig) -> TierConfig {
    let mut t = tiers(ZygoteMode::Off, 0);
    t.handler.policy = p;
    t
}

fn paths(fx: &Idle) -> Vec<&'static str> {
    fx.log
        .served
        .iter()
        .map(|(_, _, p)| p.action.path().as_str())
        .collect()
}

fn prewarms(fx: &Idle) -> Vec<(InstanceId, Micros)> {
    fx.log
        .applied
        .iter()
        .filter_map(|d| match d {
            SideDecision::Prewarm { instance, at, .. } => Some((*instance, *at)),
            _ => None,
        })
        .collect()
}

/// One function (50 MB, 100 ms handler) called every 10 minutes, 30 times.
fn every_ten_minutes() -> (Catalog, Vec<Invocation>) {
    let c = catalog(&[], &[&[]], 100.0);
    let invs = (0..30).map(|k| inv(k * 10 * MIN, 0)).collect();
    (c, invs)
}

#[test]
fn a_periodic_function_is_prewarmed_and_holds_less_idle_memory_than_a_ttl() {
    let (c, invs) = every_ten_minutes();
    let mut fx = Idle::default();
    let hybrid = PolicyConfig::Hybrid(HybridConfig::default());
    let (p, _) = run(
        &c,
        with_policy(hybrid),
        EngineOptions::default(),
        &mut fx,
        &invs,
    );
    // Only the first call is cold: calls 1-10 find the instance kept by the
    // fallback (4 h) while fewer than 10 idle times are known; from call
    // 10's end the histogram (every idle time in bin 9) is representative.
    let mut want = vec!["handler_hit"; 30];
    want[0] = "fresh";
    assert_eq!(paths(&fx), want);
    let k = p.counters();
    // Requested after calls 10..=29; the last is still pending at the end.
    assert_eq!(
        (k.prewarms, k.prewarms_skipped, k.prewarms_cancelled),
        (19, 0, 0)
    );
    assert_eq!((k.policy.fallbacks, k.policy.from_histogram), (10, 20));
    assert_eq!((k.policy.idle_times, k.policy.out_of_bounds), (29, 0));
    // Pre-warm window: bin 9's lower edge, 9 min, shrunk by 10% = 486 s
    // after call 10's end (10 x 600 s + a hit's 100 ms handler + overheads).
    let pw = prewarms(&fx);
    let first = pw[0].1 .0 as f64 / 1e6;
    assert!(first > 6000.0 + 486.0 && first < 6000.0 + 487.0, "{first}");
    // Each pre-warmed instance serves the next call warm.
    for (i, (instance, _)) in pw.iter().enumerate() {
        let plan = &fx.log.served[11 + i].2;
        assert_eq!(
            plan.action,
            Action::HandlerHit {
                instance: *instance
            }
        );
    }
    // Idle memory-time: ~114 s per period once pre-warming (10 min - 486 s)
    // instead of the whole period under a 10-minute TTL.
    let mut ttl = Idle::default();
    let ttl_policy = PolicyConfig::Ttl { ttl_s: 600.0 };
    run(
        &c,
        with_policy(ttl_policy),
        EngineOptions::default(),
        &mut ttl,
        &invs,
    );
    assert_eq!(
        paths(&ttl),
        want,
        "calls every 600 s are all warm under a 600 s TTL"
    );
    let per_period = 50.0 * 600.0;
    assert!(ttl.mb_s > 28.0 * per_period, "{}", ttl.mb_s);
    let hybrid_expected = 50.0 * (10.0 * 600.0 + 19.0 * 114.0);
    assert!(
        (fx.mb_s - hybrid_expected).abs() < 0.01 * hybrid_expected,
        "{}",
        fx.mb_s
    );
    assert!(fx.mb_s < 0.6 * ttl.mb_s, "{} vs {}", fx.mb_s, ttl.mb_s);
}

#[test]
fn a_flat_histogram_falls_back_to_the_fixed_keep_alive() {
    // Idle times 0.5, 1.5, ..., 9.5 min, twice: every bin of a 10-minute
    // range holds 2, so the coefficient of variation is 0 (< 2).
    let c = catalog(&[], &[&[]], 100.0);
    let mut t = 0;
    let mut invs = vec![inv(0, 0)];
    for _ in 0..2 {
        for b in 0..10 {
            t += b * MIN + MIN / 2;
            invs.push(inv(t, 0));
        }
    }
    // Then an idle time beyond the 1-hour fallback: cold.
    invs.push(inv(t + 61 * MIN, 0));
    let cfg = HybridConfig {
        range_min: 10,
        fallback_s: 3600.0,
        min_samples: 5,
        ..HybridConfig::default()
    };
    let mut fx = Idle::default();
    let (p, _) = run(
        &c,
        with_policy(PolicyConfig::Hybrid(cfg)),
        EngineOptions::default(),
        &mut fx,
        &invs,
    );
    let mut want = vec!["handler_hit"; 22];
    want[0] = "fresh";
    want[21] = "fresh";
    assert_eq!(paths(&fx), want);
    let k = p.counters();
    assert_eq!(
        (k.prewarms, k.policy.from_histogram, k.policy.fallbacks),
        (0, 0, 22)
    );
    // The 61-minute idle time is out of the 10-minute range.
    assert_eq!(k.policy.out_of_bounds, 1);
    assert_eq!(k.handler_expirations, 1);
}

/// f0: 50 MB, 100 ms; f1: 50 MB, 2-minute handler.
fn two_functions() -> Catalog {
    let f = |name: &str, duration_ms| Function {
        name: name.into(),
        packages: vec![0],
        duration_ms,
        cold_duration_ms: None,
        memory_mb: 50.0,
    };
    let pkg = Package {
        name: "p".into(),
        version: "1".into(),
        deps: Vec::new(),
        modules: vec!["p".into()],
        import_ms: 10.0,
        import_mb: 1.0,
        install_ms: 10.0,
        disk_bytes: 1 << 20,
        imputed: false,
    };
    let h = TraceHeader::new(
        vec![pkg],
        vec![f("f0", 100.0), f("f1", 120_000.0)],
        serde_json::Value::Null,
    );
    Catalog::new(h).expect("catalog")
}

#[test]
fn a_prewarm_that_does_not_fit_the_worker_is_skipped_and_counted() {
    let c = two_functions();
    // f0 every 10 minutes (11 calls): after call 10 (t = 6000 s) a
    // pre-warm is due at ~6486 s. f1 runs from 6400 s to 6520 s and holds
    // 50 of the worker's 60 MB then, so the pre-warm does not fit.
    let mut invs: Vec<_> = (0..11).map(|k| inv(k * 10 * MIN, 0)).collect();
    invs.push(inv(6_400_000, 1));
    invs.push(inv(6_600_000, 0));
    let worker = EngineOptions {
        cores: None,
        memory: Some(Bytes::from_mb(60)),
        when_full: WhenFull::Queue,
        max_wait: None,
    };
    let hybrid = || with_policy(PolicyConfig::Hybrid(HybridConfig::default()));
    let mut fx = Idle::default();
    let (p, stats) = run(&c, hybrid(), worker, &mut fx, &invs);
    let k = p.counters();
    assert_eq!((k.prewarms, k.prewarms_skipped), (0, 1));
    assert_eq!(stats.dropped(), 0);
    assert!(fx.log.peak_memory <= Bytes::from_mb(60));
    // So f0's call at 6600 s is cold.
    assert_eq!(paths(&fx).last(), Some(&"fresh"));
    // With room for both, the same pre-warm happens and serves it warm.
    let roomy = EngineOptions {
        memory: Some(Bytes::from_mb(100)),
        ..worker
    };
    let mut fx = Idle::default();
    let (p, _) = run(&c, hybrid(), roomy, &mut fx, &invs);
    assert_eq!(
        (p.counters().prewarms, p.counters().prewarms_skipped),
        (1, 0)
    );
    assert_eq!(paths(&fx).last(), Some(&"handler_hit"));
}

#[test]
fn a_fixed_lifetime_ends_at_first_idle_plus_lifetime_despite_reuse() {
    let c = catalog(&[], &[&[]], 100.0);
    // Idle first at ~0.1 s; reused at 50 s; the lifetime (100 s) ends at
    // ~100.1 s, so the call at 120 s is cold. A TTL of 100 s (reset at
    // ~50.1 s) keeps it until ~150.1 s: warm.
    let invs = [inv(0, 0), inv(50_000, 0), inv(120_000, 0)];
    let mut fixed = Idle::default();
    let (p, _) = run(
        &c,
        with_policy(PolicyConfig::Fixed { lifetime_s: 100.0 }),
        EngineOptions::default(),
        &mut fixed,
        &invs,
    );
    assert_eq!(paths(&fixed), ["fresh", "handler_hit", "fresh"]);
    assert_eq!(p.counters().handler_expirations, 1);
    let mut ttl = Idle::default();
    run(
        &c,
        with_policy(PolicyConfig::Ttl { ttl_s: 100.0 }),
        EngineOptions::default(),
        &mut ttl,
        &invs,
    );
    assert_eq!(paths(&ttl), ["fresh", "handler_hit", "handler_hit"]);
    // Busy when its lifetime ends: first idle at ~20.1 s, reused at 90 s
    // and busy until ~110 s, past its end (~100.1 s): destroyed then.
    let c = catalog(&[], &[&[]], 20_000.0);
    let invs = [inv(0, 0), inv(90_000, 0), inv(115_000, 0)];
    let mut fx = Idle::default();
    run(
        &c,
        with_policy(PolicyConfig::Fixed { lifetime_s: 80.0 }),
        EngineOptions::default(),
        &mut fx,
        &invs,
    );
    assert_eq!(paths(&fx), ["fresh", "handler_hit", "fresh"]);
    let destroyed = fx
        .log
        .applied
        .iter()
        .any(|d| matches!(d, SideDecision::Destroy { instance } if *instance == InstanceId(0)));
    assert!(destroyed, "{:?}", fx.log.applied);
}

#[test]
fn gdsf_cold_minus_warm_ranks_differently_than_cold() {
    // f0 imports a 500 ms package (a costly cold start, cold handler =
    // warm); f1 imports nothing but its cold call runs 5 s instead of
    // 10 ms. Cold start cost: f0 > f1, so `cold` evicts f1 first; cold
    // minus warm: f1 (~5 s more) > f0 (~0.5 s more), so f0 goes first.
    let pkg = Package {
        name: "slow".into(),
        version: "1".into(),
        deps: Vec::new(),
        modules: vec!["slow".into()],
        import_ms: 500.0,
        import_mb: 1.0,
        install_ms: 10.0,
        disk_bytes: 1 << 20,
        imputed: false,
    };
    let f = |name: &str, packages: Vec<u32>, cold: Option<f64>| Function {
        name: name.into(),
        packages,
        duration_ms: 10.0,
        cold_duration_ms: cold,
        memory_mb: 50.0,
    };
    let h = TraceHeader::new(
        vec![pkg],
        vec![
            f("f0", vec![0], None),
            f("f1", vec![], Some(5000.0)),
            f("f2", vec![], None),
        ],
        serde_json::Value::Null,
    );
    let c = Catalog::new(h).expect("catalog");
    // Both idle by 10 s, then f2's release needs room in 100 MB.
    let invs = [inv(0, 0), inv(0, 1), inv(10_000, 2)];
    let evicted = |p: PolicyConfig| {
        let mut t = with_policy(p);
        t.handler.budget_mb = 100.0;
        let mut fx = Idle::default();
        run(&c, t, EngineOptions::default(), &mut fx, &invs);
        let e: Vec<InstanceId> = fx
            .log
            .applied
            .iter()
            .filter_map(|d| match d {
                SideDecision::EvictHandler { instance } => Some(*instance),
                _ => None,
            })
            .collect();
        e
    };
    // Instances: 0 serves f0, 1 serves f1.
    assert_eq!(evicted(PolicyConfig::Gdsf), [InstanceId(1)]);
    let cmw = PolicyConfig::GdsfCost {
        cost: GdsfCost::ColdMinusWarm,
    };
    assert_eq!(evicted(cmw), [InstanceId(0)]);
}

#[test]
fn policy_objects_read_strictly_with_defaults() {
    let parse = |t: &str| serde_json::from_str::<PolicyConfig>(t).map_err(|e| e.to_string());
    assert_eq!(
        parse(r#"{"kind":"hybrid"}"#),
        Ok(PolicyConfig::Hybrid(HybridConfig::default()))
    );
    let h = parse(r#"{"kind":"hybrid","range_min":60,"cv_min":1.5,"fallback_s":600}"#);
    let want = HybridConfig {
        range_min: 60,
        cv_min: 1.5,
        fallback_s: 600.0,
        ..HybridConfig::default()
    };
    assert_eq!(h, Ok(PolicyConfig::Hybrid(want)));
    assert_eq!(
        parse(r#"{"kind":"fixed","lifetime_s":60}"#),
        Ok(PolicyConfig::Fixed { lifetime_s: 60.0 })
    );
    assert_eq!(
        parse(r#"{"kind":"gdsf","cost":"cold"}"#),
        Ok(PolicyConfig::Gdsf)
    );
    let cmw = PolicyConfig::GdsfCost {
        cost: GdsfCost::ColdMinusWarm,
    };
    assert_eq!(
        parse(r#"{"kind":"gdsf","cost":"cold_minus_warm"}"#),
        Ok(cmw.clone())
    );
    let text = serde_json::to_string(&cmw).expect("json");
    assert_eq!(text, r#"{"kind":"gdsf","cost":"cold_minus_warm"}"#);
    let e = parse(r#"{"kind":"ttl","ttl_s":5,"lifetime_s":5}"#).expect_err("mixed");
    assert!(e.contains("only \"fixed\" takes it"), "{e}");
    let e = parse(r#"{"kind":"fixed"}"#).expect_err("no lifetime");
    assert!(e.contains("missing field `lifetime_s`"), "{e}");
    let e = parse(r#"{"kind":"hybrid","cv":2}"#).expect_err("typo");
    assert!(e.contains("unknown field `cv`"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// With the Hybrid Histogram (pre-warming on), worker memory never
    /// exceeds its total and every call is served or dropped exactly once.
    #[test]
    fn hybrid_keeps_memory_bounded_and_serves_or_drops_each_call_once(
        calls in prop::collection::vec((0u64..120 * MIN, 0u32..3), 1..80),
        total in 40u64..300,
        cores in prop::option::of(1usize..4),
        drop_rule in any::<bool>(),
        min_samples in 1u64..4,
        mode in prop::sample::select(vec![ZygoteMode::Off, ZygoteMode::Root, ZygoteMode::Dynamic]),
    ) {
        let c = catalog(&[(20.0, 5.0), (40.0, 10.0)], &[&[0], &[1], &[0, 1]], 30_000.0);
        let mut calls = calls;
        calls.sort();
        let invs: Vec<_> = calls.iter().map(|&(t, f)| inv(t, f)).collect();
        let mut t = tiers(mode, 1);
        t.handler.policy = PolicyConfig::Hybrid(HybridConfig {
            min_samples,
            cv_min: 0.0,
            ..HybridConfig::default()
        });
        let opts = EngineOptions {
            cores,
            memory: Some(Bytes::from_mb(total)),
            when_full: if drop_rule { WhenFull::Drop } else { WhenFull::Queue },
            max_wait: Some(Micros(60_000_000)),
        };
        let mut fx = Idle::default();
        let (planner, stats) = run(&c, t, opts, &mut fx, &invs);
        prop_assert!(fx.log.peak_memory <= Bytes::from_mb(total), "{:?}", fx.log.peak_memory);
        let mut seen: Vec<u64> = fx.log.served.iter().map(|(s, _, _)| *s).collect();
        seen.dedup();
        let dropped: Vec<u64> = fx.log.dropped.iter().map(|d| d.seq).collect();
        let mut all: Vec<u64> = seen.iter().chain(&dropped).copied().collect();
        all.sort();
        prop_assert_eq!(all, (0..invs.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(seen.len() as u64 + stats.dropped(), invs.len() as u64);
        prop_assert_eq!(planner.handlers().busy_bytes(), Bytes::ZERO);
        let k = planner.counters();
        prop_assert_eq!(k.prewarms as usize, prewarms(&fx).len());
    }
}

/// `tiers.handler.pause_grace_ms`: a hit within the grace of its
/// instance's release pays no unpause (the executor has not paused it
/// yet); one after it does; zero grace keeps SOCK's pause at release.
#[test]
fn a_hit_within_the_pause_grace_pays_no_unpause() {
    let c = catalog(&[], &[&[]], 100.0);
    // Releases at about 100 ms and 200 ms (the handler runs 100 ms).
    let invs = [inv(0, 0), inv(150, 0), inv(2_000, 0)];
    let unpause_of = |grace_ms: f64| {
        let mut t = with_policy(PolicyConfig::Lru);
        t.handler.pause_grace_ms = grace_ms;
        let mut fx = Idle::default();
        run(&c, t, EngineOptions::default(), &mut fx, &invs);
        fx.log
            .served
            .iter()
            .map(|(_, _, plan)| plan.phases.unpause)
            .collect::<Vec<_>>()
    };
    let unpause = CostParams::default().unpause_ms;
    let cost = Micros::from_ms_f64(unpause);
    assert_eq!(
        unpause_of(0.0)[1..],
        [cost, cost],
        "no grace: every hit thaws"
    );
    assert_eq!(
        unpause_of(1_000.0)[1..],
        [Micros::ZERO, cost],
        "the hit 50 ms after its release is within a 1 s grace; the one 1.8 s after is not"
    );
}
