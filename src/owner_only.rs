//! Files (0600) and folders (0700) only their owner may read, on Unix: journals, export
//! logs, the sandbox's data (which holds its URL signing key).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Open options whose `create` makes an owner-only file (an existing file keeps its mode).
pub(crate) fn open_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    o.mode(0o600);
    o
}

/// `path` and its missing parents, each new folder owner-only.
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    #[allow(unused_mut)]
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(path)
}

/// Makes an open file owner-only (for a file created before this rule, or by others).
pub(crate) fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// A new, uniquely named, owner-only temporary folder, removed when dropped.
#[cfg(feature = "sandbox")]
pub(crate) fn temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    b.permissions(std::fs::Permissions::from_mode(0o700));
    b.tempdir()
}

/// The permission bits of `path` (not following a link), for tests.
#[cfg(all(test, unix))]
pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn files_and_folders_are_owner_only_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        create_dir_all(&deep).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        // A new file is owner-only; an existing world-readable one is made so.
        let open = |p: &Path| open_options().write(true).create(true).open(p).unwrap();
        let f = deep.join("f");
        open(&f);
        assert_eq!(mode(&f), 0o600);
        let g = deep.join("g");
        std::fs::write(&g, b"y").unwrap();
        std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&open(&g)).unwrap();
        assert_eq!(mode(&g), 0o600);
    }
}
