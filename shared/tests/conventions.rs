//! Issue 10, the peers' conventions as the planner sees them: a call's own
//! duration (trace format version 2) and a function's `cold_duration_ms`
//! reach the handler phase, and `keepalive_from = start` (FaasCache)
//! expires an idle instance earlier than the default `end`.

use sock_core::config::{TierConfig, ZygoteMode};
use sock_core::cost::CostParams;
use sock_core::handler_cache::{KeepaliveFrom, PolicyConfig};
use sock_core::planner::{Action, Planner, SideDecision};
use sock_core::trace::{Catalog, Function, Invocation, TraceHeader};
use sock_core::{FunctionId, Micros};

fn catalog(duration_ms: f64, cold_duration_ms: Option<f64>) -> Catalog {
    let f = Function {
        name: "f".into(),
        packages: Vec::new(),
        duration_ms,
        cold_duration_ms,
        memory_mb: 50.0,
    };
    Catalog::new(TraceHeader::new(
        Vec::new(),
        vec![f],
        serde_json::Value::Null,
    ))
    .expect("valid")
}

fn tiers(ttl_s: f64, from: KeepaliveFrom) -> TierConfig {
    let mut t = TierConfig::default();
    t.zygote.mode = ZygoteMode::Off;
    t.handler.policy = PolicyConfig::Ttl { ttl_s };
    t.handler.keepalive_from = from;
    t
}

fn at(ms: u64) -> Micros {
    Micros(ms * 1000)
}

fn call(ms: u64, duration: Option<Micros>) -> Invocation {
    Invocation {
        time: at(ms),
        function: FunctionId(0),
        duration,
    }
}

#[test]
fn cold_duration_and_call_duration_reach_the_handler_phase() {
    let cat = catalog(100.0, Some(500.0));
    assert_eq!(cat.header.version, 2, "cold_duration_ms needs version 2");
    let mut p = Planner::new(
        &cat,
        CostParams::default(),
        tiers(600.0, KeepaliveFrom::End),
        None,
    )
    .expect("planner");
    // Cold: the function's cold duration.
    let cold = p.invoke(call(0, None), at(0));
    assert!(matches!(cold.action, Action::Fresh { .. }));
    assert_eq!(cold.phases.handler, at(500));
    p.complete(cold.instance, at(10_000));
    // Warm: its duration.
    let warm = p.invoke(call(20_000, None), at(20_000));
    assert!(matches!(warm.action, Action::HandlerHit { .. }));
    assert_eq!(warm.phases.handler, at(100));
    p.complete(warm.instance, at(21_000));
    // A call's own duration wins, warm or cold.
    let own = p.invoke(call(30_000, Some(Micros(42_000))), at(30_000));
    assert!(matches!(own.action, Action::HandlerHit { .. }));
    assert_eq!(own.phases.handler, Micros(42_000));
    let own_cold = p.invoke(call(30_001, Some(Micros(7))), at(30_001));
    assert!(matches!(own_cold.action, Action::Fresh { .. }));
    assert_eq!(own_cold.phases.handler, Micros(7));
    // Without a cold duration, a cold start runs for the duration.
    let plain = catalog(100.0, None);
    assert_eq!(plain.header.version, 1);
    let mut p =
        Planner::new(&plain, CostParams::default(), TierConfig::default(), None).expect("planner");
    assert_eq!(p.invoke(call(0, None), at(0)).phases.handler, at(100));
}

/// TTL 1 s; a call from 0 to 800 ms; the next at 1.5 s. Counted from the
/// call's end (800 ms) the instance lives to 1.8 s: a hit. Counted from its
/// start (0) it expired at 1 s: a cold start.
fn second_call_path(from: KeepaliveFrom) -> (bool, Vec<SideDecision>) {
    let cat = catalog(800.0, None);
    let mut p = Planner::new(&cat, CostParams::default(), tiers(1.0, from), None).expect("planner");
    let first = p.invoke(call(0, None), at(0));
    p.complete(first.instance, at(800));
    let expired = p.tick(at(1500));
    let second = p.invoke(call(1500, None), at(1500));
    (matches!(second.action, Action::HandlerHit { .. }), expired)
}

#[test]
fn keepalive_from_start_expires_earlier() {
    let (hit, expired) = second_call_path(KeepaliveFrom::End);
    assert!(hit && expired.is_empty(), "{expired:?}");
    let (hit, expired) = second_call_path(KeepaliveFrom::Start);
    assert!(!hit);
    assert!(
        matches!(expired[..], [SideDecision::ExpireHandler { .. }]),
        "{expired:?}"
    );
}

/// Out-of-order idle times (a long call released after a short one that
/// started later) still expire in time order.
#[test]
fn keepalive_from_start_orders_out_of_order_releases() {
    let cat = catalog(1.0, None);
    let mut p = Planner::new(
        &cat,
        CostParams::default(),
        tiers(1.0, KeepaliveFrom::Start),
        None,
    )
    .expect("planner");
    let long = p.invoke(call(0, None), at(0)); // started at 0
    let short = p.invoke(call(500, None), at(500)); // started at 0.5 s
    p.complete(short.instance, at(600));
    p.complete(long.instance, at(900));
    // At 1.2 s only the call started at 0 has run out.
    let gone: Vec<_> = p
        .tick(at(1200))
        .into_iter()
        .map(|d| match d {
            SideDecision::ExpireHandler { instance } => instance,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(gone, vec![long.instance]);
    assert_eq!(p.tick(at(1500)).len(), 1, "the other at 1.5 s");
}
