//! Requests counted by kind (`BatchApi::requests`), and the page sizes every listing asks
//! for, against closure transports: what each scenario costs is known to the request.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use roboflow_batch::BatchApi;
use roboflow_batch::api::{RequestCounts, UploadSource};
use roboflow_batch::model::{JobStartRequest, ReferencesIngest, RestartOverrides, RoboQlIngest};
use roboflow_batch::transport::{HttpRequest, HttpResponse, Method, TransportError};

const STAGING: &str = "/data-staging/v1/external/ws";
const JOBS: &str = "/batch-processing/v1/external/ws";
const BATCH_JSON: &str = r#"{"displayName":"B","batchId":"b","batchType":"sharded-batch","batchContentType":"images","createdDate":"2025-06-01T10:00:00Z","expiryDate":"2025-06-08T10:00:00Z"}"#;
const SIGNED: &str =
    r#"{"signedURLDetails":{"uploadURL":"https://store.test/up?sig=x","extensionHeaders":{}}}"#;

/// A plausible answer for any endpoint, by method and path: one page each.
fn answer(req: &HttpRequest) -> HttpResponse {
    let path = req.path().to_string();
    let json = |s: &str| HttpResponse::json(200, s.to_string());
    if req.url.starts_with("https://store.test/") {
        return HttpResponse::new(200, "bytes");
    }
    let tail = path
        .strip_prefix(STAGING)
        .or_else(|| path.strip_prefix(JOBS))
        .unwrap_or(&path);
    match (req.method, tail) {
        (Method::Get, "/") => json(r#"{"workspace":"ws"}"#),
        (Method::Get, "/batches") => json(r#"{"batches":[],"nextPageToken":null}"#),
        (Method::Get, "/batches/b") => json(&format!(r#"{{"batch":{BATCH_JSON}}}"#)),
        (Method::Get, "/batches/b/count") => json(r#"{"count":1}"#),
        (Method::Get, "/batches/b/parts") => json(r#"{"batchParts":[]}"#),
        (Method::Get, "/batches/b/list") => json(r#"{"filesMetadata":[],"nextPageToken":null}"#),
        (Method::Get, "/batches/b/shards") => json(r#"{"shards":[],"nextPageToken":null}"#),
        (Method::Post, "/batches/b/upload/image") => HttpResponse::new(200, ""),
        (Method::Post, "/batches/b/upload/video" | "/batches/b/bulk-upload/image-files") => {
            json(SIGNED)
        }
        (Method::Post, t) if t.ends_with("-references") => json(r#"{"ingestId":"i"}"#),
        (Method::Post, "/batches/b/roboql-ingest") => json("{}"),
        (Method::Get, "/jobs") => json(r#"{"jobs":[],"nextPageToken":null}"#),
        (Method::Post, "/jobs/j" | "/jobs/j/abort" | "/jobs/j/restart") => json("{}"),
        (Method::Get, "/jobs/j") => json(r#"{"jobStatus":"processing"}"#),
        (Method::Get, "/jobs/j/stages") => json(r#"{"stages":[]}"#),
        (Method::Get, "/jobs/j/stages/s/tasks") => json(r#"{"tasks":[],"nextPageToken":null}"#),
        (Method::Get, "/jobs/j/logs") => json(r#"{"logs":[],"nextPageToken":null}"#),
        _ => HttpResponse::json(404, format!(r#"{{"error":"no route {path}"}}"#)),
    }
}

/// A client that answers every endpoint and records what it was sent.
fn any_endpoint() -> (BatchApi, Arc<Mutex<Vec<HttpRequest>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let api = api_with(
        move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
            let resp = answer(&req);
            log.lock().unwrap().push(req);
            Ok(resp)
        },
    );
    (api, sent)
}

fn only(counts: &RequestCounts) -> Vec<(String, u64)> {
    counts.iter().map(|(k, n)| (k.to_string(), n)).collect()
}

#[test]
fn every_endpoint_counts_as_its_own_kind() {
    let (api, _) = any_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let refs = ReferencesIngest {
        image_references_url: Some("https://store.test/refs.jsonl".into()),
        ..Default::default()
    };
    let target = api.request_shard_upload("b", None).unwrap();
    type Call<'a> = Box<dyn Fn(&BatchApi) + 'a>;
    let table: Vec<(&str, Call<'_>)> = vec![
        (
            "workspace",
            Box::new(|a| {
                let _ = a.fetch_workspace().unwrap();
            }),
        ),
        (
            "list-batches",
            Box::new(|a| {
                let _ = a.batches(None).count();
            }),
        ),
        (
            "batch",
            Box::new(|a| {
                let _ = a.batch("b").unwrap();
            }),
        ),
        (
            "batch-count",
            Box::new(|a| {
                let _ = a.batch_count("b", None).unwrap();
            }),
        ),
        (
            "list-parts",
            Box::new(|a| {
                let _ = a.list_parts("b").unwrap();
            }),
        ),
        (
            "list-files",
            Box::new(|a| {
                let _ = a.files("b", None, None).count();
            }),
        ),
        (
            "list-shards",
            Box::new(|a| {
                let _ = a.shards("b", None).count();
            }),
        ),
        (
            "upload-url",
            Box::new(|a| {
                let _ = a.request_shard_upload("b", None).unwrap();
            }),
        ),
        (
            "upload-url",
            Box::new(|a| {
                let _ = a.request_video_upload("b", "v.mp4", None).unwrap();
            }),
        ),
        (
            "upload-put",
            Box::new(|a| {
                a.put_signed(&target, &UploadSource::bytes(b"tar".to_vec()))
                    .unwrap()
            }),
        ),
        (
            "single-upload",
            Box::new(|a| a.upload_image("b", "a.jpg", b"jpg", None).unwrap()),
        ),
        (
            "references-ingest",
            Box::new(|a| {
                let _ = a.ingest_image_references("b", &refs, None).unwrap();
            }),
        ),
        (
            "roboql-ingest",
            Box::new(|a| {
                let _ = a.ingest_roboql("b", &RoboQlIngest::new("tag:x")).unwrap();
            }),
        ),
        (
            "start-job",
            Box::new(|a| {
                a.start_job("j", &JobStartRequest::images("b", "wf"), None)
                    .unwrap()
            }),
        ),
        (
            "job-status",
            Box::new(|a| {
                let _ = a.job("j").unwrap();
            }),
        ),
        (
            "list-jobs",
            Box::new(|a| {
                let _ = a.jobs(None).count();
            }),
        ),
        (
            "job-stages",
            Box::new(|a| {
                let _ = a.job_stages("j").unwrap();
            }),
        ),
        (
            "list-tasks",
            Box::new(|a| {
                let _ = a.tasks("j", "s", None).count();
            }),
        ),
        (
            "abort-job",
            Box::new(|a| {
                let _ = a.abort_job("j").unwrap();
            }),
        ),
        (
            "restart-job",
            Box::new(|a| {
                let _ = a.restart_job("j", None::<&RestartOverrides>).unwrap();
            }),
        ),
        (
            "job-logs",
            Box::new(|a| {
                let _ = a.logs("j", None, None).count();
            }),
        ),
        (
            "download",
            Box::new(|a| {
                let _ = a.download("https://store.test/d?sig=y").unwrap();
            }),
        ),
        (
            "download",
            Box::new(|a| {
                let to = dir.path().join("d.bin");
                a.download_to_file("https://store.test/d?sig=y", &to)
                    .unwrap();
            }),
        ),
    ];
    for (kind, call) in table {
        let before = api.requests();
        call(&api);
        assert_eq!(
            only(&api.requests().since(&before)),
            [(kind.to_string(), 1)],
            "{kind}"
        );
    }
}

#[test]
fn a_three_page_listing_is_three_requests_and_retries_count_as_requests() {
    let pages = Mutex::new(vec![
        HttpResponse::json(200, r#"{"filesMetadata":[],"nextPageToken":"p2"}"#),
        HttpResponse::json(503, r#"{"error":"busy"}"#),
        HttpResponse::json(200, r#"{"filesMetadata":[],"nextPageToken":"p3"}"#),
        HttpResponse::json(200, r#"{"filesMetadata":[],"nextPageToken":null}"#),
    ]);
    let api = api_with(
        move |_: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(pages.lock().unwrap().remove(0))
        },
    );
    assert_eq!(api.files("b", None, None).count(), 0);
    // Three pages, one of them tried twice: four requests of one kind.
    assert_eq!(only(&api.requests()), [("list-files".to_string(), 4)]);
    assert_eq!(api.requests().total(), 4);
}

#[test]
fn clones_count_into_one_tally_and_the_workspace_lookup_counts_once() {
    let sent = Arc::new(Mutex::new(0));
    let n = sent.clone();
    let api = BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .transport(
            move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
                *n.lock().unwrap() += 1;
                Ok(answer(&req))
            },
        )
        .build()
        .unwrap();
    let clone = api.clone();
    std::thread::scope(|s| {
        s.spawn(|| clone.batch_count("b", None).unwrap());
        s.spawn(|| api.batch_count("b", None).unwrap());
    });
    let counts = api.requests();
    assert_eq!(counts.get("workspace"), 1);
    assert_eq!(counts.get("batch-count"), 2);
    assert_eq!(counts.total(), *sent.lock().unwrap());
    assert_eq!(
        serde_json::to_value(&counts).unwrap(),
        serde_json::json!({"batch-count": 2, "workspace": 1})
    );
}

/// One item of each listing, numbered.
fn item(list: &str, i: usize) -> String {
    match list {
        "batches" => BATCH_JSON.replace(r#""batchId":"b""#, &format!(r#""batchId":"b{i}""#)),
        "filesMetadata" => format!(
            r#"{{"downloadURL":"https://store.test/f{i}","fileName":"f{i}.jsonl","contentType":"metadata"}}"#
        ),
        "shards" => format!(
            r#"{{"shardId":"s{i}","statusName":"indexed","statusType":"success","eventTimestamp":"2025-06-01T10:00:00Z","shardObjectsCount":1}}"#
        ),
        "jobs" => format!(
            r#"{{"jobId":"j{i}","name":"n","jobDefinition":{{}},"createdAt":"2025-06-01T10:00:00Z","lastUpdate":"2025-06-01T10:00:00Z"}}"#
        ),
        "tasks" => format!(
            r#"{{"taskId":"t{i}","notification":"","statusType":"info","eventTimestamp":"2025-06-01T10:00:00Z"}}"#
        ),
        "logs" => format!(
            r#"{{"createdAt":"2025-06-01T10:00:00Z","severity":"info","reportingModule":"m","logType":"t","payload":{{"i":{i}}}}}"#
        ),
        other => panic!("no listing {other}"),
    }
}

/// A service that lists `total` items per listing in pages of at most `grant`, whatever
/// page size is asked, and records the `pageSize` of every request.
fn paged(total: usize, grant: usize) -> (BatchApi, Arc<Mutex<Vec<Option<String>>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let api = api_with(
        move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
            let q = |name: &str| {
                req.query()
                    .into_iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v)
            };
            log.lock().unwrap().push(q("pageSize"));
            let path = req.path();
            let list = match path.rsplit('/').next().unwrap_or("") {
                "batches" => "batches",
                "list" => "filesMetadata",
                "shards" => "shards",
                "jobs" => "jobs",
                "tasks" => "tasks",
                "logs" => "logs",
                other => panic!("no listing at {other}"),
            };
            let asked: usize = q("pageSize").map_or(50, |n| n.parse().unwrap());
            let from: usize = q("nextPageToken").map_or(0, |t| t.parse().unwrap());
            let to = (from + asked.min(grant)).min(total);
            let items: Vec<String> = (from..to).map(|i| item(list, i)).collect();
            let next = if to < total {
                format!(r#""{to}""#)
            } else {
                "null".into()
            };
            Ok(HttpResponse::json(
                200,
                format!(
                    r#"{{"{list}":[{}],"nextPageToken":{next}}}"#,
                    items.join(",")
                ),
            ))
        },
    );
    (api, asked)
}

type Listing = fn(&BatchApi) -> usize;

/// Every whole listing, counted to its end.
fn listings() -> Vec<(&'static str, Listing)> {
    fn all<T>(p: impl Iterator<Item = roboflow_batch::Result<T>>) -> usize {
        p.collect::<roboflow_batch::Result<Vec<T>>>().unwrap().len()
    }
    vec![
        ("batches", |a| all(a.batches(None))),
        ("files", |a| all(a.files("b", None, None))),
        ("shards", |a| all(a.shards("b", None))),
        ("jobs", |a| all(a.jobs(None))),
        ("tasks", |a| all(a.tasks("j", "s", None))),
        ("logs", |a| all(a.logs("j", None, None))),
        ("Job::tasks", |a| {
            all(roboflow_batch::jobs::Job::new(a, "j").unwrap().tasks("s"))
        }),
        ("Job::logs", |a| {
            all(roboflow_batch::jobs::Job::new(a, "j").unwrap().logs(None))
        }),
    ]
}

#[test]
fn every_listing_asks_for_pages_of_1000() {
    for (name, list) in listings() {
        let (api, asked) = paged(2500, usize::MAX);
        assert_eq!(list(&api), 2500, "{name}");
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 3, "{name}: 2,500 items in pages of 1,000");
        assert!(
            asked.iter().all(|a| a.as_deref() == Some("1000")),
            "{name}: {asked:?}"
        );
    }
    // A page size given is the one asked.
    let (api, asked) = paged(30, usize::MAX);
    assert_eq!(api.files("b", None, Some(10)).count(), 30);
    assert_eq!(*asked.lock().unwrap(), vec![Some("10".to_string()); 3]);
}

#[test]
fn every_listing_follows_smaller_pages_to_the_end() {
    // The service grants pages of 7: 20 items are 3 pages, and every one is listed.
    for (name, list) in listings() {
        let (api, asked) = paged(20, 7);
        let before = api.requests();
        assert_eq!(list(&api), 20, "{name}");
        assert_eq!(asked.lock().unwrap().len(), 3, "{name}");
        assert_eq!(api.requests().since(&before).total(), 3, "{name}");
    }
}
