//! The data-staging API endpoints (D1–D11 of the notes), answering with the model types.

use super::super::State;
use super::super::paging::{page, paging, paging_size};
use super::store::{Batch, FileRec, Ingest, Shard, check_batch_id, check_file_name, layout};
use super::store::{ShardSource, ShardState, Upload, UploadKind};
use crate::model::*;
use crate::server::{Body, Head, Reply, read_limited};

/// The default page of a file listing: small, like the slowest service a client must
/// expect, so that clients page for real.
const FILES_PAGE: usize = 50;

/// The largest JSON body accepted (references ingests).
pub(super) const MAX_JSON_BODY: u64 = 32 << 20;

pub(super) fn route(state: &State, head: &Head, rest: &[&str], req: &mut Body<'_>) -> Reply {
    let m = head.method.as_str();
    let batch = match rest {
        ["batches"] if m == "GET" => return list_batches(state, head),
        ["batches", id, ..] => *id,
        _ => {
            return Reply::error(
                404,
                format!("no data-staging route for {m} /{}", rest.join("/")),
            );
        }
    };
    if let Err(e) = check_batch_id(batch) {
        return Reply::error(400, e);
    }
    let result = match (m, &rest[2..]) {
        ("GET", []) => with_batch(state, batch, |b| {
            Reply::json(
                200,
                &BatchResponse {
                    status: Some("ok".into()),
                    batch: b.metadata(),
                },
            )
        }),
        ("GET", ["count"]) => count(state, head, batch),
        ("GET", ["parts"]) => with_batch(state, batch, |b| {
            let parts = Some(b.parts.clone());
            Reply::json(
                200,
                &ListPartsResponse {
                    status: Some("ok".into()),
                    batch_parts: parts.clone(),
                    parts,
                },
            )
        }),
        ("GET", ["list"]) => list_files(state, head, batch),
        ("GET", ["shards"]) => list_shards(state, head, batch),
        ("POST", ["upload", "image"]) => upload_image(state, head, batch, req),
        ("POST", ["upload", "video"]) => request_video(state, head, batch),
        ("POST", ["bulk-upload", "image-files"]) => request_shard(state, head, batch),
        ("POST", ["bulk-upload", "image-references"]) => {
            super::ingest::references(state, head, batch, req, BatchContentType::Images)
        }
        ("POST", ["bulk-upload", "video-references"]) => {
            super::ingest::references(state, head, batch, req, BatchContentType::Videos)
        }
        ("POST", ["roboql-ingest"]) => super::ingest::roboql(state, head, batch, req),
        _ => Err(Reply::error(
            404,
            format!("no data-staging route for {m} /{}", rest.join("/")),
        )),
    };
    result.unwrap_or_else(|r| r)
}

pub(super) type Handled = Result<Reply, Reply>;

fn with_batch(state: &State, id: &str, f: impl FnOnce(&Batch) -> Reply) -> Handled {
    let inner = state.lock();
    match inner.staging.batches.get(id) {
        Some(b) => Ok(f(b)),
        None => Err(not_found(id)),
    }
}

fn not_found(id: &str) -> Reply {
    Reply::error(404, format!("batch {id:?} not found"))
}

fn list_batches(state: &State, head: &Head) -> Reply {
    let (offset, size) = match paging(head, 50) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let inner = state.lock();
    let (batches, next) = page(
        inner.staging.batches.values().map(Batch::metadata),
        offset,
        size,
    );
    Reply::json(
        200,
        &ListBatchesResponse {
            status: Some("ok".into()),
            batches,
            next_page_token: next,
        },
    )
}

fn count(state: &State, head: &Head, batch: &str) -> Handled {
    let part = head.query("partName");
    with_batch(state, batch, |b| {
        let count = b.files_in(part).count() as u64;
        Reply::json(
            200,
            &CountResponse {
                status: Some("ok".into()),
                count,
            },
        )
    })
}

/// A files-listing token: `k` and the hex of the last key listed (a page then costs its
/// size, however deep it is); the older `p<offset>` form is still read.
fn files_token(key: &str) -> String {
    let mut t = String::with_capacity(1 + 2 * key.len());
    t.push('k');
    for b in key.bytes() {
        t.push_str(&format!("{b:02x}"));
    }
    t
}

fn key_from_token(head: &Head) -> Result<Option<String>, Reply> {
    let Some(hex) = head
        .query("nextPageToken")
        .and_then(|t| t.strip_prefix('k'))
    else {
        return Ok(None);
    };
    let bytes: Option<Vec<u8>> = (hex.len() % 2 == 0)
        .then(|| {
            (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect()
        })
        .flatten();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| Reply::error(400, "nextPageToken is not a token this service issued"))
}

fn list_files(state: &State, head: &Head, batch: &str) -> Handled {
    let after = key_from_token(head)?;
    let (offset, size) = if after.is_some() {
        (0, paging_size(head, FILES_PAGE)?)
    } else {
        paging(head, FILES_PAGE)?
    };
    let part = head.query("partName");
    let (recs, next) = {
        let inner = state.lock();
        let b = inner
            .staging
            .batches
            .get(batch)
            .ok_or_else(|| not_found(batch))?;
        let (recs, next) = if after.is_some() || offset == 0 {
            let (recs, last) = b.files_page(part, after.as_deref(), size);
            let recs: Vec<_> = recs.into_iter().cloned().collect();
            (recs, last.map(|k| files_token(&k)))
        } else {
            page(b.files_in(part).cloned(), offset, size)
        };
        let types: Vec<String> = recs
            .iter()
            .map(|f| match &f.part {
                Some(p) => b
                    .parts
                    .iter()
                    .find(|x| &x.part_name == p)
                    .map(|x| x.content_type.clone())
                    .unwrap_or_else(|| super::mime_for(&f.name).into()),
                None => super::mime_for(&f.name).into(),
            })
            .collect();
        (recs.into_iter().zip(types).collect::<Vec<_>>(), next)
    };
    let files_metadata = recs
        .into_iter()
        .map(|(f, content_type)| FileMetadata {
            download_url: state.download_url(batch, &f),
            file_name: f.name,
            content_type,
            part_name: f.part,
            shard_id: f.shard_id,
            nested_content_type: None,
        })
        .collect();
    Ok(Reply::json(
        200,
        &ListFilesResponse {
            status: Some("ok".into()),
            files_metadata,
            next_page_token: next,
        },
    ))
}

fn list_shards(state: &State, head: &Head, batch: &str) -> Handled {
    let (offset, size) = paging(head, 50)?;
    let inner = state.lock();
    let b = inner
        .staging
        .batches
        .get(batch)
        .ok_or_else(|| not_found(batch))?;
    let now = crate::sandbox::clock::now_ms();
    let listed = b.shards.iter().filter(|s| s.listed_at_ms <= now);
    let (shards, next) = page(listed.map(shard_details), offset, size);
    Ok(Reply::json(
        200,
        &ListShardsResponse {
            status: Some("ok".into()),
            shards,
            next_page_token: next,
        },
    ))
}

fn shard_details(s: &Shard) -> ShardDetails {
    ShardDetails {
        shard_id: s.id.clone(),
        status_name: s.status_name.clone(),
        status_type: s.status_type.clone(),
        event_timestamp: s.event,
        shard_objects_count: s.objects,
        status_metadata: s.metadata.clone(),
    }
}

fn required<'a>(head: &'a Head, name: &str) -> Result<&'a str, Reply> {
    match head.query(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Reply::error(
            400,
            format!("query parameter {name} is required"),
        )),
    }
}

/// Refuses to mix single uploads (`simple-batch`) with bulk ones (`sharded-batch`).
fn check_kind(b: Option<&Batch>, want: &BatchType, what: &str) -> Result<(), Reply> {
    match b {
        Some(b) if &b.batch_type != want => Err(Reply::error(
            409,
            format!(
                "batch {:?} is a {}; {what} needs a {} (single-image and bulk uploads cannot be combined in one batch)",
                b.id, b.batch_type, want
            ),
        )),
        _ => Ok(()),
    }
}

fn upload_image(state: &State, head: &Head, batch: &str, req: &mut Body<'_>) -> Handled {
    let file_name = required(head, "fileName")?;
    check_file_name("fileName", file_name).map_err(|e| Reply::error(400, e))?;
    let display = head.query("displayName").unwrap_or(batch).to_string();
    check_kind(
        state.lock().staging.batches.get(batch),
        &BatchType::Simple,
        "a single-image upload",
    )?;
    let ct = head.header("content-type").unwrap_or("");
    let boundary = super::multipart::boundary(ct).ok_or_else(|| {
        Reply::error(
            400,
            format!("Content-Type must be multipart/form-data with a boundary, got {ct:?}"),
        )
    })?;
    // The image, plus room for the multipart framing.
    let limit = state.config().max_image_size.saturating_add(64 * 1024);
    let body = read_limited(head, req, limit)?;
    crate::sandbox::record::note_multipart(&body, &boundary);
    let bytes = super::multipart::single_file(&body, &boundary, file_name)
        .map_err(|e| Reply::error(400, e))?;
    if bytes.len() as u64 > state.config().max_image_size {
        return Err(Reply::error(
            413,
            format!(
                "image exceeds the {} byte limit",
                state.config().max_image_size
            ),
        ));
    }
    if !super::looks_like_image(&bytes[..bytes.len().min(64)]) {
        return Err(Reply::error(
            400,
            format!("file {file_name:?} is not a recognised image"),
        ));
    }
    let discard = state.config().store == crate::sandbox::StoreMode::Discard;
    let rel = if discard {
        String::new()
    } else {
        layout::file(batch, file_name)
    };
    if !discard {
        let dst = state.data_dir().join(&rel);
        let tmp = state
            .data_dir()
            .join(layout::tmp(&format!("img-{}", crate::rand::hex(8))));
        let written = tmp
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&tmp, bytes))
            .and_then(|_| dst.parent().map_or(Ok(()), std::fs::create_dir_all))
            .and_then(|_| std::fs::rename(&tmp, &dst));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Reply::error(500, format!("storing the image failed: {e}")));
        }
    }
    {
        let mut inner = state.lock();
        check_kind(
            inner.staging.batches.get(batch),
            &BatchType::Simple,
            "a single-image upload",
        )?;
        let b = inner.staging.batch_or_create(
            batch,
            &display,
            BatchType::Simple,
            BatchContentType::Images,
        );
        b.add_content(BatchContentType::Images);
        let f = FileRec {
            name: file_name.into(),
            part: None,
            size: bytes.len() as u64,
            shard_id: None,
            path: rel,
            offset: 0,
            discarded: discard,
        };
        b.ingest(f);
    }
    save(state)?;
    Ok(Reply::json(
        200,
        &StatusResponse {
            status: Some("ok".into()),
        },
    ))
}

fn save(state: &State) -> Result<(), Reply> {
    state
        .save()
        .map_err(|e| Reply::error(500, format!("saving state failed: {e}")))
}

fn request_video(state: &State, head: &Head, batch: &str) -> Handled {
    let file_name = required(head, "fileName")?;
    check_file_name("fileName", file_name).map_err(|e| Reply::error(400, e))?;
    let max = state.config().max_video_size;
    let target = NewUpload {
        batch_type: BatchType::Simple,
        content: BatchContentType::Videos,
        kind: UploadKind::Video,
        target: Some(file_name.to_string()),
        max_size: max,
        what: "a video upload",
    };
    let id = issue_upload(state, head, batch, target)?;
    Ok(signed_reply(state, &id, None, Some(max)))
}

fn request_shard(state: &State, head: &Head, batch: &str) -> Handled {
    let cfg = state.config();
    let target = NewUpload {
        batch_type: BatchType::Sharded,
        content: BatchContentType::Images,
        kind: UploadKind::Shard,
        target: None,
        max_size: cfg.max_shard_size,
        what: "a bulk upload",
    };
    let id = issue_upload(state, head, batch, target)?;
    let limits = (cfg.max_images_per_shard, cfg.max_shard_size);
    Ok(signed_reply(
        state,
        &id,
        Some(limits),
        Some(cfg.max_image_size),
    ))
}

/// What a signed upload will create.
struct NewUpload {
    batch_type: BatchType,
    content: BatchContentType,
    kind: UploadKind,
    /// The file name it stores under; the upload's own id (a shard id) when `None`.
    target: Option<String>,
    max_size: u64,
    what: &'static str,
}

/// Registers a pending signed upload into `batch` (created if new); returns its id.
fn issue_upload(state: &State, head: &Head, batch: &str, new: NewUpload) -> Result<String, Reply> {
    let display = head.query("displayName").unwrap_or(batch);
    let id = {
        let mut inner = state.lock();
        check_kind(inner.staging.batches.get(batch), &new.batch_type, new.what)?;
        inner
            .staging
            .batch_or_create(batch, display, new.batch_type, new.content.clone())
            .add_content(new.content);
        let id = inner.staging.new_id();
        let upload = Upload {
            batch_id: batch.into(),
            kind: new.kind,
            target: new.target.unwrap_or_else(|| id.clone()),
            max_size: new.max_size,
            done: false,
            state: super::store::UploadState::Pending,
        };
        inner.staging.uploads.insert(id.clone(), upload);
        id
    };
    save(state)?;
    Ok(id)
}

/// The signed-URL answer for upload `id`; `shard` carries `(maxNumberOfImages, maxShardSize)`.
fn signed_reply(
    state: &State,
    id: &str,
    shard: Option<(u64, u64)>,
    max_file: Option<u64>,
) -> Reply {
    // A shard may carry up to maxShardSize bytes; a video up to its maxFileSize.
    let limit = shard.map_or(max_file.unwrap_or(0), |s| s.1);
    let (url, headers) = state.upload_url(id, limit);
    let details = SignedUrlDetails {
        upload_url: url,
        method: Some("PUT".into()),
        extension_headers: headers,
        shard_id: shard.map(|_| id.to_string()),
        max_number_of_images: shard.map(|s| s.0),
        max_shard_size: shard.map(|s| s.1),
        max_file_size: max_file,
    };
    Reply::json(
        200,
        &SignedUrlResponse {
            status: Some("ok".into()),
            signed_url_details: details,
        },
    )
}

/// Records an ingest as one shard that the indexer settles; a repeated ingest id answers
/// the first ingest with `duplicated: true`.
/// Returns the answer, and whether a new shard `shard_id` was created (a repeated ingest
/// id creates nothing).
pub(super) fn register_ingest(
    state: &State,
    batch: &str,
    display: &str,
    kind: BatchContentType,
    ingest_id: Option<String>,
    shard_id: String,
    mut source: ShardSource,
) -> Result<(Reply, bool), Reply> {
    let what = match &source {
        ShardSource::References { query: Some(_), .. } => "a RoboQL ingest",
        _ => "a references ingest",
    };
    let mut inner = state.lock();
    check_kind(inner.staging.batches.get(batch), &BatchType::Sharded, what)?;
    if let Some(prev) = ingest_id
        .as_ref()
        .and_then(|i| inner.staging.ingests.get(&format!("{batch}/{i}")))
    {
        let r = ReferencesIngestResponse {
            ingest_id: prev.ingest_id.clone(),
            shard_ids: Some(prev.shard_ids.clone()),
            duplicated: Some(true),
        };
        return Ok((Reply::json(200, &r), false));
    }
    let ingest_id = ingest_id.unwrap_or_else(|| inner.staging.new_id());
    if let ShardSource::References { ingest_id: id, .. } = &mut source {
        *id = ingest_id.clone();
    }
    let b = inner
        .staging
        .batch_or_create(batch, display, BatchType::Sharded, kind.clone());
    b.add_content(kind);
    b.shards.push(Shard {
        id: shard_id.clone(),
        state: ShardState::Indexing,
        status_name: "references-ingest-in-progress".into(),
        status_type: "info".into(),
        event: super::store::ts_now(),
        objects: 0,
        metadata: None,
        source,
        ready_at_ms: crate::sandbox::clock::ms_after(state.config().indexing_delay),
        // The service registers an ingest asynchronously, as it does a shard.
        listed_at_ms: crate::sandbox::clock::ms_after(state.config().registration_delay),
    });
    let rec = Ingest {
        ingest_id: ingest_id.clone(),
        shard_ids: vec![shard_id.clone()],
    };
    inner
        .staging
        .ingests
        .insert(format!("{batch}/{ingest_id}"), rec);
    drop(inner);
    save(state)?;
    let r = ReferencesIngestResponse {
        ingest_id,
        shard_ids: Some(vec![shard_id]),
        duplicated: Some(false),
    };
    Ok((Reply::json(200, &r), true))
}
