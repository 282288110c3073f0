//! The request/response seam between [`BatchApi`](crate::BatchApi) and the network.
//!
//! A [`Transport`] sends one [`HttpRequest`] and returns one [`HttpResponse`], **whatever
//! its status**: only the API layer decides what a 404 means. A [`TransportError`] is an
//! exchange that failed; its [`TransportErrorKind`] decides retries. [`UreqTransport`] is
//! the real one; any closure is one too, which makes test doubles one line long.

mod exact;
mod ureq_impl;

use std::fmt;
use std::io::{self, Read};

pub(crate) use exact::{ExactLengthReader, LengthMismatch};
pub use ureq_impl::{Timeouts, UreqTransport, UreqTransportBuilder};

/// An HTTP method used by the Batch Processing API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
}

/// The method's name as sent on the wire: `Method::Put.to_string()` is `"PUT"`.
impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        })
    }
}

/// A request body: nothing, bytes in memory, or a stream of known length, which goes out
/// with `Content-Length`, never chunked (some storage services refuse chunked uploads).
///
/// ```
/// let body = roboflow_batch::transport::Body::Bytes(b"{}".to_vec());
/// ```
pub enum Body {
    /// No body; a `POST` with this body sends `Content-Length: 0`.
    Empty,
    /// A body held in memory.
    Bytes(Vec<u8>),
    /// A streamed body of exactly `len` bytes.
    Reader {
        /// The bytes to send.
        reader: Box<dyn Read + Send>,
        /// The exact number of bytes `reader` yields.
        len: u64,
    },
}

impl Body {
    /// A streamed body of exactly `len` bytes.
    ///
    /// ```
    /// let body = roboflow_batch::transport::Body::sized(&b"0123456789"[..], 10);
    /// ```
    pub fn sized(reader: impl Read + Send + 'static, len: u64) -> Body {
        Body::Reader {
            reader: Box::new(reader),
            len,
        }
    }

    /// The body's length in bytes.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::transport::Body::Bytes(b"abc".to_vec()).len(), 3);
    /// ```
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Reader { len, .. } => *len,
        }
    }

    /// Whether the body has no bytes.
    ///
    /// ```
    /// assert!(roboflow_batch::transport::Body::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the whole body into memory (for tests and small bodies); a stream shorter or
    /// longer than its length is an error.
    ///
    /// ```
    /// assert!(roboflow_batch::transport::Body::sized(&b"abc"[..], 5).into_bytes().is_err());
    /// ```
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Empty => Ok(Vec::new()),
            Body::Bytes(b) => Ok(b),
            Body::Reader { reader, len } => {
                let mut out = Vec::with_capacity(len.min(1 << 24) as usize);
                ExactLengthReader::new(reader, len).read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Reader { len, .. } => write!(f, "Reader({len} bytes)"),
        }
    }
}

/// One HTTP request, as handed to a [`Transport`]. Its `Debug` output redacts every query
/// value and every header value but `Content-Type`, `Content-Length` and `Accept`.
///
/// ```
/// let r = roboflow_batch::transport::HttpRequest::get("http://h:1/a/b?x=y%20z");
/// ```
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The full URL, query string included.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// How many times the transport's read timeout each read may take: 1, or 2 for
    /// references ingests (as the official client allows them).
    pub read_timeout_factor: u32,
}

impl HttpRequest {
    /// A request with no headers and no body.
    ///
    /// ```
    /// # use roboflow_batch::transport::{HttpRequest, Method};
    /// let r = HttpRequest::new(Method::Post, "http://h:1/a");
    /// ```
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Empty,
            read_timeout_factor: 1,
        }
    }

    /// A `GET` request.
    ///
    /// ```
    /// let r = roboflow_batch::transport::HttpRequest::get("http://h:1/a");
    /// ```
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    crate::model::setters! {
        setup: "use roboflow_batch::transport::{Body, HttpRequest};",
        on: "HttpRequest::get(\"http://h/\")";
        /// Adds a header ([`header`](Self::header) reads it).
        with_header(s, name: impl Into<String>, value: impl Into<String>) = "\"X-A\", \"1\"" {
            s.headers.push((name.into(), value.into()));
        }
        /// Sets the body.
        body(s, body: Body) = "Body::Bytes(b\"{}\".to_vec())" {
            s.body = body;
        }
        /// Lets each read wait `factor` times the transport's read timeout (at least 1).
        read_timeout_factor(s, factor: u32) = "2" {
            s.read_timeout_factor = factor.max(1);
        }
    }

    /// The first value of a header, matched case-insensitively.
    ///
    /// ```
    /// # let r = roboflow_batch::transport::HttpRequest::get("http://h/").with_header("X-A", "1");
    /// assert_eq!(r.header("x-a"), Some("1"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The decoded query parameters of the URL.
    ///
    /// ```
    /// let r = roboflow_batch::transport::HttpRequest::get("http://h/a?x=y%20z");
    /// assert_eq!(r.query(), [("x".to_string(), "y z".to_string())]);
    /// ```
    pub fn query(&self) -> Vec<(String, String)> {
        crate::urls::query_pairs(&self.url)
    }

    /// The URL's path, without scheme, host or query.
    ///
    /// ```
    /// # use roboflow_batch::transport::HttpRequest;
    /// assert_eq!(HttpRequest::get("http://h:1/a/b?x=y").path(), "/a/b");
    /// ```
    pub fn path(&self) -> &str {
        let no_query = self.url.split(['?', '#']).next().unwrap_or("");
        let after_scheme = no_query.split_once("://").map_or(no_query, |(_, r)| r);
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &crate::redact::redact_url(&self.url))
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &self.body)
            .field("read_timeout_factor", &self.read_timeout_factor)
            .finish()
    }
}

struct RedactedHeaders<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (k, v) in self.0 {
            let safe = ["content-type", "content-length", "accept"]
                .iter()
                .any(|s| k.eq_ignore_ascii_case(s));
            let shown = if safe {
                v.as_str()
            } else {
                crate::redact::REDACTED
            };
            list.entry(&format_args!("{k}: {shown}"));
        }
        list.finish()
    }
}

/// One HTTP response, with a body that can be streamed.
///
/// ```
/// let r = roboflow_batch::transport::HttpResponse::json(200, "{}");
/// ```
pub struct HttpResponse {
    /// The status code, whatever it is.
    pub status: u16,
    /// Header names (as received) and values.
    pub headers: Vec<(String, String)>,
    /// The body stream. Read it to the end so the connection can be reused.
    pub body: Box<dyn Read + Send>,
}

impl HttpResponse {
    /// A response whose body is `bytes`.
    ///
    /// ```
    /// let r = roboflow_batch::transport::HttpResponse::new(200, "hello");
    /// ```
    pub fn new(status: u16, bytes: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Box::new(io::Cursor::new(bytes.into())),
        }
    }

    /// A JSON response (with `Content-Type: application/json`).
    ///
    /// ```
    /// let r = roboflow_batch::transport::HttpResponse::json(200, "{}");
    /// ```
    pub fn json(status: u16, json: impl Into<String>) -> Self {
        Self::new(status, json.into().into_bytes()).with_header("Content-Type", "application/json")
    }

    crate::model::setters! {
        setup: "",
        on: "roboflow_batch::transport::HttpResponse::new(429, \"\")";
        /// Adds a header.
        with_header(s, name: impl Into<String>, value: impl Into<String>) = "\"Retry-After\", \"2\"" {
            s.headers.push((name.into(), value.into()));
        }
    }

    /// The first value of a header, matched case-insensitively.
    ///
    /// ```
    /// # let r = roboflow_batch::transport::HttpResponse::json(200, "{}");
    /// assert_eq!(r.header("content-type"), Some("application/json"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Reads at most `limit` bytes of the body; more is an [`io::ErrorKind::InvalidData`].
    ///
    /// ```
    /// assert!(roboflow_batch::transport::HttpResponse::new(200, "hello").read_body(4).is_err());
    /// ```
    pub fn read_body(self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response body is larger than the {limit}-byte limit"),
            ));
        }
        Ok(out)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &RedactedHeaders(&self.headers))
            .finish_non_exhaustive()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What went wrong in a failed exchange, and whether it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The host name could not be resolved. Nothing reached the server: always retried.
    Dns,
    /// No connection could be made (refused, unreachable): always retried.
    Connect,
    /// The TLS handshake failed (a refused certificate, or no TLS). Never retried.
    Tls,
    /// A timeout fired after the request may have reached the server. Retried only for
    /// requests that are safe to repeat.
    Timeout,
    /// The connection broke mid-exchange (reset, early EOF). Retried only for requests that
    /// are safe to repeat.
    Interrupted,
    /// The peer broke HTTP (bad framing, a body longer than declared). Never retried.
    Protocol,
    /// A local body was of the wrong length or could not be read. Never retried.
    Body,
    /// Anything else. Never retried.
    Other,
}

impl TransportErrorKind {
    /// Whether an exchange that failed this way is worth repeating; `idempotent` says
    /// whether the request may have had an effect that a repeat would duplicate.
    pub(crate) fn is_retryable(self, idempotent: bool) -> bool {
        match self {
            TransportErrorKind::Dns | TransportErrorKind::Connect => true,
            TransportErrorKind::Timeout | TransportErrorKind::Interrupted => idempotent,
            _ => false,
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Dns => "dns",
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Interrupted => "interrupted",
            TransportErrorKind::Protocol => "protocol",
            TransportErrorKind::Body => "request body",
            TransportErrorKind::Other => "other",
        })
    }
}

/// A failed exchange: no HTTP response was received. Its message is free of secrets.
///
/// ```
/// # use roboflow_batch::transport::{TransportError, TransportErrorKind as K};
/// let e = TransportError::new(K::Other, "GET http://h/?api_key=k1 failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
}

impl TransportError {
    /// A transport error of `kind`, the secret-bearing query parameters of any URL in
    /// `message` redacted (see [`redact_text`](crate::redact::redact_text)).
    ///
    /// ```
    /// # use roboflow_batch::transport::{TransportError, TransportErrorKind as Kind};
    /// let e = TransportError::new(Kind::Timeout, "GET http://h/?api_key=k1 timed out");
    /// ```
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: crate::redact::redact_text(&message.into()),
        }
    }

    /// Classifies an I/O error by its kind.
    ///
    /// ```
    /// # use roboflow_batch::transport::{TransportError, TransportErrorKind as Kind};
    /// let e = TransportError::from_io(&std::io::ErrorKind::TimedOut.into());
    /// ```
    pub fn from_io(err: &io::Error) -> Self {
        use io::ErrorKind as K;
        let kind = match err.kind() {
            K::ConnectionRefused
            | K::NotConnected
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable => TransportErrorKind::Connect,
            K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                TransportErrorKind::Interrupted
            }
            _ => TransportErrorKind::Other,
        };
        TransportError::new(kind, err.to_string())
    }

    /// The kind, which decides retries.
    ///
    /// ```
    /// # use roboflow_batch::transport::{TransportError, TransportErrorKind as Kind};
    /// # let e = TransportError::from_io(&std::io::ErrorKind::ConnectionReset.into());
    /// assert_eq!(e.kind(), Kind::Interrupted);
    /// ```
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The message, without the kind.
    ///
    /// ```
    /// # use roboflow_batch::transport::{TransportError, TransportErrorKind as Kind};
    /// # let e = TransportError::new(Kind::Other, "GET http://h/?api_key=k1 failed");
    /// assert_eq!(e.message(), "GET http://h/?api_key=REDACTED failed");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn scrubbed(mut self, secrets: &[String]) -> Self {
        self.message = crate::redact::scrub(&self.message, secrets);
        self
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message)
    }
}

impl std::error::Error for TransportError {}

/// Sends one request and returns one response, `Ok` whatever its status. Implementations
/// keep secrets out of their errors and send a [`Body::Reader`] with `Content-Length`.
///
/// ```
/// # use roboflow_batch::transport::{HttpRequest, HttpResponse, Transport, TransportError};
/// let fake = |_: HttpRequest| -> Result<HttpResponse, TransportError> { Ok(HttpResponse::json(404, "{}")) };
/// assert_eq!(fake.send(HttpRequest::get("http://h/")).unwrap().status, 404);
/// ```
pub trait Transport: Send + Sync {
    /// Sends `request`; every HTTP status is `Ok`.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F> Transport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}
