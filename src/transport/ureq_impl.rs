use std::time::Duration;

use super::{
    Body, ExactLengthReader, HttpRequest, HttpResponse, LengthMismatch, Method, Transport,
    TransportError, TransportErrorKind,
};

/// Network timeouts of a [`UreqTransport`]: per read and write, and no whole-request budget
/// by default, so a large shard on a slow link is not cut off but a stalled one is.
///
/// ```
/// # use {std::time::Duration, roboflow_batch::transport::Timeouts};
/// let t = Timeouts { connect: Duration::from_secs(3), ..Timeouts::default() };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Budget for resolving the host, and again for connecting (TCP, TLS). Default 10 s.
    pub connect: Duration,
    /// Budget for each read, waiting for the response included. Default 60 s.
    pub read: Duration,
    /// Budget for each write to the socket. Default 60 s.
    pub write: Duration,
    /// Optional budget for a whole exchange, body included. Default none.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            write: Duration::from_secs(60),
            total: None,
        }
    }
}

/// The real [`Transport`], on one ureq 3 agent whose connection pool clones share (64 idle
/// connections per host, 256 in all by default). A streamed body shorter or longer than
/// declared fails at once; error messages are scrubbed of the URL's query values.
///
/// ```no_run
/// # use roboflow_batch::transport::{HttpRequest, Transport, UreqTransport};
/// let resp = UreqTransport::new().send(HttpRequest::get("http://127.0.0.1:8080/")).unwrap();
/// ```
#[derive(Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    /// As built, the idle connections per host capped by those in all.
    config: UreqTransportBuilder,
}

impl std::fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UreqTransport({:?})", self.config)
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`UreqTransport`]: timeouts and the idle-connection pool.
///
/// ```
/// let t = roboflow_batch::transport::UreqTransport::builder().max_idle_connections(512);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct UreqTransportBuilder {
    timeouts: Timeouts,
    max_idle_connections: usize,
    max_idle_connections_per_host: usize,
}

impl Default for UreqTransportBuilder {
    fn default() -> Self {
        UreqTransportBuilder {
            timeouts: Timeouts::default(),
            max_idle_connections: 256,
            max_idle_connections_per_host: 64,
        }
    }
}

impl UreqTransportBuilder {
    crate::model::setters! {
        setup: "use roboflow_batch::transport::{Timeouts, UreqTransport};",
        on: "UreqTransport::builder()";
        /// The network timeouts (default [`Timeouts::default`]).
        timeouts(s, timeouts: Timeouts) = "Timeouts::default()" {
            s.timeouts = timeouts;
        }
        /// The most idle connections kept open in total (default 256). 0 turns reuse off.
        max_idle_connections(s, n: usize) = "512" {
            s.max_idle_connections = n;
        }
        /// The most idle connections kept open to one host (default 64). Set it to at least
        /// the number of requests you run in parallel against one host, or connections are
        /// closed and opened again. Capped by
        /// [`max_idle_connections`](Self::max_idle_connections).
        max_idle_connections_per_host(s, n: usize) = "128" {
            s.max_idle_connections_per_host = n;
        }
    }

    /// Builds the transport and its connection pool.
    ///
    /// ```
    /// let t = roboflow_batch::transport::UreqTransport::builder().build();
    /// ```
    pub fn build(mut self) -> UreqTransport {
        let timeouts = self.timeouts;
        let max_idle = self.max_idle_connections;
        self.max_idle_connections_per_host = self.max_idle_connections_per_host.min(max_idle);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.read))
            .timeout_per_write(Some(timeouts.write))
            .timeout_global(timeouts.total)
            .max_idle_connections(max_idle)
            .max_idle_connections_per_host(self.max_idle_connections_per_host)
            .user_agent(concat!("roboflow-batch/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            Resolver::default(),
        );
        UreqTransport {
            agent,
            config: self,
        }
    }
}

impl UreqTransport {
    /// A transport with [`Timeouts::default`] and the default pool limits.
    ///
    /// ```
    /// let t = roboflow_batch::transport::UreqTransport::new();
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for timeouts and pool limits.
    ///
    /// ```
    /// let b = roboflow_batch::transport::UreqTransport::builder();
    /// ```
    pub fn builder() -> UreqTransportBuilder {
        UreqTransportBuilder::default()
    }

    fn exchange(&self, req: HttpRequest) -> Result<HttpResponse, ureq::Error> {
        let mut builder = ureq::http::Request::builder()
            .method(req.method.to_string().as_str())
            .uri(req.url.as_str());
        let has_length = req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let len = req.body.len();
        if !has_length && (req.method != Method::Get || len > 0) {
            builder = builder.header("Content-Length", len.to_string());
        }
        let body = match req.body {
            Body::Empty => ureq::SendBody::none(),
            Body::Bytes(b) => ureq::SendBody::from_owned_reader(std::io::Cursor::new(b)),
            Body::Reader { reader, len } => {
                ureq::SendBody::from_owned_reader(ExactLengthReader::new(reader, len))
            }
        };
        let mut request = builder.body(body)?;
        if req.read_timeout_factor > 1 {
            let read = self
                .config
                .timeouts
                .read
                .saturating_mul(req.read_timeout_factor);
            request = self
                .agent
                .configure_request(request)
                .timeout_per_read(Some(read))
                .build();
        }
        let response = self.agent.run(request)?;
        let status = response.status().as_u16();
        let text = |v: &ureq::http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let headers = response.headers().iter();
        let headers = headers.map(|(k, v)| (k.to_string(), text(v))).collect();
        let body = Box::new(ReaderErrors(response.into_body().into_reader()));
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let secrets = crate::redact::query_secrets(&request.url);
        self.exchange(request)
            .map_err(|e| classify(&e).scrubbed(&secrets))
    }
}

/// ureq's resolver, with its failures marked as such: std reports a failed lookup as an
/// uncategorised I/O error, which would otherwise look like any other.
#[derive(Debug, Default)]
struct Resolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout).map_err(|e| match e {
            ureq::Error::Io(io) => {
                let host = uri.host().unwrap_or_default().to_string();
                ureq::Error::Io(std::io::Error::other(LookupFailed { host, cause: io }))
            }
            other => other,
        })
    }
}

/// A host name that could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve host {host:?}: {cause}")]
struct LookupFailed {
    host: String,
    cause: std::io::Error,
}

/// Maps a ureq error onto a kind that decides retries, by its type (the variant, the I/O
/// kind, the type inside an I/O error), never by message text.
fn classify(err: &ureq::Error) -> TransportError {
    use ureq::Error as E;
    let (kind, message) = match err {
        E::Timeout(ureq::Timeout::Resolve) => (TransportErrorKind::Dns, err.to_string()),
        E::Timeout(ureq::Timeout::Connect) => (TransportErrorKind::Connect, err.to_string()),
        E::Timeout(_) => (TransportErrorKind::Timeout, err.to_string()),
        E::HostNotFound => (
            TransportErrorKind::Dns,
            "host not found (no address)".into(),
        ),
        E::ConnectionFailed => (TransportErrorKind::Connect, err.to_string()),
        E::Tls(_) => (TransportErrorKind::Tls, err.to_string()),
        E::Rustls(e) => (TransportErrorKind::Tls, tls_message(e)),
        E::Io(io) => match io.get_ref() {
            Some(i) if i.is::<LookupFailed>() => (TransportErrorKind::Dns, i.to_string()),
            Some(i) if i.is::<rustls::Error>() => {
                let e = i.downcast_ref::<rustls::Error>();
                (
                    TransportErrorKind::Tls,
                    e.map(tls_message).unwrap_or_default(),
                )
            }
            _ if LengthMismatch::is(io) => (TransportErrorKind::Body, err.to_string()),
            _ => (TransportError::from_io(io).kind(), err.to_string()),
        },
        E::Protocol(_) | E::BodyExceedsLimit(_) | E::LargeResponseHeader(..) => {
            (TransportErrorKind::Protocol, err.to_string())
        }
        E::BodyStalled => (TransportErrorKind::Timeout, err.to_string()),
        _ => (TransportErrorKind::Other, err.to_string()),
    };
    TransportError::new(kind, message)
}

/// What went wrong in a TLS handshake, in words, with rustls' own detail.
fn tls_message(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let what = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired",
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is the clock right?)"
            }
            C::UnknownIssuer => {
                "the server's certificate is not signed by a trusted authority (unknown \
                 issuer: self-signed, or a proxy that intercepts TLS?)"
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is for another host name"
            }
            C::Revoked => "the server's certificate was revoked",
            C::BadSignature => "the server's certificate has a bad signature",
            _ => "the server's certificate was refused",
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer in TLS (an https:// URL for a plain-HTTP server?)"
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate",
        rustls::Error::AlertReceived(_) => "the server refused the TLS handshake",
        rustls::Error::PeerIncompatible(_) => {
            "the server supports no TLS version or cipher in common"
        }
        _ => "the TLS handshake failed",
    };
    format!("{what}: {e}")
}

/// Maps ureq errors tunnelled through `io::Error` while reading a body to plain I/O errors
/// whose text cannot carry the URL.
struct ReaderErrors<R>(R);

impl<R: std::io::Read> std::io::Read for ReaderErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let mut kind = e.kind();
            if let Some(ue) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                // ureq wraps its own errors as `Other`; keep what they mean for retries.
                kind = match classify(ue).kind() {
                    TransportErrorKind::Timeout => std::io::ErrorKind::TimedOut,
                    TransportErrorKind::Interrupted => std::io::ErrorKind::ConnectionAborted,
                    TransportErrorKind::Connect => std::io::ErrorKind::ConnectionRefused,
                    TransportErrorKind::Protocol | TransportErrorKind::Tls => {
                        std::io::ErrorKind::InvalidData
                    }
                    _ => kind,
                };
            }
            match e.into_inner() {
                Some(inner) => std::io::Error::new(kind, strip_urls(&inner.to_string())),
                None => std::io::Error::from(kind),
            }
        })
    }
}

/// Drops the query values of URLs quoted in `text` as words, and the secret parameters of
/// any other.
fn strip_urls(text: &str) -> String {
    let words: String = text
        .split(' ')
        .map(|w| {
            if w.contains("://") && w.contains('?') {
                crate::redact::redact_url(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    crate::redact::redact_text(&words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransportErrorKind as K;
    use rustls::CertificateError as C;
    use std::io::{self, ErrorKind as IoKind, Read};
    use ureq::Error as E;

    fn io(kind: IoKind, inner: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> E {
        E::Io(io::Error::new(kind, inner))
    }

    fn lookup(host: &str, cause: &str) -> E {
        let cause = io::Error::other(cause.to_string());
        E::Io(io::Error::other(LookupFailed {
            host: host.into(),
            cause,
        }))
    }

    fn cert(c: C) -> rustls::Error {
        rustls::Error::InvalidCertificate(c)
    }

    #[test]
    #[rustfmt::skip]
    fn classification_is_by_type_not_text() {
        let local = ExactLengthReader::new(&b"ab"[..], 4).read_to_end(&mut Vec::new()).unwrap_err();
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let tls = |c| io(IoKind::InvalidData, cert(c));
        // (error, kind, what its message says)
        let cases = [
            // Our own reader's error: a bad local body, whatever the kind says.
            (E::Io(local), K::Body, ""),
            // A peer's early EOF whose text looks like ours is still a dropped connection.
            (io(IoKind::UnexpectedEof, "body ended 2 bytes early (declared 4 bytes)"), K::Interrupted, ""),
            (E::Io(IoKind::ConnectionRefused.into()), K::Connect, ""),
            (E::Io(IoKind::ConnectionReset.into()), K::Interrupted, ""),
            (E::Io(IoKind::TimedOut.into()), K::Timeout, ""),
            (E::Io(io::Error::other("declared")), K::Other, ""),
            (E::Timeout(ureq::Timeout::Connect), K::Connect, ""),
            (E::Timeout(ureq::Timeout::RecvBody), K::Timeout, ""),
            (E::HostNotFound, K::Dns, ""),
            (E::Timeout(ureq::Timeout::Resolve), K::Dns, ""),
            // What ureq 3.5 returns for an unresolvable host, once our resolver marked it;
            // std's own lookup error, unmarked, is not taken for DNS by its text.
            (lookup("api.example.invalid", "Name or service not known"), K::Dns,
             r#"cannot resolve host "api.example.invalid": Name or service not known"#),
            (E::Io(io::Error::other("failed to lookup address information")), K::Other, ""),
            (E::ConnectionFailed, K::Connect, ""),
            (E::Tls("no provider"), K::Tls, ""),
            // What ureq 3.5 returns for a handshake against a plain-HTTP listener.
            (io(IoKind::InvalidData, not_tls), K::Tls, "did not answer in TLS"),
            (E::Rustls(cert(C::Expired)), K::Tls, "certificate has expired"),
            (tls(C::NotValidYet), K::Tls, "is not valid yet"),
            (tls(C::UnknownIssuer), K::Tls, "not signed by a trusted authority"),
            (tls(C::NotValidForName), K::Tls, "for another host name"),
            (tls(C::Revoked), K::Tls, "was revoked"),
            (tls(C::BadSignature), K::Tls, "bad signature"),
            (tls(C::BadEncoding), K::Tls, "certificate was refused"),
            (io(IoKind::InvalidData, rustls::Error::NoCertificatesPresented), K::Tls, "no certificate"),
            // A peer that hangs up mid-handshake is a dropped connection.
            (io(IoKind::UnexpectedEof, "Peer disconnected"), K::Interrupted, ""),
            (E::BodyExceedsLimit(1), K::Protocol, ""),
        ];
        for (err, want, says) in cases {
            let t = classify(&err);
            assert_eq!(t.kind(), want, "{err}");
            assert!(t.message().contains(says), "{says}: {t}");
        }
    }
}
