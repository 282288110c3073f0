#![cfg(feature = "sandbox")]
//! Signed URLs: one state per upload under racing PUTs, signatures that cannot be
//! altered or forged, and ranged downloads.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::sandbox::*;
use roboflow_batch::BatchApi;
use roboflow_batch::model::SignedUrlDetails;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};

fn sandbox() -> (tempfile::TempDir, Sandbox, BatchApi) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(
        SandboxConfig::default()
            .indexing_delay(Duration::ZERO)
            .data_dir(dir.path()),
    )
    .unwrap();
    let api = client(&sb);
    (dir, sb, api)
}

/// `(host:port, path?query)` of a URL on the sandbox.
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let slash = rest.find('/').unwrap();
    (rest[..slash].to_string(), rest[slash..].to_string())
}

/// Starts a PUT on a raw connection: the head and the first `first` body bytes.
fn start_put(target: &SignedUrlDetails, body: &[u8], first: usize) -> TcpStream {
    let (host, path) = split_url(&target.upload_url);
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in &target.extension_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..first]).unwrap();
    s.flush().unwrap();
    s
}

fn status_of(mut s: TcpStream) -> u16 {
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn put(target: &SignedUrlDetails, body: &[u8]) -> Raw {
    let headers: Vec<(&str, &str)> = target
        .extension_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http("PUT", &target.upload_url, &headers, Some(body))
}

/// Whether a body is being received for upload `id` (its temporary file exists).
fn receiving(sb: &Sandbox, id: &str) -> bool {
    std::fs::read_dir(sb.data_dir().join("staging/tmp"))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(id))
        })
        .unwrap_or(false)
}

fn shard_body() -> Vec<u8> {
    let imgs: Vec<Vec<u8>> = (0..3).map(|i| png(10 + i, 10)).collect();
    let members: Vec<(String, &[u8])> = imgs
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("p{i}.png"), d.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    tar_of(&refs)
}

#[test]
fn a_second_concurrent_put_gets_409_and_the_shard_is_indexed_once() {
    let (_dir, sb, api) = sandbox();
    let target = api.request_shard_upload("race", None).unwrap();
    let id = target.shard_id.clone().unwrap();
    let body = shard_body();
    let half = body.len() / 2;
    let first = start_put(&target, &body, half);
    wait_until("the first PUT is receiving", 10, || receiving(&sb, &id));
    let second = put(&target, &body);
    assert_eq!(second.status, 409, "{}", second.text());
    let mut first = first;
    first.write_all(&body[half..]).unwrap();
    assert_eq!(status_of(first), 200);
    wait_until("the shard is indexed", 10, || {
        api.batch_count("race", None).unwrap() == 3
    });
    let shards: Vec<_> = api.shards("race", None).map(Result::unwrap).collect();
    assert_eq!(shards.len(), 1, "exactly one shard record: {shards:?}");
    // A retry after completion: 200, and the first copy stands.
    assert_eq!(put(&target, &body).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(api.shards("race", None).count(), 1);
    assert_eq!(api.batch_count("race", None).unwrap(), 3);
}

#[test]
fn a_put_that_fails_midway_returns_the_upload_to_pending() {
    let (_dir, sb, api) = sandbox();
    let target = api.request_shard_upload("retry", None).unwrap();
    let id = target.shard_id.clone().unwrap();
    let body = shard_body();
    let first = start_put(&target, &body, body.len() / 2);
    wait_until("the first PUT is receiving", 10, || receiving(&sb, &id));
    first.shutdown(std::net::Shutdown::Both).unwrap();
    drop(first);
    // Once the broken PUT is noticed, a retry stores the shard.
    let mut last = 0;
    wait_until("a retry succeeds", 10, || {
        last = put(&target, &body).status;
        assert!(last == 200 || last == 409, "{last}");
        last == 200
    });
    wait_until("the shard is indexed", 10, || {
        api.batch_count("retry", None).unwrap() == 3
    });
    assert_eq!(api.shards("retry", None).count(), 1);
}

/// `url` with query parameter `name` set to `value` (added when absent).
fn set_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let mut found = false;
    let mut pairs: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == name => {
                found = true;
                format!("{k}={value}")
            }
            _ => kv.to_string(),
        })
        .collect();
    if !found {
        pairs.push(format!("{name}={value}"));
    }
    format!("{base}?{}", pairs.join("&"))
}

fn param(url: &str, name: &str) -> String {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_string()
}

fn put_to(url: &str, target: &SignedUrlDetails, body: &[u8]) -> Raw {
    let t = SignedUrlDetails {
        upload_url: url.to_string(),
        ..target.clone()
    };
    put(&t, body)
}

#[test]
fn tampered_upload_urls_are_refused() {
    let (_dir, _sb, api) = sandbox();
    let a = api.request_shard_upload("tamper", None).unwrap();
    let b = api.request_shard_upload("tamper", None).unwrap();
    let body = shard_body();
    let url = &a.upload_url;
    let expires: u64 = param(url, "expires").parse().unwrap();
    let limit: u64 = param(url, "limit").parse().unwrap();
    let cases = [
        (
            "later expiry",
            set_param(url, "expires", &(expires + 3600).to_string()),
        ),
        (
            "higher limit",
            set_param(url, "limit", &(limit + 1).to_string()),
        ),
        ("no limit", url.replace(&format!("limit={limit}&"), "")),
        (
            "another token",
            set_param(url, "token", &param(&b.upload_url, "token")),
        ),
        ("short token", set_param(url, "token", "abcd")),
        (
            "another upload's path",
            url.replace(
                a.shard_id.as_deref().unwrap(),
                b.shard_id.as_deref().unwrap(),
            ),
        ),
    ];
    for (what, tampered) in &cases {
        assert_ne!(tampered, url, "{what}");
        let r = put_to(tampered, &a, &body);
        assert_eq!(r.status, 403, "{what}: {}", r.text());
    }
    // Another method on the same URL.
    let r = http("GET", url, &[], None);
    assert_eq!(r.status, 403, "GET of an upload URL: {}", r.text());
    assert!(r.text().contains("signature"), "{}", r.text());
    // The untouched URL works, and the limit it carries is enforced.
    assert_eq!(put(&a, &body).status, 200);
    assert_eq!(limit, 1 << 30, "maxShardSize by default");
}

#[test]
fn tampered_download_urls_are_refused() {
    let (_dir, _sb, api) = sandbox();
    api.upload_image("dl", "a.png", &png(3, 4), None).unwrap();
    api.upload_image("dl", "b.png", &png(5, 6), None).unwrap();
    let files: Vec<_> = api.files("dl", None, None).map(Result::unwrap).collect();
    assert_eq!(files.len(), 2);
    let url = &files[0].download_url;
    assert_eq!(http("GET", url, &[], None).body, png(3, 4));
    assert_eq!(http("HEAD", url, &[], None).status, 200);
    let expires: u64 = param(url, "expires").parse().unwrap();
    for (what, tampered) in [
        ("another file", url.replace("/a.png?", "/b.png?")),
        ("a part", set_param(url, "part", "results")),
        (
            "later expiry",
            set_param(url, "expires", &(expires + 1).to_string()),
        ),
        ("a limit", set_param(url, "limit", "10")),
    ] {
        assert_ne!(&tampered, url, "{what}");
        let r = http("GET", &tampered, &[], None);
        assert_eq!(r.status, 403, "{what}: {}", r.text());
    }
    let r = http("PUT", url, &[], Some(b"x"));
    assert_eq!(r.status, 403, "PUT to a download URL");
}

#[test]
fn a_signature_from_another_key_is_refused_and_old_state_files_get_a_fresh_key() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        Sandbox::start(
            SandboxConfig::default()
                .indexing_delay(Duration::ZERO)
                .data_dir(dir.path()),
        )
        .unwrap()
    };
    let url = {
        let sb = start();
        let api = client(&sb);
        api.upload_image("keys", "a.png", &png(3, 4), None).unwrap();
        api.files("keys", None, None)
            .next()
            .unwrap()
            .unwrap()
            .download_url
    };
    let path = dir.path().join("state.json");
    let read =
        || -> serde_json::Value { serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() };
    let first_key = read()["staging"]["signing_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first_key.len(), 64);
    // The key persists: the URL still works after a restart (on another port).
    {
        let sb = start();
        let moved = format!(
            "{}/signed/{}",
            sb.base_url(),
            url.split_once("/signed/").unwrap().1
        );
        assert_eq!(http("GET", &moved, &[], None).status, 200);
    }
    // A URL signed by another key is refused.
    let mut state = read();
    state["staging"]["signing_key"] = serde_json::json!("11".repeat(32));
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    {
        let sb = start();
        let moved = format!(
            "{}/signed/{}",
            sb.base_url(),
            url.split_once("/signed/").unwrap().1
        );
        let r = http("GET", &moved, &[], None);
        assert_eq!(r.status, 403, "{}", r.text());
    }
    // An old state file (a 64-bit `secret`, no key) gets a fresh random key.
    let mut state = read();
    let obj = state["staging"].as_object_mut().unwrap();
    obj.remove("signing_key");
    obj.insert("secret".into(), serde_json::json!(12345));
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    {
        let sb = start();
        let api = client(&sb);
        let f = api.files("keys", None, None).next().unwrap().unwrap();
        assert_eq!(http("GET", &f.download_url, &[], None).body, png(3, 4));
    }
    let fresh = read()["staging"]["signing_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fresh.len(), 64);
    assert_ne!(fresh, first_key);
    assert_ne!(fresh, "11".repeat(32));
}

#[test]
fn ranged_downloads_resume_where_they_stopped() {
    let (_dir, _sb, api) = sandbox();
    // A tar member, so the range is also offset within the stored shard.
    let big: Vec<u8> = png(7, 7)
        .into_iter()
        .chain((0..5000u32).map(|i| i as u8))
        .collect();
    let target = api.request_shard_upload("ranges", None).unwrap();
    assert_eq!(
        put(
            &target,
            &tar_of(&[("big.png", &big), ("b.png", &png(1, 1))])
        )
        .status,
        200
    );
    wait_until("indexed", 10, || {
        api.batch_count("ranges", None).unwrap() == 2
    });
    let f = api
        .files("ranges", None, None)
        .map(Result::unwrap)
        .find(|f| f.file_name == "big.png")
        .unwrap();
    let url = &f.download_url;
    let n = big.len();
    let full = http("GET", url, &[], None);
    assert_eq!(
        (full.status, full.header("accept-ranges")),
        (200, Some("bytes"))
    );
    assert_eq!(full.body, big);
    // A download cut after 1000 bytes resumes from there.
    let rest = http("GET", url, &[("Range", "bytes=1000-")], None);
    assert_eq!(rest.status, 206);
    assert_eq!(
        rest.header("content-range"),
        Some(format!("bytes 1000-{}/{n}", n - 1).as_str())
    );
    assert_eq!(
        rest.header("content-length"),
        Some((n - 1000).to_string().as_str())
    );
    let mut joined = big[..1000].to_vec();
    joined.extend_from_slice(&rest.body);
    assert_eq!(joined, big);
    let mid = http("GET", url, &[("Range", "bytes=10-19")], None);
    assert_eq!((mid.status, &mid.body[..]), (206, &big[10..20]));
    assert_eq!(
        mid.header("content-range"),
        Some(format!("bytes 10-19/{n}").as_str())
    );
    let tail = http("GET", url, &[("Range", "bytes=-5")], None);
    assert_eq!((tail.status, &tail.body[..]), (206, &big[n - 5..]));
    let over = http("GET", url, &[("Range", &format!("bytes={n}-"))], None);
    assert_eq!(over.status, 416);
    assert_eq!(
        over.header("content-range"),
        Some(format!("bytes */{n}").as_str())
    );
    let several = http("GET", url, &[("Range", "bytes=0-1,5-6")], None);
    assert_eq!(
        (several.status, several.body.len()),
        (200, n),
        "several ranges: the whole file"
    );
    let head = http("HEAD", url, &[("Range", "bytes=100-")], None);
    assert_eq!(head.status, 206);
    assert_eq!(
        head.header("content-length"),
        Some((n - 100).to_string().as_str())
    );
}

/// Every form of `Range` (RFC 9110 §14), on a file of 10 bytes and an empty one: a part
/// (206 and its `Content-Range`), nothing that exists (416), or the whole file (200).
#[test]
fn every_range_form_gets_its_status_and_bytes() {
    let (_dir, _sb, api) = sandbox();
    let ten: Vec<u8> = (0..10).collect();
    for (name, bytes) in [("ten.mp4", ten.clone()), ("empty.mp4", Vec::new())] {
        let t = api.request_video_upload("forms", name, None).unwrap();
        let bytes = roboflow_batch::api::UploadSource::bytes(bytes);
        api.put_signed(&t, &bytes).unwrap();
    }
    let files: Vec<_> = api.files("forms", None, None).map(Result::unwrap).collect();
    let url = |name: &str| {
        &files
            .iter()
            .find(|f| f.file_name == name)
            .unwrap()
            .download_url
    };
    let cases: &[(&str, &str, u16, usize, usize)] = &[
        ("ten.mp4", "bytes=0-", 206, 0, 9),
        ("ten.mp4", "bytes=4-", 206, 4, 9),
        ("ten.mp4", "bytes=9-", 206, 9, 9),
        ("ten.mp4", "bytes=10-", 416, 0, 0),
        ("ten.mp4", "bytes=2-5", 206, 2, 5),
        ("ten.mp4", "bytes=2-500", 206, 2, 9),
        ("ten.mp4", "bytes=12-15", 416, 0, 0),
        ("ten.mp4", "bytes=-3", 206, 7, 9),
        ("ten.mp4", "bytes=-30", 206, 0, 9),
        ("ten.mp4", "bytes=-0", 416, 0, 0),
        ("ten.mp4", "bytes=5-2", 200, 0, 9),
        ("ten.mp4", "bytes=0-1,3-4", 200, 0, 9),
        ("ten.mp4", "items=0-1", 200, 0, 9),
        ("ten.mp4", "bytes=a-b", 200, 0, 9),
        ("ten.mp4", "bytes=+1-2", 200, 0, 9),
        ("ten.mp4", "bytes=-", 200, 0, 9),
        ("ten.mp4", "bytes=99999999999999999999-", 200, 0, 9),
        ("ten.mp4", " bytes=1-2 ", 206, 1, 2),
        ("empty.mp4", "bytes=0-", 416, 0, 0),
        ("empty.mp4", "bytes=-5", 416, 0, 0),
    ];
    for &(name, range, status, first, last) in cases {
        let r = http("GET", url(name), &[("Range", range)], None);
        let size = if name == "ten.mp4" { 10 } else { 0 };
        let content_range = match status {
            206 => Some(format!("bytes {first}-{last}/{size}")),
            416 => Some(format!("bytes */{size}")),
            _ => None,
        };
        assert_eq!(
            (r.status, r.header("content-range").map(str::to_string)),
            (status, content_range),
            "{range:?} of {name}"
        );
        if status != 416 {
            assert_eq!(r.body, &ten[first..=last], "{range:?} of {name}");
        }
    }
}
