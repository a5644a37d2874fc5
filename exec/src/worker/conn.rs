//! The worker's client connections: non-blocking TCP or Unix-socket
//! streams, each with the bytes read but not yet parsed and the response
//! bytes not yet written. HTTP/1.1 keep-alive: one request at a time per
//! connection (a pipelined next request waits in `inbuf` until the one
//! before is answered, so answers keep the requests' order).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }

    /// The next connection waiting, if any.
    pub fn accept(&self) -> std::io::Result<Option<Stream>> {
        let got = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
        };
        match got {
            Ok(s) => {
                s.set_nonblocking()?;
                Ok(Some(s))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A connected client.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(true),
            Stream::Unix(s) => s.set_nonblocking(true),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
}

/// Largest unparsed input kept per connection (a request's head and body
/// limits, and a little room for the next one).
const MAX_INBUF: usize = crate::worker::http::MAX_BODY + crate::worker::http::MAX_HEAD + 65536;

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    pub inbuf: Vec<u8>,
    out: Vec<u8>,
    /// A request of it is being served (no other is parsed meanwhile).
    pub busy: bool,
    /// Close once `out` is written.
    pub close_after: bool,
    /// The client closed its side (or the socket failed).
    pub eof: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            busy: false,
            close_after: false,
            eof: false,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    /// Reads what has arrived (until the socket would block).
    pub fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        while self.inbuf.len() < MAX_INBUF {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }

    /// Queues a response and writes what the socket takes now.
    pub fn answer(&mut self, bytes: Vec<u8>, close: bool) {
        self.out.extend_from_slice(&bytes);
        self.busy = false;
        self.close_after |= close;
        self.flush();
    }

    /// Writes what it can of the queued response.
    pub fn flush(&mut self) {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The client went away; nothing more to write.
                    self.out.clear();
                    self.eof = true;
                    return;
                }
            }
        }
    }

    /// Whether it has response bytes not yet written.
    pub fn writing(&self) -> bool {
        !self.out.is_empty()
    }

    /// Whether it is done with: closed (by the client, or after its last
    /// answer) with nothing left to write or serve.
    pub fn finished(&self) -> bool {
        !self.busy && self.out.is_empty() && (self.eof || self.close_after)
    }
}
