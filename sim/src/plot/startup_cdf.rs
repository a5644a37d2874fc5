//! `sim plot startup-cdf`: the CDF of start-up latency (a call's latency
//! minus its handler run, as `startup_ms` in the summary) per path, from
//! `sim --records` (or `sock-exec run --records`), on a log axis in ms.

use super::xy::{Mark, Series, XyChart};
use super::Options;
use anyhow::{bail, Result};
use plotters::prelude::SeriesLabelPosition;
use sock_core::record::{InvocationRecord, PathKind};
use std::collections::BTreeMap;
use std::path::Path;

/// Most points drawn per line (quantiles of the sorted samples).
const MAX_POINTS: usize = 2000;

fn startup_ms(r: &InvocationRecord) -> f64 {
    r.latency_us.saturating_sub(r.phases_us.handler) as f64 / 1000.0
}

fn label(p: PathKind) -> &'static str {
    match p {
        PathKind::HandlerHit => "handler hit",
        PathKind::ZygoteHit => "Zygote hit",
        PathKind::Fresh => "fresh start",
    }
}

pub fn chart(input: &Path, o: &Options) -> Result<XyChart> {
    let records = crate::compare::load_records(input)?;
    if records.is_empty() {
        bail!("{}: no records to plot", input.display());
    }
    let mut by_path: BTreeMap<PathKind, Vec<f64>> = BTreeMap::new();
    for r in &records {
        by_path.entry(r.path).or_default().push(startup_ms(r));
    }
    let mut series: Vec<Series> = by_path
        .into_iter()
        .map(|(p, v)| Series {
            name: format!("{} (n={})", label(p), v.len()),
            points: cdf(v),
            mark: Mark::Line,
        })
        .collect();
    if series.len() > 1 {
        // First, so the paths' lines are drawn over it.
        series.insert(
            0,
            Series {
                name: format!("all calls (n={})", records.len()),
                points: cdf(records.iter().map(startup_ms).collect()),
                mark: Mark::Dashed,
            },
        );
    }
    let trace = o.trace_of_file(input);
    Ok(XyChart {
        title: o.title_or(|| format!("Start-up latency by path (CDF): {trace}")),
        x_label: "start-up latency, ms (log; latency minus handler run)".into(),
        y_label: "% of calls at or below".into(),
        log_x: true,
        y_from_zero: true,
        y_max: Some(100.0),
        legend: SeriesLabelPosition::LowerRight,
        series,
    })
}

/// The empirical CDF (x, % at or below) of `v`, at most [`MAX_POINTS`]
/// points. Values of 0 are counted but not drawn on the log axis, so a
/// line starts at the share of calls that took no time at all.
pub fn cdf(mut v: Vec<f64>) -> Vec<(f64, f64)> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let step = n.div_ceil(MAX_POINTS).max(1);
    let mut out: Vec<(f64, f64)> = (step - 1..n)
        .step_by(step)
        .map(|i| (v[i], 100.0 * (i + 1) as f64 / n as f64))
        .collect();
    if let (Some(&last), Some(&(x, _))) = (v.last(), out.last()) {
        if x != last || out.len() < 2 {
            out.push((last, 100.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cdf;

    #[test]
    fn cdf_ends_at_100_and_is_bounded() {
        assert_eq!(cdf(vec![3.0, 1.0]), [(1.0, 50.0), (3.0, 100.0)]);
        let big = cdf((0..10_000).map(f64::from).collect());
        assert!(big.len() <= super::MAX_POINTS + 1);
        assert_eq!(big.last(), Some(&(9999.0, 100.0)));
    }
}
