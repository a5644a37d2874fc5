//! Issue 12, hardening of `sim`'s input validation: each test is named
//! after the defect it pins down and failed before the fix.

mod common;

use common::{fails, ok, s, sim};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A small generated trace in `dir` (10 packages, 5 functions, 200 calls).
fn small_trace(dir: &Path) -> PathBuf {
    let p = dir.join("small.json");
    ok(&sim(&[
        "trace",
        "gen",
        "--packages",
        "10",
        "--functions",
        "5",
        "--invocations",
        "200",
        "--duration-s",
        "60",
        "--out",
        s(&p),
    ]));
    p
}

/// `sim trace build` of slice "t" of the fixture folder `data`.
fn trace_build(data: &Path, out: &str) -> Output {
    sim(&[
        "trace",
        "build",
        "--data",
        s(data),
        "--slice",
        "t",
        "--out",
        out,
    ])
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn trace_dev_zero_and_compare_dev_zero_fail_after_a_bounded_read() {
    let e = fails(&sim(&["--trace", "/dev/zero"]));
    assert!(
        e.contains("/dev/zero: line 1 (header)") && e.contains("byte 0x00"),
        "{e}"
    );
    let e = fails(&sim(&[
        "compare",
        "--predicted",
        "/dev/zero",
        "--measured",
        "/dev/zero",
    ]));
    assert!(
        e.contains("/dev/zero line 1: longer than 16777216 bytes"),
        "{e}"
    );
}

#[test]
fn records_naming_the_trace_do_not_overwrite_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let before = std::fs::read(&trace).expect("trace");
    let e = fails(&sim(&["--trace", s(&trace), "--records", s(&trace)]));
    assert!(e.contains("same file as the trace"), "{e}");
    // Another spelling of the same file, and a hard link, are caught too.
    let other = dir.path().join(".").join("small.json");
    let e = fails(&sim(&["--trace", s(&trace), "--records", s(&other)]));
    assert!(e.contains("same file as the trace"), "{e}");
    let link = dir.path().join("hard.json");
    std::fs::hard_link(&trace, &link).expect("hard link");
    let e = fails(&sim(&["--trace", s(&trace), "--records", s(&link)]));
    assert!(e.contains("same file as the trace"), "{e}");
    assert_eq!(std::fs::read(&trace).expect("trace"), before);
}

#[test]
fn outputs_are_not_left_half_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    // A trace that fails on its last line: the replay writes records first.
    let mut text = std::fs::read_to_string(&trace).expect("trace");
    text.push_str("[0,0]\n");
    std::fs::write(&trace, text).expect("write");
    let records = dir.path().join("records.jsonl");
    let e = fails(&sim(&["--trace", s(&trace), "--records", s(&records)]));
    assert!(e.contains("earlier than the previous invocation"), "{e}");
    assert_eq!(files_in(dir.path()), vec!["small.json".to_string()]);
    // An existing output survives a failed run untouched.
    std::fs::write(&records, "keep").expect("seed");
    fails(&sim(&["--trace", s(&trace), "--records", s(&records)]));
    assert_eq!(std::fs::read_to_string(&records).expect("read"), "keep");
    assert_eq!(files_in(dir.path()).len(), 2);
}

#[test]
fn trace_build_out_refuses_symlinks_and_device_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::fixture(dir.path());
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").expect("victim");
    let link = dir.path().join("out.json");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let build = |out: &str| trace_build(&data, out);
    let e = fails(&build(s(&link)));
    assert!(e.contains("is a symbolic link, not a regular file"), "{e}");
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    let e = fails(&build("/dev/null"));
    assert!(
        e.contains("/dev/null: it exists and is a device node"),
        "{e}"
    );
    // An input named as the output is refused too.
    let inv = data.join("azure-functions-2019/invocations_t.csv");
    let e = fails(&build(s(&inv)));
    assert!(e.contains("same file as the invocations file"), "{e}");
    // A regular target is written.
    let out = dir.path().join("t.json");
    ok(&build(s(&out)));
    assert!(std::fs::read_to_string(&out)
        .expect("trace")
        .starts_with("{\"format\""));
}

#[test]
fn trace_build_refuses_minute_columns_it_cannot_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::fixture(dir.path());
    let inv = data.join("azure-functions-2019/invocations_t.csv");
    let text = common::INVOCATIONS.replace(",481,", ",481.5,");
    std::fs::write(&inv, text).expect("write");
    let out = dir.path().join("t.json");
    let e = fails(&trace_build(&data, s(&out)));
    assert!(
        e.contains("invocations_t.csv: line 1: column 6 is named \"481.5\""),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn empty_install_import_is_an_error_not_zero_costs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::fixture(dir.path());
    std::fs::write(data.join("package-costs/install_import.json"), "{}").expect("write");
    let out = dir.path().join("t.json");
    let e = fails(&trace_build(&data, s(&out)));
    assert!(
        e.contains("install_import.json: no package costs in the file"),
        "{e}"
    );
}

#[test]
fn zygote_tree_with_zygotes_off_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree.json");
    std::fs::write(&tree, r#"{"packages": [], "children": []}"#).expect("tree");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--zygote-tree",
        s(&tree),
        "--zygotes",
        "off",
    ]));
    assert!(
        e.contains("a tree is only used with `--zygotes static`"),
        "{e}"
    );
}

#[test]
fn huge_numbers_are_rejected_naming_the_flag_or_field() {
    let e = fails(&sim(&["--trace", "traces/pypi.json", "--ttl-s", "1e308"]));
    assert!(e.contains("--ttl-s is 1e308"), "{e}");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--handler-mb",
        "1e300",
    ]));
    assert!(e.contains("--handler-mb is 1e300"), "{e}");
    let dir = tempfile::tempdir().expect("tempdir");
    let cal = dir.path().join("cal.json");
    std::fs::write(&cal, r#"{"python_start_ms": 1e300}"#).expect("write");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--calibration",
        s(&cal),
    ]));
    assert!(e.contains("python_start_ms is 1e300"), "{e}");
    let trace = small_trace(dir.path());
    let text = std::fs::read_to_string(&trace).expect("trace");
    let import_ms = text.find("\"import_ms\":").expect("field");
    let end = import_ms + text[import_ms..].find(',').expect("comma");
    let huge = format!("{}\"import_ms\":1e300{}", &text[..import_ms], &text[end..]);
    std::fs::write(&trace, huge).expect("write");
    let e = fails(&sim(&["--trace", s(&trace)]));
    assert!(
        e.contains("line 1 (header): import_ms of packages[0]"),
        "{e}"
    );
}

#[test]
fn json_arrays_and_unknown_policy_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cfg.json");
    for (text, needle) in [
        ("[]", "invalid type: sequence"),
        (
            r#"{"tiers": [[4096, {"kind": "lru"}]]}"#,
            "invalid type: sequence",
        ),
        (
            r#"{"tiers": {"handler": {"policy": {"kind": "lru", "ttl": 5}}}}"#,
            "unknown field `ttl`",
        ),
        (
            r#"{"tiers": {"handler": {"policy": {"kind": "gdsf", "budget": 1}}}}"#,
            "unknown field `budget`",
        ),
    ] {
        std::fs::write(&cfg, text).expect("write");
        let e = fails(&sim(&["--trace", "traces/pypi.json", "--config", s(&cfg)]));
        assert!(e.contains(needle), "{text}: {e}");
    }
    let cal = dir.path().join("cal.json");
    std::fs::write(&cal, "[2.0, 21.0]").expect("write");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--calibration",
        s(&cal),
    ]));
    assert!(e.contains("invalid type: sequence"), "{e}");
}

#[test]
fn compare_refuses_matched_records_of_other_invocations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let pred = dir.path().join("pred.jsonl");
    ok(&sim(&["--trace", s(&trace), "--records", s(&pred)]));
    let text = std::fs::read_to_string(&pred).expect("records");
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let f = lines[2]["function"].as_u64().expect("function");
    lines[2]["function"] = serde_json::json!((f + 1) % 5);
    let meas = dir.path().join("meas.jsonl");
    let body: Vec<String> = lines.iter().map(|v| v.to_string()).collect();
    std::fs::write(&meas, body.join("\n") + "\n").expect("write");
    let e = fails(&sim(&[
        "compare",
        "--predicted",
        s(&pred),
        "--measured",
        s(&meas),
    ]));
    assert!(e.contains("meas.jsonl line 3: seq 2 is function"), "{e}");
    assert!(e.contains("pred.jsonl line 3"), "{e}");
    // The same file on both sides still compares.
    ok(&sim(&[
        "compare",
        "--predicted",
        s(&pred),
        "--measured",
        s(&pred),
    ]));
}

#[test]
fn openlambda_tree_files_load_as_they_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    // OpenLambda's and Forklift's keys, and a package the trace lacks.
    let tree = dir.path().join("ol.json");
    std::fs::write(
        &tree,
        r#"{"packages": [], "split_generation": 0, "direct": [], "test_count": 9, "children": [
  {"packages": ["pkg0000"], "direct": ["pkg0000"], "split_generation": 1, "test_count": 4, "children": [
    {"packages": ["setuptools"], "split_generation": 3, "children": [
      {"packages": ["PKG0001", "setuptools"], "split_generation": 4, "children": []}]}]},
  {"packages": ["setuptools"], "split_generation": 2, "children": []}]}"#,
    )
    .expect("tree");
    let out = sim(&[
        "--trace",
        "traces/pypi.json",
        "--zygote-tree",
        s(&tree),
        "--format",
        "json",
    ]);
    let stdout = ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("\"setuptools\" is not in the trace").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("skipped in the 3 node(s) naming it (first: children[0].children[0])"),
        "{err}"
    );
    assert!(
        err.contains("tree node children[1] adds no package"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["tiers"]["zygote"]["mode"], "static");
    // A misspelling of our own keys is still an error.
    std::fs::write(&tree, r#"{"pakages": ["pkg0000"]}"#).expect("tree");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--zygote-tree",
        s(&tree),
    ]));
    assert!(e.contains("unknown field `pakages`"), "{e}");
    // An error is printed once, not once per error-chain level.
    std::fs::write(&tree, r#"{"children": [{"packages": ["pkg0000"]}]}"#).expect("tree");
    let e = fails(&sim(&[
        "--trace",
        "traces/pypi.json",
        "--zygote-tree",
        s(&tree),
        "--zygote-mb",
        "13",
    ]));
    assert_eq!(
        e.matches("does not fit in the Zygote memory budget")
            .count(),
        1,
        "{e}"
    );
}

#[test]
fn trace_names_that_could_break_generated_python_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = small_trace(dir.path());
    let text = std::fs::read_to_string(&trace).expect("trace");
    let bad = text.replacen(
        "\"modules\":[\"pkg0000\"]",
        "\"modules\":[\"os; import sys\"]",
        1,
    );
    assert_ne!(bad, text);
    std::fs::write(&trace, bad).expect("write");
    let e = fails(&sim(&["--trace", s(&trace)]));
    assert!(
        e.contains("line 1 (header): packages[0].modules[0] is \"os; import sys\""),
        "{e}"
    );
}
