//! A CSV file read with polars, with every error naming the file, the
//! line and the column.
//!
//! The steps of [`CsvTable::read`]: read the bytes; check the shape line by
//! line (every non-blank line has as many fields as the header; a field may
//! be quoted but not span lines), remembering each record's line number;
//! hand polars the records without blank lines, so that row `i` is line
//! `lines[i]`; let polars infer column types over the whole file (a stray
//! word in a number column makes it a string column, which the typed
//! accessors then reject at the exact line).

use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {path}: {err}")]
    Read { path: String, err: std::io::Error },
    #[error("{path}: line 1: the file is empty (a CSV header is expected)")]
    Empty { path: String },
    #[error("{path}: line {line}: {fields} fields, but the header has {expected}")]
    Shape {
        path: String,
        line: u64,
        fields: usize,
        expected: usize,
    },
    #[error("{path}: {err}")]
    Polars { path: String, err: PolarsError },
    #[error("{path}: polars read {rows} rows but the file has {records} records (a quoted field spanning lines?)")]
    RowCount {
        path: String,
        rows: usize,
        records: usize,
    },
    #[error("{path}: line 1: no column `{column}` in the header ({what})")]
    MissingColumn {
        path: String,
        column: String,
        what: &'static str,
    },
    #[error("{path}: line {line}: column `{column}` is empty")]
    EmptyField {
        path: String,
        line: u64,
        column: String,
    },
    #[error("{path}: line {line}: column `{column}` is {value:?}; expected {expected}")]
    BadValue {
        path: String,
        line: u64,
        column: String,
        value: String,
        expected: &'static str,
    },
}

/// A CSV file as a polars frame plus the line number of each row.
#[derive(Debug)]
pub struct CsvTable {
    path: String,
    header: Vec<String>,
    df: DataFrame,
    lines: Vec<u64>,
}

impl CsvTable {
    /// Reads `path`; `string_columns` (when present) are read as text
    /// whatever they look like (hash ids could be all digits).
    pub fn read(path: &Path, string_columns: &[&str]) -> Result<CsvTable, TableError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| TableError::Read {
            path: name.clone(),
            err,
        })?;
        let (header, lines, clean) = check_shape(&name, &bytes)?;
        let schema: Schema = string_columns
            .iter()
            .filter(|c| header.iter().any(|h| h == *c))
            .map(|c| Field::new((*c).into(), DataType::String))
            .collect();
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_schema_overwrite(Some(Arc::new(schema)))
            .into_reader_with_file_handle(Cursor::new(clean))
            .finish()
            .map_err(|err| TableError::Polars {
                path: name.clone(),
                err,
            })?;
        if df.height() != lines.len() {
            // Row i must be line lines[i]; refuse rather than misname lines.
            return Err(TableError::RowCount {
                path: name,
                rows: df.height(),
                records: lines.len(),
            });
        }
        Ok(CsvTable {
            path: name,
            header,
            df,
            lines,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Column names in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.header.iter().any(|h| h == column)
    }

    /// Number of rows (non-blank lines after the header).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line of row `row` in the file (the header is line 1).
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// Errors unless every column in `columns` exists.
    pub fn require(&self, columns: &[&str], what: &'static str) -> Result<(), TableError> {
        match columns.iter().find(|c| !self.has_column(c)) {
            Some(c) => Err(TableError::MissingColumn {
                path: self.path.clone(),
                column: c.to_string(),
                what,
            }),
            None => Ok(()),
        }
    }

    fn series(&self, column: &str) -> Result<&Series, TableError> {
        let col = self
            .df
            .column(column)
            .map_err(|_| TableError::MissingColumn {
                path: self.path.clone(),
                column: column.to_string(),
                what: "required",
            })?;
        Ok(col.as_materialized_series())
    }

    /// A text column; an empty field is an error.
    pub fn strings(&self, column: &str) -> Result<Vec<String>, TableError> {
        let s = self.series(column)?;
        let s = s
            .cast(&DataType::String)
            .map_err(|err| TableError::Polars {
                path: self.path.clone(),
                err,
            })?;
        let ca = s.str().map_err(|err| TableError::Polars {
            path: self.path.clone(),
            err,
        })?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
                _ => Err(self.empty(i, column)),
            })
            .collect()
    }

    /// A number column: every field a finite number >= 0.
    pub fn numbers(&self, column: &str) -> Result<Vec<f64>, TableError> {
        let s = self.series(column)?;
        let values: Vec<Option<f64>> = if s.dtype().is_primitive_numeric() {
            let f = s
                .cast(&DataType::Float64)
                .map_err(|err| TableError::Polars {
                    path: self.path.clone(),
                    err,
                })?;
            let ca = f.f64().map_err(|err| TableError::Polars {
                path: self.path.clone(),
                err,
            })?;
            ca.iter().collect()
        } else {
            let t = s
                .cast(&DataType::String)
                .map_err(|err| TableError::Polars {
                    path: self.path.clone(),
                    err,
                })?;
            let ca = t.str().map_err(|err| TableError::Polars {
                path: self.path.clone(),
                err,
            })?;
            let mut out = Vec::with_capacity(ca.len());
            for (i, v) in ca.iter().enumerate() {
                out.push(match v.map(str::trim) {
                    None | Some("") => None,
                    Some(text) => Some(
                        text.parse::<f64>()
                            .map_err(|_| self.bad(i, column, text, "a number"))?,
                    ),
                });
            }
            out
        };
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                None => Err(self.empty(i, column)),
                Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
                Some(x) => Err(self.bad(i, column, &x.to_string(), "a finite number >= 0")),
            })
            .collect()
    }

    /// A count column: every field a whole number >= 0 below 2^32.
    pub fn counts(&self, column: &str) -> Result<Vec<u32>, TableError> {
        let values = self.numbers(column)?;
        values
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.fract() == 0.0 && x <= f64::from(u32::MAX) {
                    Ok(x as u32)
                } else {
                    Err(self.bad(i, column, &x.to_string(), "a whole number of invocations"))
                }
            })
            .collect()
    }

    fn empty(&self, row: usize, column: &str) -> TableError {
        TableError::EmptyField {
            path: self.path.clone(),
            line: self.line(row),
            column: column.to_string(),
        }
    }

    /// An error for row `row` of `column`, for callers that validate values.
    pub fn bad(&self, row: usize, column: &str, value: &str, expected: &'static str) -> TableError {
        TableError::BadValue {
            path: self.path.clone(),
            line: self.line(row),
            column: column.to_string(),
            value: value.to_string(),
            expected,
        }
    }
}

/// The header's fields, each record's line number, and the records without
/// blank lines (header first).
type Shape = (Vec<String>, Vec<u64>, Vec<u8>);

/// Splits the file into lines, checking every record's field count.
fn check_shape(path: &str, bytes: &[u8]) -> Result<Shape, TableError> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header_line = lines
        .next()
        .filter(|l| !l.trim().is_empty())
        .ok_or(TableError::Empty { path: path.into() })?;
    let header: Vec<String> = split_fields(header_line)
        .into_iter()
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect();
    let mut clean = Vec::with_capacity(bytes.len());
    clean.extend_from_slice(header_line.as_bytes());
    clean.push(b'\n');
    let mut numbers = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i as u64 + 2;
        let fields = split_fields(line).len();
        if fields != header.len() {
            return Err(TableError::Shape {
                path: path.into(),
                line: n,
                fields,
                expected: header.len(),
            });
        }
        numbers.push(n);
        clean.extend_from_slice(line.as_bytes());
        clean.push(b'\n');
    }
    Ok((header, numbers, clean))
}

/// Splits one line at commas outside double quotes.
fn split_fields(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<CsvTable, TableError> {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).expect("write");
        CsvTable::read(&p, &["id"])
    }

    #[test]
    fn rows_keep_their_line_numbers_across_blank_lines() {
        let t = table("id,n,x\r\n007,1,2.5\n\n\"a,b\",2,3\n").expect("valid");
        assert_eq!(t.len(), 2);
        assert_eq!((t.line(0), t.line(1)), (2, 4));
        assert_eq!(t.strings("id").expect("ids"), ["007", "a,b"]);
        assert_eq!(t.counts("n").expect("n"), [1, 2]);
        assert_eq!(t.numbers("x").expect("x"), [2.5, 3.0]);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = table("id,n\n1,2\n3\n").expect_err("short row").to_string();
        assert!(
            e.ends_with("t.csv: line 3: 1 fields, but the header has 2"),
            "{e}"
        );
        let t = table("id,n\na,1\nb,x\n").expect("reads");
        let e = t.counts("n").expect_err("word").to_string();
        assert!(
            e.contains("t.csv: line 3: column `n` is \"x\"; expected a number"),
            "{e}"
        );
        let t = table("id,n\na,1.5\n\nb,\n").expect("reads");
        let e = t.numbers("n").expect_err("empty").to_string();
        assert!(e.contains("line 4: column `n` is empty"), "{e}");
        let e = t.counts("n").expect_err("fraction").to_string();
        assert!(e.contains("line 4") || e.contains("line 2"), "{e}");
        let t = table("id,n\na,-1\n").expect("reads");
        assert!(t
            .numbers("n")
            .expect_err("negative")
            .to_string()
            .contains(">= 0"));
        let e = t
            .require(&["id", "m"], "needed")
            .expect_err("missing")
            .to_string();
        assert!(e.contains("t.csv: line 1: no column `m`"), "{e}");
        assert!(table("").expect_err("empty").to_string().contains("empty"));
    }
}
