//! A response of `sock-exec load`'s client, parsed from the bytes read
//! so far: the head (status, headers, framing) once whole, then a body of
//! exactly `Content-Length` bytes, or up to the end of the stream when the
//! server closes the connection. `Transfer-Encoding: chunked` is refused
//! ([`ClientError::Chunked`]): the worker always sends `Content-Length`.

use super::client::ClientError;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// A whole response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The server will close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body after a response head is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    UntilClose,
}

/// A parsed response head and where its body starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub close: bool,
    pub framing: Framing,
    pub body_start: usize,
}

pub(super) fn bad(why: impl Into<String>) -> ClientError {
    ClientError::BadResponse(why.into())
}

/// The response head at the start of `buf`, `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, ClientError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(bad(format!("response head over {MAX_HEAD} bytes")));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("status line {line:?}")));
    }
    let status: u16 = code
        .parse()
        .ok()
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| bad(format!("status line {line:?}")))?;
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| bad(format!("header line {l:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if get("transfer-encoding").is_some_and(|v| !v.eq_ignore_ascii_case("identity")) {
        return Err(ClientError::Chunked);
    }
    let connection = get("connection").map(|v| v.to_ascii_lowercase());
    let close = match connection.as_deref() {
        Some(v) if v.contains("close") => true,
        Some(v) if v.contains("keep-alive") => false,
        _ => version == "HTTP/1.0",
    };
    let framing = match get("content-length") {
        _ if status < 200 || status == 204 || status == 304 => Framing::Length(0),
        Some(v) => {
            let n: usize = v
                .parse()
                .map_err(|_| bad(format!("Content-Length {v:?}")))?;
            if n > MAX_BODY {
                return Err(bad(format!("body of {n} bytes is over {MAX_BODY}")));
            }
            Framing::Length(n)
        }
        None if close => Framing::UntilClose,
        None => return Err(bad("no Content-Length on a kept-alive connection")),
    };
    Ok(Some(Head {
        status,
        headers,
        close: close || framing == Framing::UntilClose,
        framing,
        body_start: end + 4,
    }))
}

pub(super) fn finish(h: &Head, body: &[u8]) -> Response {
    Response {
        status: h.status,
        headers: h.headers.clone(),
        body: body.to_vec(),
        close: h.close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_frame_by_content_length_or_close_and_refuse_chunked() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Sock-Record: {}\r\n\r\n{}";
        let h = parse_head(r).expect("ok").expect("whole");
        assert_eq!(
            (h.status, h.framing, h.close),
            (200, Framing::Length(2), false)
        );
        assert_eq!(&r[h.body_start..], b"{}");
        assert_eq!(
            h.headers[1],
            ("x-sock-record".to_string(), "{}".to_string())
        );
        assert_eq!(parse_head(&r[..20]).expect("ok"), None, "incomplete");

        let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .expect("ok")
            .expect("whole");
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let h = parse_head(b"HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n")
            .expect("ok")
            .expect("whole");
        assert!(h.close, "HTTP/1.0 closes unless keep-alive");

        let e = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        .expect_err("chunked");
        assert!(matches!(e, ClientError::Chunked), "{e}");
        assert!(e.to_string().contains("chunked"));
        for bad in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"SMTP 200 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
