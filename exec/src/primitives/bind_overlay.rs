//! Bind mount vs overlayfs: mount + unmount rate (SOCK Fig. 4: bind
//! mounts ~2x faster than AUFS, the union file system Docker used then;
//! Docker's default today is overlay2).
//!
//! All targets sit below a private scratch tmpfs, so nothing propagates.
//! The source / lower layer is the given root file system. Variants:
//! a plain bind, a read-only bind (bind + remount: what a lean container
//! does for its base image), overlayfs with its upper/work dirs on the
//! disk next to the scratch dir (as Docker's overlay2 keeps them under
//! /var/lib/docker) and overlayfs with upper/work on tmpfs.

use super::scratch::{make_dirs, synthetic_rootfs, ScratchDir, ScratchMount};
use super::worker::{run_workers, OpResult, Run};
use super::{Config, PrimError, Row};
use crate::sys::prim::{
    bind, monotonic_ns, mount_overlay, remount_bind_readonly, umount, Propagation,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const EXPERIMENT: &str = "bind_overlay";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Bind,
    BindRo,
    OverlayDisk,
    OverlayTmpfs,
}

const VARIANTS: [Variant; 4] = [
    Variant::Bind,
    Variant::BindRo,
    Variant::OverlayDisk,
    Variant::OverlayTmpfs,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Bind => "bind",
            Variant::BindRo => "bind read-only",
            Variant::OverlayDisk => "overlay (upper on disk)",
            Variant::OverlayTmpfs => "overlay (upper on tmpfs)",
        }
    }
}

/// Paths one experiment run uses.
struct Layout {
    lower: PathBuf,
    target: PathBuf,
    disk_upper_work: (PathBuf, PathBuf),
    tmpfs_upper_work: (PathBuf, PathBuf),
}

/// Mounts `v` on the target (timed), unmounts it; returns the mount time.
fn mount_unmount(v: Variant, l: &Layout) -> OpResult {
    let t0 = monotonic_ns();
    match v {
        Variant::Bind => bind(&l.lower, &l.target)?,
        Variant::BindRo => {
            bind(&l.lower, &l.target)?;
            remount_bind_readonly(&l.target)?;
        }
        Variant::OverlayDisk => mount_overlay(
            &l.lower,
            &l.disk_upper_work.0,
            &l.disk_upper_work.1,
            &l.target,
        )?,
        Variant::OverlayTmpfs => mount_overlay(
            &l.lower,
            &l.tmpfs_upper_work.0,
            &l.tmpfs_upper_work.1,
            &l.target,
        )?,
    }
    let mounted = monotonic_ns() - t0;
    umount(&l.target)?;
    Ok(mounted)
}

fn pair(dirs: Vec<PathBuf>) -> (PathBuf, PathBuf) {
    let mut it = dirs.into_iter();
    (it.next().unwrap_or_default(), it.next().unwrap_or_default())
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, PrimError> {
    let tmp = ScratchMount::new(&cfg.scratch, "fs", Propagation::Private)?;
    let disk = ScratchDir::new(&cfg.scratch, "fs-disk")?;
    let lower = match &cfg.rootfs {
        Some(r) => r.clone(),
        None => synthetic_rootfs(tmp.path())?,
    };
    if !lower.is_dir() {
        let err = std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory");
        return Err(PrimError::Io {
            op: "lower layer / bind source",
            path: lower,
            err,
        }
        .within(EXPERIMENT, "setup"));
    }
    let layout = Layout {
        lower,
        target: tmp.path().join("target"),
        disk_upper_work: pair(make_dirs(disk.path(), "ovl", 2)?),
        tmpfs_upper_work: pair(make_dirs(tmp.path(), "ovl", 2)?),
    };
    std::fs::create_dir_all(&layout.target).map_err(PrimError::io("create dir", &layout.target))?;
    let mut cells: BTreeMap<usize, Run> = BTreeMap::new();
    for _round in 0..cfg.rounds.max(1) {
        for (vi, v) in VARIANTS.into_iter().enumerate() {
            let mut op = || mount_unmount(v, &layout);
            let run = run_workers(1, cfg.warmup, cfg.per_round(cfg.iterations), &mut op)
                .map_err(|e| e.within(EXPERIMENT, v.name()))?;
            cells.entry(vi).or_default().absorb(run);
        }
    }
    let detail = format!("lower={}", display(&layout.lower));
    drop(tmp);
    drop(disk);
    Ok(cells
        .into_iter()
        .flat_map(|(vi, mut run)| {
            Row::pair(
                EXPERIMENT,
                VARIANTS[vi].name(),
                ("mount+umount", "mount"),
                ("-", 0),
                &mut run,
                &detail,
            )
        })
        .collect())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
