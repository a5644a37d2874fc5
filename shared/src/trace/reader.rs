//! Streaming trace reader: the header is parsed once, invocations one line
//! at a time, so memory stays constant whatever the trace length.

use super::{Catalog, CatalogError, Invocation, TraceHeader};
use crate::units::{FunctionId, Micros};
use std::io::BufRead;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{source_name}: cannot read line {line}: {err}")]
    Io {
        source_name: String,
        line: u64,
        err: std::io::Error,
    },
    #[error("{source_name}: the trace is empty (line 1 must be the JSON header)")]
    Empty { source_name: String },
    #[error("{source_name}: line 1 (header): {err}")]
    Header {
        source_name: String,
        err: serde_json::Error,
    },
    #[error("{source_name}: line 1 (header): {err}")]
    Catalog {
        source_name: String,
        err: CatalogError,
    },
    #[error("{source_name}: line {line}: {msg}; an invocation line is `[time_us, function_index]`, got {text:?}")]
    Invocation {
        source_name: String,
        line: u64,
        msg: String,
        text: String,
    },
    #[error("{source_name}: line {line}: function index {function} is out of range ({count} functions in the header)")]
    UnknownFunction {
        source_name: String,
        line: u64,
        function: u64,
        count: usize,
    },
    #[error("{source_name}: line {line}: time {time_us} us is earlier than the previous invocation ({previous_us} us); invocations must be sorted by time")]
    Unsorted {
        source_name: String,
        line: u64,
        time_us: u64,
        previous_us: u64,
    },
}

/// Reads a trace from any buffered source. `source_name` (usually the file
/// path) prefixes every error.
#[derive(Debug)]
pub struct TraceReader<R> {
    input: R,
    source_name: String,
    catalog: Catalog,
    line: u64,
    last_time: u64,
    buf: String,
}

impl<R: BufRead> TraceReader<R> {
    /// Parses and validates the header; invocations follow via `Iterator`.
    pub fn new(mut input: R, source_name: impl Into<String>) -> Result<Self, TraceError> {
        let source_name = source_name.into();
        let mut buf = String::new();
        let n = input.read_line(&mut buf).map_err(|err| TraceError::Io {
            source_name: source_name.clone(),
            line: 1,
            err,
        })?;
        if n == 0 {
            return Err(TraceError::Empty { source_name });
        }
        let header: TraceHeader = serde_json::from_str(&buf).map_err(|err| TraceError::Header {
            source_name: source_name.clone(),
            err,
        })?;
        let catalog = Catalog::new(header).map_err(|err| TraceError::Catalog {
            source_name: source_name.clone(),
            err,
        })?;
        Ok(TraceReader {
            input,
            source_name,
            catalog,
            line: 1,
            last_time: 0,
            buf,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Splits the reader into its catalog and an invocation-only iterator
    /// (so a replay can borrow the catalog while consuming the stream).
    pub fn into_parts(self) -> (Catalog, Invocations<R>) {
        let TraceReader {
            input,
            source_name,
            catalog,
            line,
            last_time,
            buf,
        } = self;
        let count = catalog.function_count();
        (
            catalog,
            Invocations {
                input,
                source_name,
                count,
                line,
                last_time,
                buf,
            },
        )
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Invocation, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let count = self.catalog.function_count();
        next_invocation(
            &mut self.input,
            &self.source_name,
            count,
            &mut self.line,
            &mut self.last_time,
            &mut self.buf,
        )
    }
}

/// The invocation stream of a trace, without its catalog.
#[derive(Debug)]
pub struct Invocations<R> {
    input: R,
    source_name: String,
    count: usize,
    line: u64,
    last_time: u64,
    buf: String,
}

impl<R: BufRead> Iterator for Invocations<R> {
    type Item = Result<Invocation, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        next_invocation(
            &mut self.input,
            &self.source_name,
            self.count,
            &mut self.line,
            &mut self.last_time,
            &mut self.buf,
        )
    }
}

fn next_invocation<R: BufRead>(
    input: &mut R,
    source_name: &str,
    count: usize,
    line: &mut u64,
    last_time: &mut u64,
    buf: &mut String,
) -> Option<Result<Invocation, TraceError>> {
    loop {
        buf.clear();
        *line += 1;
        match input.read_line(buf) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(err) => {
                return Some(Err(TraceError::Io {
                    source_name: source_name.to_string(),
                    line: *line,
                    err,
                }))
            }
        }
        let text = buf.trim();
        if text.is_empty() {
            continue; // blank lines (e.g. a trailing newline) carry nothing
        }
        let bad = |msg: &str| TraceError::Invocation {
            source_name: source_name.to_string(),
            line: *line,
            msg: msg.to_string(),
            text: text.chars().take(80).collect(),
        };
        let (time_us, function) = match parse_pair(text) {
            Ok(v) => v,
            Err(msg) => return Some(Err(bad(msg))),
        };
        if function as usize >= count {
            return Some(Err(TraceError::UnknownFunction {
                source_name: source_name.to_string(),
                line: *line,
                function,
                count,
            }));
        }
        if time_us < *last_time {
            return Some(Err(TraceError::Unsorted {
                source_name: source_name.to_string(),
                line: *line,
                time_us,
                previous_us: *last_time,
            }));
        }
        *last_time = time_us;
        return Some(Ok(Invocation {
            time: Micros(time_us),
            function: FunctionId(function as u32),
        }));
    }
}

/// Parses `[a, b]` with two unsigned integers; hand-written because it runs
/// once per invocation and serde_json's generic path is several times slower.
fn parse_pair(text: &str) -> Result<(u64, u64), &'static str> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("not a JSON array")?;
    let mut parts = inner.split(',');
    let a =
        parse_uint(parts.next().ok_or("missing time")?).ok_or("time is not an unsigned integer")?;
    let b = parse_uint(parts.next().ok_or("missing function index")?)
        .ok_or("function index is not an unsigned integer")?;
    if parts.next().is_some() {
        return Err("more than two elements");
    }
    Ok((a, b))
}

fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"format":"sock-trace","version":1,"packages":[{"name":"a","version":"1","import_ms":1,"import_mb":1,"install_ms":1,"disk_bytes":1}],"functions":[{"name":"f","packages":[0],"duration_ms":1,"memory_mb":1}]}"#;

    fn read(body: &str) -> Result<Vec<Invocation>, TraceError> {
        let text = format!("{HEADER}\n{body}");
        TraceReader::new(text.as_bytes(), "t.json")?.collect()
    }

    #[test]
    fn reads_invocations() {
        let v = read("[5, 0]\n[5,0]\n\n[9,0]\n").expect("valid");
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].time, Micros(9));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = read("[5,0]\n[4,0]\n").expect_err("unsorted").to_string();
        assert!(e.contains("t.json: line 3"), "{e}");
        let e = read("[5,1]\n").expect_err("bad fn").to_string();
        assert!(e.contains("line 2") && e.contains("out of range"), "{e}");
        let e = read("[5,-1]\n").expect_err("neg").to_string();
        assert!(e.contains("not an unsigned integer"), "{e}");
        let e = read("{\"t\":1}\n").expect_err("obj").to_string();
        assert!(e.contains("not a JSON array"), "{e}");
    }

    #[test]
    fn header_errors() {
        let e = TraceReader::new("".as_bytes(), "x")
            .expect_err("empty")
            .to_string();
        assert!(e.contains("empty"));
        let bad = HEADER.replace("\"packages\":[0]", "\"packages\":[3]");
        let e = TraceReader::new(bad.as_bytes(), "x")
            .expect_err("pkg")
            .to_string();
        assert!(e.contains("functions[0].packages"), "{e}");
        let bad = HEADER.replace("\"import_ms\":1", "\"import_ms\":-1");
        let e = TraceReader::new(bad.as_bytes(), "x")
            .expect_err("neg")
            .to_string();
        assert!(e.contains("import_ms"), "{e}");
    }
}
