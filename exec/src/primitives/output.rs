//! CSV and plot (SVG and PNG) output of the study.
//!
//! Plots need a TrueType font for text layout (plotters' `ab_glyph`
//! backend, so no fontconfig): the first of `$SOCK_PLOT_FONT` and a few
//! usual DejaVu / Liberation paths that exists (Debian: `fonts-dejavu-core`).
//! Without one, plotting fails with a clear error and the CSV stays.

use super::{Experiment, PrimError, Row};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const CSV_HEADER: &str =
    "experiment,variant,metric,x_name,x,samples,median_us,p95_us,mean_us,ops_per_s,detail";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line (no newline) for `r`.
pub fn csv_line(r: &Row) -> String {
    let s = &r.summary;
    format!(
        "{},{},{},{},{},{},{:.2},{:.2},{:.2},{:.1},{}",
        r.experiment,
        csv_field(&r.variant),
        csv_field(r.metric),
        r.x_name,
        r.x,
        s.samples,
        s.median_us,
        s.p95_us,
        s.mean_us,
        r.ops_per_s,
        csv_field(&r.detail)
    )
}

/// Writes `rows` with [`CSV_HEADER`] to `path`.
pub fn write_csv(rows: &[Row], path: &Path) -> Result<(), PrimError> {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&csv_line(r));
        text.push('\n');
    }
    let mut f = std::fs::File::create(path).map_err(PrimError::io("create", path))?;
    f.write_all(text.as_bytes())
        .map_err(PrimError::io("write", path))
}

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a sans-serif font once per process.
pub(crate) fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let env = std::env::var_os("SOCK_PLOT_FONT").map(PathBuf::from);
        let path = env.into_iter().chain(FONT_PATHS.iter().map(PathBuf::from)).find(|p| p.is_file());
        let Some(path) = path else {
            return Err(format!("no TrueType font found (set SOCK_PLOT_FONT or install fonts-dejavu-core; tried {FONT_PATHS:?})"));
        };
        let bytes = std::fs::read(&path).map_err(|e| format!("read font {}: {e}", path.display()))?;
        // Registered fonts must be 'static; this runs once per process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{} is not a usable font", path.display()))
    })
    .clone()
}

/// One line of a line chart.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// Rows of `metric`, one series per variant, y taken by `y`.
fn series(rows: &[Row], metric: &str, y: impl Fn(&Row) -> f64) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for r in rows.iter().filter(|r| r.metric == metric) {
        let point = (r.x as f64, y(r));
        match out.iter_mut().find(|s| s.label == r.variant) {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                label: r.variant.clone(),
                points: vec![point],
            }),
        }
    }
    out
}

type Area<DB> = DrawingArea<DB, plotters::coord::Shift>;

fn line_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    x_label: &str,
    y_label: &str,
    data: &[Series],
) -> Result<(), String> {
    let xs = data.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = data
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let x_max = xs.fold(1.0f64, f64::max);
    let y_max = ys.fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 24))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.05, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .max_light_lines(2)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in data.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Horizontal bars (median, with a p95 tick), one per row, labelled on
/// the left. The x axis spans twice the largest median, so one noisy
/// tail cannot squash every bar; a p95 beyond it is drawn at the edge
/// (its value is in the bar's text).
fn bar_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    rows: &[&Row],
) -> Result<(), String> {
    let n = rows.len().max(1) as f64;
    let x_max = rows
        .iter()
        .map(|r| r.summary.median_us)
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 2.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 24))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(430)
        .build_cartesian_2d(0.0..x_max, 0.0..n)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("µs per operation (bar: median, tick: p95)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .max_light_lines(2)
        .disable_y_mesh()
        .y_labels(0)
        .draw()
        .map_err(|e| e.to_string())?;
    let font = ("sans-serif", 16).into_font();
    for (i, r) in rows.iter().enumerate() {
        let y = n - 1.0 - i as f64;
        let color = Palette99::pick(i).to_rgba();
        let (m, p) = (r.summary.median_us, r.summary.p95_us);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.15), (m, y + 0.85)],
                color.filled(),
            )))
            .map_err(|e| e.to_string())?;
        let tick = p.min(x_max);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(tick, y + 0.25), (tick, y + 0.75)],
                BLACK.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?;
        let numbers = format!("{m:.1} µs (p95 {p:.1})");
        let centred = font
            .clone()
            .into_text_style(area)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(
                numbers,
                ((m.max(tick) + x_max * 0.01).min(x_max * 0.74), y + 0.5),
                centred,
            )))
            .map_err(|e| e.to_string())?;
        let (_, py) = chart.backend_coord(&(0.0, y + 0.5));
        let label = format!("{} [{}]", r.variant, r.metric);
        let left_centred = font
            .clone()
            .into_text_style(area)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label, (12, py), left_centred))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Draws the plot of `experiment` from its rows into `path` (SVG) and
/// the same path with a `.png` extension.
pub fn plot(experiment: Experiment, rows: &[Row], path: &Path) -> Result<(), PrimError> {
    let err = |msg: String| PrimError::Plot {
        path: path.to_path_buf(),
        msg,
    };
    ensure_font().map_err(err)?;
    let size = plot_size(experiment, rows);
    draw(
        experiment,
        rows,
        SVGBackend::new(path, size).into_drawing_area(),
    )
    .map_err(err)?;
    let png = path.with_extension("png");
    draw(
        experiment,
        rows,
        BitMapBackend::new(&png, size).into_drawing_area(),
    )
    .map_err(|msg| PrimError::Plot {
        path: png.clone(),
        msg,
    })
}

fn plot_size(experiment: Experiment, rows: &[Row]) -> (u32, u32) {
    match experiment {
        Experiment::Netns | Experiment::MountCount => (1400, 560),
        _ => (1200, 100 + 40 * rows.len() as u32),
    }
}

fn draw<DB: DrawingBackend>(
    experiment: Experiment,
    rows: &[Row],
    root: Area<DB>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match experiment {
        Experiment::Netns | Experiment::MountCount => {
            let (left, right) = root.split_horizontally(700);
            let op = "fork+unshare+exit+wait";
            if experiment == Experiment::Netns {
                let thr = series(rows, op, |r| r.ops_per_s);
                line_panel(
                    &left,
                    "create+destroy throughput",
                    "concurrent processes",
                    "operations/s (all processes)",
                    &thr,
                )?;
                let lat = series(rows, "unshare", |r| r.summary.median_us);
                line_panel(
                    &right,
                    "unshare() latency",
                    "concurrent processes",
                    "median µs",
                    &lat,
                )?;
            } else {
                let lat = series(rows, "unshare(NEWNS)", |r| r.summary.median_us);
                line_panel(
                    &left,
                    "unshare(CLONE_NEWNS) latency",
                    "dummy mounts on the host",
                    "median µs",
                    &lat,
                )?;
                let all = series(rows, op, |r| r.summary.median_us);
                line_panel(
                    &right,
                    "fork + unshare + exit (teardown) + wait",
                    "dummy mounts on the host",
                    "median µs",
                    &all,
                )?;
            }
        }
        Experiment::BindOverlay | Experiment::Cgroup | Experiment::Root => {
            let title = match experiment {
                Experiment::BindOverlay => "bind mount vs overlayfs",
                Experiment::Cgroup => "cgroup create+destroy vs reuse",
                _ => "chroot vs pivot_root",
            };
            bar_panel(&root, title, &rows.iter().collect::<Vec<_>>())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}
