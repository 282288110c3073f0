//! The verifier against a fake service: what each unit's shards say, the requests that
//! costs, and the listing only where the shards do not account for the files. (A file lost
//! at any page size is in tests/ingest_sandbox.rs; single uploads in tests/ingest_scenarios.rs.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::transport::{HttpRequest, HttpResponse, TransportError};

/// A service holding `names` in the batch (listed at most `page` a time) and `shards`;
/// every request's path is logged.
fn service(
    names: &[&str],
    page: usize,
    shards: serde_json::Value,
) -> (BatchApi, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let transport = move |req: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
        let path = req.url.split('?').next().unwrap_or("").to_string();
        seen.lock().unwrap().push(path.clone());
        let q: BTreeMap<String, String> = req.query().into_iter().collect();
        let body = if path.ends_with("/count") {
            serde_json::json!({ "count": names.len() })
        } else if path.ends_with("/list") {
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
        } else if path.ends_with("/shards") {
            serde_json::json!({ "shards": shards.clone() })
        } else {
            return Ok(HttpResponse::json(404, "{}"));
        };
        Ok(HttpResponse::json(200, body.to_string()))
    };
    // A clock that advances only by what is slept: no real time passes.
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let (e1, e2) = (elapsed.clone(), elapsed);
    let clock = crate::api::Clock::system()
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

fn kinds(log: &Mutex<Vec<String>>) -> Vec<&'static str> {
    let log = log.lock().unwrap();
    log.iter()
        .map(|p| match p.rsplit('/').next() {
            Some("shards") => "shards",
            Some("list") => "list",
            Some("count") => "count",
            _ => "other",
        })
        .collect()
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(30))
}

/// Verifies one shard `s1` that carried `sent`.
fn verify_one(api: &BatchApi, sent: &[&str]) -> (Verification, Vec<FailedFile>) {
    let v = Verifier::new(api, "b", quick(), Emitter::default());
    let unit = v.unit(vec!["s1".into()], sent.len() as u64, false);
    for n in sent {
        v.file(n, &format!("/src/{n}"), unit);
    }
    v.finish().unwrap()
}

#[test]
fn a_shard_that_adds_up_needs_no_listing_and_names_its_failures() {
    let (api, log) = service(
        &["a.png", "b.png"],
        1,
        serde_json::json!([
            shard("s1", 2, &[("bad.png", "not an image")]),
            shard("other", 9, &[])
        ]),
    );
    let (v, failed) = verify_one(&api, &["a.png", "b.png", "bad.png"]);
    assert_eq!(kinds(&log), ["shards", "count"]);
    assert_eq!((v.indexed, v.expected, v.timed_out), (2, 2, false), "{v:?}");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (
            failed[0].name.as_str(),
            failed[0].path.as_deref(),
            failed[0].reason.as_str()
        ),
        (
            "bad.png",
            Some("/src/bad.png"),
            "unsupported-file-type: not an image"
        )
    );
}

/// A references chunk answered without `shardIds`: the failure of a reference is found in
/// the batch's other shards, not after the timeout; that shard's failures explain only
/// files that no watched shard carried.
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
    let (api, _) = service(&["a.png"], 1000, shards.clone());
    let v = Verifier::new(&api, "b", quick(), Emitter::default());
    let unnamed = v.unit(Vec::new(), 2, false);
    v.file("a.png", "", unnamed);
    v.file("gone.png", "http://bucket/gone.png", unnamed);
    let (verification, failed) = v.finish().unwrap();
    assert_eq!((verification.indexed, verification.timed_out), (1, false));
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].name.as_str(), failed[0].reason.as_str()),
        ("gone.png", "unsupported-file-type: HTTP 404")
    );
    // `late.png` went in the named shard `s1`, which failed nothing: s9's word about it
    // does not count, and it is missing at the timeout.
    let (api, _) = service(&["a.png"], 1000, shards);
    let v = Verifier::new(&api, "b", quick(), Emitter::default());
    let named = v.unit(vec!["s1".into()], 2, false);
    v.file("a.png", "", named);
    v.file("late.png", "", named);
    let (verification, failed) = v.finish().unwrap();
    assert!(verification.timed_out, "{verification:?}");
    assert_eq!(failed[0].name, "late.png");
    assert!(
        failed[0].reason.starts_with("not in the batch after"),
        "{failed:?}"
    );
}

#[test]
fn a_failed_shard_fails_its_files_with_its_reason() {
    let failed_shard = serde_json::json!([{"shardId": "s1", "statusName": "shard-ingest-failed",
        "statusType": "error", "eventTimestamp": "2025-01-02T03:04:05Z", "shardObjectsCount": 0,
        "statusMetadata": {"reason": "not a tar"}}]);
    let (api, log) = service(&[], 1000, failed_shard);
    let (v, failed) = verify_one(&api, &["a.png", "b.png"]);
    assert_eq!((v.indexed, v.expected, v.timed_out), (0, 0, false), "{v:?}");
    let reasons: Vec<&str> = failed.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(reasons, ["shard s1 failed: not a tar"; 2]);
    assert_eq!(kinds(&log), ["shards", "count"]);
}
