//! Indexing a tar shard from its headers: each regular member becomes a file record (an
//! offset into the stored tar), after its name, size and first bytes are checked. Works on a
//! stored file (seeking over the data) or on the upload as it streams in (the discard store).

use std::io::{self, Read};
use std::path::Path;

use super::super::config::SandboxConfig;
use super::super::store::{FileRec, Indexed, check_file_name, failed};

/// The member that carries a shard's webhook settings.
const NOTIFICATION_CONFIG: &str = "notification_config.json";

/// Indexes a stored tar at `rel` (relative to the data directory `dir`).
pub(crate) fn index_file(dir: &Path, rel: &str, shard: &str, cfg: &SandboxConfig) -> Indexed {
    let mut out = Indexed::default();
    let result = std::fs::File::open(dir.join(rel)).and_then(|f| {
        let mut tar = tar::Archive::new(f);
        index_entries(tar.entries_with_seek()?, shard, Some(rel), cfg, &mut out)
    });
    judge(&mut out, result, cfg);
    out
}

/// Indexes a tar as it streams from `r`, keeping none of its bytes; reads the stream to
/// its end (the trailer and any padding) so that the caller can check its length.
pub(crate) fn index_stream(r: &mut impl Read, shard: &str, cfg: &SandboxConfig) -> Indexed {
    let mut out = Indexed::default();
    let mut archive = tar::Archive::new(&mut *r);
    let result = archive
        .entries()
        .and_then(|e| index_entries(e, shard, None, cfg, &mut out));
    let _ = io::copy(r, &mut io::sink());
    judge(&mut out, result, cfg);
    out
}

/// The shard-wide verdicts, once every member was seen.
fn judge(out: &mut Indexed, result: io::Result<()>, cfg: &SandboxConfig) {
    let (n, max) = (out.files.len(), cfg.max_images_per_shard);
    out.error = match result {
        Err(e) => Some(format!("the shard is not a readable tar archive: {e}")),
        Ok(()) if n as u64 > max => Some(format!(
            "the shard holds {n} images, more than maxNumberOfImages ({max})"
        )),
        Ok(()) if n == 0 && out.failed.is_empty() => Some("the shard holds no files".into()),
        Ok(()) if n == 0 => Some("no file of the shard could be ingested".into()),
        Ok(()) => None,
    };
}

/// Indexes the members; `rel` is the stored tar (`None` when the bytes are discarded).
fn index_entries<'a, R: Read + 'a>(
    entries: impl Iterator<Item = io::Result<tar::Entry<'a, R>>>,
    shard: &str,
    rel: Option<&str>,
    cfg: &SandboxConfig,
    out: &mut Indexed,
) -> io::Result<()> {
    for entry in entries {
        let mut e = entry?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let full = e.path().map(|p| p.to_string_lossy().into_owned());
        let full = full.unwrap_or_default();
        let name = full.rsplit('/').next().unwrap_or("").to_string();
        let (size, offset) = (e.size(), e.raw_file_position());
        out.members.push(full.clone());
        if name == NOTIFICATION_CONFIG {
            let mut buf = Vec::new();
            e.by_ref().take(64 * 1024).read_to_end(&mut buf)?;
            out.notify = parse_notification_config(&buf);
            out.notification_config = Some(buf);
            continue;
        }
        let (max, mut head) = (cfg.max_image_size, Vec::with_capacity(64));
        let failure = match check_file_name("member name", &name) {
            Err(reason) => Some(failed("invalid-file-name", &full, reason)),
            Ok(()) if size > max => {
                let reason = format!("{size} bytes is over the {max} byte limit for one image");
                Some(failed("file-size-limit-exceeded", &name, reason))
            }
            Ok(()) => {
                e.by_ref().take(64).read_to_end(&mut head)?;
                let why = "not a recognised image format";
                (!super::looks_like_image(&head))
                    .then(|| failed("unsupported-file-type", &name, why))
            }
        };
        let (shard_id, path) = (Some(shard.to_string()), rel.unwrap_or_default().to_string());
        match failure {
            Some(f) => out.failed.push(f),
            None => out.files.push(FileRec {
                shard_id,
                offset,
                ..FileRec::new(name, size, path)
            }),
        }
    }
    Ok(())
}

fn parse_notification_config(bytes: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let ingest = v.get("ingestId")?.as_str()?.to_string();
    let url = v.get("notificationsURL")?.as_str()?.to_string();
    Some((ingest, url))
}
