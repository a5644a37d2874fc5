//! `sock-exec docker-worker`: the Docker-based worker baseline of SOCK's
//! case study (issue 13), serving the same HTTP API as `sock-exec worker`
//! (`POST /run/<function>`, `GET /status`, `GET /stats`) from Docker
//! containers, OpenWhisk-style:
//!
//! - one image, imported from the lean containers' base root file system
//!   (`super::docker::Engine::image_from_rootfs`);
//! - a cold call `docker run -d --network none`s a container for the
//!   function (its folder, the server and its packages bind-mounted
//!   read-only; packages on PYTHONPATH) running a small Python server
//!   (`server.py`) that imported `f.py` once, and calls it over a Unix
//!   socket in a bind-mounted host folder ([`container`] says why);
//! - afterwards the container stays, up to `--warm-pool N` idle ones per
//!   function, paused with `docker pause` under `--pause-idle` (unpaused by
//!   the next call) at once or after `--pause-grace-ms` of idleness
//!   (OpenWhisk's pause grace); `--warm-pool 0` makes every call a per-call
//!   `docker run --rm` container ([`pool`]);
//! - every response to `/run` carries `X-Sock-Path: docker_cold` or
//!   `docker_warm`; `/stats` counts both and their median latencies
//!   ([`stats`]);
//! - SIGINT/SIGTERM stop it: no new connections, in-flight calls finish
//!   (each is bounded by the request timeout, 504 past it), then every
//!   container carrying its label is removed with `docker rm -f`.
//!
//! Threads: one accepting, one per connection ([`serve`]). The process
//! never forks itself; it spawns `docker` CLI processes.

pub mod container;
pub mod packages;
pub mod pool;
pub mod serve;
pub mod stats;

use super::docker;
use super::BaselineError;
use container::{docker as docker_cli, Launch, LABEL};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The in-container server, written to the worker's runtime folder.
const SERVER_PY: &str = include_str!("server.py");

/// How long shutdown waits for in-flight calls before removing anyway.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("docker is not usable: {0}")]
    NoDocker(String),
    #[error("image: {0}")]
    Image(BaselineError),
    #[error("registry: {0}")]
    Registry(#[from] crate::worker::registry::RegistryError),
    #[error("packages: {0}")]
    Packages(Box<packages::PackagesError>),
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("listen on {addr}: {err}")]
    Listen { addr: String, err: std::io::Error },
}

/// Settings of one worker.
#[derive(Clone, Debug)]
pub struct Config {
    pub registry: PathBuf,
    pub listen: String,
    pub port: u16,
    pub warm_pool: usize,
    pub pause_idle: bool,
    /// With `pause_idle`: idle time before the pause (zero: at once).
    pub pause_grace: Duration,
    /// Base root file system the image is imported from.
    pub rootfs: PathBuf,
    /// Install cache for the functions' requirements.
    pub packages: PathBuf,
    /// The containers' Python (`3.11`), for wheels.
    pub python_version: String,
    /// Work folder (runtime and per-container socket folders), removed
    /// at shutdown.
    pub work_dir: PathBuf,
    pub timeout: Duration,
}

/// A worker ready to serve: image imported, packages installed, socket
/// bound.
#[derive(Debug)]
pub struct Worker {
    pool: Arc<Pool>,
    listener: TcpListener,
    instance: String,
    work_dir: PathBuf,
    timeout: Duration,
}

use pool::Pool;

/// `<pid>-<start in ms, base 36>`: unique among this host's workers.
fn instance_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{}-{}", std::process::id(), ms % 1_000_000_000)
}

impl Worker {
    /// Set-up, in order: Docker reachable; the image; the registry; the
    /// leftovers of workers that died without shutting down; each
    /// function's packages; the runtime folder; the listening socket.
    pub fn new(cfg: &Config) -> Result<Worker, WorkerError> {
        let engine = docker::detect()
            .ready()
            .ok_or_else(|| WorkerError::NoDocker("`docker info` failed".into()))?;
        let image = engine
            .image_from_rootfs(&cfg.rootfs, None)
            .map_err(WorkerError::Image)?;
        let registry = crate::worker::registry::Registry::load(&cfg.registry)?;
        remove_orphans(&cfg.work_dir);
        let pkgs = packages::install_all(&registry, &cfg.packages, &cfg.python_version)
            .map_err(|e| WorkerError::Packages(Box::new(e)))?;
        let instance = instance_id();
        let work_dir = cfg.work_dir.join(&instance);
        let runtime_dir = work_dir.join("runtime");
        let io = |op, path: &std::path::Path| {
            let path = path.to_path_buf();
            move |err| WorkerError::Io { op, path, err }
        };
        std::fs::create_dir_all(&runtime_dir).map_err(io("create", &runtime_dir))?;
        let server = runtime_dir.join("server.py");
        std::fs::write(&server, SERVER_PY).map_err(io("write", &server))?;
        let mut launches = BTreeMap::new();
        for (name, f) in &registry.functions {
            let launch = Launch {
                image: image.image.clone(),
                instance: instance.clone(),
                runtime_dir: runtime_dir.clone(),
                function_dir: std::path::absolute(&f.dir).map_err(io("resolve", &f.dir))?,
                packages: pkgs.get(name).cloned().unwrap_or_default(),
                oneshot: cfg.warm_pool == 0,
            };
            launches.insert(name.clone(), launch);
        }
        let addr = format!("{}:{}", cfg.listen, cfg.port);
        let listener = TcpListener::bind(&addr).map_err(|err| WorkerError::Listen {
            addr: addr.clone(),
            err,
        })?;
        let pool = Pool::new(
            launches,
            cfg.warm_pool,
            cfg.pause_idle,
            cfg.pause_grace,
            work_dir.clone(),
        );
        Ok(Worker {
            pool: Arc::new(pool),
            listener,
            instance,
            work_dir,
            timeout: cfg.timeout,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The label value of this worker's containers.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Serves until `stop()` says so (checked every 200 ms), then shuts
    /// down: see [`Worker::shutdown`].
    pub fn serve(self, stop: &dyn Fn() -> bool) {
        let stopping = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let pauser = self.pool.pauses_later().then(|| {
            let (pool, stopping) = (self.pool.clone(), stopping.clone());
            std::thread::Builder::new()
                .name("dw-pauser".into())
                .spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        pool.pause_due();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
        });
        while !stop() {
            let ready = crate::sys::prim::wait_readable(
                &[self.listener.as_fd()],
                Duration::from_millis(200),
            )
            .unwrap_or_default();
            if !ready.first().copied().unwrap_or(false) {
                continue;
            }
            let Ok((stream, _)) = self.listener.accept() else {
                continue;
            };
            let (pool, stop_conn, done) = (self.pool.clone(), stopping.clone(), active.clone());
            let timeout = self.timeout;
            active.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name("dw-conn".into())
                .spawn(move || {
                    serve::connection(stream, &pool, timeout, &stop_conn);
                    done.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start a connection thread: {e}");
                active.fetch_sub(1, Ordering::SeqCst);
            }
        }
        stopping.store(true, Ordering::SeqCst);
        if let Some(Ok(t)) = pauser {
            let _ = t.join();
        }
        let waited = Instant::now();
        while active.load(Ordering::SeqCst) > 0 && waited.elapsed() < DRAIN_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shutdown();
    }

    /// Removes the idle containers, then every container still carrying
    /// this worker's label (a call cut short, a one-shot container not yet
    /// gone), then the work folder.
    pub fn shutdown(&self) {
        self.pool.drain();
        let removed = remove_labelled(&self.instance);
        tracing::info!(
            instance = self.instance,
            swept = removed,
            "docker-worker: containers removed"
        );
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

/// `docker rm -f` of every container labelled `LABEL=instance`, until
/// none is listed (a one-shot container `--rm` is removing shows up as
/// "removal already in progress": wait for it) or 60 s passed; returns
/// how many the first listing held.
pub fn remove_labelled(instance: &str) -> usize {
    let filter = format!("label={LABEL}={instance}");
    let list = || {
        docker_cli(&["ps", "-aq", "--filter", &filter], Duration::from_secs(60))
            .map(|out| out.split_whitespace().map(String::from).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let start = Instant::now();
    let mut first = None;
    loop {
        let ids = list();
        first.get_or_insert(ids.len());
        if ids.is_empty() || start.elapsed() > Duration::from_secs(60) {
            if !ids.is_empty() {
                tracing::warn!(left = ids.len(), "docker-worker: containers not removed");
            }
            return first.unwrap_or(0);
        }
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        if let Err(e) = docker_cli(&args, Duration::from_secs(120)) {
            tracing::debug!("docker rm -f of leftovers: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether the worker of `instance` (`<pid>-<ms>`) is no longer running.
fn is_dead(instance: &str) -> bool {
    match instance
        .split('-')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    {
        // Gone, a zombie, or the pid reused by another program.
        Some(pid) => match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let comm = stat.split(['(', ')']).nth(1).unwrap_or("");
                let state = stat.rsplit(") ").next().unwrap_or("").chars().next();
                comm != "sock-exec" || state == Some('Z')
            }
            Err(_) => true,
        },
        None => false,
    }
}

/// Removes the containers and work folders of workers that are gone
/// (killed with SIGKILL, say): their instance's pid no longer runs.
/// Live workers' containers are left alone.
fn remove_orphans(work_dir: &Path) {
    let format = format!("{{{{.Label \"{LABEL}\"}}}}");
    let filter = format!("label={LABEL}");
    let listed = docker_cli(
        &["ps", "-a", "--filter", &filter, "--format", &format],
        Duration::from_secs(60),
    )
    .unwrap_or_default();
    let dead: std::collections::BTreeSet<&str> =
        listed.split_whitespace().filter(|i| is_dead(i)).collect();
    for instance in dead {
        let n = remove_labelled(instance);
        tracing::info!(
            instance,
            removed = n,
            "docker-worker: removed a dead worker's containers"
        );
    }
    if let Ok(entries) = std::fs::read_dir(work_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if is_dead(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
