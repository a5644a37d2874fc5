//! `sim compare`: a simulator's predicted records against an executor's
//! measured ones (both [`InvocationRecord`] JSON Lines), matched by `seq`.
//!
//! Reports how many records match, how often the two made the same
//! decision (path, Zygote, imported and installed sets), a confusion table
//! of paths, and, on records whose path agrees, the latency error per path
//! and phase. Quantiles are nearest-rank on sorted values (the value at
//! rank ceil(q * n), 1-based), so the median of an even count is the lower
//! middle value.

use crate::study::compute::quantile;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use sock_core::cost::Phases;
use sock_core::lines::{read_line_capped, LineRead};
use sock_core::record::{InvocationRecord, PathKind};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::BufReader;
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

/// Longest record line accepted, in bytes (issue 12: an input without
/// line breaks was read until memory ran out).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Reads a JSON Lines file of records. Blank lines are skipped; a line that
/// is not a record, or repeats an earlier line's `seq`, is an error naming
/// the file and the (1-based) line.
pub fn load_records(path: &Path) -> Result<Vec<InvocationRecord>> {
    Ok(load_records_with_lines(path)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// [`load_records`], each record with its (1-based) line.
pub fn load_records_with_lines(path: &Path) -> Result<Vec<(usize, InvocationRecord)>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open records file {}", path.display()))?;
    let mut input = BufReader::new(file);
    let mut records = Vec::new();
    let mut first_line: HashMap<u64, usize> = HashMap::new();
    let mut buf = Vec::new();
    for n in 1.. {
        let read = read_line_capped(&mut input, &mut buf, MAX_RECORD_BYTES)
            .with_context(|| format!("{} line {n}: cannot read", path.display()))?;
        match read {
            LineRead::Eof => break,
            LineRead::TooLong => bail!(
                "{} line {n}: longer than {MAX_RECORD_BYTES} bytes; is this a records file?",
                path.display()
            ),
            LineRead::Line => {}
        }
        let line = std::str::from_utf8(&buf)
            .with_context(|| format!("{} line {n}: not UTF-8 text", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: InvocationRecord = serde_json::from_str(line).map_err(|e| {
            // serde_json appends " at line 1 column C" (of this one line).
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
            anyhow::anyhow!(
                "{} line {n} column {}: not an invocation record: {msg}",
                path.display(),
                e.column()
            )
        })?;
        if let Some(prev) = first_line.insert(record.seq, n) {
            bail!(
                "{} line {n}: seq {} already appears on line {prev}",
                path.display(),
                record.seq
            );
        }
        records.push((n, record));
    }
    Ok(records)
}

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
    pub rel_n: usize,
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
        rel_n: rel.len(),
    }
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

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}%"))
}

/// The report as aligned text tables.
/// What fails the bounds a script set (`--max-median-error`,
/// `--min-agreement`), one line each; empty when all hold.
pub fn gate(
    c: &Comparison,
    max_median_pct: Option<f64>,
    min_agreement_pct: Option<f64>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(min) = min_agreement_pct {
        let got = 100.0 * c.agreement.decision_share;
        if got < min {
            out.push(format!("decision agreement {got:.2}% is below {min}%"));
        }
    }
    if let Some(max) = max_median_pct {
        for r in &c.latency_error {
            if let Some(rel) = r.median_rel_error_pct.filter(|&rel| rel > max) {
                out.push(format!(
                    "{} {}: median relative error {rel:.1}% is above {max}% (n = {})",
                    r.path.as_str(),
                    r.metric,
                    r.rel_n
                ));
            }
        }
    }
    out
}

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
        "\nlatency error where the path agrees (ms; err = measured - predicted, rel = |err| / predicted)"
    );
    if c.latency_error.is_empty() {
        let _ = writeln!(s, "  (no matched record has the same path on both sides)");
        return s;
    }
    let _ = writeln!(
        s,
        "{:<12} {:<8} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "path",
        "metric",
        "n",
        "pred p50",
        "meas p50",
        "err p50",
        "|err| p50",
        "|err| p95",
        "rel p50"
    );
    for r in &c.latency_error {
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:>7} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>8}",
            r.path.as_str(),
            r.metric,
            r.n,
            r.median_predicted_ms,
            r.median_measured_ms,
            r.median_error_ms,
            r.median_abs_error_ms,
            r.p95_abs_error_ms,
            opt_pct(r.median_rel_error_pct)
        );
    }
    s
}

/// The per-path, per-metric error table as CSV (ms; the relative error in
/// %, empty when no prediction of the row is above zero).
pub fn render_csv(c: &Comparison) -> String {
    let mut s = String::from(
        "path,metric,n,median_predicted_ms,median_measured_ms,median_error_ms,\
         median_abs_error_ms,p95_abs_error_ms,median_rel_error_pct,rel_n\n",
    );
    for r in &c.latency_error {
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{},{}",
            r.path.as_str(),
            r.metric,
            r.n,
            r.median_predicted_ms,
            r.median_measured_ms,
            r.median_error_ms,
            r.median_abs_error_ms,
            r.p95_abs_error_ms,
            r.median_rel_error_pct
                .map_or_else(String::new, |v| format!("{v:.3}")),
            r.rel_n
        );
    }
    s
}

#[cfg(test)]
mod tests {
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
        assert_eq!(h.rel_n, 4);
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
        assert!(gate(&c, None, None).is_empty());
        assert!(gate(&c, Some(60.0), Some(100.0)).is_empty());
        let failed = gate(&c, Some(10.0), None);
        assert!(
            failed
                .iter()
                .any(|l| l.starts_with("fresh handler: median relative error 50.0%")),
            "{failed:?}"
        );
        let other = [measured[0].clone(), rec(1, PathKind::HandlerHit, 1500, 0)];
        let c = compare(&predicted, &other);
        assert_eq!(
            gate(&c, None, Some(99.5)),
            ["decision agreement 50.00% is below 99.5%"]
        );
    }
}
