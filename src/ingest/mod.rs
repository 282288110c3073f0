//! Getting many local images (or videos) into a batch: fast, with bounded memory, and
//! with nothing lost or duplicated when the network or the process fails.
//!
//! [`Ingest`] does it in one call:
//!
//! 1. **Discovery** ([`LocalSource`]): a folder (optionally recursive) or a list of files,
//!    with the official client's extensions in any case, in a deterministic order. Links
//!    are not followed unless asked; unreadable, empty, non-UTF-8 and oversize files are
//!    reported in [`IngestReport::skipped`] and do not stop the rest.
//! 2. **Names**: unique and stable within the batch; two `a.jpg` in different subfolders
//!    become `a.jpg`-style names that cannot collide (the rule is in the `names` section
//!    below).
//! 3. **Method**: more than 32 images (the official client's threshold) go as tar shards
//!    (`bulk-upload/image-files`), fewer as single-image uploads, videos one by one through
//!    their signed URLs. An existing batch keeps the method it was filled with: single and
//!    bulk uploads never mix. Nothing is asked about the batch first (as the official
//!    client, which never calls `GET /batches/{id}`): the resume journal says how an
//!    earlier run filled it, and a batch filled the other way shows itself when the service
//!    refuses the first upload (409), after which its kind is asked for once and the files
//!    go that way.
//! 4. **Shards** ([`TarShard`]) are streamed: each is a `Read` producing the tar on the fly
//!    with its exact length known up front, so the PUT carries `Content-Length` with no
//!    temporary file and no buffer of the shard. They respect `maxNumberOfImages` (500
//!    when absent) and `maxShardSize`, computed with the exact tar size formula, and carry
//!    `notification_config.json` when webhooks are asked for.
//! 5. **Parallel uploads** on a dedicated rayon pool, fed by a thread that cuts shards
//!    from the list of files as the uploads go and asks for their signed URLs, at most
//!    `parallelism` shards ahead. Failed PUTs are retried under the client's
//!    [`RetryPolicy`]; a rejected or expired URL is replaced by a fresh one; a failed
//!    shard fails only its own files. Every retry is counted and reported with its cause.
//! 6. **Resume**: a journal in the user's cache folder records each unit before and after
//!    its upload (fsync'd). A second run after a crash sends only what is missing, checked
//!    against the service; a changed file is sent again. One run at a time: a run locks
//!    the journal, and a second one fails with [`Error::Locked`](crate::Error::Locked);
//!    the lock dies with its process.
//! 7. **Verification**: the shards' statuses and the batch listing are polled until every
//!    file is indexed or the service says why not, within a timeout on the injected
//!    [`Clock`].
//!
//! Progress comes as [`IngestEvent`]s to a callback, from worker threads.
//!
//! # Memory
//!
//! Memory does not grow with the number of files (16 MiB at a million files, 21 when
//! resuming them all, about 27 with verification; see the README's Performance section). Discovery writes the files
//! it finds to a list in a temporary file (unnamed, so the OS removes it even after
//! `kill -9`; in `TMPDIR`, about 40 bytes a file plus twice its relative path, and 50
//! more for the sorted keys) and every later step reads it in order.
//! The lists that must be sorted (a large folder's names, 128-bit keys of the file names
//! for collisions and verification, the journal's files when resuming) are sorted in
//! runs of a few megabytes that spill to such files and are merged as they are read.
//! What still grows: the skip list and the failure list (they are the report), one small
//! entry per unit (a shard of up to 500 files, or one single upload) for the journal and
//! the latencies, the files whose names collide, and an explicit [`LocalSource::files`]
//! list, which the caller holds.
//!
//! ```no_run
//! use roboflow_batch::BatchApi;
//! use roboflow_batch::ingest::{Ingest, IngestEvent, LocalSource};
//!
//! let api = BatchApi::from_env()?;
//! let report = Ingest::images(&api, "my-batch", LocalSource::dir("photos").recursive(true))
//!     .on_progress(|e| {
//!         if let IngestEvent::UnitDone { index, files, .. } = e {
//!             eprintln!("shard {index}: {files} images");
//!         }
//!     })
//!     .run()?;
//! println!("{} uploaded, {} resumed, {} failed", report.files_uploaded, report.files_resumed, report.failed.len());
//! # Ok::<(), roboflow_batch::Error>(())
//! ```
//!
//! # Names
//!
//! A file directly in the source folder keeps its file name, as the official client names
//! it. A file in a subfolder gets its relative path with `/` written as `__`
//! (`cats/2024/a.jpg` becomes `cats__2024__a.jpg`). `\` and control characters become
//! `_`; names over 200 bytes keep their tail behind a hash. Names that still collide
//! (ignoring case) get a hash of their relative path before the extension (`a~1b2c3d4e.jpg`),
//! except the first in (depth, path) order. A name never carries `/`, `..` or an absolute
//! path, and the same folder gives the same names on every run.
//!
//! [`RetryPolicy`]: crate::api::RetryPolicy
//! [`Clock`]: crate::api::Clock

mod archive;
mod bulk;
mod discover;
mod expect;
mod journal;
mod manifest;
pub(crate) mod names;
mod plan;
mod progress;
mod put;
mod report;
mod resume;
mod run;
mod sent;
mod settle;
mod single;
mod spill;
mod verify;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use archive::{ShardReader, TarEntry, TarShard, pad512, tar_entry_size, tar_size};
pub use discover::{
    DEFAULT_MAX_IMAGE_SIZE, Discovery, IMAGE_EXTENSIONS, LocalSource, MediaKind, SourceFile,
    VIDEO_EXTENSIONS,
};
pub use journal::default_journal_dir;
pub use plan::{DEFAULT_MAX_IMAGES_PER_SHARD, DEFAULT_MAX_SHARD_BYTES, ShardLimits};
pub use progress::{IngestEvent, ProgressFn, UnitKind, no_progress};
pub use report::{
    FailedFile, FailureStage, IngestMethod, IngestReport, LatencySummary, SkipReason, SkippedFile,
    Verification,
};
pub use sent::SentFiles;
pub use verify::{DEFAULT_VERIFY_TIMEOUT, ExpectedFiles, default_verify_options, verify_ingest};

use crate::BatchApi;
use crate::error::Result;
use crate::wait::WaitOptions;

/// Parallel uploads by default. Measured with `examples/bench_ingest.rs` against the
/// sandbox on loopback (the README's Performance section): throughput is flat from 2 to 16
/// streams there and lower at 32; 8, as the official client's 8 upload processes, keeps
/// enough uploads in flight for a real service farther away than loopback.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_PARALLELISM, 8);
/// ```
pub const DEFAULT_PARALLELISM: usize = 8;

/// Image sets of at most this many files go as single-image uploads (the official
/// client's rule: more than 32 images make shards).
///
/// ```
/// assert_eq!(roboflow_batch::ingest::SINGLE_UPLOAD_THRESHOLD, 32);
/// ```
pub const SINGLE_UPLOAD_THRESHOLD: usize = 32;

/// How images are sent.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::UploadMode::default(), roboflow_batch::ingest::UploadMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// As the existing batch was filled; for a new batch, shards above
    /// [`SINGLE_UPLOAD_THRESHOLD`] images and single uploads otherwise.
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

/// One ingest of local files into a batch; configure it, then [`run`](Ingest::run) it.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// use roboflow_batch::ingest::{Ingest, LocalSource};
/// let report = Ingest::images(&api, "my-batch", LocalSource::dir("photos"))
///     .parallelism(16)
///     .notifications_url("https://example.com/hooks/ingest")
///     .run()?;
/// assert!(report.is_success(), "{:?}", report.failed);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[must_use]
pub struct Ingest<'a> {
    api: &'a BatchApi,
    batch_id: String,
    media: MediaKind,
    source: LocalSource,
    display_name: Option<String>,
    parallelism: usize,
    mode: UploadMode,
    single_threshold: usize,
    max_images_per_shard: Option<u64>,
    max_file_size: Option<u64>,
    notifications_url: Option<String>,
    ingest_id: Option<String>,
    journal: JournalSetting,
    verify: Option<WaitOptions>,
    progress: ProgressFn,
    cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("batch_id", &self.batch_id)
            .field("media", &self.media)
            .field("source", &self.source)
            .field("parallelism", &self.parallelism)
            .field("mode", &self.mode)
            .field("max_images_per_shard", &self.max_images_per_shard)
            .field("journal", &self.journal)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl<'a> Ingest<'a> {
    fn new(api: &'a BatchApi, batch_id: &str, media: MediaKind, source: LocalSource) -> Self {
        Ingest {
            api,
            batch_id: batch_id.to_string(),
            media,
            source,
            display_name: None,
            parallelism: DEFAULT_PARALLELISM,
            mode: UploadMode::Auto,
            single_threshold: SINGLE_UPLOAD_THRESHOLD,
            max_images_per_shard: None,
            max_file_size: None,
            notifications_url: None,
            ingest_id: None,
            journal: JournalSetting::Default,
            verify: Some(default_verify_options()),
            progress: no_progress(),
            cancel: None,
        }
    }

    /// An ingest of the images in `source` into `batch_id`.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "my-batch", LocalSource::dir("photos"));
    /// assert!(format!("{ingest:?}").contains("Images"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn images(api: &'a BatchApi, batch_id: &str, source: LocalSource) -> Self {
        Self::new(api, batch_id, MediaKind::Images, source)
    }

    /// An ingest of the videos in `source` into `batch_id`, one signed-URL PUT each,
    /// streamed from the file.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::videos(&api, "my-videos", LocalSource::dir("clips"));
    /// assert!(format!("{ingest:?}").contains("Videos"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn videos(api: &'a BatchApi, batch_id: &str, source: LocalSource) -> Self {
        Self::new(api, batch_id, MediaKind::Videos, source)
    }

    /// The batch's display name (default: the batch id), sent with each upload.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).display_name("Nightly photos");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// How many uploads run at once (default [`DEFAULT_PARALLELISM`]); single-image
    /// uploads use at most 8.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).parallelism(16);
    /// assert!(format!("{ingest:?}").contains("parallelism: 16"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// How images are sent (default [`UploadMode::Auto`]).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource, UploadMode};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).mode(UploadMode::Shards);
    /// assert!(format!("{ingest:?}").contains("Shards"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn mode(mut self, mode: UploadMode) -> Self {
        self.mode = mode;
        self
    }

    /// At most this many images go as single uploads in [`UploadMode::Auto`] (default
    /// [`SINGLE_UPLOAD_THRESHOLD`]).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).single_upload_threshold(0); // always shards
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn single_upload_threshold(mut self, n: usize) -> Self {
        self.single_threshold = n;
        self
    }

    /// At most this many images per shard (the service's `maxNumberOfImages`, or 500,
    /// still applies).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).max_images_per_shard(256);
    /// assert!(format!("{ingest:?}").contains("Some(256)"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn max_images_per_shard(mut self, n: u64) -> Self {
        self.max_images_per_shard = Some(n.max(1));
        self
    }

    /// Files over this many bytes are skipped (default [`DEFAULT_MAX_IMAGE_SIZE`] for
    /// images, no limit for videos; the service's own limits also apply).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).max_file_size(5 << 20);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = Some(bytes);
        self
    }

    /// Where the service sends ingest webhooks. It travels in `notification_config.json`
    /// inside every shard, with the ingest id (random when not set); single-image and video
    /// uploads cannot carry it (the report warns).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).notifications_url("https://example.com/hook");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn notifications_url(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }

    /// The ingest id in `notification_config.json` (and in webhooks). It travels only with
    /// a [`notifications_url`](Self::notifications_url), as in the official client;
    /// without one it is not sent (the report warns).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).ingest_id("nightly-2025-01-02");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_id(mut self, id: impl Into<String>) -> Self {
        self.ingest_id = Some(id.into());
        self
    }

    /// Keeps the resume journal under `dir` instead of [`default_journal_dir`].
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).journal_dir("/var/tmp/rfbatch-journals");
    /// assert!(format!("{ingest:?}").contains("rfbatch-journals"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal = JournalSetting::Dir(dir.into());
        self
    }

    /// Keeps no journal: a second run sends everything again.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).without_journal();
    /// assert!(format!("{ingest:?}").contains("Off"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn without_journal(mut self) -> Self {
        self.journal = JournalSetting::Off;
        self
    }

    /// How verification polls (default [`default_verify_options`]: 10 minutes at most).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// use std::time::Duration;
    /// use roboflow_batch::wait::WaitOptions;
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d"))
    ///     .verify(WaitOptions::default().with_poll_interval(Duration::from_millis(100)).with_timeout(Duration::from_secs(60)));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn verify(mut self, options: WaitOptions) -> Self {
        self.verify = Some(options);
        self
    }

    /// Skips verification: the report then counts uploads, not indexed files.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).without_verify();
    /// assert!(format!("{ingest:?}").contains("verify: None"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn without_verify(mut self) -> Self {
        self.verify = None;
        self
    }

    /// Sends progress events to `f`, from worker threads.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, IngestEvent, LocalSource};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d"))
    ///     .on_progress(|e| if let IngestEvent::Skipped(s) = e { eprintln!("skipped {s}") });
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn on_progress(mut self, f: impl Fn(&IngestEvent) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(f);
        self
    }

    /// Sends progress events to a shared callback.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource, no_progress};
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).progress(no_progress());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = f;
        self
    }

    /// A flag that stops the ingest when set (e.g. on Ctrl-C): no new upload starts, those
    /// running finish (and are journaled), verification is skipped, and the report says
    /// `cancelled`, with the files left for the next run in `files_pending`.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// use std::sync::{Arc, atomic::AtomicBool};
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let ingest = Ingest::images(&api, "b", LocalSource::dir("d")).cancel_flag(stop.clone());
    /// // elsewhere, on Ctrl-C: stop.store(true, Ordering::SeqCst)
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Runs the ingest: discovery, uploads, verification.
    ///
    /// Files that fail are listed in the report, with reasons; an error means the ingest
    /// could not run at all (an unreadable folder, a bad batch id, a batch of the wrong
    /// type, no signed URL for the first shard, a journal that cannot be written).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::ingest::{Ingest, LocalSource};
    /// let report = Ingest::images(&api, "b", LocalSource::dir("d")).run()?;
    /// println!("{}", serde_json::to_string_pretty(&report).unwrap());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn run(self) -> Result<IngestReport> {
        run::run(self)
    }
}
