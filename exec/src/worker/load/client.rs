//! A small blocking HTTP/1.1 client, just enough for `sock-exec load`:
//! `POST` with a `Content-Length` body on a kept-alive TCP connection, a
//! whole-request deadline (connect, write and every read share it), and
//! responses framed as [`super::response`] says (`Content-Length`, or the
//! end of the stream with `Connection: close`; chunked is refused).
//!
//! A request on a reused connection that the server had already closed
//! (no byte of response, EOF or reset) is sent once more on a new
//! connection, as browsers and HTTP libraries do for idle keep-alive
//! connections; any other failure is the caller's.

use super::response::{bad, finish, parse_head, Framing, Head, Response, MAX_BODY};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("URL {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("connect to {addr}: {err}")]
    Connect {
        addr: SocketAddr,
        err: std::io::Error,
    },
    #[error("no response within the timeout")]
    Timeout,
    #[error("the server closed the connection before a whole response")]
    Closed,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("bad response: {0}")]
    BadResponse(String),
    #[error("chunked responses are not supported (the worker sends Content-Length)")]
    Chunked,
}

impl ClientError {
    /// The summary's name for this kind of failure.
    pub fn class(&self) -> &'static str {
        match self {
            ClientError::Url { .. } => "url",
            ClientError::Connect { .. } => "connect",
            ClientError::Timeout => "timeout",
            ClientError::Closed => "closed",
            ClientError::Io(_) => "io",
            ClientError::BadResponse(_) | ClientError::Chunked => "bad_response",
        }
    }
}

/// Where requests go: `http://host:port[/prefix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port` as written (the `Host` header).
    pub authority: String,
    /// Path prefix without a trailing `/` (usually empty).
    pub prefix: String,
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// Parses and resolves `url` (plain `http` only; port default 80).
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let bad = |why: &str| ClientError::Url {
            url: url.to_string(),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected http://host:port[/prefix]"));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close..].contains(':'),
            None => authority.contains(':'),
        };
        let host_port = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = host_port
            .to_socket_addrs()
            .map_err(|e| bad(&format!("cannot resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(bad("the host resolves to no address"));
        }
        Ok(Target {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            addrs,
        })
    }
}

/// One kept-alive connection (reopened as needed) with a per-request
/// timeout.
#[derive(Debug)]
pub struct Client {
    target: Target,
    timeout: Duration,
    conn: Option<TcpStream>,
}

/// Why one attempt failed, and whether the server had sent anything.
struct Failed {
    err: ClientError,
    got_bytes: bool,
}

impl Client {
    pub fn new(target: Target, timeout: Duration) -> Client {
        Client {
            target,
            timeout,
            conn: None,
        }
    }

    /// `POST <prefix><path>` with a JSON `body`; the response and how long
    /// it took, from the first byte written (of the attempt that answered)
    /// to the last byte read.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<(Response, Duration), ClientError> {
        let request = self.request(path, body);
        let deadline = Instant::now() + self.timeout;
        let reused = self.conn.is_some();
        match self.attempt(&request, deadline) {
            Err(f) if reused && !f.got_bytes && stale(&f.err) => {
                self.attempt(&request, deadline).map_err(|f| f.err)
            }
            other => other.map_err(|f| f.err),
        }
    }

    fn request(&self, path: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.target.prefix,
            self.target.authority,
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn attempt(
        &mut self,
        request: &[u8],
        deadline: Instant,
    ) -> Result<(Response, Duration), Failed> {
        let fail = |err| Failed {
            err,
            got_bytes: false,
        };
        let mut stream = match self.conn.take() {
            Some(s) => s,
            None => connect(&self.target, deadline).map_err(fail)?,
        };
        let started = Instant::now();
        stream
            .set_write_timeout(Some(left(deadline).map_err(fail)?))
            .map_err(|e| fail(ClientError::Io(e)))?;
        stream.write_all(request).map_err(|e| fail(io_error(e)))?;
        let response = read_response(&mut stream, deadline)?;
        let took = started.elapsed();
        if !response.close {
            self.conn = Some(stream);
        }
        Ok((response, took))
    }
}

/// A failure that a server closing an idle connection explains.
fn stale(e: &ClientError) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    match e {
        ClientError::Closed => true,
        ClientError::Io(e) => matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted),
        _ => false,
    }
}

fn left(deadline: Instant) -> Result<Duration, ClientError> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(ClientError::Timeout),
    }
}

fn io_error(e: std::io::Error) -> ClientError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::Timeout,
        _ => ClientError::Io(e),
    }
}

fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, ClientError> {
    let mut last = None;
    for &addr in &target.addrs {
        match TcpStream::connect_timeout(&addr, left(deadline)?) {
            Ok(s) => {
                // Small requests and responses: do not wait for Nagle.
                s.set_nodelay(true).map_err(ClientError::Io)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(ClientError::Timeout),
            Err(err) => last = Some(ClientError::Connect { addr, err }),
        }
    }
    Err(last.unwrap_or(ClientError::Timeout))
}

/// Reads one whole response before `deadline`.
fn read_response(stream: &mut TcpStream, deadline: Instant) -> Result<Response, Failed> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<Head> = None;
    loop {
        let got_bytes = !buf.is_empty();
        let fail = |err| Failed { err, got_bytes };
        if head.is_none() {
            head = parse_head(&buf).map_err(fail)?;
        }
        if let Some(h) = &head {
            if let Framing::Length(n) = h.framing {
                let end = h.body_start + n;
                if buf.len() >= end {
                    let mut r = finish(h, &buf[h.body_start..end]);
                    // Bytes past the response (this client never
                    // pipelines): the connection is out of step, drop it.
                    r.close |= buf.len() > end;
                    return Ok(r);
                }
            }
        }
        stream
            .set_read_timeout(Some(left(deadline).map_err(fail)?))
            .map_err(|e| fail(ClientError::Io(e)))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(io_error(e))),
        };
        if n == 0 {
            return match &head {
                Some(h) if h.framing == Framing::UntilClose => Ok(finish(h, &buf[h.body_start..])),
                _ => Err(fail(ClientError::Closed)),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        if head
            .as_ref()
            .is_some_and(|h| buf.len() - h.body_start > MAX_BODY)
        {
            return Err(fail(bad(format!("body over {MAX_BODY} bytes"))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/").expect("url");
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        assert_eq!(t.addrs[0].port(), 8080);
        let t = Target::parse("http://[::1]:9/ol/").expect("url");
        assert_eq!((t.prefix.as_str(), t.addrs[0].port()), ("/ol", 9));
        assert_eq!(
            Target::parse("http://127.0.0.1").expect("url").addrs[0].port(),
            80
        );
        for bad in ["https://x:1", "127.0.0.1:80", "http://", "http://u@h:1"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
