//! `sim trace stats`: the package study of a trace, in the form of SOCK's
//! section 3 (package popularity, closures that fit in the most popular
//! packages, closure sizes, import and install costs), plus invocation
//! skew across functions.
//!
//! The steps of [`run`]: read the header and stream the invocations,
//! counting calls per function (memory O(functions)); compute the study
//! (`compute`); write `study.json`, `packages.csv` and `functions.csv`
//! (`tables`, via polars) and the plots (`plot`, PNG and SVG) into the
//! output folder; return the study, whose `to_text` goes to stdout.

pub mod compute;
pub mod plot;
pub mod tables;
mod text;

pub use compute::Study;

use crate::output::{write_atomically, Output};
use sock_core::trace::{TraceError, TraceReader};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// Parameters of `sim trace stats`.
#[derive(Debug, Clone, clap::Args)]
pub struct StudyParams {
    /// Trace to study (format: traces/README.md).
    #[arg(long)]
    pub trace: PathBuf,
    /// Folder for plots, study.json and CSV tables (created if missing;
    /// default: `<trace file stem>-study` in the current directory).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Skip the plots (no font needed).
    #[arg(long)]
    pub no_plots: bool,
    /// TrueType font for plot text (default: DejaVu Sans or Liberation Sans
    /// from the usual system folders).
    #[arg(long)]
    pub font: Option<PathBuf>,
}

impl StudyParams {
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let stem = self
                .trace
                .file_stem()
                .map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
            PathBuf::from(format!("{stem}-study"))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("cannot open trace {path}: {err}")]
    Open { path: String, err: std::io::Error },
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("cannot create the output folder {path}: {err}")]
    OutDir { path: String, err: std::io::Error },
    #[error("cannot write {path}: {err}")]
    Write { path: String, err: std::io::Error },
    #[error("serialising study.json: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Table(#[from] tables::TableError),
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// The files [`run`] writes into the output folder (plots unless `--no-plots`).
fn output_names(plots: bool) -> Vec<String> {
    let mut names: Vec<String> = ["study.json", "packages.csv", "functions.csv"]
        .map(String::from)
        .to_vec();
    if plots {
        for chart in plot::CHART_FILES {
            names.extend([format!("{chart}.png"), format!("{chart}.svg")]);
        }
    }
    names
}

/// What [`run`] wrote besides the study itself.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Reads the trace, computes the study, writes the output folder.
pub fn run(params: &StudyParams) -> Result<(Study, Outputs), StudyError> {
    let path = params.trace.display().to_string();
    let file = File::open(&params.trace).map_err(|err| StudyError::Open {
        path: path.clone(),
        err,
    })?;
    let reader = TraceReader::new(BufReader::with_capacity(1 << 20, file), path.clone())?;
    let (catalog, invocations) = reader.into_parts();
    let mut calls = vec![0u64; catalog.function_count()];
    for inv in invocations {
        calls[inv?.function.index()] += 1;
    }
    let study = compute::study(&path, &catalog, &calls);
    let dir = params.out_dir();
    std::fs::create_dir_all(&dir).map_err(|err| StudyError::OutDir {
        path: dir.display().to_string(),
        err,
    })?;
    // No output may be the trace itself, a symlink or a device node.
    for name in output_names(!params.no_plots) {
        Output::new(&dir.join(name), &[("trace", &params.trace)])?;
    }
    let mut files = Vec::new();
    let json_path = dir.join("study.json");
    let json = serde_json::to_string_pretty(&study).map_err(StudyError::Json)? + "\n";
    write_atomically(&json_path, &[], |w| -> Result<(), StudyError> {
        w.write_all(json.as_bytes())
            .map_err(|err| write_err(&json_path, err))
    })?;
    files.push(json_path);
    files.extend(tables::write(&dir, &catalog, &calls)?);
    if !params.no_plots {
        plot::load_font(params.font.as_deref())?;
        files.extend(plot::write_all(&dir, &study)?);
    }
    Ok((study, Outputs { dir, files }))
}

fn write_err(path: &Path, err: std::io::Error) -> StudyError {
    StudyError::Write {
        path: path.display().to_string(),
        err,
    }
}
