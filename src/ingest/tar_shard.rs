//! Tar shards produced on the fly, with their exact length known before the first byte:
//! the bytes `tar::Builder` writes (GNU headers, `././@LongLink` for long names), which
//! tests compare. A file that changes while read fails the reader before the archive is
//! complete, so a PUT with `Content-Length` is cut short rather than wrong.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::{Error, Result};

const BLOCK: u64 = 512;
/// The longest name that fits in a header; longer ones get a GNU long-name entry.
const HEADER_NAME_LEN: usize = 100;

/// `len` rounded up to whole 512-byte blocks.
pub(crate) fn pad512(len: u64) -> u64 {
    len.div_ceil(BLOCK) * BLOCK
}

/// The bytes one member takes in a tar archive: its header, its padded data, and a GNU
/// long-name entry when the name is over 100 bytes.
pub(crate) fn tar_entry_size(name_len: usize, data_len: u64) -> u64 {
    let long = if name_len > HEADER_NAME_LEN {
        BLOCK + pad512(name_len as u64 + 1)
    } else {
        0
    };
    long + BLOCK + pad512(data_len)
}

/// The size of a whole archive of members `(name_len, data_len)`, end marker included.
pub(crate) fn tar_size(entries: impl IntoIterator<Item = (usize, u64)>) -> u64 {
    1024 + entries
        .into_iter()
        .map(|(n, d)| tar_entry_size(n, d))
        .sum::<u64>()
}

/// Where a member's bytes come from.
#[derive(Clone)]
enum Data {
    /// A file expected to have `len` bytes and to stay unmodified.
    File {
        path: PathBuf,
        modified: Option<SystemTime>,
    },
    /// Bytes in memory (e.g. `notification_config.json`).
    Bytes(Arc<[u8]>),
}

/// One member of a [`TarShard`]: a name and where its bytes come from.
///
/// ```
/// assert!(roboflow_batch::ingest::TarEntry::bytes("../escape.jpg", Vec::new(), 0).is_err());
/// ```
#[derive(Clone)]
pub struct TarEntry {
    name: String,
    len: u64,
    mtime: u64,
    data: Data,
}

impl std::fmt::Debug for TarEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TarEntry");
        d.field("name", &self.name).field("len", &self.len);
        if let Data::File { path, .. } = &self.data {
            d.field("path", path);
        }
        d.finish()
    }
}

impl TarEntry {
    /// A member read from the file at `path`, which must have `len` bytes and, when
    /// `modified` is given, that modification time, while it is read.
    ///
    /// ```
    /// let e = roboflow_batch::ingest::TarEntry::file("a.jpg", "photos/a.jpg", 5, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn file(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        len: u64,
        modified: Option<SystemTime>,
    ) -> Result<TarEntry> {
        let name = name.into();
        check_member_name(&name)?;
        let mtime = modified.map_or(0, unix_secs);
        Ok(TarEntry {
            name,
            len,
            mtime,
            data: Data::File {
                path: path.into(),
                modified,
            },
        })
    }

    /// A member holding `bytes`, with modification time `mtime` (Unix seconds).
    ///
    /// ```
    /// let e = roboflow_batch::ingest::TarEntry::bytes("x.json", b"{}".to_vec(), 0)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>, mtime: u64) -> Result<Self> {
        let name = name.into();
        check_member_name(&name)?;
        let bytes = bytes.into();
        Ok(TarEntry {
            name,
            len: bytes.len() as u64,
            mtime,
            data: Data::Bytes(bytes),
        })
    }

    /// The bytes this member takes in the archive.
    fn archive_size(&self) -> u64 {
        tar_entry_size(self.name.len(), self.len)
    }

    /// The long-name header (if needed) and the member's own header.
    fn headers(&self) -> (Option<[u8; 512]>, [u8; 512]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(self.len);
        h.set_mode(0o644);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        let name = self.name.as_bytes();
        let long = if name.len() > HEADER_NAME_LEN {
            // As tar::Builder does: a `././@LongLink` entry, then the name cut to 100
            // bytes (at a character boundary) in the member's own header.
            let cut = self.name.floor_char_boundary_compat(HEADER_NAME_LEN);
            h.as_old_mut().name[..cut].copy_from_slice(&name[..cut]);
            let mut l = tar::Header::new_gnu();
            let link = b"././@LongLink";
            l.as_old_mut().name[..link.len()].copy_from_slice(link);
            l.set_mode(0o644);
            l.set_uid(0);
            l.set_gid(0);
            l.set_mtime(0);
            l.set_size(name.len() as u64 + 1);
            l.set_entry_type(tar::EntryType::new(b'L'));
            l.set_cksum();
            Some(*l.as_bytes())
        } else {
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            None
        };
        h.set_cksum();
        (long, *h.as_bytes())
    }
}

/// `str::floor_char_boundary` is not stable on the crate's MSRV.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, index: usize) -> usize {
        let mut i = index.min(self.len());
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// A member name must be a plain file name: it can never carry a path, `..`, or bytes a
/// tar header cannot hold.
fn check_member_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::invalid(
            "tar member name",
            format!(
                "must be a plain file name (no path, `..` or control characters), got {name:?}"
            ),
        ));
    }
    Ok(())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A tar archive described by its members and produced on demand by
/// [`reader`](TarShard::reader); cloning it is cheap.
///
/// ```
/// # use roboflow_batch::ingest::{TarEntry, TarShard};
/// let shard = TarShard::new(vec![TarEntry::bytes("a.png", vec![7u8; 10], 0)?]);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TarShard {
    entries: Arc<[TarEntry]>,
    len: u64,
}

impl TarShard {
    /// A shard of `entries`, in this order.
    ///
    /// ```
    /// let shard = roboflow_batch::ingest::TarShard::new(Vec::new());
    /// ```
    pub fn new(entries: Vec<TarEntry>) -> TarShard {
        let len = 1024 + entries.iter().map(TarEntry::archive_size).sum::<u64>();
        TarShard {
            entries: entries.into(),
            len,
        }
    }

    /// The exact length of the archive in bytes.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::TarShard::new(vec![]).len(), 1024); // the end marker
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// A fresh reader of the whole archive; files are opened one at a time as they are
    /// reached. A file found shorter, longer or modified since its [`TarEntry`] was made
    /// makes every later read fail (kind [`io::ErrorKind::InvalidData`]), before the end
    /// marker is produced.
    ///
    /// ```
    /// # use std::io::Read; let shard = roboflow_batch::ingest::TarShard::new(Vec::new());
    /// assert_eq!(std::io::copy(&mut shard.reader(), &mut std::io::sink()).unwrap(), shard.len());
    /// ```
    pub fn reader(&self) -> impl Read + Send + 'static {
        ShardReader {
            entries: self.entries.clone(),
            next: 0,
            blocks: Vec::with_capacity(1536),
            at: 0,
            data: None,
            ended: false,
            failed: None,
        }
    }
}

/// A member's bytes as they are read.
enum Source {
    File(File),
    Memory(io::Cursor<Arc<[u8]>>),
}

/// Reads a [`TarShard`] as tar bytes, with one open file at a time; the blocks around each
/// member's data (headers, long name, padding, the end marker) go through one small buffer.
struct ShardReader {
    entries: Arc<[TarEntry]>,
    /// The next member to start.
    next: usize,
    /// Blocks to send before anything else, from `at`.
    blocks: Vec<u8>,
    at: usize,
    /// The data of member `next - 1` being sent, and how many bytes of it are to come.
    data: Option<(Source, u64)>,
    /// The end marker was queued.
    ended: bool,
    failed: Option<(io::ErrorKind, String)>,
}

impl ShardReader {
    fn fail(&mut self, kind: io::ErrorKind, msg: String) -> io::Error {
        self.failed = Some((kind, msg.clone()));
        io::Error::new(kind, msg)
    }

    /// The member whose data is being sent.
    fn current(&self) -> TarEntry {
        self.entries[self.next - 1].clone()
    }

    fn path(entry: &TarEntry) -> String {
        match &entry.data {
            Data::File { path, .. } => path.display().to_string(),
            Data::Bytes(_) => "member data".into(),
        }
    }

    /// Queues the next member's headers and opens its data, or queues the end marker;
    /// `false` when everything was sent.
    fn start_next(&mut self) -> io::Result<bool> {
        self.blocks.clear();
        self.at = 0;
        let Some(entry) = self.entries.get(self.next).cloned() else {
            if self.ended {
                return Ok(false);
            }
            self.ended = true;
            self.blocks.resize(1024, 0);
            return Ok(true);
        };
        self.next += 1;
        let (long, header) = entry.headers();
        if let Some(long) = long {
            // The name, its NUL and padding, after the long-name header.
            self.blocks.extend_from_slice(&long);
            self.blocks.extend_from_slice(entry.name.as_bytes());
            self.blocks
                .resize(512 + pad512(entry.name.len() as u64 + 1) as usize, 0);
        }
        self.blocks.extend_from_slice(&header);
        if entry.len > 0 {
            let source = match &entry.data {
                Data::Bytes(b) => Source::Memory(io::Cursor::new(b.clone())),
                // Its size and modification time are checked once read (one fstat): a
                // file that shrank ends early, one that grew or changed shows then.
                Data::File { path, .. } => Source::File(File::open(path).map_err(|e| {
                    self.fail(e.kind(), format!("opening {}: {e}", path.display()))
                })?),
            };
            self.data = Some((source, entry.len));
        }
        Ok(true)
    }

    /// Reads member data into `out` (not empty); queues the padding after its last byte.
    fn read_data(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some((mut source, left)) = self.data.take() else {
            return Ok(0);
        };
        let want = (out.len() as u64).min(left) as usize;
        let read = match &mut source {
            Source::File(f) => f.read(&mut out[..want]),
            Source::Memory(c) => c.read(&mut out[..want]),
        };
        let n = match read {
            Ok(0) => {
                let path = Self::path(&self.current());
                let msg = format!("{path} ended {left} bytes early: it shrank during the upload");
                return Err(self.fail(io::ErrorKind::InvalidData, msg));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => {
                let msg = format!("reading {}: {e}", Self::path(&self.current()));
                return Err(self.fail(e.kind(), msg));
            }
        };
        let left = left - n as u64;
        if left > 0 {
            self.data = Some((source, left));
            return Ok(n);
        }
        let entry = self.current();
        if let (Source::File(f), Data::File { path, modified }) = (&source, &entry.data) {
            // A file that grew, shrank or was rewritten shows in its metadata now.
            self.check_unchanged(f, path, entry.len, *modified)?;
        }
        self.blocks.clear();
        self.blocks
            .resize((pad512(entry.len) - entry.len) as usize, 0);
        self.at = 0;
        Ok(n)
    }

    fn check_unchanged(
        &mut self,
        file: &File,
        path: &Path,
        len: u64,
        modified: Option<SystemTime>,
    ) -> io::Result<()> {
        let meta = file.metadata().map_err(|e| {
            let kind = e.kind();
            self.fail(kind, format!("reading metadata of {}: {e}", path.display()))
        })?;
        if meta.len() != len {
            return Err(self.fail(
                io::ErrorKind::InvalidData,
                format!(
                    "{} changed size during the upload ({len} bytes planned, now {})",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        if modified.is_some() && meta.modified().ok() != modified {
            return Err(self.fail(
                io::ErrorKind::InvalidData,
                format!("{} was modified during the upload", path.display()),
            ));
        }
        Ok(())
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        let mut written = 0;
        while written < buf.len() {
            let out = &mut buf[written..];
            if self.at < self.blocks.len() {
                let n = out.len().min(self.blocks.len() - self.at);
                out[..n].copy_from_slice(&self.blocks[self.at..self.at + n]);
                self.at += n;
                written += n;
            } else if self.data.is_some() {
                written += self.read_data(out)?;
            } else if !self.start_next()? {
                break;
            }
        }
        Ok(written)
    }
}
