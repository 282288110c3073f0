//! Finding the files to ingest: a folder (optionally recursive) or an explicit list,
//! filtered by the official client's extensions, in a deterministic order, with every
//! file left out reported by name and reason.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::names::{self, Naming};
use super::report::{SkipReason, SkippedFile};
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
    /// Fails only when the folder itself cannot be read.
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
        let mut found = Found::new(media, max_file_size, self.follow_links);
        match &self.kind {
            Kind::Dir { root, recursive } => found.walk(root, *recursive)?,
            Kind::Files(paths) => {
                for p in paths {
                    found.listed(p);
                }
            }
        }
        found.finish()
    }
}

/// A file that qualified, before naming.
struct Candidate {
    path: PathBuf,
    relative: String,
    /// Its name before collisions are resolved, and how many folders deep it is.
    candidate: String,
    depth: usize,
    size: u64,
    modified: Option<SystemTime>,
}

struct Found {
    media: MediaKind,
    max_size: u64,
    follow: bool,
    files: Vec<Candidate>,
    skipped: Vec<SkippedFile>,
    listed: bool,
}

impl Found {
    fn new(media: MediaKind, max_size: u64, follow: bool) -> Found {
        Found {
            media,
            max_size,
            follow,
            files: Vec::new(),
            skipped: Vec::new(),
            listed: false,
        }
    }

    fn skip(&mut self, path: &Path, reason: SkipReason, detail: impl Into<String>) {
        self.skipped.push(SkippedFile {
            path: path.to_string_lossy().into_owned(),
            reason,
            detail: detail.into(),
        });
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
        let walker = walkdir::WalkDir::new(root)
            .min_depth(1)
            .max_depth(if recursive { usize::MAX } else { 1 })
            .follow_links(self.follow)
            .sort_by_file_name();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if e.depth() == 0 {
                        return Err(Error::io(
                            format!("listing the folder {}", root.display()),
                            e.into_io_error()
                                .unwrap_or_else(|| std::io::Error::other("cannot list")),
                        ));
                    }
                    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                    // An unreadable folder, or a link loop: report it if it could hold files.
                    self.skip(&path, SkipReason::Unreadable, e.to_string());
                    continue;
                }
            };
            let ft = entry.file_type();
            if ft.is_dir() || !self.media.matches(entry.path()) {
                continue;
            }
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            if ft.is_symlink() {
                self.skip(
                    entry.path(),
                    SkipReason::Symlink,
                    "use follow_links to include it",
                );
                continue;
            }
            self.consider(entry.path(), rel, ft.is_file());
        }
        Ok(())
    }

    fn listed(&mut self, path: &Path) {
        self.listed = true;
        let link = std::fs::symlink_metadata(path);
        match link {
            Err(e) => return self.skip(path, SkipReason::Unreadable, e.to_string()),
            Ok(m) if m.file_type().is_symlink() && !self.follow => {
                return self.skip(path, SkipReason::Symlink, "use follow_links to include it");
            }
            Ok(_) => {}
        }
        if !self.media.matches(path) {
            let ext = self.media.extensions().join(", ");
            return self.skip(path, SkipReason::Unsupported, format!("not one of: {ext}"));
        }
        let is_file = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(true);
        self.consider(path, path, is_file);
    }

    /// Checks one file whose extension matched.
    fn consider(&mut self, path: &Path, rel: &Path, is_file: bool) {
        if !is_file {
            return self.skip(path, SkipReason::NotAFile, "");
        }
        let components: Option<Vec<String>> = rel
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_str().map(str::to_string)),
                _ => None,
            })
            .collect();
        let Some(components) = components else {
            return self.skip(path, SkipReason::NotUtf8, "rename it to valid UTF-8");
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.skip(path, SkipReason::Unreadable, e.to_string()),
        };
        let size = meta.len();
        if size == 0 {
            return self.skip(path, SkipReason::Empty, "0 bytes");
        }
        if size > self.max_size {
            let detail = format!("{size} bytes, limit {}", self.max_size);
            return self.skip(path, SkipReason::TooLarge, detail);
        }
        if let Err(e) = std::fs::File::open(path) {
            return self.skip(path, SkipReason::Unreadable, e.to_string());
        }
        // A listed file is named after its file name; a found one after its path.
        let parts: Vec<&str> = if self.listed {
            components.last().map(String::as_str).into_iter().collect()
        } else {
            components.iter().map(String::as_str).collect()
        };
        self.files.push(Candidate {
            path: path.to_path_buf(),
            relative: components.join("/"),
            candidate: names::candidate(&parts),
            depth: parts.len().saturating_sub(1),
            size,
            modified: meta.modified().ok(),
        });
    }

    fn finish(self) -> Result<Discovery> {
        let namings: Vec<Naming<'_>> = self
            .files
            .iter()
            .map(|c| Naming {
                candidate: &c.candidate,
                key: &c.relative,
                depth: c.depth,
            })
            .collect();
        let assigned = names::assign(&namings)?;
        drop(namings);
        let files = self
            .files
            .into_iter()
            .zip(assigned)
            .map(|(c, name)| SourceFile {
                path: c.path,
                relative: c.relative,
                name,
                size: c.size,
                modified: c.modified,
            })
            .collect();
        Ok(Discovery {
            files,
            skipped: self.skipped,
        })
    }
}
