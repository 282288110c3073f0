//! Data Staging endpoints: workspace, batches, uploads, shards, parts and files.

use super::BatchApi;
use super::call::Call;
use super::paging::{ListOptions, Pages};
use super::requests::RequestKind as K;
use super::retry::Idempotency;
use crate::error::{Error, Result};
use crate::model::*;
use crate::urls::encode;

/// Pure builders: a workspace and arguments in, a [`Call`] out.
pub(crate) mod build {
    use super::*;

    pub fn batch_path(ws: &str, batch: &BatchId, rest: &str) -> String {
        format!(
            "/data-staging/v1/external/{}/batches/{}{rest}",
            encode(ws),
            encode(batch.as_str())
        )
    }

    pub fn workspace() -> Call {
        Call::get(K::Workspace, "/".into())
    }

    pub fn list_batches(ws: &str, opts: &ListOptions) -> Call {
        let mut c = Call::get(
            K::ListBatches,
            format!("/data-staging/v1/external/{}/batches", encode(ws)),
        );
        c.query.extend(opts.query());
        c
    }

    pub fn batch(ws: &str, batch: &BatchId) -> Call {
        Call::get(K::Batch, batch_path(ws, batch, ""))
    }

    pub fn count(ws: &str, batch: &BatchId, part: Option<&str>) -> Call {
        Call::get(K::BatchCount, batch_path(ws, batch, "/count")).query_opt("partName", part)
    }

    pub fn parts(ws: &str, batch: &BatchId) -> Call {
        Call::get(K::ListParts, batch_path(ws, batch, "/parts"))
    }

    pub fn files(ws: &str, batch: &BatchId, part: Option<&str>, opts: &ListOptions) -> Call {
        let mut c = Call::get(K::ListFiles, batch_path(ws, batch, "/list"));
        c.query.extend(opts.query());
        c.query_opt("partName", part)
    }

    pub fn shards(ws: &str, batch: &BatchId, opts: &ListOptions) -> Call {
        let mut c = Call::get(K::ListShards, batch_path(ws, batch, "/shards"));
        c.query.extend(opts.query());
        c
    }

    pub fn upload_image(
        ws: &str,
        batch: &BatchId,
        file_name: &str,
        display_name: &str,
        multipart: (String, Vec<u8>),
    ) -> Call {
        // Keyed by file name on the service: a repeat replaces, never duplicates.
        let mut c = Call::post(
            K::SingleUpload,
            batch_path(ws, batch, "/upload/image"),
            Idempotency::Idempotent,
        )
        .query("displayName", display_name)
        .query("fileName", file_name);
        c.body = Some(multipart);
        c
    }

    pub fn upload_video(ws: &str, batch: &BatchId, file_name: &str, display_name: &str) -> Call {
        // A repeat only hands out another signed URL.
        Call::post(
            K::UploadUrl,
            batch_path(ws, batch, "/upload/video"),
            Idempotency::Idempotent,
        )
        .query("fileName", file_name)
        .query("displayName", display_name)
    }

    pub fn bulk_upload(ws: &str, batch: &BatchId, display_name: &str) -> Call {
        Call::post(
            K::UploadUrl,
            batch_path(ws, batch, "/bulk-upload/image-files"),
            Idempotency::Idempotent,
        )
        .query("displayName", display_name)
    }

    pub fn references(
        ws: &str,
        batch: &BatchId,
        kind: &str,
        display_name: &str,
        body: &ReferencesIngest,
    ) -> Result<Call> {
        let mut value =
            serde_json::to_value(body).map_err(|e| Error::invalid("references", e.to_string()))?;
        if kind == "video"
            && let Some(obj) = value.as_object_mut()
        {
            if let Some(v) = obj.remove("imageReferences") {
                obj.insert("videoReferences".into(), v);
            }
            if let Some(v) = obj.remove("imageReferencesURL") {
                obj.insert("videoReferencesURL".into(), v);
            }
        }
        // With an ingest id the service recognises a repeat (`duplicated: true`), so a
        // POST whose answer was lost can be sent again: without one, an id derived from the
        // batch and the body is sent.
        if body.ingest_id.is_none() {
            let id = derived_references_id(batch, &value);
            if let Some(obj) = value.as_object_mut() {
                obj.insert("ingestId".into(), id.into());
            }
        }
        let mut call = Call::post(
            K::ReferencesIngest,
            batch_path(ws, batch, &format!("/bulk-upload/{kind}-references")),
            Idempotency::Idempotent,
        )
        .query("displayName", display_name)
        .json(&value)?;
        // The service may take long to answer for many references: the official client
        // allows these twice its timeout.
        call.read_timeout_factor = 2;
        Ok(call)
    }
}

/// The ingest id sent with references that came without one: `rfbatch-` and 32 hex digits
/// of a hash of the batch id and the body as sent (its keys sorted), so the same references
/// sent again are the same ingest.
fn derived_references_id(batch: &BatchId, body: &serde_json::Value) -> String {
    crate::ids::request_id(batch.as_str(), &body.to_string())
}

/// `POST …/roboql-ingest`, retried only when an ingest id makes a repeat recognisable.
pub(crate) fn roboql_call(ws: &str, batch: &BatchId, body: &RoboQlIngest) -> Result<Call> {
    let idem = if body.ingest_id.is_some() {
        Idempotency::Idempotent
    } else {
        Idempotency::NotIdempotent
    };
    Call::post(
        K::RoboqlIngest,
        build::batch_path(ws, batch, "/roboql-ingest"),
        idem,
    )
    .json(body)
}

/// A multipart/form-data body with one file part, in the official client's form (notes
/// §4.3): the part's field name and file name are both the file's name, and the part has
/// no `Content-Type`. Quotes and line breaks in the name are percent-escaped, as
/// `requests` (urllib3) escapes them.
pub(crate) fn multipart_file(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("rfbatch-{}", crate::rand::hex(12));
    let name = file_name
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
            .as_bytes(),
    );
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

fn page<T>(items: Vec<T>, next_page_token: Option<String>) -> Page<T> {
    Page {
        items,
        next_page_token,
    }
}

impl BatchApi {
    /// `GET /`: the workspace the API key belongs to. Prefer [`workspace`](Self::workspace),
    /// which remembers it.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// println!("{}", api.fetch_workspace()?.workspace);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn fetch_workspace(&self) -> Result<WorkspaceInfo> {
        self.execute_json(&build::workspace())
    }

    /// One page of the workspace's batches (`GET …/batches`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// let page = api.list_batches_page(&ListOptions::default().page_size(10))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_batches_page(&self, opts: &ListOptions) -> Result<Page<BatchMetadata>> {
        opts.validate()?;
        let r: ListBatchesResponse =
            self.execute_json(&build::list_batches(&self.workspace()?, opts))?;
        Ok(page(r.batches, r.next_page_token))
    }

    /// Every batch of the workspace, following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for batch in api.batches(None) {
    ///     println!("{}", batch?.batch_id);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batches(&self, page_size: Option<u32>) -> Pages<'_, BatchMetadata> {
        let opts = ListOptions::first_page(page_size);
        Pages::new("batches", opts, move |o: &ListOptions| {
            self.list_batches_page(o)
        })
    }

    /// A batch's metadata (`GET …/batches/{batch_id}`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let meta = api.batch("my-batch")?;
    /// println!("{} ({})", meta.display_name, meta.batch_type);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch(&self, batch_id: impl AsRef<str>) -> Result<BatchMetadata> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        let r: BatchResponse = self.execute_json(&build::batch(&self.workspace()?, &batch))?;
        Ok(r.batch)
    }

    /// How many items a batch (or one part of it) holds (`GET …/count`).
    ///
    /// Bulk uploads are indexed in the background, so the count lags behind the uploads.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.batch_count("my-batch", None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch_count(&self, batch_id: impl AsRef<str>, part_name: Option<&str>) -> Result<u64> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        let r: CountResponse =
            self.execute_json(&build::count(&self.workspace()?, &batch, part_name))?;
        Ok(r.count)
    }

    /// The parts of a multipart (output) batch (`GET …/parts`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for part in api.list_parts("job-1-export")? {
    ///     println!("{}", part.part_name);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_parts(&self, batch_id: impl AsRef<str>) -> Result<Vec<PartMetadata>> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        let r: ListPartsResponse = self.execute_json(&build::parts(&self.workspace()?, &batch))?;
        Ok(r.into_parts())
    }

    /// One page of a batch's files with their download URLs (`GET …/list`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// let page = api.list_files_page("job-1-export", Some("results"), &ListOptions::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_files_page(
        &self,
        batch_id: impl AsRef<str>,
        part_name: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Page<FileMetadata>> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        opts.validate()?;
        let r: ListFilesResponse =
            self.execute_json(&build::files(&self.workspace()?, &batch, part_name, opts))?;
        Ok(page(r.files_metadata, r.next_page_token))
    }

    /// Every file of a batch (or part), following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let files: Vec<_> = api.files("job-1-export", None, Some(100)).collect::<Result<_, _>>()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn files<'a>(
        &'a self,
        batch_id: impl AsRef<str> + Send + 'a,
        part_name: Option<&'a str>,
        page_size: Option<u32>,
    ) -> Pages<'a, FileMetadata> {
        if let Err(e) = BatchId::new(batch_id.as_ref()) {
            return Pages::failed(e);
        }
        let what = format!("files of {}", batch_id.as_ref());
        Pages::new(what, ListOptions::first_page(page_size), move |o| {
            self.list_files_page(batch_id.as_ref(), part_name, o)
        })
    }

    /// One page of a bulk-upload batch's shards and their indexing status (`GET …/shards`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// let page = api.list_shards_page("my-batch", &ListOptions::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_shards_page(
        &self,
        batch_id: impl AsRef<str>,
        opts: &ListOptions,
    ) -> Result<Page<ShardDetails>> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        opts.validate()?;
        let r: ListShardsResponse =
            self.execute_json(&build::shards(&self.workspace()?, &batch, opts))?;
        Ok(page(r.shards, r.next_page_token))
    }

    /// Every shard of a batch, following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let failed = api.shards("my-batch", None).filter(|s| s.as_ref().map_or(true, |s| s.is_failed())).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn shards<'a>(
        &'a self,
        batch_id: impl AsRef<str> + Send + 'a,
        page_size: Option<u32>,
    ) -> Pages<'a, ShardDetails> {
        if let Err(e) = BatchId::new(batch_id.as_ref()) {
            return Pages::failed(e);
        }
        let what = format!("shards of {}", batch_id.as_ref());
        Pages::new(what, ListOptions::first_page(page_size), move |o| {
            self.list_shards_page(batch_id.as_ref(), o)
        })
    }

    /// Uploads one image as multipart form data (`POST …/upload/image`).
    ///
    /// Best for small batches; a batch filled this way cannot also take bulk uploads.
    /// `display_name` defaults to the batch id.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let bytes = std::fs::read("cat.jpg").unwrap();
    /// api.upload_image("my-batch", "cat.jpg", &bytes, None)?;
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
        let batch = BatchId::new(batch_id)?;
        check_file_name("file_name", file_name)?;
        let call = build::upload_image(
            &self.workspace()?,
            &batch,
            file_name,
            display_name.unwrap_or(batch_id),
            multipart_file(file_name, bytes),
        );
        // Any 2xx means stored; the body is read (so the connection can be reused) and
        // ignored, as the official client ignores it: it may be empty or not JSON.
        let resp = self.execute(&call)?;
        let _ = resp.read_body(super::call::MAX_JSON_BODY);
        Ok(())
    }

    /// Asks for a signed URL to upload one video (`POST …/upload/video`); then
    /// [`put_signed`](Self::put_signed) the file to it.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::UploadSource;
    /// let target = api.request_video_upload("my-videos", "clip.mp4", None)?;
    /// api.put_signed(&target, &UploadSource::file("clip.mp4"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request_video_upload(
        &self,
        batch_id: impl AsRef<str>,
        file_name: &str,
        display_name: Option<&str>,
    ) -> Result<SignedUrlDetails> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        check_file_name("file_name", file_name)?;
        let call = build::upload_video(
            &self.workspace()?,
            &batch,
            file_name,
            display_name.unwrap_or(batch_id),
        );
        let r: SignedUrlResponse = self.execute_json(&call)?;
        Ok(r.signed_url_details)
    }

    /// Asks for a signed URL to upload one tar shard of images
    /// (`POST …/bulk-upload/image-files`); then [`put_signed`](Self::put_signed) the tar.
    ///
    /// The answer carries the shard limits (`max_number_of_images`, `max_shard_size`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::UploadSource;
    /// let target = api.request_shard_upload("big-batch", None)?;
    /// api.put_signed(&target, &UploadSource::file("shard-0.tar"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request_shard_upload(
        &self,
        batch_id: impl AsRef<str>,
        display_name: Option<&str>,
    ) -> Result<SignedUrlDetails> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        let call = build::bulk_upload(&self.workspace()?, &batch, display_name.unwrap_or(batch_id));
        let r: SignedUrlResponse = self.execute_json(&call)?;
        Ok(r.signed_url_details)
    }

    /// Ingests images by reference (`POST …/bulk-upload/image-references`).
    ///
    /// The request is always safe to retry after a timeout: without an `ingest_id`, one
    /// derived from the batch and the body is sent (`rfbatch-…`; the official client sends
    /// none), so a repeat is answered as `duplicated` rather than ingested twice. Each read
    /// may take twice the transport's read timeout (120 s by default), as the official
    /// client allows these requests.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::{FileReference, ReferencesIngest};
    /// let body = ReferencesIngest {
    ///     image_references: Some(vec![FileReference { name: "a.jpg".into(), url: "https://bucket/a.jpg?sig=…".into() }]),
    ///     ingest_id: Some("ingest-1".into()),
    ///     ..Default::default()
    /// };
    /// let r = api.ingest_image_references("my-batch", &body, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_image_references(
        &self,
        batch_id: impl AsRef<str>,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        let batch_id = batch_id.as_ref();
        self.ingest_references("image", batch_id, body, display_name)
    }

    /// Ingests videos by reference (`POST …/bulk-upload/video-references`); the body's
    /// fields are sent under their video names.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::ReferencesIngest;
    /// let body = ReferencesIngest { image_references_url: Some("https://bucket/refs.jsonl".into()), ..Default::default() };
    /// api.ingest_video_references("my-videos", &body, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_video_references(
        &self,
        batch_id: impl AsRef<str>,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        let batch_id = batch_id.as_ref();
        self.ingest_references("video", batch_id, body, display_name)
    }

    /// Ingests the Asset Library images a RoboQL query selects (`POST …/roboql-ingest`).
    /// Returns the service's answer, whose shape is not documented.
    ///
    /// Without an ingest id, a try that timed out is not repeated (unlike references, no
    /// id is derived: the same query run later may rightly select new images, and a
    /// derived id would make it a repeat); set one to make retries safe.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::RoboQlIngest;
    /// api.ingest_roboql("cars", &RoboQlIngest::new("tag:cars").with_ingest_id("cars-1"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_roboql(
        &self,
        batch_id: impl AsRef<str>,
        body: &RoboQlIngest,
    ) -> Result<serde_json::Value> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        if body.query.trim().is_empty() {
            return Err(Error::invalid("query", "must not be empty"));
        }
        if let Some(url) = &body.notifications_url {
            crate::model::job_request::check_http_url("notificationsURL", url)?;
        }
        let resp = self.execute(&roboql_call(&self.workspace()?, &batch, body)?)?;
        let body = resp
            .read_body(super::call::MAX_JSON_BODY)
            .map_err(|e| Error::io("reading the RoboQL ingest answer", e))?;
        // Any 2xx is success; an empty or non-JSON body is kept as null.
        Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    fn ingest_references(
        &self,
        kind: &str,
        batch_id: impl AsRef<str>,
        body: &ReferencesIngest,
        display_name: Option<&str>,
    ) -> Result<ReferencesIngestResponse> {
        let batch_id = batch_id.as_ref();
        let batch = BatchId::new(batch_id)?;
        validate_references(body)?;
        let call = build::references(
            &self.workspace()?,
            &batch,
            kind,
            display_name.unwrap_or(batch_id),
            body,
        )?;
        self.execute_json(&call)
    }
}

const REFERENCE_URL_RULE: &str =
    "must be an https:// URL (plain http:// only to this machine: localhost, 127.0.0.0/8, [::1])";

/// Whether a reference may point at `url`: `https://`, or plain `http://` to a loopback
/// host (local emulators and the sandbox; the official client refuses all `http://`).
fn is_reference_url(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    // The same loopback rule as the sandbox's fetches (`crate::urls::is_loopback_host`).
    crate::urls::scheme_and_host(url)
        .is_some_and(|(scheme, host)| scheme == "http" && crate::urls::is_loopback_host(&host))
}

fn validate_references(body: &ReferencesIngest) -> Result<()> {
    match (&body.image_references, &body.image_references_url) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::invalid(
                "references",
                "set exactly one of the inline list and the list's URL",
            ));
        }
        (Some(list), None) => {
            if list.is_empty() {
                return Err(Error::invalid("references", "the list is empty"));
            }
            let mut names = std::collections::HashSet::new();
            for (i, r) in list.iter().enumerate() {
                check_file_name(&format!("references[{i}].name"), &r.name)?;
                if !names.insert(r.name.as_str()) {
                    return Err(Error::invalid(
                        format!("references[{i}].name"),
                        format!("names must be unique; {:?} repeats", r.name),
                    ));
                }
                if !is_reference_url(&r.url) {
                    return Err(Error::invalid(
                        format!("references[{i}].url"),
                        REFERENCE_URL_RULE,
                    ));
                }
            }
        }
        (None, Some(url)) => {
            if !is_reference_url(url) {
                return Err(Error::invalid("references URL", REFERENCE_URL_RULE));
            }
        }
    }
    if let Some(url) = &body.notifications_url {
        crate::model::job_request::check_http_url("notificationsURL", url)?;
    }
    if let Some(cats) = &body.notification_categories
        && let Some(bad) = cats.iter().find(|c| !c.is_known())
    {
        return Err(Error::invalid(
            "notificationCategories",
            format!(
                "must be one of {}, got {:?}",
                NotificationCategory::KNOWN.join(", "),
                bad.as_str()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileReference;
    use crate::transport::Method;

    fn b(s: &str) -> BatchId {
        BatchId::new(s).unwrap()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn builders_table() {
        let o = ListOptions::default().page_size(5).page_token("t 1");
        let cases: Vec<(Call, Method, &str, Vec<(&str, &str)>)> = vec![
            (build::workspace(), Method::Get, "/", vec![]),
            (
                build::list_batches("ws", &o),
                Method::Get,
                "/data-staging/v1/external/ws/batches",
                vec![("pageSize", "5"), ("nextPageToken", "t 1")],
            ),
            (
                build::batch("ws", &b("b1")),
                Method::Get,
                "/data-staging/v1/external/ws/batches/b1",
                vec![],
            ),
            (
                build::count("ws", &b("b1"), Some("p")),
                Method::Get,
                "/data-staging/v1/external/ws/batches/b1/count",
                vec![("partName", "p")],
            ),
            (
                build::parts("ws", &b("b1")),
                Method::Get,
                "/data-staging/v1/external/ws/batches/b1/parts",
                vec![],
            ),
            (
                build::files("ws", &b("b1"), Some("p"), &o),
                Method::Get,
                "/data-staging/v1/external/ws/batches/b1/list",
                vec![
                    ("pageSize", "5"),
                    ("nextPageToken", "t 1"),
                    ("partName", "p"),
                ],
            ),
            (
                build::shards("ws", &b("b1"), &ListOptions::default()),
                Method::Get,
                "/data-staging/v1/external/ws/batches/b1/shards",
                vec![],
            ),
            (
                build::upload_video("ws", &b("b1"), "v.mp4", "Vids"),
                Method::Post,
                "/data-staging/v1/external/ws/batches/b1/upload/video",
                vec![("fileName", "v.mp4"), ("displayName", "Vids")],
            ),
            (
                build::bulk_upload("ws", &b("b1"), "b1"),
                Method::Post,
                "/data-staging/v1/external/ws/batches/b1/bulk-upload/image-files",
                vec![("displayName", "b1")],
            ),
        ];
        for (call, method, path, query) in cases {
            assert_eq!(call.method, method, "{path}");
            assert_eq!(call.path, path);
            let got: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(got, query, "{path}");
        }
    }

    #[test]
    fn video_references_are_renamed() {
        let body = ReferencesIngest {
            image_references_url: Some("https://x/refs.jsonl".into()),
            ..Default::default()
        };
        let c = build::references("ws", &b("v"), "video", "v", &body).unwrap();
        assert_eq!(c.idempotency, Idempotency::Idempotent);
        assert_eq!(c.read_timeout_factor, 2);
        let mut v: serde_json::Value = serde_json::from_slice(&c.body.unwrap().1).unwrap();
        let id = v["ingestId"].as_str().unwrap().to_string();
        assert!(id.starts_with("rfbatch-") && id.len() == 40, "{id}");
        v.as_object_mut().unwrap().remove("ingestId");
        assert_eq!(
            v,
            serde_json::json!({"videoReferencesURL": "https://x/refs.jsonl"})
        );
    }

    #[test]
    fn references_without_an_ingest_id_get_one_derived_from_batch_and_body() {
        let body = |url: &str, id: Option<&str>| ReferencesIngest {
            image_references: Some(vec![FileReference {
                name: "a.jpg".into(),
                url: url.into(),
            }]),
            ingest_id: id.map(Into::into),
            ..Default::default()
        };
        let sent_id = |batch: &str, kind: &str, body: &ReferencesIngest| {
            let c = build::references("ws", &b(batch), kind, batch, body).unwrap();
            assert_eq!(c.idempotency, Idempotency::Idempotent);
            assert_eq!(c.read_timeout_factor, 2);
            let v: serde_json::Value = serde_json::from_slice(&c.body.unwrap().1).unwrap();
            v["ingestId"].as_str().unwrap().to_string()
        };
        let a = body("https://s/a.jpg?sig=1", None);
        let id = sent_id("b1", "image", &a);
        assert_eq!(
            id,
            sent_id("b1", "image", &a),
            "the same request, the same id"
        );
        assert_ne!(id, sent_id("b2", "image", &a), "another batch");
        assert_ne!(id, sent_id("b1", "video", &a), "other media");
        assert_ne!(
            id,
            sent_id("b1", "image", &body("https://s/a.jpg?sig=2", None))
        );
        // A given id is sent as it is.
        assert_eq!(
            sent_id("b1", "image", &body("https://s/a.jpg", Some("mine"))),
            "mine"
        );
    }

    #[test]
    fn multipart_has_one_file_part() {
        // The official client's part, as captured (notes §9.3): named after the file,
        // no part Content-Type.
        let (ct, body) = multipart_file("img0.jpg", b"JPEGDATA");
        let boundary = ct.split("boundary=").nth(1).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"img0.jpg\"; filename=\"img0.jpg\"\r\n\r\nJPEGDATA\r\n--{boundary}--\r\n"
            )
        );
        let (_, body) = multipart_file("a\"b.jpg", b"x");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains(r#"name="a%22b.jpg"; filename="a%22b.jpg""#),
            "{text}"
        );
    }

    #[test]
    fn reference_urls_table() {
        let cases = [
            (
                "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=x",
                true,
            ),
            ("http://127.0.0.1:9000/bucket/a.jpg", true),
            ("http://localhost:9000/a.jpg", true),
            ("http://[::1]:10000/devstoreaccount1/c/a.jpg", true),
            ("http://user@127.0.0.2/a.jpg", true),
            ("http://[::ffff:127.0.0.1]:9000/a.jpg", true),
            ("HTTP://LOCALHOST/a.jpg", true),
            ("http://example.com/a.jpg", false),
            ("http://127.0.0.1.evil.example/a.jpg", false),
            ("http://localhost.evil.example/a.jpg", false),
            ("http://[::2]/a.jpg", false),
            ("ftp://127.0.0.1/a.jpg", false),
            ("https://", false),
        ];
        for (url, ok) in cases {
            assert_eq!(is_reference_url(url), ok, "{url}");
        }
    }

    #[test]
    fn references_validation_table() {
        let r = |name: &str, url: &str| FileReference {
            name: name.into(),
            url: url.into(),
        };
        let cases: Vec<(ReferencesIngest, Option<&str>)> = vec![
            (
                ReferencesIngest {
                    image_references: Some(vec![r("a.jpg", "https://x/a")]),
                    ..Default::default()
                },
                None,
            ),
            (ReferencesIngest::default(), Some("exactly one")),
            (
                ReferencesIngest {
                    image_references: Some(vec![]),
                    ..Default::default()
                },
                Some("empty"),
            ),
            (
                ReferencesIngest {
                    image_references: Some(vec![r("a.jpg", "http://x.example/a")]),
                    ..Default::default()
                },
                Some("references[0].url"),
            ),
            (
                ReferencesIngest {
                    image_references: Some(vec![
                        r("a.jpg", "https://x/a"),
                        r("a.jpg", "https://x/b"),
                    ]),
                    ..Default::default()
                },
                Some("unique"),
            ),
            (
                ReferencesIngest {
                    image_references: Some(vec![r("../a.jpg", "https://x/a")]),
                    ..Default::default()
                },
                Some("references[0].name"),
            ),
            (
                ReferencesIngest {
                    image_references_url: Some("http://x.example".into()),
                    ..Default::default()
                },
                Some("https"),
            ),
            (
                ReferencesIngest {
                    image_references_url: Some("https://x".into()),
                    notification_categories: Some(vec![NotificationCategory::Other("x".into())]),
                    ..Default::default()
                },
                Some("notificationCategories"),
            ),
        ];
        for (body, want) in cases {
            match (validate_references(&body), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{e} vs {w}"),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
    }
}
