//! `--min-calls N`: leave out the functions called fewer than N times in
//! the slice (FaasCache keeps only functions "invoked at least twice",
//! N = 2). Applied after the memory split (a left-out function was still
//! deployed and shares its app's memory) and before closures are assigned
//! (an app all of whose functions are left out gets none).

use super::azure::AzureSlice;
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
    let n = slice.functions.len();
    let mut totals = vec![0u64; n];
    for row in &slice.counts {
        for (t, &c) in totals.iter_mut().zip(row) {
            *t += u64::from(c);
        }
    }
    let keep: Vec<bool> = totals.iter().map(|&t| t >= min_calls).collect();
    if keep.iter().all(|&k| k) {
        return LeftOut::default();
    }
    let left_out = LeftOut {
        functions: keep.iter().filter(|&&k| !k).count(),
        invocations: totals
            .iter()
            .zip(&keep)
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

    #[test]
    fn rare_functions_and_their_counts_go() {
        let f = |hash: &str| AzureFunction {
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
        };
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
}
