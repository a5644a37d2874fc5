//! The one-pass estimate: every point of the curve from one pass over
//! idle instances ([`super::run_one_pass`]).
//!
//! The pass replays an unbounded handler tier: one stack entry per idle
//! instance (several per function), events in the engine's order
//! (completions due at or before an arrival first, by (end, call order)),
//! an arrival resuming its function's most recently idled instance. An
//! entry's *depth* is its bytes plus those of the entries idled after it
//! that are still idle. A cache of C bytes evicts an entry exactly when
//! its depth exceeds C at some moment (evictions take the bottom, so an
//! entry goes when what sits on it plus itself no longer fits), and a
//! resumed entry leaves the middle of the stack, so the depth at the
//! reuse is not enough: what decides is the largest depth the entry
//! reached while idle ([`History`]). A call is warm at C iff its
//! function's most recent entry never got deeper than C; the most recent
//! entry is the one a bounded cache would resume too (if a function's
//! older entry survived, its newer one did).
//!
//! What this leaves out (the exact replay, [`super::lru`], has both):
//! entries larger than C, which a real cache of C destroys without
//! evicting anything, still count in the depths of the others here; and
//! service times are the unbounded tier's (a call that hits here but
//! misses at a small C really runs longer, as a cold start).

use super::history::History;
use super::lru::Access;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The largest depth each call's instance reached while idle (bytes),
/// `None` for a call with no idle instance even in an unbounded tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Depths {
    pub depth: Vec<Option<u64>>,
}

impl Depths {
    /// The pass over `accesses` (in arrival order).
    pub fn new(accesses: &[Access]) -> Depths {
        let functions = accesses.iter().map(|a| a.function as usize + 1).max();
        // Per function, the ranks of its idle entries, most recent last.
        let mut idle: Vec<Vec<usize>> = vec![Vec::new(); functions.unwrap_or(0)];
        let mut tree = History::new(accesses.len());
        // (end, call order, function, memory): a min-heap.
        let mut busy: BinaryHeap<Reverse<(u64, usize, u32, u64)>> = BinaryHeap::new();
        let mut next_rank = 0;
        let mut depth = Vec::with_capacity(accesses.len());
        for (seq, a) in accesses.iter().enumerate() {
            while let Some(&Reverse((end, _, f, m))) = busy.peek() {
                if end > a.arrival {
                    break;
                }
                busy.pop();
                // Everything idle lies below the new top entry.
                tree.add_prefix(next_rank, m as i64);
                tree.reset(next_rank);
                idle[f as usize].push(next_rank);
                next_rank += 1;
            }
            let d = idle[a.function as usize].pop().map(|r| {
                let (_, peak) = tree.get(r);
                tree.add_prefix(r, -(a.memory as i64));
                peak.max(0) as u64
            });
            let service = if d.is_some() { a.warm } else { a.cold };
            depth.push(d);
            busy.push(Reverse((a.arrival + service, seq, a.function, a.memory)));
        }
        Depths { depth }
    }

    /// Cold calls at each capacity (bytes).
    pub fn cold_counts(&self, capacities: &[u64]) -> Vec<u64> {
        let mut warm: Vec<u64> = self.depth.iter().flatten().copied().collect();
        self.count(warm.as_mut_slice(), capacities)
    }

    /// [`Depths::cold_counts`] of a sample: others' bytes count `scale`
    /// times (1 / sampling rate), a call's own instance's once.
    pub fn cold_counts_scaled(
        &self,
        accesses: &[Access],
        capacities: &[u64],
        scale: f64,
    ) -> Vec<u64> {
        let mut warm: Vec<u64> = self
            .depth
            .iter()
            .zip(accesses)
            .filter_map(|(d, a)| {
                let d = (*d)?;
                let others = d.saturating_sub(a.memory) as f64 * scale;
                Some((a.memory as f64 + others).round() as u64)
            })
            .collect();
        self.count(warm.as_mut_slice(), capacities)
    }

    fn count(&self, warm: &mut [u64], capacities: &[u64]) -> Vec<u64> {
        warm.sort_unstable();
        let n = self.depth.len() as u64;
        capacities
            .iter()
            .map(|&c| n - warm.partition_point(|&d| d <= c) as u64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::lru::cold_count;
    use super::*;
    use proptest::prelude::*;

    /// Calls (arrival, service, function) with one service time.
    fn trace(calls: &[(u64, u64, u32)], mem: &[u64]) -> Vec<Access> {
        let mut v: Vec<Access> = calls
            .iter()
            .map(|&(t, d, f)| Access {
                arrival: t,
                warm: d,
                cold: d,
                function: f,
                memory: mem[f as usize],
            })
            .collect();
        v.sort_by_key(|a| a.arrival);
        v
    }

    #[test]
    fn a_reuse_in_the_middle_does_not_bring_back_what_was_evicted() {
        // a, b, c idle (1 byte each); b resumed (still busy); then a: at
        // depth 2 when resumed, but a 2-byte cache evicted it when c idled.
        let t = trace(
            &[(0, 1, 0), (10, 1, 1), (20, 1, 2), (30, 100, 1), (40, 1, 0)],
            &[1, 1, 1],
        );
        let d = Depths::new(&t);
        assert_eq!(d.depth[4], Some(3));
        assert_eq!(cold_count(&t, 2), 4);
        assert_eq!(d.cold_counts(&[2, 3]), vec![4, 3]);
        assert_eq!(cold_count(&t, 3), 3);
    }

    #[test]
    fn overlapping_calls_get_instances_of_their_own() {
        // Two overlapping calls leave two idle instances, both reused.
        let t = trace(
            &[(0, 100, 0), (50, 100, 0), (300, 10, 0), (301, 1, 0)],
            &[5],
        );
        assert_eq!(Depths::new(&t).cold_counts(&[10]), vec![2]);
        assert_eq!(cold_count(&t, 10), 2);
        assert_eq!(cold_count(&t, 5), 3);
    }

    #[test]
    fn an_instance_larger_than_the_budget_evicts_nothing() {
        // a (1 byte) idle, then b (5 bytes) idles on top of it: a 3-byte
        // cache destroys b and keeps a, a 5-byte one keeps b and evicts a
        // (the inclusion property fails); the pass misses a at both.
        let t = trace(&[(0, 1, 0), (10, 1, 1), (20, 1, 0)], &[1, 5]);
        assert_eq!((cold_count(&t, 3), cold_count(&t, 5)), (2, 3));
        assert_eq!(Depths::new(&t).cold_counts(&[3, 5]), vec![3, 3]);
    }

    proptest! {
        /// With one service time and every instance no larger than the
        /// cache, the pass is exact: the same cold calls as the replay.
        #[test]
        fn matches_the_replay_where_it_is_exact(
            calls in proptest::collection::vec((0u64..400, 1u64..60, 0u32..6), 0..80),
            mem in proptest::collection::vec(1u64..20, 6),
            capacity in 20u64..120,
        ) {
            let t = trace(&calls, &mem);
            // Distinct end times: the replay breaks ties by instance id.
            let mut ends: Vec<u64> = t.iter().map(|a| a.arrival + a.warm).collect();
            ends.sort_unstable();
            ends.dedup();
            prop_assume!(ends.len() == t.len());
            let one = Depths::new(&t).cold_counts(&[capacity])[0];
            prop_assert_eq!(one, cold_count(&t, capacity));
        }
    }
}
