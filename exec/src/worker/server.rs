//! The worker's HTTP side as a source of calls for the run's concurrent
//! loop ([`Arrivals`]): its listening sockets and client connections are
//! polled in the loop's one `poll(2)`, beside the containers' responses,
//! so the one thread that owns every fork also reads every request (fork
//! safety: no fork from a multi-threaded process).
//!
//! A whole `POST /run/<f>` request becomes an arrival at the instant it
//! was read; its JSON event goes to the handler; the handler's response
//! goes back with the call's measured record in `X-Sock-Record` and its
//! path in `X-Sock-Path`. A handler's error is a 500 with its error and
//! traceback, a handler that died or timed out a 502 / 504, a call the
//! worker model dropped a 503. `GET /status` and `GET /stats` are answered
//! at once.
//!
//! Ending a run: a registry change (polled once a second) or SIGINT /
//! SIGTERM ends the source ([`Due::Ended`]): the calls in flight finish
//! and are answered, then the caller tears the run down. Requests read
//! meanwhile wait in the backlog for the next run (a reload), or are
//! answered 503 (a stop). A drain longer than `drain_timeout` stops at once.

use super::conn::{Conn, Listener};
use super::http::{self, Route};
use super::stats::Stats;
use crate::run::source::{Arrivals, Due, Requests, Wall};
use crate::run::RunError;
use sock_core::record::InvocationRecord;
use sock_core::trace::Invocation;
use sock_core::FunctionId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why the current run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Serving,
    /// The registry changed: drain, rebuild, serve again.
    Reloading,
    /// Stopping: drain and exit, by this deadline.
    Draining(Instant),
}

/// The HTTP source.
#[derive(Debug)]
pub struct Http {
    listeners: Vec<Listener>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    /// Calls read whole, not yet delivered: (connection, function, event).
    backlog: VecDeque<(u64, String, String, bool)>,
    /// Calls delivered and not answered: seq -> (connection, close after).
    waiting: HashMap<u64, (u64, bool)>,
    next_seq: u64,
    functions: HashMap<String, FunctionId>,
    broken: BTreeMap<String, String>,
    registry: PathBuf,
    fingerprint: Option<super::registry::Fingerprint>,
    checked: Instant,
    pub mode: Mode,
    drain_timeout: Duration,
    pub stats: Stats,
    started: Instant,
    logged: Instant,
    /// What the kernel charges the worker's containers (a cgroup's usage
    /// file), when known.
    memory_file: Option<PathBuf>,
}

impl Http {
    pub fn new(
        listeners: Vec<Listener>,
        registry: PathBuf,
        drain_timeout: Duration,
        memory_file: Option<PathBuf>,
    ) -> Http {
        let now = Instant::now();
        Http {
            listeners,
            conns: BTreeMap::new(),
            next_conn: 0,
            backlog: VecDeque::new(),
            waiting: HashMap::new(),
            next_seq: 0,
            functions: HashMap::new(),
            broken: BTreeMap::new(),
            registry,
            fingerprint: None,
            checked: now,
            mode: Mode::Serving,
            drain_timeout,
            stats: Stats::default(),
            started: now,
            logged: now,
            memory_file,
        }
    }

    /// The functions of the next run, and the registry state they are of.
    pub fn set_functions(
        &mut self,
        functions: HashMap<String, FunctionId>,
        broken: BTreeMap<String, String>,
        fingerprint: super::registry::Fingerprint,
    ) {
        self.functions = functions;
        self.broken = broken;
        self.fingerprint = Some(fingerprint);
        if self.mode == Mode::Reloading {
            self.mode = Mode::Serving;
        }
    }

    pub fn stopping(&self) -> bool {
        matches!(self.mode, Mode::Draining(_))
    }

    /// Answers what is left and closes every connection (after a stop).
    pub fn close(&mut self) {
        self.refuse_backlog();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.conns.values().any(Conn::writing) && Instant::now() < deadline {
            self.conns.values_mut().for_each(Conn::flush);
            std::thread::sleep(Duration::from_millis(5));
        }
        self.conns.clear();
        self.listeners.clear();
    }

    /// Answers the calls not yet delivered 503 (the worker is stopping).
    fn refuse_backlog(&mut self) {
        let backlog: Vec<_> = self.backlog.drain(..).collect();
        for (conn, _, _, _) in backlog {
            let body = b"{\"error\":\"the worker is shutting down\"}";
            self.reply(conn, 503, &[], body, true);
        }
    }

    fn reply(
        &mut self,
        conn: u64,
        status: u16,
        headers: &[(&str, String)],
        body: &[u8],
        close: bool,
    ) {
        self.stats.status(status);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.answer(
                http::response_with_headers(status, headers, body, close),
                close,
            );
        }
    }

    fn reply_error(&mut self, conn: u64, e: &http::HttpError, close: bool) {
        self.stats.status(e.status);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.answer(http::error_response(e, close), close);
        }
    }

    /// Reads every whole request of the connections not being served.
    fn parse_all(&mut self) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            while let Some(c) = self.conns.get_mut(&id) {
                if c.busy || c.close_after || c.inbuf.is_empty() {
                    break;
                }
                match http::parse(&c.inbuf) {
                    Ok(None) => break,
                    Err(e) => {
                        c.inbuf.clear();
                        self.reply_error(id, &e, true);
                        break;
                    }
                    Ok(Some((req, used))) => {
                        c.inbuf.drain(..used);
                        c.busy = true;
                        self.request(id, req);
                    }
                }
            }
        }
    }

    fn request(&mut self, conn: u64, req: http::Request) {
        tracing::debug!(method = %req.method, path = %req.path, bytes = req.body.len(), "request");
        let close = req.close;
        match http::route(&req) {
            Err(e) => self.reply_error(conn, &e, close),
            Ok(Route::Status) => {
                let body = self.status_json().to_string();
                self.reply(conn, 200, &[], body.as_bytes(), close);
            }
            Ok(Route::Stats) => {
                let cg = self.cgroup_mb();
                let body = self.stats.json(self.waiting.len(), cg).to_string();
                self.reply(conn, 200, &[], body.as_bytes(), close);
            }
            Ok(Route::Run { function, event }) => {
                self.backlog
                    .push_back((conn, function, event.to_string(), close));
            }
        }
    }

    fn status_json(&self) -> serde_json::Value {
        let mut names: Vec<&String> = self.functions.keys().collect();
        names.sort();
        serde_json::json!({
            "status": match self.mode { Mode::Serving => "serving", Mode::Reloading => "reloading", Mode::Draining(_) => "stopping" },
            "registry": self.registry.display().to_string(),
            "functions": names,
            "broken": self.broken,
            "in_flight": self.waiting.len(),
            "uptime_s": self.started.elapsed().as_secs_f64(),
        })
    }

    fn cgroup_mb(&self) -> Option<f64> {
        let text = std::fs::read_to_string(self.memory_file.as_ref()?).ok()?;
        Some(text.trim().parse::<f64>().ok()? / (1u64 << 20) as f64)
    }

    /// Polls the registry (once a second): a change ends this run.
    fn check_registry(&mut self) {
        if self.mode != Mode::Serving || self.checked.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.checked = Instant::now();
        let now = super::registry::Registry::fingerprint(&self.registry).ok();
        if now.is_some() && now != self.fingerprint {
            tracing::info!(registry = %self.registry.display(), "the registry changed: draining to reload");
            self.mode = Mode::Reloading;
        }
    }

    /// Starts a drain on SIGINT / SIGTERM (new calls get 503).
    fn note_stop(&mut self) {
        if let (Some(sig), false) = (crate::sys::signal::stop_requested(), self.stopping()) {
            tracing::info!(signal = %sig, in_flight = self.waiting.len(), "stopping: draining the calls in flight");
            self.mode = Mode::Draining(Instant::now() + self.drain_timeout);
            self.listeners.clear();
            self.refuse_backlog();
        }
    }
}

impl Arrivals for Http {
    fn check_stop(&mut self) -> Result<(), RunError> {
        self.note_stop();
        if let Mode::Draining(deadline) = self.mode {
            if Instant::now() >= deadline {
                let sig = crate::sys::signal::stop_requested().unwrap_or(nix::sys::signal::SIGTERM);
                return Err(RunError::Interrupted(sig));
            }
        }
        self.check_registry();
        if self.logged.elapsed() >= Duration::from_secs(10) {
            self.logged = Instant::now();
            tracing::info!("{}", self.stats.line());
        }
        Ok(())
    }

    fn next_due(&mut self, _wall: &Wall) -> Due {
        match self.mode {
            Mode::Serving if !self.backlog.is_empty() => Due::At(0),
            Mode::Serving => Due::Waiting,
            Mode::Reloading | Mode::Draining(_) => Due::Ended,
        }
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listeners
            .iter()
            .map(Listener::fd)
            .chain(self.conns.values().filter(|c| c.wants_read()).map(Conn::fd))
            .collect()
    }

    fn take_due(
        &mut self,
        wall: &Wall,
        now_ns: u64,
        readable: &[bool],
        requests: &mut Requests,
    ) -> Result<Vec<(u64, Invocation)>, RunError> {
        let n = self.listeners.len();
        // The connections `fds` listed, in its order.
        let ready_conns: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.wants_read())
            .map(|(id, _)| id)
            .zip(readable.iter().skip(n))
            .filter(|(_, r)| **r)
            .map(|(id, _)| *id)
            .collect();
        for id in ready_conns {
            if let Some(c) = self.conns.get_mut(&id) {
                c.fill();
            }
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if !readable.get(i).copied().unwrap_or(false) {
                continue;
            }
            loop {
                match l.accept() {
                    Ok(Some(s)) => {
                        let mut c = Conn::new(s);
                        c.fill();
                        self.conns.insert(self.next_conn, c);
                        self.next_conn += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        break;
                    }
                }
            }
        }
        self.parse_all();
        self.conns.values_mut().for_each(Conn::flush);
        self.conns.retain(|_, c| !c.finished());
        let mut due = Vec::new();
        if self.mode != Mode::Serving {
            return Ok(due);
        }
        let time = wall.virtual_us(now_ns);
        while let Some((conn, name, event, close)) = self.backlog.pop_front() {
            let Some(&function) = self.functions.get(&name) else {
                let (status, why) = match self.broken.get(&name) {
                    Some(why) => (500, format!("function {name} cannot be deployed: {why}")),
                    None => (
                        404,
                        format!("no function {name:?} in {}", self.registry.display()),
                    ),
                };
                let body = serde_json::json!({ "error": why }).to_string();
                self.reply(conn, status, &[], body.as_bytes(), close);
                continue;
            };
            let seq = self.next_seq;
            self.next_seq += 1;
            requests.events.insert(seq, event);
            self.waiting.insert(seq, (conn, close));
            due.push((seq, Invocation::new(time, function)));
        }
        Ok(due)
    }

    fn observe(
        &mut self,
        planner: &sock_core::planner::Planner<'_>,
        engine: sock_core::engine::EngineStats,
    ) {
        self.stats.usage = Some(planner.usage());
        self.stats.engine = engine;
    }

    fn delivered(
        &mut self,
        records: Vec<InvocationRecord>,
        requests: &mut Requests,
    ) -> Result<(), RunError> {
        for (seq, reason) in std::mem::take(&mut requests.dropped) {
            self.stats.dropped += 1;
            if let Some((conn, close)) = self.waiting.remove(&seq) {
                let body =
                    serde_json::json!({ "error": format!("over capacity: {reason}") }).to_string();
                self.reply(conn, 503, &[], body.as_bytes(), close);
            }
        }
        for rec in records {
            self.stats.served(&rec);
            let Some((conn, close)) = self.waiting.remove(&rec.seq) else {
                continue;
            };
            let Some(r) = requests.responses.remove(&rec.seq) else {
                continue;
            };
            let (status, body) = match r.status {
                200 | 400 | 500 => (r.status, r.body.into_bytes()),
                s => {
                    let why = if s == 504 {
                        "the handler timed out"
                    } else {
                        "the handler died"
                    };
                    let body = serde_json::json!({ "error": format!("{why}: {}", r.body) });
                    (s, body.to_string().into_bytes())
                }
            };
            tracing::debug!(seq = rec.seq, function = %rec.function_name, status, path = rec.path.as_str(), latency_ms = rec.latency_us as f64 / 1e3, "served");
            let headers = [
                ("X-Sock-Path", rec.path.as_str().to_string()),
                (
                    "X-Sock-Record",
                    serde_json::to_string(&rec).unwrap_or_default(),
                ),
            ];
            self.reply(conn, status, &headers, &body, close);
        }
        self.parse_all();
        Ok(())
    }
}
