//! The staged data as persisted in `state.json`: batches, their files, shards, pending
//! signed uploads and references ingests. Paths are relative to the data directory, so a
//! data directory can be moved and reopened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{BatchContentType, BatchMetadata, BatchType, PartMetadata, Timestamp};

/// How long staged data lives on the service.
pub(crate) const EXPIRY: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Batches, files and shards.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StagingData {
    #[serde(default)]
    pub batches: BTreeMap<String, Batch>,
    /// Signed uploads handed out, by upload id.
    #[serde(default)]
    pub uploads: BTreeMap<String, Upload>,
    /// References ingests, by `batch/ingestId`.
    #[serde(default)]
    pub ingests: BTreeMap<String, Ingest>,
    /// The 32-byte URL signing key, in hex; kept so that URLs survive a restart. Older
    /// state files have none (their weak `secret` is ignored) and get a fresh key.
    #[serde(default)]
    pub signing_key: String,
    #[serde(default)]
    pub counter: u64,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Unix milliseconds after which the indexer takes it.
    pub ready_at_ms: u64,
    /// Unix milliseconds from which the shard listing shows it (0: at once).
    #[serde(default)]
    pub listed_at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ShardSource {
    /// An uploaded tar, relative to the data directory.
    Tar { path: String },
    /// A tar indexed as it streamed in, its bytes discarded: only the outcome remains.
    Indexed(super::tarindex::Indexed),
    /// A references ingest (or a RoboQL one, with `query`): fetched by the fetch workers.
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
    /// Older state files only say whether the upload was done.
    #[serde(default, skip_serializing)]
    pub done: bool,
    #[serde(default)]
    pub state: UploadState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ingest {
    pub ingest_id: String,
    pub shard_ids: Vec<String>,
}

/// Now, to the millisecond, as the service's data-staging timestamps (`…123Z`).
pub(crate) fn ts_now() -> Timestamp {
    let ms = super::signed::now_ms();
    Timestamp::from_system_time(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// The sort key of a file in its batch.
pub(crate) fn file_key(part: Option<&str>, name: &str) -> String {
    format!("{}/{name}", part.unwrap_or(""))
}

impl StagingData {
    /// After loading a state file: old `done` flags become states, and a body that was
    /// being received when the sandbox stopped is lost, so its upload is pending again.
    pub fn normalise_uploads(&mut self) {
        for u in self.uploads.values_mut() {
            if std::mem::take(&mut u.done) {
                u.state = UploadState::Done;
            }
            if u.state == UploadState::Receiving {
                u.state = UploadState::Pending;
            }
        }
    }

    /// A fresh uuid-shaped id from the OS random source.
    pub fn new_id(&mut self) -> String {
        self.counter += 1;
        let hex = crate::rand::hex(16);
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// Gets a batch, creating it with these properties when it is new.
    pub fn batch_or_create(
        &mut self,
        id: &str,
        display_name: &str,
        batch_type: BatchType,
        content_type: BatchContentType,
    ) -> &mut Batch {
        self.batches.entry(id.to_string()).or_insert_with(|| {
            let now = ts_now();
            Batch {
                id: id.to_string(),
                display_name: display_name.to_string(),
                batch_type,
                content_type,
                created: now,
                expiry: now.plus(EXPIRY),
                parts: Vec::new(),
                files: BTreeMap::new(),
                shards: Vec::new(),
                ingest_counts: BTreeMap::new(),
            }
        })
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

    /// Notes that the batch also holds `kind`, making it `mixed` when it differs.
    pub fn add_content(&mut self, kind: BatchContentType) {
        if self.files.is_empty() && self.shards.is_empty() {
            self.content_type = kind;
        } else if self.content_type != kind {
            self.content_type = BatchContentType::Mixed;
        }
    }

    /// Indexes an ingested file: a later file of the same name replaces the earlier one in
    /// the listing, and both are counted.
    pub fn ingest(&mut self, f: FileRec) {
        *self.ingest_counts.entry(f.name.clone()).or_default() += 1;
        self.files.insert(file_key(f.part.as_deref(), &f.name), f);
    }

    /// Up to `size` files (of `part`, or all) after the file whose key is `after`, and the
    /// key to continue from when there are more: a page costs its size, not its offset.
    pub fn files_page(
        &self,
        part: Option<&str>,
        after: Option<&str>,
        size: usize,
    ) -> (Vec<&FileRec>, Option<String>) {
        use std::ops::Bound;
        // A part's keys share the prefix `part/`, so its listing starts there.
        let prefix = part.map(|p| file_key(Some(p), ""));
        let start = match (after, &prefix) {
            (Some(k), _) => Bound::Excluded(k.to_string()),
            (None, Some(p)) => Bound::Included(p.clone()),
            (None, None) => Bound::Unbounded,
        };
        let mut out: Vec<&FileRec> = Vec::with_capacity(size.min(1024));
        let mut next = None;
        for (key, f) in self.files.range::<String, _>((start, Bound::Unbounded)) {
            if let Some(p) = &prefix {
                if !key.starts_with(p.as_str()) {
                    break;
                }
                if f.part.as_deref() != part {
                    continue;
                }
            }
            if out.len() == size {
                next = out.last().map(|l| file_key(l.part.as_deref(), &l.name));
                break;
            }
            out.push(f);
        }
        (out, next)
    }

    pub fn files_in<'a>(&'a self, part: Option<&'a str>) -> impl Iterator<Item = &'a FileRec> + 'a {
        self.files
            .values()
            .filter(move |f| part.is_none() || f.part.as_deref() == part)
    }
}

impl FileRec {
    pub fn abs_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.path)
    }
}

/// The data directory's layout.
pub(crate) mod layout {
    /// A batch's directory, relative to the data directory.
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

    /// Where uploads land before they are complete.
    pub fn tmp(id: &str) -> String {
        format!("staging/tmp/{id}.part")
    }
}

/// A plain file name: no separators, no `.`/`..`, no control characters, 1 to 512 bytes.
pub(crate) fn check_file_name(field: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 512 {
        return Err(format!("{field} must be 1 to 512 bytes long"));
    }
    if name.contains(['/', '\\'])
        || name == "."
        || name == ".."
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "{field} must be a plain file name without path separators or control characters, got {name:?}"
        ));
    }
    Ok(())
}

/// The spec's batch id rule.
pub(crate) fn check_batch_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("batch_id {id:?} must match ^[a-z0-9_-]{{1,64}}$"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(part: Option<&str>, name: &str) -> FileRec {
        FileRec {
            name: name.into(),
            part: part.map(str::to_string),
            size: 1,
            shard_id: None,
            path: String::new(),
            offset: 0,
            discarded: false,
        }
    }

    /// Follows the key tokens to the end; every file of the part comes once, in order.
    fn walk(b: &Batch, part: Option<&str>, size: usize) -> Vec<String> {
        let (mut after, mut seen) = (None::<String>, Vec::new());
        for _ in 0..1000 {
            let (page, next) = b.files_page(part, after.as_deref(), size);
            seen.extend(page.iter().map(|f| f.name.clone()));
            match next {
                Some(k) => after = Some(k),
                None => return seen,
            }
        }
        panic!("no end after 1000 pages");
    }

    #[test]
    fn key_pages_list_each_file_of_a_part_once_in_order() {
        let mut data = StagingData::default();
        let b = data.batch_or_create("b", "b", BatchType::Multipart, BatchContentType::Mixed);
        // Parts whose names sort around each other, and one holding a `/`.
        for part in ["p", "p-x", "p/q", "p2"] {
            for i in 0..7 {
                b.ingest(rec(Some(part), &format!("{part}-{i}.jpg")));
            }
        }
        for i in 0..3 {
            b.ingest(rec(None, &format!("plain-{i}.jpg")));
        }
        for part in ["p", "p-x", "p/q", "p2"] {
            let want: Vec<String> = b.files_in(Some(part)).map(|f| f.name.clone()).collect();
            assert_eq!(want.len(), 7);
            for size in [1, 2, 3, 7, 8, 100] {
                assert_eq!(walk(b, Some(part), size), want, "{part} by {size}");
            }
        }
        let all: Vec<String> = b.files_in(None).map(|f| f.name.clone()).collect();
        assert_eq!(all.len(), 31);
        for size in [1, 4, 31, 32] {
            assert_eq!(walk(b, None, size), all, "all by {size}");
        }
        assert_eq!(walk(b, Some("missing"), 5), Vec::<String>::new());
    }
}
