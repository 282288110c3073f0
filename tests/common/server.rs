//! A small HTTP/1.1 server on `std::net` for tests and benchmarks: it records each request
//! (method, target, headers, body) and answers from a script, a closure of the request.
//!
//! One thread per connection, keep-alive, `Content-Length` and chunked request bodies.
//! Bodies are counted whole and kept up to a limit, so that a test can stream gigabytes
//! through it without holding them.
//!
//! ```ignore
//! let server = TestServer::start(|req| Response::json(200, r#"{"ok":true}"#));
//! // … send to server.url("/path") …
//! let req = server.next(Duration::from_secs(5)).unwrap();
//! assert_eq!(req.method, "POST");
//! ```
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its place in arrival order, from 0.
    pub n: usize,
    pub peer: SocketAddr,
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body, up to the server's keep limit.
    pub body: Vec<u8>,
    /// The body's length as received (all of it, kept or not).
    pub body_len: u64,
}

impl Request {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Waited before answering.
    pub delay: Duration,
}

impl Response {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::status(status)
            .header("Content-Type", content_type)
            .body(body)
    }

    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response::bytes(status, "application/json", body.into())
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Answers after `delay`.
    pub fn after(mut self, delay: Duration) -> Response {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&Request) -> Response + Send + Sync;

/// A running test server; it stops serving when the test process ends.
pub struct TestServer {
    pub addr: SocketAddr,
    /// `http://host:port`.
    pub base: String,
    log: Arc<Mutex<Vec<Request>>>,
    arrivals: Mutex<mpsc::Receiver<Request>>,
}

impl TestServer {
    /// Serves on `127.0.0.1:0`, answering with `script`; bodies are kept up to 16 MiB.
    pub fn start(script: impl Fn(&Request) -> Response + Send + Sync + 'static) -> TestServer {
        TestServer::start_on([127, 0, 0, 1].into(), 16 << 20, script)
    }

    /// Serves on `ip:0`, keeping at most `keep` bytes of each body.
    pub fn start_on(
        ip: IpAddr,
        keep: usize,
        script: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).expect("test server binds");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let script: Arc<Script> = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        let shared = (log.clone(), count);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (script, tx, (log, count)) = (script.clone(), tx.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, keep, &*script, &tx, &log, &count);
                });
            }
        });
        let host = match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        TestServer {
            addr,
            base: format!("http://{host}:{}", addr.port()),
            log,
            arrivals: Mutex::new(rx),
        }
    }

    /// A URL of this server: `path` (with its query) after the base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// The next request not yet taken by `next`, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Request> {
        self.arrivals.lock().unwrap().recv_timeout(timeout).ok()
    }

    /// Whether a request arrived that `next` has not taken.
    pub fn pending(&self) -> bool {
        self.next(Duration::ZERO).is_some()
    }

    /// How many requests went to `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() == path)
            .count()
    }
}

/// The body of one request: what was kept (up to `keep` bytes), how many bytes arrived,
/// and whether it arrived whole (not cut short nor malformed).
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    keep: usize,
) -> (Vec<u8>, u64, bool) {
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let mut kept = Vec::new();
    let mut total = 0u64;
    let mut take = |r: &mut dyn Read, n: u64| -> bool {
        let mut buf = [0u8; 64 * 1024];
        let mut left = n;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match r.read(&mut buf[..want]) {
                Ok(0) | Err(_) => return false,
                Ok(got) => {
                    let room = keep.saturating_sub(kept.len()).min(got);
                    kept.extend_from_slice(&buf[..room]);
                    total += got as u64;
                    left -= got as u64;
                }
            }
        }
        true
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return (kept, total, false);
            }
            let hex = line.trim().split(';').next().unwrap_or("");
            let Ok(size) = u64::from_str_radix(hex, 16) else {
                return (kept, total, false);
            };
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        return (kept, total, true);
                    }
                }
            }
            if !take(r, size) {
                return (kept, total, false);
            }
            line.clear();
            let _ = r.read_line(&mut line);
        }
    }
    let len = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let whole = take(r, len);
    (kept, total, whole)
}

fn serve(
    stream: TcpStream,
    keep: usize,
    script: &Script,
    arrivals: &mpsc::Sender<Request>,
    log: &Mutex<Vec<Request>>,
    count: &AtomicUsize,
) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let (method, target) = (method.to_string(), target.to_string());
        let http10 = parts.next() == Some("HTTP/1.0");
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let (body, body_len, whole) = read_body(&mut reader, &headers, keep);
        let req = Request {
            n: count.fetch_add(1, Ordering::SeqCst),
            peer,
            method,
            target,
            headers,
            body,
            body_len,
        };
        log.lock().unwrap().push(req.clone());
        let resp = script(&req);
        let close = !whole
            || http10
            || req
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        std::thread::sleep(resp.delay);
        let mut head = format!(
            "HTTP/1.1 {} Test\r\nContent-Length: {}\r\n",
            resp.status,
            resp.body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "\r\n"
        });
        let written = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&resp.body))
            .and_then(|()| writer.flush());
        // Handed to `next` once answered, as a real peer would see it.
        let _ = arrivals.send(req);
        if close || written.is_err() {
            return written;
        }
    }
}
