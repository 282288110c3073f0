//! The streaming shard against `tar::Builder`, and files that change.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use roboflow_batch::ingest::{TarEntry, TarShard};

/// What `tar::Builder` writes for the same members.
fn reference(entries: &[(String, Vec<u8>, u64)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mtime) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(*mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn read_all(mut r: impl Read, chunk: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn byte_identical_to_tar_builder_for_files_and_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 7u64;
    let mut next_byte = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u8
    };
    let mut specs = Vec::new();
    // Name lengths around the 100-byte header limit and far beyond, some with
    // multi-byte characters straddling byte 100; sizes around block edges.
    let lens = [1usize, 10, 99, 100, 101, 150, 255, 300, 511, 512, 600];
    let sizes = [1u64, 2, 511, 512, 513, 1024, 4097, 70_000];
    for (i, &len) in lens.iter().enumerate() {
        for (j, &size) in sizes.iter().enumerate().filter(|(j, _)| (i + j) % 3 == 0) {
            let stem: String = if i % 2 == 0 {
                "é".repeat(len / 2) // two bytes each: byte 100 may split one
            } else {
                "x".repeat(len)
            };
            let name = format!("{stem}{i}-{j}.jpg");
            let data: Vec<u8> = (0..size).map(|_| next_byte()).collect();
            specs.push((name, data, 1_700_000_000 + i as u64));
        }
    }
    let mut entries = Vec::new();
    for (k, (name, data, mtime)) in specs.iter().enumerate() {
        let path = dir.path().join(format!("f{k}"));
        std::fs::write(&path, data).unwrap();
        // The header's mtime is the file's.
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(*mtime);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(modified).unwrap();
        let e = TarEntry::file(name.clone(), &path, data.len() as u64, Some(modified)).unwrap();
        entries.push(e);
    }
    let want = reference(&specs);
    let shard = TarShard::new(entries);
    assert_eq!(shard.len(), want.len() as u64, "size formula");
    for chunk in [1, 7, 512, 4096, 128 * 1024] {
        let got = read_all(shard.reader(), chunk).unwrap();
        assert!(got == want, "bytes differ when read {chunk} at a time");
    }
    // And it reads back, with full names.
    let mut archive = tar::Archive::new(&want[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, specs.iter().map(|s| s.0.clone()).collect::<Vec<_>>());
}

#[test]
fn in_memory_members_match_too() {
    let specs = vec![
        ("a.png".to_string(), vec![1u8; 600], 0),
        (
            "notification_config.json".to_string(),
            br#"{"ingestId":"x"}"#.to_vec(),
            0,
        ),
    ];
    let entries = specs
        .iter()
        .map(|(n, d, m)| TarEntry::bytes(n.clone(), d.clone(), *m).unwrap())
        .collect();
    let got = read_all(TarShard::new(entries).reader(), 100).unwrap();
    assert_eq!(got, reference(&specs));
}

fn one_file_shard(data: &[u8]) -> (tempfile::TempDir, PathBuf, TarShard) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jpg");
    std::fs::write(&path, data).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().ok();
    let e = TarEntry::file("a.jpg", &path, data.len() as u64, modified).unwrap();
    let ok = TarEntry::bytes("b.jpg", vec![5u8; 10], 0).unwrap();
    (dir, path, TarShard::new(vec![e, ok]))
}

#[test]
fn a_file_that_changes_size_fails_the_shard_before_it_is_complete() {
    for (what, new) in [("shrank", vec![1u8; 500]), ("grew", vec![1u8; 1500])] {
        let (_dir, path, shard) = one_file_shard(&[1u8; 1000]);
        let mut r = shard.reader();
        let mut buf = [0u8; 700];
        r.read_exact(&mut buf).unwrap(); // the header and the start of the data
        std::fs::write(&path, &new).unwrap();
        let mut rest = Vec::new();
        let err = r.read_to_end(&mut rest).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}: {err}");
        assert!(err.to_string().contains("a.jpg"), "{err}");
        // Never the full length: the PUT is cut short and nothing corrupt is accepted.
        assert!(700 + (rest.len() as u64) < shard.len(), "{what}");
        // The failure sticks.
        assert!(r.read(&mut buf).is_err());
    }
}

#[test]
fn a_file_changed_before_its_turn_fails_too() {
    let (_dir, path, shard) = one_file_shard(&[1u8; 1000]);
    std::fs::write(&path, [2u8; 999]).unwrap();
    let err = read_all(shard.reader(), 4096).unwrap_err();
    assert!(err.to_string().contains("shrank"), "{err}");
    std::fs::write(&path, [2u8; 1001]).unwrap();
    let err = read_all(shard.reader(), 4096).unwrap_err();
    assert!(err.to_string().contains("changed size"), "{err}");
    // Same size, rewritten: the modification time tells.
    std::fs::write(&path, [3u8; 1000]).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
        .unwrap();
    let err = read_all(shard.reader(), 4096).unwrap_err();
    assert!(err.to_string().contains("modified"), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = read_all(shard.reader(), 4096).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

#[test]
fn member_names_cannot_escape() {
    for bad in [
        "",
        ".",
        "..",
        "a/b.jpg",
        "/abs.jpg",
        "a\\b.jpg",
        "nul\0.jpg",
        "tab\t.jpg",
    ] {
        assert!(TarEntry::bytes(bad, vec![1], 0).is_err(), "{bad:?}");
    }
    assert!(TarEntry::bytes("..a.jpg", vec![1], 0).is_ok());
}

#[test]
fn a_read_fills_the_buffer_across_small_members() {
    // A PUT writes what each read returns: short reads at member boundaries would cost a
    // write per header, member and padding (a 40% slower upload of 200,000 tiny files).
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<TarEntry> = (0..20)
        .map(|i| {
            let path = dir.path().join(format!("{i}.jpg"));
            std::fs::write(&path, vec![i as u8; 100 + i]).unwrap();
            TarEntry::file(format!("{i}.jpg"), path, 100 + i as u64, None).unwrap()
        })
        .collect();
    let shard = TarShard::new(entries);
    let mut reader = shard.reader();
    let mut buf = vec![0u8; 1 << 20];
    assert_eq!(reader.read(&mut buf).unwrap() as u64, shard.len());
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
}
