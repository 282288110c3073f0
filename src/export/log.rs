//! The export log: one JSON line per file once it (or its archive's every entry) is in
//! place, so a re-run skips what is complete; a cut line is ignored, a later one wins.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::jsonl::JsonLines;

/// The log's file name, inside the target folder.
const LOG_FILE: &str = ".rfbatch-export.jsonl";

/// Which file of the service a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Key {
    pub batch_id: String,
    pub part_name: Option<String>,
    pub shard_id: Option<String>,
    pub file_name: String,
}

/// One exported file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(flatten)]
    pub key: Key,
    /// Relative to the target; `None` for an archive unpacked and removed.
    pub path: Option<String>,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Files unpacked from it, relative to the target.
    #[serde(default)]
    pub entries: Vec<String>,
}

impl Record {
    /// Whether everything it lists is still on disk (and the file has its length).
    pub fn is_complete(&self, target: &Path) -> bool {
        let file_ok = |p: &String| {
            fs::metadata(target.join(p)).is_ok_and(|m| m.is_file() && m.len() == self.bytes)
        };
        let entry_ok = |e: &String| fs::symlink_metadata(target.join(e)).is_ok();
        self.path.as_ref().is_none_or(file_ok) && self.entries.iter().all(entry_ok)
    }
}

/// The records read at the start, and the file appended to.
#[derive(Debug)]
pub(crate) struct ExportLog {
    records: HashMap<Key, Record>,
    file: JsonLines,
}

impl ExportLog {
    /// Reads the log of `target`, if any.
    pub fn open(target: &Path) -> Result<ExportLog> {
        let path = target.join(LOG_FILE);
        let mut records = HashMap::new();
        crate::jsonl::read(&path, |line| {
            if let Ok(r) = serde_json::from_slice::<Record>(line) {
                records.insert(r.key.clone(), r);
            }
        })?;
        let file = JsonLines::new(path);
        Ok(ExportLog { records, file })
    }

    /// The record of a file, when it is complete on disk.
    pub fn complete(&self, key: &Key, target: &Path) -> Option<&Record> {
        self.records.get(key).filter(|r| r.is_complete(target))
    }

    /// Appends a record (one line, synced to disk).
    pub fn append(&self, record: &Record) -> Result<()> {
        self.file.append(record)
    }
}
