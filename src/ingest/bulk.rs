//! Bulk image ingest: streamed tar shards PUT in parallel on a dedicated rayon pool, fed
//! by a thread that cuts shards from the list of files as the uploads go, and asks for
//! their signed URLs ahead of them.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::archive::{TarEntry, TarShard, tar_entry_size, tar_size};
use super::discover::SourceFile;
use super::journal::{FileRecord, UnitType};
use super::plan::{
    DEFAULT_MAX_IMAGES_PER_SHARD, DEFAULT_MAX_SHARD_BYTES, Planner, ShardLimits, Step,
};
use super::progress::{IngestEvent, UnitKind};
use super::put::{PutJob, counting_retries};
use super::report::{FailedFile, FailureStage, IngestMethod, SkipReason};
use super::run::{Ctx, Outcome, Stop, Todo};
use crate::error::{Error, Result};
use crate::model::SignedUrlDetails;

/// The member that carries webhook settings in every shard.
pub(crate) const NOTIFICATION_CONFIG: &str = "notification_config.json";

/// What the bulk path needs beyond the shared context.
pub(crate) struct BulkOptions {
    /// A cap on images per shard, below the service's.
    pub max_images: Option<u64>,
    /// The bytes of `notification_config.json`, when webhooks are asked for.
    pub notification: Option<Arc<[u8]>>,
}

/// A shard for the workers: its position, its files (with their manifest positions), and
/// its signed URL (or why there is none; `None` when the ingest stopped before asking).
struct Work {
    index: u64,
    files: Vec<(u64, SourceFile)>,
    target: Option<std::result::Result<SignedUrlDetails, String>>,
}

/// Uploads the files left to upload as shards. One thread reads them in order, cuts
/// shards and asks for their signed URLs, at most `parallelism` shards ahead of the
/// uploads; the workers PUT them. Per-shard failures land in the outcome, and only
/// problems that stop everything (no first signed URL, a journal that cannot be written)
/// are errors.
pub(crate) fn upload(ctx: &Ctx<'_>, mut todo: Todo<'_>, opts: &BulkOptions) -> Result<Outcome> {
    let mut out = Outcome::default();
    if todo.files == 0 {
        ctx.planned(IngestMethod::Shards, 0, 0, 0, todo.resumed());
        todo.each(ctx, |_, _| Ok(true))?;
        return Ok(out);
    }
    let first = counting_retries(
        ctx.api,
        &ctx.retries,
        &ctx.progress,
        (UnitKind::Shard, 0),
        "signed URL request",
        |api| api.request_shard_upload(ctx.batch, ctx.display_name),
    )?;
    let limits = ShardLimits {
        max_images: first
            .max_number_of_images
            .unwrap_or(DEFAULT_MAX_IMAGES_PER_SHARD)
            .min(opts.max_images.unwrap_or(u64::MAX))
            .max(1),
        max_bytes: first.max_shard_size.unwrap_or(DEFAULT_MAX_SHARD_BYTES),
    };
    let max_file = first.max_file_size.unwrap_or(u64::MAX);
    let extra = opts.notification.as_ref().map_or(0, |b| {
        tar_entry_size(NOTIFICATION_CONFIG.len(), b.len() as u64)
    });

    // Totals first, from the same plan the upload will follow (nothing is kept).
    let mut candidates = 0u64;
    todo.each_size(|size, _| candidates += u64::from(size <= max_file))?;
    let (mut files, mut bytes, mut shards) = (0u64, 0u64, 0u64);
    let mut planner = Planner::new(candidates, limits, extra, ctx.parallelism);
    todo.each_size(|size, name_len| {
        if size <= max_file {
            match planner.push((), name_len, size) {
                Step::TooBig(()) => return,
                Step::Full(_) => shards += 1,
                Step::Added => {}
            }
            files += 1;
            bytes += size;
        }
    })?;
    shards += u64::from(planner.finish().is_some());
    ctx.planned(IngestMethod::Shards, files, bytes, shards, todo.resumed());

    let (tx, rx) = sync_channel::<Work>(ctx.parallelism.max(1));
    let out_lock = Mutex::new(std::mem::take(&mut out));
    let rx = Mutex::new(rx);
    let fed = std::thread::scope(|ts| {
        let out = &out_lock;
        let feeder = ts.spawn(move || {
            let mut feed = Feed {
                ctx,
                tx,
                first: Some(first),
                index: 0,
                url_error: None,
            };
            let mut planner = Planner::new(candidates, limits, extra, ctx.parallelism);
            let read = todo.each(ctx, |i, f| {
                if f.size > max_file {
                    let detail = format!(
                        "{} bytes, over the service's maxFileSize of {max_file}",
                        f.size
                    );
                    lock(out).skip(ctx, &f, SkipReason::TooLarge, detail);
                    return Ok(true);
                }
                let (len, size) = (f.name.len(), f.size);
                match planner.push((i, f), len, size) {
                    Step::Added => Ok(true),
                    Step::TooBig((_, f)) => {
                        let detail = format!(
                            "{} bytes: a shard holding it alone would exceed maxShardSize ({} bytes)",
                            f.size, limits.max_bytes
                        );
                        lock(out).skip(ctx, &f, SkipReason::TooLarge, detail);
                        Ok(true)
                    }
                    Step::Full(s) => Ok(feed.send(s.files)),
                }
            });
            if let Some(s) = planner.finish() {
                feed.send(s.files);
            }
            read
        });
        ctx.pool.scope(|s| {
            for _ in 0..ctx.parallelism {
                s.spawn(|_| worker(ctx, opts, &rx, out));
            }
        });
        feeder.join()
    });
    match fed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ctx.fatal(e),
        Err(_) => ctx.fatal(Error::Config("the thread cutting shards panicked".into())),
    }
    Ok(out_lock.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands shards to the workers, each with its signed URL asked for here, ahead of its
/// upload.
struct Feed<'c, 'a> {
    ctx: &'c Ctx<'a>,
    tx: SyncSender<Work>,
    first: Option<SignedUrlDetails>,
    index: u64,
    /// A URL request failed in a way that repeating will not fix: later shards fail too.
    url_error: Option<String>,
}

impl Feed<'_, '_> {
    /// Sends one shard; `false` when the workers are gone.
    fn send(&mut self, files: Vec<(u64, SourceFile)>) -> bool {
        let ctx = self.ctx;
        let index = self.index;
        self.index += 1;
        let target = if let Some(t) = self.first.take() {
            Some(Ok(t))
        } else if let Some(e) = &self.url_error {
            Some(Err(e.clone()))
        } else if ctx.stopped().is_some() {
            None
        } else {
            let r = counting_retries(
                ctx.api,
                &ctx.retries,
                &ctx.progress,
                (UnitKind::Shard, index),
                "signed URL request",
                |api| api.request_shard_upload(ctx.batch, ctx.display_name),
            );
            Some(r.map_err(|e| {
                let msg = e.to_string();
                if !e.is_retryable() {
                    self.url_error = Some(msg.clone());
                }
                msg
            }))
        };
        let (n, bytes) = (files.len() as u64, files.iter().map(|(_, f)| f.size).sum());
        let sent = self.tx.send(Work {
            index,
            files,
            target,
        });
        if sent.is_ok() {
            (ctx.progress)(&IngestEvent::UnitQueued {
                unit: UnitKind::Shard,
                index,
                files: n,
                bytes,
            });
        }
        sent.is_ok()
    }
}

fn worker(ctx: &Ctx<'_>, opts: &BulkOptions, rx: &Mutex<Receiver<Work>>, out: &Mutex<Outcome>) {
    loop {
        let Ok(work) = lock(rx).recv() else { break };
        let members = work.files;
        let index = work.index;
        match ctx.stopped() {
            Some(Stop::Cancelled) => {
                lock(out).pending += members.len() as u64;
                continue;
            }
            Some(Stop::Fatal(why)) => {
                fail_all(ctx, out, index, &members, &format!("not attempted: {why}"));
                continue;
            }
            None => {}
        }
        match work.target {
            Some(Ok(target)) => upload_shard(ctx, index, members, target, opts, out),
            Some(Err(msg)) => fail_all(ctx, out, index, &members, &format!("no signed URL: {msg}")),
            None => fail_all(
                ctx,
                out,
                index,
                &members,
                "not attempted: the ingest stopped",
            ),
        }
    }
}

fn fail_all(
    ctx: &Ctx<'_>,
    out: &Mutex<Outcome>,
    index: u64,
    files: &[(u64, SourceFile)],
    reason: &str,
) {
    (ctx.progress)(&IngestEvent::UnitFailed {
        unit: UnitKind::Shard,
        index,
        files: files.len() as u64,
        reason: reason.to_string(),
    });
    let mut out = lock(out);
    for (_, f) in files {
        out.failed.push(failed(f, reason));
    }
}

fn failed(f: &SourceFile, reason: &str) -> FailedFile {
    FailedFile {
        name: f.name.clone(),
        path: Some(f.path.to_string_lossy().into_owned()),
        stage: FailureStage::Upload,
        reason: reason.to_string(),
    }
}

/// Takes each file's size and modification time as they are now, so that a file changed
/// since discovery is sent (and journaled) as it is; drops files that vanished, emptied or
/// outgrew the limits.
fn refresh(
    files: Vec<(u64, SourceFile)>,
    max_bytes: u64,
    extra: u64,
) -> (Vec<(u64, SourceFile)>, Vec<FailedFile>) {
    let mut keep = Vec::with_capacity(files.len());
    let mut lost = Vec::new();
    let mut total = tar_size([]) + extra;
    for (i, mut f) in files {
        match std::fs::metadata(&f.path) {
            Err(e) => lost.push(failed(
                &f,
                &format!("could not be read when its shard started: {e}"),
            )),
            Ok(m) if m.len() == 0 => lost.push(failed(&f, "became empty before its shard started")),
            Ok(m) => {
                let add = tar_entry_size(f.name.len(), m.len());
                if total + add > max_bytes {
                    let why = format!("grew to {} bytes and no longer fits in its shard", m.len());
                    lost.push(failed(&f, &why));
                    continue;
                }
                total += add;
                f.size = m.len();
                f.modified = m.modified().ok();
                keep.push((i, f));
            }
        }
    }
    (keep, lost)
}

fn upload_shard(
    ctx: &Ctx<'_>,
    index: u64,
    planned: Vec<(u64, SourceFile)>,
    target: SignedUrlDetails,
    opts: &BulkOptions,
    out: &Mutex<Outcome>,
) {
    let extra = opts.notification.as_ref().map_or(0, |b| {
        tar_entry_size(NOTIFICATION_CONFIG.len(), b.len() as u64)
    });
    let max_bytes = target.max_shard_size.unwrap_or(DEFAULT_MAX_SHARD_BYTES);
    let (members, lost) = refresh(planned, max_bytes, extra);
    if !lost.is_empty() {
        lock(out).failed.extend(lost);
    }
    if members.is_empty() {
        return;
    }
    let mut entries = Vec::with_capacity(members.len() + 1);
    for (_, f) in &members {
        match TarEntry::file(f.name.clone(), f.path.clone(), f.size, f.modified) {
            Ok(e) => entries.push(e),
            Err(e) => return fail_all(ctx, out, index, &members, &e.to_string()),
        }
    }
    if let Some(bytes) = &opts.notification {
        match TarEntry::bytes(NOTIFICATION_CONFIG, bytes.clone(), 0) {
            Ok(e) => entries.push(e),
            Err(e) => return fail_all(ctx, out, index, &members, &e.to_string()),
        }
    }
    let shard = TarShard::new(entries);
    if let Some(max) = target.max_number_of_images
        && members.len() as u64 > max
    {
        let why = format!(
            "{} images, over this URL's maxNumberOfImages ({max})",
            members.len()
        );
        return fail_all(ctx, out, index, &members, &why);
    }
    let records: Vec<FileRecord> = members.iter().map(|(_, f)| FileRecord::of(f)).collect();
    let mut current =
        match ctx.journal_pending(UnitType::Shard, target.shard_id.as_deref(), &records) {
            Ok(seq) => (seq, target.shard_id.clone()),
            Err(e) => {
                return fail_all(ctx, out, index, &members, &format!("not attempted: {e}"));
            }
        };
    drop(records);
    // The first reader error (a file that changed mid-upload) says more than the transport's.
    let reader_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let job = PutJob {
        api: ctx.api,
        progress: &ctx.progress,
        unit: UnitKind::Shard,
        index,
        len: shard.len(),
        open: {
            let shard = shard.clone();
            let slot = reader_error.clone();
            Arc::new(move || {
                Ok(Box::new(Noting {
                    inner: shard.reader(),
                    slot: slot.clone(),
                }) as Box<dyn io::Read + Send>)
            })
        },
        retries: &ctx.retries,
    };
    let result = job.run(
        target,
        |api| api.request_shard_upload(ctx.batch, ctx.display_name),
        |t| {
            let records: Vec<FileRecord> = members.iter().map(|(_, f)| FileRecord::of(f)).collect();
            let seq = ctx.journal_pending(UnitType::Shard, t.shard_id.as_deref(), &records)?;
            current = (seq, t.shard_id.clone());
            Ok(())
        },
    );
    match result {
        Ok(done) => {
            if let Err(e) = ctx.journal_done(current.0) {
                // Uploaded, but a re-run may not know it: say so, without failing the files.
                ctx.fatal(e);
            }
            let bytes: u64 = members.iter().map(|(_, f)| f.size).sum();
            {
                let mut expect = lock(&ctx.expect);
                let unit = expect.unit(current.1.as_deref());
                for (i, f) in &members {
                    expect.file(&f.name, unit, *i);
                }
            }
            (ctx.progress)(&IngestEvent::UnitDone {
                unit: UnitKind::Shard,
                index,
                files: members.len() as u64,
                bytes,
                latency: done.latency,
                attempts: done.attempts,
            });
            let mut o = lock(out);
            o.files_uploaded += members.len() as u64;
            o.bytes_uploaded += bytes;
            o.wire_bytes += shard.len();
            o.units += 1;
            o.latencies.push(done.latency);
        }
        Err(e) => {
            let noted = lock(&reader_error).clone();
            let why = match noted {
                Some(r) => format!("shard not uploaded: {r}"),
                None => format!("shard not uploaded: {e}"),
            };
            fail_all(ctx, out, index, &members, &why);
        }
    }
}

/// Keeps the first error a reader returns.
struct Noting<R> {
    inner: R,
    slot: Arc<Mutex<Option<String>>>,
}

impl<R: io::Read> io::Read for Noting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        })
    }
}
