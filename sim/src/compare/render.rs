//! The comparison as aligned text tables and as CSV.

use super::{Comparison, PATHS};
use std::fmt::Write as _;

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}%"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.3}"))
}

/// The report as aligned text tables.
pub fn render_text(c: &Comparison) -> String {
    let mut s = String::new();
    let k = &c.counts;
    let (pf, mf) = match &c.files {
        Some(f) => (format!("{} ", f.predicted), format!("{} ", f.measured)),
        None => (String::new(), String::new()),
    };
    let _ = writeln!(s, "predicted  {pf}({} records)", k.predicted);
    let _ = writeln!(s, "measured   {mf}({} records)", k.measured);
    let _ = writeln!(
        s,
        "matched    {} by seq (only in predicted {}, only in measured {})\n",
        k.matched, k.only_in_predicted, k.only_in_measured
    );
    let a = &c.agreement;
    let _ = writeln!(
        s,
        "decision agreement {:>7.2}%  ({} of {}: same path, zygote, spare use, imported and installed sets)",
        a.decision_share * 100.0,
        a.decision,
        k.matched
    );
    let _ = writeln!(
        s,
        "path agreement     {:>7.2}%  ({} of {})",
        a.path_share * 100.0,
        a.path,
        k.matched
    );
    let d = &a.differing;
    let _ = writeln!(
        s,
        "differing          path {}  zygote {}  spare {}  imported {}  installed {}\n",
        d.path, d.zygote, d.spare, d.imported, d.installed
    );
    let _ = write!(s, "{:<21}", "predicted \\ measured");
    for p in PATHS {
        let _ = write!(s, " {:>12}", p.as_str());
    }
    s.push('\n');
    for row in &c.confusion {
        let _ = write!(s, "{:<21}", row.predicted.as_str());
        for p in PATHS {
            let _ = write!(s, " {:>12}", row.measured.get(p));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nlatency error where the path agrees (ms; err = measured - predicted, rel = |err| / predicted;\nspread = median |measured - its median| / its median, the best a per-row constant can score)"
    );
    if c.latency_error.is_empty() {
        let _ = writeln!(s, "  (no matched record has the same path on both sides)");
        return s;
    }
    let _ = writeln!(
        s,
        "{:<12} {:<8} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "path",
        "metric",
        "n",
        "pred p50",
        "meas p50",
        "err p50",
        "|err| p50",
        "|err| p95",
        "rel p50",
        "rel p95",
        "spread"
    );
    for r in &c.latency_error {
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:>7} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>8} {:>8} {:>8}",
            r.path.as_str(),
            r.metric,
            r.n,
            r.median_predicted_ms,
            r.median_measured_ms,
            r.median_error_ms,
            r.median_abs_error_ms,
            r.p95_abs_error_ms,
            opt_pct(r.median_rel_error_pct),
            opt_pct(r.p95_rel_error_pct),
            opt_pct(r.measured_spread_pct)
        );
    }
    let _ = writeln!(
        s,
        "\ndistributions where the path agrees (ms; shift = |predicted q - measured q| / measured q)"
    );
    let _ = writeln!(
        s,
        "{:<12} {:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "path",
        "metric",
        "pred p50",
        "meas p50",
        "pred p95",
        "meas p95",
        "pred p99",
        "meas p99",
        "p50 sh",
        "p95 sh",
        "p99 sh"
    );
    for r in &c.latency_error {
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>8} {:>8} {:>8}",
            r.path.as_str(),
            r.metric,
            r.median_predicted_ms,
            r.median_measured_ms,
            r.p95_predicted_ms,
            r.p95_measured_ms,
            r.p99_predicted_ms,
            r.p99_measured_ms,
            opt_pct(r.p50_shift_pct),
            opt_pct(r.p95_shift_pct),
            opt_pct(r.p99_shift_pct)
        );
    }
    s
}

/// The per-path, per-metric error table as CSV (ms; the relative error in
/// %, empty when no prediction of the row is above zero).
pub fn render_csv(c: &Comparison) -> String {
    let mut s = String::from(
        "path,metric,n,median_predicted_ms,median_measured_ms,median_error_ms,\
         median_abs_error_ms,p95_abs_error_ms,median_rel_error_pct,rel_n,\
         p95_rel_error_pct,measured_spread_pct,p95_predicted_ms,p95_measured_ms,\
         p99_predicted_ms,p99_measured_ms,p50_shift_pct,p95_shift_pct,p99_shift_pct\n",
    );
    for r in &c.latency_error {
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{}",
            r.path.as_str(),
            r.metric,
            r.n,
            r.median_predicted_ms,
            r.median_measured_ms,
            r.median_error_ms,
            r.median_abs_error_ms,
            r.p95_abs_error_ms,
            pct(r.median_rel_error_pct),
            r.rel_n,
            pct(r.p95_rel_error_pct),
            pct(r.measured_spread_pct),
            r.p95_predicted_ms,
            r.p95_measured_ms,
            r.p99_predicted_ms,
            r.p99_measured_ms,
            pct(r.p50_shift_pct),
            pct(r.p95_shift_pct),
            pct(r.p99_shift_pct)
        );
    }
    s
}
