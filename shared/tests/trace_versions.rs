//! Trace format versions 1 and 2 (issue 10): what each accepts, the
//! writer's choice of version, and errors that name the line and field.

use sock_core::trace::{Invocation, TraceError, TraceHeader, TraceReader, TraceWriter};
use sock_core::{FunctionId, Micros};

const PACKAGES: &str = r#""packages":[{"name":"a","version":"1","import_ms":1,"import_mb":1,"install_ms":1,"disk_bytes":1}]"#;

fn header(version: u32, function_extra: &str) -> String {
    format!(
        r#"{{"format":"sock-trace","version":{version},{PACKAGES},"functions":[{{"name":"f","packages":[0],"duration_ms":1,{function_extra}"memory_mb":1}}]}}"#
    )
}

fn read(version: u32, body: &str) -> Result<Vec<Invocation>, TraceError> {
    let text = format!("{}\n{body}", header(version, ""));
    TraceReader::new(text.as_bytes(), "t.json")?.collect()
}

#[test]
fn version_1_reads_two_elements_only() {
    let v = read(1, "[5,0]\n[6, 0 ]\n").expect("v1");
    assert_eq!(v[1], Invocation::new(Micros(6), FunctionId(0)));
    let e = read(1, "[5,0]\n[6,0,7]\n")
        .expect_err("third element")
        .to_string();
    assert!(
        e.contains("t.json: line 3: a third element (duration_us) needs trace format version 2, but the header says version 1")
            && e.contains("an invocation line is `[time_us, function_index]`, got \"[6,0,7]\""),
        "{e}"
    );
}

#[test]
fn version_2_reads_an_optional_duration() {
    let v = read(2, "[5,0,250]\n[6,0]\n[ 7 , 0 , 0 ]\n").expect("v2");
    assert_eq!(v[0].duration, Some(Micros(250)));
    assert_eq!(v[1].duration, None);
    assert_eq!(v[2].duration, Some(Micros(0)));
    for (line, msg) in [
        ("[5,0,-1]", "line 2: duration is not an unsigned integer"),
        ("[5,0,1.5]", "line 2: duration is not an unsigned integer"),
        ("[5,0,]", "line 2: duration is not an unsigned integer"),
        ("[5,0,1,2]", "line 2: more than three elements"),
        (
            "[5,0,1000000000000000001]",
            "line 2: duration 1000000000000000001 us is more than 1000000000000000 us",
        ),
    ] {
        let e = read(2, line).expect_err(line).to_string();
        assert!(e.contains(msg), "{line}: {e}");
        assert!(
            e.contains("or `[time_us, function_index, duration_us]`"),
            "{e}"
        );
    }
    let e = read(2, "[5,3,1]").expect_err("fn").to_string();
    assert!(
        e.contains("line 2: function index 3 is out of range"),
        "{e}"
    );
}

#[test]
fn cold_duration_needs_version_2_and_a_valid_number() {
    let ok = header(2, r#""cold_duration_ms":9.5,"#);
    let r = TraceReader::new(ok.as_bytes(), "t.json").expect("v2 cold");
    assert_eq!(r.catalog().header.functions[0].cold_duration_ms, Some(9.5));
    let old = header(1, r#""cold_duration_ms":9.5,"#);
    let e = TraceReader::new(old.as_bytes(), "t.json")
        .expect_err("v1 cold")
        .to_string();
    assert!(
        e.contains("t.json: line 1 (header): functions[0].cold_duration_ms needs trace format version 2, but the header says version 1"),
        "{e}"
    );
    let bad = header(2, r#""cold_duration_ms":-1,"#);
    let e = TraceReader::new(bad.as_bytes(), "t.json")
        .expect_err("neg")
        .to_string();
    assert!(
        e.contains("cold_duration_ms of functions[0] (f) is -1"),
        "{e}"
    );
    let future = header(3, "");
    let e = TraceReader::new(future.as_bytes(), "t.json")
        .expect_err("v3")
        .to_string();
    assert!(
        e.contains("trace format version 3 is not supported (this build reads versions 1 to 2)"),
        "{e}"
    );
}

#[test]
fn the_writer_writes_the_lowest_version_that_holds_the_trace() {
    let text = format!("{}\n", header(1, ""));
    let h: TraceHeader = TraceReader::new(text.as_bytes(), "t")
        .expect("h")
        .catalog()
        .header
        .clone();
    let (tables, functions) = (h.packages.clone(), h.functions.clone());
    let v1 = TraceHeader::new(tables.clone(), functions.clone(), serde_json::Value::Null);
    assert_eq!(v1.version, 1);
    // A version-1 writer refuses a duration; a version-2 one writes it.
    let mut w = TraceWriter::new(Vec::new(), &v1).expect("w");
    let timed = Invocation {
        duration: Some(Micros(3)),
        ..Invocation::new(Micros(1), FunctionId(0))
    };
    assert!(w
        .write(timed)
        .expect_err("v1")
        .to_string()
        .contains("trace format version is 1"));
    let v2 = v1.clone().with_invocation_durations();
    let mut w = TraceWriter::new(Vec::new(), &v2).expect("w");
    w.write(Invocation::new(Micros(0), FunctionId(0)))
        .expect("plain");
    w.write(timed).expect("timed");
    let bytes = w.finish().expect("finish");
    let text = String::from_utf8(bytes).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(r#""version":2"#));
    assert_eq!(&lines[1..], ["[0,0]", "[1,0,3]"]);
    let back: Vec<Invocation> = TraceReader::new(text.as_bytes(), "t")
        .expect("reads")
        .collect::<Result<_, _>>()
        .expect("invocations");
    assert_eq!(back[1], timed);
    // A cold duration makes the header version 2 by itself.
    let mut cold = functions;
    cold[0].cold_duration_ms = Some(2.0);
    assert_eq!(
        TraceHeader::new(tables, cold, serde_json::Value::Null).version,
        2
    );
}
