//! Signed URLs: issuing and checking them, and serving their PUTs and GETs.
//!
//! A URL carries `expires` (unix seconds), an upload's size `limit`, and a `token`: the
//! HMAC-SHA256 (see `signing.rs`) of the method, path, part, expiry and limit under the
//! sandbox's secret key, so no part of it can be altered and no URL forged. Uploads also
//! need the `x-rfbatch-upload` extension header, as real signed URLs need theirs.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::time::Duration;

use super::super::State;
use super::faults::FaultFamily;
use super::range::Ranged;
use super::signing::Grant;
use super::store::{FileRec, file_key};
use crate::server::{Body, Head, Reply, ReplyBody};

/// The extension header every signed PUT must carry.
pub(crate) const UPLOAD_HEADER: &str = "x-rfbatch-upload";

pub(super) fn route(state: &State, head: &Head, rest: &[&str], req: &mut Body<'_>) -> Reply {
    let limit = match verify(state, head, rest) {
        Ok(limit) => limit,
        Err(r) => return r,
    };
    match (head.method.as_str(), rest) {
        ("PUT", ["upload", id]) => super::put::put(state, head, id, limit, req),
        ("GET" | "HEAD", ["download", batch, name]) => download(state, head, batch, name),
        (m, _) => Reply::error(
            404,
            format!("no signed resource for {m} /signed/{}", rest.join("/")),
        ),
    }
}

pub(crate) use crate::sandbox::clock::{now_ms, now_secs};

impl State {
    fn expiry_for(&self, family: FaultFamily) -> u64 {
        if self.faults.expired_urls(family) {
            now_secs().saturating_sub(1)
        } else {
            crate::sandbox::clock::secs_after(
                self.config().signed_url_ttl.max(Duration::from_secs(1)),
            )
        }
    }

    /// A signed upload URL, allowing at most `limit` bytes, and the extension headers its
    /// PUT must send.
    pub(super) fn upload_url(&self, id: &str, limit: u64) -> (String, BTreeMap<String, String>) {
        let expires = self.expiry_for(FaultFamily::Put);
        let grant = Grant {
            method: "PUT",
            segments: &["upload", id],
            part: "",
            expires,
            limit: Some(limit),
        };
        let url = crate::urls::with_query(
            &format!(
                "{}/signed/upload/{}",
                self.base_url(),
                crate::urls::encode(id)
            ),
            &[
                ("expires", expires.to_string()),
                ("limit", limit.to_string()),
                ("token", self.signer().sign(&grant)),
            ],
        );
        let headers = BTreeMap::from([(UPLOAD_HEADER.to_string(), id.to_string())]);
        (url, headers)
    }

    /// A signed download URL for one stored file.
    pub(super) fn download_url(&self, batch: &str, f: &FileRec) -> String {
        let expires = self.expiry_for(FaultFamily::Download);
        let part = f.part.clone().unwrap_or_default();
        let grant = Grant {
            method: "GET",
            segments: &["download", batch, &f.name],
            part: &part,
            expires,
            limit: None,
        };
        let token = self.signer().sign(&grant);
        crate::urls::with_query(
            &format!(
                "{}/signed/download/{}/{}",
                self.base_url(),
                crate::urls::encode(batch),
                crate::urls::encode(&f.name)
            ),
            &[("expires", expires.to_string()), ("token", token)]
                .into_iter()
                .chain(f.part.clone().map(|p| ("part", p)))
                .collect::<Vec<_>>(),
        )
    }
}

/// Checks the URL's signature, then its expiry; returns its size limit.
fn verify(state: &State, head: &Head, rest: &[&str]) -> Result<Option<u64>, Reply> {
    let bad = |what: &str| Reply::error(403, format!("signed URL has no valid `{what}` parameter"));
    let expires = head
        .query("expires")
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(|| bad("expires"))?;
    let limit = match head.query("limit") {
        None => None,
        Some(l) => Some(l.parse::<u64>().map_err(|_| bad("limit"))?),
    };
    let token = head.query("token").ok_or_else(|| bad("token"))?;
    let method = match head.method.as_str() {
        "HEAD" => "GET",
        m => m,
    };
    let grant = Grant {
        method,
        segments: rest,
        part: head.query("part").unwrap_or(""),
        expires,
        limit,
    };
    if !state.signer().verify(&grant, token) {
        return Err(Reply::error(
            403,
            "signed URL signature does not match (altered URL, another method, or another sandbox's URL?)",
        ));
    }
    if now_secs() > expires {
        let when = crate::sandbox::clock::timestamp_of_secs(expires);
        return Err(Reply::error(
            403,
            format!("signed URL expired at {when}; request a new one"),
        ));
    }
    Ok(limit)
}

fn download(state: &State, head: &Head, batch: &str, name: &str) -> Reply {
    let part = head.query("part").unwrap_or("").to_string();
    let part_opt = (!part.is_empty()).then_some(part.as_str());
    let rec = state
        .lock()
        .staging
        .batches
        .get(batch)
        .and_then(|b| b.files.get(&file_key(part_opt, name)).cloned());
    let Some(rec) = rec else {
        return Reply::error(404, format!("file {name:?} not found in batch {batch:?}"));
    };
    if rec.discarded {
        return Reply::error(
            410,
            format!("the bytes of {name:?} were discarded (the sandbox runs with --store discard)"),
        );
    }
    let size = rec.size;
    let (status, start, len, range) = match super::range::parse(head.header("range"), size) {
        Ranged::Full => (200, 0, size, None),
        Ranged::Part { start, end } => (
            206,
            start,
            end - start + 1,
            Some(format!("bytes {start}-{end}/{size}")),
        ),
        Ranged::Unsatisfiable => {
            return Reply::error(
                416,
                format!("range not satisfiable: {name:?} has {size} bytes"),
            )
            .with_header("Content-Range", format!("bytes */{size}"));
        }
    };
    let opened = std::fs::File::open(rec.abs_path(state.data_dir())).and_then(|mut f| {
        f.seek(SeekFrom::Start(rec.offset.saturating_add(start)))?;
        Ok(f)
    });
    match opened {
        Ok(f) => {
            let mut headers = vec![
                ("Content-Type".into(), super::mime_for(name).into()),
                ("Accept-Ranges".into(), "bytes".into()),
            ];
            headers.extend(range.map(|r| ("Content-Range".to_string(), r)));
            Reply {
                status,
                headers,
                body: ReplyBody::Reader(Box::new(f), len),
            }
        }
        Err(e) => Reply::error(500, format!("reading stored file {name:?} failed: {e}")),
    }
}
