//! Streaming trace writer: header first, then one line per invocation.

use super::{Invocation, TraceHeader};
use std::io::{self, Write};

/// Writes a trace in the JSON Lines format [`super::TraceReader`] reads.
/// Invocations must be given in non-decreasing time order; one with a
/// duration only under a header of version 2 or later
/// ([`TraceHeader::with_invocation_durations`]), since the header is
/// written before any invocation is seen.
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
    last: u64,
    count: u64,
    durations: bool,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the header line; refuses one longer than the reader accepts
    /// ([`super::reader::MAX_HEADER_BYTES`]), so no writer makes a trace
    /// `sim` cannot load.
    pub fn new(mut out: W, header: &TraceHeader) -> io::Result<Self> {
        let line = serde_json::to_vec(header)?;
        let max = super::reader::MAX_HEADER_BYTES;
        if line.len() > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the trace header would be {} bytes, more than the {max} a trace reader accepts on line 1; use fewer packages or functions",
                    line.len()
                ),
            ));
        }
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        Ok(TraceWriter {
            out,
            last: 0,
            count: 0,
            durations: header.allows_invocation_durations(),
        })
    }

    pub fn write(&mut self, inv: Invocation) -> io::Result<()> {
        if inv.time.0 < self.last {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invocation at {} us written after one at {} us",
                    inv.time.0, self.last
                ),
            ));
        }
        if inv.duration.is_some() && !self.durations {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invocation at {} us has a duration, but the header's trace format version is 1; build the header with `with_invocation_durations`",
                    inv.time.0
                ),
            ));
        }
        self.last = inv.time.0;
        self.count += 1;
        match inv.duration {
            None => writeln!(self.out, "[{},{}]", inv.time.0, inv.function.0),
            Some(d) => writeln!(self.out, "[{},{},{}]", inv.time.0, inv.function.0, d.0),
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
