//! Where an ingest's files come from.

use std::path::{Path, PathBuf};

/// Where the files of an [`Ingest`](super::Ingest) come from: local files to upload, or
/// references the service fetches itself (a JSONL file, its URL, or a bucket's objects).
///
/// ```
/// let refs = roboflow_batch::ingest::Source::references("refs.jsonl");
/// ```
#[derive(Debug)]
#[must_use]
pub struct Source {
    pub(crate) kind: Kind,
    pub(crate) follow_links: bool,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Folder {
        root: PathBuf,
        recursive: bool,
    },
    Files(Vec<PathBuf>),
    /// A local JSONL file of `{"name", "url"}` lines.
    References(PathBuf),
    /// The `https://` URL of such a file, which the service reads itself.
    ReferencesUrl(String),
    #[cfg(feature = "cloud")]
    Bucket(Box<crate::cloud::CloudSource>),
}

impl Source {
    /// The files directly in `root` (and [`recursive`](Self::recursive)ly), by extension.
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::folder("photos");
    /// ```
    pub fn folder(root: impl Into<PathBuf>) -> Source {
        Source::of(Kind::Folder {
            root: root.into(),
            recursive: false,
        })
    }

    /// Exactly these files, in this order; each is named after its file name.
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::files(["a/x.jpg", "b/y.jpg"]);
    /// ```
    pub fn files<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Source {
        Source::of(Kind::Files(paths.into_iter().map(Into::into).collect()))
    }

    /// A JSONL file of `{"name": …, "url": …}` references, checked whole, sent in chunks.
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::references("refs.jsonl");
    /// ```
    pub fn references(path: impl Into<PathBuf>) -> Source {
        Source::of(Kind::References(path.into()))
    }

    /// The `https://` URL of a JSONL file of references, which the service reads itself
    /// (its names are not known here, so it cannot be verified).
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::references_url("https://example.com/refs.jsonl");
    /// ```
    pub fn references_url(url: impl Into<String>) -> Source {
        Source::of(Kind::ReferencesUrl(url.into()))
    }

    /// A cloud bucket (feature `cloud`): its matching objects, signed here, as references.
    ///
    /// ```no_run
    /// # use roboflow_batch::{cloud::CloudSource, ingest::Source};
    /// let s = Source::bucket(CloudSource::builder("s3://my-bucket/photos/**/*.jpg").build()?);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    #[cfg(feature = "cloud")]
    pub fn bucket(source: crate::cloud::CloudSource) -> Source {
        Source::of(Kind::Bucket(Box::new(source)))
    }

    fn of(kind: Kind) -> Source {
        Source {
            kind,
            follow_links: false,
        }
    }

    /// Whether to descend into a folder's subfolders (default no, as the official client).
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::folder("d").recursive(true);
    /// ```
    pub fn recursive(mut self, recursive: bool) -> Source {
        if let Kind::Folder { recursive: r, .. } = &mut self.kind {
            *r = recursive;
        }
        self
    }

    /// Whether to follow symbolic links (default no: they are skipped and reported).
    ///
    /// ```
    /// let s = roboflow_batch::ingest::Source::folder("d").follow_links(true);
    /// ```
    pub fn follow_links(mut self, follow: bool) -> Source {
        self.follow_links = follow;
        self
    }

    /// The folder, for a folder source.
    pub(crate) fn root(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Folder { root, .. } => Some(root),
            _ => None,
        }
    }

    /// Local files that are uploaded (not references).
    pub(crate) fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Folder { .. } | Kind::Files(_))
    }
}

#[cfg(feature = "cloud")]
impl From<crate::cloud::CloudSource> for Source {
    fn from(source: crate::cloud::CloudSource) -> Source {
        Source::bucket(source)
    }
}
