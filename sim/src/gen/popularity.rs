//! Zipf popularity over ranks `0..n`, and weighted sampling without
//! replacement from a prefix of the ranks.
//!
//! Rank `i` has weight `1 / (i + 1)^s`. Draws use a prefix-sum table and a
//! binary search (O(log n)); draws *without replacement* are successive
//! weighted draws over the items not yet taken, which is what "a file lists
//! k distinct packages, each picked by popularity" means.

use rand::Rng;

/// Below this fraction of the prefix mass, what remains after removing the
/// taken items is dominated by rounding error, so the exact (slow) path runs.
const CANCELLATION_GUARD: f64 = 1e-9;

#[derive(Debug, Clone)]
pub(super) struct ZipfTable {
    /// `weight[i] = 1 / (i + 1)^s` (may underflow to 0 for huge `s`).
    weight: Vec<f64>,
    /// `cum[i] = weight[0] + ... + weight[i]`.
    cum: Vec<f64>,
}

impl ZipfTable {
    pub(super) fn new(n: usize, exponent: f64) -> ZipfTable {
        let weight: Vec<f64> = (0..n).map(|i| zipf_weight(i, exponent)).collect();
        let mut acc = 0.0;
        let cum = weight
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        ZipfTable { weight, cum }
    }

    fn start(&self, i: usize) -> f64 {
        if i == 0 {
            0.0
        } else {
            self.cum[i - 1]
        }
    }

    /// `k` distinct ranks from `0..limit`, drawn one after another with
    /// probability proportional to weight among the ranks not yet drawn;
    /// returned sorted ascending. `k` is clamped to `limit` (and `limit` to
    /// the table size), so any arguments are safe.
    pub(super) fn sample_distinct<R: Rng>(&self, rng: &mut R, limit: usize, k: usize) -> Vec<u32> {
        let limit = limit.min(self.weight.len());
        let k = k.min(limit);
        let mut taken: Vec<u32> = Vec::with_capacity(k);
        let mut taken_mass = 0.0;
        while taken.len() < k {
            let i = self.draw(rng, limit, &taken, taken_mass);
            taken_mass += self.weight[i as usize];
            let at = taken.partition_point(|&t| t < i);
            taken.insert(at, i);
        }
        taken
    }

    /// One rank from `0..limit` not in `taken` (sorted ascending, all below
    /// `limit`, fewer than `limit` of them).
    fn draw<R: Rng>(&self, rng: &mut R, limit: usize, taken: &[u32], taken_mass: f64) -> u32 {
        let total = self.cum[limit - 1];
        let remaining = total - taken_mass;
        if remaining.is_nan() || remaining <= total * CANCELLATION_GUARD {
            return self.draw_by_scan(rng, limit, taken);
        }
        // A point on the line with the taken intervals cut out, mapped back
        // onto the full line by stepping over each taken interval before it.
        let mut x = rng.gen::<f64>() * remaining;
        for &t in taken {
            if self.start(t as usize) <= x {
                x += self.weight[t as usize];
            } else {
                break;
            }
        }
        let i = self.cum[..limit]
            .partition_point(|&c| c <= x)
            .min(limit - 1) as u32;
        if taken.binary_search(&i).is_ok() {
            // Rounding put x on the edge of a taken interval.
            return self.draw_by_scan(rng, limit, taken);
        }
        i
    }

    /// Exact O(limit) draw among the untaken ranks; if all of their weights
    /// underflowed to zero, the most popular untaken rank.
    fn draw_by_scan<R: Rng>(&self, rng: &mut R, limit: usize, taken: &[u32]) -> u32 {
        let untaken = || (0..limit as u32).filter(|i| taken.binary_search(i).is_err());
        let mass: f64 = untaken().map(|i| self.weight[i as usize]).sum();
        let mut x = rng.gen::<f64>() * mass;
        let mut last = None;
        for i in untaken() {
            last = Some(i);
            let w = self.weight[i as usize];
            if x < w {
                return i;
            }
            x -= w;
        }
        // Only reached when mass is 0 or rounding left x >= the last weight.
        if mass > 0.0 {
            if let Some(i) = last {
                return i;
            }
        }
        untaken().next().unwrap_or(0)
    }
}

/// `1 / (rank + 1)^s`, the Zipf weight of a 0-based rank.
pub(super) fn zipf_weight(rank: usize, exponent: f64) -> f64 {
    ((rank + 1) as f64).powf(-exponent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn distinct_sorted_and_bounded() {
        let t = ZipfTable::new(50, 1.1);
        let mut rng = StdRng::seed_from_u64(1);
        for limit in [1, 2, 10, 50, 80] {
            for k in [0, 1, 5, 50, 100] {
                let s = t.sample_distinct(&mut rng, limit, k);
                assert_eq!(s.len(), k.min(limit.min(50)));
                assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
                assert!(s.iter().all(|&i| (i as usize) < limit));
            }
        }
    }

    #[test]
    fn popular_ranks_are_drawn_more_often() {
        let t = ZipfTable::new(100, 1.0);
        let mut rng = StdRng::seed_from_u64(7);
        let mut hits = [0u32; 100];
        for _ in 0..20_000 {
            for i in t.sample_distinct(&mut rng, 100, 1) {
                hits[i as usize] += 1;
            }
        }
        // Rank 0 has weight 1 of H_100 ~ 5.19, so ~19% of draws; rank 9 ~1.9%.
        assert!((3400..4300).contains(&hits[0]), "{}", hits[0]);
        assert!(hits[0] > 5 * hits[9]);
    }

    #[test]
    fn extreme_exponents_still_draw_distinct_ranks() {
        // Weights underflow to zero past the first few ranks.
        let t = ZipfTable::new(300, 400.0);
        let mut rng = StdRng::seed_from_u64(3);
        let s = t.sample_distinct(&mut rng, 300, 20);
        assert_eq!(s, (0..20).collect::<Vec<u32>>());
        let uniform = ZipfTable::new(10, 0.0);
        assert_eq!(
            uniform.sample_distinct(&mut rng, 10, 10),
            (0..10).collect::<Vec<u32>>()
        );
    }
}
