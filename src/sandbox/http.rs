//! Small helpers around tiny_http: a parsed request line and JSON replies.

use std::io::Read;

use serde::Serialize;

/// The parts of a request the handlers route on.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    /// The decoded path segments, e.g. `["data-staging", "v1", …]`.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The declared body length.
    pub content_length: Option<u64>,
}

impl Head {
    pub fn parse(req: &tiny_http::Request) -> Head {
        let url = req.url();
        let path = url.split(['?', '#']).next().unwrap_or("");
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::url::percent_decode)
            .collect();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        let content_length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok());
        Head {
            method: req.method().as_str().to_ascii_uppercase(),
            segments,
            query: crate::url::query_pairs(url),
            headers,
            content_length,
        }
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response body.
pub(crate) enum ReplyBody {
    Bytes(Vec<u8>),
    /// Exactly `len` bytes from a reader (e.g. a tar member).
    Reader(Box<dyn Read + Send>, u64),
    /// A reader that fails after `len` bytes of a larger declared length (fault injection).
    Truncated(Vec<u8>, usize),
}

/// A response, built by handlers and sent by the router.
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
        let body = match self.body {
            ReplyBody::Bytes(b) => {
                let keep = b.len() / 2;
                let mut b = b;
                if b.is_empty() {
                    b.push(b' ');
                }
                ReplyBody::Truncated(b, keep)
            }
            ReplyBody::Reader(r, len) => cut(r, len),
            t @ ReplyBody::Truncated(..) => t,
        };
        Reply { body, ..self }
    }

    /// The same reply, closing the connection after it (the request body was not read).
    pub fn closing(self) -> Reply {
        self.with_header("Connection", "close")
    }

    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    /// Sends the reply; a send error only means the client went away.
    pub fn send(self, req: tiny_http::Request) {
        let status = tiny_http::StatusCode(self.status);
        let headers: Vec<tiny_http::Header> = self
            .headers
            .iter()
            .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
            .collect();
        let _ = match self.body {
            ReplyBody::Bytes(b) => {
                let len = b.len();
                req.respond(
                    tiny_http::Response::new(
                        status,
                        headers,
                        std::io::Cursor::new(b),
                        Some(len),
                        None,
                    )
                    .with_chunked_threshold(usize::MAX),
                )
            }
            ReplyBody::Reader(r, len) => req.respond(
                tiny_http::Response::new(status, headers, r.take(len), Some(len as usize), None)
                    .with_chunked_threshold(usize::MAX),
            ),
            ReplyBody::Truncated(b, keep) => {
                let len = b.len();
                let reader = std::io::Cursor::new(b)
                    .take(keep as u64)
                    .chain(FailingReader);
                req.respond(
                    tiny_http::Response::new(status, headers, reader, Some(len), None)
                        .with_chunked_threshold(usize::MAX),
                )
            }
        };
    }
}

fn cut(r: Box<dyn Read + Send>, len: u64) -> ReplyBody {
    let keep = len / 2;
    ReplyBody::Reader(Box::new(r.take(keep).chain(FailingReader)), len.max(1))
}

/// Fails every read: makes tiny_http drop the connection mid-body.
struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault: dropped mid-body",
        ))
    }
}

/// `(offset, page size)` from `nextPageToken` and `pageSize`.
pub(crate) fn paging(head: &Head, default: usize) -> Result<(usize, usize), Reply> {
    let size = match head.query("pageSize") {
        None => default,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(Reply::error(
                    400,
                    format!("pageSize must be an integer from 1 to 1000, got {s:?}"),
                ));
            }
        },
    };
    let offset = match head.query("nextPageToken") {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("p")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Reply::error(
                    400,
                    format!("nextPageToken {t:?} is not a token this service issued"),
                )
            })?,
    };
    Ok((offset, size))
}

/// The page's items and the token of the next page (`None` on the last page).
pub(crate) fn page<T>(
    items: impl Iterator<Item = T>,
    offset: usize,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut v: Vec<T> = items.skip(offset).take(size + 1).collect();
    let more = v.len() > size;
    v.truncate(size);
    (v, more.then(|| format!("p{}", offset + size)))
}
