//! Getting files into a batch in one call, from any [`Source`]: fast, in memory that does
//! not grow with the number of files, and with nothing lost or duplicated when the network
//! or the process fails.
//!
//! One pipeline serves every source: a folder's files go as tar shards, single images or
//! videos, references (a JSONL file, a bucket) as chunks; one pool sends them, a journal
//! lets a re-run send only what is missing, and [verification](Ingest::verify) asks the
//! service about every file. The outcome is one [`IngestReport`].
//!
//! ```no_run
//! # use roboflow_batch::{BatchApi, ingest::{Ingest, Source}}; let api = BatchApi::from_env()?;
//! let report = Ingest::new(&api, "my-batch", Source::folder("photos").recursive(true)).run()?;
//! println!("{} uploaded, {} resumed", report.files_uploaded, report.files_resumed);
//! # Ok::<(), roboflow_batch::Error>(())
//! ```
//!
//! Names in the batch, resume, verification and memory: the [ingest
//! guide](crate::guide::ingest) (and the [cloud guide](crate::guide::cloud) for buckets).

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

/// Parallel uploads by default, as the official client's 8 upload processes: enough in
/// flight for a service farther away than loopback.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_PARALLELISM, 8);
/// ```
pub const DEFAULT_PARALLELISM: usize = 8;

/// How images are sent.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::UploadMode::default(), roboflow_batch::ingest::UploadMode::Auto);
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

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("batch_id", &self.batch_id)
            .field("source", &self.source)
            .field("media", &self.media)
            .field("parallelism", &self.parallelism)
            .field("mode", &self.mode)
            .field("max_images_per_shard", &self.max_images_per_shard)
            .field("journal", &self.journal)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

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

    /// Images (the default) or videos: which files are taken, and how they are sent
    /// (videos one signed upload each). A bucket source lists its own media kind, which
    /// must agree.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let ingest = Ingest::new(&api, "clips", Source::folder("videos")).media(MediaKind::Videos);
    /// assert!(format!("{ingest:?}").contains("Videos"));
    /// ```
    pub fn media(mut self, media: MediaKind) -> Self {
        self.media = Some(media);
        self
    }

    /// The batch's display name (default: the batch id), sent with each upload.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).display_name("Nightly photos");
    /// ```
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// How many uploads run at once (default [`DEFAULT_PARALLELISM`]); single-image
    /// uploads use at most 8, chunks of references go one at a time.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).parallelism(16);
    /// ```
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// How images are sent (default [`UploadMode::Auto`]).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let ingest = Ingest::new(&api, "b", Source::folder("d")).mode(UploadMode::Shards);
    /// assert!(format!("{ingest:?}").contains("Shards"));
    /// ```
    pub fn mode(mut self, mode: UploadMode) -> Self {
        self.mode = mode;
        self
    }

    /// At most this many images go as single uploads in [`UploadMode::Auto`] (default 32,
    /// the official client's threshold).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).single_upload_threshold(0); // always shards
    /// ```
    pub fn single_upload_threshold(mut self, n: usize) -> Self {
        self.single_threshold = n;
        self
    }

    /// At most this many images per shard (the service's `maxNumberOfImages`, or 500,
    /// still applies).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).max_images_per_shard(256);
    /// ```
    pub fn max_images_per_shard(mut self, n: u64) -> Self {
        self.max_images_per_shard = Some(n.max(1));
        self
    }

    /// Files over this many bytes are skipped (default 20 MiB for images, the service's
    /// limit, and no limit for videos; the service's own limits also apply). A bucket's
    /// objects are checked against the sizes its listing gives.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).max_file_size(5 << 20);
    /// ```
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = Some(bytes);
        self
    }

    /// References per request (default 20,000 images or 5,000 videos).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::references("refs.jsonl")).chunk_size(1000);
    /// ```
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }

    /// Where the service sends ingest webhooks. Shards carry it in
    /// `notification_config.json`, with the ingest id (random when not set); references
    /// carry it in each request; single-image and video uploads cannot (the report warns).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).notifications_url("https://example.com/hook");
    /// ```
    pub fn notifications_url(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }

    /// Which webhooks a references ingest asks for (`ingest-status`, `files-status`;
    /// default: the service's).
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::references("refs.jsonl"))
    ///     .notification_categories([NotificationCategory::FilesStatus]);
    /// ```
    pub fn notification_categories(
        mut self,
        categories: impl IntoIterator<Item = NotificationCategory>,
    ) -> Self {
        self.categories = categories.into_iter().collect();
        self
    }

    /// The ingest id. Shards carry it with a [`notifications_url`](Self::notifications_url)
    /// only, as the official client does. Chunks of references carry it as it is when
    /// there is one chunk, else `<id>-<n>`; without it they carry ids derived from the
    /// batch and the source, the same on every run.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).ingest_id("nightly-2025-01-02");
    /// ```
    pub fn ingest_id(mut self, id: impl Into<String>) -> Self {
        self.ingest_id = Some(id.into());
        self
    }

    /// Keeps the resume journal under `dir` instead of the user's cache folder.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).journal_dir("/var/tmp/rfbatch-journals");
    /// ```
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal = JournalSetting::Dir(dir.into());
        self
    }

    /// Keeps no journal: a second run sends everything again.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).without_journal();
    /// ```
    pub fn without_journal(mut self) -> Self {
        self.journal = JournalSetting::Off;
        self
    }

    /// How verification polls once the uploads are done (default: every 0.1 s, growing
    /// to 5 s, for at most 10 minutes). A wait that times out is not an error: the report
    /// says so, and names the files not confirmed.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let wait = roboflow_batch::wait::WaitOptions::default().timeout(std::time::Duration::from_secs(60));
    /// Ingest::new(&api, "b", Source::folder("d")).verify(wait);
    /// ```
    pub fn verify(mut self, options: WaitOptions) -> Self {
        self.verify = Some(options);
        self
    }

    /// Verification as by default, for at most `timeout`.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).verify_timeout(std::time::Duration::from_secs(60));
    /// ```
    pub fn verify_timeout(self, timeout: Duration) -> Self {
        self.verify(verify::default_options().timeout(timeout))
    }

    /// Skips verification: the report then counts uploads, not files in the batch.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// Ingest::new(&api, "b", Source::folder("d")).without_verify();
    /// ```
    pub fn without_verify(mut self) -> Self {
        self.verify = None;
        self
    }

    /// Sends progress events to `f`, which may borrow: [`run`](Self::run) returns once
    /// every event has reached it.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let skipped = std::sync::atomic::AtomicU64::new(0);
    /// Ingest::new(&api, "b", Source::folder("d"))
    ///     .on_progress(|e| if let Event::Skipped(_) = e { skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed); });
    /// ```
    pub fn on_progress(mut self, f: impl Fn(&Event) + Sync + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// A flag that stops the ingest when set (e.g. on Ctrl-C): no new upload starts, those
    /// running finish (and are journaled), verification is skipped, and the report says
    /// `cancelled`, with the files left for the next run in `files_pending`.
    ///
    /// ```
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let stop = std::sync::atomic::AtomicBool::new(false); // set it on Ctrl-C
    /// Ingest::new(&api, "b", Source::folder("d")).cancel_flag(&stop);
    /// ```
    pub fn cancel_flag(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Runs the ingest: discovery, uploads, verification.
    ///
    /// Files that fail are listed in the report, with reasons; so are files not confirmed
    /// when verification times out, and a cancelled ingest says so in the report. An
    /// error means the ingest could not go on: an unreadable folder or file of
    /// references, a bucket that cannot be listed, a bad batch id, a batch of the wrong
    /// type, no signed URL for the first shard, a journal that cannot be written.
    ///
    /// ```no_run
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let report = Ingest::new(&api, "b", Source::folder("d")).run()?;
    /// println!("{}", serde_json::to_string_pretty(&report).unwrap());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn run(self) -> Result<IngestReport> {
        pipeline::run(self, false)
    }

    /// The plan, without sending anything but the workspace lookup: the files found and
    /// skipped (with reasons), their bytes, the units a run would send (shards at the
    /// service's default limits, single uploads, chunks of references) and the requests
    /// it would make, by kind. The journal is not read: this is a first run's plan.
    ///
    /// ```no_run
    /// # use roboflow_batch::{BatchApi, ingest::*, model::*, progress::Event}; let api = BatchApi::builder().api_key("k").build().unwrap();
    /// let plan = Ingest::new(&api, "b", Source::folder("d")).plan()?;
    /// assert!(plan.dry_run);
    /// println!("{} files in {} units", plan.files_found, plan.units_planned);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn plan(self) -> Result<IngestReport> {
        pipeline::run(self, true)
    }
}
