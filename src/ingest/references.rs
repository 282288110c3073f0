//! References the service fetches itself, cut into chunks whose ingest ids a re-run
//! repeats, so that the service answers `duplicated` and nothing is ingested twice.

use std::io::BufRead;
use std::path::Path;

use super::feed::{Chunk, Feed, Unit};
use crate::error::{Error, Result};
use crate::ids;
use crate::model::{FileReference, MediaKind};

/// References per request: the official client's limit for images, the service's for videos.
pub(crate) fn default_chunk(media: MediaKind) -> usize {
    match media {
        MediaKind::Images => 20_000,
        MediaKind::Videos => 5_000,
    }
}

/// Cuts references into chunks `<base>` (the only one) or `<base>-<n>`; a full chunk
/// waits for the next reference, which says it is not the only one.
pub(crate) struct Chunker {
    size: usize,
    base: String,
    chunk: Chunk,
    held: Option<Chunk>,
    sent: u64,
}

impl Chunker {
    pub fn new(size: usize, base: String) -> Chunker {
        Chunker {
            size: size.max(1),
            base,
            chunk: Chunk::default(),
            held: None,
            sent: 0,
        }
    }

    fn hand(&mut self, feed: &mut Feed<'_>, mut c: Chunk, only: bool) -> bool {
        c.ingest_id = Some(ids::chunk_id(&self.base, self.sent, only));
        self.sent += 1;
        feed.send(Unit::References(c))
    }

    /// Adds a reference; `false` when the workers are gone.
    pub fn push(&mut self, feed: &mut Feed<'_>, r: FileReference, size: u64) -> bool {
        if let Some(full) = self.held.take()
            && !self.hand(feed, full, false)
        {
            return false;
        }
        self.chunk.bytes += size;
        self.chunk.refs.push(r);
        if self.chunk.refs.len() == self.size {
            self.held = Some(std::mem::take(&mut self.chunk));
        }
        true
    }

    /// How many chunks the references so far make.
    #[cfg(feature = "cloud")]
    pub fn chunks(&self) -> u64 {
        self.sent + u64::from(self.held.is_some()) + u64::from(!self.chunk.refs.is_empty())
    }

    /// Sends the chunks still held.
    pub fn finish(&mut self, feed: &mut Feed<'_>) {
        let rest = Some(std::mem::take(&mut self.chunk));
        let last = self.held.take().into_iter().chain(rest);
        let last: Vec<Chunk> = last.filter(|c| !c.refs.is_empty()).collect();
        let only = self.sent == 0 && last.len() == 1;
        for c in last {
            self.hand(feed, c, only);
        }
    }
}

/// The ingest id base of a JSONL file, from the batch, media and references.
pub(crate) fn file_base(batch: &str, media: MediaKind, digest: &[u8]) -> String {
    ids::references_base("refs", batch, media, digest)
}

/// A JSONL file of references, checked whole first, then read a chunk at a time.
pub(crate) struct ReferencesFile<'a> {
    path: &'a Path,
    pub references: u64,
    /// SHA-256 over every reference's name and URL, in order.
    pub digest: Vec<u8>,
}

impl<'a> ReferencesFile<'a> {
    pub fn check(path: &'a Path) -> Result<ReferencesFile<'a>> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut references = 0u64;
        read(path, |r| {
            for part in [r.name.as_bytes(), &[0], r.url.as_bytes(), b"\n"] {
                ctx.update(part);
            }
            references += 1;
            true
        })?;
        if references == 0 {
            return Err(Error::invalid(
                "references",
                format!("{} holds no references", path.display()),
            ));
        }
        Ok(ReferencesFile {
            path,
            references,
            digest: ctx.finish().as_ref().to_vec(),
        })
    }

    /// Hands the references to `chunker`; fails if the file changed since it was checked.
    pub fn feed(&self, chunker: &mut Chunker, feed: &mut Feed<'_>) -> Result<()> {
        let (mut seen, mut gone) = (0u64, false);
        read(self.path, |r| {
            seen += 1;
            gone = !chunker.push(feed, r, 0);
            !gone
        })?;
        if !gone && seen != self.references {
            return Err(Error::invalid(
                "references",
                format!(
                    "{} changed while it was being sent ({} references, then {seen})",
                    self.path.display(),
                    self.references
                ),
            ));
        }
        Ok(())
    }
}

/// Calls `each` with every reference of a JSONL file until it returns `false`.
fn read(path: &Path, mut each: impl FnMut(FileReference) -> bool) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid("references", format!("reading {}: {e}", path.display())))?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.map_err(|e| Error::io(format!("reading {} line {}", path.display(), i + 1), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: FileReference = serde_json::from_str(&line).map_err(|e| {
            Error::invalid(
                "references",
                format!(
                    "{} line {}: expected {{\"name\": …, \"url\": …}}: {e}",
                    path.display(),
                    i + 1
                ),
            )
        })?;
        if !each(r) {
            break;
        }
    }
    Ok(())
}
