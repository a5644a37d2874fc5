//! Which functions of the slice the trace keeps. `--min-calls N`: leave
//! out the functions called fewer than N times in the slice (FaasCache
//! keeps only functions "invoked at least twice", N = 2). `--functions N`:
//! then keep N of the rest, drawn at random (seeded): a small real trace a
//! real run (`sock-exec run`) can install and serve. Both apply after the
//! memory split (a left-out function was still deployed and shares its
//! app's memory) and before closures are assigned (an app all of whose
//! functions are left out gets none).

use super::azure::AzureSlice;
use rand::rngs::StdRng;
use serde::Serialize;

/// What `--min-calls` left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub functions: usize,
    pub invocations: u64,
}

/// Removes the functions of `slice` with fewer than `min_calls` calls, and
/// their count columns.
pub fn drop_rare(slice: &mut AzureSlice, min_calls: u64) -> LeftOut {
    let totals = totals(slice);
    let keep: Vec<bool> = totals.iter().map(|&t| t >= min_calls).collect();
    retain(slice, &keep, &totals)
}

/// Keeps `n` functions of `slice` drawn uniformly without replacement (all
/// of them when it has no more than `n`), in their original order.
pub fn sample(slice: &mut AzureSlice, n: usize, rng: &mut StdRng) -> LeftOut {
    let len = slice.functions.len();
    if n >= len {
        return LeftOut::default();
    }
    let mut keep = vec![false; len];
    for i in rand::seq::index::sample(rng, len, n) {
        keep[i] = true;
    }
    retain(slice, &keep, &totals(slice))
}

/// `--max-duration-ms`: caps every duration of `slice` (average, maximum,
/// percentiles) at `cap_ms`; returns how many functions it lowered. A real
/// run executes each handler for its duration, so this bounds the run's
/// wall time; start-up (the latency before the handler) does not depend
/// on it.
pub fn cap_durations(slice: &mut AzureSlice, cap_ms: f64) -> usize {
    let mut capped = 0;
    for f in &mut slice.functions {
        let over = f.duration_ms > cap_ms
            || f.maximum_ms.is_some_and(|m| m > cap_ms)
            || f.percentiles.is_some_and(|q| q.iter().any(|&v| v > cap_ms));
        if !over {
            continue;
        }
        capped += 1;
        f.duration_ms = f.duration_ms.min(cap_ms);
        if let Some(m) = &mut f.maximum_ms {
            *m = m.min(cap_ms);
        }
        if let Some(q) = &mut f.percentiles {
            for v in q.iter_mut() {
                *v = v.min(cap_ms);
            }
        }
    }
    capped
}

fn totals(slice: &AzureSlice) -> Vec<u64> {
    let mut totals = vec![0u64; slice.functions.len()];
    for row in &slice.counts {
        for (t, &c) in totals.iter_mut().zip(row) {
            *t += u64::from(c);
        }
    }
    totals
}

/// Keeps the functions whose `keep` is true, and their count columns.
fn retain(slice: &mut AzureSlice, keep: &[bool], totals: &[u64]) -> LeftOut {
    if keep.iter().all(|&k| k) {
        return LeftOut::default();
    }
    let left_out = LeftOut {
        functions: keep.iter().filter(|&&k| !k).count(),
        invocations: totals
            .iter()
            .zip(keep)
            .filter(|(_, &k)| !k)
            .map(|(t, _)| t)
            .sum(),
    };
    let mut i = 0;
    slice.functions.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for row in &mut slice.counts {
        let mut i = 0;
        row.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    left_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::azure::AzureFunction;

    /// A function called `hash` of 1 ms and no maximum or percentiles.
    fn f(hash: &str) -> AzureFunction {
        AzureFunction {
            owner: "o".into(),
            app: "a".into(),
            hash: hash.into(),
            trigger: String::new(),
            line: 2,
            duration_ms: 1.0,
            maximum_ms: None,
            percentiles: None,
            memory_mb: 1.0,
            app_memory_mb: 3.0,
        }
    }

    #[test]
    fn rare_functions_and_their_counts_go() {
        let mut slice = AzureSlice {
            source: "i.csv".into(),
            functions: vec![f("x"), f("y"), f("z")],
            minutes: vec![1, 2],
            counts: vec![vec![1, 0, 5], vec![0, 1, 0]],
        };
        assert_eq!(drop_rare(&mut slice.clone(), 1), LeftOut::default());
        let out = drop_rare(&mut slice, 2);
        assert_eq!(
            out,
            LeftOut {
                functions: 2,
                invocations: 2
            }
        );
        assert_eq!(slice.functions.len(), 1);
        assert_eq!(slice.functions[0].hash, "z");
        assert_eq!(slice.counts, vec![vec![5], vec![0]]);
    }

    #[test]
    fn a_sample_keeps_n_functions_with_their_columns_and_is_seeded() {
        use rand::SeedableRng;
        let names = ["a", "b", "c", "d", "e", "f"];
        let slice = AzureSlice {
            source: "i.csv".into(),
            functions: names.iter().map(|n| f(n)).collect(),
            minutes: vec![1],
            counts: vec![vec![1, 2, 3, 4, 5, 6]],
        };
        let draw = |seed| {
            let mut s = slice.clone();
            let out = sample(&mut s, 2, &mut StdRng::seed_from_u64(seed));
            (s, out)
        };
        let (s, out) = draw(1);
        assert_eq!(s.functions.len(), 2);
        assert_eq!(out.functions, 4);
        // Each kept function keeps its own count (count = position + 1).
        for (func, &c) in s.functions.iter().zip(&s.counts[0]) {
            let pos = names.iter().position(|n| *n == func.hash).expect("kept");
            assert_eq!(c as usize, pos + 1);
        }
        assert_eq!(
            out.invocations,
            21 - s.counts[0].iter().map(|&c| u64::from(c)).sum::<u64>()
        );
        assert_eq!(
            draw(1).0.functions,
            s.functions,
            "the same seed draws the same"
        );
        let mut all = slice.clone();
        assert_eq!(
            sample(&mut all, 9, &mut StdRng::seed_from_u64(1)),
            LeftOut::default()
        );
    }

    #[test]
    fn durations_are_capped_everywhere() {
        let g = |d: f64| AzureFunction {
            duration_ms: d,
            maximum_ms: Some(d * 2.0),
            percentiles: Some([d / 2.0, d, d, d, d, d * 1.5, d * 2.0]),
            ..f("h")
        };
        let mut slice = AzureSlice {
            source: "i.csv".into(),
            functions: vec![g(100.0), g(3000.0)],
            minutes: vec![1],
            counts: vec![vec![1, 1]],
        };
        assert_eq!(
            cap_durations(&mut slice, 1000.0),
            1,
            "f(100) stays under the cap"
        );
        let [a, b] = [&slice.functions[0], &slice.functions[1]];
        assert_eq!((a.duration_ms, a.maximum_ms), (100.0, Some(200.0)));
        assert_eq!((b.duration_ms, b.maximum_ms), (1000.0, Some(1000.0)));
        assert_eq!(b.percentiles.expect("kept")[0], 1000.0);
    }
}
