//! Reading a records file (JSON Lines of [`InvocationRecord`]) with line
//! numbers in every error and a cap on the line length.

use anyhow::{bail, Context, Result};
use sock_core::lines::{read_line_capped, LineRead};
use sock_core::record::InvocationRecord;
use std::collections::HashMap;
use std::io::BufReader;
use std::path::Path;

/// Longest record line accepted, in bytes (issue 12: an input without
/// line breaks was read until memory ran out).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Reads a JSON Lines file of records. Blank lines are skipped; a line that
/// is not a record, or repeats an earlier line's `seq`, is an error naming
/// the file and the (1-based) line.
pub fn load_records(path: &Path) -> Result<Vec<InvocationRecord>> {
    Ok(load_records_with_lines(path)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// [`load_records`], each record with its (1-based) line.
pub fn load_records_with_lines(path: &Path) -> Result<Vec<(usize, InvocationRecord)>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open records file {}", path.display()))?;
    let mut input = BufReader::new(file);
    let mut records = Vec::new();
    let mut first_line: HashMap<u64, usize> = HashMap::new();
    let mut buf = Vec::new();
    for n in 1.. {
        let read = read_line_capped(&mut input, &mut buf, MAX_RECORD_BYTES)
            .with_context(|| format!("{} line {n}: cannot read", path.display()))?;
        match read {
            LineRead::Eof => break,
            LineRead::TooLong => bail!(
                "{} line {n}: longer than {MAX_RECORD_BYTES} bytes; is this a records file?",
                path.display()
            ),
            LineRead::Line => {}
        }
        let line = std::str::from_utf8(&buf)
            .with_context(|| format!("{} line {n}: not UTF-8 text", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: InvocationRecord = serde_json::from_str(line).map_err(|e| {
            // serde_json appends " at line 1 column C" (of this one line).
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
            anyhow::anyhow!(
                "{} line {n} column {}: not an invocation record: {msg}",
                path.display(),
                e.column()
            )
        })?;
        if let Some(prev) = first_line.insert(record.seq, n) {
            bail!(
                "{} line {n}: seq {} already appears on line {prev}",
                path.display(),
                record.seq
            );
        }
        records.push((n, record));
    }
    Ok(records)
}
