//! Unit tests of the comparison.

use super::*;
use sock_core::record::PhasesUs;

fn rec(seq: u64, path: PathKind, handler: u64, import: u64) -> InvocationRecord {
    let phases_us = PhasesUs {
        create: if path == PathKind::HandlerHit {
            0
        } else {
            2_000
        },
        import,
        handler,
        ..PhasesUs::default()
    };
    InvocationRecord {
        schema: sock_core::record::RECORD_SCHEMA,
        seq,
        arrival_us: seq * 1_000,
        function: 1,
        function_name: "fn00001".into(),
        instance: seq,
        path,
        zygote: (path == PathKind::ZygoteHit).then_some(0),
        zygote_depth: (path == PathKind::ZygoteHit).then_some(0),
        spare: false,
        imported: vec!["a==1".into(), "b==2".into()],
        installed: vec![],
        latency_us: phases_us.values().iter().sum(),
        phases_us,
    }
}

fn row<'a>(c: &'a Comparison, path: PathKind, metric: &str) -> Option<&'a ErrorRow> {
    c.latency_error
        .iter()
        .find(|r| r.path == path && r.metric == metric)
}

#[test]
fn identical_inputs_agree_fully_with_zero_error() {
    let recs: Vec<_> = (0..5)
        .map(|i| rec(i, PathKind::ZygoteHit, 1_000 * (i + 1), 500))
        .collect();
    let c = compare(&recs, &recs);
    assert_eq!(c.counts.matched, 5);
    assert_eq!(c.agreement.decision_share, 1.0);
    assert_eq!(c.agreement.path_share, 1.0);
    assert_eq!(c.agreement.differing, Differing::default());
    for r in &c.latency_error {
        assert_eq!(r.median_error_ms, 0.0, "{r:?}");
        assert_eq!(r.p95_abs_error_ms, 0.0, "{r:?}");
        assert_eq!(r.median_rel_error_pct, Some(0.0), "{r:?}");
    }
    // Phases zero on both sides for every record are skipped;
    // startup and latency are always there.
    let metrics: Vec<_> = c.latency_error.iter().map(|r| r.metric).collect();
    assert_eq!(
        metrics,
        ["create", "import", "handler", "startup", "latency"]
    );
}

#[test]
fn medians_and_p95_are_nearest_rank() {
    // Handler: predicted 10,20,30,40 ms; measured 11,18,36,40 ms.
    // Signed errors +1,-2,+6,0 -> sorted -2,0,1,6: median (rank 2) = 0.
    // |err| 0,1,2,6: median (rank 2) = 1, p95 (rank ceil(3.8) = 4) = 6.
    // rel 10%,10%,20%,0% -> 0,10,10,20: median = 10%.
    let pred: Vec<_> = [10, 20, 30, 40]
        .iter()
        .enumerate()
        .map(|(i, &ms)| rec(i as u64, PathKind::HandlerHit, ms * 1_000, 0))
        .collect();
    let meas: Vec<_> = [11, 18, 36, 40]
        .iter()
        .enumerate()
        .map(|(i, &ms)| rec(i as u64, PathKind::HandlerHit, ms * 1_000, 0))
        .collect();
    let c = compare(&pred, &meas);
    let h = row(&c, PathKind::HandlerHit, "handler").expect("handler row");
    assert_eq!(h.n, 4);
    assert_eq!(h.median_predicted_ms, 20.0);
    assert_eq!(h.median_measured_ms, 18.0);
    assert_eq!(h.median_error_ms, 0.0);
    assert_eq!(h.median_abs_error_ms, 1.0);
    assert_eq!(h.p95_abs_error_ms, 6.0);
    assert_eq!(h.median_rel_error_pct, Some(10.0));
    assert_eq!(h.p95_rel_error_pct, Some(20.0));
    assert_eq!(h.rel_n, 4);
    // Spread: measured median 18; |m - 18| / 18 = 38.9%, 0, 100%, 122.2%
    // -> median (rank 2) 38.9%.
    let spread = h.measured_spread_pct.expect("spread");
    assert!((spread - 700.0 / 18.0).abs() < 1e-9, "{spread}");
    // Startup is zero on both sides: the row stays, with no relative error.
    let s = row(&c, PathKind::HandlerHit, "startup").expect("startup row");
    assert_eq!((s.median_abs_error_ms, s.median_rel_error_pct), (0.0, None));
    assert_eq!(s.rel_n, 0);
    // No other phase is ever non-zero for handler hits here.
    assert!(row(&c, PathKind::HandlerHit, "create").is_none());
    assert!(row(&c, PathKind::HandlerHit, "import").is_none());
    let l = row(&c, PathKind::HandlerHit, "latency").expect("latency row");
    assert_eq!(l.p95_abs_error_ms, 6.0);
}

#[test]
fn relative_error_skips_zero_predictions() {
    // Import predicted 0 and 4 ms, measured 1 and 5 ms: both errors 1 ms;
    // only the second has a relative error (25%).
    let pred = [
        rec(0, PathKind::Fresh, 1_000, 0),
        rec(1, PathKind::Fresh, 1_000, 4_000),
    ];
    let meas = [
        rec(0, PathKind::Fresh, 1_000, 1_000),
        rec(1, PathKind::Fresh, 1_000, 5_000),
    ];
    let c = compare(&pred, &meas);
    let r = row(&c, PathKind::Fresh, "import").expect("import row");
    assert_eq!((r.n, r.rel_n), (2, 1));
    assert_eq!(r.median_abs_error_ms, 1.0);
    assert_eq!(r.median_rel_error_pct, Some(25.0));
}

#[test]
fn mismatches_counts_and_confusion() {
    let pred = vec![
        rec(0, PathKind::ZygoteHit, 1_000, 0),
        rec(1, PathKind::ZygoteHit, 1_000, 0),
        rec(2, PathKind::HandlerHit, 1_000, 0),
        rec(3, PathKind::Fresh, 1_000, 0),
        rec(9, PathKind::Fresh, 1_000, 0),
    ];
    let mut meas = pred[..4].to_vec();
    // seq 0: same path, another Zygote (a decision mismatch only).
    meas[0].zygote = Some(7);
    // seq 1: served fresh instead.
    meas[1].path = PathKind::Fresh;
    meas[1].zygote = None;
    // seq 2: the same sets in another order and with a repeat: agrees.
    meas[2].imported = vec!["b==2".into(), "a==1".into(), "a==1".into()];
    // seq 3: installed one package more.
    meas[3].installed = vec!["c==3".into()];
    meas.push(rec(20, PathKind::HandlerHit, 1_000, 0));

    let c = compare(&pred, &meas);
    assert_eq!(
        c.counts,
        Counts {
            predicted: 5,
            measured: 5,
            matched: 4,
            only_in_predicted: 1,
            only_in_measured: 1,
        }
    );
    assert_eq!(c.agreement.decision, 1);
    assert_eq!(c.agreement.decision_share, 0.25);
    assert_eq!(c.agreement.path, 3);
    assert_eq!(c.agreement.path_share, 0.75);
    assert_eq!(
        c.agreement.differing,
        Differing {
            path: 1,
            zygote: 2,
            imported: 0,
            installed: 1,
            spare: 0,
        }
    );
    let zyg = &c.confusion[1];
    assert_eq!(zyg.predicted, PathKind::ZygoteHit);
    assert_eq!(
        zyg.measured,
        PathCounts {
            handler_hit: 0,
            zygote_hit: 1,
            fresh: 1
        }
    );
    // Latency rows only cover records whose path agrees.
    assert_eq!(
        row(&c, PathKind::ZygoteHit, "latency").map(|r| r.n),
        Some(1)
    );
    assert_eq!(row(&c, PathKind::Fresh, "latency").map(|r| r.n), Some(1));

    let text = render_text(&c);
    assert!(text.contains("decision agreement   25.00%"), "{text}");
    assert!(text.contains("path agreement       75.00%"), "{text}");
    let csv = render_csv(&c);
    assert!(csv.starts_with("path,metric,n,"));
    assert_eq!(csv.lines().count(), 1 + c.latency_error.len());
}

#[test]
fn load_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("r.jsonl");
    let good = serde_json::to_string(&rec(0, PathKind::Fresh, 1, 1)).expect("json");
    std::fs::write(&f, format!("{good}\n\n{{\"seq\": 1}}\n")).expect("write");
    let err = format!("{:#}", load_records(&f).expect_err("malformed"));
    assert!(
        err.contains("r.jsonl line 3") && err.contains("missing field"),
        "{err}"
    );

    std::fs::write(&f, format!("{good}\n{good}\n")).expect("write");
    let err = format!("{:#}", load_records(&f).expect_err("duplicate"));
    assert!(
        err.contains("line 2: seq 0 already appears on line 1"),
        "{err}"
    );

    std::fs::write(&f, format!("{good}\n\n")).expect("write");
    assert_eq!(load_records(&f).expect("loads").len(), 1);
}

#[test]
fn gate_names_each_bound_that_fails() {
    let predicted = [
        rec(0, PathKind::Fresh, 1000, 0),
        rec(1, PathKind::Fresh, 1000, 0),
    ];
    let measured = [
        rec(0, PathKind::Fresh, 1500, 0),
        rec(1, PathKind::Fresh, 1500, 0),
    ];
    let c = compare(&predicted, &measured);
    assert!(gate(&c, Bounds::default()).is_empty());
    let loose = Bounds {
        max_median_pct: Some(60.0),
        max_p95_pct: Some(60.0),
        min_agreement_pct: Some(100.0),
        ..Bounds::default()
    };
    assert!(gate(&c, loose).is_empty());
    let failed = gate(
        &c,
        Bounds {
            max_median_pct: Some(10.0),
            max_p95_pct: Some(40.0),
            ..Bounds::default()
        },
    );
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with("fresh handler: median relative error 50.0%")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with("fresh handler: p95 relative error 50.0% is above 40%")),
        "{failed:?}"
    );
    let other = [measured[0].clone(), rec(1, PathKind::HandlerHit, 1500, 0)];
    let c = compare(&predicted, &other);
    assert_eq!(
        gate(
            &c,
            Bounds {
                min_agreement_pct: Some(99.5),
                ..Bounds::default()
            }
        ),
        ["decision agreement 50.00% is below 99.5%"]
    );
}

#[test]
fn quantile_shifts_compare_the_two_distributions_not_the_records() {
    // The same values in another order: every record is off, the
    // distributions are identical.
    let pred: Vec<_> = (0..100)
        .map(|i| rec(i, PathKind::HandlerHit, 1_000 * (i + 1), 0))
        .collect();
    let meas: Vec<_> = (0..100)
        .map(|i| rec(i, PathKind::HandlerHit, 1_000 * (100 - i), 0))
        .collect();
    let c = compare(&pred, &meas);
    let r = row(&c, PathKind::HandlerHit, "handler").expect("a handler row");
    assert_eq!(r.p50_shift_pct, Some(0.0));
    assert_eq!(r.p99_shift_pct, Some(0.0));
    assert!(r.median_rel_error_pct.expect("a relative error") > 30.0);
    let bounds = Bounds {
        max_p50_shift_pct: Some(1.0),
        max_p95_shift_pct: Some(1.0),
        ..Bounds::default()
    };
    assert!(gate(&c, bounds).is_empty());
    let slow: Vec<_> = meas
        .iter()
        .cloned()
        .map(|mut m| {
            m.phases_us.handler *= 2;
            m
        })
        .collect();
    let failed = gate(&compare(&pred, &slow), bounds);
    assert!(
        failed
            .iter()
            .any(|f| f.contains("handler_hit handler: p50 shift")),
        "{failed:?}"
    );
}
