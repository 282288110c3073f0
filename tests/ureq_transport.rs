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
    let t = UreqTransport::builder()
        .timeouts(Timeouts {
            read: Duration::from_millis(200),
            ..Timeouts::default()
        })
        .build();
    let err = t
        .send(HttpRequest::get(format!("{base}/slow")))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
}

#[test]
fn a_request_may_wait_a_multiple_of_the_read_timeout() {
    // References ingests wait twice the read timeout for their answer.
    // One server each: a server still holding the first request would delay the second.
    let (once, _) = serve(200, Duration::from_millis(600));
    let (twice, _) = serve(200, Duration::from_millis(600));
    let t = UreqTransport::builder()
        .timeouts(Timeouts {
            read: Duration::from_millis(400),
            ..Timeouts::default()
        })
        .build();
    let err = t
        .send(HttpRequest::new(Method::Post, format!("{once}/once")))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
    let resp = t
        .send(HttpRequest::new(Method::Post, format!("{twice}/twice")).read_timeout_factor(2))
        .unwrap();
    assert_eq!(resp.status, 200);
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

/// A test-only self-signed certificate for `localhost` and 127.0.0.1, valid 2000 to 2100,
/// and its key: a server no client should trust.
const SELF_SIGNED_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBhzCCASygAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHah/dOhwMqcvcIz
cVtHA3mtqx4OQwcuiATpWFVPXIY7d2rZm4M0PdbUsERCLhji9VJ4stWUsSBq0yOO
VrJ45umjbTBrMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAMBgNVHRMBAf8E
AjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQU
5VS5iLUmDY8ter8K6IpZWazUW7EwCgYIKoZIzj0EAwIDSQAwRgIhALEyA/VaAWE7
e5Sfct44AP0yUGYdiwi3j/OMbMRak0cpAiEA/ldm+bM/1j5ObopHTTwUzmO/Mh5R
4Xlr0j7j/7Lna90=
-----END CERTIFICATE-----
";
const SELF_SIGNED_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgB+Oy35n64ioiYddO
oQoD7Il/n8rQNAyOeyHCUztQGwyhRANCAAR2of3TocDKnL3CM3FbRwN5raseDkMH
LogE6VhVT1yGO3dq2ZuDND3W1LBEQi4Y4vVSeLLVlLEgatMjjlayeObp
-----END PRIVATE KEY-----
";

/// A TLS server on 127.0.0.1 with the self-signed certificate; counts handshakes tried.
fn serve_self_signed() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(SELF_SIGNED_CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tries.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut tcp) = stream else { return };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            // The client refuses the certificate: the handshake ends in its alert.
            let _ = conn.complete_io(&mut tcp);
        }
    });
    (port, tries)
}

/// A plain TCP server that answers anything with an HTTP 400, as a plain-HTTP server
/// answers a TLS handshake.
fn serve_plain_http() -> u16 {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

#[test]
fn real_network_failures_are_classified_by_what_they_are() {
    let t = UreqTransport::builder()
        .timeouts(Timeouts {
            connect: Duration::from_secs(5),
            ..Timeouts::default()
        })
        .build();
    // An unresolvable host (`.invalid` never resolves, RFC 2606).
    let err = t
        .send(HttpRequest::get(
            "http://nonexistent.invalid/?api_key=the-secret-key",
        ))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Dns, "{err}");
    assert!(err.message().contains("nonexistent.invalid"), "{err}");
    assert!(!err.to_string().contains("the-secret-key"), "{err}");

    // TLS against a plain-HTTP server.
    let port = serve_plain_http();
    let err = t
        .send(HttpRequest::get(format!("https://127.0.0.1:{port}/")))
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
    assert!(err.message().contains("did not answer in TLS"), "{err}");

    // TLS against a self-signed certificate, by name and by address.
    let (port, tries) = serve_self_signed();
    for host in ["localhost", "127.0.0.1"] {
        let err = t
            .send(HttpRequest::get(format!("https://{host}:{port}/")))
            .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
        assert!(
            err.message()
                .contains("certificate is not signed by a trusted authority"),
            "{err}"
        );
        assert!(!err.kind().is_retryable(true));
    }
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn the_client_retries_dns_and_connect_failures_but_not_a_refused_certificate() {
    use roboflow_batch::api::{Clock, RetryPolicy};
    let sleeps = Arc::new(Mutex::new(0u32));
    let api = |base: &str| {
        let s = sleeps.clone();
        roboflow_batch::BatchApi::builder()
            .base_url(base)
            .api_key("key-0123456789")
            .workspace("ws")
            .retry_policy(RetryPolicy {
                max_retries: 3,
                ..RetryPolicy::default()
            })
            .clock(Clock::system().sleep_fn(move |_| *s.lock().unwrap() += 1))
            .transport(
                UreqTransport::builder()
                    .timeouts(Timeouts {
                        connect: Duration::from_secs(5),
                        ..Timeouts::default()
                    })
                    .build(),
            )
            .build()
            .unwrap()
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (tls, tries) = serve_self_signed();
    for (base, kind, retries) in [
        (
            "http://api.nonexistent.invalid".to_string(),
            TransportErrorKind::Dns,
            3,
        ),
        (
            format!("http://127.0.0.1:{closed}"),
            TransportErrorKind::Connect,
            3,
        ),
        (
            format!("https://localhost:{tls}"),
            TransportErrorKind::Tls,
            0,
        ),
    ] {
        *sleeps.lock().unwrap() = 0;
        let err = api(&base).batch_count("b", None).unwrap_err();
        assert_eq!(err.transport_kind(), Some(kind), "{base}: {err}");
        assert_eq!(*sleeps.lock().unwrap(), retries, "{base}");
        assert_eq!(err.is_retryable(), retries > 0, "{base}");
    }
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
}
