#![cfg(feature = "sandbox")]
//! The discard store (a benchmark mode) and the counters for exactly-once tests.

mod common;

use std::time::Duration;

use common::sandbox::*;
use roboflow_batch::api::UploadSource;
use roboflow_batch::model::{JobStartRequest, JobState};
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig, StoreMode};

fn start(store: StoreMode) -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(
        SandboxConfig::default()
            .data_dir(dir.path())
            .store(store)
            .indexing_delay(Duration::ZERO)
            .job_speed(500.0),
    )
    .unwrap();
    (dir, sb)
}

/// Every regular file under `dir`, except the state.
fn stored_files(dir: &std::path::Path) -> Vec<String> {
    fn walk(d: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("state.json")
            {
                out.push(p.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn shard(names: &[&str]) -> Vec<u8> {
    let imgs: Vec<Vec<u8>> = names.iter().map(|_| png(5, 5)).collect();
    let members: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&imgs)
        .map(|(n, d)| (*n, d.as_slice()))
        .collect();
    tar_of(&members)
}

#[test]
fn discarded_shards_are_indexed_but_never_written() {
    let (dir, sb) = start(StoreMode::Discard);
    let api = client(&sb);
    let mut t = shard(&["a.png", "b.png", "c.png"]);
    // A member that is not an image, reported as usual.
    let mut extra = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    extra
        .append_data(&mut h, "notes.txt", &b"hello"[..])
        .unwrap();
    t.truncate(t.len() - 1024); // drop the trailer, append another member and its trailer
    t.extend_from_slice(&extra.into_inner().unwrap());
    let target = api.request_shard_upload("fast", None).unwrap();
    api.put_signed(&target, &UploadSource::bytes(t)).unwrap();
    wait_until("indexed", 10, || {
        api.batch_count("fast", None).unwrap() == 3
    });
    let shards: Vec<_> = api.shards("fast", None).map(Result::unwrap).collect();
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0].shard_objects_count, 3);
    let meta = shards[0].status_metadata.clone().unwrap();
    assert_eq!(meta["failedFiles"][0]["fileName"], "notes.txt", "{meta}");
    let names: Vec<String> = api
        .files("fast", None, None)
        .map(|f| f.unwrap().file_name)
        .collect();
    assert_eq!(names, ["a.png", "b.png", "c.png"]);
    // A video and a single image, in other batches: recorded, not written.
    let v = api.request_video_upload("clips", "a.mp4", None).unwrap();
    api.put_signed(&v, &UploadSource::bytes(vec![0u8; 4096]))
        .unwrap();
    api.upload_image("single", "s.png", &png(3, 3), None)
        .unwrap();
    assert_eq!(api.batch_count("clips", None).unwrap(), 1);
    assert_eq!(api.batch_count("single", None).unwrap(), 1);
    assert_eq!(
        stored_files(dir.path()),
        Vec::<String>::new(),
        "no byte on disk"
    );
    // Downloads say the bytes are gone; jobs fail clearly.
    let f = api.files("fast", None, None).next().unwrap().unwrap();
    let r = http("GET", &f.download_url, &[], None);
    assert_eq!(r.status, 410, "{}", r.text());
    api.start_job("j", &JobStartRequest::images("fast", "image-stats"), None)
        .unwrap();
    let st = wait_job(&api, "j", 20);
    assert_eq!(st.state(), JobState::Failed);
    let msg = st.job.unwrap().last_message().unwrap().to_string();
    assert!(
        msg.contains("images were discarded (--store discard)"),
        "{msg}"
    );
}

#[test]
fn a_truncated_discarded_shard_indexes_nothing() {
    let (_dir, sb) = start(StoreMode::Discard);
    let api = client(&sb);
    let target = api.request_shard_upload("cut", None).unwrap();
    let body = shard(&["a.png", "b.png"]);
    // Declare the full length and send a third of it, then hang up.
    let (host, path) = {
        let rest = target.upload_url.strip_prefix("http://").unwrap();
        let i = rest.find('/').unwrap();
        (rest[..i].to_string(), rest[i..].to_string())
    };
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        let mut head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in &target.extension_headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body[..body.len() / 3]).unwrap();
    }
    // A retry of the whole shard then succeeds: the failed PUT left it pending.
    wait_until("a retry succeeds", 10, || {
        api.put_signed(&target, &UploadSource::bytes(body.clone()))
            .is_ok()
    });
    wait_until("indexed", 10, || api.batch_count("cut", None).unwrap() == 2);
    assert_eq!(api.shards("cut", None).count(), 1);
    assert_eq!(sb.ingest_counts("cut").values().sum::<u64>(), 2);
}

#[test]
fn counts_show_every_ingest_put_and_request() {
    let (_dir, sb) = start(StoreMode::Disk);
    // The workspace preset, so that the client makes no request to find it.
    let api = roboflow_batch::BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .workspace(sb.workspace())
        .build()
        .unwrap();
    assert_eq!(sb.request_count(), 0);
    // Two shards carrying one common name, then the same shard URL PUT twice.
    let t1 = api.request_shard_upload("counted", None).unwrap();
    let t2 = api.request_shard_upload("counted", None).unwrap();
    api.put_signed(&t1, &UploadSource::bytes(shard(&["a.png", "b.png"])))
        .unwrap();
    api.put_signed(&t2, &UploadSource::bytes(shard(&["b.png", "c.png"])))
        .unwrap();
    api.put_signed(&t2, &UploadSource::bytes(shard(&["b.png", "c.png"])))
        .unwrap();
    wait_until("indexed", 10, || {
        sb.ingest_counts("counted").values().sum::<u64>() == 4
    });
    let counts = sb.ingest_counts("counted");
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            ("a.png".to_string(), 1),
            ("b.png".to_string(), 2),
            ("c.png".to_string(), 1)
        ]
    );
    assert_eq!(
        api.batch_count("counted", None).unwrap(),
        3,
        "one entry per name"
    );
    assert_eq!(sb.put_count(), 3, "the repeated PUT is counted");
    // Single images and videos count too.
    api.upload_image("singles", "x.png", &png(1, 1), None)
        .unwrap();
    api.upload_image("singles", "x.png", &png(2, 2), None)
        .unwrap();
    assert_eq!(sb.ingest_counts("singles")["x.png"], 2);
    let v = api.request_video_upload("videos", "v.mp4", None).unwrap();
    api.put_signed(&v, &UploadSource::bytes(vec![1u8; 100]))
        .unwrap();
    assert_eq!(sb.ingest_counts("videos")["v.mp4"], 1);
    assert_eq!(sb.put_count(), 4);
    // Requests: 2 shard URLs, 1 count, 2 single images, 1 video URL.
    assert_eq!(sb.request_count(), 6);
    // Signed URLs are not API requests.
    let before = sb.request_count();
    api.put_signed(&v, &UploadSource::bytes(vec![1u8; 100]))
        .unwrap();
    assert_eq!(sb.request_count(), before);
    assert_eq!(sb.put_count(), 5);
    // A 404 is a request served too.
    assert_eq!(http("GET", &api_url(&sb, "nowhere"), &[], None).status, 404);
    assert_eq!(sb.request_count(), before + 1);
}

#[test]
fn injected_faults_are_requests_too_and_failed_puts_are_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::seeded(3).put(FaultSettings::default().rate_503(1.0));
    let sb = Sandbox::start(SandboxConfig::default().data_dir(dir.path()).faults(faults)).unwrap();
    let api = client(&sb);
    let t = api.request_shard_upload("f", None).unwrap();
    let r = http("PUT", &t.upload_url, &[], Some(b"x"));
    assert_eq!(r.status, 503);
    assert_eq!(sb.put_count(), 0);
    assert!(sb.request_count() >= 1);
}

/// A shard indexed from its stored file (disk) and as it streams in (discard) comes out the
/// same: members by their base names, non-images failed, the notification config read, and
/// a stored member's bytes found at its offset; a body that is no tar fails the shard.
#[test]
fn disk_and_discard_stores_index_a_shard_alike() {
    let img = png(4, 4);
    let config = br#"{"ingestId": "i", "notificationsURL": "http://127.0.0.1:9/h"}"#;
    let members = [
        ("a.png", &img[..]),
        ("dir/b.png", &img[..]),
        ("notes.txt", b"hello"),
        ("notification_config.json", config),
    ];
    let mut seen = Vec::new();
    for store in [StoreMode::Disk, StoreMode::Discard] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let config = SandboxConfig::default().store(store).record(&log);
        let sb = Sandbox::start(config.indexing_delay(Duration::ZERO)).unwrap();
        let api = client(&sb);
        for (batch, body) in [("s", tar_of(&members)), ("junk", vec![7u8; 1500])] {
            let target = api.request_shard_upload(batch, None).unwrap();
            api.put_signed(&target, &UploadSource::bytes(body)).unwrap();
        }
        let shard = |b: &str| api.shards(b, None).next().unwrap().unwrap();
        wait_until("indexed", 10, || {
            ["s", "junk"].iter().all(|b| shard(b).status_type != "info")
        });
        let (s, junk) = (shard("s"), shard("junk"));
        let meta = s.status_metadata.unwrap();
        let files: Vec<_> = api.files("s", None, None).map(Result::unwrap).collect();
        if store == StoreMode::Disk {
            assert_eq!(http("GET", &files[0].download_url, &[], None).body, img);
        }
        let names: Vec<String> = files.into_iter().map(|f| f.file_name).collect();
        let record = std::fs::read_to_string(&log).unwrap();
        let put = record
            .lines()
            .find(|l| l.contains("PUT {signedUpload}"))
            .unwrap();
        let put: serde_json::Value = serde_json::from_str(put).unwrap();
        let junk_reason = junk.status_metadata.unwrap()["reason"].clone();
        assert!(
            junk_reason.as_str().unwrap().contains("not a readable tar"),
            "{junk_reason}"
        );
        seen.push((
            names,
            s.shard_objects_count,
            meta["failedFiles"].clone(),
            put["tar"].clone(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    let (names, count, failed, tar) = &seen[0];
    assert_eq!(
        (names.as_slice(), *count),
        (&["a.png".to_string(), "b.png".into()][..], 2)
    );
    assert_eq!(failed[0]["type"], "unsupported-file-type", "{failed}");
    assert_eq!(failed.as_array().unwrap().len(), 1);
    let want: Vec<&str> = members.iter().map(|m| m.0).collect();
    assert_eq!(tar["members"], serde_json::json!(want));
    assert_eq!(tar["notificationConfig"]["ingestId"], "string");
}

/// Pages of a part's files list each file once, in order, where part names sort around each
/// other (`p`, `p-x`, `p/q`, `p2`); the batch is written as a data directory to reopen.
#[test]
fn paged_part_listings_list_each_file_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let parts = ["p", "p-x", "p/q", "p2"];
    let mut files = serde_json::Map::new();
    let mut add = |part: Option<&str>, name: String| {
        let key = format!("{}/{name}", part.unwrap_or(""));
        let file = serde_json::json!({ "name": name, "part": part, "size": 1, "path": "x" });
        files.insert(key, file);
    };
    for part in parts {
        (0..7).for_each(|i| add(Some(part), format!("{part}-{i}.jpg")));
    }
    (0..3).for_each(|i| add(None, format!("plain-{i}.jpg")));
    let batch = serde_json::json!({ "id": "b", "display_name": "b", "files": files,
        "batch_type": "multipart-batch", "content_type": "mixed",
        "created": "2025-01-01T00:00:00Z", "expiry": "2099-01-01T00:00:00Z" });
    let state = serde_json::json!({ "staging": { "batches": { "b": batch } } });
    std::fs::write(dir.path().join("state.json"), state.to_string()).unwrap();
    let sb = Sandbox::start(SandboxConfig::default().data_dir(dir.path())).unwrap();
    let api = client(&sb);
    let names = |part: Option<&str>, size: u32| -> Vec<String> {
        let files = api.files("b", part, Some(size));
        files.map(|f| f.unwrap().file_name).collect()
    };
    for part in parts {
        let want: Vec<String> = (0..7).map(|i| format!("{part}-{i}.jpg")).collect();
        for size in [1, 2, 3, 7, 8, 100] {
            assert_eq!(names(Some(part), size), want, "{part} by {size}");
        }
    }
    let all = names(None, 1000);
    assert_eq!(all.len(), 31);
    for size in [1, 4, 31, 32] {
        assert_eq!(names(None, size), all, "all by {size}");
    }
    assert!(names(Some("missing"), 5).is_empty());
}
