//! Progress as a stream of [`IngestEvent`]s sent to a callback, from any thread.
//!
//! The library draws nothing: a CLI maps events to progress bars, a service to logs or
//! metrics. Every source of files (a local folder, a cloud bucket whose references the
//! service pulls) reports through the same events.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::report::{FailedFile, IngestMethod, SkippedFile, secs};

/// What one upload unit is.
///
/// ```
/// use roboflow_batch::ingest::UnitKind;
/// assert_eq!(serde_json::to_string(&UnitKind::Shard).unwrap(), r#""shard""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UnitKind {
    /// A tar shard of images.
    Shard,
    /// One image, uploaded on its own.
    Image,
    /// One video.
    Video,
    /// A chunk of references sent in one request.
    References,
}

/// Something that happened during an ingest.
///
/// Counts are deltas unless said otherwise, so a progress bar can add them up. Events
/// come from worker threads, in no guaranteed order between units.
///
/// ```
/// use roboflow_batch::ingest::IngestEvent;
/// let e = IngestEvent::BytesSent { bytes: 1024 };
/// let json = serde_json::to_value(&e).unwrap();
/// assert_eq!(json, serde_json::json!({"event": "bytes-sent", "bytes": 1024}));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IngestEvent {
    /// Files found so far and their size (running totals: a listing source sends this
    /// again as it goes).
    Discovered {
        /// Files found so far that qualify.
        files: u64,
        /// Their size so far.
        bytes: u64,
    },
    /// A file was left out, before anything was sent.
    Skipped(SkippedFile),
    /// The work is planned: totals for progress bars.
    Planned {
        /// How files are sent.
        method: IngestMethod,
        /// Files to send in this run.
        files: u64,
        /// Their size.
        bytes: u64,
        /// Units to send (shards, images, videos, chunks).
        units: u64,
        /// Files already uploaded by an earlier run, not sent again.
        resumed_files: u64,
        /// Their size.
        resumed_bytes: u64,
    },
    /// Bytes went out on the wire (a delta). Bytes of an attempt that is then retried are
    /// counted again; see [`IngestEvent::Retry::rewound_bytes`].
    BytesSent {
        /// How many.
        bytes: u64,
    },
    /// A unit was formed and handed to the upload workers. Units are formed from the list
    /// of files as the uploads go, at most a few ahead of them (so this also shows how far
    /// ahead the reading is).
    UnitQueued {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run's plan (from 0).
        index: u64,
        /// Files it carries.
        files: u64,
        /// Their payload bytes.
        bytes: u64,
    },
    /// A unit was accepted by the service.
    UnitDone {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run's plan (from 0).
        index: u64,
        /// Files it carried.
        files: u64,
        /// Their payload bytes.
        bytes: u64,
        /// Wall time of its upload, retries included.
        #[serde(rename = "latencySecs", with = "secs")]
        latency: Duration,
        /// Tries it took (1 when the first succeeded).
        attempts: u32,
    },
    /// A unit failed for good; its files are in the report's failures.
    UnitFailed {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run's plan.
        index: u64,
        /// Files it carried.
        files: u64,
        /// Why.
        reason: String,
    },
    /// An upload is being tried again.
    Retry {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run's plan.
        index: u64,
        /// The try about to start (2 for the first retry).
        attempt: u32,
        /// Bytes of the failed try that were already reported by `BytesSent`, and will be
        /// sent again.
        #[serde(rename = "rewoundBytes")]
        rewound_bytes: u64,
        /// What happened: a status or a kind of transport failure, and which request (e.g.
        /// "upload: HTTP 503", "signed URL request: transport error (interrupted)", "signed
        /// URL rejected, asking for a fresh one: …"). Never a URL's secret parts.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Verification polled the service.
    Verifying {
        /// This ingest's files confirmed so far (or the batch count while shards are
        /// still being indexed).
        indexed: u64,
        /// How many are expected.
        expected: u64,
    },
    /// The service reported a file it could not index.
    IndexFailed(FailedFile),
}

/// The callback that receives [`IngestEvent`]s; it must be cheap and thread-safe.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use roboflow_batch::ingest::{IngestEvent, ProgressFn};
/// let sent = Arc::new(AtomicU64::new(0));
/// let s = sent.clone();
/// let progress: ProgressFn = Arc::new(move |e: &IngestEvent| {
///     if let IngestEvent::BytesSent { bytes } = e { s.fetch_add(*bytes, Ordering::Relaxed); }
/// });
/// progress(&IngestEvent::BytesSent { bytes: 7 });
/// assert_eq!(sent.load(Ordering::Relaxed), 7);
/// ```
pub type ProgressFn = Arc<dyn Fn(&IngestEvent) + Send + Sync>;

/// A callback that ignores every event.
///
/// ```
/// let p = roboflow_batch::ingest::no_progress();
/// p(&roboflow_batch::ingest::IngestEvent::BytesSent { bytes: 1 });
/// ```
pub fn no_progress() -> ProgressFn {
    Arc::new(|_: &IngestEvent| {})
}
