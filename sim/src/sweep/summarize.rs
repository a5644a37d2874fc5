//! `sim sweep summarize`: a sweep's rows grouped by configuration, each
//! numeric metric as mean, n and Student's t confidence interval
//! ([`crate::stats_ci`]) over the group's rows (its seeds or traces).
//!
//! A configuration is the row's axis values: the columns between `point`
//! and the summary's first column (the first name with a dot), without `trace` and
//! `seed`. A metric is any later column whose cells are all numbers
//! (empty cells are left out, so n may differ per metric). Output is long:
//! one line per (configuration, metric): the axis columns, then
//! `metric,n,mean,sd,lo,hi`; with n = 1, `sd`, `lo` and `hi` are empty (no
//! interval from one value).

use crate::csv_table::CsvTable;
use crate::stats_ci::{mean_ci, MeanCi};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One configuration's metrics.
#[derive(Clone, Debug)]
pub struct Group {
    /// (axis, value), in column order.
    pub config: Vec<(String, String)>,
    /// Metric -> its mean and interval, in column order.
    pub metrics: Vec<(String, MeanCi)>,
}

impl Group {
    pub fn metric(&self, name: &str) -> Option<&MeanCi> {
        self.metrics.iter().find(|(m, _)| m == name).map(|(_, c)| c)
    }
}

/// The groups of a sweep CSV's text.
pub fn groups(text: &str, confidence: f64, what: &str) -> Result<Vec<Group>> {
    let table = CsvTable::parse(text, what)?;
    groups_of(&table, confidence)
}

/// The index of a sweep table's first summary column: axes are sim flags
/// (no dots); the summary's flattened keys all have one, and the sweep
/// writes them sorted after the axes.
pub fn first_metric(table: &CsvTable) -> Result<usize> {
    let what = &table.what;
    let header = &table.header;
    let after_trace = header
        .iter()
        .position(|c| c == "trace")
        .with_context(|| format!("{what}: no trace column: not a `sim sweep` table"))?
        + 1;
    header[after_trace..]
        .iter()
        .position(|c| c.contains('.'))
        .map(|i| i + after_trace)
        .with_context(|| {
            format!("{what}: no summary columns after the axes: not a `sim sweep` table")
        })
}

/// The groups of a parsed sweep table.
pub fn groups_of(table: &CsvTable, confidence: f64) -> Result<Vec<Group>> {
    let header = &table.header;
    let rows = &table.rows;
    let first_metric = first_metric(table)?;
    let axes: Vec<usize> = (0..first_metric)
        .filter(|&i| !["point", "trace", "seed"].contains(&header[i].as_str()))
        .collect();
    let metrics: Vec<usize> = (first_metric..header.len())
        .filter(|&i| {
            let mut cells = rows.iter().map(|r| r[i].as_str()).filter(|c| !c.is_empty());
            cells.clone().next().is_some() && cells.all(|c| c.parse::<f64>().is_ok())
        })
        .collect();
    let mut by: BTreeMap<Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in rows {
        let key: Vec<String> = axes.iter().map(|&i| r[i].clone()).collect();
        by.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        if let Some(v) = by.get_mut(&axes.iter().map(|&i| r[i].clone()).collect::<Vec<_>>()) {
            v.push(r);
        }
    }
    let mut out = Vec::new();
    for key in order {
        let members = &by[&key];
        let metrics = metrics
            .iter()
            .filter_map(|&i| {
                let v: Vec<f64> = members.iter().filter_map(|r| r[i].parse().ok()).collect();
                mean_ci(&v, confidence).map(|c| (header[i].clone(), c))
            })
            .collect();
        out.push(Group {
            config: axes.iter().map(|&i| header[i].clone()).zip(key).collect(),
            metrics,
        });
    }
    Ok(out)
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

/// Writes the groups in the long format of the module docs.
pub fn write_csv(groups: &[Group], w: &mut dyn Write) -> std::io::Result<()> {
    let axes: Vec<&str> = groups
        .first()
        .map(|g| g.config.iter().map(|(a, _)| a.as_str()).collect())
        .unwrap_or_default();
    let mut head: Vec<&str> = axes.clone();
    head.extend(["metric", "n", "mean", "sd", "lo", "hi"]);
    writeln!(w, "{}", head.join(","))?;
    for g in groups {
        let cfg: Vec<String> = g.config.iter().map(|(_, v)| v.clone()).collect();
        for (m, c) in &g.metrics {
            let mut cells = cfg.clone();
            cells.extend([
                m.clone(),
                c.n.to_string(),
                format!("{}", c.mean),
                num(c.spread.map(|(sd, _)| sd)),
                num(c.lo()),
                num(c.hi()),
            ]);
            writeln!(w, "{}", cells.join(","))?;
        }
    }
    Ok(())
}

/// `sim sweep summarize --in IN --out OUT`: returns (configurations, of
/// them with a single row: no interval).
pub fn run(input: &Path, out: &Path, confidence: f64) -> Result<(usize, usize)> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let g = groups(&text, confidence, &input.display().to_string())?;
    let single = g
        .iter()
        .filter(|g| g.metrics.iter().all(|(_, c)| c.n < 2))
        .count();
    crate::output::write_atomically::<_, anyhow::Error>(out, &[("sweep table", input)], |w| {
        Ok(write_csv(&g, w)?)
    })?;
    Ok((g.len(), single))
}
