//! Tests of the primitives study and the Docker / runc / chroot baselines.
//!
//! A single-threaded harness (`harness = false`: the study forks, and
//! fork(2) is only sound from a single-threaded process). Every case runs
//! in a forked child, so the harness's own namespaces, root and cgroups
//! never change; around each case the harness checks that no mount, no
//! cgroup directory, no scratch entry and no child process was left.
//!
//! Privileged cases need root: without it they print a loud
//! "SKIPPED: needs root", or fail when `SOCK_REQUIRE_PRIVILEGED=1` (CI). The
//! Docker and runc baselines skip loudly when no engine is there, and fail
//! instead when `SOCK_REQUIRE_BASELINES=1` (CI, which installs both).
//! Docker and runc cases skip loudly (never fail) when the engine is not
//! reachable. The runc config case needs neither.
//!
//! (One file on purpose: every case checks the one primitives study and
//! shares its own fork-per-case harness at the bottom.)

use sock_exec::baseline::{self, docker, oci, plain::Plain, runc, Probe};
use sock_exec::primitives::{self, Config, Experiment, PrimError, Row};
use sock_exec::sys::process::{exit_now, fork, is_root, wait, ForkResult};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a case ended.
enum Verdict {
    Pass,
    Skip(String),
}

type CaseResult = Result<Verdict, String>;

struct Case {
    name: &'static str,
    needs_root: bool,
    run: fn(&Path) -> CaseResult,
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

// ---------------------------------------------------------------- helpers

fn tiny(scratch: &Path) -> Config {
    Config::tiny(scratch, None)
}

/// Rows of one experiment, with per-cell sample counts checked: every
/// worker contributes `per_round * rounds` samples.
fn run_experiment(e: Experiment, cfg: &Config) -> Result<Vec<Row>, String> {
    let rows = e.run(cfg).map_err(|err| format!("{}: {err}", e.name()))?;
    ensure(!rows.is_empty(), || format!("{}: no rows", e.name()))?;
    let per_worker = cfg.iterations.div_ceil(cfg.rounds) * cfg.rounds;
    for r in &rows {
        let workers = if r.x_name == "processes" {
            r.x as usize
        } else {
            1
        };
        ensure(r.summary.samples == per_worker * workers, || {
            format!("{r:?}: expected {} samples", per_worker * workers)
        })?;
        ensure(
            r.summary.median_us > 0.0 && r.summary.p95_us >= r.summary.median_us,
            || format!("{r:?}: bad quantiles"),
        )?;
        ensure(r.ops_per_s.is_finite() && r.ops_per_s > 0.0, || {
            format!("{r:?}: bad ops/s")
        })?;
    }
    Ok(rows)
}

fn variants(rows: &[Row]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r.variant.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// A root file system made of the host's /usr/bin/true and /usr/bin/false
/// and the libraries `ldd` names: enough for `docker import`, runc and
/// chroot, with no network.
fn tiny_rootfs(dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("rootfs");
    for sub in ["usr/bin", "dev", "proc", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
    }
    let mut files = vec![
        PathBuf::from("/usr/bin/true"),
        PathBuf::from("/usr/bin/false"),
    ];
    let ldd = Command::new("ldd")
        .arg("/usr/bin/true")
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    for word in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
        if word.starts_with('/') {
            files.push(PathBuf::from(word));
        }
    }
    for f in files {
        let real = f
            .canonicalize()
            .map_err(|e| format!("{}: {e}", f.display()))?;
        let dst = root.join(f.strip_prefix("/").unwrap_or(&f));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::copy(&real, &dst).map_err(|e| format!("copy {}: {e}", real.display()))?;
    }
    Ok(root)
}

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- cases

fn runc_config_generation(dir: &Path) -> CaseResult {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr")).map_err(|e| e.to_string())?;
    let bundle = dir.join("bundle");
    let mut r = runc::Runc::prepare(&bundle, &rootfs, oci::Options::default())
        .map_err(|e| e.to_string())?;
    r.write_config(&baseline::noop_argv(true))
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(bundle.join("config.json")).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let canon = rootfs.canonicalize().map_err(|e| e.to_string())?;
    ensure(v["root"]["path"] == canon.display().to_string(), || {
        format!("root.path: {}", v["root"])
    })?;
    ensure(v["root"]["readonly"] == true, || {
        "root not read-only".into()
    })?;
    ensure(
        v["process"]["args"] == serde_json::json!(["/usr/bin/python3", "-c", "pass"]),
        || format!("args: {}", v["process"]["args"]),
    )?;
    ensure(v["process"]["terminal"] == false, || "terminal".into())?;
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["type"].as_str())
        .collect();
    ensure(ns == ["pid", "ipc", "uts", "mount", "network"], || {
        format!("namespaces {ns:?}")
    })?;
    let mounts: Vec<&str> = v["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    ensure(
        mounts.contains(&"/proc") && mounts.contains(&"/dev"),
        || format!("mounts {mounts:?}"),
    )?;
    // Not a root file system: a clear error naming the path.
    let bad = runc::Runc::prepare(&bundle, dir, oci::Options::default());
    ensure(
        matches!(&bad, Err(e) if e.to_string().contains("not a root file system")),
        || format!("{bad:?}"),
    )?;
    Ok(Verdict::Pass)
}

fn host_and_empty_argv(_dir: &Path) -> CaseResult {
    let host = Plain::host();
    host.run_once(&argv(&["/usr/bin/true"]))
        .map_err(|e| e.to_string())?;
    let err = host
        .run_once(&argv(&["/usr/bin/false"]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure(
        err.contains("/usr/bin/false") && err.contains("exit status: 1"),
        || format!("false gave {err:?}"),
    )?;
    ensure(host.run_once(&[]).is_err(), || "empty argv accepted".into())?;
    Ok(Verdict::Pass)
}

fn netns_tiny(dir: &Path) -> CaseResult {
    let cfg = tiny(dir);
    let rows = run_experiment(Experiment::Netns, &cfg)?;
    ensure(rows.len() == 4 * cfg.concurrency.len() * 2, || {
        format!("{} rows", rows.len())
    })?;
    ensure(
        variants(&rows) == ["fork only", "uts+ipc", "uts+ipc+mnt", "uts+ipc+net"],
        || format!("{:?}", variants(&rows)),
    )?;
    Ok(Verdict::Pass)
}

fn mount_count_tiny(dir: &Path) -> CaseResult {
    let cfg = tiny(dir);
    let rows = run_experiment(Experiment::MountCount, &cfg)?;
    ensure(rows.len() == cfg.mount_counts.len() * 2 * 2, || {
        format!("{} rows", rows.len())
    })?;
    // The dummies were really there while measuring: the namespace held
    // exactly 10 more mounts at 10 dummies than at 0.
    let total = |x: u64, variant: &str| {
        rows.iter()
            .find(|r| r.x == x && r.variant == variant)
            .and_then(|r| r.detail.strip_prefix("mounts_total=")?.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    for v in ["private dummies", "shared dummies"] {
        ensure(total(10, v) - total(0, v) == 10, || {
            format!("{v}: totals {} and {}", total(0, v), total(10, v))
        })?;
    }
    Ok(Verdict::Pass)
}

fn bind_overlay_tiny(dir: &Path) -> CaseResult {
    let rows = run_experiment(Experiment::BindOverlay, &tiny(dir))?;
    ensure(variants(&rows).len() == 4 && rows.len() == 8, || {
        format!("{:?}", variants(&rows))
    })?;
    Ok(Verdict::Pass)
}

fn cgroup_tiny(dir: &Path) -> CaseResult {
    let rows = run_experiment(Experiment::Cgroup, &tiny(dir))?;
    ensure(
        rows.len() % 3 == 0
            && rows
                .iter()
                .any(|r| r.variant.ends_with("reuse: join+leave")),
        || format!("{:?}", variants(&rows)),
    )?;
    Ok(Verdict::Pass)
}

fn root_tiny(dir: &Path) -> CaseResult {
    let rows = run_experiment(Experiment::Root, &tiny(dir))?;
    ensure(
        variants(&rows) == ["chroot", "mntns+chroot", "mntns+pivot_root"],
        || format!("{:?}", variants(&rows)),
    )?;
    Ok(Verdict::Pass)
}

/// Failing experiments report the step and path, from the caller
/// (bind_overlay: lower layer missing) and from inside a worker's child
/// (root: chroot into a missing dir), and still remove their scratch
/// mounts and dirs (the harness checks the mount table and the dir).
fn failure_cleans_up(dir: &Path) -> CaseResult {
    let missing = dir.join("no-such-rootfs");
    let cfg = Config::tiny(dir, Some(&missing));
    for (e, step) in [
        (Experiment::BindOverlay, "lower layer"),
        (Experiment::Root, "chroot"),
    ] {
        match e.run(&cfg) {
            Ok(_) => return Err(format!("{}: succeeded on a missing rootfs", e.name())),
            Err(err) => {
                let text = err.to_string();
                ensure(
                    text.contains(e.name())
                        && text.contains(step)
                        && text.contains("no-such-rootfs"),
                    || text.clone(),
                )?;
            }
        }
    }
    Ok(Verdict::Pass)
}

fn refuses_multithreaded(dir: &Path) -> CaseResult {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    let r = Experiment::Root.run(&tiny(dir));
    let _ = tx.send(());
    let _ = t.join();
    match r {
        Err(PrimError::MultiThreaded { threads }) if threads >= 2 => Ok(Verdict::Pass),
        other => Err(format!("expected MultiThreaded, got {other:?}")),
    }
}

fn run_all_writes_outputs(dir: &Path) -> CaseResult {
    let out = dir.join("out");
    let outcomes = primitives::run_all(&tiny(dir), &[Experiment::Root, Experiment::Netns], &out)
        .map_err(|e| e.to_string())?;
    for o in &outcomes {
        let rows = o.rows.as_ref().map_err(|e| e.to_string())?;
        let csv = std::fs::read_to_string(out.join(format!("{}.csv", o.experiment.name())))
            .map_err(|e| e.to_string())?;
        ensure(
            csv.starts_with(primitives::output::CSV_HEADER)
                && csv.lines().count() == rows.len() + 1,
            || csv.clone(),
        )?;
        match &o.plot_error {
            None => {
                let svg = std::fs::read_to_string(out.join(format!("{}.svg", o.experiment.name())))
                    .map_err(|e| e.to_string())?;
                ensure(svg.contains("<svg") && svg.contains("</svg>"), || {
                    "not an SVG".into()
                })?;
            }
            Some(e) if e.to_string().contains("no TrueType font") => {
                eprintln!("note: plots not drawn: {e}")
            }
            Some(e) => return Err(e.to_string()),
        }
    }
    Ok(Verdict::Pass)
}

fn chroot_baseline(dir: &Path) -> CaseResult {
    let rootfs = tiny_rootfs(dir)?;
    let c = Plain::chroot(&rootfs);
    c.run_once(&argv(&["/usr/bin/true"]))
        .map_err(|e| e.to_string())?;
    ensure(c.run_once(&argv(&["/usr/bin/false"])).is_err(), || {
        "false succeeded".into()
    })?;
    Ok(Verdict::Pass)
}

fn runc_baseline(dir: &Path) -> CaseResult {
    let version = match runc::detect() {
        Probe::Ready(v) => v,
        Probe::Skipped { reason } => return Ok(Verdict::Skip(format!("runc: {reason}"))),
    };
    let rootfs = tiny_rootfs(dir)?;
    for opts in [
        oci::Options::default(),
        oci::Options {
            network_namespace: false,
            readonly_root: true,
        },
    ] {
        let mut r =
            runc::Runc::prepare(&dir.join("bundle"), &rootfs, opts).map_err(|e| e.to_string())?;
        r.run_once(&argv(&["/usr/bin/true"]))
            .map_err(|e| format!("{version}: {e}"))?;
        let err = r
            .run_once(&argv(&["/usr/bin/false"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        ensure(err.contains("runc run"), || format!("false gave {err:?}"))?;
    }
    let list = Command::new("runc")
        .args(["list", "-q"])
        .output()
        .map_err(|e| e.to_string())?;
    let left = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.starts_with("sock-baseline-"))
        .count();
    ensure(left == 0, || format!("{left} runc containers left"))?;
    Ok(Verdict::Pass)
}

fn docker_baseline(dir: &Path) -> CaseResult {
    let engine = match docker::detect() {
        Probe::Ready(e) => e,
        Probe::Skipped { reason } => return Ok(Verdict::Skip(format!("docker: {reason}"))),
    };
    let rootfs = tiny_rootfs(dir)?;
    let tag = format!("test-{}", std::process::id());
    let d = engine
        .image_from_rootfs(&rootfs, Some(&tag))
        .map_err(|e| e.to_string())?;
    let result = (|| {
        ensure(d.imported, || "fresh tag reported as cached".into())?;
        let again = engine
            .image_from_rootfs(&rootfs, Some(&tag))
            .map_err(|e| e.to_string())?;
        ensure(!again.imported, || "second import not cached".into())?;
        d.run_once(&argv(&["/usr/bin/true"]))
            .map_err(|e| e.to_string())?;
        ensure(d.run_once(&argv(&["/usr/bin/false"])).is_err(), || {
            "false succeeded".into()
        })
    })();
    d.remove_image().map_err(|e| e.to_string())?;
    result.map(|()| Verdict::Pass)
}

// ---------------------------------------------------------------- harness

/// What the harness compares before and after a case. Only what a
/// process that is gone left behind counts (mounts and cgroups named
/// `sock-prim-<pid>` or `sock-baseline-<pid>` of a dead pid), plus our own
/// children: other
/// engineers' or CI jobs' experiments running on the same host at the same
/// time are never taken for a leak of ours.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    mounts: usize,
    cgroup_dirs: usize,
    children: usize,
}

/// The pid in a `sock-prim-<pid>` (the study's scratch folders and
/// cgroups) or `sock-baseline-<pid>` (runc containers) name, if any.
fn prim_pid(name: &str) -> Option<u32> {
    ["sock-prim-", "sock-baseline-"].iter().find_map(|tag| {
        let rest = &name[name.find(tag)? + tag.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// Left behind: named after a primitives process that no longer runs.
fn left_behind(name: &str) -> bool {
    prim_pid(name).is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
}

/// Every directory below `dir`.
fn count_all(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| 1 + count_all(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// cgroup directories left behind below `dir`: each `sock-prim-<dead pid>`
/// with everything below it.
fn count_dirs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| {
                    if left_behind(&e.file_name().to_string_lossy()) {
                        1 + count_all(&e.path())
                    } else {
                        count_dirs(&e.path())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn host_state() -> HostState {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| left_behind(m))
                .count()
        })
        .unwrap_or(0);
    let me = std::process::id().to_string();
    let children = std::fs::read_dir("/proc")
        .map(|it| {
            it.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                        s.lines()
                            .any(|l| l.strip_prefix("PPid:").is_some_and(|p| p.trim() == me))
                    })
                })
                .count()
        })
        .unwrap_or(0);
    HostState {
        mounts,
        cgroup_dirs: count_dirs(Path::new("/sys/fs/cgroup")),
        children,
    }
}

/// Runs `case` in a forked child; its verdict comes back through a pipe.
fn run_forked(case: &Case, dir: &Path) -> CaseResult {
    let (r, w) = sock_exec::sys::fs::pipe().map_err(|e| e.to_string())?;
    match fork().map_err(|e| e.to_string())? {
        ForkResult::Child => {
            drop(r);
            let verdict = std::panic::catch_unwind(|| (case.run)(dir))
                .unwrap_or_else(|_| Err("panicked".into()));
            let line = match verdict {
                Ok(Verdict::Pass) => "pass".to_string(),
                Ok(Verdict::Skip(why)) => format!("skip {why}"),
                Err(why) => format!("fail {why}"),
            };
            let ok = std::fs::File::from(w).write_all(line.as_bytes()).is_ok();
            exit_now(if ok { 0 } else { 1 })
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut text = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut text);
            let status = wait(child).map_err(|e| e.to_string())?;
            match text.split_once(' ').unwrap_or((text.as_str(), "")) {
                ("pass", _) => Ok(Verdict::Pass),
                ("skip", why) => Ok(Verdict::Skip(why.to_string())),
                ("fail", why) => Err(why.to_string()),
                _ => Err(format!("case process ended with {status:?} and no verdict")),
            }
        }
    }
}

const CASES: &[Case] = &[
    Case {
        name: "runc_config_generation",
        needs_root: false,
        run: runc_config_generation,
    },
    Case {
        name: "host_and_empty_argv",
        needs_root: false,
        run: host_and_empty_argv,
    },
    Case {
        name: "netns_tiny",
        needs_root: true,
        run: netns_tiny,
    },
    Case {
        name: "mount_count_tiny",
        needs_root: true,
        run: mount_count_tiny,
    },
    Case {
        name: "bind_overlay_tiny",
        needs_root: true,
        run: bind_overlay_tiny,
    },
    Case {
        name: "cgroup_tiny",
        needs_root: true,
        run: cgroup_tiny,
    },
    Case {
        name: "root_tiny",
        needs_root: true,
        run: root_tiny,
    },
    Case {
        name: "failure_cleans_up",
        needs_root: true,
        run: failure_cleans_up,
    },
    Case {
        name: "refuses_multithreaded",
        needs_root: false,
        run: refuses_multithreaded,
    },
    Case {
        name: "run_all_writes_outputs",
        needs_root: true,
        run: run_all_writes_outputs,
    },
    Case {
        name: "chroot_baseline",
        needs_root: true,
        run: chroot_baseline,
    },
    Case {
        name: "runc_baseline",
        needs_root: true,
        run: runc_baseline,
    },
    Case {
        name: "docker_baseline",
        needs_root: false,
        run: docker_baseline,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for c in CASES {
            println!("{}: test", c.name);
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&Case> = CASES
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    let require_privileged = std::env::var("SOCK_REQUIRE_PRIVILEGED").as_deref() == Ok("1");
    // CI installs Docker and runc and starts dockerd (.ci/run): there the
    // baselines must run, not skip.
    let require_baselines = std::env::var("SOCK_REQUIRE_BASELINES").as_deref() == Ok("1");
    let root = is_root();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for case in &selected {
        let verdict = if case.needs_root && !root {
            if require_privileged {
                Err("needs root, and SOCK_REQUIRE_PRIVILEGED=1 forbids skipping".to_string())
            } else {
                Ok(Verdict::Skip("needs root".into()))
            }
        } else {
            let dir = match tempfile::Builder::new().prefix("sock-prim-test-").tempdir() {
                Ok(d) => d,
                Err(e) => {
                    failed.push((case.name, format!("tempdir: {e}")));
                    continue;
                }
            };
            let before = host_state();
            let mut v = run_forked(case, dir.path());
            let after = host_state();
            if v.is_ok() && before != after {
                v = Err(format!("leaked state: before {before:?}, after {after:?}"));
            }
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("sock-prim-"))
                .collect();
            if v.is_ok() && !leftovers.is_empty() {
                v = Err(format!("scratch entries left: {leftovers:?}"));
            }
            v
        };
        match verdict {
            Ok(Verdict::Pass) => {
                passed += 1;
                println!("test {} ... ok", case.name);
            }
            Ok(Verdict::Skip(why)) if require_baselines && case.name.ends_with("_baseline") => {
                println!("test {} ... FAILED", case.name);
                failed.push((
                    case.name,
                    format!("{why}, and SOCK_REQUIRE_BASELINES=1 (CI) forbids skipping"),
                ));
            }
            Ok(Verdict::Skip(why)) => {
                skipped += 1;
                println!("test {} ... ignored", case.name);
                eprintln!("\n!!! SKIPPED: {}: {why} !!!\n", case.name);
            }
            Err(why) => {
                println!("test {} ... FAILED", case.name);
                failed.push((case.name, why));
            }
        }
    }
    for (name, why) in &failed {
        println!("\n---- {name} ----\n{why}");
    }
    let filtered = CASES.len() - selected.len();
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    println!("\ntest result: {status}. {passed} passed; {} failed; {skipped} ignored; 0 measured; {filtered} filtered out\n", failed.len());
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
