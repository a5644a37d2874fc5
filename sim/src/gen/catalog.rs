//! The synthetic package and function tables (the trace header).
//!
//! Every distribution and constant here is documented, with its source, in
//! `traces/README.md` ("The generator's model"); keep the two in step.

use super::popularity::ZipfTable;
use super::Model;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use sock_core::trace::{Function, Package};

/// A package depends on at most this many others.
pub(super) const MAX_DEPS: usize = 5;
/// A function lists at most this many direct requirements.
pub(super) const MAX_REQUIREMENTS: usize = 256;
/// Memory of a bare Python interpreter (MB): a handler's memory is never
/// below this plus the import memory of its package closure.
pub(super) const PYTHON_BASE_MB: f64 = 10.0;
/// Every synthetic package has this version.
const VERSION: &str = "1.0.0";

/// z-scores of the quantiles the fits use.
const Z_P90: f64 = 1.281_551_565_5;
const Z_P99: f64 = 2.326_347_874;

/// A log-normal given by its median and one upper quantile.
#[derive(Debug, Clone, Copy)]
pub(super) struct LogNormalFit {
    pub median: f64,
    pub quantile: f64,
    /// z-score of `quantile` (`Z_P90` or `Z_P99`).
    pub z: f64,
}

impl LogNormalFit {
    pub(super) fn sigma(self) -> f64 {
        (self.quantile / self.median).ln() / self.z
    }

    fn sample<R: Rng>(self, rng: &mut R) -> f64 {
        let z: f64 = StandardNormal.sample(rng);
        self.median * (self.sigma() * z).exp()
    }
}

/// Exclusive import time (ms): ReqBench `install_import.json` field `ms`
/// (dependencies pre-imported), 476 versions: median 5.05, p90 36.7.
pub(super) const IMPORT_MS: LogNormalFit = LogNormalFit {
    median: 5.05,
    quantile: 36.7,
    z: Z_P90,
};
/// Exclusive import memory (MB): same file, field `mb`, the 341 versions with
/// a positive delta: median 0.70, p90 2.37.
pub(super) const IMPORT_MB: LogNormalFit = LogNormalFit {
    median: 0.70,
    quantile: 2.37,
    z: Z_P90,
};
/// `pip install --no-deps` time (ms): field `install_time`, 500 versions:
/// median 540, p90 870.
pub(super) const INSTALL_MS: LogNormalFit = LogNormalFit {
    median: 540.0,
    quantile: 870.0,
    z: Z_P90,
};
/// Installed size (bytes): field `disk_size`: median 354 KB, p99 80 MB.
pub(super) const DISK_BYTES: LogNormalFit = LogNormalFit {
    median: 354e3,
    quantile: 80e6,
    z: Z_P99,
};
/// Handler duration (ms): Azure Functions 2019, 500-function slice, per-function
/// `Average` weighted by invocations: median 195, p90 928.
pub(super) const DURATION_MS: LogNormalFit = LogNormalFit {
    median: 195.0,
    quantile: 928.0,
    z: Z_P90,
};
/// Handler memory (MB): same slice, `AverageAllocatedMb` per function:
/// median 58, p90 183.
pub(super) const MEMORY_MB: LogNormalFit = LogNormalFit {
    median: 58.0,
    quantile: 183.0,
    z: Z_P90,
};

/// The package table: package `i` has popularity rank `i` and depends only
/// on packages with a lower index, so the dependency graph is a DAG.
pub(super) fn packages<R: Rng>(model: &Model, popularity: &ZipfTable, rng: &mut R) -> Vec<Package> {
    let width = digits(model.params.packages).max(4);
    (0..model.params.packages)
        .map(|i| {
            let name = format!("pkg{i:0width$}");
            let k = (model.deps.sample(rng) as usize).min(MAX_DEPS);
            Package {
                deps: popularity.sample_distinct(rng, i, k),
                modules: vec![name.clone()],
                name,
                version: VERSION.to_string(),
                import_ms: round3(IMPORT_MS.sample(rng)),
                import_mb: round3(IMPORT_MB.sample(rng)),
                install_ms: round3(INSTALL_MS.sample(rng)),
                disk_bytes: DISK_BYTES.sample(rng).round() as u64,
                imputed: true,
            }
        })
        .collect()
}

/// The function table; `packages` lists direct requirements only.
pub(super) fn functions<R: Rng>(
    model: &Model,
    packages: &[Package],
    popularity: &ZipfTable,
    rng: &mut R,
) -> Vec<Function> {
    let width = digits(model.params.functions).max(5);
    let mut closure = ClosureScratch::new(packages.len());
    (0..model.params.functions)
        .map(|i| {
            let hello = packages.is_empty() || rng.gen::<f64>() < model.params.hello_fraction;
            let requirements = if hello {
                Vec::new()
            } else {
                let k = (1 + model.requirements.sample(rng) as usize).min(MAX_REQUIREMENTS);
                popularity.sample_distinct(rng, packages.len(), k)
            };
            let duration_ms = round3(DURATION_MS.sample(rng));
            let floor = PYTHON_BASE_MB + closure.import_mb(packages, &requirements);
            let memory_mb = round3(MEMORY_MB.sample(rng).max(floor));
            Function {
                name: format!("fn{i:0width$}"),
                packages: requirements,
                duration_ms,
                cold_duration_ms: None,
                memory_mb,
            }
        })
        .collect()
}

/// Visited marks for closure walks, reused across functions (a walk bumps
/// the stamp instead of clearing the marks).
struct ClosureScratch {
    mark: Vec<u32>,
    stamp: u32,
    stack: Vec<u32>,
}

impl ClosureScratch {
    fn new(n: usize) -> Self {
        ClosureScratch {
            mark: vec![0; n],
            stamp: 0,
            stack: Vec::new(),
        }
    }

    /// Sum of `import_mb` over `roots` closed under `deps`.
    fn import_mb(&mut self, packages: &[Package], roots: &[u32]) -> f64 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        let mut total = 0.0;
        self.stack.clear();
        self.stack.extend_from_slice(roots);
        while let Some(p) = self.stack.pop() {
            let mark = &mut self.mark[p as usize];
            if *mark == self.stamp {
                continue;
            }
            *mark = self.stamp;
            let pkg = &packages[p as usize];
            total += pkg.import_mb;
            self.stack.extend_from_slice(&pkg.deps);
        }
        total
    }
}

/// Rounds to 3 decimals (µs for ms fields, KB-ish for MB fields) so the
/// header stays small and prints the same everywhere.
pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Decimal digits of the largest index below `n`.
fn digits(n: usize) -> usize {
    n.saturating_sub(1).max(1).ilog10() as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_reproduce_their_quantiles() {
        // sigma from (median, p90) for import time: ln(36.7/5.05)/1.2816.
        assert!(
            (IMPORT_MS.sigma() - 1.5476).abs() < 1e-3,
            "{}",
            IMPORT_MS.sigma()
        );
        assert!(
            (DISK_BYTES.sigma() - 2.3301).abs() < 1e-3,
            "{}",
            DISK_BYTES.sigma()
        );
    }

    #[test]
    fn names_are_zero_padded() {
        assert_eq!(digits(1), 1);
        assert_eq!(digits(200), 3);
        assert_eq!(digits(1000), 3);
        assert_eq!(digits(1001), 4);
        assert_eq!(round3(1.23456), 1.235);
    }
}
