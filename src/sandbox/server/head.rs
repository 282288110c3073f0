//! Reading a request head (request line and headers) within fixed limits.
//!
//! tiny_http 0.12 read request lines and headers without any bound, so one long line
//! could take all memory; these limits are why the sandbox reads its own heads.

use std::io::{self, BufRead};

/// The longest request line (method, target, version), in bytes: a longer one is a 414.
pub(crate) const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest header line, in bytes: a longer one is a 431.
pub(crate) const MAX_HEADER_LINE: usize = 8 * 1024;
/// All header lines together, in bytes: more is a 431.
pub(crate) const MAX_HEADERS_BYTES: usize = 64 * 1024;
/// The most header lines: more is a 431.
pub(crate) const MAX_HEADERS: usize = 100;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawHead {
    pub method: String,
    /// The origin-form target (`/path?query`).
    pub target: String,
    /// HTTP/1.0 (`false`) or HTTP/1.1 (`true`).
    pub http11: bool,
    pub headers: Vec<(String, String)>,
}

impl RawHead {
    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a head could not be read; `status` and `message` make the answer.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The connection ended (or failed) before a request started: no answer.
    Closed,
    /// A bad or over-limit head: answer `status` and close.
    Bad(u16, String),
    /// An I/O error (a timeout) in the middle of a head: answer 408 and close.
    Io(io::Error),
}

/// Reads one line (CRLF or LF ended) of at most `limit` bytes, without the line end.
/// `Ok(None)` at a clean end of input before any byte.
fn read_line(r: &mut impl BufRead, limit: usize) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(LineError::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > limit + 2 {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > limit {
                return Err(LineError::TooLong);
            }
            return Ok(Some(line));
        }
    }
}

enum LineError {
    TooLong,
    Io(io::Error),
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reads a request head. Empty lines before the request line are skipped (RFC 9112).
pub(crate) fn read_head(r: &mut impl BufRead) -> Result<RawHead, HeadError> {
    let line = loop {
        match read_line(r, MAX_REQUEST_LINE) {
            Ok(None) => return Err(HeadError::Closed),
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => break l,
            Err(LineError::TooLong) => {
                return Err(HeadError::Bad(
                    414,
                    format!("request line longer than {MAX_REQUEST_LINE} bytes"),
                ));
            }
            Err(LineError::Io(e)) => return Err(HeadError::Io(e)),
        }
    };
    let bad = |m: &str| HeadError::Bad(400, m.to_string());
    let line = String::from_utf8(line).map_err(|_| bad("request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !is_token(method) || method.len() > 32 {
        return Err(bad("malformed method"));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => {
            return Err(HeadError::Bad(505, format!("{v} is not supported")));
        }
        _ => return Err(bad("malformed HTTP version")),
    };
    let target = origin_form(target).ok_or_else(|| bad("malformed request target"))?;
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let line = match read_line(r, MAX_HEADER_LINE) {
            Ok(Some(l)) => l,
            Ok(None) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Err(LineError::TooLong) => {
                return Err(HeadError::Bad(
                    431,
                    format!("a header line is longer than {MAX_HEADER_LINE} bytes"),
                ));
            }
            Err(LineError::Io(e)) => return Err(HeadError::Io(e)),
        };
        if line.is_empty() {
            break;
        }
        total += line.len();
        if headers.len() >= MAX_HEADERS || total > MAX_HEADERS_BYTES {
            return Err(HeadError::Bad(
                431,
                format!("more than {MAX_HEADERS} headers or {MAX_HEADERS_BYTES} bytes of headers"),
            ));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(bad("folded header lines are not accepted"));
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(bad("a header line has no colon"));
        };
        if !is_token(name) {
            return Err(bad("malformed header name"));
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(RawHead {
        method: method.to_string(),
        target,
        http11,
        headers,
    })
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

    fn parse(raw: &[u8]) -> Result<RawHead, HeadError> {
        read_head(&mut io::BufReader::with_capacity(7, raw))
    }

    fn status(raw: &[u8]) -> u16 {
        match parse(raw) {
            Ok(_) => 200,
            Err(HeadError::Bad(s, _)) => s,
            Err(HeadError::Closed) => 0,
            Err(HeadError::Io(_)) => 408,
        }
    }

    #[test]
    fn parses_a_head() {
        let h = parse(b"\r\nPUT /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Y:  v \r\n\r\nBODY").unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.http11),
            ("PUT", "/a/b?x=1", true)
        );
        assert_eq!(h.header("x-y"), Some("v"));
        let h = parse(b"GET http://host:1/p?q HTTP/1.0\nA: b\n\n").unwrap();
        assert_eq!((h.target.as_str(), h.http11), ("/p?q", false));
        assert_eq!(
            parse(b"GET http://host HTTP/1.1\r\n\r\n").unwrap().target,
            "/"
        );
    }

    #[test]
    fn table_of_bad_heads() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        let long_header = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_LINE)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        let big: String = (0..20)
            .map(|i| format!("X-{i}: {}\r\n", "v".repeat(4000)))
            .collect();
        let big = format!("GET / HTTP/1.1\r\n{big}\r\n");
        let cases: &[(&[u8], u16)] = &[
            (b"", 0),
            (b"GET / HTTP/1.1\r\n", 408),
            (b"GET / HTTP/1.1\r\nHost: x", 408),
            (b"GET /\r\n\r\n", 400),
            (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"GET / FTP/1.0\r\n\r\n", 400),
            (b"GET nopath HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nBad Name: b\r\n\r\n", 400),
            (b"GET /\xff HTTP/1.1\r\n\r\n", 400),
            (long_target.as_bytes(), 414),
            (long_header.as_bytes(), 431),
            (many.as_bytes(), 431),
            (big.as_bytes(), 431),
            (b"GET / HTTP/1.1\r\nA: \xff\xfe\r\n\r\n", 200),
        ];
        for (raw, want) in cases {
            assert_eq!(
                status(raw),
                *want,
                "{:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(60)])
            );
        }
    }

    #[test]
    fn an_endless_line_is_refused_without_reading_it_all() {
        // A reader that never ends: the limit must stop it.
        let endless = io::repeat(b'a');
        let mut r = io::BufReader::new(io::Read::take(endless, 1 << 30));
        assert!(matches!(read_head(&mut r), Err(HeadError::Bad(414, _))));
        // It stopped just past the limit, not at the end of the gigabyte.
        assert!(r.into_inner().limit() > (1 << 30) - 64 * 1024);
    }
}
