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
/// let d: roboflow_batch::model::SignedUrlDetails = serde_json::from_str(r#"{"uploadURL":"https://s/x?sig=1","maxShardSize":1024}"#).unwrap();
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
    #[serde(default, deserialize_with = "super::whole::opt_int")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_number_of_images: Option<u64>,
    /// The largest tar shard allowed, in bytes (bulk uploads).
    #[serde(default, deserialize_with = "super::whole::opt_int")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_shard_size: Option<u64>,
    /// The largest file allowed, in bytes (videos).
    #[serde(default, deserialize_with = "super::whole::opt_int")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
}

super::redacted_debug!(SignedUrlDetails {
    upload_url => url, method, extension_headers => keys, shard_id, max_number_of_images,
    max_shard_size, max_file_size,
});

/// The answer of the upload endpoints that hand out a signed URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedUrlResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "signedURLDetails")]
    pub signed_url_details: SignedUrlDetails,
}

/// The answer of `GET …/count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CountResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub batch: BatchMetadata,
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
    /// assert!(shard.is_failed());
    /// ```
    pub fn is_failed(&self) -> bool {
        self.status_type.contains("error")
    }

    /// Whether the shard is still being indexed (`statusType` is `info`).
    pub(crate) fn is_in_progress(&self) -> bool {
        self.status_type == "info"
    }
}

/// One part of a multipart (output) batch (the spec's form has only `partName`).
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

/// The answer of `GET …/parts`: `batchParts` (official client) or `parts` (spec), not none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawListParts")]
pub(crate) struct ListPartsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_parts: Option<Vec<PartMetadata>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartMetadata>>,
}

/// [`ListPartsResponse`] as sent, before checking that it has its parts.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawListParts {
    status: Option<String>,
    batch_parts: Option<Vec<PartMetadata>>,
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
    pub part_name: Option<String>,
    /// The shard it came from.
    pub shard_id: Option<String>,
    /// The content type inside an archive.
    pub nested_content_type: Option<String>,
}

super::redacted_debug!(FileMetadata {
    download_url => url, file_name, content_type, part_name, shard_id, nested_content_type,
});

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

super::redacted_debug!(FileReference { name, url => url });

/// The body of a references ingest: the inline list or its URL, under image field names
/// (renamed for videos). `Debug` hides every URL's query.
///
/// ```
/// let url = Some("https://b/refs.jsonl?sig=s3cr3t".into());
/// let body = roboflow_batch::model::ReferencesIngest { image_references_url: url, ..Default::default() };
/// ```
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencesIngest {
    /// Inline references.
    #[serde(alias = "videoReferences")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_references: Option<Vec<FileReference>>,
    /// An `https://` URL of a JSONL file of references.
    #[serde(rename = "imageReferencesURL", alias = "videoReferencesURL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_references_url: Option<String>,
    /// An id that makes a repeated request recognisable (and safe to retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_id: Option<String>,
    /// Where to send webhooks.
    #[serde(rename = "notificationsURL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_url: Option<String>,
    /// Which webhooks to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_categories: Option<Vec<NotificationCategory>>,
}

super::redacted_debug!(ReferencesIngest {
    image_references, image_references_url => opt_url, ingest_id, notifications_url => opt_url,
    notification_categories,
});

/// The body of a RoboQL ingest: the images an Asset Library query selects.
///
/// ```
/// let body = roboflow_batch::model::RoboQlIngest::new("tag:cars").ingest_id("cars-1");
/// assert_eq!(serde_json::to_value(&body).unwrap(), serde_json::json!({"query": "tag:cars", "ingestId": "cars-1"}));
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
    #[serde(rename = "notificationsURL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_url: Option<String>,
}

super::redacted_debug!(RoboQlIngest {
    query, display_name, ingest_id, notifications_url => opt_url,
});

impl RoboQlIngest {
    /// An ingest of what `query` selects (see the [type's example](Self)).
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

    super::setters! {
        setup: "",
        on: "roboflow_batch::model::RoboQlIngest::new(\"q\")";
        /// Sets the ingest id.
        #[must_use]
        ingest_id(s, id: impl Into<String>) = "\"i\"" {
            s.ingest_id = Some(id.into());
        }
        /// Sets the webhook URL.
        #[must_use]
        notifications_url(s, url: impl Into<String>) = "\"https://h/x\"" {
            s.notifications_url = Some(url.into());
        }
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

super::listing! {
    ListBatchesResponse { batches: BatchMetadata }
    ListShardsResponse { shards: ShardDetails }
    ListFilesResponse { files_metadata: FileMetadata }
}
