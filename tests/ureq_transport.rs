//! `UreqTransport` against a real local HTTP server (tiny_http on 127.0.0.1:0).

use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use roboflow_batch::transport::{
    Body, HttpRequest, Method, Timeouts, Transport, TransportErrorKind, UreqTransport,
};

/// What the server saw of one request.
#[derive(Debug, Default, Clone)]
struct Received {
    method: String,
    content_length: Option<u64>,
    chunked: bool,
    bytes: u64,
}

/// Serves requests on a thread: records them, then answers with `status` after `delay`.
fn serve(status: u16, delay: Duration) -> (String, Arc<Mutex<Vec<Received>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let header = |name: &str| {
                req.headers()
                    .iter()
                    .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                    .map(|h| h.value.as_str().to_string())
            };
            let mut r = Received {
                method: req.method().as_str().to_string(),
                content_length: header("content-length").and_then(|v| v.parse().ok()),
                chunked: header("transfer-encoding").is_some_and(|v| v.contains("chunked")),
                bytes: 0,
            };
            // Count without keeping: the server side must not be what holds memory.
            r.bytes = io::copy(req.as_reader(), &mut io::sink()).unwrap_or(0);
            log.lock().unwrap().push(r);
            thread::sleep(delay);
            let body = format!(r#"{{"error":"status {status}"}}"#);
            let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// Yields `len` pseudo-random bytes without holding them.
struct Generated {
    left: u64,
    state: u8,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for b in &mut buf[..n] {
            self.state = self.state.wrapping_mul(31).wrapping_add(7);
            *b = self.state;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `f` on a thread and fails the test if it has not returned within `limit` (a hang
/// detector, not a speed assertion).
fn must_return<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("the call hung")
}

#[test]
fn streams_a_50_mib_put_with_content_length_and_flat_memory() {
    const LEN: u64 = 50 << 20;
    let (base, seen) = serve(200, Duration::ZERO);
    let t = UreqTransport::new();
    let before = peak_rss_kib();
    let req =
        HttpRequest::new(Method::Put, format!("{base}/signed/shard?sig=abc")).body(Body::sized(
            Generated {
                left: LEN,
                state: 1,
            },
            LEN,
        ));
    let resp = t.send(req).unwrap();
    assert_eq!(resp.status, 200);
    let after = peak_rss_kib();
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.method, "PUT");
    assert_eq!(r.content_length, Some(LEN));
    assert!(!r.chunked, "uploads must not be chunked");
    assert_eq!(r.bytes, LEN);
    if let (Some(b), Some(a)) = (before, after) {
        // The body was never held: the peak grew by far less than the 50 MiB sent.
        assert!(
            a.saturating_sub(b) < 20 * 1024,
            "peak RSS grew {} KiB",
            a - b
        );
    }
}

#[test]
fn a_short_reader_errors_at_once_instead_of_hanging() {
    let (base, seen) = serve(200, Duration::ZERO);
    let err = must_return(Duration::from_secs(20), move || {
        let t = UreqTransport::new();
        let req = HttpRequest::new(Method::Put, format!("{base}/u?sig=secret-signature-value"))
            .body(Body::sized(io::Cursor::new(vec![0u8; 1000]), 5000));
        t.send(req).unwrap_err()
    });
    assert_eq!(err.kind(), TransportErrorKind::Body, "{err}");
    assert!(err.to_string().contains("early"), "{err}");
    assert!(!err.to_string().contains("secret-signature-value"));
    // Nothing complete reached the server as a whole body.
    assert!(seen.lock().unwrap().iter().all(|r| r.bytes < 5000));
}

#[test]
fn a_long_reader_is_an_error_too() {
    let (base, _) = serve(200, Duration::ZERO);
    let err = must_return(Duration::from_secs(20), move || {
        let req = HttpRequest::new(Method::Put, format!("{base}/u"))
            .body(Body::sized(io::Cursor::new(vec![0u8; 3000]), 1000));
        UreqTransport::new().send(req).unwrap_err()
    });
    assert!(
        matches!(
            err.kind(),
            TransportErrorKind::Body | TransportErrorKind::Protocol
        ),
        "{err}"
    );
}

#[test]
fn every_status_is_ok_with_its_body() {
    for status in [201u16, 400, 401, 404, 409, 429, 500, 503] {
        let (base, _) = serve(status, Duration::ZERO);
        let resp = UreqTransport::new()
            .send(HttpRequest::get(format!("{base}/x?api_key=k")))
            .unwrap();
        assert_eq!(resp.status, status);
        let body = resp.read_body(1024).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!(r#"{{"error":"status {status}"}}"#)
        );
    }
}

#[test]
fn empty_post_sends_content_length_zero() {
    let (base, seen) = serve(200, Duration::ZERO);
    UreqTransport::new()
        .send(HttpRequest::new(Method::Post, format!("{base}/abort")))
        .unwrap();
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.content_length, Some(0));
    assert!(!r.chunked);
}

#[test]
fn refused_connection_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = UreqTransport::new()
        .send(HttpRequest::get(format!(
            "http://127.0.0.1:{port}/?api_key=the-secret-key"
        )))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err}");
    assert!(!err.to_string().contains("the-secret-key"));
}

#[test]
fn a_slow_server_is_a_timeout() {
    let (base, _) = serve(200, Duration::from_millis(1500));
    let t = UreqTransport::with_timeouts(Timeouts {
        read: Duration::from_millis(200),
        ..Timeouts::default()
    });
    let err = t
        .send(HttpRequest::get(format!("{base}/slow")))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
}
