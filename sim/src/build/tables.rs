//! The trace header's tables from the joined inputs: the package table
//! (every package of an assigned closure, sorted by `name==version`, with
//! measured or imputed costs and dependency edges) and the function table
//! (Azure functions in invocations-file order).
//!
//! Dependency edges. For a package `P`, the candidates are the packages of
//! its most frequent observed closure in `deps.json`. An edge `P -> D` is
//! kept only when **every** closure in the trace that holds `P` also holds
//! `D` (the same version). The reader closes each function's packages
//! under `deps`; this rule makes that closing add nothing, so a function's
//! closure stays exactly its pip-compiled file, while a static Zygote tree
//! naming `scipy` still gets `numpy` with it. Dropped candidates are
//! counted. Packages without a `deps.json` entry have no edges.

use super::azure::AzureFunction;
use super::conventions::MemorySplit;
use super::costs::Costs;
use super::impute::{Imputer, Origin};
use super::requirements::{ClosureFile, Requirement};
use serde::Serialize;
use sock_core::trace::{Function, Package};
use std::collections::{BTreeMap, BTreeSet};

/// Memory of a bare Python interpreter (MB), the same floor `sim trace gen`
/// uses: a handler instance holds at least this plus its imports.
pub const PYTHON_BASE_MB: f64 = 10.0;

/// What building the tables found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TableCounts {
    pub packages: usize,
    pub measured: usize,
    /// Imputed from another measured version of the same package.
    pub imputed_other_version: usize,
    /// Imputed from the fitted model.
    pub imputed_model: usize,
    pub dependency_edges: usize,
    /// deps.json candidates dropped by the edge rule.
    pub dependency_edges_dropped: usize,
    /// Functions whose Azure memory was below the interpreter + imports floor.
    pub memory_raised_to_floor: usize,
}

/// The package table; `closures[k]` lists the table indices of file `k`
/// (only for files in use).
#[derive(Debug)]
pub struct PackageTable {
    pub packages: Vec<Package>,
    pub closures: BTreeMap<usize, Vec<u32>>,
}

/// Builds the package table from the files in `used`.
pub fn packages(
    files: &[ClosureFile],
    used: &BTreeSet<usize>,
    imputer: &Imputer<'_>,
    deps: &BTreeMap<Requirement, Vec<Requirement>>,
    counts: &mut TableCounts,
) -> PackageTable {
    let all: BTreeSet<&Requirement> = used
        .iter()
        .flat_map(|&k| files[k].packages.iter())
        .collect();
    let index: BTreeMap<&Requirement, u32> = all
        .iter()
        .enumerate()
        .map(|(i, r)| (*r, i as u32))
        .collect();
    let closures: BTreeMap<usize, Vec<u32>> = used
        .iter()
        .map(|&k| (k, files[k].packages.iter().map(|r| index[r]).collect()))
        .collect();
    let common = common_companions(index.len(), closures.values());
    let mut packages = Vec::with_capacity(all.len());
    for (i, req) in all.iter().enumerate() {
        let (costs, origin) = imputer.costs(req);
        match origin {
            Origin::Measured => counts.measured += 1,
            Origin::OtherVersion => counts.imputed_other_version += 1,
            Origin::Model => counts.imputed_model += 1,
        }
        let mut edges = Vec::new();
        for d in deps.get(*req).into_iter().flatten() {
            match index.get(d) {
                Some(&j) if common[i].contains(&j) => edges.push(j),
                _ => counts.dependency_edges_dropped += 1,
            }
        }
        edges.sort_unstable();
        counts.dependency_edges += edges.len();
        packages.push(package(req, costs, edges, origin != Origin::Measured));
    }
    counts.packages = packages.len();
    PackageTable { packages, closures }
}

fn package(req: &Requirement, c: Costs, deps: Vec<u32>, imputed: bool) -> Package {
    Package {
        name: req.name.clone(),
        version: req.version.clone(),
        deps,
        modules: c.modules,
        import_ms: c.import_ms,
        import_mb: c.import_mb,
        install_ms: c.install_ms,
        disk_bytes: c.disk_bytes,
        imputed,
    }
}

/// For each package, the packages present in every closure that holds it.
fn common_companions<'a>(
    n: usize,
    closures: impl Iterator<Item = &'a Vec<u32>>,
) -> Vec<BTreeSet<u32>> {
    let mut common: Vec<Option<BTreeSet<u32>>> = vec![None; n];
    for c in closures {
        let set: BTreeSet<u32> = c.iter().copied().collect();
        for &p in c {
            let slot = &mut common[p as usize];
            *slot = Some(match slot.take() {
                None => set.clone(),
                Some(prev) => prev.intersection(&set).copied().collect(),
            });
        }
    }
    common.into_iter().map(Option::unwrap_or_default).collect()
}

/// The function table: one per trace function (an Azure function, or an
/// app with `--instances per-app`), with its app's closure. Memory is the
/// function's share of its app's (`even`) or the app's whole (`whole`);
/// `cold_duration_ms` is the `Maximum` when it was read.
pub fn functions(
    fs: &[AzureFunction],
    app_file: &BTreeMap<(String, String), usize>,
    table: &PackageTable,
    memory: (MemorySplit, bool),
    counts: &mut TableCounts,
) -> Vec<Function> {
    let (split, memory_floor) = memory;
    fs.iter()
        .map(|f| {
            // Indexing cannot fail: `assign` maps every app of the slice,
            // and `packages` built a closure for every file it mapped to.
            let file = app_file[&(f.owner.clone(), f.app.clone())];
            let packages = table.closures[&file].clone();
            let floor = PYTHON_BASE_MB
                + packages
                    .iter()
                    .map(|&p| table.packages[p as usize].import_mb)
                    .sum::<f64>();
            let mut memory_mb = match split {
                MemorySplit::Even => f.memory_mb,
                MemorySplit::Whole => f.app_memory_mb,
            };
            if memory_floor && memory_mb < floor {
                memory_mb = floor;
                counts.memory_raised_to_floor += 1;
            }
            Function {
                name: function_name(&f.hash),
                packages,
                duration_ms: round3(f.duration_ms),
                cold_duration_ms: f.maximum_ms.map(round3),
                memory_mb: round3(memory_mb),
            }
        })
        .collect()
}

/// The first 16 characters of `HashFunction`: enough to find the row in
/// the Azure files, short enough for per-invocation records.
pub fn function_name(hash: &str) -> String {
    hash.chars().take(16).collect()
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_are_intersections() {
        let a = vec![0, 1, 2];
        let b = vec![1, 2];
        let c = vec![2, 3];
        let common = common_companions(5, [&a, &b, &c].into_iter());
        assert_eq!(common[0], BTreeSet::from([0, 1, 2]));
        assert_eq!(common[1], BTreeSet::from([1, 2]));
        assert_eq!(common[2], BTreeSet::from([2]));
        assert!(common[4].is_empty());
    }
}
