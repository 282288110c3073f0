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
/// use roboflow_batch::ingest::TarEntry;
/// let e = TarEntry::bytes("notification_config.json", br#"{"ingestId":"i"}"#.to_vec(), 0)?;
/// assert_eq!(roboflow_batch::ingest::TarShard::new(vec![e]).len(), 1024 + 512 + 512);
/// assert!(TarEntry::bytes("../escape.jpg", Vec::new(), 0).is_err());
/// # Ok::<(), roboflow_batch::Error>(())
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
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.jpg");
    /// # std::fs::write(&path, b"12345")?;
    /// use roboflow_batch::ingest::{TarEntry, TarShard};
    /// let e = TarEntry::file("a.jpg", &path, 5, None)?;
    /// assert_eq!(TarShard::new(vec![e]).len(), 1024 + 512 + 512);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// assert!(format!("{e:?}").contains("x.json"));
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
/// use roboflow_batch::ingest::{TarEntry, TarShard};
/// let shard = TarShard::new(vec![TarEntry::bytes("a.png", vec![7u8; 10], 0)?]);
/// assert_eq!(shard.len(), 512 + 512 + 1024);
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
    /// assert_eq!(shard.len(), 1024); // just the end marker
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
    /// use roboflow_batch::ingest::{TarEntry, TarShard};
    /// let shard = TarShard::new(vec![TarEntry::bytes("x".repeat(150), vec![0; 3], 0)?]);
    /// assert_eq!(shard.len(), 1024 + 512 + 512 + 512 + 512); // a long-name entry first
    /// # Ok::<(), roboflow_batch::Error>(())
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
    /// use std::io::Read;
    /// use roboflow_batch::ingest::{TarEntry, TarShard};
    /// let shard = TarShard::new(vec![TarEntry::bytes("a.png", b"png".to_vec(), 0)?]);
    /// let mut bytes = Vec::new();
    /// shard.reader().read_to_end(&mut bytes).unwrap();
    /// assert_eq!(bytes.len() as u64, shard.len());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn reader(&self) -> impl Read + Send + 'static {
        ShardReader {
            entries: self.entries.clone(),
            index: 0,
            phase: Phase::Start,
            long_header: [0; 512],
            header: [0; 512],
            failed: None,
        }
    }
}

/// Where a [`ShardReader`] is within the archive.
enum Phase {
    /// About to start member `index` (or the trailer after the last).
    Start,
    /// Sending the long-name header or the member header from `offset`.
    Header {
        long: bool,
        offset: usize,
    },
    /// Sending the long name, its NUL and padding, then the member header.
    LongName {
        offset: u64,
    },
    /// Sending member data.
    Data {
        source: Bytes,
        left: u64,
    },
    /// Sending zero padding.
    Pad {
        left: u64,
    },
    /// The end marker.
    Trailer {
        left: u64,
    },
    Done,
}

enum Bytes {
    File(File),
    Memory { bytes: Arc<[u8]>, offset: usize },
}

/// Reads a [`TarShard`] as tar bytes, with one open file at a time and no buffer of its own.
struct ShardReader {
    entries: Arc<[TarEntry]>,
    index: usize,
    phase: Phase,
    /// The current member's headers: the long-name one (if any) and its own.
    long_header: [u8; 512],
    header: [u8; 512],
    failed: Option<(io::ErrorKind, String)>,
}

impl std::fmt::Debug for ShardReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardReader")
            .field("entries", &self.entries.len())
            .field("index", &self.index)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl ShardReader {
    fn fail(&mut self, kind: io::ErrorKind, msg: String) -> io::Error {
        self.failed = Some((kind, msg.clone()));
        self.phase = Phase::Done;
        io::Error::new(kind, msg)
    }

    fn open(&mut self, entry: &TarEntry) -> io::Result<Bytes> {
        match &entry.data {
            Data::Bytes(b) => Ok(Bytes::Memory {
                bytes: b.clone(),
                offset: 0,
            }),
            Data::File { path, .. } => {
                // Its size and modification time are checked once read (one fstat): a
                // file that shrank ends early, one that grew or changed shows then.
                let file = File::open(path).map_err(|e| {
                    let kind = e.kind();
                    self.fail(kind, format!("opening {}: {e}", path.display()))
                })?;
                Ok(Bytes::File(file))
            }
        }
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

    /// Writes as much of the current phase as fits into `buf`; returns the bytes written.
    fn step(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.phase {
            Phase::Start => {
                let Some(entry) = self.entries.get(self.index).cloned() else {
                    self.phase = Phase::Trailer { left: 1024 };
                    return Ok(0);
                };
                let (long, header) = entry.headers();
                self.header = header;
                self.phase = Phase::Header {
                    long: long.is_some(),
                    offset: 0,
                };
                if let Some(l) = long {
                    self.long_header = l;
                }
                Ok(0)
            }
            Phase::Header { long, offset } => {
                let block = if *long {
                    &self.long_header
                } else {
                    &self.header
                };
                let n = buf.len().min(512 - *offset);
                buf[..n].copy_from_slice(&block[*offset..*offset + n]);
                *offset += n;
                if *offset == 512 {
                    self.phase = if *long {
                        Phase::LongName { offset: 0 }
                    } else {
                        self.begin_data()?
                    };
                }
                Ok(n)
            }
            Phase::LongName { offset } => {
                let name = self.entries[self.index].name.as_bytes();
                let total = pad512(name.len() as u64 + 1);
                let n = (buf.len() as u64).min(total - *offset) as usize;
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = name.get(*offset as usize + i).copied().unwrap_or(0);
                }
                *offset += n as u64;
                if *offset == total {
                    self.phase = Phase::Header {
                        long: false,
                        offset: 0,
                    };
                }
                Ok(n)
            }
            Phase::Data { source, left } => {
                let want = (buf.len() as u64).min(*left) as usize;
                let n = match source {
                    Bytes::Memory { bytes, offset } => {
                        let n = want.min(bytes.len() - *offset);
                        buf[..n].copy_from_slice(&bytes[*offset..*offset + n]);
                        *offset += n;
                        n
                    }
                    Bytes::File(f) => loop {
                        match f.read(&mut buf[..want]) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                let msg = format!("reading {}: {e}", self.entry_path());
                                return Err(self.fail(e.kind(), msg));
                            }
                        }
                    },
                };
                if n == 0 && want > 0 {
                    let left = *left;
                    let msg = format!(
                        "{} ended {left} bytes early: it shrank during the upload",
                        self.entry_path()
                    );
                    return Err(self.fail(io::ErrorKind::InvalidData, msg));
                }
                *left -= n as u64;
                if *left == 0 {
                    self.finish_data()?;
                }
                Ok(n)
            }
            Phase::Pad { left } | Phase::Trailer { left } => {
                let n = (buf.len() as u64).min(*left) as usize;
                buf[..n].fill(0);
                *left -= n as u64;
                if *left == 0 {
                    if matches!(self.phase, Phase::Trailer { .. }) {
                        self.phase = Phase::Done;
                    } else {
                        self.index += 1;
                        self.phase = Phase::Start;
                    }
                }
                Ok(n)
            }
            Phase::Done => Ok(0),
        }
    }

    fn entry_path(&self) -> String {
        match self.entries.get(self.index).map(|e| &e.data) {
            Some(Data::File { path, .. }) => path.display().to_string(),
            _ => "member data".into(),
        }
    }

    fn begin_data(&mut self) -> io::Result<Phase> {
        let entry = self.entries[self.index].clone();
        if entry.len == 0 {
            return Ok(self.after_data(&entry));
        }
        let source = self.open(&entry)?;
        Ok(Phase::Data {
            source,
            left: entry.len,
        })
    }

    fn after_data(&self, entry: &TarEntry) -> Phase {
        let pad = pad512(entry.len) - entry.len;
        Phase::Pad { left: pad }
    }

    /// At the end of a file: it must still have its planned size and modification time.
    fn finish_data(&mut self) -> io::Result<()> {
        let entry = self.entries[self.index].clone();
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        if let (
            Phase::Data {
                source: Bytes::File(f),
                ..
            },
            Data::File { path, modified },
        ) = (phase, &entry.data)
        {
            // A file that grew, shrank or was rewritten shows in its metadata now.
            self.check_unchanged(&f, path, entry.len, *modified)?;
        }
        self.phase = self.after_data(&entry);
        Ok(())
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        let mut written = 0;
        while written < buf.len() && !matches!(self.phase, Phase::Done) {
            written += self.step(&mut buf[written..])?;
        }
        Ok(written)
    }
}
