//! The sweep's journal: one JSON line per finished point, appended and
//! flushed as each point finishes, beside the output (`OUT.rows.jsonl`).
//! A re-run reads it and skips the points it holds (resuming a sweep that
//! was stopped), and `sim sweep merge` joins the journals of shards. A
//! line cut short by a crash is dropped on the next run.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One finished point: its metrics as ordered (column, text) pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub point: usize,
    /// How many points the whole grid has (every shard says the same).
    pub of: usize,
    /// The `sim` arguments of the point, to tell another grid's journal.
    pub args: Vec<String>,
    /// (column, cell text) pairs ([`super::table::text`]).
    pub columns: Vec<(String, String)>,
}

/// The journal that goes with `out`.
pub fn path_for(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".rows.jsonl");
    PathBuf::from(p)
}

/// The rows of the journal at `path` (none when it does not exist). A last
/// line without its newline (a write cut short) is dropped from the file.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        f.set_len(whole as u64).with_context(|| {
            format!("cannot drop the cut-short last line of {}", path.display())
        })?;
        eprintln!(
            "sim: {}: dropped a last line cut short ({} bytes)",
            path.display(),
            text.len() - whole
        );
    }
    let text = std::str::from_utf8(&text[..whole])
        .with_context(|| format!("{}: not UTF-8 text", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a sweep row", path.display(), n + 1))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Appends rows to a journal, one flushed line each.
#[derive(Debug)]
pub struct Writer {
    file: std::fs::File,
    path: PathBuf,
}

impl Writer {
    pub fn open(path: &Path) -> Result<Writer> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the sweep journal {}", path.display()))?;
        Ok(Writer {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append(&mut self, row: &Row) -> Result<()> {
        let mut line = serde_json::to_vec(row)?;
        line.push(b'\n');
        // One write of the whole line: a crash leaves at most a cut-short last line.
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }
}

/// Joins rows (from one journal or several), by point: a point twice with
/// other arguments, or from a grid of another size, is an error.
pub fn join(rows: Vec<Row>) -> Result<Vec<Row>> {
    let mut by_point: std::collections::BTreeMap<usize, Row> = Default::default();
    let mut of = None;
    for r in rows {
        if *of.get_or_insert(r.of) != r.of {
            bail!(
                "point {} comes from a grid of {} points, others from one of {}: journals of different sweeps",
                r.point,
                r.of,
                of.unwrap_or(0)
            );
        }
        if let Some(prev) = by_point.get(&r.point) {
            if prev.args != r.args {
                bail!(
                    "point {} appears twice with other settings (sim {} / sim {}): journals of different sweeps",
                    r.point,
                    prev.args.join(" "),
                    r.args.join(" ")
                );
            }
            continue;
        }
        by_point.insert(r.point, r);
    }
    Ok(by_point.into_values().collect())
}
