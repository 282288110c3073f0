//! The batch endpoints of the data-staging API (D1–D11 of the notes): listings, single
//! image uploads, and the signed URLs of shard and video uploads.

use super::super::clock::now_ms;
use super::super::config::StoreMode;
use super::super::paging::{Page, nth};
use serde_json::json;

use super::super::request::{Answer, Req, bad, fail, ok_page, ok_with};
use super::super::state::State;
use super::super::store::{Batch, FileRec, NewFile, Upload, UploadKind, UploadState};
use super::super::store::{check_file_name, layout, new_id};
use super::looks_like_image;
use crate::model::*;
use crate::server::Reply;

/// The default page of a listing: small, like the slowest service a client must expect,
/// so that clients page for real.
const PAGE: usize = 50;

fn not_found(id: &str) -> Reply {
    Reply::error(404, format!("batch {id:?} not found"))
}

fn with_batch(state: &State, req: &Req<'_, '_>, f: impl FnOnce(&Batch) -> Answer) -> Answer {
    let (id, data) = (req.param("batchId"), state.lock());
    f(data.staging.batches.get(id).ok_or_else(|| not_found(id))?)
}

/// Refuses to mix single uploads (`simple-batch`) with bulk ones (`sharded-batch`).
pub(super) fn check_kind(b: Option<&Batch>, want: &BatchType, what: &str) -> Result<(), Reply> {
    match b {
        Some(b) if &b.batch_type != want => {
            let (id, is) = (&b.id, &b.batch_type);
            let why = "single-image and bulk uploads cannot be combined in one batch";
            fail(
                409,
                format!("batch {id:?} is a {is}; {what} needs a {want} ({why})"),
            )
        }
        _ => Ok(()),
    }
}

pub(crate) fn list(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, PAGE)?;
    let data = state.lock();
    let batches = data.staging.batches.iter().map(|(k, b)| (k, b.metadata()));
    ok_page("batches", page.cut(batches))
}

pub(crate) fn get(state: &State, req: &mut Req<'_, '_>) -> Answer {
    with_batch(state, req, |b| ok_with(json!({ "batch": b.metadata() })))
}

pub(crate) fn count(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let part = req.query("partName");
    with_batch(state, req, |b| {
        ok_with(json!({ "count": b.files_in(part).count() }))
    })
}

pub(crate) fn parts(state: &State, req: &mut Req<'_, '_>) -> Answer {
    with_batch(state, req, |b| {
        ok_with(json!({ "batchParts": b.parts, "parts": b.parts }))
    })
}

pub(crate) fn files(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, PAGE)?;
    let (batch, part) = (req.param("batchId"), req.query("partName"));
    let (files, token): (Vec<(FileRec, String)>, _) = {
        let data = state.lock();
        let b = data.staging.batches.get(batch);
        let b = b.ok_or_else(|| not_found(batch))?;
        // A part's files have its content type, others the type of their name.
        let content_type = |f: &FileRec| match b
            .parts
            .iter()
            .find(|p| f.part.as_ref() == Some(&p.part_name))
        {
            Some(p) => p.content_type.clone(),
            None => crate::media::mime_for(&f.name).into(),
        };
        let listed = b.files_after(part, page.after.as_deref());
        page.cut(listed.map(|(k, f)| (k, (f.clone(), content_type(f)))))
    };
    let files = files
        .into_iter()
        .map(|(f, content_type)| FileMetadata {
            download_url: super::signed::download_url(state, batch, &f),
            file_name: f.name,
            content_type,
            part_name: f.part,
            shard_id: f.shard_id,
            nested_content_type: None,
        })
        .collect::<Vec<_>>();
    ok_page("filesMetadata", (files, token))
}

pub(crate) fn shards(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, PAGE)?;
    with_batch(state, req, |b| {
        let now = now_ms();
        let listed = b
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.listed_at_ms <= now);
        ok_page(
            "shards",
            page.cut(listed.map(|(i, s)| {
                let details = ShardDetails {
                    shard_id: s.id.clone(),
                    status_name: s.status_name.clone(),
                    status_type: s.status_type.clone(),
                    event_timestamp: s.event,
                    shard_objects_count: s.objects,
                    status_metadata: s.metadata.clone(),
                };
                (nth(i), details)
            })),
        )
    })
}

pub(crate) fn upload_image(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let batch = req.param("batchId").to_string();
    let name = req.required("fileName")?.to_string();
    check_file_name("fileName", &name).map_err(bad)?;
    let display = req.query("displayName").unwrap_or(&batch).to_string();
    let (simple, what) = (BatchType::Simple, "a single-image upload");
    check_kind(state.lock().staging.batches.get(&batch), &simple, what)?;
    let ct = req.head.header("content-type").unwrap_or("");
    let Some(boundary) = super::multipart::boundary(ct) else {
        let msg = format!("Content-Type must be multipart/form-data with a boundary, got {ct:?}");
        return fail(400, msg);
    };
    // The image, plus room for the multipart framing.
    let max = state.config.max_image_size;
    let body = req.read_body(max.saturating_add(64 * 1024))?;
    req.note(|n| n.multipart = Some((body.clone(), boundary.clone())));
    let bytes = super::multipart::single_file(&body, &boundary, &name).map_err(bad)?;
    if bytes.len() as u64 > max {
        return fail(413, format!("image exceeds the {max} byte limit"));
    }
    if !looks_like_image(&bytes[..bytes.len().min(64)]) {
        return fail(400, format!("file {name:?} is not a recognised image"));
    }
    let mut path = String::new();
    if state.config.store != StoreMode::Discard {
        path = layout::file(&batch, &name);
        let stored = NewFile::write(&state.data_dir, &path, bytes);
        stored.map_err(|e| Reply::error(500, format!("storing the image failed: {e}")))?;
    }
    let mut data = state.lock();
    check_kind(data.staging.batches.get(&batch), &simple, what)?;
    let b = data
        .staging
        .batch_for(&batch, &display, simple, BatchContentType::Images);
    b.ingest(FileRec::new(name, bytes.len() as u64, path));
    state.unlock_changed(data);
    ok_with(json!({}))
}

pub(crate) fn request_video(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let file_name = req.required("fileName")?.to_string();
    check_file_name("fileName", &file_name).map_err(bad)?;
    let max = state.config.max_video_size;
    let id = issue_upload(state, req, UploadKind::Video, Some(file_name), max)?;
    signed_reply(state, &id, None, Some(max))
}

pub(crate) fn request_shard(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let c = &state.config;
    let id = issue_upload(state, req, UploadKind::Shard, None, c.max_shard_size)?;
    let shard = (c.max_images_per_shard, c.max_shard_size);
    signed_reply(state, &id, Some(shard), Some(c.max_image_size))
}

/// Registers a pending signed upload into the request's batch (created if new), storing
/// under `target` (or, for a shard, its own id); returns its id.
fn issue_upload(
    state: &State,
    req: &Req<'_, '_>,
    kind: UploadKind,
    target: Option<String>,
    max_size: u64,
) -> Result<String, Reply> {
    let batch = req.param("batchId");
    let display = req.query("displayName").unwrap_or(batch);
    let (batch_type, content, what) = match kind {
        UploadKind::Video => (
            BatchType::Simple,
            BatchContentType::Videos,
            "a video upload",
        ),
        UploadKind::Shard => (
            BatchType::Sharded,
            BatchContentType::Images,
            "a bulk upload",
        ),
    };
    let mut data = state.lock();
    check_kind(data.staging.batches.get(batch), &batch_type, what)?;
    data.staging.batch_for(batch, display, batch_type, content);
    let id = new_id();
    let upload = Upload {
        batch_id: batch.to_string(),
        kind,
        target: target.unwrap_or_else(|| id.clone()),
        max_size,
        state: UploadState::Pending,
        done: false,
    };
    data.staging.uploads.insert(id.clone(), upload);
    state.unlock_changed(data);
    Ok(id)
}

/// The signed-URL answer for upload `id`; `shard` carries `(maxNumberOfImages, maxShardSize)`.
fn signed_reply(
    state: &State,
    id: &str,
    shard: Option<(u64, u64)>,
    max_file: Option<u64>,
) -> Answer {
    // A shard may carry up to maxShardSize bytes; a video up to its maxFileSize.
    let limit = shard.map_or(max_file.unwrap_or(0), |s| s.1);
    let (upload_url, extension_headers) = super::signed::upload_url(state, id, limit);
    let signed_url_details = SignedUrlDetails {
        upload_url,
        method: Some("PUT".into()),
        extension_headers,
        shard_id: shard.map(|_| id.to_string()),
        max_number_of_images: shard.map(|s| s.0),
        max_shard_size: shard.map(|s| s.1),
        max_file_size: max_file,
    };
    ok_with(json!({ "signedURLDetails": signed_url_details }))
}
