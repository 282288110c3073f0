//! Verification against a fake service, through a references ingest: what each chunk's
//! shards say, the requests that costs, and the listing only where the shards do not
//! account for the files. (A file lost at any page size is in ingest_sandbox.rs; single
//! uploads in ingest_scenarios.rs.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roboflow_batch::BatchApi;
use roboflow_batch::api::Clock;
use roboflow_batch::ingest::{FailedFile, Ingest, IngestReport, Source};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::wait::WaitOptions;

/// A service that answers a references ingest with `answer`, holds `names` in the batch
/// (listed at most `page` a time) and `shards`; the last segment of every request's path
/// is logged.
fn service(
    names: &[&str],
    page: usize,
    shards: serde_json::Value,
    answer: serde_json::Value,
) -> (BatchApi, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let path = req.url.split('?').next().unwrap_or("").to_string();
        let last = path.rsplit('/').next().unwrap_or("").to_string();
        seen.lock().unwrap().push(last.clone());
        let q: BTreeMap<String, String> = req.query().into_iter().collect();
        let body = match last.as_str() {
            "count" => serde_json::json!({ "count": names.len() }),
            "list" => {
                let size = q
                    .get("pageSize")
                    .map_or(page, |s| s.parse::<usize>().unwrap().min(page));
                let start: usize = q.get("nextPageToken").map_or(0, |t| t.parse().unwrap());
                let end = (start + size).min(names.len());
                let files: Vec<_> = names[start..end]
                    .iter()
                    .map(|n| serde_json::json!({"downloadURL": "http://s/x", "fileName": n, "contentType": "image/png"}))
                    .collect();
                let next = (end < names.len()).then(|| end.to_string());
                serde_json::json!({ "filesMetadata": files, "nextPageToken": next })
            }
            "shards" => serde_json::json!({ "shards": shards.clone() }),
            "image-references" => answer.clone(),
            _ => return Ok(HttpResponse::json(404, "{}")),
        };
        Ok(HttpResponse::json(200, body.to_string()))
    };
    // A clock that advances only by what is slept: no real time passes.
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let (e1, e2) = (elapsed.clone(), elapsed);
    let clock = Clock::system()
        .sleep_fn(move |d| *e1.lock().unwrap() += d)
        .monotonic_fn(move || *e2.lock().unwrap());
    let api = BatchApi::builder()
        .base_url("http://service.test")
        .api_key("k")
        .workspace("ws")
        .clock(clock)
        .transport(transport)
        .build()
        .unwrap();
    (api, log)
}

fn shard(id: &str, objects: u64, failed: &[(&str, &str)]) -> serde_json::Value {
    let failed: Vec<_> = failed
        .iter()
        .map(|(n, why)| serde_json::json!({"fileName": n, "type": "unsupported-file-type", "reason": why}))
        .collect();
    serde_json::json!({"shardId": id, "statusName": "shard-ingested", "statusType": "success",
        "eventTimestamp": "2025-01-02T03:04:05Z", "shardObjectsCount": objects,
        "statusMetadata": {"failedFiles": failed}})
}

/// The ingest's answer naming `shards` (none: no `shardIds` at all).
fn answer(shards: &[&str]) -> serde_json::Value {
    match shards {
        [] => serde_json::json!({"ingestId": "i"}),
        _ => serde_json::json!({"ingestId": "i", "shardIds": shards}),
    }
}

/// Sends `names` as one chunk of references and verifies it.
fn ingest(api: &BatchApi, names: &[&str]) -> IngestReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refs.jsonl");
    let lines: String = names
        .iter()
        .map(|n| format!("{{\"name\":\"{n}\",\"url\":\"https://bucket.test/{n}\"}}\n"))
        .collect();
    std::fs::write(&path, lines).unwrap();
    let wait = WaitOptions::default()
        .poll_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(30));
    Ingest::new(api, "b", Source::references(&path))
        .verify(wait)
        .run()
        .unwrap()
}

/// The requests made: the ingest first, then the others sorted (near the end a look at the
/// shards and the count go side by side, in either order).
fn calls(log: &Mutex<Vec<String>>) -> Vec<String> {
    let mut got = log.lock().unwrap().clone();
    if got.len() > 1 {
        got[1..].sort();
    }
    got
}

fn reasons(failed: &[FailedFile]) -> Vec<(&str, Option<&str>, &str)> {
    failed
        .iter()
        .map(|f| (f.name.as_str(), f.path.as_deref(), f.reason.as_str()))
        .collect()
}

#[test]
fn a_shard_that_adds_up_needs_no_listing_and_names_its_failures() {
    let shards = serde_json::json!([
        shard("s1", 2, &[("bad.png", "not an image")]),
        shard("other", 9, &[])
    ]);
    let (api, log) = service(&["a.png", "b.png"], 1, shards, answer(&["s1"]));
    let r = ingest(&api, &["a.png", "b.png", "bad.png"]);
    assert_eq!(calls(&log), ["image-references", "count", "shards"]);
    let v = r.verification.unwrap();
    assert_eq!((v.indexed, v.expected, v.timed_out), (2, 2, false), "{v:?}");
    let want = (
        "bad.png",
        Some("https://bucket.test/bad.png"),
        "unsupported-file-type: not an image",
    );
    assert_eq!(reasons(&r.failed), [want]);
}

/// A chunk answered without `shardIds`: the failure of a reference is found in the
/// batch's other shards, not after the timeout; that shard's failures explain only files
/// that no watched shard carried.
#[test]
fn files_in_no_named_shard_find_their_failures_in_the_others() {
    let shards = serde_json::json!([
        shard("s1", 1, &[]),
        shard(
            "s9",
            1,
            &[("gone.png", "HTTP 404"), ("late.png", "HTTP 404")]
        ),
    ]);
    let (api, _) = service(&["a.png"], 1000, shards.clone(), answer(&[]));
    let r = ingest(&api, &["a.png", "gone.png"]);
    let v = r.verification.unwrap();
    assert_eq!((v.indexed, v.timed_out), (1, false));
    let failed = reasons(&r.failed);
    assert_eq!(
        (failed[0].0, failed[0].2),
        ("gone.png", "unsupported-file-type: HTTP 404")
    );
    assert_eq!(failed.len(), 1);
    // `late.png` went in the named shard `s1`, which failed nothing: s9's word about it
    // does not count, and it is missing at the timeout.
    let (api, _) = service(&["a.png"], 1000, shards, answer(&["s1"]));
    let r = ingest(&api, &["a.png", "late.png"]);
    assert!(r.verification.unwrap().timed_out);
    assert_eq!(r.failed[0].name, "late.png");
    assert!(
        r.failed[0].reason.starts_with("not in the batch after"),
        "{:?}",
        r.failed
    );
}

#[test]
fn a_failed_shard_fails_its_files_with_its_reason() {
    let failed_shard = serde_json::json!([{"shardId": "s1", "statusName": "shard-ingest-failed",
        "statusType": "error", "eventTimestamp": "2025-01-02T03:04:05Z", "shardObjectsCount": 0,
        "statusMetadata": {"reason": "not a tar"}}]);
    let (api, log) = service(&[], 1000, failed_shard, answer(&["s1"]));
    let r = ingest(&api, &["a.png", "b.png"]);
    let v = r.verification.unwrap();
    assert_eq!((v.indexed, v.expected, v.timed_out), (0, 0, false), "{v:?}");
    let why: Vec<&str> = r.failed.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(why, ["shard s1 failed: not a tar"; 2]);
    assert_eq!(calls(&log), ["image-references", "count", "shards"]);
}
