//! One invocation: an HTTP/1.1 POST over the container's Unix socket
//! (SOCK uses Unix sockets instead of TCP ports: no network namespace, no
//! port allocation).

use super::{Container, Executor, State};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// `X-Sock-Import-Us`: the runtime's start-up imports (µs), when sent.
    pub import_us: Option<u64>,
    /// `X-Sock-Handler-Us`: the handler's own run time (µs), when sent.
    pub handler_us: Option<u64>,
    /// `X-Sock-Import-Ns`: (start, end) of the start-up imports, in
    /// CLOCK_MONOTONIC ns ([`crate::sys::clock`]); zeros when none ran.
    pub import_ns: Option<(u64, u64)>,
    /// `X-Sock-Handler-Ns`: (start, end) of `f(event)`; zeros when it did
    /// not run (a load error).
    pub handler_ns: Option<(u64, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("container {id} is {state:?}; it cannot serve")]
    NotRunning { id: u64, state: State },
    #[error("connect to {path}: {err}")]
    Connect { path: PathBuf, err: std::io::Error },
    #[error("no response within {0:?}; the container was killed")]
    Timeout(Duration),
    #[error("the container died before responding (killed by its limits, or crashed)")]
    Died,
    #[error("malformed response: {0}")]
    Protocol(String),
    #[error("I/O with the container: {0}")]
    Io(std::io::Error),
}

impl Executor {
    /// Sends `event` (JSON text) to the handler and waits up to `timeout`.
    /// On timeout or death the container is killed and marked dead; the
    /// executor itself keeps serving.
    pub fn invoke(
        &mut self,
        c: &mut Container,
        event: &str,
        timeout: Duration,
    ) -> Result<Response, InvokeError> {
        if c.state != State::Running {
            return Err(InvokeError::NotRunning {
                id: c.id,
                state: c.state,
            });
        }
        let result = request(c, event, timeout);
        self.settle(c, &result);
        result
    }

    /// After a request's end: on timeout or death the container is killed
    /// and marked dead (the executor itself keeps serving).
    pub fn settle(&mut self, c: &mut Container, result: &Result<Response, InvokeError>) {
        if matches!(
            result,
            Err(InvokeError::Timeout(_)) | Err(InvokeError::Died)
        ) {
            if let Err(e) = self.backend().kill_all(&c.cgroup) {
                // destroy kills it again (and reports); say so now.
                tracing::warn!(container = c.id, error = %e, "killing a timed-out container failed");
            }
            c.state = State::Dead;
        }
    }
}

/// Longest response head accepted (status line and headers).
pub const MAX_HEAD_BYTES: usize = 64 << 10;
/// Largest response body accepted.
pub const MAX_BODY_BYTES: usize = 64 << 20;

fn request(c: &Container, event: &str, timeout: Duration) -> Result<Response, InvokeError> {
    let deadline = Instant::now() + timeout;
    let mut s = connect_and_send(c, event, timeout)?;
    // Read until the head is complete and Content-Length bytes of body have
    // arrived: not until EOF, since processes the handler forked may hold
    // the connection open.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(total) = complete_length(&buf)? {
            if buf.len() >= total {
                buf.truncate(total);
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(InvokeError::Timeout(timeout));
        }
        s.set_read_timeout(Some(left)).map_err(InvokeError::Io)?;
        match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(InvokeError::Died),
            Ok(0) => {
                return Err(InvokeError::Protocol(
                    "connection closed mid-response".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A signal (SIGINT/SIGTERM set the run's stop flag): the
            // deadline still bounds the wait.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(e, timeout)),
        }
    }
    parse(&buf)
}

/// Connects to the container's socket and writes the whole request.
pub(super) fn connect_and_send(
    c: &Container,
    event: &str,
    timeout: Duration,
) -> Result<UnixStream, InvokeError> {
    let mut s = UnixStream::connect(&c.socket).map_err(|err| InvokeError::Connect {
        path: c.socket.clone(),
        err,
    })?;
    let head = format!(
        "POST /invoke HTTP/1.1\r\nHost: sock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        event.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(event.as_bytes());
    s.set_write_timeout(Some(timeout))
        .map_err(InvokeError::Io)?;
    s.write_all(&req).map_err(|e| classify(e, timeout))?;
    Ok(s)
}

/// Head length + Content-Length once the head is complete. The head is at
/// most [`MAX_HEAD_BYTES`] and the body at most [`MAX_BODY_BYTES`]: the
/// handler's answer is untrusted input, never a size to allocate blindly.
pub(super) fn complete_length(buf: &[u8]) -> Result<Option<usize>, InvokeError> {
    let searched = &buf[..buf.len().min(MAX_HEAD_BYTES + 4)];
    let Some(end) = searched.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(InvokeError::Protocol(format!(
                "response head longer than {MAX_HEAD_BYTES} bytes"
            )));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let length = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>())
        .transpose()
        .map_err(|_| InvokeError::Protocol("bad Content-Length".into()))?
        .ok_or_else(|| InvokeError::Protocol("no Content-Length".into()))?;
    if length > MAX_BODY_BYTES {
        return Err(InvokeError::Protocol(format!(
            "Content-Length {length} is above the {MAX_BODY_BYTES}-byte limit"
        )));
    }
    // Cannot overflow: both terms are capped far below usize::MAX.
    Ok(Some(end + 4 + length))
}

pub(super) fn classify(e: std::io::Error, timeout: Duration) -> InvokeError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            InvokeError::Timeout(timeout)
        }
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => InvokeError::Died,
        _ => InvokeError::Io(e),
    }
}

pub(super) fn parse(buf: &[u8]) -> Result<Response, InvokeError> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| InvokeError::Protocol("no end of headers".into()))?;
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| InvokeError::Protocol(format!("bad status line {status_line:?}")))?;
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.trim().parse().ok())
    };
    let span = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| {
                let (a, b) = v.trim().split_once(' ')?;
                Some((a.parse().ok()?, b.trim().parse().ok()?))
            })
    };
    Ok(Response {
        status,
        body: body.to_string(),
        import_us: header("x-sock-import-us"),
        handler_us: header("x-sock-handler-us"),
        import_ns: span("x-sock-import-ns"),
        handler_ns: span("x-sock-handler-ns"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}")
            .expect("ok");
        assert_eq!(
            r,
            Response {
                status: 500,
                body: "{}".into(),
                ..Response::default()
            }
        );
        let r = parse(b"HTTP/1.1 200 OK\r\nX-Sock-Import-Us: 12\r\nx-sock-handler-us: 7\r\n\r\n1")
            .expect("ok");
        assert_eq!((r.import_us, r.handler_us), (Some(12), Some(7)));
        assert!(parse(b"garbage").is_err());
    }

    /// Issue 12: a handler's `Content-Length` near `usize::MAX` overflowed
    /// `head + length` (wrapping in release builds, so a short read passed
    /// as complete).
    #[test]
    fn content_length_overflow_is_an_error() {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", usize::MAX);
        assert!(matches!(
            complete_length(head.as_bytes()),
            Err(InvokeError::Protocol(_))
        ));
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            usize::MAX - 2
        );
        assert!(complete_length(head.as_bytes()).is_err());
    }

    /// A body above the cap, or a head that never ends, is refused rather
    /// than read into memory without bound.
    #[test]
    fn response_size_is_capped() {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            complete_length(head.as_bytes()),
            Err(InvokeError::Protocol(_))
        ));
        let endless = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert!(matches!(
            complete_length(&endless),
            Err(InvokeError::Protocol(_))
        ));
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(complete_length(ok).ok().flatten(), Some(ok.len()));
    }
}
