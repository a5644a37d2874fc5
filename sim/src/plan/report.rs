//! What `sim plan` reports: the chosen worker, each objective's point
//! value, bound (and how it was computed) and whether it is met; the
//! sensitivity table (the neighbouring memory sizes and core counts);
//! the settings file; the commands that check the plan in `sim` and on
//! real containers. Text or JSON (`--json`).

use super::evaluate::{Evaluation, Evaluator};
use super::search::{Found, Neighbour, Space};
use super::PlanArgs;
use crate::settings::Settings;
use crate::sweep::source::Source;
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct Plan {
    pub objectives: Vec<String>,
    pub confidence: f64,
    pub traces: Vec<String>,
    /// The flags every candidate got.
    pub fixed: Vec<String>,
    pub memory_mb: Vec<f64>,
    pub cores: Vec<usize>,
    /// `--split`: idle-handler shares of the memory (empty: none).
    pub split: Vec<f64>,
    /// The tier caps every candidate had (sock-core does not split the
    /// worker's memory; see the module docs of [`super`]).
    pub tiers: String,
    /// Configurations replayed (each on every trace), of the grid's.
    pub evaluated: usize,
    pub of: usize,
    pub wall_s: f64,
    /// The smallest worker meeting every objective.
    pub chosen: Option<Evaluation>,
    pub sensitivity: Vec<Row>,
    /// When nothing meets the objectives: the candidate missing least.
    pub best: Option<Evaluation>,
    /// The settings file written (none when nothing passed).
    pub settings_file: Option<PathBuf>,
    /// Commands that check the plan.
    pub check: Vec<String>,
    #[serde(skip)]
    pub chosen_settings: Option<Settings>,
}

/// One line of the sensitivity table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub label: &'static str,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

impl Plan {
    pub fn new(
        args: &PlanArgs,
        sources: &[Source],
        space: &Space,
        ev: &Evaluator,
        found: Found,
        neighbours: Vec<Neighbour>,
        wall: std::time::Duration,
    ) -> Plan {
        let chosen = found.chosen.map(|(_, e)| (*e).clone());
        let out = args.out.display().to_string();
        let check = match &chosen {
            Some(_) => commands(&out, sources),
            None => Vec::new(),
        };
        let tiers = chosen
            .as_ref()
            .or(found.best.as_deref())
            .map_or(String::new(), |e| tiers_line(&e.settings));
        Plan {
            tiers,
            objectives: args.slo.iter().map(ToString::to_string).collect(),
            confidence: args.confidence,
            traces: sources.iter().map(Source::label).collect(),
            fixed: args.fixed.clone(),
            memory_mb: space.memory_mb.clone(),
            cores: space.cores.clone(),
            split: space.shares.iter().flatten().copied().collect(),
            evaluated: ev.evaluated(),
            of: space.size(),
            wall_s: (wall.as_secs_f64() * 10.0).round() / 10.0,
            chosen_settings: chosen.as_ref().map(|e| e.settings.clone()),
            settings_file: chosen.as_ref().map(|_| args.out.clone()),
            chosen,
            sensitivity: neighbours
                .into_iter()
                .map(|n| Row {
                    label: n.label,
                    evaluation: (*n.evaluation).clone(),
                })
                .collect(),
            best: found.best.map(|e| (*e).clone()),
            check,
        }
    }

    /// Why the plan failed (no candidate met the objectives), naming the
    /// best candidate and how far it misses.
    pub fn failure(&self) -> Option<String> {
        if self.chosen.is_some() {
            return None;
        }
        let Some(b) = &self.best else {
            return Some("no candidate was evaluated".into());
        };
        let misses: Vec<String> = b
            .outcomes
            .iter()
            .filter(|o| !o.met)
            .map(|o| {
                format!(
                    "{} has bound {} ({} over)",
                    o.objective,
                    num(o.bound),
                    num(o.bound - o.target)
                )
            })
            .collect();
        Some(format!(
            "no candidate of {} meets the objectives; the best, {}, misses: {}",
            self.of,
            b.candidate.describe(),
            misses.join("; ")
        ))
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sim plan: {} at {}% confidence over {} trace(s): {}",
            self.objectives.join(", "),
            self.confidence * 100.0,
            self.traces.len(),
            traces_line(&self.traces)
        );
        let fixed = if self.fixed.is_empty() {
            "(none)".to_string()
        } else {
            self.fixed.join(" ")
        };
        let split = if self.split.is_empty() {
            String::new()
        } else {
            format!(" x idle-handler share {}", list(&self.split))
        };
        let _ = writeln!(
            s,
            "searched   worker memory {} MB x cores {}{split}; fixed flags {fixed}",
            list(&self.memory_mb),
            list(&self.cores)
        );
        let _ = writeln!(
            s,
            "           {} of {} configurations replayed (bisection on memory per core count{}) in {:.1} s",
            self.evaluated,
            self.of,
            if self.split.is_empty() { "" } else { " and share" },
            self.wall_s
        );
        let _ = writeln!(s, "tiers      {}\n", self.tiers);
        match (&self.chosen, &self.best) {
            (Some(c), _) => {
                let _ = writeln!(s, "chosen     {}\n", c.candidate.describe());
                outcomes(&mut s, c);
            }
            (None, Some(b)) => {
                let _ = writeln!(
                    s,
                    "NO CANDIDATE MEETS THE OBJECTIVES; the best: {}\n",
                    b.candidate.describe()
                );
                outcomes(&mut s, b);
            }
            (None, None) => {}
        }
        if !self.sensitivity.is_empty() {
            self.sensitivity_text(&mut s);
        }
        if let Some(f) = &self.settings_file {
            let _ = writeln!(s, "\nwrote {}; check it with:", f.display());
            for c in &self.check {
                let _ = writeln!(s, "  {c}");
            }
        }
        s
    }

    fn sensitivity_text(&self, s: &mut String) {
        let _ = writeln!(s, "\nsensitivity (each objective's bound; * = missed)");
        let w = self
            .sensitivity
            .iter()
            .map(|r| r.evaluation.candidate.describe().len() + 2)
            .max()
            .unwrap_or(22);
        let _ = write!(s, "  {:<12}{:<w$}", "", "worker");
        for o in &self.objectives {
            let _ = write!(s, "{o:>24}");
        }
        let _ = writeln!(s);
        for r in &self.sensitivity {
            let e = &r.evaluation;
            let mut line = format!("  {:<12}{:<w$}", r.label, e.candidate.describe());
            for o in &e.outcomes {
                let mark = if o.met { " " } else { "*" };
                let _ = write!(line, "{:>23}{mark}", num(o.bound));
            }
            let _ = writeln!(s, "{}", line.trim_end());
        }
    }
}

fn outcomes(s: &mut String, e: &Evaluation) {
    let _ = writeln!(
        s,
        "  {:<26}{:>10}{:>10}  {:<5}method",
        "objective", "point", "bound", "met"
    );
    for o in &e.outcomes {
        let _ = writeln!(
            s,
            "  {:<26}{:>10}{:>10}  {:<5}{}",
            o.objective,
            num(o.point),
            num(o.bound),
            if o.met { "yes" } else { "NO" },
            o.method.describe()
        );
    }
}

/// The tier caps, as the report's `tiers` line.
fn tiers_line(s: &Settings) -> String {
    let t = &s.tiers;
    format!(
        "caps inside the worker's memory (sock-core does not split it): idle handlers {} MB, Zygote tree {} MB ({}); install cache {} MB of disk",
        t.handler.budget_mb,
        t.zygote.budget_mb,
        format!("{:?}", t.zygote.mode).to_lowercase(),
        t.install.budget_mb
    )
}

/// Objectives of the chosen (or best) candidate that had no bound.
pub fn unbounded(plan: &Plan) -> Vec<String> {
    plan.chosen
        .iter()
        .chain(plan.best.iter())
        .flat_map(|e| &e.outcomes)
        .filter_map(|o| match &o.method {
            super::bounds::Method::PointValue { why } => Some(format!(
                "{}: no upper bound could be computed ({why}); the point value {} stands in for it",
                o.objective,
                num(o.point)
            )),
            _ => None,
        })
        .collect()
}

fn num(x: f64) -> String {
    format!("{:.3}", x)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The commands that check the plan: sim's prediction, and the same
/// worker on real containers (as root) compared with it.
/// The traces, with a run of seeds of one command shortened to
/// `COMMAND --seed 1..5 (5 seeds)`.
fn traces_line(traces: &[String]) -> String {
    let split = |t: &str| {
        t.rsplit_once(" --seed ")
            .filter(|(_, n)| n.parse::<u64>().is_ok())
            .map(|(c, n)| (c.to_string(), n.to_string()))
    };
    let seeds: Option<Vec<(String, String)>> = traces.iter().map(|t| split(t)).collect();
    match seeds {
        Some(v) if v.len() > 1 && v.iter().all(|(c, _)| *c == v[0].0) => {
            let list: Vec<&str> = v.iter().map(|(_, n)| n.as_str()).collect();
            format!("{} --seed {{{}}}", v[0].0, list.join(","))
        }
        _ => traces.join(", "),
    }
}

fn commands(out: &str, sources: &[Source]) -> Vec<String> {
    let Some(first) = sources.first() else {
        return Vec::new();
    };
    // A built or generated trace is written to a file first.
    let (mut lines, t) = match first {
        Source::File(p) => (Vec::new(), p.display().to_string()),
        s => (
            vec![format!("{} --out trace.json", s.label())],
            "trace.json".to_string(),
        ),
    };
    lines.extend([
        format!("sim --config {out} --trace {t}"),
        format!("sim --config {out} --trace {t} --records predicted.jsonl"),
        format!(
            "sudo sock-exec run --config {out} --trace {t} --concurrent --records measured.jsonl"
        ),
        "sim compare --predicted predicted.jsonl --measured measured.jsonl".to_string(),
    ]);
    lines
}

/// Writes the chosen settings in the settings-file format (sock-core's
/// serde types, so `sim --config` and `sock-exec run --config` read it),
/// whole or not at all, never over a trace.
pub fn write_settings(out: &Path, settings: &Settings, traces: &[PathBuf]) -> Result<()> {
    let inputs: Vec<crate::output::Input> = traces.iter().map(|t| ("trace", t.as_path())).collect();
    crate::output::write_atomically::<_, anyhow::Error>(out, &inputs, |w| {
        serde_json::to_writer_pretty(&mut *w, settings)?;
        use std::io::Write;
        writeln!(w)?;
        Ok(())
    })
}
