//! cgroup create+destroy vs reuse (SOCK Fig. 5: reusing a cgroup from a
//! pool is ~2x faster than creating a new one).
//!
//! The layout comes from the mount table ([`crate::cgroup::detect`]). On
//! v1 (and hybrid) the study uses the `memory` and `pids` hierarchies, a
//! lean container's minimum; where a v2 hierarchy is mounted it is
//! measured too (on a hybrid host it has no controllers, so it shows the
//! bare cost of the cgroup core). Everything is made below the caller's
//! *own* cgroup in each hierarchy (from /proc/self/cgroup), never at a
//! hierarchy root, so a process never escapes limits its supervisor set.
//!
//! A forked worker first moves itself into `<own>/sock-prim-<pid>/home`,
//! then times, per operation:
//! - `mkdir+rmdir`: create and remove a cgroup, no process moved;
//! - `create: mkdir+join+leave+rmdir`: what a container without a pool pays;
//! - `reuse: join+leave`: join a pre-created `pool` cgroup and go back home.
//!
//! "join" and "leave" write `0` (the writer itself) to `cgroup.procs`.
//! The guard removes every directory it made, deepest first, on drop.

use super::worker::{run_workers, OpResult, Run};
use super::{Config, PrimError, Row, Summary};
use crate::cgroup::detect::{detect, CgroupLayout};
use crate::sys::prim::monotonic_ns;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const EXPERIMENT: &str = "cgroup";

/// One backend under test: the bench directory in each hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    /// `<mount>/<own cgroup>/sock-prim-<pid>`, one per hierarchy.
    pub bench_dirs: Vec<PathBuf>,
}

/// The cgroup a process is in, per hierarchy: parses /proc/self/cgroup
/// (cgroups(7): `id:controllers:path`; v2 is `0::path`). Returns the
/// path for the v1 hierarchy holding `controller`, or for v2 with `None`.
pub fn own_cgroup(proc_self_cgroup: &str, controller: Option<&str>) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match controller {
            None => id == "0" && ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        hit.then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

/// The backends available on this host, from mountinfo and
/// /proc/self/cgroup text.
pub fn backends(mountinfo: &str, proc_self_cgroup: &str, tag: &str) -> Vec<Backend> {
    let v1_dirs = |controllers: &[(String, PathBuf)]| -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = ["memory", "pids"]
            .iter()
            .filter_map(|want| {
                let (_, mount) = controllers.iter().find(|(c, _)| c == want)?;
                Some(
                    mount
                        .join(own_cgroup(proc_self_cgroup, Some(want))?)
                        .join(tag),
                )
            })
            .collect();
        dirs.dedup(); // co-mounted memory,pids: one directory
        dirs
    };
    let v2_dir =
        |mount: &Path| own_cgroup(proc_self_cgroup, None).map(|own| mount.join(own).join(tag));
    let mut out = Vec::new();
    let (controllers, unified) = match detect(mountinfo) {
        CgroupLayout::V1 { controllers } => (controllers, None),
        CgroupLayout::V2 { mount } => (Vec::new(), Some(mount)),
        CgroupLayout::Hybrid {
            controllers,
            unified,
        } => (controllers, Some(unified)),
        CgroupLayout::None => (Vec::new(), None),
    };
    let dirs = v1_dirs(&controllers);
    if !dirs.is_empty() {
        out.push(Backend {
            name: "v1 memory+pids".into(),
            bench_dirs: dirs,
        });
    }
    if let Some(dir) = unified.as_deref().and_then(v2_dir) {
        out.push(Backend {
            name: "v2".into(),
            bench_dirs: vec![dir],
        });
    }
    out
}

/// Owns the cgroup directories made for one backend; removes them
/// (deepest first) on drop.
#[derive(Debug)]
struct Tree {
    made: Vec<PathBuf>,
}

impl Tree {
    fn mkdir(&mut self, dir: PathBuf) -> Result<(), PrimError> {
        std::fs::create_dir(&dir).map_err(PrimError::io("create cgroup", &dir))?;
        self.made.push(dir);
        Ok(())
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // A per-op cgroup left by a worker that died mid-operation.
            let _ = std::fs::remove_dir(dir.join("fresh"));
            if let Err(e) = rmdir_retry(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "primitives: could not remove cgroup");
            }
        }
    }
}

/// rmdir of a cgroup whose last task just exited can briefly fail with
/// EBUSY while the kernel finishes the exit; retry for up to ~1 s.
fn rmdir_retry(dir: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

const VARIANTS: [&str; 3] = [
    "mkdir+rmdir",
    "create: mkdir+join+leave+rmdir",
    "reuse: join+leave",
];

fn write_procs(dir: &Path) -> Result<(), super::worker::OpFailed> {
    let f = dir.join("cgroup.procs");
    std::fs::write(&f, "0")
        .map_err(|e| super::worker::OpFailed(format!("write {}: {e}", f.display())))
}

fn mk(dir: &Path) -> Result<(), super::worker::OpFailed> {
    std::fs::create_dir(dir)
        .map_err(|e| super::worker::OpFailed(format!("mkdir {}: {e}", dir.display())))
}

fn rm(dir: &Path) -> Result<(), super::worker::OpFailed> {
    std::fs::remove_dir(dir)
        .map_err(|e| super::worker::OpFailed(format!("rmdir {}: {e}", dir.display())))
}

/// One operation of variant `vi` across all hierarchies of a backend.
fn op(vi: usize, bench_dirs: &[PathBuf], home_joined: &mut bool) -> OpResult {
    if !*home_joined {
        // Untimed, once per worker: move into `home`.
        for d in bench_dirs {
            write_procs(&d.join("home"))?;
        }
        *home_joined = true;
    }
    let t0 = monotonic_ns();
    for d in bench_dirs {
        let (fresh, pool, home) = (d.join("fresh"), d.join("pool"), d.join("home"));
        match vi {
            0 => {
                mk(&fresh)?;
                rm(&fresh)?;
            }
            1 => {
                mk(&fresh)?;
                write_procs(&fresh)?;
                write_procs(&home)?;
                rm(&fresh)?;
            }
            _ => {
                write_procs(&pool)?;
                write_procs(&home)?;
            }
        }
    }
    Ok(monotonic_ns() - t0)
}

fn measure_backend(cfg: &Config, b: &Backend) -> Result<Vec<Row>, PrimError> {
    let mut tree = Tree { made: Vec::new() };
    for d in &b.bench_dirs {
        tree.mkdir(d.clone())?;
        tree.mkdir(d.join("home"))?;
        tree.mkdir(d.join("pool"))?;
    }
    let mut cells: BTreeMap<usize, Run> = BTreeMap::new();
    for _round in 0..cfg.rounds.max(1) {
        for (vi, name) in VARIANTS.iter().enumerate() {
            let mut joined = false;
            let mut f = || op(vi, &b.bench_dirs, &mut joined);
            let run = run_workers(1, cfg.warmup, cfg.per_round(cfg.iterations), &mut f)
                .map_err(|e| e.within(EXPERIMENT, format!("{}: {name}", b.name)))?;
            cells.entry(vi).or_default().absorb(run);
        }
    }
    drop(tree);
    let detail = b
        .bench_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(cells
        .into_iter()
        .map(|(vi, mut run)| {
            let ops_per_s = run.ops_per_s();
            Row {
                experiment: EXPERIMENT,
                variant: format!("{}: {}", b.name, VARIANTS[vi]),
                metric: "op",
                x_name: "-",
                x: 0,
                summary: Summary::from_ns(&mut run.op_ns),
                ops_per_s,
                detail: detail.clone(),
            }
        })
        .collect())
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, PrimError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(PrimError::io("read", "/proc/self/mountinfo"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(PrimError::io("read", "/proc/self/cgroup"))?;
    let tag = format!("sock-prim-{}", std::process::id());
    let found = backends(&mountinfo, &own, &tag);
    if found.is_empty() {
        return Err(PrimError::Cgroup(
            "no cgroup hierarchy with memory/pids (v1) or a v2 hierarchy is mounted".into(),
        ));
    }
    let mut rows = Vec::new();
    for b in &found {
        rows.extend(measure_backend(cfg, b)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "8:pids:/\n4:memory:/process_api/abc\n0::/user.slice\n";

    #[test]
    fn own_cgroup_per_hierarchy() {
        assert_eq!(
            own_cgroup(OWN, Some("memory")),
            Some(PathBuf::from("process_api/abc"))
        );
        assert_eq!(own_cgroup(OWN, Some("pids")), Some(PathBuf::from("")));
        assert_eq!(own_cgroup(OWN, None), Some(PathBuf::from("user.slice")));
        assert_eq!(own_cgroup(OWN, Some("cpu")), None);
    }

    #[test]
    fn backends_live_below_own_cgroup() {
        let b = backends(MOUNTINFO, OWN, "t");
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0].bench_dirs,
            vec![
                PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/t"),
                PathBuf::from("/sys/fs/cgroup/pids/t")
            ]
        );
        assert_eq!(
            b[1].bench_dirs,
            vec![PathBuf::from("/sys/fs/cgroup/unified/user.slice/t")]
        );
    }
}
