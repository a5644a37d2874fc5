//! `sim plot pareto`: the cold-start tail against the memory-time kept
//! warm, one marker per configuration and the Pareto front through the
//! configurations no other beats on both (Serverless in the Wild).

use super::cold_memory::series_axis;
use super::labels::describe;
use super::sweep_input::{value, Sweep};
use super::xy::{Mark, Series, XyChart};
use super::Options;
use anyhow::Result;
use plotters::prelude::SeriesLabelPosition;

pub const X: &str = "worker.wasted_gb_s.handler_idle";
pub const Y: &str = "worker.cold_pct_per_function.p75";

pub fn chart(sweep: &Sweep, o: &Options) -> Result<XyChart> {
    let x = o.x.as_deref().unwrap_or(X);
    let y = o.y.as_deref().unwrap_or(Y);
    let xs = sweep.means(x)?;
    let ys = sweep.means(y)?;
    let by = series_axis(sweep, o, "")?;
    let mut series: Vec<Series> = Vec::new();
    let mut all = Vec::new();
    for ((g, vx), (_, vy)) in xs.iter().zip(&ys) {
        let name = by.map_or_else(|| "configurations".to_string(), |a| value(g, a).to_string());
        all.push((*vx, *vy));
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((*vx, *vy)),
            None => series.push(Series {
                name,
                points: vec![(*vx, *vy)],
                mark: Mark::Markers,
            }),
        }
    }
    series.push(Series {
        name: "Pareto front".into(),
        points: front(&all),
        mark: Mark::Dashed,
    });
    let trace = sweep.trace_label(o.trace_name.as_deref());
    Ok(XyChart {
        title: o.title_or(|| format!("Cold starts vs memory kept warm: {trace}")),
        x_label: describe(x),
        y_label: describe(y),
        log_x: false,
        y_from_zero: false,
        y_max: None,
        legend: SeriesLabelPosition::UpperRight,
        series,
    })
}

/// The points no other point beats on both coordinates (lower is better
/// on both), by increasing x; of equal points, one.
pub fn front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for p in sorted {
        if out.last().is_none_or(|l| p.1 < l.1) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::front;

    #[test]
    fn front_keeps_the_undominated_points() {
        let pts = [
            (1.0, 5.0),
            (2.0, 3.0),
            (2.0, 4.0),
            (3.0, 3.0),
            (4.0, 1.0),
            (0.5, 9.0),
        ];
        assert_eq!(
            front(&pts),
            [(0.5, 9.0), (1.0, 5.0), (2.0, 3.0), (4.0, 1.0)]
        );
    }
}
