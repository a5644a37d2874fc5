//! The search for the smallest worker that meets every objective:
//! least memory first, then fewest cores.
//!
//! The metrics are (near-)monotone in memory at a fixed core count (more
//! memory keeps more handlers warm and queues less), so each core count's
//! smallest passing memory is found by bisection over the sorted memory
//! candidates: the largest first (if it fails, the core count cannot
//! pass), then halving, about log2(M) + 1 replays per core count instead
//! of M. The core counts are searched at once (rayon), each step's
//! replays on every trace in parallel. Bisection trusts monotonicity: a
//! non-monotone metric can make it miss a smaller passing memory, never
//! pick a failing one (every chosen candidate was replayed and passed).

use super::evaluate::{Candidate, Evaluation, Evaluator};
use anyhow::Result;
use rayon::prelude::*;
use std::sync::Arc;

/// The candidates: memory sizes (MB, ascending), core counts
/// (ascending) and idle-handler shares of the memory (ascending; `[None]`:
/// the caps the flags set).
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub memory_mb: Vec<f64>,
    pub cores: Vec<usize>,
    pub shares: Vec<Option<f64>>,
}

impl Space {
    /// Memory doubling from 256 MB to 64 GB; 1, 2, 4, 8, 16 cores.
    pub fn default_memory() -> Vec<f64> {
        (8..=16).map(|e| f64::from(1u32 << e)).collect()
    }

    pub fn default_cores() -> Vec<usize> {
        vec![1, 2, 4, 8, 16]
    }

    pub fn size(&self) -> usize {
        self.memory_mb.len() * self.cores.len() * self.shares.len()
    }

    fn at(&self, m: usize, c: usize, s: usize) -> Candidate {
        Candidate {
            memory_mb: self.memory_mb[m],
            cores: self.cores[c],
            handler_share: self.shares[s],
        }
    }

    /// About how many configurations the search replays (for the
    /// progress bar): log2(M) + 1 per line, and the sensitivity's four.
    pub fn expected_evaluations(&self) -> usize {
        let m = self.memory_mb.len();
        let steps = (usize::BITS - m.leading_zeros()) as usize + 1;
        (self.lines().len() * steps).min(self.size()) + 4
    }

    /// Every (core, share) index pair: one bisection each.
    fn lines(&self) -> Vec<(usize, usize)> {
        (0..self.cores.len())
            .flat_map(|c| (0..self.shares.len()).map(move |s| (c, s)))
            .collect()
    }
}

/// What the search found.
#[derive(Debug)]
pub struct Found {
    /// The smallest passing candidate, by its (memory, cores, share)
    /// indexes.
    pub chosen: Option<(Index, Arc<Evaluation>)>,
    /// When none passes: the evaluated candidate that misses least.
    pub best: Option<Arc<Evaluation>>,
}

/// A candidate's (memory, cores, share) indexes in the [`Space`].
pub type Index = (usize, usize, usize);

/// Each (core count, share)'s smallest passing memory index (bisection),
/// then the least memory, then the fewest cores, then the smallest share.
pub fn search(ev: &Evaluator, space: &Space) -> Result<Found> {
    let lines = space.lines();
    let per_line: Vec<Option<(usize, Arc<Evaluation>)>> = lines
        .par_iter()
        .map(|&(c, s)| smallest_memory(ev, space, c, s))
        .collect::<Result<_>>()?;
    let chosen = lines
        .iter()
        .zip(per_line)
        .filter_map(|(&(c, s), m)| m.map(|(m, e)| ((m, c, s), e)))
        // Memory index first, then the core index, then the share: all
        // ascending.
        .min_by_key(|(i, _)| *i);
    let best = if chosen.is_some() {
        None
    } else {
        // Every line failed at its largest memory: rank those.
        let top = space.memory_mb.len() - 1;
        let tops: Vec<Candidate> = lines.iter().map(|&(c, s)| space.at(top, c, s)).collect();
        ev.evaluate(&tops)?
            .into_iter()
            .min_by(|a, b| a.miss(&ev.objectives).total_cmp(&b.miss(&ev.objectives)))
    };
    Ok(Found { chosen, best })
}

/// The smallest memory index passing at core index `c` and share index
/// `s`, by bisection.
fn smallest_memory(
    ev: &Evaluator,
    space: &Space,
    c: usize,
    s: usize,
) -> Result<Option<(usize, Arc<Evaluation>)>> {
    let top = space.memory_mb.len() - 1;
    let e = one(ev, space.at(top, c, s))?;
    if !e.met() {
        return Ok(None);
    }
    // Invariant: `hi` passes (with `pass`); every index <= `lo` is
    // taken to fail (lo = None: none tried below).
    let (mut lo, mut hi, mut pass) = (None::<usize>, top, e);
    loop {
        let from = lo.map_or(0, |l| l + 1);
        if from >= hi {
            return Ok(Some((hi, pass)));
        }
        let mid = from + (hi - from) / 2;
        let e = one(ev, space.at(mid, c, s))?;
        if e.met() {
            (hi, pass) = (mid, e);
        } else {
            lo = Some(mid);
        }
    }
}

fn one(ev: &Evaluator, c: Candidate) -> Result<Arc<Evaluation>> {
    let mut v = ev.evaluate(&[c])?;
    Ok(v.remove(0))
}

/// One neighbour of the chosen candidate in the sensitivity table.
#[derive(Debug)]
pub struct Neighbour {
    pub label: &'static str,
    pub evaluation: Arc<Evaluation>,
}

/// The chosen candidate and its neighbours: the next memory size down
/// and up, the next core count down and up, and the next share down and
/// up (those that exist).
pub fn sensitivity(ev: &Evaluator, space: &Space, (m, c, s): Index) -> Result<Vec<Neighbour>> {
    let mut want: Vec<(&'static str, Candidate)> = vec![("chosen", space.at(m, c, s))];
    if m > 0 {
        want.push(("memory down", space.at(m - 1, c, s)));
    }
    if m + 1 < space.memory_mb.len() {
        want.push(("memory up", space.at(m + 1, c, s)));
    }
    if c > 0 {
        want.push(("cores down", space.at(m, c - 1, s)));
    }
    if c + 1 < space.cores.len() {
        want.push(("cores up", space.at(m, c + 1, s)));
    }
    if s > 0 {
        want.push(("split down", space.at(m, c, s - 1)));
    }
    if s + 1 < space.shares.len() {
        want.push(("split up", space.at(m, c, s + 1)));
    }
    let cands: Vec<Candidate> = want.iter().map(|(_, c)| *c).collect();
    let evals = ev.evaluate(&cands)?;
    Ok(want
        .into_iter()
        .zip(evals)
        .map(|((label, _), evaluation)| Neighbour { label, evaluation })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_space_doubles_from_256_mb_to_64_gb() {
        let m = Space::default_memory();
        assert_eq!(m.first(), Some(&256.0));
        assert_eq!(m.last(), Some(&65536.0));
        assert_eq!(m.len(), 9);
        assert_eq!(Space::default_cores(), [1, 2, 4, 8, 16]);
    }
}
