//! Tier 2, the import cache: a tree of Zygotes.
//!
//! The root is a bare interpreter; each child has imported more packages
//! than its parent (its cumulative set is a strict superset). A handler is
//! forked from the ready node whose cumulative set is a *subset* of the
//! handler's closure and covers the largest import time (best-cost, not
//! OpenLambda's first match); ties go to the deeper node, then the lower id.
//! A node holding any package the handler did not ask for is never used.
//!
//! Memory (copy-on-write): a forked Zygote shares its parent's pages, so a
//! node is charged only what it adds: `zygote_fork_mb` of private pages for
//! the forked process plus the `import_mb` of the packages it imports
//! itself. The root is charged `interpreter_mb`. Every node is also
//! charged its pre-forked children (`spares` of `zygote_fork_mb` each; see
//! `spares.rs`), which are not pages a fork of it copies. A tree's memory is the sum
//! over its nodes, which is what the per-Zygote cgroups measure when each
//! Zygote's imported pages are charged to its own cgroup.
//!
//! Eviction: under pressure the leaf with the lowest hits per byte goes
//! (ties: the newer node, i.e. the higher id); a node with live children is
//! never evicted, and the root and static-tree nodes are pinned.
//!
//! Lookup scans a compact index of live nodes and rejects most of them by a
//! 64-bit signature of their package set before any full subset test.

mod spares;
mod static_tree;

pub use spares::Spares;
pub use static_tree::{StaticTreeError, StaticTreeNode, StaticTreeWarning};

use crate::cost::CostModel;
use crate::pkgset::PackageSet;
use crate::units::{Bytes, Micros, ZygoteId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

#[derive(Clone, Debug)]
pub struct ZygoteNode {
    pub id: ZygoteId,
    pub parent: Option<ZygoteId>,
    pub children: BTreeSet<ZygoteId>,
    /// Packages imported by this node and its ancestors.
    pub packages: PackageSet,
    /// Packages this node imported itself.
    pub own: PackageSet,
    /// Import time its cumulative set saves a handler.
    pub import_cost: Micros,
    /// Memory charged to this node (see the module doc), its spares included.
    pub memory: Bytes,
    /// Of `memory`, what its pre-forked children hold.
    pub spare_memory: Bytes,
    pub depth: u32,
    pub hits: u64,
    /// When the node finishes importing and can serve forks.
    pub ready_at: Micros,
    /// Root and static nodes are never evicted.
    pub pinned: bool,
}

/// A node created on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Growth {
    pub zygote: ZygoteId,
    pub parent: ZygoteId,
    /// Leaves evicted to make room, in eviction order.
    pub evicted: Vec<ZygoteId>,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    id: ZygoteId,
    signature: u64,
    ready_at: Micros,
    import_cost: Micros,
    depth: u32,
}

impl IndexEntry {
    fn of(n: &ZygoteNode) -> IndexEntry {
        IndexEntry {
            id: n.id,
            signature: n.packages.signature(),
            ready_at: n.ready_at,
            import_cost: n.import_cost,
            depth: n.depth,
        }
    }
}

/// Eviction order of a leaf: hits per byte (non-negative, so the IEEE bits
/// order like the numbers), then the newer node first.
type LeafKey = (u64, Reverse<ZygoteId>);

fn leaf_key(n: &ZygoteNode) -> LeafKey {
    let v = n.hits as f64 / n.memory.0.max(1) as f64;
    (v.to_bits(), Reverse(n.id))
}

#[derive(Debug)]
pub struct ZygoteTree {
    nodes: BTreeMap<ZygoteId, ZygoteNode>,
    /// Each live node by its cumulative package set.
    by_set: BTreeMap<PackageSet, ZygoteId>,
    /// Evictable nodes (unpinned and childless) in eviction order.
    leaves: BTreeSet<LeafKey>,
    /// What lookup needs of each live node (in no particular order).
    index: Vec<IndexEntry>,
    budget: Bytes,
    used: Bytes,
    next_id: u32,
    /// Charged to every node for its pre-forked children.
    spare_memory: Bytes,
}

impl ZygoteTree {
    /// A tree holding only the root (a bare interpreter, ready at time 0)
    /// whose nodes each keep `spares` pre-forked children. Returns `None`
    /// when the root alone does not fit in `budget`.
    pub fn with_root(budget: Bytes, cost: &CostModel, spares: u32) -> Option<ZygoteTree> {
        let spare_memory = Bytes(cost.zygote_fork_mem().0.saturating_mul(spares as u64));
        let mem = cost.interpreter_mem() + spare_memory;
        if mem > budget {
            return None;
        }
        let root = ZygoteNode {
            id: ZygoteId(0),
            parent: None,
            children: BTreeSet::new(),
            packages: PackageSet::new(),
            own: PackageSet::new(),
            import_cost: Micros::ZERO,
            memory: mem,
            spare_memory,
            depth: 0,
            hits: 0,
            ready_at: Micros::ZERO,
            pinned: true,
        };
        let mut nodes = BTreeMap::new();
        nodes.insert(ZygoteId(0), root);
        let mut by_set = BTreeMap::new();
        by_set.insert(PackageSet::new(), ZygoteId(0));
        let index = vec![IndexEntry::of(&nodes[&ZygoteId(0)])];
        Some(ZygoteTree {
            nodes,
            by_set,
            leaves: BTreeSet::new(),
            index,
            budget,
            used: mem,
            next_id: 1,
            spare_memory,
        })
    }

    pub fn budget(&self) -> Bytes {
        self.budget
    }

    pub fn used(&self) -> Bytes {
        self.used
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, id: ZygoteId) -> Option<&ZygoteNode> {
        self.nodes.get(&id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &ZygoteNode> {
        self.nodes.values()
    }

    /// True when a live node (ready or not) holds exactly `set`.
    pub fn has_set(&self, set: &PackageSet) -> bool {
        self.by_set.contains_key(set)
    }

    /// Best-cost lookup (see the module doc). The root always qualifies.
    pub fn lookup(&self, request: &PackageSet, now: Micros) -> Option<ZygoteId> {
        let sig = request.signature();
        let mut best: Option<&IndexEntry> = None;
        for e in &self.index {
            if e.ready_at > now || e.signature & !sig != 0 {
                continue;
            }
            let better = best.is_none_or(|b| {
                (e.import_cost, e.depth)
                    .cmp(&(b.import_cost, b.depth))
                    .then(b.id.cmp(&e.id))
                    .is_gt()
            });
            if better
                && self
                    .nodes
                    .get(&e.id)
                    .is_some_and(|n| n.packages.is_subset(request))
            {
                best = Some(e);
            }
        }
        best.map(|e| e.id)
    }

    pub fn record_hit(&mut self, id: ZygoteId) {
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        let was_leaf = self.leaves.remove(&leaf_key(n));
        n.hits += 1;
        if was_leaf {
            self.leaves.insert(leaf_key(n));
        }
    }

    /// Adds a child of `parent` holding `packages` (a strict superset of the
    /// parent's), ready at `ready_at`, evicting low-value leaves to make
    /// room. Returns `None`, changing nothing, when it cannot fit.
    pub fn grow(
        &mut self,
        parent: ZygoteId,
        packages: PackageSet,
        ready_at: Micros,
        pinned: bool,
        cost: &CostModel,
    ) -> Option<Growth> {
        let p = self.nodes.get(&parent)?;
        if !p.packages.is_subset(&packages) || p.packages == packages {
            return None;
        }
        let own = packages.difference(&p.packages);
        let depth = p.depth + 1;
        let memory = self.child_memory(&own, cost);
        let evicted = self.plan_eviction(memory, parent)?;
        for &v in &evicted {
            self.remove(v);
        }
        let id = ZygoteId(self.next_id);
        self.next_id += 1;
        let node = ZygoteNode {
            id,
            parent: Some(parent),
            children: BTreeSet::new(),
            import_cost: cost.import_time(&packages),
            packages,
            own,
            memory,
            spare_memory: self.spare_memory,
            depth,
            hits: 0,
            ready_at,
            pinned,
        };
        if let Some(p) = self.nodes.get_mut(&parent) {
            self.leaves.remove(&leaf_key(p));
            p.children.insert(id);
        }
        self.used += memory;
        if !node.pinned {
            self.leaves.insert(leaf_key(&node));
        }
        self.by_set.insert(node.packages.clone(), id);
        self.index.push(IndexEntry::of(&node));
        self.nodes.insert(id, node);
        Some(Growth {
            zygote: id,
            parent,
            evicted,
        })
    }

    /// Memory of a new node importing `own` on top of its parent, its
    /// spares included.
    pub fn child_memory(&self, own: &PackageSet, cost: &CostModel) -> Bytes {
        cost.zygote_fork_mem() + cost.import_mem(own) + self.spare_memory
    }

    /// (evictable, pinned) memory: unpinned nodes can all go (children
    /// first), the root and static nodes never.
    pub fn evictable(&self) -> (Bytes, Bytes) {
        let pinned = self
            .nodes
            .values()
            .filter(|n| n.pinned)
            .fold(Bytes::ZERO, |a, n| a + n.memory);
        (self.used - pinned, pinned)
    }

    /// Evicts the leaf with the fewest hits per byte (the order growth
    /// evicts in); a parent left childless becomes a leaf in turn.
    pub fn evict_leaf(&mut self) -> Option<ZygoteNode> {
        let &(_, Reverse(id)) = self.leaves.iter().next()?;
        self.remove(id)
    }

    /// Leaves to evict so that `need` more bytes fit, without touching
    /// `keep` or its ancestors; `None` when no such set exists. A dry run:
    /// parents whose last child would go join the candidates.
    fn plan_eviction(&self, need: Bytes, keep: ZygoteId) -> Option<Vec<ZygoteId>> {
        if need > self.budget {
            return None;
        }
        let mut protected = BTreeSet::new();
        let mut cur = Some(keep);
        while let Some(c) = cur {
            protected.insert(c);
            cur = self.nodes.get(&c).and_then(|n| n.parent);
        }
        let mut leaves = self
            .leaves
            .iter()
            .filter(|(_, Reverse(id))| !protected.contains(id))
            .peekable();
        let mut promoted: BinaryHeap<Reverse<LeafKey>> = BinaryHeap::new();
        let mut children_left: BTreeMap<ZygoteId, usize> = BTreeMap::new();
        let mut used = self.used;
        let mut order = Vec::new();
        while used + need > self.budget {
            let from_leaves = match (leaves.peek(), promoted.peek()) {
                (Some(a), Some(Reverse(b))) => *a <= b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let key = if from_leaves {
                leaves.next().copied()
            } else {
                promoted.pop().map(|Reverse(k)| k)
            };
            let (_, Reverse(id)) = key?;
            let victim = self.nodes.get(&id)?;
            used = used - victim.memory;
            order.push(id);
            let Some(parent) = victim.parent.and_then(|p| self.nodes.get(&p)) else {
                continue;
            };
            if parent.pinned || protected.contains(&parent.id) {
                continue;
            }
            let left = children_left
                .entry(parent.id)
                .or_insert(parent.children.len());
            *left -= 1;
            if *left == 0 {
                promoted.push(Reverse(leaf_key(parent)));
            }
        }
        Some(order)
    }

    /// Node `id` serves from `ready_at` (a repair after it died): lookup
    /// skips it until then.
    pub fn set_ready_at(&mut self, id: ZygoteId, ready_at: Micros) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.ready_at = ready_at;
        }
        if let Some(e) = self.index.iter_mut().find(|e| e.id == id) {
            e.ready_at = ready_at;
        }
    }

    /// Removes a leaf; refuses (returns `None`) for a node with children.
    pub fn remove(&mut self, id: ZygoteId) -> Option<ZygoteNode> {
        if self.nodes.get(&id).is_some_and(|n| !n.children.is_empty()) {
            return None;
        }
        let node = self.nodes.remove(&id)?;
        self.leaves.remove(&leaf_key(&node));
        self.by_set.remove(&node.packages);
        // Lookup's tie rule is a total order, so index order does not matter.
        if let Some(i) = self.index.iter().position(|e| e.id == id) {
            self.index.swap_remove(i);
        }
        if let Some(p) = node.parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.remove(&id);
            if p.children.is_empty() && !p.pinned {
                self.leaves.insert(leaf_key(p));
            }
        }
        self.used = self.used - node.memory;
        Some(node)
    }
}
