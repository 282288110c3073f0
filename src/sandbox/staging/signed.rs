//! Signed URLs: issuing and checking them (the `token` signs every other part), serving
//! their PUTs (`upload.rs`, which also need an extension header) and GETs (one byte range).

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::clock::{now_secs, secs_after, timestamp_of_secs};
use super::super::faults::FaultFamily;
use super::super::request::{Answer, Req, fail};
use super::super::signing::Grant;
use super::super::state::State;
use super::super::store::{FileRec, file_key};
use super::upload::UPLOAD_HEADER;
use crate::server::{Reply, ReplyBody};
use crate::urls::encode;

/// Serves a signed URL, once its signature and expiry are checked.
pub(crate) fn serve(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let segments: Vec<&str> = req.head.segments[1..].iter().map(String::as_str).collect();
    let limit = verify(state, req, &segments)?;
    match (req.head.method.as_str(), segments.as_slice()) {
        ("PUT", ["upload", id]) => super::upload::put(state, req, id, limit),
        ("GET" | "HEAD", ["download", batch, name]) => download(state, req, batch, name),
        (m, rest) => fail(
            404,
            format!("no signed resource for {m} /signed/{}", rest.join("/")),
        ),
    }
}

fn expiry(state: &State, family: FaultFamily) -> u64 {
    if state.faults.expired_urls(family) {
        now_secs().saturating_sub(1)
    } else {
        secs_after(state.config.signed_url_ttl.max(Duration::from_secs(1)))
    }
}

/// A signed upload URL allowing at most `limit` bytes, and the extension headers its PUT
/// must send.
pub(crate) fn upload_url(
    state: &State,
    id: &str,
    limit: u64,
) -> (String, BTreeMap<String, String>) {
    let expires = expiry(state, FaultFamily::Put);
    let grant = Grant {
        method: "PUT",
        segments: &["upload", id],
        part: "",
        expires,
        limit: Some(limit),
    };
    let query = [
        ("expires", expires.to_string()),
        ("limit", limit.to_string()),
        ("token", state.signer.sign(&grant)),
    ];
    let base = format!("{}/signed/upload/{}", state.base_url, encode(id));
    let headers = BTreeMap::from([(UPLOAD_HEADER.to_string(), id.to_string())]);
    (crate::urls::with_query(&base, &query), headers)
}

/// A signed download URL for one stored file.
pub(crate) fn download_url(state: &State, batch: &str, f: &FileRec) -> String {
    let expires = expiry(state, FaultFamily::Download);
    let part = f.part.as_deref().unwrap_or("");
    let grant = Grant {
        method: "GET",
        segments: &["download", batch, &f.name],
        part,
        expires,
        limit: None,
    };
    let mut query = vec![
        ("expires", expires.to_string()),
        ("token", state.signer.sign(&grant)),
    ];
    query.extend(f.part.clone().map(|p| ("part", p)));
    let (b, n) = (encode(batch), encode(&f.name));
    let base = format!("{}/signed/download/{b}/{n}", state.base_url);
    crate::urls::with_query(&base, &query)
}

/// Checks the URL's signature, then its expiry; returns its size limit.
fn verify(state: &State, req: &Req<'_, '_>, segments: &[&str]) -> Result<Option<u64>, Reply> {
    let bad = |what: &str| Reply::error(403, format!("signed URL has no valid `{what}` parameter"));
    let expires = req.query("expires").and_then(|e| e.parse::<u64>().ok());
    let expires = expires.ok_or_else(|| bad("expires"))?;
    let limit = req.query("limit").map(str::parse::<u64>).transpose();
    let limit = limit.map_err(|_| bad("limit"))?;
    let token = req.query("token").ok_or_else(|| bad("token"))?;
    // A HEAD is checked as a GET.
    let method = req.head.method.replace("HEAD", "GET");
    let grant = Grant {
        method: &method,
        segments,
        part: req.query("part").unwrap_or(""),
        expires,
        limit,
    };
    if !state.signer.verify(&grant, token) {
        let why = "altered URL, another method, or another sandbox's URL?";
        return fail(403, format!("signed URL signature does not match ({why})"));
    }
    if now_secs() > expires {
        let when = timestamp_of_secs(expires);
        let msg = format!("signed URL expired at {when}; request a new one");
        return fail(403, msg);
    }
    Ok(limit)
}

fn download(state: &State, req: &Req<'_, '_>, batch: &str, name: &str) -> Answer {
    let part = req.query("part").filter(|p| !p.is_empty());
    let data = state.lock();
    let b = data.staging.batches.get(batch);
    let file = b.and_then(|b| b.files.get(&file_key(part, name))).cloned();
    drop(data);
    let missing = || Reply::error(404, format!("file {name:?} not found in batch {batch:?}"));
    let rec = file.ok_or_else(missing)?;
    if rec.discarded {
        let why =
            format!("the bytes of {name:?} were discarded (the sandbox runs with --store discard)");
        return Err(Reply::error(410, why));
    }
    let size = rec.size;
    let (status, start, end) = match range(req.head.header("range"), size) {
        Some(Some((start, end))) => (206, start, end),
        Some(None) => {
            let why = format!("range not satisfiable: {name:?} has {size} bytes");
            let range = format!("bytes */{size}");
            return Err(Reply::error(416, why).with_header("Content-Range", range));
        }
        None => (200, 0, size.saturating_sub(1)),
    };
    let failed = |e| Reply::error(500, format!("reading stored file {name:?} failed: {e}"));
    let file = rec.open(&state.data_dir, start).map_err(failed)?;
    let len = if size == 0 { 0 } else { end - start + 1 };
    let mut reply = Reply {
        status,
        headers: vec![
            ("Content-Type".into(), crate::media::mime_for(name).into()),
            ("Accept-Ranges".into(), "bytes".into()),
        ],
        body: ReplyBody::Reader(Box::new(file), len),
    };
    if status == 206 {
        reply = reply.with_header("Content-Range", format!("bytes {start}-{end}/{size}"));
    }
    Ok(reply)
}

/// What a `Range` header asks of a body of `size` bytes (RFC 9110 §14): `None` for the
/// whole body (no header, not `bytes`, several ranges, or malformed), `Some(None)` when no
/// byte of it exists (a 416), else the first and last byte of one range.
fn range(header: Option<&str>, size: u64) -> Option<Option<(u64, u64)>> {
    let spec = header?.trim().strip_prefix("bytes=")?.trim();
    // Several ranges would need multipart/byteranges; a server may send it all.
    let (first, last) = spec.split_once('-').filter(|_| !spec.contains(','))?;
    let num = |s: &str| -> Option<u64> {
        let s = Some(s.trim()).filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?;
        s.parse().ok()
    };
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        // -S: the last S bytes.
        (true, false) => match num(last)? {
            0 => return Some(None),
            suffix => (size.saturating_sub(suffix), u64::MAX),
        },
        (false, true) => (num(first)?, u64::MAX),
        (false, false) => (num(first)?, num(last)?),
        (true, true) => return None,
    };
    if start > end {
        return None;
    }
    Some((start < size).then(|| (start, end.min(size - 1))))
}
