//! Each call as the trace writes it: relabelled to its trace function
//! ([`super::per_app::Grouping`]) and, with `--call-durations linear|step`,
//! given its own duration drawn from its Azure function's percentiles
//! (format version 2 lines `[time_us, function, duration_us]`).
//!
//! Draws come from their own RNG stream of `--seed` (calls = 4), one per
//! call in the order calls are written, so the arrival times are the same
//! with or without durations. `linear` reads the seven percentiles as a
//! piecewise-linear CDF (the inverse CDF interpolates between the given
//! points, [`super::durations::sample_percentiles`]); `step` is dslab-faas's
//! rule ([`super::durations::step_percentiles`]). A function without a
//! durations row runs every call for its `duration_ms`.

use super::azure::AzureSlice;
use super::conventions::CallDurations;
use super::durations::{sample_percentiles, step_percentiles, Percentiles};
use super::per_app::Grouping;
use rand::rngs::StdRng;
use rand::Rng;
use sock_core::trace::Invocation;
use sock_core::units::{FunctionId, Micros};

#[derive(Debug)]
pub struct CallShaper {
    map: Vec<u32>,
    draw: CallDurations,
    /// Per function of the slice: its percentiles, or its fixed duration.
    source: Vec<Result<Percentiles, f64>>,
    rng: StdRng,
}

impl CallShaper {
    pub fn new(slice: &AzureSlice, grouping: &Grouping, draw: CallDurations, rng: StdRng) -> Self {
        let source = slice
            .functions
            .iter()
            .map(|f| f.percentiles.ok_or(f.duration_ms))
            .collect();
        CallShaper {
            map: grouping.map.clone(),
            draw,
            source,
            rng,
        }
    }

    /// Whether calls carry durations (the trace must be version 2).
    pub fn has_durations(&self) -> bool {
        self.draw != CallDurations::Fixed
    }

    /// `inv` (function = index in the slice) as the trace writes it.
    pub fn shape(&mut self, inv: Invocation) -> Invocation {
        let f = inv.function.index();
        let duration = match (self.draw, &self.source[f]) {
            (CallDurations::Fixed, _) => None,
            (_, Err(fixed)) => Some(*fixed),
            (CallDurations::Linear, Ok(q)) => Some(sample_percentiles(q, self.rng.gen())),
            (CallDurations::Step, Ok(q)) => Some(step_percentiles(q, self.rng.gen())),
        };
        Invocation {
            time: inv.time,
            function: FunctionId(self.map[f]),
            duration: duration.map(Micros::from_ms_f64),
        }
    }
}
