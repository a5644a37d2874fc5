//! Privileged tests of the paths `sock-exec run` serves with generated
//! local packages (no network): a Zygote hit does not re-run an import;
//! handlers never hold a package they did not ask for; a static tree is
//! started and used; an evicted Zygote is kept while its children live; an
//! uncached package is not kept. Set-up: `common/replay.rs`; skipping
//! rules: `common/mod.rs`.

mod common;

use common::replay::*;
use common::*;
use sock_core::config::{TierConfig, ZygoteMode};
use sock_core::record::PathKind;
use sock_core::zygote::StaticTreeNode;
use sock_exec::container::{ContainerSpec, Role};
use std::path::Path;
use std::time::Duration;

fn main() {
    run_cases(
        "run_paths",
        &[
            ("zygote_hit_does_not_reimport", zygote_hit_does_not_reimport),
            (
                "runner_serves_every_path_with_own_packages_only",
                runner_serves_every_path_with_own_packages_only,
            ),
            (
                "static_tree_is_started_and_used",
                static_tree_is_started_and_used,
            ),
            (
                "evicted_zygote_is_kept_while_its_children_live",
                evicted_zygote_is_kept_while_its_children_live,
            ),
            ("uncached_package_is_not_kept", uncached_package_is_not_kept),
        ],
    );
}

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
    // finish destroyed the child, then the kept Zygote. Dead is gone or a
    // zombie: a Zygote forked from the root Zygote, killed through its
    // cgroup after the root died, waits as a zombie for whoever it was
    // reparented to (the executor reaps those at shutdown), so on a loaded
    // host it may still be one here.
    let dead = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(true)
    };
    let t0 = std::time::Instant::now();
    while !dead(pid) && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    check(dead(pid), "the kept Zygote is gone once its child is")?;
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
