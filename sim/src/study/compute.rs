//! The numbers of the package study, computed from a trace's catalog and
//! its per-function invocation counts.
//!
//! Definitions (also in `traces/README.md` section 9):
//! - an **import** is one package of one function's closure (closed under
//!   `deps`). "By function" counts each function once; "by invocation"
//!   weights each function by its calls (what a platform that cold-starts
//!   every call would import). Packages are ranked by each count, ties by
//!   table index.
//! - a closure **fits in the top N** when every package of it is among the
//!   N packages held by the most functions.
//! - cost CDFs: per package (the trace's exclusive `import_ms`,
//!   `install_ms`), and per function (the sum over its closure: what a
//!   fresh container pays to install and import everything).

use serde::Serialize;
use sock_core::trace::Catalog;
use sock_core::units::{FunctionId, PackageId};

/// Top-k% rows of the popularity table (SOCK's headline is 0.02%).
pub const TOP_PERCENT: [f64; 9] = [0.02, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Top-N rows of the popularity and closure-fit tables.
pub const TOP_N: [usize; 9] = [1, 5, 10, 20, 50, 100, 200, 500, 1000];
/// Top-x% rows of the invocation-skew table.
pub const SKEW_PERCENT: [f64; 5] = [1.0, 5.0, 10.0, 20.0, 50.0];

#[derive(Clone, Debug, Serialize)]
pub struct Study {
    pub trace: TraceInfo,
    pub popularity: Vec<ShareRow>,
    pub top_packages: Vec<TopPackage>,
    pub closure_fit: Vec<FitRow>,
    pub closure_size: Dist,
    /// Functions with an empty closure (hello-world handlers).
    pub empty_closures: usize,
    pub costs: CostDists,
    pub skew: Skew,
    /// Whole curves, for the plots (not in `study.json`: `packages.csv` and
    /// `functions.csv` hold the per-item values they come from).
    #[serde(skip)]
    pub curves: Curves,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraceInfo {
    pub path: String,
    pub packages: usize,
    pub imputed_packages: usize,
    pub packages_in_use: usize,
    pub functions: usize,
    pub invocations: u64,
}

/// Share of all imports going to the top packages.
#[derive(Clone, Debug, Serialize)]
pub struct ShareRow {
    /// "top 0.02%" or "top 10".
    pub label: String,
    pub packages: usize,
    pub by_function: f64,
    pub by_invocation: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopPackage {
    pub package: String,
    pub functions: u64,
    /// Share of functions whose closure holds it.
    pub function_share: f64,
    pub imputed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct FitRow {
    pub top: usize,
    pub functions: f64,
    pub invocations: f64,
}

/// Order statistics of a sample.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dist {
    pub n: usize,
    pub min: f64,
    pub p25: f64,
    pub p50: f64,
    pub mean: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CostDists {
    pub package_import_ms: Dist,
    pub package_install_ms: Dist,
    pub package_import_mb: Dist,
    /// Decimal MB (10^6 bytes), as disk sizes are usually quoted.
    pub package_disk_mb: Dist,
    pub closure_import_ms: Dist,
    pub closure_install_ms: Dist,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skew {
    /// Share of invocations going to the top x% of functions.
    pub rows: Vec<(f64, f64)>,
    pub gini: f64,
    pub never_invoked: usize,
}

/// Sorted samples and cumulative curves behind the tables.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    /// Cumulative share of imports by package rank (1-based), by function and by invocation.
    pub popularity_by_function: Vec<f64>,
    pub popularity_by_invocation: Vec<f64>,
    /// (N, share of functions, share of invocations) fitting in the top N.
    pub fit: Vec<(usize, f64, f64)>,
    pub closure_sizes: Vec<f64>,
    pub package_import_ms: Vec<f64>,
    pub package_install_ms: Vec<f64>,
    pub closure_import_ms: Vec<f64>,
    pub closure_install_ms: Vec<f64>,
    /// Invocations per function, most invoked first.
    pub invocations_desc: Vec<u64>,
}

/// Per-package counts, for the study and the CSV tables.
#[derive(Clone, Debug)]
pub struct PackageUse {
    pub functions: Vec<u64>,
    pub invocations: Vec<u64>,
}

pub fn package_use(catalog: &Catalog, calls: &[u64]) -> PackageUse {
    let mut functions = vec![0u64; catalog.package_count()];
    let mut invocations = vec![0u64; catalog.package_count()];
    for (f, &c) in calls.iter().enumerate().take(catalog.function_count()) {
        for p in catalog.closure(FunctionId(f as u32)).iter() {
            functions[p.index()] += 1;
            invocations[p.index()] += c;
        }
    }
    PackageUse {
        functions,
        invocations,
    }
}

/// Computes the study; `calls[f]` is function `f`'s invocation count.
pub fn study(path: &str, catalog: &Catalog, calls: &[u64]) -> Study {
    let uses = package_use(catalog, calls);
    let by_function = cumulative_shares(&uses.functions);
    let by_invocation = cumulative_shares(&uses.invocations);
    let in_use = uses.functions.iter().filter(|&&c| c > 0).count();
    let popularity = popularity_rows(&by_function, &by_invocation);
    let rank = ranks(&uses.functions);
    let fit = fit_curve(catalog, calls, &rank);
    let closure_fit = TOP_N
        .iter()
        .filter(|&&n| n <= catalog.package_count())
        .map(|&n| FitRow {
            top: n,
            functions: fit[n].1,
            invocations: fit[n].2,
        })
        .collect();
    let curves = curves(catalog, calls, by_function, by_invocation, fit);
    let total: u64 = calls.iter().sum();
    Study {
        trace: TraceInfo {
            path: path.to_string(),
            packages: catalog.package_count(),
            imputed_packages: catalog.header.packages.iter().filter(|p| p.imputed).count(),
            packages_in_use: in_use,
            functions: catalog.function_count(),
            invocations: total,
        },
        popularity,
        top_packages: top_packages(catalog, &uses.functions, 10),
        closure_fit,
        closure_size: dist(&curves.closure_sizes),
        empty_closures: curves.closure_sizes.iter().filter(|&&s| s == 0.0).count(),
        costs: CostDists {
            package_import_ms: dist(&curves.package_import_ms),
            package_install_ms: dist(&curves.package_install_ms),
            package_import_mb: dist(&sorted(
                catalog
                    .header
                    .packages
                    .iter()
                    .map(|p| p.import_mb)
                    .collect(),
            )),
            package_disk_mb: dist(&sorted(
                catalog
                    .header
                    .packages
                    .iter()
                    .map(|p| p.disk_bytes as f64 / 1e6)
                    .collect(),
            )),
            closure_import_ms: dist(&curves.closure_import_ms),
            closure_install_ms: dist(&curves.closure_install_ms),
        },
        skew: skew(&curves.invocations_desc),
        curves,
    }
}

fn curves(
    catalog: &Catalog,
    calls: &[u64],
    by_function: Vec<f64>,
    by_invocation: Vec<f64>,
    fit: Vec<(usize, f64, f64)>,
) -> Curves {
    let n = catalog.function_count();
    let closure = |f: usize| catalog.closure(FunctionId(f as u32));
    // `+ 0.0`: an empty f64 sum is -0.0, which would print as "-0.0".
    let sum =
        |f: usize, cost: &dyn Fn(PackageId) -> f64| closure(f).iter().map(cost).sum::<f64>() + 0.0;
    let mut invocations_desc = calls.to_vec();
    invocations_desc.sort_unstable_by(|a, b| b.cmp(a));
    Curves {
        popularity_by_function: by_function,
        popularity_by_invocation: by_invocation,
        fit,
        closure_sizes: sorted((0..n).map(|f| closure(f).len() as f64).collect()),
        package_import_ms: sorted(
            catalog
                .header
                .packages
                .iter()
                .map(|p| p.import_ms)
                .collect(),
        ),
        package_install_ms: sorted(
            catalog
                .header
                .packages
                .iter()
                .map(|p| p.install_ms)
                .collect(),
        ),
        closure_import_ms: sorted(
            (0..n)
                .map(|f| sum(f, &|p| catalog.import_time(p).as_ms_f64()))
                .collect(),
        ),
        closure_install_ms: sorted(
            (0..n)
                .map(|f| sum(f, &|p| catalog.install_time(p).as_ms_f64()))
                .collect(),
        ),
        invocations_desc,
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Counts sorted descending, as cumulative shares: `out[k]` is the share
/// of the total held by the top `k` (so `out[0] = 0`).
pub fn cumulative_shares(counts: &[u64]) -> Vec<f64> {
    let mut c = counts.to_vec();
    c.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = c.iter().sum();
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(c.len() + 1);
    out.push(0.0);
    for x in c {
        acc += x;
        out.push(if total == 0 {
            0.0
        } else {
            acc as f64 / total as f64
        });
    }
    out
}

/// Packages a top-`percent`% row covers: at least 1, at most all.
pub fn top_count(percent: f64, packages: usize) -> usize {
    ((percent / 100.0 * packages as f64).ceil() as usize).clamp(1.min(packages), packages)
}

fn popularity_rows(by_function: &[f64], by_invocation: &[f64]) -> Vec<ShareRow> {
    let p = by_function.len() - 1;
    let row = |label: String, n: usize| ShareRow {
        label,
        packages: n,
        by_function: by_function[n],
        by_invocation: by_invocation[n],
    };
    let mut rows: Vec<ShareRow> = TOP_PERCENT
        .iter()
        .map(|&k| row(format!("top {k}%"), top_count(k, p)))
        .collect();
    rows.extend(
        TOP_N
            .iter()
            .filter(|&&n| n <= p)
            .map(|&n| row(format!("top {n}"), n)),
    );
    rows
}

/// 1-based popularity rank of each package by `counts` (ties: lower index first).
fn ranks(counts: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut rank = vec![0; counts.len()];
    for (r, &p) in order.iter().enumerate() {
        rank[p] = r + 1;
    }
    rank
}

/// For every N in 0..=packages: shares of functions and of invocations
/// whose closure fits in the top N.
fn fit_curve(catalog: &Catalog, calls: &[u64], rank: &[usize]) -> Vec<(usize, f64, f64)> {
    let p = catalog.package_count();
    let mut fns_at = vec![0u64; p + 1];
    let mut calls_at = vec![0u64; p + 1];
    for (f, &c) in calls.iter().enumerate() {
        let worst = catalog
            .closure(FunctionId(f as u32))
            .iter()
            .map(|q| rank[q.index()])
            .max()
            .unwrap_or(0);
        fns_at[worst] += 1;
        calls_at[worst] += c;
    }
    let (nf, nc) = (
        calls.len().max(1) as f64,
        calls.iter().sum::<u64>().max(1) as f64,
    );
    let (mut af, mut ac) = (0u64, 0u64);
    (0..=p)
        .map(|n| {
            af += fns_at[n];
            ac += calls_at[n];
            (n, af as f64 / nf, ac as f64 / nc)
        })
        .collect()
}

fn top_packages(catalog: &Catalog, functions: &[u64], k: usize) -> Vec<TopPackage> {
    let rank = ranks(functions);
    let mut order: Vec<usize> = (0..functions.len()).collect();
    order.sort_by_key(|&p| rank[p]);
    let n = catalog.function_count().max(1) as f64;
    order
        .into_iter()
        .take(k)
        .filter(|&p| functions[p] > 0)
        .map(|p| {
            let pkg = catalog.package(PackageId(p as u32));
            TopPackage {
                package: pkg.key(),
                functions: functions[p],
                function_share: functions[p] as f64 / n,
                imputed: pkg.imputed,
            }
        })
        .collect()
}

/// The `q`-quantile of sorted `v` (nearest rank, `sock_core::quantile`);
/// 0 when empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    sock_core::quantile::nearest_rank(v, q).unwrap_or(0.0)
}

/// Order statistics of sorted `v`.
pub fn dist(v: &[f64]) -> Dist {
    if v.is_empty() {
        return Dist::default();
    }
    Dist {
        n: v.len(),
        min: v[0],
        p25: quantile(v, 0.25),
        p50: quantile(v, 0.5),
        mean: v.iter().sum::<f64>() / v.len() as f64,
        p75: quantile(v, 0.75),
        p90: quantile(v, 0.9),
        p99: quantile(v, 0.99),
        max: v[v.len() - 1],
    }
}

fn skew(desc: &[u64]) -> Skew {
    let shares = cumulative_shares(desc);
    let n = desc.len();
    let rows = SKEW_PERCENT
        .iter()
        .map(|&x| (x, shares[top_count(x, n)]))
        .collect();
    Skew {
        rows,
        gini: gini(desc),
        never_invoked: desc.iter().filter(|&&c| c == 0).count(),
    }
}

/// Gini coefficient of the counts (0 = every function equally invoked,
/// near 1 = one function takes everything).
pub fn gini(counts: &[u64]) -> f64 {
    let mut v = counts.to_vec();
    v.sort_unstable();
    let n = v.len() as f64;
    let total: f64 = v.iter().map(|&x| x as f64).sum();
    if v.is_empty() || total == 0.0 {
        return 0.0;
    }
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as f64 + 1.0) * x as f64)
        .sum();
    (2.0 * weighted) / (n * total) - (n + 1.0) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_quantiles_and_gini() {
        assert_eq!(cumulative_shares(&[1, 3, 0]), vec![0.0, 0.75, 1.0, 1.0]);
        assert_eq!(top_count(0.02, 1000), 1);
        assert_eq!(top_count(10.0, 1000), 100);
        assert_eq!(top_count(50.0, 0), 0);
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            (quantile(&v, 0.5), quantile(&v, 0.99), quantile(&v, 0.0)),
            (2.0, 4.0, 1.0)
        );
        assert_eq!(gini(&[5, 5, 5]), 0.0);
        assert!((gini(&[0, 0, 0, 10]) - 0.75).abs() < 1e-12);
        assert_eq!(ranks(&[3, 5, 3]), vec![2, 1, 3]);
    }
}
