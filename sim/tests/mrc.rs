//! `sim mrc` against the brute-force sweep it stands in for: on generated
//! traces (one sparse, one with many overlapping calls of a function) its
//! cold-start share at each memory is within one percentage point of
//! `sim sweep --axis handler-mb=...` under `--policy lru --zygotes off
//! --worker-mb unbounded --cores unbounded`; a SHARDS-sampled curve is
//! within a looser bound.

mod common;

use common::{ok, sim};

const MB: &str = "32,64,128,256,512,1024,2048,4096";

// `sim trace gen` with 20 packages into `dir/name`.
use common::gen_trace as gen;

/// The mrc curve's cold % per memory of `MB`.
fn mrc(trace: &str, rate: &str) -> Vec<f64> {
    mrc_with(trace, rate, &[])
}

fn mrc_with(trace: &str, rate: &str, extra: &[&str]) -> Vec<f64> {
    let mut args = vec![
        "mrc",
        "--trace",
        trace,
        "--mb",
        MB,
        "--sample-rate",
        rate,
        "--json",
    ];
    args.extend(extra);
    let out = ok(&sim(&args));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["cold_pct"].as_f64().expect("cold_pct"))
        .collect()
}

/// The sweep's cold % per memory of `MB`.
fn sweep(dir: &std::path::Path, trace: &str) -> Vec<f64> {
    let out = dir.join("sweep.csv");
    let axis = format!("handler-mb={MB}");
    ok(&sim(&[
        "sweep",
        "--trace",
        trace,
        "--axis",
        &axis,
        "--out",
        out.to_str().expect("utf8"),
        "--",
        "--policy",
        "lru",
        "--zygotes",
        "off",
        "--worker-mb",
        "unbounded",
        "--cores",
        "unbounded",
    ]));
    let text = std::fs::read_to_string(&out).expect("read csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|&c| c == COLD)
        .unwrap_or_else(|| panic!("no {COLD} in {header:?}"));
    lines
        .map(|l| {
            l.split(',')
                .nth(col)
                .expect("cell")
                .parse()
                .expect("number")
        })
        .collect()
}

const COLD: &str = "worker.cold_pct";

/// The largest absolute difference, in percentage points.
fn max_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn within_a_point_of_the_sweep(functions: &str, invocations: &str, secs: &str, seed: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", functions, invocations, secs, seed);
    let (curve, brute) = (mrc(&t, "1"), sweep(dir.path(), &t));
    let e = max_error(&curve, &brute);
    assert!(
        e <= 1.0,
        "mrc {curve:?}\nsweep {brute:?}\nlargest error {e}"
    );
}

#[test]
fn sparse_trace_within_a_point_of_the_sweep() {
    within_a_point_of_the_sweep("30", "5000", "600", "5");
}

#[test]
fn overlapping_trace_within_a_point_of_the_sweep() {
    // 12 functions, 40 calls a second: most calls overlap another of
    // their function, so the tier keeps several instances per function.
    within_a_point_of_the_sweep("12", "8000", "200", "9");
}

#[test]
fn sampled_curve_is_close_to_the_sweep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "400", "20000", "600", "3");
    let (curve, brute) = (mrc(&t, "0.5"), sweep(dir.path(), &t));
    let e = max_error(&curve, &brute);
    assert!(
        e <= 10.0,
        "mrc {curve:?}\nsweep {brute:?}\nlargest error {e}"
    );
}

/// `--one-pass` (one stack pass, each idle instance's largest depth) is an
/// estimate: monotone in memory, and within 10 points of the sweep here.
#[test]
fn one_pass_estimate_is_close_to_the_sweep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "30", "5000", "600", "5");
    let (curve, brute) = (mrc_with(&t, "1", &["--one-pass"]), sweep(dir.path(), &t));
    let e = max_error(&curve, &brute);
    assert!(
        e <= 10.0,
        "one pass {curve:?}\nsweep {brute:?}\nlargest error {e}"
    );
    assert!(curve.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{curve:?}");
}

/// Issue 11's check on real data: the 100-function Azure slice (340 k
/// calls), the curve within 0.01 points of the brute-force sweep at every
/// memory of `MB`. Skips loudly without `../shared/data`; fails in CI.
#[test]
fn real_100_slice_within_a_hundredth_of_a_point_of_the_sweep() {
    let Some(data) = common::real_data() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/data not found, and CI is set: the real-data check may not skip in CI"
        );
        eprintln!("\n*** SKIPPED real_100_slice_within_a_hundredth_of_a_point_of_the_sweep: ../shared/data not found ***\n");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("s100.json").display().to_string();
    let d = data.display().to_string();
    ok(&sim(&[
        "trace", "build", "--data", &d, "--slice", "100", "--seed", "1", "--out", &t,
    ]));
    let (curve, brute) = (mrc(&t, "1"), sweep(dir.path(), &t));
    let e = max_error(&curve, &brute);
    assert!(
        e <= 0.01,
        "mrc {curve:?}\nsweep {brute:?}\nlargest error {e}"
    );
}
