//! A request body: `Content-Length` or chunked framing over the connection, with a
//! `100 Continue` sent on the first read when the client asked for one.

use std::io::{self, BufRead, Read, Write};

use super::{Head, Reply};

/// The longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
/// All trailer lines of a chunked body together.
const MAX_TRAILERS: usize = 8 * 1024;

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Bytes left of the current chunk.
    Chunk(u64),
    /// The whole body was read.
    Done,
    /// The body ended early or was malformed: the connection cannot be reused.
    Broken,
}

/// The body of one request, read from the connection as the handler asks for it.
pub(crate) struct Body<'a> {
    src: &'a mut dyn BufRead,
    phase: Phase,
    /// Where to write `100 Continue` before the first read, if the client expects it.
    continue_to: Option<&'a mut dyn Write>,
}

impl<'a> Body<'a> {
    pub fn new(
        src: &'a mut dyn BufRead,
        framing: Framing,
        continue_to: Option<&'a mut dyn Write>,
    ) -> Body<'a> {
        let phase = match framing {
            Framing::Length(0) => Phase::Done,
            Framing::Length(n) => Phase::Length(n),
            Framing::Chunked => Phase::ChunkSize,
        };
        // An empty body needs no `100 Continue`: there is nothing to send.
        let continue_to = if phase == Phase::Done {
            None
        } else {
            continue_to
        };
        Body {
            src,
            phase,
            continue_to,
        }
    }

    /// Whether the body was read to its end, so the connection can carry another request.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the client is still waiting for `100 Continue` (and so sent no body yet).
    pub fn awaits_continue(&self) -> bool {
        self.continue_to.is_some()
    }

    /// Reads and drops what is left, if that is at most `max` bytes; true if the body
    /// then ended. A larger rest (or a chunked one that goes past `max`) is left unread:
    /// the connection must close.
    pub fn drain(&mut self, max: u64) -> bool {
        if let Phase::Length(left) = self.phase
            && left > max
        {
            return false;
        }
        let _ = io::copy(&mut self.take(max), &mut io::sink());
        if self.phase == Phase::ChunkSize {
            // The last chunk may be next: a zero-size chunk ends the body without a byte.
            let _ = self.read(&mut [0u8; 1]);
        }
        self.is_done()
    }

    fn send_continue(&mut self) -> io::Result<()> {
        if let Some(w) = self.continue_to.take() {
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            w.flush()?;
        }
        Ok(())
    }

    fn broken(&mut self, msg: &str) -> io::Error {
        self.phase = Phase::Broken;
        io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
    }

    /// A line of at most `limit` bytes, without its CRLF.
    fn line(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = self
            .src
            .take(limit as u64 + 2)
            .read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(self.broken("chunked body: line too long or cut short"));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let line = self.line(MAX_CHUNK_LINE)?;
        let text = String::from_utf8_lossy(&line);
        let hex = text.split(';').next().unwrap_or("").trim();
        let size = match u64::from_str_radix(hex, 16) {
            Ok(s) if !hex.is_empty() && !hex.starts_with('+') => s,
            _ => return Err(self.broken("chunked body: malformed chunk size")),
        };
        if size > 0 {
            self.phase = Phase::Chunk(size);
            return Ok(());
        }
        let mut total = 0;
        loop {
            let t = self.line(MAX_TRAILERS)?;
            if t.is_empty() {
                self.phase = Phase::Done;
                return Ok(());
            }
            total += t.len();
            if total > MAX_TRAILERS {
                return Err(self.broken("chunked body: trailers too long"));
            }
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.phase {
                Phase::Done => return Ok(0),
                Phase::Broken => return Err(self.broken("the request body is broken")),
                Phase::ChunkSize => {
                    self.send_continue()?;
                    self.next_chunk()?;
                }
                Phase::Length(left) | Phase::Chunk(left) => {
                    self.send_continue()?;
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = match self.src.read(&mut buf[..want]) {
                        Ok(n) => n,
                        Err(e) => {
                            self.phase = Phase::Broken;
                            return Err(e);
                        }
                    };
                    if n == 0 {
                        // The client hung up early: a short body, reported as its end.
                        self.phase = Phase::Broken;
                        return Ok(0);
                    }
                    let left = left - n as u64;
                    self.phase = match self.phase {
                        Phase::Length(_) if left == 0 => Phase::Done,
                        Phase::Length(_) => Phase::Length(left),
                        _ if left > 0 => Phase::Chunk(left),
                        _ => match self.line(0) {
                            Ok(l) if l.is_empty() => Phase::ChunkSize,
                            _ => {
                                return Err(self.broken("chunked body: missing CRLF after a chunk"));
                            }
                        },
                    };
                    return Ok(n);
                }
            }
        }
    }
}

/// Reads a whole request body of at most `max` bytes: a larger declared or actual body is
/// a 413 (decided from `Content-Length` before reading, when there is one), a body
/// shorter than declared a 400, one too slow a 408.
pub(crate) fn read_limited(head: &Head, req: &mut Body<'_>, max: u64) -> Result<Vec<u8>, Reply> {
    let too_big =
        || Reply::error(413, format!("request body is larger than {max} bytes")).closing();
    if head.content_length.is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    req.take(max.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => {
                Reply::error(408, "the request body did not arrive in time").closing()
            }
            _ => Reply::error(400, format!("cannot read the request body: {e}")),
        })?;
    if body.len() as u64 > max {
        return Err(too_big());
    }
    if head.content_length.is_some_and(|n| n != body.len() as u64) {
        return Err(Reply::error(
            400,
            "request body shorter than its Content-Length",
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_to_their_end_or_broken() {
        let long = format!("{}\r\n", "0".repeat(MAX_CHUNK_LINE + 10));
        let chunked = Framing::Chunked;
        // What is read (`None`: an error), and whether the body ended.
        type Case<'a> = (&'a [u8], Framing, Option<&'a [u8]>, bool);
        let cases: &[Case<'_>] = &[
            (b"hello world", Framing::Length(5), Some(b"hello"), true),
            (b"hel", Framing::Length(5), Some(b"hel"), false),
            (b"", Framing::Length(0), Some(b""), true),
            (
                b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\nNEXT",
                chunked,
                Some(b"hello!"),
                true,
            ),
            (b"zz\r\nhello\r\n0\r\n\r\n", chunked, None, false),
            (b"5\r\nhelloXX0\r\n\r\n", chunked, None, false),
            (b"+5\r\nhello\r\n0\r\n\r\n", chunked, None, false),
            (b"5\r\nhel", chunked, Some(b"hel"), false),
            (long.as_bytes(), chunked, None, false),
        ];
        for &(raw, framing, want, want_done) in cases {
            let mut src = io::BufReader::with_capacity(3, raw);
            let mut body = Body::new(&mut src, framing, None);
            let mut out = Vec::new();
            let read = body.read_to_end(&mut out).ok().map(|_| &out[..]);
            let shown = String::from_utf8_lossy(&raw[..raw.len().min(40)]);
            assert_eq!((read, body.is_done()), (want, want_done), "{shown:?}");
        }
    }

    #[test]
    fn drain_takes_a_small_rest_and_leaves_a_large_one() {
        let mut src = io::BufReader::new(&b"0123456789"[..]);
        let mut body = Body::new(&mut src, Framing::Length(10), None);
        assert!(!body.drain(9), "10 bytes left, 9 allowed: not read at all");
        assert!(body.drain(10));
        let mut src = io::BufReader::new(&b"5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n"[..]);
        assert!(!Body::new(&mut src, Framing::Chunked, None).drain(6));
        let mut src = io::BufReader::new(&b"5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n"[..]);
        assert!(Body::new(&mut src, Framing::Chunked, None).drain(10));
    }
}
