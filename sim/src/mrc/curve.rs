//! The curve: the cold share at each memory of a grid, and its renderings.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub memory_mb: f64,
    pub cold_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    /// Calls in the trace.
    pub calls: u64,
    /// Calls in the sample.
    pub accesses: u64,
    pub sample_rate: f64,
    /// From the one-pass estimate rather than a replay per point.
    pub one_pass: bool,
    pub points: Vec<Point>,
}

impl Curve {
    /// `cold[i]` cold calls of the sample of `t` at `grid_mb[i]`: the
    /// share is of the sampled calls (SHARDS's ratio estimate). Not cold /
    /// (rate x all calls): with call counts this skewed, whether the few
    /// hottest functions are in the sample swings both counts, and the
    /// ratio is the steadier of the two (on the 500-function slice at rate
    /// 0.1 the other estimate passed 100 %).
    pub fn new(
        t: &super::Loaded,
        grid_mb: &[f64],
        cold: &[u64],
        sample_rate: f64,
        one_pass: bool,
    ) -> Curve {
        let n = t.accesses.len().max(1) as f64;
        let points = grid_mb
            .iter()
            .zip(cold)
            .map(|(&memory_mb, &c)| Point {
                memory_mb,
                cold_pct: 100.0 * c as f64 / n,
            })
            .collect();
        Curve {
            calls: t.calls,
            accesses: t.accesses.len() as u64,
            sample_rate,
            one_pass,
            points,
        }
    }

    pub fn to_text(&self) -> String {
        let how = if self.one_pass {
            "one pass"
        } else {
            "a replay per point"
        };
        let mut s = format!(
            "calls {} (sampled {}, rate {}, {how})\n{:>12}  {:>8}\n",
            self.calls, self.accesses, self.sample_rate, "memory_mb", "cold_%"
        );
        for p in &self.points {
            s += &format!("{:>12.1}  {:>8.3}\n", p.memory_mb, p.cold_pct);
        }
        s
    }

    pub fn to_csv(&self) -> String {
        let mut s = String::from("memory_mb,cold_pct\n");
        for p in &self.points {
            s += &format!("{},{}\n", p.memory_mb, p.cold_pct);
        }
        s
    }
}

/// `points` memories from `from` to `to`, evenly spaced.
pub fn linear_grid(from: f64, to: f64, points: usize) -> Vec<f64> {
    match points {
        0 => Vec::new(),
        1 => vec![from],
        n => (0..n)
            .map(|i| from + (to - from) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}
