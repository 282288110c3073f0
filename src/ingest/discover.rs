//! Finding the local files to ingest, in a deterministic order, each file left out
//! reported with its reason.

use std::path::Path;

use super::files::{Entry, FileList};
use super::names;
use super::report::{SkipReason, SkippedFile};
use super::sorted::Sorter;
use super::source::{Kind, Source};
use super::walk::{self, Item, Walk};
use crate::error::Error;
use crate::model::MediaKind;
use crate::progress::{Emitter, Event};

/// Finds a local source's files of `media` kind, reporting those left out, and names them.
pub(crate) fn discover(
    source: &Source,
    media: MediaKind,
    max_size: u64,
    events: &Emitter<'_>,
) -> crate::Result<Found> {
    let mut found = Finder {
        media,
        max_size,
        follow: source.follow_links,
        listed: matches!(source.kind, Kind::Files(_)),
        out: Found {
            files: FileList::new(source.root().map(Path::to_path_buf)),
            skipped: Vec::new(),
            bytes: 0,
        },
        keys: Sorter::new(NAME_KEYS_MEMORY),
        events,
    };
    match &source.kind {
        Kind::Folder { root, recursive } => found.walk(root, *recursive)?,
        Kind::Files(paths) => {
            for p in paths {
                found.listed(p)?;
            }
        }
        _ => {}
    }
    let keys = found.keys.finish();
    let keys = keys.map_err(|e| Error::io("sorting the names found", e))?;
    let mut out = found.out;
    out.files.resolve_names(keys)?;
    events.emit(Event::Discovered {
        files: out.files.len(),
        bytes: out.bytes,
    });
    Ok(out)
}

/// Bytes of name keys sorted in memory before they spill (about 170,000 files).
const NAME_KEYS_MEMORY: usize = 4 << 20;

/// `Discovered` goes out every this many files during discovery (and at the end).
const DISCOVERED_EVERY: u64 = 10_000;

/// What discovery found, without holding it in memory.
pub(crate) struct Found {
    /// The files that qualify, in order, with their final names.
    pub files: FileList,
    /// Files left out, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// The total size of the files that qualify.
    pub bytes: u64,
}

struct Finder<'e> {
    media: MediaKind,
    max_size: u64,
    follow: bool,
    /// An explicit list (files are named after their file names).
    listed: bool,
    out: Found,
    keys: Sorter<u128>,
    events: &'e Emitter<'e>,
}

impl Finder<'_> {
    fn skip(&mut self, path: &Path, reason: SkipReason, detail: impl Into<String>) {
        let s = SkippedFile::new(path.to_string_lossy(), reason, detail);
        self.events.emit(Event::Skipped(s.clone()));
        self.out.skipped.push(s);
    }

    fn walk(&mut self, root: &Path, recursive: bool) -> crate::Result<()> {
        let meta = std::fs::metadata(root)
            .map_err(|e| Error::io(format!("reading the folder {}", root.display()), e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(
                "source folder",
                format!("{} is not a folder", root.display()),
            ));
        }
        let depth = if recursive { usize::MAX } else { 1 };
        let walk = Walk::new(root, depth, self.follow)
            .map_err(|e| Error::io(format!("listing the folder {}", root.display()), e))?;
        for item in walk {
            let (path, kind) = match item {
                Item::Entry { path, kind } => (path, kind),
                Item::Error { path, message } => {
                    // An unreadable folder, or a link loop: report it if it could hold files.
                    self.skip(&path, SkipReason::Unreadable, message);
                    continue;
                }
            };
            if !self.media.matches(&path) {
                continue;
            }
            if kind == walk::Kind::Symlink {
                self.skip(&path, SkipReason::Symlink, "use follow_links to include it");
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            self.consider(&path, &rel, kind == walk::Kind::File)?;
        }
        Ok(())
    }

    fn listed(&mut self, path: &Path) -> crate::Result<()> {
        let skip = match std::fs::symlink_metadata(path) {
            Err(e) => Some((SkipReason::Unreadable, e.to_string())),
            Ok(m) if m.file_type().is_symlink() && !self.follow => {
                Some((SkipReason::Symlink, "use follow_links to include it".into()))
            }
            _ if !self.media.matches(path) => {
                let ext = self.media.extensions().join(", ");
                Some((SkipReason::Unsupported, format!("not one of: {ext}")))
            }
            _ => None,
        };
        if let Some((reason, detail)) = skip {
            self.skip(path, reason, detail);
            return Ok(());
        }
        let is_file = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(true);
        self.consider(path, path, is_file)
    }

    /// Records one file whose extension matched if it qualifies, else says why not.
    fn consider(&mut self, path: &Path, rel: &Path, is_file: bool) -> crate::Result<()> {
        let entry = match self.entry(path, rel, is_file) {
            Ok(entry) => entry,
            Err((reason, detail)) => {
                self.skip(path, reason, detail);
                return Ok(());
            }
        };
        let io = |e| Error::io("keeping the list of files found", e);
        self.keys
            .push(&names::collision_key(&entry.candidate))
            .map_err(io)?;
        self.out.files.push(&entry).map_err(io)?;
        self.out.bytes += entry.size;
        let n = self.out.files.len();
        if n.is_multiple_of(DISCOVERED_EVERY) {
            self.events.emit(Event::Discovered {
                files: n,
                bytes: self.out.bytes,
            });
        }
        Ok(())
    }

    /// The entry of a file whose extension matched, or why it is left out.
    fn entry(&self, path: &Path, rel: &Path, is_file: bool) -> Result<Entry, (SkipReason, String)> {
        if !is_file {
            return Err((SkipReason::NotAFile, String::new()));
        }
        let components: Option<Vec<&str>> = rel
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_str()),
                _ => None,
            })
            .collect();
        // A listed path is kept as text, so all of it must be UTF-8.
        let (Some(components), true) = (components, !self.listed || path.to_str().is_some()) else {
            return Err((SkipReason::NotUtf8, "rename it to valid UTF-8".into()));
        };
        let unreadable = |e: std::io::Error| (SkipReason::Unreadable, e.to_string());
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        let size = meta.len();
        if size == 0 {
            return Err((SkipReason::Empty, "0 bytes".into()));
        }
        if size > self.max_size {
            let detail = format!("{size} bytes, limit {}", self.max_size);
            return Err((SkipReason::TooLarge, detail));
        }
        std::fs::File::open(path).map_err(unreadable)?;
        // A listed file is named after its file name; a found one after its path.
        let parts: &[&str] = match self.listed {
            true => components
                .last()
                .map(std::slice::from_ref)
                .unwrap_or_default(),
            false => &components,
        };
        Ok(Entry {
            size,
            modified: meta.modified().ok(),
            depth: parts.len().saturating_sub(1) as u32,
            relative: components.join("/"),
            listed: path.to_str().map(str::to_string).filter(|_| self.listed),
            candidate: names::candidate(parts),
        })
    }
}
