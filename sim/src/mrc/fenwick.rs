//! A Fenwick (binary indexed) tree of byte weights over positions in
//! release order: point update and prefix sum in O(log n). The stack
//! distance of an access is the weight above its function's position.

/// Sums of `u64` weights over positions `0..len`.
#[derive(Clone, Debug)]
pub struct Fenwick {
    tree: Vec<u64>,
    total: u64,
}

impl Fenwick {
    pub fn new(len: usize) -> Fenwick {
        Fenwick {
            tree: vec![0; len + 1],
            total: 0,
        }
    }

    /// Adds `w` at position `i`.
    pub fn add(&mut self, i: usize, w: u64) {
        self.total += w;
        let mut k = i + 1;
        while k < self.tree.len() {
            self.tree[k] += w;
            k += k & k.wrapping_neg();
        }
    }

    /// Removes `w` from position `i` (it must have been added there).
    pub fn sub(&mut self, i: usize, w: u64) {
        self.total -= w;
        let mut k = i + 1;
        while k < self.tree.len() {
            self.tree[k] -= w;
            k += k & k.wrapping_neg();
        }
    }

    /// Sum over positions `0..=i`.
    pub fn prefix(&self, i: usize) -> u64 {
        let mut k = (i + 1).min(self.tree.len() - 1);
        let mut s = 0;
        while k > 0 {
            s += self.tree[k];
            k -= k & k.wrapping_neg();
        }
        s
    }

    /// Sum over positions after `i`.
    pub fn above(&self, i: usize) -> u64 {
        self.total - self.prefix(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_a_plain_array() {
        let mut f = Fenwick::new(10);
        let mut a = [0u64; 10];
        for (i, w) in [(3, 5), (0, 1), (9, 7), (3, 2), (5, 4)] {
            f.add(i, w);
            a[i] += w;
        }
        f.sub(3, 5);
        a[3] -= 5;
        for i in 0..10 {
            assert_eq!(f.prefix(i), a[..=i].iter().sum::<u64>());
            assert_eq!(f.above(i), a[i + 1..].iter().sum::<u64>());
        }
    }
}
