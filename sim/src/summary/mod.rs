//! The replay summary: one serializable struct, printed as a readable
//! table or as JSON (`--format json`). Key order is fixed, so the same
//! inputs give byte-identical output.

use crate::histogram::Histogram;
use crate::stats::{mb, Stats, TimeWeighted};
use serde::Serialize;
use sock_core::config::TierConfig;
use sock_core::record::PathKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod worker;

use sock_core::worker::WorkerConfig;
pub use worker::WorkerSummary;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub trace: TraceInfo,
    pub worker: WorkerSummary,
    pub tiers: TierConfig,
    pub invocations: u64,
    pub paths: Paths,
    pub latency_ms: Latency,
    /// Latency without the handler's own run time: what provisioning costs.
    pub startup_ms: Latency,
    /// Mean time per phase over all invocations (ms).
    pub phases_mean_ms: PhasesMs,
    pub install_cache: InstallStats,
    pub memory_mb: Memory,
    pub evictions: Evictions,
    pub zygotes: ZygoteStats,
    /// Pre-warming and idle-time histograms (the hybrid policy); absent
    /// for the other policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prewarm: Option<PrewarmStats>,
}

/// What the Hybrid Histogram policy did.
#[derive(Debug, Serialize)]
pub struct PrewarmStats {
    pub made: u64,
    /// No free worker memory or handler budget at the pre-warm's time.
    pub skipped: u64,
    /// A call came first, or a newer request replaced it.
    pub cancelled: u64,
    pub idle_times: u64,
    /// Idle times beyond the histogram's range (no ARIMA: fallback).
    pub out_of_bounds: u64,
    /// Releases whose windows came from the histogram, or the fallback.
    pub from_histogram: u64,
    pub fallbacks: u64,
}

#[derive(Debug, Serialize)]
pub struct TraceInfo {
    pub path: String,
    pub packages: usize,
    pub functions: usize,
    /// Virtual time from the first arrival to the last completion (s).
    pub span_s: f64,
}

#[derive(Debug, Serialize)]
pub struct PathShare {
    pub count: u64,
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct Paths {
    pub handler_hit: PathShare,
    pub zygote_hit: PathShare,
    /// Zygote hits by the depth of the Zygote forked (root = "0").
    pub zygote_hit_by_depth: BTreeMap<String, PathShare>,
    pub fresh: PathShare,
}

#[derive(Debug, Serialize, Default)]
pub struct LatencyStats {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
    pub by_path: BTreeMap<&'static str, LatencyStats>,
}

/// Mean time per phase (ms), in the order of [`sock_core::phases::NAMES`].
pub type PhasesMs = sock_core::phases::ByPhase<f64>;

fn phases_mean_ms(sums: [u128; 8], n: u64) -> PhasesMs {
    PhasesMs::from_values(sums.map(|s| {
        if n == 0 {
            0.0
        } else {
            round3(s as f64 / n as f64 / 1000.0)
        }
    }))
}

#[derive(Debug, Serialize)]
pub struct InstallStats {
    pub hits: u64,
    pub misses: u64,
    /// Installed for one container but not kept (did not fit the budget).
    pub uncached: u64,
    pub packages_at_end: usize,
}

#[derive(Debug, Serialize)]
pub struct PeakMean {
    pub peak: f64,
    pub mean: f64,
}

/// Per tier; `install` is disk, the rest memory. `handler_busy` is the
/// memory of running instances, which no budget bounds.
#[derive(Debug, Serialize)]
pub struct Memory {
    pub handler: PeakMean,
    pub handler_busy: PeakMean,
    pub zygote: PeakMean,
    pub install: PeakMean,
}

#[derive(Debug, Serialize)]
pub struct Evictions {
    pub handler: u64,
    pub handler_expired: u64,
    pub zygote: u64,
    pub install: u64,
}

#[derive(Debug, Serialize)]
pub struct ZygoteStats {
    pub created: u64,
    pub live_at_end: usize,
}

impl LatencyStats {
    fn new(h: &Histogram) -> LatencyStats {
        LatencyStats {
            count: h.count(),
            p50: ms(h.percentile(50.0)),
            p95: ms(h.percentile(95.0)),
            p99: ms(h.percentile(99.0)),
            mean: round3(h.mean() / 1000.0),
            max: ms(h.max()),
        }
    }
}

impl Latency {
    fn new(all: &Histogram, by_path: &BTreeMap<PathKind, Histogram>) -> Latency {
        let a = LatencyStats::new(all);
        Latency {
            p50: a.p50,
            p95: a.p95,
            p99: a.p99,
            mean: a.mean,
            max: a.max,
            by_path: by_path
                .iter()
                .map(|(p, h)| (p.as_str(), LatencyStats::new(h)))
                .collect(),
        }
    }
}

fn ms(us: u64) -> f64 {
    round3(us as f64 / 1000.0)
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn share(count: u64, total: u64) -> PathShare {
    let share = if total == 0 {
        0.0
    } else {
        round3(count as f64 / total as f64 * 100.0) / 100.0
    };
    PathShare { count, share }
}

pub(crate) fn peak_mean(t: &TimeWeighted, span: u64) -> PeakMean {
    PeakMean {
        peak: round3(mb(t.peak)),
        mean: round3(mb(t.mean(span) as u64)),
    }
}

impl Summary {
    pub fn new(
        stats: &Stats,
        trace: TraceInfo,
        worker: WorkerConfig,
        tiers: TierConfig,
    ) -> Summary {
        let n = stats.invocations();
        let count = |p: PathKind| stats.by_path.get(&p).map_or(0, |h| h.count());
        let span = stats.span().0;
        let c = &stats.counters;
        Summary {
            trace: TraceInfo {
                span_s: round3(span as f64 / 1e6),
                ..trace
            },
            worker: WorkerSummary::new(stats, worker),
            tiers,
            invocations: n,
            paths: Paths {
                handler_hit: share(count(PathKind::HandlerHit), n),
                zygote_hit: share(count(PathKind::ZygoteHit), n),
                zygote_hit_by_depth: stats
                    .by_depth
                    .iter()
                    .map(|(d, &k)| (d.to_string(), share(k, n)))
                    .collect(),
                fresh: share(count(PathKind::Fresh), n),
            },
            latency_ms: Latency::new(&stats.all, &stats.by_path),
            startup_ms: Latency::new(&stats.startup, &stats.startup_by_path),
            phases_mean_ms: phases_mean_ms(stats.phase_sums, n),
            install_cache: InstallStats {
                hits: c.install_hits,
                misses: c.install_misses,
                uncached: c.install_uncached,
                packages_at_end: stats.installed_at_end,
            },
            memory_mb: Memory {
                handler: peak_mean(&stats.usage.handler_idle, span),
                handler_busy: peak_mean(&stats.usage.handler_busy, span),
                zygote: peak_mean(&stats.usage.zygote, span),
                install: peak_mean(&stats.usage.install, span),
            },
            evictions: Evictions {
                handler: c.handler_evictions,
                handler_expired: c.handler_expirations,
                zygote: c.zygote_evictions,
                install: c.package_evictions,
            },
            zygotes: ZygoteStats {
                created: c.zygotes_created,
                live_at_end: stats.zygotes_live_at_end,
            },
            prewarm: (c.policy.idle_times + c.prewarms + c.prewarms_skipped > 0).then_some(
                PrewarmStats {
                    made: c.prewarms,
                    skipped: c.prewarms_skipped,
                    cancelled: c.prewarms_cancelled,
                    idle_times: c.policy.idle_times,
                    out_of_bounds: c.policy.out_of_bounds,
                    from_histogram: c.policy.from_histogram,
                    fallbacks: c.policy.fallbacks,
                },
            ),
        }
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let t = &self.trace;
        let _ = writeln!(
            s,
            "trace      {} ({} packages, {} functions, {:.1} s simulated)",
            t.path, t.packages, t.functions, t.span_s
        );
        let _ = writeln!(s, "worker     {}", self.worker.config.describe());
        let _ = writeln!(s, "tiers      {}", tiers_line(&self.tiers));
        let _ = writeln!(s, "invocations {}\n", self.invocations);
        let _ = writeln!(
            s,
            "{:<16}{:>10}{:>8}{:>10}{:>10}{:>10}{:>10}",
            "path", "count", "share", "p50 ms", "p95 ms", "p99 ms", "mean ms"
        );
        let rows = [
            ("handler_hit", &self.paths.handler_hit),
            ("zygote_hit", &self.paths.zygote_hit),
            ("fresh", &self.paths.fresh),
        ];
        for (name, share) in rows {
            let l = self.latency_ms.by_path.get(name);
            let _ = writeln!(s, "{}", row(name, share, l));
            if name == "zygote_hit" {
                for (d, sh) in &self.paths.zygote_hit_by_depth {
                    let _ = writeln!(
                        s,
                        "{:<16}{:>10}{:>7.1}%",
                        format!("  depth {d}"),
                        sh.count,
                        sh.share * 100.0
                    );
                }
            }
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "{:<16}{:>10}{:>7.1}% {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n",
            "all", self.invocations, 100.0, l.p50, l.p95, l.p99, l.mean
        );
        let st = &self.startup_ms;
        let _ = writeln!(s, "startup ms     (latency without the handler run) p50 {:.2}  p95 {:.2}  p99 {:.2}  mean {:.2}", st.p50, st.p95, st.p99, st.mean);
        let phases: Vec<String> = self
            .phases_mean_ms
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        let _ = writeln!(s, "mean phase ms  {}", phases.join("  "));
        let ic = &self.install_cache;
        let _ = writeln!(
            s,
            "install cache  hits {}  misses {}  uncached {}  packages at end {}",
            ic.hits, ic.misses, ic.uncached, ic.packages_at_end
        );
        let m = &self.memory_mb;
        let _ = writeln!(s, "memory MB      peak / mean");
        for (name, pm) in [
            ("worker", &self.worker.memory_mb),
            ("handler (idle)", &m.handler),
            ("handler (busy)", &m.handler_busy),
            ("zygote tree", &m.zygote),
            ("install (disk)", &m.install),
        ] {
            let _ = writeln!(s, "  {:<14}{:>10.1} / {:.1}", name, pm.peak, pm.mean);
        }
        self.worker.write_text(&mut s);
        let e = &self.evictions;
        let _ = writeln!(
            s,
            "evictions      handler {} (+{} expired)  zygote {}  install {}",
            e.handler, e.handler_expired, e.zygote, e.install
        );
        let _ = writeln!(
            s,
            "zygotes        created {}  live at end {}",
            self.zygotes.created, self.zygotes.live_at_end
        );
        if let Some(p) = &self.prewarm {
            let _ = writeln!(
                s,
                "pre-warms      made {}  skipped {} (no room)  cancelled {}; idle times {} ({} out of bounds); windows from histogram {}  fallback {}",
                p.made, p.skipped, p.cancelled, p.idle_times, p.out_of_bounds, p.from_histogram, p.fallbacks
            );
        }
        s
    }
}

fn row(name: &str, share: &PathShare, l: Option<&LatencyStats>) -> String {
    let d = LatencyStats::default();
    let l = l.unwrap_or(&d);
    format!(
        "{:<16}{:>10}{:>7.1}% {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        name,
        share.count,
        share.share * 100.0,
        l.p50,
        l.p95,
        l.p99,
        l.mean
    )
}

fn tiers_line(t: &TierConfig) -> String {
    let policy = t.handler.policy.describe();
    let policy = match t.handler.keepalive_from {
        sock_core::handler_cache::KeepaliveFrom::End => policy,
        sock_core::handler_cache::KeepaliveFrom::Start => format!("{policy} from call start"),
    };
    format!(
        "handler {} MB {} | zygote {} {} MB | install {} MB",
        t.handler.budget_mb,
        policy,
        format!("{:?}", t.zygote.mode).to_lowercase(),
        t.zygote.budget_mb,
        t.install.budget_mb
    )
}
