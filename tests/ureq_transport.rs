//! `UreqTransport` against a real local HTTP server (the tests' own, on 127.0.0.1:0).

mod common;

use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::server::{Request, Response, TestServer};

use roboflow_batch::transport::{
    Body, HttpRequest, Method, Timeouts, Transport, TransportErrorKind, UreqTransport,
};

/// Serves requests on a thread: records them (counting bodies, keeping none), then answers
/// with `status` after `delay`.
fn serve(status: u16, delay: Duration) -> (String, TestServer) {
    // Keeping no body bytes: the server side must not be what holds memory.
    let server = TestServer::start_on([127, 0, 0, 1].into(), 0, move |_| {
        Response::json(status, format!(r#"{{"error":"status {status}"}}"#)).after(delay)
    });
    (server.base.clone(), server)
}

/// The body length a request declared, and whether it was chunked.
fn framing(r: &Request) -> (Option<u64>, bool) {
    (
        r.header("content-length").and_then(|v| v.parse().ok()),
        r.header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked")),
    )
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
    let r = seen.requests()[0].clone();
    assert_eq!(r.method, "PUT");
    assert_eq!(
        framing(&r),
        (Some(LEN), false),
        "uploads must not be chunked"
    );
    assert_eq!(r.body_len, LEN);
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
    assert!(seen.requests().iter().all(|r| r.body_len < 5000));
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
    let r = seen.requests()[0].clone();
    assert_eq!(framing(&r), (Some(0), false));
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

/// Answers GETs in rounds of `round`: it holds each round's requests until all have
/// arrived, so the client must have that many connections open at once.
fn serve_in_rounds(round: usize) -> TestServer {
    let gate = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    TestServer::start(move |_| {
        let (count, cv) = &*gate;
        let mut n = count.lock().unwrap();
        *n += 1;
        let release = (*n).div_ceil(round) * round;
        cv.notify_all();
        while *n < release {
            n = cv.wait(n).unwrap();
        }
        Response::status(200).body("ok")
    })
}

/// Sends `rounds` rounds of `n` parallel GETs and returns how many connections were opened.
fn connections_for_parallel_rounds(t: &UreqTransport, n: usize, rounds: usize) -> usize {
    let server = serve_in_rounds(n);
    let base = server.base.clone();
    for _ in 0..rounds {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let t = t.clone();
                let url = format!("{base}/x/{i}");
                thread::spawn(move || {
                    let resp = t.send(HttpRequest::get(url)).unwrap();
                    assert_eq!(resp.read_body(64).unwrap(), b"ok");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let peers: Vec<_> = server.requests().iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), n * rounds);
    peers.iter().collect::<std::collections::HashSet<_>>().len()
}

#[test]
fn parallel_requests_keep_their_connections_by_default() {
    // 16 parallel requests twice: with ureq's own limit of 3 idle connections per host the
    // second round would open 13 new connections (29 in all).
    let t = UreqTransport::new();
    assert!(t.max_idle_connections_per_host() >= 64);
    let opened = must_return(Duration::from_secs(60), move || {
        connections_for_parallel_rounds(&t, 16, 2)
    });
    assert_eq!(opened, 16, "the second round must reuse every connection");
}

#[test]
fn the_pool_limit_is_configurable() {
    let t = UreqTransport::builder()
        .max_idle_connections_per_host(4)
        .build();
    assert_eq!(t.max_idle_connections_per_host(), 4);
    let opened = must_return(Duration::from_secs(60), move || {
        connections_for_parallel_rounds(&t, 8, 2)
    });
    // 8 in the first round; only 4 were kept, so the second round opened 4 more.
    assert_eq!(opened, 12);
}
