//! The `sim` binary end to end: the README's main command, JSON keys,
//! byte-identical reruns, SOCK's tier comparison, and clear errors.

mod common;

use common::{ok, root, sim};

/// The exact command `traces/README.md` documents for the shipped trace.
const SHIPPED_GEN_ARGS: &[&str] = &[
    "trace",
    "gen",
    "--packages",
    "200",
    "--functions",
    "200",
    "--invocations",
    "100000",
    "--duration-s",
    "3600",
    "--seed",
    "42",
];

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--trace", "traces/pypi.json", "--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(&sim(&a))).expect("json summary")
}

#[test]
fn shipped_trace_is_reproduced_by_its_documented_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pypi.json");
    let mut args = SHIPPED_GEN_ARGS.to_vec();
    let out_s = out.to_str().expect("utf8 path");
    args.extend_from_slice(&["--out", out_s]);
    ok(&sim(&args));
    let fresh = std::fs::read(&out).expect("generated");
    let shipped = std::fs::read(root().join("traces/pypi.json")).expect("shipped trace");
    assert!(
        fresh == shipped,
        "traces/pypi.json differs from `sim {}`",
        SHIPPED_GEN_ARGS.join(" ")
    );
    let readme =
        std::fs::read_to_string(root().join("traces/README.md")).expect("traces/README.md");
    assert!(
        readme.contains(&SHIPPED_GEN_ARGS.join(" ")),
        "traces/README.md must show the command"
    );
}

#[test]
fn main_command_prints_a_summary() {
    let text = ok(&sim(&["--trace", "traces/pypi.json"]));
    for needle in [
        "handler_hit",
        "zygote_hit",
        "fresh",
        "install cache",
        "evictions",
        "memory MB",
    ] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
}

#[test]
fn json_summary_has_the_documented_keys() {
    let v = json(&[]);
    for key in [
        "invocations",
        "paths",
        "latency_ms",
        "memory_mb",
        "evictions",
        "install_cache",
        "startup_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["p50", "p95", "p99", "mean"] {
        assert!(v["latency_ms"][key].is_number(), "latency_ms.{key}");
    }
    assert_eq!(v["invocations"], 100_000);
}

#[test]
fn same_inputs_give_byte_identical_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r1 = dir.path().join("a.jsonl");
    let r2 = dir.path().join("b.jsonl");
    let a = ok(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--format",
        "json",
        "--records",
        r1.to_str().expect("p"),
    ]));
    let b = ok(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--format",
        "json",
        "--records",
        r2.to_str().expect("p"),
    ]));
    assert_eq!(a, b);
    let (ra, rb) = (
        std::fs::read(&r1).expect("r1"),
        std::fs::read(&r2).expect("r2"),
    );
    assert!(ra == rb, "records differ");
    assert_eq!(ra.iter().filter(|&&c| c == b'\n').count(), 100_000);
}

#[test]
fn zygotes_lower_startup_latency_as_in_sock() {
    let startup = |z: &str| {
        json(&["--zygotes", z, "--handler-mb", "0"])["startup_ms"]["mean"]
            .as_f64()
            .expect("mean")
    };
    let (off, root, dynamic) = (startup("off"), startup("root"), startup("dynamic"));
    assert!(
        off > root,
        "no Zygotes ({off} ms) should be slower than a root Zygote ({root} ms)"
    );
    assert!(
        root > dynamic,
        "root only ({root} ms) should be slower than the tree ({dynamic} ms)"
    );
    let v = json(&["--zygotes", "off"]);
    assert_eq!(v["paths"]["zygote_hit"]["count"], 0);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let out = sim(&["--trace", "no/such/file.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.json"));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    let header = std::fs::read_to_string(root().join("traces/pypi.json"))
        .expect("trace")
        .lines()
        .next()
        .expect("header")
        .to_string();
    std::fs::write(&bad, format!("{header}\n[10,0]\n[5,0]\n")).expect("write");
    let out = sim(&["--trace", bad.to_str().expect("p")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("line 3") && err.contains("sorted"),
        "{err}"
    );

    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"tiers": {"handler": {"budget_mb": -1}}}"#).expect("write");
    let out = sim(&[
        "--trace",
        "traces/pypi.json",
        "--config",
        cfg.to_str().expect("p"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("handler.budget_mb"),
        "{err}"
    );

    let out = sim(&[]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no trace given")
    );
}

/// `--serial-setup` (sock-exec's concurrent replay, one set-up loop):
/// calls due while another is set up wait, in their `queue` (or, when
/// they installed, `install`) phase; without it nothing waits on an
/// unbounded worker, and the decisions are the same.
#[test]
fn serial_setup_makes_calls_wait_for_the_set_up_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = common::gen_trace(dir.path(), "t.json", "30", "3000", "60", "5");
    let records = |extra: &[&str], name: &str| -> Vec<serde_json::Value> {
        let out = dir.path().join(name).display().to_string();
        let mut args = vec![
            "--trace",
            t.as_str(),
            "--cores",
            "unbounded",
            "--records",
            &out,
        ];
        args.extend_from_slice(extra);
        ok(&sim(&args));
        std::fs::read_to_string(&out)
            .expect("records")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let free = records(&[], "free.jsonl");
    let serial = records(&["--serial-setup"], "serial.jsonl");
    let queue = |r: &serde_json::Value| r["phases_us"]["queue"].as_u64().expect("queue");
    assert!(
        free.iter().all(|r| queue(r) == 0),
        "an unbounded worker never queues"
    );
    let waited = serial.iter().filter(|r| queue(r) > 0).count();
    assert!(waited > 0, "some of 3000 calls in 60 s wait for the loop");
    assert_eq!(free.len(), serial.len());
    // Only the timing moves: the first call of each function takes the same path.
    assert_eq!(free[0]["path"], serial[0]["path"]);
    for r in &serial {
        let p = &r["phases_us"];
        let sum: u64 = p
            .as_object()
            .expect("phases")
            .values()
            .map(|v| v.as_u64().expect("µs"))
            .sum();
        assert_eq!(
            sum,
            r["latency_us"].as_u64().expect("latency"),
            "phases sum to the latency: {r}"
        );
    }
}
