//! Privileged tests of `sock-exec run` when things fail: a crashed Zygote
//! leads to the fallback sim takes and a repaired tree, not a failed
//! request; a package pip cannot install fails only its function (and
//! evicting it does not abort the run); an error mid-run or a SIGTERM
//! tears everything down. Set-up: `common/replay.rs`.

mod common;

use common::replay::*;
use common::*;
use sock_core::config::TierConfig;
use sock_core::cost::CostParams;
use sock_core::record::PathKind;
use sock_core::trace::{Catalog, Invocation};
use sock_core::Micros;
use std::path::Path;
use std::time::Duration;

fn main() {
    run_cases(
        "run_failures",
        &[
            (
                "crashed_zygote_falls_back_as_sim_does_and_is_repaired",
                crashed_zygote_falls_back_as_sim_does_and_is_repaired,
            ),
            (
                "uninstallable_package_fails_only_its_function",
                uninstallable_package_fails_only_its_function,
            ),
            (
                "evicting_an_uninstallable_package_does_not_abort_the_run",
                evicting_an_uninstallable_package_does_not_abort_the_run,
            ),
            (
                "error_mid_run_tears_everything_down",
                error_mid_run_tears_everything_down,
            ),
            ("sigterm_tears_the_run_down", sigterm_tears_the_run_down),
            (
                "a_spare_killed_while_waiting_is_reported_to_the_planner",
                a_spare_killed_while_waiting_is_reported_to_the_planner,
            ),
        ],
    );
}

fn crashed_zygote_falls_back_as_sim_does_and_is_repaired(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rrepair");
    let mut tiers = dynamic();
    tiers.handler.budget_mb = 0.0; // every call is a cold start
    let mut runner = start(&mut ex, &catalog, tiers.clone(), None, dir)?;
    let invs = [inv(0, 1), inv(1_000, 1), inv(2_000, 1), inv(3_000, 1)];
    let first = runner.step(0, invs[0]).map_err(|e| e.to_string())?;
    check(first.path == PathKind::ZygoteHit, format!("{first:?}"))?;
    let second = runner.step(1, invs[1]).map_err(|e| e.to_string())?;
    check(
        second.path == PathKind::ZygoteHit && second.zygote != first.zygote,
        format!("second call forks from the grown Zygote {{a}}: {second:?}"),
    )?;
    // Crash the Zygote {a}.
    let z = second.zygote.expect("zygote");
    let pid = runner.zygote_pids()[&sock_core::ZygoteId(z)];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(50));
    // The planner learns it died: the fallback forks from its parent, the
    // root, while {a} is repaired.
    let third = runner.step(2, invs[2]).map_err(|e| e.to_string())?;
    check(
        third.path == PathKind::ZygoteHit && third.zygote == first.zygote,
        format!("a crashed Zygote means a fork from its parent: {third:?}"),
    )?;
    let pids = runner.zygote_pids();
    check(
        pids.get(&sock_core::ZygoteId(z)).is_some_and(|p| *p != pid),
        format!("Zygote {z} repaired with a new process: {pids:?} (was {pid})"),
    )?;
    let fourth = runner.step(3, invs[3]).map_err(|e| e.to_string())?;
    check(
        fourth.path == PathKind::ZygoteHit && fourth.zygote == Some(z),
        format!("the repaired Zygote serves again: {fourth:?}"),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 0 && s.fallbacks == 1 && s.zygote_repairs == 1,
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())?;
    // The same trace in sim's engine, with the failure injected where the
    // crash was: the same decision for every call.
    let real = [&first, &second, &third, &fourth].map(|r| (r.path, r.zygote, r.spare));
    let simulated = simulate_with_failure(&catalog, tiers, &invs, 2)?;
    check(
        real.to_vec() == simulated,
        format!("sock-exec {real:?} vs the engine with an injected failure {simulated:?}"),
    )
}

/// Replays `invs` through sock-core's engine with predicted times (as sim
/// does), the Zygote of invocation `fail_seq` dying; returns each
/// invocation's (path, Zygote, spare).
fn simulate_with_failure(
    catalog: &Catalog,
    tiers: TierConfig,
    invs: &[Invocation],
    fail_seq: u64,
) -> Result<Vec<(PathKind, Option<u32>, bool)>, String> {
    use sock_core::engine::{Call, Effects, Engine, EngineError, Served, VirtualReplay};
    use sock_core::planner::{Action, Failure, Plan, Planner, SideDecision};
    struct Predicted(u64, Vec<(PathKind, Option<u32>, bool)>);
    impl Effects for Predicted {
        type Error = EngineError;
        fn apply(
            &mut self,
            _: &Planner<'_>,
            _: &[SideDecision],
            _: Micros,
        ) -> Result<(), EngineError> {
            Ok(())
        }
        fn serve(
            &mut self,
            _: &Planner<'_>,
            call: &Call,
            plan: &Plan,
        ) -> Result<Served, EngineError> {
            if call.seq == self.0 && call.attempt == 0 {
                return Ok(Served::Failed(Failure::ZygoteDied));
            }
            let (zygote, spare) = match &plan.action {
                Action::Fork { zygote, spare, .. } => (Some(zygote.0), *spare),
                _ => (None, false),
            };
            self.1.push((plan.action.path(), zygote, spare));
            Ok(Served::Done {
                service: plan.phases.total() - plan.phases.queue,
            })
        }
    }
    let planner =
        Planner::new(catalog, CostParams::default(), tiers, None).map_err(|e| e.to_string())?;
    let mut replay = VirtualReplay::new(Engine::new(planner, Default::default()));
    let mut fx = Predicted(fail_seq, Vec::new());
    for (seq, i) in invs.iter().enumerate() {
        replay
            .arrive(&mut fx, seq as u64, *i)
            .map_err(|e| e.to_string())?;
    }
    replay.finish(&mut fx).map_err(|e| e.to_string())?;
    Ok(fx.1)
}

fn uninstallable_package_fails_only_its_function(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog_with(true);
    let mut ex = executor(dir, "rmissing");
    let mut runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
    // fd needs d, which has no wheel: the call fails (500), the run goes on.
    let rec = runner.step(0, inv(0, 4)).map_err(|e| e.to_string())?;
    check(
        rec.installed.is_empty() || rec.installed == vec!["d==1.0".to_string()],
        format!("{rec:?}"),
    )?;
    let rec = runner.step(1, inv(10, 1)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit,
        format!("fa still served: {rec:?}"),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 1 && s.packages_failed == vec!["d==1.0".to_string()],
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Issue 12: the planner evicts a package pip could not install (it is in
/// the model's cache, not on disk); `installer.remove` answered
/// NotInstalled and `?` ended the run.
fn evicting_an_uninstallable_package_does_not_abort_the_run(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog_with(true);
    let mut ex = executor(dir, "revict");
    // Room for two packages of 10,000 bytes.
    let mut runner = start(&mut ex, &catalog, fresh_only(0.025), None, dir)?;
    // fd (d has no wheel), fa (a), then fc: c evicts d, the LRU package.
    // (Far apart: each call, pip's time included, is over before the next.)
    for (seq, i) in [inv(0, 4), inv(60_000, 1), inv(120_000, 3)]
        .iter()
        .enumerate()
    {
        runner
            .step(seq as u64, *i)
            .map_err(|e| format!("step {seq}: {e}"))?;
    }
    check(
        runner.planner().counters().package_evictions >= 1,
        format!(
            "the planner evicted d: {:?}, cache {:?}",
            runner.planner().counters(),
            runner.planner().installs().used()
        ),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(
        s.errors == 1 && s.packages_failed == vec!["d==1.0".to_string()],
        format!("{s:?}"),
    )?;
    ex.shutdown().map_err(|e| e.to_string())
}

/// Issue 12: any `?` in serve / apply returned without a teardown,
/// leaving frozen handlers, Zygotes, mounts and cgroups. Dropping the
/// runner and the executor on the error path now tears everything down.
fn error_mid_run_tears_everything_down(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let kids = settled_child_count(true);
    let mut ex = executor(dir, "rteardown");
    let backend = ex.backend().clone();
    {
        let mut runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
        // fa: a Zygote hit, then paused (a frozen handler), and a grown Zygote.
        runner.step(0, inv(0, 1)).map_err(|e| e.to_string())?;
        runner.step(1, inv(5_000, 1)).map_err(|e| e.to_string())?;
        // fc's handler folder vanishes: its container cannot be made.
        std::fs::remove_dir_all(dir.join("work/handlers/f3")).map_err(|e| e.to_string())?;
        check(
            runner.step(2, inv(10_000, 3)).is_err(),
            "creating fc's container fails",
        )?;
    }
    drop(ex);
    check(
        mount_count() == 0,
        format!("mounts left: {}", mount_count()),
    )?;
    let cgroups = backend.list_below(&prefix("rteardown"));
    check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"))?;
    let left = settled_child_count(false);
    check(left == kids, format!("processes left: {kids} -> {left}"))
}

/// Issue 12: SIGINT / SIGTERM killed a run with its containers left
/// behind. Now the replay stops at the next invocation and tears down.
/// The run is a forked child (signals and the stop flag are per process);
/// its records go to a pipe, so the parent signals it mid-replay.
fn sigterm_tears_the_run_down(dir: &Path) -> TestResult {
    use std::io::BufRead;
    packages(dir)?;
    let kids = settled_child_count(true);
    let (r, w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
    match sock_exec::sys::process::fork().map_err(|e| e.to_string())? {
        sock_exec::sys::process::ForkResult::Child => {
            drop(r);
            let code = (|| -> Result<i32, String> {
                sock_exec::sys::signal::catch_stop_signals().map_err(|e| e.to_string())?;
                let catalog = catalog();
                let mut ex = executor(dir, "rsignal");
                let runner = start(&mut ex, &catalog, dynamic(), None, dir)?;
                // Calls of fa and fc, 1 ms apart: far more than run before the signal.
                let trace = (0..5_000u64)
                    .map(|i| Ok::<_, sock_core::trace::TraceError>(inv(i, 1 + 2 * (i % 2) as u32)));
                let mut out = std::fs::File::from(w);
                let result = sock_exec::run::replay(
                    runner,
                    trace,
                    None,
                    Some(&mut out as &mut dyn std::io::Write),
                );
                drop(ex);
                Ok(match result {
                    Err(sock_exec::run::RunError::Interrupted(_)) => 3,
                    Err(_) => 2,
                    Ok(_) => 1,
                })
            })();
            sock_exec::sys::process::exit_now(code.unwrap_or(4))
        }
        sock_exec::sys::process::ForkResult::Parent { child } => {
            drop(w);
            let mut lines = std::io::BufReader::new(std::fs::File::from(r)).lines();
            // Two records: a handler container and Zygotes exist.
            for _ in 0..2 {
                lines
                    .next()
                    .ok_or("the run ended before it was signalled")?
                    .map_err(|e| e.to_string())?;
            }
            nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| e.to_string())?;
            let status = sock_exec::sys::process::wait(child).map_err(|e| e.to_string())?;
            check(
                status == nix::sys::wait::WaitStatus::Exited(child, 3),
                format!("the run stops with Interrupted: {status:?}"),
            )?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    // Processes killed after the run's own exit were reparented to us.
    while let Ok(st) = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(-1),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        if st == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
    check(
        mount_count() == 0,
        format!("mounts left: {}", mount_count()),
    )?;
    let backend = sock_exec::cgroup::CgroupBackend::host().map_err(|e| e.to_string())?;
    let cgroups = backend.list_below(&prefix("rsignal"));
    check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"))?;
    let left = settled_child_count(false);
    check(left == kids, format!("processes left: {kids} -> {left}"))
}

/// Issue 12: a spare killed while it waited was found and dropped by the
/// executor, but the planner still counted it, so its count of ready
/// spares drifted from the real one. Now the planner is told
/// (`on_spare_lost`) and refills it.
fn a_spare_killed_while_waiting_is_reported_to_the_planner(dir: &Path) -> TestResult {
    packages(dir)?;
    let catalog = catalog();
    let mut ex = executor(dir, "rsparelost");
    let mut tiers = TierConfig::default();
    tiers.zygote.mode = sock_core::config::ZygoteMode::Root;
    tiers.zygote.spares = 2;
    let mut runner = start(&mut ex, &catalog, tiers, None, dir)?;
    let root = sock_core::ZygoteId(0);
    runner.step(0, inv(1_000, 0)).map_err(|e| e.to_string())?;
    let pids = runner.spare_pids().remove(&root).unwrap_or_default();
    check(pids.len() == 2, format!("two spares wait: {pids:?}"))?;
    // Kill the oldest (the next hit's) and wait until it has left.
    let pid = nix::unistd::Pid::from_raw(pids[0]);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(300));
    let rec = runner.step(1, inv(5_000, 3)).map_err(|e| e.to_string())?;
    check(
        rec.path == PathKind::ZygoteHit && rec.spare,
        format!("the next spare served: {rec:?}"),
    )?;
    let counted = runner.planner().spares().count(root);
    let real = runner.spare_pids().remove(&root).unwrap_or_default();
    check(
        runner.planner().counters().spares_lost == 1 && counted == real.len(),
        format!(
            "planner told ({:?}); it counts {counted} spares, {} wait",
            runner.planner().counters(),
            real.len()
        ),
    )?;
    let s = runner.finish().map_err(|e| e.to_string())?;
    check(s.spares_lost == 1, format!("summary: {s:?}"))?;
    ex.shutdown().map_err(|e| e.to_string())
}
