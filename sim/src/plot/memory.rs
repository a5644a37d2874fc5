//! `sim plot memory`: each tier's memory over time, one line per column
//! of a `sim --memory-series` CSV ([`crate::memory_series`]), drawn as
//! steps (usage holds until the next row).

use super::xy::{Mark, Series, XyChart};
use super::Options;
use crate::csv_table::CsvTable;
use anyhow::{bail, Result};
use plotters::prelude::SeriesLabelPosition;
use std::path::Path;

/// Most steps drawn per line: past this, time is cut into this many bins
/// and each line draws its peak per bin (a replay's raw steps would paint a
/// solid band at the image's width).
const MAX_BINS: usize = 400;

/// The columns drawn, with their legend names, in order.
const TIERS: [(&str, &str); 5] = [
    ("worker_mb", "worker (handlers + Zygotes)"),
    ("handler_idle_mb", "idle handlers"),
    ("handler_busy_mb", "busy handlers"),
    ("zygote_mb", "Zygote tree"),
    ("install_mb", "install cache (disk)"),
];

pub fn chart(input: &Path, o: &Options) -> Result<XyChart> {
    let table = CsvTable::read(input)?;
    let t = table.numbers("t_s")?;
    if table.rows.is_empty() {
        bail!("{}: no rows to plot", table.what);
    }
    let span = t.iter().flatten().fold(0f64, |a, &b| a.max(b));
    let (unit, per) = if span > 3.0 * 3600.0 {
        ("h", 3600.0)
    } else if span > 3.0 * 60.0 {
        ("min", 60.0)
    } else {
        ("s", 1.0)
    };
    let bins = t.len().clamp(1, MAX_BINS);
    let bin_s = span / bins as f64;
    let mut series = Vec::new();
    let present: Vec<&(&str, &str)> = TIERS
        .iter()
        .filter(|(c, _)| table.find(c).is_some())
        .collect();
    if present.is_empty() {
        // Names the first column a memory series has.
        table.column(TIERS[0].0)?;
    }
    for (col, name) in present {
        let v = table.numbers(col)?;
        let pts: Vec<(f64, f64)> = t
            .iter()
            .zip(&v)
            .filter_map(|(t, v)| Some((*t.as_ref()?, *v.as_ref()?)))
            .collect();
        let pts = if t.len() > MAX_BINS {
            peaks(&pts, bin_s)
        } else {
            pts
        };
        let pts: Vec<(f64, f64)> = pts.into_iter().map(|(t, v)| (t / per, v)).collect();
        series.push(Series {
            name: name.to_string(),
            points: steps(&pts),
            mark: Mark::Line,
        });
    }
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0f64, f64::max);
    let trace = o.trace_of_file(input);
    Ok(XyChart {
        title: o.title_or(|| format!("Memory per tier over time: {trace}")),
        x_label: format!("trace time ({unit})"),
        y_label: if t.len() > MAX_BINS {
            format!("memory (MB; install: disk), peak per {}", duration(bin_s))
        } else {
            "memory (MB; install cache: disk MB)".into()
        },
        log_x: false,
        y_from_zero: true,
        // Room above the lines for the legend.
        y_max: Some(top * 1.4),
        legend: SeriesLabelPosition::UpperLeft,
        series,
    })
}

/// The peak of each bin of `width` seconds (at the bin's start), over
/// the rows in it; a bin without rows is skipped (the line holds).
fn peaks(pts: &[(f64, f64)], width: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in pts {
        let start = if width > 0.0 {
            (t / width).floor() * width
        } else {
            t
        };
        match out.last_mut() {
            Some(last) if last.0 == start => last.1 = last.1.max(v),
            _ => out.push((start, v)),
        }
    }
    out
}

/// `12 s`, `3.5 min`, `2 h`.
fn duration(s: f64) -> String {
    let fmt = super::style::format_tick;
    if s >= 7200.0 {
        format!("{} h", fmt(s / 3600.0))
    } else if s >= 120.0 {
        format!("{} min", fmt(s / 60.0))
    } else {
        format!("{} s", fmt(s))
    }
}

/// A step line through `pts`: each value holds until the next time.
fn steps(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(pts.len() * 2);
    for (i, &p) in pts.iter().enumerate() {
        if i > 0 {
            out.push((p.0, pts[i - 1].1));
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn peaks_keep_each_bins_maximum() {
        let pts = [(0.0, 1.0), (0.5, 5.0), (1.2, 2.0), (3.1, 4.0)];
        assert_eq!(
            super::peaks(&pts, 1.0),
            [(0.0, 5.0), (1.0, 2.0), (3.0, 4.0)]
        );
    }

    #[test]
    fn steps_hold_until_the_next_time() {
        assert_eq!(
            super::steps(&[(0.0, 1.0), (2.0, 3.0)]),
            [(0.0, 1.0), (2.0, 1.0), (2.0, 3.0)]
        );
    }
}
