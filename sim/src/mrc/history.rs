//! A segment tree of byte depths over positions in release order, with
//! each position's *historic maximum*: range add on a prefix and a point
//! query of the largest value the point held since it was set, both in
//! O(log n). The depth of an idle instance (its bytes plus those idled
//! after it and still idle) only grows when an instance is idled above
//! it, and the largest depth it reached decides whether a cache evicted
//! it ([`super::stack`]).

/// A lazy tag: add `add`, after passing through a peak of `peak` above
/// the value it started from.
#[derive(Clone, Copy, Debug)]
struct Tag {
    add: i64,
    peak: i64,
}

const NONE: Tag = Tag {
    add: 0,
    peak: i64::MIN / 4,
};

impl Tag {
    /// `self` then `later`.
    fn then(self, later: Tag) -> Tag {
        Tag {
            add: self.add + later.add,
            peak: self.peak.max(self.add + later.peak),
        }
    }
}

/// Current value and historic maximum per position, for `0..len`.
#[derive(Clone, Debug)]
pub struct History {
    size: usize,
    /// Internal nodes `1..size` (a perfect binary tree).
    tags: Vec<Tag>,
    /// Leaves: (value, largest value since the last `set`).
    leaves: Vec<(i64, i64)>,
}

impl History {
    pub fn new(len: usize) -> History {
        let size = len.max(1).next_power_of_two();
        History {
            size,
            tags: vec![NONE; size],
            leaves: vec![(0, 0); size],
        }
    }

    fn apply(&mut self, node: usize, t: Tag) {
        if node >= self.size {
            let (v, h) = &mut self.leaves[node - self.size];
            *h = (*h).max(*v + t.peak);
            *v += t.add;
        } else {
            self.tags[node] = self.tags[node].then(t);
        }
    }

    /// Pushes the tags on the path from the root down to leaf `i`.
    fn push_path(&mut self, i: usize) {
        let levels = self.size.trailing_zeros();
        for k in (1..=levels).rev() {
            let node = (i + self.size) >> k;
            let t = std::mem::replace(&mut self.tags[node], NONE);
            self.apply(2 * node, t);
            self.apply(2 * node + 1, t);
        }
    }

    /// Adds `x` to every position in `0..=i`.
    pub fn add_prefix(&mut self, i: usize, x: i64) {
        let t = Tag { add: x, peak: x };
        // Tags do not commute: clear the ancestors of the nodes updated
        // (all on the paths to leaves 0 and i) so no older tag lands later.
        self.push_path(0);
        self.push_path(i);
        // Bottom-up over the half-open range [0, i + 1).
        let (mut lo, mut hi) = (self.size, i + 1 + self.size);
        while lo < hi {
            if lo & 1 == 1 {
                self.apply(lo, t);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                self.apply(hi, t);
            }
            lo >>= 1;
            hi >>= 1;
        }
    }

    /// Position `i`'s value now, and its largest since the last `set`.
    pub fn get(&mut self, i: usize) -> (i64, i64) {
        self.push_path(i);
        self.leaves[i]
    }

    /// Starts position `i`'s history at its value now.
    pub fn reset(&mut self, i: usize) {
        self.push_path(i);
        let (v, h) = &mut self.leaves[i];
        *h = *v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_plain_array(
            ops in proptest::collection::vec((0usize..3, 0usize..20, -50i64..50), 0..80),
        ) {
            let mut t = History::new(20);
            let mut v = [0i64; 20];
            let mut h = [0i64; 20];
            for (op, i, x) in ops {
                match op {
                    0 => {
                        t.add_prefix(i, x);
                        for j in 0..=i {
                            v[j] += x;
                            h[j] = h[j].max(v[j]);
                        }
                    }
                    1 => {
                        t.reset(i);
                        h[i] = v[i];
                    }
                    _ => prop_assert_eq!(t.get(i), (v[i], h[i])),
                }
            }
        }
    }
}
