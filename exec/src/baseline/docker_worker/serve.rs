//! One HTTP connection of the Docker worker, on its own thread: requests
//! parsed with the worker's protocol (`crate::worker::http`), `/run`
//! calls handed to the [`Pool`], keep-alive until the client closes, a
//! request asks `Connection: close`, or the worker stops.

use super::container::Answer;
use super::pool::Pool;
use crate::worker::http::{self, HttpError, Route};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a connection blocked in read checks for a stop.
const TICK: Duration = Duration::from_millis(200);

/// Serves `stream` until it closes or `stop` is set.
pub fn connection(mut stream: TcpStream, pool: &Pool, timeout: Duration, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(TICK));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match http::parse(&buf) {
            Ok(Some((req, used))) => {
                buf.drain(..used);
                let (bytes, lease) = answer(&req, pool, timeout);
                let written = stream.write_all(&bytes);
                if let Some(lease) = lease {
                    pool.finish(lease);
                }
                if written.is_err() || req.close {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                let _ = stream.write_all(&http::error_response(&e, true));
                return;
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

fn error(status: u16, why: impl Into<String>) -> HttpError {
    HttpError {
        status,
        why: why.into(),
    }
}

/// The response bytes to one request, and the container to hand back.
fn answer(
    req: &http::Request,
    pool: &Pool,
    timeout: Duration,
) -> (Vec<u8>, Option<super::pool::Lease>) {
    let close = req.close;
    let route = match http::route(req) {
        Ok(r) => r,
        Err(e) => return (http::error_response(&e, close), None),
    };
    match route {
        Route::Status => {
            let body = serde_json::json!({
                "ok": true,
                "worker": "docker",
                "functions": pool.functions(),
                "idle": pool.idle_counts(),
            });
            (
                http::response(200, body.to_string().as_bytes(), close),
                None,
            )
        }
        Route::Stats => {
            let body = pool.stats.json().to_string();
            (http::response(200, body.as_bytes(), close), None)
        }
        Route::Run { function, event } => {
            if !pool.has(&function) {
                let e = error(404, format!("no function {function:?} in the registry"));
                return (http::error_response(&e, close), None);
            }
            let served = pool.call(&function, &event, Instant::now() + timeout);
            let (status, body) = match served.result {
                Ok(Answer::Ok(v)) => (200, v.to_string()),
                Ok(Answer::HandlerError(why)) => {
                    (500, serde_json::json!({ "error": why }).to_string())
                }
                Err(e) if e.is_timeout() => (
                    504,
                    serde_json::json!({ "error": format!("timed out after {timeout:?}: {e}") })
                        .to_string(),
                ),
                Err(e) => (
                    500,
                    serde_json::json!({ "error": e.to_string() }).to_string(),
                ),
            };
            let headers = [("X-Sock-Path", served.path.header().to_string())];
            let bytes = http::response_with_headers(status, &headers, body.as_bytes(), close);
            (bytes, served.lease)
        }
    }
}
