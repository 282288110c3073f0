//! Downloads from signed URLs (the API key is never sent), to a temporary file resumed with
//! `Range` and moved into place only when complete.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use tempfile::NamedTempFile;

use super::BatchApi;
use super::requests::RequestKind;
use super::retry::Idempotency;
use crate::error::{Error, Result};
use crate::model::job_request::check_http_url;
use crate::progress::{Event, SharedCallback};
use crate::transport::{HttpRequest, HttpResponse};

/// How [`BatchApi::download_to_file_with`] treats the target file.
///
/// ```
/// # use roboflow_batch::api::DownloadOptions;
/// let opts = DownloadOptions::default().expected_len(1024).overwrite(false).max_len(1 << 20);
/// ```
#[derive(Clone)]
pub struct DownloadOptions<'a> {
    expected_len: Option<u64>,
    overwrite: bool,
    on_progress: Option<SharedCallback<'a>>,
    max_len: u64,
}

impl Default for DownloadOptions<'_> {
    fn default() -> Self {
        DownloadOptions {
            expected_len: None,
            overwrite: true,
            on_progress: None,
            max_len: 64 << 30,
        }
    }
}

impl std::fmt::Debug for DownloadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("expected_len", &self.expected_len)
            .field("overwrite", &self.overwrite)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl<'a> DownloadOptions<'a> {
    crate::model::setters! {
        setup: "",
        on: "roboflow_batch::api::DownloadOptions::default()";
        /// The length the file must have, when known in advance: a server that declares
        /// another length, or a body of another length, fails the download. Without it, the
        /// length the server declares is checked.
        expected_len(s, len: u64) = "1024" {
            s.expected_len = Some(len);
        }
        /// Whether a file already at the target is replaced (default `true`). When `false`,
        /// an existing file fails the download and is left as it is, even if it appears
        /// while the download runs.
        overwrite(s, overwrite: bool) = "false" {
            s.overwrite = overwrite;
        }
        /// The most bytes written before the download fails (default 64 GiB), so that a
        /// server that never stops sending cannot fill the disk.
        max_len(s, max: u64) = "1 << 20" {
            s.max_len = max;
        }
        /// Called with an [`Event::BytesReceived`] as each chunk is written (for progress
        /// bars); it may borrow, as the download blocks. Bytes received again after a
        /// restart from zero are reported again.
        on_progress(s, f: impl Fn(&Event) + Sync + 'a) = "|e| println!(\"{e:?}\")" {
            s.on_progress = Some(Arc::new(f));
        }
    }
}

impl BatchApi {
    /// Starts a download from a signed URL and returns the streaming response; a failure
    /// while reading the body is the caller's ([`download_to_file`](Self::download_to_file)
    /// resumes).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let mut body = api.download("https://h/signed")?.body;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download(&self, url: &str) -> Result<HttpResponse> {
        check_http_url("downloadURL", url)?;
        self.send(
            RequestKind::Download,
            Idempotency::Idempotent,
            || Ok(HttpRequest::get(url)),
            Ok,
        )
    }

    /// [`download_to_file_with`](Self::download_to_file_with) with the default options (an
    /// existing file is replaced).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.download_to_file("https://h/signed", "out.jsonl".as_ref())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download_to_file(&self, url: &str, path: &Path) -> Result<u64> {
        self.download_to_file_with(url, path, &DownloadOptions::default())
    }

    /// Downloads a signed URL to `path` and returns the number of bytes written: to a unique
    /// `.<name>.<random>.part` beside it (the folder must exist), renamed to `path` only once
    /// complete, so `path` never holds part of a download. A connection dropped mid-body is
    /// resumed with `Range` when the server answers `206`, else started over, within the
    /// client's [`RetryPolicy`](crate::api::RetryPolicy). Safe from many threads at once.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let opts = roboflow_batch::api::DownloadOptions::default();
    /// let n = api.download_to_file_with("https://h/signed", "part-0.tar".as_ref(), &opts)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download_to_file_with(
        &self,
        url: &str,
        path: &Path,
        options: &DownloadOptions<'_>,
    ) -> Result<u64> {
        check_http_url("downloadURL", url)?;
        let context = || format!("downloading to {}", path.display());
        let fail = |e| Error::io(context(), e);
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
            let exists = "the file exists and overwriting is off";
            return Err(fail(io::Error::new(io::ErrorKind::AlreadyExists, exists)));
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
            options: options.clone(),
            fatal: None,
            context: context(),
        });
        let attempt = || {
            self.send(
                RequestKind::Download,
                Idempotency::Idempotent,
                || progress.borrow_mut().request(url).map_err(fail),
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
        let p = progress.into_inner();
        if let Some(e) = p.fatal {
            return Err(e);
        }
        result.map_err(|e| match e {
            // Keep which file was being written; the transport error keeps why.
            Error::Transport { source, .. } => fail(io::Error::other(source)),
            other => other,
        })?;
        if let Some(want) = options.expected_len
            && p.written != want
        {
            return Err(fail(length_error(p.written, want)));
        }
        p.file.as_file().sync_all().map_err(fail)?;
        let persisted = if options.overwrite {
            p.file.persist(path)
        } else {
            p.file.persist_noclobber(path)
        };
        // On failure the temporary file is dropped, which removes it.
        persisted.map_err(|e| fail(e.error))?;
        Ok(p.written)
    }
}

/// One download's state across its tries.
struct Progress<'a> {
    file: NamedTempFile,
    /// Bytes in the file so far.
    written: u64,
    /// The whole length, once a response declared it.
    total: Option<u64>,
    /// Whether a failed try may be resumed with `Range`.
    resumable: bool,
    /// The offset the request in flight asked for (0: the whole file).
    asked_from: u64,
    options: DownloadOptions<'a>,
    /// A failure that trying again cannot fix (writing the file, a wrong length).
    fatal: Option<Error>,
    /// What errors say was being done.
    context: String,
}

impl Progress<'_> {
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
                Some((start, total))
                    if start == self.asked_from && self.total.is_none_or(|t| total == Some(t)) =>
                {
                    (start, total.or(declared.map(|l| start.saturating_add(l))))
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
        if let (Some(want), Some(got)) = (self.options.expected_len, total)
            && want != got
        {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server declares {got} bytes, expected {want}"),
            );
            return Err(self.fail(e));
        }
        if let Some(t) = total
            && t > self.options.max_len
        {
            return Err(self.fail(too_long(self.options.max_len)));
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
            if self.written > self.options.max_len {
                return Err(self.fail(too_long(self.options.max_len)));
            }
            if let Some(f) = &self.options.on_progress {
                f(&Event::BytesReceived { bytes: n as u64 });
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

/// The start and total of a `Content-Range: bytes START-END/TOTAL` header (`TOTAL` may be
/// `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
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
    valid.then_some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn content_range_table() {
        for (v, want) in [
            ("bytes 0-9/10", Some((0, Some(10)))),
            ("bytes 400-1048575/1048576", Some((400, Some(1_048_576)))),
            (" bytes  5-9/* ", Some((5, None))),
            ("bytes 5-9/9", None), ("bytes 9-5/10", None), ("bytes */10", None),
            ("items 0-9/10", None), ("bytes 0-9", None), ("bytes -1-9/10", None), ("", None),
        ] {
            assert_eq!(parse_content_range(v), want, "{v:?}");
        }
    }
}
