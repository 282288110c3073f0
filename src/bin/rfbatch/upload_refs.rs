//! `rfbatch upload refs`: references the service fetches itself, from a JSONL file (read
//! a chunk at a time) or the URL of one; then, for a file, verified like any upload.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use roboflow_batch::ingest::{FailedFile, ProgressFn, SentFiles, Verification};
use roboflow_batch::model::{
    FileReference, NotificationCategory, ReferencesIngest, ReferencesIngestResponse,
};
use roboflow_batch::redact::without_query;
use serde_json::json;

use crate::context::Ctx;
use crate::exit::{Class, Failure};
use crate::ingest_progress::IngestProgress;
use crate::interrupt::Stoppable;
use crate::upload::RefsArgs;
use crate::upload_files::{print_verification, references_hint, verify_options};

/// The official client's limit of references per request (`MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST`).
const REFERENCES_PER_REQUEST: usize = 20_000;

pub fn refs(ctx: &Ctx, a: &RefsArgs) -> Result<(), Failure> {
    let base = ReferencesIngest {
        ingest_id: a.ingest_id.clone(),
        notifications_url: a.notifications_url.clone(),
        notification_categories: (!a.notification_category.is_empty()).then(|| {
            a.notification_category
                .iter()
                .map(|c| NotificationCategory::parse(c))
                .collect()
        }),
        ..ReferencesIngest::default()
    };
    let send = |body: &ReferencesIngest| -> Result<ReferencesIngestResponse, Failure> {
        let name = a.batch_name.as_deref();
        let r = if a.videos {
            ctx.api.ingest_video_references(&a.batch, body, name)
        } else {
            ctx.api.ingest_image_references(&a.batch, body, name)
        };
        Ok(r?)
    };
    let mut sent = Vec::new();
    let verify = verify_options(a.no_verify, a.verify_timeout)?;
    let mut sent_files = None;
    if a.source.contains("://") {
        let body = ReferencesIngest {
            image_references_url: Some(a.source.clone()),
            ..base
        };
        sent.push((send(&body)?, None));
    } else {
        let path = Path::new(&a.source);
        let file = RefsFile::check(path, chunk_size(a.videos))?;
        // Without an id, one derived from the batch and the file's references: a re-run
        // after an interruption is then answered as a repeat chunk by chunk. One chunk
        // carries the id itself, several `<id>-<n>`.
        let ingest_base = match &base.ingest_id {
            Some(id) => id.clone(),
            None => derived_refs_id(&a.batch, a.videos, &file.digest),
        };
        let suffix = file.chunks > 1;
        let stop = Stoppable::enter();
        let mut total = 0usize;
        let mut files = match verify {
            Some(_) => Some(SentFiles::new()?),
            None => None,
        };
        file.for_each_chunk(|i, refs| {
            stop.check()?;
            let n = refs.len();
            let body = ReferencesIngest {
                image_references: Some(refs),
                ingest_id: Some(if suffix {
                    format!("{ingest_base}-{i}")
                } else {
                    ingest_base.clone()
                }),
                ..base.clone()
            };
            let r = send(&body).map_err(|f| {
                f.context(format_args!(
                    "references {} to {} of {}",
                    total + 1,
                    total + n,
                    a.source
                ))
            })?;
            total += n;
            if let Some(files) = &mut files {
                let refs = body.image_references.iter().flatten();
                files.add_request(
                    r.shard_ids.as_deref().unwrap_or_default(),
                    refs.map(|r| (r.name.as_str(), without_query(&r.url))),
                );
            }
            sent.push((r, Some(n)));
            Ok(())
        })?;
        sent_files = files;
    }
    // Wait for the service to fetch and index what a file named.
    let verified = match (sent_files, &verify) {
        (Some(files), Some(wait)) => {
            let progress = IngestProgress::new(&ctx.out);
            let p = Arc::clone(&progress);
            let on_event: ProgressFn = Arc::new(move |e| p.on_event(e));
            let result = files.verify(&ctx.api, &a.batch, wait, &on_event);
            progress.finish();
            Some(result?)
        }
        _ => None,
    };
    if ctx.out.is_json() {
        let ingests: Vec<_> = sent
            .iter()
            .map(|(r, n)| json!({"ingestId": r.ingest_id, "shardIds": r.shard_ids, "duplicated": r.duplicated.unwrap_or(false), "references": n}))
            .collect();
        let mut doc = json!({"batchId": a.batch, "ingests": ingests});
        if let Some((v, failed)) = &verified {
            doc["verification"] = json!(v);
            doc["failed"] = json!(failed);
        }
        ctx.out.json(&doc)?;
        return outcome(a, verified.as_ref());
    }
    for (r, n) in &sent {
        let what = n.map_or_else(
            || "the references list".to_string(),
            |n| format!("{n} references"),
        );
        let dup = if r.duplicated == Some(true) {
            " (a repeat: already accepted before)"
        } else {
            ""
        };
        ctx.out
            .line(format_args!("ingest {}: {what} accepted{dup}", r.ingest_id))?;
    }
    match &verified {
        Some((v, failed)) => print_verification(ctx, v, failed, "fetched and indexed")?,
        None => ctx.out.note(format_args!(
            "the service fetches the files now; follow it with: rfbatch batch shards {}",
            a.batch
        )),
    }
    outcome(a, verified.as_ref())
}

/// A partial failure when verification ran and did not confirm every file.
fn outcome(
    a: &RefsArgs,
    verified: Option<&(Verification, Vec<FailedFile>)>,
) -> Result<(), Failure> {
    let Some((v, failed)) = verified else {
        return Ok(());
    };
    if failed.is_empty() && v.complete {
        return Ok(());
    }
    let msg = if failed.is_empty() {
        format!(
            "not every reference of batch {} was confirmed indexed",
            a.batch
        )
    } else {
        format!(
            "{} references did not make it into batch {}",
            failed.len(),
            a.batch
        )
    };
    let hint = references_hint(&a.batch, failed.is_empty());
    Err(Failure::new(Class::Partial, msg).with_hint(hint))
}

/// References per request: the official client's limit for images (or
/// `MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST`); video lists are sent whole, as it does.
fn chunk_size(videos: bool) -> usize {
    if videos {
        return usize::MAX;
    }
    std::env::var("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(REFERENCES_PER_REQUEST)
}

/// `refs-` and 20 hex digits of a SHA-256 of the batch, the media kind and the file's
/// references.
fn derived_refs_id(batch: &str, videos: bool, digest: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(batch.as_bytes());
    h.update(if videos { b"\nvideos\n" } else { b"\nimages\n" });
    h.update(digest);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("refs-{}", &hex[..20])
}

/// A JSONL file of references, checked whole before anything is sent and then read a
/// chunk at a time, so memory holds one chunk whatever the file's length. Blank lines are
/// skipped; any other line that is not a reference is an error naming the file and line.
struct RefsFile<'a> {
    path: &'a Path,
    size: usize,
    references: usize,
    chunks: usize,
    /// SHA-256 over every reference's name and URL, in order.
    digest: Vec<u8>,
}

impl<'a> RefsFile<'a> {
    fn check(path: &'a Path, size: usize) -> Result<RefsFile<'a>, Failure> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut references = 0usize;
        Self::read(path, |r| {
            h.update(r.name.as_bytes());
            h.update([0]);
            h.update(r.url.as_bytes());
            h.update([b'\n']);
            references += 1;
            Ok(())
        })?;
        if references == 0 {
            return Err(Failure::usage(format!(
                "{} holds no references",
                path.display()
            )));
        }
        Ok(RefsFile {
            path,
            size,
            references,
            chunks: references.div_ceil(size),
            digest: h.finalize().to_vec(),
        })
    }

    /// Calls `f` with each chunk's number and references.
    fn for_each_chunk(
        &self,
        mut f: impl FnMut(usize, Vec<FileReference>) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut current = Vec::new();
        let mut chunk = 0usize;
        let mut seen = 0usize;
        Self::read(self.path, |r| {
            seen += 1;
            current.push(r);
            if current.len() >= self.size {
                f(chunk, std::mem::take(&mut current))?;
                chunk += 1;
            }
            Ok(())
        })?;
        if !current.is_empty() {
            f(chunk, current)?;
        }
        if seen != self.references {
            return Err(Failure::usage(format!(
                "{} changed while it was being sent ({} references, then {seen})",
                self.path.display(),
                self.references
            )));
        }
        Ok(())
    }

    fn read(
        path: &Path,
        mut each: impl FnMut(FileReference) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| {
                Failure::usage(format!("reading {} line {}: {e}", path.display(), i + 1))
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let r: FileReference = serde_json::from_str(&line).map_err(|e| {
                Failure::usage(format!(
                    "{} line {}: expected {{\"name\": …, \"url\": …}}: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
            each(r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(path: &Path, size: usize) -> Result<Vec<Vec<FileReference>>, Failure> {
        let file = RefsFile::check(path, size)?;
        let mut out = Vec::new();
        file.for_each_chunk(|i, refs| {
            assert_eq!(i, out.len());
            out.push(refs);
            Ok(())
        })?;
        assert_eq!(out.len(), file.chunks);
        Ok(out)
    }

    #[test]
    fn jsonl_is_read_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refs.jsonl");
        let lines: String = (0..5)
            .map(|i| format!("{{\"name\":\"{i}.jpg\",\"url\":\"https://h/{i}.jpg\"}}\n\n"))
            .collect();
        std::fs::write(&path, lines).unwrap();
        let chunks = chunks(&path, 2).unwrap();
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(chunks[2][0].name, "4.jpg");
    }

    #[test]
    fn a_bad_line_is_named_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refs.jsonl");
        std::fs::write(
            &path,
            "{\"name\":\"a\",\"url\":\"https://h/a\"}\nnot json\n",
        )
        .unwrap();
        let err = RefsFile::check(&path, 1).err().unwrap();
        assert!(err.message.contains("line 2"), "{}", err.message);
        std::fs::write(&path, "\n").unwrap();
        let err = RefsFile::check(&path, 10).err().unwrap();
        assert!(err.message.contains("no references"), "{}", err.message);
    }

    #[test]
    fn the_derived_id_follows_the_references_and_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refs.jsonl");
        let id = |body: &str, batch: &str| {
            std::fs::write(&path, body).unwrap();
            let f = RefsFile::check(&path, 10).unwrap();
            derived_refs_id(batch, false, &f.digest)
        };
        let a = "{\"name\":\"a\",\"url\":\"https://h/a\"}\n";
        let b = "{\"name\":\"a\",\"url\":\"https://h/b\"}\n";
        assert_eq!(id(a, "b1"), id(&format!("\n{a}\n"), "b1"));
        assert_ne!(id(a, "b1"), id(b, "b1"));
        assert_ne!(id(a, "b1"), id(a, "b2"));
        assert!(id(a, "b1").starts_with("refs-") && id(a, "b1").len() == 25);
    }
}
