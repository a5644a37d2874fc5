//! Invocation times from per-minute counts, streamed minute by minute: all
//! arrivals of minute `m` (every function) are placed, sorted by (time,
//! function index) and emitted before minute `m + 1` is looked at, so memory
//! is one minute's arrivals, never the whole trace.
//!
//! Time 0 is the start of the first minute column; minute label `m` starts
//! at `(m - first) * 60 s`. Within a minute, `c` calls are placed by:
//! - `uniform` (default; DSLab's convention): `c` independent uniform times
//!   in the minute, whole µs. This is exactly a Poisson process conditioned
//!   on the minute's count, the least structure a count allows.
//! - `even` (FaasCache's convention): call `i` at `floor(i * 60 s / c)`, so
//!   the first call of every busy minute lands on the minute boundary.

use rand::rngs::StdRng;
use rand::Rng;
use sock_core::trace::Invocation;
use sock_core::units::{FunctionId, Micros};

pub const MINUTE_US: u64 = 60_000_000;

/// How calls are placed within their minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalChoice {
    /// c independent uniform times in the minute (Poisson given the count; DSLab).
    Uniform,
    /// Call i at i x 60 s / c from the minute start (FaasCache).
    Even,
}

/// Emits every invocation in (time, function) order; `counts[m][f]` is the
/// count of function `f` in minute column `m` labelled `minutes[m]`.
/// Returns how many were emitted.
pub fn stream<E>(
    minutes: &[u32],
    counts: &[Vec<u32>],
    choice: ArrivalChoice,
    rng: &mut StdRng,
    mut emit: impl FnMut(Invocation) -> Result<(), E>,
) -> Result<u64, E> {
    let Some(&first) = minutes.first() else {
        return Ok(0);
    };
    let mut buf: Vec<(u64, u32)> = Vec::new();
    let mut total = 0;
    for (&label, row) in minutes.iter().zip(counts) {
        let start = u64::from(label - first) * MINUTE_US;
        buf.clear();
        for (f, &c) in row.iter().enumerate() {
            for i in 0..u64::from(c) {
                let offset = match choice {
                    ArrivalChoice::Uniform => rng.gen_range(0..MINUTE_US),
                    ArrivalChoice::Even => i * MINUTE_US / u64::from(c),
                };
                buf.push((start + offset, f as u32));
            }
        }
        buf.sort_unstable();
        for &(t, f) in &buf {
            emit(Invocation {
                time: Micros(t),
                function: FunctionId(f),
                duration: None,
            })?;
        }
        total += buf.len() as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn collect(choice: ArrivalChoice, seed: u64) -> Vec<(u64, u32)> {
        let minutes = [480, 481, 483];
        let counts = vec![vec![2, 0, 1], vec![0, 0, 0], vec![3, 1, 0]];
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        let n = stream(&minutes, &counts, choice, &mut rng, |inv| {
            out.push((inv.time.0, inv.function.0));
            Ok::<(), ()>(())
        });
        assert_eq!(n, Ok(7));
        out
    }

    #[test]
    fn even_spreads_calls_from_the_minute_start() {
        let v = collect(ArrivalChoice::Even, 1);
        let m3 = 3 * MINUTE_US;
        assert_eq!(
            v,
            [
                (0, 0),
                (0, 2),
                (30_000_000, 0),
                (m3, 0),
                (m3, 1),
                (m3 + 20_000_000, 0),
                (m3 + 40_000_000, 0)
            ]
        );
    }

    #[test]
    fn uniform_stays_in_its_minute_sorted_and_seeded() {
        let v = collect(ArrivalChoice::Uniform, 1);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(v.iter().filter(|x| x.0 < MINUTE_US).count(), 3);
        assert!(v
            .iter()
            .skip(3)
            .all(|x| (3 * MINUTE_US..4 * MINUTE_US).contains(&x.0)));
        assert_eq!(v, collect(ArrivalChoice::Uniform, 1));
        assert_ne!(v, collect(ArrivalChoice::Uniform, 2));
    }

    proptest::proptest! {
        /// Any count matrix: exactly its counts per (minute, function), each
        /// call inside its minute, the stream sorted by (time, function).
        #[test]
        fn every_count_lands_in_its_minute(
            rows in proptest::collection::vec(proptest::collection::vec(0u32..6, 0..5), 0..6),
            gaps in proptest::collection::vec(1u32..4, 6),
            even in proptest::bool::ANY,
            seed in 0u64..1000,
        ) {
            let width = rows.iter().map(Vec::len).max().unwrap_or(0);
            let counts: Vec<Vec<u32>> = rows.iter().map(|r| {
                let mut r = r.clone();
                r.resize(width, 0);
                r
            }).collect();
            let minutes: Vec<u32> = gaps.iter().take(counts.len()).scan(100, |m, g| { *m += g; Some(*m) }).collect();
            let choice = if even { ArrivalChoice::Even } else { ArrivalChoice::Uniform };
            let mut got = vec![vec![0u32; width]; counts.len()];
            let mut last = (0u64, 0u32);
            let n = stream(&minutes, &counts, choice, &mut StdRng::seed_from_u64(seed), |inv| {
                let (t, f) = (inv.time.0, inv.function.0);
                assert!((t, f) >= last, "sorted");
                last = (t, f);
                let m = minutes.iter().position(|&l| u64::from(l - minutes[0]) * MINUTE_US <= t
                    && t < u64::from(l - minutes[0] + 1) * MINUTE_US).expect("inside a minute column");
                got[m][f as usize] += 1;
                Ok::<(), ()>(())
            });
            proptest::prop_assert_eq!(n, Ok(counts.iter().flatten().map(|&c| u64::from(c)).sum::<u64>()));
            proptest::prop_assert_eq!(got, counts);
        }
    }
}
