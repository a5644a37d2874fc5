//! Tests of the trace reader: the checked path, the fast path and their errors.

use super::*;
use std::io::Read;

const HEADER: &str = r#"{"format":"sock-trace","version":1,"packages":[{"name":"a","version":"1","import_ms":1,"import_mb":1,"install_ms":1,"disk_bytes":1}],"functions":[{"name":"f","packages":[0],"duration_ms":1,"memory_mb":1}]}"#;

fn read(body: &str) -> Result<Vec<Invocation>, TraceError> {
    let text = format!("{HEADER}\n{body}");
    TraceReader::new(text.as_bytes(), "t.json")?.collect()
}

#[test]
fn reads_invocations() {
    let v = read("[5, 0]\n[5,0]\n\n[9,0]\n").expect("valid");
    assert_eq!(v.len(), 3);
    assert_eq!(v[2].time, Micros(9));
}

#[test]
fn errors_name_file_and_line() {
    let e = read("[5,0]\n[4,0]\n").expect_err("unsorted").to_string();
    assert!(e.contains("t.json: line 3"), "{e}");
    let e = read("[5,1]\n").expect_err("bad fn").to_string();
    assert!(e.contains("line 2") && e.contains("out of range"), "{e}");
    let e = read("[5,-1]\n").expect_err("neg").to_string();
    assert!(e.contains("not an unsigned integer"), "{e}");
    let e = read("{\"t\":1}\n").expect_err("obj").to_string();
    assert!(e.contains("not a JSON array"), "{e}");
}

#[test]
fn lines_without_end_are_capped() {
    // `sim --trace /dev/zero`: refused at the first byte.
    let mut zeros = std::io::BufReader::new(std::io::repeat(0).take(1 << 40));
    let e = TraceReader::new(&mut zeros, "/dev/zero").expect_err("zeros");
    assert!(e.to_string().contains("/dev/zero: line 1 (header)"), "{e}");
    assert!(e.to_string().contains("byte 0x00"), "{e}");
    // A header that never ends: capped.
    let endless = (&b"{"[..]).chain(std::io::repeat(b' ').take(1 << 40));
    let e = TraceReader::new(std::io::BufReader::new(endless), "x.json")
        .expect_err("endless")
        .to_string();
    assert!(
        e.contains("x.json: line 1 is longer than 268435456 bytes"),
        "{e}"
    );
    // An invocation line that never ends: capped.
    let start = format!("{HEADER}\n[1,0]\n[2");
    let body = start.as_bytes().chain(std::io::repeat(b'0').take(1 << 40));
    let e = TraceReader::new(std::io::BufReader::new(body), "t.json")
        .expect("header")
        .collect::<Result<Vec<_>, _>>()
        .expect_err("endless line")
        .to_string();
    assert!(
        e.contains("t.json: line 3 is longer than 1024 bytes"),
        "{e}"
    );
}

#[test]
fn header_must_be_an_object() {
    let e = TraceReader::new("[\"sock-trace\",1,null,[],[]]\n".as_bytes(), "a.json")
        .expect_err("array")
        .to_string();
    assert!(
        e.contains("a.json: line 1 (header)") && e.contains("JSON array"),
        "{e}"
    );
    let bad = HEADER.replace(
        r#""packages":[{"name":"a","version":"1","import_ms":1,"import_mb":1,"install_ms":1,"disk_bytes":1}]"#,
        r#""packages":[["a","1",[],[],1,1,1,1,false]]"#,
    );
    assert_ne!(bad, HEADER);
    let e = TraceReader::new(bad.as_bytes(), "a.json")
        .expect_err("array package")
        .to_string();
    assert!(e.contains("invalid type: sequence"), "{e}");
}

#[test]
fn trace_names_are_validated_naming_line_and_field() {
    for (from, to, field) in [
        (
            r#""name":"a""#,
            r#""name":"a\"; import os""#,
            "packages[0].name",
        ),
        (
            r#""version":"1""#,
            r#""version":"1,2""#,
            "packages[0].version",
        ),
        (
            r#""name":"f""#,
            r#""name":"f\nimport os""#,
            "functions[0].name",
        ),
        (
            r#""version":"1","#,
            r#""version":"1","modules":["os; import sys"],"#,
            "packages[0].modules[0]",
        ),
    ] {
        let bad = HEADER.replace(from, to);
        assert_ne!(bad, HEADER);
        let e = TraceReader::new(bad.as_bytes(), "t.json")
            .expect_err(field)
            .to_string();
        assert!(
            e.contains("t.json: line 1 (header)") && e.contains(field),
            "{e}"
        );
    }
}

#[test]
fn huge_numbers_are_rejected_naming_the_field() {
    let bad = HEADER.replace("\"import_ms\":1", "\"import_ms\":1e300");
    let e = TraceReader::new(bad.as_bytes(), "x")
        .expect_err("huge")
        .to_string();
    assert!(
        e.contains("import_ms of packages[0]") && e.contains("[0, 1e12]"),
        "{e}"
    );
    let bad = HEADER.replace("\"duration_ms\":1", "\"duration_ms\":1e13");
    let e = TraceReader::new(bad.as_bytes(), "x")
        .expect_err("huge")
        .to_string();
    assert!(e.contains("duration_ms"), "{e}");
}

#[test]
fn header_errors() {
    let e = TraceReader::new("".as_bytes(), "x")
        .expect_err("empty")
        .to_string();
    assert!(e.contains("empty"));
    let bad = HEADER.replace("\"packages\":[0]", "\"packages\":[3]");
    let e = TraceReader::new(bad.as_bytes(), "x")
        .expect_err("pkg")
        .to_string();
    assert!(e.contains("functions[0].packages"), "{e}");
    let bad = HEADER.replace("\"import_ms\":1", "\"import_ms\":-1");
    let e = TraceReader::new(bad.as_bytes(), "x")
        .expect_err("neg")
        .to_string();
    assert!(e.contains("import_ms"), "{e}");
}
