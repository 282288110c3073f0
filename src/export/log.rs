//! The export log: one JSON line per file exported, in the target folder, so that a re-run
//! skips what is already complete.
//!
//! A record is written only after its file (or every entry of its archive) is in place.
//! A line cut short by a crash is ignored on reading, and later lines win over earlier
//! ones for the same file.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::jsonl::JsonLines;

/// The log's file name, inside the target folder.
pub const LOG_FILE: &str = ".rfbatch-export.jsonl";

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
    /// Where the downloaded file is, relative to the target (`None` when it was an
    /// archive unpacked and removed).
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
        let file_ok = match &self.path {
            Some(p) => {
                fs::metadata(target.join(p)).is_ok_and(|m| m.is_file() && m.len() == self.bytes)
            }
            None => true,
        };
        file_ok
            && self
                .entries
                .iter()
                .all(|e| fs::symlink_metadata(target.join(e)).is_ok())
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
        Ok(ExportLog {
            records,
            file: JsonLines::new(path),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(name: &str, path: Option<&str>, bytes: u64) -> Record {
        Record {
            key: Key {
                batch_id: "b".into(),
                part_name: Some("p".into()),
                shard_id: None,
                file_name: name.into(),
            },
            path: path.map(str::to_string),
            bytes,
            entries: vec![],
        }
    }

    #[test]
    fn complete_only_when_on_disk_with_its_length_and_cut_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        fs::create_dir_all(t.join("p")).unwrap();
        fs::write(t.join("p/a.jsonl"), b"12345").unwrap();
        let log = ExportLog::open(t).unwrap();
        let a = record("a.jsonl", Some("p/a.jsonl"), 5);
        let b = record("b.jsonl", Some("p/b.jsonl"), 3);
        log.append(&a).unwrap();
        log.append(&b).unwrap();
        // A crash mid-line.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(t.join(LOG_FILE))
            .unwrap();
        f.write_all(br#"{"batch_id":"b","part_na"#).unwrap();
        drop(f);
        let log = ExportLog::open(t).unwrap();
        assert!(log.complete(&a.key, t).is_some());
        assert!(log.complete(&b.key, t).is_none(), "b.jsonl is not on disk");
        fs::write(t.join("p/a.jsonl"), b"123").unwrap();
        assert!(log.complete(&a.key, t).is_none(), "wrong length");
    }

    #[cfg(unix)]
    #[test]
    fn the_log_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = ExportLog::open(dir.path()).unwrap();
        log.append(&record("a.jsonl", None, 1)).unwrap();
        assert_eq!(crate::owner_only::mode(&dir.path().join(LOG_FILE)), 0o600);
    }
}
