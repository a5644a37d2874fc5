//! `sock-exec load` and `sock-exec registry --from-trace` against an
//! in-test fake worker (no root, no network beyond loopback): the fake
//! parses requests with the worker's own parser (`worker::http::parse`)
//! and answers as the contract says the worker does (`X-Sock-Record` on
//! every served call, 503 without one when over capacity).

use sock_core::record::{InvocationRecord, PathKind, PhasesUs, RECORD_SCHEMA};
use sock_core::trace::{Function, Invocation, Package, TraceHeader, TraceReader, TraceWriter};
use sock_core::{FunctionId, Micros};
use sock_exec::worker::from_trace::{registry_names, write_registry, FromTraceError};
use sock_exec::worker::load::{replay, LoadOptions, LoadSummary, Target};
use sock_exec::worker::registry::Registry;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake worker does with a call of a function.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    /// 200 with a record, keep-alive.
    Ok,
    /// 200 with a record and `Connection: close`.
    Close,
    /// 200 with a record, then closes without saying so (an idle close).
    SilentClose,
    /// 503 without a record.
    Busy,
    /// Reads the request and never answers.
    Hang,
    /// A chunked response.
    Chunked,
}

/// The worker's phases in every fake record (sum 1350 us).
fn worker_phases() -> PhasesUs {
    PhasesUs {
        queue: 100,
        create: 200,
        handler: 1000,
        transport: 50,
        ..PhasesUs::default()
    }
}

#[derive(Clone, Default)]
struct Seen {
    connections: Arc<AtomicUsize>,
    /// (function, event) of each request, in arrival order.
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

/// Starts a fake worker; `reply` picks the behaviour per function.
fn fake(reply: fn(&str) -> Reply) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Seen::default();
    let s = seen.clone();
    let seq = Arc::new(AtomicU64::new(1000));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            s.connections.fetch_add(1, Ordering::SeqCst);
            let (s, seq) = (s.clone(), seq.clone());
            std::thread::spawn(move || serve(conn, reply, &s, &seq));
        }
    });
    (url, seen)
}

fn serve(mut conn: TcpStream, reply: fn(&str) -> Reply, seen: &Seen, seq: &AtomicU64) {
    use sock_exec::worker::http::{parse, route, Route};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let (req, used) = loop {
            match parse(&buf) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(e) => panic!("the worker's parser refused the client's request: {e}"),
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..used);
        let Ok(Route::Run { function, event }) = route(&req) else {
            panic!("not a run request: {req:?}");
        };
        seen.requests
            .lock()
            .expect("lock")
            .push((function.clone(), event.clone()));
        let how = reply(&function);
        // Functions run 1, 2, 3 ms: calls finish out of their order.
        let d = event["duration_s"].as_f64().unwrap_or(0.0);
        std::thread::sleep(Duration::from_secs_f64(d));
        let record = InvocationRecord {
            schema: RECORD_SCHEMA,
            seq: seq.fetch_add(1, Ordering::SeqCst),
            arrival_us: 7,
            function: 0,
            function_name: function.clone(),
            instance: 1,
            path: PathKind::ZygoteHit,
            zygote: Some(0),
            zygote_depth: Some(0),
            spare: false,
            imported: vec![],
            installed: vec![],
            phases_us: worker_phases(),
            latency_us: 1350,
        };
        let record = serde_json::to_string(&record).expect("json");
        let body = serde_json::json!({ "function": function }).to_string();
        let (status, header, conn_header) = match how {
            Reply::Ok | Reply::SilentClose => (200, Some(record), "keep-alive"),
            Reply::Close => (200, Some(record), "close"),
            Reply::Busy => (503, None, "keep-alive"),
            Reply::Hang => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Reply::Chunked => {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                );
                continue;
            }
        };
        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {conn_header}\r\n", body.len());
        if let Some(h) = header {
            out += &format!("X-Sock-Record: {h}\r\n");
        }
        out += "\r\n";
        out += &body;
        if conn.write_all(out.as_bytes()).is_err() || how != Reply::Ok && how != Reply::Busy {
            return;
        }
    }
}

/// A trace: functions `names` (function i needs package i % 2 when
/// `packages`), `n` calls at 1 ms steps cycling through the functions;
/// version 2, call 3 with its own 2 ms duration.
fn write_trace(dir: &Path, names: &[&str], n: u64) -> PathBuf {
    let pkg = |name: &str, deps: Vec<u32>| Package {
        name: name.into(),
        version: "1.0".into(),
        deps,
        modules: vec![],
        import_ms: 1.0,
        import_mb: 1.0,
        install_ms: 1.0,
        disk_bytes: 1,
        imputed: false,
    };
    let packages = vec![pkg("alpha", vec![]), pkg("beta-pkg", vec![0])];
    let functions = names
        .iter()
        .enumerate()
        .map(|(i, n)| Function {
            name: n.to_string(),
            packages: if i % 3 == 2 {
                vec![]
            } else {
                vec![(i % 2) as u32]
            },
            duration_ms: 1.0 + i as f64,
            cold_duration_ms: None,
            memory_mb: 16.0,
        })
        .collect();
    let header =
        TraceHeader::new(packages, functions, serde_json::Value::Null).with_invocation_durations();
    let path = dir.join("t.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = TraceWriter::new(file, &header).expect("writer");
    for i in 0..n {
        let mut inv = Invocation::new(
            Micros(i * 1000),
            FunctionId((i % names.len() as u64) as u32),
        );
        if i == 3 {
            inv.duration = Some(Micros(2000));
        }
        w.write(inv).expect("write");
    }
    w.finish().expect("finish");
    path
}

struct Run {
    summary: LoadSummary,
    records: Vec<InvocationRecord>,
}

fn run(
    trace: &Path,
    url: &str,
    concurrency: usize,
    timeout: Duration,
    stop: &dyn Fn() -> Option<String>,
) -> Run {
    let file = std::fs::File::open(trace).expect("open");
    let reader = TraceReader::new(std::io::BufReader::new(file), "t").expect("trace");
    let (catalog, invocations) = reader.into_parts();
    let names = registry_names(&catalog);
    let opts = LoadOptions {
        target: Target::parse(url).expect("url"),
        url: url.to_string(),
        speedup: 1.0,
        limit: None,
        concurrency,
        timeout,
        progress_every: None,
    };
    let mut out = Vec::new();
    let summary = replay(
        &catalog,
        &names.names,
        invocations,
        &opts,
        Some(&mut out),
        stop,
    )
    .expect("replay");
    let records = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    Run { summary, records }
}

fn never() -> Option<String> {
    None
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn replays_every_call_in_seq_order_with_the_hop_in_transport() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa", "fb", "hello"], 30);
    let (url, seen) = fake(|_| Reply::Ok);
    let r = run(&trace, &url, 4, 30 * SECOND, &never);
    assert_eq!(
        (r.summary.sent, r.summary.ok, r.summary.records),
        (30, 30, 30)
    );
    assert!(r.summary.errors.is_empty(), "{:?}", r.summary.errors);
    assert_eq!(r.summary.latency.n, 30);
    assert_eq!(r.records.len(), 30);
    let names = ["fa", "fb", "hello"];
    for (i, rec) in r.records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(rec.seq, i, "records are in trace order");
        assert_eq!(
            rec.arrival_us,
            i * 1000,
            "the trace's arrival, not the worker's"
        );
        assert_eq!(rec.function, (i % 3) as u32);
        assert_eq!(rec.function_name, names[(i % 3) as usize]);
        assert_eq!(rec.schema, RECORD_SCHEMA);
        let sum: u64 = rec.phases_us.values().iter().sum();
        assert_eq!(sum, rec.latency_us, "phases sum to the latency");
        let w = worker_phases();
        assert!(rec.phases_us.transport >= w.transport);
        let hop = rec.phases_us.transport - w.transport;
        assert_eq!(rec.latency_us, 1350 + hop);
        assert_eq!(rec.phases_us.handler, w.handler, "only transport grows");
        assert_eq!(rec.path, PathKind::ZygoteHit);
    }
    // Keep-alive: at most one connection per client thread.
    assert!(seen.connections.load(Ordering::SeqCst) <= 4);
    let reqs = seen.requests.lock().expect("lock").clone();
    assert_eq!(reqs.len(), 30);
    let dur = |f: &str| {
        reqs.iter()
            .filter(|(n, _)| n == f)
            .map(|(_, e)| e["duration_s"].as_f64().expect("duration_s"))
            .collect::<Vec<_>>()
    };
    // fa's calls are seq 0, 3, 6, ..: the function's 1 ms, call 3's own 2 ms.
    let fa = dur("fa");
    assert_eq!(fa.iter().filter(|&&d| d == 0.002).count(), 1, "{fa:?}");
    assert_eq!(fa.iter().filter(|&&d| d == 0.001).count(), 9, "{fa:?}");
    assert!(dur("hello").iter().all(|&d| d == 0.003));
}

#[test]
fn connection_close_and_idle_closes_are_followed() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa"], 8);
    for reply in [(|_: &str| Reply::Close) as fn(&str) -> Reply, |_: &str| {
        Reply::SilentClose
    }] {
        let (url, seen) = fake(reply);
        let r = run(&trace, &url, 1, 30 * SECOND, &never);
        assert_eq!(
            (r.summary.ok, r.records.len()),
            (8, 8),
            "{:?}",
            r.summary.first_error
        );
        assert_eq!(
            seen.connections.load(Ordering::SeqCst),
            8,
            "one connection per call"
        );
        assert_eq!(
            seen.requests.lock().expect("lock").len(),
            8,
            "no call sent twice"
        );
    }
}

#[test]
fn busy_503s_are_dropped_and_leave_no_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa", "busy"], 10);
    let (url, _) = fake(|f| if f == "busy" { Reply::Busy } else { Reply::Ok });
    let r = run(&trace, &url, 2, 30 * SECOND, &never);
    assert_eq!(
        (r.summary.sent, r.summary.ok, r.summary.dropped),
        (10, 5, 5)
    );
    assert!(r.summary.errors.is_empty());
    let seqs: Vec<u64> = r.records.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, [0, 2, 4, 6, 8]);
    assert!(
        r.summary.render().contains("dropped   5"),
        "{}",
        r.summary.render()
    );
}

#[test]
fn a_server_that_never_answers_times_out_and_chunked_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa", "hang", "chunked"], 6);
    let (url, _) = fake(|f| match f {
        "hang" => Reply::Hang,
        "chunked" => Reply::Chunked,
        _ => Reply::Ok,
    });
    let r = run(&trace, &url, 8, Duration::from_millis(300), &never);
    assert_eq!((r.summary.sent, r.summary.ok), (6, 2));
    assert_eq!(r.summary.errors.get("timeout"), Some(&2));
    assert_eq!(r.summary.errors.get("bad_response"), Some(&2));
    assert!(r.summary.first_error["bad_response"].contains("chunked"));
    assert_eq!(r.records.iter().map(|x| x.seq).collect::<Vec<_>>(), [0, 3]);
}

#[test]
fn a_stop_request_ends_sending_and_keeps_what_was_sent() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa"], 1000);
    let (url, seen) = fake(|_| Reply::Ok);
    let s = seen.clone();
    let stop =
        move || (s.requests.lock().expect("lock").len() >= 5).then(|| "by the test".to_string());
    let r = run(&trace, &url, 2, 30 * SECOND, &stop);
    assert_eq!(r.summary.interrupted.as_deref(), Some("by the test"));
    assert!(
        r.summary.sent < 1000 && r.summary.sent >= 5,
        "{}",
        r.summary.sent
    );
    assert_eq!(
        r.records.len() as u64,
        r.summary.sent,
        "calls in flight are awaited"
    );
}

#[test]
fn a_connection_refused_is_an_error_per_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa"], 3);
    // A port nothing listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let r = run(
        &trace,
        &format!("http://127.0.0.1:{port}"),
        2,
        5 * SECOND,
        &never,
    );
    assert_eq!(
        (r.summary.sent, r.summary.errors.get("connect")),
        (3, Some(&3))
    );
    assert!(r.records.is_empty());
}

#[test]
fn a_registry_from_a_trace_loads_with_its_names_and_pins() {
    let dir = tempfile::tempdir().expect("tmp");
    let long = "x".repeat(140);
    let trace = write_trace(dir.path(), &["fa", "fb", "hello", "fa", &long], 5);
    let file = std::fs::File::open(&trace).expect("open");
    let (catalog, _) = TraceReader::new(std::io::BufReader::new(file), "t")
        .expect("trace")
        .into_parts();
    let out = dir.path().join("registry");
    let w = write_registry(&catalog, "t.jsonl", &out, None).expect("registry");
    assert_eq!((w.functions, w.pins, w.names.renamed.len()), (5, 4, 2));
    let reg = Registry::load(&out).expect("the worker's loader accepts it");
    let want_long = format!("{}.f4", "x".repeat(96));
    let mut names: Vec<&str> = reg.functions.keys().map(String::as_str).collect();
    names.sort();
    let mut want = vec!["fa", "fa.f3", "fb", "hello", want_long.as_str()];
    want.sort();
    assert_eq!(names, want);
    let pins = |f: &str| {
        reg.get(f)
            .expect(f)
            .requirements
            .iter()
            .map(|p| p.key())
            .collect::<Vec<_>>()
    };
    assert_eq!(pins("fa"), ["alpha==1.0"]);
    assert_eq!(pins("fb"), ["beta-pkg==1.0"], "direct packages only");
    assert!(pins("hello").is_empty());
    assert_eq!(pins("fa.f3"), ["beta-pkg==1.0"]);
    let fb = std::fs::read_to_string(out.join("fb/f.py")).expect("f.py");
    assert!(fb.contains("DURATION_S = 0.002"), "{fb}");
    assert!(
        fb.contains(r#"IMPORTS = ["alpha","beta_pkg"]"#),
        "the closure's modules: {fb}"
    );
    assert!(fb.contains("event.get(\"duration_s\")"));

    let e = write_registry(&catalog, "t.jsonl", &out, None).expect_err("not empty");
    assert!(matches!(e, FromTraceError::NotEmpty { .. }), "{e}");

    // --find-links: every closure package needs a distribution.
    let wheels = dir.path().join("wheels");
    let one = sock_exec::install::wheel::TestPackage::new("alpha", "1.0");
    sock_exec::install::wheel::build_wheels(&wheels, &[one]).expect("wheels");
    let e = write_registry(&catalog, "t.jsonl", &dir.path().join("r2"), Some(&wheels))
        .expect_err("beta-pkg has no wheel");
    assert!(e.to_string().contains("beta-pkg==1.0"), "{e}");
    let two = sock_exec::install::wheel::TestPackage::new("beta-pkg", "1.0");
    sock_exec::install::wheel::build_wheels(&wheels, &[two]).expect("wheels");
    write_registry(&catalog, "t.jsonl", &dir.path().join("r2"), Some(&wheels)).expect("all there");
}

#[test]
fn the_commands_write_a_registry_and_records_sim_compare_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = write_trace(dir.path(), &["fa", "busy"], 6);
    let exe = env!("CARGO_BIN_EXE_sock-exec");
    let reg = dir.path().join("reg");
    let out = std::process::Command::new(exe)
        .args(["registry", "--from-trace"])
        .arg(&trace)
        .arg("--out")
        .arg(&reg)
        .output()
        .expect("sock-exec registry");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("wrote 2 functions (2 pins, 0 renamed)"),
        "{text}"
    );

    let (url, _) = fake(|f| if f == "busy" { Reply::Busy } else { Reply::Ok });
    let records = dir.path().join("m.jsonl");
    let out = std::process::Command::new(exe)
        .args([
            "load",
            "--url",
            &url,
            "--speedup",
            "10",
            "--limit",
            "5",
            "--trace",
        ])
        .arg(&trace)
        .arg("--records")
        .arg(&records)
        .output()
        .expect("sock-exec load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in ["sent      5", "ok        3", "dropped   2", "latency   p50"] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    let lines = std::fs::read_to_string(&records).expect("records");
    let seqs: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<InvocationRecord>(l)
                .expect("record")
                .seq
        })
        .collect();
    assert_eq!(seqs, [0, 2, 4]);
}

#[test]
fn a_call_that_finds_every_slot_busy_waits_and_is_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    // Call 0 hangs until its timeout; call 1, due 1 ms later, must wait
    // for the one slot.
    let trace = write_trace(dir.path(), &["hang", "fa"], 2);
    let (url, _) = fake(|f| if f == "hang" { Reply::Hang } else { Reply::Ok });
    let r = run(&trace, &url, 1, Duration::from_millis(200), &never);
    assert_eq!((r.summary.sent, r.summary.ok), (2, 1));
    assert_eq!(r.summary.errors.get("timeout"), Some(&1));
    assert_eq!((r.summary.late_at_cap, r.summary.late), (1, 1));
    assert!(r.summary.render().contains("waited for a slot"));
}
