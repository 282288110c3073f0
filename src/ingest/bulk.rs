//! Bulk image ingest: streamed tar shards PUT in parallel on a dedicated rayon pool, while
//! a prefetch thread asks for the next signed URLs.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use super::archive::{TarEntry, TarShard, tar_entry_size, tar_size};
use super::discover::SourceFile;
use super::journal::{FileRecord, UnitType};
use super::plan::{self, DEFAULT_MAX_IMAGES_PER_SHARD, DEFAULT_MAX_SHARD_BYTES, ShardLimits};
use super::progress::{IngestEvent, UnitKind};
use super::put::PutJob;
use super::report::{FailedFile, FailureStage, IngestMethod, SkipReason};
use super::run::{Ctx, Outcome, Stop};
use crate::error::Result;
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

/// Uploads `files` as shards; per-shard failures land in the outcome, and only problems
/// that stop everything (no first signed URL, a journal that cannot be written) are errors.
pub(crate) fn upload(
    ctx: &Ctx<'_>,
    files: Vec<SourceFile>,
    opts: &BulkOptions,
    resumed: (u64, u64),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    if files.is_empty() {
        ctx.planned(IngestMethod::Shards, 0, 0, 0, resumed);
        return Ok(out);
    }
    let first = ctx.api.request_shard_upload(ctx.batch, ctx.display_name)?;
    let limits = ShardLimits {
        max_images: first
            .max_number_of_images
            .unwrap_or(DEFAULT_MAX_IMAGES_PER_SHARD)
            .min(opts.max_images.unwrap_or(u64::MAX))
            .max(1),
        max_bytes: first.max_shard_size.unwrap_or(DEFAULT_MAX_SHARD_BYTES),
    };
    let max_file = first.max_file_size.unwrap_or(u64::MAX);
    let (files, too_large): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.size <= max_file);
    for f in too_large {
        let detail = format!(
            "{} bytes, over the service's maxFileSize of {max_file}",
            f.size
        );
        out.skip(ctx, &f, SkipReason::TooLarge, detail);
    }
    let extra = opts.notification.as_ref().map_or(0, |b| {
        tar_entry_size(NOTIFICATION_CONFIG.len(), b.len() as u64)
    });
    let plan = plan::plan(&files, limits, extra, ctx.parallelism);
    for &i in &plan.too_big {
        let detail = format!(
            "{} bytes: a shard holding it alone would exceed maxShardSize ({} bytes)",
            files[i].size, limits.max_bytes
        );
        out.skip(ctx, &files[i], SkipReason::TooLarge, detail);
    }
    let planned: Vec<&SourceFile> = plan
        .shards
        .iter()
        .flat_map(|s| s.files.iter().map(|&i| &files[i]))
        .collect();
    ctx.planned(
        IngestMethod::Shards,
        planned.len() as u64,
        planned.iter().map(|f| f.size).sum(),
        plan.shards.len() as u64,
        resumed,
    );

    let n = plan.shards.len();
    let (tx, rx) = sync_channel::<Result<SignedUrlDetails, String>>(ctx.parallelism.max(1));
    let _ = tx.send(Ok(first));
    let last_url_error: Mutex<Option<String>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let out = Mutex::new(out);
    std::thread::scope(|ts| {
        // Ask for the next signed URLs while the PUTs run.
        let stop = &ctx.stop;
        let last = &last_url_error;
        ts.spawn(move || {
            for _ in 1..n {
                if stop.load(Ordering::Relaxed) || ctx.cancelled() {
                    break;
                }
                let r = ctx.api.request_shard_upload(ctx.batch, ctx.display_name);
                let fatal = r.as_ref().is_err_and(|e| !e.is_retryable());
                let r = r.map_err(|e| e.to_string());
                if let Err(msg) = &r {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.clone());
                }
                if tx.send(r).is_err() || fatal {
                    break;
                }
            }
        });
        let rx = Mutex::new(rx);
        ctx.pool.scope(|s| {
            for _ in 0..ctx.parallelism.min(n) {
                s.spawn(|_| {
                    worker(
                        ctx,
                        &files,
                        &plan.shards,
                        opts,
                        &next,
                        &rx,
                        &last_url_error,
                        &out,
                    )
                });
            }
        });
        drop(rx);
    });
    Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
}

#[allow(clippy::too_many_arguments)]
fn worker(
    ctx: &Ctx<'_>,
    files: &[SourceFile],
    shards: &[plan::PlannedShard],
    opts: &BulkOptions,
    next: &AtomicUsize,
    rx: &Mutex<Receiver<Result<SignedUrlDetails, String>>>,
    last_url_error: &Mutex<Option<String>>,
    out: &Mutex<Outcome>,
) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(shard) = shards.get(i) else { break };
        let members: Vec<&SourceFile> = shard.files.iter().map(|&f| &files[f]).collect();
        match ctx.stopped() {
            Some(Stop::Cancelled) => {
                out.lock().unwrap_or_else(|p| p.into_inner()).pending += members.len() as u64;
                continue;
            }
            Some(Stop::Fatal(why)) => {
                fail_all(ctx, out, i, &members, &format!("not attempted: {why}"));
                continue;
            }
            None => {}
        }
        let target = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match target {
            Ok(Ok(target)) => upload_shard(ctx, i, &members, target, opts, out),
            Ok(Err(msg)) => fail_all(ctx, out, i, &members, &format!("no signed URL: {msg}")),
            Err(_) => {
                let why = last_url_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .unwrap_or_else(|| "the URL requests stopped".into());
                fail_all(ctx, out, i, &members, &format!("no signed URL: {why}"));
            }
        }
    }
}

fn fail_all(
    ctx: &Ctx<'_>,
    out: &Mutex<Outcome>,
    index: usize,
    files: &[&SourceFile],
    reason: &str,
) {
    (ctx.progress)(&IngestEvent::UnitFailed {
        unit: UnitKind::Shard,
        index: index as u64,
        files: files.len() as u64,
        reason: reason.to_string(),
    });
    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
    for f in files {
        out.failed.push(failed(f, reason));
    }
}

fn path_text(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
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
    files: &[&SourceFile],
    max_bytes: u64,
    extra: u64,
) -> (Vec<SourceFile>, Vec<FailedFile>) {
    let mut keep = Vec::with_capacity(files.len());
    let mut lost = Vec::new();
    let mut total = tar_size([]) + extra;
    for f in files {
        match std::fs::metadata(&f.path) {
            Err(e) => lost.push(failed(
                f,
                &format!("could not be read when its shard started: {e}"),
            )),
            Ok(m) if m.len() == 0 => lost.push(failed(f, "became empty before its shard started")),
            Ok(m) => {
                let add = tar_entry_size(f.name.len(), m.len());
                if total + add > max_bytes {
                    let why = format!("grew to {} bytes and no longer fits in its shard", m.len());
                    lost.push(failed(f, &why));
                    continue;
                }
                total += add;
                let mut now = (*f).clone();
                now.size = m.len();
                now.modified = m.modified().ok();
                keep.push(now);
            }
        }
    }
    (keep, lost)
}

fn upload_shard(
    ctx: &Ctx<'_>,
    index: usize,
    planned: &[&SourceFile],
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
        out.lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed
            .extend(lost);
    }
    if members.is_empty() {
        return;
    }
    let refs: Vec<&SourceFile> = members.iter().collect();
    let mut entries = Vec::with_capacity(members.len() + 1);
    for f in &members {
        match TarEntry::file(f.name.clone(), f.path.clone(), f.size, f.modified) {
            Ok(e) => entries.push(e),
            Err(e) => return fail_all(ctx, out, index, &refs, &e.to_string()),
        }
    }
    if let Some(bytes) = &opts.notification {
        match TarEntry::bytes(NOTIFICATION_CONFIG, bytes.clone(), 0) {
            Ok(e) => entries.push(e),
            Err(e) => return fail_all(ctx, out, index, &refs, &e.to_string()),
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
        return fail_all(ctx, out, index, &refs, &why);
    }
    let records: Vec<FileRecord> = members.iter().map(FileRecord::of).collect();
    let mut current =
        match ctx.journal_pending(UnitType::Shard, target.shard_id.as_deref(), &records) {
            Ok(seq) => (seq, target.shard_id.clone()),
            Err(e) => return fail_all(ctx, out, index, &refs, &format!("not attempted: {e}")),
        };
    // The first reader error (a file that changed mid-upload) says more than the transport's.
    let reader_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let job = PutJob {
        api: ctx.api,
        progress: &ctx.progress,
        unit: UnitKind::Shard,
        index: index as u64,
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
        || ctx.api.request_shard_upload(ctx.batch, ctx.display_name),
        |t| {
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
            (ctx.progress)(&IngestEvent::UnitDone {
                unit: UnitKind::Shard,
                index: index as u64,
                files: members.len() as u64,
                bytes: members.iter().map(|f| f.size).sum(),
                latency: done.latency,
                attempts: done.attempts,
            });
            let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
            o.files_uploaded += members.len() as u64;
            o.bytes_uploaded += members.iter().map(|f| f.size).sum::<u64>();
            o.wire_bytes += shard.len();
            o.units += 1;
            o.latencies.push(done.latency);
            let files = members
                .iter()
                .map(|f| (f.name.clone(), path_text(&f.path)))
                .collect();
            o.units_done.push((current.1, files));
        }
        Err(e) => {
            let noted = reader_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let why = match noted {
                Some(r) => format!("shard not uploaded: {r}"),
                None => format!("shard not uploaded: {e}"),
            };
            fail_all(ctx, out, index, &refs, &why);
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
