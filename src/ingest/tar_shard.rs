//! Tar shards produced on the fly, of known length, byte-identical to `tar::Builder`'s; a
//! file that changes while read fails the reader before the archive is complete.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
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

/// The bytes of the end marker, all an empty archive holds.
pub(crate) const TAR_END: u64 = 1024;

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
    /// A member read from the file at `path`, which must keep `len` bytes (and `modified`).
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::TarEntry::file("a.jpg", "photos/a.jpg", 5, None).is_ok());
    /// ```
    pub fn file(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        len: u64,
        modified: Option<SystemTime>,
    ) -> Result<TarEntry> {
        let name = name.into();
        check_member_name(&name)?;
        let since = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).ok();
        let mtime = modified.and_then(since).map_or(0, |d| d.as_secs());
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
    /// assert!(roboflow_batch::ingest::TarEntry::bytes("x.json", b"{}".to_vec(), 0).is_ok());
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

    /// The member's headers (a `././@LongLink` entry first for a long name), as
    /// `tar::Builder` writes them.
    fn headers(&self) -> io::Result<Vec<u8>> {
        let mut h = tar::Header::new_gnu();
        h.set_size(self.len);
        h.set_mode(0o644);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut h, &self.name, io::empty())?;
        Ok(std::mem::take(b.get_mut()))
    }

    /// The member's bytes: headers, data (a file checked as it ends) and padding.
    fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        let data: Box<dyn Read + Send> = match &self.data {
            Data::Bytes(b) => Box::new(io::Cursor::new(b.clone())),
            _ if self.len == 0 => Box::new(io::empty()),
            Data::File { path, modified } => Box::new(Checked {
                file: File::open(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
                })?,
                path: path.clone(),
                len: self.len,
                left: self.len,
                modified: *modified,
            }),
        };
        let padding = io::repeat(0).take(pad512(self.len) - self.len);
        Ok(Box::new(
            io::Cursor::new(self.headers()?).chain(data).chain(padding),
        ))
    }
}

/// A member name is a plain file name: never a path, `..`, or bytes a header cannot hold.
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

/// A tar archive of members, produced on demand by [`reader`](TarShard::reader).
///
/// ```
/// let shard = roboflow_batch::ingest::TarShard::new(Vec::new());
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
        let sizes = entries.iter().map(|e| tar_entry_size(e.name.len(), e.len));
        let len = TAR_END + sizes.sum::<u64>();
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

    /// A fresh reader of the archive, one file open at a time; a file changed since its
    /// [`TarEntry`] was made fails every later read ([`io::ErrorKind::InvalidData`]).
    ///
    /// ```
    /// # use std::io::Read; let shard = roboflow_batch::ingest::TarShard::new(Vec::new());
    /// assert_eq!(std::io::copy(&mut shard.reader(), &mut std::io::sink()).unwrap(), shard.len());
    /// ```
    pub fn reader(&self) -> impl Read + Send + 'static {
        ShardReader {
            entries: self.entries.clone(),
            next: 0,
            current: None,
            failed: None,
        }
    }
}

/// Reads a [`TarShard`] member after member, with one open file at a time; the first
/// error sticks.
struct ShardReader {
    entries: Arc<[TarEntry]>,
    /// The next member to start (`entries.len()`: the end marker).
    next: usize,
    current: Option<Box<dyn Read + Send>>,
    failed: Option<(io::ErrorKind, String)>,
}

impl ShardReader {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let current = match &mut self.current {
                Some(r) => r,
                None => {
                    let next = match self.entries.get(self.next) {
                        Some(e) => e.reader()?,
                        None if self.next == self.entries.len() => {
                            Box::new(io::repeat(0).take(TAR_END))
                        }
                        None => return Ok(0),
                    };
                    self.next += 1;
                    self.current.insert(next)
                }
            };
            match current.read(buf)? {
                0 if !buf.is_empty() => self.current = None,
                n => return Ok(n),
            }
        }
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        // Fills `buf` across members: a PUT writes what each read returns, so a short read
        // at every small member's boundary would cost a write (and a syscall) each.
        let mut filled = 0;
        while filled < buf.len() {
            match self.read_some(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted && filled > 0 => break,
                Err(e) => {
                    if e.kind() != io::ErrorKind::Interrupted {
                        self.failed = Some((e.kind(), e.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(filled)
    }
}

/// A member's file: `len` bytes, its size and modification time checked (one fstat) once
/// they are read, so a file that shrank ends early and one that grew or changed shows then.
struct Checked {
    file: File,
    path: PathBuf,
    len: u64,
    left: u64,
    modified: Option<SystemTime>,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let path = self.path.display();
        let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
        let n = match self.file.read(&mut buf[..want]) {
            Ok(0) => {
                let left = self.left;
                return Err(bad(format!(
                    "{path} ended {left} bytes early: it shrank during the upload"
                )));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(io::Error::new(e.kind(), format!("reading {path}: {e}"))),
        };
        self.left -= n as u64;
        if self.left == 0 {
            let meta = self.file.metadata().map_err(|e| {
                io::Error::new(e.kind(), format!("reading metadata of {path}: {e}"))
            })?;
            let len = self.len;
            if meta.len() != len {
                let now = meta.len();
                return Err(bad(format!(
                    "{path} changed size during the upload ({len} bytes planned, now {now})"
                )));
            }
            if self.modified.is_some() && meta.modified().ok() != self.modified {
                return Err(bad(format!("{path} was modified during the upload")));
            }
        }
        Ok(n)
    }
}
