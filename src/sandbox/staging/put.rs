//! Signed PUTs: receiving a shard or a video body for a signed upload.
//!
//! Each upload is `pending`, `receiving` or `done`, and moves only under the state lock: a
//! second PUT racing on the same URL gets a 409 instead of storing the body twice, a PUT
//! that fails returns the upload to pending, and a repeat of a completed upload is
//! answered 200 while the first copy stands.

use std::io::{BufWriter, Read, Write};
use std::sync::atomic::Ordering;

use super::super::State;
use super::signed::UPLOAD_HEADER;
use super::store::{
    FileRec, Shard, ShardSource, ShardState, Upload, UploadKind, UploadState, layout,
};
use super::tarindex::{Indexed, index_file, index_stream};
use crate::sandbox::StoreMode;
use crate::server::{Body, Head, Reply};

/// Holds an upload in `receiving`; dropping it unfinished (an error, a panic) returns the
/// upload to `pending`.
struct Claim<'a> {
    state: &'a State,
    id: &'a str,
    finished: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.finished
            && let Some(u) = self.state.lock().staging.uploads.get_mut(self.id)
            && u.state == UploadState::Receiving
        {
            u.state = UploadState::Pending;
        }
    }
}

/// Receives a PUT whose URL was verified and allows at most `limit` bytes.
pub(super) fn put(
    state: &State,
    head: &Head,
    id: &str,
    limit: Option<u64>,
    req: &mut Body<'_>,
) -> Reply {
    let Some(limit) = limit else {
        return Reply::error(403, "this signed URL does not allow uploads");
    };
    let Some(upload) = state.lock().staging.uploads.get(id).cloned() else {
        return Reply::error(404, format!("no signed upload {id:?}"));
    };
    if head.header(UPLOAD_HEADER) != Some(id) {
        return Reply::error(
            403,
            format!(
                "missing or wrong extension header {UPLOAD_HEADER}; send the signedURLDetails.extensionHeaders"
            ),
        );
    }
    let Some(len) = head.content_length else {
        return Reply::error(411, "Content-Length is required");
    };
    let max = limit.min(upload.max_size);
    if len > max {
        let name = if upload.kind == UploadKind::Shard {
            "maxShardSize"
        } else {
            "maxFileSize"
        };
        return Reply::error(
            413,
            format!("upload of {len} bytes exceeds {name} ({max} bytes); nothing was stored"),
        );
    }
    // Claim the upload, or learn that it is taken or done, in one step under the lock.
    let previous = {
        let mut inner = state.lock();
        match inner.staging.uploads.get_mut(id) {
            None => return Reply::error(404, format!("no signed upload {id:?}")),
            Some(u) => {
                let was = u.state;
                if was == UploadState::Pending {
                    u.state = UploadState::Receiving;
                }
                was
            }
        }
    };
    match previous {
        UploadState::Done => {
            // A retry of a completed upload: the first copy stands.
            let _ = std::io::copy(&mut req.as_reader().take(len), &mut std::io::sink());
            state.put_count.fetch_add(1, Ordering::Relaxed);
            return Reply::json(200, &serde_json::json!({ "status": "ok" }));
        }
        UploadState::Receiving => {
            return Reply::error(
                409,
                "another PUT to this signed URL is in progress; retry once it has finished",
            )
            .closing();
        }
        UploadState::Pending => {}
    }
    let mut claim = Claim {
        state,
        id,
        finished: false,
    };
    let stored = if state.config().store == StoreMode::Discard {
        receive_discarded(state, req, len, &upload)
    } else {
        receive_stored(state, req, len, id, &upload)
    };
    let stored = match stored {
        Ok(s) => s,
        Err(r) => return r,
    };
    if upload.kind == UploadKind::Shard {
        note_members(state, &stored);
    }
    {
        let mut inner = state.lock();
        let staging = &mut inner.staging;
        let Some(batch) = staging.batches.get_mut(&upload.batch_id) else {
            return Reply::error(404, format!("batch {:?} no longer exists", upload.batch_id));
        };
        match upload.kind {
            UploadKind::Shard => batch.shards.push(Shard {
                id: upload.target.clone(),
                state: ShardState::Indexing,
                status_name: "shard-indexing-in-progress".into(),
                status_type: "info".into(),
                event: super::store::ts_now(),
                objects: 0,
                metadata: None,
                source: match stored {
                    Stored::Path(path) => ShardSource::Tar { path },
                    Stored::Discarded(indexed) => ShardSource::Indexed(indexed.unwrap_or_default()),
                },
                ready_at_ms: crate::sandbox::clock::ms_after(
                    state
                        .config()
                        .indexing_delay
                        .saturating_add(state.config().registration_delay),
                ),
                listed_at_ms: crate::sandbox::clock::ms_after(state.config().registration_delay),
            }),
            UploadKind::Video => {
                let (path, discarded) = match stored {
                    Stored::Path(p) => (p, false),
                    Stored::Discarded(_) => (String::new(), true),
                };
                let f = FileRec {
                    name: upload.target.clone(),
                    part: None,
                    size: len,
                    shard_id: None,
                    path,
                    offset: 0,
                    discarded,
                };
                batch.ingest(f);
            }
        }
        if let Some(u) = staging.uploads.get_mut(id) {
            u.state = UploadState::Done;
        }
        claim.finished = true;
    }
    if let Err(e) = state.save() {
        return Reply::error(500, format!("saving state failed: {e}"));
    }
    state.put_count.fetch_add(1, Ordering::Relaxed);
    Reply::json(200, &serde_json::json!({ "status": "ok" }))
}

/// Tells the request recorder a shard's members, from the stored tar's headers (or the
/// index made while the body streamed in).
fn note_members(state: &State, stored: &Stored) {
    if !crate::sandbox::record::recording() {
        return;
    }
    let indexed;
    let seen = match stored {
        Stored::Path(rel) => {
            indexed = index_file(state.data_dir(), rel, "", state.config());
            &indexed
        }
        Stored::Discarded(Some(i)) => i,
        Stored::Discarded(None) => return,
    };
    crate::sandbox::record::note_tar(&seen.members, seen.notification_config.as_deref());
}

/// Where a received body went.
enum Stored {
    /// Kept at this path, relative to the data directory.
    Path(String),
    /// Discarded; a shard's index, made while it streamed.
    Discarded(Option<Indexed>),
}

fn truncated(received: u64, len: u64) -> Reply {
    Reply::error(
        400,
        format!(
            "upload truncated: received {received} of {len} declared bytes; nothing was stored"
        ),
    )
}

/// Streams the body to a temporary file and moves it into place once it is whole.
fn receive_stored(
    state: &State,
    req: &mut Body<'_>,
    len: u64,
    id: &str,
    upload: &Upload,
) -> Result<Stored, Reply> {
    let tmp = state
        .data_dir()
        .join(layout::tmp(&format!("{id}-{}", crate::rand::hex(8))));
    let received = match receive(req, len, &tmp) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            // Too slow a body (the server's deadline) is a 408: the client may retry.
            let status = if e.kind() == std::io::ErrorKind::TimedOut {
                408
            } else {
                400
            };
            return Err(Reply::error(
                status,
                format!("upload failed while receiving: {e}; nothing was stored"),
            )
            .closing());
        }
    };
    if received != len {
        let _ = std::fs::remove_file(&tmp);
        return Err(truncated(received, len));
    }
    let rel = match upload.kind {
        UploadKind::Shard => layout::shard(&upload.batch_id, &upload.target),
        UploadKind::Video => layout::file(&upload.batch_id, &upload.target),
    };
    let dst = state.data_dir().join(&rel);
    let moved = dst
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::rename(&tmp, &dst));
    if let Err(e) = moved {
        let _ = std::fs::remove_file(&tmp);
        return Err(Reply::error(500, format!("storing the upload failed: {e}")));
    }
    Ok(Stored::Path(rel))
}

/// The discard store: a shard is indexed from its headers as it streams in, and no byte
/// is written anywhere.
fn receive_discarded(
    state: &State,
    req: &mut Body<'_>,
    len: u64,
    upload: &Upload,
) -> Result<Stored, Reply> {
    let mut counted = Counted {
        inner: req.as_reader().take(len.saturating_add(1)),
        n: 0,
    };
    let indexed = match upload.kind {
        UploadKind::Shard => Some(index_stream(&mut counted, &upload.target, state.config())),
        UploadKind::Video => {
            let _ = std::io::copy(&mut counted, &mut std::io::sink());
            None
        }
    };
    if counted.n != len {
        return Err(truncated(counted.n, len));
    }
    Ok(Stored::Discarded(indexed))
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Streams at most `len + 1` body bytes to `path`; returns how many arrived. A client
/// that hung up early reads as a short, successful read, hence the count.
fn receive(req: &mut Body<'_>, len: u64, path: &std::path::Path) -> std::io::Result<u64> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let n = std::io::copy(&mut req.as_reader().take(len.saturating_add(1)), &mut out)?;
    out.flush()?;
    Ok(n)
}
