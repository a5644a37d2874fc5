//! Baselines for the lean-container benchmark: the same no-op Python work
//! run under Docker, runc, a plain `chroot` and straight on the host, so
//! `sock-exec bench containers` can put them side by side with lean
//! containers in one run.
//!
//! - [`docker`]: detect the engine (a typed skip if it is not reachable),
//!   build an image from a root file system with `docker import`, time
//!   `docker run --rm --network none`.
//! - [`runc`] / [`oci`]: write an OCI bundle (`config.json` from Rust
//!   structs) over the same root file system, time `runc run`.
//! - [`plain`]: `chroot <rootfs> argv` and `argv` on the host.
//! - [`docker_worker`]: `sock-exec docker-worker`, the worker's HTTP API
//!   served from warm or per-call Docker containers (issue 13's baseline).
//!
//! Every baseline is a [`Contender`]; [`run_side_by_side`] interleaves
//! contenders round-robin so machine noise hits them alike.

pub mod docker;
pub mod docker_worker;
pub mod oci;
pub mod plain;
pub mod runc;

use crate::primitives::Summary;
use crate::sys::prim::wait_readable;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `python3 -S -c pass`: a fresh interpreter without `site` (no handler).
pub const NOOP_NO_SITE: [&str; 4] = ["/usr/bin/python3", "-S", "-c", "pass"];
/// `python3 -c pass`: a fresh interpreter with `site`.
pub const NOOP: [&str; 3] = ["/usr/bin/python3", "-c", "pass"];

/// The no-op workload as an owned argv (`site`: with the `site` module).
pub fn noop_argv(site: bool) -> Vec<String> {
    let argv: &[&str] = if site { &NOOP } else { &NOOP_NO_SITE };
    argv.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{cmd}: could not start: {err}")]
    Spawn { cmd: String, err: std::io::Error },
    #[error("{cmd}: {status}{}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("{cmd}: no exit within {timeout:?} (killed)")]
    Timeout { cmd: String, timeout: Duration },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("empty argv: nothing to run")]
    EmptyArgv,
    #[error("root file system {}: {reason}", path.display())]
    Rootfs { path: PathBuf, reason: String },
}

/// Whether a baseline can run here: ready, or skipped with the reason
/// (engine not installed, daemon not reachable, not root). Never a panic.
#[derive(Debug)]
pub enum Probe<T> {
    Ready(T),
    Skipped { reason: String },
}

impl<T> Probe<T> {
    pub fn ready(self) -> Option<T> {
        match self {
            Probe::Ready(t) => Some(t),
            Probe::Skipped { .. } => None,
        }
    }
}

/// Limit for one baseline command (a `docker run` takes ~0.5 s; a wedged
/// daemon must not hang the benchmark).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// What a finished command printed and how it ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub elapsed: Duration,
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// Shell-like rendering of a command, for errors and reports.
pub(crate) fn render(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` (stdin from /dev/null, stdout and stderr captured), timing
/// spawn to exit; kills it after `timeout`.
///
/// It blocks in poll(2) on the output pipes, which hang up when the
/// command exits, so the timing has no polling granularity (a sleep loop
/// around `try_wait` would add up to its period to every sample).
pub(crate) fn run_captured(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<Finished, BaselineError> {
    let text = render(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|err| BaselineError::Spawn {
        cmd: text.clone(),
        err,
    })?;
    let mut pipes: [Option<Box<dyn ReadFd>>; 2] = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn ReadFd>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn ReadFd>),
    ];
    let mut bufs = [Vec::new(), Vec::new()];
    while pipes.iter().any(Option::is_some) {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BaselineError::Timeout { cmd: text, timeout });
        }
        let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
        let fds: Vec<BorrowedFd<'_>> = open
            .iter()
            .filter_map(|&i| pipes[i].as_ref().map(|p| p.as_fd()))
            .collect();
        let ready = wait_readable(&fds, left).map_err(|e| BaselineError::Io {
            op: "poll output of",
            path: text.clone().into(),
            err: e.errno.into(),
        })?;
        for (k, &i) in open.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let n = pipes[i]
                .as_mut()
                .map_or(Ok(0), |p| p.read(&mut chunk))
                .unwrap_or(0);
            if n == 0 {
                pipes[i] = None;
            } else {
                bufs[i].extend_from_slice(&chunk[..n]);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|err| BaselineError::Spawn { cmd: text, err })?;
    let elapsed = start.elapsed();
    let [out, err] = bufs;
    Ok(Finished {
        elapsed,
        success: status.success(),
        status: status.to_string(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// A child's output pipe: readable, with an fd to poll.
trait ReadFd: Read + AsFd {}
impl<T: Read + AsFd> ReadFd for T {}

/// Runs `cmd` and requires exit status 0; returns the wall time.
pub(crate) fn run_checked(cmd: &mut Command) -> Result<Duration, BaselineError> {
    let f = run_captured(cmd, COMMAND_TIMEOUT)?;
    if !f.success {
        return Err(BaselineError::Failed {
            cmd: render(cmd),
            status: f.status,
            stderr: last_line(&f.stderr),
        });
    }
    Ok(f.elapsed)
}

/// Last non-empty line of a command's stderr (the error, usually).
pub(crate) fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// 64-bit FNV-1a: a stable (across Rust releases) fingerprint for cache
/// keys such as image tags.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One way of running the no-op work: a baseline here, a lean container
/// in `crate::bench`.
pub trait Contender {
    fn label(&self) -> String;
    /// Runs `argv` once, start to exit, and returns the wall time.
    fn run_once(
        &mut self,
        argv: &[String],
    ) -> Result<Duration, Box<dyn std::error::Error + Send + Sync>>;
}

/// The baselines, a closed set.
#[derive(Debug)]
pub enum Baseline {
    Docker(docker::Docker),
    Runc(runc::Runc),
    Plain(plain::Plain),
}

impl Baseline {
    pub fn label(&self) -> String {
        match self {
            Baseline::Docker(d) => d.label(),
            Baseline::Runc(r) => r.label(),
            Baseline::Plain(p) => p.label(),
        }
    }

    pub fn run_once(&mut self, argv: &[String]) -> Result<Duration, BaselineError> {
        match self {
            Baseline::Docker(d) => d.run_once(argv),
            Baseline::Runc(r) => r.run_once(argv),
            Baseline::Plain(p) => p.run_once(argv),
        }
    }
}

impl Contender for Baseline {
    fn label(&self) -> String {
        Baseline::label(self)
    }

    fn run_once(
        &mut self,
        argv: &[String],
    ) -> Result<Duration, Box<dyn std::error::Error + Send + Sync>> {
        Baseline::run_once(self, argv).map_err(Into::into)
    }
}

/// One contender's samples from [`run_side_by_side`].
#[derive(Debug)]
pub struct SideBySide {
    pub label: String,
    pub samples: Vec<Duration>,
    /// The first failure; the contender was dropped from later rounds.
    pub error: Option<String>,
}

impl SideBySide {
    pub fn summary(&self) -> Summary {
        Summary::from_durations(&self.samples)
    }
}

/// Runs every contender `warmup` times untimed, then `runs` rounds of
/// one run each, round-robin. A contender that fails is reported and
/// left out of later rounds; the others go on.
pub fn run_side_by_side(
    contenders: &mut [&mut dyn Contender],
    argv: &[String],
    warmup: usize,
    runs: usize,
) -> Vec<SideBySide> {
    let mut out: Vec<SideBySide> = contenders
        .iter()
        .map(|c| SideBySide {
            label: c.label(),
            samples: Vec::with_capacity(runs),
            error: None,
        })
        .collect();
    for round in 0..warmup + runs {
        for (c, res) in contenders.iter_mut().zip(out.iter_mut()) {
            if res.error.is_some() {
                continue;
            }
            match c.run_once(argv) {
                Ok(d) if round >= warmup => res.samples.push(d),
                Ok(_) => {}
                Err(e) => res.error = Some(e.to_string()),
            }
        }
    }
    out
}

/// CSV of side-by-side results: one line per contender.
pub fn side_by_side_csv(results: &[SideBySide], argv: &[String]) -> String {
    let mut text = String::from("contender,argv,runs,median_ms,p95_ms,mean_ms,error\n");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in results {
        let s = r.summary();
        text.push_str(&format!(
            "{},{},{},{:.2},{:.2},{:.2},{}\n",
            q(&r.label),
            q(&argv.join(" ")),
            s.samples,
            s.median_us / 1e3,
            s.p95_us / 1e3,
            s.mean_us / 1e3,
            q(r.error.as_deref().unwrap_or(""))
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        n: u64,
        fail_at: Option<u64>,
    }

    impl Contender for Fake {
        fn label(&self) -> String {
            format!("fake{:?}", self.fail_at)
        }
        fn run_once(
            &mut self,
            _: &[String],
        ) -> Result<Duration, Box<dyn std::error::Error + Send + Sync>> {
            self.n += 1;
            if Some(self.n) == self.fail_at {
                return Err("boom".into());
            }
            Ok(Duration::from_millis(self.n))
        }
    }

    #[test]
    fn side_by_side_skips_warmup_and_drops_failures() {
        let mut a = Fake {
            n: 0,
            fail_at: None,
        };
        let mut b = Fake {
            n: 0,
            fail_at: Some(3),
        };
        let res = run_side_by_side(&mut [&mut a, &mut b], &noop_argv(false), 1, 4);
        assert_eq!(
            res[0].samples,
            (2..=5).map(Duration::from_millis).collect::<Vec<_>>()
        );
        assert_eq!(res[1].samples.len(), 1);
        assert_eq!(res[1].error.as_deref(), Some("boom"));
        let csv = side_by_side_csv(&res, &noop_argv(false));
        assert!(
            csv.contains("\"fakeNone\",\"/usr/bin/python3 -S -c pass\",4,3.00,5.00,3.50,\"\""),
            "{csv}"
        );
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
