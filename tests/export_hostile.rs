//! Hostile archives and file names served by a small test server: each is refused with an
//! error naming the archive and the entry, and nothing is written outside the target (nor,
//! from a refused archive, inside it).

mod common;
mod jobs_common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use common::server::{Response, TestServer};

use jobs_common::tree;
use roboflow_batch::export::Exporter;
use roboflow_batch::{BatchApi, Error};
use tar::EntryType;

/// A fake service: `GET …/batches/{b}`, `/parts`, `/list` and `/dl/{b}/{n}`; each batch is a
/// multipart batch with one part, `archives`, holding the given files.
fn serve(batches: HashMap<String, Vec<(String, Vec<u8>)>>) -> TestServer {
    // The listing's download URLs name the server, known once it listens.
    let base = Arc::new(OnceLock::<String>::new());
    let b2 = base.clone();
    let server = TestServer::start(move |req| {
        let b2 = b2.get().expect("the base is set before any request");
        let path = req.path();
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let json = |s: String| Response::json(200, s);
        match segs.as_slice() {
            ["data-staging", "v1", "external", "ws", "batches", b] if batches.contains_key(*b) => json(format!(
                r#"{{"batch":{{"displayName":"{b}","batchId":"{b}","batchType":"multipart-batch","batchContentType":"archives",
                   "createdDate":"2025-05-01T10:00:00Z","expiryDate":"2025-05-08T10:00:00Z"}}}}"#
            )),
            ["data-staging", "v1", "external", "ws", "batches", _, "parts"] => json(
                r#"{"batchParts":[{"partName":"archives","partType":"simple-batch","contentType":"archives"}]}"#.into(),
            ),
            ["data-staging", "v1", "external", "ws", "batches", b, "list"] => {
                let files: Vec<String> = batches[*b]
                    .iter()
                    .map(|(n, _)| {
                        format!(
                            r#"{{"downloadURL":"{b2}/dl/{b}/{}?sig=abc","fileName":{n:?},"contentType":"archive","partName":"archives"}}"#,
                            n.replace('/', "%2F").replace('\\', "%5C")
                        )
                    })
                    .collect();
                json(format!(r#"{{"filesMetadata":[{}],"nextPageToken":null}}"#, files.join(",")))
            }
            ["dl", b, n] => {
                let name = n.replace("%2F", "/").replace("%5C", "\\");
                match batches.get(*b).and_then(|fs| fs.iter().find(|(f, _)| *f == name)) {
                    Some((_, bytes)) => Response::status(200).body(bytes.clone()),
                    None => Response::json(404, r#"{"error":"no such file"}"#),
                }
            }
            _ => Response::json(404, format!(r#"{{"error":"no route {path}"}}"#)),
        }
    });
    base.set(server.base.clone()).unwrap();
    server
}

fn api(server: &TestServer) -> BatchApi {
    BatchApi::builder()
        .base_url(&server.base)
        .api_key("hostile-test-key")
        .workspace("ws")
        .retry_policy(jobs_common::quick_retries())
        .build()
        .unwrap()
}

/// An entry written with raw header bytes, so that the tar crate's own path checks do not
/// stop us from building what an attacker would.
fn raw(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn tar_of(entries: &[(&str, EntryType, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, k, l, d) in entries {
        raw(&mut b, p, *k, *l, d);
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

const F: EntryType = EntryType::Regular;

#[test]
fn hostile_archives_are_refused_naming_archive_and_entry() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside.txt");
    let abs = root.path().join("abs-evil.txt");
    let abs = abs.to_str().unwrap();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let full_gz = gzip(&tar_of(&[
        ("a.json", F, None, b"{}"),
        ("big.bin", F, None, &big),
    ]));
    let cases: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        // (batch, archive name, bytes, entry named in the error, reason)
        (
            "traversal",
            "t.tar",
            tar_of(&[
                ("ok.txt", F, None, b"fine"),
                ("../outside.txt", F, None, b"evil"),
            ]),
            "../outside.txt",
            "`..`",
        ),
        (
            "deep-traversal",
            "d.tar",
            tar_of(&[("a/b/../../../outside.txt", F, None, b"evil")]),
            "a/b/../../../outside.txt",
            "`..`",
        ),
        (
            "absolute",
            "a.tar",
            tar_of(&[(abs, F, None, b"evil")]),
            abs,
            "absolute path",
        ),
        (
            "symlink-out",
            "s.tar",
            tar_of(&[
                ("link", EntryType::Symlink, Some("../.."), b""),
                ("link/outside.txt", F, None, b"evil"),
            ]),
            "link",
            "points outside",
        ),
        (
            "symlink-abs",
            "sa.tar",
            tar_of(&[("etc", EntryType::Symlink, Some("/etc"), b"")]),
            "etc",
            "only relative links",
        ),
        (
            "through-link",
            "tl.tar",
            tar_of(&[
                ("sub/x", F, None, b"x"),
                ("d", EntryType::Symlink, Some("sub"), b""),
                ("d/y.txt", F, None, b"y"),
            ]),
            "d/y.txt",
            "through the symbolic link",
        ),
        (
            "hardlink-out",
            "h.tar",
            tar_of(&[("h", EntryType::Link, Some("../outside.txt"), b"")]),
            "h",
            "`..`",
        ),
        (
            "hardlink-missing",
            "hm.tar",
            tar_of(&[("h", EntryType::Link, Some("nothing-here"), b"")]),
            "h",
            "not a file unpacked before",
        ),
        (
            "device",
            "dev.tar",
            tar_of(&[("null", EntryType::Char, None, b"")]),
            "null",
            "device files",
        ),
        (
            "fifo",
            "fifo.tar",
            tar_of(&[("pipe", EntryType::Fifo, None, b"")]),
            "pipe",
            "FIFOs",
        ),
        (
            "truncated-gzip",
            "r.tar.gz",
            full_gz[..full_gz.len() / 2].to_vec(),
            "big.bin",
            "cut short",
        ),
    ];
    let mut batches = HashMap::new();
    for (b, name, bytes, _, _) in &cases {
        batches.insert(b.to_string(), vec![(name.to_string(), bytes.clone())]);
    }
    let server = serve(batches);
    let api = api(&server);
    for (b, name, _, entry, why) in &cases {
        let target = root.path().join("target").join(b);
        let err = Exporter::new(&api, &target)
            .parallelism(1)
            .batch(b)
            .unwrap_err();
        assert!(matches!(err, Error::Archive { .. }), "{b}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(name) && msg.contains(&format!("{entry:?}")) && msg.contains(why),
            "{b}: {msg}"
        );
        assert!(
            !msg.contains("hostile-test-key") && !msg.contains("sig=abc"),
            "{b}: {msg}"
        );
        let files = tree(&target);
        assert!(
            files.is_empty(),
            "{b}: nothing from a refused archive is kept: {files:?}"
        );
    }
    assert!(!outside.exists() && !Path::new(abs).exists());
    let everything = tree(root.path());
    assert!(
        everything.iter().all(|f| f.starts_with("target/")),
        "{everything:?}"
    );
    #[cfg(unix)]
    assert!(
        !root
            .path()
            .join("target/symlink-out/archives/link")
            .exists()
    );
}

#[test]
fn file_names_that_are_not_plain_names_are_refused_before_downloading() {
    let root = tempfile::tempdir().unwrap();
    for (b, name) in [
        ("dots", ".."),
        ("slash", "sub/evil.jsonl"),
        ("backslash", "..\\evil.jsonl"),
    ] {
        let server = serve(HashMap::from([(
            b.to_string(),
            vec![(name.to_string(), b"x".to_vec())],
        )]));
        let target = root.path().join("target");
        let err = Exporter::new(&api(&server), &target).batch(b).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "fileName"),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("not a plain file name"), "{err}");
        assert!(tree(root.path()).is_empty(), "{:?}", tree(root.path()));
    }
}

#[test]
fn a_benign_archive_with_folders_and_inner_links_unpacks() {
    let root = tempfile::tempdir().unwrap();
    let tgz = gzip(&tar_of(&[
        ("./", EntryType::Directory, None, b""),
        ("rows/", EntryType::Directory, None, b""),
        ("rows/a.json", F, None, br#"{"a":1}"#),
        ("rows/b.json", F, None, br#"{"b":2}"#),
        ("latest", EntryType::Symlink, Some("rows/b.json"), b""),
        ("copy.json", EntryType::Link, Some("rows/a.json"), b""),
    ]));
    let plain = tar_of(&[("c.json", F, None, b"{}")]);
    let server = serve(HashMap::from([(
        "good".to_string(),
        vec![
            ("one.tar.gz".to_string(), tgz),
            ("two.tar".to_string(), plain),
        ],
    )]));
    let target = root.path().join("target");
    let report = Exporter::new(&api(&server), &target).batch("good").unwrap();
    assert_eq!((report.downloaded, report.unpacked), (2, 5));
    assert_eq!(
        std::fs::read(target.join("archives/rows/a.json")).unwrap(),
        br#"{"a":1}"#
    );
    assert_eq!(
        std::fs::read(target.join("archives/copy.json")).unwrap(),
        br#"{"a":1}"#
    );
    assert!(target.join("archives/c.json").exists());
    #[cfg(unix)]
    assert_eq!(
        std::fs::read(target.join("archives/latest")).unwrap(),
        br#"{"b":2}"#
    );
    let files = tree(&target);
    assert!(
        !files.iter().any(|f| f.ends_with(".tar")
            || f.ends_with(".tar.gz")
            || f.contains(".rfbatch-dl")
            || f.contains(".rfbatch-unpack")),
        "{files:?}"
    );
    // Run again: nothing downloaded.
    let again = Exporter::new(&api(&server), &target).batch("good").unwrap();
    assert_eq!((again.downloaded, again.skipped), (0, 2));
}
