//! Forking a Zygote into a new container: prepare the target (create
//! steps 1-7), send the request with the target's fds, and follow the
//! reply stream (forked, joined, imported, ready) to its end.

use super::{connect, join_fds, log_tail, Event, ForkError, ForkReport, Lines};
use crate::container::{Container, ContainerSpec, Executor, Prepared, Role};
use crate::sys::{clock, fs};
use nix::fcntl::OFlag;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

impl Executor {
    /// Forks `zygote` into a new lean container made for `spec`: the child
    /// imports `spec.imports` (what the Zygote lacks) and then serves as a
    /// handler (`Role::Handler`) or as a new Zygote (`Role::Zygote`).
    /// On any failure the target container is undone and the child killed.
    pub fn fork_from(
        &mut self,
        zygote: &Container,
        spec: &ContainerSpec,
        role: Role,
        timeout: Duration,
    ) -> Result<(Container, ForkReport), ForkError> {
        self.fork_with(zygote, spec, role, false, timeout)
    }

    /// [`Executor::fork_from`], asking for a pre-forked child (`spare`,
    /// handlers only) when the Zygote has one; the report says whether it
    /// did (a spare that was killed means a normal fork). The container
    /// is made in the cgroup the spare joined at refill time, so the hit
    /// pays no cgroup join (see `spares.rs`); a normal fork that replaces
    /// a spare found dead at the last moment joins that same cgroup.
    pub fn fork_with(
        &mut self,
        zygote: &Container,
        spec: &ContainerSpec,
        role: Role,
        spare: bool,
        timeout: Duration,
    ) -> Result<(Container, ForkReport), ForkError> {
        let start_ns = clock::monotonic_ns();
        let t0 = Instant::now();
        let spare = match (spare, role) {
            (true, Role::Handler) => self.take_spare(zygote.id),
            _ => None,
        };
        let spare_pid = spare.as_ref().map(|s| s.pid);
        let prep = self.prepare_in(spec, spare.map(|s| s.cgroup))?;
        let prepare = t0.elapsed();
        let mut child = None;
        let want = Want { role, spare_pid };
        let result = self.fork_prepared(zygote, &prep, spec, want, timeout, &mut child);
        match result {
            Ok(mut report) => {
                report.prepare = prepare;
                report.start_ns = start_ns;
                let pid = child.expect("a successful fork reports the child's pid");
                Ok((self.finish(prep, pid), report))
            }
            Err(e) => {
                if let Some(pid) = child {
                    // The Zygote's child, not ours: the Zygote reaps it, so
                    // its number may be reused; the cgroup kill in undo
                    // (which reaps what of ours was inside) takes it.
                    tracing::debug!(
                        pid = pid.as_raw(),
                        "a failed fork's child goes with its cgroup"
                    );
                }
                self.undo(prep.partial);
                Err(e)
            }
        }
    }

    fn fork_prepared(
        &self,
        zygote: &Container,
        prep: &Prepared,
        spec: &ContainerSpec,
        want: Want,
        timeout: Duration,
        child: &mut Option<Pid>,
    ) -> Result<ForkReport, ForkError> {
        let role = want.role;
        let cgroup = prep
            .partial
            .cgroup
            .as_ref()
            .ok_or_else(|| ForkError::Protocol("target has no cgroup".into()))?;
        let root = fs::open(&prep.partial.root, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let null = fs::open(Path::new("/dev/null"), OFlag::O_RDWR)?;
        let (pidns, procs) = join_fds(self, cgroup)?;
        let mut fds: Vec<RawFd> = vec![
            root.as_raw_fd(),
            prep.listener.as_raw_fd(),
            prep.output.as_raw_fd(),
            null.as_raw_fd(),
            pidns.as_raw_fd(),
        ];
        fds.extend(procs.iter().map(|f| f.as_raw_fd()));
        let request = serde_json::json!({
            "op": "fork",
            "role": role.as_str(),
            "imports": spec.imports,
            "pythonpath": prep.pythonpath,
            "uid": self.config.uid,
            "gid": self.config.gid,
            "spare": want.spare_pid.is_some(),
            "spare_pid": want.spare_pid.map(Pid::as_raw),
        });
        let line = format!("{request}\n");

        let mut report = ForkReport {
            prepared_ns: clock::monotonic_ns(),
            ..ForkReport::default()
        };
        let stream = connect(zygote)?;
        let t0 = Instant::now();
        fs::send_with_fds(stream.as_fd(), line.as_bytes(), &fds)?;
        drop((root, null, pidns, procs));
        let mut lines = Lines::new(stream, timeout);
        // The pid (from the Zygote) and the child's own events come from two
        // processes, so "forked" may arrive after "joined"; the child's
        // events are in order.
        let stages = ["joining", "importing", "serving"];
        let mut stage = 0;
        loop {
            let Some(event) = lines.next()? else {
                let what = if child.is_none() {
                    "the fork"
                } else {
                    stages[stage.min(2)]
                };
                return Err(ForkError::Closed(what, log_tail(zygote)));
            };
            match event {
                Event::Forked { pid, spare } if child.is_none() => {
                    let pid = Pid::from_raw(pid);
                    *child = Some(pid);
                    if spare && want.spare_pid != Some(pid) {
                        return Err(ForkError::Protocol(format!(
                            "asked for spare {:?}, the Zygote handed the fork to {pid}",
                            want.spare_pid
                        )));
                    }
                    report.spare = spare;
                }
                Event::Joined { t_ns, steps } if stage == 0 => {
                    report.join = t0.elapsed();
                    report.joined_ns = t_ns;
                    report.steps = steps;
                    stage = 1;
                }
                Event::Imported {
                    import_us,
                    error,
                    t0_ns,
                    t1_ns,
                } if stage == 1 => {
                    report.import_us = import_us;
                    report.load_error = error;
                    report.import_start_ns = t0_ns;
                    report.import_end_ns = t1_ns;
                    stage = 2;
                }
                Event::Ready { load_error, t_ns } if stage == 2 => {
                    report.total = t0.elapsed();
                    report.ready_ns = t_ns;
                    if report.load_error.is_none() {
                        report.load_error = load_error;
                    }
                    stage = 3;
                }
                Event::Error { stage, error } => return Err(ForkError::Child { stage, error }),
                other => {
                    return Err(ForkError::Protocol(format!(
                        "unexpected {other:?} while waiting for {}",
                        stages[stage.min(2)]
                    )))
                }
            }
            if stage == 3 && child.is_some() {
                // EOF: both the Zygote and the child have let go of the
                // connection; the fork is over on both sides.
                return match lines.next()? {
                    None => {
                        report.done_ns = clock::monotonic_ns();
                        Ok(report)
                    }
                    Some(extra) => Err(ForkError::Protocol(format!(
                        "unexpected {extra:?} after ready"
                    ))),
                };
            }
        }
    }
}

/// What a fork request asks for.
#[derive(Clone, Copy, Debug)]
struct Want {
    role: Role,
    /// The spare to hand the fork to (handlers only): the one whose cgroup
    /// the target container was made in.
    spare_pid: Option<Pid>,
}
