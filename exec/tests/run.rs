//! Privileged tests of the real three-tier cache with generated local
//! packages (no network): a Zygote hit does not re-run an import; handlers
//! never hold a package they did not ask for; a crashed Zygote leads to a
//! fresh start and a repaired tree, not a failed request; a trace replayed
//! with `sock-exec run`'s runner serves every path. See `common/mod.rs` for
//! the skipping rules.

mod common;

use common::*;
use sock_core::config::{TierConfig, ZygoteMode};
use sock_core::cost::CostParams;
use sock_core::record::PathKind;
use sock_core::trace::{Catalog, Function, Invocation, Package, TraceHeader};
use sock_core::zygote::StaticTreeNode;
use sock_core::{FunctionId, Micros};
use sock_exec::container::{ContainerSpec, Executor, Role};
use sock_exec::install::wheel::{build_wheels, TestPackage};
use sock_exec::install::{Installer, Source};
use sock_exec::run::{RunOptions, Runner};
use std::path::Path;
use std::time::Duration;

fn main() {
    run_cases(
        "run",
        &[
            ("zygote_hit_does_not_reimport", zygote_hit_does_not_reimport),
            (
                "runner_serves_every_path_with_own_packages_only",
                runner_serves_every_path_with_own_packages_only,
            ),
            (
                "crashed_zygote_falls_back_as_sim_does_and_is_repaired",
                crashed_zygote_falls_back_as_sim_does_and_is_repaired,
            ),
            (
                "static_tree_is_started_and_used",
                static_tree_is_started_and_used,
            ),
            (
                "uninstallable_package_fails_only_its_function",
                uninstallable_package_fails_only_its_function,
            ),
            (
                "evicted_zygote_is_kept_while_its_children_live",
                evicted_zygote_is_kept_while_its_children_live,
            ),
            (
                "evicting_an_uninstallable_package_does_not_abort_the_run",
                evicting_an_uninstallable_package_does_not_abort_the_run,
            ),
            ("uncached_package_is_not_kept", uncached_package_is_not_kept),
            (
                "error_mid_run_tears_everything_down",
                error_mid_run_tears_everything_down,
            ),
            ("sigterm_tears_the_run_down", sigterm_tears_the_run_down),
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
        ],
    );
}

/// Wheels for packages `a` (slow: 300 ms, 20 MiB), `b` (20 ms, needs a),
/// `c` (10 ms) and an installer over them.
fn packages(dir: &Path) -> Result<Installer, String> {
    let wheels = dir.join("wheels");
    let mut a = TestPackage::new("a", "1.0");
    a.import_ms = 300.0;
    a.import_mb = 20.0;
    let mut b = TestPackage::new("b", "1.0");
    b.import_ms = 20.0;
    b.requires = vec!["a".into()];
    let mut c = TestPackage::new("c", "1.0");
    c.import_ms = 10.0;
    build_wheels(&wheels, &[a, b, c]).map_err(|e| e.to_string())?;
    Installer::new(
        dir.join("cache"),
        Source::FindLinks(wheels),
        &base_python()?,
    )
    .map_err(|e| e.to_string())
}

const IMPORTS_SEEN: &str = r#"
import builtins
def f(event):
    try:
        log = open("/tmp/sock-test-imports.log").read().split()
    except FileNotFoundError:
        log = []
    return {"in_process": list(builtins.sock_test_imports), "imported_here": log[0::2]}
"#;

fn zygote_hit_does_not_reimport(dir: &Path) -> TestResult {
    let inst = packages(dir)?;
    let mut mounts = Vec::new();
    for key in ["a==1.0", "b==1.0"] {
        let got = inst.install(key).map_err(|e| e.to_string())?;
        mounts.push((got.key, got.path));
    }
    let mut ex = executor(dir, "rreimport");
    let root = root_zygote(&mut ex)?;
    // A child Zygote that imports a (300 ms).
    let zspec = ContainerSpec {
        packages: mounts[..1].to_vec(),
        imports: vec!["a".into()],
        ..ContainerSpec::default()
    };
    let (za, zr) = ex
        .fork_from(&root, &zspec, Role::Zygote, T)
        .map_err(|e| e.to_string())?;
    check(
        zr.import_us >= 290_000,
        format!("Zygote imported a in {zr:?}"),
    )?;
    // A handler needing a and b, forked from it: imports only b.
    let mut spec = handler(dir, "h", IMPORTS_SEEN);
    spec.packages = mounts.clone();
    spec.imports = vec!["b".into()];
    let (mut c, report) = ex
        .fork_from(&za, &spec, Role::Handler, T)
        .map_err(|e| e.to_string())?;
    check(
        report.import_us < 150_000,
        format!(
            "importing b alone took {} us: a was imported again?",
            report.import_us
        ),
    )?;
    let r = ex.invoke(&mut c, "0", T).map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
    check(
        v["in_process"] == serde_json::json!(["a", "b"]),
        format!("modules in the process: {v}"),
    )?;
    // The handler's own container saw only b's import run.
    check(
        v["imported_here"] == serde_json::json!(["b"]),
        format!("imports run in the handler's container: {v}"),
    )?;
    // A fresh container pays for both.
    let mut fresh = ex
        .create(&spec_with(&spec, &["a", "b"]))
        .map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut fresh, "0", T).map_err(|e| e.to_string())?;
    check(
        r.import_us.unwrap_or(0) >= 300_000,
        format!("fresh import took {:?} us", r.import_us),
    )?;
    for c in [c, fresh, za, root] {
        ex.destroy(c).map_err(|e| e.to_string())?;
    }
    ex.shutdown().map_err(|e| e.to_string())
}

fn spec_with(spec: &ContainerSpec, imports: &[&str]) -> ContainerSpec {
    ContainerSpec {
        imports: imports.iter().map(|s| s.to_string()).collect(),
        ..spec.clone()
    }
}

/// Packages a, b (needs a), c; functions: hello (none), fa (a), fab (b, so
/// a and b), fc (c). Short handlers.
fn catalog() -> Catalog {
    catalog_with(false)
}

/// With `missing`, also a package d that has no wheel and a function fd
/// needing it.
fn catalog_with(missing: bool) -> Catalog {
    let pkg = |name: &str, deps: Vec<u32>, ms: f64| Package {
        name: name.into(),
        version: "1.0".into(),
        deps,
        modules: vec![name.into()],
        import_ms: ms,
        import_mb: 1.0,
        install_ms: 500.0,
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
    let mut packages = vec![
        pkg("a", vec![], 300.0),
        pkg("b", vec![0], 20.0),
        pkg("c", vec![], 10.0),
    ];
    let mut functions = vec![
        func("hello", vec![]),
        func("fa", vec![0]),
        func("fab", vec![1]),
        func("fc", vec![2]),
    ];
    if missing {
        packages.push(pkg("d", vec![], 5.0));
        functions.push(func("fd", vec![3]));
    }
    let header = TraceHeader::new(packages, functions, serde_json::Value::Null);
    Catalog::new(header).expect("catalog")
}

fn options(dir: &Path) -> Result<RunOptions, String> {
    Ok(RunOptions {
        work_dir: dir.join("work"),
        source: Source::FindLinks(dir.join("wheels")),
        python_version: base_python()?,
        speedup: None,
        timeout: Duration::from_secs(30),
        progress_every: 0,
        worker: sock_core::worker::WorkerConfig::unbounded(),
        concurrent: false,
    })
}

/// Dynamic Zygotes that grow for any gain.
fn dynamic() -> TierConfig {
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = ZygoteMode::Dynamic;
    tiers.zygote.min_gain_ms = 0.0;
    tiers
}

fn start<'e, 'c>(
    ex: &'e mut Executor,
    catalog: &'c Catalog,
    tiers: TierConfig,
    tree: Option<&StaticTreeNode>,
    dir: &Path,
) -> Result<Runner<'e, 'c>, String> {
    Runner::new(
        ex,
        catalog,
        CostParams::default(),
        tiers,
        tree,
        options(dir)?,
    )
    .map_err(|e| e.to_string())
}

fn inv(ms: u64, f: u32) -> Invocation {
    Invocation {
        time: Micros(ms * 1000),
        function: FunctionId(f),
        duration: None,
    }
}

fn runner_serves_every_path_with_own_packages_only(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rpaths");
    let tiers = dynamic();
    let mut runner = start(&mut ex, &catalog, tiers, None, dir)?;
    // fa cold (forks the root Zygote, grows a Zygote {a}, ready ~0.3 s
    // later in trace time), fab at 1 s (forks {a}, imports only b), fc,
    // hello; then the same four again once all finished (handler hits).
    let trace = [
        inv(0, 1),
        inv(1_000, 2),
        inv(1_001, 3),
        inv(1_002, 0),
        inv(20_000, 1),
        inv(20_001, 2),
        inv(20_002, 3),
        inv(20_003, 0),
    ];
    let mut paths = Vec::new();
    for (seq, i) in trace.iter().enumerate() {
        let rec = runner.step(seq as u64, *i).map_err(|e| e.to_string())?;
        paths.push(rec.path);
        if seq == 1 {
            check(
                rec.path == PathKind::ZygoteHit
                    && rec.zygote_depth == Some(1)
                    && rec.imported == vec!["b==1.0".to_string()],
                format!("fab forks Zygote {{a}} and imports only b: {rec:?}"),
            )?;
        }
    }
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(s.errors == 0, format!("errors: {s:?}"))?;
    check(s.foreign_modules == 0, format!("foreign packages: {s:?}"))?;
    check(s.fallbacks == 0, format!("fallbacks: {s:?}"))?;
    check(
        paths[..4].iter().all(|p| *p == PathKind::ZygoteHit),
        format!("cold starts fork from Zygotes: {paths:?}"),
    )?;
    check(
        paths[4..].iter().all(|p| *p == PathKind::HandlerHit),
        format!("warm calls resume paused handlers: {paths:?}"),
    )?;
    check(s.zygotes_created >= 1, format!("{s:?}"))?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn crashed_zygote_falls_back_as_sim_does_and_is_repaired(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rrepair");
    let mut tiers = dynamic();
    tiers.handler.budget_mb = 0.0; // every call is a cold start
    let mut runner = start(&mut ex, &catalog, tiers.clone(), None, dir)?;
    let invs = [inv(0, 1), inv(1_000, 1), inv(2_000, 1), inv(3_000, 1)];
    let first = runner.step(0, invs[0]).map_err(|e| e.to_string())?;
    check(first.path == PathKind::ZygoteHit, format!("{first:?}"))?;
    let second = runner.step(1, invs[1]).map_err(|e| e.to_string())?;
    check(
        second.path == PathKind::ZygoteHit && second.zygote != first.zygote,
        format!("second call forks from the grown Zygote {{a}}: {second:?}"),
    )?;
    // Crash the Zygote {a}.
    let z = second.zygote.expect("zygote");
    let pid = runner.zygote_pids()[&sock_core::ZygoteId(z)];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(50));
    // The planner learns it died: the fallback forks from its parent, the
    // root, while {a} is repaired.
    let third = runner.step(2, invs[2]).map_err(|e| e.to_string())?;
    check(
        third.path == PathKind::ZygoteHit && third.zygote == first.zygote,
        format!("a crashed Zygote means a fork from its parent: {third:?}"),
    )?;
    let pids = runner.zygote_pids();
    check(
        pids.get(&sock_core::ZygoteId(z)).is_some_and(|p| *p != pid),
        format!("Zygote {z} repaired with a new process: {pids:?} (was {pid})"),
    )?;
    let fourth = runner.step(3, invs[3]).map_err(|e| e.to_string())?;
    check(
        fourth.path == PathKind::ZygoteHit && fourth.zygote == Some(z),
        format!("the repaired Zygote serves again: {fourth:?}"),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 0 && s.fallbacks == 1 && s.zygote_repairs == 1,
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())?;
    // The same trace in sim's engine, with the failure injected where the
    // crash was: the same decision for every call.
    let real = [&first, &second, &third, &fourth].map(|r| (r.path, r.zygote, r.spare));
    let simulated = simulate_with_failure(&catalog, tiers, &invs, 2)?;
    check(
        real.to_vec() == simulated,
        format!("sock-exec {real:?} vs the engine with an injected failure {simulated:?}"),
    )
}

/// Replays `invs` through sock-core's engine with predicted times (as sim
/// does), the Zygote of invocation `fail_seq` dying; returns each
/// invocation's (path, Zygote, spare).
fn simulate_with_failure(
    catalog: &Catalog,
    tiers: TierConfig,
    invs: &[Invocation],
    fail_seq: u64,
) -> Result<Vec<(PathKind, Option<u32>, bool)>, String> {
    use sock_core::engine::{Call, Effects, Engine, EngineError, Served, VirtualReplay};
    use sock_core::planner::{Action, Failure, Plan, Planner, SideDecision};
    struct Predicted(u64, Vec<(PathKind, Option<u32>, bool)>);
    impl Effects for Predicted {
        type Error = EngineError;
        fn apply(
            &mut self,
            _: &Planner<'_>,
            _: &[SideDecision],
            _: Micros,
        ) -> Result<(), EngineError> {
            Ok(())
        }
        fn serve(
            &mut self,
            _: &Planner<'_>,
            call: &Call,
            plan: &Plan,
        ) -> Result<Served, EngineError> {
            if call.seq == self.0 && call.attempt == 0 {
                return Ok(Served::Failed(Failure::ZygoteDied));
            }
            let (zygote, spare) = match &plan.action {
                Action::Fork { zygote, spare, .. } => (Some(zygote.0), *spare),
                _ => (None, false),
            };
            self.1.push((plan.action.path(), zygote, spare));
            Ok(Served::Done {
                service: plan.phases.total() - plan.phases.queue,
            })
        }
    }
    let planner =
        Planner::new(catalog, CostParams::default(), tiers, None).map_err(|e| e.to_string())?;
    let mut replay = VirtualReplay::new(Engine::new(planner, Default::default()));
    let mut fx = Predicted(fail_seq, Vec::new());
    for (seq, i) in invs.iter().enumerate() {
        replay
            .arrive(&mut fx, seq as u64, *i)
            .map_err(|e| e.to_string())?;
    }
    replay.finish(&mut fx).map_err(|e| e.to_string())?;
    Ok(fx.1)
}

fn static_tree_is_started_and_used(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rstatic");
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = ZygoteMode::Static;
    tiers.handler.budget_mb = 0.0;
    // OpenLambda's format: root -> {a} -> {a, b}; and root -> {c}.
    let tree: StaticTreeNode = serde_json::from_str(
        r#"{"packages": [], "children": [
            {"packages": ["a"], "children": [{"packages": ["b==1.0"]}]},
            {"packages": ["c"]}
        ]}"#,
    )
    .map_err(|e| e.to_string())?;
    let mut runner = start(&mut ex, &catalog, tiers, Some(&tree), dir)?;
    // Every node runs before the first call, each a live process.
    let pids = runner.zygote_pids();
    check(
        pids.len() == 4,
        format!("root + 3 static Zygotes: {pids:?}"),
    )?;
    // fab needs {a, b}: the deepest node serves it, importing nothing.
    let rec = runner.step(0, inv(0, 2)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit
            && rec.zygote_depth == Some(2)
            && rec.imported.is_empty()
            && rec.installed.is_empty(),
        format!("fab from the static {{a, b}} Zygote: {rec:?}"),
    )?;
    check(
        rec.phases_us.import < 50_000,
        format!("nothing left to import: {rec:?}"),
    )?;
    // fc from {c}; hello from the root.
    let rec = runner.step(1, inv(10, 3)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit && rec.zygote_depth == Some(1),
        format!("fc from {{c}}: {rec:?}"),
    )?;
    let rec = runner.step(2, inv(20, 0)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit && rec.zygote_depth == Some(0),
        format!("hello from the root: {rec:?}"),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 0 && s.foreign_modules == 0 && s.fallbacks == 0 && s.zygotes_created == 0,
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn uninstallable_package_fails_only_its_function(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog_with(true);
    let mut ex = executor(dir, "rmissing");
    let mut runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
    // fd needs d, which has no wheel: the call fails (500), the run goes on.
    let rec = runner.step(0, inv(0, 4)).map_err(|e| e.to_string())?;
    check(
        rec.installed.is_empty() || rec.installed == vec!["d==1.0".to_string()],
        format!("{rec:?}"),
    )?;
    let rec = runner.step(1, inv(10, 1)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit,
        format!("fa still served: {rec:?}"),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 1 && s.packages_failed == vec!["d==1.0".to_string()],
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn evicted_zygote_is_kept_while_its_children_live(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rretire");
    let mut tiers = dynamic();
    // Room for the root (10 MB) and one child Zygote (3 MB), not two
    // (without spares, which the budget would also have to hold).
    tiers.zygote.budget_mb = 14.0;
    tiers.zygote.spares = 0;
    let mut runner = start(&mut ex, &catalog, tiers, None, dir)?;
    runner.step(0, inv(0, 1)).map_err(|e| e.to_string())?; // fa: grows {a}
    let rec = runner.step(1, inv(1_000, 2)).map_err(|e| e.to_string())?; // fab from {a}
    let za = rec.zygote.map(sock_core::ZygoteId).ok_or("fab forked")?;
    check(rec.zygote_depth == Some(1), format!("{rec:?}"))?;
    let pid = runner.zygote_pids()[&za];
    // fc grows {c}, which evicts {a} while fab's (paused) handler lives.
    runner.step(2, inv(2_000, 3)).map_err(|e| e.to_string())?;
    check(
        !runner.zygote_pids().contains_key(&za),
        "the planner evicted {a}",
    )?;
    check(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
        "the evicted Zygote's process is kept while its child lives",
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.zygotes_kept_for_children == 1 && s.zygotes_retired == 1 && s.errors == 0,
        format!("{s:?}"),
    )?;
    // finish destroyed the child, then the kept Zygote.
    std::thread::sleep(Duration::from_millis(50));
    check(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "the kept Zygote is gone once its child is",
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Fresh starts only, every instance destroyed when it completes, and an
/// install cache of `install_mb`.
fn fresh_only(install_mb: f64) -> TierConfig {
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = ZygoteMode::Off;
    tiers.handler.budget_mb = 0.0;
    tiers.install.budget_mb = install_mb;
    tiers
}

/// Issue 12: the planner evicts a package pip could not install (it is in
/// the model's cache, not on disk); `installer.remove` answered
/// NotInstalled and `?` ended the run.
fn evicting_an_uninstallable_package_does_not_abort_the_run(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog_with(true);
    let mut ex = executor(dir, "revict");
    // Room for two packages of 10,000 bytes.
    let mut runner = start(&mut ex, &catalog, fresh_only(0.025), None, dir)?;
    // fd (d has no wheel), fa (a), then fc: c evicts d, the LRU package.
    // (Far apart: each call, pip's time included, is over before the next.)
    for (seq, i) in [inv(0, 4), inv(60_000, 1), inv(120_000, 3)]
        .iter()
        .enumerate()
    {
        runner
            .step(seq as u64, *i)
            .map_err(|e| format!("step {seq}: {e}"))?;
    }
    check(
        runner.planner().counters().package_evictions >= 1,
        format!(
            "the planner evicted d: {:?}, cache {:?}",
            runner.planner().counters(),
            runner.planner().installs().used()
        ),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 1 && s.packages_failed == vec!["d==1.0".to_string()],
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Issue 12: a package the planner installs "uncached" (it does not fit
/// the install cache) stayed on disk for good, so the disk went over
/// budget and the next miss measured ~0 ms against a predicted install.
fn uncached_package_is_not_kept(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "runcached");
    // Smaller than any package: every install is uncached.
    let mut runner = start(&mut ex, &catalog, fresh_only(0.005), None, dir)?;
    let cache = dir.join("work/packages");
    for seq in 0..2u64 {
        let rec = runner
            .step(seq, inv(seq * 1_000, 3))
            .map_err(|e| e.to_string())?;
        check(
            rec.installed == vec!["c==1.0".to_string()] && rec.path == PathKind::Fresh,
            format!("each call of fc installs c: {rec:?}"),
        )?;
        check(
            !cache.join("c==1.0").exists(),
            "an uncached package is not in the install cache",
        )?;
    }
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.packages_installed == 2 && s.errors == 0,
        format!("pip ran for both misses: {s:?}"),
    )?;
    let left: Vec<_> = walk_names(&dir.join("work"))
        .into_iter()
        .filter(|n| n.starts_with("c==1.0") || n.starts_with("c-1.0"))
        .collect();
    check(
        left.is_empty(),
        format!("copies of c left on disk: {left:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Every file and folder name below `dir`.
fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.file_name().to_string_lossy().into_owned());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk_names(&e.path()));
            }
        }
    }
    out
}

/// Issue 12: any `?` in serve / apply returned without a teardown,
/// leaving frozen handlers, Zygotes, mounts and cgroups. Dropping the
/// runner and the executor on the error path now tears everything down.
fn error_mid_run_tears_everything_down(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let kids = child_count();
    let mut ex = executor(dir, "rteardown");
    let backend = ex.backend().clone();
    {
        let mut runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
        // fa: a Zygote hit, then paused (a frozen handler), and a grown Zygote.
        runner.step(0, inv(0, 1)).map_err(|e| e.to_string())?;
        runner.step(1, inv(5_000, 1)).map_err(|e| e.to_string())?;
        // fc's handler folder vanishes: its container cannot be made.
        std::fs::remove_dir_all(dir.join("work/handlers/f3")).map_err(|e| e.to_string())?;
        check(
            runner.step(2, inv(10_000, 3)).is_err(),
            "creating fc's container fails",
        )?;
    }
    drop(ex);
    check(
        mount_count() == 0,
        format!("mounts left: {}", mount_count()),
    )?;
    let cgroups = backend.list_below(&prefix("rteardown"));
    check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"))?;
    check(
        child_count() == kids,
        format!("processes left: {kids} -> {}", child_count()),
    )
}

/// Issue 12: SIGINT / SIGTERM killed a run with its containers left
/// behind. Now the replay stops at the next invocation and tears down.
/// The run is a forked child (signals and the stop flag are per process);
/// its records go to a pipe, so the parent signals it mid-replay.
fn sigterm_tears_the_run_down(dir: &Path) -> TestResult {
    use std::io::BufRead;
    packages(dir)?;
    let kids = child_count();
    let (r, w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
    match sock_exec::sys::process::fork().map_err(|e| e.to_string())? {
        sock_exec::sys::process::ForkResult::Child => {
            drop(r);
            let code = (|| -> Result<i32, String> {
                sock_exec::sys::signal::catch_stop_signals().map_err(|e| e.to_string())?;
                let catalog = catalog();
                let mut ex = executor(dir, "rsignal");
                let runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
                // Calls of fa and fc, 1 ms apart: far more than run before the signal.
                let trace = (0..5_000u64)
                    .map(|i| Ok::<_, sock_core::trace::TraceError>(inv(i, 1 + 2 * (i % 2) as u32)));
                let mut out = std::fs::File::from(w);
                let result = sock_exec::run::replay(
                    runner,
                    trace,
                    None,
                    Some(&mut out as &mut dyn std::io::Write),
                );
                drop(ex);
                Ok(match result {
                    Err(sock_exec::run::RunError::Interrupted(_)) => 3,
                    Err(_) => 2,
                    Ok(_) => 1,
                })
            })();
            sock_exec::sys::process::exit_now(code.unwrap_or(4))
        }
        sock_exec::sys::process::ForkResult::Parent { child } => {
            drop(w);
            let mut lines = std::io::BufReader::new(std::fs::File::from(r)).lines();
            // Two records: a handler container and Zygotes exist.
            for _ in 0..2 {
                lines
                    .next()
                    .ok_or("the run ended before it was signalled")?
                    .map_err(|e| e.to_string())?;
            }
            nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| e.to_string())?;
            let status = sock_exec::sys::process::wait(child).map_err(|e| e.to_string())?;
            check(
                status == nix::sys::wait::WaitStatus::Exited(child, 3),
                format!("the run stops with Interrupted: {status:?}"),
            )?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    // Processes killed after the run's own exit were reparented to us.
    while let Ok(st) = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(-1),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        if st == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
    check(
        mount_count() == 0,
        format!("mounts left: {}", mount_count()),
    )?;
    let backend = sock_exec::cgroup::CgroupBackend::host().map_err(|e| e.to_string())?;
    let cgroups = backend.list_below(&prefix("rsignal"));
    check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"))?;
    check(
        child_count() == kids,
        format!("processes left: {kids} -> {}", child_count()),
    )
}

/// Replays `invs` with `sock-exec run --concurrent` (speedup 1); returns
/// the records by `seq` and the summary.
fn run_concurrent(
    dir: &Path,
    prefix: &str,
    catalog: &Catalog,
    worker: sock_core::worker::WorkerConfig,
    invs: &[Invocation],
) -> Result<
    (
        Vec<sock_core::record::InvocationRecord>,
        sock_exec::run::RunSummary,
    ),
    String,
> {
    let mut ex = executor(dir, prefix);
    let mut opts = options(dir)?;
    opts.concurrent = true;
    opts.worker = worker;
    let runner = Runner::new(
        &mut ex,
        catalog,
        CostParams::default(),
        TierConfig::default(),
        None,
        opts,
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let summary = sock_exec::run::replay(
        runner,
        invs.iter().map(|i| Ok(*i)),
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
    Ok((recs, summary))
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
