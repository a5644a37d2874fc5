//! The summary `sock-exec load` prints: counts by outcome, throughput and
//! the client-measured latency of the invocations the worker served.

use super::outcome::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;

/// Client-measured latency quantiles (nearest rank), in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoadSummary {
    pub url: String,
    /// Requests sent (one per replayed invocation).
    pub sent: u64,
    /// Status 200 with a record.
    pub ok: u64,
    /// Records written (every served invocation, whatever its status).
    pub records: u64,
    /// 503 without a record: dropped by the worker (over capacity).
    pub dropped: u64,
    /// Everything else, by status (`"500"`) or failure (`"timeout"`,
    /// `"connect"`, `"closed"`, `"io"`, `"bad_response"`, `"bad_record"`).
    pub errors: BTreeMap<String, u64>,
    /// The first message of each error class.
    pub first_error: BTreeMap<String, String>,
    /// Requests sent over 1 ms after their trace time (the concurrency
    /// cap, or a busy client host).
    pub late: u64,
    /// Requests that found every slot busy at their time and waited for
    /// one (in this client: their records do not count that wait).
    pub late_at_cap: u64,
    pub max_late_ms: f64,
    pub wall_s: f64,
    /// Finished invocations (served, dropped or failed) per wall second.
    pub throughput_per_s: f64,
    /// Served invocations (records), from the request's first byte
    /// written to the response's last byte read.
    pub latency: Latency,
    /// Set when SIGINT/SIGTERM stopped the replay early.
    pub interrupted: Option<String>,
    #[serde(skip)]
    latencies_us: Vec<u64>,
}

impl LoadSummary {
    pub fn new(url: &str) -> LoadSummary {
        LoadSummary {
            url: url.to_string(),
            ..LoadSummary::default()
        }
    }

    /// Counts one finished invocation.
    pub fn observe(&mut self, o: &Outcome) {
        match o {
            Outcome::Served {
                status, client_us, ..
            } => {
                self.records += 1;
                if *status == 200 {
                    self.ok += 1;
                } else {
                    self.error(&status.to_string(), &format!("status {status}"));
                }
                self.latencies_us.push(*client_us);
            }
            Outcome::Dropped { .. } => self.dropped += 1,
            Outcome::Failed { class, why } => self.error(class, why),
        }
    }

    fn error(&mut self, class: &str, why: &str) {
        *self.errors.entry(class.to_string()).or_default() += 1;
        self.first_error
            .entry(class.to_string())
            .or_insert_with(|| why.to_string());
    }

    /// Invocations finished so far (served, dropped or failed).
    pub fn finished(&self) -> u64 {
        self.records + self.dropped + self.failed_without_record()
    }

    /// Fills in the derived fields once the replay is over.
    pub fn finish(&mut self, wall_s: f64) {
        self.wall_s = wall_s;
        self.throughput_per_s = if wall_s > 0.0 {
            self.finished() as f64 / wall_s
        } else {
            0.0
        };
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let q = |q: f64| sock_core::quantile::nearest_rank(&l, q).map(|us| us as f64 / 1e3);
        self.latency = Latency {
            n: l.len(),
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: q(1.0),
        };
    }

    /// Errors that wrote no record (served non-200s are in `records`).
    fn failed_without_record(&self) -> u64 {
        let served_errors = self.records - self.ok;
        self.errors.values().sum::<u64>() - served_errors
    }

    /// The text summary.
    pub fn render(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let mut s = format!(
            "load      {}\nsent      {}\nok        {}\nrecords   {} (served invocations, any status)\ndropped   {} (503: over capacity)\n",
            self.url, self.sent, self.ok, self.records, self.dropped
        );
        let errors: u64 = self.errors.values().sum();
        s += &format!("errors    {errors}\n");
        for (class, n) in &self.errors {
            let first = self.first_error.get(class).map_or("", String::as_str);
            s += &format!("  {class:<12} {n:>8}  first: {first}\n");
        }
        s += &format!(
            "late      {} (sent > 1 ms behind the trace; max {:.1} ms; {} waited for a slot)\nwall      {:.2} s, {:.1} finished/s\n",
            self.late, self.max_late_ms, self.late_at_cap, self.wall_s, self.throughput_per_s
        );
        s += &format!(
            "latency   p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (client-measured, {} served)\n",
            ms(self.latency.p50_ms),
            ms(self.latency.p95_ms),
            ms(self.latency.p99_ms),
            ms(self.latency.max_ms),
            self.latency.n
        );
        if self.late_at_cap > 0 {
            s += "note      calls that waited for a slot waited in this client, not in the worker:\n          \
                  their records do not count that wait (raise --concurrency-cap or lower --speedup)\n";
        }
        if let Some(why) = &self.interrupted {
            s += &format!("stopped   {why}\n");
        }
        s
    }
}
