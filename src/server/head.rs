//! Reading a request head within fixed limits: collected line by line first (an endless
//! line costs its limit, not memory), then parsed by `httparse`. A bare CR anywhere, or a
//! CR or NUL in a value, is refused: a proxy splitting lines on CR would read another
//! request.

use std::io::{self, BufRead, Read};

use super::body::Framing;

/// The longest request line (method, target, version), in bytes: a longer one is a 414.
pub(crate) const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest header line, in bytes: a longer one is a 431.
pub(crate) const MAX_HEADER_LINE: usize = 8 * 1024;
/// All header lines together, in bytes: more is a 431.
pub(crate) const MAX_HEADERS_BYTES: usize = 64 * 1024;
/// The most header lines: more is a 431.
pub(crate) const MAX_HEADERS: usize = 100;
/// The longest method.
const MAX_METHOD: usize = 32;

/// A parsed request head: what handlers route on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Head {
    /// The method, in upper case.
    pub method: String,
    /// The origin-form target (`/path?query`).
    pub target: String,
    /// HTTP/1.0 (`false`) or HTTP/1.1 (`true`).
    pub http11: bool,
    pub headers: Vec<(String, String)>,
    /// The decoded path segments, e.g. `["data-staging", "v1", …]`.
    pub segments: Vec<String>,
    /// The decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The declared body length.
    pub content_length: Option<u64>,
}

impl Head {
    /// A head for `method` and `target` with these headers (also used by tests).
    pub fn new(method: &str, target: String, http11: bool, headers: Vec<(String, String)>) -> Head {
        let mut head = Head {
            method: method.to_ascii_uppercase(),
            query: crate::urls::query_pairs(&target),
            target,
            http11,
            headers,
            segments: Vec::new(),
            content_length: None,
        };
        head.content_length = head
            .header("content-length")
            .and_then(|v| v.trim().parse().ok());
        let segments = head.path().split('/').filter(|s| !s.is_empty());
        head.segments = segments.map(crate::urls::percent_decode).collect();
        head
    }

    /// The path of the target, undecoded (`/a/b` of `/a/b?c`).
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, v) = self.query.iter().find(|(k, _)| k == name)?;
        Some(v)
    }

    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, v) = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(v)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let named = self
            .headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name));
        named.map(|(_, v)| v.as_str())
    }

    /// How the body is framed, or the status and message that refuse the request.
    pub fn framing(&self) -> Result<Framing, (u16, String)> {
        let encodings: Vec<&str> = self.all("transfer-encoding").collect();
        let lengths: Vec<&str> = self.all("content-length").map(str::trim).collect();
        match (encodings.as_slice(), lengths.as_slice()) {
            ([], []) => Ok(Framing::Length(0)),
            ([], [first, ..]) => {
                let digits = !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit());
                match first.parse::<u64>() {
                    Ok(n) if digits && lengths.iter().all(|l| l == first) => Ok(Framing::Length(n)),
                    _ => Err((400, "malformed Content-Length".into())),
                }
            }
            ([t], []) if t.trim().eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            (_, []) => Err((
                501,
                "only the chunked Transfer-Encoding is supported".into(),
            )),
            _ => Err((
                400,
                "a request cannot have both Transfer-Encoding and Content-Length".into(),
            )),
        }
    }

    /// Whether the client wants the connection kept open after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|c| c.trim() == t);
        if self.http11 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

/// Why no head was read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The connection closed cleanly before a request started.
    Closed,
    /// A malformed or oversized head: answer with this status and close.
    Bad(u16, String),
    /// Reading failed (a timeout, a reset, or the connection closed mid-head).
    Io(io::Error),
}

fn bad(status: u16, message: impl Into<String>) -> HeadError {
    HeadError::Bad(status, message.into())
}

fn too_many_headers() -> HeadError {
    bad(
        431,
        format!("more than {MAX_HEADERS} headers or {MAX_HEADERS_BYTES} bytes of headers"),
    )
}

/// Reads one request head from `r`, consuming nothing past its blank line. Each line is
/// read through a `take` of its limit, so an endless line costs its limit, not memory.
pub(crate) fn read_head(r: &mut impl BufRead) -> Result<Head, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let (mut skipped, mut headers, mut header_bytes) = (0, 0, 0);
    loop {
        let request_line = head.is_empty();
        let (limit, status, what) = match request_line {
            true => (MAX_REQUEST_LINE, 414, "the request line"),
            false => (MAX_HEADER_LINE, 431, "a header line"),
        };
        let mut line = Vec::new();
        let read = r
            .by_ref()
            .take(limit as u64 + 2)
            .read_until(b'\n', &mut line);
        let n = read.map_err(HeadError::Io)?;
        let too_long = || bad(status, format!("{what} is longer than {limit} bytes"));
        if line.last() != Some(&b'\n') {
            return Err(match n {
                _ if n > limit => too_long(),
                // Only empty lines (or nothing) before the close: no request was started.
                0 if request_line => HeadError::Closed,
                _ => HeadError::Io(io::ErrorKind::UnexpectedEof.into()),
            });
        }
        let content = line.len() - if line.ends_with(b"\r\n") { 2 } else { 1 };
        if content > limit {
            return Err(too_long());
        }
        if line[..content].contains(&b'\r') {
            return Err(bad(400, "a bare CR in the request head"));
        }
        match (request_line, content) {
            // Empty lines before the request line are skipped (RFC 9112, 2.2).
            (true, 0) => {
                skipped += line.len();
                if skipped > MAX_REQUEST_LINE {
                    return Err(bad(400, "too many empty lines before the request"));
                }
                continue;
            }
            (false, 0) => {
                head.extend_from_slice(&line);
                return parse(&head);
            }
            (false, _) => {
                headers += 1;
                header_bytes += content;
                if headers > MAX_HEADERS || header_bytes > MAX_HEADERS_BYTES {
                    return Err(too_many_headers());
                }
            }
            (true, _) => {}
        }
        head.extend_from_slice(&line);
    }
}

/// Parses a complete head (it ends with its blank line).
fn parse(bytes: &[u8]) -> Result<Head, HeadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad(400, "malformed request head")),
        Err(httparse::Error::Version) => return Err(version_error(bytes)),
        Err(httparse::Error::TooManyHeaders) => return Err(too_many_headers()),
        Err(httparse::Error::HeaderName) => return Err(bad(400, "malformed header name")),
        Err(httparse::Error::HeaderValue) => {
            return Err(bad(400, "malformed header value (CR or NUL, say)"));
        }
        Err(httparse::Error::Token) => return Err(bad(400, "malformed method or request target")),
        Err(e) => return Err(bad(400, format!("malformed request head: {e}"))),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(bad(400, "malformed request line"));
    };
    if method.len() > MAX_METHOD {
        return Err(bad(400, "malformed method"));
    }
    let target = origin_form(target).ok_or_else(|| bad(400, "malformed request target"))?;
    let mut headers = Vec::with_capacity(req.headers.len());
    // httparse refuses a CR, LF or NUL in a value; a bare CR was refused line by line.
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim_matches([' ', '\t']).to_string();
        headers.push((h.name.to_string(), value));
    }
    Ok(Head::new(method, target, version == 1, headers))
}

/// 505 for another HTTP version, 400 for something that is not one.
fn version_error(bytes: &[u8]) -> HeadError {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    match line.trim_end().rsplit(' ').next() {
        Some(v) if v.starts_with("HTTP/") && line.split(' ').count() == 3 => {
            bad(505, format!("{v} is not supported"))
        }
        _ => bad(400, "malformed request line"),
    }
}

/// `/path?query` from an origin-form or absolute-form target.
fn origin_form(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => Some(rest[i..].to_string()),
        Some(i) => Some(format!("/{}", &rest[i..])),
        None => Some("/".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Head, HeadError> {
        read_head(&mut io::BufReader::with_capacity(7, raw))
    }

    #[test]
    fn parses_a_head() {
        let h = parse(b"\r\nPUT /a/b%20c?x=1&y=a+b HTTP/1.1\r\nHost: h\r\nX-Y:  v \r\n\r\nBODY")
            .unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.http11),
            ("PUT", "/a/b%20c?x=1&y=a+b", true)
        );
        assert_eq!(h.header("x-y"), Some("v"));
        assert_eq!(h.segments, ["a", "b c"]);
        assert_eq!((h.query("x"), h.query("y")), (Some("1"), Some("a b")));
        assert_eq!(h.path(), "/a/b%20c");
        let h = parse(b"GET http://host:1/p?q HTTP/1.0\nA: b\n\n").unwrap();
        assert_eq!((h.target.as_str(), h.http11), ("/p?q", false));
        assert_eq!(
            parse(b"GET http://host HTTP/1.1\r\n\r\n").unwrap().target,
            "/"
        );
        let h = parse(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(h.content_length, Some(12));
    }

    #[test]
    fn an_endless_line_is_refused_without_reading_it_all() {
        // A reader that never ends: the limit must stop it.
        for prefix in [&b""[..], b"GET / HTTP/1.1\r\nX: "] {
            let endless = io::Read::chain(prefix, io::repeat(b'a'));
            let mut r = io::BufReader::new(io::Read::take(endless, 1 << 30));
            assert!(matches!(
                read_head(&mut r),
                Err(HeadError::Bad(414 | 431, _))
            ));
            // It stopped just past the limit, not at the end of the gigabyte.
            assert!(r.into_inner().limit() > (1 << 30) - 64 * 1024);
        }
    }
}
