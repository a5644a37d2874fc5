//! An install whose pip runs in the background: [`Installer::begin`]
//! starts pip and returns at once; the caller watches [`PipRun::pidfd`]
//! (readable when pip exits) in its own `poll(2)` set, with
//! [`PipRun::deadline`] in its timeout, and hands the run back to
//! [`Installer::poll`], which finishes the install (checks, marker,
//! rename) once pip is done, or kills pip past the installer's timeout.
//! The blocking [`Installer::install`] is the same two steps with a wait
//! in between, so both paths share every step (issue 12: the concurrent
//! replay's one loop thread keeps serving while pip runs).

use super::{deadline, normalize_key, InstallError, Installed, Installer, TmpPath};
use std::os::fd::BorrowedFd;
use std::time::Instant;

/// A pip install in progress into a temporary folder (removed if the run
/// is dropped unfinished; the process itself is killed by its deadline
/// only through [`Installer::poll`]).
#[derive(Debug)]
pub struct PipRun {
    /// Normalized `name==version`.
    pub(super) key: String,
    pub(super) tmp: TmpPath,
    pub(super) start: Instant,
    pub(super) child: deadline::Spawned,
    /// The command line, for a timeout's error.
    pub(super) shown: String,
}

impl std::fmt::Debug for TmpPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TmpPath({:?})", self.0)
    }
}

/// What [`Installer::begin`] found.
#[derive(Debug)]
pub enum Begun {
    /// Installed already: no pip run.
    Ready(Installed),
    Running(PipRun),
}

/// What [`Installer::poll`] found.
#[derive(Debug)]
pub enum Polled {
    /// pip still runs (within its deadline): poll again later.
    Running(PipRun),
    /// pip ended (or was killed at its deadline): the install's outcome.
    Done(Result<Installed, InstallError>),
}

impl PipRun {
    /// The key being installed (normalized).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Polls readable once pip has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.child.pidfd()
    }

    /// When pip is killed if still running.
    pub fn deadline(&self) -> Instant {
        self.child.deadline()
    }

    /// Abandons the install: pip's process group is killed and reaped, and
    /// its temporary folder removed.
    pub fn kill(self) {
        self.child.kill();
    }
}

impl Installer {
    /// Starts installing `key` (no dependencies) and returns without
    /// waiting for pip.
    pub fn begin(&self, key: &str) -> Result<Begun, InstallError> {
        normalize_key(key)?;
        self.begin_from(key, None)
    }

    /// Without blocking: `run` handed back while pip runs, else the
    /// install finished (or failed, or timed out and was killed).
    pub fn poll(&self, run: PipRun) -> Polled {
        let PipRun {
            key,
            tmp,
            start,
            child,
            shown,
        } = run;
        match child.poll() {
            Err(child) => Polled::Running(PipRun {
                key,
                tmp,
                start,
                child,
                shown,
            }),
            Ok(Err(e)) => Polled::Done(Err(self.run_error(&shown, e))),
            Ok(Ok(out)) => Polled::Done(self.finish_install(key, tmp, start, out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::Source;
    use std::time::Duration;

    /// An installer whose "pip" is `script` run by sh.
    fn fake(dir: &std::path::Path, script: &str, timeout: Duration) -> Installer {
        Installer {
            cache_dir: dir.to_path_buf(),
            pip: vec!["/bin/sh".into(), "-c".into(), script.into(), "sh".into()],
            pip_version: "23.0".into(),
            source: Source::Index,
            python_version: "3.11".into(),
            timeout: crate::install::DEFAULT_PIP_TIMEOUT,
        }
        .with_timeout(timeout)
    }

    #[test]
    fn a_background_pip_returns_at_once_and_polls_until_it_exits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inst = fake(dir.path(), "sleep 0.5; exit 3", Duration::from_secs(60));
        let t = Instant::now();
        let Ok(Begun::Running(mut run)) = inst.begin("a==1.0") else {
            panic!("pip did not start")
        };
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "begin waited for pip"
        );
        let got = loop {
            match inst.poll(run) {
                Polled::Running(r) => {
                    let fd = r.pidfd();
                    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
                    run = r;
                }
                Polled::Done(got) => break got,
            }
        };
        assert!(
            t.elapsed() >= Duration::from_millis(450),
            "{:?}",
            t.elapsed()
        );
        // pip failed (exit 3): an error, and no temporary folder is left.
        assert!(got.is_err(), "{got:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read").collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_background_pip_past_its_deadline_is_killed_by_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inst = fake(dir.path(), "sleep 30", Duration::from_millis(200));
        let Ok(Begun::Running(run)) = inst.begin("a==1.0") else {
            panic!("pip did not start")
        };
        let Polled::Running(run) = inst.poll(run) else {
            panic!("done before its deadline")
        };
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        match inst.poll(run) {
            Polled::Done(Err(InstallError::Timeout { .. })) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
