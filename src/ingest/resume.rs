//! Which files an earlier run already uploaded, found without holding either list in
//! memory: the journal's files (of the units the service confirmed) and the manifest's
//! are sorted by path on disk and merged. A file counts as uploaded when the latest
//! journal record for its path has the same name, size and modification time.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::io;

use super::discover::SourceFile;
use super::journal::{FileRecord, Journal};
use super::manifest::Manifest;
use super::spill::{Fields, Sorted, Sorter, put_bytes};
use crate::error::{Error, Result};

/// Bytes each side of the merge sorts in memory before spilling.
const JOIN_MEMORY: usize = 4 << 20;

/// The unit of a resumed file whose unit is not watched by verification.
pub(crate) const NO_UNIT: u32 = u32::MAX;

/// `path 0 number identity`: sorted by path, then by the number (a journal sequence, or a
/// position in the manifest).
fn record(out: &mut Vec<u8>, rec: &FileRecord, number: u64) {
    out.clear();
    out.extend_from_slice(rec.path.as_bytes());
    out.push(0);
    out.extend_from_slice(&number.to_be_bytes());
    out.extend_from_slice(&rec.size.to_be_bytes());
    match rec.mtime_ns {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.to_be_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, rec.name.as_bytes());
}

/// `(path, number, identity)` of a record.
fn split(rec: &[u8]) -> io::Result<(&[u8], u64, &[u8])> {
    let at = rec
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad resume record"))?;
    let (path, rest) = rec.split_at(at);
    let mut f = Fields(rest.get(1..).unwrap_or_default());
    let number = f.u64()?;
    Ok((path, number, f.0))
}

/// The manifest positions an earlier run uploaded, in order, each with the verification
/// unit it went in.
pub(crate) struct Resumed {
    sorted: Sorted,
    rec: Vec<u8>,
    next: Option<(u64, u32)>,
}

impl Resumed {
    /// Nothing was uploaded before.
    pub fn none() -> Resumed {
        Resumed {
            sorted: Sorted::empty(),
            rec: Vec::new(),
            next: None,
        }
    }

    /// How many files.
    pub fn len(&self) -> u64 {
        self.sorted.len()
    }

    /// Starts again from the first position.
    pub fn rewind(&mut self) -> io::Result<()> {
        self.sorted.rewind()?;
        self.advance()
    }

    fn advance(&mut self) -> io::Result<()> {
        self.next = if self.sorted.next_into(&mut self.rec)? {
            let mut f = Fields(&self.rec);
            Some((f.u64()?, f.u32()?))
        } else {
            None
        };
        Ok(())
    }

    /// Whether position `index` was uploaded (and in which unit); positions must be asked
    /// in increasing order after a [`rewind`](Self::rewind).
    pub fn take(&mut self, index: u64) -> io::Result<Option<u32>> {
        while let Some((i, unit)) = self.next {
            match i.cmp(&index) {
                Ordering::Less => self.advance()?,
                Ordering::Equal => {
                    self.advance()?;
                    return Ok(Some(unit));
                }
                Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// Finds the manifest's files that the journal's `units` (sequence number → verification
/// unit) carried with the same identity.
pub(crate) fn find(
    journal: &Journal,
    units: &HashMap<u64, u32>,
    manifest: &mut Manifest,
) -> Result<Resumed> {
    let io = |e: io::Error| Error::io("matching the files with the resume journal", e);
    let mut done = Sorter::new(JOIN_MEMORY);
    let mut buf = Vec::new();
    let seqs: HashSet<u64> = units.keys().copied().collect();
    journal.files_of(&seqs, |seq, rec| {
        record(&mut buf, &rec, seq);
        done.push(&buf).map_err(io)
    })?;
    if done.len() == 0 {
        return Ok(Resumed::none());
    }
    let mut found = Sorter::new(JOIN_MEMORY);
    let mut entries = manifest.entries().map_err(io)?;
    while let Some((index, f)) = entries.next_file().map_err(io)? {
        record(&mut buf, &FileRecord::of(&f), index);
        found.push(&buf).map_err(io)?;
    }
    drop(entries);
    let mut done = done.finish().map_err(io)?;
    let mut found = found.finish().map_err(io)?;
    let mut out = Sorter::new(JOIN_MEMORY);
    // The latest journal record of the path being matched: (path, sequence, identity).
    let mut latest: Option<(Vec<u8>, u64, Vec<u8>)> = None;
    let (mut jrec, mut frec) = (Vec::new(), Vec::new());
    let mut more = done.next_into(&mut jrec).map_err(io)?;
    while found.next_into(&mut frec).map_err(io)? {
        let (path, index, identity) = split(&frec).map_err(io)?;
        if latest.as_ref().is_none_or(|l| l.0 != path) {
            latest = None;
            while more {
                let (jpath, seq, jid) = split(&jrec).map_err(io)?;
                match jpath.cmp(path) {
                    Ordering::Less => {}
                    Ordering::Equal => latest = Some((jpath.to_vec(), seq, jid.to_vec())),
                    Ordering::Greater => break,
                }
                more = done.next_into(&mut jrec).map_err(io)?;
            }
        }
        if let Some((_, seq, jid)) = &latest
            && jid.as_slice() == identity
        {
            let unit = units.get(seq).copied().unwrap_or(NO_UNIT);
            buf.clear();
            buf.extend_from_slice(&index.to_be_bytes());
            buf.extend_from_slice(&unit.to_be_bytes());
            out.push(&buf).map_err(io)?;
        }
    }
    let mut resumed = Resumed {
        sorted: out.finish().map_err(io)?,
        rec: Vec::new(),
        next: None,
    };
    resumed.rewind().map_err(io)?;
    Ok(resumed)
}

/// A file of the manifest, with the unit it went in when an earlier run uploaded it.
pub(crate) struct Next {
    pub index: u64,
    pub file: SourceFile,
    pub resumed: Option<u32>,
}

/// Calls `f` with each file of the manifest in order, marked when resumed, until `f`
/// returns `false`.
pub(crate) fn each(
    manifest: &mut Manifest,
    resumed: &mut Resumed,
    mut f: impl FnMut(Next) -> Result<bool>,
) -> Result<()> {
    let io = |e| Error::io("reading the list of files found", e);
    resumed.rewind().map_err(io)?;
    let mut entries = manifest.entries().map_err(io)?;
    while let Some((index, file)) = entries.next_file().map_err(io)? {
        let resumed = resumed.take(index).map_err(io)?;
        if !f(Next {
            index,
            file,
            resumed,
        })? {
            break;
        }
    }
    Ok(())
}

/// Calls `f` with the position, size and name length of each file not yet uploaded,
/// without building the files (for totals and plans).
pub(crate) fn each_size(
    manifest: &mut Manifest,
    resumed: &mut Resumed,
    mut f: impl FnMut(u64, u64, usize),
) -> Result<()> {
    let io = |e| Error::io("reading the list of files found", e);
    resumed.rewind().map_err(io)?;
    let mut entries = manifest.entries().map_err(io)?;
    while let Some((index, size, name_len)) = entries.next_sizes().map_err(io)? {
        if resumed.take(index).map_err(io)?.is_none() {
            f(index, size, name_len);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::journal::UnitType;
    use crate::ingest::manifest::Entry;

    fn entry(rel: &str, size: u64) -> Entry {
        Entry {
            size,
            modified: None,
            depth: 0,
            relative: rel.into(),
            candidate: rel.into(),
            listed: None,
        }
    }

    #[test]
    fn the_latest_record_of_a_path_decides() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        let (j, _) = Journal::open(&dir.path().join("j.jsonl"), "http://x", "ws", "b").unwrap();
        let rec = |name: &str, size: u64| FileRecord {
            name: name.into(),
            path: root.join(name).to_string_lossy().into_owned(),
            size,
            mtime_ns: None,
        };
        // a: uploaded at 10 bytes, then changed to 11 and uploaded again.
        let s1 = j.pending(
            UnitType::Shard,
            Some("s1"),
            vec![rec("a.jpg", 10), rec("b.jpg", 5)],
        );
        let s2 = j.pending(UnitType::Shard, Some("s2"), vec![rec("a.jpg", 11)]);
        // c: in a unit the service did not confirm.
        let s3 = j.pending(UnitType::Shard, Some("s3"), vec![rec("c.jpg", 1)]);
        let (s1, s2, _s3) = (s1.unwrap(), s2.unwrap(), s3.unwrap());
        let mut m = Manifest::new(Some(root.clone()));
        for (rel, size) in [("a.jpg", 10), ("b.jpg", 5), ("c.jpg", 1), ("d.jpg", 2)] {
            m.push(&entry(rel, size)).unwrap();
        }
        let units = HashMap::from([(s1, 0), (s2, 1)]);
        let mut r = find(&j, &units, &mut m).unwrap();
        // a is 10 bytes now, but the latest upload was of 11: sent again.
        assert_eq!(r.len(), 1);
        let got: Vec<_> = (0..4).map(|i| r.take(i).unwrap()).collect();
        assert_eq!(got, [None, Some(0), None, None]);
        r.rewind().unwrap();
        assert_eq!(r.take(1).unwrap(), Some(0));
    }
}
