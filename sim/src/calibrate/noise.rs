//! The noise part of `sim calibrate`: per path class and phase, the
//! distribution of measured / predicted, where "predicted" is what the
//! fitted parameters predict for that record (the trace replayed again
//! with them, noise off). `sim` then draws each phase's factor from it
//! ([`sock_core::noise`]), so its distributions, not only its medians,
//! follow the run's.

use super::Joined;
use sock_core::noise::{key, Class, NoiseParams, Ratios, NOISED};
use sock_core::phases::NAMES;
use std::collections::BTreeMap;

/// Fewer ratios than this and a phase gets no noise (its distribution's
/// percentiles would be a handful of samples).
pub const MIN_SAMPLES: usize = 20;

/// One distribution's summary, for the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NoiseRow {
    pub key: String,
    pub n: usize,
    /// Percentiles 5, 50, 95 and 99 of measured / predicted.
    pub p05: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// `false`: fewer than [`MIN_SAMPLES`], left out of the file.
    pub kept: bool,
}

/// The ratios of the `rows` (measured records joined with the plans the
/// fitted parameters predict: [`super::join`]), as a noise block seeded
/// `seed`, and one report row per class and phase that had any.
pub fn fit(rows: &[Joined<'_>], seed: u64) -> (NoiseParams, Vec<NoiseRow>) {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in rows {
        let m = r.measured;
        let class = Class::of(m.path, m.spare);
        let (pv, mv) = (r.features.phases.values(), m.phases_us.values());
        for (i, name) in NAMES.iter().enumerate() {
            if NOISED.contains(name) && pv[i] > 0 {
                samples
                    .entry(key(class, name))
                    .or_default()
                    .push(mv[i] as f64 / pv[i] as f64);
            }
        }
    }
    let mut params = NoiseParams {
        seed,
        ..NoiseParams::default()
    };
    let mut rows = Vec::new();
    for (k, v) in samples {
        let r = Ratios::from_samples(&v);
        let kept = v.len() >= MIN_SAMPLES;
        rows.push(NoiseRow {
            key: k.clone(),
            n: v.len(),
            p05: r.percentiles[5],
            p50: r.percentiles[50],
            p95: r.percentiles[95],
            p99: r.percentiles[99],
            kept,
        });
        if kept {
            params.ratios.insert(k, r);
        }
    }
    (params, rows)
}

#[cfg(test)]
mod tests {
    use super::super::features::Features;
    use super::*;
    use sock_core::record::{InvocationRecord, PathKind, PhasesUs};

    fn features(path: PathKind, unpause: u64) -> Features {
        Features {
            path,
            depth: None,
            spare: false,
            packages: 0,
            zygote_mb: 0.0,
            import_ms: 0.0,
            install_ms: 0.0,
            phases: PhasesUs {
                unpause,
                transport: 400,
                ..PhasesUs::default()
            },
        }
    }

    fn record(seq: u64, unpause: u64) -> InvocationRecord {
        let phases_us = PhasesUs {
            unpause,
            transport: 400,
            ..PhasesUs::default()
        };
        InvocationRecord {
            schema: sock_core::record::RECORD_SCHEMA,
            seq,
            arrival_us: seq * 1_000,
            function: 0,
            function_name: "f".into(),
            instance: seq,
            path: PathKind::HandlerHit,
            zygote: None,
            zygote_depth: None,
            spare: false,
            imported: vec![],
            installed: vec![],
            latency_us: phases_us.values().iter().sum(),
            phases_us,
        }
    }

    #[test]
    fn ratios_are_read_per_class_and_phase_and_thin_ones_left_out() {
        let mut predicted = BTreeMap::new();
        let mut measured = Vec::new();
        for seq in 0..30u64 {
            predicted.insert(seq, features(PathKind::HandlerHit, 100));
            measured.push(record(seq, 50 + 10 * seq));
        }
        // A record on another path than predicted is not a sample.
        measured[0].path = PathKind::Fresh;
        let (params, rows) = fit(&crate::calibrate::join(&measured, &predicted).0, 3);
        assert_eq!(params.seed, 3);
        let unpause = &params.ratios["handler_hit.unpause"];
        assert_eq!(unpause.n, 29);
        assert_eq!(unpause.percentiles[0], 0.6);
        assert_eq!(unpause.percentiles[100], 3.4);
        assert!(params.ratios["handler_hit.transport"]
            .percentiles
            .iter()
            .all(|&r| r == 1.0));
        assert!(rows.iter().all(|r| r.kept));
        let (few, rows) = fit(&crate::calibrate::join(&measured[..10], &predicted).0, 3);
        assert!(few.is_empty());
        assert!(rows.iter().all(|r| !r.kept && r.n == 9));
    }
}
