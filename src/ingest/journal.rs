//! The resume journal: one synced JSON line per event (`start`, `pending` with a unit's
//! files, `done`), one file per workspace and batch, under an exclusive OS lock. Only a
//! hint: `resume` checks every unit against the service.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::files::LocalFile;
use crate::error::{Error, Result};
use crate::jsonl::JsonLines;

const VERSION: u32 = 1;

/// The largest sequence number (2^53, exact in every JSON reader); a larger one is a
/// corrupt line, lest the next number wrap to 0 and match older units.
const MAX_SEQ: u64 = 1 << 53;

/// A file's identity as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub name: String,
    pub path: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
}

impl FileRecord {
    pub fn of(f: &LocalFile) -> FileRecord {
        FileRecord {
            name: f.name.clone(),
            path: absolute(&f.path),
            size: f.size,
            mtime_ns: f.modified.and_then(nanos),
        }
    }
}

/// Seconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn nanos(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// What a unit was: a tar shard, or one file uploaded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum UnitType {
    Shard,
    Single,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
enum Line {
    Start {
        v: u32,
        workspace: String,
        batch: String,
        base_url: String,
    },
    Pending {
        seq: u64,
        unit: UnitType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
        files: Vec<FileRecord>,
    },
    Done {
        seq: u64,
        /// When, in Unix seconds (absent in journals written before it was kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
}

/// A unit as the journal's `pending` line names it (its files are not kept).
#[derive(Debug, Clone)]
pub(crate) struct UnitInfo {
    pub seq: u64,
    pub unit: UnitType,
    pub shard: Option<String>,
    /// A `done` line follows.
    pub done: bool,
    /// When the `done` line was written, in Unix seconds, when it says.
    pub done_at: Option<u64>,
    /// For single uploads, the names they carried (to find them in the batch listing).
    pub names: Vec<String>,
    /// How many files it carried.
    pub files: u32,
    /// It was sent to the service at the base URL of this run.
    pub same_url: bool,
}

/// An open journal, shared by the upload workers.
#[derive(Debug)]
pub(crate) struct Journal {
    file: JsonLines,
    next_seq: AtomicU64,
    /// Held for the journal's life: the lock that keeps other runs out.
    _lock: File,
}

/// What an existing journal holds.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Units in the order of their `pending` lines.
    pub units: Vec<UnitInfo>,
    /// Lines that could not be read (a torn last line is dropped silently).
    pub bad_lines: u64,
}

/// The lock file of the journal at `path`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Takes the exclusive lock of the journal at `path`, or says who holds it.
fn lock(path: &Path, batch: &str) -> Result<File> {
    use std::io::{Read, Seek};
    let lock = lock_path(path);
    let ctx = |what: &str| format!("{what} the lock file {}", lock.display());
    let mut file = crate::owner_only::open_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(|e| Error::io(ctx("opening"), e))?;
    crate::owner_only::restrict(&file).map_err(|e| Error::io(ctx("protecting"), e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {
            // Whose lock it is, for the message of a run that finds it taken.
            let pid = std::process::id().to_string();
            file.set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(pid.as_bytes()))
                .map_err(|e| Error::io(ctx("writing"), e))?;
            Ok(file)
        }
        Err(fs4::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Err(Error::Locked {
                what: format!("the resume journal of batch {batch}"),
                lock,
                holder: text.trim().parse().ok(),
            })
        }
        Err(fs4::TryLockError::Error(e)) => Err(Error::io(ctx("locking"), e)),
    }
}

impl Journal {
    /// The journal file of one workspace and batch, under `dir`.
    pub fn path_for(dir: &Path, workspace: &str, batch: &str) -> PathBuf {
        dir.join(workspace).join(format!("{batch}.jsonl"))
    }

    /// Locks, opens (or creates) and reads the journal at `path`.
    pub fn open(
        path: &Path,
        base_url: &str,
        workspace: &str,
        batch: &str,
    ) -> Result<(Journal, History)> {
        let ctx = |what: &str| format!("{what} the resume journal {}", path.display());
        if let Some(dir) = path.parent() {
            crate::owner_only::create_dir_all(dir)
                .map_err(|e| Error::io(ctx("creating the folder of"), e))?;
        }
        let lock = lock(path, batch)?;
        let mut reading = Reading {
            base_url,
            ..Reading::default()
        };
        let good = crate::jsonl::read(path, |l| reading.line(l))?;
        let file = JsonLines::new(path);
        file.create()?;
        if std::fs::metadata(path).is_ok_and(|m| m.len() > good) {
            file.truncate(good)?; // a torn last line: the next one starts clean
        }
        let journal = Journal {
            file,
            next_seq: AtomicU64::new(reading.max_seq + 1), // <= MAX_SEQ + 1: no overflow
            _lock: lock,
        };
        if reading.url.as_deref() != Some(base_url) {
            journal.start(base_url, workspace, batch)?;
            if let Some(dir) = path.parent() {
                // Make a new file's directory entry durable too (best effort).
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
        }
        Ok((journal, reading.history))
    }

    fn start(&self, base_url: &str, workspace: &str, batch: &str) -> Result<()> {
        self.file.append(&Line::Start {
            v: VERSION,
            workspace: workspace.into(),
            batch: batch.into(),
            base_url: base_url.into(),
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Calls `f` with each file of `units`, read from the file (nothing is kept).
    pub fn files_of(
        &self,
        units: &HashSet<u64>,
        mut f: impl FnMut(u64, FileRecord) -> Result<()>,
    ) -> Result<()> {
        let mut out = Ok(());
        crate::jsonl::read(self.path(), |line| {
            if out.is_err() {
                return;
            }
            if let Ok(Line::Pending { seq, files, .. }) = serde_json::from_slice(line)
                && units.contains(&seq)
            {
                out = files.into_iter().try_for_each(|rec| f(seq, rec));
            }
        })?;
        out
    }

    /// Records that a unit's upload is starting; returns its sequence number.
    pub fn pending(
        &self,
        unit: UnitType,
        shard: Option<&str>,
        files: Vec<FileRecord>,
    ) -> Result<u64> {
        // Starts at most at MAX_SEQ + 1, so it cannot wrap in any number of calls.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq > MAX_SEQ {
            return Err(Error::invalid(
                "resume journal",
                format!(
                    "{} has used every sequence number; remove it to start afresh",
                    self.path().display()
                ),
            ));
        }
        self.file.append(&Line::Pending {
            seq,
            unit,
            shard: shard.map(str::to_string),
            files,
        })?;
        Ok(seq)
    }

    /// Records that unit `seq` was accepted, and when.
    pub fn done(&self, seq: u64) -> Result<()> {
        self.file.append(&Line::Done {
            seq,
            at: Some(unix_now()),
        })
    }

    /// Forgets everything (the batch is gone), keeping the file.
    pub fn reset(&self, base_url: &str, workspace: &str, batch: &str) -> Result<()> {
        self.file.truncate(0)?;
        self.start(base_url, workspace, batch)
    }
}

/// The journal as its lines are read.
#[derive(Default)]
struct Reading<'a> {
    base_url: &'a str,
    history: History,
    by_seq: HashMap<u64, usize>,
    max_seq: u64,
    url: Option<String>,
}

impl Reading<'_> {
    fn line(&mut self, buf: &[u8]) {
        let history = &mut self.history;
        match serde_json::from_slice::<Line>(buf) {
            Ok(Line::Start { base_url, .. }) => self.url = Some(base_url),
            Ok(Line::Pending { seq, .. } | Line::Done { seq, .. }) if seq > MAX_SEQ => {
                history.bad_lines += 1;
            }
            Ok(Line::Pending {
                seq,
                unit,
                shard,
                files,
            }) => {
                self.max_seq = self.max_seq.max(seq);
                let count = u32::try_from(files.len()).unwrap_or(u32::MAX);
                let names = match unit {
                    UnitType::Single => files.into_iter().map(|f| f.name).collect(),
                    UnitType::Shard => Vec::new(),
                };
                self.by_seq.insert(seq, history.units.len());
                history.units.push(UnitInfo {
                    seq,
                    unit,
                    shard,
                    done: false,
                    done_at: None,
                    names,
                    files: count,
                    same_url: self.url.as_deref() == Some(self.base_url),
                });
            }
            Ok(Line::Done { seq, at }) => {
                if let Some(&i) = self.by_seq.get(&seq)
                    && let Some(u) = history.units.get_mut(i)
                {
                    u.done = true;
                    u.done_at = at;
                }
            }
            Err(_) => history.bad_lines += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> FileRecord {
        FileRecord {
            name: name.into(),
            path: format!("/data/{name}"),
            size: 10,
            mtime_ns: Some(5),
        }
    }

    /// Torn lines, corrupt sequence numbers and file modes: `tests/ingest_resume.rs`
    /// (`the_journal_is_owner_only_and_survives_torn_and_corrupt_lines`).
    #[test]
    fn units_their_files_and_the_url_they_went_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_for(dir.path(), "ws", "b");
        assert_eq!(path, dir.path().join("ws/b.jsonl"));
        let (a, b) = {
            let (j, h) = Journal::open(&path, "http://x:1", "ws", "b").unwrap();
            assert!(h.units.is_empty());
            let a = j.pending(
                UnitType::Shard,
                Some("s1"),
                vec![rec("a.jpg"), rec("b.jpg")],
            );
            let b = j.pending(UnitType::Single, None, vec![rec("c.jpg")]);
            let (a, b) = (a.unwrap(), b.unwrap());
            j.done(a).unwrap();
            (a, b)
        };
        // The same batch through another URL (a sandbox restarted on another port).
        let (j, h) = Journal::open(&path, "http://x:2", "ws", "b").unwrap();
        let c = j.pending(UnitType::Shard, None, vec![]).unwrap();
        assert!(c > b && b > a);
        let seen: Vec<_> = (h.units.iter())
            .map(|u| (u.seq, u.shard.as_deref(), u.done, u.files, u.same_url))
            .collect();
        assert_eq!(
            seen,
            [(a, Some("s1"), true, 2, false), (b, None, false, 1, false)]
        );
        assert!(unix_now().abs_diff(h.units[0].done_at.unwrap()) < 60);
        assert_eq!(
            (h.units[1].done_at, &h.units[1].names[..]),
            (None, &["c.jpg".to_string()][..])
        );
        let mut files = Vec::new();
        j.files_of(&HashSet::from([a, b]), |seq, r| {
            files.push((seq, r.name));
            Ok(())
        })
        .unwrap();
        let names = |s: &[(u64, &str)]| {
            s.iter()
                .map(|(q, n)| (*q, n.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(files, names(&[(a, "a.jpg"), (a, "b.jpg"), (b, "c.jpg")]));
        drop(j);
        // Corrupt sequence numbers and a torn last line (a crash mid-write) are dropped:
        // the next number follows the last good line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for seq in [u64::MAX, MAX_SEQ + 1] {
            writeln!(
                f,
                r#"{{"t":"pending","seq":{seq},"unit":"shard","files":[]}}"#
            )
            .unwrap();
        }
        f.write_all(br#"{"t":"done","se"#).unwrap();
        drop(f);
        let (j, h) = Journal::open(&path, "http://x:2", "ws", "b").unwrap();
        assert_eq!((h.units[2].same_url, h.bad_lines), (true, 2));
        assert_eq!(j.pending(UnitType::Single, None, vec![]).unwrap(), c + 1);
    }
}
