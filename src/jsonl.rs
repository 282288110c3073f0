//! Append-only, owner-only JSON-lines files (the ingest journal, the export log): each line
//! synced on `append`; a line cut short by a crash is ignored on reading.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};

/// One JSON-lines file, opened (and created) at the first append.
#[derive(Debug)]
pub(crate) struct JsonLines {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl JsonLines {
    pub fn new(path: impl Into<PathBuf>) -> JsonLines {
        JsonLines {
            path: path.into(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_file<T>(&self, f: impl FnOnce(&mut File) -> std::io::Result<T>) -> Result<T> {
        let io = |e| Error::io(format!("writing {}", self.path.display()), e);
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let file = crate::owner_only::open_options()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io)?;
            crate::owner_only::restrict(&file).map_err(io)?;
            *guard = Some(file);
        }
        match guard.as_mut() {
            Some(file) => f(file).map_err(io),
            None => Err(io(std::io::Error::other("not open"))),
        }
    }

    /// Opens the file now (creating it owner-only, and making an existing one so).
    pub fn create(&self) -> Result<()> {
        self.with_file(|_| Ok(()))
    }

    /// Appends `value` as one line, synced to disk.
    pub fn append(&self, value: &impl Serialize) -> Result<()> {
        let mut line = serde_json::to_vec(value)
            .map_err(|e| Error::io("encoding a JSON line", std::io::Error::other(e)))?;
        line.push(b'\n');
        self.with_file(|f| {
            f.write_all(&line)?;
            f.sync_data()
        })
    }

    /// Cuts the file to its first `len` bytes (a torn last line, or everything).
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.with_file(|f| f.set_len(len))
    }
}

/// Calls `each` with every complete line of the file at `path` (nothing when there is no
/// such file); returns the length of the complete lines, so that a torn tail can be cut.
pub(crate) fn read(path: &Path, mut each: impl FnMut(&[u8])) -> Result<u64> {
    let io = |e| Error::io(format!("reading {}", path.display()), e);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let mut reader = BufReader::new(file);
    let (mut buf, mut good) = (Vec::new(), 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Ok(good);
        }
        good += n as u64;
        each(&buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_a_torn_one_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonLines::new(dir.path().join("log.jsonl"));
        log.append(&serde_json::json!({"a": 1})).unwrap();
        log.append(&serde_json::json!({"a": 2})).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(br#"{"a":"#)
            .unwrap();
        let mut lines = Vec::new();
        let good = read(log.path(), |l| lines.push(l.to_vec())).unwrap();
        assert_eq!(lines, [b"{\"a\":1}\n".to_vec(), b"{\"a\":2}\n".to_vec()]);
        assert_eq!(good, 16);
        log.truncate(good).unwrap();
        log.append(&3).unwrap();
        assert_eq!(
            std::fs::read_to_string(log.path()).unwrap().lines().last(),
            Some("3")
        );
        assert_eq!(read(&dir.path().join("none"), |_| ()).unwrap(), 0);
        #[cfg(unix)]
        assert_eq!(crate::owner_only::mode(log.path()), 0o600);
    }
}
