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
        // Chained links (issue 14): `self` makes `self/self/…/..` climb from `a`, not
        // from `a/self/self`, so a text walk of the target is fooled; in either order.
        (
            "chained-self",
            "cs.tar",
            tar_of(&[
                ("a/self", EntryType::Symlink, Some("."), b""),
                (
                    "a/passwd",
                    EntryType::Symlink,
                    Some("self/self/self/../../../../outside.txt"),
                    b"",
                ),
            ]),
            "a/passwd",
            "climbs",
        ),
        (
            "chained-self-later",
            "csl.tar",
            tar_of(&[
                (
                    "a/passwd",
                    EntryType::Symlink,
                    Some("self/self/self/../../../../outside.txt"),
                    b"",
                ),
                ("a/self", EntryType::Symlink, Some("."), b""),
            ]),
            "a/passwd",
            "climbs",
        ),
        (
            "chained-up",
            "cu.tar",
            tar_of(&[
                ("a/l1", EntryType::Symlink, Some(".."), b""),
                ("a/up", EntryType::Symlink, Some("l1/.."), b""),
            ]),
            "a/up",
            "climbs",
        ),
        (
            "hardlink-through-link",
            "htl.tar",
            tar_of(&[
                ("a/x.txt", F, None, b"x"),
                ("a/self", EntryType::Symlink, Some("."), b""),
                ("h", EntryType::Link, Some("a/self/x.txt"), b""),
            ]),
            "h",
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
        ("dot", "."),
        ("slash", "sub/evil.jsonl"),
        ("absolute", "/etc/evil"),
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

/// Every path under `dir`, links included (not followed), relative to it.
fn all_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// No path under `target` reads or lists anything outside it.
fn assert_all_inside(target: &Path) {
    let root = target.canonicalize().unwrap();
    for p in all_paths(target) {
        if let Ok(real) = p.canonicalize() {
            assert!(
                real.starts_with(&root),
                "{} leads to {}",
                p.display(),
                real.display()
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn chained_links_never_lead_out_whatever_their_order_or_archive() {
    let root = tempfile::tempdir().unwrap();
    let secret = root.path().join("outside.txt");
    std::fs::write(&secret, b"the system's secrets").unwrap();
    // From `target/<batch>/archives/a`, four levels up is `root`.
    let passwd = "self/self/self/../../../../outside.txt";
    let link = |p: &'static str, t: &'static str| (p, EntryType::Symlink, Some(t), &b""[..]);
    type Archives = Vec<(&'static str, Vec<u8>)>;
    let batches: Vec<(&str, Archives)> = vec![
        // The issue's archive, whole.
        (
            "issue",
            vec![(
                "x.tar",
                tar_of(&[
                    link("a/self", "."),
                    link("a/passwd", passwd),
                    link("a/l1", ".."),
                    link("a/up", "l1/.."),
                ]),
            )],
        ),
        // The link to climb through arrives in another archive of the same part, before or
        // after the one that climbs (they unpack in parallel).
        (
            "split",
            vec![
                ("one.tar", tar_of(&[link("a/self", ".")])),
                ("two.tar", tar_of(&[link("a/passwd", passwd)])),
            ],
        ),
        (
            "split-up",
            vec![
                ("one.tar", tar_of(&[link("a/up", "l1/..")])),
                ("two.tar", tar_of(&[link("a/l1", "..")])),
            ],
        ),
    ];
    let server = serve(
        batches
            .iter()
            .map(|(b, files)| {
                (
                    b.to_string(),
                    files
                        .iter()
                        .map(|(n, d)| (n.to_string(), d.clone()))
                        .collect(),
                )
            })
            .collect(),
    );
    let client = api(&server);
    for (b, _) in &batches {
        for parallelism in [1, 2] {
            let target = root.path().join(format!("t{parallelism}")).join(b);
            let err = Exporter::new(&client, &target)
                .parallelism(parallelism)
                .batch(b)
                .unwrap_err();
            assert!(err.to_string().contains("climbs"), "{b}: {err}");
            let archives = target.join("archives");
            assert!(
                std::fs::read(archives.join("a/passwd")).is_err(),
                "{b}: a/passwd reads the secret"
            );
            assert!(std::fs::read_dir(archives.join("a/up")).is_err(), "{b}");
            assert_all_inside(&target);
        }
    }
    // A link that climbs first and then descends is fine, and so is a link to a link.
    let good = tar_of(&[
        ("rows/a.json", F, None, b"{}"),
        link("a/self", "."),
        link("a/l1", ".."),
        link("a/rows", "../rows"),
        link("a/latest", "rows/a.json"),
        link("a/via", "l1/rows/a.json"),
    ]);
    let good_server = serve(HashMap::from([(
        "good".to_string(),
        vec![("g.tar".to_string(), good)],
    )]));
    let target = root.path().join("good");
    Exporter::new(&api(&good_server), &target)
        .batch("good")
        .unwrap();
    let archives = target.join("archives");
    for p in [
        "a/latest",
        "a/via",
        "a/self/self/latest",
        "a/l1/a/rows/a.json",
    ] {
        assert_eq!(std::fs::read(archives.join(p)).unwrap(), b"{}", "{p}");
    }
    assert_all_inside(&target);
}

#[test]
fn an_archive_over_the_limits_is_refused_whole() {
    let root = tempfile::tempdir().unwrap();
    // About 1 MiB compressed, 1 GiB unpacked: a tar header claiming 1 GiB of zeros, then
    // the same gzip member of 1 MiB of zeros 1024 times (a `.tar.gz` may hold many).
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros.bin").unwrap();
    h.set_size(1 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let zeros = gzip(&vec![0u8; 1 << 20]);
    let mut bomb = gzip(h.as_bytes());
    for _ in 0..1024 {
        bomb.extend_from_slice(&zeros);
    }
    bomb.extend_from_slice(&gzip(&[0u8; 1024]));
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let many = tar_of(
        &(0..50)
            .map(|i| {
                (
                    &*Box::leak(format!("f{i}.txt").into_boxed_str()),
                    F,
                    None,
                    &b"x"[..],
                )
            })
            .collect::<Vec<_>>(),
    );
    let server = serve(HashMap::from([
        ("bomb".to_string(), vec![("bomb.tar.gz".to_string(), bomb)]),
        ("many".to_string(), vec![("many.tar".to_string(), many)]),
    ]));
    let api = api(&server);
    let target = root.path().join("bomb");
    let err = Exporter::new(&api, &target)
        .max_unpacked_bytes(64 << 20)
        .batch("bomb")
        .unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("bomb.tar.gz") && msg.contains("more than 67108864 bytes"),
        "{msg}"
    );
    let left = tree(&target);
    assert!(
        left.is_empty(),
        "nothing kept, not even a partial file: {left:?}"
    );
    // Entries: 50 against a cap of 20; the same archive under a cap of 50 unpacks.
    let target = root.path().join("many");
    let err = Exporter::new(&api, &target)
        .max_unpacked_entries(20)
        .batch("many")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("many.tar") && msg.contains("more than 20 entries"),
        "{msg}"
    );
    assert!(tree(&target).is_empty(), "{:?}", tree(&target));
    let report = Exporter::new(&api, &target)
        .max_unpacked_entries(50)
        .batch("many")
        .unwrap();
    assert_eq!(report.unpacked, 50);
}

/// The path and link rules entry by entry: `None` unpacks, `Some(why)` is refused saying why.
#[test]
fn entry_path_and_link_rules_table() {
    let file = |p: &'static str| (p, F, None);
    let link = |p: &'static str, to: &'static str| (p, EntryType::Symlink, Some(to));
    type Entry = (&'static str, EntryType, Option<&'static str>);
    let mut cases: Vec<(Entry, Option<&str>)> = vec![
        (file("a.json"), None),
        (file("./a/b.json"), None),
        (file("a//b"), None),
        (file("."), None),
        (file(""), Some("empty")),
        (file("a/../b"), Some("`..`")),
        (file("a\\..\\b"), Some("backslash")),
        (link("link", "../b"), Some("outside")),
        (link("a/link", "../../b"), Some("outside")),
        (link("link", ""), Some("without a target")),
        (link("link", "/etc/passwd"), Some("only relative links")),
        // Climbing after a name: `b` may be (or become) a link.
        (link("a/link", "b/../c"), Some("climbs")),
    ];
    #[cfg(unix)]
    cases.extend([
        (link("a/link", "b"), None),
        (link("a/link", "../b"), None),
        (link("a/b/link", "../../c/./d"), None),
        (link("a/l1", ".."), None),
        (link("a/self", "."), None),
        (link("a/b/link", "./../c"), None),
    ]);
    let mut batches = HashMap::new();
    for (i, ((p, k, l), _)) in cases.iter().enumerate() {
        let data: &[u8] = if l.is_some() { b"" } else { b"x" };
        let tar = tar_of(&[(p, *k, *l, data)]);
        batches.insert(format!("e{i}"), vec![("e.tar".to_string(), tar)]);
    }
    let server = serve(batches);
    let api = api(&server);
    let root = tempfile::tempdir().unwrap();
    for (i, ((p, _, l), want)) in cases.iter().enumerate() {
        let got = Exporter::new(&api, root.path().join(i.to_string())).batch(format!("e{i}"));
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(why)) => assert!(e.to_string().contains(why), "{p} -> {l:?}: {e}"),
            (got, _) => panic!("{p} -> {l:?}: got {got:?}, wanted {want:?}"),
        }
    }
}
