//! What verification waits for: each expected file's name key, unit and name, sorted on
//! disk past a few megabytes, so memory does not grow with the files.

use super::sorted::{Sorted, Sorter, Tape, record};
use crate::error::{Error, Result};
use crate::ids::fnv1a128;

/// Bytes of records sorted in memory before they spill (about 115,000 files).
const RECORDS_MEMORY: usize = 4 << 20;
/// Bytes of names held in memory before they spill.
const NAMES_MEMORY: usize = 2 << 20;

/// The key of a name in the sorted lists verification merges (128 bits).
pub(crate) fn name_key(name: &str) -> u128 {
    fnv1a128(name.as_bytes())
}

/// One expected file as verification reads it, sorted by the key of its name.
pub(crate) struct File {
    pub key: u128,
    pub unit: u32,
    /// Where its name is, for [`Files::describe`].
    pub at: u64,
}

record!(File { key, unit, at });

/// The expected files, as they are added.
pub(crate) struct Expected {
    records: Sorter<File>,
    names: Tape<(String, String)>,
    /// The first failure to keep the list (verification then says so).
    broken: Option<String>,
}

impl Expected {
    pub fn new() -> Expected {
        Expected {
            records: Sorter::new(RECORDS_MEMORY),
            names: Tape::new(NAMES_MEMORY),
            broken: None,
        }
    }

    pub fn len(&self) -> u64 {
        self.records.len()
    }

    /// Expects `name` (from `origin`: a path, or a URL without its query) in `unit`.
    pub fn add(&mut self, name: &str, origin: &str, unit: u32) {
        if self.broken.is_some() {
            return;
        }
        let added = (self.names)
            .push(&(name.to_string(), origin.to_string()))
            .and_then(|at| {
                let key = name_key(name);
                self.records.push(&File { key, unit, at })
            });
        if let Err(e) = added {
            self.broken = Some(e.to_string());
        }
    }

    /// The files sorted by the key of their name, to read.
    pub fn finish(self) -> Result<Files> {
        if let Some(e) = self.broken {
            return Err(Error::Config(format!(
                "the list of files to verify could not be kept: {e}"
            )));
        }
        let records = self.records.finish();
        let records = records.map_err(|e| Error::io("sorting the files to verify", e))?;
        let names = self.names;
        Ok(Files { records, names })
    }
}

/// The expected files, sorted by key.
pub(crate) struct Files {
    records: Sorted<File>,
    names: Tape<(String, String)>,
}

fn io(e: std::io::Error) -> Error {
    Error::io("reading the files to verify", e)
}

impl Files {
    /// Calls `f` with each file, in key order.
    pub fn each(&mut self, mut f: impl FnMut(File) -> Result<()>) -> Result<()> {
        self.records.rewind().map_err(io)?;
        while let Some(file) = self.records.next().map_err(io)? {
            f(file)?;
        }
        Ok(())
    }

    /// The name and origin of the file at `at`.
    pub fn describe(&mut self, at: u64) -> Result<(String, String)> {
        self.names.read_at(at).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_back_sorted_by_key_with_their_names() {
        let mut e = Expected::new();
        e.names = Tape::new(16); // spill the names at once
        for (i, n) in ["b.jpg", "a.jpg", "c%2Fd.png"].iter().enumerate() {
            e.add(n, &format!("/src/{n}"), i as u32);
        }
        assert_eq!(e.len(), 3);
        let mut files = e.finish().unwrap();
        let mut seen = Vec::new();
        files
            .each(|f| {
                seen.push((f.key, f.unit, f.at));
                Ok(())
            })
            .unwrap();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "sorted by key");
        for (key, unit, at) in seen {
            let (name, origin) = files.describe(at).unwrap();
            assert_eq!(key, name_key(&name));
            assert_eq!(origin, format!("/src/{name}"));
            let want = ["b.jpg", "a.jpg", "c%2Fd.png"]
                .iter()
                .position(|n| *n == name);
            assert_eq!(Some(unit as usize), want);
        }
    }
}
