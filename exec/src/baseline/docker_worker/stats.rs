//! `/stats` of the Docker worker: calls per path (cold, warm) and per
//! function, failures, and latency medians (call start to the handler's
//! answer, as the worker sees it; HTTP parsing and writing excluded).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Which path served a call (the `X-Sock-Path` header's value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// A container started for this call.
    Cold,
    /// An idle container reused (unpaused first if paused).
    Warm,
}

impl Path {
    pub fn header(self) -> &'static str {
        match self {
            Path::Cold => "docker_cold",
            Path::Warm => "docker_warm",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    ok: u64,
    failed: u64,
    /// Latencies of successful calls, milliseconds.
    ms: Vec<f64>,
}

/// Thread-safe call statistics.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<BTreeMap<(String, Path), Counts>>,
}

/// The median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Stats {
    pub fn record(&self, function: &str, path: Path, took: Duration, ok: bool) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let c = m.entry((function.to_string(), path)).or_default();
        if ok {
            c.ok += 1;
            c.ms.push(took.as_secs_f64() * 1e3);
        } else {
            c.failed += 1;
        }
    }

    /// `{"cold": n, "warm": n, "failed": n, "cold_median_ms": x,
    /// "warm_median_ms": x, "functions": {f: {same, per function}}}`.
    pub fn json(&self) -> serde_json::Value {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let summarize = |rows: Vec<(&Path, &Counts)>| {
            let mut out = serde_json::Map::new();
            let mut failed = 0;
            for p in [Path::Cold, Path::Warm] {
                let name = if p == Path::Cold { "cold" } else { "warm" };
                let mut ms: Vec<f64> = Vec::new();
                let mut ok = 0;
                for (_, c) in rows.iter().filter(|(q, _)| **q == p) {
                    ok += c.ok;
                    failed += c.failed;
                    ms.extend_from_slice(&c.ms);
                }
                out.insert(name.into(), ok.into());
                let med = (median(&mut ms) * 1000.0).round() / 1000.0;
                out.insert(format!("{name}_median_ms"), med.into());
            }
            out.insert("failed".into(), failed.into());
            serde_json::Value::Object(out)
        };
        let mut functions = serde_json::Map::new();
        let names: std::collections::BTreeSet<&String> = m.keys().map(|(f, _)| f).collect();
        for f in names {
            let rows = m
                .iter()
                .filter(|((g, _), _)| g == f)
                .map(|((_, p), c)| (p, c));
            functions.insert(f.clone(), summarize(rows.collect()));
        }
        let mut all = summarize(m.iter().map(|((_, p), c)| (p, c)).collect());
        if let serde_json::Value::Object(o) = &mut all {
            o.insert("functions".into(), functions.into());
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_medians_per_path_and_function() {
        let s = Stats::default();
        let ms = Duration::from_millis;
        s.record("a", Path::Cold, ms(500), true);
        s.record("a", Path::Warm, ms(2), true);
        s.record("a", Path::Warm, ms(4), true);
        s.record("b", Path::Warm, ms(10), true);
        s.record("b", Path::Cold, ms(1), false);
        let j = s.json();
        assert_eq!((j["cold"].as_u64(), j["warm"].as_u64()), (Some(1), Some(3)));
        assert_eq!(j["failed"].as_u64(), Some(1));
        assert_eq!(j["warm_median_ms"].as_f64(), Some(4.0));
        assert_eq!(j["functions"]["a"]["warm_median_ms"].as_f64(), Some(3.0));
        assert_eq!(j["functions"]["b"]["failed"].as_u64(), Some(1));
        assert_eq!(Path::Warm.header(), "docker_warm");
    }
}
