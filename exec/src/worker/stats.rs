//! The worker's counters (`GET /stats`, and the info-level log line):
//! calls by path and by status, latency percentiles by path, and memory
//! by tier, as the planner's model charges it and as the kernel counts it
//! for the worker's containers (their cgroups).

use sock_core::engine::EngineStats;
use sock_core::planner::TierUsage;
use sock_core::record::{InvocationRecord, PathKind};
use std::collections::BTreeMap;

/// Latencies kept per path for the percentiles (the most recent ones).
const KEEP: usize = 100_000;

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_path: BTreeMap<&'static str, u64>,
    /// Recent latencies (µs) by path, a ring of [`KEEP`].
    latencies: BTreeMap<&'static str, (Vec<u64>, usize)>,
    pub dropped: u64,
    pub usage: Option<TierUsage>,
    pub engine: EngineStats,
    /// Catalog builds after the first (registry changes picked up).
    pub reloads: u64,
}

fn path_name(p: PathKind) -> &'static str {
    p.as_str()
}

impl Stats {
    pub fn status(&mut self, status: u16) {
        self.requests += 1;
        *self.by_status.entry(status).or_default() += 1;
    }

    /// A call served (any status), with its record.
    pub fn served(&mut self, rec: &InvocationRecord) {
        let p = path_name(rec.path);
        *self.by_path.entry(p).or_default() += 1;
        let (ring, next) = self.latencies.entry(p).or_default();
        if ring.len() < KEEP {
            ring.push(rec.latency_us);
        } else {
            ring[*next] = rec.latency_us;
            *next = (*next + 1) % KEEP;
        }
    }

    fn percentiles(v: &[u64]) -> serde_json::Value {
        let mut s = v.to_vec();
        s.sort_unstable();
        let q = |q| sock_core::quantile::nearest_rank(&s, q).map_or(0.0, |us| us as f64 / 1e3);
        serde_json::json!({ "count": s.len(), "p50": q(0.5), "p95": q(0.95), "p99": q(0.99) })
    }

    /// The `GET /stats` body; `cgroup_mb` is what the kernel charges the
    /// worker's containers now, when it can be read.
    pub fn json(&self, in_flight: usize, cgroup_mb: Option<f64>) -> serde_json::Value {
        let mb = |b: sock_core::Bytes| b.0 as f64 / (1u64 << 20) as f64;
        let memory = self.usage.map(|u| {
            serde_json::json!({
                "handler_idle": mb(u.handler_idle),
                "handler_busy": mb(u.handler_busy),
                "zygote": mb(u.zygote),
                "install_disk": mb(u.install),
            })
        });
        let latency: BTreeMap<&str, serde_json::Value> = self
            .latencies
            .iter()
            .map(|(p, (v, _))| (*p, Self::percentiles(v)))
            .collect();
        serde_json::json!({
            "requests": self.requests,
            "status": self.by_status.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "paths": self.by_path,
            "latency_ms": latency,
            "dropped": self.dropped,
            "in_flight": in_flight,
            "queued_total": self.engine.queued,
            "queue_peak": self.engine.queue_peak,
            "running_peak": self.engine.running_peak,
            "memory_mb_model": memory,
            "memory_mb_cgroups": cgroup_mb,
            "reloads": self.reloads,
        })
    }

    /// One line for the info log.
    pub fn line(&self) -> String {
        let paths: Vec<String> = self
            .by_path
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        format!(
            "{} requests ({}), {} dropped",
            self.requests,
            paths.join(", "),
            self.dropped
        )
    }
}
