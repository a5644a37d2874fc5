//! Costs for packages nobody measured, from a model fitted to the measured
//! ones. In the steps `impute` takes:
//!
//! 1. **Another version of the same package was measured**: copy the costs
//!    and modules of the nearest measured version (the greatest one at or
//!    below this version, else the smallest one above it; versions compared
//!    component by component, numbers as numbers).
//! 2. **Otherwise** draw each cost from its fitted distribution: a
//!    zero-inflated log-normal per field: 0 with the share of measured
//!    values that are 0, else a log-normal through the positive values'
//!    median and p90 (the fit `sim trace gen` uses; a maximum-likelihood fit
//!    of the logs puts the median at 1.6 ms instead of the data's 5 ms,
//!    because the logs are left-skewed), capped at the largest measured
//!    value. The fields are drawn independently. The draw is seeded by the
//!    package key and `--seed`, so a package gets the same costs whatever
//!    else is in the trace.
//!
//! Either way the trace marks the package `"imputed": true`.

use super::costs::Costs;
use super::requirements::Requirement;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// z-score of the 90th percentile of a standard normal.
const Z_P90: f64 = 1.281_551_565_5;

/// A zero-inflated, capped log-normal fitted to one field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ZeroLogNormal {
    /// Values fitted.
    pub n: usize,
    pub zero_share: f64,
    /// Median and p90 of the positive values; sigma = ln(p90 / median) / z(0.9).
    pub median: f64,
    pub p90: f64,
    pub sigma: f64,
    /// The largest value fitted: draws never exceed it.
    pub max: f64,
}

impl ZeroLogNormal {
    /// Fits `values` (all finite and >= 0). With no positive value the fit
    /// always draws 0.
    pub fn fit(values: &[f64]) -> ZeroLogNormal {
        let mut pos: Vec<f64> = values.iter().copied().filter(|&v| v > 0.0).collect();
        pos.sort_by(f64::total_cmp);
        let n = values.len();
        let zero_share = if n == 0 {
            1.0
        } else {
            (n - pos.len()) as f64 / n as f64
        };
        let q = |p: f64| {
            if pos.is_empty() {
                0.0
            } else {
                pos[((p * pos.len() as f64).ceil() as usize).clamp(1, pos.len()) - 1]
            }
        };
        let (median, p90) = (q(0.5), q(0.9));
        let sigma = if median > 0.0 {
            (p90 / median).ln() / Z_P90
        } else {
            0.0
        };
        ZeroLogNormal {
            n,
            zero_share,
            median,
            p90,
            sigma,
            max: pos.last().copied().unwrap_or(0.0),
        }
    }

    fn sample<R: Rng>(&self, rng: &mut R) -> f64 {
        let u: f64 = rng.gen();
        let z: f64 = StandardNormal.sample(rng);
        if u < self.zero_share {
            0.0
        } else {
            (self.median * (self.sigma * z).exp()).min(self.max)
        }
    }
}

/// The fitted model: one distribution per cost field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostModel {
    pub import_ms: ZeroLogNormal,
    pub import_mb: ZeroLogNormal,
    pub install_ms: ZeroLogNormal,
    pub disk_bytes: ZeroLogNormal,
}

/// How a package got its costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Measured,
    /// Copied from another measured version of the same package.
    OtherVersion,
    /// Drawn from the fitted model.
    Model,
}

/// Measured costs plus the model for everything else.
#[derive(Debug)]
pub struct Imputer<'a> {
    measured: &'a BTreeMap<Requirement, Costs>,
    model: CostModel,
    seed: u64,
}

impl<'a> Imputer<'a> {
    pub fn new(measured: &'a BTreeMap<Requirement, Costs>, seed: u64) -> Imputer<'a> {
        let field = |f: fn(&Costs) -> f64| {
            ZeroLogNormal::fit(&measured.values().map(f).collect::<Vec<_>>())
        };
        let model = CostModel {
            import_ms: field(|c| c.import_ms),
            import_mb: field(|c| c.import_mb),
            install_ms: field(|c| c.install_ms),
            disk_bytes: field(|c| c.disk_bytes as f64),
        };
        Imputer {
            measured,
            model,
            seed,
        }
    }

    pub fn model(&self) -> &CostModel {
        &self.model
    }

    /// The costs of `req` and where they came from (steps in the module doc).
    pub fn costs(&self, req: &Requirement) -> (Costs, Origin) {
        if let Some(c) = self.measured.get(req) {
            return (c.clone(), Origin::Measured);
        }
        if let Some(c) = self.nearest_version(req) {
            return (c.clone(), Origin::OtherVersion);
        }
        (self.draw(req), Origin::Model)
    }

    fn nearest_version(&self, req: &Requirement) -> Option<&Costs> {
        let lo = Requirement {
            name: req.name.clone(),
            version: String::new(),
        };
        let same: Vec<(&Requirement, &Costs)> = self
            .measured
            .range(lo..)
            .take_while(|(r, _)| r.name == req.name)
            .collect();
        let below = same
            .iter()
            .filter(|(r, _)| compare_versions(&r.version, &req.version) != Ordering::Greater)
            .max_by(|a, b| compare_versions(&a.0.version, &b.0.version));
        let above = same
            .iter()
            .min_by(|a, b| compare_versions(&a.0.version, &b.0.version));
        below.or(above).map(|(_, c)| *c)
    }

    fn draw(&self, req: &Requirement) -> Costs {
        let mut rng =
            StdRng::seed_from_u64(super::splitmix64(self.seed ^ fnv1a(req.key().as_bytes())));
        let m = &self.model;
        Costs {
            import_ms: round3(m.import_ms.sample(&mut rng)),
            import_mb: round3(m.import_mb.sample(&mut rng)),
            install_ms: round3(m.install_ms.sample(&mut rng)),
            disk_bytes: m.disk_bytes.sample(&mut rng).round() as u64,
            modules: Vec::new(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// FNV-1a, 64 bit: a stable hash of the package key (std's hasher is not
/// guaranteed stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Compares versions component by component (split at `.`); a component's
/// leading digits compare as a number, the rest as text; a missing
/// component is smaller (`1.0 < 1.0.1`). Not full PEP 440, which is enough to
/// pick a nearby version.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let key = |part: &str| {
        let digits = part.chars().take_while(char::is_ascii_digit).count();
        let num: u64 = part[..digits].parse().unwrap_or(0);
        (num, part[digits..].to_string())
    };
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => match key(p).cmp(&key(q)) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(ms: f64) -> Costs {
        Costs {
            import_ms: ms,
            import_mb: 1.0,
            install_ms: 500.0,
            disk_bytes: 1000,
            modules: vec!["m".into()],
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0rc1", "2.0rc2"), Ordering::Less);
        assert_eq!(compare_versions("2023.7.22", "2023.7.22"), Ordering::Equal);
    }

    #[test]
    fn measured_then_nearest_version_then_model() {
        let mut m = BTreeMap::new();
        m.insert(Requirement::new("numpy", "1.24.4"), costs(40.0));
        m.insert(Requirement::new("numpy", "1.26.0"), costs(48.0));
        m.insert(Requirement::new("six", "1.16.0"), costs(2.0));
        let imp = Imputer::new(&m, 7);
        assert_eq!(
            imp.costs(&Requirement::new("numpy", "1.26.0")),
            (costs(48.0), Origin::Measured)
        );
        assert_eq!(
            imp.costs(&Requirement::new("numpy", "1.25.2")).0.import_ms,
            40.0
        );
        assert_eq!(
            imp.costs(&Requirement::new("numpy", "1.9.0")).0.import_ms,
            40.0
        ); // below all: smallest
        assert_eq!(
            imp.costs(&Requirement::new("numpy", "2.0.0")).0.import_ms,
            48.0
        );
        let (a, origin) = imp.costs(&Requirement::new("pandas", "2.1.0"));
        assert_eq!(origin, Origin::Model);
        assert!(a.modules.is_empty() && a.import_ms > 0.0);
        // Same key, same seed: same draw; another key: another draw.
        assert_eq!(a, imp.costs(&Requirement::new("pandas", "2.1.0")).0);
        assert_ne!(a, imp.costs(&Requirement::new("pandas", "2.1.1")).0);
    }

    #[test]
    fn fit_recovers_zero_share_median_p90_and_caps() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        v.extend([0.0; 10]);
        let f = ZeroLogNormal::fit(&v);
        assert_eq!(
            (f.zero_share, f.median, f.p90, f.max),
            (0.5, 5.0, 9.0, 10.0)
        );
        assert!((f.sigma - (9.0f64 / 5.0).ln() / Z_P90).abs() < 1e-12);
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<f64> = (0..10_000).map(|_| f.sample(&mut rng)).collect();
        let zeros = draws.iter().filter(|&&x| x == 0.0).count();
        assert!((4_500..5_500).contains(&zeros), "{zeros}");
        assert!(draws.iter().all(|&x| x <= 10.0));
    }
}
