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

/// A checked references ingest.
#[derive(Debug, Clone)]
pub(crate) struct RefsRequest {
    /// The inline references (empty when `list_url` is set).
    pub refs: Vec<FileReference>,
    /// The URL of a JSONL file of references.
    pub list_url: Option<String>,
    pub ingest_id: Option<String>,
    pub notifications_url: Option<String>,
    pub files_status: bool,
    pub ingest_status: bool,
}

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

/// Decodes and checks a references ingest body.
pub(crate) fn decode_references(body: &[u8], videos: bool) -> Result<RefsRequest, Reply> {
    let ingest: ReferencesIngest = decode_json("references ingest", body)?;
    check_ingest_id(ingest.ingest_id.as_deref())?;
    let (max, noun) = limits(videos);
    let bad = |m: String| Reply::error(400, m);
    let one_of = format!("set exactly one of {noun}References and {noun}ReferencesURL");
    let (refs, list_url) = match (&ingest.image_references, &ingest.image_references_url) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad(one_of));
        }
        (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            (Vec::new(), Some(url.clone()))
        }
        (None, Some(_)) => return Err(bad(format!("{noun}ReferencesURL must be an http(s) URL"))),
        (Some(list), None) if list.is_empty() => {
            return Err(bad(format!("{noun}References is empty")));
        }
        (Some(list), None) if list.len() > max => {
            let n = list.len();
            return fail(
                400,
                format!("{noun}References holds {n} references; at most {max} per request"),
            );
        }
        (Some(list), None) => {
            let mut seen = std::collections::HashSet::new();
            for (i, r) in list.iter().enumerate() {
                check_reference(noun, &format!("[{i}]"), r).map_err(bad)?;
                if !seen.insert(r.name.as_str()) {
                    let name = &r.name;
                    return fail(
                        400,
                        format!(
                            "{noun}References[{i}].name {name:?} repeats; names must be unique"
                        ),
                    );
                }
            }
            (list.clone(), None)
        }
    };
    let cats = ingest.notification_categories.clone().unwrap_or_default();
    Ok(RefsRequest {
        refs,
        list_url,
        ingest_id: ingest.ingest_id,
        notifications_url: ingest.notifications_url,
        files_status: cats.contains(&NotificationCategory::FilesStatus),
        ingest_status: cats.is_empty() || cats.contains(&NotificationCategory::IngestStatus),
    })
}

/// Decodes and checks a RoboQL ingest body.
pub(crate) fn decode_roboql(body: &[u8]) -> Result<RoboQlIngest, Reply> {
    let ingest: RoboQlIngest = decode_json("RoboQL ingest", body)?;
    if ingest.query.trim().is_empty() {
        return fail(400, "`query` must be a non-empty RoboQL query");
    }
    check_ingest_id(ingest.ingest_id.as_deref())?;
    Ok(ingest)
}

/// `POST …/bulk-upload/image-references`.
pub(crate) fn images(state: &State, req: &mut Req<'_, '_>) -> Answer {
    references(state, req, false)
}

/// `POST …/bulk-upload/video-references`.
pub(crate) fn videos(state: &State, req: &mut Req<'_, '_>) -> Answer {
    references(state, req, true)
}

/// Records a references ingest as one shard that the fetch workers pull.
fn references(state: &State, req: &mut Req<'_, '_>, videos: bool) -> Answer {
    let batch = req.param("batchId").to_string();
    let display = req.query("displayName").unwrap_or(&batch).to_string();
    let r = decode_references(&req.read_json_body(MAX_BODY)?, videos)?;
    let shard_id = new_id();
    // The inline references go to a file of their own, not into state.json.
    let refs_file = if r.refs.is_empty() {
        None
    } else {
        let rel = layout::refs(&batch, &shard_id);
        let text: String = r
            .refs
            .iter()
            .map(|r| serde_json::json!({ "name": r.name, "url": r.url }).to_string() + "\n")
            .collect();
        NewFile::write(&state.data_dir, &rel, text.as_bytes())
            .map_err(|e| Reply::error(500, format!("storing the references failed: {e}")))?;
        Some(rel)
    };
    let source = ShardSource::References {
        refs_file: refs_file.clone(),
        list_url: r.list_url,
        videos,
        ingest_id: String::new(),
        notifications_url: r.notifications_url,
        files_status: r.files_status,
        ingest_status: r.ingest_status,
        query: None,
    };
    let kind = if videos {
        BatchContentType::Videos
    } else {
        BatchContentType::Images
    };
    let registered = register(state, &batch, &display, kind, r.ingest_id, shard_id, source);
    if let (Ok((_, false)) | Err(_), Some(rel)) = (&registered, refs_file) {
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
        notifications_url: ingest.notifications_url.clone(),
        files_status: false,
        ingest_status: true,
        query: Some(ingest.query.clone()),
    };
    let (answer, _) = register(
        state,
        &batch,
        &display,
        BatchContentType::Images,
        ingest.ingest_id,
        new_id(),
        source,
    )?;
    ok(&answer)
}

/// Records an ingest as shard `shard_id`, indexed after the indexing delay; a repeated
/// ingest id answers the first ingest with `duplicated: true` and records nothing.
/// Returns the answer, and whether the shard was recorded.
fn register(
    state: &State,
    batch: &str,
    display: &str,
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
    if let Some(prev) = ingest_id
        .as_ref()
        .and_then(|i| data.staging.ingests.get(&format!("{batch}/{i}")))
    {
        let answer = ReferencesIngestResponse {
            ingest_id: prev.ingest_id.clone(),
            shard_ids: Some(prev.shard_ids.clone()),
            duplicated: Some(true),
        };
        return Ok((answer, false));
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
    b.shards.push(Shard::indexing(
        &shard_id,
        "references-ingest-in-progress",
        source,
        ready,
        listed,
    ));
    let shard_ids = vec![shard_id];
    let rec = Ingest {
        ingest_id: ingest_id.clone(),
        shard_ids: shard_ids.clone(),
    };
    data.staging
        .ingests
        .insert(format!("{batch}/{ingest_id}"), rec);
    drop(data);
    state.save();
    let answer = ReferencesIngestResponse {
        ingest_id,
        shard_ids: Some(shard_ids),
        duplicated: Some(false),
    };
    Ok((answer, true))
}
