//! Privileged tests of the concurrent real replay (`sock-exec run
//! --concurrent`, issue 12) and the worker model: calls overlap and queue
//! as sim's engine has them; memory drops and per-call durations; a
//! Hybrid Histogram pre-warm; pip in the background while other calls are
//! served. Set-up: `common/replay.rs`.

mod common;

use common::replay::*;
use common::*;
use sock_core::record::PathKind;
use sock_core::trace::{Catalog, Function, Package, TraceHeader};
use sock_core::Micros;
use sock_exec::install::wheel::{build_wheels, TestPackage};
use std::path::Path;

fn main() {
    run_cases(
        "run_concurrent",
        &[
            (
                "concurrent_replay_overlaps_calls_and_queues_like_sim",
                concurrent_replay_overlaps_calls_and_queues_like_sim,
            ),
            (
                "worker_memory_drops_and_call_durations_reach_handlers",
                worker_memory_drops_and_call_durations_reach_handlers,
            ),
            (
                "hybrid_prewarm_creates_a_paused_instance_served_warm",
                hybrid_prewarm_creates_a_paused_instance_served_warm,
            ),
            (
                "concurrent_prewarm_fires_at_its_own_time",
                concurrent_prewarm_fires_at_its_own_time,
            ),
            (
                "pip_runs_in_the_background_while_other_calls_are_served",
                pip_runs_in_the_background_while_other_calls_are_served,
            ),
        ],
    );
}

fn concurrent_replay_overlaps_calls_and_queues_like_sim(dir: &Path) -> TestResult {
    packages(dir)?;
    // One function without packages that runs 400 ms: a burst of three at
    // once, then a fourth call after they ended.
    let header = TraceHeader::new(
        Vec::new(),
        vec![Function {
            name: "slow".into(),
            packages: Vec::new(),
            duration_ms: 400.0,
            cold_duration_ms: None,
            memory_mb: 64.0,
        }],
        serde_json::Value::Null,
    );
    let catalog = Catalog::new(header).map_err(|e| e.to_string())?;
    let invs = [inv(0, 0), inv(0, 0), inv(0, 0), inv(3_000, 0)];
    let paths = |recs: &[sock_core::record::InvocationRecord]| {
        recs.iter().map(|r| r.path).collect::<Vec<_>>()
    };
    // Unlimited: the three overlap, each on its own instance.
    let unbounded = sock_core::worker::WorkerConfig::unbounded;
    let (recs, s) = run_concurrent(dir, "rconc", &catalog, unbounded(), &invs)?;
    check(
        recs.len() == 4 && s.invocations == 4 && s.errors == 0,
        format!("{s:?}"),
    )?;
    let want = [
        PathKind::ZygoteHit,
        PathKind::ZygoteHit,
        PathKind::ZygoteHit,
        PathKind::HandlerHit,
    ];
    check(
        paths(&recs) == want,
        format!("unlimited: {:?}", paths(&recs)),
    )?;
    let burst_queue = recs[..3]
        .iter()
        .map(|r| r.phases_us.queue)
        .max()
        .unwrap_or(0);
    check(
        burst_queue < 350_000,
        format!("the burst overlaps: the last of it waited {burst_queue} us to start (a 400 ms call is longer)"),
    )?;
    // One slot: the second and third wait for the one before, and reuse its
    // instance, as sim's queue has them do.
    let one = sock_core::worker::WorkerConfig {
        cores: Some(1),
        ..unbounded()
    };
    let (recs, s) = run_concurrent(dir, "rconc1", &catalog, one, &invs)?;
    let want = [
        PathKind::ZygoteHit,
        PathKind::HandlerHit,
        PathKind::HandlerHit,
        PathKind::HandlerHit,
    ];
    check(
        paths(&recs) == want,
        format!("one slot: {:?}", paths(&recs)),
    )?;
    check(s.queued == 2, format!("two calls queued: {s:?}"))?;
    let q = [recs[1].phases_us.queue, recs[2].phases_us.queue];
    check(
        q[0] >= 400_000 && q[1] >= 800_000,
        format!("queue waits {q:?} us: one and two 400 ms calls"),
    )?;
    check(
        recs.iter().all(|r| r.latency_us == r.phases_us.total()),
        "phases add up to the latency".to_string(),
    )?;
    // Each record's own wait, not a later call's: what follows the queue
    // is one 400 ms call and its start-up.
    let service: Vec<u64> = recs
        .iter()
        .map(|r| r.latency_us - r.phases_us.queue)
        .collect();
    check(
        service.iter().all(|&s| (400_000..1_000_000).contains(&s)),
        format!("latency minus queue per call (us): {service:?}"),
    )
}

/// The worker model applied for real (issue 10): a burst that does not fit
/// in the worker's memory drops the call that does not fit, as sim's
/// engine does; a trace's per-call duration (format version 2) is the time
/// the real handler runs.
fn worker_memory_drops_and_call_durations_reach_handlers(dir: &Path) -> TestResult {
    packages(dir)?;
    let header = TraceHeader::new(
        Vec::new(),
        vec![Function {
            name: "slow".into(),
            packages: Vec::new(),
            duration_ms: 400.0,
            cold_duration_ms: None,
            memory_mb: 64.0,
        }],
        serde_json::Value::Null,
    );
    let catalog = Catalog::new(header).map_err(|e| e.to_string())?;
    let mut long = inv(3_000, 0);
    long.duration = Some(Micros(900_000));
    let invs = [inv(0, 0), inv(0, 0), inv(0, 0), long];
    // Root Zygote 10 MB + its spare 2 MB, two 64 MB calls: 140 of 150 MB;
    // the third needs 64 more and only the (pinned) root could go: dropped.
    let worker = sock_core::worker::WorkerConfig {
        memory_mb: Some(150.0),
        cores: None,
        when_full: sock_core::worker::WhenFull::Drop,
        max_wait_s: None,
    };
    let (recs, s) = run_concurrent(dir, "rworker", &catalog, worker, &invs)?;
    check(
        s.dropped == 1 && recs.len() == 3 && s.errors == 0,
        format!("one dropped, three served: {s:?}"),
    )?;
    check(
        recs.iter().all(|r| r.seq != 2),
        format!(
            "the third call is the one dropped: {:?}",
            recs.iter().map(|r| r.seq).collect::<Vec<_>>()
        ),
    )?;
    let last = recs.last().ok_or("no records")?;
    check(
        last.seq == 3 && (900_000..1_300_000).contains(&last.phases_us.handler),
        format!(
            "the per-call duration (900 ms) is the real handler's time: {} us",
            last.phases_us.handler
        ),
    )
}

/// Issue 10: the Hybrid Histogram policy's pre-warm, applied for real. With
/// one sample enough and any CV representative, `hello` called at 0, 3, 6
/// and 9 min (trace time) has idle times in bin 2 after its second call:
/// its instance is destroyed and a new one pre-warmed 1.8 min later
/// (a fresh lean container, then paused), which serves the third and
/// fourth calls warm.
fn hybrid_prewarm_creates_a_paused_instance_served_warm(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rprewarm");
    let mut tiers = fresh_only(1000.0);
    tiers.handler.budget_mb = 1000.0;
    tiers.handler.policy =
        sock_core::handler_cache::PolicyConfig::Hybrid(sock_core::handler_cache::HybridConfig {
            min_samples: 1,
            cv_min: 0.0,
            ..Default::default()
        });
    let mut runner = start(&mut ex, &catalog, tiers, None, dir)?;
    let min = 60_000;
    let trace = [inv(0, 0), inv(3 * min, 0), inv(6 * min, 0), inv(9 * min, 0)];
    let mut paths = Vec::new();
    for (seq, i) in trace.iter().enumerate() {
        let rec = runner.step(seq as u64, *i).map_err(|e| e.to_string())?;
        paths.push(rec.path);
    }
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(s.errors == 0, format!("errors: {s:?}"))?;
    check(s.fallbacks == 0, format!("fallbacks: {s:?}"))?;
    check(
        paths
            == [
                PathKind::Fresh,
                PathKind::HandlerHit,
                PathKind::HandlerHit,
                PathKind::HandlerHit,
            ],
        format!("pre-warmed instances serve warm: {paths:?}"),
    )?;
    let prewarms = s.side_ms.get("prewarm").map_or(0, |e| e.0);
    check(prewarms == 2, format!("two pre-warms applied: {s:?}"))?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Issue 12: in the concurrent replay a due pre-warm waited for the next
/// event (here the next call, 1.2 s later in wall time), so the instance
/// was created as that call arrived. Now the loop's poll timeout includes
/// the engine's next timer, and each pre-warm is its own event, applied
/// before the call it is for: the same trace as above at 60x speed.
fn concurrent_prewarm_fires_at_its_own_time(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rprewarmc");
    let mut tiers = fresh_only(1000.0);
    tiers.handler.budget_mb = 1000.0;
    tiers.handler.policy =
        sock_core::handler_cache::PolicyConfig::Hybrid(sock_core::handler_cache::HybridConfig {
            min_samples: 1,
            cv_min: 0.0,
            ..Default::default()
        });
    let mut opts = options(dir)?;
    opts.concurrent = true;
    opts.speedup = Some(60.0);
    let runner = sock_exec::run::Runner::new(
        &mut ex,
        &catalog,
        sock_core::cost::CostParams::default(),
        tiers,
        None,
        opts,
    )
    .map_err(|e| e.to_string())?;
    let min = 60_000;
    let trace = [inv(0, 0), inv(3 * min, 0), inv(6 * min, 0), inv(9 * min, 0)];
    let mut out = Vec::new();
    let s = sock_exec::run::replay(
        runner,
        trace.iter().map(|i| Ok(*i)),
        None,
        Some(&mut out as &mut dyn std::io::Write),
    )
    .map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())?;
    let mut recs: Vec<sock_core::record::InvocationRecord> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    recs.sort_by_key(|r| r.seq);
    let paths: Vec<PathKind> = recs.iter().map(|r| r.path).collect();
    check(s.errors == 0, format!("errors: {s:?}"))?;
    check(
        paths
            == [
                PathKind::Fresh,
                PathKind::HandlerHit,
                PathKind::HandlerHit,
                PathKind::HandlerHit,
            ],
        format!("pre-warmed instances serve warm: {paths:?}"),
    )?;
    let prewarms = s.side_ms.get("prewarm").map_or(0, |e| e.0);
    check(prewarms == 2, format!("two pre-warms applied: {s:?}"))?;
    check(
        s.prewarm_timers == 2,
        format!("each pre-warm delivered as its own event, not with a call: {s:?}"),
    )?;
    for r in &recs[2..] {
        check(
            r.phases_us.queue < 20_000,
            format!(
                "call {} waited {} µs for its instance",
                r.seq, r.phases_us.queue
            ),
        )?;
    }
    Ok(())
}

/// A pip that sleeps `secs` before installing any key of package `slow`
/// (the real pip, found as `sock-exec` finds it, does the install): set
/// as `SOCK_PIP` in this case's forked child.
fn slow_pip(dir: &Path, secs: u32) -> Result<(), String> {
    let (pip, _) = sock_exec::install::detect_pip().map_err(|e| e.to_string())?;
    let script = dir.join("slow-pip.sh");
    let body = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in slow==*) sleep {secs};; esac; done\nexec {} \"$@\"\n",
        pip.join(" ")
    );
    std::fs::write(&script, body).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    // SAFETY of set_var: the harness runs each case in a single-threaded
    // forked child.
    std::env::set_var("SOCK_PIP", &script);
    Ok(())
}

/// Issue 12: pip ran blocking in the concurrent replay's one loop thread,
/// so a handler hit arriving during a cold start's install waited for it.
/// Now pip runs in the background: the hit completes while the install
/// still runs, and a second call needing the same package waits for the
/// same pip run instead of starting another.
fn pip_runs_in_the_background_while_other_calls_are_served(dir: &Path) -> TestResult {
    let wheels = dir.join("wheels");
    build_wheels(&wheels, &[TestPackage::new("slow", "1.0")]).map_err(|e| e.to_string())?;
    slow_pip(dir, 3)?;
    let slow = Package {
        name: "slow".into(),
        version: "1.0".into(),
        deps: Vec::new(),
        modules: vec!["slow".into()],
        import_ms: 1.0,
        import_mb: 1.0,
        install_ms: 3000.0,
        disk_bytes: 10_000,
        imputed: false,
    };
    let func = |name: &str, packages: Vec<u32>| Function {
        name: name.into(),
        packages,
        duration_ms: 5.0,
        cold_duration_ms: None,
        memory_mb: 64.0,
    };
    let header = TraceHeader::new(
        vec![slow],
        vec![
            func("hello", vec![]),
            func("fslow", vec![0]),
            func("fslow2", vec![0]),
        ],
        serde_json::Value::Null,
    );
    let catalog = Catalog::new(header).map_err(|e| e.to_string())?;
    // hello warms up; fslow needs the 3 s install at 1.0 s, again at 1.2 s
    // (same package: must wait for the same pip); hello again at 1.5 s, a
    // handler hit, during the install.
    // fslow2 at 1.3 s: the planner counts slow installed by then, so its
    // plan installs nothing, but its container mounts slow, so it waits
    // for that pip run too (before: its fork failed on the missing folder
    // and the planner fell back and "repaired" a healthy Zygote).
    let invs = [
        inv(0, 0),
        inv(1_000, 1),
        inv(1_200, 1),
        inv(1_300, 2),
        inv(1_500, 0),
    ];
    let unbounded = sock_core::worker::WorkerConfig::unbounded();
    let (recs, s) = run_concurrent(dir, "rpipbg", &catalog, unbounded, &invs)?;
    check(
        recs.len() == 5 && s.errors == 0 && s.fallbacks == 0 && s.zygote_create_failures == 0,
        format!("{s:?}"),
    )?;
    check(
        s.pip_background == 1 && s.pip_joined >= 2 && s.packages_installed == 1,
        format!("one pip run for two calls: {s:?}"),
    )?;
    let (a, hit) = (&recs[1], &recs[4]);
    check(
        hit.path == PathKind::HandlerHit,
        format!("the second hello is a handler hit: {:?}", hit.path),
    )?;
    check(
        a.installed == ["slow==1.0"] && a.phases_us.install >= 3_000_000,
        format!("fslow waited for its install: {a:?}"),
    )?;
    let install_end = a.arrival_us + a.phases_us.queue + a.phases_us.install;
    let hit_end = hit.arrival_us + hit.latency_us;
    check(
        hit_end < install_end,
        format!("the hit ended at {hit_end} us, after the install ({install_end} us): {hit:?}"),
    )?;
    let b = &recs[2];
    let b_install_end = b.arrival_us + b.phases_us.queue + b.phases_us.install;
    // (The planner counts slow as installed by the first call, so its
    // record lists no install; it still waits for that pip run.)
    check(
        b.phases_us.install >= 2_000_000 && b_install_end.abs_diff(install_end) < 500_000,
        format!("the second fslow waited for the same install: {b:?} vs {a:?}"),
    )?;
    check(
        recs.iter().all(|r| r.latency_us == r.phases_us.total()),
        "phases add up to the latency".to_string(),
    )
}
