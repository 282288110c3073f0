//! Bad and awkward input: the skip list, duplicate base names, long names, extensions,
//! symbolic links, explicit lists.

mod ingest_util;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use ingest_util::*;
use roboflow_batch::ingest::{Ingest, LocalSource, MediaKind, SkipReason};
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

fn png(dir: &Path, name: &str, seed: u64) -> u64 {
    let bytes = ImageSet::new(1).seed(seed).image(0);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), &bytes).unwrap();
    bytes.len() as u64
}

fn reasons(skipped: &[roboflow_batch::ingest::SkippedFile]) -> Vec<(String, SkipReason)> {
    let mut v: Vec<_> = skipped
        .iter()
        .map(|s| {
            let name = Path::new(&s.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, s.reason)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn bad_files_go_to_the_skip_list_and_the_rest_arrive() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..40 {
        png(d, &format!("good-{i:02}.png"), i);
    }
    std::fs::write(d.join("empty.jpg"), b"").unwrap();
    std::fs::write(d.join("huge.jpg"), vec![0xFFu8; 300_000]).unwrap();
    let bad_name = std::ffi::OsStr::from_bytes(b"bad-\xff\xfe.png");
    std::fs::write(d.join(bad_name), b"\x89PNG....").unwrap();
    std::os::unix::fs::symlink(d.join("good-00.png"), d.join("link.png")).unwrap();
    std::fs::write(d.join("notes.txt"), b"not an image").unwrap();
    std::fs::create_dir(d.join("folder.jpg")).unwrap(); // a folder with an image's name
    let locked = d.join("locked.jpg");
    png(d, "locked.jpg", 99);
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let root = std::fs::File::open(&locked).is_ok(); // root reads anything
    if root {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: running as root, so a mode-000 file is readable; its skip is not checked"
        );
    }

    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let report = ingest(&api, "bad-input", d, journal.path())
        .max_file_size(200_000)
        .run()
        .unwrap();

    let mut want = vec![
        ("bad-\u{fffd}\u{fffd}.png".to_string(), SkipReason::NotUtf8),
        ("empty.jpg".into(), SkipReason::Empty),
        ("huge.jpg".into(), SkipReason::TooLarge),
        ("link.png".into(), SkipReason::Symlink),
    ];
    if !root {
        want.push(("locked.jpg".into(), SkipReason::Unreadable));
        want.sort();
    }
    assert_eq!(reasons(&report.skipped), want);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.detail.contains("300000 bytes, limit 200000"))
    );
    let n = 40 + u64::from(root);
    assert_eq!(report.files_uploaded, n);
    assert_complete(&report, n);
    let listed = listed_names(&api, "bad-input");
    assert!(
        listed
            .keys()
            .all(|k| k.starts_with("good-") || k == "locked.jpg"),
        "{listed:?}"
    );
}

#[test]
fn followed_links_are_taken_and_dangling_ones_are_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    png(outside.path(), "real.png", 1);
    std::os::unix::fs::symlink(outside.path().join("real.png"), dir.path().join("link.png"))
        .unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("dangling.png"))
        .unwrap();
    let found = LocalSource::dir(dir.path())
        .follow_links(true)
        .discover(MediaKind::Images, 1 << 20)
        .unwrap();
    assert_eq!(found.files.len(), 1);
    assert_eq!(found.files[0].name, "link.png");
    assert_eq!(
        reasons(&found.skipped),
        [("dangling.png".to_string(), SkipReason::Unreadable)]
    );
}

#[test]
fn duplicate_base_names_in_subfolders_get_distinct_stable_names() {
    let dir = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(d, "x.jpg", 1);
    png(&d.join("cats"), "x.jpg", 2);
    png(&d.join("dogs/2024"), "x.jpg", 3);
    png(&d.join("dogs"), "X.JPG", 4); // differs from dogs/x.jpg only by case
    png(&d.join("dogs"), "x.jpg", 5);
    // A long name (over tar's 100 bytes) travels in a GNU long-name entry.
    let long = format!("{}.png", "long-name-".repeat(15));
    png(&d.join("cats"), &long, 6);

    // Not recursive by default: only the top-level file.
    let flat = LocalSource::dir(d)
        .discover(MediaKind::Images, 1 << 20)
        .unwrap();
    assert_eq!(
        flat.files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["x.jpg"]
    );

    let source = LocalSource::dir(d).recursive(true);
    let found = source.discover(MediaKind::Images, 1 << 20).unwrap();
    let names: Vec<&str> = found.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 6);
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 6, "{names:?}");
    assert!(
        names.contains(&"x.jpg")
            && names.contains(&"cats__x.jpg")
            && names.contains(&"dogs__2024__x.jpg")
    );
    assert!(names.contains(&"dogs__X.JPG"), "{names:?}");
    let hashed: Vec<&&str> = names.iter().filter(|n| n.starts_with("dogs__x~")).collect();
    assert_eq!(hashed.len(), 1, "{names:?}");
    assert!(names.contains(&format!("cats__{long}").as_str()));
    // Stable: the same tree gives the same names.
    let again = source.discover(MediaKind::Images, 1 << 20).unwrap();
    assert_eq!(again.files, found.files);

    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let report = Ingest::images(&api, "dupes", source)
        .journal_dir(journal.path())
        .verify(quick_verify())
        .mode(roboflow_batch::ingest::UploadMode::Shards)
        .run()
        .unwrap();
    assert_complete(&report, 6);
    let listed: BTreeSet<String> = listed_names(&api, "dupes").into_keys().collect();
    assert_eq!(listed, names.iter().map(|n| n.to_string()).collect());
}

#[test]
fn extensions_match_in_any_case_and_a_list_is_taken_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in [
        "a.JPG", "b.Png", "c.jpeg", "d.WEBP", "e.bmp", "f.txt", "g.mp4", "h",
    ] {
        png(d, name, 1);
    }
    let found = LocalSource::dir(d)
        .discover(MediaKind::Images, 1 << 20)
        .unwrap();
    let names: Vec<&str> = found.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.JPG", "b.Png", "c.jpeg", "d.WEBP", "e.bmp"]); // sorted
    let videos = LocalSource::dir(d)
        .discover(MediaKind::Videos, u64::MAX)
        .unwrap();
    assert_eq!(videos.files.len(), 1);

    png(&d.join("sub"), "a.JPG", 2);
    let list = LocalSource::files([
        d.join("a.JPG"),
        d.join("sub/a.JPG"),
        d.join("f.txt"),
        d.join("missing.png"),
    ]);
    let found = list.discover(MediaKind::Images, 1 << 20).unwrap();
    assert_eq!(found.files.len(), 2);
    assert_eq!(found.files[0].name, "a.JPG");
    assert!(found.files[1].name.starts_with("a~") && found.files[1].name.ends_with(".JPG"));
    assert_eq!(
        reasons(&found.skipped),
        [
            ("f.txt".to_string(), SkipReason::Unsupported),
            ("missing.png".to_string(), SkipReason::Unreadable)
        ]
    );
}

#[test]
fn a_missing_folder_or_a_bad_batch_id_is_a_clear_error() {
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let err = Ingest::images(&api, "b", LocalSource::dir("/no/such/folder"))
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/folder"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = Ingest::images(&api, "Not Valid", LocalSource::dir(dir.path()))
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("Not Valid"), "{err}");
    let err = Ingest::images(&api, "b", LocalSource::dir(dir.path()))
        .notifications_url("ftp://x")
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("notificationsURL"), "{err}");
}
