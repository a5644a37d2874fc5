//! Set-up shared by the `sock-exec run` test files (run_paths.rs,
//! run_failures.rs, run_concurrent.rs): generated local packages a, b, c
//! and the trace catalog over them, run options, runners and a concurrent
//! replay helper.

use super::*;
use sock_core::config::{TierConfig, ZygoteMode};
use sock_core::cost::CostParams;
use sock_core::trace::{Catalog, Function, Invocation, Package, TraceHeader};
use sock_core::zygote::StaticTreeNode;
use sock_core::{FunctionId, Micros};
use sock_exec::container::{ContainerSpec, Executor};
use sock_exec::install::wheel::{build_wheels, TestPackage};
use sock_exec::install::{Installer, Source};
use sock_exec::run::{RunOptions, Runner};
use std::path::Path;
use std::time::Duration;

/// Wheels for packages `a` (slow: 300 ms, 20 MiB), `b` (20 ms, needs a),
/// `c` (10 ms) and an installer over them.
pub fn packages(dir: &Path) -> Result<Installer, String> {
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

pub const IMPORTS_SEEN: &str = r#"
import builtins
def f(event):
    try:
        log = open("/tmp/sock-test-imports.log").read().split()
    except FileNotFoundError:
        log = []
    return {"in_process": list(builtins.sock_test_imports), "imported_here": log[0::2]}
"#;

pub fn spec_with(spec: &ContainerSpec, imports: &[&str]) -> ContainerSpec {
    ContainerSpec {
        imports: imports.iter().map(|s| s.to_string()).collect(),
        ..spec.clone()
    }
}

/// Packages a, b (needs a), c; functions: hello (none), fa (a), fab (b, so
/// a and b), fc (c). Short handlers.
pub fn catalog() -> Catalog {
    catalog_with(false)
}

/// With `missing`, also a package d that has no wheel and a function fd
/// needing it.
pub fn catalog_with(missing: bool) -> Catalog {
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

pub fn options(dir: &Path) -> Result<RunOptions, String> {
    Ok(RunOptions {
        work_dir: dir.join("work"),
        source: Source::FindLinks(dir.join("wheels")),
        python_version: base_python()?,
        speedup: None,
        timeout: Duration::from_secs(30),
        progress_every: 0,
        worker: sock_core::worker::WorkerConfig::unbounded(),
        concurrent: false,
        handler_dirs: None,
        from_clients: false,
    })
}

/// Dynamic Zygotes that grow for any gain.
pub fn dynamic() -> TierConfig {
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = ZygoteMode::Dynamic;
    tiers.zygote.min_gain_ms = 0.0;
    tiers
}

pub fn start<'e, 'c>(
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

pub fn inv(ms: u64, f: u32) -> Invocation {
    Invocation {
        time: Micros(ms * 1000),
        function: FunctionId(f),
        duration: None,
    }
}

/// Fresh starts only, every instance destroyed when it completes, and an
/// install cache of `install_mb`.
pub fn fresh_only(install_mb: f64) -> TierConfig {
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = ZygoteMode::Off;
    tiers.handler.budget_mb = 0.0;
    tiers.install.budget_mb = install_mb;
    tiers
}

/// Every file and folder name below `dir`.
pub fn walk_names(dir: &Path) -> Vec<String> {
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

/// Replays `invs` with `sock-exec run --concurrent` (speedup 1); returns
/// the records by `seq` and the summary.
pub fn run_concurrent(
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
