//! Progress of long operations as [`Event`]s, sent to the callback given to their
//! `on_progress`; the library draws nothing. The callback may borrow: the operation blocks,
//! and every event has reached it by the time the operation returns. It is called from the
//! operation's threads, possibly at once (bytes sent and retries from a thread of their own).

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::export::report::ExportedFile;
use crate::ingest::report::{FailedFile, IngestMethod, SkippedFile};
use crate::jobs::progress::Progress;

/// What one unit of work is.
///
/// ```
/// assert_eq!(serde_json::to_string(&roboflow_batch::progress::UnitKind::Shard).unwrap(), r#""shard""#);
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

/// Something that happened during a long operation. Counts are deltas unless said otherwise.
///
/// ```
/// let json = serde_json::to_string(&roboflow_batch::progress::Event::BytesSent { bytes: 1 }).unwrap();
/// assert_eq!(json, r#"{"event":"bytes-sent","bytes":1}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// Files found so far and their size (running totals, sent again as a listing goes).
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
    /// Bytes went out on the wire; a retried attempt's count again (see `Retry`).
    BytesSent {
        /// How many.
        bytes: u64,
    },
    /// A unit was formed and handed to the workers, at most a few ahead of them.
    UnitQueued {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run (from 0).
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
        /// Its number in this run.
        index: u64,
        /// Files it carried.
        files: u64,
        /// Their payload bytes.
        bytes: u64,
        /// Wall time of its upload, retries included.
        #[serde(rename = "latencySecs", with = "crate::ingest::report::secs")]
        latency: Duration,
        /// Tries it took (1 when the first succeeded).
        attempts: u32,
    },
    /// A unit failed for good; its files are in the report's failures.
    UnitFailed {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run.
        index: u64,
        /// Files it carried.
        files: u64,
        /// Why.
        reason: String,
    },
    /// A request is being tried again.
    Retry {
        /// What the unit is.
        unit: UnitKind,
        /// Its number in this run.
        index: u64,
        /// The try about to start (2 for the first retry).
        attempt: u32,
        /// Bytes of the failed try already reported by `BytesSent`, to be sent again.
        #[serde(rename = "rewoundBytes")]
        rewound_bytes: u64,
        /// Which request and why (`upload: HTTP 503`); never a URL's secret parts.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Verification looked at the service.
    Verifying {
        /// Files confirmed in the batch so far.
        indexed: u64,
        /// How many are expected.
        expected: u64,
    },
    /// The service reported a file it could not take.
    IndexFailed(FailedFile),
    /// An export listed the files of a batch's part (or of a batch without parts).
    FilesListed {
        /// The batch.
        #[serde(rename = "batchId")]
        batch_id: String,
        /// The part.
        #[serde(rename = "partName")]
        part_name: Option<String>,
        /// How many files it has.
        files: u64,
    },
    /// Bytes came in from a download; received again after a restart, counted again.
    BytesReceived {
        /// How many.
        bytes: u64,
    },
    /// An export has a file: downloaded (and unpacked), or found complete on disk.
    Exported(ExportedFile),
    /// A wait polled a job: its snapshot.
    JobPolled(Progress),
}

/// Sends events to the caller's callback: at once, on the thread where they happen.
#[derive(Clone, Default)]
pub(crate) struct Emitter<'a> {
    callback: Option<&'a (dyn Fn(&Event) + Sync)>,
    relay: Relay,
}

impl Emitter<'_> {
    pub fn emit(&self, e: Event) {
        if let Some(callback) = self.callback {
            callback(&e);
        }
    }

    /// A `'static` handle on the same callback, for what runs inside a request.
    pub fn relay(&self) -> Relay {
        self.relay.clone()
    }
}

/// Sends events to the caller's callback through a relay thread, keeping each sender's
/// order: what a `'static` part of a request can hold.
#[derive(Clone, Default)]
pub(crate) struct Relay(Option<mpsc::Sender<Option<Event>>>);

impl Relay {
    pub fn emit(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(Some(e));
        }
    }
}

/// A progress callback as the operations keep it.
pub(crate) type Callback<'a> = Box<dyn Fn(&Event) + Sync + 'a>;

/// A progress callback that clones of its holder share.
pub(crate) type SharedCallback<'a> = std::sync::Arc<dyn Fn(&Event) + Sync + 'a>;

/// Runs `body` with an [`Emitter`] of `callback`, and the relay thread behind its
/// [`Relay`]s; returns once every event was delivered.
pub(crate) fn relayed<'a, R>(
    callback: Option<&'a (dyn Fn(&Event) + Sync)>,
    body: impl FnOnce(Emitter<'a>) -> R,
) -> R {
    let Some(callback) = callback else {
        return body(Emitter::default());
    };
    let (tx, rx) = mpsc::channel::<Option<Event>>();
    std::thread::scope(|s| {
        s.spawn(move || {
            // `None` ends the relay even if a clone of the sender outlives `body`.
            while let Ok(Some(e)) = rx.recv() {
                callback(&e);
            }
        });
        let emitter = Emitter {
            callback: Some(callback),
            relay: Relay(Some(tx.clone())),
        };
        let out = body(emitter);
        let _ = tx.send(None);
        out
    })
}
