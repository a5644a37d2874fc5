//! One chart of (x, y) series: lines, markers or both, on linear or log
//! x axes. `cold-vs-memory`, `pareto`, `startup-cdf` and `memory` are
//! this chart with different data.

use super::canvas::{DrawResult, Figure, OrDraw};
use super::style::{color, format_tick, LABEL_PX, LEGEND_PX, TITLE_PX};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A legend glyph's polyline, in pixels.
type LegendPath = Vec<(i32, i32)>;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Line,
    Markers,
    LineAndMarkers,
    /// A dashed black line over the other series (a Pareto front, all
    /// paths together).
    Dashed,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub struct XyChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    /// The y axis starts at 0 (else at the data's minimum, padded).
    pub y_from_zero: bool,
    /// The y axis ends here at least (100 for percentages).
    pub y_max: Option<f64>,
    pub legend: SeriesLabelPosition,
    pub series: Vec<Series>,
}

/// The (lo, hi) of `values`, padded by 5%, never empty.
fn bounds(values: impl Iterator<Item = f64>, pad: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        let d = if lo.abs() > 1e-9 { lo.abs() * 0.1 } else { 1.0 };
        (lo, hi) = (lo - d, hi + d);
    }
    if pad {
        let d = (hi - lo) * 0.05;
        (lo, hi) = (lo - d, hi + d);
    }
    (lo, hi)
}

impl XyChart {
    fn y_range(&self) -> (f64, f64) {
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (mut lo, mut hi) = bounds(ys, true);
        if self.y_from_zero {
            lo = 0.0;
        }
        if let Some(m) = self.y_max {
            hi = hi.max(m);
        }
        (lo, hi)
    }

    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        if self.log_x {
            let (lo, hi) = bounds(xs.filter(|&x| x > 0.0).map(f64::log10), false);
            // Whole decades, so the ticks land on 1, 10, 100, ...
            let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
            (10f64.powf(lo), 10f64.powf(hi))
        } else {
            bounds(xs, true)
        }
    }
}

impl Figure for XyChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let (x0, x1) = self.x_range();
        let (y0, y1) = self.y_range();
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, ("sans-serif", TITLE_PX))
            .margin(14)
            .margin_right(30)
            .x_label_area_size(52)
            .y_label_area_size(72);
        if self.log_x {
            let mut ctx = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .or_draw()?;
            mesh(&mut ctx, self)?;
            series(&mut ctx, self)
        } else {
            let mut ctx = builder.build_cartesian_2d(x0..x1, y0..y1).or_draw()?;
            mesh(&mut ctx, self)?;
            series(&mut ctx, self)
        }
    }
}

fn mesh<DB, X>(
    ctx: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    c: &XyChart,
) -> DrawResult
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    ctx.configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|v: &f64| format_tick(*v))
        .y_label_formatter(&|v: &f64| format_tick(*v))
        .axis_desc_style(("sans-serif", LABEL_PX))
        .label_style(("sans-serif", LABEL_PX - 2))
        .light_line_style(BLACK.mix(0.05))
        .bold_line_style(BLACK.mix(0.15))
        .draw()
        .or_draw()
}

fn series<'a, DB, X>(
    ctx: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    c: &XyChart,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut colour_index = 0;
    for s in &c.series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| x.is_finite() && y.is_finite() && (!c.log_x || x > 0.0))
            .collect();
        let col = if s.mark == Mark::Dashed {
            BLACK
        } else {
            colour_index += 1;
            color(colour_index - 1)
        };
        let line = matches!(s.mark, Mark::Line | Mark::LineAndMarkers);
        let dots = matches!(s.mark, Mark::Markers | Mark::LineAndMarkers);
        if line {
            ctx.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .or_draw()?;
        }
        if s.mark == Mark::Dashed {
            ctx.draw_series(dashes(&pts, ctx.plotting_area(), col, c.log_x))
                .or_draw()?;
        }
        if dots {
            // Earlier series get bigger dots, so equal points still show
            // every series' colour as a ring.
            let r = 4 + 2 * (2 - (colour_index - 1) % 3) as i32;
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, r, col.filled())))
                .or_draw()?;
        }
        // The legend entry rides on an empty series of this style.
        let mark = s.mark;
        ctx.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .or_draw()?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                // A line, a dot, both, or a dashed line (two pieces).
                let (first, second): (LegendPath, LegendPath) = match mark {
                    Mark::Markers => (vec![], vec![]),
                    Mark::Dashed => (vec![(0, 0), (8, 0)], vec![(12, 0), (20, 0)]),
                    _ => (vec![(0, 0), (20, 0)], vec![]),
                };
                let r = if matches!(mark, Mark::Markers | Mark::LineAndMarkers) {
                    4
                } else {
                    0
                };
                EmptyElement::at((x, y))
                    + PathElement::new(first, col.stroke_width(2))
                    + PathElement::new(second, col.stroke_width(2))
                    + Circle::new((10, 0), r, col.filled())
            });
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .position(c.legend.clone())
        .label_font(("sans-serif", LEGEND_PX))
        .draw()
        .or_draw()
}

/// A dashed line through `pts`: every other piece of each segment, cut in
/// pixel space so dashes look the same on log axes.
fn dashes<DB, X>(
    pts: &[(f64, f64)],
    area: &DrawingArea<DB, Cartesian2d<X, RangedCoordf64>>,
    col: RGBColor,
    log_x: bool,
) -> Vec<PathElement<(f64, f64)>>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
{
    let mut out = Vec::new();
    for w in pts.windows(2) {
        let (a, b) = (area.map_coordinate(&w[0]), area.map_coordinate(&w[1]));
        let len = (((b.0 - a.0).pow(2) + (b.1 - a.1).pow(2)) as f64).sqrt();
        let pieces = ((len / 8.0).ceil() as usize).max(1);
        for k in (0..pieces).step_by(2) {
            let f0 = k as f64 / pieces as f64;
            let f1 = ((k + 1) as f64 / pieces as f64).min(1.0);
            out.push(PathElement::new(
                vec![lerp(w[0], w[1], f0, log_x), lerp(w[0], w[1], f1, log_x)],
                col.stroke_width(2),
            ));
        }
    }
    out
}

fn lerp(a: (f64, f64), b: (f64, f64), f: f64, log_x: bool) -> (f64, f64) {
    let x = if log_x && a.0 > 0.0 && b.0 > 0.0 {
        (a.0.ln() + (b.0.ln() - a.0.ln()) * f).exp()
    } else {
        a.0 + (b.0 - a.0) * f
    };
    (x, a.1 + (b.1 - a.1) * f)
}
