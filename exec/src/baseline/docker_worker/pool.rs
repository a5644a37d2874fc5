//! The warm pool and the call path: a call takes an idle container of its
//! function (warm, unpaused first if paused) or starts one (cold), and
//! afterwards the container goes back to the pool (with `--pause-idle`
//! paused at once, or once idle for `--pause-grace-ms` by
//! [`Pool::pause_due`], OpenWhisk's pause grace) while the function has fewer than `warm_pool` idle
//! ones, else it is removed. `warm_pool == 0` makes every call a fresh
//! one-shot `docker run --rm` container.

use super::container::{remove_by_name, Answer, CallError, Container, Launch};
use super::stats::{Path as CallPath, Stats};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a `docker pause` or `rm -f` may take.
const DOCKER_OP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a call ended with, and which path served it. Hand `lease` back
/// with [`Pool::finish`] once the response is written, so pausing (or
/// removing) the container stays off the response's path.
#[derive(Debug)]
pub struct Served {
    pub path: CallPath,
    pub result: Result<Answer, CallError>,
    pub lease: Option<Lease>,
}

/// A container in use, and whether its call went well.
#[derive(Debug)]
pub struct Lease {
    function: String,
    container: Container,
    ok: bool,
}

/// Every container of one worker, idle or in use.
#[derive(Debug)]
pub struct Pool {
    /// Launch settings per function (image, mounts).
    launches: BTreeMap<String, Launch>,
    warm_pool: usize,
    pause_idle: bool,
    /// Idle time before a pause (zero: at once, on the call's thread).
    pause_grace: Duration,
    /// Per-container io folders live here.
    work_dir: PathBuf,
    idle: Mutex<BTreeMap<String, Vec<Container>>>,
    seq: AtomicU64,
    stopping: AtomicBool,
    pub stats: Stats,
}

impl Pool {
    pub fn new(
        launches: BTreeMap<String, Launch>,
        warm_pool: usize,
        pause_idle: bool,
        pause_grace: Duration,
        work_dir: PathBuf,
    ) -> Pool {
        Pool {
            launches,
            warm_pool,
            pause_idle,
            pause_grace,
            work_dir,
            idle: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            stats: Stats::default(),
        }
    }

    pub fn has(&self, function: &str) -> bool {
        self.launches.contains_key(function)
    }

    pub fn functions(&self) -> Vec<String> {
        self.launches.keys().cloned().collect()
    }

    /// Idle containers per function.
    pub fn idle_counts(&self) -> BTreeMap<String, usize> {
        self.lock()
            .iter()
            .map(|(f, v)| (f.clone(), v.len()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Container>>> {
        // A thread that panicked while holding the lock left the map
        // consistent (every change is one push or pop): keep using it.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `function` (known: [`Pool::has`]) with `event` by `deadline`:
    /// on an idle container if there is one (a gone one is replaced by a
    /// cold start: the event never reached it), else on a new one.
    pub fn call(&self, function: &str, event: &serde_json::Value, deadline: Instant) -> Served {
        let start = Instant::now();
        let warm = self.lock().get_mut(function).and_then(Vec::pop);
        let (path, result, container) = match warm {
            Some(mut c) => match c.call(event, deadline) {
                Err(CallError::Stale(why)) => {
                    tracing::warn!(container = c.name, why, "an idle container is gone");
                    self.discard(c);
                    let (r, c) = self.cold(function, event, deadline);
                    (CallPath::Cold, r, c)
                }
                r => (CallPath::Warm, r, Some(c)),
            },
            None => {
                let (r, c) = self.cold(function, event, deadline);
                (CallPath::Cold, r, c)
            }
        };
        self.stats
            .record(function, path, start.elapsed(), result.is_ok());
        let ok = result.is_ok();
        let lease = container.map(|container| Lease {
            function: function.to_string(),
            container,
            ok,
        });
        Served {
            path,
            result,
            lease,
        }
    }

    /// A call on a container started for it.
    fn cold(
        &self,
        function: &str,
        event: &serde_json::Value,
        deadline: Instant,
    ) -> (Result<Answer, CallError>, Option<Container>) {
        match self.start(function, deadline) {
            Ok(mut c) => (c.call(event, deadline), Some(c)),
            Err(e) => (Err(e), None),
        }
    }

    /// Ends a call: the container goes back to the pool, or is removed.
    pub fn finish(&self, lease: Lease) {
        match lease.ok {
            true => self.give_back(&lease.function, lease.container),
            false => self.discard(lease.container),
        }
    }

    fn start(&self, function: &str, deadline: Instant) -> Result<Container, CallError> {
        let Some(launch) = self.launches.get(function) else {
            return Err(CallError::Garbage(format!("no function {function:?}")));
        };
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let name = format!("sockdw-{}-{n}", launch.instance);
        let io_dir = self.work_dir.join(format!("c{n}"));
        let res = Container::start(launch, &name, &io_dir, deadline);
        if res.is_err() {
            // A container docker started but that never answered.
            let _ = remove_by_name(&name);
            let _ = std::fs::remove_dir_all(&io_dir);
        }
        res
    }

    /// After a successful call: back to the pool, or removed.
    fn give_back(&self, function: &str, mut c: Container) {
        if self.warm_pool == 0 {
            c.release();
            return;
        }
        let room = !self.stopping.load(Ordering::SeqCst)
            && self.lock().get(function).map_or(0, Vec::len) < self.warm_pool;
        if !room {
            self.discard(c);
            return;
        }
        if self.pause_idle && self.pause_grace.is_zero() {
            if let Err(e) = c.pause(DOCKER_OP_TIMEOUT) {
                tracing::warn!(container = c.name, "docker pause failed: {e}");
                self.discard(c);
                return;
            }
        }
        c.idle_since = Some(Instant::now());
        self.put_idle(function, c);
    }

    /// Into the pool if there is room and the worker is not stopping.
    fn put_idle(&self, function: &str, c: Container) {
        let mut idle = self.lock();
        let list = idle.entry(function.to_string()).or_default();
        if list.len() < self.warm_pool && !self.stopping.load(Ordering::SeqCst) {
            list.push(c);
        } else {
            drop(idle);
            self.discard(c);
        }
    }

    /// Pauses the running idle containers idle for the pause grace or
    /// longer (`--pause-idle --pause-grace-ms`; called every few
    /// milliseconds by the worker's pauser thread). A container being
    /// paused is out of the pool meanwhile: a call then starts another.
    pub fn pause_due(&self) {
        let due: Vec<(String, Container)> = {
            let mut idle = self.lock();
            let mut due = Vec::new();
            for (f, list) in idle.iter_mut() {
                let mut i = 0;
                while i < list.len() {
                    let c = &list[i];
                    let expired = c
                        .idle_since
                        .is_some_and(|t| t.elapsed() >= self.pause_grace);
                    if !c.paused && expired {
                        due.push((f.clone(), list.swap_remove(i)));
                    } else {
                        i += 1;
                    }
                }
            }
            due
        };
        for (f, mut c) in due {
            match c.pause(DOCKER_OP_TIMEOUT) {
                Ok(()) => self.put_idle(&f, c),
                Err(e) => {
                    tracing::warn!(container = c.name, "docker pause failed: {e}");
                    self.discard(c);
                }
            }
        }
    }

    /// Whether idle containers wait for a grace period before pausing.
    pub fn pauses_later(&self) -> bool {
        self.pause_idle && !self.pause_grace.is_zero()
    }

    fn discard(&self, c: Container) {
        let name = c.name.clone();
        if let Err(e) = c.remove() {
            tracing::warn!(container = name, "docker rm -f failed: {e}");
        }
    }

    /// Stops pooling and removes every idle container.
    pub fn drain(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let all: Vec<Container> = std::mem::take(&mut *self.lock())
            .into_values()
            .flatten()
            .collect();
        for c in all {
            self.discard(c);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.drain();
    }
}
