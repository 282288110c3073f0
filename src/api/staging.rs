//! Data Staging endpoints: workspace, batches, uploads, shards, parts and files.

use super::BatchApi;
use super::call::Call;
use super::paging::Pages;
use super::requests::RequestKind as K;
use super::retry::Idempotency;
use crate::error::{Error, Result};
use crate::model::*;

impl BatchApi {
    /// A call to `…/batches[/{batch_id}]{rest}`, the id checked before anything is sent.
    fn staging_call(&self, kind: K, batch_id: Option<&str>, rest: &str) -> Result<Call> {
        let batch = batch_id.map(BatchId::new).transpose()?;
        let id = batch.as_ref().map(BatchId::as_str);
        self.workspace_call(kind, ("data-staging", "batches"), id, rest)
    }

    /// `GET /`: the workspace the API key belongs to. Prefer [`workspace`](Self::workspace),
    /// which remembers it.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// println!("{}", api.fetch_workspace()?.workspace);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn fetch_workspace(&self) -> Result<WorkspaceInfo> {
        self.execute_json(&Call::new(K::Workspace, "/".into()))
    }

    /// Every batch of the workspace (`GET …/batches`; see [`Pages`] for the page size).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let first = api.batches(None).next().transpose()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batches(&self, page_size: Option<u32>) -> Pages<'_, BatchMetadata> {
        let call = || self.staging_call(K::ListBatches, None, "");
        self.listing("batches", page_size, call, |r: ListBatchesResponse| {
            (r.batches, r.next_page_token)
        })
    }

    /// A batch's metadata (`GET …/batches/{batch_id}`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// println!("{}", api.batch("my-batch")?.display_name);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch(&self, batch_id: impl AsRef<str>) -> Result<BatchMetadata> {
        let call = self.staging_call(K::Batch, Some(batch_id.as_ref()), "")?;
        Ok(self.execute_json::<BatchResponse>(&call)?.batch)
    }

    /// How many items a batch (or one part of it) holds (`GET …/count`). Bulk uploads are
    /// indexed in the background, so the count lags behind the uploads.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.batch_count("my-batch", None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch_count(&self, batch_id: impl AsRef<str>, part_name: Option<&str>) -> Result<u64> {
        let call = self.staging_call(K::BatchCount, Some(batch_id.as_ref()), "/count")?;
        let call = call.query_opt("partName", part_name);
        Ok(self.execute_json::<CountResponse>(&call)?.count)
    }

    /// The parts of a multipart (output) batch (`GET …/parts`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let parts = api.list_parts("job-1-export")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_parts(&self, batch_id: impl AsRef<str>) -> Result<Vec<PartMetadata>> {
        let call = self.staging_call(K::ListParts, Some(batch_id.as_ref()), "/parts")?;
        Ok(self.execute_json::<ListPartsResponse>(&call)?.into_parts())
    }

    /// Every file of a batch (or part) with its download URL (`GET …/list`; see [`Pages`]).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.files("job-1-export", None, None).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn files<'a>(
        &'a self,
        batch_id: impl AsRef<str> + Send + 'a,
        part_name: Option<&'a str>,
        page_size: Option<u32>,
    ) -> Pages<'a, FileMetadata> {
        let what = format!("files of {}", batch_id.as_ref());
        let call = move || {
            let c = self.staging_call(K::ListFiles, Some(batch_id.as_ref()), "/list")?;
            Ok(c.query_opt("partName", part_name))
        };
        self.listing(what, page_size, call, |r: ListFilesResponse| {
            (r.files_metadata, r.next_page_token)
        })
    }

    /// Every shard of a bulk-upload batch with its indexing status (`GET …/shards`; see
    /// [`Pages`] for the page size).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.shards("my-batch", None).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn shards<'a>(
        &'a self,
        batch_id: impl AsRef<str> + Send + 'a,
        page_size: Option<u32>,
    ) -> Pages<'a, ShardDetails> {
        let what = format!("shards of {}", batch_id.as_ref());
        let call = move || self.staging_call(K::ListShards, Some(batch_id.as_ref()), "/shards");
        self.listing(what, page_size, call, |r: ListShardsResponse| {
            (r.shards, r.next_page_token)
        })
    }

    /// Uploads one image as multipart form data (`POST …/upload/image`); a batch filled this
    /// way cannot also take bulk uploads. `display_name` defaults to the batch id.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// api.upload_image("my-batch", "cat.jpg", &std::fs::read("cat.jpg").unwrap(), None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn upload_image(
        &self,
        batch_id: impl AsRef<str>,
        file_name: &str,
        bytes: &[u8],
        display_name: Option<&str>,
    ) -> Result<()> {
        let batch_id = batch_id.as_ref();
        check_file_name("file_name", file_name)?;
        let mut call = self
            .staging_call(K::SingleUpload, Some(batch_id), "/upload/image")?
            .query("displayName", display_name.unwrap_or(batch_id))
            .query("fileName", file_name);
        call.body = Some(multipart_file(file_name, bytes));
        self.execute_ignoring_body(&call)
    }

    /// Asks for a signed URL to upload one video (`POST …/upload/video`); then
    /// [`put_signed`](Self::put_signed) the file to it.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let target = api.request_video_upload("my-videos", "clip.mp4", None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request_video_upload(
        &self,
        batch_id: impl AsRef<str>,
        file_name: &str,
        display_name: Option<&str>,
    ) -> Result<SignedUrlDetails> {
        let batch_id = batch_id.as_ref();
        check_file_name("file_name", file_name)?;
        let call = self
            .staging_call(K::UploadUrl, Some(batch_id), "/upload/video")?
            .query("fileName", file_name)
            .query("displayName", display_name.unwrap_or(batch_id));
        Ok(self
            .execute_json::<SignedUrlResponse>(&call)?
            .signed_url_details)
    }

    /// Asks for a signed URL to upload one tar shard of images, with the shard limits
    /// (`POST …/bulk-upload/image-files`); then [`put_signed`](Self::put_signed) the tar.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let target = api.request_shard_upload("big-batch", None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request_shard_upload(
        &self,
        batch_id: impl AsRef<str>,
        display_name: Option<&str>,
    ) -> Result<SignedUrlDetails> {
        let batch_id = batch_id.as_ref();
        let call = self
            .staging_call(K::UploadUrl, Some(batch_id), "/bulk-upload/image-files")?
            .query("displayName", display_name.unwrap_or(batch_id));
        Ok(self
            .execute_json::<SignedUrlResponse>(&call)?
            .signed_url_details)
    }

    /// Ingests images by reference (`POST …/bulk-upload/image-references`). Without an
    /// `ingest_id`, one derived from the batch and the body is sent, so a retry is answered
    /// as `duplicated`. Each read may take twice the read timeout, as in the official client.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::model::ReferencesIngest;
    /// let body = ReferencesIngest { image_references_url: Some("https://b/refs.jsonl".into()), ..Default::default() };
    /// let r = api.ingest_image_references("my-batch", &body, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_image_references(
        &self,
        batch_id: impl AsRef<str>,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        self.ingest_references("image", batch_id.as_ref(), body, display_name)
    }

    /// Ingests videos by reference (`POST …/bulk-upload/video-references`), as
    /// [`ingest_image_references`](Self::ingest_image_references) does images; the body's
    /// fields are sent under their video names.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # let body = roboflow_batch::model::ReferencesIngest::default();
    /// api.ingest_video_references("my-videos", &body, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_video_references(
        &self,
        batch_id: impl AsRef<str>,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        self.ingest_references("video", batch_id.as_ref(), body, display_name)
    }

    fn ingest_references(
        &self,
        kind: &str,
        batch_id: &str,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        validate_references(body)?;
        let mut value =
            serde_json::to_value(body).map_err(|e| Error::invalid("references", e.to_string()))?;
        let obj = value.as_object_mut();
        if let Some(obj) = obj.filter(|_| kind == "video") {
            for (image, video) in [
                ("imageReferences", "videoReferences"),
                ("imageReferencesURL", "videoReferencesURL"),
            ] {
                if let Some(v) = obj.remove(image) {
                    obj.insert(video.into(), v);
                }
            }
        }
        if body.ingest_id.is_none() {
            // The body as sent (its keys sorted): the same references are the same ingest.
            let id = crate::ids::request_id(batch_id, &value.to_string());
            if let Some(obj) = value.as_object_mut() {
                obj.insert("ingestId".into(), id.into());
            }
        }
        let rest = format!("/bulk-upload/{kind}-references");
        let mut call = self
            .staging_call(K::ReferencesIngest, Some(batch_id), &rest)?
            .query("displayName", display_name.unwrap_or(batch_id))
            .json(&value)?;
        call.read_timeout_factor = 2;
        self.execute_json(&call)
    }

    /// Ingests the Asset Library images a RoboQL query selects (`POST …/roboql-ingest`) and
    /// returns the service's undocumented answer. Without an ingest id, a try that timed out
    /// is not repeated (the same query run later may rightly select new images).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// api.ingest_roboql("cars", &roboflow_batch::model::RoboQlIngest::new("tag:cars"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_roboql(
        &self,
        batch_id: impl AsRef<str>,
        body: &RoboQlIngest,
    ) -> Result<serde_json::Value> {
        if body.query.trim().is_empty() {
            return Err(Error::invalid("query", "must not be empty"));
        }
        if let Some(url) = &body.notifications_url {
            crate::model::job_request::check_http_url("notificationsURL", url)?;
        }
        let mut call = self
            .staging_call(K::RoboqlIngest, Some(batch_id.as_ref()), "/roboql-ingest")?
            .json(body)?;
        if body.ingest_id.is_none() {
            call.idempotency = Idempotency::NotIdempotent;
        }
        let answer = self.execute(&call, |r| r.read_body(super::call::MAX_JSON_BODY))?;
        // Any 2xx is success; an empty or non-JSON body is kept as null.
        Ok(serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null))
    }
}

/// A multipart/form-data body with one file part in the official client's form (notes
/// §4.3): field and file name both the file's name, no part `Content-Type`, quotes and line
/// breaks percent-escaped as urllib3 does.
fn multipart_file(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("rfbatch-{}", crate::rand::hex(12));
    let name = file_name
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n"
    );
    let mut body = head.into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A plain file name: no separators, no `.`/`..`, no control characters, 1 to 512 bytes
/// (the sandbox checks with it too).
pub(crate) fn check_file_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 512 {
        return Err(Error::invalid(field, "must be 1 to 512 bytes long"));
    }
    if name.contains(['/', '\\'])
        || name == "."
        || name == ".."
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            field,
            format!(
                "must be a plain file name without path separators or control characters, got {name:?}"
            ),
        ));
    }
    Ok(())
}

const REFERENCE_URL_RULE: &str =
    "must be an https:// URL (plain http:// only to this machine: localhost, 127.0.0.0/8, [::1])";

/// Whether a reference may point at `url`: `https://`, or plain `http://` to a loopback
/// host (local emulators and the sandbox; the official client refuses all `http://`).
fn is_reference_url(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    crate::urls::scheme_and_host(url)
        .is_some_and(|(scheme, host)| scheme == "http" && crate::urls::is_loopback_host(&host))
}

fn validate_references(body: &ReferencesIngest) -> Result<()> {
    match (&body.image_references, &body.image_references_url) {
        (Some(_), Some(_)) | (None, None) => {
            let rule = "set exactly one of the inline list and the list's URL";
            return Err(Error::invalid("references", rule));
        }
        (Some(list), None) => {
            if list.is_empty() {
                return Err(Error::invalid("references", "the list is empty"));
            }
            let mut names = std::collections::HashSet::new();
            for (i, r) in list.iter().enumerate() {
                let field = |f: &str| format!("references[{i}].{f}");
                check_file_name(&field("name"), &r.name)?;
                if !names.insert(r.name.as_str()) {
                    let rule = format!("names must be unique; {:?} repeats", r.name);
                    return Err(Error::invalid(field("name"), rule));
                }
                if !is_reference_url(&r.url) {
                    return Err(Error::invalid(field("url"), REFERENCE_URL_RULE));
                }
            }
        }
        (None, Some(url)) if !is_reference_url(url) => {
            return Err(Error::invalid("references URL", REFERENCE_URL_RULE));
        }
        (None, Some(_)) => {}
    }
    if let Some(url) = &body.notifications_url {
        crate::model::job_request::check_http_url("notificationsURL", url)?;
    }
    if let Some(bad) = body
        .notification_categories
        .iter()
        .flatten()
        .find(|c| !c.is_known())
    {
        let known = NotificationCategory::KNOWN.join(", ");
        let rule = format!("must be one of {known}, got {:?}", bad.as_str());
        return Err(Error::invalid("notificationCategories", rule));
    }
    Ok(())
}
