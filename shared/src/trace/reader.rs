//! Streaming trace reader: the header is parsed once, invocations one line
//! at a time, so memory stays constant whatever the trace length.

use super::{Catalog, CatalogError, Invocation, TraceHeader};
use crate::lines::{read_line_capped, LineRead};
use crate::units::{FunctionId, Micros};
use std::io::BufRead;

mod fast;

/// Longest header line (line 1) accepted, in bytes: 256 MiB, about 1.5 M
/// packages as `sim trace gen` writes them. [`super::TraceWriter`] refuses
/// to write a longer one.
pub const MAX_HEADER_BYTES: usize = 256 << 20;
/// Longest invocation line accepted, in bytes (a line is at most 64 bytes
/// without padding).
pub const MAX_INVOCATION_BYTES: usize = 1024;
/// Longest per-invocation duration accepted (µs): 1e12 ms, the limit of a
/// function's `duration_ms`, so sums of durations cannot saturate.
pub const MAX_DURATION_US: u64 = 1_000_000_000_000_000;

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
    #[error("{source_name}: line {line} is longer than {max} bytes (the longest a trace allows there); is this a trace file?")]
    TooLong {
        source_name: String,
        line: u64,
        max: usize,
    },
    #[error("{source_name}: line 1 (header): the header must be a JSON object, but the line starts with {found}; is this a trace file?")]
    NotAnObject { source_name: String, found: String },
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
    #[error("{source_name}: line {line}: {msg}; an invocation line is {shape}, got {text:?}")]
    Invocation {
        source_name: String,
        line: u64,
        msg: String,
        /// The line shapes the header's version allows.
        shape: &'static str,
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
    buf: Vec<u8>,
}

/// What the header allows on an invocation line.
#[derive(Clone, Copy, Debug)]
struct LineRules {
    functions: usize,
    /// A third element (the call's duration) is allowed (version 2).
    durations: bool,
}

impl LineRules {
    fn of(catalog: &Catalog) -> LineRules {
        LineRules {
            functions: catalog.function_count(),
            durations: catalog.header.allows_invocation_durations(),
        }
    }

    fn shape(self) -> &'static str {
        if self.durations {
            "`[time_us, function_index]` or `[time_us, function_index, duration_us]`"
        } else {
            "`[time_us, function_index]`"
        }
    }
}

impl<R: BufRead> TraceReader<R> {
    /// Parses and validates the header; invocations follow via `Iterator`.
    pub fn new(mut input: R, source_name: impl Into<String>) -> Result<Self, TraceError> {
        let source_name = source_name.into();
        let io = |err| TraceError::Io {
            source_name: source_name.clone(),
            line: 1,
            err,
        };
        check_object_start(&mut input, &source_name).map_err(io)??;
        let mut buf = Vec::new();
        match read_line_capped(&mut input, &mut buf, MAX_HEADER_BYTES).map_err(io)? {
            LineRead::Eof => return Err(TraceError::Empty { source_name }),
            LineRead::TooLong => {
                return Err(TraceError::TooLong {
                    source_name,
                    line: 1,
                    max: MAX_HEADER_BYTES,
                })
            }
            LineRead::Line => {}
        }
        let header: TraceHeader =
            serde_json::from_slice(&buf).map_err(|err| TraceError::Header {
                source_name: source_name.clone(),
                err,
            })?;
        let catalog = Catalog::new(header).map_err(|err| TraceError::Catalog {
            source_name: source_name.clone(),
            err,
        })?;
        buf.clear();
        buf.shrink_to(MAX_INVOCATION_BYTES);
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
        let rules = LineRules::of(&catalog);
        (
            catalog,
            Invocations {
                input,
                source_name,
                rules,
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
        let rules = LineRules::of(&self.catalog);
        next_invocation(
            &mut self.input,
            &self.source_name,
            rules,
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
    rules: LineRules,
    line: u64,
    last_time: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Iterator for Invocations<R> {
    type Item = Result<Invocation, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        next_invocation(
            &mut self.input,
            &self.source_name,
            self.rules,
            &mut self.line,
            &mut self.last_time,
            &mut self.buf,
        )
    }
}

/// Fails fast on input that cannot be a header (binary data, `/dev/zero`,
/// a JSON array): line 1 must start with `{`, after optional blanks.
fn check_object_start<R: BufRead>(
    input: &mut R,
    source_name: &str,
) -> std::io::Result<Result<(), TraceError>> {
    let head = input.fill_buf()?;
    let first = head.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r'));
    Ok(match first {
        None | Some(b'{') => Ok(()),
        Some(&b) => Err(TraceError::NotAnObject {
            source_name: source_name.to_string(),
            found: match b {
                b'[' => "`[` (a JSON array)".to_string(),
                0x21..=0x7e => format!("`{}`", b as char),
                _ => format!("byte 0x{b:02x}"),
            },
        }),
    })
}

fn next_invocation<R: BufRead>(
    input: &mut R,
    source_name: &str,
    rules: LineRules,
    line: &mut u64,
    last_time: &mut u64,
    buf: &mut Vec<u8>,
) -> Option<Result<Invocation, TraceError>> {
    loop {
        *line += 1;
        match fast::next_in_buffer(input, rules, last_time) {
            Some(fast::Fast::Blank) => continue,
            Some(fast::Fast::Valid(inv)) => return Some(Ok(inv)),
            // Anything else is read again, and reported, by the checked
            // path below (the fast path consumed nothing).
            None => {}
        }
        let io = |err| TraceError::Io {
            source_name: source_name.to_string(),
            line: *line,
            err,
        };
        match read_line_capped(input, buf, MAX_INVOCATION_BYTES) {
            Ok(LineRead::Eof) => return None,
            Ok(LineRead::Line) => {}
            Ok(LineRead::TooLong) => {
                return Some(Err(TraceError::TooLong {
                    source_name: source_name.to_string(),
                    line: *line,
                    max: MAX_INVOCATION_BYTES,
                }))
            }
            Err(err) => return Some(Err(io(err))),
        }
        let text = match std::str::from_utf8(buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                let err = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                );
                return Some(Err(io(err)));
            }
        };
        if text.is_empty() {
            continue; // blank lines (e.g. a trailing newline) carry nothing
        }
        let bad = |msg: String| TraceError::Invocation {
            source_name: source_name.to_string(),
            line: *line,
            msg,
            shape: rules.shape(),
            text: text.chars().take(80).collect(),
        };
        let (time_us, function, duration) = match parse_line(text) {
            Ok(v) => v,
            Err(msg) => return Some(Err(bad(msg.to_string()))),
        };
        if let Some(d) = duration {
            if let Err(msg) = check_duration(d, rules) {
                return Some(Err(bad(msg)));
            }
        }
        if function as usize >= rules.functions {
            return Some(Err(TraceError::UnknownFunction {
                source_name: source_name.to_string(),
                line: *line,
                function,
                count: rules.functions,
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
            duration: duration.map(Micros),
        }));
    }
}

/// A line's duration must be allowed by the header's version and in range.
fn check_duration(d: u64, rules: LineRules) -> Result<(), String> {
    if !rules.durations {
        return Err(format!(
            "a third element (duration_us) needs trace format version {}, but the header says version 1",
            super::DURATIONS_VERSION
        ));
    }
    if d > MAX_DURATION_US {
        return Err(format!(
            "duration {d} us is more than {MAX_DURATION_US} us (1e12 ms, the limit of duration_ms)"
        ));
    }
    Ok(())
}

/// Parses `[a, b]` or `[a, b, c]` of unsigned integers; hand-written because
/// it runs once per invocation and serde_json's generic path is several
/// times slower.
fn parse_line(text: &str) -> Result<(u64, u64, Option<u64>), &'static str> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("not a JSON array")?;
    let mut parts = inner.split(',');
    let a =
        parse_uint(parts.next().ok_or("missing time")?).ok_or("time is not an unsigned integer")?;
    let b = parse_uint(parts.next().ok_or("missing function index")?)
        .ok_or("function index is not an unsigned integer")?;
    let c = match parts.next() {
        None => None,
        Some(c) => Some(parse_uint(c).ok_or("duration is not an unsigned integer")?),
    };
    if parts.next().is_some() {
        return Err("more than three elements");
    }
    Ok((a, b, c))
}

fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests;
