//! Where a sweep's traces come from: trace files (`--trace`), or the
//! traces `sim trace build ARGS --seed S` (`--build ARGS --seeds LIST`) or
//! `sim trace gen ARGS --seed S` (`--gen ARGS --seeds LIST`) would write,
//! built in memory, one per seed, so a sweep over seeds needs no files.
//!
//! What a seed re-draws is what the data leaves open. For `build`: the
//! app-to-closure assignment, the per-function durations drawn from the
//! Azure percentiles, the placement of calls within their minute and the
//! per-call durations, while every function's per-minute counts stay the
//! real ones (`sim/src/build/mod.rs`, "Determinism"). For `gen`: the whole
//! synthetic model (traces/README.md). So the rows of one configuration
//! over its seeds are a sample, and `sim sweep summarize` gives each metric
//! a confidence interval over them.

use anyhow::{bail, Context, Result};
use clap::Parser;
use sock_core::trace::{Catalog, Invocation, TraceReader};
use std::path::PathBuf;

/// The traces of `sim sweep` and `sim plan`: files, and/or one built or
/// generated trace per seed.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TraceSources {
    /// A trace to replay (repeat for several, e.g. one per seed: the
    /// outermost axis of a sweep; Student's t bounds in a plan).
    #[arg(long)]
    pub trace: Vec<PathBuf>,
    /// Replay the trace `sim trace build ARGS --seed S` writes, built in
    /// memory, for each seed of --seeds (one word list, e.g. `--build
    /// '--data ../shared/data --slice 100'`); adds a `seed` column.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub build: Option<String>,
    /// The same with `sim trace gen ARGS --seed S`.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub gen: Option<String>,
    /// Seeds of --build / --gen: `1-5`, `1,2,7` or a mix.
    #[arg(long, value_name = "LIST")]
    pub seeds: Option<String>,
}

impl TraceSources {
    /// Every trace, checked (each `--build` / `--gen` argument list parsed).
    pub fn expand(&self) -> Result<Vec<Source>> {
        let seeds = match self.seeds.as_deref() {
            Some(s) => parse_seeds(s).map_err(|e| anyhow::anyhow!("--seeds {e}"))?,
            None => Vec::new(),
        };
        expand(
            &self.trace,
            self.build.as_deref(),
            self.gen.as_deref(),
            &seeds,
        )
    }
}

/// One trace of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    File(PathBuf),
    /// `sim trace build ARGS --seed SEED`.
    Build {
        args: Vec<String>,
        seed: u64,
    },
    /// `sim trace gen ARGS --seed SEED`.
    Gen {
        args: Vec<String>,
        seed: u64,
    },
}

#[derive(Parser)]
#[command(name = "sim trace build")]
struct BuildCmd {
    #[command(flatten)]
    params: crate::build::BuildParams,
}

#[derive(Parser)]
#[command(name = "sim trace gen")]
struct GenCmd {
    #[command(flatten)]
    params: crate::gen::GenParams,
}

impl Source {
    /// The `trace` column: the file, or the command that writes the trace.
    pub fn label(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Build { args, seed } => {
                format!("sim trace build {} --seed {seed}", args.join(" "))
            }
            Source::Gen { args, seed } => format!("sim trace gen {} --seed {seed}", args.join(" ")),
        }
    }

    /// The `seed` column, for built and generated traces.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Source::File(_) => None,
            Source::Build { seed, .. } | Source::Gen { seed, .. } => Some(*seed),
        }
    }

    /// The file, for the check that the sweep's outputs overwrite no input.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Source::File(p) => Some(p),
            _ => None,
        }
    }

    /// The trace's catalog and invocations: read from the file, or built
    /// in memory exactly as the `sim trace` command would write it.
    pub fn load(&self) -> Result<(Catalog, Vec<Invocation>)> {
        let reader = match self {
            Source::File(p) => {
                let (c, inv) = crate::open_trace(p)?.into_parts();
                return Ok((c, inv.collect::<Result<Vec<_>, _>>()?));
            }
            Source::Build { args, seed } => {
                let mut params = parse::<BuildCmd>("build", args)?.params;
                params.seed = *seed;
                let mut bytes = Vec::new();
                crate::build::build(&params, &mut bytes)
                    .with_context(|| format!("`{}`", self.label()))?;
                bytes
            }
            Source::Gen { args, seed } => {
                let mut params = parse::<GenCmd>("gen", args)?.params;
                params.seed = *seed;
                let mut bytes = Vec::new();
                crate::gen::generate(&params, &mut bytes)
                    .with_context(|| format!("`{}`", self.label()))?;
                bytes
            }
        };
        let (c, inv) = TraceReader::new(std::io::Cursor::new(reader), self.label())?.into_parts();
        Ok((c, inv.collect::<Result<Vec<_>, _>>()?))
    }
}

fn parse<P: Parser>(kind: &str, args: &[String]) -> Result<P> {
    let argv = std::iter::once(format!("sim trace {kind}")).chain(args.iter().cloned());
    P::try_parse_from(argv).map_err(|e| {
        anyhow::anyhow!(
            "--{kind} {:?}: {}",
            args.join(" "),
            e.render().to_string().trim_end()
        )
    })
}

/// `--seeds`: `1-5` (inclusive), `1,2,7`, or a mix (`1-3,10`).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?}: {v:?} is not a seed (a whole number >= 0)"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("{s:?}: the range {part} is empty"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = out.iter().find(|v| !seen.insert(**v)) {
        return Err(format!("{s:?}: seed {d} appears twice"));
    }
    Ok(out)
}

/// The sweep's traces: the files, then one built or generated trace per
/// seed. Every `--build` / `--gen` argument list is parsed here, so a bad
/// flag fails before any replay.
pub fn expand(
    files: &[PathBuf],
    build: Option<&str>,
    gen: Option<&str>,
    seeds: &[u64],
) -> Result<Vec<Source>> {
    let mut out: Vec<Source> = files.iter().cloned().map(Source::File).collect();
    if build.is_some() && gen.is_some() {
        bail!("--build and --gen: give one of them (the seeds apply to it)");
    }
    let Some((kind, line)) = build.map(|b| ("build", b)).or(gen.map(|g| ("gen", g))) else {
        if !seeds.is_empty() {
            bail!("--seeds needs --build ARGS or --gen ARGS: the traces the seeds re-draw");
        }
        return Ok(out);
    };
    if seeds.is_empty() {
        bail!("--{kind} needs --seeds LIST (e.g. --seeds 1-5): one trace per seed");
    }
    let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if args
        .iter()
        .any(|a| a == "--seed" || a.starts_with("--seed="))
    {
        bail!("--{kind} {line:?}: give the seeds with --seeds, not --seed");
    }
    if args
        .iter()
        .any(|a| a == "--out" || a == "-o" || a.starts_with("--out="))
    {
        bail!("--{kind} {line:?}: the trace is built in memory; drop --out");
    }
    match kind {
        "build" => {
            parse::<BuildCmd>(kind, &args)?;
        }
        _ => {
            parse::<GenCmd>(kind, &args)?;
        }
    }
    for &seed in seeds {
        let args = args.clone();
        out.push(match kind {
            "build" => Source::Build { args, seed },
            _ => Source::Gen { args, seed },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_take_ranges_and_lists() {
        assert_eq!(parse_seeds("1-3,10"), Ok(vec![1, 2, 3, 10]));
        assert_eq!(parse_seeds("7"), Ok(vec![7]));
        assert!(parse_seeds("3-1").expect_err("empty").contains("empty"));
        assert!(parse_seeds("1,1").expect_err("dup").contains("twice"));
        assert!(parse_seeds("a").expect_err("nan").contains("not a seed"));
    }

    #[test]
    fn sources_are_checked_before_any_replay() {
        let e = expand(&[], Some("--slice 100 --bogus"), None, &[1]).expect_err("flag");
        assert!(format!("{e:#}").contains("--bogus"), "{e:#}");
        let e = expand(&[], None, Some("--functions 3 --seed 4"), &[1]).expect_err("seed");
        assert!(e.to_string().contains("--seeds"), "{e}");
        assert!(expand(&[], None, None, &[1]).is_err());
        assert!(expand(&[], None, Some("--functions 3"), &[]).is_err());
        let s = expand(&["a.json".into()], None, Some("--functions 3"), &[4, 5]).expect("ok");
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].label(), "sim trace gen --functions 3 --seed 5");
        assert_eq!((s[0].seed(), s[1].seed()), (None, Some(4)));
    }
}
