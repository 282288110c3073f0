//! Data Staging: batches, uploads, shards, parts and files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Timestamp, string_enum};

/// The answer of `GET /`: the workspace the API key belongs to.
///
/// ```
/// let w: roboflow_batch::model::WorkspaceInfo = serde_json::from_str(r#"{"workspace":"acme"}"#).unwrap();
/// assert_eq!(w.workspace, "acme");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    /// The workspace slug used in every path.
    pub workspace: String,
}

/// Where and how to `PUT` an upload: a signed URL and the headers it requires.
///
/// ```
/// use roboflow_batch::model::SignedUrlDetails;
/// let d: SignedUrlDetails = serde_json::from_str(
///     r#"{"uploadURL":"https://s/x?sig=1","extensionHeaders":{"x-goog-meta-a":"1"},"maxShardSize":1024}"#,
/// ).unwrap();
/// assert_eq!(d.extension_headers["x-goog-meta-a"], "1");
/// assert_eq!(d.max_shard_size, Some(1024));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedUrlDetails {
    /// The signed URL. It is a secret: it is never printed whole.
    #[serde(rename = "uploadURL")]
    pub upload_url: String,
    /// The HTTP method, `PUT` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Headers the upload must carry (`null` or absent: none).
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub extension_headers: BTreeMap<String, String>,
    /// The shard's id (bulk uploads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// The most images one tar shard may hold (bulk uploads).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::whole::opt_int"
    )]
    pub max_number_of_images: Option<u64>,
    /// The largest tar shard allowed, in bytes (bulk uploads).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::whole::opt_int"
    )]
    pub max_shard_size: Option<u64>,
    /// The largest file allowed, in bytes (videos).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::whole::opt_int"
    )]
    pub max_file_size: Option<u64>,
}

impl std::fmt::Debug for SignedUrlDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedUrlDetails")
            .field("upload_url", &crate::redact::redact_url(&self.upload_url))
            .field("method", &self.method)
            .field(
                "extension_headers",
                &self.extension_headers.keys().collect::<Vec<_>>(),
            )
            .field("shard_id", &self.shard_id)
            .field("max_number_of_images", &self.max_number_of_images)
            .field("max_shard_size", &self.max_shard_size)
            .field("max_file_size", &self.max_file_size)
            .finish()
    }
}

/// The answer of the upload endpoints that hand out a signed URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedUrlResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The upload target.
    #[serde(rename = "signedURLDetails")]
    pub signed_url_details: SignedUrlDetails,
}

/// A body-less answer: `{"status": "..."}`.
#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StatusResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The answer of `GET …/count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CountResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The number of items.
    #[serde(deserialize_with = "super::whole::int")]
    pub count: u64,
}

string_enum! {
    /// How a batch was filled.
    pub enum BatchType {
        /// Single-image uploads.
        Simple => "simple-batch",
        /// Tar-shard (bulk) uploads.
        Sharded => "sharded-batch",
        /// A job's output, in parts.
        Multipart => "multipart-batch",
    }
}

string_enum! {
    /// What a batch holds.
    pub enum BatchContentType {
        /// Images.
        Images => "images",
        /// Videos.
        Videos => "videos",
        /// Metadata files (CSV, JSONL).
        Metadata => "metadata",
        /// Archives.
        Archives => "archives",
        /// A mix.
        Mixed => "mixed",
    }
}

/// A batch's metadata (`GET /batches`, `GET /batches/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchMetadata {
    /// The human-readable name.
    pub display_name: String,
    /// The id.
    pub batch_id: String,
    /// How it was filled.
    pub batch_type: BatchType,
    /// What it holds.
    pub batch_content_type: BatchContentType,
    /// When it was created.
    pub created_date: Timestamp,
    /// When its data expires.
    pub expiry_date: Timestamp,
}

/// The answer of `GET /batches/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The batch.
    pub batch: BatchMetadata,
}

/// The answer of `GET /batches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListBatchesResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The batches on this page.
    pub batches: Vec<BatchMetadata>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// The status of one uploaded tar shard (`GET …/shards`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardDetails {
    /// The shard's id.
    pub shard_id: String,
    /// A readable status, e.g. `indexing-in-progress`.
    pub status_name: String,
    /// `info` while in progress; contains `error` on failure.
    pub status_type: String,
    /// When the status was last set.
    pub event_timestamp: Timestamp,
    /// How many objects the shard held.
    #[serde(deserialize_with = "super::whole::int")]
    pub shard_objects_count: u64,
    /// Details, such as per-file failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_metadata: Option<serde_json::Value>,
}

impl ShardDetails {
    /// Whether the shard failed (its `statusType` contains `error`).
    ///
    /// ```
    /// let shard: roboflow_batch::model::ShardDetails = serde_json::from_str(r#"{"shardId":"s1","statusName":"indexing-failed",
    ///   "statusType":"error","eventTimestamp":"2025-01-02T03:04:05Z","shardObjectsCount":0}"#).unwrap();
    /// assert!(shard.is_failed() && !shard.is_in_progress());
    /// ```
    pub fn is_failed(&self) -> bool {
        self.status_type.contains("error")
    }

    /// Whether the shard is still being indexed (`statusType` is `info`).
    ///
    /// ```
    /// let shard: roboflow_batch::model::ShardDetails = serde_json::from_str(r#"{"shardId":"s1","statusName":"indexing-in-progress",
    ///   "statusType":"info","eventTimestamp":"2025-01-02T03:04:05Z","shardObjectsCount":10}"#).unwrap();
    /// assert!(shard.is_in_progress() && !shard.is_failed());
    /// ```
    pub fn is_in_progress(&self) -> bool {
        self.status_type == "info"
    }
}

/// The answer of `GET …/shards`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListShardsResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The shards on this page.
    pub shards: Vec<ShardDetails>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One part of a multipart (output) batch.
///
/// The spec's form has only `partName`, so the other fields default to empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartMetadata {
    /// The part's name, used as `partName` in other calls.
    pub part_name: String,
    /// The kind of part.
    #[serde(default)]
    pub part_type: String,
    /// What the part holds (`images`, `metadata`, `archives`, …).
    #[serde(default)]
    pub content_type: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_description: Option<String>,
    /// The content type of what archives hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested_content_type: Option<String>,
}

/// The answer of `GET …/parts`, in either form: the official client reads `batchParts`,
/// the spec says `parts`. An answer with neither is refused (as the official client
/// refuses it), not read as a batch without parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawListParts")]
pub(crate) struct ListPartsResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The parts, as the official client reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_parts: Option<Vec<PartMetadata>>,
    /// The parts, as the spec names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartMetadata>>,
}

/// [`ListPartsResponse`] as sent, before checking that it has its parts.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawListParts {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    batch_parts: Option<Vec<PartMetadata>>,
    #[serde(default)]
    parts: Option<Vec<PartMetadata>>,
}

impl TryFrom<RawListParts> for ListPartsResponse {
    type Error = &'static str;

    fn try_from(r: RawListParts) -> Result<Self, Self::Error> {
        if r.batch_parts.is_none() && r.parts.is_none() {
            return Err("missing field `batchParts` (or `parts`): the answer lists no parts");
        }
        Ok(ListPartsResponse {
            status: r.status,
            batch_parts: r.batch_parts,
            parts: r.parts,
        })
    }
}

impl ListPartsResponse {
    /// The parts, from whichever key the service used (`batchParts` preferred).
    pub(crate) fn into_parts(self) -> Vec<PartMetadata> {
        self.batch_parts.or(self.parts).unwrap_or_default()
    }
}

/// One downloadable file of a batch (`GET …/list`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    /// The signed download URL. It is a secret: it is never printed whole.
    #[serde(rename = "downloadURL")]
    pub download_url: String,
    /// The file's name; save under this, never under the URL's name.
    pub file_name: String,
    /// `image`, `video`, `archive`, …
    pub content_type: String,
    /// The part it belongs to.
    #[serde(default)]
    pub part_name: Option<String>,
    /// The shard it came from.
    #[serde(default)]
    pub shard_id: Option<String>,
    /// The content type inside an archive.
    #[serde(default)]
    pub nested_content_type: Option<String>,
}

impl std::fmt::Debug for FileMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMetadata")
            .field(
                "download_url",
                &crate::redact::redact_url(&self.download_url),
            )
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("part_name", &self.part_name)
            .field("shard_id", &self.shard_id)
            .field("nested_content_type", &self.nested_content_type)
            .finish()
    }
}

/// The answer of `GET …/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListFilesResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The files on this page.
    pub files_metadata: Vec<FileMetadata>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

string_enum! {
    /// Which webhook notifications a references ingest sends.
    pub enum NotificationCategory {
        /// One notification when the ingest ends.
        IngestStatus => "ingest-status",
        /// Per-shard lists of ingested and failed files.
        FilesStatus => "files-status",
    }
}

/// One file to ingest by reference: a unique name and a signed `https://` URL.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReference {
    /// A unique file name within the batch.
    pub name: String,
    /// Where the service fetches it from.
    pub url: String,
}

impl std::fmt::Debug for FileReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReference")
            .field("name", &self.name)
            .field("url", &crate::redact::redact_url(&self.url))
            .finish()
    }
}

/// The body of a references ingest (`POST …/bulk-upload/image-references` or
/// `…/video-references`). Set exactly one of the inline list and the list's URL.
///
/// Serialized with image field names; the client renames them for videos. Its `Debug`
/// output hides the query values of every URL (signed URLs are secrets).
///
/// ```
/// use roboflow_batch::model::{FileReference, ReferencesIngest};
/// let body = ReferencesIngest {
///     image_references: Some(vec![FileReference { name: "a.jpg".into(), url: "https://b/a.jpg?X-Amz-Signature=s1".into() }]),
///     image_references_url: Some("https://b/refs.jsonl?sig=s2".into()),
///     notifications_url: Some("https://hooks/x?token=s3".into()),
///     ..Default::default()
/// };
/// let shown = format!("{body:?}");
/// assert!(shown.contains("a.jpg") && shown.contains("refs.jsonl"));
/// assert!(!shown.contains("s1") && !shown.contains("s2") && !shown.contains("s3"));
/// ```
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencesIngest {
    /// Inline references.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "videoReferences"
    )]
    pub image_references: Option<Vec<FileReference>>,
    /// An `https://` URL of a JSONL file of references.
    #[serde(
        rename = "imageReferencesURL",
        alias = "videoReferencesURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_references_url: Option<String>,
    /// An id that makes a repeated request recognisable (and safe to retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_id: Option<String>,
    /// Where to send webhooks.
    #[serde(
        rename = "notificationsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notifications_url: Option<String>,
    /// Which webhooks to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_categories: Option<Vec<NotificationCategory>>,
}

impl std::fmt::Debug for ReferencesIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(crate::redact::redact_url);
        f.debug_struct("ReferencesIngest")
            .field("image_references", &self.image_references)
            .field("image_references_url", &url(&self.image_references_url))
            .field("ingest_id", &self.ingest_id)
            .field("notifications_url", &url(&self.notifications_url))
            .field("notification_categories", &self.notification_categories)
            .finish()
    }
}

/// The body of a RoboQL ingest (`POST …/roboql-ingest`): the images an Asset Library query
/// selects. The service's answer is not documented; the client returns it as JSON. Its
/// `Debug` output hides the webhook URL's query values.
///
/// ```
/// let body = roboflow_batch::model::RoboQlIngest::new("tag:cars").with_ingest_id("cars-1");
/// let json = serde_json::to_value(&body).unwrap();
/// assert_eq!(json, serde_json::json!({"query": "tag:cars", "ingestId": "cars-1"}));
/// ```
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoboQlIngest {
    /// The RoboQL query.
    pub query: String,
    /// The batch's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// An id that makes a repeated request recognisable (and safe to retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_id: Option<String>,
    /// Where to send the ingest webhook.
    #[serde(
        rename = "notificationsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notifications_url: Option<String>,
}

impl std::fmt::Debug for RoboQlIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoboQlIngest")
            .field("query", &self.query)
            .field("display_name", &self.display_name)
            .field("ingest_id", &self.ingest_id)
            .field(
                "notifications_url",
                &self
                    .notifications_url
                    .as_deref()
                    .map(crate::redact::redact_url),
            )
            .finish()
    }
}

impl RoboQlIngest {
    /// An ingest of what `query` selects.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::model::RoboQlIngest::new("q").query, "q");
    /// ```
    pub fn new(query: impl Into<String>) -> Self {
        RoboQlIngest {
            query: query.into(),
            ..Default::default()
        }
    }

    /// Sets the ingest id.
    ///
    /// ```
    /// let b = roboflow_batch::model::RoboQlIngest::new("q").with_ingest_id("i");
    /// assert_eq!(b.ingest_id.as_deref(), Some("i"));
    /// ```
    #[must_use]
    pub fn with_ingest_id(mut self, id: impl Into<String>) -> Self {
        self.ingest_id = Some(id.into());
        self
    }

    /// Sets the webhook URL.
    ///
    /// ```
    /// let b = roboflow_batch::model::RoboQlIngest::new("q").with_notifications_url("https://h/x");
    /// assert!(b.notifications_url.is_some());
    /// ```
    #[must_use]
    pub fn with_notifications_url(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }
}

/// The answer of a references ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencesIngestResponse {
    /// The ingest's id.
    pub ingest_id: String,
    /// Shards created for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_ids: Option<Vec<String>>,
    /// True when the service recognised a repeat of an earlier request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_decode_either_form() {
        let official: ListPartsResponse = serde_json::from_str(
            r#"{"batchParts":[{"partName":"results","partType":"output","contentType":"metadata"}]}"#,
        )
        .unwrap();
        let spec: ListPartsResponse =
            serde_json::from_str(r#"{"status":"ok","parts":[{"partName":"results"}]}"#).unwrap();
        assert_eq!(official.into_parts()[0].part_name, "results");
        assert_eq!(spec.into_parts()[0].part_name, "results");
        let none: ListPartsResponse = serde_json::from_str(r#"{"batchParts":[]}"#).unwrap();
        assert!(none.into_parts().is_empty());
        // Neither key (or only nulls): an answer of another shape, not zero parts.
        for body in [
            r#"{"status":"ok"}"#,
            r#"{"batchParts":null,"parts":null}"#,
            "{}",
        ] {
            let e = serde_json::from_str::<ListPartsResponse>(body).unwrap_err();
            assert!(
                e.to_string().contains("missing field `batchParts`"),
                "{body}: {e}"
            );
        }
    }

    #[test]
    fn extension_headers_null_or_absent_are_none() {
        // A video upload's answer as the service may send it (notes §2, D8).
        for body in [
            r#"{"signedURLDetails":{"uploadURL":"https://s.test/v.mp4?sig=x","extensionHeaders":null}}"#,
            r#"{"signedURLDetails":{"uploadURL":"https://s.test/v.mp4?sig=x"}}"#,
        ] {
            let r: SignedUrlResponse = serde_json::from_str(body).unwrap();
            assert!(r.signed_url_details.extension_headers.is_empty(), "{body}");
        }
        let r: SignedUrlResponse = serde_json::from_str(
            r#"{"signedURLDetails":{"uploadURL":"https://s.test/u","extensionHeaders":{"X-Goog-Meta":"1"}}}"#,
        )
        .unwrap();
        assert_eq!(r.signed_url_details.extension_headers["X-Goog-Meta"], "1");
    }

    #[test]
    fn file_metadata_debug_hides_signature() {
        let f: FileMetadata = serde_json::from_str(
            r#"{"downloadURL":"https://s/f?X-Sig=secretsig","fileName":"a.jsonl","contentType":"metadata","extra":1}"#,
        )
        .unwrap();
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("secretsig"), "{dbg}");
        assert!(dbg.contains("a.jsonl"));
    }

    #[test]
    fn batch_metadata_keeps_unknown_types() {
        let b: BatchMetadata = serde_json::from_str(
            r#"{"displayName":"d","batchId":"b","batchType":"future-batch","batchContentType":"images",
                "createdDate":"2025-01-01T00:00:00.000Z","expiryDate":"2025-01-08T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(b.batch_type, BatchType::Other("future-batch".into()));
        assert_eq!(b.batch_content_type, BatchContentType::Images);
    }
}
