//! The curve: the cold share at each memory of a grid, read off the
//! sorted stack distances (binary search per point), and its renderings.

use super::stack::Distances;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub memory_mb: f64,
    pub cold_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub accesses: u64,
    pub compulsory: u64,
    pub concurrent: u64,
    pub sample_rate: f64,
    pub points: Vec<Point>,
}

const MIB: f64 = (1u64 << 20) as f64;

impl Curve {
    pub fn new(d: &Distances, grid_mb: &[f64], sample_rate: f64) -> Curve {
        let mut sorted = d.reuse.clone();
        sorted.sort_by(f64::total_cmp);
        let always = d.compulsory + d.concurrent;
        let n = d.accesses().max(1) as f64;
        let points = grid_mb
            .iter()
            .map(|&mb| {
                let cap = mb * MIB;
                let warm = sorted.partition_point(|&x| x <= cap + 0.5);
                let cold = always + (sorted.len() - warm) as u64;
                Point {
                    memory_mb: mb,
                    cold_pct: 100.0 * cold as f64 / n,
                }
            })
            .collect();
        Curve {
            accesses: d.accesses(),
            compulsory: d.compulsory,
            concurrent: d.concurrent,
            sample_rate,
            points,
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "calls {} (sample rate {}): compulsory {}, concurrent {}\n{:>12}  {:>8}\n",
            self.accesses,
            self.sample_rate,
            self.compulsory,
            self.concurrent,
            "memory_mb",
            "cold_%"
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
