//! `sim plot KIND --in FILE --out OUT.svg|OUT.png`: capacity-planning
//! plots (plotters; SVG or PNG by the output's extension).
//!
//! | kind | input | what |
//! |---|---|---|
//! | `cold-vs-memory` | sweep CSV | cold-start share vs memory, a line per policy ([`cold_memory`]) |
//! | `pareto` | sweep CSV | p75 per-function cold starts vs idle memory-time, Pareto front ([`pareto`]) |
//! | `startup-cdf` | `sim --records` | start-up latency CDF per path, log ms ([`startup_cdf`]) |
//! | `phases` | sweep CSV | stacked mean phase times per configuration ([`phases`]) |
//! | `memory` | `sim --memory-series` | each tier's memory over time ([`memory`]) |
//! | `heatmap` | sweep CSV | a metric over two axes, values in the cells ([`heatmap`]) |
//!
//! A sweep's rows are averaged per configuration over its traces and
//! seeds ([`sweep_input`]). Charts are data ([`xy`], [`bars`],
//! [`heatmap`]) drawn on either backend ([`canvas`]); [`font`] loads the
//! one font, [`style`] and [`labels`] keep them alike.

pub mod bars;
pub mod canvas;
pub mod cold_memory;
pub mod font;
pub mod heatmap;
pub mod labels;
pub mod memory;
pub mod pareto;
pub mod phases;
pub mod startup_cdf;
pub mod style;
pub mod sweep_input;
pub mod xy;

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use sweep_input::Sweep;

/// What to plot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotKind {
    /// Sweep CSV: cold-start share (worker.cold_pct) vs memory (--x,
    /// default worker-mb), one line per --series (default policy).
    ColdVsMemory,
    /// Sweep CSV: p75 per-function cold starts (--y) vs idle handler
    /// memory-time (--x), a marker per configuration, the Pareto front.
    Pareto,
    /// `sim --records` JSONL: CDF of start-up latency per path (log ms).
    StartupCdf,
    /// Sweep CSV: stacked bars of phases_mean_ms.* per configuration.
    Phases,
    /// `sim --memory-series` CSV: memory per tier over time.
    Memory,
    /// Sweep CSV: --metric (default startup_ms.p99) over two axes (--x
    /// handler-mb, --y zygote-mb), values in the cells.
    Heatmap,
}

/// `sim plot` options.
#[derive(Debug, Args)]
pub struct PlotArgs {
    #[arg(value_enum)]
    pub kind: PlotKind,
    /// The file to plot: a sweep CSV (`sim sweep --out`), records
    /// (`sim --records`) for startup-cdf, or `sim --memory-series` for memory.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// The image to write; OUT.svg or OUT.png.
    #[arg(long, value_name = "OUT.svg|OUT.png")]
    pub out: PathBuf,
    /// The title (default: what is plotted and the trace).
    #[arg(long)]
    pub title: Option<String>,
    /// The trace's name in the default title (default: the trace column's
    /// file names, or the input's file name).
    #[arg(long)]
    pub trace_name: Option<String>,
    /// x: an axis column (cold-vs-memory, heatmap) or a metric (pareto).
    #[arg(long)]
    pub x: Option<String>,
    /// y: an axis column (heatmap) or a metric (pareto).
    #[arg(long)]
    pub y: Option<String>,
    /// The axis with one line or marker colour per value (default policy).
    #[arg(long)]
    pub series: Option<String>,
    /// The metric column (cold-vs-memory: worker.cold_pct; heatmap:
    /// startup_ms.p99).
    #[arg(long)]
    pub metric: Option<String>,
    /// Keep only the sweep's rows with this value (repeatable), e.g.
    /// `--filter policy=lru`.
    #[arg(long, value_name = "COL=VALUE", value_parser = sweep_input::parse_filter)]
    pub filter: Vec<(String, String)>,
    /// TrueType font for the text (default: DejaVu Sans or Liberation Sans
    /// from the system folders).
    #[arg(long)]
    pub font: Option<PathBuf>,
}

/// The options every kind reads.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub title: Option<String>,
    pub trace_name: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    pub series: Option<String>,
    pub metric: Option<String>,
}

impl Options {
    /// `--title`, else the kind's own title.
    pub fn title_or(&self, default: impl FnOnce() -> String) -> String {
        self.title.clone().unwrap_or_else(default)
    }

    /// `--trace-name`, else the input file's name (for inputs that are
    /// not sweeps: records, memory series).
    pub fn trace_of_file(&self, input: &std::path::Path) -> String {
        self.trace_name
            .clone()
            .unwrap_or_else(|| labels::file_name(&input.display().to_string()))
    }
}

/// `sim plot`: reads the input, draws the chart, writes the image.
pub fn run(args: &PlotArgs) -> Result<()> {
    // The format first: a bad --out fails before any reading.
    canvas::Format::of(&args.out)?;
    let o = Options {
        title: args.title.clone(),
        trace_name: args.trace_name.clone(),
        x: args.x.clone(),
        y: args.y.clone(),
        series: args.series.clone(),
        metric: args.metric.clone(),
    };
    let (input, out) = (&args.input, &args.out);
    let sweep = || Sweep::read(input, &args.filter);
    // Each chart is read and checked before the font loads and it draws.
    let to = canvas::Target {
        out,
        input,
        font: args.font.as_deref(),
    };
    match args.kind {
        PlotKind::ColdVsMemory => to.render(&cold_memory::chart(&sweep()?, &o)?),
        PlotKind::Pareto => to.render(&pareto::chart(&sweep()?, &o)?),
        PlotKind::StartupCdf => to.render(&startup_cdf::chart(input, &o)?),
        PlotKind::Phases => to.render(&phases::chart(&sweep()?, &o)?),
        PlotKind::Memory => to.render(&memory::chart(input, &o)?),
        PlotKind::Heatmap => to.render(&heatmap::chart(&sweep()?, &o)?),
    }?;
    eprintln!("sim: plot wrote {}", out.display());
    Ok(())
}
