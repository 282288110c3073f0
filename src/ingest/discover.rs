//! Finding the files to ingest: a folder (optionally recursive) or an explicit list,
//! filtered by the official client's extensions, in a deterministic order, with every
//! file left out reported by name and reason.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::manifest::{Entry, Manifest};
use super::names;
use super::progress::IngestEvent;
use super::report::{SkipReason, SkippedFile};
use super::spill::Sorter;
use super::walk::{self, Item, Walk};
use crate::error::{Error, Result};

/// Image extensions the official client takes (matched in any case).
///
/// ```
/// assert!(roboflow_batch::ingest::IMAGE_EXTENSIONS.contains(&"jpeg"));
/// ```
pub const IMAGE_EXTENSIONS: &[&str] = &["bmp", "dib", "jpeg", "jpg", "jpe", "jp2", "png", "webp"];

/// Video extensions the official client takes (matched in any case).
///
/// ```
/// assert!(roboflow_batch::ingest::VIDEO_EXTENSIONS.contains(&"mov"));
/// ```
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4a", "m4p", "m4b", "m4r", "m4v", "avi", "mov", "mkv", "flv", "wmv", "mpeg", "mpg",
    "3gp", "webm", "ogg",
];

/// The default per-image size limit: 20 MiB, the service's documented limit.
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_MAX_IMAGE_SIZE, 20_971_520);
/// ```
pub const DEFAULT_MAX_IMAGE_SIZE: u64 = 20 * 1024 * 1024;

/// What kind of media an ingest carries.
///
/// ```
/// use roboflow_batch::ingest::MediaKind;
/// assert!(MediaKind::Images.matches(std::path::Path::new("a/B.JPG")));
/// assert!(!MediaKind::Images.matches(std::path::Path::new("clip.mp4")));
/// assert!(MediaKind::Videos.matches(std::path::Path::new("clip.Mp4")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaKind {
    /// Images ([`IMAGE_EXTENSIONS`]).
    Images,
    /// Videos ([`VIDEO_EXTENSIONS`]).
    Videos,
}

impl MediaKind {
    /// The extensions taken, lowercase.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::MediaKind::Videos.extensions().contains(&"mkv"));
    /// ```
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaKind::Images => IMAGE_EXTENSIONS,
            MediaKind::Videos => VIDEO_EXTENSIONS,
        }
    }

    /// Whether a path has one of the extensions, in any case.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::MediaKind::Images.matches(std::path::Path::new("x.WebP")));
    /// ```
    pub fn matches(self, path: &Path) -> bool {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.extensions().iter().any(|x| x.eq_ignore_ascii_case(e)))
    }
}

/// Where local files come from: a folder or a list of files.
///
/// ```
/// use roboflow_batch::ingest::LocalSource;
/// let s = LocalSource::dir("photos").recursive(true);
/// assert!(format!("{s:?}").contains("recursive: true"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct LocalSource {
    kind: Kind,
    follow_links: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir { root: PathBuf, recursive: bool },
    Files(Vec<PathBuf>),
}

/// One file to upload: where it is, the name it gets in the batch, and its identity (size
/// and modification time) as found.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("a.jpg"), b"jpeg")?;
/// use roboflow_batch::ingest::{LocalSource, MediaKind};
/// let found = LocalSource::dir(dir.path()).discover(MediaKind::Images, 1 << 20)?;
/// assert_eq!((found.files[0].name.as_str(), found.files[0].size), ("a.jpg", 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path, as found (the folder joined with the relative path).
    pub path: PathBuf,
    /// The path relative to the folder, with `/` separators (the path as given for a list).
    pub relative: String,
    /// The unique name in the batch.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, when the file system has one.
    pub modified: Option<SystemTime>,
}

/// What discovery found: the files to upload, in order, and those left out.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("b.png"), b"png")?;
/// # std::fs::write(dir.path().join("a.jpg"), b"jpeg")?;
/// use roboflow_batch::ingest::{LocalSource, MediaKind};
/// let found = LocalSource::dir(dir.path()).discover(MediaKind::Images, 1 << 20)?;
/// let names: Vec<_> = found.files.iter().map(|f| f.name.as_str()).collect();
/// assert_eq!(names, ["a.jpg", "b.png"]); // sorted
/// assert_eq!(found.total_bytes(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Files that qualify, in a deterministic order.
    pub files: Vec<SourceFile>,
    /// Files left out, with reasons.
    pub skipped: Vec<SkippedFile>,
}

impl Discovery {
    /// The total size of the files that qualify.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::Discovery::default().total_bytes(), 0);
    /// ```
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl LocalSource {
    /// The files directly in `root` (add [`recursive`](Self::recursive) for subfolders).
    ///
    /// ```
    /// let s = roboflow_batch::ingest::LocalSource::dir("photos");
    /// assert!(format!("{s:?}").contains("photos"));
    /// ```
    pub fn dir(root: impl Into<PathBuf>) -> LocalSource {
        LocalSource {
            kind: Kind::Dir {
                root: root.into(),
                recursive: false,
            },
            follow_links: false,
        }
    }

    /// Exactly these files, in this order; each is named after its file name.
    ///
    /// ```
    /// let s = roboflow_batch::ingest::LocalSource::files(["a/x.jpg", "b/x.jpg"]);
    /// assert!(format!("{s:?}").contains("b/x.jpg"));
    /// ```
    pub fn files<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> LocalSource {
        LocalSource {
            kind: Kind::Files(paths.into_iter().map(Into::into).collect()),
            follow_links: false,
        }
    }

    /// Whether to descend into subfolders (default no, as the official client). No effect
    /// on a list.
    ///
    /// ```
    /// let s = roboflow_batch::ingest::LocalSource::dir("d").recursive(true);
    /// assert!(format!("{s:?}").contains("recursive: true"));
    /// ```
    pub fn recursive(mut self, recursive: bool) -> LocalSource {
        if let Kind::Dir { recursive: r, .. } = &mut self.kind {
            *r = recursive;
        }
        self
    }

    /// Whether to follow symbolic links (default no: links are skipped and reported).
    ///
    /// ```
    /// let s = roboflow_batch::ingest::LocalSource::dir("d").follow_links(true);
    /// assert!(format!("{s:?}").contains("follow_links: true"));
    /// ```
    pub fn follow_links(mut self, follow: bool) -> LocalSource {
        self.follow_links = follow;
        self
    }

    /// The folder, for a folder source.
    ///
    /// ```
    /// use std::path::Path;
    /// let s = roboflow_batch::ingest::LocalSource::dir("photos");
    /// assert_eq!(s.root(), Some(Path::new("photos")));
    /// ```
    pub fn root(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Dir { root, .. } => Some(root),
            Kind::Files(_) => None,
        }
    }

    /// Finds the files of `media` kind, leaving out (and reporting) unreadable, empty and
    /// non-UTF-8 ones, links unless followed, and files over `max_file_size` bytes.
    ///
    /// Fails only when the folder itself cannot be read. The whole list is returned in
    /// memory (every file's path and name); [`Ingest`](super::Ingest) does not need it
    /// and keeps the list in a temporary file instead.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("a.png"), b"png")?;
    /// # std::fs::write(dir.path().join("empty.jpg"), b"")?;
    /// # std::fs::write(dir.path().join("notes.txt"), b"text")?;
    /// use roboflow_batch::ingest::{LocalSource, MediaKind, SkipReason};
    /// let found = LocalSource::dir(dir.path()).discover(MediaKind::Images, 1 << 20)?;
    /// assert_eq!(found.files.len(), 1);
    /// assert_eq!(found.skipped[0].reason, SkipReason::Empty);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn discover(&self, media: MediaKind, max_file_size: u64) -> Result<Discovery> {
        let mut survey = self.survey(media, max_file_size, &|_| {})?;
        let mut files = Vec::with_capacity(survey.manifest.len() as usize);
        let mut entries = survey
            .manifest
            .entries()
            .map_err(|e| Error::io("reading the list of files found", e))?;
        while let Some((_, f)) = entries
            .next_file()
            .map_err(|e| Error::io("reading the list of files found", e))?
        {
            files.push(f);
        }
        Ok(Discovery {
            files,
            skipped: survey.skipped,
        })
    }

    /// Finds the files as [`discover`](Self::discover) does, into a [`Manifest`] (in a
    /// temporary file when large) with the final names resolved; reports each skip and the
    /// running totals to `progress` as it goes.
    pub(crate) fn survey(
        &self,
        media: MediaKind,
        max_file_size: u64,
        progress: &dyn Fn(&IngestEvent),
    ) -> Result<Survey> {
        let mut found = Found {
            media,
            max_size: max_file_size,
            follow: self.follow_links,
            listed: matches!(self.kind, Kind::Files(_)),
            manifest: Manifest::new(self.root().map(Path::to_path_buf)),
            keys: Sorter::new(NAME_KEYS_MEMORY),
            skipped: Vec::new(),
            bytes: 0,
            progress,
        };
        match &self.kind {
            Kind::Dir { root, recursive } => found.walk(root, *recursive)?,
            Kind::Files(paths) => {
                for p in paths {
                    found.listed(p)?;
                }
            }
        }
        let io = |e| Error::io("sorting the names found", e);
        let keys = std::mem::replace(&mut found.keys, Sorter::new(0));
        let renamed = names::resolve(keys.finish().map_err(io)?, &mut found.manifest)?;
        found.manifest.set_renamed(renamed);
        (found.progress)(&IngestEvent::Discovered {
            files: found.manifest.len(),
            bytes: found.bytes,
        });
        Ok(Survey {
            manifest: found.manifest,
            skipped: found.skipped,
            bytes: found.bytes,
        })
    }
}

/// Bytes of name keys sorted in memory before they spill (16 bytes and 8 of bookkeeping a
/// file: about 170,000 files).
const NAME_KEYS_MEMORY: usize = 4 << 20;

/// `Discovered` goes out every this many files during discovery (and at the end).
const DISCOVERED_EVERY: u64 = 10_000;

/// What discovery found, without holding it in memory.
pub(crate) struct Survey {
    /// The files that qualify, in order, with their final names.
    pub manifest: Manifest,
    /// Files left out, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// The total size of the files that qualify.
    pub bytes: u64,
}

struct Found<'p> {
    media: MediaKind,
    max_size: u64,
    follow: bool,
    /// An explicit list (files are named after their file names).
    listed: bool,
    manifest: Manifest,
    keys: Sorter,
    skipped: Vec<SkippedFile>,
    bytes: u64,
    progress: &'p dyn Fn(&IngestEvent),
}

impl Found<'_> {
    fn skip(&mut self, path: &Path, reason: SkipReason, detail: impl Into<String>) {
        let s = SkippedFile {
            path: path.to_string_lossy().into_owned(),
            reason,
            detail: detail.into(),
        };
        (self.progress)(&IngestEvent::Skipped(s.clone()));
        self.skipped.push(s);
    }

    fn walk(&mut self, root: &Path, recursive: bool) -> Result<()> {
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

    fn listed(&mut self, path: &Path) -> Result<()> {
        let link = std::fs::symlink_metadata(path);
        match link {
            Err(e) => {
                self.skip(path, SkipReason::Unreadable, e.to_string());
                return Ok(());
            }
            Ok(m) if m.file_type().is_symlink() && !self.follow => {
                self.skip(path, SkipReason::Symlink, "use follow_links to include it");
                return Ok(());
            }
            Ok(_) => {}
        }
        if !self.media.matches(path) {
            let ext = self.media.extensions().join(", ");
            self.skip(path, SkipReason::Unsupported, format!("not one of: {ext}"));
            return Ok(());
        }
        let is_file = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(true);
        self.consider(path, path, is_file)
    }

    /// Checks one file whose extension matched, and records it if it qualifies.
    fn consider(&mut self, path: &Path, rel: &Path, is_file: bool) -> Result<()> {
        if !is_file {
            self.skip(path, SkipReason::NotAFile, "");
            return Ok(());
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
            self.skip(path, SkipReason::NotUtf8, "rename it to valid UTF-8");
            return Ok(());
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.skip(path, SkipReason::Unreadable, e.to_string());
                return Ok(());
            }
        };
        let size = meta.len();
        if size == 0 {
            self.skip(path, SkipReason::Empty, "0 bytes");
            return Ok(());
        }
        if size > self.max_size {
            let detail = format!("{size} bytes, limit {}", self.max_size);
            self.skip(path, SkipReason::TooLarge, detail);
            return Ok(());
        }
        if let Err(e) = std::fs::File::open(path) {
            self.skip(path, SkipReason::Unreadable, e.to_string());
            return Ok(());
        }
        // A listed file is named after its file name; a found one after its path.
        let parts: &[&str] = if self.listed {
            components
                .last()
                .map(std::slice::from_ref)
                .unwrap_or_default()
        } else {
            &components
        };
        let candidate = names::candidate(parts);
        let entry = Entry {
            size,
            modified: meta.modified().ok(),
            depth: parts.len().saturating_sub(1) as u32,
            relative: components.join("/"),
            listed: if self.listed {
                path.to_str().map(str::to_string)
            } else {
                None
            },
            candidate,
        };
        let io = |e| Error::io("keeping the list of files found", e);
        self.keys
            .push(&names::collision_key(&entry.candidate))
            .map_err(io)?;
        self.manifest.push(&entry).map_err(io)?;
        self.bytes += size;
        let n = self.manifest.len();
        if n.is_multiple_of(DISCOVERED_EVERY) {
            (self.progress)(&IngestEvent::Discovered {
                files: n,
                bytes: self.bytes,
            });
        }
        Ok(())
    }
}
