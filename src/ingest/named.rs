//! What verification waits for when the files go by only as names (a cloud source's
//! references): their records sorted on disk, and their names and origins in an unnamed
//! temporary file, read back only for the files that fail. Memory does not grow with the
//! number of files.

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

/// Files expected in the batch, added as they are sent.
pub(crate) struct NamedExpect {
    records: Sorter,
    names: BufWriter<File>,
    offset: u64,
    shards: Vec<String>,
    /// The first failure to keep the list (verification then reports it).
    broken: Option<String>,
}

impl NamedExpect {
    pub fn new() -> Result<NamedExpect> {
        let file = tempfile::tempfile()
            .map_err(|e| Error::io("creating a temporary file for verification", e))?;
        Ok(NamedExpect {
            records: Sorter::new(RECORDS_MEMORY),
            names: BufWriter::new(file),
            offset: 0,
            shards: Vec::new(),
            broken: None,
        })
    }

    /// Watches the shards of one accepted request; returns the unit of its files (the
    /// shard when there is exactly one; otherwise none, and the shards only delay the end).
    pub fn request(&mut self, shard_ids: &[String]) -> u32 {
        self.shards.extend(shard_ids.iter().cloned());
        match shard_ids {
            [_] => (self.shards.len() - 1) as u32,
            _ => NO_UNIT,
        }
    }

    /// Expects `name` (from `origin`, for the report) in the batch.
    pub fn file(&mut self, name: &str, origin: &str, unit: u32) {
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

    /// How many files are expected.
    pub fn len(&self) -> u64 {
        self.records.len()
    }

    /// Polls the batch until every expected file is listed, or the service has said why
    /// not, or `wait.timeout` passes.
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
        let mut e = NamedExpect::new().unwrap();
        let unit = e.request(&["s1".to_string()]);
        assert_eq!(unit, 0);
        assert_eq!(e.request(&["s2".into(), "s3".into()]), NO_UNIT);
        e.file("a.jpg", "s3://b/a.jpg", unit);
        e.file("dir__b.jpg", "s3://b/dir/b.jpg", NO_UNIT);
        e.file("", "", NO_UNIT);
        assert_eq!(e.len(), 3);
        let names = e.names.into_inner().unwrap();
        let mut files = NamedFiles {
            records: e.records.finish().unwrap(),
            shards: e.shards,
            names,
        };
        assert_eq!(files.total(), 3);
        assert_eq!(files.shards(), ["s1", "s2", "s3"]);
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
