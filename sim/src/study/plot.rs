//! The study's plots, each as PNG and SVG (plotters). Text needs a TrueType
//! font ([`crate::plot::font`], shared with `sim plot`).
//!
//! Axes marked "log" plot log10 of the value on a linear axis and label the
//! ticks with the value, which keeps one chart type for every plot.

use super::compute::Study;
use crate::output::Output;
use crate::plot::style::{color, format_tick};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(transparent)]
    Font(#[from] crate::plot::font::FontError),
    #[error("drawing {path}: {msg}")]
    Draw { path: String, msg: String },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// Registers the plots' font ([`crate::plot::font`]).
pub fn load_font(font: Option<&Path>) -> Result<(), PlotError> {
    Ok(crate::plot::font::load_font(font)?)
}

/// One line chart: named series of (x, y) points.
#[derive(Debug)]
pub struct Chart {
    pub file: &'static str,
    pub title: String,
    pub x_label: &'static str,
    pub y_label: &'static str,
    pub log_x: bool,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// The `file` of every chart [`charts`] returns, in order.
pub const CHART_FILES: [&str; 6] = [
    "popularity",
    "closure_fit",
    "closure_size",
    "import_cost",
    "install_cost",
    "invocation_skew",
];

/// Writes every chart of the study as `<name>.png` and `<name>.svg`.
pub fn write_all(dir: &Path, study: &Study) -> Result<Vec<PathBuf>, PlotError> {
    let mut files = Vec::new();
    for chart in charts(study) {
        // Each drawn into a temporary file and renamed (crate::output).
        let png = dir.join(format!("{}.png", chart.file));
        let out = Output::new(&png, &[])?;
        draw(
            BitMapBackend::new(out.tmp_path(), (900, 560)).into_drawing_area(),
            &chart,
            &png,
        )?;
        out.commit()?;
        let svg = dir.join(format!("{}.svg", chart.file));
        let out = Output::new(&svg, &[])?;
        draw(
            SVGBackend::new(out.tmp_path(), (900, 560)).into_drawing_area(),
            &chart,
            &svg,
        )?;
        out.commit()?;
        files.extend([png, svg]);
    }
    Ok(files)
}

/// The study's charts.
pub fn charts(study: &Study) -> Vec<Chart> {
    let c = &study.curves;
    let ranked = |shares: &[f64]| -> Vec<(f64, f64)> {
        shares
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, s)| (k as f64, 100.0 * s))
            .collect()
    };
    vec![
        Chart {
            file: "popularity",
            title: "Share of imports going to the top packages".into(),
            x_label: "top N packages (log)",
            y_label: "% of imports",
            log_x: true,
            series: vec![
                ("by function".into(), ranked(&c.popularity_by_function)),
                ("by invocation".into(), ranked(&c.popularity_by_invocation)),
            ],
        },
        Chart {
            file: "closure_fit",
            title: "Closures that fit in the top N packages".into(),
            x_label: "top N packages (log)",
            y_label: "% whose whole closure fits",
            log_x: true,
            series: vec![
                (
                    "functions".into(),
                    c.fit
                        .iter()
                        .skip(1)
                        .map(|&(n, f, _)| (n as f64, 100.0 * f))
                        .collect(),
                ),
                (
                    "invocations".into(),
                    c.fit
                        .iter()
                        .skip(1)
                        .map(|&(n, _, i)| (n as f64, 100.0 * i))
                        .collect(),
                ),
            ],
        },
        cdf_chart(
            "closure_size",
            "Closure size per function",
            "packages in the closure",
            false,
            vec![("functions".into(), c.closure_sizes.clone())],
        ),
        cdf_chart(
            "import_cost",
            "Import cost",
            "import time, ms (log)",
            true,
            vec![
                (
                    "per package (exclusive)".into(),
                    c.package_import_ms.clone(),
                ),
                ("per function closure".into(), c.closure_import_ms.clone()),
            ],
        ),
        cdf_chart(
            "install_cost",
            "Install cost",
            "install time, ms (log)",
            true,
            vec![
                ("per package".into(), c.package_install_ms.clone()),
                ("per function closure".into(), c.closure_install_ms.clone()),
            ],
        ),
        Chart {
            file: "invocation_skew",
            title: "Invocations by function popularity".into(),
            x_label: "% of functions, most invoked first",
            y_label: "% of invocations",
            log_x: false,
            series: vec![("functions".into(), lorenz(&c.invocations_desc))],
        },
    ]
}

/// An empirical CDF chart of sorted samples (log x drops values <= 0).
fn cdf_chart(
    file: &'static str,
    title: &str,
    x_label: &'static str,
    log_x: bool,
    series: Vec<(String, Vec<f64>)>,
) -> Chart {
    let series = series
        .into_iter()
        .map(|(name, v)| {
            let pts = v
                .iter()
                .enumerate()
                .filter(|(_, &x)| !log_x || x > 0.0)
                .map(|(i, &x)| (x, 100.0 * (i + 1) as f64 / v.len() as f64))
                .collect();
            (name, pts)
        })
        .collect();
    Chart {
        file,
        title: format!("{title} (CDF)"),
        x_label,
        y_label: "% at or below",
        log_x,
        series,
    }
}

fn lorenz(desc: &[u64]) -> Vec<(f64, f64)> {
    let total: u64 = desc.iter().sum::<u64>().max(1);
    let n = desc.len().max(1) as f64;
    let mut acc = 0;
    let mut pts = vec![(0.0, 0.0)];
    for (i, &c) in desc.iter().enumerate() {
        acc += c;
        pts.push((
            100.0 * (i + 1) as f64 / n,
            100.0 * acc as f64 / total as f64,
        ));
    }
    pts
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    path: &Path,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let tx = |x: f64| if chart.log_x { x.log10() } else { x };
    let xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| tx(x)))
        .collect();
    let (mut lo, mut hi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    if chart.log_x {
        // Whole decades, so the ticks land on 1, 10, 100, ...
        (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
    }
    let x_ticks = if chart.log_x {
        (hi - lo) as usize + 1
    } else {
        11
    };
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0f64..100f64)
        .map_err(|e| err(&e))?;
    let log = chart.log_x;
    let fmt_x = move |v: &f64| {
        if log {
            format_tick(10f64.powf(*v))
        } else {
            format_tick(*v)
        }
    };
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_labels(x_ticks)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&|v: &f64| format!("{v:.0}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, pts)) in chart.series.iter().enumerate() {
        let color = color(i);
        let line: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (tx(x), y)).collect();
        ctx.draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
