//! Fetching one reference: the host rule, the GET, the status, size and type checks,
//! and storing the file (or, in the discard store, counting it).

use std::io::{BufWriter, Read, Write};

use super::super::State;
use super::fetch::Run;
use super::store::{FileRec, ShardSource, layout};
use super::tarindex::failed;
use crate::model::FileReference;
use crate::sandbox::StoreMode;
use crate::sandbox::egress::check_host;

type Outcome = std::result::Result<FileRec, crate::model::FailedFile>;

/// A readable HTTP status.
pub(super) fn describe(status: u16) -> String {
    match status {
        403 => "HTTP 403 Forbidden (an expired or invalid signature?)".into(),
        404 => "HTTP 404 Not Found".into(),
        300..=399 => format!("HTTP {status} (redirects are not followed)"),
        s => format!("HTTP {s}"),
    }
}

/// An error's text without the URL it may carry (a signed URL is a secret).
pub(super) fn scrub(e: &ureq::Error, url: &str) -> String {
    e.to_string()
        .replace(url, &crate::redact::redact_url(url).to_string())
}

/// Whether `head` (the first bytes) starts like a video container.
fn looks_like_video(head: &[u8]) -> bool {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    at(4, b"ftyp") // MP4, MOV, 3GP
        || at(0, &[0x1A, 0x45, 0xDF, 0xA3]) // Matroska, WebM
        || (at(0, b"RIFF") && at(8, b"AVI "))
        || at(0, b"FLV")
        || at(0, &[0x00, 0x00, 0x01, 0xBA]) // MPEG program stream
        || (head.first() == Some(&0x47) && head.get(188) == Some(&0x47)) // MPEG-TS
}

/// Fetches one reference and stores (or, in the discard store, counts) it.
pub(super) fn fetch_one(
    state: &State,
    agent: &ureq::Agent,
    run: &Run,
    r: &FileReference,
) -> Outcome {
    let name = r.name.as_str();
    let cfg = state.config();
    let videos = matches!(run.source, ShardSource::References { videos: true, .. });
    let limit = if videos {
        cfg.max_video_size
    } else {
        cfg.max_image_size
    };
    check_host(&r.url, &cfg.fetch_allow).map_err(|why| failed("unsafe-url-detected", name, why))?;
    let resp = agent.get(&r.url).call().map_err(|e| {
        failed(
            "file-download-failed",
            name,
            format!("cannot fetch: {}", scrub(&e, &r.url)),
        )
    })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(failed("file-download-failed", name, describe(status)));
    }
    let too_big = |n: &str| {
        failed(
            "file-size-limit-exceeded",
            name,
            format!(
                "{n} bytes is over the {limit} byte limit for one {}",
                if videos { "video" } else { "image" }
            ),
        )
    };
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(len) = header("content-length").and_then(|l| l.trim().parse::<u64>().ok())
        && len > limit
    {
        return Err(too_big(&len.to_string()));
    }
    let content_type = header("content-type").unwrap_or_default();
    let mut body = resp.into_body().into_reader().take(limit.saturating_add(1));
    let mut head = Vec::with_capacity(256);
    (&mut body).take(256).read_to_end(&mut head).map_err(|e| {
        failed(
            "file-download-failed",
            name,
            format!("reading the body failed: {e}"),
        )
    })?;
    let recognised = if videos {
        looks_like_video(&head) || content_type.starts_with("video/")
    } else {
        super::looks_like_image(&head[..head.len().min(64)])
    };
    if !recognised {
        let what = if videos { "video" } else { "image" };
        let ct = if content_type.is_empty() {
            "none".to_string()
        } else {
            content_type
        };
        return Err(failed(
            "unsupported-file-type",
            name,
            format!("not a recognised {what} format (Content-Type: {ct})"),
        ));
    }
    let discard = cfg.store == StoreMode::Discard;
    let reading_failed = |e: std::io::Error| {
        failed(
            "file-download-failed",
            name,
            format!("reading the body failed: {e}"),
        )
    };
    let storing_failed = |e: std::io::Error| {
        failed(
            "file-download-failed",
            name,
            format!("storing the file failed: {e}"),
        )
    };
    let (size, path) = if discard {
        let rest = std::io::copy(&mut body, &mut std::io::sink()).map_err(reading_failed)?;
        let size = head.len() as u64 + rest;
        if size > limit {
            return Err(too_big(&format!("more than {limit}")));
        }
        (size, String::new())
    } else {
        // Under a unique temporary name until it is whole and within the limit: a failed
        // fetch never replaces (or deletes) a file of the same name fetched before.
        let tmp = Tmp(state
            .data_dir()
            .join(layout::tmp(&format!("ref-{}", crate::rand::hex(8)))));
        let size = write_tmp(&tmp.0, &head, &mut body).map_err(storing_failed)?;
        if size > limit {
            return Err(too_big(&format!("more than {limit}")));
        }
        let rel = layout::file(&run.batch, name);
        place(&tmp.0, &state.data_dir().join(&rel)).map_err(storing_failed)?;
        (size, rel)
    };
    Ok(FileRec {
        name: name.to_string(),
        part: None,
        size,
        shard_id: Some(run.shard.clone()),
        path,
        offset: 0,
        discarded: discard,
    })
}

/// A temporary file, removed when dropped unless it was moved into place.
struct Tmp(std::path::PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `head` and the rest of `body` to `tmp`; returns the size.
fn write_tmp(tmp: &std::path::Path, head: &[u8], body: &mut impl Read) -> std::io::Result<u64> {
    if let Some(dir) = tmp.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::with_capacity(256 * 1024, std::fs::File::create(tmp)?);
    out.write_all(head)?;
    let rest = std::io::copy(body, &mut out)?;
    out.flush()?;
    Ok(head.len() as u64 + rest)
}

/// Moves a complete file into place, replacing the one there.
fn place(tmp: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(tmp, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_magic() {
        assert!(looks_like_video(b"\0\0\0\x18ftypmp42"));
        assert!(looks_like_video(&[0x1A, 0x45, 0xDF, 0xA3, 1]));
        assert!(looks_like_video(b"RIFF\0\0\0\0AVI LIST"));
        assert!(!looks_like_video(b"<html><body>"));
        assert!(!looks_like_video(b""));
    }
}
