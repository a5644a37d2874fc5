//! The measuring engine: forked worker processes that time one operation
//! many times and send their samples back through a pipe.
//!
//! Every operation runs in a worker, never in the calling process, so a
//! study leaves the caller's namespaces, root and cgroups untouched, and a
//! crash mid-loop cannot leave the caller half-configured. Workers of one
//! run start their timed loops together (a ready/go pipe pair), so `P`
//! workers really contend; throughput is total operations over the span
//! from the first worker's start to the last one's end, on one host-wide
//! monotonic clock.
//!
//! Protocol of a worker's result pipe, little-endian u64 words:
//! `[0, start_ns, end_ns, n, op_ns × n, core_ns × n]`, or on failure
//! `[u64::MAX, len]` followed by `len` bytes of error text.

use super::PrimError;
use crate::sys::fs::pipe;
use crate::sys::prim::{monotonic_ns, thread_count};
use crate::sys::process::{exit_now, fork, kill, wait, ForkResult};
use crate::sys::SysError;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// A failed step inside a worker or its child, as text (it crosses a
/// pipe, so it cannot keep the `SysError`'s `&'static str`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailed(pub String);

impl From<SysError> for OpFailed {
    fn from(e: SysError) -> OpFailed {
        OpFailed(e.to_string())
    }
}

/// What one operation reports: the nanoseconds of its core step (the
/// syscalls under test), or the step that failed.
pub type OpResult = Result<u64, OpFailed>;

/// Marks a failure in a word stream: never a real nanosecond count.
const FAILED: u64 = u64::MAX;

/// Samples of one run, pooled over its workers.
#[derive(Debug, Default)]
pub struct Run {
    /// Whole operation as the worker's loop saw it (e.g. fork + unshare +
    /// exit + wait).
    pub op_ns: Vec<u64>,
    /// The core step only, as reported by the operation.
    pub core_ns: Vec<u64>,
    /// Span from the first worker's loop start to the last one's end.
    pub wall_ns: u64,
}

impl Run {
    /// Appends another run of the same cell (rounds are pooled).
    pub fn absorb(&mut self, other: Run) {
        self.op_ns.extend(other.op_ns);
        self.core_ns.extend(other.core_ns);
        self.wall_ns += other.wall_ns;
    }

    /// Operations per second over the wall span.
    pub fn ops_per_s(&self) -> f64 {
        if self.wall_ns == 0 {
            return f64::NAN;
        }
        self.op_ns.len() as f64 / (self.wall_ns as f64 / 1e9)
    }
}

/// fork(2) is only sound from a single-threaded process: the study must
/// run before any thread (rayon, a tracing appender) is started.
pub fn require_single_threaded() -> Result<(), PrimError> {
    let threads = thread_count().map_err(|err| PrimError::Io {
        op: "read /proc/self/status",
        path: "/proc/self/status".into(),
        err,
    })?;
    if threads != 1 {
        return Err(PrimError::MultiThreaded { threads });
    }
    Ok(())
}

/// Workers not yet reaped. If the parent leaves early (a fork or pipe
/// fails half-way), drop SIGKILLs and reaps them: they would otherwise
/// wait forever on the go pipe, whose write end they inherited.
struct Spawned(Vec<(Pid, OwnedFd)>);

impl Drop for Spawned {
    fn drop(&mut self) {
        for (pid, _) in self.0.drain(..) {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = wait(pid);
        }
    }
}

/// Runs `op` in `workers` forked processes: `warmup` untimed calls each,
/// then `iterations` timed calls each, all workers starting together.
pub fn run_workers(
    workers: usize,
    warmup: usize,
    iterations: usize,
    op: &mut dyn FnMut() -> OpResult,
) -> Result<Run, PrimError> {
    require_single_threaded()?;
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let mut spawned = Spawned(Vec::with_capacity(workers));
    for _ in 0..workers {
        let (res_r, res_w) = pipe()?;
        match fork()? {
            ForkResult::Child => worker_main(warmup, iterations, op, &ready_w, &go_r, res_w),
            ForkResult::Parent { child } => spawned.0.push((child, res_r)),
        }
        // res_w dropped here in the parent: the pipe reaches EOF when the
        // worker (and its short-lived children) exit.
    }
    drop(ready_w);
    // Wait until every worker finished its warm-up (or died: EOF).
    let mut ready = vec![0u8; workers];
    let got = read_up_to(&mut File::from(ready_r), &mut ready);
    File::from(go_w)
        .write_all(&vec![1u8; workers])
        .map_err(PrimError::io("write go pipe", "pipe"))?;
    drop(go_r);
    let mut run = Run::default();
    let mut span = (u64::MAX, 0u64);
    let mut first_err = None;
    while !spawned.0.is_empty() {
        // Once removed from the guard, a worker is only waited for: it
        // has been released and exits on its own.
        let (pid, res_r) = spawned.0.remove(0);
        let report = read_report(res_r);
        let status = wait(pid)?;
        match (report, status) {
            (Ok(r), WaitStatus::Exited(_, 0)) => {
                span = (span.0.min(r.start), span.1.max(r.end));
                run.op_ns.extend(r.op_ns);
                run.core_ns.extend(r.core_ns);
            }
            (Err(e), _) => first_err = first_err.or(Some(e)),
            (Ok(_), other) => {
                first_err = first_err.or(Some(PrimError::WorkerDied {
                    status: format!("{other:?}"),
                }))
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if got < workers {
        return Err(PrimError::WorkerDied {
            status: format!("only {got} of {workers} workers got ready"),
        });
    }
    run.wall_ns = span.1.saturating_sub(span.0);
    Ok(run)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    got
}

/// The body of a forked worker; never returns.
fn worker_main(
    warmup: usize,
    iterations: usize,
    op: &mut dyn FnMut() -> OpResult,
    ready_w: &OwnedFd,
    go_r: &OwnedFd,
    res_w: OwnedFd,
) -> ! {
    let mut out = File::from(res_w);
    let mut op_ns = Vec::with_capacity(iterations);
    let mut core_ns = Vec::with_capacity(iterations);
    let mut failure = None;
    for _ in 0..warmup {
        if let Err(e) = op() {
            failure = Some(e);
            break;
        }
    }
    // Signal readiness even after a failure, so the parent never waits on
    // a worker that will not come.
    let _ = write_fd(ready_w, &[1]);
    let mut go = [0u8; 1];
    let _ = read_fd(go_r, &mut go);
    let start = monotonic_ns();
    if failure.is_none() {
        for _ in 0..iterations {
            let t0 = monotonic_ns();
            match op() {
                Ok(core) => {
                    op_ns.push(monotonic_ns() - t0);
                    core_ns.push(core);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    let end = monotonic_ns();
    let bytes = match failure {
        Some(e) => encode_failure(&e),
        None => {
            let mut w = vec![0, start, end, op_ns.len() as u64];
            w.extend(&op_ns);
            w.extend(&core_ns);
            w.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
    };
    let code = if out.write_all(&bytes).is_ok() { 0 } else { 3 };
    exit_now(code)
}

fn write_fd(fd: &OwnedFd, buf: &[u8]) -> std::io::Result<()> {
    let mut f = File::from(fd.try_clone()?);
    f.write_all(buf)
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut f = File::from(fd.try_clone()?);
    f.read(buf)
}

struct Report {
    start: u64,
    end: u64,
    op_ns: Vec<u64>,
    core_ns: Vec<u64>,
}

fn encode_failure(e: &OpFailed) -> Vec<u8> {
    let mut bytes: Vec<u8> = [FAILED, e.0.len() as u64]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    bytes.extend(e.0.as_bytes());
    bytes
}

/// Decodes a failure record (`[u64::MAX, len, text]`) at the start of `bytes`.
fn decode_failure(bytes: &[u8]) -> Option<OpFailed> {
    let word = |i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
    };
    if word(0)? != FAILED {
        return None;
    }
    let len = usize::try_from(word(1)?).ok()?;
    let text = bytes.get(16..16usize.checked_add(len)?)?;
    Some(OpFailed(String::from_utf8_lossy(text).into_owned()))
}

fn read_report(fd: OwnedFd) -> Result<Report, PrimError> {
    let mut bytes = Vec::new();
    File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|err| PrimError::Io {
            op: "read worker report",
            path: "pipe".into(),
            err,
        })?;
    if let Some(OpFailed(text)) = decode_failure(&bytes) {
        return Err(PrimError::Op(text));
    }
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let bad = || PrimError::WorkerDied {
        status: format!("short report ({} bytes)", bytes.len()),
    };
    let head = words.get(..4).ok_or_else(bad)?;
    let n = usize::try_from(head[3]).map_err(|_| bad())?;
    let body = words.get(4..4 + 2 * n).ok_or_else(bad)?;
    Ok(Report {
        start: head[1],
        end: head[2],
        op_ns: body[..n].to_vec(),
        core_ns: body[n..].to_vec(),
    })
}

/// A helper for operations that fork one short-lived child each: the
/// child runs `inner` and reports its core time (or failure) through a
/// pipe kept open for the worker's whole loop. The loop around it times
/// fork + `inner` + exit + wait.
///
/// The pipe is created on first use, i.e. inside each worker after its
/// fork, so workers never share one.
#[derive(Debug, Default)]
pub struct Forker {
    pipe: Option<(File, OwnedFd)>,
}

impl Forker {
    pub fn new() -> Forker {
        Forker::default()
    }

    /// Forks, runs `inner` in the child, waits, returns the child's core ns.
    pub fn run(&mut self, inner: &mut dyn FnMut() -> OpResult) -> OpResult {
        if self.pipe.is_none() {
            let (r, w) = pipe()?;
            self.pipe = Some((File::from(r), w));
        }
        let Some((r, w)) = self.pipe.as_mut() else {
            return Err(OpFailed("forker pipe missing".into()));
        };
        match fork()? {
            ForkResult::Child => {
                let bytes = match inner() {
                    Ok(ns) => ns.to_le_bytes().to_vec(),
                    Err(e) => encode_failure(&e),
                };
                let code = if write_fd(w, &bytes).is_ok() { 0 } else { 3 };
                exit_now(code)
            }
            ForkResult::Parent { child } => {
                let status = wait(child)?;
                let mut buf = [0u8; 16];
                let got = read_up_to(r, &mut buf[..8]);
                let word = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8]));
                match status {
                    WaitStatus::Exited(_, 0) if got == 8 && word != FAILED => Ok(word),
                    _ if got == 8 && word == FAILED => {
                        read_up_to(r, &mut buf[8..]);
                        let len =
                            u64::from_le_bytes(buf[8..].try_into().unwrap_or([0; 8])) as usize;
                        let mut text = vec![0u8; len.min(4096)];
                        read_up_to(r, &mut text);
                        Err(OpFailed(String::from_utf8_lossy(&text).into_owned()))
                    }
                    other => Err(OpFailed(format!("child {child} ended with {other:?}"))),
                }
            }
        }
    }
}
