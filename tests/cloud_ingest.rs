//! References ingest from a cloud source, against closure transports: a fake S3 listing
//! and a fake service that de-duplicates by ingest id as the real one does. Chunking,
//! deterministic ingest ids, re-runs, pass-through of the webhook settings, the request
//! bodies (literal JSON), skips, listing failures, laziness, and GCS service-account tokens.
#![cfg(feature = "cloud")]

mod cloud_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use roboflow_batch::api::{Clock, RetryPolicy};
use roboflow_batch::cloud::CloudSource;
use roboflow_batch::ingest::{Ingest, IngestMethod, IngestReport, SkipReason, Source};
use roboflow_batch::model::MediaKind;
use roboflow_batch::model::NotificationCategory;
use roboflow_batch::progress::{Event, UnitKind};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::{BatchApi, Error};

type Reply = Result<HttpResponse, TransportError>;

/// How a test sends a bucket.
#[derive(Default)]
struct Options {
    ingest_id: Option<String>,
    chunk_size: Option<usize>,
    display_name: Option<String>,
    notifications_url: Option<String>,
    notification_categories: Vec<NotificationCategory>,
    max_file_size: Option<u64>,
}

/// Sends `src` into `batch` as references (not verified: the fake service only takes
/// ingests), recording every event in `events` when given.
fn send(
    api: &BatchApi,
    batch: &str,
    src: CloudSource,
    o: &Options,
    events: Option<&Mutex<Vec<Event>>>,
) -> Result<IngestReport, Error> {
    let mut ingest = Ingest::new(api, batch, Source::bucket(src))
        .without_verify()
        .notification_categories(o.notification_categories.clone());
    if let Some(id) = &o.ingest_id {
        ingest = ingest.ingest_id(id);
    }
    if let Some(n) = o.chunk_size {
        ingest = ingest.chunk_size(n);
    }
    if let Some(n) = &o.display_name {
        ingest = ingest.display_name(n);
    }
    if let Some(u) = &o.notifications_url {
        ingest = ingest.notifications_url(u);
    }
    if let Some(n) = o.max_file_size {
        ingest = ingest.max_file_size(n);
    }
    if let Some(log) = events {
        ingest = ingest.on_progress(move |e| log.lock().unwrap().push(e.clone()));
    }
    ingest.run()
}

/// The ids an earlier version derived for `s3://bk/in/**/*.jpg` into `bk` (SHA-256 of the
/// batch, the media kind and the URL): a re-run after an upgrade still finds its ingests.
const BK_BASE: &str = "cloud-c1935d2c3b8e926cde9b";

/// A fake S3 bucket answering `ListObjectsV2` (continuation token = the next index).
fn fake_s3(
    keys: Vec<String>,
    fail_at_page: Option<usize>,
    pages: Arc<AtomicUsize>,
) -> impl Fn(HttpRequest) -> Reply + Send + Sync {
    move |req: HttpRequest| {
        let page = pages.fetch_add(1, Ordering::SeqCst);
        assert!(
            req.header("authorization")
                .unwrap()
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIAFAKE/")
        );
        if Some(page) == fail_at_page {
            return Ok(HttpResponse::new(
                500,
                "<Error><Code>InternalError</Code><Message>boom</Message></Error>",
            ));
        }
        let q: BTreeMap<String, String> = req.query().into_iter().collect();
        assert_eq!(q["list-type"], "2");
        let prefix = q.get("prefix").cloned().unwrap_or_default();
        let start: usize = q
            .get("continuation-token")
            .map_or(0, |t| t.parse().unwrap());
        let max: usize = q["max-keys"].parse().unwrap();
        let matching: Vec<&String> = keys.iter().filter(|k| k.starts_with(&prefix)).collect();
        let end = (start + max).min(matching.len());
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bk</Name><EncodingType>url</EncodingType>"#,
        );
        for k in &matching[start..end] {
            let enc: String = k
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            xml.push_str(&format!(
                "<Contents><Key>{enc}</Key><Size>10</Size></Contents>"
            ));
        }
        if end < matching.len() {
            xml.push_str(&format!("<IsTruncated>true</IsTruncated><NextContinuationToken>{end}</NextContinuationToken>"));
        } else {
            xml.push_str("<IsTruncated>false</IsTruncated>");
        }
        xml.push_str("</ListBucketResult>");
        Ok(HttpResponse::new(200, xml))
    }
}

fn source(
    url: &str,
    keys: Vec<String>,
    page_size: u32,
    fail_at_page: Option<usize>,
) -> (CloudSource, Arc<AtomicUsize>) {
    let pages = Arc::new(AtomicUsize::new(0));
    let s = CloudSource::builder(url)
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIAFAKE")
        .set("AWS_SECRET_ACCESS_KEY", "fake-secret-0123456789")
        .page_size(page_size)
        .retry_policy(RetryPolicy::never())
        .transport(fake_s3(keys, fail_at_page, pages.clone()))
        .build()
        .unwrap();
    (s, pages)
}

/// What the fake service saw: every request's path, query and JSON body; and which names
/// it ingested, once per ingest id.
#[derive(Default)]
struct Service {
    requests: Vec<(String, BTreeMap<String, String>, serde_json::Value)>,
    ingested: BTreeMap<String, usize>,
    ids: BTreeSet<String>,
}

fn service() -> (BatchApi, Arc<Mutex<Service>>) {
    let state = Arc::new(Mutex::new(Service::default()));
    let s = state.clone();
    let api = BatchApi::builder()
        .base_url("http://api.test")
        .api_key("api-key-0123456789")
        .workspace("ws")
        .clock(Clock::system().sleep_fn(|_| {}))
        .transport(move |req: HttpRequest| -> Reply {
            let path = req.path().to_string();
            let query: BTreeMap<String, String> = req.query().into_iter().collect();
            let body: serde_json::Value =
                serde_json::from_slice(&req.body.into_bytes().unwrap()).unwrap();
            let mut st = s.lock().unwrap();
            let id = body["ingestId"].as_str().unwrap().to_string();
            let duplicated = !st.ids.insert(id.clone());
            if !duplicated {
                let list = body
                    .get("imageReferences")
                    .or(body.get("videoReferences"))
                    .unwrap();
                for r in list.as_array().unwrap() {
                    *st.ingested
                        .entry(r["name"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
            }
            st.requests.push((path, query, body));
            Ok(HttpResponse::json(
                200,
                format!(r#"{{"ingestId":"{id}","duplicated":{duplicated}}}"#),
            ))
        })
        .build()
        .unwrap();
    (api, state)
}

fn keys(n: usize) -> Vec<String> {
    let mut k: Vec<String> = (0..n)
        .map(|i| format!("in/{}/img {i:03}.jpg", i % 3))
        .collect();
    k.extend([
        "in/notes.txt".to_string(),
        "in/clip.mp4".into(),
        "out/x.jpg".into(),
    ]);
    k.sort();
    k
}

#[test]
fn chunks_have_deterministic_ids_and_a_rerun_ingests_nothing_new() {
    let (api, svc) = service();
    let options = Options {
        chunk_size: Some(20),
        notifications_url: Some("https://hooks.example.com/rf".into()),
        notification_categories: vec![
            NotificationCategory::IngestStatus,
            NotificationCategory::FilesStatus,
        ],
        display_name: Some("Night run".into()),
        ..Default::default()
    };
    let events = Mutex::new(Vec::new());
    let (src, pages) = source("s3://bk/in/**/*.jpg", keys(53), 7, None);
    let report = send(&api, "bk", src, &options, Some(&events)).unwrap();
    let ids: Vec<String> = (0..3).map(|n| format!("{BK_BASE}-{n}")).collect();
    assert_eq!(report.ingest_ids, ids);
    let r = &report;
    assert_eq!(
        (
            r.files_found,
            r.files_uploaded,
            r.files_resumed,
            r.bytes_found,
        ),
        (53, 53, 0, 530)
    );
    assert_eq!(
        (r.method, r.units_uploaded, r.batch_id.as_str()),
        (IngestMethod::References, 3, "bk")
    );
    assert_eq!(report.listing_pages, pages.load(Ordering::SeqCst) as u64);
    assert_eq!(report.listing_pages, 8, "56 keys under in/ at 7 a page");
    assert_eq!(report.units_uploaded, 3);
    {
        let st = svc.lock().unwrap();
        assert_eq!(st.ingested.len(), 53);
        assert!(st.ingested.values().all(|&n| n == 1));
        assert!(st.ingested.contains_key("0%2Fimg 000.jpg"));
        let (path, query, body) = &st.requests[0];
        assert_eq!(
            path,
            "/data-staging/v1/external/ws/batches/bk/bulk-upload/image-references"
        );
        assert_eq!(query["displayName"], "Night run");
        let mut shape = body.clone();
        let refs = shape
            .as_object_mut()
            .unwrap()
            .remove("imageReferences")
            .unwrap();
        assert_eq!(
            shape,
            serde_json::json!({
                "ingestId": ids[0],
                "notificationsURL": "https://hooks.example.com/rf",
                "notificationCategories": ["ingest-status", "files-status"]
            })
        );
        let first = &refs[0];
        assert_eq!(first["name"], "0%2Fimg 000.jpg");
        let url = first["url"].as_str().unwrap();
        assert!(url.starts_with("https://bk.s3.us-east-1.amazonaws.com/in/0/img%20000.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAFAKE%2F"), "{url}");
        assert!(
            url.contains("X-Amz-Expires=86400"),
            "24 h by default: {url}"
        );
        assert_eq!(refs.as_array().unwrap().len(), 20);
    }
    let sent: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::UnitDone {
                unit: UnitKind::References,
                index,
                files,
                bytes,
                ..
            } => Some((*index, *files, *bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [(0, 20, 200), (1, 20, 200), (2, 13, 130)]);
    let ev = events.lock().unwrap();
    let discovered: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Discovered { files, .. } => Some(*files),
            _ => None,
        })
        .collect();
    assert_eq!(discovered.len(), 8, "one per listing page");
    assert_eq!(discovered.last(), Some(&53));
    assert!(
        discovered.windows(2).all(|w| w[0] <= w[1]),
        "running totals: {discovered:?}"
    );
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Planned {
            method: IngestMethod::References,
            files: 53,
            units: 3,
            ..
        }
    )));
    drop(ev);

    // The same run again (after a crash, say): the same ids, all duplicated, nothing new.
    let (src, _) = source("s3://bk/in/**/*.jpg", keys(53), 7, None);
    let again = send(&api, "bk", src, &options, None).unwrap();
    assert_eq!(again.ingest_ids, ids);
    assert_eq!(again.files_resumed, 53, "every chunk a repeat");
    assert_eq!((again.files_uploaded, again.files_resumed), (0, 53));
    let st = svc.lock().unwrap();
    assert_eq!(st.ingested.len(), 53);
    assert!(
        st.ingested.values().all(|&n| n == 1),
        "nothing ingested twice"
    );
}

#[test]
fn a_listing_failure_stops_after_whole_chunks_and_the_rerun_completes() {
    let (api, svc) = service();
    let options = Options {
        ingest_id: Some("nightly".into()),
        chunk_size: Some(10),
        ..Default::default()
    };
    // Page 4 (0-based 3) fails: 21 keys were listed, 2 chunks of 10 sent.
    let (src, _) = source("s3://bk/in/", keys(40), 7, Some(3));
    let err = send(&api, "bk", src, &options, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Cloud {
                status: Some(500),
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("fake-secret"));
    assert_eq!(
        svc.lock().unwrap().ids,
        BTreeSet::from(["nightly-0".to_string(), "nightly-1".into()])
    );
    let (src, _) = source("s3://bk/in/", keys(40), 7, None);
    let report = send(&api, "bk", src, &options, None).unwrap();
    assert_eq!(
        report.ingest_ids,
        ["nightly-0", "nightly-1", "nightly-2", "nightly-3"]
    );
    assert_eq!(report.files_resumed, 20, "two chunks were repeats");
    assert_eq!((report.files_resumed, report.files_uploaded), (20, 20));
    let st = svc.lock().unwrap();
    assert_eq!(st.ingested.len(), 40);
    assert!(st.ingested.values().all(|&n| n == 1));
}

#[test]
fn videos_go_to_video_references_and_skips_are_reported() {
    let (api, svc) = service();
    let long = format!("v/{}.mp4", "x".repeat(600));
    let ks = vec![
        "v/a.mp4".to_string(),
        "v/b.MOV".into(),
        "v/../c.mp4".into(),
        long.clone(),
        "v/d.jpg".into(),
    ];
    let pages = Arc::new(AtomicUsize::new(0));
    let src = CloudSource::builder("s3://bk/v/")
        .media(MediaKind::Videos)
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIAFAKE")
        .set("AWS_SECRET_ACCESS_KEY", "s")
        .transport(fake_s3(ks, None, pages))
        .build()
        .unwrap();
    let report = send(&api, "vids", src, &Options::default(), None).unwrap();
    let r = &report;
    assert_eq!(
        (r.files_found, r.files_uploaded, r.skipped.len()),
        (2, 2, 2)
    );
    assert!(r.skipped.iter().all(|s| s.reason == SkipReason::Unreadable));
    let reasons: Vec<&str> = r.skipped.iter().map(|s| s.detail.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("512 bytes")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("`..`")), "{reasons:?}");
    let st = svc.lock().unwrap();
    let (path, _, body) = &st.requests[0];
    assert!(
        path.ends_with("/batches/vids/bulk-upload/video-references"),
        "{path}"
    );
    assert_eq!(body["videoReferences"].as_array().unwrap().len(), 2);
    assert!(body.get("imageReferences").is_none());
}

#[test]
fn an_empty_source_is_an_error_and_sends_nothing() {
    let (api, svc) = service();
    let (src, _) = source("s3://bk/in/*.png", keys(10), 100, None);
    let err = send(&api, "bk", src, &Options::default(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("no images found in s3://bk/in/*.png"),
        "{err}"
    );
    assert!(svc.lock().unwrap().requests.is_empty());
}

#[test]
fn listing_is_lazy_one_page_at_a_time() {
    let (src, pages) = source("s3://bk/in/", keys(100), 10, None);
    let first: Vec<_> = src.objects().take(3).collect::<Result<_, _>>().unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(
        pages.load(Ordering::SeqCst),
        1,
        "only the first page was fetched"
    );
    let all = src.objects().count();
    assert_eq!(all, 100);
}

#[test]
fn a_repeated_page_token_and_the_page_cap_stop_the_listing() {
    let looping = |_req: HttpRequest| -> Reply {
        Ok(HttpResponse::new(
            200,
            r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Contents><Key>a.jpg</Key></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>same</NextContinuationToken></ListBucketResult>"#,
        ))
    };
    let build = |cap| {
        CloudSource::builder("s3://bk/")
            .env(None::<fn(&str) -> Option<String>>)
            .set("AWS_ACCESS_KEY_ID", "A")
            .set("AWS_SECRET_ACCESS_KEY", "S")
            .max_pages(cap)
            .transport(looping)
            .build()
            .unwrap()
    };
    let r: Vec<_> = build(100).objects().collect();
    assert!(
        matches!(r.last(), Some(Err(Error::RepeatedPageToken { .. }))),
        "{r:?}"
    );
    let r: Vec<_> = build(1).objects().collect();
    assert!(
        r.last()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("cap"),
        "{r:?}"
    );
}

/// A service account lists through the JSON API with a token minted from a signed JWT;
/// a refused token is a clear error that shows neither the JWT nor the key.
#[test]
fn gcs_service_account_tokens() {
    let key_file = cloud_support::service_account_key_file();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let grant_ok = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let ok = grant_ok.clone();
    let transport = move |req: HttpRequest| -> Reply {
        if req.url == "http://127.0.0.1:1/token" {
            let form = String::from_utf8(req.body.into_bytes().unwrap()).unwrap();
            assert!(
                form.starts_with(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
                ),
                "{form}"
            );
            let jwt = form.rsplit('=').next().unwrap();
            assert_eq!(jwt.split('.').count(), 3);
            log.lock().unwrap().push(jwt.to_string());
            return Ok(if ok.load(Ordering::SeqCst) {
                HttpResponse::json(
                    200,
                    r#"{"access_token":"ya29.token-0123456789","expires_in":3599}"#,
                )
            } else {
                HttpResponse::json(
                    400,
                    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                )
            });
        }
        assert!(
            req.url.starts_with(
                "https://storage.googleapis.com/storage/v1/b/bk/o?prefix=in%2F&maxResults="
            ),
            "{}",
            req.url
        );
        assert_eq!(
            req.header("authorization"),
            Some("Bearer ya29.token-0123456789")
        );
        Ok(HttpResponse::json(
            200,
            r#"{"items":[{"name":"in/a.jpg","size":"12"},{"name":"in/b.txt","size":"1"}]}"#,
        ))
    };
    let src = CloudSource::builder("gs://bk/in/")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            key_file.path().to_str().unwrap(),
        )
        .retry_policy(RetryPolicy::never())
        .transport(transport)
        .build()
        .unwrap();
    let refs: Vec<_> = src.references().collect::<Result<_, _>>().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].size, Some(12));
    assert!(refs[0].url.starts_with("https://storage.googleapis.com/bk/in/a.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=signer%40test.iam.gserviceaccount.com%2F"));
    // The token is kept: a second listing mints no new one.
    src.check_access().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);

    grant_ok.store(false, Ordering::SeqCst);
    let fresh = CloudSource::builder("gs://bk/in/")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            key_file.path().to_str().unwrap(),
        )
        .retry_policy(RetryPolicy::never())
        .transport(move |r: HttpRequest| -> Reply {
            assert_eq!(
                r.url, "http://127.0.0.1:1/token",
                "nothing is listed without a token"
            );
            Ok(HttpResponse::json(
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            ))
        })
        .build()
        .unwrap();
    let err = fresh.check_access().unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("signer@test.iam.gserviceaccount.com")
            && text.contains("invalid_grant")
            && text.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{text}"
    );
    let jwt = &seen.lock().unwrap()[0];
    assert!(
        !text.contains(jwt.as_str()) && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}

/// A bucket in another region: S3 answers 301 with `x-amz-bucket-region`, and the error
/// says which region to set.
#[test]
fn s3_wrong_region_names_the_right_one() {
    let src = CloudSource::builder("s3://bk/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "A")
        .set("AWS_SECRET_ACCESS_KEY", "S")
        .set("AWS_REGION", "us-east-1")
        .transport(|_r: HttpRequest| -> Reply {
            Ok(HttpResponse::new(301, "<Error><Code>PermanentRedirect</Code><Message>use the right endpoint</Message></Error>")
                .with_header("x-amz-bucket-region", "eu-west-1"))
        })
        .build()
        .unwrap();
    let e = src.check_access().unwrap_err().to_string();
    assert!(e.contains("set AWS_REGION=eu-west-1"), "{e}");
}

/// GCS with HMAC keys lists through the XML API with a V4-signed URL (the JSON API does not
/// take HMAC keys), and signs GETs with GOOG4-HMAC-SHA256.
#[test]
fn gcs_hmac_keys_list_through_the_xml_api() {
    let src = CloudSource::builder("gs://bk/in/*.jpg")
        .env(None::<fn(&str) -> Option<String>>)
        .set("GCS_HMAC_ACCESS_ID", "GOOGHMACID")
        .set("GCS_HMAC_SECRET", "hmac-secret-0123456789")
        .transport(|req: HttpRequest| -> Reply {
            assert!(req.url.starts_with("https://storage.googleapis.com/bk?X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=GOOGHMACID%2F"), "{}", req.url);
            let q: BTreeMap<String, String> = req.query().into_iter().collect();
            assert_eq!((q["list-type"].as_str(), q["prefix"].as_str()), ("2", "in/"));
            assert_eq!(q["X-Goog-Signature"].len(), 64);
            Ok(HttpResponse::new(200, r#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Contents><Key>in/a.jpg</Key><Size>3</Size></Contents><Contents><Key>in/sub/b.jpg</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>"#))
        })
        .build()
        .unwrap();
    let refs: Vec<_> = src.references().collect::<Result<_, _>>().unwrap();
    assert_eq!(refs.len(), 1, "the glob keeps the top level only");
    assert!(refs[0].url.contains("X-Goog-Algorithm=GOOG4-HMAC-SHA256"));
    assert!(!format!("{src:?} {:?}", refs[0]).contains("hmac-secret"));
}

/// Distinctive secrets never show in `Debug` of builders, sources or references, nor in
/// the errors of a refused listing, for any store.
#[test]
fn secrets_never_show() {
    let secrets = [
        "SECRETAWS0123456789",
        "SESSIONTOKEN0123456789",
        "SASSIG0123456789",
    ];
    let refused = |_r: HttpRequest| -> Reply {
        Ok(HttpResponse::new(
            403,
            "<Error><Code>AccessDenied</Code><Message>echo SECRETAWS0123456789 SESSIONTOKEN0123456789 https://x/y?sig=SASSIG0123456789&X-Amz-Signature=abcdef0123</Message></Error>",
        ))
    };
    let s3 = CloudSource::builder("s3://bk/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIADISTINCT")
        .set("AWS_SECRET_ACCESS_KEY", secrets[0])
        .set("AWS_SESSION_TOKEN", secrets[1])
        .retry_policy(RetryPolicy::never())
        .transport(refused);
    let az = CloudSource::builder("az://c/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AZURE_STORAGE_ACCOUNT_NAME", "acct")
        .set(
            "AZURE_STORAGE_SAS_TOKEN",
            format!("sv=2022&sp=rl&sig={}", secrets[2]),
        )
        .retry_policy(RetryPolicy::never())
        .transport(refused);
    let mut texts = vec![format!("{s3:?}"), format!("{az:?}")];
    for b in [s3, az] {
        let src = b.build().unwrap();
        texts.push(format!("{src:?}"));
        let e = src.check_access().unwrap_err();
        assert!(matches!(
            e,
            Error::Cloud {
                status: Some(403),
                ..
            }
        ));
        texts.push(format!("{e} {e:?}"));
        let r = src.sign("a.jpg").unwrap();
        let signed = roboflow_batch::cloud::SignedReference {
            key: "a.jpg".into(),
            name: "a.jpg".into(),
            url: r,
            size: None,
        };
        texts.push(format!("{signed:?}"));
    }
    for t in &texts {
        for s in secrets {
            assert!(!t.contains(s), "{s} in {t}");
        }
    }
    assert!(
        texts.iter().any(|t| t.contains("AccessDenied")),
        "the store's code is kept"
    );
}

/// Empty objects and objects over the size limit are skipped with the local folder's
/// reasons, from the listing's sizes; nothing of them is sent.
#[test]
fn empty_and_oversize_objects_are_skipped() {
    let (api, svc) = service();
    let listing = |_req: HttpRequest| -> Reply {
        Ok(HttpResponse::new(
            200,
            r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Contents><Key>in/empty.jpg</Key><Size>0</Size></Contents><Contents><Key>in/huge.jpg</Key><Size>31457280</Size></Contents><Contents><Key>in/ok.jpg</Key><Size>5</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>"#,
        ))
    };
    let src = || {
        CloudSource::builder("s3://bk/in/")
            .env(None::<fn(&str) -> Option<String>>)
            .set("AWS_ACCESS_KEY_ID", "A")
            .set("AWS_SECRET_ACCESS_KEY", "S")
            .transport(listing)
            .build()
            .unwrap()
    };
    let r = send(&api, "bk", src(), &Options::default(), None).unwrap();
    let skipped: Vec<(&str, SkipReason)> = r
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("in/empty.jpg", SkipReason::Empty),
            ("in/huge.jpg", SkipReason::TooLarge)
        ]
    );
    assert_eq!(
        (r.files_found, r.files_uploaded, r.bytes_uploaded),
        (1, 1, 5)
    );
    assert_eq!(
        svc.lock().unwrap().ingested.keys().collect::<Vec<_>>(),
        ["ok.jpg"]
    );
    // A larger limit lets the big one through.
    let (api2, _) = service();
    let bigger = Options {
        max_file_size: Some(64 << 20),
        ..Default::default()
    };
    let r = send(&api2, "bk", src(), &bigger, None).unwrap();
    assert_eq!(r.files_uploaded, 2);
}

#[test]
fn endless_empty_pages_stop_the_listing() {
    // Every page is empty and carries a new token: without a cap the listing never ends
    // (the page cap, a million by default, is no help in practice).
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let empty = move |_req: HttpRequest| -> Reply {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Ok(HttpResponse::new(
            200,
            format!(
                r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><NextContinuationToken>t{i}</NextContinuationToken></ListBucketResult>"#
            ),
        ))
    };
    let src = CloudSource::builder("s3://bk/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "A")
        .set("AWS_SECRET_ACCESS_KEY", "S")
        .transport(empty)
        .build()
        .unwrap();
    let r: Vec<_> = src.objects().collect();
    assert!(
        matches!(
            r.last(),
            Some(Err(Error::TooManyEmptyPages { pages: 100, .. }))
        ),
        "{r:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 100);
}

#[test]
fn one_chunk_carries_the_given_ingest_id_unchanged_and_several_are_numbered() {
    // (objects, chunk size, ids sent): one chunk, even exactly full, keeps the id (the
    // official client sends it unchanged, and a webhook receiver may be keyed on it).
    for (n, chunk, want) in [
        (5, 20, vec!["nightly".to_string()]),
        (20, 20, vec!["nightly".to_string()]),
        (
            21,
            20,
            vec!["nightly-0".to_string(), "nightly-1".to_string()],
        ),
        (
            40,
            20,
            vec!["nightly-0".to_string(), "nightly-1".to_string()],
        ),
    ] {
        let (api, svc) = service();
        let options = Options {
            chunk_size: Some(chunk),
            ingest_id: Some("nightly".into()),
            ..Default::default()
        };
        // Pages of 7 keys: a full chunk ends mid-page or at a page's end.
        let (src, _) = source("s3://bk/in/**/*.jpg", keys(n), 7, None);
        let report = send(&api, "bk", src, &options, None).unwrap();
        assert_eq!(report.ingest_ids, want, "{n} objects");
        let sent: Vec<String> = svc
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(_, _, b)| b["ingestId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sent, want, "{n} objects");
        assert_eq!(report.files_uploaded, n as u64);
        // A re-run is answered as a repeat, chunk by chunk.
        let (src, _) = source("s3://bk/in/**/*.jpg", keys(n), 7, None);
        let again = send(&api, "bk", src, &options, None).unwrap();
        assert_eq!(again.files_resumed, n as u64, "{n} objects");
        assert_eq!(again.files_uploaded, 0);
    }
    // Without an id, one chunk is sent under the derived id itself.
    let (api, _) = service();
    let (src, _) = source("s3://bk/in/**/*.jpg", keys(3), 7, None);
    let report = send(&api, "bk", src, &Options::default(), None).unwrap();
    let base = BK_BASE.to_string();
    assert_eq!(report.ingest_ids, vec![base]);
}
