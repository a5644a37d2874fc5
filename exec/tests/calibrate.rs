//! Privileged test of `sock-exec calibrate` (`sock_exec::calibrate::run`):
//! a short calibration (n = 5) of the host parameters and of a tiny trace's
//! two synthetic packages, installed offline from generated wheels. Runs as
//! root (CI); see `common/mod.rs` for skipping rules.

mod common;

use common::*;
use sock_core::cost::{CostModel, CostParams};
use sock_core::trace::{Catalog, Function, Package, TraceHeader, TraceWriter};
use sock_core::{FunctionId, Micros};
use sock_exec::cli::CalibrateArgs;
use sock_exec::install::wheel::{build_wheels, TestPackage};
use std::path::Path;

fn main() {
    run_cases(
        "calibrate",
        &[("calibrates_host_and_packages", calibrates_host_and_packages)],
    );
}

/// `a` (50 ms, 8 MB) needs `b` (10 ms, 2 MB): (trace header, wheels).
fn tiny_trace() -> (TraceHeader, Vec<TestPackage>) {
    let package = |name: &str, deps: Vec<u32>, import_ms: f64, import_mb: f64| Package {
        name: name.into(),
        version: "1.0".into(),
        deps,
        modules: Vec::new(),
        import_ms,
        import_mb,
        install_ms: 1000.0,
        disk_bytes: 10_000,
        imputed: false,
    };
    let packages = vec![
        package("calib-a", vec![1], 50.0, 8.0),
        package("calib-b", Vec::new(), 10.0, 2.0),
    ];
    let functions = vec![Function {
        name: "f0".into(),
        packages: vec![0],
        duration_ms: 1.0,
        cold_duration_ms: None,
        memory_mb: 64.0,
    }];
    // What `sock-exec packages` makes for this trace.
    let wheels = packages
        .iter()
        .map(|p| {
            let mut t = TestPackage::new(&p.name, &p.version);
            t.import_ms = p.import_ms;
            t.import_mb = p.import_mb;
            t.requires = p
                .deps
                .iter()
                .map(|&d| packages[d as usize].name.clone())
                .collect();
            t
        })
        .collect();
    let header = TraceHeader::new(packages, functions, serde_json::Value::Null);
    (header, wheels)
}

/// A loud skip (or, in CI, a failure) when this host has no usable pip.
fn pip_missing() -> Option<TestResult> {
    let e = sock_exec::install::detect_pip().err()?;
    if std::env::var("SOCK_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        return Some(Err(format!(
            "{e}; SOCK_REQUIRE_PRIVILEGED=1 forbids skipping"
        )));
    }
    eprintln!("\n!!! SKIPPED: calibrate: {e} !!!\n");
    Some(Ok(()))
}

fn calibrates_host_and_packages(dir: &Path) -> TestResult {
    if let Some(r) = pip_missing() {
        return r;
    }
    let (header, wheels) = tiny_trace();
    let trace = dir.join("trace.json");
    let file = std::fs::File::create(&trace).map_err(|e| e.to_string())?;
    let mut w =
        TraceWriter::new(std::io::BufWriter::new(file), &header).map_err(|e| e.to_string())?;
    w.write(sock_core::trace::Invocation {
        time: Micros(0),
        function: FunctionId(0),
        duration: None,
    })
    .map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    build_wheels(&dir.join("wheels"), &wheels).map_err(|e| e.to_string())?;

    let state = dir.join("state");
    let args = CalibrateArgs {
        out: dir.join("calibration.json"),
        trace: Some(trace),
        find_links: Some(dir.join("wheels")),
        n: 5,
        max_packages: None,
    };
    let report = sock_exec::calibrate::run(&state, &base_root(), &args)
        .map_err(|e| format!("calibrate: {e:#}"))?;
    println!("{report}");

    let text = std::fs::read_to_string(&args.out).map_err(|e| e.to_string())?;
    let p: CostParams = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let catalog = Catalog::new(header).map_err(|e| e.to_string())?;
    // The model takes it: every number finite and >= 0, every key known.
    CostModel::new(p.clone(), &catalog).map_err(|e| format!("{e}: {text}"))?;
    let fields = [
        p.container_create_ms,
        p.python_start_ms,
        p.fork_base_ms,
        p.fork_per_mb_ms,
        p.unpause_ms,
        p.interpreter_mb,
        p.zygote_fork_mb,
    ];
    check(
        fields.iter().all(|v| v.is_finite() && *v >= 0.0),
        format!("a bad number: {text}"),
    )?;
    check(
        (p.import_scale, p.install_scale) == (1.0, 1.0),
        "scales stay 1",
    )?;
    check(
        p.python_start_ms > p.fork_base_ms,
        format!("a fork must beat a fresh interpreter: {text}"),
    )?;
    check(p.interpreter_mb > 0.0, format!("interpreter_mb: {text}"))?;

    let a = p
        .packages
        .get("calib-a==1.0")
        .ok_or("calib-a not measured")?;
    let b = p
        .packages
        .get("calib-b==1.0")
        .ok_or("calib-b not measured")?;
    let import_a = a.import_ms.unwrap_or(f64::NAN);
    check(
        (30.0..=200.0).contains(&import_a),
        format!("calib-a imports in 50 ms, measured {import_a}: {text}"),
    )?;
    let mb_a = a.import_mb.unwrap_or(f64::NAN);
    check(
        (4.0..=16.0).contains(&mb_a),
        format!("calib-a holds 8 MB, measured {mb_a}: {text}"),
    )?;
    for (k, c) in [("a", a), ("b", b)] {
        // b was installed as a's dependency; its time is still recorded.
        check(
            c.install_ms.is_some_and(|ms| ms > 0.0),
            format!("calib-{k}'s install time: {text}"),
        )?;
    }

    // Nothing left behind: cgroups, mounts, the work folder.
    let leftovers: Vec<_> = std::fs::read_dir(&state)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("calibrate-"))
        .collect();
    check(leftovers.is_empty(), format!("left {leftovers:?}"))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let mounts = sock_exec::container::mounts_below(&info, &state);
    check(mounts.is_empty(), format!("mounts left: {mounts:?}"))?;
    let backend = sock_exec::cgroup::CgroupBackend::host().map_err(|e| e.to_string())?;
    let cgroups = backend.list_below(Path::new(sock_exec::calibrate::CGROUP_PREFIX));
    check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"))?;
    check(
        report.contains("container_create_ms") && report.contains("calib-a==1.0"),
        report.clone(),
    )
}
