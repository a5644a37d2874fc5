//! The worker's memory (issue 10): whether a call fits, and the evictions
//! that make room for it. Every byte is charged somewhere: busy and idle
//! handler instances and the Zygote tree (its spares included), as the
//! executor's cgroups charge them. The install cache is disk.
//!
//! A call that resumes an idle instance of its function needs nothing new.
//! Any other call needs its function's memory; when it is not free, idle
//! instances go first (in the keep-alive policy's eviction order), then
//! unpinned Zygotes (leaves first, by hits per byte, as when the tree
//! grows). Evictions happen only when they are enough: a call that cannot
//! fit evicts nothing and waits (or is dropped), see [`Admission`].

use super::{Planner, SideDecision};
use crate::units::{Bytes, FunctionId};

/// Whether a call of a function can start now, memory-wise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It fits, after these evictions (apply them before its plan).
    Fits(Vec<SideDecision>),
    /// Not now: only running calls can free what it needs.
    Full,
    /// Never: its instance is bigger than the worker minus what can never
    /// be freed (the root Zygote, static Zygotes).
    TooBig,
}

impl Planner<'_> {
    /// Bounds the memory of every sandbox (the engine sets it from the
    /// worker's config); `None`: unbounded.
    pub fn set_worker_memory(&mut self, total: Option<Bytes>) {
        self.worker_memory = total;
    }

    pub fn worker_memory(&self) -> Option<Bytes> {
        self.worker_memory
    }

    /// Memory charged now: busy and idle handlers plus the Zygote tree.
    pub fn memory_used(&self) -> Bytes {
        let u = self.usage();
        u.handler_busy + u.handler_idle + u.zygote
    }

    /// Worker memory not charged to anything (unbounded: `Bytes::MAX`).
    pub fn memory_free(&self) -> Bytes {
        match self.worker_memory {
            Some(total) => Bytes(total.0.saturating_sub(self.memory_used().0)),
            None => Bytes(u64::MAX),
        }
    }

    /// Whether a call of `f` can start now; on [`Admission::Fits`] the
    /// evictions it needs are already done in the model.
    pub fn admit(&mut self, f: FunctionId) -> Admission {
        let Some(total) = self.worker_memory else {
            return Admission::Fits(Vec::new());
        };
        if self.handlers.has_idle(f) {
            return Admission::Fits(Vec::new());
        }
        let need = Bytes::from_mb_f64(self.catalog.function(f).memory_mb);
        let used = self.memory_used();
        if used.0.saturating_add(need.0) <= total.0 {
            return Admission::Fits(Vec::new());
        }
        let (evictable_zygotes, pinned_zygotes) = self
            .tree
            .as_ref()
            .map_or((Bytes::ZERO, Bytes::ZERO), |t| t.evictable());
        if need.0 > total.0.saturating_sub(pinned_zygotes.0) {
            return Admission::TooBig;
        }
        let evictable = self.handlers.idle_bytes() + evictable_zygotes;
        let floor = used.0.saturating_sub(evictable.0);
        if floor.saturating_add(need.0) > total.0 {
            return Admission::Full;
        }
        let mut side = Vec::new();
        while self.memory_used().0.saturating_add(need.0) > total.0 {
            if let Some(inst) = self.handlers.evict_one() {
                self.installs.unpin(&inst.pinned);
                self.counters.handler_evictions += 1;
                side.push(SideDecision::EvictHandler { instance: inst.id });
                continue;
            }
            let Some(z) = self.tree.as_mut().and_then(|t| t.evict_leaf()) else {
                // Unreachable: the floor above says evictions suffice.
                return Admission::Full;
            };
            self.forget_zygote(z.id, &mut side);
        }
        Admission::Fits(side)
    }

    /// Zygote `z` left the tree (evicted): release what it held.
    pub(super) fn forget_zygote(
        &mut self,
        z: crate::units::ZygoteId,
        side: &mut Vec<SideDecision>,
    ) {
        if let Some(p) = self.zygote_pins.remove(&z) {
            self.installs.unpin(&p);
        }
        self.spares.remove(z);
        self.counters.zygote_evictions += 1;
        side.push(SideDecision::EvictZygote { zygote: z });
    }
}
