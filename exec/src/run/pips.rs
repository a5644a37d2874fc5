//! The concurrent replay's installs (issue 12): pip runs as a background
//! child process that the replay's one poll loop watches (its pidfd in the
//! `poll(2)` set, its deadline in the timeout), so calls that need no
//! install keep being served while it runs. A call that needs packages
//! waits here (the engine sees it `Running`); when the last pip it needs
//! exits, the rest of its start (fork or create, then the request) runs
//! from the loop, and its `install` phase spans its start to that exit.
//! A package is installed by one pip at a time: a second call needing it
//! waits for the same run. pip's timeout and error reporting are the
//! blocking path's (`installs.rs`). A call also waits for a run in
//! progress for any package its container mounts (the planner counts it
//! installed by the call that started it), and a Zygote's creation,
//! repair or refill is put off while its packages are being installed
//! ([`Real::defer`]). Still blocking the loop: a source build (no wheel
//! fits), and a pre-warm, which waits for the runs of the packages it
//! mounts ([`Real::finish_pips_for`]).

use super::installs::Need;
use super::real::Real;
use super::RunError;
use crate::install::{Begun, Installer, PipRun, Polled};
use crate::sys::clock;
use sock_core::engine::Call;
use sock_core::engine::Effects;
use sock_core::planner::{Failure, Plan, Planner, SideDecision};
use sock_core::{InstanceId, PackageId, PackageSet, ZygoteId};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::Instant;

/// pip runs in progress and the calls waiting for them.
#[derive(Debug, Default)]
pub(super) struct Pips {
    jobs: BTreeMap<Need, Job>,
    waiting: BTreeMap<InstanceId, Waiting>,
    /// Zygote decisions (create, repair, refill) put off until the pip runs
    /// for the Zygote's packages end, in the order they came.
    deferred: Vec<SideDecision>,
}

#[derive(Debug)]
struct Job {
    run: PipRun,
    installer: Installer,
    key: String,
}

/// A call waiting for its installs.
#[derive(Debug)]
struct Waiting {
    call: Call,
    plan: Plan,
    attempt_start_ns: u64,
    needs: BTreeSet<Need>,
    /// Private folders kept from the sweep while it waits.
    reserved: Vec<PathBuf>,
    /// Private copies made for it.
    made: Vec<(PackageId, PathBuf)>,
    /// When its last install ended.
    installed_ns: u64,
}

/// A waiting call whose container could not be started (its Zygote died
/// meanwhile): the engine falls back (`Engine::fail_running`).
#[derive(Debug)]
pub(super) struct LateFailure {
    pub(super) call: Call,
    pub(super) plan: Plan,
    pub(super) failure: Failure,
    pub(super) attempt_start_ns: u64,
    pub(super) at_ns: u64,
}

impl Pips {
    /// Nothing runs and nobody waits.
    pub(super) fn is_idle(&self) -> bool {
        self.jobs.is_empty() && self.waiting.is_empty() && self.deferred.is_empty()
    }

    /// The pidfds to poll (readable when their pip exits).
    pub(super) fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.jobs.values().map(|j| j.run.pidfd())
    }

    /// The earliest pip deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.jobs.values().map(|j| j.run.deadline()).min()
    }
}

impl Pips {
    /// Zygote `z` left the tree: its put-off decisions are dropped.
    pub(super) fn forget_deferred(&mut self, z: ZygoteId) {
        self.deferred.retain(|d| zygote_of(d) != Some(z));
    }
}

/// The Zygote a create / repair / refill decision is about.
fn zygote_of(d: &SideDecision) -> Option<ZygoteId> {
    match *d {
        SideDecision::CreateZygote { zygote, .. }
        | SideDecision::RepairZygote { zygote, .. }
        | SideDecision::Refill { zygote, .. } => Some(zygote),
        _ => None,
    }
}

impl Drop for Pips {
    fn drop(&mut self) {
        for (_, job) in std::mem::take(&mut self.jobs) {
            job.run.kill();
        }
    }
}

impl Real<'_, '_> {
    /// Starts (or joins) the pip runs of `missing` for `call`; returns
    /// whether it waits (false: all were done at once, serve it now).
    pub(super) fn wait_for_installs(
        &mut self,
        call: &Call,
        plan: &Plan,
        missing: Vec<Need>,
    ) -> Result<bool, RunError> {
        let mut w = Waiting {
            call: *call,
            plan: plan.clone(),
            attempt_start_ns: self.attempt_start_ns,
            needs: BTreeSet::new(),
            reserved: Vec::new(),
            made: Vec::new(),
            installed_ns: self.attempt_start_ns,
        };
        for need in missing {
            if self.pips.jobs.contains_key(&need) {
                self.summary.pip_joined += 1;
            } else {
                let key = self.catalog.package(need.package).key();
                let installer = self.installer_for(need)?;
                let got = match installer.begin(&key) {
                    Ok(Begun::Running(run)) => {
                        self.summary.pip_background += 1;
                        let job = Job {
                            run,
                            installer,
                            key,
                        };
                        self.pips.jobs.insert(need, job);
                        None
                    }
                    Ok(Begun::Ready(done)) => Some((installer, key, Ok(done))),
                    Err(e) => Some((installer, key, Err(e))),
                };
                if let Some((installer, key, got)) = got {
                    let got = self.or_build(&installer, &key, got);
                    if let Some(path) = self.note_installed(need, &key, got)? {
                        if need.uncached {
                            w.made.push((need.package, path));
                        }
                    }
                    continue;
                }
            }
            if need.uncached {
                let dir = self.pips.jobs[&need].installer.cache_dir().to_path_buf();
                self.private.reserve(&dir);
                w.reserved.push(dir);
            }
            w.needs.insert(need);
        }
        if w.needs.is_empty() {
            for dir in &w.reserved {
                self.private.unreserve(dir);
            }
            return Ok(false);
        }
        self.pips.waiting.insert(plan.instance, w);
        Ok(true)
    }

    /// Whether `d` is put off (the concurrent replay only): a Zygote's
    /// creation, repair or refill while a pip run for one of its packages
    /// is in progress (or while an earlier decision about it waits), so the
    /// loop does not block on that run. Calls forking from that Zygote
    /// mount the same packages, so they wait for the same runs, and the
    /// decisions are applied before those calls resume ([`Real::poll_pips`]).
    pub(super) fn defer(&mut self, planner: &Planner<'_>, d: &SideDecision) -> bool {
        let Some(z) = zygote_of(d) else {
            return false;
        };
        if self.wall.is_none() || self.applying_deferred {
            return false;
        }
        let queued = self.pips.deferred.iter().any(|e| zygote_of(e) == Some(z));
        if queued || !self.pips_for(&self.zygote_packages(planner, z)).is_empty() {
            self.pips.deferred.push(d.clone());
            return true;
        }
        false
    }

    /// The packages Zygote `z` mounts (none if the tree has no such node).
    fn zygote_packages(&self, planner: &Planner<'_>, z: ZygoteId) -> PackageSet {
        planner
            .tree()
            .and_then(|t| t.node(z))
            .map(|n| n.packages.clone())
            .unwrap_or_default()
    }

    /// Applies the put-off decisions whose Zygote's pip runs have all
    /// ended, in order (a later one about the same Zygote waits behind an
    /// earlier one still put off).
    fn apply_deferred(&mut self, planner: &Planner<'_>) -> Result<(), RunError> {
        let mut blocked: BTreeSet<ZygoteId> = BTreeSet::new();
        let mut keep = Vec::new();
        for d in std::mem::take(&mut self.pips.deferred) {
            let Some(z) = zygote_of(&d) else { continue };
            if blocked.contains(&z) || !self.pips_for(&self.zygote_packages(planner, z)).is_empty()
            {
                blocked.insert(z);
                keep.push(d);
                continue;
            }
            self.applying_deferred = true;
            let applied = self.apply(planner, std::slice::from_ref(&d), sock_core::Micros::ZERO);
            self.applying_deferred = false;
            applied?;
        }
        self.pips.deferred = keep;
        Ok(())
    }

    /// Checks every pip run without blocking; each call whose last install
    /// ended is started (its request goes out) or, if that fails, returned
    /// for the engine's fallback.
    pub(super) fn poll_pips(
        &mut self,
        planner: &Planner<'_>,
    ) -> Result<Vec<LateFailure>, RunError> {
        self.reap_pips(None)?;
        self.apply_deferred(planner)?;
        let ready: Vec<InstanceId> = self
            .pips
            .waiting
            .iter()
            .filter(|(_, w)| w.needs.is_empty())
            .map(|(id, _)| *id)
            .collect();
        let mut late = Vec::new();
        for id in ready {
            if let Some(w) = self.pips.waiting.remove(&id) {
                late.extend(self.resume(w)?);
            }
        }
        Ok(late)
    }

    /// The pip runs in progress for packages of `set`.
    pub(super) fn pips_for(&self, set: &PackageSet) -> Vec<Need> {
        self.pips
            .jobs
            .keys()
            .filter(|n| set.contains(n.package))
            .copied()
            .collect()
    }

    /// Blocks until no pip run for a package of `set` is in progress: a
    /// side decision is about to mount them (a Zygote's creation or repair,
    /// a pre-warm). The calls waiting for those runs start at the loop's
    /// next turn.
    pub(super) fn finish_pips_for(&mut self, set: &PackageSet) -> Result<(), RunError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            let needs = self.pips_for(set);
            if needs.is_empty() {
                return Ok(());
            }
            self.reap_pips(Some(&needs))?;
            let needs = self.pips_for(set);
            let Some(deadline) = needs.iter().map(|n| self.pips.jobs[n].run.deadline()).min()
            else {
                return Ok(());
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let mut fds: Vec<PollFd<'_>> = needs
                .iter()
                .map(|n| PollFd::new(self.pips.jobs[n].run.pidfd(), PollFlags::POLLIN))
                .collect();
            let _ready_or_interrupted = poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            );
        }
    }

    /// Finishes the pip runs that ended (of `only`, or all), noting each
    /// outcome for the calls waiting for it.
    fn reap_pips(&mut self, only: Option<&[Need]>) -> Result<(), RunError> {
        let needs: Vec<Need> = match only {
            Some(n) => n.to_vec(),
            None => self.pips.jobs.keys().copied().collect(),
        };
        for need in needs {
            let Some(job) = self.pips.jobs.remove(&need) else {
                continue;
            };
            let got = match job.installer.poll(job.run) {
                Polled::Running(run) => {
                    self.pips.jobs.insert(need, Job { run, ..job });
                    continue;
                }
                Polled::Done(got) => got,
            };
            let got = self.or_build(&job.installer, &job.key, got);
            let path = self.note_installed(need, &job.key, got)?;
            let now = clock::monotonic_ns();
            for w in self.pips.waiting.values_mut() {
                if w.needs.remove(&need) {
                    w.installed_ns = now;
                    if let (true, Some(path)) = (need.uncached, &path) {
                        w.made.push((need.package, path.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// The rest of a waiting call's start, from where its installs ended.
    fn resume(&mut self, w: Waiting) -> Result<Option<LateFailure>, RunError> {
        self.attempt_start_ns = w.attempt_start_ns;
        self.private.begin_step();
        for (p, path) in w.made {
            self.private.record(p, path);
        }
        let prepared = self.prepare_installed(&w.call, &w.plan, w.installed_ns);
        for dir in &w.reserved {
            self.private.unreserve(dir);
        }
        let failure = match prepared? {
            Ok(p) => match self.send(&w.call, &w.plan, p)? {
                sock_core::engine::Served::Failed(f) => f,
                _ => return Ok(None),
            },
            Err(f) => f,
        };
        Ok(Some(LateFailure {
            call: w.call,
            plan: w.plan,
            failure,
            attempt_start_ns: w.attempt_start_ns,
            at_ns: clock::monotonic_ns(),
        }))
    }
}
