//! One upload per file: multipart uploads of single images (small sets, `simple-batch`es)
//! and signed-URL PUTs of videos streamed from disk, both in parallel.

use std::io;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::discover::SourceFile;
use super::journal::{FileRecord, UnitType};
use super::progress::{IngestEvent, UnitKind};
use super::put::{PutJob, counting_retries};
use super::report::{FailedFile, FailureStage, IngestMethod, SkipReason};
use super::resume::NO_UNIT;
use super::run::{Ctx, Outcome, Stop, Todo};
use crate::error::{Error, Result};
use crate::transport::ExactLengthReader;

/// Single-image uploads hold each image in memory, so fewer run at once than shards.
const MAX_SINGLE_IMAGE_WORKERS: usize = 8;

/// Uploads each image with `POST …/upload/image`.
pub(crate) fn images(ctx: &Ctx<'_>, todo: Todo<'_>) -> Result<Outcome> {
    let workers = ctx.parallelism.min(MAX_SINGLE_IMAGE_WORKERS);
    each(
        ctx,
        todo,
        IngestMethod::SingleImages,
        workers,
        |ctx, i, (at, f), out| {
            let started = Instant::now();
            let bytes = match std::fs::read(&f.path) {
                Ok(b) => b,
                Err(e) => {
                    return fail(ctx, out, UnitKind::Image, i, f, &format!("reading it: {e}"));
                }
            };
            let mut now = f.clone();
            if bytes.len() as u64 != f.size {
                // Changed since discovery: send it as it is now, and journal that.
                now.size = bytes.len() as u64;
                now.modified = std::fs::metadata(&f.path).and_then(|m| m.modified()).ok();
            }
            let seq = match ctx.journal_pending(UnitType::Single, None, &[FileRecord::of(&now)]) {
                Ok(s) => s,
                Err(e) => {
                    return fail(
                        ctx,
                        out,
                        UnitKind::Image,
                        i,
                        f,
                        &format!("not attempted: {e}"),
                    );
                }
            };
            let sent = counting_retries(
                &ctx.retries,
                &ctx.progress,
                (UnitKind::Image, i as u64),
                "upload",
                || {
                    ctx.api
                        .upload_image(ctx.batch, &now.name, &bytes, ctx.display_name)
                },
            );
            match sent {
                Ok(()) => done(
                    ctx,
                    out,
                    UnitKind::Image,
                    i,
                    (at, &now),
                    seq,
                    started.elapsed(),
                    1,
                    now.size,
                ),
                // The batch holds bulk uploads: nothing more can go this way.
                Err(e @ Error::Conflict(_)) => ctx.fatal(e),
                Err(e) => fail(ctx, out, UnitKind::Image, i, f, &e.to_string()),
            }
        },
    )
}

/// Uploads each video: a signed URL (`POST …/upload/video`), then a PUT streamed from the
/// file.
pub(crate) fn videos(ctx: &Ctx<'_>, todo: Todo<'_>) -> Result<Outcome> {
    each(
        ctx,
        todo,
        IngestMethod::Videos,
        ctx.parallelism,
        |ctx, i, (at, f), out| {
            let asked = counting_retries(
                &ctx.retries,
                &ctx.progress,
                (UnitKind::Video, i as u64),
                "signed URL request",
                || {
                    ctx.api
                        .request_video_upload(ctx.batch, &f.name, ctx.display_name)
                },
            );
            let target = match asked {
                Ok(t) => t,
                // The batch holds bulk uploads: nothing more can go this way.
                Err(e @ Error::Conflict(_)) => return ctx.fatal(e),
                Err(e) => {
                    return fail(
                        ctx,
                        out,
                        UnitKind::Video,
                        i,
                        f,
                        &format!("no signed URL: {e}"),
                    );
                }
            };
            if let Some(max) = target.max_file_size
                && f.size > max
            {
                let why = format!("{} bytes, over the service's maxFileSize of {max}", f.size);
                let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                o.skip(ctx, f, SkipReason::TooLarge, why);
                return;
            }
            let seq = match ctx.journal_pending(UnitType::Single, None, &[FileRecord::of(f)]) {
                Ok(s) => s,
                Err(e) => {
                    return fail(
                        ctx,
                        out,
                        UnitKind::Video,
                        i,
                        f,
                        &format!("not attempted: {e}"),
                    );
                }
            };
            let path = f.path.clone();
            let (len, modified) = (f.size, f.modified);
            let job = PutJob {
                api: ctx.api,
                progress: &ctx.progress,
                unit: UnitKind::Video,
                index: i as u64,
                len,
                open: Arc::new(move || {
                    let file = std::fs::File::open(&path)?;
                    let meta = file.metadata()?;
                    if meta.len() != len || (modified.is_some() && meta.modified().ok() != modified)
                    {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{} changed since it was found", path.display()),
                        ));
                    }
                    Ok(Box::new(ExactLengthReader::new(file, len)) as Box<dyn io::Read + Send>)
                }),
                retries: &ctx.retries,
            };
            let fresh = || {
                ctx.api
                    .request_video_upload(ctx.batch, &f.name, ctx.display_name)
            };
            match job.run(target, fresh, |_| Ok(())) {
                Ok(d) => done(
                    ctx,
                    out,
                    UnitKind::Video,
                    i,
                    (at, f),
                    seq,
                    d.latency,
                    d.attempts,
                    len,
                ),
                Err(e) => fail(ctx, out, UnitKind::Video, i, f, &e.to_string()),
            }
        },
    )
}

/// Runs `work` for each file to upload on `workers` threads of the pool, fed in order by
/// a thread reading the list of files (a few files ahead of the uploads).
fn each(
    ctx: &Ctx<'_>,
    mut todo: Todo<'_>,
    method: IngestMethod,
    workers: usize,
    work: impl Fn(&Ctx<'_>, usize, (u64, &SourceFile), &Mutex<Outcome>) + Sync,
) -> Result<Outcome> {
    let mut bytes = 0;
    todo.each_size(|size, _| bytes += size)?;
    ctx.planned(method, todo.files, bytes, todo.files, todo.resumed());
    let unit = if method == IngestMethod::Videos {
        UnitKind::Video
    } else {
        UnitKind::Image
    };
    let out = Mutex::new(Outcome::default());
    let workers = workers.max(1);
    let (tx, rx) = sync_channel::<(usize, u64, SourceFile)>(2 * workers);
    let rx = Mutex::new(rx);
    let work = &work;
    let fed = std::thread::scope(|ts| {
        let feeder = ts.spawn(move || {
            let mut i = 0usize;
            todo.each(ctx, |at, f| {
                let (files, bytes) = (1, f.size);
                let sent = tx.send((i, at, f)).is_ok();
                if sent {
                    (ctx.progress)(&IngestEvent::UnitQueued {
                        unit,
                        index: i as u64,
                        files,
                        bytes,
                    });
                }
                i += 1;
                Ok(sent)
            })
        });
        ctx.pool.scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| {
                    loop {
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((i, at, f)) = next else { break };
                        match ctx.stopped() {
                            Some(Stop::Fatal(why)) => {
                                fail(ctx, &out, unit, i, &f, &format!("not attempted: {why}"))
                            }
                            Some(Stop::Cancelled) => {
                                out.lock().unwrap_or_else(|p| p.into_inner()).pending += 1
                            }
                            None => work(ctx, i, (at, &f), &out),
                        }
                    }
                });
            }
        });
        feeder.join()
    });
    match fed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ctx.fatal(e),
        Err(_) => ctx.fatal(Error::Config(
            "the thread reading the files panicked".into(),
        )),
    }
    Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
}

#[allow(clippy::too_many_arguments)]
fn done(
    ctx: &Ctx<'_>,
    out: &Mutex<Outcome>,
    unit: UnitKind,
    index: usize,
    (at, f): (u64, &SourceFile),
    seq: u64,
    latency: Duration,
    attempts: u32,
    wire: u64,
) {
    if let Err(e) = ctx.journal_done(seq) {
        ctx.fatal(e);
    }
    {
        let mut expect = ctx.expect.lock().unwrap_or_else(|p| p.into_inner());
        expect.file(&f.name, NO_UNIT, at);
    }
    if unit == UnitKind::Image {
        (ctx.progress)(&IngestEvent::BytesSent { bytes: f.size });
    }
    (ctx.progress)(&IngestEvent::UnitDone {
        unit,
        index: index as u64,
        files: 1,
        bytes: f.size,
        latency,
        attempts,
    });
    let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
    o.files_uploaded += 1;
    o.bytes_uploaded += f.size;
    o.wire_bytes += wire;
    o.units += 1;
    o.latencies.push(latency);
}

fn fail(
    ctx: &Ctx<'_>,
    out: &Mutex<Outcome>,
    unit: UnitKind,
    index: usize,
    f: &SourceFile,
    why: &str,
) {
    (ctx.progress)(&IngestEvent::UnitFailed {
        unit,
        index: index as u64,
        files: 1,
        reason: why.to_string(),
    });
    out.lock()
        .unwrap_or_else(|p| p.into_inner())
        .failed
        .push(FailedFile {
            name: f.name.clone(),
            path: Some(f.path.to_string_lossy().into_owned()),
            stage: FailureStage::Upload,
            reason: why.to_string(),
        });
}
