//! Assertions that the public items' doc examples used to carry, kept here so that the
//! examples can stay short: defaults, small conversions, and what `Debug` shows.

use std::time::Duration;

use roboflow_batch::BatchApi;
use roboflow_batch::api::{RequestCounts, RetryPolicy, UploadSource};
use roboflow_batch::progress::{Event, UnitKind};
use roboflow_batch::transport::{
    Body, HttpRequest, HttpResponse, Method, Timeouts, Transport, TransportError,
    TransportErrorKind as K, UreqTransport,
};
use roboflow_batch::wait::WaitOptions;

fn json(body: &'static str) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportError> {
    move |_| Ok(HttpResponse::json(200, body))
}

#[test]
fn builder_settings_and_defaults() {
    // Shared across threads (rayon uploads, parallel downloads): keep it so.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BatchApi>();
    let api = BatchApi::builder().api_key("k").build().unwrap();
    assert_eq!(api.base_url(), "https://api.roboflow.com");
    let api = BatchApi::builder()
        .api_key("k")
        .base_url("http://localhost:8080/v1/")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    assert_eq!(api.base_url(), "http://localhost:8080/v1");
    assert!(format!("{api:?}").contains("max_retries: 0"));
    let api = BatchApi::builder().api_key("s3cret-key").workspace("acme");
    assert!(!format!("{api:?}").contains("s3cret-key"));
    let api = api.transport(json("{}")).build().unwrap();
    assert!(!format!("{api:?}").contains("s3cret-key"));
    assert_eq!(api.workspace().unwrap(), "acme"); // no lookup needed
    assert_eq!(api.requests().total(), 0);
    let looked_up = BatchApi::builder()
        .api_key("k")
        .transport(json(r#"{"workspace":"acme"}"#));
    assert_eq!(looked_up.build().unwrap().workspace().unwrap(), "acme"); // `GET /` through it
    let bad = BatchApi::builder().api_key("k").workspace("not a slug");
    assert!(bad.build().is_err());
    let p = RetryPolicy::default();
    assert_eq!(
        (p.max_retries, p.initial_backoff, p.max_backoff),
        (4, Duration::from_millis(500), Duration::from_secs(30))
    );
    assert_eq!(RetryPolicy::default().max_retries(2).max_retries, 2);
    assert_eq!(WaitOptions::default().poll_interval, Duration::from_secs(2));
    assert_eq!(Timeouts::default().read, Duration::from_secs(60));
    let t = UreqTransport::builder().build();
    assert!(format!("{t:?}").contains("max_idle_connections_per_host: 64"));
    // The region and environment an unset API_BASE_URL follows.
    let vars = |n: &str| match n {
        "ROBOFLOW_API_KEY" => Some("k".to_string()),
        "ROBOFLOW_REGION" => Some("EU".to_string()),
        _ => None,
    };
    let eu = BatchApi::builder_from_vars(vars).unwrap().build().unwrap();
    assert_eq!(eu.base_url(), "https://api.roboflow.eu");
}

#[test]
fn pages_are_lazy_and_counted() {
    let task = |id: &str| {
        format!(
            r#"{{"taskId":"{id}","notification":"","statusType":"info","eventTimestamp":"2025-01-01T00:00:00Z"}}"#
        )
    };
    let first = format!(
        r#"{{"tasks":[{},{}],"nextPageToken":"p2"}}"#,
        task("t1"),
        task("t2")
    );
    let last = format!(r#"{{"tasks":[{}],"nextPageToken":null}}"#, task("t3"));
    let fake = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let page = if req.url.contains("nextPageToken=p2") {
            &last
        } else {
            &first
        };
        Ok(HttpResponse::json(200, page.clone()))
    };
    let api = BatchApi::builder()
        .api_key("k")
        .workspace("acme")
        .transport(fake)
        .build()
        .unwrap();
    let pages = api.tasks("job-1", "processing", None);
    assert_eq!(api.requests().total(), 0, "nothing is fetched until asked");
    let ids: Vec<String> = pages.map(|t| t.unwrap().task_id).collect();
    assert_eq!(ids, ["t1", "t2", "t3"]);
    assert_eq!(api.requests().get("list-tasks"), 2);
}

#[test]
fn request_counts_subtract_and_serialize() {
    let api = BatchApi::builder()
        .api_key("k")
        .workspace("acme")
        .transport(json(r#"{"count": 7}"#))
        .build()
        .unwrap();
    let before = api.requests();
    api.batch_count("my-batch", None).unwrap();
    api.batch_count("my-batch", None).unwrap();
    let spent = api.requests().since(&before);
    assert_eq!((spent.get("batch-count"), spent.total()), (2, 2));
    assert_eq!(
        serde_json::to_string(&spent).unwrap(),
        r#"{"batch-count":2}"#
    );
    assert_eq!(RequestCounts::default().get("list-files"), 0);
    let later: RequestCounts =
        serde_json::from_str(r#"{"list-files": 5, "workspace": 1}"#).unwrap();
    let earlier: RequestCounts = serde_json::from_str(r#"{"workspace": 1}"#).unwrap();
    let since = later.since(&earlier);
    assert_eq!(since.iter().collect::<Vec<_>>(), [("list-files", 5)]);
}

#[test]
fn ids_are_taken_as_any_string_form() {
    let api = BatchApi::builder()
        .api_key("k")
        .workspace("acme")
        .transport(json(r#"{"jobStatus":"running","progress":0.5}"#))
        .build()
        .unwrap();
    let id = roboflow_batch::JobId::new("cars-2026-11").unwrap();
    assert_eq!(
        api.job(&id).unwrap().state(),
        api.job("cars-2026-11").unwrap().state()
    );
}

#[test]
fn bodies_sources_and_transport_errors() {
    let read = |p| -> roboflow_batch::Result<String> { Ok(std::fs::read_to_string(p)?) };
    let e = read("/no/such/file").unwrap_err().to_string();
    assert!(e.starts_with("I/O error: "), "{e}");
    assert_eq!(Method::Put.to_string(), "PUT");
    assert_eq!(Body::Bytes(b"hi".to_vec()).into_bytes().unwrap(), b"hi");
    assert_eq!(UploadSource::bytes(b"tar bytes".to_vec()).len().unwrap(), 9);
    assert!(UploadSource::file("/no/such/dir/img.jpg").len().is_err());
    let e = TransportError::new(K::Connect, "connection refused");
    assert_eq!(e.to_string(), "connect error: connection refused");
    let e = TransportError::new(K::Other, "GET http://h/?api_key=k1 failed");
    assert_eq!(e.message(), "GET http://h/?api_key=REDACTED failed");
    assert_eq!(e.kind(), K::Other);
    let reset = TransportError::from_io(&std::io::ErrorKind::ConnectionReset.into());
    assert_eq!(reset.kind(), K::Interrupted);
    let body = Body::sized(&b"0123456789"[..], 10);
    assert!(body.len() == 10 && !body.is_empty());
    assert!(Body::sized(&b"abc"[..], 5).into_bytes().is_err());
    let r = HttpRequest::new(Method::Post, "http://h:1/a/b?x=y%20z")
        .with_header("X-A", "1")
        .body(Body::Empty);
    let r = HttpRequest::get(r.url).read_timeout_factor(0);
    assert_eq!(r.read_timeout_factor, 1, "at least 1");
    let r = r.with_header("X-A", "1");
    assert_eq!(
        (r.header("x-a"), r.path(), r.query()[0].1.as_str()),
        (Some("1"), "/a/b", "y z")
    );
    let r = HttpResponse::json(200, "{}").with_header("Retry-After", "2");
    assert_eq!(
        (r.header("content-type"), r.header("retry-after")),
        (Some("application/json"), Some("2"))
    );
    assert_eq!(
        HttpResponse::new(200, "hello").read_body(16).unwrap(),
        b"hello"
    );
    assert!(HttpResponse::new(200, "hello").read_body(4).is_err());
    let fake = |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        assert!(req.url.contains("api_key="));
        Ok(HttpResponse::json(200, "{}"))
    };
    let resp = fake.send(HttpRequest::get("http://h/?api_key=k")).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn progress_events_serialize_in_kebab_case() {
    let json = serde_json::to_value(Event::BytesSent { bytes: 1024 }).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"event": "bytes-sent", "bytes": 1024})
    );
    assert_eq!(
        serde_json::to_string(&UnitKind::Shard).unwrap(),
        r#""shard""#
    );
}

#[test]
fn stable_ids_are_stable_and_differ_by_key() {
    use roboflow_batch::ids::stable_id;
    let id = stable_id("run", b"the request and the files", 12);
    assert_eq!(id, stable_id("run", b"the request and the files", 12));
    assert!(id.starts_with("run-") && id.len() == 16);
    assert_ne!(id, stable_id("run", b"other files", 12));
}

#[test]
fn ingests_and_sources_show_their_settings() {
    use roboflow_batch::ingest::{Ingest, Source, UploadMode};
    use roboflow_batch::model::MediaKind;
    let api = BatchApi::builder().api_key("k").build().unwrap();
    let ingest = Ingest::new(&api, "b", Source::folder("photos").recursive(true))
        .media(MediaKind::Videos)
        .mode(UploadMode::Shards);
    let files = Source::files(["a/x.jpg", "b/y.jpg"]).follow_links(true);
    let shown = format!(
        "{ingest:?} {files:?} {:?}",
        Source::references("refs.jsonl")
    );
    for want in ["photos", "recursive: true", "Videos", "Shards", "b/y.jpg"] {
        assert!(shown.contains(want), "{want} in {shown}");
    }
    assert!(shown.contains("follow_links: true") && shown.contains("refs.jsonl"));
    assert_eq!(UploadMode::default(), UploadMode::Auto);
}

#[cfg(feature = "cloud")]
#[test]
fn bucket_urls_and_sources() {
    use roboflow_batch::cloud::{BucketUrl, CloudObject, CloudSource, StoreKind};
    let u = BucketUrl::parse("s3://photos/2024/**/*.jpg").unwrap();
    assert_eq!(u.kind(), StoreKind::S3);
    let all = BucketUrl::parse("gs://photos/raw").unwrap();
    assert_eq!((all.prefix(), all.glob()), ("raw/", None));
    assert!(BucketUrl::parse("s3:///no-bucket").is_err());
    let az = BucketUrl::parse("az://media@acct.blob.core.windows.net/v/*.mp4").unwrap();
    assert_eq!(az.account(), Some("acct"));
    assert_eq!(BucketUrl::parse("az://c/x").unwrap().account(), None);
    assert_eq!(BucketUrl::parse("s3://b").unwrap().prefix(), "");
    assert!(BucketUrl::looks_like("gs://b/x"));
    let u = BucketUrl::parse("s3://b/in/*/x?.jpg").unwrap();
    assert!(u.matches("in/cats/x1.jpg"));
    assert!(!u.matches("out/cats/x1.jpg"));
    let o = CloudObject {
        key: "in/a.jpg".into(),
        size: Some(10),
    };
    assert_eq!(o.size, Some(10));
    let b = CloudSource::builder("s3://b/").set("AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
    let shown = format!("{b:?}");
    assert!(shown.contains("AWS_ENDPOINT_URL") && !shown.contains("127.0.0.1:9000"));
}

#[cfg(feature = "sandbox")]
#[test]
fn image_sets_are_deterministic_and_named() {
    use roboflow_batch::testdata::{ImageFormat, ImageSet};
    let dir = tempfile::tempdir().unwrap();
    let set = ImageSet::new(3)
        .dimensions(20..=40, 10..=30)
        .formats(&[ImageFormat::Png, ImageFormat::Jpeg])
        .prefix("cat-");
    let images = set.write_to(dir.path()).unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images[0].name, "cat-00000.png");
    assert_eq!(images[1].format, ImageFormat::Jpeg);
    assert!((20..=40).contains(&images[0].width) && (10..=30).contains(&images[0].height));
    assert_eq!(
        std::fs::read(&images[1].path).unwrap().len() as u64,
        images[1].size
    );
    assert_eq!(ImageFormat::Png.extension(), "png");
    let one = |seed| ImageSet::new(1).seed(seed).image(0);
    assert_ne!(one(1), one(2));
    assert_eq!(one(1), one(1));
    let sized = ImageSet::new(1).file_size(50_000..=50_000).image(0);
    assert_eq!(sized.len(), 50_000);
}

#[test]
fn redaction_in_json_bodies_and_of_values() {
    use roboflow_batch::redact::{redact_text, scrub};
    assert_eq!(scrub("key=abc123 seen", &["abc123"]), "key=REDACTED seen");
    let body = r#"{"error":"could not fetch https://b.s3.amazonaws.com/a.jpg?X-Amz-Date=20250101&X-Amz-Signature=9f8e7d"}"#;
    assert_eq!(
        redact_text(body),
        r#"{"error":"could not fetch https://b.s3.amazonaws.com/a.jpg?X-Amz-Date=20250101&X-Amz-Signature=REDACTED"}"#,
    );
}
