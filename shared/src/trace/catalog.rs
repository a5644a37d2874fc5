//! The validated, indexed form of a trace header: package closures as
//! bitsets, costs as typed units, and name lookup for tree files.

use super::names::{self, Refusal};
use super::{
    Function, Invocation, Package, TraceHeader, DURATIONS_VERSION, FORMAT_NAME, FORMAT_VERSION,
    MIN_FORMAT_VERSION,
};
use crate::pkgset::PackageSet;
use crate::units::{check_range, Bytes, FunctionId, Micros, PackageId, MAX_MB, MAX_MS};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogError {
    #[error("header field `format` is {0:?}, expected {FORMAT_NAME:?}")]
    Format(String),
    #[error(
        "trace format version {0} is not supported (this build reads versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION})"
    )]
    Version(u32),
    #[error("{field} needs trace format version {DURATIONS_VERSION}, but the header says version {version}")]
    NeedsVersion { field: String, version: u32 },
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
    #[error("{field} of {what} is {}; {why}", crate::units::show(*value))]
    BadNumber {
        what: String,
        field: &'static str,
        value: f64,
        why: String,
    },
    #[error("{what}.{field} is {value:?}: {why}")]
    BadName {
        what: String,
        field: String,
        value: String,
        why: names::Refusal,
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
    /// Per function: the handler time of a warm and of a cold start.
    handler_time: Vec<(Micros, Micros)>,
    by_key: BTreeMap<String, PackageId>,
    /// For a bare `name`: the first package of that name in the table.
    by_name: BTreeMap<String, PackageId>,
    /// Both of the above under PEP 503 normalised names (first wins).
    by_normalized: BTreeMap<String, PackageId>,
}

/// PEP 503 normalisation: lowercase, each run of `-`, `_`, `.` becomes `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// `name` or `name==version` with the name normalised.
fn normalize_spec(spec: &str) -> String {
    match spec.split_once("==") {
        Some((name, version)) => format!("{}=={}", normalize_name(name.trim()), version.trim()),
        None => normalize_name(spec),
    }
}

impl Catalog {
    pub fn new(header: TraceHeader) -> Result<Catalog, CatalogError> {
        if header.format != FORMAT_NAME {
            return Err(CatalogError::Format(header.format));
        }
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&header.version) {
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
        let mut by_normalized = BTreeMap::new();
        for (i, p) in header.packages.iter().enumerate() {
            let id = PackageId(i as u32);
            by_normalized.entry(normalize_spec(&p.key())).or_insert(id);
            by_normalized.entry(normalize_name(&p.name)).or_insert(id);
        }
        // Each function's closure by its own walk over `deps`: memory is
        // the closures themselves, never a closure per package (which grew
        // with the square of the package count, issue 12).
        let mut closures = Vec::with_capacity(header.functions.len());
        for (i, f) in header.functions.iter().enumerate() {
            check_function(i, f, n, header.version)?;
            let listed: PackageSet = f.packages.iter().map(|&p| PackageId(p)).collect();
            closures.push(close_over(&header.packages, &listed));
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
            handler_time: header
                .functions
                .iter()
                .map(|f| {
                    let warm = Micros::from_ms_f64(f.duration_ms);
                    (warm, f.cold_duration_ms.map_or(warm, Micros::from_ms_f64))
                })
                .collect(),
            closures,
            by_key,
            by_name,
            by_normalized,
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

    /// How long `inv`'s handler runs: the invocation's own duration when
    /// it has one (format version 2), else its function's `cold_duration_ms`
    /// on a cold start (when given), else its `duration_ms`.
    pub fn handler_time(&self, inv: &Invocation, cold: bool) -> Micros {
        inv.duration.unwrap_or_else(|| {
            let (warm, cold_time) = self.handler_time[inv.function.index()];
            if cold {
                cold_time
            } else {
                warm
            }
        })
    }

    /// A function's (warm, cold) handler time without per-call durations.
    pub fn handler_times(&self, f: FunctionId) -> (Micros, Micros) {
        self.handler_time[f.index()]
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
    /// name in the table), as OpenLambda's tree files write them; names that
    /// differ only as PEP 503 allows (`PyYAML`, `pyyaml`) match.
    pub fn lookup(&self, spec: &str) -> Result<PackageId, CatalogError> {
        let spec = spec.trim();
        let found = if spec.contains("==") {
            self.by_key.get(spec)
        } else {
            self.by_name.get(spec)
        };
        found
            .or_else(|| self.by_normalized.get(&normalize_spec(spec)))
            .copied()
            .ok_or_else(|| CatalogError::NoSuchPackage(spec.to_string()))
    }

    /// `set` closed under package dependencies.
    pub fn close(&self, set: &PackageSet) -> PackageSet {
        close_over(&self.header.packages, set)
    }
}

/// `set` closed under the `deps` of `packages` (indices already checked).
/// Cycles are allowed (pip metadata has a few) and simply merge.
fn close_over(packages: &[Package], set: &PackageSet) -> PackageSet {
    let mut out = set.clone();
    let mut stack: Vec<PackageId> = set.iter().collect();
    while let Some(p) = stack.pop() {
        for &d in &packages[p.index()].deps {
            let d = PackageId(d);
            if !out.contains(d) {
                out.insert(d);
                stack.push(d);
            }
        }
    }
    out
}

fn check_number(
    what: impl FnOnce() -> String,
    field: &'static str,
    value: f64,
    max: f64,
) -> Result<(), CatalogError> {
    check_range(value, max)
        .map(|_| ())
        .map_err(|why| CatalogError::BadNumber {
            what: what(),
            field,
            value,
            why,
        })
}

fn check_name(
    what: impl FnOnce() -> String,
    field: impl FnOnce() -> String,
    value: &str,
    check: fn(&str) -> Result<(), Refusal>,
) -> Result<(), CatalogError> {
    check(value).map_err(|why| CatalogError::BadName {
        what: what(),
        field: field(),
        value: value.chars().take(80).collect(),
        why,
    })
}

fn check_package(i: usize, p: &Package, count: usize) -> Result<(), CatalogError> {
    let at = || format!("packages[{i}]");
    check_name(at, || "name".into(), &p.name, names::check_distribution)?;
    check_name(at, || "version".into(), &p.version, names::check_version)?;
    for (j, m) in p.modules.iter().enumerate() {
        check_name(at, || format!("modules[{j}]"), m, names::check_module)?;
    }
    if let Some(&dep) = p.deps.iter().find(|&&d| d as usize >= count) {
        return Err(CatalogError::UnknownDep {
            package: i,
            dep,
            count,
        });
    }
    let what = || format!("packages[{i}] ({})", p.key());
    check_number(what, "import_ms", p.import_ms, MAX_MS)?;
    check_number(what, "import_mb", p.import_mb, MAX_MB)?;
    check_number(what, "install_ms", p.install_ms, MAX_MS)
}

fn check_function(i: usize, f: &Function, count: usize, version: u32) -> Result<(), CatalogError> {
    let at = || format!("functions[{i}]");
    check_name(at, || "name".into(), &f.name, names::check_function)?;
    if let Some(&package) = f.packages.iter().find(|&&p| p as usize >= count) {
        return Err(CatalogError::UnknownPackage {
            function: i,
            package,
            count,
        });
    }
    let what = || format!("functions[{i}] ({})", f.name);
    check_number(what, "duration_ms", f.duration_ms, MAX_MS)?;
    if let Some(cold) = f.cold_duration_ms {
        if version < DURATIONS_VERSION {
            let field = format!("functions[{i}].cold_duration_ms");
            return Err(CatalogError::NeedsVersion { field, version });
        }
        check_number(what, "cold_duration_ms", cold, MAX_MS)?;
    }
    check_number(what, "memory_mb", f.memory_mb, MAX_MB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(i: usize, deps: Vec<u32>) -> Package {
        Package {
            name: format!("p{i}"),
            version: "1".into(),
            deps,
            modules: vec![format!("p{i}")],
            import_ms: 1.0,
            import_mb: 1.0,
            install_ms: 1.0,
            disk_bytes: 1,
            imputed: false,
        }
    }

    fn function(packages: Vec<u32>) -> Function {
        Function {
            name: "f".into(),
            packages,
            duration_ms: 1.0,
            cold_duration_ms: None,
            memory_mb: 1.0,
        }
    }

    #[test]
    fn package_count_memory_is_linear() {
        // 2^16 packages; the last depends on the first. A closure per
        // package (the old layout) held ~2^25 words; a function's closure
        // of two far-apart packages is now two blocks.
        let n = 1usize << 16;
        let mut packages: Vec<Package> = (0..n).map(|i| package(i, Vec::new())).collect();
        packages[n - 1].deps = vec![0];
        let last = (n - 1) as u32;
        let functions = vec![function(vec![last]), function(vec![0, 1, 2])];
        let cat = Catalog::new(TraceHeader::new(
            packages,
            functions,
            serde_json::Value::Null,
        ))
        .expect("valid");
        let c = cat.closure(FunctionId(0));
        assert_eq!(c.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, last]);
        assert!(c.heap_bytes() <= 64, "{} bytes", c.heap_bytes());
        assert_eq!(cat.closure(FunctionId(1)).len(), 3);
    }

    #[test]
    fn dependency_chains_and_cycles_close() {
        let mut packages: Vec<Package> = (0..4).map(|i| package(i, Vec::new())).collect();
        packages[3].deps = vec![2];
        packages[2].deps = vec![1, 3];
        let cat = Catalog::new(TraceHeader::new(
            packages,
            vec![function(vec![3]), function(Vec::new())],
            serde_json::Value::Null,
        ))
        .expect("valid");
        let ids: Vec<u32> = cat.closure(FunctionId(0)).iter().map(|p| p.0).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(cat.closure(FunctionId(1)).is_empty());
    }
}
