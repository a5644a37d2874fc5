//! Student's t confidence interval of a mean: for n values with sample
//! mean m and sample standard deviation s (n - 1 in the denominator), the
//! two-sided interval at level c is m +- t(1 - (1 - c) / 2; n - 1) * s / sqrt(n),
//! t being the inverse CDF of Student's t with n - 1 degrees of freedom
//! (statrs `StudentsT`). One value (n = 1) has no interval.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean with its interval (`None` when n = 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// (sample standard deviation, half width); `None` for n = 1.
    pub spread: Option<(f64, f64)>,
}

impl MeanCi {
    pub fn lo(&self) -> Option<f64> {
        self.spread.map(|(_, h)| self.mean - h)
    }
    pub fn hi(&self) -> Option<f64> {
        self.spread.map(|(_, h)| self.mean + h)
    }
}

/// The mean of `values` and its two-sided t interval at `confidence`
/// (in (0, 1)); `None` for no values.
pub fn mean_ci(values: &[f64], confidence: f64) -> Option<MeanCi> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(MeanCi {
            n,
            mean,
            spread: None,
        });
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    // StudentsT::new fails only for a non-positive scale or freedom: 1 and n-1 >= 1.
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map(|d| d.inverse_cdf(1.0 - (1.0 - confidence) / 2.0))
        .unwrap_or(f64::NAN);
    Some(MeanCi {
        n,
        mean,
        spread: Some((sd, t * sd / (n as f64).sqrt())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_interval() {
        // 1, 2, 3, 4: mean 2.5, s = 1.2910, t(0.975; 3) = 3.1824.
        let c = mean_ci(&[1.0, 2.0, 3.0, 4.0], 0.95).expect("values");
        let (sd, h) = c.spread.expect("n > 1");
        assert!((sd - 1.290_994).abs() < 1e-5);
        assert!((h - 3.182_446 * 1.290_994 / 2.0).abs() < 1e-4, "{h}");
        let one = mean_ci(&[7.0], 0.95).expect("one");
        assert_eq!((one.mean, one.lo()), (7.0, None));
        assert!(mean_ci(&[], 0.95).is_none());
    }
}
