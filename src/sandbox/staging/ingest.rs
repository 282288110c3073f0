//! References and RoboQL ingests: the request handlers, and their body decoders (pure
//! functions of the bytes, so that property tests can throw anything at them).

use super::super::State;
use super::super::http::{Head, Reply, read_limited};
use super::handlers::{Handled, MAX_JSON_BODY, register_ingest};
use super::store::{ShardSource, check_file_name};
use crate::model::{
    BatchContentType, FileReference, NotificationCategory, ReferencesIngest, RoboQlIngest,
};
use crate::sandbox::server::Body;

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

/// `POST …/bulk-upload/image-references` and `…/video-references`.
pub(super) fn references(
    state: &State,
    head: &Head,
    batch: &str,
    req: &mut Body<'_>,
    kind: BatchContentType,
) -> Handled {
    let display = head.query("displayName").unwrap_or(batch).to_string();
    let body = read_limited(head, req, MAX_JSON_BODY)?;
    let r = decode_references(&body, &kind)?;
    let source = ShardSource::References {
        names: r.refs.iter().map(|f| f.name.clone()).collect(),
        list_url: r.list_url,
        ingest_id: String::new(),
        notifications_url: r.notifications_url,
        files_status: r.files_status,
        ingest_status: r.ingest_status,
        query: None,
    };
    register_ingest(
        state,
        batch,
        &display,
        kind,
        r.ingest_id,
        source,
        "a references ingest",
    )
}

/// `POST …/roboql-ingest`: recorded like a references ingest; it fails in the background,
/// as the sandbox has no Asset Library. Only the default `ingest-status` webhook is sent.
pub(super) fn roboql(state: &State, head: &Head, batch: &str, req: &mut Body<'_>) -> Handled {
    let body = read_limited(head, req, MAX_JSON_BODY)?;
    let ingest = decode_roboql(&body)?;
    let display = ingest
        .display_name
        .clone()
        .unwrap_or_else(|| batch.to_string());
    let source = ShardSource::References {
        names: Vec::new(),
        list_url: None,
        ingest_id: String::new(),
        notifications_url: ingest.notifications_url.clone(),
        files_status: false,
        ingest_status: true,
        query: Some(ingest.query.clone()),
    };
    register_ingest(
        state,
        batch,
        &display,
        BatchContentType::Images,
        ingest.ingest_id,
        source,
        "a RoboQL ingest",
    )
}
