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
            .with_indexing_delay(Duration::ZERO)
            .with_data_dir(dir.path()),
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
