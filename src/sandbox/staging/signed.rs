//! Signed URLs: issuing and checking them, and serving their PUTs and GETs.
//!
//! A URL carries `expires` (unix seconds) and a `token` that signs the path and the expiry
//! with the sandbox's secret, so it cannot be altered or extended. Uploads also need the
//! `x-rfbatch-upload` extension header, as real signed URLs need theirs.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{Seek, SeekFrom};
use std::time::Duration;

use super::super::State;
use super::super::http::{Head, Reply, ReplyBody};
use super::faults::FaultFamily;
use super::store::{FileRec, file_key};

/// The extension header every signed PUT must carry.
pub(crate) const UPLOAD_HEADER: &str = "x-rfbatch-upload";

pub(super) fn route(
    state: &State,
    head: &Head,
    rest: &[&str],
    req: &mut tiny_http::Request,
) -> Reply {
    match (head.method.as_str(), rest) {
        ("PUT", ["upload", id]) => super::put::put(state, head, id, req),
        ("GET" | "HEAD", ["download", batch, name]) => download(state, head, batch, name),
        (m, _) => Reply::error(
            404,
            format!("no signed resource for {m} /signed/{}", rest.join("/")),
        ),
    }
}

fn sign(secret: u64, msg: &str) -> String {
    let mut out = String::with_capacity(32);
    for salt in [0x5bd1_e995_u64, 0x27d4_eb2f_1656_67c5] {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (secret, salt, msg).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
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

    fn secret(&self) -> u64 {
        self.lock().staging.secret
    }

    /// A signed upload URL and the extension headers its PUT must send.
    pub(super) fn upload_url(&self, id: &str) -> (String, BTreeMap<String, String>) {
        let expires = self.expiry_for(FaultFamily::Put);
        let path = format!("upload/{}", crate::url::encode(id));
        let token = sign(self.secret(), &format!("upload/{id}/{expires}"));
        let url = crate::url::with_query(
            &format!("{}/signed/{path}", self.base_url()),
            &[("expires", expires.to_string()), ("token", token)],
        );
        let headers = BTreeMap::from([(UPLOAD_HEADER.to_string(), id.to_string())]);
        (url, headers)
    }

    /// A signed download URL for one stored file.
    pub(super) fn download_url(&self, batch: &str, f: &FileRec) -> String {
        let expires = self.expiry_for(FaultFamily::Download);
        let part = f.part.clone().unwrap_or_default();
        let token = sign(self.secret(), &download_msg(batch, &part, &f.name, expires));
        crate::url::with_query(
            &format!(
                "{}/signed/download/{}/{}",
                self.base_url(),
                crate::url::encode(batch),
                crate::url::encode(&f.name)
            ),
            &[("expires", expires.to_string()), ("token", token)]
                .into_iter()
                .chain(f.part.clone().map(|p| ("part", p)))
                .collect::<Vec<_>>(),
        )
    }
}

fn download_msg(batch: &str, part: &str, name: &str, expires: u64) -> String {
    format!("download/{batch}/{part}/{name}/{expires}")
}

/// Checks `expires` and `token` against the signed message `msg(expires)`.
pub(super) fn check(state: &State, head: &Head, msg: impl Fn(u64) -> String) -> Result<(), Reply> {
    let expires = head
        .query("expires")
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(|| Reply::error(403, "signed URL has no valid `expires` parameter"))?;
    let token = head
        .query("token")
        .ok_or_else(|| Reply::error(403, "signed URL has no `token` parameter"))?;
    if sign(state.secret(), &msg(expires)) != token {
        return Err(Reply::error(
            403,
            "signed URL signature does not match (altered URL?)",
        ));
    }
    if now_secs() > expires {
        let when = crate::sandbox::clock::timestamp_of_secs(expires);
        return Err(Reply::error(
            403,
            format!("signed URL expired at {when}; request a new one"),
        ));
    }
    Ok(())
}

fn download(state: &State, head: &Head, batch: &str, name: &str) -> Reply {
    let part = head.query("part").unwrap_or("").to_string();
    if let Err(r) = check(state, head, |e| download_msg(batch, &part, name, e)) {
        return r;
    }
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
    let opened = std::fs::File::open(rec.abs_path(state.data_dir())).and_then(|mut f| {
        f.seek(SeekFrom::Start(rec.offset))?;
        Ok(f)
    });
    match opened {
        Ok(f) => Reply {
            status: 200,
            headers: vec![("Content-Type".into(), super::mime_for(name).into())],
            body: ReplyBody::Reader(Box::new(f), rec.size),
        },
        Err(e) => Reply::error(500, format!("reading stored file {name:?} failed: {e}")),
    }
}
