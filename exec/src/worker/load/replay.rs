//! The replay loop of `sock-exec load`: the calling thread paces the
//! trace and writes records in `seq` order; a fixed pool of client
//! threads (the concurrency cap) sends the requests.

use super::outcome::{self, Call, Outcome};
use super::{Client, LoadError, LoadOptions, LoadSummary};
use sock_core::record::InvocationRecord;
use sock_core::trace::{Catalog, Invocation, TraceError};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the pacing loop looks at finished calls and the stop flag.
const TICK: Duration = Duration::from_millis(20);

/// A request for a client thread.
struct Job {
    call: Call,
    path: String,
    body: Vec<u8>,
}

/// A finished call.
struct Done {
    call: Call,
    outcome: Outcome,
}

/// The client threads and the count of calls they hold.
struct Pool {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    threads: Vec<JoinHandle<()>>,
    in_flight: usize,
}

impl Pool {
    fn start(opts: &LoadOptions) -> Result<Pool, LoadError> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done) = mpsc::channel();
        let mut pool = Pool {
            jobs: Some(jobs),
            done,
            threads: Vec::new(),
            in_flight: 0,
        };
        for i in 0..opts.concurrency.max(1) {
            let (rx, tx) = (job_rx.clone(), done_tx.clone());
            let client = Client::new(opts.target.clone(), opts.timeout);
            let t = std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || client_thread(client, rx, tx));
            match t {
                Ok(t) => pool.threads.push(t),
                Err(e) => {
                    pool.close();
                    return Err(LoadError::Thread(e));
                }
            }
        }
        Ok(pool)
    }

    fn send(&mut self, job: Job) {
        if let Some(jobs) = &self.jobs {
            if jobs.send(job).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    /// A finished call, waiting at most `wait`.
    fn next(&mut self, wait: Duration) -> Option<Done> {
        match self.done.recv_timeout(wait) {
            Ok(d) => {
                self.in_flight -= 1;
                Some(d)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                // Every client thread is gone (cannot happen while `jobs`
                // lives unless one panicked): nothing more will finish.
                self.in_flight = 0;
                std::thread::sleep(wait);
                None
            }
        }
    }

    /// Ends the threads (they finish the job in hand first).
    fn close(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn client_thread(mut client: Client, jobs: Arc<Mutex<Receiver<Job>>>, done: Sender<Done>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = client.post(&job.path, &job.body);
        let outcome = outcome::outcome(&job.call, result);
        if done
            .send(Done {
                call: job.call,
                outcome,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Records in `seq` order: a finished call waits here until every
/// earlier one has finished (a failed call leaves a gap, no record).
struct Ordered<'w> {
    out: Option<&'w mut dyn Write>,
    next: u64,
    ready: BTreeMap<u64, Option<InvocationRecord>>,
}

impl Ordered<'_> {
    fn put(&mut self, seq: u64, record: Option<InvocationRecord>) -> std::io::Result<()> {
        self.ready.insert(seq, record);
        while let Some(record) = self.ready.remove(&self.next) {
            if let (Some(out), Some(r)) = (self.out.as_deref_mut(), record) {
                serde_json::to_writer(&mut *out, &r)?;
                out.write_all(b"\n")?;
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Writes what is left, gaps or not (a call that never finished).
    fn finish(&mut self) -> std::io::Result<()> {
        while let Some(&seq) = self.ready.keys().next() {
            self.next = seq;
            let record = self.ready.remove(&seq).flatten();
            self.put(seq, record)?;
        }
        Ok(())
    }
}

/// The state of one replay.
struct State<'w, 's> {
    pool: Pool,
    records: Ordered<'w>,
    summary: LoadSummary,
    start: Instant,
    last_progress: Instant,
    progress_every: Option<Duration>,
    stop: &'s dyn Fn() -> Option<String>,
    failure: Option<LoadError>,
    /// The call being paced found every slot busy at its time.
    capped: bool,
}

impl State<'_, '_> {
    fn absorb(&mut self, done: Done) {
        self.summary.observe(&done.outcome);
        let record = match done.outcome {
            Outcome::Served { record, .. } => Some(record),
            _ => None,
        };
        if let Err(e) = self.records.put(done.call.seq, record) {
            self.failure.get_or_insert(LoadError::Records(e));
        }
    }

    /// Waits up to `wait` for a finished call; prints progress when due.
    fn tick(&mut self, wait: Duration) {
        if let Some(done) = self.pool.next(wait) {
            self.absorb(done);
            while let Some(done) = self.pool.next(Duration::ZERO) {
                self.absorb(done);
            }
        }
        if let Some(every) = self.progress_every {
            if self.last_progress.elapsed() >= every {
                self.last_progress = Instant::now();
                let s = &self.summary;
                eprintln!(
                    "load: {:.0} s: sent {}, served {}, dropped {}, errors {}, in flight {}",
                    self.start.elapsed().as_secs_f64(),
                    s.sent,
                    s.records,
                    s.dropped,
                    s.finished() - s.records - s.dropped,
                    self.pool.in_flight
                );
            }
        }
    }

    /// Whether to stop dispatching (a stop request or a failure).
    fn stopping(&mut self) -> bool {
        if self.summary.interrupted.is_none() {
            self.summary.interrupted = (self.stop)();
        }
        self.summary.interrupted.is_some() || self.failure.is_some()
    }

    /// Waits until `due` (`None`: never) with a free slot; false when
    /// stopping instead.
    fn wait_to_send(&mut self, due: Option<Instant>, cap: usize) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            let until_due = match due {
                Some(d) => d.saturating_duration_since(now),
                None => TICK,
            };
            if due.is_some() && until_due.is_zero() {
                if self.pool.in_flight < cap {
                    return true;
                }
                self.capped = true;
            }
            self.tick(if until_due.is_zero() {
                TICK
            } else {
                until_due.min(TICK)
            });
        }
    }
}

/// The call of invocation `seq` and its request.
fn job(catalog: &Catalog, names: &[String], seq: u64, inv: &Invocation) -> Result<Job, LoadError> {
    let count = catalog.function_count();
    let i = inv.function.0 as usize;
    let (Some(name), true) = (names.get(i), i < count) else {
        return Err(LoadError::Function {
            seq,
            function: inv.function.0,
            count,
        });
    };
    let func = catalog.function(inv.function);
    let duration_s = match inv.duration {
        Some(d) => d.0 as f64 / 1e6,
        None => func.duration_ms / 1000.0,
    };
    Ok(Job {
        call: Call {
            seq,
            arrival_us: inv.time.0,
            function: inv.function.0,
            function_name: func.name.clone(),
        },
        path: format!("/run/{name}"),
        body: serde_json::json!({ "duration_s": duration_s })
            .to_string()
            .into_bytes(),
    })
}

/// Replays `invocations` of `catalog` (function `i` served as `names[i]`)
/// against `opts.target`, writing records to `records`; `stop` says why
/// to stop early (checked every 20 ms). See the module doc.
pub fn replay<I>(
    catalog: &Catalog,
    names: &[String],
    invocations: I,
    opts: &LoadOptions,
    records: Option<&mut dyn Write>,
    stop: &dyn Fn() -> Option<String>,
) -> Result<LoadSummary, LoadError>
where
    I: Iterator<Item = Result<Invocation, TraceError>>,
{
    let start = Instant::now();
    let mut st = State {
        pool: Pool::start(opts)?,
        records: Ordered {
            out: records,
            next: 0,
            ready: BTreeMap::new(),
        },
        summary: LoadSummary::new(&opts.url),
        start,
        last_progress: start,
        progress_every: opts.progress_every,
        stop,
        failure: None,
        capped: false,
    };
    let cap = opts.concurrency.max(1);
    for (seq, inv) in invocations.enumerate() {
        let seq = seq as u64;
        if opts.limit.is_some_and(|l| seq >= l) {
            break;
        }
        let job = match inv
            .map_err(LoadError::from)
            .and_then(|i| job(catalog, names, seq, &i))
        {
            Ok(j) => j,
            Err(e) => {
                st.failure.get_or_insert(e);
                break;
            }
        };
        let offset = Duration::try_from_secs_f64(job.call.arrival_us as f64 / 1e6 / opts.speedup);
        let due = offset.ok().and_then(|d| start.checked_add(d));
        st.capped = false;
        if !st.wait_to_send(due, cap) {
            break;
        }
        st.summary.late_at_cap += st.capped as u64;
        if let Some(late) = due.map(|d| d.elapsed()) {
            if late > Duration::from_millis(1) {
                st.summary.late += 1;
                st.summary.max_late_ms = st.summary.max_late_ms.max(late.as_secs_f64() * 1e3);
            }
        }
        st.pool.send(job);
        st.summary.sent += 1;
    }
    // Calls in flight end within their timeout, stop request or not.
    while st.pool.in_flight > 0 {
        st.tick(TICK);
    }
    st.pool.close();
    if let Err(e) = st.records.finish() {
        st.failure.get_or_insert(LoadError::Records(e));
    }
    if let Some(out) = st.records.out.as_deref_mut() {
        if let Err(e) = out.flush() {
            st.failure.get_or_insert(LoadError::Records(e));
        }
    }
    if let Some(e) = st.failure {
        return Err(e);
    }
    st.summary.finish(start.elapsed().as_secs_f64());
    Ok(st.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_core::record::{PathKind, PhasesUs, RECORD_SCHEMA};

    fn record(seq: u64) -> InvocationRecord {
        InvocationRecord {
            schema: RECORD_SCHEMA,
            seq,
            arrival_us: seq,
            function: 0,
            function_name: "f".into(),
            instance: 0,
            path: PathKind::Fresh,
            zygote: None,
            zygote_depth: None,
            spare: false,
            imported: vec![],
            installed: vec![],
            phases_us: PhasesUs::default(),
            latency_us: 0,
        }
    }

    fn seqs(out: &[u8]) -> Vec<u64> {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| {
                serde_json::from_str::<InvocationRecord>(l)
                    .expect("record")
                    .seq
            })
            .collect()
    }

    #[test]
    fn records_leave_in_seq_order_and_failed_calls_leave_gaps() {
        let mut out = Vec::new();
        let mut o = Ordered {
            out: Some(&mut out),
            next: 0,
            ready: BTreeMap::new(),
        };
        o.put(2, Some(record(2))).expect("put");
        o.put(1, None).expect("put");
        o.put(4, Some(record(4))).expect("put");
        o.put(0, Some(record(0))).expect("put");
        assert_eq!((o.next, o.ready.len()), (3, 1), "4 waits for 3");
        o.put(3, Some(record(3))).expect("put");
        o.put(6, Some(record(6))).expect("put");
        o.finish().expect("finish");
        drop(o);
        assert_eq!(seqs(&out), [0, 2, 3, 4, 6], "finish writes past a gap");
    }
}
