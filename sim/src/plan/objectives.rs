//! Service-level objectives: `METRIC<=VALUE` (or `<`), each metric one
//! column of the flattened summary (`sim --format json`, a `sim sweep`
//! row) and the replay measurements its single-trace bound needs.

use crate::stats::Stats;
use std::fmt;

/// Which latency histogram a quantile objective reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Histo {
    /// Latency without the handler's run: what provisioning costs.
    Startup,
    /// The whole latency.
    Latency,
}

/// What a metric is, which decides its single-trace bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A quantile (in (0, 1)) of a per-invocation latency, in ms.
    Quantile(Histo, f64),
    /// A quantile of the per-function cold-start shares, in %.
    FunctionQuantile(f64),
    /// A share of calls, in %: x of n (see [`Metric::counts`]).
    Share(Share),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// Cold starts over calls served.
    Cold,
    /// Dropped calls over arrivals.
    Dropped,
    /// Calls that waited (for a core or memory) over arrivals.
    Queued,
}

/// One metric: its objective name, its summary column, its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    /// The flattened summary column (a `sim sweep` CSV header).
    pub column: &'static str,
    pub kind: Kind,
}

use Histo::{Latency, Startup};
use Kind::{FunctionQuantile as Fq, Quantile as Q, Share as S};

/// Every metric an objective can name.
pub const METRICS: [Metric; 12] = [
    m("p50_startup_ms", "startup_ms.p50", Q(Startup, 0.50)),
    m("p95_startup_ms", "startup_ms.p95", Q(Startup, 0.95)),
    m("p99_startup_ms", "startup_ms.p99", Q(Startup, 0.99)),
    m("p50_latency_ms", "latency_ms.p50", Q(Latency, 0.50)),
    m("p95_latency_ms", "latency_ms.p95", Q(Latency, 0.95)),
    m("p99_latency_ms", "latency_ms.p99", Q(Latency, 0.99)),
    m("cold_pct", "worker.cold_pct", S(Share::Cold)),
    m(
        "p50_function_cold_pct",
        "worker.cold_pct_per_function.p50",
        Fq(0.50),
    ),
    m(
        "p75_function_cold_pct",
        "worker.cold_pct_per_function.p75",
        Fq(0.75),
    ),
    m(
        "p90_function_cold_pct",
        "worker.cold_pct_per_function.p90",
        Fq(0.90),
    ),
    m("drop_pct", "worker.dropped.pct", S(Share::Dropped)),
    // The summary has the count (`worker.queued`), not the share.
    m("queue_pct", "worker.queued", S(Share::Queued)),
];

const fn m(name: &'static str, column: &'static str, kind: Kind) -> Metric {
    Metric { name, column, kind }
}

impl Metric {
    /// (x, n) of a share metric: how many of how many calls.
    pub fn counts(share: Share, stats: &Stats) -> (u64, u64) {
        let served = stats.invocations();
        let arrivals = served + stats.engine.dropped();
        match share {
            Share::Cold => (stats.per_function.iter().map(|f| f.cold).sum(), served),
            Share::Dropped => (stats.engine.dropped(), arrivals),
            Share::Queued => (stats.engine.queued, arrivals),
        }
    }

    /// The metric's value in one replay: its summary column (the number
    /// `sim` prints), except the queue share, computed from its count.
    pub fn value(&self, columns: &[(String, String)], stats: &Stats) -> Result<f64, String> {
        if let Kind::Share(Share::Queued) = self.kind {
            let (x, n) = Metric::counts(Share::Queued, stats);
            return Ok(if n == 0 {
                0.0
            } else {
                100.0 * x as f64 / n as f64
            });
        }
        let cell = columns
            .iter()
            .find(|(c, _)| c == self.column)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("the summary has no column {}", self.column))?;
        cell.parse()
            .map_err(|_| format!("summary column {} is {cell:?}, not a number", self.column))
    }
}

/// `<=` or `<`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    AtMost,
    Below,
}

/// One objective: the metric's upper bound must be at most (or below)
/// the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    pub metric: Metric,
    pub cmp: Cmp,
    pub target: f64,
}

impl Objective {
    pub fn met_by(&self, value: f64) -> bool {
        match self.cmp {
            Cmp::AtMost => value <= self.target,
            Cmp::Below => value < self.target,
        }
    }

    /// How far `value` misses: 0 when met, else the excess relative to the
    /// target (absolute when the target is 0), to rank failing candidates.
    pub fn miss(&self, value: f64) -> f64 {
        if self.met_by(value) {
            0.0
        } else if self.target == 0.0 {
            value.abs().max(f64::MIN_POSITIVE)
        } else {
            (value - self.target) / self.target.abs()
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.cmp {
            Cmp::AtMost => "<=",
            Cmp::Below => "<",
        };
        write!(f, "{}{op}{}", self.metric.name, self.target)
    }
}

/// The known metric names, for errors.
pub fn known() -> String {
    METRICS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::str::FromStr for Objective {
    type Err = String;

    /// `p99_startup_ms<=50`, `cold_pct < 1`.
    fn from_str(s: &str) -> Result<Objective, String> {
        let (name, cmp, value) = if let Some((a, b)) = s.split_once("<=") {
            (a, Cmp::AtMost, b)
        } else if let Some((a, b)) = s.split_once('<') {
            (a, Cmp::Below, b)
        } else {
            return Err(format!(
                "{s:?}: expected METRIC<=VALUE or METRIC<VALUE, e.g. p99_startup_ms<=50"
            ));
        };
        let name = name.trim();
        let metric = METRICS
            .iter()
            .find(|m| m.name == name)
            .copied()
            .ok_or_else(|| {
                format!(
                    "{s:?}: unknown metric {name:?}; the metrics are {}",
                    known()
                )
            })?;
        let target: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!(
                    "{s:?}: the target {:?} is not a finite number >= 0",
                    value.trim()
                )
            })?;
        Ok(Objective {
            metric,
            cmp,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_and_bad_ones_are_named() {
        let o: Objective = "p99_startup_ms<=50".parse().expect("parse");
        assert_eq!(
            (o.metric.column, o.cmp, o.target),
            ("startup_ms.p99", Cmp::AtMost, 50.0)
        );
        let o: Objective = " cold_pct < 1.5 ".parse().expect("parse");
        assert_eq!(
            (o.metric.name, o.cmp, o.target),
            ("cold_pct", Cmp::Below, 1.5)
        );
        assert!(o.met_by(1.0) && !o.met_by(1.5));
        assert_eq!(o.to_string(), "cold_pct<1.5");
        for (s, want) in [
            ("p99_startup_ms=50", "expected METRIC<=VALUE"),
            (
                "p98_startup_ms<=50",
                "unknown metric \"p98_startup_ms\"; the metrics are p50_startup_ms",
            ),
            ("cold_pct<=x", "not a finite number"),
            ("cold_pct<=-1", "not a finite number"),
        ] {
            let e = s.parse::<Objective>().expect_err(s);
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
