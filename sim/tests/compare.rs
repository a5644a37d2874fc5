//! `sim compare` end to end: records from a replay of a small generated
//! trace, compared with themselves and with a modified copy.

mod common;

use common::{ok, s, sim};
use std::path::{Path, PathBuf};

/// Generates a small trace in `dir` and replays it with `--records`.
fn records(dir: &Path) -> PathBuf {
    let trace = dir.join("small.json");
    let records = dir.join("predicted.jsonl");
    ok(&sim(&[
        "trace",
        "gen",
        "--packages",
        "30",
        "--functions",
        "20",
        "--invocations",
        "400",
        "--duration-s",
        "600",
        "--seed",
        "7",
        "--out",
        s(&trace),
    ]));
    ok(&sim(&["--trace", s(&trace), "--records", s(&records)]));
    records
}

fn compare_json(predicted: &Path, measured: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "compare",
        "--predicted",
        s(predicted),
        "--measured",
        s(measured),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&sim(&args))).expect("json report")
}

#[test]
fn compare_records_with_themselves_and_a_modified_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let predicted = records(dir.path());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&predicted)
        .expect("records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(lines.len(), 400);

    // Itself: full agreement, zero error everywhere.
    let csv = dir.path().join("self.csv");
    let v = compare_json(&predicted, &predicted, &["--csv", s(&csv)]);
    assert_eq!(v["counts"]["matched"], 400);
    assert_eq!(v["counts"]["only_in_predicted"], 0);
    assert_eq!(v["agreement"]["decision_share"], 1.0);
    assert_eq!(v["agreement"]["path_share"], 1.0);
    let rows = v["latency_error"].as_array().expect("rows");
    assert!(!rows.is_empty());
    for r in rows {
        for key in ["median_error_ms", "median_abs_error_ms", "p95_abs_error_ms"] {
            assert_eq!(r[key], 0.0, "{r}");
        }
    }
    let csv = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(csv.lines().count(), 1 + rows.len());
    assert!(csv.starts_with("path,metric,n,median_predicted_ms,"));

    // A modified copy: the first record served another way, every handler
    // run 10% slower, the last record missing.
    let first_path = lines[0]["path"].as_str().expect("path").to_string();
    let other = if first_path == "fresh" {
        "handler_hit"
    } else {
        "fresh"
    };
    let mut modified = String::new();
    for (i, rec) in lines.iter().enumerate().take(lines.len() - 1) {
        let mut rec = rec.clone();
        if i == 0 {
            rec["path"] = other.into();
        }
        let handler = rec["phases_us"]["handler"].as_u64().expect("handler");
        let extra = handler / 10;
        rec["phases_us"]["handler"] = (handler + extra).into();
        rec["latency_us"] = (rec["latency_us"].as_u64().expect("latency") + extra).into();
        modified.push_str(&rec.to_string());
        modified.push('\n');
    }
    let measured = dir.path().join("measured.jsonl");
    std::fs::write(&measured, modified).expect("write");

    let v = compare_json(&predicted, &measured, &[]);
    assert_eq!(v["counts"]["predicted"], 400);
    assert_eq!(v["counts"]["measured"], 399);
    assert_eq!(v["counts"]["matched"], 399);
    assert_eq!(v["counts"]["only_in_predicted"], 1);
    assert_eq!(v["counts"]["only_in_measured"], 0);
    assert_eq!(v["agreement"]["path"], 398);
    assert_eq!(v["agreement"]["differing"]["path"], 1);
    let confusion = v["confusion"].as_array().expect("confusion");
    let row = confusion
        .iter()
        .find(|r| r["predicted"] == first_path.as_str())
        .expect("row");
    assert!(row["measured"][other].as_u64().expect("count") >= 1);
    for r in v["latency_error"].as_array().expect("rows") {
        let metric = r["metric"].as_str().expect("metric");
        let rel = r["median_rel_error_pct"].as_f64();
        match metric {
            // 10% of the handler, rounded down to a whole µs.
            "handler" => {
                let rel = rel.expect("handler rel");
                assert!((9.9..=10.0).contains(&rel), "{r}");
                assert!(r["median_error_ms"].as_f64().expect("err") > 0.0, "{r}");
            }
            "startup" => assert_eq!(r["p95_abs_error_ms"], 0.0, "{r}"),
            "latency" => assert!(r["median_error_ms"].as_f64().expect("err") > 0.0),
            _ => assert_eq!(r["p95_abs_error_ms"], 0.0, "{r}"),
        }
    }

    // Text report.
    let text = ok(&sim(&[
        "compare",
        "--predicted",
        s(&predicted),
        "--measured",
        s(&measured),
    ]));
    for needle in [
        "decision agreement",
        "path agreement",
        "predicted \\ measured",
        "latency error",
        "handler",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

#[test]
fn compare_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let predicted = records(dir.path());
    let first = std::fs::read_to_string(&predicted)
        .expect("records")
        .lines()
        .next()
        .expect("line")
        .to_string();

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{first}\n{{\"seq\": \n")).expect("write");
    let out = sim(&[
        "compare",
        "--predicted",
        s(&predicted),
        "--measured",
        s(&bad),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("bad.jsonl line 2"),
        "{err}"
    );

    // No common seq.
    let mut rec: serde_json::Value = serde_json::from_str(&first).expect("record");
    rec["seq"] = 1_000_000.into();
    let other = dir.path().join("other.jsonl");
    std::fs::write(&other, format!("{rec}\n")).expect("write");
    let out = sim(&[
        "compare",
        "--predicted",
        s(&predicted),
        "--measured",
        s(&other),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no record matches"),
        "{err}"
    );
}
