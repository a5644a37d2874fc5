//! The worker's HTTP/1.1 protocol, OpenLambda's API, without threads or
//! an async runtime: a request is parsed incrementally from the bytes a
//! non-blocking socket has delivered so far ([`parse`] says "need more"
//! until the head and `Content-Length` body are whole), routed
//! ([`route`]), and answered with a JSON body ([`response`]). Keeping the
//! protocol a pure function of bytes lets the worker serve every
//! connection from the one thread that also owns every fork (fork safety,
//! as in `run/concurrent.rs`).
//!
//! API: `POST /run/<function>` (JSON body in, the handler's JSON out),
//! `GET /status`, `GET /stats`. Errors: 400 bad JSON or a malformed
//! request, 404 unknown path or function, 405 wrong method, 413 a head
//! over 16 KiB or a body over 6 MiB (AWS Lambda's synchronous payload
//! limit), 500 a handler error, 503 over capacity.

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body.
pub const MAX_BODY: usize = 6 * 1024 * 1024;

/// A whole request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// `Connection: close` asked, or HTTP/1.0 without keep-alive.
    pub close: bool,
}

/// A request that cannot be served, with the status to answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {why}")]
pub struct HttpError {
    pub status: u16,
    pub why: String,
}

fn bad(status: u16, why: impl Into<String>) -> HttpError {
    HttpError {
        status,
        why: why.into(),
    }
}

/// The first whole request in `buf` and the bytes it took, `None` while
/// more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(bad(413, format!("request head over {MAX_HEAD} bytes")));
        }
        return Ok(None);
    };
    if end > MAX_HEAD {
        return Err(bad(413, format!("request head over {MAX_HEAD} bytes")));
    }
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| bad(400, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(400, format!("malformed request line {line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad(400, format!("unsupported protocol {version:?}")));
    }
    let mut length = 0usize;
    let mut close = version == "HTTP/1.0";
    for h in lines {
        let Some((name, value)) = h.split_once(':') else {
            return Err(bad(400, format!("malformed header {h:?}")));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value
                    .parse()
                    .map_err(|_| bad(400, format!("Content-Length {value:?} is not a number")))?;
            }
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Err(bad(
                    400,
                    "chunked bodies are not supported: send Content-Length",
                ));
            }
            "connection" => {
                if value.eq_ignore_ascii_case("close") {
                    close = true;
                } else if value.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
            _ => {}
        }
    }
    if length > MAX_BODY {
        return Err(bad(
            413,
            format!("body of {length} bytes is over {MAX_BODY}"),
        ));
    }
    let start = end + 4;
    if buf.len() < start + length {
        return Ok(None);
    }
    let request = Request {
        method: method.to_string(),
        path: path.to_string(),
        body: buf[start..start + length].to_vec(),
        close,
    };
    Ok(Some((request, start + length)))
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// `POST /run/<function>` with its JSON event.
    Run {
        function: String,
        event: serde_json::Value,
    },
    Status,
    Stats,
}

/// The route of a whole request (the function is not looked up here).
pub fn route(r: &Request) -> Result<Route, HttpError> {
    let path = r.path.split('?').next().unwrap_or("");
    let want = |method: &str| {
        if r.method == method {
            Ok(())
        } else {
            Err(bad(405, format!("{path} takes {method}, not {}", r.method)))
        }
    };
    if let Some(function) = path.strip_prefix("/run/") {
        want("POST")?;
        if function.is_empty() || function.contains('/') {
            return Err(bad(
                404,
                format!("no function in {path:?}: POST /run/<function>"),
            ));
        }
        let event = if r.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&r.body)
                .map_err(|e| bad(400, format!("the body is not JSON: {e}")))?
        };
        return Ok(Route::Run {
            function: function.to_string(),
            event,
        });
    }
    match path {
        "/status" => want("GET").map(|()| Route::Status),
        "/stats" => want("GET").map(|()| Route::Stats),
        _ => Err(bad(
            404,
            format!("no such path {path:?}: POST /run/<function>, GET /status, GET /stats"),
        )),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        502 => "Bad Gateway",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// A response with a JSON body.
pub fn response(status: u16, body: &[u8], close: bool) -> Vec<u8> {
    response_with_headers(status, &[], body, close)
}

/// A response with a JSON body and extra headers (values must not hold
/// CR or LF; one that does is left out).
pub fn response_with_headers(
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        body.len(),
        if close { "close" } else { "keep-alive" }
    );
    for (name, value) in headers {
        if !value.contains(['\r', '\n']) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The response to an error: `{"error": WHY}`.
pub fn error_response(e: &HttpError, close: bool) -> Vec<u8> {
    let body = serde_json::json!({ "error": e.why }).to_string();
    response(e.status, body.as_bytes(), close)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        parse(text.as_bytes()).expect("parses").expect("whole").0
    }

    #[test]
    fn requests_arrive_in_pieces() {
        let full =
            b"POST /run/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}GET /status";
        let whole = full.len() - "GET /status".len();
        for cut in 0..whole {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut {cut}");
        }
        let (r, used) = parse(full).expect("ok").expect("whole");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/run/hello"));
        assert_eq!((r.body.as_slice(), used), (&b"{\"a\":1}"[..], whole));
        assert!(!r.close);
    }

    #[test]
    fn routes_and_their_errors() {
        let run = req("POST /run/img HTTP/1.1\r\nContent-Length: 8\r\n\r\n{\"w\":64}");
        assert_eq!(
            route(&run),
            Ok(Route::Run {
                function: "img".into(),
                event: serde_json::json!({"w": 64})
            })
        );
        assert_eq!(
            route(&req("GET /status HTTP/1.1\r\n\r\n")),
            Ok(Route::Status)
        );
        assert_eq!(
            route(&req("GET /stats?x=1 HTTP/1.0\r\n\r\n")),
            Ok(Route::Stats)
        );
        let status = |text: &str| route(&req(text)).expect_err(text).status;
        assert_eq!(
            status("POST /run/f HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}"),
            400
        );
        assert_eq!(status("GET /run/f HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status("POST /status HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status("GET /nope HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status("POST /run/ HTTP/1.1\r\n\r\n"), 404);
    }

    #[test]
    fn malformed_and_oversized_requests() {
        let e = |b: &[u8]| parse(b).expect_err("error").status;
        assert_eq!(e(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(e(b"GET / SPDY/3\r\n\r\n"), 400);
        assert_eq!(e(b"POST /run/f HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            e(b"POST /run/f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            e(b"POST /run/f HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            413
        );
        assert_eq!(e(&vec![b'a'; MAX_HEAD + 1]), 413);
        assert!(req("GET /status HTTP/1.1\r\nConnection: close\r\n\r\n").close);
        assert!(req("GET /status HTTP/1.0\r\n\r\n").close);
    }

    #[test]
    fn responses_carry_length_and_json() {
        let r = response(200, b"{}", false);
        let text = String::from_utf8(r).expect("utf8");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n") && text.ends_with("\r\n\r\n{}"));
        let e = error_response(&bad(404, "no function \"x\""), true);
        let text = String::from_utf8(e).expect("utf8");
        assert!(text.contains("404 Not Found") && text.contains("Connection: close"));
        assert!(text.ends_with(r#"{"error":"no function \"x\""}"#), "{text}");
    }

    #[test]
    fn extra_headers_come_before_the_body() {
        let r = response_with_headers(200, &[("X-Sock-Path", "docker_warm".into())], b"{}", false);
        let text = String::from_utf8(r).expect("utf8");
        assert!(
            text.contains("\r\nX-Sock-Path: docker_warm\r\n\r\n{}"),
            "{text}"
        );
        assert_eq!(
            response(200, b"{}", true),
            response_with_headers(200, &[], b"{}", true)
        );
    }
}
