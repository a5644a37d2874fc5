//! A sweep CSV (`sim sweep --out`) as `sim plot` reads it: rows kept by
//! `--filter`, grouped by configuration (every axis but `trace` and
//! `seed`), each metric the mean over the group's rows (its traces or
//! seeds; [`crate::sweep::summarize`]).

use super::labels;
use crate::csv_table::CsvTable;
use crate::sweep::summarize::{first_metric, groups_of, Group};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The sweep's configurations and where they came from.
#[derive(Debug)]
pub struct Sweep {
    /// The file, for errors.
    pub what: String,
    pub table: CsvTable,
    /// The configuration axes, in column order (no `point`, `trace`, `seed`).
    pub axes: Vec<String>,
    pub groups: Vec<Group>,
    /// The traces' file names, in first-appearance order.
    pub traces: Vec<String>,
}

/// A `--filter COL=VALUE`: keep only rows whose column has the value.
pub fn parse_filter(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(c, v)| (c.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("{s:?}: expected COLUMN=VALUE, e.g. policy=lru"))
}

impl Sweep {
    pub fn read(path: &Path, filters: &[(String, String)]) -> Result<Sweep> {
        let mut table = CsvTable::read(path)?;
        let what = table.what.clone();
        for (col, value) in filters {
            let i = table.column(col)?;
            table.rows.retain(|r| &r[i] == value);
            if table.rows.is_empty() {
                bail!("{what}: no row has {col}={value} (--filter)");
            }
        }
        if table.rows.is_empty() {
            bail!("{what}: no rows to plot");
        }
        let end = first_metric(&table)?;
        let axes = table.header[..end]
            .iter()
            .filter(|c| !["point", "trace", "seed"].contains(&c.as_str()))
            .cloned()
            .collect();
        let groups = groups_of(&table, 0.95)?;
        let t = table.column("trace")?;
        let mut traces: Vec<String> = Vec::new();
        let mut seeds: Vec<&str> = Vec::new();
        let seed = table.find("seed");
        for r in &table.rows {
            let name = labels::trace_name(&r[t]);
            if !traces.contains(&name) {
                traces.push(name);
            }
            if let Some(i) = seed {
                if !seeds.contains(&r[i].as_str()) {
                    seeds.push(&r[i]);
                }
            }
        }
        if seeds.len() > 1 {
            traces = vec![format!(
                "{} ({} seeds)",
                labels::traces(&traces),
                seeds.len()
            )];
        }
        Ok(Sweep {
            what,
            table,
            axes,
            groups,
            traces,
        })
    }

    /// Checks that `name` is one of the sweep's axes.
    pub fn axis(&self, name: &str, flag: &str) -> Result<()> {
        if self.axes.iter().any(|a| a == name) {
            return Ok(());
        }
        bail!(
            "{}: no axis column {name}; its axes are {} (choose one with {flag})",
            self.what,
            if self.axes.is_empty() {
                "none".to_string()
            } else {
                self.axes.join(", ")
            }
        )
    }

    /// Checks that `name` is a numeric column of the sweep.
    pub fn metric(&self, name: &str) -> Result<()> {
        self.table.column(name)?;
        self.table.numbers(name)?;
        Ok(())
    }

    /// The mean of `metric` in each configuration, with the configuration.
    pub fn means<'a>(&'a self, metric: &str) -> Result<Vec<(&'a Group, f64)>> {
        self.metric(metric)?;
        self.groups
            .iter()
            .map(|g| {
                let m = g.metric(metric).with_context(|| {
                    format!(
                        "{}: column {metric} is empty for {}",
                        self.what,
                        describe_config(&g.config)
                    )
                })?;
                Ok((g, m.mean))
            })
            .collect()
    }

    /// The trace part of a title: `--trace-name`, or the traces' names.
    pub fn trace_label(&self, name: Option<&str>) -> String {
        name.map_or_else(|| labels::traces(&self.traces), str::to_string)
    }
}

/// A configuration's value of `axis`.
pub fn value<'a>(g: &'a Group, axis: &str) -> &'a str {
    g.config
        .iter()
        .find(|(a, _)| a == axis)
        .map_or("", |(_, v)| v.as_str())
}

/// A configuration's value of `axis` as a number; errors name the file.
pub fn number(g: &Group, axis: &str, what: &str) -> Result<f64> {
    let v = value(g, axis);
    v.parse()
        .with_context(|| format!("{what}: axis {axis} has the value {v:?}, not a number"))
}

/// `a=1, b=x` for a configuration (or part of one).
pub fn describe_config(config: &[(String, String)]) -> String {
    if config.is_empty() {
        return "the one configuration".into();
    }
    config
        .iter()
        .map(|(a, v)| format!("{a}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The axes of a configuration other than `used`, as (axis, value).
pub fn rest(g: &Group, used: &[&str]) -> Vec<(String, String)> {
    g.config
        .iter()
        .filter(|(a, _)| !used.contains(&a.as_str()))
        .cloned()
        .collect()
}

/// Sorts values numerically when they all are numbers, else as text.
pub fn sort_values(values: &mut [String]) {
    let all_numbers = values.iter().all(|v| v.parse::<f64>().is_ok());
    if all_numbers {
        values.sort_by(|a, b| {
            let (x, y): (f64, f64) = (a.parse().unwrap_or(0.0), b.parse().unwrap_or(0.0));
            x.total_cmp(&y)
        });
    } else {
        values.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_average_over_traces_and_filters_apply() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            "point,trace,worker-mb,policy,worker.cold_pct\n\
             0,a/t1.json,512,ttl,10\n1,a/t1.json,512,lru,20\n\
             2,b/t2.json,512,ttl,30\n3,b/t2.json,512,lru,40\n",
        )
        .expect("write");
        let s = Sweep::read(&p, &[]).expect("read");
        assert_eq!(s.axes, ["worker-mb", "policy"]);
        assert_eq!(s.trace_label(None), "t1.json, t2.json");
        let m: Vec<(String, f64)> = s
            .means("worker.cold_pct")
            .expect("means")
            .into_iter()
            .map(|(g, v)| (value(g, "policy").to_string(), v))
            .collect();
        assert_eq!(m, [("ttl".to_string(), 20.0), ("lru".to_string(), 30.0)]);
        let only = Sweep::read(&p, &[("policy".into(), "lru".into())]).expect("filter");
        assert_eq!(only.groups.len(), 1);
        let e = s.axis("handler-mb", "--x").expect_err("no axis");
        assert!(e
            .to_string()
            .contains("no axis column handler-mb; its axes are worker-mb, policy"));
    }

    #[test]
    fn seeds_of_a_trace_built_in_memory_are_one_trace_in_the_title() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            "point,trace,seed,worker-mb,worker.cold_pct\n\
             0,sim trace gen --functions 3 --seed 1,1,512,10\n\
             1,sim trace gen --functions 3 --seed 2,2,512,30\n",
        )
        .expect("write");
        let s = Sweep::read(&p, &[]).expect("read");
        assert_eq!(s.axes, ["worker-mb"]);
        assert_eq!(s.trace_label(None), "sim trace gen (2 seeds)");
        let m = s.means("worker.cold_pct").expect("means");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1, 20.0);
    }
}
