//! Compact package sets: a bitset over [`PackageId`]s, so that the subset
//! test at the heart of Zygote lookup is a handful of word operations.

use crate::units::PackageId;
use std::fmt;

/// A set of packages. Trailing zero words are trimmed, so two equal sets
/// have equal representations and `==` is set equality.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageSet {
    words: Vec<u64>,
}

impl PackageSet {
    pub fn new() -> PackageSet {
        PackageSet { words: Vec::new() }
    }

    pub fn insert(&mut self, p: PackageId) {
        let (w, b) = (p.index() / 64, p.index() % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub fn contains(&self, p: PackageId) -> bool {
        let (w, b) = (p.index() / 64, p.index() % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The OR of all words: if `a ⊆ b` then `sig(a) & !sig(b) == 0`, so a
    /// non-zero result rejects a subset test without touching the words.
    pub fn signature(&self) -> u64 {
        self.words.iter().fold(0, |a, w| a | w)
    }

    /// True when every package of `self` is also in `other`.
    pub fn is_subset(&self, other: &PackageSet) -> bool {
        if self.words.len() > other.words.len() {
            return false;
        }
        self.words
            .iter()
            .zip(&other.words)
            .all(|(a, b)| a & !b == 0)
    }

    pub fn union(&self, other: &PackageSet) -> PackageSet {
        let n = self.words.len().max(other.words.len());
        let words = (0..n).map(|i| self.word(i) | other.word(i)).collect();
        PackageSet::trimmed(words)
    }

    /// Packages in `self` that are not in `other`.
    pub fn difference(&self, other: &PackageSet) -> PackageSet {
        let words = (0..self.words.len())
            .map(|i| self.word(i) & !other.word(i))
            .collect();
        PackageSet::trimmed(words)
    }

    /// Packages in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = PackageId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(PackageId(i as u32 * 64 + b))
            })
        })
    }

    fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    fn trimmed(mut words: Vec<u64>) -> PackageSet {
        while words.last() == Some(&0) {
            words.pop();
        }
        PackageSet { words }
    }
}

impl FromIterator<PackageId> for PackageSet {
    fn from_iter<I: IntoIterator<Item = PackageId>>(iter: I) -> PackageSet {
        let mut s = PackageSet::new();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PackageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|p| p.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32]) -> PackageSet {
        ids.iter().map(|&i| PackageId(i)).collect()
    }

    #[test]
    fn subset_union_difference() {
        let a = set(&[1, 70, 200]);
        let b = set(&[1, 2, 70, 200, 300]);
        assert!(a.is_subset(&b));
        assert!(!b.is_subset(&a));
        assert!(PackageSet::new().is_subset(&a));
        assert_eq!(b.difference(&a), set(&[2, 300]));
        assert_eq!(a.union(&set(&[5])), set(&[1, 5, 70, 200]));
        assert_eq!(b.difference(&b), PackageSet::new());
        assert_eq!(
            b.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![1, 2, 70, 200, 300]
        );
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn trimmed_sets_compare_equal() {
        let a = set(&[1, 300]).difference(&set(&[300]));
        assert_eq!(a, set(&[1]));
        assert!(!set(&[300]).is_subset(&set(&[1])));
    }
}
