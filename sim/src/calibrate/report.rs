//! The report of `sim calibrate`: per parameter its prior, the fitted
//! value with its confidence interval and sample count, or why the prior
//! was kept; per phase the residuals of the fit.

use super::ParamFit;
use std::fmt::Write as _;

#[derive(Debug, serde::Serialize)]
pub struct CalibrationReport {
    /// Runs fitted together (`--from` given this many times).
    pub runs: usize,
    /// Measured records read (over every run), joined with a plan of the same path, and
    /// left out (another path, or not in the replay).
    pub measured: usize,
    pub joined: usize,
    pub left_out: usize,
    pub confidence: f64,
    /// Median or least-squares fit.
    pub estimator: super::Estimator,
    pub parameters: Vec<ParamFit>,
    /// The noise block's distributions (empty with `--no-noise`).
    pub noise: Vec<super::noise::NoiseRow>,
}

fn num(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.5}")
    } else {
        format!("{v:.3}")
    }
}

pub fn render_text(r: &CalibrationReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "records    {} measured{}, {} joined with a plan of the same path, {} left out",
        r.measured,
        if r.runs > 1 {
            format!(" in {} runs", r.runs)
        } else {
            String::new()
        },
        r.joined,
        r.left_out
    );
    let _ = writeln!(
        s,
        "fit        {}",
        match r.estimator {
            super::Estimator::Median => format!(
                "median regression (least absolute deviations), percentile-bootstrap intervals ({} resamples)",
                super::robust::BOOTSTRAP_RESAMPLES
            ),
            super::Estimator::Mean => "least squares, Student-t intervals".to_string(),
        }
    );
    let _ = writeln!(
        s,
        "\n{:<22}{:<14}{:>10}{:>12}  {:<24}{:>7}  {:>8} {:>8}",
        "parameter",
        "phase",
        "prior",
        "fitted",
        format!("{:.0}% interval", r.confidence * 100.0),
        "n",
        "|res| p50",
        "p95 ms"
    );
    for p in &r.parameters {
        let (fitted, ci) = match &p.fit {
            Some(c) => (
                format!("{}{}", num(p.value), if p.clamped { "*" } else { "" }),
                c.ci.map_or("(no dof left)".to_string(), |(a, b)| {
                    format!("[{}, {}]", num(a), num(b))
                }),
            ),
            None => ("kept".to_string(), p.kept.clone().unwrap_or_default()),
        };
        let res = |v: Option<f64>| v.map_or("-".to_string(), num);
        let _ = writeln!(
            s,
            "{:<22}{:<14}{:>10}{:>12}  {:<24}{:>7}  {:>8} {:>8}",
            p.name,
            p.phase,
            num(p.prior),
            fitted,
            ci,
            p.n,
            res(p.residual_p50_ms),
            res(p.residual_p95_ms)
        );
    }
    if r.parameters.iter().any(|p| p.clamped) {
        let _ = writeln!(s, "\n* a negative estimate, written as 0");
    }
    if !r.noise.is_empty() {
        let _ = writeln!(
            s,
            "\nnoise: measured / predicted under the fitted parameters, per class and phase\n{:<24}{:>7}{:>8}{:>8}{:>8}{:>8}  written",
            "class.phase", "n", "p5", "p50", "p95", "p99"
        );
        for n in &r.noise {
            let _ = writeln!(
                s,
                "{:<24}{:>7}{:>8.3}{:>8.3}{:>8.3}{:>8.3}  {}",
                n.key,
                n.n,
                n.p05,
                n.p50,
                n.p95,
                n.p99,
                if n.kept {
                    "yes".to_string()
                } else {
                    format!("no (under {} samples)", super::noise::MIN_SAMPLES)
                }
            );
        }
    }
    s
}
