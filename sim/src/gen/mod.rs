//! `sim trace gen`: a synthetic trace with a documented, seeded model.
//!
//! The steps of [`generate`]: validate the parameters into a `Model`; draw
//! the package table (`catalog::packages`) and the function table
//! (`catalog::functions`); write the header; stream exactly `invocations`
//! arrivals merged from one point process per function
//! (`arrivals::Arrivals`). Every distribution is described, with its
//! source, in `traces/README.md` (section 7).
//!
//! Files: `popularity.rs` (Zipf weights, weighted draws without
//! replacement), `catalog.rs` (tables and cost fits), `arrivals.rs`
//! (Poisson and on/off processes, heap merge), `tests.rs`.
//!
//! Determinism: each step draws from its own `StdRng` stream derived from
//! `--seed`, so the same parameters give a byte-identical file, and the
//! package table does not change when only function or arrival knobs do.
//! `StdRng` is rand 0.8's ChaCha12; the project pins rand in `Cargo.lock`
//! (a future rand release may change `StdRng`'s algorithm).

mod arrivals;
mod catalog;
mod popularity;

use anyhow::Context;
use arrivals::{Arrivals, Burst};
use popularity::ZipfTable;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Poisson};
use sock_core::trace::{TraceHeader, TraceWriter};
use std::io::{BufWriter, Write};

/// Upper bound on `--packages` and `--functions` (the tables live in memory
/// and in one header line).
pub const MAX_TABLE: usize = 1 << 24;
/// Upper bound on `--duration-s` (about 31.7 years).
pub const MAX_DURATION_S: f64 = 1e9;

/// Parameters of `sim trace gen` (all recorded in the header's `source`).
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct GenParams {
    /// Number of packages; package i has popularity rank i.
    #[arg(long, default_value_t = 200)]
    pub packages: usize,
    /// Number of functions.
    #[arg(long, default_value_t = 200)]
    pub functions: usize,
    /// Total invocations to generate (exactly this many lines).
    #[arg(long, default_value_t = 100_000)]
    pub invocations: u64,
    /// Seconds of trace time the invocations span (sets the aggregate rate).
    #[arg(long, default_value_t = 3600.0)]
    pub duration_s: f64,
    /// Zipf exponent of package popularity (0 = uniform).
    #[arg(long, default_value_t = 1.1)]
    pub package_zipf: f64,
    /// Zipf exponent of invocation rate across functions (0 = uniform).
    #[arg(long, default_value_t = 1.0)]
    pub function_zipf: f64,
    /// On/off modulated Poisson arrivals instead of plain Poisson.
    #[arg(long)]
    pub bursty: bool,
    /// Mean ON period of --bursty (s).
    #[arg(long, default_value_t = 60.0)]
    pub burst_on_s: f64,
    /// Mean OFF period of --bursty (s); while ON a function runs at
    /// (on + off) / on times its mean rate.
    #[arg(long, default_value_t = 540.0)]
    pub burst_off_s: f64,
    /// Mean direct dependencies per package (Poisson, capped at 5, always on
    /// more popular packages).
    #[arg(long, default_value_t = 0.8)]
    pub dep_mean: f64,
    /// Mean direct requirements of a function beyond its first (a function
    /// with packages has 1 + Poisson(this), at most 256).
    #[arg(long, default_value_t = 3.0)]
    pub extra_requirements: f64,
    /// Fraction of functions that import no package (hello-world handlers).
    #[arg(long, default_value_t = 0.1)]
    pub hello_fraction: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            packages: 200,
            functions: 200,
            invocations: 100_000,
            duration_s: 3600.0,
            package_zipf: 1.1,
            function_zipf: 1.0,
            bursty: false,
            burst_on_s: 60.0,
            burst_off_s: 540.0,
            dep_mean: 0.8,
            extra_requirements: 3.0,
            hello_fraction: 0.1,
            seed: 42,
        }
    }
}

impl GenParams {
    /// Checks every parameter, as [`generate`] does first; call it before
    /// creating the output file so a bad flag leaves no empty file behind.
    pub fn validate(&self) -> Result<(), GenError> {
        Model::new(self).map(|_| ())
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GenSummary {
    pub packages: usize,
    pub functions: usize,
    pub invocations: u64,
    /// Time of the last invocation (the trace starts at 0), µs.
    pub span_us: u64,
}

/// A parameter outside its domain; the message names the flag.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GenError {
    #[error("--{flag} is {value}; it must be {rule}")]
    Param {
        flag: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("--invocations is {0} but --functions is 0: there is no function to invoke")]
    NoFunctions(u64),
    #[error(
        "the arrival processes ran dry after {0} invocations (every function's rate underflowed)"
    )]
    RanDry(u64),
}

/// A Poisson count whose mean may be 0.
#[derive(Debug, Clone, Copy)]
struct Count(Option<Poisson<f64>>);

impl Count {
    fn new(mean: f64) -> Count {
        Count(if mean > 0.0 {
            Poisson::new(mean).ok()
        } else {
            None
        })
    }

    fn sample<R: rand::Rng>(&self, rng: &mut R) -> u64 {
        self.0.map_or(0, |d| d.sample(rng) as u64)
    }
}

/// Validated parameters and the distributions they define.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    params: GenParams,
    deps: Count,
    requirements: Count,
}

/// The RNG stream of one generation step (independent streams keep a step's
/// draws unchanged when another step's parameters change).
#[derive(Debug, Clone, Copy)]
enum Stream {
    Packages = 1,
    Functions = 2,
    Arrivals = 3,
}

impl Model {
    fn new(p: &GenParams) -> Result<Model, GenError> {
        check_count("packages", p.packages)?;
        check_count("functions", p.functions)?;
        if p.functions == 0 && p.invocations > 0 {
            return Err(GenError::NoFunctions(p.invocations));
        }
        check(
            "duration-s",
            p.duration_s,
            |x| x > 0.0 && x <= MAX_DURATION_S,
            "a number in (0, 1e9]",
        )?;
        let finite_nonneg = |x: f64| x >= 0.0 && x.is_finite();
        check(
            "package-zipf",
            p.package_zipf,
            finite_nonneg,
            "a finite number >= 0",
        )?;
        check(
            "function-zipf",
            p.function_zipf,
            finite_nonneg,
            "a finite number >= 0",
        )?;
        let period = |x: f64| x > 0.0 && x <= MAX_DURATION_S;
        check("burst-on-s", p.burst_on_s, period, "a number in (0, 1e9]")?;
        check("burst-off-s", p.burst_off_s, period, "a number in (0, 1e9]")?;
        check(
            "dep-mean",
            p.dep_mean,
            |x| (0.0..=catalog::MAX_DEPS as f64).contains(&x),
            "a number in [0, 5]",
        )?;
        let max_req = catalog::MAX_REQUIREMENTS as f64;
        check(
            "extra-requirements",
            p.extra_requirements,
            |x| (0.0..=max_req).contains(&x),
            "a number in [0, 256]",
        )?;
        check(
            "hello-fraction",
            p.hello_fraction,
            |x| (0.0..=1.0).contains(&x),
            "a number in [0, 1]",
        )?;
        Ok(Model {
            params: p.clone(),
            deps: Count::new(p.dep_mean),
            requirements: Count::new(p.extra_requirements),
        })
    }

    fn rng(&self, stream: Stream) -> StdRng {
        StdRng::seed_from_u64(splitmix64(self.params.seed ^ splitmix64(stream as u64)))
    }

    fn burst(&self) -> Option<Burst> {
        let p = &self.params;
        p.bursty.then_some(Burst {
            on_us: p.burst_on_s * 1e6,
            off_us: p.burst_off_s * 1e6,
        })
    }
}

/// `value` must satisfy `ok` (NaN never does: every rule is a comparison).
fn check(
    flag: &'static str,
    value: f64,
    ok: impl Fn(f64) -> bool,
    rule: &'static str,
) -> Result<(), GenError> {
    if ok(value) {
        Ok(())
    } else {
        Err(GenError::Param {
            flag,
            value: value.to_string(),
            rule,
        })
    }
}

fn check_count(flag: &'static str, value: usize) -> Result<(), GenError> {
    if value <= MAX_TABLE {
        Ok(())
    } else {
        Err(GenError::Param {
            flag,
            value: value.to_string(),
            rule: "at most 16777216",
        })
    }
}

/// SplitMix64's output function: spreads a seed over all 64 bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes a synthetic trace to `out` (buffered here; pass the raw file).
pub fn generate<W: Write>(p: &GenParams, out: W) -> anyhow::Result<GenSummary> {
    let model = Model::new(p)?;
    let header = header(&model)?;
    let mut writer = TraceWriter::new(BufWriter::with_capacity(1 << 16, out), &header)
        .context("writing the trace header")?;
    let mut span_us = 0;
    if p.invocations > 0 {
        let total_rate = p.invocations as f64 / (p.duration_s * 1e6);
        let arrivals = Arrivals::new(
            p.functions,
            p.function_zipf,
            total_rate,
            model.burst(),
            model.rng(Stream::Arrivals),
        );
        for inv in arrivals.take(usize::try_from(p.invocations).unwrap_or(usize::MAX)) {
            span_us = inv.time.0;
            writer
                .write(inv)
                .with_context(|| format!("writing invocation {}", writer.count() + 1))?;
        }
    }
    if writer.count() < p.invocations {
        return Err(GenError::RanDry(writer.count()).into());
    }
    writer.finish().context("flushing the trace")?;
    Ok(GenSummary {
        packages: p.packages,
        functions: p.functions,
        invocations: p.invocations,
        span_us,
    })
}

/// Line 1: the package and function tables, and the parameters as `source`.
fn header(model: &Model) -> anyhow::Result<TraceHeader> {
    let popularity = ZipfTable::new(model.params.packages, model.params.package_zipf);
    let packages = catalog::packages(model, &popularity, &mut model.rng(Stream::Packages));
    let functions = catalog::functions(
        model,
        &packages,
        &popularity,
        &mut model.rng(Stream::Functions),
    );
    let source = serde_json::json!({
        "generator": "sim trace gen",
        "params": serde_json::to_value(&model.params).context("recording the parameters")?,
    });
    Ok(TraceHeader::new(packages, functions, source))
}

#[cfg(test)]
mod tests;
