//! Reading a Zygote's reply stream: JSON lines, under one overall
//! deadline for the whole exchange (not a timeout per read, which a peer
//! trickling bytes could extend forever) and with a cap on a line's
//! length (a peer that never sends `\n` must not grow our memory).

use super::{Event, ForkError};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The longest reply line accepted. The longest real one is `joined`
/// with its step list (well under 1 KiB); import errors are truncated by
/// the runtime long before this.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reply lines of one exchange, all within `timeout` of its start.
pub(crate) struct Lines {
    stream: UnixStream,
    /// Bytes read but not yet returned as a line.
    buf: Vec<u8>,
    deadline: Instant,
    timeout: Duration,
    max: usize,
    eof: bool,
}

impl Lines {
    pub(crate) fn new(stream: UnixStream, timeout: Duration) -> Lines {
        Lines::with_limit(stream, timeout, MAX_LINE_BYTES)
    }

    pub(crate) fn with_limit(stream: UnixStream, timeout: Duration, max: usize) -> Lines {
        Lines {
            stream,
            buf: Vec::new(),
            deadline: Instant::now() + timeout,
            timeout,
            max,
            eof: false,
        }
    }

    /// The next event; `None` at EOF (or a reset: the peer died).
    pub(crate) fn next(&mut self) -> Result<Option<Event>, ForkError> {
        let Some(line) = self.next_line()? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&line);
        serde_json::from_str(text.trim())
            .map(Some)
            .map_err(|e| ForkError::Protocol(format!("{e}: {:?}", text.trim())))
    }

    /// The next line without its `\n`; at EOF, what is left (if anything).
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, ForkError> {
        let mut scanned = 0;
        loop {
            if let Some(i) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i;
                if end > self.max {
                    return Err(ForkError::LineTooLong { max: self.max });
                }
                let line = self.buf[..end].to_vec();
                self.buf.drain(..=end);
                return Ok(Some(line));
            }
            scanned = self.buf.len();
            if scanned > self.max {
                return Err(ForkError::LineTooLong { max: self.max });
            }
            if self.eof {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            self.fill()?;
        }
    }

    /// One read, waiting at most until the deadline.
    fn fill(&mut self) -> Result<(), ForkError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ForkError::Timeout(self.timeout));
        }
        // A zero timeout would mean "block forever" to set_read_timeout.
        self.stream
            .set_read_timeout(Some(left.max(Duration::from_micros(1))))
            .map_err(ForkError::Io)?;
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ForkError::Timeout(self.timeout))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.eof = true,
            Err(e) => return Err(ForkError::Io(e)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socketpair")
    }

    #[test]
    fn reads_lines_then_eof() {
        let (ours, mut theirs) = pair();
        theirs
            .write_all(b"{\"event\":\"spare\",\"pid\":7,\"spares\":1}\n{\"event\":\"ready\"}\n")
            .expect("write");
        drop(theirs);
        let mut lines = Lines::new(ours, Duration::from_secs(5));
        assert!(matches!(
            lines.next(),
            Ok(Some(Event::Spare { pid: 7, spares: 1 }))
        ));
        assert!(matches!(lines.next(), Ok(Some(Event::Ready { .. }))));
        assert!(matches!(lines.next(), Ok(None)));
    }

    /// A peer that sends a byte now and then, never a whole line, must not
    /// hold the fork past its one deadline (a per-read timeout would wait
    /// for as long as the trickle lasts, then report a bad line).
    #[test]
    fn trickling_peer_hits_the_overall_deadline() {
        let (ours, mut theirs) = pair();
        let writer = std::thread::spawn(move || {
            for _ in 0..40 {
                if theirs.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        let mut lines = Lines::new(ours, Duration::from_millis(200));
        let got = lines.next();
        drop(lines);
        writer.join().expect("the writer thread");
        assert!(matches!(got, Err(ForkError::Timeout(_))), "{got:?}");
    }

    /// The deadline covers the whole exchange: lines that each come
    /// within the timeout still fail once their sum exceeds it.
    #[test]
    fn deadline_spans_all_lines() {
        let (ours, mut theirs) = pair();
        let writer = std::thread::spawn(move || {
            for _ in 0..8 {
                if theirs.write_all(b"{\"event\":\"ready\"}\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(60));
            }
        });
        let mut lines = Lines::new(ours, Duration::from_millis(150));
        let mut got = Ok(None);
        for _ in 0..8 {
            got = lines.next();
            if got.is_err() {
                break;
            }
        }
        drop(lines);
        writer.join().expect("the writer thread");
        assert!(matches!(got, Err(ForkError::Timeout(_))), "{got:?}");
    }

    /// A peer that never ends its line gets a clear error once the line
    /// exceeds the cap, instead of growing our buffer without bound.
    #[test]
    fn endless_line_is_an_error() {
        let (ours, mut theirs) = pair();
        let writer = std::thread::spawn(move || {
            let chunk = [b'x'; 4096];
            while theirs.write_all(&chunk).is_ok() {}
        });
        let mut lines = Lines::with_limit(ours, Duration::from_secs(30), 16 * 1024);
        let got = lines.next();
        drop(lines); // the writer sees EPIPE and stops
        writer.join().expect("the writer thread");
        assert!(
            matches!(got, Err(ForkError::LineTooLong { max: 16384 })),
            "{got:?}"
        );
        assert!(got.is_err_and(|e| e.to_string().contains("16384")));
    }

    #[test]
    fn long_line_with_newline_is_an_error_too() {
        let (ours, mut theirs) = pair();
        let mut line = vec![b'x'; 2000];
        line.push(b'\n');
        theirs.write_all(&line).expect("write");
        drop(theirs);
        let mut lines = Lines::with_limit(ours, Duration::from_secs(5), 1000);
        assert!(matches!(
            lines.next(),
            Err(ForkError::LineTooLong { max: 1000 })
        ));
    }
}
