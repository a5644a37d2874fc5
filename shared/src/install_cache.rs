//! Tier 3, the install cache: packages installed once with
//! `pip install --no-deps --target <cache>/<name>==<version>` and
//! bind-mounted read-only into containers.
//!
//! Disk budget; packages used by live Zygotes or handler instances are
//! pinned; under pressure the least recently used unpinned package goes
//! (ties: lower package id). A package that cannot fit even after eviction
//! is installed for the one container that needs it and not cached
//! ("uncached"), so the budget is never exceeded. OpenLambda's install
//! cache has no eviction at all.

use crate::pkgset::PackageSet;
use crate::trace::Catalog;
use crate::units::{Bytes, Micros, PackageId};
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
struct Entry {
    bytes: Bytes,
    last_used: Micros,
    pins: u32,
}

/// The cached packages, indexed by package id: O(1) lookups on the
/// per-invocation path (pinning a closure looks up each of its packages).
/// Never iterated, so it cannot change any order.
#[derive(Clone, Debug, Default)]
struct Entries {
    slots: Vec<Option<Entry>>,
    len: usize,
}

impl Entries {
    fn get(&self, p: &PackageId) -> Option<&Entry> {
        self.slots.get(p.index())?.as_ref()
    }

    fn get_mut(&mut self, p: &PackageId) -> Option<&mut Entry> {
        self.slots.get_mut(p.index())?.as_mut()
    }

    fn contains_key(&self, p: &PackageId) -> bool {
        self.get(p).is_some()
    }

    fn insert(&mut self, p: PackageId, e: Entry) {
        if self.slots.len() <= p.index() {
            self.slots.resize_with(p.index() + 1, || None);
        }
        let slot = &mut self.slots[p.index()];
        self.len += usize::from(slot.is_none());
        *slot = Some(e);
    }

    fn remove(&mut self, p: &PackageId) -> Option<Entry> {
        let e = self.slots.get_mut(p.index())?.take();
        self.len -= usize::from(e.is_some());
        e
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What [`InstallCache::ensure`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ensure {
    /// Packages that had to be installed (cache misses).
    pub installed: PackageSet,
    /// Of those, the ones that did not fit and were not kept.
    pub uncached: PackageSet,
    /// Packages evicted to make room, in eviction order.
    pub evicted: Vec<PackageId>,
    /// Packages found in the cache.
    pub hits: u64,
}

#[derive(Debug)]
pub struct InstallCache {
    budget: Bytes,
    used: Bytes,
    entries: Entries,
    /// Unpinned entries by (last use, id): the eviction order.
    lru: BTreeSet<(Micros, PackageId)>,
}

impl InstallCache {
    /// `budget` of zero disables the tier: every package is installed anew.
    pub fn new(budget: Bytes) -> InstallCache {
        InstallCache {
            budget,
            used: Bytes::ZERO,
            entries: Entries::default(),
            lru: BTreeSet::new(),
        }
    }

    pub fn budget(&self) -> Bytes {
        self.budget
    }

    pub fn used(&self) -> Bytes {
        self.used
    }

    pub fn contains(&self, p: PackageId) -> bool {
        self.entries.contains_key(&p)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn pins(&self, p: PackageId) -> u32 {
        self.entries.get(&p).map_or(0, |e| e.pins)
    }

    /// Makes every package of `set` available, installing the missing ones.
    /// Packages of `set` are never evicted to make room for each other.
    pub fn ensure(&mut self, set: &PackageSet, now: Micros, catalog: &Catalog) -> Ensure {
        let mut out = Ensure::default();
        for p in set.iter() {
            if self.entries.contains_key(&p) {
                out.hits += 1;
                self.touch(p, now);
                continue;
            }
            out.installed.insert(p);
            let bytes = catalog.disk(p);
            if self.make_room(bytes, set, &mut out.evicted) {
                self.used += bytes;
                self.entries.insert(
                    p,
                    Entry {
                        bytes,
                        last_used: now,
                        pins: 0,
                    },
                );
                self.lru.insert((now, p));
            } else {
                out.uncached.insert(p);
            }
        }
        out
    }

    /// Pins the cached packages of `set`; returns exactly those pinned, which
    /// the holder must later pass to [`Self::unpin`].
    pub fn pin(&mut self, set: &PackageSet) -> PackageSet {
        let mut pinned = PackageSet::new();
        for p in set.iter() {
            if let Some(e) = self.entries.get_mut(&p) {
                if e.pins == 0 {
                    self.lru.remove(&(e.last_used, p));
                }
                e.pins += 1;
                pinned.insert(p);
            }
        }
        pinned
    }

    pub fn unpin(&mut self, pinned: &PackageSet) {
        for p in pinned.iter() {
            if let Some(e) = self.entries.get_mut(&p) {
                e.pins = e.pins.saturating_sub(1);
                if e.pins == 0 {
                    self.lru.insert((e.last_used, p));
                }
            }
        }
    }

    fn touch(&mut self, p: PackageId, now: Micros) {
        if let Some(e) = self.entries.get_mut(&p) {
            if e.pins == 0 {
                self.lru.remove(&(e.last_used, p));
                self.lru.insert((now, p));
            }
            e.last_used = now;
        }
    }

    /// Evicts LRU unpinned packages not in `keep` until `bytes` fit.
    fn make_room(&mut self, bytes: Bytes, keep: &PackageSet, evicted: &mut Vec<PackageId>) -> bool {
        // A zero budget turns the tier off, even for zero-byte packages.
        if bytes > self.budget || self.budget == Bytes::ZERO {
            return false;
        }
        let candidates: Vec<(Micros, PackageId)> = self
            .lru
            .iter()
            .filter(|(_, p)| !keep.contains(*p))
            .copied()
            .collect();
        let free = self.budget - self.used;
        let evictable: Bytes = candidates
            .iter()
            .map(|(_, p)| self.entries.get(p).map_or(Bytes::ZERO, |e| e.bytes))
            .sum();
        if free + evictable < bytes {
            return false;
        }
        for (t, p) in candidates {
            if self.used + bytes <= self.budget {
                break;
            }
            self.lru.remove(&(t, p));
            if let Some(e) = self.entries.remove(&p) {
                self.used = self.used - e.bytes;
            }
            evicted.push(p);
        }
        true
    }
}
