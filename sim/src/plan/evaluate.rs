//! One candidate worker (memory, cores) replayed on every trace, in
//! process through `sim sweep`'s grid ([`crate::sweep::replay_all`]), and
//! each objective's point value and upper bound from the replays.
//! Candidates are cached: the search and the sensitivity table ask for
//! some twice.

use super::bounds::{self, Method};
use super::objectives::{Kind, Metric, Objective};
use crate::settings::Settings;
use crate::sweep::grid::{self, Axis, Point};
use crate::sweep::source::Source;
use crate::sweep::{Batch, Loaded, Replayed};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A worker to try: its memory and cores, and (with `--split`) the idle
/// handlers' cap as a share of its memory.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub memory_mb: f64,
    pub cores: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler_share: Option<f64>,
}

impl Candidate {
    pub fn describe(&self) -> String {
        let split = self
            .handler_mb()
            .map_or(String::new(), |h| format!(", idle handlers {h} MB"));
        format!("{} MB, {} cores{split}", self.memory_mb, self.cores)
    }

    /// The idle handlers' cap (`--handler-mb`) its share gives.
    pub fn handler_mb(&self) -> Option<f64> {
        self.handler_share
            .map(|s| (self.memory_mb * s * 1000.0).round() / 1000.0)
    }
}

/// One objective at one candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub objective: String,
    pub target: f64,
    /// The metric's value (the mean over the traces).
    pub point: f64,
    /// Its upper confidence bound (the point value when none could be had).
    pub bound: f64,
    #[serde(flatten)]
    pub method: Method,
    pub met: bool,
}

/// One candidate's outcomes, in objective order.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub candidate: Candidate,
    pub outcomes: Vec<Outcome>,
    /// The settings it stands for (what `--out` writes).
    #[serde(skip)]
    pub settings: Settings,
}

impl Evaluation {
    pub fn met(&self) -> bool {
        self.outcomes.iter().all(|o| o.met)
    }

    /// The worst objective's miss ([`Objective::miss`]); 0 when all met.
    pub fn miss(&self, objectives: &[Objective]) -> f64 {
        objectives
            .iter()
            .zip(&self.outcomes)
            .map(|(o, r)| o.miss(r.bound))
            .fold(0.0, f64::max)
    }
}

/// Replays candidates on the traces, each once.
#[derive(Debug)]
pub struct Evaluator {
    pub traces: Vec<PathBuf>,
    sources: Vec<Source>,
    loaded: Vec<Option<Loaded>>,
    fixed: Vec<String>,
    pub objectives: Vec<Objective>,
    pub confidence: f64,
    cache: Mutex<BTreeMap<(u64, usize, u64), Arc<Evaluation>>>,
    progress: crate::progress::Progress,
}

fn key(c: Candidate) -> (u64, usize, u64) {
    let share = c.handler_share.map_or(u64::MAX, f64::to_bits);
    (c.memory_mb.to_bits(), c.cores, share)
}

impl Evaluator {
    pub fn new(
        sources: Vec<Source>,
        fixed: Vec<String>,
        objectives: Vec<Objective>,
        confidence: f64,
        expected: usize,
    ) -> Result<Evaluator> {
        let traces: Vec<PathBuf> = sources.iter().map(|s| s.label().into()).collect();
        let loaded = sources
            .par_iter()
            .map(|t| crate::sweep::load(t).map(Some))
            .collect::<Result<_>>()?;
        Ok(Evaluator {
            progress: crate::progress::Progress::new("sim plan", expected * traces.len()),
            traces,
            sources,
            loaded,
            fixed,
            objectives,
            confidence,
            cache: Mutex::new(BTreeMap::new()),
        })
    }

    /// Configurations replayed so far (each on every trace).
    pub fn evaluated(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }

    /// The settings `sim ARGS` resolves for a candidate (fixed flags
    /// first, then `--worker-mb` and `--cores`), on trace `t`.
    fn points(&self, c: Candidate) -> Result<Vec<(Point, Settings)>> {
        let axes = axes(&[c]);
        grid::points(&self.traces, &axes, &self.fixed)?
            .into_iter()
            .map(|p| grid::settings(&p).map(|s| (p, s)))
            .collect()
    }

    /// Every candidate's evaluation, replaying those not yet cached (all
    /// their replays at once, in parallel).
    pub fn evaluate(&self, cands: &[Candidate]) -> Result<Vec<Arc<Evaluation>>> {
        let todo: Vec<Candidate> = {
            let cache = self.cache.lock().expect("plan cache lock");
            let mut seen = std::collections::BTreeSet::new();
            cands
                .iter()
                .copied()
                .filter(|&c| !cache.contains_key(&key(c)) && seen.insert(key(c)))
                .collect()
        };
        let mut points = Vec::new();
        for (i, &c) in todo.iter().enumerate() {
            for (mut p, s) in self.points(c)? {
                // Unique across the batch: candidate-major, then trace.
                p.index = i * self.traces.len() + p.trace;
                points.push((p, s));
            }
        }
        let refs: Vec<(&Point, &Settings)> = points.iter().map(|(p, s)| (p, s)).collect();
        let batch = Batch {
            points: &refs,
            of: refs.len(),
            traces: &self.sources,
            loaded: &self.loaded,
            axes: &axes(&todo),
        };
        let slots: Mutex<Vec<Option<Replayed>>> =
            Mutex::new((0..refs.len()).map(|_| None).collect());
        crate::sweep::replay_all(&batch, |r| {
            let i = r.row.point;
            slots.lock().expect("plan slots lock")[i] = Some(r);
            self.progress.tick();
            Ok(())
        })?;
        let mut slots = slots.into_inner().expect("plan slots lock").into_iter();
        for (i, &c) in todo.iter().enumerate() {
            let replays: Vec<Replayed> = slots
                .by_ref()
                .take(self.traces.len())
                .map(|r| r.context("a replay of the batch did not finish"))
                .collect::<Result<_>>()?;
            let settings = points[i * self.traces.len()].1.clone();
            let e = self.outcomes(c, &replays, settings)?;
            self.cache
                .lock()
                .expect("plan cache lock")
                .insert(key(c), Arc::new(e));
        }
        let cache = self.cache.lock().expect("plan cache lock");
        Ok(cands.iter().map(|&c| cache[&key(c)].clone()).collect())
    }

    /// Clears the progress bar.
    pub fn done(&self) {
        self.progress.finish();
    }

    fn outcomes(
        &self,
        c: Candidate,
        replays: &[Replayed],
        settings: Settings,
    ) -> Result<Evaluation> {
        let mut outcomes = Vec::new();
        for o in &self.objectives {
            let values: Vec<f64> = replays
                .iter()
                .map(|r| o.metric.value(&r.row.columns, &r.stats))
                .collect::<Result<_, String>>()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{}: {o}", c.describe()))?;
            let point = values.iter().sum::<f64>() / values.len() as f64;
            let (bound, method) = match replays {
                [one] => single_trace_bound(&o.metric, &one.stats, self.confidence),
                _ => match bounds::student_t_upper(&values, self.confidence) {
                    Some(b) => (
                        b,
                        Method::StudentT {
                            traces: values.len(),
                        },
                    ),
                    None => (f64::NAN, no_bound("the t quantile is undefined")),
                },
            };
            let bound = if bound.is_finite() { bound } else { point };
            outcomes.push(Outcome {
                objective: o.to_string(),
                target: o.target,
                point,
                bound,
                method,
                met: o.met_by(bound),
            });
        }
        Ok(Evaluation {
            candidate: c,
            outcomes,
            settings,
        })
    }
}

fn no_bound(why: &str) -> Method {
    Method::PointValue {
        why: why.to_string(),
    }
}

/// The distribution-free bound of one replay (NaN with the reason when
/// none can be had; the caller uses the point value).
fn single_trace_bound(m: &Metric, s: &crate::stats::Stats, c: f64) -> (f64, Method) {
    match m.kind {
        Kind::Quantile(h, q) => {
            let h = match h {
                super::objectives::Histo::Startup => &s.startup,
                super::objectives::Histo::Latency => &s.all,
            };
            let n = h.count();
            match bounds::order_statistic_rank(n, q, c) {
                Some(rank) => (
                    crate::summary::round3(h.at_rank(rank) as f64 / 1000.0),
                    Method::OrderStatistic { rank, of: n },
                ),
                None => (
                    f64::NAN,
                    no_bound(&format!("{n} calls are too few for this quantile")),
                ),
            }
        }
        Kind::FunctionQuantile(q) => {
            let shares = s.per_function_cold_shares();
            let n = shares.len() as u64;
            match bounds::order_statistic_rank(n, q, c) {
                Some(rank) => (
                    shares[rank as usize - 1],
                    Method::OrderStatistic { rank, of: n },
                ),
                None => (
                    f64::NAN,
                    no_bound(&format!("{n} functions are too few for this quantile")),
                ),
            }
        }
        Kind::Share(share) => {
            let (x, n) = Metric::counts(share, s);
            match bounds::clopper_pearson_upper(x, n, c) {
                Some(b) => (100.0 * b, Method::ClopperPearson { x, n }),
                None => (f64::NAN, no_bound("no calls")),
            }
        }
    }
}

/// The axes of candidates: `worker-mb` and `cores`, and `handler-mb`
/// with `--split` (their values are only column labels here; each point
/// carries its own).
fn axes(cands: &[Candidate]) -> Vec<Axis> {
    let mut mem: Vec<String> = cands.iter().map(|c| c.memory_mb.to_string()).collect();
    let mut cores: Vec<String> = cands.iter().map(|c| c.cores.to_string()).collect();
    let mut handler: Vec<String> = cands
        .iter()
        .filter_map(|c| c.handler_mb().map(|h| h.to_string()))
        .collect();
    mem.dedup();
    cores.dedup();
    handler.dedup();
    let split = (!handler.is_empty()).then(|| Axis {
        flag: "handler-mb".into(),
        values: handler,
    });
    let mut out = vec![
        Axis {
            flag: "worker-mb".into(),
            values: mem,
        },
        Axis {
            flag: "cores".into(),
            values: cores,
        },
    ];
    out.extend(split);
    out
}
