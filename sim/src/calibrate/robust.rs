//! Least absolute deviations (median regression) for the few regressors of
//! a phase's cost term, with bootstrap confidence intervals.
//!
//! Start-up phases are skewed (a long tail of slow samples: a cold cgroup
//! join, a busy neighbour), so a least-squares fit lands on the mean, above
//! the median that `sim compare` reports. Minimising the sum of |residual|
//! instead puts a constant term at the samples' median and a line through
//! the conditional medians. It is solved by iteratively reweighted least
//! squares (weights 1 / max(|r|, δ), from the least-squares start), which
//! converges to the L1 optimum for these small, well-posed designs.
//!
//! Intervals: the percentile bootstrap (rows resampled with replacement,
//! [`BOOTSTRAP_RESAMPLES`] times, from a fixed seed so a report is
//! reproducible); the standard error is the resamples' standard deviation.

use super::fit::{ols, solve_weighted, Coefficient, Fit, FitError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const BOOTSTRAP_RESAMPLES: usize = 400;
const ITERATIONS: usize = 100;
const SEED: u64 = 0x50c4_ca1b;

/// The L1 fit's coefficients, starting from least squares.
fn l1_beta(x: &[Vec<f64>], y: &[f64]) -> Result<Vec<f64>, FitError> {
    let start = ols(x, y, 0.5)?;
    let mut beta: Vec<f64> = start.coefficients.iter().map(|c| c.estimate).collect();
    let scale = y.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-9);
    let delta = 1e-7 * scale;
    for _ in 0..ITERATIONS {
        let w: Vec<f64> = residuals(x, y, &beta)
            .iter()
            .map(|r| 1.0 / r.abs().max(delta))
            .collect();
        let next = solve_weighted(x, y, &w).ok_or(FitError::Singular)?;
        let moved = next
            .iter()
            .zip(&beta)
            .fold(0.0f64, |a, (n, b)| a.max((n - b).abs()));
        beta = next;
        if moved <= 1e-9 * scale {
            break;
        }
    }
    Ok(beta)
}

fn residuals(x: &[Vec<f64>], y: &[f64], beta: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(y)
        .map(|(row, &yi)| yi - row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>())
        .collect()
}

/// Median regression of `y` on the rows of `x`, with `confidence`
/// percentile-bootstrap intervals.
pub fn lad(x: &[Vec<f64>], y: &[f64], confidence: f64) -> Result<Fit, FitError> {
    let beta = l1_beta(x, y)?;
    let n = y.len();
    let k = beta.len();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(BOOTSTRAP_RESAMPLES); k];
    if n > k {
        let mut bx = Vec::with_capacity(n);
        let mut by = Vec::with_capacity(n);
        for _ in 0..BOOTSTRAP_RESAMPLES {
            bx.clear();
            by.clear();
            for _ in 0..n {
                let i = rng.gen_range(0..n);
                bx.push(x[i].clone());
                by.push(y[i]);
            }
            // A resample whose regressors are collinear (e.g. every row
            // drawn from one Zygote size) identifies nothing: skipped.
            if let Ok(b) = l1_beta(&bx, &by) {
                for (d, v) in draws.iter_mut().zip(b) {
                    d.push(v);
                }
            }
        }
    }
    // Intervals only when most resamples were usable.
    let usable = draws[0].len() * 2 >= BOOTSTRAP_RESAMPLES;
    let coefficients = beta
        .iter()
        .zip(draws.iter_mut())
        .map(|(&estimate, d)| {
            if !usable {
                return Coefficient {
                    estimate,
                    std_error: None,
                    ci: None,
                };
            }
            d.sort_by(f64::total_cmp);
            let mean = d.iter().sum::<f64>() / d.len() as f64;
            let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (d.len() - 1) as f64;
            let alpha = 1.0 - confidence;
            let q = |p: f64| sock_core::quantile::nearest_rank(d, p).unwrap_or(estimate);
            Coefficient {
                estimate,
                std_error: Some(var.sqrt()),
                ci: Some((q(alpha / 2.0), q(1.0 - alpha / 2.0))),
            }
        })
        .collect();
    Ok(Fit {
        coefficients,
        n,
        residuals: residuals(x, y, &beta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_lands_on_the_median_not_the_mean() {
        // Skewed: most samples near 1, a tail at 10.
        let y = [0.9, 1.0, 1.0, 1.1, 1.2, 10.0, 12.0];
        let x = vec![vec![1.0]; y.len()];
        let f = lad(&x, &y, 0.95).expect("fit");
        let c = &f.coefficients[0];
        assert!((c.estimate - 1.1).abs() < 1e-4, "{}", c.estimate);
        let mean = ols(&x, &y, 0.95).expect("ols").coefficients[0].estimate;
        assert!(mean > 3.0);
        let (lo, hi) = c.ci.expect("ci");
        assert!(lo <= c.estimate && c.estimate <= hi, "{lo} {hi}");
    }

    #[test]
    fn a_line_with_outliers_is_recovered_and_exact_data_exactly() {
        // y = 2 + 3x, every fifth sample 50 too high.
        let x: Vec<Vec<f64>> = (0..40).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..40)
            .map(|i| 2.0 + 3.0 * i as f64 + if i % 5 == 0 { 50.0 } else { 0.0 })
            .collect();
        let f = lad(&x, &y, 0.95).expect("fit");
        let (a, b) = (f.coefficients[0].estimate, f.coefficients[1].estimate);
        assert!((a - 2.0).abs() < 1e-3 && (b - 3.0).abs() < 1e-4, "{a} {b}");
        let exact: Vec<f64> = (0..40).map(|i| 2.0 + 3.0 * i as f64).collect();
        let f = lad(&x, &exact, 0.95).expect("fit");
        assert!((f.coefficients[1].estimate - 3.0).abs() < 1e-9);
        assert_eq!(f.coefficients[1].ci.map(|(a, b)| b - a < 1e-6), Some(true));
    }

    #[test]
    fn reproducible_and_errors_as_least_squares() {
        let x = vec![vec![1.0]; 5];
        let y = [1.0, 2.0, 3.0, 4.0, 9.0];
        assert_eq!(lad(&x, &y, 0.9), lad(&x, &y, 0.9));
        let x = vec![vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0]];
        assert_eq!(lad(&x, &[1.0, 2.0, 3.0], 0.95), Err(FitError::Singular));
        // One sample: an estimate without an interval.
        let f = lad(&[vec![1.0]], &[4.0], 0.95).expect("fit");
        assert_eq!(
            (f.coefficients[0].estimate, f.coefficients[0].ci),
            (4.0, None)
        );
    }
}
