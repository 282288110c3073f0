//! The replies handlers build, and writing them to the connection.

use std::io::{Read, Write};

use serde::Serialize;

/// A response body.
pub(crate) enum ReplyBody {
    Bytes(Vec<u8>),
    /// Exactly `len` bytes from a reader (e.g. a tar member).
    Reader(Box<dyn Read + Send>, u64),
}

impl ReplyBody {
    /// Its length and bytes.
    fn into_reader(self) -> (u64, Box<dyn Read + Send>) {
        match self {
            ReplyBody::Bytes(b) => (b.len() as u64, Box::new(std::io::Cursor::new(b))),
            ReplyBody::Reader(r, len) => (len, r),
        }
    }
}

/// A response, built by a handler and written by the server.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: ReplyBody::Bytes(body),
        }
    }

    /// A JSON error: `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, &serde_json::json!({ "error": message.into() }))
    }

    /// The same reply, cut after half its body (the declared length stays), so the
    /// client sees the connection break mid-body.
    pub fn truncated(self) -> Reply {
        let (len, body) = self.body.into_reader();
        let len = len.max(1);
        let cut = body.take(len / 2).chain(FailingReader);
        Reply {
            body: ReplyBody::Reader(Box::new(cut), len),
            ..self
        }
        .closing()
    }

    /// The same reply, closing the connection after it (the request body was not read).
    pub fn closing(self) -> Reply {
        self.with_header("Connection", "close")
    }

    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    /// Whether the connection must close after this reply.
    pub fn closes(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
    }

    /// Writes the reply (only its head for a `HEAD` request), naming `server`; false when
    /// the body could not be written whole, so the connection must close.
    pub fn write_to(
        self,
        w: &mut impl Write,
        server: &str,
        head_only: bool,
        keep_alive: bool,
    ) -> bool {
        let (len, body) = self.body.into_reader();
        let mut body = body.take(len);
        let reason = ureq::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown");
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nDate: {date}\r\nServer: {server}\r\nContent-Length: {len}\r\n",
            self.status
        );
        for (k, v) in &self.headers {
            let clean = |s: &str| !s.contains(['\r', '\n']);
            if clean(k) && clean(v) && !k.eq_ignore_ascii_case("connection") {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        head.push_str(&format!("Connection: {connection}\r\n\r\n"));
        if w.write_all(head.as_bytes()).is_err() {
            return false;
        }
        // A body cut short leaves the connection unusable.
        let whole = head_only || std::io::copy(&mut body, w).is_ok_and(|n| n == len);
        w.flush().is_ok() && whole
    }
}

/// Fails every read: the server then drops the connection mid-body.
struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault: dropped mid-body",
        ))
    }
}
