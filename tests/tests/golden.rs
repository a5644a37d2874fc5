//! Golden scenarios: tiny traces whose hits, evictions and latencies were
//! computed by hand from the default cost parameters:
//! container create 2 ms, interpreter start 21 ms, fork 0.7 ms + 0.04 ms/MB
//! of Zygote memory, unpause 0.5 ms, transport 0.3 ms on every path, root
//! Zygote 10 MB, forked Zygote 2 MB plus its imports. Every Zygote keeps one
//! pre-forked child (a spare, charged 2 MB), ready one fork after the
//! Zygote is; a hit on a ready spare costs 0.5 ms instead of the fork.
//! Package `a`: import 100 ms / 10 MB, install 500 ms, 1 MB on disk;
//! package `b` the same. Handlers run 10 ms and use 100 MB.

use sock_core::record::{InvocationRecord, PathKind};
use sock_sim::settings::Settings;
use sock_sim::summary::Summary;
use std::io::Write;

fn header(functions: &[(&str, &[u32])]) -> String {
    let pkg = |n: &str| {
        format!(
            r#"{{"name":"{n}","version":"1.0","import_ms":100,"import_mb":10,"install_ms":500,"disk_bytes":1048576}}"#
        )
    };
    let fns: Vec<String> = functions
        .iter()
        .map(|(n, p)| {
            format!(r#"{{"name":"{n}","packages":{p:?},"duration_ms":10,"memory_mb":100}}"#)
        })
        .collect();
    format!(
        r#"{{"format":"sock-trace","version":1,"packages":[{},{}],"functions":[{}]}}"#,
        pkg("a"),
        pkg("b"),
        fns.join(",")
    )
}

/// Runs `invocations` (time in ms, function index) through sim's replay.
fn run(
    functions: &[(&str, &[u32])],
    invocations: &[(u64, u32)],
    settings: &Settings,
) -> (Summary, Vec<InvocationRecord>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.json");
    let mut f = std::fs::File::create(&trace).expect("create");
    writeln!(f, "{}", header(functions)).expect("write");
    for (ms, func) in invocations {
        writeln!(f, "[{},{}]", ms * 1000, func).expect("write");
    }
    drop(f);
    let records = dir.path().join("r.jsonl");
    let summary = sock_sim::simulate(&trace, settings, Some(&records)).expect("simulate");
    let mut recs: Vec<InvocationRecord> = std::fs::read_to_string(&records)
        .expect("records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    recs.sort_by_key(|r| r.seq);
    (summary, recs)
}

fn latencies(recs: &[InvocationRecord]) -> Vec<u64> {
    recs.iter().map(|r| r.latency_us).collect()
}

fn settings(f: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings::default();
    f(&mut s);
    s
}

use sock_core::config::ZygoteMode;
use sock_core::handler_cache::PolicyConfig;

const F_A: &[(&str, &[u32])] = &[("fa", &[0])];

#[test]
fn sock_first_call_forks_root_then_handler_hits() {
    let (s, r) = run(F_A, &[(0, 0), (1000, 0), (2000, 0)], &Settings::default());
    // 2 create + 1.1 fork (10 MB root; its spare is ready only at 1.1 ms)
    // + 500 install + 100 import + 10 run + 0.3 transport; then hits:
    // 0.5 unpause + 10 + 0.3.
    assert_eq!(latencies(&r), vec![613_400, 10_800, 10_800]);
    assert!(!r[0].spare);
    assert_eq!(r[0].path, PathKind::ZygoteHit);
    assert_eq!((r[0].zygote, r[0].zygote_depth), (Some(0), Some(0)));
    assert_eq!(r[0].installed, vec!["a==1.0".to_string()]);
    assert_eq!(r[0].imported, vec!["a==1.0".to_string()]);
    assert_eq!(r[1].path, PathKind::HandlerHit);
    assert_eq!(r[1].instance, r[0].instance);
    assert_eq!(
        (
            s.paths.handler_hit.count,
            s.paths.zygote_hit.count,
            s.paths.fresh.count
        ),
        (2, 1, 0)
    );
    assert_eq!(s.zygotes.created, 1);
    assert_eq!((s.install_cache.hits, s.install_cache.misses), (0, 1));
}

#[test]
fn grown_zygote_serves_the_next_cold_start_without_imports() {
    let no_handlers = settings(|s| s.tiers.handler.budget_mb = 0.0);
    let (s, r) = run(F_A, &[(0, 0), (1000, 0)], &no_handlers);
    // Second call: the child Zygote {a} (ready at 103.1 ms) has its spare
    // ready (one fork of root 10 MB + child 12 MB later), so 2 create + 0.5
    // spare hit + 10 + 0.3, nothing to install or import.
    assert_eq!(latencies(&r), vec![613_400, 12_800]);
    assert_eq!((r[1].zygote, r[1].zygote_depth), (Some(1), Some(1)));
    assert!(r[1].spare);
    assert!(r[1].imported.is_empty() && r[1].installed.is_empty());
    assert_eq!(s.paths.zygote_hit_by_depth["1"].count, 1);
}

#[test]
fn a_zygote_is_not_used_before_it_is_ready() {
    let no_handlers = settings(|s| s.tiers.handler.budget_mb = 0.0);
    // The child Zygote is ready at 2 + 1.1 + 100 = 103.1 ms; a call at 50 ms
    // must use the root again, whose spare is ready by then (and a is
    // installed by then: no install).
    let (_, r) = run(F_A, &[(0, 0), (50, 0), (200, 0)], &no_handlers);
    assert_eq!(r[1].zygote, Some(0));
    assert!(r[1].spare);
    assert_eq!(r[1].latency_us, 2_000 + 500 + 100_000 + 10_000 + 300);
    assert_eq!(r[2].zygote, Some(1));
}

#[test]
fn without_zygotes_every_cold_start_pays_the_interpreter_and_imports() {
    let off = settings(|s| {
        s.tiers.handler.budget_mb = 0.0;
        s.tiers.zygote.mode = ZygoteMode::Off;
    });
    let (s, r) = run(F_A, &[(0, 0), (1000, 0)], &off);
    // 2 create + 21 interpreter + 500 install (first only) + 100 import + 10
    // + 0.3 transport
    assert_eq!(latencies(&r), vec![633_300, 133_300]);
    assert_eq!(s.paths.fresh.count, 2);
    let root = settings(|s| {
        s.tiers.handler.budget_mb = 0.0;
        s.tiers.zygote.mode = ZygoteMode::Root;
    });
    let (s, r) = run(F_A, &[(0, 0), (1000, 0)], &root);
    // The second call takes the root's spare: 0.5 instead of the 1.1 fork.
    assert_eq!(latencies(&r), vec![613_400, 112_800]);
    assert_eq!((s.zygotes.created, s.zygotes.live_at_end), (0, 1));
}

#[test]
fn concurrent_calls_need_separate_instances() {
    let (s, r) = run(F_A, &[(0, 0), (1, 0), (2000, 0)], &Settings::default());
    assert_ne!(r[0].instance, r[1].instance);
    assert_eq!(
        r[1].path,
        PathKind::ZygoteHit,
        "the first instance is still busy"
    );
    assert_eq!(r[2].path, PathKind::HandlerHit);
    assert_eq!(s.paths.handler_hit.count, 1);
}

#[test]
fn lru_evicts_the_least_recently_paused_instance() {
    let fns: &[(&str, &[u32])] = &[("f", &[]), ("g", &[]), ("h", &[])];
    let lru = settings(|s| {
        s.tiers.handler.budget_mb = 150.0;
        s.tiers.handler.policy = PolicyConfig::Lru;
    });
    // f pauses (100 MB); g pausing evicts f; f comes back cold.
    let (s, r) = run(fns, &[(0, 0), (1000, 1), (2000, 0), (3000, 1)], &lru);
    let paths: Vec<PathKind> = r.iter().map(|x| x.path).collect();
    assert_eq!(
        paths,
        vec![
            PathKind::ZygoteHit,
            PathKind::ZygoteHit,
            PathKind::ZygoteHit,
            PathKind::ZygoteHit
        ]
    );
    assert_eq!(s.evictions.handler, 3);
    // A package-free function forked from the root: 2 + 1.1 + 10 + 0.3 ms.
    assert_eq!(r[0].latency_us, 13_400);
}

#[test]
fn ttl_expires_idle_instances() {
    let ttl = settings(|s| s.tiers.handler.policy = PolicyConfig::Ttl { ttl_s: 1.0 });
    let (s, r) = run(F_A, &[(0, 0), (900, 0), (5000, 0)], &ttl);
    assert_eq!(r[1].path, PathKind::HandlerHit);
    assert_eq!(r[2].path, PathKind::ZygoteHit);
    assert_eq!(s.evictions.handler_expired, 1);
}

#[test]
fn install_cache_evicts_least_recently_used_unpinned_package() {
    let fns: &[(&str, &[u32])] = &[("fa", &[0]), ("fb", &[1])];
    let small = settings(|s| {
        s.tiers.handler.budget_mb = 0.0;
        s.tiers.zygote.mode = ZygoteMode::Off;
        s.tiers.install.budget_mb = 1.5;
    });
    let (s, r) = run(fns, &[(0, 0), (1000, 1), (2000, 0)], &small);
    assert_eq!(s.evictions.install, 2);
    assert_eq!((s.install_cache.hits, s.install_cache.misses), (0, 3));
    assert!(r.iter().all(|x| x.installed.len() == 1));
}

#[test]
fn zygote_tree_evicts_the_leaf_with_fewest_hits_per_byte() {
    let fns: &[(&str, &[u32])] = &[("fa", &[0]), ("fb", &[1])];
    // Root 10 MB + one 12 MB child fit in 30 MB; a second child evicts the first.
    let tight = settings(|s| {
        s.tiers.handler.budget_mb = 0.0;
        s.tiers.zygote.budget_mb = 30.0;
    });
    let (s, r) = run(fns, &[(0, 0), (1000, 1), (2000, 0)], &tight);
    assert_eq!(s.evictions.zygote, 2);
    assert_eq!(s.zygotes.created, 3);
    assert_eq!(r[2].zygote, Some(0), "the {{a}} Zygote was evicted");
}

#[test]
fn static_tree_from_openlambda_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree.json");
    std::fs::write(
        &tree,
        r#"{"packages": [], "children": [{"packages": ["a==1.0"], "children": []}]}"#,
    )
    .expect("write");
    let st = settings(|s| {
        s.tiers.handler.budget_mb = 0.0;
        s.tiers.zygote.mode = ZygoteMode::Static;
        s.zygote_tree = Some(tree.clone());
    });
    let (s, r) = run(F_A, &[(0, 0)], &st);
    // Static Zygotes hold their packages from the start (their spares are
    // ready one fork later): 2 + 1.58 + 10 + 0.3 ms.
    assert_eq!(latencies(&r), vec![13_880]);
    assert_eq!(s.zygotes.created, 0);
}

#[test]
fn limited_concurrency_queues_fifo() {
    let fns: &[(&str, &[u32])] = &[("f", &[]), ("g", &[])];
    let one = settings(|s| s.worker.cores = Some(1));
    let (_, r) = run(fns, &[(0, 0), (0, 1)], &one);
    assert_eq!(r[0].phases_us.queue, 0);
    // g waits for f (13.4 ms), then takes the root's spare: 2 + 0.5 + 10 + 0.3.
    assert_eq!(r[1].phases_us.queue, 13_400);
    assert_eq!(r[1].latency_us, 13_400 + 12_800);
}
