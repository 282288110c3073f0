//! One ingest from start to end, whatever its source: plan, resume, send, verify, report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::discover::discover;
use super::feed::{self, Chunk, Ctx, Feed, Outcome, Unit};
use super::files::FileList;
use super::plan::{
    DEFAULT_MAX_IMAGES_PER_SHARD, DEFAULT_MAX_SHARD_BYTES, Planner, ShardLimits, Step,
};
use super::references::{Chunker, ReferencesFile, default_chunk, file_base};
use super::report::{IngestMethod, IngestReport, LatencySummary, Verification};
use super::resume::{self, Confirmed};
use super::send::{self, Settings, over_max_file};
use super::source::Kind;
use super::{Ingest, JournalSetting, UploadMode};
use crate::error::{Error, Result};
use crate::model::{BatchType, MediaKind, SignedUrlDetails};
use crate::progress::{Emitter, Event, UnitKind};

/// Single-image uploads hold each image in memory, so fewer run at once than shards.
const MAX_SINGLE_IMAGE_WORKERS: usize = 8;

#[cfg(feature = "cloud")]
/// Skipped objects of a bucket kept by name, lest a million unusable keys fill memory.
const MAX_SKIPPED_KEPT: usize = 1_000;

/// The default per-image size limit: 20 MiB, the service's documented limit.
const DEFAULT_MAX_IMAGE_SIZE: u64 = 20 * 1024 * 1024;

type Report = Result<IngestReport>;

/// Runs `ing`, or only plans it.
pub(crate) fn run(mut ing: Ingest<'_>, dry_run: bool) -> Result<IngestReport> {
    let started = Instant::now();
    crate::model::BatchId::new(&ing.batch_id)?;
    if let Some(url) = &ing.notifications_url {
        crate::model::job_request::check_http_url("notificationsURL", url)?;
    }
    let media = media(&ing)?;
    let before = ing.api.requests();
    let callback = ing.progress.take();
    let mut report = crate::progress::relayed(callback.as_deref(), |events| {
        if dry_run {
            ing.api.workspace()?; // the one request of a plan
        }
        if ing.source.is_local() {
            local(&ing, media, events, dry_run)
        } else {
            references(&ing, media, events, dry_run)
        }
    })?;
    report.dry_run = dry_run;
    report.requests = match dry_run {
        true => planned_requests(&report, ing.verify.is_some()),
        false => ing.api.requests().since(&before),
    };
    report.duration = started.elapsed();
    Ok(report)
}

/// The requests a run of `plan` would make, verification's at the least.
fn planned_requests(plan: &IngestReport, verify: bool) -> crate::api::RequestCounts {
    use crate::api::RequestKind as K;
    let units = plan.units_planned;
    let per_unit: &[K] = match plan.method {
        IngestMethod::Shards | IngestMethod::Videos => &[K::UploadUrl, K::UploadPut],
        IngestMethod::SingleImages => &[K::SingleUpload],
        _ => &[K::ReferencesIngest],
    };
    let look = plan.method != IngestMethod::SingleImages && plan.method != IngestMethod::Videos;
    let verify = verify && plan.files_found > 0;
    let mut counts = vec![(K::Workspace, 1)];
    counts.extend(per_unit.iter().map(|k| (*k, units)));
    counts.push((K::ListShards, u64::from(verify && look)));
    counts.push((K::BatchCount, u64::from(verify)));
    crate::api::RequestCounts::planned(counts)
}

/// Images or videos: the setter's, else a bucket's own, else images.
fn media(ing: &Ingest<'_>) -> Result<MediaKind> {
    #[cfg(feature = "cloud")]
    if let Kind::Bucket(b) = &ing.source.kind {
        return match ing.media {
            Some(m) if m != b.media() => Err(Error::invalid(
                "media",
                format!(
                    "the ingest takes {} but the bucket source lists {}",
                    m.name(),
                    b.media().name()
                ),
            )),
            _ => Ok(b.media()),
        };
    }
    Ok(ing.media.unwrap_or_default())
}

fn max_size(ing: &Ingest<'_>, media: MediaKind) -> u64 {
    ing.max_file_size.unwrap_or(match media {
        MediaKind::Images => DEFAULT_MAX_IMAGE_SIZE,
        MediaKind::Videos => u64::MAX,
    })
}

/// What a run's uploads achieved (a plan's: the files too large), then verification.
fn finish(ctx: Ctx<'_>, mut report: IngestReport, upload: Instant, plan: bool) -> Report {
    if plan {
        report.skipped.append(&mut ctx.out().skipped);
        return Ok(report);
    }
    report.upload_duration = upload.elapsed();
    report.cancelled = ctx.cancelled();
    report.retries = ctx.retries.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(e) = ctx.take_fatal() {
        return Err(e);
    }
    let mut o = std::mem::take(&mut *ctx.out());
    o.ingest_ids.sort();
    report.files_uploaded = o.files_uploaded;
    report.bytes_uploaded = o.bytes_uploaded;
    report.wire_bytes = o.wire_bytes;
    report.units_uploaded = o.units;
    report.files_resumed += o.files_resumed;
    report.files_pending = o.pending;
    report.put_latency = LatencySummary::from_samples(&o.latencies);
    report.skipped.append(&mut o.skipped);
    report.failed = o.failed;
    report.ingest_ids = o.ingest_ids.into_iter().map(|(_, id)| id).collect();
    report.journal = ctx.journal.as_ref().map(|j| j.path().to_path_buf());
    drop(ctx.journal);
    if let Some(v) = ctx.verifier
        && !report.cancelled
    {
        match v.finish() {
            Ok((v, failed)) => {
                report.failed.extend(failed);
                report.verification = Some(v);
            }
            Err(e) => {
                // Stopped: nothing is confirmed.
                report.warnings.push(format!("verification stopped: {e}"));
                let expected = report.files_uploaded + report.files_resumed;
                report.verification = Some(Verification {
                    expected,
                    ..Verification::default()
                });
            }
        }
    }
    Ok(report)
}

/// A folder or a list of files: discovered, resumed, sent as shards, images or videos.
fn local<'a>(ing: &'a Ingest<'_>, media: MediaKind, events: Emitter<'a>, plan: bool) -> Report {
    let (api, batch) = (ing.api, ing.batch_id.as_str());
    let mut warnings: Vec<String> = Vec::new();
    let dir = match (&ing.journal, plan) {
        (_, true) | (JournalSetting::Off, _) => None,
        (JournalSetting::Dir(d), _) => Some(d.clone()),
        (JournalSetting::Default, _) => default_journal_dir().or_else(|| {
            let why = "no cache folder (HOME is not set): running without a resume journal";
            warnings.push(why.into());
            None
        }),
    };
    let journal = dir.map(|d| resume::open(api, d, batch)).transpose()?;
    if let Some((j, h)) = &journal
        && h.bad_lines > 0
    {
        let (n, path) = (h.bad_lines, j.path().display());
        warnings.push(format!(
            "{n} unreadable lines in the resume journal {path} were ignored"
        ));
    }
    let found = discover(&ing.source, media, max_size(ing, media), &events)?;
    let mut files = found.files;
    let mut ctx = Ctx::new(ing, &events, plan)?;
    let (journal, history) = journal.unzip();
    let confirmed = match (&journal, history) {
        (Some(j), Some(h)) => resume::confirm(api, batch, j, h)?,
        _ => Confirmed::default(),
    };
    // No `GET /batches/{id}` first (the official client makes none, and a service may
    // answer a batch that does not exist yet with 400 as well as 404): the journal says
    // what an earlier run put into the batch, else the count decides; a batch of the other
    // kind shows itself when the service refuses the first upload (see below).
    let n = files.len();
    let method = choose(ing, media, confirmed.kind.as_ref(), n)?;
    let mut report = IngestReport::new(batch, method);
    report.warnings = warnings;
    report.files_found = n;
    report.bytes_found = found.bytes;
    report.skipped = found.skipped;
    if method == IngestMethod::SingleImages && n > ing.single_threshold as u64 {
        report.warnings.push(format!(
            "batch {batch} is a simple-batch, so its {n} images go one request each (bulk and single uploads cannot be mixed in a batch)"
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
    if let Some(j) = &journal {
        // The units an earlier run sent that the service holds, as verification counts them.
        let mut units = HashMap::new();
        for h in &confirmed.units {
            let id = ctx.verifier.as_ref().map_or(0, |v| {
                let shards = h.shard.iter().cloned().collect();
                v.unit(shards, u64::from(h.files), h.single)
            });
            units.insert(h.seq, id);
        }
        resume::mark(j, &units, &mut files)?;
    }
    report.files_resumed = files.resumed();
    let mut todo_bytes = 0;
    files.each_size(|size, _| todo_bytes += size)?;
    let resumed_bytes = report.bytes_found.saturating_sub(todo_bytes);
    ctx.journal = journal;
    let settings = Settings {
        media,
        notification: notification_config(ing)?,
        ..Settings::default()
    };
    let upload = Instant::now();
    let resumed = (report.files_resumed, resumed_bytes);
    let sent = send_files(&ctx, ing, method, &settings, &mut files, resumed, plan);
    let refused = matches!(sent, Err(Error::Conflict(_))) || ctx.refused();
    let other = if !plan && refused && ing.mode == UploadMode::Auto && confirmed.kind.is_none() {
        // The batch exists and holds the other kind of upload: ask which (the only time
        // its metadata is asked for), and send the files that way if it takes them.
        let kind = api.batch(batch)?.batch_type;
        Some((choose(ing, media, Some(&kind), n)?, kind)).filter(|(m, _)| *m != method)
    } else {
        None
    };
    match other {
        None => report.units_planned = sent?,
        Some((other, kind)) => {
            report.warnings.push(format!(
                "batch {batch} is a {kind}, which refused {method}: sent as {other} instead"
            ));
            report.method = other;
            ctx.take_fatal();
            *ctx.out() = Outcome::default();
            report.units_planned =
                send_files(&ctx, ing, other, &settings, &mut files, resumed, plan)?;
        }
    }
    finish(ctx, report, upload, plan)
}

/// Sends (or plans) the files left by `method`; returns the units planned.
fn send_files(
    ctx: &Ctx<'_>,
    ing: &Ingest<'_>,
    method: IngestMethod,
    settings: &Settings,
    files: &mut FileList,
    resumed: (u64, u64),
    dry_run: bool,
) -> Result<u64> {
    let planned = |files, bytes, units| {
        ctx.events.emit(Event::Planned {
            method,
            files,
            bytes,
            units,
            resumed_files: resumed.0,
            resumed_bytes: resumed.1,
        })
    };
    let verifier = ctx.verifier.as_ref();
    // Resumed files go to verification as they go by.
    let was_resumed = |n: &super::files::Next| {
        if let (Some(unit), Some(v)) = (n.resumed, verifier) {
            v.file(&n.file.name, &n.file.path.to_string_lossy(), unit);
        }
        n.resumed.is_some()
    };
    let send = |ctx: &Ctx<'_>, index, unit| send::unit(ctx, settings, index, unit);
    if method != IngestMethod::Shards {
        let (mut n, mut bytes) = (0u64, 0u64);
        files.each_size(|size, _| {
            n += 1;
            bytes += size;
        })?;
        planned(n, bytes, n);
        if dry_run {
            return Ok(n);
        }
        let workers = match method {
            IngestMethod::SingleImages => ctx.parallelism.min(MAX_SINGLE_IMAGE_WORKERS),
            _ => ctx.parallelism,
        };
        let produce = |feed: &mut Feed<'_>| {
            files.each(|n| {
                if was_resumed(&n) {
                    return Ok(true);
                }
                Ok(feed.send(match method {
                    IngestMethod::Videos => Unit::Video(n.file),
                    _ => Unit::Image(n.file),
                }))
            })
        };
        feed::run(ctx, workers, produce, send);
        return Ok(n);
    }
    // Shards: the first signed URL says the service's limits (a plan assumes the defaults).
    let first = match dry_run {
        true => None,
        false => Some(ask_url(ctx, 0)?),
    };
    let (images, shard_bytes, file_bytes) = first.as_ref().map_or((None, None, None), |f| {
        (f.max_number_of_images, f.max_shard_size, f.max_file_size)
    });
    let most = ing.max_images_per_shard.unwrap_or(u64::MAX);
    let limits = ShardLimits {
        max_images: images
            .unwrap_or(DEFAULT_MAX_IMAGES_PER_SHARD)
            .min(most)
            .max(1),
        max_bytes: shard_bytes.unwrap_or(DEFAULT_MAX_SHARD_BYTES),
    };
    let max_file = file_bytes.unwrap_or(u64::MAX);
    let extra = settings.shard_extra();
    // Totals first, from the same plan the upload will follow (nothing is kept).
    let mut candidates = 0u64;
    files.each_size(|size, _| candidates += u64::from(size <= max_file))?;
    let (mut n, mut bytes, mut shards) = (0u64, 0u64, 0u64);
    let mut planner = Planner::new(candidates, limits, extra, ctx.parallelism);
    files.each_size(|size, name_len| {
        if size <= max_file {
            match planner.push((), name_len, size) {
                Step::TooBig(()) => return,
                Step::Full(_) => shards += 1,
                Step::Added => {}
            }
            n += 1;
            bytes += size;
        }
    })?;
    shards += u64::from(planner.finish().is_some());
    planned(n, bytes, shards);
    if dry_run {
        return Ok(shards);
    }
    if n == 0 {
        // Nothing to send: the resumed files still go to verification.
        files.each(|n| {
            was_resumed(&n);
            Ok(true)
        })?;
        return Ok(0);
    }
    let produce = |feed: &mut Feed<'_>| {
        let mut targets = Targets { first, error: None };
        let mut planner = Planner::new(candidates, limits, extra, ctx.parallelism);
        files.each(|next| {
            if was_resumed(&next) {
                return Ok(true);
            }
            let f = next.file;
            if f.size > max_file {
                ctx.too_large(&f, over_max_file(f.size, max_file));
                return Ok(true);
            }
            let (len, size) = (f.name.len(), f.size);
            match planner.push((next.index, f), len, size) {
                Step::Added => Ok(true),
                Step::TooBig((_, f)) => {
                    let max = limits.max_bytes;
                    let why = format!(
                        "{size} bytes: a shard holding it alone would exceed maxShardSize ({max} bytes)"
                    );
                    ctx.too_large(&f, why);
                    Ok(true)
                }
                Step::Full(s) => Ok(targets.hand(ctx, feed, s.files)),
            }
        })?;
        if let Some(s) = planner.finish() {
            targets.hand(ctx, feed, s.files);
        }
        Ok(())
    };
    feed::run(ctx, ctx.parallelism, produce, send);
    Ok(shards)
}

/// A shard's signed URL, asked for with its retries counted.
fn ask_url(ctx: &Ctx<'_>, index: u64) -> Result<SignedUrlDetails> {
    ctx.retrying(UnitKind::Shard, index, "signed URL request", |api| {
        api.request_shard_upload(ctx.batch, ctx.display_name)
    })
}

/// Signed URLs asked for by the feeder, ahead of the uploads.
struct Targets {
    first: Option<SignedUrlDetails>,
    /// A request failed in a way that repeating will not fix: later shards fail too.
    error: Option<String>,
}

impl Targets {
    /// Hands a shard over with its signed URL; `false` when the workers are gone.
    fn hand(
        &mut self,
        ctx: &Ctx<'_>,
        feed: &mut Feed<'_>,
        files: Vec<(u64, super::files::LocalFile)>,
    ) -> bool {
        let target = if let Some(t) = self.first.take() {
            Some(Ok(t))
        } else if let Some(e) = &self.error {
            Some(Err(e.clone()))
        } else if ctx.stopped().is_some() {
            None
        } else {
            Some(ask_url(ctx, feed.next_index()).map_err(|e| {
                let msg = e.to_string();
                if !e.is_retryable() {
                    self.error = Some(msg.clone());
                }
                msg
            }))
        };
        feed.send(Unit::Shard { files, target })
    }
}

/// Picks how to send: as the batch was filled, else shards above the threshold.
fn choose(
    ing: &Ingest<'_>,
    media: MediaKind,
    existing: Option<&BatchType>,
    files: u64,
) -> Result<IngestMethod> {
    let batch = &ing.batch_id;
    if media == MediaKind::Videos {
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

/// `notification_config.json` when webhooks are asked for, always with both keys, the
/// official client's only form (the ingest id random when not given).
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

/// `roboflow-batch/journals` in the user's cache folder, if there is one.
fn default_journal_dir() -> Option<std::path::PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Caches"))
    } else {
        env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
    }?;
    Some(base.join("roboflow-batch").join("journals"))
}

/// A JSONL file, the URL of one, or a bucket: sent as chunks of references.
fn references<'a>(
    ing: &'a Ingest<'_>,
    media: MediaKind,
    events: Emitter<'a>,
    plan: bool,
) -> Report {
    let batch = ing.batch_id.as_str();
    let size = ing.chunk_size.unwrap_or(default_chunk(media));
    if size == 0 {
        return Err(Error::invalid("chunk_size", "must be at least 1"));
    }
    if let Some(id) = ing.ingest_id.as_deref().filter(|id| id.trim().is_empty()) {
        return Err(Error::invalid(
            "ingest_id",
            format!("must not be empty, got {id:?}"),
        ));
    }
    let mut report = IngestReport::new(batch, IngestMethod::References);
    let mut ctx = Ctx::new(ing, &events, plan)?;
    let settings = Settings {
        media,
        notifications_url: ing.notifications_url.clone(),
        categories: ing.categories.clone(),
        ..Settings::default()
    };
    let send = |ctx: &Ctx<'_>, index, unit| send::unit(ctx, &settings, index, unit);
    let planned = |files, bytes, units| {
        events.emit(Event::Planned {
            method: IngestMethod::References,
            files,
            bytes,
            units,
            resumed_files: 0,
            resumed_bytes: 0,
        })
    };
    let upload = Instant::now();
    match &ing.source.kind {
        Kind::References(path) => {
            let file = ReferencesFile::check(path)?;
            let base = match &ing.ingest_id {
                Some(id) => id.clone(),
                None => file_base(batch, media, &file.digest),
            };
            report.files_found = file.references;
            report.units_planned = file.references.div_ceil(size as u64);
            events.emit(Event::Discovered {
                files: file.references,
                bytes: 0,
            });
            planned(file.references, 0, report.units_planned);
            if !plan {
                let produce = |feed: &mut Feed<'_>| {
                    let mut chunker = Chunker::new(size, base);
                    file.feed(&mut chunker, feed)?;
                    chunker.finish(feed);
                    Ok(())
                };
                feed::run(&ctx, 1, produce, send);
            }
        }
        Kind::ReferencesUrl(url) => {
            crate::model::job_request::check_http_url("references URL", url)?;
            // Its names are not known here: nothing to verify.
            ctx.verifier = None;
            report.units_planned = 1;
            planned(0, 0, 1);
            if !plan {
                let chunk = Chunk {
                    url: Some(url.clone()),
                    ingest_id: ing.ingest_id.clone(),
                    ..Chunk::default()
                };
                let produce = |feed: &mut Feed<'_>| {
                    feed.send(Unit::References(chunk));
                    Ok(())
                };
                feed::run(&ctx, 1, produce, send);
            }
        }
        #[cfg(feature = "cloud")]
        Kind::Bucket(source) => {
            let url = source.url().to_string();
            let base = match &ing.ingest_id {
                Some(id) => id.clone(),
                None => crate::ids::references_base("cloud", batch, media, url.as_bytes()),
            };
            let mut listed = Listed::default();
            let mut chunker = Chunker::new(size, base);
            let list = |listed: &mut Listed, feed: Option<&mut Feed<'_>>, chunker: &mut Chunker| {
                let mut feed = feed;
                crate::cloud::list_signed(source, max_size(ing, media), |page| {
                    listed.page(page.pages, page.skipped, &events);
                    for s in page.signed {
                        listed.files += 1;
                        listed.bytes += s.size;
                        if let Some(feed) = feed.as_deref_mut()
                            && !chunker.push(feed, s.reference, s.size)
                        {
                            return false;
                        }
                    }
                    events.emit(Event::Discovered {
                        files: listed.files,
                        bytes: listed.bytes,
                    });
                    true
                })
            };
            if plan {
                list(&mut listed, None, &mut chunker)?;
                report.units_planned = listed.files.div_ceil(size as u64);
            } else {
                let produce = |feed: &mut Feed<'_>| {
                    list(&mut listed, Some(&mut *feed), &mut chunker)?;
                    planned(listed.files, listed.bytes, chunker.chunks());
                    chunker.finish(feed);
                    Ok(())
                };
                feed::run(&ctx, 1, produce, send);
                report.units_planned = listed.files.div_ceil(size as u64);
            }
            (report.files_found, report.bytes_found) = (listed.files, listed.bytes);
            report.listing_pages = listed.pages;
            report.skipped = std::mem::take(&mut listed.skipped);
            if listed.dropped > 0 {
                report.warnings.push(format!(
                    "{} objects were skipped; the report lists the first {MAX_SKIPPED_KEPT}",
                    listed.dropped + MAX_SKIPPED_KEPT as u64
                ));
            }
            report.warnings.extend(source.warning());
            if let Some(e) = ctx.take_fatal() {
                return Err(e);
            }
            if listed.files == 0 {
                return Err(Error::Cloud {
                    store: source.url().kind().name(),
                    status: None,
                    message: format!(
                        "no {} found in {url} ({} skipped); the extensions taken are a local folder's",
                        media.name(),
                        report.skipped.len()
                    ),
                });
            }
        }
        Kind::Folder { .. } | Kind::Files(_) => {}
    }
    finish(ctx, report, upload, plan)
}

/// What a bucket's listing found so far.
#[cfg(feature = "cloud")]
#[derive(Default)]
struct Listed {
    files: u64,
    bytes: u64,
    pages: u64,
    skipped: Vec<super::report::SkippedFile>,
    /// Skipped objects past [`MAX_SKIPPED_KEPT`].
    dropped: u64,
}

#[cfg(feature = "cloud")]
impl Listed {
    fn page(&mut self, pages: u64, skipped: Vec<super::report::SkippedFile>, events: &Emitter<'_>) {
        self.pages = pages;
        for s in skipped {
            events.emit(Event::Skipped(s.clone()));
            if self.skipped.len() < MAX_SKIPPED_KEPT {
                self.skipped.push(s);
            } else {
                self.dropped += 1;
            }
        }
    }
}
