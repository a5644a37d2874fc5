//! `sim plot`: every kind draws its input to SVG and to PNG, with the
//! trace in the title and the series in the legend; `sim --memory-series`
//! writes the series `sim plot memory` reads; a missing column or axis
//! fails naming the file and the column.

mod common;

use common::{fails, ok, s, sim};
use std::path::{Path, PathBuf};

/// A small trace, two sweeps (memory x policy; handler x Zygote budget),
/// records and a memory series of one replay, in `dir`.
struct Inputs {
    memory_sweep: PathBuf,
    budget_sweep: PathBuf,
    records: PathBuf,
    series: PathBuf,
}

fn inputs(dir: &Path) -> Inputs {
    let t = gen(dir, "t.json", "5");
    let u = gen(dir, "u.json", "6");
    let sweep = |name: &str, traces: &[&Path], axes: [&str; 2]| {
        let out = dir.join(name);
        let mut args = vec!["sweep"];
        for t in traces {
            args.extend(["--trace", s(t)]);
        }
        args.extend([
            "--axis",
            axes[0],
            "--axis",
            axes[1],
            "--jobs",
            "2",
            "--out",
            s(&out),
        ]);
        ok(&sim(&args));
        out
    };
    // Two traces: each configuration is plotted as the mean of two rows.
    let memory_sweep = sweep(
        "sweep.csv",
        &[&t, &u],
        ["worker-mb=512,2048", "policy=ttl,gdsf"],
    );
    let budget_sweep = sweep(
        "budgets.csv",
        &[&t],
        ["handler-mb=64,256", "zygote-mb=32,128,512"],
    );
    let records = dir.join("records.jsonl");
    let series = dir.join("memory.csv");
    ok(&sim(&[
        "--trace",
        s(&t),
        "--records",
        s(&records),
        "--memory-series",
        s(&series),
    ]));
    Inputs {
        memory_sweep,
        budget_sweep,
        records,
        series,
    }
}

/// `sim trace gen` of a small trace into `dir/name`.
fn gen(dir: &Path, name: &str, seed: &str) -> PathBuf {
    PathBuf::from(common::gen_trace(dir, name, "15", "2000", "600", seed))
}

/// Runs `sim plot KIND --in IN --out OUT extra...` to SVG and PNG; returns
/// the SVG's text after checking both files.
fn plot(dir: &Path, kind: &str, input: &Path, extra: &[&str]) -> String {
    let mut svg = String::new();
    for ext in ["svg", "png"] {
        let out = dir.join(format!("{kind}.{ext}"));
        let mut args = vec!["plot", kind, "--in", s(input), "--out", s(&out)];
        args.extend(extra);
        ok(&sim(&args));
        let bytes = std::fs::read(&out).expect("read plot");
        assert!(
            bytes.len() > 2000,
            "{kind}.{ext}: only {} bytes",
            bytes.len()
        );
        if ext == "png" {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{kind}.png is a PNG");
        } else {
            svg = String::from_utf8(bytes).expect("utf8 svg");
            assert!(svg.contains("<svg"), "{kind}.svg is an SVG");
        }
    }
    svg
}

fn has(svg: &str, kind: &str, texts: &[&str]) {
    for t in texts {
        assert!(svg.contains(t), "{kind}.svg lacks {t:?}");
    }
}

#[test]
fn every_kind_draws_svg_and_png_with_title_and_legend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let i = inputs(d);
    let svg = plot(d, "cold-vs-memory", &i.memory_sweep, &[]);
    has(
        &svg,
        "cold-vs-memory",
        &[
            "Cold starts vs worker memory: t.json, u.json",
            "worker memory (MB)",
            "\nttl\n",
            "\ngdsf\n",
        ],
    );
    let svg = plot(d, "pareto", &i.memory_sweep, &[]);
    has(
        &svg,
        "pareto",
        &[
            "t.json",
            "Pareto front",
            "\nttl\n",
            "idle handler memory-time (GB·s)",
        ],
    );
    let svg = plot(
        d,
        "startup-cdf",
        &i.records,
        &["--trace-name", "pypi-small"],
    );
    has(
        &svg,
        "startup-cdf",
        &[
            "Start-up latency by path (CDF): pypi-small",
            "handler hit (n=",
            "all calls (n=2000)",
        ],
    );
    let svg = plot(d, "phases", &i.memory_sweep, &[]);
    has(
        &svg,
        "phases",
        &[
            "Mean start-up phases per call: t.json, u.json",
            "\nimport\n",
            "512, ttl",
        ],
    );
    let svg = plot(d, "memory", &i.series, &["--title", "Tiers over time"]);
    has(
        &svg,
        "memory",
        &["Tiers over time", "Zygote tree", "idle handlers"],
    );
    let svg = plot(d, "heatmap", &i.budget_sweep, &[]);
    has(
        &svg,
        "heatmap",
        &[
            "p99 start-up latency (ms): t.json",
            "handler cache budget (MB)",
            "\n512\n",
        ],
    );
}

#[test]
fn memory_series_has_one_row_per_step_and_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let i = inputs(dir.path());
    let text = std::fs::read_to_string(&i.series).expect("read series");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("t_s,handler_mb,handler_idle_mb,handler_busy_mb,zygote_mb,install_mb,worker_mb")
    );
    let times: Vec<f64> = lines
        .map(|l| l.split(',').next().expect("t_s").parse().expect("number"))
        .collect();
    assert!(
        times.len() > 100 && times.len() <= 10_000,
        "{} rows",
        times.len()
    );
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "one row per distinct time"
    );
}

#[test]
fn missing_columns_and_bad_outputs_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let i = inputs(d);
    let out = d.join("x.svg");
    let run = |args: &[&str]| {
        let mut a = vec!["plot"];
        a.extend(args);
        fails(&sim(&a))
    };
    let err = run(&[
        "cold-vs-memory",
        "--in",
        s(&i.memory_sweep),
        "--out",
        s(&out),
        "--metric",
        "worker.no_such",
    ]);
    let file = s(&i.memory_sweep);
    assert!(
        err.contains(&format!(
            "{file}: no column worker.no_such; columns are point, trace,"
        )),
        "{err}"
    );
    let err = run(&["heatmap", "--in", file, "--out", s(&out)]);
    assert!(
        err.contains(&format!(
            "{file}: no axis column handler-mb; its axes are worker-mb, policy"
        )),
        "{err}"
    );
    let err = run(&["memory", "--in", file, "--out", s(&out)]);
    assert!(err.contains(&format!("{file}: no column t_s")), "{err}");
    let err = run(&[
        "heatmap",
        "--in",
        s(&i.memory_sweep),
        "--x",
        "worker-mb",
        "--y",
        "policy",
        "--out",
        "x.pdf",
    ]);
    assert!(err.contains("x.pdf: unknown image format"), "{err}");
    assert!(!out.exists(), "no image after an error");
}
