//! Transfers to and from signed URLs: uploads with their extension headers, and
//! downloads that never leave half a file behind. The API key is never sent to them.

use std::path::Path;

use super::BatchApi;
use super::call::UploadSource;
use super::retry::Idempotency;
use crate::error::{Error, Result};
use crate::model::SignedUrlDetails;
use crate::transport::{HttpRequest, HttpResponse, Method};

impl BatchApi {
    /// Uploads bytes to a signed URL with its `extensionHeaders`, streaming with
    /// `Content-Length`. The API key is never sent. Retried like any idempotent request: the
    /// source is read afresh on each try.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::UploadSource;
    /// let target = api.request_shard_upload("big-batch", None)?;
    /// api.put_signed(&target, &UploadSource::bytes(std::fs::read("shard.tar").unwrap()))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn put_signed(&self, target: &SignedUrlDetails, source: &UploadSource) -> Result<()> {
        let method = match target
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("PUT") => Method::Put,
            Some("POST") => Method::Post,
            Some(other) => {
                return Err(Error::invalid(
                    "signedURLDetails.method",
                    format!("only PUT and POST uploads are supported, got {other:?}"),
                ));
            }
        };
        check_signed_url("uploadURL", &target.upload_url)?;
        let len = source.len()?;
        self.send_with_retry(
            Idempotency::Idempotent,
            || {
                let mut req = HttpRequest::new(method, target.upload_url.clone());
                for (k, v) in &target.extension_headers {
                    req = req.header(k.clone(), v.clone());
                }
                Ok(req.body(source.body(len)?))
            },
            drain,
        )
    }

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
        self.send_with_retry(Idempotency::Idempotent, || Ok(HttpRequest::get(url)), Ok)
    }

    /// Downloads a signed URL to `path`, through a `.part` file renamed at the end, so that
    /// `path` only ever holds a complete download. A connection dropped mid-body is
    /// retried from the start. Returns the number of bytes written.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let url = "";
    /// let n = api.download_to_file(url, std::path::Path::new("out/results.jsonl"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn download_to_file(&self, url: &str, path: &Path) -> Result<u64> {
        check_signed_url("downloadURL", url)?;
        let part = part_path(path);
        let written = self.send_with_retry(
            Idempotency::Idempotent,
            || Ok(HttpRequest::get(url)),
            |mut resp| {
                let result = write_complete(&mut resp, &part);
                if result.is_err() {
                    let _ = std::fs::remove_file(&part);
                }
                result
            },
        );
        let n = written.map_err(|e| match e {
            // Keep which file was being written; the transport error keeps why.
            Error::Transport { source, .. } => Error::Io {
                context: format!("downloading to {}", path.display()),
                source: std::io::Error::other(source),
            },
            other => other,
        })?;
        std::fs::rename(&part, path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", part.display(), path.display()),
                e,
            )
        })?;
        Ok(n)
    }
}

/// Streams a response into `part`, checking the length the server declared.
fn write_complete(resp: &mut HttpResponse, part: &Path) -> std::io::Result<u64> {
    let expected = resp
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut f = std::fs::File::create(part)?;
    let n = std::io::copy(&mut resp.body, &mut f)?;
    if let Some(want) = expected
        && n != want
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("got {n} of {want} bytes"),
        ));
    }
    f.sync_all()?;
    Ok(n)
}

fn part_path(path: &Path) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

/// Reads a response to the end so its connection can be reused.
fn drain(resp: HttpResponse) -> std::io::Result<()> {
    std::io::copy(
        &mut std::io::Read::take(resp.body, 1 << 20),
        &mut std::io::sink(),
    )
    .map(drop)
}

fn check_signed_url(field: &str, url: &str) -> Result<()> {
    crate::model::job_request::check_http_url(field, url)
}
