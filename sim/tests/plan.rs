//! `sim plan`: the chosen worker meets its objectives and the next memory
//! size down does not; the settings file it writes is read by `sim
//! --config` and reproduces the plan's numbers; an impossible objective
//! exits non-zero naming the best candidate; bad objectives are errors
//! that say what is wrong; the bounds against hand-computed values.

mod common;

use common::{fails, ok, sim};
use serde_json::Value;
use sock_sim::plan::bounds::{clopper_pearson_upper, order_statistic_rank};
use std::path::Path;

/// `sim trace gen` with 20 packages into `dir/name`.
fn gen(dir: &Path, name: &str, seed: &str) -> String {
    gen_n(dir, name, seed, "3000")
}

fn gen_n(dir: &Path, name: &str, seed: &str, invocations: &str) -> String {
    common::gen_trace(dir, name, "15", invocations, "600", seed)
}

const MEMORY: &str = "64,128,256,512,1024,2048,4096";
/// Met at some memory of [`MEMORY`] but not the smallest (see the test).
const SLO: &str = "cold_pct<=25";

fn plan(trace: &str, out: &str, slo: &[&str], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["plan", "--trace", trace, "--out", out, "--json"];
    args.extend(["--memory-mb", MEMORY, "--cores", "2,4"]);
    for s in slo {
        args.extend(["--slo", s]);
    }
    args.extend(extra);
    sim(&args)
}

fn lookup<'a>(v: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(v, |x, k| &x[k])
}

#[test]
fn a_plan_meets_its_objectives_and_the_next_size_down_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "5");
    let out = dir.path().join("plan.json").display().to_string();
    let p: Value = serde_json::from_str(&ok(&plan(&t, &out, &[SLO, "p99_startup_ms<=5000"], &[])))
        .expect("json");
    let chosen = &p["chosen"];
    assert!(chosen.is_object(), "{p}");
    for o in chosen["outcomes"].as_array().expect("outcomes") {
        assert_eq!(o["met"], true, "{o}");
        assert!(o["bound"].as_f64() >= o["point"].as_f64(), "{o}");
    }
    // One trace: a Clopper-Pearson bound for the share, the order
    // statistic for the quantile.
    assert_eq!(chosen["outcomes"][0]["method"], "clopper_pearson");
    assert_eq!(chosen["outcomes"][1]["method"], "order_statistic");
    let mb = chosen["candidate"]["memory_mb"].as_f64().expect("mb");
    assert!(
        mb > 64.0,
        "the SLO must need more than the smallest memory: {p}"
    );
    let sens = p["sensitivity"].as_array().expect("sensitivity");
    let down = sens
        .iter()
        .find(|r| r["label"] == "memory down")
        .expect("a size down");
    assert!(down["candidate"]["memory_mb"].as_f64() < Some(mb));
    assert_eq!(down["candidate"]["cores"], chosen["candidate"]["cores"]);
    assert!(
        down["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .any(|o| o["met"] == false),
        "the next size down must miss an objective: {down}"
    );
    // Fewer replays than the grid: bisection.
    assert!(p["evaluated"].as_u64() < p["of"].as_u64(), "{p}");
}

#[test]
fn the_written_settings_file_is_read_by_sim_config_and_reproduces_the_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "5");
    let out = dir.path().join("plan.json").display().to_string();
    let p: Value = serde_json::from_str(&ok(&plan(
        &t,
        &out,
        &[SLO, "p99_startup_ms<=5000"],
        &["--", "--policy", "gdsf"],
    )))
    .expect("json");
    let chosen = &p["chosen"];
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("plan.json")).expect("json");
    assert_eq!(
        file["worker"]["memory_mb"],
        chosen["candidate"]["memory_mb"]
    );
    assert_eq!(file["tiers"]["handler"]["policy"]["kind"], "gdsf", "{file}");
    // `sock-exec run --config` reads it with sock-core's loader and check.
    let mut read =
        sock_core::config::load_settings(Some(Path::new(&out)), None, |p| std::fs::File::open(p))
            .expect("sock-core reads plan.json");
    read.check().expect("plan.json passes the check");
    assert_eq!(
        Some(read.worker.memory_mb.expect("bounded")),
        chosen["candidate"]["memory_mb"].as_f64()
    );
    let s: Value = serde_json::from_str(&ok(&sim(&[
        "--config", &out, "--trace", &t, "--format", "json",
    ])))
    .expect("summary");
    assert_eq!(
        lookup(&s, "worker.config.memory_mb"),
        &chosen["candidate"]["memory_mb"]
    );
    assert_eq!(
        lookup(&s, "worker.config.cores"),
        &chosen["candidate"]["cores"]
    );
    assert_eq!(
        lookup(&s, "worker.cold_pct").as_f64(),
        chosen["outcomes"][0]["point"].as_f64()
    );
    assert_eq!(
        lookup(&s, "startup_ms.p99").as_f64(),
        chosen["outcomes"][1]["point"].as_f64()
    );
    let check: Vec<&str> = p["check"]
        .as_array()
        .expect("check")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(check.iter().any(|c| c.starts_with("sim --config")));
    assert!(check.iter().any(|c| c.contains("sock-exec run --config")));
}

#[test]
fn a_split_sets_the_idle_handlers_cap_from_the_chosen_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "5");
    let out = dir.path().join("plan.json").display().to_string();
    let p: Value =
        serde_json::from_str(&ok(&plan(&t, &out, &[SLO], &["--split", "0.5,0.25"]))).expect("json");
    let c = &p["chosen"]["candidate"];
    let share = c["handler_share"].as_f64().expect("a share");
    let mb = c["memory_mb"].as_f64().expect("mb");
    assert!(share == 0.25 || share == 0.5, "{c}");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("plan.json")).expect("json");
    assert_eq!(
        file["tiers"]["handler"]["budget_mb"].as_f64(),
        Some(mb * share)
    );
    assert_eq!(p["split"], serde_json::json!([0.25, 0.5]));
    let e = fails(&plan(
        &t,
        &out,
        &[SLO],
        &["--split", "0.5", "--", "--handler-mb", "64"],
    ));
    assert!(e.contains("give one or the other"), "{e}");
    let e = fails(&plan(&t, &out, &[SLO], &["--split", "1.5"]));
    assert!(e.contains("(0, 1]"), "{e}");
}

#[test]
fn several_traces_give_student_t_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = gen(dir.path(), "a.json", "1");
    let b = gen(dir.path(), "b.json", "2");
    let out = dir.path().join("plan.json").display().to_string();
    let o = sim(&[
        "plan",
        "--trace",
        &a,
        "--trace",
        &b,
        "--slo",
        SLO,
        "--memory-mb",
        MEMORY,
        "--cores",
        "4",
        "--out",
        &out,
    ]);
    let text = ok(&o);
    assert!(text.contains("Student's t over 2 traces"), "{text}");
    assert!(text.contains("sensitivity"), "{text}");

    // The same two traces generated in memory (`--gen ARGS --seeds 1-2`)
    // give the same plan, and the check commands write the trace first.
    let mem = dir.path().join("mem.json").display().to_string();
    let gen_args = "--packages 20 --functions 15 --invocations 3000 --duration-s 600";
    let o = sim(&[
        "plan",
        "--gen",
        gen_args,
        "--seeds",
        "1-2",
        "--slo",
        SLO,
        "--memory-mb",
        MEMORY,
        "--cores",
        "4",
        "--out",
        &mem,
    ]);
    let in_memory = ok(&o);
    let chosen = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("chosen"))
            .map(str::to_string)
    };
    assert_eq!(chosen(&text), chosen(&in_memory), "{in_memory}");
    assert!(
        in_memory.contains(&format!(
            "sim trace gen {gen_args} --seed 1 --out trace.json"
        )),
        "{in_memory}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("plan"),
        std::fs::read_to_string(&mem).expect("plan")
    );
}

#[test]
fn too_few_calls_for_a_bound_say_so_and_use_the_point_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    // At most 200 calls served: 1 - 0.99^200 = 0.866 < 0.95, so no order
    // statistic bounds the p99.
    let t = gen_n(dir.path(), "t.json", "5", "200");
    let out = dir.path().join("plan.json").display().to_string();
    let o = plan(&t, &out, &["p99_startup_ms<=100000"], &[]);
    let p: Value = serde_json::from_str(&ok(&o)).expect("json");
    let first = &p["chosen"]["outcomes"][0];
    assert_eq!(first["method"], "point_value", "{first}");
    assert_eq!(first["bound"], first["point"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("WARNING: p99_startup_ms<=100000: no upper bound could be computed (")
            && e.contains("calls are too few for this quantile); the point value"),
        "{e}"
    );
}

#[test]
fn an_impossible_objective_exits_non_zero_naming_the_best_candidate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "5");
    let out = dir.path().join("plan.json");
    let o = plan(&t, &out.display().to_string(), &["p99_startup_ms<0"], &[]);
    let e = fails(&o);
    assert!(
        e.contains("no candidate of 14 meets the objectives; the best, "),
        "{e}"
    );
    assert!(
        e.contains("MB,") && e.contains("p99_startup_ms<0 has bound"),
        "{e}"
    );
    let p: Value = serde_json::from_slice(&o.stdout).expect("the report still prints");
    assert!(p["best"].is_object() && p["chosen"].is_null());
    assert!(!out.exists(), "no settings file without a plan");
}

#[test]
fn bad_objectives_and_flags_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = gen(dir.path(), "t.json", "5");
    let out = dir.path().join("plan.json").display().to_string();
    for (slo, want) in [
        (
            "p98_startup_ms<=1",
            "unknown metric \"p98_startup_ms\"; the metrics are p50_startup_ms",
        ),
        ("cold_pct=1", "expected METRIC<=VALUE or METRIC<VALUE"),
        (
            "cold_pct<=lots",
            "the target \"lots\" is not a finite number >= 0",
        ),
    ] {
        let e = fails(&plan(&t, &out, &[slo], &[]));
        assert!(e.contains(want), "{slo}: {e}");
    }
    let e = fails(&plan(&t, &out, &[SLO], &["--", "--worker-mb", "512"]));
    assert!(e.contains("searches the worker's memory and cores"), "{e}");
    let e = fails(&plan(&t, &out, &[SLO], &["--confidence", "1"]));
    assert!(e.contains("confidence level"), "{e}");
}

#[test]
fn clopper_pearson_matches_hand_computed_values() {
    // x = 0: Beta(1, n), cdf 1 - (1 - p)^n, so 1 - 0.05^(1/10) = 0.258866.
    let u = clopper_pearson_upper(0, 10, 0.95).expect("bound");
    assert!((u - 0.258_866).abs() < 1e-5, "{u}");
    // x = n - 1: Beta(n, 1), cdf p^n, so 0.95^(1/10) = 0.994884.
    let u = clopper_pearson_upper(9, 10, 0.95).expect("bound");
    assert!((u - 0.994_884).abs() < 1e-5, "{u}");
    // x = 1, n = 3: Beta(2, 2), cdf 3p^2 - 2p^3 = 0.9 at p = 0.804200.
    let u = clopper_pearson_upper(1, 3, 0.9).expect("bound");
    assert!((u - 0.804_200).abs() < 1e-5, "{u}");
    assert_eq!(clopper_pearson_upper(4, 4, 0.95), Some(1.0));
    assert_eq!(clopper_pearson_upper(0, 0, 0.95), None);
}

#[test]
fn order_statistic_bound_matches_hand_computed_binomials() {
    // n = 10, q = 0.5: P(Bin <= 7) = 968/1024 = 0.9453 < 0.95 <= P(Bin <=
    // 8) = 1013/1024 = 0.9893: the 9th smallest.
    assert_eq!(order_statistic_rank(10, 0.5, 0.95), Some(9));
    // P(Bin <= 6) = 848/1024 = 0.8281 >= 0.8 > P(Bin <= 5) = 0.6230: the 7th.
    assert_eq!(order_statistic_rank(10, 0.5, 0.8), Some(7));
    // The p99 needs 1 - 0.99^n >= 0.95: n = 299 (0.9505) gives the
    // maximum, n = 298 (0.94996) nothing.
    assert_eq!(order_statistic_rank(299, 0.99, 0.95), Some(299));
    assert_eq!(order_statistic_rank(298, 0.99, 0.95), None);
    assert_eq!(order_statistic_rank(0, 0.5, 0.95), None);
}
