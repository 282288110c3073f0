//! Safe unpacking of `.tar` and `.tar.gz` archives, into a fresh hidden folder moved into
//! place only once the whole archive has been read, so a refused, truncated or oversized
//! archive leaves nothing behind. Refused: absolute paths, `..`, backslashes, non-UTF-8
//! names, writes through a link, devices and FIFOs, hard links to anything but a file
//! already unpacked, and symbolic links that are absolute or climb (`..`) after a name or
//! out of the folder. Such a link stays inside in any order and across archives: it is
//! resolved from the real folder that holds it (no folder on the way is a link), so its
//! leading `..`s stop inside, and from there it only descends.

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// What one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Its uncompressed size: the tar stream, headers and padding included.
    pub bytes: u64,
    /// Its entries: files, folders, links and the format's extension headers.
    pub entries: u64,
}

impl Default for Limits {
    /// 16 GiB and a million entries: far beyond a job's archives, yet stops a bomb.
    fn default() -> Self {
        Limits {
            bytes: 16 << 30,
            entries: 1_000_000,
        }
    }
}

/// Whether a file name (from the service's metadata) names an archive to unpack.
pub(crate) fn is_archive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// Unpacks `archive` (`name` in errors) into `dest`; returns what it unpacked, sorted.
pub(crate) fn unpack(
    archive: &Path,
    name: &str,
    dest: &Path,
    limits: Limits,
) -> Result<Vec<PathBuf>> {
    let staging = dest.join(format!(".rfbatch-unpack-{}", crate::rand::hex(8)));
    fs::create_dir(&staging)
        .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
    let result = unpack_into(archive, name, &staging, limits).and_then(|mut entries| {
        merge(&staging, dest, name)?;
        entries.sort();
        entries.dedup();
        Ok(entries)
    });
    let _ = fs::remove_dir_all(&staging);
    result
}

fn archive_error(name: &str, entry: Option<&str>, message: impl Into<String>) -> Error {
    let context = entry.map_or(name.to_string(), |e| format!("{name}, entry {e:?}"));
    let message = message.into();
    Error::Archive { context, message }
}

fn open(archive: &Path, name: &str) -> Result<Box<dyn Read>> {
    use std::io::BufRead;
    let file =
        fs::File::open(archive).map_err(|e| Error::io(format!("opening archive {name}"), e))?;
    let mut file = BufReader::new(file);
    let head = file.fill_buf();
    let head = head.map_err(|e| Error::io(format!("reading archive {name}"), e))?;
    // gzip's magic, sniffed, not trusted from the name: a decompressed `.tar.gz` is a tar.
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// Reads the archive into `root`, checking every entry; at most one byte past the limit.
fn unpack_into(archive: &Path, name: &str, root: &Path, limits: Limits) -> Result<Vec<PathBuf>> {
    let capped = open(archive, name)?.take(limits.bytes.saturating_add(1));
    let mut tar = tar::Archive::new(capped);
    let result = read_entries(&mut tar, name, root, limits.entries);
    if tar.into_inner().limit() == 0 {
        let max = limits.bytes;
        let msg = format!(
            "refused: it unpacks to more than {max} bytes, the limit for one archive \
             (Exporter::max_unpacked_bytes; rfbatch --max-unpacked-bytes)"
        );
        return Err(archive_error(name, None, msg));
    }
    result
}

fn read_entries<R: Read>(
    tar: &mut tar::Archive<R>,
    name: &str,
    root: &Path,
    max_entries: u64,
) -> Result<Vec<PathBuf>> {
    let entries = tar
        .entries()
        .map_err(|e| archive_error(name, None, e.to_string()))?;
    let mut out = Vec::new();
    let mut previous: Option<String> = None;
    let mut count = 0u64;
    for entry in entries {
        count += 1;
        if count > max_entries {
            let msg = format!(
                "refused: it holds more than {max_entries} entries, the limit for one \
                 archive (Exporter::max_unpacked_entries; rfbatch --max-unpacked-entries)"
            );
            return Err(archive_error(name, None, msg));
        }
        let mut entry = entry.map_err(|e| {
            let after = previous
                .as_deref()
                .map(|p| format!(" (after entry {p:?})"))
                .unwrap_or_default();
            archive_error(name, None, format!("unreadable{after}: {e}"))
        })?;
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| archive_error(name, None, "an entry name is not UTF-8"))?;
        let err = |m: String| archive_error(name, Some(&raw), m);
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let rel = safe_relative(&raw).map_err(err)?;
        let Some(rel) = rel else { continue }; // `.` or `./`
        let dest = root.join(&rel);
        check_no_links(root, &rel).map_err(err)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                fs::create_dir_all(&dest).map_err(|e| err(format!("cannot create: {e}")))?;
            }
            T::Regular | T::Continuous => {
                make_room(&dest).map_err(err)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(|e| err(format!("cannot create: {e}")))?;
                std::io::copy(&mut entry, &mut f)
                    .map_err(|e| err(format!("cannot read its data (archive cut short?): {e}")))?;
                out.push(rel);
            }
            T::Symlink => {
                let target = link_target(&entry).map_err(err)?;
                check_symlink(&rel, &target).map_err(err)?;
                make_room(&dest).map_err(err)?;
                symlink(&target, &dest).map_err(err)?;
                out.push(rel);
            }
            T::Link => {
                let target = link_target(&entry).map_err(err)?;
                let Some(target_rel) =
                    safe_relative(&target).map_err(|m| err(format!("hard link: {m}")))?
                else {
                    return Err(err("a hard link to `.`".into()));
                };
                check_no_links(root, &target_rel).map_err(err)?;
                let source = root.join(&target_rel);
                if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
                    return Err(err(format!(
                        "hard link to {target:?}, which is not a file unpacked before it"
                    )));
                }
                make_room(&dest).map_err(err)?;
                fs::hard_link(&source, &dest).map_err(|e| err(format!("cannot link: {e}")))?;
                out.push(rel);
            }
            T::Char | T::Block | T::Fifo => {
                return Err(err("device files and FIFOs are refused".into()));
            }
            other => {
                return Err(err(format!("unsupported entry type {other:?}")));
            }
        }
        previous = Some(raw);
    }
    Ok(out)
}

/// A relative path made of normal components, or `None` for `.`; the error says why not.
pub(crate) fn safe_relative(raw: &str) -> std::result::Result<Option<PathBuf>, String> {
    if raw.is_empty() {
        return Err("refused: empty path".into());
    }
    if raw.contains('\\') {
        return Err("refused: backslash in the path".into());
    }
    if raw.starts_with('/') {
        return Err("refused: absolute path".into());
    }
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("refused: the path leaves the folder (`..`)".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("refused: absolute path".into());
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// A symbolic link at `rel` to `target` must climb only first, and never above the folder.
fn check_symlink(rel: &Path, target: &str) -> std::result::Result<(), String> {
    if target.is_empty() || target.starts_with('/') || target.contains('\\') {
        return Err(format!(
            "refused: symbolic link to {target:?} (only relative links inside the folder)"
        ));
    }
    let mut depth: Vec<&std::ffi::OsStr> =
        rel.parent().map(|p| p.iter().collect()).unwrap_or_default();
    let mut descended = false;
    for c in Path::new(target).components() {
        match c {
            Component::Normal(p) => {
                depth.push(p);
                descended = true;
            }
            Component::CurDir => {}
            Component::ParentDir if descended => {
                return Err(format!(
                    "refused: symbolic link to {target:?} climbs (`..`) after a name, \
                     which another link could redirect; only leading `../` are allowed"
                ));
            }
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return Err(format!(
                        "refused: symbolic link to {target:?} points outside the folder"
                    ));
                }
            }
            _ => {
                return Err(format!("refused: symbolic link to {target:?}"));
            }
        }
    }
    Ok(())
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> std::result::Result<String, String> {
    let bytes = entry
        .link_name_bytes()
        .ok_or_else(|| "a link without a target".to_string())?;
    String::from_utf8(bytes.into_owned()).map_err(|_| "a link target that is not UTF-8".into())
}

/// No folder on the way from `root` to `rel` may be a link an earlier entry planted.
fn check_no_links(root: &Path, rel: &Path) -> std::result::Result<(), String> {
    let mut p = root.to_path_buf();
    let parents: Vec<_> = rel.parent().map(|x| x.iter().collect()).unwrap_or_default();
    for part in parents {
        p.push(part);
        let at = p.strip_prefix(root).unwrap_or(&p);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("refused: writes through the symbolic link {at:?}"));
            }
            Ok(m) if !m.is_dir() => return Err(format!("refused: {at:?} is a file, not a folder")),
            _ => {}
        }
    }
    Ok(())
}

/// Creates `p`'s folder and removes a file or link at `p` (the later entry wins).
fn make_room(p: &Path) -> std::result::Result<(), String> {
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create its folder: {e}"))?;
    }
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Err("refused: a folder of the same name was unpacked before".into()),
        Ok(_) => fs::remove_file(p).map_err(|e| format!("cannot replace: {e}")),
        Err(_) => Ok(()),
    }
}

#[cfg(unix)]
fn symlink(target: &str, at: &Path) -> std::result::Result<(), String> {
    std::os::unix::fs::symlink(target, at).map_err(|e| format!("cannot create the link: {e}"))
}

#[cfg(not(unix))]
fn symlink(_target: &str, _at: &Path) -> std::result::Result<(), String> {
    Err("symbolic links are not unpacked on this platform".into())
}

/// Moves everything under `from` into `to`, merging folders, never following a link.
fn merge(from: &Path, to: &Path, name: &str) -> Result<()> {
    let entries = fs::read_dir(from).map_err(|e| Error::io(format!("unpacking {name}"), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("unpacking {name}"), e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let src_is_dir = fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
        let dst_meta = fs::symlink_metadata(&dst).ok();
        let io = |e| Error::io(format!("moving {} into place", dst.display()), e);
        match dst_meta {
            Some(m) if m.is_dir() && src_is_dir => merge(&src, &dst, name)?,
            Some(m) if m.is_dir() => {
                let at = dst.display();
                let msg = format!("{at} is a folder; it would be replaced by a file");
                return Err(archive_error(name, None, msg));
            }
            Some(_) if src_is_dir => {
                fs::remove_file(&dst).map_err(io)?;
                fs::rename(&src, &dst).map_err(io)?;
            }
            _ => fs::rename(&src, &dst).map_err(io)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names() {
        for (n, want) in [
            ("a.tar", true),
            ("a.TAR.GZ", true),
            ("a.tgz", true),
            ("a.jsonl", false),
            ("tar", false),
        ] {
            assert_eq!(is_archive(n), want, "{n}");
        }
    }
}
