//! Downloads from signed URLs. A file is written to a unique temporary file beside its
//! target, resumed with `Range` after a dropped connection, and moved into place only when
//! complete, so the target never holds part of a download. The API key is never sent.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use tempfile::NamedTempFile;

use super::BatchApi;
use super::requests::RequestKind;
use super::retry::Idempotency;
use super::transfer::check_signed_url;
use crate::error::{Error, Result};
use crate::transport::{HttpRequest, HttpResponse};

/// How [`BatchApi::download_to_file_with`] treats the target file.
///
/// ```
/// use roboflow_batch::api::DownloadOptions;
/// let o = DownloadOptions::default();
/// assert!(o.overwrite && o.expected_len.is_none());
/// let o = o.expected_len(1024).overwrite(false);
/// assert_eq!(o.expected_len, Some(1024));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// The length the file must have, when known in advance. A server that declares
    /// another length, or a body of another length, fails the download. Default `None`:
    /// the length the server declares is checked.
    pub expected_len: Option<u64>,
    /// Whether a file already at the target is replaced (default `true`). When `false`, an
    /// existing file fails the download and is left as it is, even if it appears while the
    /// download runs.
    pub overwrite: bool,
    /// Called with the length of each chunk as it is written (for progress bars). Bytes
    /// received again after a restart from zero are reported again.
    pub on_bytes: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// The most bytes written before the download fails (default 64 GiB), so a server
    /// that never stops sending cannot fill the disk.
    pub max_len: u64,
}

/// The default cap of one download: 64 GiB.
pub(crate) const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 64 << 30;

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            expected_len: None,
            overwrite: true,
            on_bytes: None,
            max_len: DEFAULT_MAX_DOWNLOAD_BYTES,
        }
    }
}

impl std::fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("expected_len", &self.expected_len)
            .field("overwrite", &self.overwrite)
            .field("on_bytes", &self.on_bytes.as_ref().map(|_| "Fn(u64)"))
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl DownloadOptions {
    /// Sets the length the file must have.
    ///
    /// ```
    /// let o = roboflow_batch::api::DownloadOptions::default().expected_len(7);
    /// assert_eq!(o.expected_len, Some(7));
    /// ```
    #[must_use]
    pub fn expected_len(mut self, len: u64) -> Self {
        self.expected_len = Some(len);
        self
    }

    /// Sets whether an existing file is replaced.
    ///
    /// ```
    /// let o = roboflow_batch::api::DownloadOptions::default().overwrite(false);
    /// assert!(!o.overwrite);
    /// ```
    #[must_use]
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Sets the most bytes a download may write.
    ///
    /// ```
    /// let o = roboflow_batch::api::DownloadOptions::default().max_len(1 << 20);
    /// assert_eq!(o.max_len, 1 << 20);
    /// ```
    #[must_use]
    pub fn max_len(mut self, max: u64) -> Self {
        self.max_len = max;
        self
    }

    /// Sets the callback that sees each written chunk's length.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let s = seen.clone();
    /// let o = roboflow_batch::api::DownloadOptions::default()
    ///     .on_bytes(move |n| { s.fetch_add(n, Ordering::Relaxed); });
    /// assert!(o.on_bytes.is_some());
    /// ```
    #[must_use]
    pub fn on_bytes(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.on_bytes = Some(Arc::new(f));
        self
    }
}

impl BatchApi {
    /// Starts a download from a signed URL and returns the streaming response. The API key
    /// is never sent. Connection failures and error statuses are retried; a failure while
    /// reading the body is the caller's to handle (see
    /// [`download_to_file`](Self::download_to_file), which does).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let url = "";
    /// let mut resp = api.download(url)?;
    /// std::io::copy(&mut resp.body, &mut std::io::stdout()).unwrap();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download(&self, url: &str) -> Result<HttpResponse> {
        check_signed_url("downloadURL", url)?;
        self.send(
            RequestKind::Download,
            Idempotency::Idempotent,
            || Ok(HttpRequest::get(url)),
            Ok,
        )
    }

    /// Downloads a signed URL to `path` and returns the number of bytes written; the same
    /// as [`download_to_file_with`](Self::download_to_file_with) with the default options
    /// (an existing file is replaced).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let url = "";
    /// let n = api.download_to_file(url, std::path::Path::new("out/results.jsonl"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download_to_file(&self, url: &str, path: &Path) -> Result<u64> {
        self.download_to_file_with(url, path, &DownloadOptions::default())
    }

    /// Downloads a signed URL to `path` and returns the number of bytes written.
    ///
    /// - The bytes go to a temporary file with a unique name in `path`'s folder
    ///   (`.<name>.<random>.part`), so parallel downloads never share one, even to the
    ///   same `path`.
    /// - The file is moved to `path` in one rename, only once it is complete: its length
    ///   is what the server declared (and [`DownloadOptions::expected_len`], when set).
    ///   Whatever fails, `path` never holds part of a download and the temporary file is
    ///   removed.
    /// - A connection dropped mid-body is resumed with `Range: bytes=N-` when the server
    ///   supports it (a `206` whose `Content-Range` starts at `N`); otherwise (no ranges, a
    ///   different range, or `416 Range Not Satisfiable`) the download starts over. Either
    ///   way it is retried within the client's [`RetryPolicy`](crate::api::RetryPolicy),
    ///   like any idempotent request.
    /// - Compressed transfer is not requested (`Accept-Encoding: identity`), so the bytes
    ///   are the file's own and offsets stay valid for `Range`.
    ///
    /// The folder must exist. Safe to call from many threads at once.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let url = "";
    /// use roboflow_batch::api::DownloadOptions;
    /// let opts = DownloadOptions::default().expected_len(4096).overwrite(false);
    /// let n = api.download_to_file_with(url, std::path::Path::new("out/part-0.tar"), &opts)?;
    /// assert_eq!(n, 4096);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download_to_file_with(
        &self,
        url: &str,
        path: &Path,
        options: &DownloadOptions,
    ) -> Result<u64> {
        check_signed_url("downloadURL", url)?;
        let context = || format!("downloading to {}", path.display());
        let Some(name) = path.file_name() else {
            return Err(Error::invalid(
                "path",
                format!("{} does not name a file", path.display()),
            ));
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !options.overwrite && path.exists() {
            return Err(Error::io(context(), exists_error()));
        }
        let mut prefix = OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let file = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
        let progress = RefCell::new(Progress {
            file,
            written: 0,
            total: None,
            resumable: true,
            asked_from: 0,
            expected: options.expected_len,
            on_bytes: options.on_bytes.clone(),
            max_len: options.max_len,
            fatal: None,
            context: context(),
        });
        let attempt = || {
            self.send(
                RequestKind::Download,
                Idempotency::Idempotent,
                || {
                    progress
                        .borrow_mut()
                        .request(url)
                        .map_err(|e| Error::io(context(), e))
                },
                |resp| progress.borrow_mut().receive(resp),
            )
        };
        let mut result = attempt();
        if matches!(&result, Err(e) if e.status() == Some(416)) && progress.borrow().asked_from > 0
        {
            // The range no longer fits (the file changed, or shrank): once, from the start.
            progress.borrow_mut().resumable = false;
            result = attempt();
        }
        let Progress {
            file,
            written,
            fatal,
            ..
        } = progress.into_inner();
        if let Some(e) = fatal {
            return Err(e);
        }
        result.map_err(|e| match e {
            // Keep which file was being written; the transport error keeps why.
            Error::Transport { source, .. } => Error::io(context(), io::Error::other(source)),
            other => other,
        })?;
        if let Some(want) = options.expected_len
            && written != want
        {
            return Err(Error::io(context(), length_error(written, want)));
        }
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(context(), e))?;
        let persisted = if options.overwrite {
            file.persist(path)
        } else {
            file.persist_noclobber(path)
        };
        // On failure the temporary file is dropped, which removes it.
        persisted.map_err(|e| Error::io(context(), e.error))?;
        Ok(written)
    }
}

/// One download's state across its tries.
struct Progress {
    file: NamedTempFile,
    /// Bytes in the file so far.
    written: u64,
    /// The whole length, once a response declared it.
    total: Option<u64>,
    /// Whether a failed try may be resumed with `Range`.
    resumable: bool,
    /// The offset the request in flight asked for (0: the whole file).
    asked_from: u64,
    expected: Option<u64>,
    on_bytes: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    max_len: u64,
    /// A failure that trying again cannot fix (writing the file, a wrong length).
    fatal: Option<Error>,
    /// What errors say was being done.
    context: String,
}

impl Progress {
    /// The next try: the rest with `Range` when possible, else all of it from the start.
    fn request(&mut self, url: &str) -> io::Result<HttpRequest> {
        let mut req = HttpRequest::get(url).with_header("Accept-Encoding", "identity");
        self.asked_from = 0;
        if self.written > 0 {
            if self.resumable {
                self.asked_from = self.written;
                req = req.with_header("Range", format!("bytes={}-", self.written));
            } else {
                self.start_over()?;
            }
        }
        Ok(req)
    }

    fn start_over(&mut self) -> io::Result<()> {
        let f = self.file.as_file_mut();
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        self.written = 0;
        Ok(())
    }

    /// Appends a successful response's body. An error that is not `fatal` is a failed
    /// exchange, which the retry policy may repeat.
    fn receive(&mut self, mut resp: HttpResponse) -> io::Result<u64> {
        let declared = resp
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let (start, total) = if resp.status == 206 {
            let range = resp.header("content-range").and_then(parse_content_range);
            match range {
                Some(r)
                    if r.start == self.asked_from
                        && self.total.is_none_or(|t| r.total == Some(t)) =>
                {
                    (
                        r.start,
                        r.total.or(declared.map(|l| r.start.saturating_add(l))),
                    )
                }
                _ => {
                    // Not the range asked for (or the file changed): start over without.
                    self.resumable = false;
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server answered with another range than asked for; starting over",
                    ));
                }
            }
        } else {
            (0, declared)
        };
        if start == 0 && self.written > 0 {
            // A 200 to a range request: the server does not do ranges.
            self.resumable = false;
            self.start_over().map_err(|e| self.fail(e))?;
        }
        if let (Some(want), Some(got)) = (self.expected, total)
            && want != got
        {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server declares {got} bytes, expected {want}"),
            );
            return Err(self.fail(e));
        }
        if let Some(t) = total
            && t > self.max_len
        {
            return Err(self.fail(too_long(self.max_len)));
        }
        self.total = total;
        // Offsets are only safe to resume from when the length is known and the bytes are
        // the file's own.
        let no_ranges = resp
            .header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
        let encoded = resp
            .header("content-encoding")
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
        self.resumable &= total.is_some() && !no_ranges && !encoded;

        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match resp.body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            self.file
                .as_file_mut()
                .write_all(chunk)
                .map_err(|e| self.fail(e))?;
            self.written += n as u64;
            if self.written > self.max_len {
                return Err(self.fail(too_long(self.max_len)));
            }
            if let Some(f) = &self.on_bytes {
                f(n as u64);
            }
        }
        match total {
            Some(t) if self.written != t => Err(length_error(self.written, t)),
            _ => Ok(self.written),
        }
    }

    /// Records a failure that must not be retried, and returns an error that stops the
    /// retry loop.
    fn fail(&mut self, e: io::Error) -> io::Error {
        let message = e.to_string();
        self.fatal = Some(Error::io(self.context.clone(), e));
        io::Error::other(message)
    }
}

fn too_long(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("the download is larger than its {max}-byte limit (DownloadOptions::max_len)"),
    )
}

fn length_error(got: u64, want: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("got {got} of {want} bytes"),
    )
}

fn exists_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        "the file exists and overwriting is off",
    )
}

/// A `Content-Range: bytes START-END/TOTAL` header (`TOTAL` may be `*`).
#[derive(Debug, PartialEq, Eq)]
struct ContentRange {
    start: u64,
    end: u64,
    total: Option<u64>,
}

fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    let valid = start <= end && total.is_none_or(|t| end < t);
    valid.then_some(ContentRange { start, end, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_table() {
        let r = |start, end, total| Some(ContentRange { start, end, total });
        let cases = [
            ("bytes 0-9/10", r(0, 9, Some(10))),
            (
                "bytes 400-1048575/1048576",
                r(400, 1_048_575, Some(1_048_576)),
            ),
            (" bytes  5-9/* ", r(5, 9, None)),
            ("bytes 5-9/9", None),
            ("bytes 9-5/10", None),
            ("bytes */10", None),
            ("items 0-9/10", None),
            ("bytes 0-9", None),
            ("bytes -1-9/10", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_content_range(v), want, "{v:?}");
        }
    }
}
