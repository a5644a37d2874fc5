//! The validated, indexed form of a trace header: package closures as
//! bitsets, costs as typed units, and name lookup for tree files.

use super::{Function, Package, TraceHeader, FORMAT_NAME, FORMAT_VERSION};
use crate::pkgset::PackageSet;
use crate::units::{Bytes, FunctionId, Micros, PackageId};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogError {
    #[error("header field `format` is {0:?}, expected {FORMAT_NAME:?}")]
    Format(String),
    #[error(
        "trace format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    Version(u32),
    #[error(
        "packages[{package}].deps names package index {dep}, but there are only {count} packages"
    )]
    UnknownDep {
        package: usize,
        dep: u32,
        count: usize,
    },
    #[error("functions[{function}].packages names package index {package}, but there are only {count} packages")]
    UnknownPackage {
        function: usize,
        package: u32,
        count: usize,
    },
    #[error("{field} of {what} is {value}; it must be a finite number >= 0")]
    BadNumber {
        what: String,
        field: &'static str,
        value: f64,
    },
    #[error("package {0:?} appears twice")]
    DuplicatePackage(String),
    #[error("no package named {0:?} in the trace")]
    NoSuchPackage(String),
}

/// Packages and functions of a trace, validated and indexed.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub header: TraceHeader,
    closures: Vec<PackageSet>,
    import_time: Vec<Micros>,
    import_mem: Vec<Bytes>,
    install_time: Vec<Micros>,
    disk: Vec<Bytes>,
    by_key: BTreeMap<String, PackageId>,
    /// For a bare `name`: the first package of that name in the table.
    by_name: BTreeMap<String, PackageId>,
}

impl Catalog {
    pub fn new(header: TraceHeader) -> Result<Catalog, CatalogError> {
        if header.format != FORMAT_NAME {
            return Err(CatalogError::Format(header.format));
        }
        if header.version != FORMAT_VERSION {
            return Err(CatalogError::Version(header.version));
        }
        let n = header.packages.len();
        let mut by_key = BTreeMap::new();
        let mut by_name = BTreeMap::new();
        for (i, p) in header.packages.iter().enumerate() {
            check_package(i, p, n)?;
            if by_key.insert(p.key(), PackageId(i as u32)).is_some() {
                return Err(CatalogError::DuplicatePackage(p.key()));
            }
            by_name.entry(p.name.clone()).or_insert(PackageId(i as u32));
        }
        let pkg_closures = package_closures(&header.packages);
        let mut closures = Vec::with_capacity(header.functions.len());
        for (i, f) in header.functions.iter().enumerate() {
            check_function(i, f, n)?;
            let mut set = PackageSet::new();
            for &p in &f.packages {
                set = set.union(&pkg_closures[p as usize]);
            }
            closures.push(set);
        }
        let ps = &header.packages;
        Ok(Catalog {
            import_time: ps
                .iter()
                .map(|p| Micros::from_ms_f64(p.import_ms))
                .collect(),
            import_mem: ps.iter().map(|p| Bytes::from_mb_f64(p.import_mb)).collect(),
            install_time: ps
                .iter()
                .map(|p| Micros::from_ms_f64(p.install_ms))
                .collect(),
            disk: ps.iter().map(|p| Bytes(p.disk_bytes)).collect(),
            closures,
            by_key,
            by_name,
            header,
        })
    }

    pub fn package_count(&self) -> usize {
        self.header.packages.len()
    }

    pub fn function_count(&self) -> usize {
        self.header.functions.len()
    }

    pub fn package(&self, p: PackageId) -> &Package {
        &self.header.packages[p.index()]
    }

    pub fn function(&self, f: FunctionId) -> &Function {
        &self.header.functions[f.index()]
    }

    /// The function's packages closed under dependencies.
    pub fn closure(&self, f: FunctionId) -> &PackageSet {
        &self.closures[f.index()]
    }

    pub fn import_time(&self, p: PackageId) -> Micros {
        self.import_time[p.index()]
    }

    pub fn import_mem(&self, p: PackageId) -> Bytes {
        self.import_mem[p.index()]
    }

    pub fn install_time(&self, p: PackageId) -> Micros {
        self.install_time[p.index()]
    }

    pub fn disk(&self, p: PackageId) -> Bytes {
        self.disk[p.index()]
    }

    pub fn import_time_of(&self, s: &PackageSet) -> Micros {
        s.iter().map(|p| self.import_time(p)).sum()
    }

    pub fn import_mem_of(&self, s: &PackageSet) -> Bytes {
        s.iter().map(|p| self.import_mem(p)).sum()
    }

    /// Resolves `name==version`, or a bare `name` (the first package of that
    /// name in the table), as OpenLambda's tree files write them.
    pub fn lookup(&self, spec: &str) -> Result<PackageId, CatalogError> {
        let spec = spec.trim();
        let found = if spec.contains("==") {
            self.by_key.get(spec)
        } else {
            self.by_name.get(spec)
        };
        found
            .copied()
            .ok_or_else(|| CatalogError::NoSuchPackage(spec.to_string()))
    }

    /// `set` closed under package dependencies.
    pub fn close(&self, set: &PackageSet) -> PackageSet {
        let mut out = set.clone();
        let mut stack: Vec<PackageId> = set.iter().collect();
        while let Some(p) = stack.pop() {
            for &d in &self.package(p).deps {
                let d = PackageId(d);
                if !out.contains(d) {
                    out.insert(d);
                    stack.push(d);
                }
            }
        }
        out
    }
}

fn check_number(
    what: impl FnOnce() -> String,
    field: &'static str,
    value: f64,
) -> Result<(), CatalogError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(CatalogError::BadNumber {
            what: what(),
            field,
            value,
        })
    }
}

fn check_package(i: usize, p: &Package, count: usize) -> Result<(), CatalogError> {
    if let Some(&dep) = p.deps.iter().find(|&&d| d as usize >= count) {
        return Err(CatalogError::UnknownDep {
            package: i,
            dep,
            count,
        });
    }
    let what = || format!("packages[{i}] ({})", p.key());
    check_number(what, "import_ms", p.import_ms)?;
    check_number(what, "import_mb", p.import_mb)?;
    check_number(what, "install_ms", p.install_ms)
}

fn check_function(i: usize, f: &Function, count: usize) -> Result<(), CatalogError> {
    if let Some(&package) = f.packages.iter().find(|&&p| p as usize >= count) {
        return Err(CatalogError::UnknownPackage {
            function: i,
            package,
            count,
        });
    }
    let what = || format!("functions[{i}] ({})", f.name);
    check_number(what, "duration_ms", f.duration_ms)?;
    check_number(what, "memory_mb", f.memory_mb)
}

/// Each package's dependency closure (itself included). Cycles are allowed
/// (pip metadata has a few) and simply merge.
fn package_closures(packages: &[Package]) -> Vec<PackageSet> {
    (0..packages.len())
        .map(|i| {
            let mut out = PackageSet::new();
            let mut stack = vec![i as u32];
            out.insert(PackageId(i as u32));
            while let Some(p) = stack.pop() {
                for &d in &packages[p as usize].deps {
                    if !out.contains(PackageId(d)) {
                        out.insert(PackageId(d));
                        stack.push(d);
                    }
                }
            }
            out
        })
        .collect()
}
