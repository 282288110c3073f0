//! Signed PUTs of a shard or a video. An upload moves `pending` → `receiving` → `done`
//! under the state lock: a racing second PUT gets a 409, a failed PUT returns it to
//! pending, and a repeat of a completed upload is answered 200 while the first copy stands.

use std::io::Read;
use std::sync::atomic::Ordering;

use serde_json::json;

use super::super::clock::ms_after;
use super::super::config::StoreMode;
use super::super::request::{Answer, Req, fail, ok};
use super::super::state::State;
use super::super::store::{FileRec, NewFile, Shard, ShardSource, UploadKind, UploadState, layout};
use super::tarindex::{index_file, index_stream};
use crate::server::Reply;

/// The extension header every signed PUT must carry, as real signed URLs need theirs.
pub(crate) const UPLOAD_HEADER: &str = "x-rfbatch-upload";

type Answered = Result<(), Reply>;

/// Holds an upload in `receiving`; dropping it unfinished (an error, a panic) returns the
/// upload to `pending`.
struct Claim<'a>(&'a State, &'a str);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(u) = self.0.lock().staging.uploads.get_mut(self.1)
            && u.state == UploadState::Receiving
        {
            u.state = UploadState::Pending;
        }
    }
}

/// Receives a PUT whose URL was verified and allows at most `limit` bytes.
pub(super) fn put(state: &State, req: &mut Req<'_, '_>, id: &str, limit: Option<u64>) -> Answer {
    let limit = limit.ok_or_else(|| Reply::error(403, "this signed URL does not allow uploads"))?;
    let no_upload = || Reply::error(404, format!("no signed upload {id:?}"));
    let upload = state.lock().staging.uploads.get(id).cloned();
    let upload = upload.ok_or_else(no_upload)?;
    if req.head.header(UPLOAD_HEADER) != Some(id) {
        let send = "send the signedURLDetails.extensionHeaders";
        let msg = format!("missing or wrong extension header {UPLOAD_HEADER}; {send}");
        return fail(403, msg);
    }
    let Some(len) = req.head.content_length else {
        return fail(411, "Content-Length is required");
    };
    let max = limit.min(upload.max_size);
    if len > max {
        let name =
            [("maxFileSize"), ("maxShardSize")][usize::from(upload.kind == UploadKind::Shard)];
        let msg = format!("upload of {len} bytes exceeds {name} ({max} bytes); nothing was stored");
        return fail(413, msg);
    }
    // Claim the upload, or learn that it is taken or done, in one step under the lock.
    let previous = {
        let mut data = state.lock();
        let u = data.staging.uploads.get_mut(id).ok_or_else(no_upload)?;
        let was = u.state;
        if was == UploadState::Pending {
            u.state = UploadState::Receiving;
        }
        was
    };
    match previous {
        UploadState::Done => {
            // A retry of a completed upload: the first copy stands.
            let _ = std::io::copy(&mut (&mut *req.body).take(len), &mut std::io::sink());
            state.put_count.fetch_add(1, Ordering::Relaxed);
            return ok(&json!({ "status": "ok" }));
        }
        UploadState::Receiving => {
            let msg = "another PUT to this signed URL is in progress; retry once it has finished";
            return Err(Reply::error(409, msg).closing());
        }
        UploadState::Pending => {}
    }
    let _claim = Claim(state, id);
    let recording = req.notes.is_some();
    // At most one byte more than declared, to tell a body longer than its length.
    let mut body = (&mut *req.body).take(len.saturating_add(1));
    let (source, path, seen) = match (state.config.store, upload.kind) {
        (StoreMode::Discard, UploadKind::Shard) => {
            let indexed = index_stream(&mut body, &upload.target, &state.config);
            let seen = Some((indexed.members.clone(), indexed.notification_config.clone()));
            (Some(ShardSource::Indexed(indexed)), String::new(), seen)
        }
        (StoreMode::Discard, UploadKind::Video) => {
            let _ = std::io::copy(&mut body, &mut std::io::sink());
            (None, String::new(), None)
        }
        (_, UploadKind::Video) => {
            let rel = layout::file(&upload.batch_id, &upload.target);
            receive(state, id, &mut body, len, &rel)?;
            (None, rel, None)
        }
        (_, UploadKind::Shard) => {
            let rel = layout::shard(&upload.batch_id, &upload.target);
            receive(state, id, &mut body, len, &rel)?;
            // The recorder's view of the members, from the stored tar's headers.
            let seen = recording.then(|| index_file(&state.data_dir, &rel, "", &state.config));
            let seen = seen.map(|i| (i.members, i.notification_config));
            (Some(ShardSource::Tar { path: rel }), String::new(), seen)
        }
    };
    let received = len.saturating_add(1) - body.limit();
    if received != len {
        return Err(truncated(received, len));
    }
    req.note(|n| n.tar = seen);
    let mut data = state.lock();
    let staging = &mut data.staging;
    let Some(batch) = staging.batches.get_mut(&upload.batch_id) else {
        return fail(404, format!("batch {:?} no longer exists", upload.batch_id));
    };
    let c = &state.config;
    match source {
        Some(source) => {
            let ready = ms_after(c.indexing_delay.saturating_add(c.registration_delay));
            let listed = ms_after(c.registration_delay);
            let status = "shard-indexing-in-progress";
            let shard = Shard::indexing(&upload.target, status, source, ready, listed);
            batch.shards.push(shard);
        }
        None => batch.ingest(FileRec::new(upload.target.clone(), len, path)),
    }
    if let Some(u) = staging.uploads.get_mut(id) {
        u.state = UploadState::Done;
    }
    state.unlock_changed(data);
    state.put_count.fetch_add(1, Ordering::Relaxed);
    ok(&json!({ "status": "ok" }))
}

fn truncated(received: u64, len: u64) -> Reply {
    let msg = format!(
        "upload truncated: received {received} of {len} declared bytes; nothing was stored"
    );
    Reply::error(400, msg)
}

/// Streams the body to a new file at `rel`, moved into place only once it is whole;
/// its temporary name starts with the upload's `id`.
fn receive(state: &State, id: &str, body: &mut impl Read, len: u64, rel: &str) -> Answered {
    let mut file = NewFile::create(&state.data_dir, id).map_err(|e| stored_nothing(&e))?;
    let received = std::io::copy(body, &mut file.out).map_err(|e| stored_nothing(&e))?;
    if received != len {
        return Err(truncated(received, len));
    }
    file.place(&state.data_dir.join(rel))
        .map_err(|e| Reply::error(500, format!("storing the upload failed: {e}")))
}

/// A body that could not be received; too slow a body (the server's deadline) is a 408,
/// which the client may retry.
fn stored_nothing(e: &std::io::Error) -> Reply {
    let status = match e.kind() {
        std::io::ErrorKind::TimedOut => 408,
        _ => 400,
    };
    let why = format!("upload failed while receiving: {e}; nothing was stored");
    Reply::error(status, why).closing()
}
