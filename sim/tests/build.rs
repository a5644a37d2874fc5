//! `sim trace build` on small fixtures in the real schemas (written here),
//! and, when `../shared/data/` exists, on the real files.

use sock_core::trace::{Invocation, TraceHeader, TraceReader};
use sock_sim::build::arrivals::ArrivalChoice;
use sock_sim::build::azure::DurationChoice;
use sock_sim::build::warnings::WarningKind;
use sock_sim::build::{build, BuildParams, BuildReport};
use std::path::Path;

mod common;

use common::*;

fn params(data: &Path) -> BuildParams {
    BuildParams {
        data: Some(data.to_path_buf()),
        slice: "t".into(),
        seed: 42,
        ..BuildParams::default()
    }
}

fn run(p: &BuildParams) -> (Vec<u8>, BuildReport) {
    let mut out = Vec::new();
    let report = build(p, &mut out).expect("fixture builds");
    (out, report)
}

fn read(bytes: &[u8]) -> (TraceHeader, Vec<Invocation>) {
    let reader = TraceReader::new(bytes, "built.json").expect("header reads back");
    let header = reader.catalog().header.clone();
    (
        header,
        reader
            .collect::<Result<Vec<_>, _>>()
            .expect("invocations read back"),
    )
}

#[test]
fn fixture_builds_a_valid_trace_with_every_invocation() {
    let dir = tempfile::tempdir().expect("tmp");
    let (bytes, report) = run(&params(&fixture(dir.path())));
    let (header, inv) = read(&bytes);
    assert_eq!(inv.len(), 9);
    assert_eq!(report.invocations, 9);
    assert_eq!((report.functions, report.apps), (3, 2));
    assert_eq!(header.functions.len(), 3);
    assert!(inv
        .windows(2)
        .all(|w| (w[0].time, w[0].function) <= (w[1].time, w[1].function)));
    // Per function and per minute, the counts survive exactly.
    let count = |f: u32, m: u64| {
        inv.iter()
            .filter(|i| i.function.0 == f && i.time.0 / 60_000_000 == m)
            .count()
    };
    assert_eq!([count(0, 0), count(0, 1), count(0, 2)], [2, 0, 1]);
    assert_eq!([count(2, 0), count(2, 1), count(2, 2)], [0, 3, 0]);
    // Functions of one app share one closure.
    assert_eq!(header.functions[0].packages, header.functions[1].packages);
    // Durations are the Average column; memory is the app's split over its functions.
    let f = &header.functions;
    assert_eq!(
        (f[0].duration_ms, f[1].duration_ms, f[2].duration_ms),
        (100.0, 7.0, 2000.0)
    );
    assert_eq!(f[2].name, "f3");
    assert!(f[0].memory_mb >= 150.0 && f[2].memory_mb >= 120.0, "{f:?}");
    assert_eq!(header.source["generator"], "sim trace build");
    assert_eq!(header.source["inputs"]["invocations"], "invocations_t.csv");
}

#[test]
fn measured_imputed_and_dependency_edges() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture(dir.path());
    // Pin the assignment: with one closure file every app gets it.
    std::fs::write(
        data.join("github-requirements/requirements_compiled.json"),
        r#"{"r1": ["six-1.16.0", "numpy-1.26.0", "scipy-1.11.2 ; python_version >= \"3.9\"", "zzz-unknown-0.1", "pylint-=2.4.4"]}"#,
    )
    .expect("write");
    let (bytes, report) = run(&params(&data));
    let (header, _) = read(&bytes);
    let keys: Vec<String> = header.packages.iter().map(|p| p.key()).collect();
    assert_eq!(
        keys,
        [
            "numpy==1.26.0",
            "scipy==1.11.2",
            "six==1.16.0",
            "zzz-unknown==0.1"
        ]
    );
    let p = &header.packages;
    assert!(!p[2].imputed && p[2].import_ms == 0.9 && p[2].modules == ["six"]);
    assert!(
        !p[1].imputed && p[1].import_mb == 0.0,
        "negative mb clamps to 0"
    );
    assert!(
        p[0].imputed && p[0].import_ms == 50.0,
        "numpy 1.26.0 takes 1.25.2's costs"
    );
    assert!(
        p[3].imputed && p[3].modules.is_empty(),
        "unknown package: model draw"
    );
    assert_eq!(
        p[1].deps,
        vec![0],
        "scipy -> numpy==1.26.0 is in every closure holding scipy"
    );
    let catalog = sock_core::trace::Catalog::new(header.clone()).expect("valid");
    let id = sock_core::units::FunctionId(0);
    assert_eq!(
        catalog.closure(id).len(),
        header.functions[0].packages.len(),
        "closing adds nothing"
    );
    assert_eq!(
        (
            report.tables.measured,
            report.tables.imputed_other_version,
            report.tables.imputed_model
        ),
        (2, 1, 1)
    );
    assert_eq!(report.warnings.count(WarningKind::MalformedEntry), 1);
    assert_eq!(report.closure_entries.with_marker, 1);
    let w = report.warnings.to_text(5);
    assert!(
        w.contains("requirements_compiled.json: file \"r1\", entry 4 \"pylint-=2.4.4\""),
        "{w}"
    );
    assert_eq!(header.source["counts"]["imputed_model"], 1);
}

#[test]
fn same_inputs_and_seed_give_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = params(&fixture(dir.path()));
    let (a, _) = run(&p);
    assert_eq!(a, run(&p).0);
    let other = BuildParams {
        seed: 7,
        ..p.clone()
    };
    assert_ne!(a, run(&other).0);
    // Arrival knobs leave the tables alone.
    let even = BuildParams {
        arrivals: Some(ArrivalChoice::Even),
        ..p
    };
    let (ha, _) = read(&a);
    let (he, inv) = read(&run(&even).0);
    assert_eq!(ha.packages, he.packages);
    assert_eq!(ha.functions, he.functions);
    let times: Vec<(u64, u32)> = inv.iter().map(|i| (i.time.0, i.function.0)).collect();
    assert_eq!(
        &times[..4],
        &[(0, 0), (0, 1), (30_000_000, 0), (60_000_000, 1)]
    );
}

#[test]
fn duration_conventions() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = params(&fixture(dir.path()));
    let (median, _) = run(&BuildParams {
        duration: Some(DurationChoice::Median),
        ..p.clone()
    });
    let (h, _) = read(&median);
    assert_eq!(
        (h.functions[0].duration_ms, h.functions[2].duration_ms),
        (90.0, 2000.0)
    );
    let (sample, _) = run(&BuildParams {
        duration: Some(DurationChoice::Sample),
        ..p
    });
    let (h, _) = read(&sample);
    assert!(
        (1000.0..=3000.0).contains(&h.functions[2].duration_ms),
        "{}",
        h.functions[2].duration_ms
    );
}

fn build_err(p: &BuildParams) -> String {
    build(p, Vec::new()).expect_err("bad input").to_string()
}

#[test]
fn bad_input_gets_errors_naming_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture(dir.path());
    let p = params(&data);
    let inv = data.join("azure-functions-2019/invocations_t.csv");
    std::fs::write(&inv, INVOCATIONS.replace("HashApp,", "App,")).expect("write");
    let e = build_err(&p);
    assert!(
        e.contains("invocations_t.csv: line 1: no column `HashApp`"),
        "{e}"
    );
    std::fs::write(
        &inv,
        INVOCATIONS.replace("o2,a2,f3,queue,0,3,0", "o2,a2,f3,queue,0,three,0"),
    )
    .expect("write");
    let e = build_err(&p);
    assert!(
        e.contains("invocations_t.csv: line 4: column `481` is \"three\""),
        "{e}"
    );
    std::fs::write(
        &inv,
        INVOCATIONS.replace("o2,a2,f3,queue,0,3,0", "o2,a2,f3,queue,0,3"),
    )
    .expect("write");
    let e = build_err(&p);
    assert!(
        e.contains("invocations_t.csv: line 4: 6 fields, but the header has 7"),
        "{e}"
    );
    std::fs::write(&inv, format!("{INVOCATIONS}o1,a1,f1,http,0,0,0\n")).expect("write");
    let e = build_err(&p);
    assert!(
        e.contains("line 5: function f1 already appears on line 2"),
        "{e}"
    );
    std::fs::write(&inv, INVOCATIONS).expect("write");
    std::fs::write(
        data.join("package-costs/install_import.json"),
        "{\"six\": {\"1\": {\n\"ms\": 1}}}",
    )
    .expect("write");
    let e = build_err(&p);
    assert!(
        e.contains("install_import.json") && e.contains("missing field") && e.contains("line"),
        "{e}"
    );
    let missing = BuildParams { data: None, ..p };
    assert!(build_err(&missing).contains("give --invocations FILE, or --data DIR"));
}

#[test]
fn missing_rows_are_counted_warnings_not_drops() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture(dir.path());
    let d = durations();
    let without_f2: String = d
        .lines()
        .filter(|l| !l.contains(",f2,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        data.join("azure-functions-2019/durations_t.csv"),
        format!("{without_f2}o9,a9,f9,5,1,5,5,5,5,5,5,5,5,5\n"),
    )
    .expect("write");
    std::fs::write(
        data.join("azure-functions-2019/memory_t.csv"),
        MEMORY.replace("f3,o2,a2,10,120,100\n", ""),
    )
    .expect("write");
    let (bytes, report) = run(&params(&data));
    let (header, inv) = read(&bytes);
    assert_eq!(inv.len(), 9, "no invocation is dropped");
    assert_eq!(report.warnings.count(WarningKind::NoDurationRow), 1);
    assert_eq!(report.warnings.count(WarningKind::UnusedRow), 1);
    assert_eq!(report.warnings.count(WarningKind::NoMemoryRow), 1);
    assert_eq!(
        header.functions[1].duration_ms, 1050.0,
        "median of 100 and 2000"
    );
    let text = report.warnings.to_text(5);
    assert!(text.contains("invocations_t.csv:3: function f2"), "{text}");
    assert!(text.contains("durations_t.csv:4: no function f9"), "{text}");
}

#[test]
fn real_500_slice_builds_with_every_invocation() {
    let Some(data) = real_data() else {
        eprintln!("\n*** SKIPPED real_500_slice_builds_with_every_invocation: ../shared/data not found ***\n");
        return;
    };
    let p = BuildParams {
        slice: "500".into(),
        ..params(&data)
    };
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("azure500.json");
    let report = build(&p, std::fs::File::create(&out).expect("create")).expect("real data builds");
    assert_eq!(report.invocations, 3_037_902);
    assert_eq!(report.functions, 500);
    assert_eq!(report.closure_entries.files, 6_810);
    let reader = TraceReader::new(
        std::io::BufReader::new(std::fs::File::open(&out).expect("open")),
        "azure500.json",
    )
    .expect("header");
    let catalog = reader.catalog().clone();
    assert_eq!(catalog.function_count(), 500);
    // The dependency-edge rule: closing a function's packages under `deps`
    // adds nothing, so each closure is exactly its pip-compiled file.
    for f in 0..500u32 {
        let id = sock_core::units::FunctionId(f);
        assert_eq!(
            catalog.closure(id).len(),
            catalog.function(id).packages.len(),
            "function {f}"
        );
    }
    assert!(catalog.header.packages.iter().any(|p| !p.deps.is_empty()));
    assert_eq!(reader.count(), 3_037_902);
    // Golden counts of the default build (seed 42); traces/README.md section 8.2.
    let t = &report.tables;
    assert_eq!(
        (report.apps, report.closures_used, t.packages),
        (476, 476, 2_466)
    );
    assert_eq!(
        (t.measured, t.imputed_other_version, t.imputed_model),
        (463, 508, 1_495)
    );
    assert_eq!(report.closure_entries.malformed, 10);
}
