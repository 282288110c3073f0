//! Bad and awkward input: the skip list, duplicate base names, long names, extensions,
//! symbolic links, explicit lists.

mod ingest_util;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use ingest_util::*;
use roboflow_batch::ingest::{Ingest, SkipReason, Source};
use roboflow_batch::model::MediaKind;
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

fn png(dir: &Path, name: &str, seed: u64) -> u64 {
    let (bytes, _) = ImageSet::new(1).seed(seed).image(0);
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

/// Sends `source` into a fresh batch of the sandbox (verified); the report and the names
/// the batch lists.
fn names_after(
    api: &roboflow_batch::BatchApi,
    batch: &str,
    source: Source,
) -> (roboflow_batch::ingest::IngestReport, BTreeSet<String>) {
    let report = Ingest::new(api, batch, source)
        .without_journal()
        .verify(quick_verify())
        .mode(roboflow_batch::ingest::UploadMode::Shards)
        .max_file_size(1 << 20)
        .run()
        .unwrap();
    (report, listed_names(api, batch).into_keys().collect())
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
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let (report, names) = names_after(&api, "links", Source::folder(dir.path()).follow_links(true));
    assert_eq!(names, BTreeSet::from(["link.png".to_string()]));
    assert_eq!(
        reasons(&report.skipped),
        [("dangling.png".to_string(), SkipReason::Unreadable)]
    );
}

#[test]
fn duplicate_base_names_in_subfolders_get_distinct_stable_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(d, "x.jpg", 1);
    png(&d.join("cats"), "x.jpg", 2);
    png(&d.join("dogs/2024"), "x.jpg", 3);
    png(&d.join("dogs"), "X.JPG", 4); // differs from dogs/x.jpg only by case
    png(&d.join("dogs"), "x.jpg", 5);
    // A long name (over tar's 100 bytes) travels in a GNU long-name entry.
    let long = format!("{}.png", "long-name-".repeat(15));
    png(&d.join("cats"), &long, 6);
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);

    // Not recursive by default: only the top-level file.
    let (_, flat) = names_after(&api, "flat", Source::folder(d));
    assert_eq!(flat, BTreeSet::from(["x.jpg".to_string()]));

    let (report, names) = names_after(&api, "dupes", Source::folder(d).recursive(true));
    assert_complete(&report, 6);
    assert_eq!(names.len(), 6, "{names:?}");
    for n in ["x.jpg", "cats__x.jpg", "dogs__2024__x.jpg", "dogs__X.JPG"] {
        assert!(names.contains(n), "{n} in {names:?}");
    }
    let hashed: Vec<&String> = names.iter().filter(|n| n.starts_with("dogs__x~")).collect();
    assert_eq!(hashed.len(), 1, "{names:?}");
    assert!(names.contains(&format!("cats__{long}")));
    // Stable: the same tree gives the same names.
    let (_, again) = names_after(&api, "dupes-again", Source::folder(d).recursive(true));
    assert_eq!(again, names);
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
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let (_, names) = names_after(&api, "extensions", Source::folder(d));
    let want = ["a.JPG", "b.Png", "c.jpeg", "d.WEBP", "e.bmp"];
    assert_eq!(names, want.iter().map(|n| n.to_string()).collect());
    let videos = Ingest::new(&api, "videos", Source::folder(d))
        .media(MediaKind::Videos)
        .plan()
        .unwrap();
    assert_eq!(videos.files_found, 1);

    png(&d.join("sub"), "a.JPG", 2);
    let list = Source::files([
        d.join("a.JPG"),
        d.join("sub/a.JPG"),
        d.join("f.txt"),
        d.join("missing.png"),
    ]);
    let (report, names) = names_after(&api, "listed", list);
    let names: Vec<&String> = names.iter().collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "a.JPG");
    assert!(
        names[1].starts_with("a~") && names[1].ends_with(".JPG"),
        "{names:?}"
    );
    assert_eq!(
        reasons(&report.skipped),
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
    let err = Ingest::new(&api, "b", Source::folder("/no/such/folder"))
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/folder"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = Ingest::new(&api, "Not Valid", Source::folder(dir.path()))
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("Not Valid"), "{err}");
    let err = Ingest::new(&api, "b", Source::folder(dir.path()))
        .notifications_url("ftp://x")
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("notificationsURL"), "{err}");
}
