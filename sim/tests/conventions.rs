//! Issue 10: each convention of `sim trace build` on the tiny fixture of
//! `common` (three functions in two apps; hand-computed values below), and
//! `sim --keepalive-from` end to end.
//!
//! Fixture: a1 = {f1: calls 2,0,1, Average 100, Maximum 500, percentiles
//! 10,12,50,90,120,400,500; f2: calls 1,1,1, Average 7, Maximum 9,
//! percentiles 1,1,5,7,8,9,9}, a2 = {f3: calls 0,3,0, Average 2000, Maximum
//! 3000}; memory a1 300 MB (pct1 280, pct100 400), a2 120 MB (pct1 100,
//! pct100 150).

use sock_core::trace::{Invocation, TraceHeader, TraceReader};
use sock_sim::build::conventions::{CallDurations, ColdDuration, Instances, MemorySplit, Preset};
use sock_sim::build::{build, BuildParams, BuildReport};
use std::path::Path;

mod common;

use common::*;

const MEMORY_PCT100: &str =
    "HashFunction,HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,AverageAllocatedMb_pct100
f1,o1,a1,10,300,280,400
f2,o1,a1,10,300,280,400
f3,o2,a2,10,120,100,150
";

fn fixture_data(dir: &Path) -> std::path::PathBuf {
    let data = fixture(dir);
    std::fs::write(
        data.join("azure-functions-2019/memory_t.csv"),
        MEMORY_PCT100,
    )
    .expect("write");
    data
}

fn params(data: &Path) -> BuildParams {
    BuildParams {
        data: Some(data.to_path_buf()),
        slice: "t".into(),
        seed: 42,
        // Memory exactly as the file says, whatever the closures import.
        no_memory_floor: true,
        ..BuildParams::default()
    }
}

fn run(p: &BuildParams) -> (TraceHeader, Vec<Invocation>, BuildReport) {
    let mut out = Vec::new();
    let report = build(p, &mut out).expect("fixture builds");
    let reader = TraceReader::new(&out[..], "built.json").expect("reads back");
    let header = reader.catalog().header.clone();
    let inv = reader.collect::<Result<Vec<_>, _>>().expect("invocations");
    (header, inv, report)
}

fn memory(h: &TraceHeader) -> Vec<f64> {
    h.functions.iter().map(|f| f.memory_mb).collect()
}

#[test]
fn default_is_version_1_without_cold_durations() {
    let dir = tempfile::tempdir().expect("tmp");
    let (h, inv, _) = run(&params(&fixture_data(dir.path())));
    assert_eq!(h.version, 1);
    assert!(h.functions.iter().all(|f| f.cold_duration_ms.is_none()));
    assert!(inv.iter().all(|i| i.duration.is_none()));
    assert_eq!(
        memory(&h),
        [150.0, 150.0, 120.0],
        "300 / 2, 300 / 2, 120 / 1"
    );
    assert_eq!(h.source["params"]["conventions"], "sock");
}

#[test]
fn cold_duration_maximum() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = BuildParams {
        cold_duration: Some(ColdDuration::Maximum),
        ..params(&fixture_data(dir.path()))
    };
    let (h, inv, _) = run(&p);
    assert_eq!(h.version, 2);
    let cold: Vec<Option<f64>> = h.functions.iter().map(|f| f.cold_duration_ms).collect();
    assert_eq!(cold, [Some(500.0), Some(9.0), Some(3000.0)]);
    let warm: Vec<f64> = h.functions.iter().map(|f| f.duration_ms).collect();
    assert_eq!(warm, [100.0, 7.0, 2000.0]);
    assert!(inv.iter().all(|i| i.duration.is_none()));
}

#[test]
fn memory_split_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    let whole = BuildParams {
        memory_split: Some(MemorySplit::Whole),
        ..params(&data)
    };
    assert_eq!(memory(&run(&whole).0), [300.0, 300.0, 120.0]);
    let pct = BuildParams {
        memory_column: Some("AverageAllocatedMb_pct1".into()),
        ..params(&data)
    };
    assert_eq!(memory(&run(&pct).0), [140.0, 140.0, 100.0]);
}

#[test]
fn instances_per_app_merge_an_apps_functions() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    let (per_fn, inv_fn, _) = run(&params(&data));
    let p = BuildParams {
        instances: Some(Instances::PerApp),
        cold_duration: Some(ColdDuration::Maximum),
        ..params(&data)
    };
    let (h, inv, report) = run(&p);
    assert_eq!((report.functions, report.trace_functions), (3, 2));
    let names: Vec<&str> = h.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a1", "a2"]);
    let f = &h.functions;
    // (3 calls x 100 + 3 calls x 7) / 6 = 53.5; cold: max(500, 9); the app's 300 MB.
    assert_eq!(
        (f[0].duration_ms, f[0].cold_duration_ms, f[0].memory_mb),
        (53.5, Some(500.0), 300.0)
    );
    assert_eq!(
        (f[1].duration_ms, f[1].cold_duration_ms, f[1].memory_mb),
        (2000.0, Some(3000.0), 120.0)
    );
    assert_eq!(
        f[0].packages, per_fn.functions[0].packages,
        "the app's closure"
    );
    // The same calls at the same times, relabelled f1, f2 -> a1 and f3 -> a2.
    let relabel = [0, 0, 1];
    let expect: Vec<(u64, u32)> = inv_fn
        .iter()
        .map(|i| (i.time.0, relabel[i.function.index()]))
        .collect();
    let got: Vec<(u64, u32)> = inv.iter().map(|i| (i.time.0, i.function.0)).collect();
    assert_eq!(got, expect);
}

#[test]
fn min_calls_leaves_out_rare_functions() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    std::fs::write(
        data.join("azure-functions-2019/invocations_t.csv"),
        "HashOwner,HashApp,HashFunction,Trigger,480,481,482\no1,a1,f1,http,2,0,1\no1,a1,f2,timer,1,0,0\no2,a2,f3,queue,0,3,0\n",
    )
    .expect("write");
    let p = BuildParams {
        min_calls: Some(2),
        ..params(&data)
    };
    let (h, inv, report) = run(&p);
    assert_eq!(
        (report.left_out.functions, report.left_out.invocations),
        (1, 1)
    );
    assert_eq!((report.functions, report.invocations, inv.len()), (2, 6, 6));
    let names: Vec<&str> = h.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["f1", "f3"]);
    // f1 still holds half of a1's memory: f2 was deployed, only rarely called.
    assert_eq!(memory(&h), [150.0, 120.0]);
    assert_eq!(h.source["counts"]["left_out_functions"], 1);
}

#[test]
fn call_durations_are_drawn_from_the_percentiles() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    let (_, fixed, _) = run(&params(&data));
    let pct = [
        [10.0, 12.0, 50.0, 90.0, 120.0, 400.0, 500.0],
        [1.0, 1.0, 5.0, 7.0, 8.0, 9.0, 9.0],
        [1000.0, 1000.0, 1500.0, 2000.0, 2500.0, 2900.0, 3000.0],
    ];
    for draw in [CallDurations::Step, CallDurations::Linear] {
        let p = BuildParams {
            call_durations: Some(draw),
            ..params(&data)
        };
        let (h, inv, _) = run(&p);
        assert_eq!(h.version, 2, "{draw:?}");
        // Same arrivals as without durations (their own RNG stream).
        let times = |v: &[Invocation]| v.iter().map(|i| (i.time, i.function)).collect::<Vec<_>>();
        assert_eq!(times(&inv), times(&fixed));
        for i in &inv {
            let q = pct[i.function.index()];
            let ms = i.duration.expect("every call has one").0 as f64 / 1000.0;
            match draw {
                // dslab: one of p1..p100 (never p0), at least 1 ms.
                CallDurations::Step => assert!(q[1..].contains(&ms.max(1.0)), "{ms} not in {q:?}"),
                _ => assert!((q[0]..=q[6]).contains(&ms), "{ms} outside {q:?}"),
            }
        }
        assert_eq!(run(&p).1, inv, "seeded");
    }
}

#[test]
fn presets_set_every_option_and_flags_override() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    let base = BuildParams {
        no_memory_floor: false,
        ..params(&data)
    };
    let (h, inv, _) = run(&BuildParams {
        conventions: Preset::Faascache,
        ..base.clone()
    });
    let s = &h.source["params"];
    assert_eq!(
        (s["arrivals"].as_str(), s["cold_duration"].as_str()),
        (Some("even"), Some("maximum"))
    );
    assert_eq!(
        (s["memory_floor"].as_bool(), s["min_calls"].as_u64()),
        (Some(false), Some(2))
    );
    assert_eq!(h.functions[0].cold_duration_ms, Some(500.0));
    assert_eq!(memory(&h), [150.0, 150.0, 120.0]);
    // FaasCache's even arrivals: f1's two calls of minute 0 at 0 and 30 s.
    let f1: Vec<u64> = inv
        .iter()
        .filter(|i| i.function.0 == 0)
        .map(|i| i.time.0)
        .collect();
    assert_eq!(f1, [0, 30_000_000, 120_000_000]);
    let (h, inv, _) = run(&BuildParams {
        conventions: Preset::Dslab,
        ..base.clone()
    });
    assert_eq!(h.functions.len(), 2, "per app");
    assert_eq!(memory(&h), [400.0, 150.0], "each app's pct100, whole");
    assert!(inv.iter().all(|i| i.duration.is_some()));
    let (h, _, _) = run(&BuildParams {
        conventions: Preset::Dslab,
        instances: Some(Instances::PerFunction),
        call_durations: Some(CallDurations::Fixed),
        ..base
    });
    assert_eq!((h.functions.len(), h.version), (3, 1));
    assert_eq!(memory(&h), [400.0, 400.0, 150.0]);
}

#[test]
fn cli_conventions_and_keepalive_from() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = fixture_data(dir.path());
    let out = dir.path().join("t.json");
    ok(&sim(&[
        "trace",
        "build",
        "--data",
        s(&data),
        "--slice",
        "t",
        "--conventions",
        "dslab",
        "--call-durations",
        "linear",
        "--out",
        s(&out),
    ]));
    let text = std::fs::read_to_string(&out).expect("trace");
    let first = text.lines().nth(1).expect("a call");
    assert_eq!(first.matches(',').count(), 2, "{first}");
    let plain = ok(&sim(&[
        "--trace",
        s(&out),
        "--policy",
        "ttl",
        "--ttl-s",
        "1",
    ]));
    let start = ok(&sim(&[
        "--trace",
        s(&out),
        "--policy",
        "ttl",
        "--ttl-s",
        "1",
        "--keepalive-from",
        "start",
    ]));
    assert!(start.contains("ttl 1 s from call start"), "{start}");
    assert!(!plain.contains("from call start"));
    // Each call's own duration is its record's handler phase.
    let records = dir.path().join("r.jsonl");
    ok(&sim(&["--trace", s(&out), "--records", s(&records)]));
    let durations: Vec<u64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<u64> = serde_json::from_str(l).expect("line");
            v[2]
        })
        .collect();
    let mut handler = vec![0; durations.len()];
    for l in std::fs::read_to_string(&records).expect("records").lines() {
        let r: serde_json::Value = serde_json::from_str(l).expect("record");
        let seq = r["seq"].as_u64().expect("seq") as usize;
        handler[seq] = r["phases_us"]["handler"].as_u64().expect("handler");
    }
    assert_eq!(handler, durations);
    let e = fails(&sim(&["--trace", s(&out), "--keepalive-from", "begin"]));
    assert!(e.contains("invalid value 'begin'"), "{e}");
}
