//! The local files of an ingest, in discovery's order, on a [`Tape`] rather than in memory,
//! with their final names and which ones an earlier run uploaded.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use super::names;
use super::sorted::{Sorted, Tape, record};
use crate::error::{Error, Result};

/// Bytes of the list held in memory before it moves to a temporary file.
const MEMORY: usize = 2 << 20;

/// One file to upload: its path, name in the batch, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalFile {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// One file as discovery found it, before collisions between names are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// Folders between the source folder and the file (0 for a listed file).
    pub depth: u32,
    /// The path relative to the folder (or a list's path) joined with `/`.
    pub relative: String,
    /// Its name before collisions are resolved.
    pub candidate: String,
    /// The path as listed, for an explicit list (a folder's files are found below it).
    pub listed: Option<String>,
}

record!(Entry {
    size,
    modified,
    depth,
    relative,
    candidate,
    listed
});

/// A file as the pipeline reads it, with the unit an earlier run uploaded it in.
pub(crate) struct Next {
    pub index: u64,
    pub file: LocalFile,
    pub resumed: Option<u32>,
}

/// The files found, in order.
pub(crate) struct FileList {
    tape: Tape<Entry>,
    /// The source folder, for a folder source.
    root: Option<PathBuf>,
    /// Final names that differ from the candidate (collisions), by position.
    renamed: HashMap<u64, String>,
    resumed: Resumed,
}

fn io_err(e: io::Error) -> Error {
    Error::io("reading the list of files found", e)
}

impl FileList {
    pub fn new(root: Option<PathBuf>) -> FileList {
        FileList {
            tape: Tape::new(MEMORY),
            root,
            renamed: HashMap::new(),
            resumed: Resumed::default(),
        }
    }

    pub fn len(&self) -> u64 {
        self.tape.len()
    }

    pub fn push(&mut self, e: &Entry) -> io::Result<()> {
        self.tape.push(e).map(drop)
    }

    /// Calls `f` with each file in order until it returns `false`.
    pub fn each(&mut self, mut f: impl FnMut(Next) -> Result<bool>) -> Result<()> {
        let (root, renamed, resumed) = (&self.root, &self.renamed, &mut self.resumed);
        resumed.rewind().map_err(io_err)?;
        entries(&mut self.tape, |index, e| {
            let path = match (&e.listed, root) {
                (Some(p), _) => PathBuf::from(p),
                (None, Some(root)) => e.relative.split('/').fold(root.clone(), |p, c| p.join(c)),
                (None, None) => PathBuf::from(&e.relative),
            };
            let name = renamed.get(&index).cloned().unwrap_or(e.candidate);
            let (size, modified) = (e.size, e.modified);
            let file = LocalFile {
                path,
                name,
                size,
                modified,
            };
            let resumed = resumed.take(index).map_err(io_err)?;
            f(Next {
                index,
                file,
                resumed,
            })
        })
    }

    /// Calls `f` with the size and name length of each file not yet uploaded.
    pub fn each_size(&mut self, mut f: impl FnMut(u64, usize)) -> Result<()> {
        let (renamed, resumed) = (&self.renamed, &mut self.resumed);
        resumed.rewind().map_err(io_err)?;
        entries(&mut self.tape, |index, e| {
            if resumed.take(index).map_err(io_err)?.is_none() {
                f(
                    e.size,
                    renamed.get(&index).map_or(e.candidate.len(), String::len),
                );
            }
            Ok(true)
        })
    }

    /// Tells colliding names apart, given the candidates' sorted collision keys (only
    /// files whose keys repeat are held in memory).
    pub fn resolve_names(&mut self, mut keys: Sorted<u128>) -> Result<()> {
        let io = |e: io::Error| Error::io("resolving name collisions", e);
        let mut repeated = HashSet::new();
        let mut prev = None;
        while let Some(key) = keys.next().map_err(io)? {
            if prev == Some(key) {
                repeated.insert(key);
            }
            prev = Some(key);
        }
        drop(keys);
        if repeated.is_empty() {
            return Ok(());
        }
        // Lowercase candidate → (depth, relative path, position, candidate).
        let mut groups: HashMap<String, Vec<(u32, String, u64, String)>> = HashMap::new();
        entries(&mut self.tape, |index, e| {
            if repeated.contains(&names::collision_key(&e.candidate)) {
                let group = groups.entry(e.candidate.to_lowercase()).or_default();
                group.push((e.depth, e.relative, index, e.candidate));
            }
            Ok(true)
        })?;
        // The new names, lowercase, with the path each belongs to.
        let mut taken: HashMap<String, String> = HashMap::new();
        let mut renamed = HashMap::new();
        for members in groups.values_mut().filter(|m| m.len() > 1) {
            members.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            for (_, relative, index, candidate) in members.iter().skip(1) {
                let name = names::disambiguate(candidate, relative);
                if let Some(other) = taken.insert(name.to_lowercase(), relative.clone()) {
                    return Err(same_name(&other, relative, &name));
                }
                renamed.insert(*index, name);
            }
        }
        // A new name must not be a name some other file keeps.
        entries(&mut self.tape, |index, e| {
            match taken.get(&e.candidate.to_lowercase()) {
                Some(other) if !renamed.contains_key(&index) => {
                    Err(same_name(&e.relative, other, &e.candidate))
                }
                _ => Ok(true),
            }
        })?;
        self.renamed = renamed;
        Ok(())
    }

    pub fn set_resumed(&mut self, resumed: Resumed) {
        self.resumed = resumed;
    }

    /// How many files an earlier run uploaded.
    pub fn resumed(&self) -> u64 {
        self.resumed.sorted.len()
    }
}

/// Calls `f` with each entry as found, and its position, until `f` returns `false`.
fn entries(tape: &mut Tape<Entry>, mut f: impl FnMut(u64, Entry) -> Result<bool>) -> Result<()> {
    let mut r = tape.reader().map_err(io_err)?;
    let mut index = 0;
    while let Some(e) = r.next().map_err(io_err)? {
        if !f(index, e)? {
            break;
        }
        index += 1;
    }
    Ok(())
}

fn same_name(a: &str, b: &str, name: &str) -> Error {
    Error::invalid(
        "file names",
        format!(
            "{a:?} and {b:?} map to the same name {name:?} even after disambiguation; rename one"
        ),
    )
}

/// The positions an earlier run uploaded, sorted, each with the unit it went in.
#[derive(Default)]
pub(crate) struct Resumed {
    sorted: Sorted<(u64, u32)>,
    next: Option<(u64, u32)>,
}

impl Resumed {
    pub fn new(sorted: Sorted<(u64, u32)>) -> Resumed {
        Resumed { sorted, next: None }
    }

    fn rewind(&mut self) -> io::Result<()> {
        self.sorted.rewind()?;
        self.next = self.sorted.next()?;
        Ok(())
    }

    /// The unit position `index` was uploaded in (asked in increasing order).
    fn take(&mut self, index: u64) -> io::Result<Option<u32>> {
        while let Some((i, unit)) = self.next {
            match i.cmp(&index) {
                Ordering::Less => self.next = self.sorted.next()?,
                Ordering::Equal => {
                    self.next = self.sorted.next()?;
                    return Ok(Some(unit));
                }
                Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::sorted::Sorter;
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(relative: &str, candidate: &str, depth: u32, listed: Option<&str>) -> Entry {
        Entry {
            size: relative.len() as u64,
            modified: Some(UNIX_EPOCH - Duration::new(5, 7)),
            depth,
            relative: relative.into(),
            candidate: candidate.into(),
            listed: listed.map(str::to_string),
        }
    }

    fn files(list: &mut FileList) -> Vec<(u64, LocalFile, Option<u32>)> {
        let mut out = Vec::new();
        list.each(|n| {
            out.push((n.index, n.file, n.resumed));
            Ok(true)
        })
        .unwrap();
        out
    }

    /// The names of `paths` as a folder's files.
    fn names_of(paths: &[&str]) -> Result<Vec<String>> {
        let mut list = FileList::new(None);
        let mut keys = Sorter::new(64);
        for p in paths {
            let parts: Vec<&str> = p.split('/').collect();
            let c = names::candidate(&parts);
            keys.push(&names::collision_key(&c)).unwrap();
            list.push(&entry(p, &c, (parts.len() - 1) as u32, None))
                .unwrap();
        }
        list.resolve_names(keys.finish().unwrap())?;
        Ok(files(&mut list).into_iter().map(|f| f.1.name).collect())
    }

    #[test]
    fn entries_round_trip_with_paths_resumes_and_sizes() {
        let mut list = FileList::new(Some(PathBuf::from("/data")));
        list.push(&entry("cats/a.jpg", "cats__a.jpg", 1, None))
            .unwrap();
        list.push(&entry("x/y.png", "y.png", 0, Some("/x/y.png")))
            .unwrap();
        let mut marks = Sorter::new(64);
        marks.push(&(1, 7)).unwrap();
        list.set_resumed(Resumed::new(marks.finish().unwrap()));
        let got = files(&mut list);
        assert_eq!(got[0].1.path, PathBuf::from("/data/cats/a.jpg"));
        assert_eq!((got[0].1.name.as_str(), got[0].2), ("cats__a.jpg", None));
        assert_eq!(
            (got[1].1.path.to_str(), got[1].2),
            (Some("/x/y.png"), Some(7))
        );
        assert_eq!(got[1].1.modified, Some(UNIX_EPOCH - Duration::new(5, 7)));
        let mut sizes = Vec::new();
        list.each_size(|s, n| sizes.push((s, n))).unwrap();
        assert_eq!(sizes, [(10, 11)], "the resumed file is left out");
        assert_eq!(list.resumed(), 1);
    }

    #[test]
    fn collisions_get_a_stable_hash_and_the_shallowest_file_keeps_its_name() {
        // Names in subfolders: `tests/ingest_inputs.rs`
        // (`duplicate_base_names_in_subfolders_get_distinct_stable_names`).
        let names = |p: &[&str]| names_of(p).unwrap();
        let got = names(&["x/a__b.jpg", "a__b__c.jpg", "a/b__c.jpg", "a__b/c.jpg"]);
        assert_eq!(got[1], "a__b__c.jpg"); // top level wins
        assert_eq!(got[0], "x__a__b.jpg");
        for g in [&got[2], &got[3]] {
            assert!(g.starts_with("a__b__c~") && g.ends_with(".jpg"), "{g}");
        }
        assert_ne!(got[2], got[3]);
        // Stable: the same input gives the same names, whatever the order.
        let again = names(&["a__b/c.jpg", "a/b__c.jpg", "a__b__c.jpg", "x/a__b.jpg"]);
        assert_eq!((&again[0], &again[1]), (&got[3], &got[2]));
        // Case only: the same depth goes by path order ("A" < "a").
        let got = names(&["A.JPG", "a.jpg"]);
        assert_eq!(got[0], "A.JPG");
        assert!(got[1].starts_with("a~") && got[1].ends_with(".jpg"));
    }

    #[test]
    fn a_new_name_that_another_file_keeps_is_refused() {
        // `a.jpg` and `A.jpg` collide; `A.jpg` keeps its name, `a.jpg` becomes
        // `a~<hash of "a.jpg">.jpg`, which is also the name of a third file.
        let third = names::disambiguate("a.jpg", "a.jpg");
        let err = names_of(&["a.jpg", "A.jpg", &third]).unwrap_err();
        assert!(
            err.to_string().contains("even after disambiguation"),
            "{err}"
        );
        assert_eq!(names_of(&["a.jpg", "A.jpg"]).unwrap()[0], third);
    }
}
