//! One-sided upper confidence bounds on a metric, at level c:
//!
//! - over several traces (n >= 2): the mean of the traces' values plus
//!   t(c; n - 1) * s / sqrt(n) (Student's t, as [`crate::stats_ci`]);
//! - over one trace, distribution-free:
//!   - a quantile q of n values: the k-th smallest value, k the smallest
//!     rank with P(Bin(n, q) <= k - 1) >= c (the order-statistic bound:
//!     fewer than k of n draws fall below the true quantile with
//!     probability at least c). With too few values (P(Bin(n, q) <= n - 1)
//!     = 1 - q^n < c) there is no such k;
//!   - a share of x in n calls: the Clopper-Pearson upper bound, the c
//!     quantile of Beta(x + 1, n - x) (1 when x = n).

use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// How a bound was computed, for the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Student's t over the traces' values.
    StudentT { traces: usize },
    /// The k-th smallest of n values.
    OrderStatistic { rank: u64, of: u64 },
    /// Clopper-Pearson on x of n calls.
    ClopperPearson { x: u64, n: u64 },
    /// No bound could be computed: the point value stands in.
    PointValue { why: String },
}

impl Method {
    pub fn describe(&self) -> String {
        match self {
            Method::StudentT { traces } => format!("Student's t over {traces} traces"),
            Method::OrderStatistic { rank, of } => {
                format!("order statistic {rank} of {of}")
            }
            Method::ClopperPearson { x, n } => format!("Clopper-Pearson, {x} of {n}"),
            Method::PointValue { why } => format!("NO BOUND ({why}): point value"),
        }
    }
}

/// The one-sided upper t bound of the mean of `values` (n >= 2).
pub fn student_t_upper(values: &[f64], confidence: f64) -> Option<f64> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .ok()?
        .inverse_cdf(confidence);
    Some(mean + t * var.sqrt() / (n as f64).sqrt())
}

/// The 1-based rank of the order statistic that bounds the `q` quantile
/// of `n` values from above at `confidence`; `None` when n is too small.
pub fn order_statistic_rank(n: u64, q: f64, confidence: f64) -> Option<u64> {
    if n == 0 || !(0.0..1.0).contains(&q) {
        return None;
    }
    let b = Binomial::new(q, n).ok()?;
    // P(Bin <= k - 1) grows with k; the smallest k in 1..=n reaching c.
    let reaches = |k: u64| b.cdf(k - 1) >= confidence;
    if !reaches(n) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, n); // reaches(hi); !reaches(lo) or lo = 0
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The one-sided Clopper-Pearson upper bound of a share of `x` in `n`
/// (as a fraction); `None` for n = 0 or x > n.
pub fn clopper_pearson_upper(x: u64, n: u64, confidence: f64) -> Option<f64> {
    if n == 0 || x > n {
        return None;
    }
    if x == n {
        return Some(1.0);
    }
    let beta = Beta::new((x + 1) as f64, (n - x) as f64).ok()?;
    Some(beta.inverse_cdf(confidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    // Clopper-Pearson and the order statistic against hand-computed
    // values: sim/tests/plan.rs.

    #[test]
    fn student_t_upper_is_one_sided() {
        // 1, 2, 3, 4: mean 2.5, s = 1.290994, t(0.95; 3) = 2.353363.
        let u = student_t_upper(&[1.0, 2.0, 3.0, 4.0], 0.95).expect("bound");
        assert!(close(u, 2.5 + 2.353_363 * 1.290_994 / 2.0, 1e-4), "{u}");
        assert_eq!(student_t_upper(&[1.0], 0.95), None);
        assert_eq!(student_t_upper(&[3.0, 3.0], 0.95), Some(3.0));
    }
}
