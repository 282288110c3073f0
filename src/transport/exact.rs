use std::io::{self, Read};

/// The error inside the `io::Error`s an [`ExactLengthReader`] returns, so that a transport
/// can tell a wrong local body from a network failure by type, not by message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LengthMismatch(String);

impl LengthMismatch {
    fn error(kind: io::ErrorKind, message: String) -> io::Error {
        io::Error::new(kind, LengthMismatch(message))
    }

    /// Whether `err` came from an [`ExactLengthReader`].
    pub(crate) fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|e| e.is::<LengthMismatch>())
    }
}

/// A reader that yields exactly `len` bytes of `inner`, or fails at once (`UnexpectedEof`
/// when short, `InvalidData` when long): ureq 3.5 spins forever on a short body, and tar
/// builders silently write corrupt archives when a reader and its size disagree.
pub(crate) struct ExactLengthReader<R> {
    inner: R,
    len: u64,
    remaining: u64,
    checked_end: bool,
}

impl<R: Read> ExactLengthReader<R> {
    /// Wraps `inner`, which must yield exactly `len` bytes.
    pub(crate) fn new(inner: R, len: u64) -> Self {
        ExactLengthReader {
            inner,
            len,
            remaining: len,
            checked_end: false,
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        if !self.checked_end {
            self.checked_end = true;
            let mut probe = [0u8; 1];
            if read_retrying(&mut self.inner, &mut probe)? > 0 {
                return Err(LengthMismatch::error(
                    io::ErrorKind::InvalidData,
                    format!("body is longer than its declared {} bytes", self.len),
                ));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for ExactLengthReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            self.check_end()?;
            return Ok(0);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = read_retrying(&mut self.inner, &mut buf[..max])?;
        if n == 0 {
            return Err(LengthMismatch::error(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "body ended {} bytes early (declared {} bytes)",
                    self.remaining, self.len
                ),
            ));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            // Check for surplus now: consumers stop reading at the declared length.
            self.check_end()?;
        }
        Ok(n)
    }
}

fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
