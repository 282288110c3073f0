//! What an ingest did: [`IngestReport`], serializable for a CLI to print as JSON.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Serializes a [`Duration`] as seconds (a float).
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(v).unwrap_or_default())
    }
}

/// How the files reach the service.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::IngestMethod::Shards.to_string(), "tar shards");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IngestMethod {
    /// Tar shards PUT to signed URLs (`bulk-upload/image-files`): a `sharded-batch`.
    #[default]
    Shards,
    /// One multipart upload per image (`upload/image`): a `simple-batch`.
    SingleImages,
    /// One signed-URL PUT per video (`upload/video`).
    Videos,
    /// Signed references the service pulls itself (`bulk-upload/*-references`).
    References,
}

impl std::fmt::Display for IngestMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IngestMethod::Shards => "tar shards",
            IngestMethod::SingleImages => "single-image uploads",
            IngestMethod::Videos => "video uploads",
            IngestMethod::References => "references",
        })
    }
}

/// Why a file was left out before anything was sent.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::SkipReason::Empty.to_string(), "empty file");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SkipReason {
    /// It could not be opened or its metadata read (permissions, vanished, I/O error).
    Unreadable,
    /// Its path is not valid UTF-8, so it cannot be named in the batch.
    NotUtf8,
    /// It has no bytes.
    Empty,
    /// It is over the per-file size limit.
    TooLarge,
    /// It is a symbolic link, and links are not followed.
    Symlink,
    /// It is not a regular file (a pipe, a socket, a device).
    NotAFile,
    /// A listed file whose extension is not one the ingest takes.
    Unsupported,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::NotUtf8 => "name is not UTF-8",
            SkipReason::Empty => "empty file",
            SkipReason::TooLarge => "over the size limit",
            SkipReason::Symlink => "symbolic link not followed",
            SkipReason::NotAFile => "not a regular file",
            SkipReason::Unsupported => "unsupported extension",
        })
    }
}

/// A file left out before anything was sent, and why.
///
/// ```
/// # use roboflow_batch::ingest::{SkipReason, SkippedFile};
/// let s = SkippedFile { path: "a.jpg".into(), reason: SkipReason::Empty, detail: "0 bytes".into() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The path as found (lossily converted to text when it is not UTF-8).
    pub path: String,
    /// Why.
    pub reason: SkipReason,
    /// Details, such as the I/O error or the size and the limit.
    pub detail: String,
}

impl SkippedFile {
    pub(crate) fn new(
        path: impl Into<String>,
        reason: SkipReason,
        detail: impl Into<String>,
    ) -> Self {
        SkippedFile {
            path: path.into(),
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Where a file failed.
///
/// ```
/// assert_ne!(roboflow_batch::ingest::FailureStage::Upload, roboflow_batch::ingest::FailureStage::Indexing);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureStage {
    /// It was not uploaded (or its upload was not accepted).
    Upload,
    /// It was uploaded, but the service did not index it.
    Indexing,
}

/// A file that did not make it into the batch, and why.
///
/// ```
/// # use roboflow_batch::ingest::{FailedFile, FailureStage};
/// let f = FailedFile { name: "a.jpg".into(), path: None, stage: FailureStage::Upload, reason: "HTTP 500".into() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFile {
    /// Its name in the batch.
    pub name: String,
    /// Its local path, when it came from a local file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Where it failed.
    pub stage: FailureStage,
    /// Why, in the client's or the service's words.
    pub reason: String,
}

impl FailedFile {
    /// A failure at `stage` of the file `name` from `origin` (none when empty).
    pub(crate) fn new(name: &str, origin: String, stage: FailureStage, reason: &str) -> Self {
        let (name, reason) = (name.to_string(), reason.to_string());
        let path = Some(origin).filter(|o| !o.is_empty());
        FailedFile {
            name,
            path,
            stage,
            reason,
        }
    }
}

impl std::fmt::Display for FailedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(p) = &self.path {
            write!(f, " ({p})")?;
        }
        let stage = match self.stage {
            FailureStage::Upload => "upload",
            FailureStage::Indexing => "indexing",
        };
        write!(f, ": {stage} failed: {}", self.reason)
    }
}

/// Percentiles of upload latencies, in milliseconds.
///
/// ```
/// let l = roboflow_batch::ingest::LatencySummary { p50_ms: 10.0, p99_ms: 30.0, max_ms: 30.0, samples: 2 };
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// The median.
    pub p50_ms: f64,
    /// The 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
    /// How many uploads were measured.
    pub samples: u64,
}

impl LatencySummary {
    /// The percentiles of `samples` (nearest rank), or `None` when there are none.
    pub(crate) fn from_samples(samples: &[Duration]) -> Option<LatencySummary> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
            ms[i]
        };
        Some(LatencySummary {
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: ms[ms.len() - 1],
            samples: ms.len() as u64,
        })
    }
}

/// What the service confirmed after the uploads.
///
/// ```
/// assert!(!roboflow_batch::ingest::Verification::default().complete);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// How many of this ingest's files the batch listing shows.
    pub indexed: u64,
    /// How many were expected (uploaded now or before, minus those the service failed).
    pub expected: u64,
    /// The batch's own count at the end (it may include files from other ingests).
    pub batch_count: u64,
    /// Every expected file is indexed.
    pub complete: bool,
    /// The wait ended on its timeout.
    pub timed_out: bool,
    /// How long verification took.
    #[serde(rename = "waitedSecs", with = "secs")]
    pub waited: Duration,
}

/// The outcome of an ingest: counts, bytes, time, and every file left out or failed, and why.
///
/// ```
/// println!("{}", serde_json::to_string(&roboflow_batch::ingest::IngestReport::default()).unwrap());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IngestReport {
    /// The batch.
    pub batch_id: String,
    /// How files were sent.
    pub method: IngestMethod,
    /// Files found that qualify (after skips, before resuming).
    pub files_found: u64,
    /// Their total size.
    pub bytes_found: u64,
    /// Files sent by this run and accepted.
    pub files_uploaded: u64,
    /// Payload bytes of those files (tar overhead not included).
    pub bytes_uploaded: u64,
    /// Bytes sent on the wire for accepted units (tar headers and padding included).
    pub wire_bytes: u64,
    /// Files an earlier run had already uploaded (from the journal), not sent again.
    pub files_resumed: u64,
    /// Files not attempted because the ingest was cancelled (a re-run sends them).
    pub files_pending: u64,
    /// The ingest was cancelled: no new upload started after the flag was set.
    pub cancelled: bool,
    /// Units planned for this run: shards, single images, videos or reference chunks.
    pub units_planned: u64,
    /// Units sent and accepted.
    pub units_uploaded: u64,
    /// Requests repeated, fresh signed URLs after a rejected one included (each also an
    /// [`Event::Retry`](crate::progress::Event::Retry)).
    pub retries: u64,
    /// Requests made to the service, by kind (each try counts), or a plan's estimate.
    pub requests: crate::api::RequestCounts,
    /// Wall time of the whole ingest, verification included.
    #[serde(rename = "durationSecs", with = "secs")]
    pub duration: Duration,
    /// Wall time of the uploads alone.
    #[serde(rename = "uploadSecs", with = "secs")]
    pub upload_duration: Duration,
    /// Latency of each accepted unit's upload (retries included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put_latency: Option<LatencySummary>,
    /// Files left out before sending, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Files that did not make it, with reasons.
    pub failed: Vec<FailedFile>,
    /// What the service confirmed, when verification ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Notes for the user (an option that does not apply, a fallback taken).
    pub warnings: Vec<String>,
    /// The resume journal, when one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<std::path::PathBuf>,
    /// The ingest ids of the chunks of references, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingest_ids: Vec<String>,
    /// Pages of a bucket's listing read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub listing_pages: u64,
    /// A plan only: nothing was sent but the workspace lookup, and the counts of files,
    /// bytes and units are what a run would send.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl IngestReport {
    /// An empty report.
    ///
    /// ```
    /// let r = roboflow_batch::ingest::IngestReport::new("b", roboflow_batch::ingest::IngestMethod::Videos);
    /// ```
    pub fn new(batch_id: impl Into<String>, method: IngestMethod) -> IngestReport {
        let batch_id = batch_id.into();
        IngestReport {
            batch_id,
            method,
            ..Default::default()
        }
    }

    /// No file failed, the ingest was not cancelled, and verification (when it ran)
    /// confirmed every file.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::IngestReport::default().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
            && !self.cancelled
            && self.verification.as_ref().is_none_or(|v| v.complete)
    }

    /// Files found but not sent for what they are (too large, empty, unreadable, not
    /// UTF-8): unlike those left out by choice or kind, they need the user's attention.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::IngestReport::default().not_sent().is_empty());
    /// ```
    pub fn not_sent(&self) -> Vec<&SkippedFile> {
        use SkipReason::{Empty, NotUtf8, TooLarge, Unreadable};
        let lost = |s: &&SkippedFile| matches!(s.reason, TooLarge | Empty | Unreadable | NotUtf8);
        self.skipped.iter().filter(lost).collect()
    }

    /// Files per second over the upload time (files sent by this run).
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::IngestReport::default().files_per_sec(), 0.0);
    /// ```
    pub fn files_per_sec(&self) -> f64 {
        per_sec(self.files_uploaded as f64, self.upload_duration)
    }

    /// Payload megabytes (10^6 bytes) per second over the upload time.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::IngestReport::default().megabytes_per_sec(), 0.0);
    /// ```
    pub fn megabytes_per_sec(&self) -> f64 {
        per_sec(self.bytes_uploaded as f64 / 1e6, self.upload_duration)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn per_sec(x: f64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        x / d.as_secs_f64()
    }
}
