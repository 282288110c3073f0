//! What verification waits for when the files go by only as names (references sent for
//! the service to fetch): their records sorted on disk, and their names and origins in an
//! unnamed temporary file, read back only for the files that fail. Memory does not grow
//! with the number of files.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use super::progress::ProgressFn;
use super::report::{FailedFile, Verification};
use super::resume::NO_UNIT;
use super::spill::{Sorted, Sorter};
use super::verify;
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::wait::WaitOptions;

/// Bytes of records sorted in memory before they spill.
const RECORDS_MEMORY: usize = 4 << 20;

/// The files of requests the service accepted, kept on disk for verification: what
/// [`ExpectedFiles`](super::ExpectedFiles) is for a short list, for any number of files
/// (references ingests of a million objects). Used by `cloud::ingest_references` and
/// `rfbatch upload refs`.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// use roboflow_batch::ingest::{SentFiles, default_verify_options, no_progress};
/// let mut sent = SentFiles::new()?;
/// // After each accepted request: the shards the service made for it, and its files
/// // (the name in the batch, and where it came from, for the report).
/// sent.add_request(&["shard-1".to_string()], [("a.jpg", "https://host/a.jpg")]);
/// let (v, failed) = sent.verify(&api, "my-batch", &default_verify_options(), &no_progress())?;
/// println!("{} of {} indexed; {} failed", v.indexed, v.expected, failed.len());
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
pub struct SentFiles {
    records: Sorter,
    names: BufWriter<File>,
    offset: u64,
    shards: Vec<String>,
    /// The first failure to keep the list (verification then reports it).
    broken: Option<String>,
}

impl std::fmt::Debug for SentFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentFiles")
            .field("files", &self.records.len())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl SentFiles {
    /// An empty list, backed by an unnamed temporary file (in `TMPDIR`).
    ///
    /// ```
    /// let sent = roboflow_batch::ingest::SentFiles::new()?;
    /// assert!(sent.is_empty());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn new() -> Result<SentFiles> {
        let file = tempfile::tempfile()
            .map_err(|e| Error::io("creating a temporary file for verification", e))?;
        Ok(SentFiles {
            records: Sorter::new(RECORDS_MEMORY),
            names: BufWriter::new(file),
            offset: 0,
            shards: Vec::new(),
            broken: None,
        })
    }

    /// Records one accepted request: the shards the service made for it (watched until
    /// indexed; with exactly one, a failure of that shard explains its files) and its
    /// files as `(name in the batch, origin)` pairs.
    ///
    /// ```
    /// let mut sent = roboflow_batch::ingest::SentFiles::new()?;
    /// sent.add_request(&[], [("a.jpg", "s3://b/a.jpg"), ("b.jpg", "s3://b/b.jpg")]);
    /// assert_eq!(sent.len(), 2);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn add_request<'a>(
        &mut self,
        shard_ids: &[String],
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.shards.extend(shard_ids.iter().cloned());
        let unit = match shard_ids {
            [_] => (self.shards.len() - 1) as u32,
            _ => NO_UNIT,
        };
        for (name, origin) in files {
            self.file(name, origin, unit);
        }
    }

    fn file(&mut self, name: &str, origin: &str, unit: u32) {
        if self.broken.is_some() {
            return;
        }
        let at = self.offset;
        let written = write_named(&mut self.names, name, origin).and_then(|n| {
            self.offset += n;
            self.records.push(&verify::record(name, unit, at))
        });
        if let Err(e) = written {
            self.broken = Some(e.to_string());
        }
    }

    /// How many files were recorded.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::SentFiles::new()?.len(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.records.len()
    }

    /// Whether no file was recorded.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::SentFiles::new()?.is_empty());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls the batch until every recorded file is listed, or the service has said why
    /// not (a failed shard, a file its shard lists as failed), or `wait.timeout` passes on
    /// the client's clock; returns what was confirmed and the files that did not make it,
    /// with the service's reasons and their origins.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::ingest::{SentFiles, default_verify_options, no_progress};
    /// let sent = SentFiles::new()?;
    /// let (v, _) = sent.verify(&api, "b", &default_verify_options(), &no_progress())?;
    /// assert!(v.complete);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn verify(
        self,
        api: &BatchApi,
        batch_id: &str,
        wait: &WaitOptions,
        progress: &ProgressFn,
    ) -> Result<(Verification, Vec<FailedFile>)> {
        if let Some(e) = self.broken {
            return Err(Error::Config(format!(
                "the list of sent files could not be kept: {e}"
            )));
        }
        let io = |e| Error::io("keeping the list of sent files", e);
        let records = self.records.finish().map_err(io)?;
        let names = self.names.into_inner().map_err(|e| io(e.into_error()))?;
        let mut files = NamedFiles {
            records,
            shards: self.shards,
            names,
        };
        verify::verify(api, batch_id, &mut files, wait, progress)
    }
}

/// `len name len origin`, lengths as 4 bytes; returns the bytes written.
fn write_named(w: &mut impl Write, name: &str, origin: &str) -> io::Result<u64> {
    let mut n = 0u64;
    for s in [name, origin] {
        let len = u32::try_from(s.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name too long"))?;
        w.write_all(&len.to_be_bytes())?;
        w.write_all(s.as_bytes())?;
        n += 4 + u64::from(len);
    }
    Ok(n)
}

fn read_named(r: &mut impl Read) -> io::Result<(String, String)> {
    let mut one = || -> io::Result<String> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        r.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    };
    let name = one()?;
    Ok((name, one()?))
}

struct NamedFiles {
    records: Sorted,
    shards: Vec<String>,
    names: File,
}

impl verify::Expected for NamedFiles {
    fn total(&self) -> u64 {
        self.records.len()
    }

    fn shards(&self) -> &[String] {
        &self.shards
    }

    fn records(&mut self) -> io::Result<&mut Sorted> {
        self.records.rewind()?;
        Ok(&mut self.records)
    }

    fn describe(&mut self, locators: &[u64]) -> Result<Vec<(String, Option<String>)>> {
        let io = |e| Error::io("reading the list of sent files", e);
        locators
            .iter()
            .map(|&at| {
                self.names.seek(SeekFrom::Start(at)).map_err(io)?;
                let (name, origin) = read_named(&mut BufReader::new(&self.names)).map_err(io)?;
                Ok((name, Some(origin)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::Expected;

    #[test]
    fn names_are_read_back_by_their_locator() {
        let mut e = SentFiles::new().unwrap();
        e.add_request(&["s1".to_string()], [("a.jpg", "s3://b/a.jpg")]);
        e.add_request(
            &["s2".into(), "s3".into()],
            [("dir__b.jpg", "s3://b/dir/b.jpg"), ("", "")],
        );
        assert_eq!(e.len(), 3);
        let names = e.names.into_inner().unwrap();
        let mut files = NamedFiles {
            records: e.records.finish().unwrap(),
            shards: e.shards,
            names,
        };
        assert_eq!(files.total(), 3);
        assert_eq!(files.shards(), ["s1", "s2", "s3"]);
        // a.jpg's unit is its request's one shard; the others have none.
        let mut units = Vec::new();
        let mut rec = Vec::new();
        let sorted = files.records().unwrap();
        while sorted.next_into(&mut rec).unwrap() {
            units.push(u32::from_be_bytes(rec[16..20].try_into().unwrap()));
        }
        units.sort();
        assert_eq!(units, [0, NO_UNIT, NO_UNIT]);
        // Locators are byte offsets: 0, then 4+5+4+12.
        let got = files.describe(&[25, 0]).unwrap();
        assert_eq!(
            got,
            [
                (
                    "dir__b.jpg".to_string(),
                    Some("s3://b/dir/b.jpg".to_string())
                ),
                ("a.jpg".to_string(), Some("s3://b/a.jpg".to_string())),
            ]
        );
        assert!(files.describe(&[1 << 40]).is_err());
    }
}
