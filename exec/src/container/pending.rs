//! A request in flight without blocking (the concurrent replay): the
//! request is written whole, then the response is read as it arrives,
//! whenever the caller's poll loop says the socket is readable. The
//! parsing and the size caps are [`super::invoke`]'s.

use super::invoke::{classify, complete_length, connect_and_send, parse};
use super::{Container, InvokeError, Response, State};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A request sent to a container whose response has not fully arrived.
#[derive(Debug)]
pub struct Pending {
    stream: UnixStream,
    buf: Vec<u8>,
    deadline: Instant,
    timeout: Duration,
}

impl Pending {
    /// Sends `event` to `c`'s handler; the response is read with
    /// [`Pending::read`] until `timeout` from now.
    pub fn send(c: &Container, event: &str, timeout: Duration) -> Result<Pending, InvokeError> {
        if c.state != State::Running {
            return Err(InvokeError::NotRunning {
                id: c.id,
                state: c.state,
            });
        }
        let stream = connect_and_send(c, event, timeout)?;
        stream.set_nonblocking(true).map_err(InvokeError::Io)?;
        Ok(Pending {
            stream,
            buf: Vec::with_capacity(4096),
            deadline: Instant::now() + timeout,
            timeout,
        })
    }

    /// The socket to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what has arrived. `Some` once the response is whole (or the
    /// request failed, or its deadline passed); `None`: not yet. After a
    /// failure, the caller settles the container
    /// ([`super::Executor::settle`]).
    pub fn read(&mut self) -> Option<Result<Response, InvokeError>> {
        let mut chunk = [0u8; 16384];
        loop {
            match complete_length(&self.buf) {
                Err(e) => return Some(Err(e)),
                Ok(Some(total)) if self.buf.len() >= total => {
                    self.buf.truncate(total);
                    return Some(parse(&self.buf));
                }
                Ok(_) => {}
            }
            match self.stream.read(&mut chunk) {
                Ok(0) if self.buf.is_empty() => return Some(Err(InvokeError::Died)),
                Ok(0) => {
                    return Some(Err(InvokeError::Protocol(
                        "connection closed mid-response".into(),
                    )))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= self.deadline {
                        return Some(Err(InvokeError::Timeout(self.timeout)));
                    }
                    return None;
                }
                Err(e) => return Some(Err(classify(e, self.timeout))),
            }
        }
    }
}
