//! Ordinary least squares for a few regressors, with each coefficient's
//! standard error and a Student-t confidence interval (statrs), and the
//! fit's residuals. Small designs only (k <= 4): the normal equations are
//! solved by Gauss-Jordan elimination with partial pivoting.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// One fitted coefficient.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Coefficient {
    pub estimate: f64,
    /// Standard error; `None` with no degrees of freedom left.
    pub std_error: Option<f64>,
    /// Two-sided interval at the fit's confidence level.
    pub ci: Option<(f64, f64)>,
}

/// The fit of `y ≈ X β`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub coefficients: Vec<Coefficient>,
    pub n: usize,
    /// `y - X β`, in row order.
    pub residuals: Vec<f64>,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{n} samples cannot fit {k} parameters")]
    TooFew { n: usize, k: usize },
    #[error("the regressors are collinear (a parameter is not identifiable from these samples)")]
    Singular,
}

/// Least squares of `y` on the rows of `x` (each `k` long), with
/// `confidence` (e.g. 0.95) intervals.
pub fn ols(x: &[Vec<f64>], y: &[f64], confidence: f64) -> Result<Fit, FitError> {
    let n = y.len();
    let k = x.first().map_or(0, Vec::len);
    if n < k || k == 0 {
        return Err(FitError::TooFew { n, k });
    }
    let mut xtx = vec![vec![0.0; k]; k];
    let mut xty = vec![0.0; k];
    for (row, &yi) in x.iter().zip(y) {
        for i in 0..k {
            xty[i] += row[i] * yi;
            for j in 0..k {
                xtx[i][j] += row[i] * row[j];
            }
        }
    }
    let inv = invert(&xtx).ok_or(FitError::Singular)?;
    let beta: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| inv[i][j] * xty[j]).sum())
        .collect();
    let residuals: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(row, &yi)| yi - row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let dof = n - k;
    let sigma2 = (dof > 0).then(|| residuals.iter().map(|r| r * r).sum::<f64>() / dof as f64);
    let t = sigma2.and_then(|_| {
        StudentsT::new(0.0, 1.0, dof as f64)
            .ok()
            .map(|d| d.inverse_cdf(0.5 + confidence / 2.0))
    });
    let coefficients = (0..k)
        .map(|i| {
            let se = sigma2.map(|s2| (s2 * inv[i][i]).max(0.0).sqrt());
            Coefficient {
                estimate: beta[i],
                std_error: se,
                ci: se
                    .zip(t)
                    .map(|(se, t)| (beta[i] - t * se, beta[i] + t * se)),
            }
        })
        .collect();
    Ok(Fit {
        coefficients,
        n,
        residuals,
    })
}

/// Weighted least squares: the `β` minimising `Σ w_i (y_i - x_i β)²`;
/// `None` when the weighted normal equations are (nearly) singular.
pub fn solve_weighted(x: &[Vec<f64>], y: &[f64], w: &[f64]) -> Option<Vec<f64>> {
    let k = x.first().map_or(0, Vec::len);
    let mut xtx = vec![vec![0.0; k]; k];
    let mut xty = vec![0.0; k];
    for ((row, &yi), &wi) in x.iter().zip(y).zip(w) {
        for i in 0..k {
            xty[i] += wi * row[i] * yi;
            for j in 0..k {
                xtx[i][j] += wi * row[i] * row[j];
            }
        }
    }
    let inv = invert(&xtx)?;
    Some(
        (0..k)
            .map(|i| (0..k).map(|j| inv[i][j] * xty[j]).sum())
            .collect(),
    )
}

/// The inverse of a small square matrix; `None` when (nearly) singular.
fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let k = m.len();
    let scale = m
        .iter()
        .flatten()
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mut a: Vec<Vec<f64>> = m
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..k).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col][col];
        for v in a[col].iter_mut() {
            *v /= p;
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            let f = row[col];
            if r != col && f != 0.0 {
                for (v, pv) in row.iter_mut().zip(&pivot_row) {
                    *v -= f * pv;
                }
            }
        }
    }
    Some(a.into_iter().map(|r| r[k..].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_line_and_its_interval() {
        // y = 2 + 3x, plus alternating noise of ±0.1.
        let x: Vec<Vec<f64>> = (0..20).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..20)
            .map(|i| 2.0 + 3.0 * i as f64 + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let f = ols(&x, &y, 0.95).expect("fit");
        let (a, b) = (&f.coefficients[0], &f.coefficients[1]);
        assert!((a.estimate - 2.0).abs() < 0.1 && (b.estimate - 3.0).abs() < 0.01);
        let (lo, hi) = b.ci.expect("ci");
        assert!(lo < 3.0 && 3.0 < hi && hi - lo < 0.05, "{lo} {hi}");
        assert_eq!(f.residuals.len(), 20);
    }

    #[test]
    fn exact_data_has_zero_width_and_a_mean_is_a_mean() {
        let x = vec![vec![1.0]; 4];
        let f = ols(&x, &[1.0, 2.0, 3.0, 6.0], 0.95).expect("fit");
        assert_eq!(f.coefficients[0].estimate, 3.0);
        let f = ols(&[vec![1.0], vec![1.0]], &[5.0, 5.0], 0.95).expect("fit");
        assert_eq!(f.coefficients[0].ci, Some((5.0, 5.0)));
    }

    #[test]
    fn collinear_and_too_few_are_errors() {
        let x = vec![vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0]];
        assert_eq!(ols(&x, &[1.0, 2.0, 3.0], 0.95), Err(FitError::Singular));
        assert_eq!(
            ols(&[vec![1.0, 2.0]], &[1.0], 0.95),
            Err(FitError::TooFew { n: 1, k: 2 })
        );
        // One sample, one parameter: an estimate without an interval.
        let f = ols(&[vec![1.0]], &[4.0], 0.95).expect("fit");
        assert_eq!(f.coefficients[0].ci, None);
    }
}
