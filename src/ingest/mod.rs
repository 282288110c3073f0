//! Getting files into a batch in one call, from any [`Source`], in memory that does not
//! grow with the files, nothing lost or duplicated when the network or the process fails.
//!
//! ```no_run
//! # use roboflow_batch::{BatchApi, ingest::{Ingest, Source}}; let api = BatchApi::from_env()?;
//! let report = Ingest::new(&api, "my-batch", Source::folder("photos").recursive(true)).run()?;
//! println!("{} uploaded, {} resumed", report.files_uploaded, report.files_resumed);
//! # Ok::<(), roboflow_batch::Error>(())
//! ```
//!
//! How: the [ingest guide](crate::guide::ingest) (and the [cloud guide](crate::guide::cloud)).

mod discover;
mod expected;
mod feed;
mod files;
mod journal;
mod names;
mod pipeline;
mod plan;
mod put;
mod references;
pub(crate) mod report;
mod resume;
mod send;
mod sorted;
mod source;
mod tar_shard;
mod verify;
mod walk;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use report::{
    FailedFile, FailureStage, IngestMethod, IngestReport, LatencySummary, SkipReason, SkippedFile,
    Verification,
};
pub use source::Source;
pub use tar_shard::{TarEntry, TarShard};

use crate::BatchApi;
use crate::error::Result;
use crate::model::{MediaKind, NotificationCategory};
use crate::progress::{Callback, Event};
use crate::wait::WaitOptions;

/// Parallel uploads by default, as the official client's 8 upload processes.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_PARALLELISM, 8);
/// ```
pub const DEFAULT_PARALLELISM: usize = 8;

/// How images are sent.
///
/// ```
/// let mode = roboflow_batch::ingest::UploadMode::Shards;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// As the existing batch was filled; for a new batch, shards above 32 images (the
    /// official client's rule) and single uploads otherwise.
    #[default]
    Auto,
    /// Tar shards, whatever the count.
    Shards,
    /// One upload per image, whatever the count.
    SingleImages,
}

/// Where the resume journal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JournalSetting {
    Default,
    Dir(PathBuf),
    Off,
}

/// One ingest into a batch; configure it with setters, then [`run`](Ingest::run) it (or
/// [`plan`](Ingest::plan) it).
///
/// ```no_run
/// # use roboflow_batch::{BatchApi, ingest::*}; let api = BatchApi::builder().api_key("k").build()?;
/// let report = Ingest::new(&api, "my-batch", Source::folder("photos")).parallelism(16).run()?;
/// assert!(report.is_success(), "{:?}", report.failed);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[must_use]
pub struct Ingest<'a> {
    api: &'a BatchApi,
    batch_id: String,
    source: Source,
    media: Option<MediaKind>,
    display_name: Option<String>,
    parallelism: usize,
    mode: UploadMode,
    single_threshold: usize,
    max_images_per_shard: Option<u64>,
    max_file_size: Option<u64>,
    chunk_size: Option<usize>,
    notifications_url: Option<String>,
    categories: Vec<NotificationCategory>,
    ingest_id: Option<String>,
    journal: JournalSetting,
    verify: Option<WaitOptions>,
    progress: Option<Callback<'a>>,
    cancel: Option<&'a AtomicBool>,
}

crate::model::redacted_debug!(Ingest<'_> {
    batch_id, source, media, parallelism, mode, max_images_per_shard, journal, verify
});

impl<'a> Ingest<'a> {
    /// An ingest of `source` into `batch_id` (images, unless the source or
    /// [`media`](Self::media) says videos).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let ingest = Ingest::new(&api, "my-batch", Source::folder("photos"));
    /// assert!(format!("{ingest:?}").contains("photos"));
    /// ```
    pub fn new(api: &'a BatchApi, batch_id: impl AsRef<str>, source: Source) -> Self {
        Ingest {
            api,
            batch_id: batch_id.as_ref().to_string(),
            source,
            media: None,
            display_name: None,
            parallelism: DEFAULT_PARALLELISM,
            mode: UploadMode::Auto,
            single_threshold: 32,
            max_images_per_shard: None,
            max_file_size: None,
            chunk_size: None,
            notifications_url: None,
            categories: Vec::new(),
            ingest_id: None,
            journal: JournalSetting::Default,
            verify: Some(verify::default_options()),
            progress: None,
            cancel: None,
        }
    }

    crate::model::setters! {
        setup: "# use roboflow_batch::{BatchApi, ingest::*, model::*}; let api = BatchApi::builder().api_key(\"k\").build().unwrap();",
        on: "Ingest::new(&api, \"b\", Source::folder(\"d\"))";
        /// Images (the default) or videos: which files are taken, and how they are sent
        /// (videos one signed upload each). A bucket source lists its own media kind, which
        /// must agree.
        media(s, media: MediaKind) = "MediaKind::Videos" {
            s.media = Some(media);
        }
        /// The batch's display name (default: the batch id), sent with each upload.
        display_name(s, name: impl Into<String>) = "\"Nightly photos\"" {
            s.display_name = Some(name.into());
        }
        /// How many uploads run at once (default [`DEFAULT_PARALLELISM`]); single-image
        /// uploads use at most 8, chunks of references go one at a time.
        parallelism(s, n: usize) = "16" {
            s.parallelism = n.max(1);
        }
        /// How images are sent (default [`UploadMode::Auto`]).
        mode(s, mode: UploadMode) = "UploadMode::Shards" {
            s.mode = mode;
        }
        /// At most this many images go as single uploads in [`UploadMode::Auto`] (default 32,
        /// the official client's threshold).
        single_upload_threshold(s, n: usize) = "0" {
            s.single_threshold = n;
        }
        /// At most this many images per shard (the service's `maxNumberOfImages`, or 500,
        /// still applies).
        max_images_per_shard(s, n: u64) = "256" {
            s.max_images_per_shard = Some(n.max(1));
        }
        /// Files over this many bytes are skipped (default 20 MiB for images, the service's
        /// limit, and no limit for videos; the service's own limits also apply). A bucket's
        /// objects are checked against the sizes its listing gives.
        max_file_size(s, bytes: u64) = "5 << 20" {
            s.max_file_size = Some(bytes);
        }
        /// References per request (default 20,000 images or 5,000 videos).
        chunk_size(s, n: usize) = "1000" {
            s.chunk_size = Some(n);
        }
        /// Where the service sends ingest webhooks. Shards carry it in
        /// `notification_config.json`, with the ingest id (random when not set); references
        /// carry it in each request; single-image and video uploads cannot (the report warns).
        notifications_url(s, url: impl Into<String>) = "\"https://example.com/hook\"" {
            s.notifications_url = Some(url.into());
        }
        /// Which webhooks a references ingest asks for (`ingest-status`, `files-status`;
        /// default: the service's).
        notification_categories(
            s,
            categories: impl IntoIterator<Item = NotificationCategory>
        ) = "[NotificationCategory::FilesStatus]" {
            s.categories = categories.into_iter().collect();
        }
        /// The ingest id. Shards carry it with a [`notifications_url`](Self::notifications_url)
        /// only, as the official client does. Chunks of references carry it as it is when
        /// there is one chunk, else `<id>-<n>`; without it they carry ids derived from the
        /// batch and the source, the same on every run.
        ingest_id(s, id: impl Into<String>) = "\"nightly-2025-01-02\"" {
            s.ingest_id = Some(id.into());
        }
        /// Keeps the resume journal under `dir` instead of the user's cache folder.
        journal_dir(s, dir: impl Into<PathBuf>) = "\"/var/tmp/rfbatch-journals\"" {
            s.journal = JournalSetting::Dir(dir.into());
        }
        /// Keeps no journal: a second run sends everything again.
        without_journal(s) = "" {
            s.journal = JournalSetting::Off;
        }
        /// How verification polls once the uploads are done (default: every 0.1 s, growing
        /// to 5 s, for at most 10 minutes). A wait that times out is not an error: the report
        /// says so, and names the files not confirmed.
        verify(s, options: WaitOptions) = "roboflow_batch::wait::WaitOptions::default()" {
            s.verify = Some(options);
        }
        /// Verification as by default, for at most `timeout`.
        verify_timeout(s, timeout: Duration) = "std::time::Duration::from_secs(60)" {
            s.verify = Some(verify::default_options().timeout(timeout));
        }
        /// Skips verification: the report then counts uploads, not files in the batch.
        without_verify(s) = "" {
            s.verify = None;
        }
        /// Sends progress events to `f`, which may borrow: [`run`](Self::run) returns once
        /// every event has reached it.
        on_progress(s, f: impl Fn(&Event) + Sync + 'a) = "|e| println!(\"{e:?}\")" {
            s.progress = Some(Box::new(f));
        }
        /// A flag that stops the ingest when set (e.g. on Ctrl-C): no new upload starts, those
        /// running finish (and are journaled), verification is skipped, and the report says
        /// `cancelled`, with the files left for the next run in `files_pending`.
        cancel_flag(s, flag: &'a AtomicBool) = "&std::sync::atomic::AtomicBool::new(false)" {
            s.cancel = Some(flag);
        }
    }

    /// Runs the ingest: discovery, uploads, verification. Files that fail (or are not
    /// confirmed) are in the report with reasons; an error means the ingest could not go on
    /// (an unreadable source, a bad batch id or type, no first signed URL, no journal).
    ///
    /// ```no_run
    /// # use roboflow_batch::{BatchApi, ingest::*}; let api = BatchApi::builder().api_key("k").build()?;
    /// let report = Ingest::new(&api, "b", Source::folder("d")).run()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn run(self) -> Result<IngestReport> {
        pipeline::run(self, false)
    }

    /// A first run's plan (the journal is not read), sending nothing but the workspace
    /// lookup: the files found and skipped, the units and the requests a run would send.
    ///
    /// ```no_run
    /// # use roboflow_batch::{BatchApi, ingest::*}; let api = BatchApi::builder().api_key("k").build()?;
    /// assert!(Ingest::new(&api, "b", Source::folder("d")).plan()?.dry_run);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn plan(self) -> Result<IngestReport> {
        pipeline::run(self, true)
    }
}
