//! Sampled start-up noise: the cost model predicts one value per phase,
//! a real host does not.
//!
//! A run's start-up phases are skewed (a busy neighbour delays a wake-up by
//! milliseconds, a cgroup write waits for an RCU grace period), so one
//! value per phase gets the median of each phase right but neither the
//! median of their sum (the sum of skewed phases has its median above the
//! sum of their medians) nor any tail percentile, which is what a
//! percentile SLO is about. With noise, each predicted phase is multiplied
//! by a factor drawn from the distribution of measured / predicted that
//! `sim calibrate` read off a real run's records, per path class and phase.
//!
//! The distribution is stored as its percentiles 0, 1, ..., 100
//! ([`LEVELS`] values) and sampled by inverse transform with linear
//! interpolation between them, from a seeded generator: a replay is
//! reproducible. Phases are drawn independently of one another. The queue
//! (the engine's) and the handler (the trace's) are not noised; nor is a
//! phase predicted as zero.

use crate::cost::Phases;
use crate::units::Micros;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Percentiles stored per distribution: 0, 1, ..., 100.
pub const LEVELS: usize = 101;

/// The phases noise applies to, in [`Phases::NAMES`] order.
pub const NOISED: [&str; 6] = [
    "create",
    "fork",
    "unpause",
    "install",
    "import",
    "transport",
];

/// Which population a plan's phases belong to: their noise differs (a
/// spare's fork phase is a hand-off, not a fork).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    HandlerHit = 0,
    ZygoteHit = 1,
    SpareHit = 2,
    Fresh = 3,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::HandlerHit,
        Class::ZygoteHit,
        Class::SpareHit,
        Class::Fresh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::HandlerHit => "handler_hit",
            Class::ZygoteHit => "zygote_hit",
            Class::SpareHit => "spare_hit",
            Class::Fresh => "fresh",
        }
    }

    /// The class of a record's path and spare use.
    pub fn of(path: crate::record::PathKind, spare: bool) -> Class {
        use crate::record::PathKind;
        match (path, spare) {
            (PathKind::HandlerHit, _) => Class::HandlerHit,
            (PathKind::ZygoteHit, true) => Class::SpareHit,
            (PathKind::ZygoteHit, false) => Class::ZygoteHit,
            (PathKind::Fresh, _) => Class::Fresh,
        }
    }
}

/// The key of one distribution: `"<class>.<phase>"`, e.g. `"spare_hit.fork"`.
pub fn key(class: Class, phase: &str) -> String {
    format!("{}.{phase}", class.as_str())
}

/// The noise block of a calibration file (`"noise"` in the cost
/// parameters); empty: no noise, every replay deterministic as before.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct NoiseParams {
    /// Seeds the generator (each replay starts from it).
    pub seed: u64,
    /// Per [`key`], the ratio measured / predicted.
    pub ratios: BTreeMap<String, Ratios>,
}
object_only!(NoiseParams, "the noise block", serialize);

/// One phase's distribution of measured / predicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Ratios {
    /// Samples it was read from.
    pub n: usize,
    /// Percentiles 0..=100 of the ratio, non-decreasing, >= 0.
    pub percentiles: Vec<f64>,
}
object_only!(Ratios, "a noise distribution", serialize);

impl NoiseParams {
    pub fn is_empty(&self) -> bool {
        self.ratios.is_empty()
    }

    /// Refuses a malformed block, naming the field.
    pub fn check(&self) -> Result<(), String> {
        for (k, r) in &self.ratios {
            let (class, phase) = k.split_once('.').unwrap_or((k, ""));
            if !Class::ALL.iter().any(|c| c.as_str() == class) || !NOISED.contains(&phase) {
                return Err(format!(
                    "noise.ratios key {k:?} is not <class>.<phase> (classes: handler_hit, zygote_hit, spare_hit, fresh; phases: {})",
                    NOISED.join(", ")
                ));
            }
            if r.percentiles.len() != LEVELS {
                return Err(format!(
                    "noise.ratios.{k}.percentiles has {} values; it must have {LEVELS} (percentiles 0..=100)",
                    r.percentiles.len()
                ));
            }
            if let Some(i) = r
                .percentiles
                .iter()
                .position(|v| !v.is_finite() || *v < 0.0 || *v > crate::units::MAX_SCALE)
            {
                return Err(format!(
                    "noise.ratios.{k}.percentiles[{i}] is {}; it must be a finite ratio in [0, {:e}]",
                    r.percentiles[i],
                    crate::units::MAX_SCALE
                ));
            }
            if let Some(i) = r.percentiles.windows(2).position(|w| w[1] < w[0]) {
                return Err(format!(
                    "noise.ratios.{k}.percentiles[{}] is below the one before it; percentiles must not decrease",
                    i + 1
                ));
            }
        }
        Ok(())
    }
}

impl Ratios {
    /// The distribution of `samples` (any order; not empty, each finite).
    pub fn from_samples(samples: &[f64]) -> Ratios {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let last = s.len() - 1;
        let percentiles = (0..LEVELS)
            .map(|i| {
                let pos = i as f64 / (LEVELS - 1) as f64 * last as f64;
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(last);
                s[lo] + (pos - lo as f64) * (s[hi] - s[lo])
            })
            .collect();
        Ratios {
            n: samples.len(),
            percentiles,
        }
    }

    /// The ratio at quantile `u` in [0, 1].
    pub fn at(&self, u: f64) -> f64 {
        let p = &self.percentiles;
        let pos = u.clamp(0.0, 1.0) * (p.len() - 1) as f64;
        let lo = (pos.floor() as usize).min(p.len() - 2);
        p[lo] + (pos - lo as f64) * (p[lo + 1] - p[lo])
    }
}

/// The sampler a planner holds: the distributions by class and phase, and
/// the generator.
#[derive(Clone, Debug)]
pub struct Noise {
    /// Indexed by class (its discriminant), then by phase index in
    /// [`Phases::NAMES`].
    table: [[Option<Ratios>; 8]; 4],
    rng: StdRng,
}

impl Noise {
    /// `None` when `params` holds no distribution (call `check` first).
    pub fn new(params: &NoiseParams) -> Option<Noise> {
        if params.is_empty() {
            return None;
        }
        let mut table: [[Option<Ratios>; 8]; 4] = Default::default();
        for class in Class::ALL {
            for (pi, phase) in Phases::NAMES.iter().enumerate() {
                table[class as usize][pi] = params.ratios.get(&key(class, phase)).cloned();
            }
        }
        Some(Noise {
            table,
            rng: StdRng::seed_from_u64(params.seed),
        })
    }

    /// Multiplies each noised, non-zero phase of `phases` by a draw.
    pub fn apply(&mut self, class: Class, phases: &mut Phases) {
        let mut v = phases.values();
        for (pi, value) in v.iter_mut().enumerate() {
            if let Some(r) = &self.table[class as usize][pi] {
                if value.0 > 0 {
                    let u: f64 = self.rng.gen();
                    *value = Micros::from_ms_f64(value.as_ms_f64() * r.at(u));
                }
            }
        }
        *phases = Phases::from_values(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_samples_interpolate_and_sampling_reproduces_them() {
        let samples: Vec<f64> = (0..=200).map(|i| i as f64 / 100.0).collect();
        let r = Ratios::from_samples(&samples);
        assert_eq!(r.percentiles.len(), LEVELS);
        assert!((r.percentiles[50] - 1.0).abs() < 1e-12);
        assert!((r.at(0.995) - 1.99).abs() < 1e-9);
        assert_eq!(r.at(1.0), 2.0);
        let one = Ratios::from_samples(&[1.5]);
        assert!(one.percentiles.iter().all(|&p| p == 1.5));
    }

    #[test]
    fn noise_is_seeded_and_leaves_zero_and_unlisted_phases_alone() {
        let mut params = NoiseParams {
            seed: 7,
            ..NoiseParams::default()
        };
        let ratios: Vec<f64> = (1..=100).map(|i| i as f64 / 50.0).collect();
        params.ratios.insert(
            key(Class::HandlerHit, "unpause"),
            Ratios::from_samples(&ratios),
        );
        params.check().expect("a valid block");
        let draw = |params: &NoiseParams| {
            let mut n = Noise::new(params).expect("a distribution");
            (0..50)
                .map(|_| {
                    let mut p = Phases {
                        unpause: Micros(1000),
                        transport: Micros(500),
                        ..Phases::default()
                    };
                    n.apply(Class::HandlerHit, &mut p);
                    assert_eq!(p.transport, Micros(500));
                    assert_eq!(p.create, Micros::ZERO);
                    p.unpause.0
                })
                .collect::<Vec<u64>>()
        };
        let a = draw(&params);
        assert_eq!(a, draw(&params));
        assert!(a.iter().any(|&u| u != a[0]));
        assert!(a.iter().all(|&u| (20..=2000).contains(&u)));
    }

    #[test]
    fn a_malformed_block_is_refused_naming_the_field() {
        let mut params = NoiseParams::default();
        params
            .ratios
            .insert("warm.unpause".into(), Ratios::from_samples(&[1.0]));
        assert!(params
            .check()
            .expect_err("refused")
            .contains("\"warm.unpause\""));
        let mut bad = Ratios::from_samples(&[1.0, 2.0]);
        bad.percentiles[3] = 0.5;
        params.ratios = [(key(Class::Fresh, "create"), bad)].into();
        let err = params.check().expect_err("refused");
        assert!(err.contains("fresh.create.percentiles[3]"), "{err}");
        for r in params.ratios.values_mut() {
            r.percentiles.pop();
        }
        assert!(params
            .check()
            .expect_err("refused")
            .contains("has 100 values"));
    }
}
