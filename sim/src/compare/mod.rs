//! `sim compare`: a simulator's predicted records against an executor's
//! measured ones (both [`InvocationRecord`] JSON Lines), matched by `seq`.
//!
//! Reports how many records match, how often the two made the same
//! decision (path, Zygote, imported and installed sets), a confusion table
//! of paths, and, on records whose path agrees, the latency error per path
//! and phase. Quantiles are nearest-rank on sorted values (the value at
//! rank ceil(q * n), 1-based), so the median of an even count is the lower
//! middle value.

mod load;
mod render;
#[cfg(test)]
mod tests;

pub use load::{load_records, load_records_with_lines, MAX_RECORD_BYTES};
pub use render::{render_csv, render_text};

use crate::study::compute::quantile;
use serde::Serialize;
use sock_core::cost::Phases;
use sock_core::record::{InvocationRecord, PathKind};
use std::collections::BTreeMap;
use std::path::Path;

/// The three paths, in report order.
pub const PATHS: [PathKind; 3] = [PathKind::HandlerHit, PathKind::ZygoteHit, PathKind::Fresh];

/// The latency metrics of the error table: the phases in
/// [`Phases::NAMES`] order, then `startup` (latency minus handler) and
/// `latency` (the total).
pub const METRICS: [&str; 10] = [
    Phases::NAMES[0],
    Phases::NAMES[1],
    Phases::NAMES[2],
    Phases::NAMES[3],
    Phases::NAMES[4],
    Phases::NAMES[5],
    Phases::NAMES[6],
    Phases::NAMES[7],
    "startup",
    "latency",
];

#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The two files, when known (set by the caller, see [`Comparison::with_files`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Files>,
    pub counts: Counts,
    pub agreement: Agreement,
    /// One row per predicted path: how the measured side served those records.
    pub confusion: Vec<ConfusionRow>,
    /// Per path (on records whose path agrees) and metric.
    pub latency_error: Vec<ErrorRow>,
}

#[derive(Debug, Serialize)]
pub struct Files {
    pub predicted: String,
    pub measured: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Records in each input.
    pub predicted: usize,
    pub measured: usize,
    /// Distinct `seq` values present in both.
    pub matched: usize,
    pub only_in_predicted: usize,
    pub only_in_measured: usize,
}

#[derive(Debug, Serialize)]
pub struct Agreement {
    /// Matched records with the same path, Zygote, imported set and installed set.
    pub decision: usize,
    /// `decision / matched` (0 when nothing matched).
    pub decision_share: f64,
    /// Matched records with the same path.
    pub path: usize,
    pub path_share: f64,
    /// Matched records on which each part of the decision differs.
    pub differing: Differing,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Differing {
    pub path: usize,
    pub zygote: usize,
    pub imported: usize,
    pub installed: usize,
    /// Zygote hits served by a pre-forked child on one side only.
    pub spare: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ConfusionRow {
    pub predicted: PathKind,
    pub measured: PathCounts,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PathCounts {
    pub handler_hit: usize,
    pub zygote_hit: usize,
    pub fresh: usize,
}

impl PathCounts {
    fn get(&self, p: PathKind) -> usize {
        match p {
            PathKind::HandlerHit => self.handler_hit,
            PathKind::ZygoteHit => self.zygote_hit,
            PathKind::Fresh => self.fresh,
        }
    }

    fn bump(&mut self, p: PathKind) {
        match p {
            PathKind::HandlerHit => self.handler_hit += 1,
            PathKind::ZygoteHit => self.zygote_hit += 1,
            PathKind::Fresh => self.fresh += 1,
        }
    }
}

/// Latency error of one metric on one path; error = measured - predicted.
#[derive(Debug, Serialize, PartialEq)]
pub struct ErrorRow {
    pub path: PathKind,
    pub metric: &'static str,
    /// Records (matched, same path on both sides).
    pub n: usize,
    pub median_predicted_ms: f64,
    pub median_measured_ms: f64,
    /// Median of the signed error (positive: the measurement is slower).
    pub median_error_ms: f64,
    pub median_abs_error_ms: f64,
    pub p95_abs_error_ms: f64,
    /// Median of |measured - predicted| / predicted, in %, over the `rel_n`
    /// records whose prediction is not zero; null when there are none.
    pub median_rel_error_pct: Option<f64>,
    /// 95th percentile of the same relative errors, in %.
    pub p95_rel_error_pct: Option<f64>,
    pub rel_n: usize,
    /// The measurement's own spread: the median of |measured - m| / m, in
    /// %, where m is the measured median. No prediction of one value per
    /// row does better than this (it is what predicting exactly the
    /// measured median scores), so a phase whose spread is above a goal
    /// cannot meet that goal without a term that explains the variation.
    /// Null when the measured median is zero.
    pub measured_spread_pct: Option<f64>,
    /// The two distributions' 95th and 99th percentiles (ms).
    pub p95_predicted_ms: f64,
    pub p95_measured_ms: f64,
    pub p99_predicted_ms: f64,
    pub p99_measured_ms: f64,
    /// |predicted q - measured q| / measured q, in %, for q = p50, p95,
    /// p99: how far the predicted *distribution* is from the measured one
    /// (what sizing to a percentile needs), as opposed to the per-record
    /// errors above, which no prediction scores below the spread. Null
    /// when the measured quantile is zero.
    pub p50_shift_pct: Option<f64>,
    pub p95_shift_pct: Option<f64>,
    pub p99_shift_pct: Option<f64>,
}

/// Metric `i` of [`METRICS`] for one record, in µs.
fn metric_us(r: &InvocationRecord, i: usize) -> u64 {
    match i {
        0..=7 => r.phases_us.values()[i],
        8 => r.latency_us.saturating_sub(r.phases_us.handler),
        _ => r.latency_us,
    }
}

fn sorted_set(v: &[String]) -> Vec<&str> {
    let mut s: Vec<&str> = v.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn share(k: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

fn sort(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Median of |v - median| / median over sorted `v`, in %; `None` when the
/// median is zero.
fn spread_pct(sorted: &[f64]) -> Option<f64> {
    let m = quantile(sorted, 0.5);
    (m > 0.0).then(|| {
        let dev = sort(sorted.iter().map(|v| (v - m).abs() / m * 100.0).collect());
        quantile(&dev, 0.5)
    })
}

/// One error row from (predicted, measured) µs pairs; `pairs` is not empty.
fn error_row(path: PathKind, metric: &'static str, pairs: &[(u64, u64)]) -> ErrorRow {
    let ms = |us: f64| us / 1_000.0;
    let pred = sort(pairs.iter().map(|&(p, _)| p as f64).collect());
    let meas = sort(pairs.iter().map(|&(_, m)| m as f64).collect());
    let err = sort(pairs.iter().map(|&(p, m)| m as f64 - p as f64).collect());
    let abs = sort(err.iter().map(|e| e.abs()).collect());
    let rel = sort(
        pairs
            .iter()
            .filter(|&&(p, _)| p > 0)
            .map(|&(p, m)| (m as f64 - p as f64).abs() / p as f64 * 100.0)
            .collect(),
    );
    ErrorRow {
        path,
        metric,
        n: pairs.len(),
        median_predicted_ms: ms(quantile(&pred, 0.5)),
        median_measured_ms: ms(quantile(&meas, 0.5)),
        median_error_ms: ms(quantile(&err, 0.5)),
        median_abs_error_ms: ms(quantile(&abs, 0.5)),
        p95_abs_error_ms: ms(quantile(&abs, 0.95)),
        median_rel_error_pct: (!rel.is_empty()).then(|| quantile(&rel, 0.5)),
        p95_rel_error_pct: (!rel.is_empty()).then(|| quantile(&rel, 0.95)),
        rel_n: rel.len(),
        measured_spread_pct: spread_pct(&meas),
        p95_predicted_ms: ms(quantile(&pred, 0.95)),
        p95_measured_ms: ms(quantile(&meas, 0.95)),
        p99_predicted_ms: ms(quantile(&pred, 0.99)),
        p99_measured_ms: ms(quantile(&meas, 0.99)),
        p50_shift_pct: shift(&pred, &meas, 0.5),
        p95_shift_pct: shift(&pred, &meas, 0.95),
        p99_shift_pct: shift(&pred, &meas, 0.99),
    }
}

/// |pred q - meas q| / meas q in %, over sorted values; `None` when the
/// measured quantile is zero.
fn shift(pred: &[f64], meas: &[f64], q: f64) -> Option<f64> {
    let m = quantile(meas, q);
    (m > 0.0).then(|| (quantile(pred, q) - m).abs() / m * 100.0)
}

/// Compares predicted and measured records, matched by `seq` (if a `seq`
/// repeats within one side, its first record is used; [`load_records`]
/// rejects such files).
pub fn compare(predicted: &[InvocationRecord], measured: &[InvocationRecord]) -> Comparison {
    let mut by_seq: BTreeMap<u64, &InvocationRecord> = BTreeMap::new();
    for r in measured {
        by_seq.entry(r.seq).or_insert(r);
    }
    let mut pred_seqs: BTreeMap<u64, &InvocationRecord> = BTreeMap::new();
    for r in predicted {
        pred_seqs.entry(r.seq).or_insert(r);
    }
    let pairs: Vec<(&InvocationRecord, &InvocationRecord)> = pred_seqs
        .values()
        .filter_map(|p| by_seq.get(&p.seq).map(|m| (*p, *m)))
        .collect();
    let matched = pairs.len();

    let mut differing = Differing::default();
    let mut decision = 0;
    let mut confusion: BTreeMap<PathKind, PathCounts> = BTreeMap::new();
    let mut same_path: BTreeMap<PathKind, Vec<(&InvocationRecord, &InvocationRecord)>> =
        BTreeMap::new();
    for &(p, m) in &pairs {
        let path = p.path != m.path;
        let zygote = p.zygote != m.zygote;
        let imported = sorted_set(&p.imported) != sorted_set(&m.imported);
        let installed = sorted_set(&p.installed) != sorted_set(&m.installed);
        let spare = p.spare != m.spare;
        differing.spare += spare as usize;
        differing.path += path as usize;
        differing.zygote += zygote as usize;
        differing.imported += imported as usize;
        differing.installed += installed as usize;
        decision += !(path || zygote || imported || installed || spare) as usize;
        confusion.entry(p.path).or_default().bump(m.path);
        if !path {
            same_path.entry(p.path).or_default().push((p, m));
        }
    }

    let mut latency_error = Vec::new();
    for path in PATHS {
        let Some(recs) = same_path.get(&path) else {
            continue;
        };
        for (i, &metric) in METRICS.iter().enumerate() {
            let values: Vec<(u64, u64)> = recs
                .iter()
                .map(|(p, m)| (metric_us(p, i), metric_us(m, i)))
                .collect();
            let is_phase = i < Phases::NAMES.len();
            if is_phase && values.iter().all(|&(p, m)| p == 0 && m == 0) {
                continue;
            }
            latency_error.push(error_row(path, metric, &values));
        }
    }

    Comparison {
        files: None,
        counts: Counts {
            predicted: predicted.len(),
            measured: measured.len(),
            matched,
            only_in_predicted: pred_seqs.len() - matched,
            only_in_measured: by_seq.len() - matched,
        },
        agreement: Agreement {
            decision,
            decision_share: share(decision, matched),
            path: matched - differing.path,
            path_share: share(matched - differing.path, matched),
            differing,
        },
        confusion: PATHS
            .iter()
            .map(|&p| ConfusionRow {
                predicted: p,
                measured: confusion.remove(&p).unwrap_or_default(),
            })
            .collect(),
        latency_error,
    }
}

impl Comparison {
    /// Names the two input files in the report.
    pub fn with_files(mut self, predicted: &Path, measured: &Path) -> Self {
        self.files = Some(Files {
            predicted: predicted.display().to_string(),
            measured: measured.display().to_string(),
        });
        self
    }
}

/// The bounds a script sets (`--max-median-error`, `--max-p95-error`,
/// `--max-p50-shift`, `--max-p95-shift`, `--min-agreement`), each in %.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    pub max_median_pct: Option<f64>,
    pub max_p95_pct: Option<f64>,
    pub max_p50_shift_pct: Option<f64>,
    pub max_p95_shift_pct: Option<f64>,
    pub min_agreement_pct: Option<f64>,
}

/// What fails `bounds`, one line each; empty when all hold. The error
/// bounds apply to every path's every metric with a relative error.
pub fn gate(c: &Comparison, bounds: Bounds) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(min) = bounds.min_agreement_pct {
        let got = 100.0 * c.agreement.decision_share;
        if got < min {
            out.push(format!("decision agreement {got:.2}% is below {min}%"));
        }
    }
    for (max, which, get) in [
        (
            bounds.max_median_pct,
            "median",
            (|r: &ErrorRow| r.median_rel_error_pct) as fn(&ErrorRow) -> Option<f64>,
        ),
        (bounds.max_p95_pct, "p95", |r: &ErrorRow| {
            r.p95_rel_error_pct
        }),
        (bounds.max_p50_shift_pct, "p50 shift", |r: &ErrorRow| {
            r.p50_shift_pct
        }),
        (bounds.max_p95_shift_pct, "p95 shift", |r: &ErrorRow| {
            r.p95_shift_pct
        }),
    ] {
        let Some(max) = max else { continue };
        for r in &c.latency_error {
            if let Some(rel) = get(r).filter(|&rel| rel > max) {
                let what = if which.ends_with("shift") {
                    which.to_string()
                } else {
                    format!("{which} relative error")
                };
                out.push(format!(
                    "{} {}: {what} {rel:.1}% is above {max}% (n = {})",
                    r.path.as_str(),
                    r.metric,
                    r.rel_n
                ));
            }
        }
    }
    out
}
