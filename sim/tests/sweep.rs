//! `sim sweep`: one row per grid point with the same numbers `sim` prints
//! for those flags; shards run as a Kubernetes Indexed Job or a Slurm
//! array would run them (index from the environment) merge into exactly
//! the bytes of one unsharded run; a stopped sweep resumes from its
//! journal; bad grids fail before any replay, naming the point.

mod common;

use common::{fails, ok, root, sim};
use std::process::Command;

fn trace(dir: &std::path::Path) -> String {
    gen(dir, "t.json", "15", "3000", "600", "5")
}

// `sim trace gen` with 20 packages into `dir/name`.
use common::gen_trace as gen;

const AXES: [&str; 4] = [
    "--axis",
    "handler-mb=64,256,1024",
    "--axis",
    "policy=ttl,gdsf",
];

fn csv_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .expect("read csv")
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn rows_match_sim_and_shards_merge_into_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let out = dir.path().join("sweep.csv");
    let mut args = vec!["sweep", "--trace", &t];
    args.extend(AXES);
    let o = out.display().to_string();
    args.extend(["--out", &o, "--", "--zygote-mb", "128"]);
    ok(&sim(&args));
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 7, "a header and 6 points");
    let col = |name: &str| rows[0].iter().position(|c| c == name).expect(name);
    // Point 3 is handler-mb 256 with gdsf: the same numbers as sim itself.
    let r = &rows[4];
    assert_eq!(
        (r[col("handler-mb")].as_str(), r[col("policy")].as_str()),
        ("256", "gdsf")
    );
    let json = ok(&sim(&[
        "--trace",
        &t,
        "--zygote-mb",
        "128",
        "--handler-mb",
        "256",
        "--policy",
        "gdsf",
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    for key in [
        "paths.handler_hit.count",
        "startup_ms.p99",
        "worker.memory_mb.peak",
    ] {
        let mut x = &v;
        for part in key.split('.') {
            x = &x[part];
        }
        assert_eq!(r[col(key)], x.to_string(), "{key}");
    }
    // Shards, with the index from the environment as each engine sets it.
    let mut parts = Vec::new();
    for (i, var) in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
    ]
    .iter()
    .enumerate()
    {
        let part = dir
            .path()
            .join(format!("part{i}.csv"))
            .display()
            .to_string();
        let mut a = vec!["sweep", "--trace", &t];
        a.extend(AXES);
        a.extend([
            "--shard",
            "env/4",
            "--out",
            &part,
            "--",
            "--zygote-mb",
            "128",
        ]);
        let o = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(&a)
            .current_dir(root())
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env(var, i.to_string())
            .output()
            .expect("run sim");
        ok(&o);
        parts.push(part);
    }
    let merged = dir.path().join("merged.csv").display().to_string();
    let mut m = vec!["sweep", "merge", "--out", &merged];
    m.extend(parts.iter().map(String::as_str));
    ok(&sim(&m));
    assert_eq!(
        std::fs::read(&merged).expect("merged"),
        std::fs::read(&out).expect("unsharded"),
        "merged shards are the unsharded bytes"
    );
    // A missing shard is an error naming how many points are missing.
    let e = fails(&sim(&[
        "sweep", "merge", "--out", &merged, &parts[0], &parts[1],
    ]));
    assert!(e.contains("2 of the grid's 6 points"), "{e}");
}

#[test]
fn a_stopped_sweep_resumes_and_bad_grids_fail_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let out = dir.path().join("s.csv");
    let o = out.display().to_string();
    let mut args = vec!["sweep", "--trace", &t];
    args.extend(AXES);
    args.extend(["--out", &o]);
    ok(&sim(&args));
    let whole = std::fs::read(&out).expect("csv");
    // Stop it mid-row: the journal loses its last line's end.
    let journal = dir.path().join("s.csv.rows.jsonl");
    let j = std::fs::read(&journal).expect("journal");
    std::fs::write(&journal, &j[..j.len() - 50]).expect("cut");
    std::fs::remove_file(&out).expect("rm");
    let o2 = sim(&args);
    ok(&o2);
    let err = String::from_utf8_lossy(&o2.stderr);
    assert!(err.contains("1 replayed now, 5 from its journal"), "{err}");
    assert_eq!(std::fs::read(&out).expect("csv"), whole);
    // Another grid on the same journal is refused.
    let e = fails(&sim(&[
        "sweep",
        "--trace",
        &t,
        "--axis",
        "handler-mb=1,2",
        "--out",
        &o,
    ]));
    assert!(e.contains("another sweep's journal"), "{e}");
    // A bad value names its point and flag, before any replay.
    let bad = dir.path().join("bad.csv").display().to_string();
    let e = fails(&sim(&[
        "sweep",
        "--trace",
        &t,
        "--axis",
        "ttl-s=60,-1",
        "--out",
        &bad,
    ]));
    assert!(e.contains("grid point 1") && e.contains("--ttl-s"), "{e}");
    assert!(!dir.path().join("bad.csv.rows.jsonl").exists());
    let e = fails(&sim(&[
        "sweep",
        "--trace",
        &t,
        "--axis",
        "records=x.jsonl",
        "--out",
        &bad,
    ]));
    assert!(e.contains("not a setting"), "{e}");
}

/// `sim sweep summarize`: rows of one configuration over several traces
/// (seeds) become one mean with a Student's t interval, computed here by
/// hand from the sweep's own cells (t(0.975; 2) = 4.302653).
#[test]
fn summarize_gives_each_configuration_a_t_interval_over_its_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut traces = Vec::new();
    for seed in ["1", "2", "3"] {
        let t = gen(
            dir.path(),
            &format!("t{seed}.json"),
            "10",
            "1500",
            "300",
            seed,
        );
        traces.push(t);
    }
    let out = dir.path().join("sweep.csv").display().to_string();
    let mut args = vec!["sweep"];
    for t in &traces {
        args.extend(["--trace", t.as_str()]);
    }
    args.extend(["--axis", "worker-mb=1024,4096", "--out", &out]);
    ok(&sim(&args));
    let sum = dir.path().join("sum.csv");
    let s = sum.display().to_string();
    ok(&sim(&["sweep", "summarize", "--in", &out, "--out", &s]));

    let rows = csv_rows(std::path::Path::new(&out));
    let col = |name: &str| rows[0].iter().position(|c| c == name).expect(name);
    let (mb, cold) = (col("worker-mb"), col("worker.cold_pct"));
    let summary = csv_rows(&sum);
    assert_eq!(
        summary[0][..2],
        ["worker-mb".to_string(), "metric".to_string()]
    );
    for size in ["1024", "4096"] {
        let v: Vec<f64> = rows[1..]
            .iter()
            .filter(|r| r[mb] == size)
            .map(|r| r[cold].parse().expect("number"))
            .collect();
        assert_eq!(v.len(), 3);
        let mean = v.iter().sum::<f64>() / 3.0;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let half = 4.302653 * sd / 3f64.sqrt();
        let line = summary
            .iter()
            .find(|r| r[0] == size && r[1] == "worker.cold_pct")
            .expect("a cold_pct line per size");
        let num = |i: usize| line[i].parse::<f64>().expect("number");
        assert_eq!(line[2], "3");
        assert!((num(3) - mean).abs() < 1e-9, "{line:?} mean {mean}");
        assert!((num(5) - (mean - half)).abs() < 1e-4, "{line:?} lo");
        assert!((num(6) - (mean + half)).abs() < 1e-4, "{line:?} hi");
    }
    // Not a sweep table: the error names the file.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n").expect("write");
    let b = bad.display().to_string();
    let e = fails(&sim(&["sweep", "summarize", "--in", &b, "--out", &s]));
    assert!(e.contains("bad.csv"), "{e}");
}

/// `--gen ARGS --seeds 1-2` replays, in memory, exactly the traces
/// `sim trace gen ARGS --seed S` writes: every metric equals the sweep of
/// the files; only the `trace` column differs and a `seed` column is added.
#[test]
fn seeds_build_their_traces_in_memory_with_the_files_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<String> = ["1", "2"]
        .iter()
        .map(|s| gen(dir.path(), &format!("t{s}.json"), "10", "1500", "300", s))
        .collect();
    let by_file = dir.path().join("files.csv").display().to_string();
    let in_mem = dir.path().join("seeds.csv").display().to_string();
    let axis = ["--axis", "worker-mb=512,4096"];
    let mut args = vec!["sweep", "--trace", &files[0], "--trace", &files[1]];
    args.extend(axis);
    args.extend(["--out", &by_file]);
    ok(&sim(&args));
    let gen_args = "--packages 20 --functions 10 --invocations 1500 --duration-s 300";
    let mut args = vec!["sweep", "--gen", gen_args, "--seeds", "1-2"];
    args.extend(axis);
    args.extend(["--out", &in_mem]);
    ok(&sim(&args));

    let (a, b) = (
        csv_rows(std::path::Path::new(&by_file)),
        csv_rows(std::path::Path::new(&in_mem)),
    );
    assert_eq!(b[0][..4], ["point", "trace", "seed", "worker-mb"]);
    assert_eq!(b[1][1], format!("sim trace gen {gen_args} --seed 1"));
    assert_eq!((b[1][2].as_str(), b[3][2].as_str()), ("1", "2"));
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(&b).skip(1) {
        let strip = |r: &[String], hdr: &[String]| -> Vec<(String, String)> {
            hdr.iter()
                .cloned()
                .zip(r.iter().cloned())
                .filter(|(h, _)| h != "trace" && h != "seed" && h != "trace.path")
                .collect()
        };
        assert_eq!(strip(ra, &a[0]), strip(rb, &b[0]));
    }
    // Seeds without a source, and a bad flag in the source, fail first.
    let e = fails(&sim(&["sweep", "--seeds", "1-2", "--out", &in_mem]));
    assert!(e.contains("--build ARGS or --gen ARGS"), "{e}");
    let e = fails(&sim(&[
        "sweep",
        "--gen",
        "--bogus 3",
        "--seeds",
        "1",
        "--out",
        &in_mem,
    ]));
    assert!(e.contains("--bogus"), "{e}");
}
