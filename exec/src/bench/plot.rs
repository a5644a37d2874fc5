//! The containers benchmark's plot: median latency per system against
//! concurrency, log scale (Docker is ~20x the others).

use super::containers::Row;
use plotters::prelude::*;
use std::path::Path;

/// Writes `path` (SVG) and the same chart as PNG beside it.
pub fn containers(rows: &[Row], path: &Path) -> Result<(), String> {
    crate::primitives::output::ensure_font()?;
    draw(rows, SVGBackend::new(path, (800, 500)).into_drawing_area())?;
    let png = path.with_extension("png");
    draw(
        rows,
        BitMapBackend::new(&png, (800, 500)).into_drawing_area(),
    )
}

fn draw<DB: DrawingBackend>(
    rows: &[Row],
    area: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let max_c = rows.iter().map(|r| r.concurrency).max().unwrap_or(1) as f64;
    let ys = rows.iter().map(|r| r.p50_ms).filter(|v| *v > 0.0);
    let (lo, hi) = ys.fold((f64::MAX, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (0.1, 1000.0)
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "create + no-op invocation + destroy (median)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..max_c + 0.5, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrent workers")
        .y_desc("ms (log)")
        .draw()
        .map_err(err)?;
    let mut systems: Vec<&str> = rows.iter().map(|r| r.system.as_str()).collect();
    systems.dedup();
    for (i, sys) in systems.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.system == *sys)
            .map(|r| (r.concurrency as f64, r.p50_ms))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(*sys)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}
