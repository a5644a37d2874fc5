//! What became of one replayed invocation, and its record: the worker's
//! `X-Sock-Record` re-keyed to the trace (seq, arrival, function index and
//! name, so `sim compare` matches it with `sim --records`' record of the
//! same call) with the HTTP hop added to the `transport` phase.

use super::client::ClientError;
use super::response::Response;
use sock_core::record::{InvocationRecord, RECORD_SCHEMA};

/// The header every response the worker served carries.
pub const RECORD_HEADER: &str = "x-sock-record";

/// The trace's side of one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub seq: u64,
    pub arrival_us: u64,
    pub function: u32,
    /// The trace's name (the registry's may differ, see `from_trace`).
    pub function_name: String,
}

/// One invocation's end.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The worker served it (any status with a record: 200, a handler's
    /// 500, a 502/504 failure): its record, and the client's latency.
    Served {
        status: u16,
        record: InvocationRecord,
        client_us: u64,
    },
    /// 503 without a record: over capacity, dropped by the worker.
    Dropped { client_us: u64 },
    /// No record: another status, a connection error, a timeout, or a
    /// record that cannot be read. `class` keys the summary's error counts.
    Failed { class: String, why: String },
}

/// Classifies the client's result for `call`.
pub fn outcome(
    call: &Call,
    result: Result<(Response, std::time::Duration), ClientError>,
) -> Outcome {
    let (response, took) = match result {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed {
                class: e.class().to_string(),
                why: e.to_string(),
            }
        }
    };
    let client_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let Some(header) = response.header(RECORD_HEADER) else {
        if response.status == 503 {
            return Outcome::Dropped { client_us };
        }
        return Outcome::Failed {
            class: response.status.to_string(),
            why: format!(
                "status {} without {RECORD_HEADER}: {}",
                response.status,
                String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
            ),
        };
    };
    let bad = |why: String| Outcome::Failed {
        class: "bad_record".into(),
        why,
    };
    let worker: InvocationRecord = match serde_json::from_str(header) {
        Ok(r) => r,
        Err(e) => return bad(format!("{RECORD_HEADER} is not an invocation record: {e}")),
    };
    match merge(call, worker, client_us) {
        Ok(record) => Outcome::Served {
            status: response.status,
            record,
            client_us,
        },
        Err(why) => bad(why),
    }
}

/// The worker's record as the trace's: keyed by the trace's seq, arrival
/// and function; the hop (client latency minus the worker's, at least 0)
/// added to `transport` and to `latency_us`. The worker's phases must sum
/// to its latency (its contract), so the result's do too.
pub fn merge(
    call: &Call,
    worker: InvocationRecord,
    client_us: u64,
) -> Result<InvocationRecord, String> {
    let sum: u64 = worker
        .phases_us
        .values()
        .iter()
        .fold(0u64, |a, &v| a.saturating_add(v));
    if sum != worker.latency_us {
        return Err(format!(
            "the worker's phases sum to {sum} us, not its latency_us {}",
            worker.latency_us
        ));
    }
    let hop = client_us.saturating_sub(worker.latency_us);
    let mut r = worker;
    r.schema = RECORD_SCHEMA;
    r.seq = call.seq;
    r.arrival_us = call.arrival_us;
    r.function = call.function;
    r.function_name = call.function_name.clone();
    r.phases_us.transport = r.phases_us.transport.saturating_add(hop);
    r.latency_us = r.latency_us.saturating_add(hop);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_core::record::{PathKind, PhasesUs};

    fn worker_record() -> InvocationRecord {
        let phases = PhasesUs {
            create: 300,
            handler: 1000,
            transport: 50,
            ..PhasesUs::default()
        };
        InvocationRecord {
            schema: RECORD_SCHEMA,
            seq: 99,
            arrival_us: 123,
            function: 7,
            function_name: "registry-name".into(),
            instance: 4,
            path: PathKind::Fresh,
            zygote: None,
            zygote_depth: None,
            spare: false,
            imported: vec![],
            installed: vec![],
            phases_us: phases,
            latency_us: 1350,
        }
    }

    fn call() -> Call {
        Call {
            seq: 5,
            arrival_us: 2_000_000,
            function: 1,
            function_name: "trace-name".into(),
        }
    }

    #[test]
    fn the_hop_goes_to_transport_and_the_trace_keys_replace_the_workers() {
        let r = merge(&call(), worker_record(), 2000).expect("merge");
        assert_eq!((r.seq, r.arrival_us, r.function), (5, 2_000_000, 1));
        assert_eq!(r.function_name, "trace-name");
        assert_eq!(r.phases_us.transport, 50 + 650);
        assert_eq!(r.latency_us, 2000);
        assert_eq!(r.phases_us.values().iter().sum::<u64>(), r.latency_us);
        assert_eq!(r.instance, 4, "the worker's decision is kept");
        let r = merge(&call(), worker_record(), 1000).expect("merge");
        assert_eq!((r.phases_us.transport, r.latency_us), (50, 1350), "clamped");
    }

    #[test]
    fn a_record_whose_phases_do_not_sum_is_refused() {
        let mut w = worker_record();
        w.latency_us += 1;
        assert!(merge(&call(), w, 5000).expect_err("sum").contains("sum to"));
    }
}
