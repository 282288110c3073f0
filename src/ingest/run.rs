//! One ingest from start to end: discover, choose the method, settle the journal against
//! the service, upload, verify, report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bulk::{self, BulkOptions};
use super::discover::{MediaKind, SourceFile};
use super::expect::{Expect, Expected};
use super::journal::{FileRecord, Journal, UnitType};
use super::manifest::Manifest;
use super::progress::{IngestEvent, ProgressFn};
use super::report::{IngestMethod, IngestReport, LatencySummary, SkipReason, SkippedFile};
use super::resume::{self, Resumed};
use super::settle::Settled;
use super::{Ingest, UploadMode, settle, single, verify};
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::BatchType;

/// What every upload worker shares.
pub(crate) struct Ctx<'a> {
    pub api: &'a BatchApi,
    pub batch: &'a str,
    pub display_name: Option<&'a str>,
    pub progress: ProgressFn,
    pub parallelism: usize,
    pub pool: rayon::ThreadPool,
    pub retries: Arc<AtomicU64>,
    pub journal: Option<Journal>,
    pub stop: AtomicBool,
    fatal: Mutex<Option<Error>>,
    cancel: Option<Arc<AtomicBool>>,
    /// What verification will wait for.
    pub expect: Mutex<Expect>,
}

/// Why no new unit may start.
pub(crate) enum Stop {
    /// The caller's cancel flag: units not started stay pending for the next run.
    Cancelled,
    /// A fatal error: units not started fail with it.
    Fatal(String),
}

impl Ctx<'_> {
    pub fn planned(
        &self,
        method: IngestMethod,
        files: u64,
        bytes: u64,
        units: u64,
        resumed: (u64, u64),
    ) {
        (self.progress)(&IngestEvent::Planned {
            method,
            files,
            bytes,
            units,
            resumed_files: resumed.0,
            resumed_bytes: resumed.1,
        });
    }

    pub fn journal_pending(
        &self,
        unit: UnitType,
        shard: Option<&str>,
        files: &[FileRecord],
    ) -> Result<u64> {
        match &self.journal {
            None => Ok(0),
            Some(j) => j.pending(unit, shard, files.to_vec()).inspect_err(|e| {
                self.fatal(Error::Config(e.to_string()));
            }),
        }
    }

    pub fn journal_done(&self, seq: u64) -> Result<()> {
        match &self.journal {
            None => Ok(()),
            Some(j) => j.done(seq),
        }
    }

    /// Stops new uploads; the first such error is returned by the ingest.
    pub fn fatal(&self, e: Error) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// Forgets a fatal error, to send the files again another way.
    fn restart(&self) {
        *self.fatal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.stop.store(false, Ordering::Relaxed);
    }

    /// Whether the caller cancelled the ingest.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
    }

    /// Why new uploads must not start, if they must not.
    pub fn stopped(&self) -> Option<Stop> {
        if self.stop.load(Ordering::Relaxed) {
            let slot = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
            let why = slot
                .as_ref()
                .map_or_else(|| "the ingest stopped".into(), |e| e.to_string());
            return Some(Stop::Fatal(why));
        }
        self.cancelled().then_some(Stop::Cancelled)
    }
}

/// What the uploads of one run achieved.
#[derive(Default)]
pub(crate) struct Outcome {
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    pub wire_bytes: u64,
    pub units: u64,
    /// One per accepted unit (a shard, or a single upload).
    pub latencies: Vec<Duration>,
    pub failed: Vec<super::report::FailedFile>,
    pub skipped: Vec<SkippedFile>,
    /// Files not attempted because the ingest was cancelled.
    pub pending: u64,
}

impl Outcome {
    pub fn skip(&mut self, ctx: &Ctx<'_>, f: &SourceFile, reason: SkipReason, detail: String) {
        let s = SkippedFile {
            path: f.path.to_string_lossy().into_owned(),
            reason,
            detail,
        };
        (ctx.progress)(&IngestEvent::Skipped(s.clone()));
        self.skipped.push(s);
    }
}

/// Runs `ingest`.
pub(crate) fn run(ing: Ingest<'_>) -> Result<IngestReport> {
    let started = Instant::now();
    let api = ing.api;
    let batch = ing.batch_id.as_str();
    crate::model::BatchId::new(batch)?;
    if let Some(url) = &ing.notifications_url {
        crate::model::job_request::check_http_url("notificationsURL", url)?;
    }
    let progress = ing.progress.clone();
    let max_size = ing.max_file_size.unwrap_or(match ing.media {
        MediaKind::Images => super::DEFAULT_MAX_IMAGE_SIZE,
        MediaKind::Videos => u64::MAX,
    });
    let mut warnings = Vec::new();
    let journal = settle::open(&ing, api, batch, &mut warnings)?;
    let survey = ing.source.survey(ing.media, max_size, &*progress)?;
    let mut manifest = survey.manifest;
    let found = manifest.len();

    // The journal, settled against what the service holds, and the files it covers.
    let (journal, settled) = match journal {
        Some((j, history)) => {
            let settled = settle::settle(api, batch, &j, history)?;
            (Some(j), settled)
        }
        None => (None, Settled::default()),
    };
    // No `GET /batches/{id}` first (the official client makes none, and a service may
    // answer a batch that does not exist yet with 400 as well as 404): the journal says
    // what an earlier run put into the batch, else the count decides; a batch of the other
    // kind shows itself when the service refuses the first upload (see below).
    let method = choose(&ing, settled.kind.as_ref(), found)?;
    let mut report = IngestReport::new(batch, method);
    report.warnings = warnings;
    report.files_found = found;
    report.bytes_found = survey.bytes;
    report.skipped = survey.skipped;
    if method == IngestMethod::SingleImages && found > ing.single_threshold as u64 {
        report.warnings.push(format!(
            "batch {batch} is a simple-batch, so its {found} images go one request each (bulk and single uploads cannot be mixed in a batch)"
        ));
    }
    if method != IngestMethod::Shards
        && (ing.notifications_url.is_some() || ing.ingest_id.is_some())
    {
        report.warnings.push(format!(
            "webhook settings (notificationsURL, ingestId) are ignored for {method}: the service takes them only inside tar shards"
        ));
    } else if ing.notifications_url.is_none() && ing.ingest_id.is_some() {
        report.warnings.push(
            "the ingest id is ignored without a notifications URL: it names the ingest in webhooks, and travels with the URL inside each shard".into(),
        );
    }

    let mut resumed = match &journal {
        Some(j) if !settled.units.is_empty() => resume::find(j, &settled.units, &mut manifest)?,
        _ => Resumed::none(),
    };
    let mut resumed_bytes = 0;
    if resumed.len() > 0 {
        let mut todo_bytes = 0;
        resume::each_size(&mut manifest, &mut resumed, |_, size, _| todo_bytes += size)?;
        resumed_bytes = report.bytes_found.saturating_sub(todo_bytes);
    }
    report.files_resumed = resumed.len();

    let parallelism = ing.parallelism.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(parallelism)
        .thread_name(|i| format!("rfbatch-upload-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("cannot start the upload threads: {e}")))?;
    let ctx = Ctx {
        api,
        batch,
        display_name: ing.display_name.as_deref(),
        progress: progress.clone(),
        parallelism,
        pool,
        retries: Arc::new(AtomicU64::new(0)),
        journal,
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
        cancel: ing.cancel.clone(),
        expect: Mutex::new(Expect::new(settled.shards, ing.verify.is_some())),
    };
    let files = found - report.files_resumed;
    let upload_started = Instant::now();
    let mut todo = Todo {
        manifest: &mut manifest,
        resumed: &mut resumed,
        files,
        resumed_bytes,
    };
    let mut sent = send(&ctx, &ing, method, todo);
    if refused(&ctx, &sent) && ing.mode == UploadMode::Auto && settled.kind.is_none() {
        // The batch exists and holds the other kind of upload: ask which (the only time
        // its metadata is asked for), and send the files that way if it takes them.
        let kind = api.batch(batch)?.batch_type;
        let other = choose(&ing, Some(&kind), found)?;
        if other != method {
            report.warnings.push(format!(
                "batch {batch} is a {kind}, which refused {method}: sent as {other} instead"
            ));
            report.method = other;
            ctx.restart();
            todo = Todo {
                manifest: &mut manifest,
                resumed: &mut resumed,
                files,
                resumed_bytes,
            };
            sent = send(&ctx, &ing, other, todo);
        }
    }
    let outcome = sent?;
    report.upload_duration = upload_started.elapsed();
    if let Some(e) = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    report.files_uploaded = outcome.files_uploaded;
    report.bytes_uploaded = outcome.bytes_uploaded;
    report.wire_bytes = outcome.wire_bytes;
    report.units_uploaded = outcome.units;
    report.retries = ctx.retries.load(Ordering::Relaxed);
    report.put_latency = LatencySummary::from_samples(&outcome.latencies);
    report.skipped.extend(outcome.skipped);
    report.failed = outcome.failed;
    report.files_pending = outcome.pending;
    report.cancelled = ctx.cancelled();
    report.journal = ctx.journal.as_ref().map(|j| j.path().to_path_buf());
    let expect = ctx.expect.into_inner().unwrap_or_else(|p| p.into_inner());
    drop(ctx.journal);

    if let Some(wait) = &ing.verify
        && expect.records.len() > 0
        && !report.cancelled
    {
        let verified = match expect.broken {
            Some(e) => Err(Error::Config(format!(
                "the list of uploaded files could not be kept: {e}"
            ))),
            None => expect
                .records
                .finish()
                .map_err(|e| Error::io("sorting the list of uploaded files", e))
                .and_then(|records| {
                    let mut e = Expected {
                        records,
                        shards: expect.shards,
                        manifest: &mut manifest,
                    };
                    verify::verify(api, batch, &mut e, wait, &progress)
                }),
        };
        report.add_verification(verified);
    }
    report.duration = started.elapsed();
    Ok(report)
}

/// Uploads the files left by `method`.
fn send(ctx: &Ctx<'_>, ing: &Ingest<'_>, method: IngestMethod, todo: Todo<'_>) -> Result<Outcome> {
    match method {
        IngestMethod::Shards => {
            let opts = BulkOptions {
                max_images: ing.max_images_per_shard,
                notification: notification_config(ing)?,
            };
            bulk::upload(ctx, todo, &opts)
        }
        IngestMethod::SingleImages => single::images(ctx, todo),
        _ => single::videos(ctx, todo),
    }
}

/// Whether the service refused the uploads with a conflict (409): the batch holds the
/// other kind of upload. Nothing was stored then.
fn refused(ctx: &Ctx<'_>, sent: &Result<Outcome>) -> bool {
    let fatal = ctx.fatal.lock().unwrap_or_else(|p| p.into_inner());
    matches!(sent, Err(Error::Conflict(_))) || matches!(*fatal, Some(Error::Conflict(_)))
}

/// The files not yet uploaded, read from the manifest in order; resumed ones are expected
/// by verification as they go by.
pub(crate) struct Todo<'m> {
    pub manifest: &'m mut Manifest,
    pub resumed: &'m mut Resumed,
    /// How many files are left to upload.
    pub files: u64,
    /// The size of the files an earlier run uploaded.
    pub resumed_bytes: u64,
}

impl Todo<'_> {
    /// `(files, bytes)` resumed.
    pub fn resumed(&self) -> (u64, u64) {
        (self.resumed.len(), self.resumed_bytes)
    }

    /// Calls `f` with the size and name length of each file to upload (cheaply: for
    /// totals and plans).
    pub fn each_size(&mut self, f: impl FnMut(u64, usize)) -> Result<()> {
        let mut f = f;
        resume::each_size(self.manifest, self.resumed, |_, size, len| f(size, len))
    }

    /// Calls `f` with each file to upload and its position; stops when `f` says so.
    /// Resumed files go to verification as they go by.
    pub fn each(
        &mut self,
        ctx: &Ctx<'_>,
        mut f: impl FnMut(u64, SourceFile) -> Result<bool>,
    ) -> Result<()> {
        resume::each(self.manifest, self.resumed, |n| match n.resumed {
            Some(unit) => {
                let mut e = ctx.expect.lock().unwrap_or_else(|p| p.into_inner());
                e.file(&n.file.name, unit, n.index);
                Ok(true)
            }
            None => f(n.index, n.file),
        })
    }
}

/// Picks how to send: videos one by one; images as the existing batch was filled, else in
/// shards above the threshold (the official client's rule: more than 32 images).
fn choose(ing: &Ingest<'_>, existing: Option<&BatchType>, files: u64) -> Result<IngestMethod> {
    let batch = &ing.batch_id;
    if ing.media == MediaKind::Videos {
        if let Some(t @ (BatchType::Sharded | BatchType::Multipart)) = existing {
            return Err(Error::invalid(
                "batch_id",
                format!(
                    "batch {batch} is a {t}; videos go into a new batch or a simple-batch of videos"
                ),
            ));
        }
        return Ok(IngestMethod::Videos);
    }
    let by_count = if files > ing.single_threshold as u64 {
        IngestMethod::Shards
    } else {
        IngestMethod::SingleImages
    };
    let from_batch = match existing {
        None => None,
        Some(BatchType::Sharded) => Some(IngestMethod::Shards),
        Some(BatchType::Simple) => Some(IngestMethod::SingleImages),
        Some(other) => {
            return Err(Error::invalid(
                "batch_id",
                format!(
                    "batch {batch} is a {other}, which takes no uploads; choose another batch id"
                ),
            ));
        }
    };
    let wanted = match ing.mode {
        UploadMode::Auto => None,
        UploadMode::Shards => Some(IngestMethod::Shards),
        UploadMode::SingleImages => Some(IngestMethod::SingleImages),
    };
    match (wanted, from_batch) {
        (Some(w), Some(b)) if w != b => Err(Error::invalid(
            "upload mode",
            format!(
                "batch {batch} already holds {b}, and single and bulk uploads never mix in one batch; use another batch id"
            ),
        )),
        (Some(w), _) => Ok(w),
        (None, Some(b)) => Ok(b),
        (None, None) => Ok(by_count),
    }
}

/// The bytes of `notification_config.json`, only when webhooks are asked for, and then
/// always with both keys, the official client's only form: `{"ingestId", "notificationsURL"}`
/// (the ingest id random when not given, one for every shard of the run).
fn notification_config(ing: &Ingest<'_>) -> Result<Option<Arc<[u8]>>> {
    let Some(url) = &ing.notifications_url else {
        return Ok(None);
    };
    let id = ing
        .ingest_id
        .clone()
        .unwrap_or_else(|| crate::rand::string(crate::rand::ID_ALPHABET, 16));
    let v = serde_json::json!({ "ingestId": id, "notificationsURL": url });
    let bytes = serde_json::to_vec(&v)
        .map_err(|e| Error::invalid("notification_config.json", e.to_string()))?;
    Ok(Some(bytes.into()))
}
