//! Each phase's term of the cost model as a regression (median or least
//! squares: [`super::Estimator`]), and
//! the fitted parameters written back into a `CostParams` (the table in
//! the module above says which records fit which parameter).

use super::fit::{ols, Coefficient, Fit};
use super::robust::lad;
use super::Joined;
use super::{Estimator, FitOptions};
use sock_core::cost::CostParams;
use sock_core::record::PathKind;

/// One parameter's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ParamFit {
    pub name: &'static str,
    /// The phase whose records fitted it.
    pub phase: &'static str,
    pub prior: f64,
    /// The value written out (the estimate clamped to >= 0, or the prior).
    pub value: f64,
    /// `None` when the prior was kept; then `kept` says why.
    pub fit: Option<Coefficient>,
    pub kept: Option<String>,
    pub clamped: bool,
    pub n: usize,
    /// Median and 95th percentile of |residual| of the phase's fit (ms).
    pub residual_p50_ms: Option<f64>,
    pub residual_p95_ms: Option<f64>,
}

/// A regressor: a parameter, its prior, and its column value for a row.
struct Term {
    name: &'static str,
    prior: f64,
    column: fn(&Joined<'_>) -> f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn one(_: &Joined<'_>) -> f64 {
    1.0
}

fn packages(r: &Joined<'_>) -> f64 {
    r.features.packages as f64
}

fn fresh(r: &Joined<'_>) -> f64 {
    f64::from(u8::from(r.measured.path == PathKind::Fresh))
}

fn cold_start(r: &Joined<'_>) -> f64 {
    f64::from(u8::from(r.measured.path != PathKind::HandlerHit))
}

fn zygote_mb(r: &Joined<'_>) -> f64 {
    r.features.zygote_mb
}

/// Fits `y(row)` on `terms` over `rows`. A term whose column does not vary
/// where the model has an intercept, or that is all zero, is fixed at its
/// prior (its contribution subtracted from `y`) and reported as kept.
fn fit_phase(
    phase: &'static str,
    rows: &[&Joined<'_>],
    y: fn(&Joined<'_>) -> f64,
    terms: &[Term],
    identifiable: &[Option<&'static str>],
    opts: FitOptions,
) -> Vec<ParamFit> {
    let free: Vec<usize> = (0..terms.len())
        .filter(|&i| identifiable[i].is_none())
        .collect();
    let fixed = |r: &Joined<'_>| -> f64 {
        (0..terms.len())
            .filter(|i| !free.contains(i))
            .map(|i| terms[i].prior * (terms[i].column)(r))
            .sum()
    };
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| free.iter().map(|&i| (terms[i].column)(r)).collect())
        .collect();
    let yv: Vec<f64> = rows.iter().map(|r| y(r) - fixed(r)).collect();
    let result: Result<Fit, String> = if free.is_empty() {
        Err(String::new())
    } else {
        match opts.estimator {
            Estimator::Median => lad(&x, &yv, opts.confidence),
            Estimator::Mean => ols(&x, &yv, opts.confidence),
        }
        .map_err(|e| e.to_string())
    };
    let (resid50, resid95) = match &result {
        Ok(f) => abs_quantiles(&f.residuals),
        Err(_) => (None, None),
    };
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut p = ParamFit {
                name: t.name,
                phase,
                prior: t.prior,
                value: t.prior,
                fit: None,
                kept: None,
                clamped: false,
                n: rows.len(),
                residual_p50_ms: resid50,
                residual_p95_ms: resid95,
            };
            match (identifiable[i], &result, free.iter().position(|&j| j == i)) {
                (Some(why), _, _) => p.kept = Some(why.to_string()),
                (None, Err(e), _) => p.kept = Some(format!("fit failed: {e}")),
                (None, Ok(f), Some(k)) => {
                    let c = f.coefficients[k].clone();
                    p.clamped = c.estimate < 0.0;
                    p.value = c.estimate.max(0.0);
                    p.fit = Some(c);
                }
                (None, Ok(_), None) => p.kept = Some("not fitted".into()),
            }
            p
        })
        .collect()
}

fn abs_quantiles(r: &[f64]) -> (Option<f64>, Option<f64>) {
    let mut a: Vec<f64> = r.iter().map(|v| v.abs()).collect();
    a.sort_by(f64::total_cmp);
    let q = |p| sock_core::quantile::nearest_rank(&a, p).map(|v| (v * 1000.0).round() / 1000.0);
    (q(0.5), q(0.95))
}

fn varies(rows: &[&Joined<'_>], col: fn(&Joined<'_>) -> f64) -> bool {
    let mut it = rows.iter().map(|r| col(r));
    let first = it.next();
    first.is_some_and(|f| it.any(|v| v != f))
}

/// Fits every parameter the records can identify.
pub fn fit_all(rows: &[Joined<'_>], prior: &CostParams, opts: FitOptions) -> Vec<ParamFit> {
    let by = |p: PathKind| -> Vec<&Joined<'_>> {
        rows.iter().filter(|r| r.measured.path == p).collect()
    };
    let hits = by(PathKind::HandlerHit);
    let cold: Vec<&Joined<'_>> = rows
        .iter()
        .filter(|r| r.measured.path != PathKind::HandlerHit)
        .collect();
    let forks: Vec<&Joined<'_>> = by(PathKind::ZygoteHit)
        .into_iter()
        .filter(|r| !r.features.spare)
        .collect();
    let spares: Vec<&Joined<'_>> = rows.iter().filter(|r| r.features.spare).collect();
    let all: Vec<&Joined<'_>> = rows.iter().collect();
    let none = |v: &[&Joined<'_>]| v.is_empty().then_some("no samples");
    let mut out = Vec::new();
    let constant = |name, prior| Term {
        name,
        prior,
        column: one,
    };
    out.extend(fit_phase(
        "unpause",
        &hits,
        |r| ms(r.measured.phases_us.unpause),
        &[constant("unpause_ms", prior.unpause_ms)],
        &[none(&hits)],
        opts,
    ));
    let has_hit = !hits.is_empty();
    let has_fork = cold.iter().any(|r| fresh(r) == 0.0);
    let has_fresh = cold.iter().any(|r| fresh(r) == 1.0);
    out.extend(fit_phase(
        "transport",
        &all,
        |r| ms(r.measured.phases_us.transport),
        &[
            constant("transport_ms", prior.transport_ms),
            Term {
                name: "transport_cold_ms",
                prior: prior.transport_cold_ms,
                column: cold_start,
            },
            Term {
                name: "transport_fresh_ms",
                prior: prior.transport_fresh_ms,
                column: fresh,
            },
        ],
        &[
            (!has_hit).then_some("no handler hits to separate it from a cold start's"),
            (cold.is_empty()).then_some("no cold starts"),
            (!has_fresh)
                .then_some("no fresh starts")
                .or((!has_fork).then_some("no Zygote hits to separate it from a forked child's")),
        ],
        opts,
    ));
    out.extend(fit_phase(
        "create",
        &cold,
        |r| ms(r.measured.phases_us.create),
        &[
            constant("container_create_ms", prior.container_create_ms),
            Term {
                name: "create_per_package_ms",
                prior: prior.create_per_package_ms,
                column: packages,
            },
            Term {
                name: "python_start_ms",
                prior: prior.python_start_ms,
                column: fresh,
            },
        ],
        &[
            (!has_fork).then_some("no Zygote hits to separate it from the interpreter start"),
            (!varies(&cold, packages)).then_some("every closure has the same size"),
            (!has_fresh).then_some("no fresh starts"),
        ],
        opts,
    ));
    out.extend(fit_phase(
        "fork",
        &forks,
        |r| ms(r.measured.phases_us.fork),
        &[
            constant("fork_base_ms", prior.fork_base_ms),
            Term {
                name: "fork_per_mb_ms",
                prior: prior.fork_per_mb_ms,
                column: zygote_mb,
            },
        ],
        &[
            none(&forks),
            (!varies(&forks, zygote_mb)).then_some("every fork is from Zygotes of one size"),
        ],
        opts,
    ));
    out.extend(fit_phase(
        "fork (spare)",
        &spares,
        |r| ms(r.measured.phases_us.fork),
        &[constant("spare_hit_ms", prior.spare_hit_ms)],
        &[none(&spares)],
        opts,
    ));
    for (phase, name, prior_scale, pred, meas) in [
        (
            "import",
            "import_scale",
            prior.import_scale,
            (|r: &Joined<'_>| r.features.import_ms) as fn(&Joined<'_>) -> f64,
            (|r: &Joined<'_>| ms(r.measured.phases_us.import)) as fn(&Joined<'_>) -> f64,
        ),
        (
            "install",
            "install_scale",
            prior.install_scale,
            |r: &Joined<'_>| r.features.install_ms,
            |r: &Joined<'_>| ms(r.measured.phases_us.install),
        ),
    ] {
        let with: Vec<&Joined<'_>> = cold.iter().copied().filter(|r| pred(r) > 0.0).collect();
        let mut fits = fit_phase(
            phase,
            &with,
            meas,
            &[Term {
                name,
                prior: 1.0,
                column: pred,
            }],
            &[none(&with)],
            opts,
        );
        // The fit is a ratio to the prediction at the prior scale.
        for p in &mut fits {
            p.prior = prior_scale;
            p.value *= prior_scale;
            if p.fit.is_none() {
                p.value = prior_scale;
            }
            if let Some(c) = p.fit.as_mut() {
                c.estimate *= prior_scale;
                c.std_error = c.std_error.map(|s| s * prior_scale);
                c.ci = c.ci.map(|(a, b)| (a * prior_scale, b * prior_scale));
            }
        }
        out.extend(fits);
    }
    out
}

/// `prior` with every fitted value written in.
pub fn apply(prior: &CostParams, fits: &[ParamFit]) -> CostParams {
    let mut p = prior.clone();
    for f in fits.iter().filter(|f| f.fit.is_some()) {
        let slot = match f.name {
            "unpause_ms" => &mut p.unpause_ms,
            "transport_ms" => &mut p.transport_ms,
            "transport_cold_ms" => &mut p.transport_cold_ms,
            "transport_fresh_ms" => &mut p.transport_fresh_ms,
            "container_create_ms" => &mut p.container_create_ms,
            "create_per_package_ms" => &mut p.create_per_package_ms,
            "python_start_ms" => &mut p.python_start_ms,
            "fork_base_ms" => &mut p.fork_base_ms,
            "fork_per_mb_ms" => &mut p.fork_per_mb_ms,
            "spare_hit_ms" => &mut p.spare_hit_ms,
            "import_scale" => &mut p.import_scale,
            "install_scale" => &mut p.install_scale,
            _ => continue,
        };
        *slot = f.value;
    }
    p
}
