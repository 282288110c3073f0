#![cfg(feature = "sandbox")]
//! References ingests: the sandbox fetches each referenced URL from a file server the test
//! starts, indexes what it gets, and reports what it cannot get.

mod common;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::io::Write as _;
use std::time::Duration;

use common::sandbox::*;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig, StoreMode};
use serde_json::{Value, json};

fn sandbox(config: SandboxConfig) -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config.data_dir(dir.path())).unwrap();
    (dir, sb)
}

fn ingest(sb: &Sandbox, batch: &str, kind: &str, body: &Value) -> Raw {
    let url = api_url(
        sb,
        &format!(
            "data-staging/v1/external/{}/batches/{batch}/bulk-upload/{kind}-references",
            sb.workspace()
        ),
    );
    http(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

/// The batch's shards, once every one of them is settled.
fn settled_shards(sb: &Sandbox, batch: &str) -> Vec<Value> {
    let url = api_url(
        sb,
        &format!(
            "data-staging/v1/external/{}/batches/{batch}/shards",
            sb.workspace()
        ),
    );
    let mut shards = Vec::new();
    wait_until(&format!("the shards of {batch} to settle"), 30, || {
        shards = http("GET", &url, &[], None).json()["shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        !shards.is_empty() && shards.iter().all(|s| s["statusType"] != "info")
    });
    shards
}

fn next_hook(hooks: &common::server::TestServer) -> Value {
    hooks
        .next(Duration::from_secs(20))
        .expect("a webhook")
        .json()
}

#[test]
fn each_reference_is_fetched_indexed_or_reported() {
    let png_a = png(3, 4);
    let files = FileServer::loopback(vec![
        ("/a.png", Served::ok("image/png", png_a.clone())),
        ("/b.png", Served::ok("application/octet-stream", png(5, 6))),
        ("/expired.png", Served::status(403)),
        (
            "/page.png",
            Served::ok("text/html", b"<html>sign in</html>".to_vec()),
        ),
        (
            "/big.png",
            Served::ok("image/png", [png(1, 1), vec![0u8; 5000]].concat()),
        ),
    ]);
    let (hook, hooks) = webhook_receiver();
    let (_dir, sb) = sandbox(SandboxConfig::default().max_image_size(4096));
    // As the official client sends it (notes §2.2), with a URL per case.
    let body = json!({
        "imageReferences": [
            {"name": "a.png", "url": files.url("/a.png")},
            {"name": "b.png", "url": files.url("/b.png")},
            {"name": "missing.png", "url": files.url("/missing.png")},
            {"name": "expired.png", "url": files.url("/expired.png")},
            {"name": "page.png", "url": files.url("/page.png")},
            {"name": "big.png", "url": files.url("/big.png")},
            {"name": "far.png", "url": "http://192.0.2.1:9/far.png?X-Amz-Signature=s3cret"},
        ],
        "ingestId": "refs-1",
        "notificationsURL": hook,
        "notificationCategories": ["ingest-status", "files-status"],
    });
    let r = ingest(&sb, "refs", "image", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ingestId"], "refs-1");
    assert_eq!(r.json()["duplicated"], false);
    let shards = settled_shards(&sb, "refs");
    assert_eq!(shards.len(), 1);
    let s = &shards[0];
    assert_eq!(
        (s["statusType"].as_str(), s["shardObjectsCount"].as_u64()),
        (Some("success"), Some(2)),
        "{s}"
    );
    let failed = s["statusMetadata"]["failedFiles"]
        .as_array()
        .unwrap()
        .clone();
    let by_name = |n: &str| {
        failed
            .iter()
            .find(|f| f["fileName"] == n)
            .unwrap_or_else(|| panic!("{n} is reported: {failed:?}"))
            .clone()
    };
    assert_eq!(failed.len(), 5, "{failed:?}");
    assert!(
        by_name("missing.png")["reason"]
            .as_str()
            .unwrap()
            .contains("404")
    );
    let expired = by_name("expired.png");
    assert!(
        expired["reason"].as_str().unwrap().contains("403"),
        "{expired}"
    );
    assert!(
        expired["reason"].as_str().unwrap().contains("signature"),
        "{expired}"
    );
    assert_eq!(by_name("page.png")["type"], "unsupported-file-type");
    assert!(
        by_name("page.png")["reason"]
            .as_str()
            .unwrap()
            .contains("text/html")
    );
    assert_eq!(by_name("big.png")["type"], "file-size-limit-exceeded");
    assert_eq!(by_name("far.png")["type"], "unsafe-url-detected");
    assert!(
        by_name("far.png")["reason"]
            .as_str()
            .unwrap()
            .contains("--fetch-allow")
    );
    assert!(
        !s.to_string().contains("s3cret"),
        "no signature in the status: {s}"
    );
    // Counted once each, listed, and downloadable byte for byte.
    let counts = sb.ingest_counts("refs");
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("a.png".into(), 1), ("b.png".into(), 1)]
    );
    let api = client(&sb);
    let f = api
        .files("refs", None, None)
        .map(Result::unwrap)
        .find(|f| f.file_name == "a.png")
        .unwrap();
    assert_eq!(http("GET", &f.download_url, &[], None).body, png_a);
    // Webhooks: files-status for the shard, then ingest-status.
    let mut got = [next_hook(&hooks), next_hook(&hooks)];
    got.sort_by_key(|h| h["notification"]["type"].as_str().unwrap_or("").to_string());
    let (files_status, ingest_status) = (&got[0], &got[1]);
    assert_eq!(
        files_status["notification"]["type"],
        "ingest-files-status-notification-v1"
    );
    assert_eq!(files_status["ingest_id"], "refs-1");
    let mut ingested: Vec<&str> = files_status["notification"]["ingested_files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ingested.sort();
    assert_eq!(ingested, ["a.png", "b.png"]);
    assert_eq!(
        files_status["notification"]["failed_files"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(files_status["notification"]["success"], false);
    let failed = &files_status["notification"]["failed_files"][0];
    assert!(
        failed["type"].is_string() && failed["file_name"].is_string(),
        "{failed}"
    );
    assert_eq!(files_status["delivery_attempt"], 1);
    assert_eq!(
        ingest_status["notification"]["type"],
        "ingest-status-notification-v1"
    );
    assert_eq!(ingest_status["notification"]["success"], true);
    // The same ingest id again: duplicated, and nothing is fetched.
    let before = files.total_hits();
    let again = ingest(&sb, "refs", "image", &body);
    assert_eq!(again.json()["duplicated"], true, "{}", again.text());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(files.total_hits(), before);
    assert_eq!(sb.ingest_counts("refs")["a.png"], 1);
}

#[test]
fn a_jsonl_list_of_references_is_fetched_too() {
    let lines: String = (0..6)
        .map(|i| format!("{{\"name\": \"img-{i}.png\", \"url\": \"/img-{i}.png\"}}\n"))
        .collect();
    // The list's URLs need the server's address, known once it runs: serve a second list.
    let images: Vec<(String, Served)> = (0..6)
        .map(|i| {
            (
                format!("/img-{i}.png"),
                Served::ok("image/png", png(i + 1, 2)),
            )
        })
        .collect();
    let first = FileServer::loopback(
        images
            .iter()
            .map(|(p, s)| (p.as_str(), s.clone()))
            .collect(),
    );
    let list = lines.replace("\"url\": \"/", &format!("\"url\": \"{}/", first.base));
    let lists = FileServer::loopback(vec![
        (
            "/refs.jsonl",
            Served::ok("application/x-ndjson", list.into_bytes()),
        ),
        (
            "/bad.jsonl",
            Served::ok(
                "application/x-ndjson",
                b"{\"name\": \"x.png\"}\n\n".to_vec(),
            ),
        ),
    ]);
    let (_dir, sb) = sandbox(SandboxConfig::default().store(StoreMode::Discard));
    let r = ingest(
        &sb,
        "listed",
        "image",
        &json!({"imageReferencesURL": lists.url("/refs.jsonl")}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let shards = settled_shards(&sb, "listed");
    assert_eq!(shards[0]["shardObjectsCount"], 6, "{:?}", shards[0]);
    assert_eq!(sb.ingest_counts("listed").len(), 6);
    assert!(sb.ingest_counts("listed").values().all(|&n| n == 1));
    assert_eq!(lists.hits("/refs.jsonl"), 1);
    for i in 0..6 {
        assert_eq!(
            first.hits(&format!("/img-{i}.png")),
            1,
            "each file fetched once"
        );
    }
    // A list that is missing, and one whose only line is unusable: the shard fails.
    for (batch, path, want) in [
        ("nolist", "/none.jsonl", "404"),
        ("badlist", "/bad.jsonl", "x.png"),
    ] {
        let r = ingest(
            &sb,
            batch,
            "image",
            &json!({"imageReferencesURL": lists.url(path)}),
        );
        assert_eq!(r.status, 200);
        let s = &settled_shards(&sb, batch)[0];
        assert_eq!(s["statusType"], "error", "{s}");
        let reason = s["statusMetadata"]["reason"].as_str().unwrap_or("");
        assert!(reason.contains(want), "{batch}: {s}");
        assert!(!s.to_string().contains("s3cret"), "{s}");
    }
}

#[test]
fn video_references_are_fetched() {
    let mp4 = [b"\0\0\0\x18ftypmp42".to_vec(), vec![7u8; 3000]].concat();
    // Recognised by their first bytes, whatever their Content-Type says.
    let bytes = "application/octet-stream";
    let (mkv, avi) = (
        vec![0x1A, 0x45, 0xDF, 0xA3, 1],
        b"RIFF\0\0\0\0AVI LIST".to_vec(),
    );
    let files = FileServer::loopback(vec![
        ("/clip.mp4", Served::ok("video/mp4", mp4.clone())),
        ("/a.mkv", Served::ok(bytes, mkv)),
        ("/b.avi", Served::ok(bytes, avi)),
        ("/empty.mp4", Served::ok(bytes, Vec::new())),
        (
            "/page.mp4",
            Served::ok("text/html", b"<html></html>".to_vec()),
        ),
    ]);
    let (_dir, sb) = sandbox(SandboxConfig::default());
    let body = json!({"videoReferences": [
        {"name": "clip.mp4", "url": files.url("/clip.mp4")},
        {"name": "page.mp4", "url": files.url("/page.mp4")},
        {"name": "a.mkv", "url": files.url("/a.mkv")},
        {"name": "b.avi", "url": files.url("/b.avi")},
        {"name": "empty.mp4", "url": files.url("/empty.mp4")},
    ]});
    assert_eq!(ingest(&sb, "clips", "video", &body).status, 200);
    let s = &settled_shards(&sb, "clips")[0];
    assert_eq!(s["shardObjectsCount"], 3, "{s}");
    let failed = s["statusMetadata"]["failedFiles"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{s}");
    assert!(
        failed.iter().all(|f| f["type"] == "unsupported-file-type"),
        "{s}"
    );
    let api = client(&sb);
    let f = api.files("clips", None, None).nth(2).unwrap().unwrap();
    assert_eq!(http("GET", &f.download_url, &[], None).body, mp4);
    assert_eq!(
        api.batch("clips").unwrap().batch_content_type.to_string(),
        "videos"
    );
}

#[test]
fn a_large_ingest_does_not_hold_up_a_small_one() {
    let slow = Duration::from_millis(100);
    let mut files: Vec<(String, Served)> = (0..80)
        .map(|i| {
            (
                format!("/big-{i}.png"),
                Served::ok("image/png", png(2, 2)).slow(slow),
            )
        })
        .collect();
    files.push((
        "/small.png".into(),
        Served::ok("image/png", png(3, 3)).slow(slow),
    ));
    let server = FileServer::loopback(files.iter().map(|(p, s)| (p.as_str(), s.clone())).collect());
    let (_dir, sb) = sandbox(SandboxConfig::default());
    let big: Vec<Value> = (0..80)
        .map(|i| json!({"name": format!("big-{i}.png"), "url": server.url(&format!("/big-{i}.png"))}))
        .collect();
    assert_eq!(
        ingest(&sb, "large", "image", &json!({"imageReferences": big})).status,
        200
    );
    let small =
        json!({"imageReferences": [{"name": "small.png", "url": server.url("/small.png")}]});
    assert_eq!(ingest(&sb, "small", "image", &small).status, 200);
    // The API answers while the workers fetch.
    assert_eq!(client(&sb).workspace().unwrap(), "sandbox");
    settled_shards(&sb, "small");
    let large_done: u64 = sb.ingest_counts("large").values().sum();
    assert_eq!(
        large_done, 0,
        "the large ingest is still running when the small one is done"
    );
    assert_eq!(settled_shards(&sb, "large")[0]["shardObjectsCount"], 80);
}

#[test]
fn a_pending_ingest_resumes_after_a_restart_and_counts_once() {
    let files: Vec<(String, Served)> = (0..12)
        .map(|i| {
            (
                format!("/r-{i}.png"),
                Served::ok("image/png", png(2, 2)).slow(Duration::from_millis(150)),
            )
        })
        .collect();
    let server = FileServer::loopback(files.iter().map(|(p, s)| (p.as_str(), s.clone())).collect());
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<Value> = (0..12)
        .map(|i| json!({"name": format!("r-{i}.png"), "url": server.url(&format!("/r-{i}.png"))}))
        .collect();
    {
        let sb = Sandbox::start(SandboxConfig::default().data_dir(dir.path())).unwrap();
        let r = ingest(
            &sb,
            "resumed",
            "image",
            &json!({"imageReferences": refs, "ingestId": "r"}),
        );
        assert_eq!(r.status, 200);
        // Stopped long before the 12 slow fetches can be done.
    }
    let sb = Sandbox::start(SandboxConfig::default().data_dir(dir.path())).unwrap();
    assert_eq!(settled_shards(&sb, "resumed")[0]["shardObjectsCount"], 12);
    let counts = sb.ingest_counts("resumed");
    assert_eq!(counts.len(), 12);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    // The ingest id is remembered across the restart.
    let again = ingest(
        &sb,
        "resumed",
        "image",
        &json!({"imageReferences": [{"name": "x.png", "url": server.url("/r-0.png")}], "ingestId": "r"}),
    );
    assert_eq!(again.json()["duplicated"], true);
}

#[test]
fn hosts_beyond_loopback_need_fetch_allow() {
    let Some(ip) = non_loopback_ip() else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: this machine has no address beyond loopback"
        );
        return;
    };
    let server = FileServer::start(ip, vec![("/a.png", Served::ok("image/png", png(2, 2)))]);
    let body = json!({"imageReferences": [{"name": "a.png", "url": server.url("/a.png")}]});
    let (_d1, refused) = sandbox(SandboxConfig::default());
    assert_eq!(ingest(&refused, "b", "image", &body).status, 200);
    let s = &settled_shards(&refused, "b")[0];
    assert_eq!(s["statusType"], "error");
    assert_eq!(
        s["statusMetadata"]["failedFiles"][0]["type"],
        "unsafe-url-detected"
    );
    assert_eq!(server.hits("/a.png"), 0, "nothing was fetched");
    let (_d2, allowed) = sandbox(SandboxConfig::default().fetch_allow(ip.to_string()));
    assert_eq!(ingest(&allowed, "b", "image", &body).status, 200);
    assert_eq!(settled_shards(&allowed, "b")[0]["shardObjectsCount"], 1);
    assert_eq!(server.hits("/a.png"), 1);
}

#[test]
fn too_many_references_are_refused_on_arrival() {
    let (_dir, sb) = sandbox(SandboxConfig::default());
    let refs: Vec<Value> = (0..5001)
        .map(|i| json!({"name": format!("v{i}.mp4"), "url": format!("http://127.0.0.1:9/v{i}")}))
        .collect();
    let r = ingest(&sb, "many", "video", &json!({"videoReferences": refs}));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("5000"), "{}", r.text());
}

/// A server that answers any request with a PNG that never ends; returns its URL.
fn endless_png() -> String {
    use std::io::{BufRead, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/plain.png", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n",
                );
                let _ = stream.write_all(&png(7, 7));
                // Until the sandbox hangs up.
                let zeros = [0u8; 8192];
                while stream.write_all(&zeros).is_ok() {}
            });
        }
    });
    url
}

#[test]
fn a_failed_fetch_keeps_the_file_fetched_before_under_its_name() {
    let first = png(3, 4);
    let files = FileServer::loopback(vec![("/plain.png", Served::ok("image/png", first.clone()))]);
    let (dir, sb) = sandbox(SandboxConfig::default().max_image_size(64 << 10));
    let refs = |url: String, id: &str| json!({"imageReferences": [{"name": "plain.png", "url": url}], "ingestId": id});
    let r = ingest(
        &sb,
        "keep",
        "image",
        &refs(files.url("/plain.png"), "first"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(settled_shards(&sb, "keep")[0]["statusType"], "success");
    // The same name again, from an endless stream: over the limit.
    let r = ingest(&sb, "keep", "image", &refs(endless_png(), "second"));
    assert_eq!(r.status, 200, "{}", r.text());
    let shards = settled_shards(&sb, "keep");
    let second = shards
        .iter()
        .find(|s| s["statusType"] != "success")
        .unwrap_or_else(|| panic!("the second ingest fails: {shards:?}"));
    assert!(second.to_string().contains("over the"), "{second}");
    // The batch still lists the first file, and serves its bytes.
    let api = client(&sb);
    let listed: Vec<_> = api.files("keep", None, None).map(Result::unwrap).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].file_name, "plain.png");
    let got = http("GET", &listed[0].download_url, &[], None);
    assert_eq!((got.status, got.body), (200, first));
    // No temporary file is left behind, once the sandbox has stopped (its saver may be
    // writing `state.json` through a temporary file of its own at any moment before).
    drop(sb);
    let mut todo = vec![dir.path().to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                assert!(!p.to_string_lossy().ends_with(".part"), "{}", p.display());
            }
        }
    }
}

/// A JSONL list's bad lines become failed files, each of its kind, and a list of more
/// references than one request may carry fails the whole ingest.
#[test]
fn a_list_reports_each_bad_line_and_refuses_too_many() {
    let (_dir, sb) = sandbox(SandboxConfig::default());
    let files = FileServer::loopback(vec![("/a.png", Served::ok("image/png", png(2, 2)))]);
    let a = files.url("/a.png");
    let lines = [
        json!({"name": "a.jpg", "url": a}).to_string(),
        String::new(),
        "not json".into(),
        json!({"name": "a.jpg", "url": a}).to_string(),
        json!({"name": "../x", "url": a}).to_string(),
        json!({"name": "d.jpg", "url": "ftp://h/d"}).to_string(),
    ];
    let many: String = (0..5001)
        .map(|i| format!("{{\"name\": \"v{i}.mp4\", \"url\": \"http://127.0.0.1/{i}\"}}\n"))
        .collect();
    let lists = FileServer::loopback(vec![
        (
            "/bad.jsonl",
            Served::ok("application/jsonl", lines.join("\n").into_bytes()),
        ),
        (
            "/many.jsonl",
            Served::ok("application/jsonl", many.into_bytes()),
        ),
    ]);
    let listed = json!({"imageReferencesURL": lists.url("/bad.jsonl")});
    assert_eq!(ingest(&sb, "bad", "image", &listed).status, 200);
    let s = &settled_shards(&sb, "bad")[0];
    assert_eq!(s["shardObjectsCount"], 1, "{s}");
    let failed = s["statusMetadata"]["failedFiles"].as_array().unwrap();
    let kinds: Vec<&str> = failed.iter().map(|f| f["type"].as_str().unwrap()).collect();
    let want = [
        "invalid-reference",
        "duplicate-name",
        "invalid-reference",
        "invalid-reference",
    ];
    assert_eq!(kinds, want, "{s}");
    assert_eq!(failed[0]["fileName"], "line 3");
    let videos = json!({"videoReferencesURL": lists.url("/many.jsonl")});
    assert_eq!(ingest(&sb, "many", "video", &videos).status, 200);
    let s = &settled_shards(&sb, "many")[0];
    assert!(
        s["statusMetadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("5000"),
        "{s}"
    );
}
