//! Uploads to signed URLs with their extension headers. The API key is never sent to them.

use super::BatchApi;
use super::call::UploadSource;
use super::requests::RequestKind;
use super::retry::{Idempotency, drain};
use crate::error::{Error, Result};
use crate::model::SignedUrlDetails;
use crate::transport::{HttpRequest, Method};

impl BatchApi {
    /// Uploads bytes to a signed URL with its `extensionHeaders`, streaming with
    /// `Content-Length`. The API key is never sent. Retried like any idempotent request: the
    /// source is read afresh on each try.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let target = api.request_shard_upload("big-batch", None)?;
    /// api.put_signed(&target, &roboflow_batch::api::UploadSource::file("shard.tar"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn put_signed(&self, target: &SignedUrlDetails, source: &UploadSource) -> Result<()> {
        let method = target.method.as_deref().map(str::to_ascii_uppercase);
        let method = match method.as_deref() {
            None | Some("PUT") => Method::Put,
            Some("POST") => Method::Post,
            Some(other) => {
                return Err(Error::invalid(
                    "signedURLDetails.method",
                    format!("only PUT and POST uploads are supported, got {other:?}"),
                ));
            }
        };
        crate::model::job_request::check_http_url("uploadURL", &target.upload_url)?;
        let len = source.len()?;
        self.send(
            RequestKind::UploadPut,
            Idempotency::Idempotent,
            || {
                let mut req = HttpRequest::new(method, target.upload_url.clone());
                for (k, v) in &target.extension_headers {
                    req = req.with_header(k.clone(), v.clone());
                }
                Ok(req.body(source.body(len)?))
            },
            // Read, so that the connection can be reused.
            |resp| drain(resp.body, 1 << 20),
        )
    }
}
