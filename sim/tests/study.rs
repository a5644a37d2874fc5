//! `sim trace stats` (the package study) on a hand-computed golden trace,
//! and `sim trace build` + replay + stats end to end through the binary.

mod common;

use common::*;
use sock_core::trace::{Catalog, Function, Package, TraceHeader};
use sock_sim::study::compute::study;

fn pkg(name: &str, import_ms: f64, install_ms: f64) -> Package {
    Package {
        name: name.into(),
        version: "1".into(),
        deps: vec![],
        modules: vec![],
        import_ms,
        import_mb: 1.0,
        install_ms,
        disk_bytes: 1000,
        imputed: false,
    }
}

fn func(name: &str, packages: Vec<u32>) -> Function {
    Function {
        name: name.into(),
        packages,
        duration_ms: 1.0,
        cold_duration_ms: None,
        memory_mb: 10.0,
    }
}

#[test]
fn golden_study_numbers() {
    // f0 = {a, b} called 6 times, f1 = {a} 3 times, f2 = {} once; c unused.
    let header = TraceHeader::new(
        vec![
            pkg("a", 10.0, 100.0),
            pkg("b", 30.0, 300.0),
            pkg("c", 5.0, 50.0),
        ],
        vec![
            func("f0", vec![0, 1]),
            func("f1", vec![0]),
            func("f2", vec![]),
        ],
        serde_json::Value::Null,
    );
    let catalog = Catalog::new(header).expect("valid");
    let s = study("g.json", &catalog, &[6, 3, 1]);
    // Imports by function: a 2, b 1 (of 3); by invocation: a 9, b 6 (of 15).
    let top1 = s
        .popularity
        .iter()
        .find(|r| r.label == "top 1")
        .expect("top 1 row");
    assert!(
        (top1.by_function - 2.0 / 3.0).abs() < 1e-12 && (top1.by_invocation - 0.6).abs() < 1e-12
    );
    let smallest = &s.popularity[0];
    assert_eq!(
        (smallest.label.as_str(), smallest.packages),
        ("top 0.02%", 1)
    );
    // Fits in the top 1 (= a): f1 and f2, i.e. 2/3 of functions, 4/10 of calls.
    let fit1 = &s.closure_fit[0];
    assert_eq!(fit1.top, 1);
    assert!((fit1.functions - 2.0 / 3.0).abs() < 1e-12 && (fit1.invocations - 0.4).abs() < 1e-12);
    assert_eq!(
        (s.closure_size.min, s.closure_size.max, s.empty_closures),
        (0.0, 2.0, 1)
    );
    assert_eq!(
        (
            s.costs.closure_import_ms.max,
            s.costs.closure_install_ms.p50
        ),
        (40.0, 100.0)
    );
    assert_eq!(s.skew.rows[0], (1.0, 0.6));
    assert_eq!(s.top_packages[0].package, "a==1");
    assert_eq!(s.trace.packages_in_use, 2);
    let text = s.to_text();
    assert!(
        text.contains("0.02%") && text.contains("66.7%") && text.contains("60.0%"),
        "{text}"
    );
}

#[test]
fn build_replay_and_study_through_the_binary() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture(dir.path());
    let d = data.to_str().expect("utf8");
    let out = sim_in(
        &[
            "trace", "build", "--data", d, "--slice", "t", "--out", "t.json",
        ],
        dir.path(),
    );
    ok(&out);
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("9 invocations") && report.contains("imputed"),
        "{report}"
    );
    let summary: serde_json::Value = serde_json::from_str(&ok(&sim_in(
        &["--trace", "t.json", "--format", "json"],
        dir.path(),
    )))
    .expect("json");
    assert_eq!(summary["invocations"], 9);
    let text = ok(&sim_in(
        &["trace", "stats", "--trace", "t.json", "--out", "study"],
        dir.path(),
    ));
    assert!(
        text.contains("package popularity") && text.contains("invocation skew"),
        "{text}"
    );
    let study = dir.path().join("study");
    for f in [
        "study.json",
        "packages.csv",
        "functions.csv",
        "popularity.png",
        "popularity.svg",
        "import_cost.png",
        "closure_fit.svg",
    ] {
        let meta = std::fs::metadata(study.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    let png = std::fs::read(study.join("install_cost.png")).expect("png");
    assert_eq!(&png[..4], b"\x89PNG");
    let csv = std::fs::read_to_string(study.join("packages.csv")).expect("csv");
    assert!(
        csv.starts_with("package,version,functions,invocations,import_ms"),
        "{csv}"
    );
    // Same trace, same study text.
    assert_eq!(
        text,
        ok(&sim_in(
            &[
                "trace",
                "stats",
                "--trace",
                "t.json",
                "--out",
                "again",
                "--no-plots"
            ],
            dir.path()
        ))
    );
}

#[test]
fn failed_builds_leave_no_output_and_errors_are_clear() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = sim_in(&["trace", "build", "--out", "x.json"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("give --invocations FILE, or --data DIR"),
        "{err}"
    );
    let data = fixture(dir.path());
    ok(&sim_in(
        &[
            "trace",
            "build",
            "--data",
            data.to_str().expect("p"),
            "--slice",
            "t",
            "--out",
            "t.json",
        ],
        dir.path(),
    ));
    std::fs::write(
        data.join("azure-functions-2019/memory_t.csv"),
        "HashOwner,HashApp\no1,a1\n",
    )
    .expect("write");
    let out = sim_in(
        &[
            "trace",
            "build",
            "--data",
            data.to_str().expect("p"),
            "--slice",
            "t",
            "--out",
            "x.json",
        ],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("memory_t.csv: line 1: no column `AverageAllocatedMb`"),
        "{err}"
    );
    assert!(
        !dir.path().join("x.json").exists(),
        "a failed build leaves no trace file"
    );
    let out = sim_in(
        &[
            "trace",
            "stats",
            "--trace",
            "t.json",
            "--font",
            "no/such/font.ttf",
        ],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot read font no/such/font.ttf"),
        "{err}"
    );
    let out = sim_in(&["trace", "stats", "--trace", "nope.json"], dir.path());
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nope.json"));
}

#[test]
fn real_trace_study() {
    let Some(data) = real_data() else {
        eprintln!("\n*** SKIPPED real_trace_study: ../shared/data not found ***\n");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    ok(&sim_in(
        &[
            "trace",
            "build",
            "--data",
            data.to_str().expect("p"),
            "--out",
            "a.json",
        ],
        dir.path(),
    ));
    let text = ok(&sim_in(
        &["trace", "stats", "--trace", "a.json", "--out", "s"],
        dir.path(),
    ));
    assert!(
        text.contains("500 functions, 3037902 invocations"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("s/study.json")).expect("json"),
    )
    .expect("parse");
    assert_eq!(v["trace"]["functions"], 500);
    assert!(dir.path().join("s/popularity.png").exists());
}
