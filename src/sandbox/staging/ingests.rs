//! References and RoboQL ingests: the handlers, which record an ingest as one shard for
//! the fetch workers, and the decoders of their bodies (pure functions of the bytes, so
//! that property tests can throw anything at them).

use super::super::clock::ms_after;
use super::super::request::{Answer, Req, decode_json, fail, ok};
use super::super::state::State;
use super::super::store::{Ingest, NewFile, Shard, ShardSource, check_file_name, layout, new_id};
use super::batches::check_kind;
use crate::model::{
    BatchContentType, BatchType, FileReference, NotificationCategory, ReferencesIngest,
    ReferencesIngestResponse, RoboQlIngest,
};
use crate::server::Reply;

/// The most image references one request may carry (the official client's chunk size).
const MAX_IMAGE_REFERENCES: usize = 20_000;
/// The most video references one request may carry.
const MAX_VIDEO_REFERENCES: usize = 5_000;
/// The longest `ingestId` accepted.
const MAX_INGEST_ID: usize = 256;
/// The largest JSON body accepted.
const MAX_BODY: u64 = 32 << 20;

/// A decoded references ingest: inline references, ingest id, and the shard's source.
type References = (Vec<FileReference>, Option<String>, ShardSource);

fn check_ingest_id(id: Option<&str>) -> Result<(), Reply> {
    match id {
        Some(i) if i.is_empty() || i.len() > MAX_INGEST_ID || i.chars().any(char::is_control) => {
            fail(
                400,
                format!("ingestId must be 1 to {MAX_INGEST_ID} bytes without control characters"),
            )
        }
        _ => Ok(()),
    }
}

/// The most references of one request, and their noun (`image`, `video`).
pub(crate) fn limits(videos: bool) -> (usize, &'static str) {
    if videos {
        (MAX_VIDEO_REFERENCES, "video")
    } else {
        (MAX_IMAGE_REFERENCES, "image")
    }
}

/// Checks one reference (`at` says where it is in errors).
pub(crate) fn check_reference(noun: &str, at: &str, r: &FileReference) -> Result<(), String> {
    check_file_name(&format!("{noun}References{at}.name"), &r.name)?;
    if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
        return Err(format!("{noun}References{at}.url must be an http(s) URL"));
    }
    Ok(())
}

/// Decodes and checks a references ingest body (its shard's references file still unset).
pub(crate) fn decode_references(body: &[u8], videos: bool) -> Result<References, Reply> {
    let ingest: ReferencesIngest = decode_json("references ingest", body)?;
    check_ingest_id(ingest.ingest_id.as_deref())?;
    let (max, noun) = limits(videos);
    let bad = |m: String| Reply::error(400, m);
    let one_of = format!("set exactly one of {noun}References and {noun}ReferencesURL");
    let (refs, list_url) = match (&ingest.image_references, &ingest.image_references_url) {
        (Some(_), Some(_)) | (None, None) => return Err(bad(one_of)),
        (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            (Vec::new(), Some(url.clone()))
        }
        (None, Some(_)) => return Err(bad(format!("{noun}ReferencesURL must be an http(s) URL"))),
        (Some(list), None) if list.is_empty() => {
            return fail(400, format!("{noun}References is empty"));
        }
        (Some(list), None) if list.len() > max => {
            let n = list.len();
            let msg = format!("{noun}References holds {n} references; at most {max} per request");
            return fail(400, msg);
        }
        (Some(list), None) => {
            let mut seen = std::collections::HashSet::new();
            for (i, r) in list.iter().enumerate() {
                check_reference(noun, &format!("[{i}]"), r).map_err(bad)?;
                if !seen.insert(r.name.as_str()) {
                    let name = &r.name;
                    let msg = format!("{noun}References[{i}].name {name:?} repeats");
                    return fail(400, msg + "; names must be unique");
                }
            }
            (list.clone(), None)
        }
    };
    let cats = ingest.notification_categories.unwrap_or_default();
    let source = ShardSource::References {
        refs_file: None,
        list_url,
        videos,
        ingest_id: String::new(),
        notifications_url: ingest.notifications_url,
        files_status: cats.contains(&NotificationCategory::FilesStatus),
        ingest_status: cats.is_empty() || cats.contains(&NotificationCategory::IngestStatus),
        query: None,
    };
    Ok((refs, ingest.ingest_id, source))
}

pub(crate) fn decode_roboql(body: &[u8]) -> Result<RoboQlIngest, Reply> {
    let ingest: RoboQlIngest = decode_json("RoboQL ingest", body)?;
    if ingest.query.trim().is_empty() {
        return fail(400, "`query` must be a non-empty RoboQL query");
    }
    check_ingest_id(ingest.ingest_id.as_deref())?;
    Ok(ingest)
}

/// Records a references ingest (of videos, or images) as one shard that the fetch workers pull.
pub(crate) fn references(state: &State, req: &mut Req<'_, '_>, videos: bool) -> Answer {
    let batch = req.param("batchId").to_string();
    let display = req.query("displayName").unwrap_or(&batch).to_string();
    let (refs, ingest_id, mut source) = decode_references(&req.read_json_body(MAX_BODY)?, videos)?;
    let shard_id = new_id();
    // The inline references go to a file of their own, not into state.json.
    let rel = layout::refs(&batch, &shard_id);
    if !refs.is_empty() {
        let json = |r: &FileReference| serde_json::json!({ "name": r.name, "url": r.url });
        let text: String = refs.iter().map(|r| json(r).to_string() + "\n").collect();
        let written = NewFile::write(&state.data_dir, &rel, text.as_bytes());
        written.map_err(|e| Reply::error(500, format!("storing the references failed: {e}")))?;
        if let ShardSource::References { refs_file, .. } = &mut source {
            *refs_file = Some(rel.clone());
        }
    }
    let kind = [BatchContentType::Images, BatchContentType::Videos][usize::from(videos)].clone();
    let registered = register(state, (&batch, &display), kind, ingest_id, shard_id, source);
    if !matches!(registered, Ok((_, true))) {
        // Nothing will read them: a repeated ingest id, or a refusal.
        let _ = std::fs::remove_file(state.data_dir.join(rel));
    }
    ok(&registered?.0)
}

/// `POST …/roboql-ingest`: recorded like a references ingest; it fails in the background,
/// as the sandbox has no Asset Library. Only the default `ingest-status` webhook is sent.
pub(crate) fn roboql(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let batch = req.param("batchId").to_string();
    let ingest = decode_roboql(&req.read_json_body(MAX_BODY)?)?;
    let display = ingest.display_name.clone().unwrap_or_else(|| batch.clone());
    let source = ShardSource::References {
        refs_file: None,
        list_url: None,
        videos: false,
        ingest_id: String::new(),
        notifications_url: ingest.notifications_url,
        files_status: false,
        ingest_status: true,
        query: Some(ingest.query),
    };
    let images = BatchContentType::Images;
    let id = ingest.ingest_id;
    let (answer, _) = register(state, (&batch, &display), images, id, new_id(), source)?;
    ok(&answer)
}

/// Records an ingest as shard `shard_id`; a repeated ingest id records nothing and answers
/// the first ingest, `duplicated: true`. Returns the answer and whether it was recorded.
fn register(
    state: &State,
    (batch, display): (&str, &str),
    kind: BatchContentType,
    ingest_id: Option<String>,
    shard_id: String,
    mut source: ShardSource,
) -> Result<(ReferencesIngestResponse, bool), Reply> {
    let what = match &source {
        ShardSource::References { query: Some(_), .. } => "a RoboQL ingest",
        _ => "a references ingest",
    };
    let mut data = state.lock();
    check_kind(data.staging.batches.get(batch), &BatchType::Sharded, what)?;
    let key = |id: &str| format!("{batch}/{id}");
    if let Some(prev) = ingest_id
        .as_deref()
        .and_then(|i| data.staging.ingests.get(&key(i)))
    {
        return Ok((prev.answer(true), false));
    }
    let ingest_id = ingest_id.unwrap_or_else(new_id);
    if let ShardSource::References { ingest_id: id, .. } = &mut source {
        *id = ingest_id.clone();
    }
    let b = data
        .staging
        .batch_for(batch, display, BatchType::Sharded, kind);
    let c = &state.config;
    // The service registers an ingest asynchronously, as it does a shard.
    let (ready, listed) = (ms_after(c.indexing_delay), ms_after(c.registration_delay));
    let status = "references-ingest-in-progress";
    b.shards
        .push(Shard::indexing(&shard_id, status, source, ready, listed));
    let rec = Ingest {
        ingest_id,
        shard_ids: vec![shard_id],
    };
    let answer = rec.answer(false);
    data.staging.ingests.insert(key(&rec.ingest_id), rec);
    state.unlock_changed(data);
    Ok((answer, true))
}
