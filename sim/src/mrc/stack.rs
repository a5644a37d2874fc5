//! Mattson stack distances in bytes over handler instances, in one pass.
//!
//! An access is a call of function `f` arriving at `arrival`; its instance
//! is busy until `release` and then idle (paused) at the top of the LRU
//! order. The call is warm at capacity `C` iff `f`'s instance was released
//! before it arrived and `m_f + (bytes of the distinct other functions
//! released since f's last release) <= C`: the handler cache admits an idle
//! instance while idle bytes plus its own fit the budget, evicting the
//! least recently idled first. Positions are ranks in release order (ties
//! by trace order), and a [`Fenwick`] tree holds each function's memory at
//! its latest release, so a distance is one suffix sum: O(n log n).
//!
//! A call whose function is still busy (an earlier call has not been
//! released) needs a second instance: it is counted cold at every
//! capacity (`concurrent`), the conservative choice (sim may find an idle
//! second instance left by earlier concurrency). A release is at least one
//! microsecond after its arrival, so a call is never released before a
//! later call of the same instant arrives.

use super::fenwick::Fenwick;

/// One call, as the stack sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub arrival: u64,
    pub release: u64,
    pub function: u32,
    pub memory: u64,
}

/// What the pass found: a stack distance (bytes, before scaling) per
/// warm-able access, and the accesses that are cold at every capacity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distances {
    /// Distance of each access whose function had an idle instance in an
    /// unbounded cache: own memory plus the (scaled) others', in bytes.
    pub reuse: Vec<f64>,
    /// First calls of a function.
    pub compulsory: u64,
    /// Calls that arrived while their function was busy.
    pub concurrent: u64,
}

impl Distances {
    pub fn accesses(&self) -> u64 {
        self.reuse.len() as u64 + self.compulsory + self.concurrent
    }
}

/// Per function: its latest release rank (if released) and calls in flight.
#[derive(Clone, Copy, Debug, Default)]
struct FnState {
    position: Option<usize>,
    busy: u32,
}

/// The one pass. `accesses` are in arrival order; `scale` multiplies the
/// other functions' bytes (1 / sampling rate).
pub fn distances(accesses: &[Access], scale: f64) -> Distances {
    let n = accesses.len();
    // Release order; at equal times the earlier call first.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (accesses[i].release, i));
    let functions = accesses.iter().map(|a| a.function as usize + 1).max();
    let mut state = vec![FnState::default(); functions.unwrap_or(0)];
    let mut tree = Fenwick::new(n);
    let mut out = Distances::default();
    let mut next_release = 0;
    for a in accesses {
        // Completions before an arrival at the same time (the engine's order).
        while next_release < n && accesses[order[next_release]].release <= a.arrival {
            release(
                &mut state,
                &mut tree,
                &accesses[order[next_release]],
                next_release,
            );
            next_release += 1;
        }
        let s = &mut state[a.function as usize];
        match (s.busy, s.position) {
            (0, Some(p)) => out
                .reuse
                .push(a.memory as f64 + scale * tree.above(p) as f64),
            (0, None) => out.compulsory += 1,
            _ => out.concurrent += 1,
        }
        s.busy += 1;
    }
    out
}

fn release(state: &mut [FnState], tree: &mut Fenwick, a: &Access, rank: usize) {
    let s = &mut state[a.function as usize];
    if let Some(p) = s.position {
        tree.sub(p, a.memory);
    }
    tree.add(rank, a.memory);
    s.position = Some(rank);
    s.busy = s.busy.saturating_sub(1);
}

/// The same distances by brute force, O(n^2): for tests. Releases of
/// calls `j < i` at or before call `i`'s arrival count, ordered by
/// (release, j).
pub fn naive(accesses: &[Access], scale: f64) -> Distances {
    let mut out = Distances::default();
    for (i, a) in accesses.iter().enumerate() {
        let done: Vec<usize> = (0..i)
            .filter(|&j| accesses[j].release <= a.arrival)
            .collect();
        let busy =
            (0..i).any(|j| accesses[j].function == a.function && accesses[j].release > a.arrival);
        let key = |j: usize| (accesses[j].release, j);
        let last = done
            .iter()
            .copied()
            .filter(|&j| accesses[j].function == a.function)
            .max_by_key(|&j| key(j));
        match (busy, last) {
            (true, _) => out.concurrent += 1,
            (false, None) => out.compulsory += 1,
            (false, Some(l)) => {
                let mut others: Vec<(u32, u64)> = done
                    .iter()
                    .filter(|&&j| accesses[j].function != a.function && key(j) > key(l))
                    .map(|&j| (accesses[j].function, accesses[j].memory))
                    .collect();
                others.sort_unstable();
                others.dedup();
                let bytes: u64 = others.iter().map(|o| o.1).sum();
                out.reuse.push(a.memory as f64 + scale * bytes as f64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trace(calls: &[(u64, u64, u32)], mem: &[u64]) -> Vec<Access> {
        let mut v: Vec<Access> = calls
            .iter()
            .map(|&(t, d, f)| Access {
                arrival: t,
                release: t + d,
                function: f,
                memory: mem[f as usize],
            })
            .collect();
        v.sort_by_key(|a| a.arrival);
        v
    }

    #[test]
    fn hand_computed() {
        // a b a c b (mem 1, 2, 4), no overlap.
        let t = trace(
            &[(0, 1, 0), (10, 1, 1), (20, 1, 0), (30, 1, 2), (40, 1, 1)],
            &[1, 2, 4],
        );
        let d = distances(&t, 1.0);
        assert_eq!(d.compulsory, 3);
        assert_eq!(d.reuse, vec![1.0 + 2.0, 2.0 + 1.0 + 4.0]);
    }

    #[test]
    fn a_busy_function_is_cold() {
        let t = trace(&[(0, 100, 0), (50, 1, 0), (200, 1, 0)], &[1]);
        let d = distances(&t, 1.0);
        assert_eq!((d.compulsory, d.concurrent), (1, 1));
        assert_eq!(d.reuse, vec![1.0]);
    }

    proptest! {
        #[test]
        fn matches_the_naive_pass(
            calls in proptest::collection::vec((0u64..200, 1u64..30, 0u32..6), 0..60),
            mem in proptest::collection::vec(1u64..50, 6),
        ) {
            let t = trace(&calls, &mem);
            prop_assert_eq!(distances(&t, 1.0), naive(&t, 1.0));
        }
    }
}
