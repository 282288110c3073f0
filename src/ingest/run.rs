//! One ingest from start to end: discover, choose the method, settle the journal against
//! the service, upload, verify, report.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bulk::{self, BulkOptions};
use super::discover::{MediaKind, SourceFile};
use super::journal::{FileRecord, History, Journal, UnitType};
use super::progress::{IngestEvent, ProgressFn};
use super::report::{
    IngestMethod, IngestReport, LatencySummary, SkipReason, SkippedFile, Verification,
};
use super::verify::{ExpectedFiles, verify_ingest};
use super::{Ingest, JournalSetting, UploadMode, single};
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
    pub latencies: Vec<Duration>,
    pub failed: Vec<super::report::FailedFile>,
    pub skipped: Vec<SkippedFile>,
    /// Files not attempted because the ingest was cancelled.
    pub pending: u64,
    /// Accepted units.
    pub units_done: Vec<UnitDone>,
}

/// An accepted unit: the service's shard id (if any), and the name and local path of each
/// file it carried.
pub(crate) type UnitDone = (Option<String>, Vec<(String, String)>);

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
    let found = ing.source.discover(ing.media, max_size)?;
    for s in &found.skipped {
        progress(&IngestEvent::Skipped(s.clone()));
    }
    progress(&IngestEvent::Discovered {
        files: found.files.len() as u64,
        bytes: found.total_bytes(),
    });
    let existing = match api.batch(batch) {
        Ok(meta) => Some(meta.batch_type),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let method = choose(&ing, existing.as_ref(), found.files.len())?;
    let mut report = IngestReport::new(batch, method);
    report.files_found = found.files.len() as u64;
    report.bytes_found = found.total_bytes();
    report.skipped = found.skipped.clone();
    if method == IngestMethod::SingleImages && found.files.len() > ing.single_threshold {
        report.warnings.push(format!(
            "batch {batch} is a simple-batch, so its {} images go one request each (bulk and single uploads cannot be mixed in a batch)",
            found.files.len()
        ));
    }
    if method != IngestMethod::Shards
        && (ing.notifications_url.is_some() || ing.ingest_id.is_some())
    {
        report.warnings.push(format!(
            "webhook settings (notificationsURL, ingestId) are ignored for {method}: the service takes them only inside tar shards"
        ));
    }

    // The journal, settled against what the service holds.
    let journal = open_journal(&ing, api, batch, &mut report)?;
    let (journal, history) = match journal {
        Some((j, h)) => (Some(j), h),
        None => (None, History::default()),
    };
    let done = match &journal {
        Some(j) => settle(api, batch, j, history)?,
        None => Settled::default(),
    };
    let mut todo = Vec::new();
    let (mut resumed_files, mut resumed_bytes) = (0u64, 0u64);
    let mut expected = ExpectedFiles::default();
    for f in found.files {
        if done.covers(&f) {
            resumed_files += 1;
            resumed_bytes += f.size;
            expected.file(f.name.clone(), Some(f.path.to_string_lossy().into_owned()));
        } else {
            todo.push(f);
        }
    }
    for (id, names) in &done.shards {
        expected.shard(id.clone(), names.clone());
    }
    report.files_resumed = resumed_files;

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
    };
    let resumed = (resumed_files, resumed_bytes);
    let upload_started = Instant::now();
    let outcome = match method {
        IngestMethod::Shards => {
            let notification = notification_config(&ing)?;
            bulk::upload(
                &ctx,
                todo,
                &BulkOptions {
                    max_images: ing.max_images_per_shard,
                    notification,
                },
                resumed,
            )?
        }
        IngestMethod::SingleImages => single::images(&ctx, todo, resumed)?,
        _ => single::videos(&ctx, todo, resumed)?,
    };
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
    for (id, files) in outcome.units_done {
        let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        for (n, path) in files {
            expected.file(n, Some(path));
        }
        if let Some(id) = id {
            expected.shard(id, names);
        }
    }

    if let Some(wait) = &ing.verify
        && !expected.is_empty()
        && !report.cancelled
    {
        match verify_ingest(api, batch, &expected, wait, &progress) {
            Ok((v, failed)) => {
                report.failed.extend(failed);
                report.verification = Some(v);
            }
            Err(e) => {
                report.warnings.push(format!("verification stopped: {e}"));
                report.verification = Some(Verification {
                    expected: expected.len() as u64,
                    ..Verification::default()
                });
            }
        }
    }
    report.duration = started.elapsed();
    Ok(report)
}

/// Picks how to send: videos one by one; images as the existing batch was filled, else in
/// shards above the threshold (the official client's rule: more than 32 images).
fn choose(ing: &Ingest<'_>, existing: Option<&BatchType>, files: usize) -> Result<IngestMethod> {
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
    let by_count = if files > ing.single_threshold {
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

fn open_journal(
    ing: &Ingest<'_>,
    api: &BatchApi,
    batch: &str,
    report: &mut IngestReport,
) -> Result<Option<(Journal, History)>> {
    let dir = match &ing.journal {
        JournalSetting::Off => return Ok(None),
        JournalSetting::Dir(d) => d.clone(),
        JournalSetting::Default => match super::default_journal_dir() {
            Some(d) => d,
            None => {
                report.warnings.push(
                    "no cache folder (HOME is not set): running without a resume journal".into(),
                );
                return Ok(None);
            }
        },
    };
    let ws = api.workspace()?;
    let path = Journal::path_for(&dir, api.base_url(), &ws, batch);
    let (j, h) = Journal::open(&path, api.base_url(), &ws, batch)?;
    if h.bad_lines > 0 {
        report.warnings.push(format!(
            "{} unreadable lines in the resume journal {} were ignored",
            h.bad_lines,
            path.display()
        ));
    }
    Ok(Some((j, h)))
}

/// Files the journal shows as uploaded, confirmed by the service.
#[derive(Default)]
struct Settled {
    by_path: HashMap<String, FileRecord>,
    shards: Vec<(String, Vec<String>)>,
}

impl Settled {
    fn covers(&self, f: &SourceFile) -> bool {
        let rec = FileRecord::of(f);
        self.by_path.get(&rec.path) == Some(&rec)
    }

    fn add(&mut self, shard: Option<String>, files: Vec<FileRecord>) {
        if let Some(id) = shard {
            self.shards
                .push((id, files.iter().map(|f| f.name.clone()).collect()));
        }
        for f in files {
            self.by_path.insert(f.path.clone(), f);
        }
    }
}

/// Checks the journal against the service: shards it lists (and has not failed) were
/// received, single uploads are in the batch listing. A batch that no longer exists
/// empties the journal.
fn settle(api: &BatchApi, batch: &str, journal: &Journal, history: History) -> Result<Settled> {
    let mut out = Settled::default();
    if history.settled.is_empty() && history.unsettled.is_empty() {
        return Ok(out);
    }
    let any = |t: UnitType| {
        history.settled.iter().any(|u| u.unit == t) || history.unsettled.iter().any(|u| u.unit == t)
    };
    let gone = |journal: &Journal| -> Result<Settled> {
        let ws = api.workspace()?;
        journal.reset(api.base_url(), &ws, batch)?;
        Ok(Settled::default())
    };
    let mut shards: HashMap<String, bool> = HashMap::new();
    if any(UnitType::Shard) {
        for s in api.shards(batch, None) {
            match s {
                Ok(s) => {
                    let failed = s.is_failed();
                    shards.insert(s.shard_id, failed);
                }
                Err(Error::NotFound(_)) => return gone(journal),
                Err(e) => return Err(e),
            }
        }
    }
    let mut names: HashSet<String> = HashSet::new();
    if any(UnitType::Single) {
        for f in api.files(batch, None, None) {
            match f {
                Ok(f) => {
                    names.insert(f.file_name);
                }
                Err(Error::NotFound(_)) => return gone(journal),
                Err(e) => return Err(e),
            }
        }
    }
    let received =
        |unit: UnitType, shard: &Option<String>, files: &[FileRecord]| match (unit, shard) {
            (UnitType::Shard, Some(id)) => shards.get(id) == Some(&false),
            // A shard without an id cannot be checked; trust the journal.
            (UnitType::Shard, None) => true,
            (UnitType::Single, _) => files.iter().all(|f| names.contains(&f.name)),
        };
    for u in history.settled {
        if received(u.unit, &u.shard, &u.files) {
            out.add(u.shard, u.files);
        }
    }
    for u in history.unsettled {
        // Unsettled shards without an id may or may not have arrived: send them again.
        let known = u.shard.is_some() || u.unit == UnitType::Single;
        if known && received(u.unit, &u.shard, &u.files) {
            journal.done(u.seq)?;
            out.add(u.shard, u.files);
        }
    }
    Ok(out)
}

/// The bytes of `notification_config.json`, when webhooks or an ingest id are asked for.
fn notification_config(ing: &Ingest<'_>) -> Result<Option<Arc<[u8]>>> {
    if ing.notifications_url.is_none() && ing.ingest_id.is_none() {
        return Ok(None);
    }
    let id = ing
        .ingest_id
        .clone()
        .unwrap_or_else(|| crate::rand::string(crate::rand::ID_ALPHABET, 16));
    let mut v = serde_json::json!({ "ingestId": id });
    if let Some(url) = &ing.notifications_url {
        v["notificationsURL"] = serde_json::json!(url);
    }
    let bytes = serde_json::to_vec(&v)
        .map_err(|e| Error::invalid("notification_config.json", e.to_string()))?;
    Ok(Some(bytes.into()))
}
