//! The grid of a sweep: axes of `sim`'s own flags, each with a list of
//! values, crossed with each other and with the traces. A point is the
//! `sim` command line it stands for, parsed by the same flag parser and
//! settings resolution as `sim` itself, so every flag is sweepable and
//! every value is checked (and named in its error) exactly as on the
//! command line.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::PathBuf;

/// One axis: a `sim` flag (without the leading dashes) and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub flag: String,
    pub values: Vec<String>,
}

/// Flags that name outputs or inputs of the sweep itself, not settings.
const NOT_SWEEPABLE: [&str; 4] = ["trace", "records", "memory-series", "format"];

impl std::str::FromStr for Axis {
    type Err = String;

    /// `FLAG=V1,V2,...`, e.g. `worker-mb=1024,2048` or `policy=ttl,gdsf`.
    fn from_str(s: &str) -> Result<Axis, String> {
        let (flag, values) = s.split_once('=').ok_or_else(|| {
            format!("{s:?}: expected FLAG=V1,V2,... (a sim flag without dashes, e.g. worker-mb=1024,2048)")
        })?;
        let flag = flag.trim().trim_start_matches("--").to_string();
        if flag.is_empty() || !flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("{s:?}: {flag:?} is not a flag name"));
        }
        if NOT_SWEEPABLE.contains(&flag.as_str()) {
            return Err(format!(
                "{s:?}: --{flag} is not a setting (give traces with --trace, once each)"
            ));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("{s:?}: an empty value"));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
            return Err(format!("{s:?}: {dup:?} appears twice"));
        }
        Ok(Axis { flag, values })
    }
}

/// One configuration of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Position in the grid (traces outermost, then the axes in the order
    /// given, the last varying fastest).
    pub index: usize,
    pub trace: usize,
    /// The value of each axis, in axis order.
    pub values: Vec<String>,
    /// The `sim` arguments this point stands for (without `sim`).
    pub args: Vec<String>,
}

/// Every point of `traces` x `axes`, each with `fixed` flags first.
pub fn points(traces: &[PathBuf], axes: &[Axis], fixed: &[String]) -> Result<Vec<Point>> {
    let mut seen = std::collections::BTreeSet::new();
    for a in axes {
        if !seen.insert(a.flag.as_str()) {
            bail!(
                "--axis {}: the flag has two axes; give its values in one",
                a.flag
            );
        }
    }
    let per_trace: usize = axes.iter().map(|a| a.values.len()).product();
    let mut out = Vec::with_capacity(per_trace * traces.len());
    for (t, trace) in traces.iter().enumerate() {
        for k in 0..per_trace {
            let mut rest = k;
            let mut values = vec![String::new(); axes.len()];
            for (i, a) in axes.iter().enumerate().rev() {
                values[i] = a.values[rest % a.values.len()].clone();
                rest /= a.values.len();
            }
            let mut args = vec!["--trace".to_string(), trace.display().to_string()];
            args.extend(fixed.iter().cloned());
            for (a, v) in axes.iter().zip(&values) {
                // One `--flag=value` word, so a value such as -5 is a value.
                args.push(format!("--{}={v}", a.flag));
            }
            out.push(Point {
                index: out.len(),
                trace: t,
                values,
                args,
            });
        }
    }
    Ok(out)
}

/// The settings a point stands for, resolved as `sim ARGS` resolves them.
pub fn settings(point: &Point) -> Result<crate::settings::Settings> {
    let argv = std::iter::once("sim".to_string()).chain(point.args.iter().cloned());
    let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| {
        anyhow::anyhow!(
            "grid point {} (sim {}): {}",
            point.index,
            point.args.join(" "),
            e.render().to_string().trim_end()
        )
    })?;
    if cli.command.is_some() {
        bail!(
            "grid point {} (sim {}): a subcommand is not a setting",
            point.index,
            point.args.join(" ")
        );
    }
    if cli.run.records.is_some() {
        bail!("--records is not a setting: a sweep writes one row per point, not records");
    }
    if cli.run.memory_series.is_some() {
        bail!("--memory-series is not a setting: a sweep writes one row per point, not series");
    }
    let mut s = crate::settings::resolve(&cli.run)
        .with_context(|| format!("grid point {} (sim {})", point.index, point.args.join(" ")))?;
    s.check()
        .with_context(|| format!("grid point {} (sim {})", point.index, point.args.join(" ")))?;
    Ok(s)
}

/// `--shard I/N`: this process runs the points whose index is I modulo N
/// (0 <= I < N). `env/N` takes I from `JOB_COMPLETION_INDEX` (a
/// Kubernetes Indexed Job) or else `SLURM_ARRAY_TASK_ID` (a Slurm array
/// submitted as `--array=0-(N-1)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

pub const SHARD_ENV: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

impl Shard {
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected I/N (e.g. 0/4) or env/N"))?;
        let count: usize =
            n.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                format!("{s:?}: the shard count {n:?} is not a whole number above 0")
            })?;
        let (index, from) = if i.trim() == "env" {
            let (var, v) = SHARD_ENV
                .iter()
                .find_map(|&var| env(var).map(|v| (var, v)))
                .ok_or_else(|| {
                    format!(
                        "{s:?}: neither {} nor {} is set",
                        SHARD_ENV[0], SHARD_ENV[1]
                    )
                })?;
            (v, format!(" (from {var})"))
        } else {
            (i.to_string(), String::new())
        };
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the shard index {index:?}{from} is not a whole number"))?;
        if index >= count {
            return Err(format!(
                "{s:?}: the shard index {index}{from} is not below the count {count} (shards are 0..{})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn holds(&self, point: usize) -> bool {
        point % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_cross_with_the_last_fastest() {
        let axes: Vec<Axis> = ["worker-mb=1,2", "policy=ttl,lru,gdsf"]
            .iter()
            .map(|s| s.parse().expect("axis"))
            .collect();
        let p = points(
            &["a.json".into(), "b.json".into()],
            &axes,
            &["--cores".into(), "4".into()],
        )
        .expect("points");
        assert_eq!(p.len(), 12);
        assert_eq!(p[1].values, ["1", "lru"]);
        assert_eq!(p[3].values, ["2", "ttl"]);
        assert_eq!((p[6].trace, p[6].index), (1, 6));
        assert_eq!(
            p[4].args,
            [
                "--trace",
                "a.json",
                "--cores",
                "4",
                "--worker-mb=2",
                "--policy=lru"
            ]
        );
    }

    #[test]
    fn bad_axes_are_named() {
        for (s, want) in [
            ("worker-mb", "expected FLAG=V1"),
            ("records=a", "not a setting"),
            ("policy=ttl,,lru", "an empty value"),
            ("policy=ttl,ttl", "appears twice"),
            ("a b=1", "not a flag name"),
        ] {
            let e = s.parse::<Axis>().expect_err(s);
            assert!(e.contains(want), "{s}: {e}");
        }
        let twice: Vec<Axis> = vec!["ttl-s=1".parse().expect("a"), "ttl-s=2".parse().expect("b")];
        assert!(points(&["t".into()], &twice, &[]).is_err());
    }

    #[test]
    fn shards_from_flags_and_the_environment() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("1/4", none), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4", none)
            .expect_err("range")
            .contains("not below"));
        assert!(Shard::parse("0/0", none).is_err());
        assert!(Shard::parse("env/2", none)
            .expect_err("unset")
            .contains("JOB_COMPLETION_INDEX"));
        let k8s = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(Shard::parse("env/2", k8s), Ok(Shard { index: 1, count: 2 }));
        let slurm = |v: &str| (v == "SLURM_ARRAY_TASK_ID").then(|| "3".to_string());
        assert!(Shard::parse("env/3", slurm)
            .expect_err("range")
            .contains("SLURM_ARRAY_TASK_ID"));
        let s = Shard { index: 1, count: 3 };
        assert_eq!((0..7).filter(|&p| s.holds(p)).collect::<Vec<_>>(), [1, 4]);
    }
}
