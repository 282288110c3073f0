//! Sending one unit (a shard, an image, a video, a chunk of references): journaled before
//! it goes, recorded when the service accepts it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::feed::{Accepted, Chunk, Ctx, Unit};
use super::files::LocalFile;
use super::journal::{FileRecord, UnitType};
use super::plan::DEFAULT_MAX_SHARD_BYTES;
use super::put::PutJob;
use super::report::{FailedFile, FailureStage};
use super::tar_shard::{TAR_END, TarEntry, TarShard, tar_entry_size};
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::{MediaKind, NotificationCategory, ReferencesIngest, SignedUrlDetails};
use crate::progress::UnitKind;
use crate::sync::lock;
use crate::transport::ExactLengthReader;

/// The member that carries webhook settings in every shard.
pub(crate) const NOTIFICATION_CONFIG: &str = "notification_config.json";

/// What sending needs beyond the shared context.
#[derive(Default)]
pub(crate) struct Settings {
    pub media: MediaKind,
    /// The bytes of `notification_config.json`, when a shard carries webhook settings.
    pub notification: Option<Arc<[u8]>>,
    pub notifications_url: Option<String>,
    pub categories: Vec<NotificationCategory>,
}

impl Settings {
    /// The bytes `notification_config.json` adds to every shard.
    pub fn shard_extra(&self) -> u64 {
        self.notification.as_ref().map_or(0, |b| {
            tar_entry_size(NOTIFICATION_CONFIG.len(), b.len() as u64)
        })
    }
}

/// Why a file of `size` bytes is left out.
pub(crate) fn over_max_file(size: u64, max: u64) -> String {
    format!("{size} bytes, over the service's maxFileSize of {max}")
}

/// Sends unit `index`.
pub(crate) fn unit(ctx: &Ctx<'_>, settings: &Settings, index: u64, unit: Unit) {
    match unit {
        Unit::Shard {
            files,
            target: Some(Ok(target)),
        } => shard(ctx, settings, index, files, target),
        Unit::Shard {
            target: Some(Err(ref why)),
            ..
        } => ctx.fail(index, &unit, &format!("no signed URL: {why}")),
        Unit::Shard { target: None, .. } => {
            ctx.fail(index, &unit, "not attempted: the ingest stopped")
        }
        Unit::Image(f) => image(ctx, index, f),
        Unit::Video(f) => video(ctx, index, f),
        Unit::References(c) => references(ctx, settings, index, c),
    }
}

/// Journals a unit's files before it goes; a journal that cannot be written fails it.
fn pending(
    ctx: &Ctx<'_>,
    t: UnitType,
    shard: Option<&str>,
    files: &[&LocalFile],
) -> Result<Option<u64>> {
    let Some(j) = &ctx.journal else {
        return Ok(None);
    };
    let records = files.iter().map(|f| FileRecord::of(f)).collect();
    j.pending(t, shard, records).map(Some).inspect_err(|e| {
        ctx.fatal(Error::Config(e.to_string()));
    })
}

fn failed(f: &LocalFile, reason: &str) -> FailedFile {
    let origin = f.path.to_string_lossy().into_owned();
    FailedFile::new(&f.name, origin, FailureStage::Upload, reason)
}

/// Takes each file as it is now (sent and journaled so); drops those that vanished,
/// emptied or outgrew the shard.
fn refresh(
    files: Vec<(u64, LocalFile)>,
    max_bytes: u64,
    extra: u64,
) -> (Vec<(u64, LocalFile)>, Vec<FailedFile>) {
    let mut keep = Vec::with_capacity(files.len());
    let mut lost = Vec::new();
    let mut total = TAR_END + extra;
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

fn shard(
    ctx: &Ctx<'_>,
    settings: &Settings,
    index: u64,
    planned: Vec<(u64, LocalFile)>,
    target: SignedUrlDetails,
) {
    let max_bytes = target.max_shard_size.unwrap_or(DEFAULT_MAX_SHARD_BYTES);
    let (members, lost) = refresh(planned, max_bytes, settings.shard_extra());
    if !lost.is_empty() {
        ctx.out().failed.extend(lost);
    }
    if members.is_empty() {
        return;
    }
    let unit = Unit::Shard {
        files: members,
        target: None,
    };
    let Unit::Shard { files: members, .. } = &unit else {
        return;
    };
    let files = members.iter().map(|(_, f)| f);
    let entries = (files.map(|f| TarEntry::file(&f.name, &f.path, f.size, f.modified)))
        .chain(
            settings
                .notification
                .iter()
                .map(|b| TarEntry::bytes(NOTIFICATION_CONFIG, b.clone(), 0)),
        )
        .collect::<Result<Vec<_>>>();
    let entries = match entries {
        Ok(entries) => entries,
        Err(e) => return ctx.fail(index, &unit, &e.to_string()),
    };
    if let Some(max) = target.max_number_of_images
        && members.len() as u64 > max
    {
        let why = format!(
            "{} images, over this URL's maxNumberOfImages ({max})",
            members.len()
        );
        return ctx.fail(index, &unit, &why);
    }
    let shard = TarShard::new(entries);
    let files: Vec<&LocalFile> = members.iter().map(|(_, f)| f).collect();
    let mut current = match pending(ctx, UnitType::Shard, target.shard_id.as_deref(), &files) {
        Ok(seq) => (seq, target.shard_id.clone()),
        Err(e) => return ctx.fail(index, &unit, &format!("not attempted: {e}")),
    };
    // The first reader error (a file that changed mid-upload) says more than the transport's.
    let reader_error: Arc<Mutex<Option<String>>> = Arc::default();
    let job = PutJob {
        ctx,
        unit: UnitKind::Shard,
        index,
        len: shard.len(),
        open: {
            let slot = reader_error.clone();
            Arc::new(move || {
                Ok(Box::new(Noting {
                    inner: shard.reader(),
                    slot: slot.clone(),
                }) as Box<dyn io::Read + Send>)
            })
        },
    };
    let fresh = |api: &BatchApi| api.request_shard_upload(ctx.batch, ctx.display_name);
    let result = job.run(target, fresh, |t| {
        let seq = pending(ctx, UnitType::Shard, t.shard_id.as_deref(), &files)?;
        current = (seq, t.shard_id.clone());
        Ok(())
    });
    match result {
        Ok(done) => {
            let accepted = Accepted {
                attempts: done.attempts,
                shards: Some(current.1.into_iter().collect()),
                ..Accepted::new(index, &unit, job.len, done.latency)
            };
            ctx.accepted(accepted, current.0);
        }
        Err(e) => {
            let why = lock(&reader_error).clone().unwrap_or_else(|| e.to_string());
            ctx.fail(index, &unit, &format!("shard not uploaded: {why}"));
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
            let mut slot = lock(&self.slot);
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        })
    }
}

/// `POST …/upload/image` with the file's bytes.
fn image(ctx: &Ctx<'_>, index: u64, mut f: LocalFile) {
    let started = Instant::now();
    let bytes = match std::fs::read(&f.path) {
        Ok(b) => b,
        Err(e) => return ctx.fail(index, &Unit::Image(f), &format!("reading it: {e}")),
    };
    if bytes.len() as u64 != f.size {
        // Changed since discovery: send it as it is now, and journal that.
        f.size = bytes.len() as u64;
        f.modified = std::fs::metadata(&f.path).and_then(|m| m.modified()).ok();
    }
    let seq = match pending(ctx, UnitType::Single, None, &[&f]) {
        Ok(s) => s,
        Err(e) => return ctx.fail(index, &Unit::Image(f), &format!("not attempted: {e}")),
    };
    let sent = ctx.retrying(UnitKind::Image, index, "upload", |api| {
        api.upload_image(ctx.batch, &f.name, &bytes, ctx.display_name)
    });
    let unit = Unit::Image(f);
    match sent {
        Ok(()) => {
            let wire = bytes.len() as u64;
            ctx.accepted(Accepted::new(index, &unit, wire, started.elapsed()), seq);
        }
        // The batch holds bulk uploads: nothing more can go this way.
        Err(e @ Error::Conflict(_)) => ctx.fatal(e),
        Err(e) => ctx.fail(index, &unit, &e.to_string()),
    }
}

/// A signed URL (`POST …/upload/video`), then a PUT streamed from the file.
fn video(ctx: &Ctx<'_>, index: u64, f: LocalFile) {
    let ask = |api: &BatchApi| api.request_video_upload(ctx.batch, &f.name, ctx.display_name);
    let asked = ctx.retrying(UnitKind::Video, index, "signed URL request", ask);
    let unit = Unit::Video(f.clone());
    let target = match asked {
        Ok(t) => t,
        // The batch holds bulk uploads: nothing more can go this way.
        Err(e @ Error::Conflict(_)) => return ctx.fatal(e),
        Err(e) => return ctx.fail(index, &unit, &format!("no signed URL: {e}")),
    };
    if let Some(max) = target.max_file_size
        && f.size > max
    {
        return ctx.too_large(&f, over_max_file(f.size, max));
    }
    let seq = match pending(ctx, UnitType::Single, None, &[&f]) {
        Ok(s) => s,
        Err(e) => return ctx.fail(index, &unit, &format!("not attempted: {e}")),
    };
    let (path, len, modified) = (f.path.clone(), f.size, f.modified);
    let job = PutJob {
        ctx,
        unit: UnitKind::Video,
        index,
        len,
        open: Arc::new(move || {
            let file = std::fs::File::open(&path)?;
            let meta = file.metadata()?;
            if meta.len() != len || (modified.is_some() && meta.modified().ok() != modified) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} changed since it was found", path.display()),
                ));
            }
            Ok(Box::new(ExactLengthReader::new(file, len)) as Box<dyn io::Read + Send>)
        }),
    };
    match job.run(target, ask, |_| Ok(())) {
        Ok(d) => {
            let accepted = Accepted {
                attempts: d.attempts,
                ..Accepted::new(index, &unit, len, d.latency)
            };
            ctx.accepted(accepted, seq);
        }
        Err(e) => ctx.fail(index, &unit, &e.to_string()),
    }
}

/// `POST …/bulk-upload/image-references` (or `video-references`) with one chunk.
fn references(ctx: &Ctx<'_>, settings: &Settings, index: u64, mut chunk: Chunk) {
    let started = Instant::now();
    let mut body = ReferencesIngest {
        image_references: None,
        image_references_url: None,
        ingest_id: chunk.ingest_id.clone(),
        notifications_url: settings.notifications_url.clone(),
        notification_categories: (!settings.categories.is_empty())
            .then(|| settings.categories.clone()),
    };
    match &chunk.url {
        Some(url) => body.image_references_url = Some(url.clone()),
        None => body.image_references = Some(std::mem::take(&mut chunk.refs)),
    }
    let answer = ctx.retrying(
        UnitKind::References,
        index,
        "references",
        |api| match settings.media {
            MediaKind::Images => api.ingest_image_references(ctx.batch, &body, ctx.display_name),
            MediaKind::Videos => api.ingest_video_references(ctx.batch, &body, ctx.display_name),
        },
    );
    chunk.refs = body.image_references.take().unwrap_or_default();
    let unit = Unit::References(chunk);
    match answer {
        Ok(r) => {
            ctx.out().ingest_ids.push((index, r.ingest_id));
            let accepted = Accepted {
                shards: Some(r.shard_ids.unwrap_or_default()),
                repeat: r.duplicated == Some(true),
                ..Accepted::new(index, &unit, 0, started.elapsed())
            };
            ctx.accepted(accepted, None);
        }
        // The batch holds single uploads: nothing more can go this way.
        Err(e @ Error::Conflict(_)) => ctx.fatal(e),
        Err(e) => ctx.fail(index, &unit, &e.to_string()),
    }
}
