//! `sim plot cold-vs-memory`: the cold-start share against memory, one
//! line per policy (FaasCache's figure), from a sweep.

use super::labels::describe;
use super::sweep_input::{number, rest, value, Sweep};
use super::xy::{Mark, Series, XyChart};
use super::Options;
use anyhow::Result;
use plotters::prelude::SeriesLabelPosition;

pub const X: &str = "worker-mb";
pub const SERIES: &str = "policy";
pub const METRIC: &str = "worker.cold_pct";

pub fn chart(sweep: &Sweep, o: &Options) -> Result<XyChart> {
    let x = o.x.as_deref().unwrap_or(X);
    let metric = o.metric.as_deref().unwrap_or(METRIC);
    sweep.axis(x, "--x")?;
    let series_axis = series_axis(sweep, o, x)?;
    let mut series: Vec<Series> = Vec::new();
    for (g, y) in sweep.means(metric)? {
        let mut used = vec![x];
        let mut name = Vec::new();
        if let Some(s) = series_axis {
            used.push(s);
            name.push(value(g, s).to_string());
        }
        name.extend(rest(g, &used).iter().map(|(a, v)| format!("{a}={v}")));
        let name = if name.is_empty() {
            describe(metric)
        } else {
            name.join(", ")
        };
        let point = (number(g, x, &sweep.what)?, y);
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push(point),
            None => series.push(Series {
                name,
                points: vec![point],
                mark: Mark::LineAndMarkers,
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let trace = sweep.trace_label(o.trace_name.as_deref());
    Ok(XyChart {
        title: o.title_or(|| format!("Cold starts vs {}: {trace}", short(x))),
        x_label: describe(x),
        y_label: describe(metric),
        log_x: false,
        y_from_zero: true,
        y_max: None,
        legend: SeriesLabelPosition::UpperRight,
        series,
    })
}

/// The series axis: `--series`, or `policy` when the sweep has it.
pub fn series_axis<'a>(sweep: &Sweep, o: &'a Options, x: &str) -> Result<Option<&'a str>> {
    match o.series.as_deref() {
        Some(s) => {
            sweep.axis(s, "--series")?;
            Ok(Some(s))
        }
        None if x != SERIES && sweep.axes.iter().any(|a| a == SERIES) => Ok(Some(SERIES)),
        None => Ok(None),
    }
}

/// An axis title without its unit (`worker memory (MB)` -> `worker memory`).
fn short(col: &str) -> String {
    let d = describe(col);
    match d.rfind(" (") {
        Some(i) => d[..i].to_string(),
        None => d,
    }
}
