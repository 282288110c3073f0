//! What verification waits for in an ingest of local files: the records of the files that
//! are in the batch (resumed, or in an accepted unit), gathered as the uploads go into a
//! sorted list that spills to disk, and the manifest to name the ones that fail.

use super::manifest::Manifest;
use super::resume::NO_UNIT;
use super::spill::{Sorted, Sorter};
use super::verify;
use crate::error::{Error, Result};

/// What verification will wait for, filled in as files turn out to be in the batch
/// (resumed, or in an accepted unit): a sorted list on disk, not a list of names.
pub(crate) struct Expect {
    pub records: Sorter,
    /// Shards to watch; a record's unit is a position here.
    pub shards: Vec<String>,
    /// Verification will run (otherwise nothing is kept).
    keep: bool,
    /// The first failure to keep the list (verification is then skipped).
    pub broken: Option<String>,
}

/// Bytes of verification records sorted in memory before they spill (28 bytes and 8 of
/// bookkeeping a file: about 115,000 files).
const EXPECT_MEMORY: usize = 4 << 20;

impl Expect {
    pub fn new(shards: Vec<String>, keep: bool) -> Expect {
        Expect {
            records: Sorter::new(EXPECT_MEMORY),
            shards,
            keep,
            broken: None,
        }
    }

    /// The unit of an accepted shard (or of a single upload, which has none).
    pub fn unit(&mut self, shard: Option<&str>) -> u32 {
        match shard {
            Some(id) if self.keep => {
                self.shards.push(id.to_string());
                (self.shards.len() - 1) as u32
            }
            _ => NO_UNIT,
        }
    }

    /// Expects the file at manifest position `index`, named `name`, from `unit`.
    pub fn file(&mut self, name: &str, unit: u32, index: u64) {
        if self.keep
            && self.broken.is_none()
            && let Err(e) = self.records.push(&verify::record(name, unit, index))
        {
            self.broken = Some(e.to_string());
        }
    }
}

/// The files of this ingest as verification reads them.
pub(crate) struct Expected<'m> {
    pub records: Sorted,
    pub shards: Vec<String>,
    pub manifest: &'m mut Manifest,
}

impl verify::Expected for Expected<'_> {
    fn total(&self) -> u64 {
        self.records.len()
    }

    fn shards(&self) -> &[String] {
        &self.shards
    }

    fn records(&mut self) -> std::io::Result<&mut Sorted> {
        self.records.rewind()?;
        Ok(&mut self.records)
    }

    fn describe(&mut self, locators: &[u64]) -> Result<Vec<(String, Option<String>)>> {
        let io = |e| Error::io("reading the list of files found", e);
        let mut order: Vec<(u64, usize)> = locators.iter().copied().zip(0..).collect();
        order.sort_unstable();
        let mut out = vec![(String::new(), None); locators.len()];
        let mut entries = self.manifest.entries().map_err(io)?;
        let mut cur = entries.next_file().map_err(io)?;
        for (want, slot) in order {
            while cur.as_ref().is_some_and(|(i, _)| *i < want) {
                cur = entries.next_file().map_err(io)?;
            }
            if let (Some((i, f)), Some(o)) = (&cur, out.get_mut(slot))
                && *i == want
            {
                *o = (f.name.clone(), Some(f.path.to_string_lossy().into_owned()));
            }
        }
        Ok(out)
    }
}
