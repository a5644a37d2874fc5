//! A stacked bar chart over categories (`sim plot phases`): one bar per
//! category, one coloured block per part, drawn as rectangles.

use super::canvas::{DrawResult, Figure, OrDraw};
use super::style::{color, format_tick, LABEL_PX, LEGEND_PX, TITLE_PX};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

#[derive(Clone, Debug)]
pub struct StackedBars {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// (part, its value in each category), bottom first.
    pub parts: Vec<(String, Vec<f64>)>,
}

impl StackedBars {
    fn top(&self) -> f64 {
        let max = (0..self.categories.len())
            .map(|i| self.parts.iter().map(|(_, v)| v[i].max(0.0)).sum::<f64>())
            .fold(0f64, f64::max);
        if max > 0.0 {
            // Room above the tallest bar for the legend.
            max * 1.35
        } else {
            1.0
        }
    }

    /// Category labels turn upright when the longest would not fit in its
    /// bar's width (about 6.5 px a character at the label size, 900 px of
    /// plot).
    fn upright(&self) -> bool {
        let per_bar = 900.0 / self.categories.len().max(1) as f64;
        self.longest_label() as f64 * 6.5 > per_bar - 8.0
    }

    /// Characters in the longest category label.
    fn longest_label(&self) -> usize {
        self.categories
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    }
}

impl Figure for StackedBars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let n = self.categories.len() as u32;
        let upright = self.upright();
        let longest = self.longest_label();
        let x_area = if upright {
            (longest as u32 * 8 + 40).min(240)
        } else {
            52
        };
        let mut ctx = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", TITLE_PX))
            .margin(14)
            .margin_right(30)
            .x_label_area_size(x_area)
            .y_label_area_size(72)
            // A segmented range holds both ends: 0..n-1 is n segments.
            .build_cartesian_2d((0..n.max(1) - 1).into_segmented(), 0f64..self.top())
            .or_draw()?;
        let cats = &self.categories;
        // Upright labels are drawn below (plotters centres a rotated tick
        // label on the axis, half of it inside the plot).
        let fmt = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if !upright => {
                cats.get(*i as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(n as usize + 1)
            .x_label_formatter(&fmt)
            .y_label_formatter(&|v: &f64| format_tick(*v))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .label_style(("sans-serif", LABEL_PX - 2))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.15))
            .draw()
            .or_draw()?;
        if upright {
            let style = ("sans-serif", LABEL_PX - 2)
                .into_font()
                .transform(FontTransform::Rotate90)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            for (i, c) in cats.iter().enumerate() {
                let (px, py) = ctx.backend_coord(&(SegmentValue::CenterOf(i as u32), 0.0));
                root.draw(&Text::new(c.clone(), (px - 6, py + 8), style.clone()))
                    .or_draw()?;
            }
        }
        let mut base = vec![0f64; cats.len()];
        for (k, (part, values)) in self.parts.iter().enumerate() {
            let col = color(k);
            let blocks: Vec<Rectangle<(SegmentValue<u32>, f64)>> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let (lo, hi) = (base[i], base[i] + v.max(0.0));
                    base[i] = hi;
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(i as u32), lo),
                            (SegmentValue::Exact(i as u32 + 1), hi),
                        ],
                        col.filled(),
                    );
                    r.set_margin(0, 0, 6, 6);
                    r
                })
                .collect();
            ctx.draw_series(blocks)
                .or_draw()?
                .label(part.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        }
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", LEGEND_PX))
            .draw()
            .or_draw()
    }
}
