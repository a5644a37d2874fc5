//! Invocation arrivals: one independent point process per function, merged
//! into one time-ordered stream with a heap holding each function's next
//! arrival, so memory is O(functions) whatever the number of invocations.
//!
//! Each function is a Poisson process, or with `--bursty` an on/off
//! (interrupted) Poisson process: it alternates exponentially distributed ON
//! and OFF periods, emits nothing while OFF, and while ON emits at its mean
//! rate times `(on + off) / on`, so its long-run rate is unchanged.

use super::popularity::zipf_weight;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Exp1, Gamma, Poisson};
use sock_core::trace::Invocation;
use sock_core::units::{FunctionId, Micros};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Arrival times at or past this many µs (~146,000 years) are never emitted
/// (they also would not fit the heap key); validated durations stay far below.
const HORIZON_US: f64 = (1u64 << 62) as f64;

/// Mean ON and OFF period lengths (µs) of the bursty model.
#[derive(Debug, Clone, Copy)]
pub(super) struct Burst {
    pub on_us: f64,
    pub off_us: f64,
}

impl Burst {
    fn on_fraction(self) -> f64 {
        self.on_us / (self.on_us + self.off_us)
    }
}

/// The state of one function's arrival process.
#[derive(Debug, Clone)]
struct Source {
    /// Time of the last arrival (or 0), µs.
    t: f64,
    /// Arrival rate (per µs) while emitting (always, unless bursty).
    rate: f64,
    /// Bursty only: whether the current period is ON, and when it ends.
    on: bool,
    period_end: f64,
}

/// The merged arrival stream, in (time, function index) order.
#[derive(Debug)]
pub(super) struct Arrivals {
    sources: Vec<Source>,
    /// Next arrival of each function: (whole µs, function index), smallest first.
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    burst: Option<Burst>,
    rng: StdRng,
}

impl Arrivals {
    /// `functions` processes with rates proportional to `1 / rank^exponent`
    /// (ranks a random permutation of the indices, drawn from `rng`) summing
    /// to `total_rate` per µs.
    pub(super) fn new(
        functions: usize,
        exponent: f64,
        total_rate: f64,
        burst: Option<Burst>,
        mut rng: StdRng,
    ) -> Self {
        let mut rank: Vec<usize> = (0..functions).collect();
        rank.shuffle(&mut rng);
        let weights: Vec<f64> = rank.iter().map(|&r| zipf_weight(r, exponent)).collect();
        let sum: f64 = weights.iter().sum();
        let boost = burst.map_or(1.0, |b| 1.0 / b.on_fraction());
        let sources = weights
            .iter()
            .map(|w| Source {
                t: 0.0,
                rate: total_rate * w / sum * boost,
                on: true,
                period_end: f64::INFINITY,
            })
            .collect();
        let mut arrivals = Arrivals {
            sources,
            heap: BinaryHeap::with_capacity(functions),
            burst,
            rng,
        };
        for f in 0..functions {
            if let Some(b) = burst {
                // Start in the stationary state; the residual of an
                // exponential period is exponential with the same mean.
                let on = arrivals.rng.gen::<f64>() < b.on_fraction();
                let mean = if on { b.on_us } else { b.off_us };
                let s = &mut arrivals.sources[f];
                s.on = on;
                s.period_end = mean * exp1(&mut arrivals.rng);
            }
            arrivals.schedule(f);
        }
        arrivals
    }

    /// Draws function `f`'s next arrival and queues it (unless it never comes).
    fn schedule(&mut self, f: usize) {
        let s = &mut self.sources[f];
        let t = match self.burst {
            None => s.t + exp1(&mut self.rng) / s.rate,
            Some(b) => next_bursty(s, b, &mut self.rng),
        };
        s.t = t;
        if t < HORIZON_US {
            // Flooring keeps each function's times non-decreasing, so the
            // (µs, index) order is a valid merge; ties go to the lower index.
            self.heap.push(Reverse((t as u64, f as u32)));
        }
    }
}

impl Iterator for Arrivals {
    type Item = Invocation;

    fn next(&mut self) -> Option<Invocation> {
        let Reverse((time, f)) = self.heap.pop()?;
        self.schedule(f as usize);
        Some(Invocation {
            time: Micros(time),
            function: FunctionId(f),
            duration: None,
        })
    }
}

/// A standard exponential variate.
fn exp1<R: Rng>(rng: &mut R) -> f64 {
    Exp1.sample(rng)
}

/// The next arrival of an on/off process after `s.t`, in O(1) draws however
/// many ON/OFF periods it skips: arrivals are a Poisson process in ON-time,
/// so the wait is an exponential budget of ON-time; the ON periods that end
/// inside that budget form a Poisson count, and the OFF periods they open
/// sum to a Gamma variate.
fn next_bursty<R: Rng>(s: &mut Source, b: Burst, rng: &mut R) -> f64 {
    if s.rate.is_nan() || s.rate <= 0.0 {
        return f64::INFINITY;
    }
    let mut t = s.t;
    if !s.on {
        t = s.period_end;
        s.on = true;
        s.period_end = t + b.on_us * exp1(rng);
    }
    let budget = exp1(rng) / s.rate;
    if t + budget < s.period_end {
        return t + budget;
    }
    // The current ON period ends first; the rest of the budget is spent in
    // later ON periods, and each ON end inside it adds one more OFF period.
    let rest = budget - (s.period_end - t);
    let ends = poisson(rest / b.on_us, rng);
    let off = gamma(1.0 + ends, b.off_us, rng);
    let arrival = t + budget + off;
    s.period_end = arrival + b.on_us * exp1(rng);
    arrival
}

fn poisson<R: Rng>(mean: f64, rng: &mut R) -> f64 {
    match Poisson::new(mean) {
        Ok(d) => d.sample(rng),
        Err(_) => 0.0, // mean <= 0 (or not finite: then the time is infinite anyway)
    }
}

fn gamma<R: Rng>(shape: f64, scale: f64, rng: &mut R) -> f64 {
    match Gamma::new(shape, scale) {
        Ok(d) => d.sample(rng),
        // Not reached: shape >= 1 and scale > 0 are validated; if a non-finite
        // value slipped through, the mean is the honest answer.
        Err(_) => shape * scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn run(
        functions: usize,
        exponent: f64,
        rate: f64,
        burst: Option<Burst>,
        n: usize,
    ) -> Vec<Invocation> {
        Arrivals::new(functions, exponent, rate, burst, StdRng::seed_from_u64(9))
            .take(n)
            .collect()
    }

    #[test]
    fn merged_stream_is_sorted_with_index_tiebreak() {
        let v = run(50, 1.0, 1e-3, None, 20_000);
        assert_eq!(v.len(), 20_000);
        assert!(v
            .windows(2)
            .all(|w| (w[0].time, w[0].function) <= (w[1].time, w[1].function)));
    }

    #[test]
    fn mean_rate_matches_with_and_without_bursts() {
        // 1e-3 per µs = 1000/s; 200k arrivals should take ~200 s.
        // Many short cycles, so the span's spread is small.
        let burst = Burst {
            on_us: 1e5,
            off_us: 9e5,
        };
        for b in [None, Some(burst)] {
            let v = run(20, 0.5, 1e-3, b, 200_000);
            let span = v.last().map_or(0, |i| i.time.0) as f64;
            assert!((span / 2e8 - 1.0).abs() < 0.1, "{b:?}: span {span}");
        }
    }

    #[test]
    fn bursty_arrivals_cluster() {
        // Coefficient of variation of inter-arrival gaps of one function:
        // 1 for Poisson, well above 1 for an on/off process.
        let cv = |burst| {
            let v = run(1, 1.0, 1e-4, burst, 50_000);
            let gaps: Vec<f64> = v
                .windows(2)
                .map(|w| (w[1].time.0 - w[0].time.0) as f64)
                .collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            var.sqrt() / mean
        };
        let poisson = cv(None);
        let bursty = cv(Some(Burst {
            on_us: 1e6,
            off_us: 9e6,
        }));
        assert!((poisson - 1.0).abs() < 0.05, "{poisson}");
        assert!(bursty > 2.0, "{bursty}");
    }
}
