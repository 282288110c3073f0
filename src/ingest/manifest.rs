//! The files discovery found, in order, kept on a [`Tape`] (in memory for small sets, in a
//! temporary file for large ones) rather than as a list of paths in memory. Every later
//! step reads it from the start: naming, resuming, planning, uploading, reporting.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::discover::SourceFile;
use super::spill::{Fields, Tape, TapeReader, put_bytes};

/// Bytes of the manifest held in memory before it moves to a temporary file.
const MANIFEST_MEMORY: usize = 2 << 20;

/// One file as discovery found it, before collisions between names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// Folders between the source folder and the file (0 for a listed file).
    pub depth: u32,
    /// The path relative to the folder with `/` separators (for a list: the path's own
    /// components so joined).
    pub relative: String,
    /// Its name before collisions are resolved (rules 1 to 4 of the naming rule).
    pub candidate: String,
    /// The path as listed, for an explicit list (a folder's files are found below it).
    pub listed: Option<String>,
}

fn put_time(out: &mut Vec<u8>, t: Option<SystemTime>) {
    let (tag, d) = match t.map(|t| t.duration_since(UNIX_EPOCH)) {
        None => (0u8, Duration::ZERO),
        Some(Ok(d)) => (1, d),
        Some(Err(e)) => (2, e.duration()),
    };
    out.push(tag);
    out.extend_from_slice(&d.as_secs().to_be_bytes());
    out.extend_from_slice(&d.subsec_nanos().to_be_bytes());
}

fn get_time(f: &mut Fields<'_>) -> io::Result<Option<SystemTime>> {
    let tag = f.u8()?;
    let d = Duration::new(f.u64()?, f.u32()?);
    Ok(match tag {
        0 => None,
        1 => UNIX_EPOCH.checked_add(d),
        _ => UNIX_EPOCH.checked_sub(d),
    })
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.size.to_be_bytes());
        put_time(out, self.modified);
        out.extend_from_slice(&self.depth.to_be_bytes());
        put_bytes(out, self.relative.as_bytes());
        put_bytes(out, self.candidate.as_bytes());
        match &self.listed {
            Some(p) => {
                out.push(1);
                put_bytes(out, p.as_bytes());
            }
            None => out.push(0),
        }
    }

    fn decode(rec: &[u8]) -> io::Result<Entry> {
        let mut f = Fields(rec);
        Ok(Entry {
            size: f.u64()?,
            modified: get_time(&mut f)?,
            depth: f.u32()?,
            relative: f.str()?.to_string(),
            candidate: f.str()?.to_string(),
            listed: match f.u8()? {
                0 => None,
                _ => Some(f.str()?.to_string()),
            },
        })
    }
}

/// Discovery's files in order, and the names collisions changed.
pub(crate) struct Manifest {
    tape: Tape,
    /// The source folder, for a folder source.
    root: Option<PathBuf>,
    /// Final names that differ from the candidate (rule 5), by position.
    renamed: HashMap<u64, String>,
    rec: Vec<u8>,
}

impl Manifest {
    pub fn new(root: Option<PathBuf>) -> Manifest {
        Manifest {
            tape: Tape::new(MANIFEST_MEMORY),
            root,
            renamed: HashMap::new(),
            rec: Vec::new(),
        }
    }

    /// How many files.
    pub fn len(&self) -> u64 {
        self.tape.len()
    }

    pub fn push(&mut self, e: &Entry) -> io::Result<()> {
        e.encode(&mut self.rec);
        self.tape.push(&self.rec)
    }

    pub fn set_renamed(&mut self, renamed: HashMap<u64, String>) {
        self.renamed = renamed;
    }

    /// Reads the entries from the first, with their positions.
    pub fn entries(&mut self) -> io::Result<Entries<'_>> {
        Ok(Entries {
            reader: self.tape.reader()?,
            root: self.root.as_deref(),
            renamed: &self.renamed,
            index: 0,
            rec: Vec::new(),
        })
    }
}

/// Reads a [`Manifest`].
pub(crate) struct Entries<'a> {
    reader: TapeReader<'a>,
    root: Option<&'a std::path::Path>,
    renamed: &'a HashMap<u64, String>,
    index: u64,
    rec: Vec<u8>,
}

impl Entries<'_> {
    /// The next entry as found, with its position.
    pub fn next_entry(&mut self) -> io::Result<Option<(u64, Entry)>> {
        if !self.reader.next_into(&mut self.rec)? {
            return Ok(None);
        }
        let i = self.index;
        self.index += 1;
        Ok(Some((i, Entry::decode(&self.rec)?)))
    }

    /// The next file's position, size and final name's length, without building it.
    pub fn next_sizes(&mut self) -> io::Result<Option<(u64, u64, usize)>> {
        if !self.reader.next_into(&mut self.rec)? {
            return Ok(None);
        }
        let i = self.index;
        self.index += 1;
        let mut f = Fields(&self.rec);
        let size = f.u64()?;
        f.fixed(1 + 8 + 4 + 4)?; // modification time, depth
        f.bytes()?; // relative path
        let candidate = f.bytes()?.len();
        let len = self.renamed.get(&i).map_or(candidate, String::len);
        Ok(Some((i, size, len)))
    }

    /// The next file with its final name, and its position.
    pub fn next_file(&mut self) -> io::Result<Option<(u64, SourceFile)>> {
        let Some((i, e)) = self.next_entry()? else {
            return Ok(None);
        };
        let path = match (&e.listed, self.root) {
            (Some(p), _) => PathBuf::from(p),
            (None, Some(root)) => e
                .relative
                .split('/')
                .fold(root.to_path_buf(), |p, c| p.join(c)),
            (None, None) => PathBuf::from(&e.relative),
        };
        let name = self.renamed.get(&i).cloned().unwrap_or(e.candidate);
        Ok(Some((
            i,
            SourceFile {
                path,
                relative: e.relative,
                name,
                size: e.size,
                modified: e.modified,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_paths_and_renames() {
        let before = UNIX_EPOCH - Duration::new(5, 7);
        let now = SystemTime::now();
        let entries = [
            Entry {
                size: 10,
                modified: Some(now),
                depth: 1,
                relative: "cats/a.jpg".into(),
                candidate: "cats__a.jpg".into(),
                listed: None,
            },
            Entry {
                size: 1,
                modified: Some(before),
                depth: 0,
                relative: "a.jpg".into(),
                candidate: "a.jpg".into(),
                listed: None,
            },
            Entry {
                size: 2,
                modified: None,
                depth: 0,
                relative: "x/y.png".into(),
                candidate: "y.png".into(),
                listed: Some("/x/y.png".into()),
            },
        ];
        let mut m = Manifest::new(Some(PathBuf::from("/data")));
        for e in &entries {
            m.push(e).unwrap();
        }
        m.set_renamed(HashMap::from([(1, "a~12345678.jpg".to_string())]));
        let mut r = m.entries().unwrap();
        for (i, want) in entries.iter().enumerate() {
            assert_eq!(r.next_entry().unwrap(), Some((i as u64, want.clone())));
        }
        assert_eq!(r.next_entry().unwrap(), None);
        let mut r = m.entries().unwrap();
        let mut files = Vec::new();
        while let Some((_, f)) = r.next_file().unwrap() {
            files.push(f);
        }
        assert_eq!(files[0].path, PathBuf::from("/data/cats/a.jpg"));
        assert_eq!(files[0].name, "cats__a.jpg");
        assert_eq!(
            (files[1].name.as_str(), files[1].modified),
            ("a~12345678.jpg", Some(before))
        );
        assert_eq!(files[2].path, PathBuf::from("/x/y.png"));
        assert_eq!(files[2].modified, None);
        let mut r = m.entries().unwrap();
        let mut sizes = Vec::new();
        while let Some(s) = r.next_sizes().unwrap() {
            sizes.push(s);
        }
        assert_eq!(sizes, [(0, 10, 11), (1, 1, 14), (2, 2, 5)]);
    }
}
