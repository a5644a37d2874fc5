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
//! itself. The root is charged `interpreter_mb`. A tree's memory is the sum
//! over its nodes, which is what the per-Zygote cgroups measure when each
//! Zygote's imported pages are charged to its own cgroup.
//!
//! Eviction: under pressure the leaf with the lowest hits per byte goes
//! (ties: older hits, then higher id); a node with live children is never
//! evicted, and the root and static-tree nodes are pinned.

mod static_tree;

pub use static_tree::{StaticTreeError, StaticTreeNode};

use crate::cost::CostModel;
use crate::pkgset::PackageSet;
use crate::units::{Bytes, Micros, ZygoteId};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Memory charged to this node (see the module doc).
    pub memory: Bytes,
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

#[derive(Debug)]
pub struct ZygoteTree {
    nodes: BTreeMap<ZygoteId, ZygoteNode>,
    budget: Bytes,
    used: Bytes,
    next_id: u32,
}

impl ZygoteTree {
    /// A tree holding only the root (a bare interpreter, ready at time 0).
    /// Returns `None` when the root alone does not fit in `budget`.
    pub fn with_root(budget: Bytes, cost: &CostModel) -> Option<ZygoteTree> {
        let mem = cost.interpreter_mem();
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
            depth: 0,
            hits: 0,
            ready_at: Micros::ZERO,
            pinned: true,
        };
        let mut nodes = BTreeMap::new();
        nodes.insert(ZygoteId(0), root);
        Some(ZygoteTree { nodes, budget, used: mem, next_id: 1 })
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

    /// Best-cost lookup (see the module doc). The root always qualifies.
    pub fn lookup(&self, request: &PackageSet, now: Micros) -> Option<ZygoteId> {
        self.nodes
            .values()
            .filter(|n| n.ready_at <= now && n.packages.is_subset(request))
            .max_by(|a, b| {
                (a.import_cost, a.depth)
                    .cmp(&(b.import_cost, b.depth))
                    .then(b.id.cmp(&a.id))
            })
            .map(|n| n.id)
    }

    pub fn record_hit(&mut self, id: ZygoteId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.hits += 1;
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
        let memory = cost.zygote_fork_mem() + cost.import_mem(&own);
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
            depth,
            hits: 0,
            ready_at,
            pinned,
        };
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children.insert(id);
        }
        self.used += memory;
        self.nodes.insert(id, node);
        Some(Growth { zygote: id, parent, evicted })
    }

    /// Leaves to evict so that `need` more bytes fit, without touching
    /// `keep` or its ancestors; `None` when no such set exists.
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
        let mut gone: BTreeSet<ZygoteId> = BTreeSet::new();
        let mut used = self.used;
        let mut order = Vec::new();
        while used + need > self.budget {
            let victim = self
                .nodes
                .values()
                .filter(|n| !n.pinned && !protected.contains(&n.id) && !gone.contains(&n.id))
                .filter(|n| n.children.iter().all(|c| gone.contains(c)))
                .min_by(|a, b| value_cmp(a, b))?;
            gone.insert(victim.id);
            used = used - victim.memory;
            order.push(victim.id);
        }
        Some(order)
    }

    /// Removes a leaf; refuses (returns `None`) for a node with children.
    pub fn remove(&mut self, id: ZygoteId) -> Option<ZygoteNode> {
        if self.nodes.get(&id).is_some_and(|n| !n.children.is_empty()) {
            return None;
        }
        let node = self.nodes.remove(&id)?;
        if let Some(p) = node.parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.remove(&id);
        }
        self.used = self.used - node.memory;
        Some(node)
    }
}

/// Orders nodes by eviction value, lowest first: hits per byte, compared
/// exactly by cross-multiplication; ties go to the higher (newer) id.
fn value_cmp(a: &ZygoteNode, b: &ZygoteNode) -> std::cmp::Ordering {
    let va = a.hits as u128 * b.memory.0.max(1) as u128;
    let vb = b.hits as u128 * a.memory.0.max(1) as u128;
    va.cmp(&vb).then(b.id.cmp(&a.id))
}
