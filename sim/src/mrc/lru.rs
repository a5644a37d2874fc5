//! The handler tier at one capacity, replayed exactly as sock-core's
//! [`HandlerCache`](sock_core::handler_cache::HandlerCache) runs it with
//! the LRU policy and no other bound: a replay of its idle instances
//! only, without the engine, the planner or the other tiers.
//!
//! The rules it follows, each from sock-core:
//! - events in time order, a completion due at or before an arrival
//!   first, completions among themselves by (end, call order) (the
//!   engine's `VirtualReplay`);
//! - an arrival resumes its function's most recently idled instance
//!   (warm: it ends `warm` later) or starts a new one (cold: `cold`
//!   later); a busy instance is never counted against the budget, so
//!   calls of one function overlap freely;
//! - a completion pauses the instance at the top of the LRU order,
//!   evicting least recently idled instances (ties: the lower instance
//!   id) until idle bytes fit the budget; an instance larger than the
//!   budget (or any, with a budget of 0) is destroyed and evicts nothing.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

/// One call, as the handler tier sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub arrival: u64,
    /// Service time when it resumes an idle instance (µs).
    pub warm: u64,
    /// Service time when it starts a new instance (µs).
    pub cold: u64,
    pub function: u32,
    /// The instance's memory (bytes).
    pub memory: u64,
}

/// An idle instance: (idle since, instance id).
type Idle = (u64, u64);

/// The tier's state during one replay.
struct Tier {
    capacity: u64,
    /// What one byte of another function's instance stands for: 1, or
    /// 1 / rate in a sample ([`super::sample`]).
    scale: f64,
    /// Per function, idle instances in the order they were paused.
    idle: Vec<VecDeque<Idle>>,
    /// Every idle instance by (idle since, id, function): the LRU order.
    lru: BTreeSet<(u64, u64, u32)>,
    idle_bytes: u64,
    memory: Vec<u64>,
}

impl Tier {
    fn release(&mut self, since: u64, id: u64, f: u32) {
        let m = self.memory[f as usize];
        if self.capacity == 0 || m > self.capacity {
            return;
        }
        // Evict from the bottom while the bottom instance's depth (its
        // bytes plus the scaled bytes above it, this one's included)
        // exceeds the budget: at scale 1, while idle bytes + m > capacity.
        // Depths grow toward the bottom at any scale >= 1, so this is LRU.
        while let Some(&(s, v, vf)) = self.lru.first() {
            let bottom = self.memory[vf as usize];
            let above = self.idle_bytes - bottom + m;
            if bottom as f64 + self.scale * above as f64 <= self.capacity as f64 {
                break;
            }
            self.lru.pop_first();
            let list = &mut self.idle[vf as usize];
            if let Some(i) = list.iter().position(|&e| e == (s, v)) {
                list.remove(i);
            }
            self.idle_bytes -= self.memory[vf as usize];
        }
        self.lru.insert((since, id, f));
        self.idle[f as usize].push_back((since, id));
        self.idle_bytes += m;
    }

    /// Resumes `f`'s most recently idled instance, if any.
    fn take(&mut self, f: u32) -> Option<u64> {
        let (since, id) = self.idle[f as usize].pop_back()?;
        self.lru.remove(&(since, id, f));
        self.idle_bytes -= self.memory[f as usize];
        Some(id)
    }
}

/// How many calls of `accesses` (in arrival order) are cold with
/// `capacity` bytes for idle instances.
pub fn cold_count(accesses: &[Access], capacity: u64) -> u64 {
    cold_count_scaled(accesses, capacity, 1.0)
}

/// [`cold_count`] of a sample: every byte of another function's idle
/// instance counts `scale` times (SHARDS: `scale` = 1 / sampling rate;
/// an instance's own bytes are not scaled, so what fits is unchanged).
pub fn cold_count_scaled(accesses: &[Access], capacity: u64, scale: f64) -> u64 {
    let functions = accesses.iter().map(|a| a.function as usize + 1).max();
    let mut memory = vec![0; functions.unwrap_or(0)];
    for a in accesses {
        memory[a.function as usize] = a.memory;
    }
    let mut tier = Tier {
        capacity,
        scale,
        idle: vec![VecDeque::new(); memory.len()],
        lru: BTreeSet::new(),
        idle_bytes: 0,
        memory,
    };
    // (end, call order, instance id, function): a min-heap.
    let mut busy: BinaryHeap<Reverse<(u64, usize, u64, u32)>> = BinaryHeap::new();
    let mut next_id = 0;
    let mut cold = 0;
    for (seq, a) in accesses.iter().enumerate() {
        while let Some(&Reverse((end, _, id, f))) = busy.peek() {
            if end > a.arrival {
                break;
            }
            busy.pop();
            tier.release(end, id, f);
        }
        let (id, service) = match tier.take(a.function) {
            Some(id) => (id, a.warm),
            None => {
                cold += 1;
                next_id += 1;
                (next_id - 1, a.cold)
            }
        };
        busy.push(Reverse((a.arrival + service, seq, id, a.function)));
    }
    cold
}
