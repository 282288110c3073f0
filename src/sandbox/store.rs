//! The staged data as persisted in `state.json`, the data directory's layout, and writing
//! a new file into it. Paths are relative, so a data directory can be moved and reopened.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::clock::stamp_ms;
use crate::model::{
    BatchContentType, BatchMetadata, BatchType, FailedFile, PartMetadata, ReferencesIngestResponse,
    Timestamp,
};

/// How long staged data lives on the service.
const EXPIRY: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Why a job cannot read a batch of the discard store.
pub(crate) const DISCARDED: &str = "images were discarded (--store discard); jobs cannot run";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct StagingData {
    pub batches: BTreeMap<String, Batch>,
    /// Signed uploads handed out, by upload id.
    pub uploads: BTreeMap<String, Upload>,
    /// References ingests, by `batch/ingestId`.
    pub ingests: BTreeMap<String, Ingest>,
    /// The 32-byte URL signing key, in hex; kept so that URLs survive a restart. Older
    /// state files have none (their weak `secret` is ignored) and get a fresh key.
    pub signing_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Batch {
    pub id: String,
    pub display_name: String,
    pub batch_type: BatchType,
    pub content_type: BatchContentType,
    pub created: Timestamp,
    pub expiry: Timestamp,
    #[serde(default)]
    pub parts: Vec<PartMetadata>,
    /// By [`file_key`], so listings are sorted by part, then name.
    #[serde(default)]
    pub files: BTreeMap<String, FileRec>,
    #[serde(default)]
    pub shards: Vec<Shard>,
    /// How many times each file name was indexed into the batch, by any route.
    #[serde(default)]
    pub ingest_counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FileRec {
    pub name: String,
    #[serde(default)]
    pub part: Option<String>,
    pub size: u64,
    #[serde(default)]
    pub shard_id: Option<String>,
    /// Relative to the data directory.
    pub path: String,
    /// Where the bytes start in `path` (non-zero for tar members).
    #[serde(default)]
    pub offset: u64,
    /// The bytes were not kept (the discard store): only the record exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discarded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ShardState {
    Indexing,
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Shard {
    pub id: String,
    pub state: ShardState,
    pub status_name: String,
    pub status_type: String,
    pub event: Timestamp,
    pub objects: u64,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    pub source: ShardSource,
    /// Unix milliseconds after which it is indexed (or its references fetched).
    pub ready_at_ms: u64,
    /// Unix milliseconds from which the shard listing shows it (0: at once).
    #[serde(default)]
    pub listed_at_ms: u64,
}

impl Shard {
    /// A shard being indexed, ready at `ready_at_ms` and listed from `listed_at_ms`.
    pub fn indexing(
        id: &str,
        status: &str,
        source: ShardSource,
        ready_at_ms: u64,
        listed_at_ms: u64,
    ) -> Shard {
        Shard {
            id: id.to_string(),
            state: ShardState::Indexing,
            status_name: status.into(),
            status_type: "info".into(),
            event: stamp_ms(),
            objects: 0,
            metadata: None,
            source,
            ready_at_ms,
            listed_at_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ShardSource {
    /// An uploaded tar, relative to the data directory.
    Tar { path: String },
    /// A tar indexed as it streamed in, its bytes discarded: only the outcome remains.
    Indexed(Indexed),
    /// A references ingest (or a RoboQL one, with `query`).
    References {
        /// A JSONL file of the inline references (`{"name", "url"}` lines), relative to the
        /// data directory; it holds signed URLs, so it stays there.
        #[serde(default)]
        refs_file: Option<String>,
        /// The URL of a JSONL file of references.
        list_url: Option<String>,
        /// Video references (else images).
        #[serde(default)]
        videos: bool,
        ingest_id: String,
        notifications_url: Option<String>,
        files_status: bool,
        ingest_status: bool,
        /// Set for a RoboQL ingest: the query the sandbox cannot run.
        #[serde(default)]
        query: Option<String>,
    },
}

impl ShardSource {
    /// Whether the fetch workers take this shard (else the indexer does): references with
    /// somewhere to read them from.
    pub fn is_fetched(&self) -> bool {
        matches!(self, ShardSource::References { query: None, refs_file, list_url, .. }
            if refs_file.is_some() || list_url.is_some())
    }
}

/// What indexing one shard (a tar, or a references ingest) found.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Indexed {
    pub files: Vec<FileRec>,
    pub failed: Vec<FailedFile>,
    /// `(ingestId, notificationsURL)` from a tar's `notification_config.json`.
    pub notify: Option<(String, String)>,
    /// Why the whole shard failed.
    pub error: Option<String>,
    /// Every regular member's name, in order (for the request recorder; not persisted).
    #[serde(skip)]
    pub members: Vec<String>,
    /// The bytes of `notification_config.json` (for the request recorder; not persisted).
    #[serde(skip)]
    pub notification_config: Option<Vec<u8>>,
}

impl Indexed {
    /// The outcome of a shard that failed as a whole.
    pub fn failed(error: String) -> Indexed {
        let error = Some(error);
        Indexed {
            error,
            ..Indexed::default()
        }
    }
}

pub(crate) fn failed(kind: &str, name: &str, reason: impl Into<String>) -> FailedFile {
    FailedFile {
        failure_type: kind.into(),
        file_name: name.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum UploadKind {
    Shard,
    Video,
}

/// Where a signed upload is. It moves only under the state lock, so that of two PUTs
/// racing on one URL exactly one receives the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum UploadState {
    /// Handed out; no PUT has completed.
    #[default]
    Pending,
    /// A PUT is receiving the body (a restart or a failed PUT returns it to pending).
    Receiving,
    /// Stored: a repeated PUT is answered 200 and the first copy stands.
    Done,
}

/// A signed upload URL handed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Upload {
    pub batch_id: String,
    pub kind: UploadKind,
    /// The shard id, or the video's file name.
    pub target: String,
    pub max_size: u64,
    #[serde(default)]
    pub state: UploadState,
    /// Older state files only say whether the upload was done.
    #[serde(default, skip_serializing)]
    pub done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ingest {
    pub ingest_id: String,
    pub shard_ids: Vec<String>,
}

impl Ingest {
    /// The answer to its request, or to a repeat of it.
    pub fn answer(&self, duplicated: bool) -> ReferencesIngestResponse {
        ReferencesIngestResponse {
            ingest_id: self.ingest_id.clone(),
            shard_ids: Some(self.shard_ids.clone()),
            duplicated: Some(duplicated),
        }
    }
}

pub(crate) fn file_key(part: Option<&str>, name: &str) -> String {
    format!("{}/{name}", part.unwrap_or(""))
}

/// A fresh uuid-shaped id from the OS random source.
pub(crate) fn new_id() -> String {
    let h = crate::rand::hex(16);
    let (a, b, c, d, e) = (&h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..]);
    format!("{a}-{b}-4{c}-a{d}-{e}")
}

impl StagingData {
    /// After loading a state file: old `done` flags become states, and a body that was
    /// being received when the sandbox stopped is lost, so its upload is pending again.
    pub fn reopen_uploads(&mut self) {
        for u in self.uploads.values_mut() {
            if std::mem::take(&mut u.done) {
                u.state = UploadState::Done;
            } else if u.state == UploadState::Receiving {
                u.state = UploadState::Pending;
            }
        }
    }

    /// Gets a batch, creating it with these properties when it is new; then notes that it
    /// holds `content` (making it `mixed` when it held something else).
    pub fn batch_for(
        &mut self,
        id: &str,
        display_name: &str,
        batch_type: BatchType,
        content: BatchContentType,
    ) -> &mut Batch {
        let b = self.batches.entry(id.to_string()).or_insert_with(|| {
            let now = stamp_ms();
            Batch {
                id: id.to_string(),
                display_name: display_name.to_string(),
                batch_type,
                content_type: content.clone(),
                created: now,
                expiry: now.plus(EXPIRY),
                parts: Vec::new(),
                files: BTreeMap::new(),
                shards: Vec::new(),
                ingest_counts: BTreeMap::new(),
            }
        });
        if b.files.is_empty() && b.shards.is_empty() {
            b.content_type = content;
        } else if b.content_type != content {
            b.content_type = BatchContentType::Mixed;
        }
        b
    }
}

impl Batch {
    pub fn metadata(&self) -> BatchMetadata {
        BatchMetadata {
            display_name: self.display_name.clone(),
            batch_id: self.id.clone(),
            batch_type: self.batch_type.clone(),
            batch_content_type: self.content_type.clone(),
            created_date: self.created,
            expiry_date: self.expiry,
        }
    }

    /// Indexes an ingested file: a later file of the same name replaces the earlier one in
    /// the listing, and both are counted.
    pub fn ingest(&mut self, f: FileRec) {
        *self.ingest_counts.entry(f.name.clone()).or_default() += 1;
        self.files.insert(file_key(f.part.as_deref(), &f.name), f);
    }

    /// The files (of `part`, or all) in key order, from just after the key `after`: a page
    /// deep in a large batch costs its size, not its offset.
    pub fn files_after<'a>(
        &'a self,
        part: Option<&'a str>,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a FileRec)> + 'a {
        // A part's keys share the prefix `part/`, so its listing starts there.
        let prefix = part.map(|p| file_key(Some(p), ""));
        let start = match (after, &prefix) {
            (Some(k), _) => Bound::Excluded(k.to_string()),
            (None, Some(p)) => Bound::Included(p.clone()),
            (None, None) => Bound::Unbounded,
        };
        self.files
            .range::<String, _>((start, Bound::Unbounded))
            .take_while(move |(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())))
            .filter(move |(_, f)| part.is_none() || f.part.as_deref() == part)
    }

    pub fn files_in<'a>(&'a self, part: Option<&'a str>) -> impl Iterator<Item = &'a FileRec> + 'a {
        self.files_after(part, None).map(|(_, f)| f)
    }
}

impl FileRec {
    /// A file of no part nor shard, kept at `path` (discarded when there is none).
    pub fn new(name: String, size: u64, path: String) -> FileRec {
        let discarded = path.is_empty();
        FileRec {
            name,
            size,
            path,
            discarded,
            ..FileRec::default()
        }
    }

    /// The file's bytes from `start` on (`size - start` of them), in the data directory `dir`.
    pub fn open(&self, dir: &Path, start: u64) -> io::Result<io::Take<File>> {
        if self.discarded {
            return Err(io::Error::new(io::ErrorKind::NotFound, DISCARDED));
        }
        let mut f = File::open(dir.join(&self.path))?;
        f.seek(SeekFrom::Start(self.offset.saturating_add(start)))?;
        Ok(f.take(self.size.saturating_sub(start)))
    }
}

/// The data directory's layout, relative to it.
pub(crate) mod layout {
    pub fn batch_dir(batch: &str) -> String {
        format!("staging/{batch}")
    }

    pub fn file(batch: &str, name: &str) -> String {
        format!("staging/{batch}/files/{name}")
    }

    pub fn shard(batch: &str, shard: &str) -> String {
        format!("staging/{batch}/shards/{shard}.tar")
    }

    pub fn part_file(batch: &str, part: &str, name: &str) -> String {
        format!("staging/{batch}/parts/{part}/{name}")
    }

    /// The inline references of an ingest.
    pub fn refs(batch: &str, shard: &str) -> String {
        format!("staging/{batch}/ingests/{shard}.jsonl")
    }

    /// Where files are written before they are complete; emptied on start.
    pub const TMP: &str = "staging/tmp";
}

/// A new file under a temporary name, removed on drop unless [`place`](Self::place)d: a
/// failed write never replaces (or deletes) the file it was meant to replace.
pub(crate) struct NewFile {
    tmp: PathBuf,
    pub out: BufWriter<File>,
}

impl NewFile {
    /// A new file whose temporary name starts with `label`.
    pub fn create(data_dir: &Path, label: &str) -> io::Result<NewFile> {
        let dir = data_dir.join(layout::TMP);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!("{label}.{}.part", crate::rand::hex(8)));
        let file = crate::owner_only::open_options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        Ok(NewFile {
            tmp,
            out: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// Writes `bytes` as a new file at `rel` (relative to `data_dir`).
    pub fn write(data_dir: &Path, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let label = rel.rsplit('/').next().unwrap_or(rel);
        let mut f = NewFile::create(data_dir, label)?;
        f.out.write_all(bytes)?;
        f.place(&data_dir.join(rel))
    }

    /// Moves the complete file to `dst`, replacing the one there.
    pub fn place(mut self, dst: &Path) -> io::Result<()> {
        self.out.flush()?;
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&self.tmp, dst)
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp); // a no-op once placed
    }
}

/// The client's file name rule, its error as the sandbox's message.
pub(crate) fn check_file_name(field: &str, name: &str) -> Result<(), String> {
    crate::api::check_file_name(field, name).map_err(|e| e.to_string())
}
