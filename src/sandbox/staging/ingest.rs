//! References and RoboQL ingests: the request handlers, and their body decoders (pure
//! functions of the bytes, so that property tests can throw anything at them).

use super::super::State;
use super::handlers::{Handled, MAX_JSON_BODY, register_ingest};
use super::store::{ShardSource, check_file_name, layout};
use crate::model::{
    BatchContentType, FileReference, NotificationCategory, ReferencesIngest, RoboQlIngest,
};
use crate::server::{Body, Head, Reply, read_limited};

/// The most image references one request may carry (the official client's chunk size).
pub(crate) const MAX_IMAGE_REFERENCES: usize = 20_000;
/// The most video references one request may carry.
pub(crate) const MAX_VIDEO_REFERENCES: usize = 5_000;
/// The longest `ingestId` accepted.
const MAX_INGEST_ID: usize = 256;

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

fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        Reply::error(
            400,
            format!("invalid JSON body at `{}`: {}", e.path(), e.inner()),
        )
    })
}

fn check_ingest_id(id: Option<&str>) -> Result<(), Reply> {
    match id {
        Some(i) if i.is_empty() || i.len() > MAX_INGEST_ID || i.chars().any(char::is_control) => {
            Err(Reply::error(
                400,
                format!("ingestId must be 1 to {MAX_INGEST_ID} bytes without control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// The most references of `kind` in one request.
pub(crate) fn max_references(kind: &BatchContentType) -> usize {
    if kind == &BatchContentType::Videos {
        MAX_VIDEO_REFERENCES
    } else {
        MAX_IMAGE_REFERENCES
    }
}

/// Decodes and checks a references ingest body.
pub(crate) fn decode_references(
    body: &[u8],
    kind: &BatchContentType,
) -> Result<RefsRequest, Reply> {
    let ingest: ReferencesIngest = decode_json(body)?;
    check_ingest_id(ingest.ingest_id.as_deref())?;
    let (refs, list_url) = validate_references(&ingest, kind).map_err(|e| Reply::error(400, e))?;
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
    let ingest: RoboQlIngest = decode_json(body)?;
    if ingest.query.trim().is_empty() {
        return Err(Reply::error(
            400,
            "`query` must be a non-empty RoboQL query",
        ));
    }
    check_ingest_id(ingest.ingest_id.as_deref())?;
    Ok(ingest)
}

/// Checks one reference (`where` names it in errors).
pub(crate) fn check_reference(noun: &str, at: &str, r: &FileReference) -> Result<(), String> {
    check_file_name(&format!("{noun}References{at}.name"), &r.name)?;
    if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
        return Err(format!("{noun}References{at}.url must be an http(s) URL"));
    }
    Ok(())
}

pub(crate) fn noun(kind: &BatchContentType) -> &'static str {
    if kind == &BatchContentType::Videos {
        "video"
    } else {
        "image"
    }
}

/// The references (or the list's URL) of a valid ingest body.
fn validate_references(
    b: &ReferencesIngest,
    kind: &BatchContentType,
) -> Result<(Vec<FileReference>, Option<String>), String> {
    let noun = noun(kind);
    match (&b.image_references, &b.image_references_url) {
        (Some(_), Some(_)) | (None, None) => Err(format!(
            "set exactly one of {noun}References and {noun}ReferencesURL"
        )),
        (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            Ok((Vec::new(), Some(url.clone())))
        }
        (None, Some(_)) => Err(format!("{noun}ReferencesURL must be an http(s) URL")),
        (Some(list), None) => {
            if list.is_empty() {
                return Err(format!("{noun}References is empty"));
            }
            let max = max_references(kind);
            if list.len() > max {
                return Err(format!(
                    "{noun}References holds {} references; at most {max} per request",
                    list.len()
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (i, r) in list.iter().enumerate() {
                check_reference(noun, &format!("[{i}]"), r)?;
                if !seen.insert(r.name.as_str()) {
                    return Err(format!(
                        "{noun}References[{i}].name {:?} repeats; names must be unique",
                        r.name
                    ));
                }
            }
            Ok((list.clone(), None))
        }
    }
}

/// `POST …/bulk-upload/image-references` and `…/video-references`: records the ingest as
/// one shard and hands it to the fetch workers, which pull every reference.
pub(super) fn references(
    state: &State,
    head: &Head,
    batch: &str,
    req: &mut Body<'_>,
    kind: BatchContentType,
) -> Handled {
    let display = head.query("displayName").unwrap_or(batch).to_string();
    let body = read_limited(head, req, MAX_JSON_BODY)?;
    crate::sandbox::record::note_json(&body);
    let r = decode_references(&body, &kind)?;
    let (shard_id, ingest_id) = {
        let mut inner = state.lock();
        let shard = inner.staging.new_id();
        let ingest = r
            .ingest_id
            .clone()
            .unwrap_or_else(|| inner.staging.new_id());
        (shard, ingest)
    };
    // The inline references go to a file of their own, not into state.json.
    let refs_file = if r.refs.is_empty() {
        None
    } else {
        let rel = layout::refs(batch, &shard_id);
        write_refs(&state.data_dir().join(&rel), &r.refs)
            .map_err(|e| Reply::error(500, format!("storing the references failed: {e}")))?;
        Some(rel)
    };
    let source = ShardSource::References {
        refs_file: refs_file.clone(),
        list_url: r.list_url,
        videos: kind == BatchContentType::Videos,
        ingest_id: ingest_id.clone(),
        notifications_url: r.notifications_url,
        files_status: r.files_status,
        ingest_status: r.ingest_status,
        query: None,
    };
    let (reply, created) = register_ingest(
        state,
        batch,
        &display,
        kind,
        Some(ingest_id),
        shard_id.clone(),
        source.clone(),
    )?;
    if created {
        state.fetch_queue().push(batch, &shard_id, &source);
    } else if let Some(rel) = refs_file {
        // A repeated ingest id: nothing is fetched.
        let _ = std::fs::remove_file(state.data_dir().join(rel));
    }
    Ok(reply)
}

/// Writes references as JSONL, atomically.
fn write_refs(path: &std::path::Path, refs: &[FileReference]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::new();
    for r in refs {
        let line = serde_json::json!({ "name": r.name, "url": r.url });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let tmp = path.with_extension(format!("{}.tmp", crate::rand::hex(4)));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `POST …/roboql-ingest`: recorded like a references ingest; it fails in the background,
/// as the sandbox has no Asset Library. Only the default `ingest-status` webhook is sent.
pub(super) fn roboql(state: &State, head: &Head, batch: &str, req: &mut Body<'_>) -> Handled {
    let body = read_limited(head, req, MAX_JSON_BODY)?;
    crate::sandbox::record::note_json(&body);
    let ingest = decode_roboql(&body)?;
    let display = ingest
        .display_name
        .clone()
        .unwrap_or_else(|| batch.to_string());
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
    let shard_id = state.lock().staging.new_id();
    let (reply, _) = register_ingest(
        state,
        batch,
        &display,
        BatchContentType::Images,
        ingest.ingest_id,
        shard_id,
        source,
    )?;
    Ok(reply)
}
