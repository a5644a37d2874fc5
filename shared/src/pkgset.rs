//! Compact package sets: a sparse bitset over [`PackageId`]s, so that the
//! subset test at the heart of Zygote lookup is a handful of word
//! operations, and a set costs memory in proportion to the 64-id blocks it
//! touches, never to the size of the package table (issue 12: a dense
//! bitset per function made memory grow with functions x packages).

use crate::units::PackageId;
use std::fmt;

/// One non-empty 64-id block of a set: ids `block * 64 .. block * 64 + 63`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Block {
    block: u32,
    bits: u64,
}

/// A set of packages: its non-empty blocks in increasing block order. No
/// block is ever zero, so two equal sets have equal representations and
/// `==` is set equality.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageSet {
    blocks: Vec<Block>,
}

fn split(p: PackageId) -> (u32, u64) {
    (p.0 / 64, 1u64 << (p.0 % 64))
}

impl PackageSet {
    pub fn new() -> PackageSet {
        PackageSet { blocks: Vec::new() }
    }

    pub fn insert(&mut self, p: PackageId) {
        let (block, bit) = split(p);
        // Ids mostly arrive in increasing order: try the last block first.
        match self.blocks.last_mut() {
            Some(last) if last.block == block => last.bits |= bit,
            Some(last) if last.block < block => self.blocks.push(Block { block, bits: bit }),
            None => self.blocks.push(Block { block, bits: bit }),
            Some(_) => match self.blocks.binary_search_by_key(&block, |b| b.block) {
                Ok(i) => self.blocks[i].bits |= bit,
                Err(i) => self.blocks.insert(i, Block { block, bits: bit }),
            },
        }
    }

    pub fn contains(&self, p: PackageId) -> bool {
        let (block, bit) = split(p);
        match self.blocks.binary_search_by_key(&block, |b| b.block) {
            Ok(i) => self.blocks[i].bits & bit != 0,
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.bits.count_ones() as usize)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Heap memory the set holds, in bytes (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Block>()
    }

    /// The OR of all blocks' bits: if `a ⊆ b` then `sig(a) & !sig(b) == 0`,
    /// so a non-zero result rejects a subset test without touching the blocks.
    pub fn signature(&self) -> u64 {
        self.blocks.iter().fold(0, |a, b| a | b.bits)
    }

    /// True when every package of `self` is also in `other`.
    pub fn is_subset(&self, other: &PackageSet) -> bool {
        if self.blocks.len() > other.blocks.len() {
            return false;
        }
        let mut theirs = other.blocks.iter();
        'mine: for a in &self.blocks {
            for b in theirs.by_ref() {
                if b.block == a.block {
                    if a.bits & !b.bits != 0 {
                        return false;
                    }
                    continue 'mine;
                }
                if b.block > a.block {
                    return false;
                }
            }
            return false;
        }
        true
    }

    pub fn union(&self, other: &PackageSet) -> PackageSet {
        let (a, b) = (&self.blocks, &other.blocks);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (x, y) = (a[i], b[j]);
            if x.block == y.block {
                out.push(Block {
                    block: x.block,
                    bits: x.bits | y.bits,
                });
                i += 1;
                j += 1;
            } else if x.block < y.block {
                out.push(x);
                i += 1;
            } else {
                out.push(y);
                j += 1;
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        PackageSet { blocks: out }
    }

    /// Packages in `self` that are not in `other`.
    pub fn difference(&self, other: &PackageSet) -> PackageSet {
        let b = &other.blocks;
        let mut out = Vec::with_capacity(self.blocks.len());
        let mut j = 0;
        for &x in &self.blocks {
            while j < b.len() && b[j].block < x.block {
                j += 1;
            }
            let bits = match b.get(j) {
                Some(y) if y.block == x.block => x.bits & !y.bits,
                _ => x.bits,
            };
            if bits != 0 {
                out.push(Block {
                    block: x.block,
                    bits,
                });
            }
        }
        PackageSet { blocks: out }
    }

    /// Packages in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = PackageId> + '_ {
        self.blocks.iter().flat_map(|&Block { block, bits }| {
            let mut w = bits;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(PackageId(block * 64 + b))
            })
        })
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
    fn sets_cost_memory_per_block_not_per_table_size() {
        // Two packages 2^24 ids apart: two blocks, not 2^18 words.
        let far = set(&[3, 1 << 24]);
        assert_eq!(far.len(), 2);
        assert!(far.heap_bytes() <= 64, "{}", far.heap_bytes());
        assert!(far.contains(PackageId(1 << 24)) && !far.contains(PackageId(4)));
        let near = set(&[3, 5, 1 << 24]);
        assert!(far.is_subset(&near) && !near.is_subset(&far));
        assert!(!set(&[64]).is_subset(&set(&[0, 128])));
        // Out-of-order inserts keep the blocks sorted.
        let mut s = set(&[1000, 10]);
        s.insert(PackageId(500));
        assert_eq!(
            s.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![10, 500, 1000]
        );
        assert_eq!(s.union(&far).len(), 5);
        assert_eq!(near.difference(&far), set(&[5]));
    }

    #[test]
    fn trimmed_sets_compare_equal() {
        let a = set(&[1, 300]).difference(&set(&[300]));
        assert_eq!(a, set(&[1]));
        assert!(!set(&[300]).is_subset(&set(&[1])));
    }
}
