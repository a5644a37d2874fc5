//! `sim plot heatmap`: a metric over two axes of a sweep (default the
//! handler cache against the Zygote tree budget, coloured by p99 start-up
//! latency), each cell's value written in it, with a colour scale.

use super::canvas::{DrawResult, Figure, OrDraw};
use super::labels::describe;
use super::style::{format_tick, format_value, LABEL_PX, TITLE_PX};
use super::sweep_input::{describe_config, rest, sort_values, value, Sweep};
use super::Options;
use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const X: &str = "handler-mb";
pub const Y: &str = "zygote-mb";
pub const METRIC: &str = "startup_ms.p99";

#[derive(Clone, Debug)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub metric_label: String,
    pub xs: Vec<String>,
    pub ys: Vec<String>,
    /// `cells[j][i]`: the value at (xs[i], ys[j]), if the sweep has it.
    pub cells: Vec<Vec<Option<f64>>>,
}

pub fn chart(sweep: &Sweep, o: &Options) -> Result<Heatmap> {
    let x = o.x.as_deref().unwrap_or(X);
    let y = o.y.as_deref().unwrap_or(Y);
    let metric = o.metric.as_deref().unwrap_or(METRIC);
    sweep.axis(x, "--x")?;
    sweep.axis(y, "--y")?;
    if x == y {
        bail!("--x and --y are both {x}; a heat map needs two axes");
    }
    let means = sweep.means(metric)?;
    let distinct = |axis: &str| {
        let mut v: Vec<String> = Vec::new();
        for (g, _) in &means {
            let s = value(g, axis).to_string();
            if !v.contains(&s) {
                v.push(s);
            }
        }
        sort_values(&mut v);
        v
    };
    let (xs, ys) = (distinct(x), distinct(y));
    let mut cells = vec![vec![None; xs.len()]; ys.len()];
    let mut seen: Vec<Vec<Option<String>>> = vec![vec![None; xs.len()]; ys.len()];
    for (g, m) in &means {
        let i = xs.iter().position(|v| v == value(g, x)).unwrap_or(0);
        let j = ys.iter().position(|v| v == value(g, y)).unwrap_or(0);
        let others = describe_config(&rest(g, &[x, y]));
        if let Some(prev) = &seen[j][i] {
            bail!(
                "{}: two configurations fall in the cell {x}={}, {y}={} ({prev}; {others}): \
                 pick one with --filter AXIS=VALUE",
                sweep.what,
                xs[i],
                ys[j]
            );
        }
        seen[j][i] = Some(others);
        cells[j][i] = Some(*m);
    }
    let trace = sweep.trace_label(o.trace_name.as_deref());
    Ok(Heatmap {
        title: o.title_or(|| format!("{}: {trace}", describe(metric))),
        x_label: describe(x),
        y_label: describe(y),
        metric_label: describe(metric),
        xs,
        ys,
        cells,
    })
}

/// Viridis, at five stops (perceptually even, readable in grey).
const STOPS: [(u8, u8, u8); 5] = [
    (68, 1, 84),
    (59, 82, 139),
    (33, 145, 140),
    (94, 201, 98),
    (253, 231, 37),
];

/// The colour of `f` in [0, 1].
pub fn colormap(f: f64) -> RGBColor {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = f * (STOPS.len() - 1) as f64;
    let k = (pos.floor() as usize).min(STOPS.len() - 2);
    let t = pos - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Heatmap {
    fn range(&self) -> (f64, f64) {
        let v = self.cells.iter().flatten().flatten();
        let lo = v.clone().copied().fold(f64::INFINITY, f64::min);
        let hi = v.copied().fold(f64::NEG_INFINITY, f64::max);
        match (lo.is_finite(), hi - lo > 1e-12) {
            (false, _) => (0.0, 1.0),
            (true, false) => (lo - 0.5, lo + 0.5),
            (true, true) => (lo, hi),
        }
    }
}

impl Figure for Heatmap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let root = root
            .titled(&self.title, ("sans-serif", TITLE_PX))
            .or_draw()?;
        let width = root.dim_in_pixel().0;
        let (main, scale) = root.split_horizontally(width.saturating_sub(150));
        let (lo, hi) = self.range();
        self.draw_cells(&main, lo, hi)?;
        self.draw_scale(&scale, lo, hi)
    }
}

impl Heatmap {
    fn draw_cells<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        lo: f64,
        hi: f64,
    ) -> DrawResult {
        let (nx, ny) = (self.xs.len() as u32, self.ys.len() as u32);
        let mut ctx = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(80)
            // A segmented range holds both ends: 0..n-1 is n segments.
            .build_cartesian_2d(
                (0..nx.max(1) - 1).into_segmented(),
                (0..ny.max(1) - 1).into_segmented(),
            )
            .or_draw()?;
        let label = |names: &[String], v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        ctx.configure_mesh()
            .disable_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(nx as usize + 1)
            .y_labels(ny as usize + 1)
            .x_label_formatter(&|v| label(&self.xs, v))
            .y_label_formatter(&|v| label(&self.ys, v))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .label_style(("sans-serif", LABEL_PX - 2))
            .draw()
            .or_draw()?;
        let font_px = if nx > 10 || ny > 14 { 11 } else { 14 };
        let seg = |i: usize| SegmentValue::Exact(i as u32);
        for (j, row) in self.cells.iter().enumerate() {
            for (i, cell) in row.iter().enumerate() {
                let fill = cell.map_or(RGBColor(220, 220, 220), |v| colormap((v - lo) / (hi - lo)));
                let mut r =
                    Rectangle::new([(seg(i), seg(j)), (seg(i + 1), seg(j + 1))], fill.filled());
                r.set_margin(1, 1, 1, 1);
                ctx.draw_series(std::iter::once(r)).or_draw()?;
                let text = cell.map_or_else(|| "-".to_string(), format_value);
                let luma = 0.299 * fill.0 as f64 + 0.587 * fill.1 as f64 + 0.114 * fill.2 as f64;
                let ink = if luma < 140.0 { WHITE } else { BLACK };
                let style = ("sans-serif", font_px)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let at = (
                    SegmentValue::CenterOf(i as u32),
                    SegmentValue::CenterOf(j as u32),
                );
                ctx.draw_series(std::iter::once(Text::new(text, at, style)))
                    .or_draw()?;
            }
        }
        Ok(())
    }

    /// The colour scale: a vertical bar from `lo` (bottom) to `hi`, its
    /// ticks on the right, titled with the metric.
    fn draw_scale<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        lo: f64,
        hi: f64,
    ) -> DrawResult {
        let mut ctx = ChartBuilder::on(area)
            .margin_top(14)
            .margin_bottom(66)
            .margin_right(8)
            .set_label_area_size(LabelAreaPosition::Left, 0)
            .set_label_area_size(LabelAreaPosition::Right, 90)
            .build_cartesian_2d(0f64..1f64, lo..hi)
            .or_draw()?;
        ctx.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(&self.metric_label)
            .y_label_formatter(&|v: &f64| format_tick(*v))
            .axis_desc_style(("sans-serif", LABEL_PX - 2))
            .label_style(("sans-serif", LABEL_PX - 3))
            .draw()
            .or_draw()?;
        const STEPS: usize = 64;
        let h = (hi - lo) / STEPS as f64;
        ctx.draw_series((0..STEPS).map(|k| {
            let y = lo + h * k as f64;
            Rectangle::new(
                [(0.0, y), (1.0, y + h)],
                colormap(k as f64 / (STEPS - 1) as f64).filled(),
            )
        }))
        .or_draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_runs_from_purple_to_yellow() {
        assert_eq!(colormap(0.0), RGBColor(68, 1, 84));
        assert_eq!(colormap(1.0), RGBColor(253, 231, 37));
        assert_eq!(colormap(f64::NAN), RGBColor(68, 1, 84));
    }
}
