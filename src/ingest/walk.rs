//! A folder walked in walkdir's `sort_by_file_name` order, each folder's names sorted
//! through a [`Sorter`] (a huge folder costs runs on disk, not memory).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::sorted::{Sorted, Sorter};

/// Names of one folder held in memory before they spill to a sorted run.
const FOLDER_SORT_BYTES: usize = 1 << 20;

const DIR: u8 = b'd';
const FILE: u8 = b'f';
const LINK: u8 = b'l';
const OTHER: u8 = b'o';
/// The type could not be read.
const UNKNOWN: u8 = b'?';

/// What an entry is (links resolved when they are followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    /// A link that is not followed.
    Symlink,
    /// A pipe, socket, device…
    Other,
}

/// One entry of the walk (folders themselves are not reported).
#[derive(Debug)]
pub(crate) enum Item {
    Entry {
        path: PathBuf,
        kind: Kind,
    },
    /// A folder or link that could not be read.
    Error {
        path: PathBuf,
        message: String,
    },
}

struct Level {
    path: PathBuf,
    names: Sorted<(Vec<u8>, u8)>,
    /// The folder's canonical path, to detect link loops (only when following links).
    canonical: Option<PathBuf>,
}

/// A depth-first walk below a root folder (the root itself is not an entry).
pub(crate) struct Walk {
    follow: bool,
    max_depth: usize,
    stack: Vec<Level>,
}

#[cfg(unix)]
fn name_from(bytes: &[u8]) -> Option<&OsStr> {
    use std::os::unix::ffi::OsStrExt;
    Some(OsStr::from_bytes(bytes))
}

// Elsewhere names that are not Unicode cannot be rebuilt from bytes without `unsafe`;
// such an entry is reported as unreadable (it could not be named in a batch anyway).
#[cfg(not(unix))]
fn name_from(bytes: &[u8]) -> Option<&OsStr> {
    std::str::from_utf8(bytes).ok().map(OsStr::new)
}

fn type_byte(t: io::Result<fs::FileType>) -> u8 {
    match t {
        Ok(t) if t.is_dir() => DIR,
        Ok(t) if t.is_file() => FILE,
        Ok(t) if t.is_symlink() => LINK,
        Ok(_) => OTHER,
        Err(_) => UNKNOWN,
    }
}

/// The names of `dir` with their types, sorted (`a` before `a.b`).
fn list(dir: &Path) -> io::Result<Sorted<(Vec<u8>, u8)>> {
    let mut names = Sorter::new(FOLDER_SORT_BYTES);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        names.push(&(
            entry.file_name().as_encoded_bytes().to_vec(),
            type_byte(entry.file_type()),
        ))?;
    }
    names.finish()
}

impl Walk {
    /// A walk of `root`, `max_depth` folders deep (1: only the root's own entries).
    pub fn new(root: &Path, max_depth: usize, follow: bool) -> io::Result<Walk> {
        let names = list(root)?;
        let canonical = follow.then(|| fs::canonicalize(root)).transpose()?;
        Ok(Walk {
            follow,
            max_depth,
            stack: vec![Level {
                path: root.to_path_buf(),
                names,
                canonical,
            }],
        })
    }

    /// Descends into `path`, or says why not.
    fn enter(&mut self, path: &Path) -> Result<(), String> {
        let canonical = self.follow.then(|| fs::canonicalize(path)).transpose();
        let canonical = canonical.map_err(|e| e.to_string())?;
        let looped = |l: &&Level| canonical.is_some() && l.canonical == canonical;
        if let Some(a) = self.stack.iter().find(looped) {
            let (path, a) = (path.display(), a.path.display());
            return Err(format!(
                "file system loop: {path} points to an ancestor {a}"
            ));
        }
        let names = list(path).map_err(|e| format!("listing {}: {e}", path.display()))?;
        let path = path.to_path_buf();
        self.stack.push(Level {
            path,
            names,
            canonical,
        });
        Ok(())
    }
}

impl Iterator for Walk {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            let depth = self.stack.len();
            let level = self.stack.last_mut()?;
            let (name, ty) = match level.names.next() {
                Ok(Some(next)) => next,
                Ok(None) => {
                    self.stack.pop();
                    continue;
                }
                Err(e) => {
                    let path = self.stack.pop()?.path;
                    let message = format!("listing {}: {e}", path.display());
                    return Some(Item::Error { path, message });
                }
            };
            let Some(name) = name_from(&name) else {
                let path = level.path.join(String::from_utf8_lossy(&name).as_ref());
                let message = "its name is not valid Unicode".into();
                return Some(Item::Error { path, message });
            };
            let path = level.path.join(name);
            let descend = depth < self.max_depth;
            // A followed link, or an entry whose type could not be read: ask again.
            let ask: Option<fn(&Path) -> io::Result<fs::Metadata>> = match ty {
                LINK if self.follow => Some(|p| fs::metadata(p)),
                UNKNOWN => Some(|p| fs::symlink_metadata(p)),
                _ => None,
            };
            let ty = match ask.map(|f| f(&path)) {
                None => ty,
                Some(Ok(m)) => type_byte(Ok(m.file_type())),
                Some(Err(e)) => {
                    let message = e.to_string();
                    return Some(Item::Error { path, message });
                }
            };
            let kind = match ty {
                DIR => {
                    if descend && let Err(message) = self.enter(&path) {
                        return Some(Item::Error { path, message });
                    }
                    continue;
                }
                FILE => Kind::File,
                LINK => Kind::Symlink,
                _ => Kind::Other,
            };
            return Some(Item::Entry { path, kind });
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// `path kind` (or `path error`) relative to `root`.
    fn line(root: &Path, path: &Path, kind: Option<Kind>) -> String {
        let kind = kind.map_or("error".into(), |k| format!("{k:?}"));
        format!("{} {kind}", path.strip_prefix(root).unwrap().display())
    }

    fn walk(root: &Path, depth: usize, follow: bool) -> Vec<String> {
        let items = Walk::new(root, depth, follow).unwrap();
        items
            .map(|i| match i {
                Item::Entry { path, kind } => line(root, &path, Some(kind)),
                Item::Error { path, .. } => line(root, &path, None),
            })
            .collect()
    }

    /// walkdir's order for the same options, files and links only.
    fn walkdir_order(root: &Path, depth: usize, follow: bool) -> Vec<String> {
        let walk = walkdir::WalkDir::new(root).min_depth(1).max_depth(depth);
        let walk = walk.follow_links(follow).sort_by_file_name().into_iter();
        walk.filter_map(|e| match e {
            Ok(e) if e.file_type().is_dir() => None,
            Ok(e) => {
                let t = e.file_type();
                let kind = [(t.is_symlink(), Kind::Symlink), (t.is_file(), Kind::File)];
                let kind = kind.into_iter().find(|k| k.0).map_or(Kind::Other, |k| k.1);
                Some(line(root, e.path(), Some(kind)))
            }
            Err(e) => Some(line(root, e.path().unwrap(), None)),
        })
        .collect()
    }

    #[test]
    fn the_order_is_walkdirs_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for p in [
            "a.jpg",
            "a-b/x.jpg",
            "a/b.jpg",
            "a/c/d.png",
            "a.b/z.jpg",
            "B.jpg",
            "b.jpg",
            "é.jpg",
            "a/a/a.jpg",
            "z/y/x/w.png",
        ] {
            let path = d.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, b"x").unwrap();
        }
        std::os::unix::fs::symlink(d.join("a"), d.join("link-to-a")).unwrap();
        std::os::unix::fs::symlink(d, d.join("a/c/loop")).unwrap();
        std::os::unix::fs::symlink(d.join("gone"), d.join("dangling.jpg")).unwrap();
        for (depth, follow) in [
            (1, false),
            (usize::MAX, false),
            (usize::MAX, true),
            (2, true),
        ] {
            let ours = walk(d, depth, follow);
            assert_eq!(ours, walkdir_order(d, depth, follow), "{depth} {follow}");
        }
        let all = walk(d, usize::MAX, false);
        assert_eq!(all[0], "B.jpg File");
        assert!(all.contains(&"link-to-a Symlink".to_string()));
    }

    #[test]
    fn a_large_folder_spills_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        // Long names: well over FOLDER_SORT_BYTES in all, so the listing is merged from runs.
        let long = "n".repeat(200);
        let mut want = Vec::new();
        for i in 0..6000 {
            let name = format!("{long}-{:05}.jpg", (i * 7919) % 6000);
            fs::write(dir.path().join(&name), b"").unwrap();
            want.push(format!("{name} File"));
        }
        want.sort();
        assert_eq!(walk(dir.path(), 1, false), want);
    }
}
