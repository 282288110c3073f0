//! The real `BatchApi` (over `UreqTransport`) against the sandbox, for every data-staging
//! endpoint and its failures. Scenarios are plain functions over `(api, ctx)`, in the
//! style of object_store's conformance suite, called from the `#[test]`s below.
#![cfg(feature = "sandbox")]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use roboflow_batch::api::{Clock, RetryPolicy, UploadSource};
use roboflow_batch::model::{
    BatchContentType, BatchType, FileMetadata, FileReference, ReferencesIngest, RoboQlIngest,
    ShardDetails,
};
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig};
use roboflow_batch::transport::{Timeouts, UreqTransport};
use roboflow_batch::{BatchApi, Error};

use common::sandbox::{png, tar_of};

struct Ctx {
    sb: Sandbox,
}

fn start(config: SandboxConfig) -> Ctx {
    Ctx {
        sb: Sandbox::start(config.indexing_delay(Duration::from_millis(150)))
            .expect("sandbox starts"),
    }
}

fn api(ctx: &Ctx) -> BatchApi {
    api_with(ctx, RetryPolicy::never())
}

fn api_with(ctx: &Ctx, retry: RetryPolicy) -> BatchApi {
    api_timeout(ctx, retry, Duration::from_secs(2))
}

fn api_timeout(ctx: &Ctx, retry: RetryPolicy, read: Duration) -> BatchApi {
    BatchApi::builder()
        .base_url(ctx.sb.base_url())
        .api_key(ctx.sb.api_key())
        .retry_policy(retry)
        .clock(Clock::system().sleep_fn(|_| {}))
        .transport(
            UreqTransport::builder()
                .timeouts(Timeouts {
                    read,
                    ..Timeouts::default()
                })
                .build(),
        )
        .build()
        .expect("client builds")
}

/// Every shard of `batch`, in one page of the client's default size.
fn shards(api: &BatchApi, batch: &str) -> Vec<ShardDetails> {
    api.shards(batch, None).collect::<Result<_, _>>().unwrap()
}

/// The first file of `batch`.
fn first_file(api: &BatchApi, batch: &str) -> FileMetadata {
    api.files(batch, None, None).next().unwrap().unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn download(api: &BatchApi, url: &str) -> Vec<u8> {
    let mut resp = api.download(url).expect("download");
    let mut v = Vec::new();
    resp.body.read_to_end(&mut v).expect("body");
    v
}

/// A raw request with the API key, for what `BatchApi` refuses to send.
fn raw(ctx: &Ctx, method: &str, path_and_query: &str) -> (u16, serde_json::Value) {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{path_and_query}{sep}api_key={}",
        ctx.sb.base_url(),
        ctx.sb.api_key()
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = match method {
        "POST" => agent.post(&url).send_empty(),
        _ => agent.get(&url).call(),
    };
    let mut resp = resp.expect("raw request");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn error_text(v: &serde_json::Value) -> String {
    v["error"].as_str().unwrap_or_default().to_string()
}

fn ws_path(ctx: &Ctx, rest: &str) -> String {
    format!("/data-staging/v1/external/{}{rest}", ctx.sb.workspace())
}

// ---- scenarios ----

fn scenario_workspace_and_auth(api: &BatchApi, ctx: &Ctx) {
    assert_eq!(api.fetch_workspace().unwrap().workspace, ctx.sb.workspace());
    assert_eq!(api.workspace().unwrap(), ctx.sb.workspace());
    let bad_key = BatchApi::builder()
        .base_url(ctx.sb.base_url())
        .api_key("wrong")
        .build()
        .unwrap();
    assert!(matches!(
        bad_key.fetch_workspace(),
        Err(Error::Unauthorized(_))
    ));
    let bad_ws = BatchApi::builder()
        .base_url(ctx.sb.base_url())
        .api_key(ctx.sb.api_key())
        .workspace("someone-else")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let mut listing = bad_ws.batches(None);
    assert!(matches!(listing.next(), Some(Err(Error::NotFound(_)))));
    assert!(listing.next().is_none());
}

fn scenario_simple_upload(api: &BatchApi, _ctx: &Ctx) {
    let images: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("img{i}.png"), png(10 + i, 20)))
        .collect();
    for (name, bytes) in &images {
        api.upload_image("simple-1", name, bytes, Some("Simple one"))
            .unwrap();
    }
    let b = api.batch("simple-1").unwrap();
    assert_eq!(b.batch_type, BatchType::Simple);
    assert_eq!(b.batch_content_type, BatchContentType::Images);
    assert_eq!(b.display_name, "Simple one");
    assert_eq!(
        b.expiry_date.unix_seconds() - b.created_date.unix_seconds(),
        7 * 24 * 3600
    );
    assert_eq!(api.batch_count("simple-1", None).unwrap(), 3);
    assert!(api.list_parts("simple-1").unwrap().is_empty());

    // Pages of 2: the first names the second, the last names none.
    let before = api.requests();
    assert_eq!(api.files("simple-1", None, Some(2)).count(), 3);
    assert_eq!(api.requests().since(&before).get("list-files"), 2);
    let before = api.requests();
    let all: Vec<_> = api
        .files("simple-1", None, Some(1))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(api.requests().since(&before).get("list-files"), 3);
    for f in &all {
        assert_eq!(f.content_type, "image/png");
        let want = &images.iter().find(|(n, _)| n == &f.file_name).unwrap().1;
        assert_eq!(&download(api, &f.download_url), want, "{}", f.file_name);
    }
    // A repeat replaces, never duplicates.
    api.upload_image("simple-1", "img0.png", &png(1, 1), None)
        .unwrap();
    assert_eq!(api.batch_count("simple-1", None).unwrap(), 3);
    let listed: Vec<_> = api.batches(Some(1)).collect::<Result<_, _>>().unwrap();
    assert!(listed.iter().any(|b| b.batch_id == "simple-1"));
}

fn scenario_sharded_upload(api: &BatchApi, _ctx: &Ctx) {
    let target = api.request_shard_upload("bulk-1", None).unwrap();
    assert_eq!(target.max_number_of_images, Some(500));
    assert!(target.max_shard_size.is_some_and(|n| n > 0));
    assert!(target.shard_id.is_some());
    assert!(!target.extension_headers.is_empty());
    let (a, b, c) = (png(1, 2), png(3, 4), png(5, 6));
    let shard = tar_of(&[
        ("a.png", &a),
        ("dir/b.png", &b),
        ("c.png", &c),
        ("notes.txt", b"just some text, not an image"),
    ]);
    api.put_signed(&target, &UploadSource::bytes(shard))
        .unwrap();
    // Indexing lags: nothing is counted yet, and the shard is in progress.
    assert_eq!(api.batch_count("bulk-1", None).unwrap(), 0);
    let before = api.requests();
    let listed = shards(api, "bulk-1");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status_type, "info");
    assert_eq!(api.requests().since(&before).get("list-shards"), 1);

    wait_for("the shard to be indexed", || {
        shards(api, "bulk-1")[0].status_type != "info"
    });
    let s = &shards(api, "bulk-1")[0];
    assert_eq!(s.status_type, "success", "{s:?}");
    assert_eq!(s.shard_objects_count, 3);
    let meta = s
        .status_metadata
        .as_ref()
        .expect("status metadata")
        .to_string();
    assert!(
        meta.contains("notes.txt") && meta.contains("unsupported-file-type"),
        "{meta}"
    );
    assert_eq!(api.batch_count("bulk-1", None).unwrap(), 3);

    let meta = api.batch("bulk-1").unwrap();
    assert_eq!(meta.batch_type, BatchType::Sharded);
    let files: Vec<_> = api
        .files("bulk-1", None, None)
        .collect::<Result<_, _>>()
        .unwrap();
    let b_file = files
        .iter()
        .find(|f| f.file_name == "b.png")
        .expect("b.png listed");
    assert_eq!(b_file.shard_id, target.shard_id);
    assert_eq!(download(api, &b_file.download_url), b);
}

fn scenario_bad_shards(api: &BatchApi, _ctx: &Ctx) {
    // A member over the per-file limit and a shard that is not a tar at all.
    let target = api.request_shard_upload("bulk-bad", None).unwrap();
    let big = vec![0u8; 70 * 1024];
    let mut big_png = png(1, 1);
    big_png.extend_from_slice(&big);
    api.put_signed(
        &target,
        &UploadSource::bytes(tar_of(&[("big.png", &big_png), ("ok.png", &png(2, 2))])),
    )
    .unwrap();
    let junk = api.request_shard_upload("bulk-bad", None).unwrap();
    api.put_signed(&junk, &UploadSource::bytes(vec![7u8; 1500]))
        .unwrap();
    wait_for("both shards to finish", || {
        let p = shards(api, "bulk-bad");
        p.len() == 2 && p.iter().all(|s| s.status_type != "info")
    });
    // Pages of 1: the first names the second.
    let before = api.requests();
    let all: Vec<_> = api
        .shards("bulk-bad", Some(1))
        .collect::<Result<_, _>>()
        .unwrap();
    let good = all
        .iter()
        .find(|s| s.shard_id == target.shard_id.clone().unwrap())
        .unwrap();
    let meta = good.status_metadata.as_ref().unwrap().to_string();
    assert!(
        meta.contains("file-size-limit-exceeded") && meta.contains("big.png"),
        "{meta}"
    );
    assert_eq!(api.requests().since(&before).get("list-shards"), 2);
    let bad = all
        .iter()
        .find(|s| s.shard_id == junk.shard_id.clone().unwrap())
        .unwrap();
    assert!(bad.is_failed(), "{bad:?}");
    assert_eq!(api.batch_count("bulk-bad", None).unwrap(), 1);
}

fn scenario_mixing_refused(api: &BatchApi, _ctx: &Ctx) {
    api.upload_image("mix-simple", "a.png", &png(1, 1), None)
        .unwrap();
    let e = api.request_shard_upload("mix-simple", None).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("cannot be combined"), "{e}");
    api.request_shard_upload("mix-bulk", None).unwrap();
    let e = api
        .upload_image("mix-bulk", "a.png", &png(1, 1), None)
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
}

fn scenario_validation(api: &BatchApi, ctx: &Ctx) {
    let (s, body) = raw(ctx, "GET", &ws_path(ctx, "/batches/Bad%20Id"));
    assert_eq!(s, 400);
    assert!(error_text(&body).contains("batch_id"), "{body}");
    let (s, body) = raw(ctx, "POST", &ws_path(ctx, "/batches/v1/upload/video"));
    assert_eq!(s, 400);
    assert!(error_text(&body).contains("fileName"), "{body}");
    let (s, body) = raw(ctx, "POST", &ws_path(ctx, "/batches/v1/upload/image"));
    assert_eq!(s, 400);
    assert!(error_text(&body).contains("fileName"), "{body}");
    let (s, body) = raw(ctx, "GET", &ws_path(ctx, "/batches?pageSize=0"));
    assert_eq!(s, 400);
    assert!(error_text(&body).contains("pageSize"), "{body}");
    let (s, body) = raw(ctx, "GET", &ws_path(ctx, "/batches?nextPageToken=zzz"));
    assert_eq!(s, 400);
    assert!(error_text(&body).contains("nextPageToken"), "{body}");
    let (s, body) = raw(
        ctx,
        "POST",
        &ws_path(ctx, "/batches/refs/bulk-upload/image-references"),
    );
    assert_eq!(s, 400, "{body}");
    let e = api
        .upload_image("notimg", "x.png", b"plain text", None)
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(matches!(
        api.batch("no-such-batch"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        api.batch_count("no-such-batch", None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        api.shards("no-such-batch", None).next(),
        Some(Err(Error::NotFound(_)))
    ));
    let (s, body) = raw(ctx, "GET", &ws_path(ctx, "/nowhere"));
    assert_eq!(s, 404, "{body}");
}

fn scenario_video_upload(api: &BatchApi, _ctx: &Ctx) {
    let target = api
        .request_video_upload("videos-1", "clip.mp4", None)
        .unwrap();
    assert!(target.max_file_size.is_some());
    let bytes: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    api.put_signed(&target, &UploadSource::bytes(bytes.clone()))
        .unwrap();
    assert_eq!(api.batch_count("videos-1", None).unwrap(), 1);
    let b = api.batch("videos-1").unwrap();
    assert_eq!(b.batch_content_type, BatchContentType::Videos);
    let file = first_file(api, "videos-1");
    assert_eq!(file.file_name, "clip.mp4");
    assert_eq!(download(api, &file.download_url), bytes);
}

fn scenario_references(api: &BatchApi, _ctx: &Ctx) {
    let body = ReferencesIngest {
        image_references: Some(vec![FileReference {
            name: "r.jpg".into(),
            url: "https://example.com/r.jpg?sig=x".into(),
        }]),
        ingest_id: Some("ingest-1".into()),
        ..Default::default()
    };
    let first = api.ingest_image_references("refs-1", &body, None).unwrap();
    assert_eq!(first.ingest_id, "ingest-1");
    assert_eq!(first.shard_ids.as_ref().map(Vec::len), Some(1));
    assert_ne!(first.duplicated, Some(true));
    let again = api.ingest_image_references("refs-1", &body, None).unwrap();
    assert_eq!(again.duplicated, Some(true));
    assert_eq!(again.shard_ids, first.shard_ids);
    wait_for("the references shard to fail", || {
        shards(api, "refs-1")[0].is_failed()
    });
    let s = &shards(api, "refs-1")[0];
    // example.com is not loopback, and the sandbox fetches nothing from it.
    let meta = s.status_metadata.as_ref().unwrap();
    assert_eq!(
        meta["failedFiles"][0]["type"], "unsafe-url-detected",
        "{s:?}"
    );
    assert!(meta.to_string().contains("not allowed"), "{s:?}");
    assert_eq!(api.batch_count("refs-1", None).unwrap(), 0);
    // A RoboQL ingest is recorded and fails: the sandbox has no Asset Library.
    let q = RoboQlIngest::new("tag:cars").ingest_id("rq-1");
    let answer = api.ingest_roboql("roboql-1", &q).unwrap();
    assert_eq!(answer["ingestId"], "rq-1");
    assert_eq!(
        api.ingest_roboql("roboql-1", &q).unwrap()["duplicated"],
        true
    );
    wait_for("the RoboQL shard to fail", || {
        shards(api, "roboql-1")[0].is_failed()
    });
    let s = &api.shards("roboql-1", None).next().unwrap().unwrap();
    assert!(
        format!("{:?}", s.status_metadata).contains("Asset Library"),
        "{s:?}"
    );
    let videos = ReferencesIngest {
        image_references_url: Some("https://example.com/list.jsonl".into()),
        ..Default::default()
    };
    let r = api
        .ingest_video_references("refs-v", &videos, None)
        .unwrap();
    assert!(!r.ingest_id.is_empty());
    assert_eq!(
        api.batch("refs-v").unwrap().batch_content_type,
        BatchContentType::Videos
    );
}

fn scenario_put_needs_extension_header(api: &BatchApi, _ctx: &Ctx) {
    let mut target = api.request_shard_upload("hdr-1", None).unwrap();
    target.extension_headers.clear();
    let e = api
        .put_signed(
            &target,
            &UploadSource::bytes(tar_of(&[("a.png", &png(1, 1))])),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("x-rfbatch-upload"), "{e}");
    let mut tampered = api.request_shard_upload("hdr-1", None).unwrap();
    tampered.upload_url = tampered.upload_url.replace("expires=", "expires=9");
    let e = api
        .put_signed(&tampered, &UploadSource::bytes(vec![0u8; 10]))
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e}");
}

/// A PUT whose body is shorter than its Content-Length is refused and never indexed.
fn scenario_truncated_put(api: &BatchApi, ctx: &Ctx) {
    let target = api.request_shard_upload("trunc-1", None).unwrap();
    let shard = tar_of(&[("a.png", &png(1, 1)), ("b.png", &png(2, 2))]);
    let url = target.upload_url.strip_prefix(ctx.sb.base_url()).unwrap();
    let addr = ctx.sb.base_url().trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = format!(
        "PUT {url} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        shard.len()
    );
    for (k, v) in &target.extension_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(&shard[..shard.len() / 2]).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    let _ = tcp.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("truncated"), "{reply}");
    std::thread::sleep(Duration::from_millis(400));
    assert!(shards(api, "trunc-1").is_empty());
    assert_eq!(api.batch_count("trunc-1", None).unwrap(), 0);
    // The same URL still takes a complete upload.
    api.put_signed(&target, &UploadSource::bytes(shard))
        .unwrap();
    wait_for("the complete shard", || {
        api.batch_count("trunc-1", None).unwrap() == 2
    });
}

fn scenario_output_batch_absent(api: &BatchApi, _ctx: &Ctx) {
    // Output batches are made by jobs; an unknown part counts nothing.
    api.upload_image("parts-1", "a.png", &png(1, 1), None)
        .unwrap();
    assert_eq!(api.batch_count("parts-1", Some("nope")).unwrap(), 0);
}

// ---- tests ----

macro_rules! on_default_sandbox {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let ctx = start(SandboxConfig::default());
                super::$name(&api(&ctx), &ctx);
            }
        )*
    };
}

mod default_sandbox {
    use super::*;
    on_default_sandbox!(
        scenario_workspace_and_auth,
        scenario_simple_upload,
        scenario_sharded_upload,
        scenario_mixing_refused,
        scenario_validation,
        scenario_video_upload,
        scenario_references,
        scenario_put_needs_extension_header,
        scenario_truncated_put,
        scenario_output_batch_absent,
    );

    #[test]
    fn scenario_bad_shards() {
        let ctx = start(SandboxConfig::default().max_image_size(64 * 1024));
        super::scenario_bad_shards(&api(&ctx), &ctx);
    }
}

#[test]
fn expired_upload_url_is_refused() {
    let faults = Faults::seeded(1).put(FaultSettings::default().expired_urls(true));
    let ctx = start(SandboxConfig::default().faults(faults));
    let api = api(&ctx);
    let target = api.request_shard_upload("exp-1", None).unwrap();
    let e = api
        .put_signed(
            &target,
            &UploadSource::bytes(tar_of(&[("a.png", &png(1, 1))])),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn expired_download_url_is_refused() {
    let faults = Faults::seeded(1).download(FaultSettings::default().expired_urls(true));
    let ctx = start(SandboxConfig::default().faults(faults));
    let api = api(&ctx);
    api.upload_image("exp-2", "a.png", &png(1, 1), None)
        .unwrap();
    let e = api
        .download(&first_file(&api, "exp-2").download_url)
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn oversize_put_is_refused() {
    let ctx = start(SandboxConfig::default().max_shard_size(4096));
    let api = api(&ctx);
    let target = api.request_shard_upload("big-1", None).unwrap();
    assert_eq!(target.max_shard_size, Some(4096));
    let e = api
        .put_signed(&target, &UploadSource::bytes(vec![0u8; 8192]))
        .unwrap_err();
    assert_eq!(e.status(), Some(413), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(shards(&api, "big-1").is_empty());
}

#[test]
fn injected_faults_are_retried_and_deterministic() {
    let flaky = FaultSettings::default().rate_503(0.3).rate_429(0.1, 1);
    let ctx = start(SandboxConfig::default().faults(Faults::seeded(7).all(flaky)));
    let api = api_with(
        &ctx,
        RetryPolicy {
            max_retries: 20,
            ..RetryPolicy::default()
        },
    );
    for i in 0..5 {
        api.upload_image("flaky", &format!("f{i}.png"), &png(i, i), None)
            .unwrap();
    }
    let files: Vec<_> = api
        .files("flaky", None, Some(2))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(files.len(), 5);
    for f in &files {
        assert_eq!(download(&api, &f.download_url).len(), png(0, 0).len());
    }
    let target = api.request_shard_upload("flaky-bulk", None).unwrap();
    api.put_signed(
        &target,
        &UploadSource::bytes(tar_of(&[("a.png", &png(1, 1))])),
    )
    .unwrap();

    // Always failing: the retries run out with the last error.
    let down = start(
        SandboxConfig::default()
            .faults(Faults::seeded(7).api(FaultSettings::default().rate_503(1.0))),
    );
    let e = api_with(
        &down,
        RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        },
    )
    .fetch_workspace()
    .unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");

    // The same seed gives the same sequence of statuses, near the rate.
    let statuses = |seed| {
        let f = Faults::seeded(seed).api(FaultSettings::default().rate_500(0.3));
        let ctx = start(SandboxConfig::default().faults(f));
        (0..200)
            .map(|_| raw(&ctx, "GET", "/").0)
            .collect::<Vec<_>>()
    };
    let a = statuses(3);
    assert_eq!(a, statuses(3));
    let failed = a.iter().filter(|s| **s == 500).count();
    assert!((30..90).contains(&failed) && a.contains(&200), "{a:?}");
}

/// A dropped body stalls the client until its read timeout. PUTs are retried through it;
/// downloads show the cut body as a read error (the caller's to retry).
#[test]
fn dropped_bodies() {
    let drops = FaultSettings::default().drop_rate(0.4);
    let faults = Faults::seeded(11).put(drops.clone()).download(drops);
    let ctx = start(SandboxConfig::default().faults(faults));
    let retry = RetryPolicy {
        max_retries: 20,
        ..RetryPolicy::default()
    };
    let api = api_timeout(&ctx, retry, Duration::from_millis(300));
    api.upload_image("drops", "d.png", &png(7, 3), None)
        .unwrap();
    let url = &first_file(&api, "drops").download_url;
    let outcomes: Vec<bool> = (0..8)
        .map(|_| {
            let mut v = Vec::new();
            api.download(url)
                .unwrap()
                .body
                .read_to_end(&mut v)
                .is_ok_and(|_| v == png(7, 3))
        })
        .collect();
    assert!(
        outcomes.contains(&true) && outcomes.contains(&false),
        "{outcomes:?}"
    );
    for _ in 0..3 {
        let target = api.request_shard_upload("drops-bulk", None).unwrap();
        api.put_signed(
            &target,
            &UploadSource::bytes(tar_of(&[("a.png", &png(1, 1))])),
        )
        .unwrap();
    }
    wait_for("the shards", || {
        let p = shards(&api, "drops-bulk");
        p.len() == 3 && p.iter().all(|s| s.status_type == "success")
    });
}

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig::default().data_dir(dir.path());
    let shard_id = {
        let ctx = start(config());
        let api = api(&ctx);
        api.upload_image("keep-simple", "a.png", &png(4, 4), None)
            .unwrap();
        let target = api.request_shard_upload("keep-bulk", None).unwrap();
        api.put_signed(
            &target,
            &UploadSource::bytes(tar_of(&[("m.png", &png(5, 5))])),
        )
        .unwrap();
        wait_for("indexing", || {
            api.batch_count("keep-bulk", None).unwrap() == 1
        });
        // A second shard is left mid-indexing when the sandbox stops.
        let t2 = api.request_shard_upload("keep-bulk", None).unwrap();
        let slow = tar_of(&[("n.png", &png(6, 6))]);
        api.put_signed(&t2, &UploadSource::bytes(slow)).unwrap();
        t2.shard_id.unwrap()
    };
    let ctx = start(config());
    let api = api(&ctx);
    let ids: Vec<String> = api.batches(None).map(|b| b.unwrap().batch_id).collect();
    assert_eq!(
        ids,
        vec!["keep-bulk".to_string(), "keep-simple".to_string()]
    );
    assert_eq!(api.batch_count("keep-simple", None).unwrap(), 1);
    let simple = first_file(&api, "keep-simple");
    assert_eq!(download(&api, &simple.download_url), png(4, 4));
    wait_for("the interrupted shard to resume", || {
        api.batch_count("keep-bulk", None).unwrap() == 2
    });
    assert!(
        shards(&api, "keep-bulk")
            .iter()
            .any(|s| s.shard_id == shard_id && s.status_type == "success")
    );
    let files: Vec<_> = api
        .files("keep-bulk", None, None)
        .collect::<Result<_, _>>()
        .unwrap();
    let m = files.iter().find(|f| f.file_name == "m.png").unwrap();
    assert_eq!(download(&api, &m.download_url), png(5, 5));
}

#[test]
fn ingest_webhooks_from_notification_config() {
    let ctx = start(SandboxConfig::default());
    let api = api(&ctx);
    let (url, rx) = common::sandbox::webhook_receiver();
    let config =
        serde_json::json!({ "ingestId": "my-ingest", "notificationsURL": url }).to_string();
    let target = api.request_shard_upload("hooked", None).unwrap();
    let shard = tar_of(&[
        ("a.png", &png(1, 1)),
        ("notes.txt", b"not an image"),
        ("notification_config.json", config.as_bytes()),
    ]);
    api.put_signed(&target, &UploadSource::bytes(shard))
        .unwrap();
    // A tar shard cannot choose categories: only the default `ingest-status` is sent, and
    // the per-file failures are in the shard's status.
    let hook = rx.next(Duration::from_secs(10)).expect("a webhook");
    let (auth, status) = (
        hook.header("Authorization").unwrap_or("").to_string(),
        hook.json(),
    );
    assert_eq!(auth, format!("Bearer rf_{}", ctx.sb.workspace()));
    assert_eq!(status["type"], "roboflow-data-staging-notification-v1");
    assert_eq!(status["ingest_id"], "my-ingest");
    assert_eq!(status["batch_id"], "hooked");
    assert_eq!(status["delivery_attempt"], 1);
    assert_eq!(
        status["notification"]["type"], "ingest-status-notification-v1",
        "{status}"
    );
    assert_eq!(status["notification"]["success"], true);
    let shard = api.shards("hooked", None).next().unwrap().unwrap();
    assert_eq!(shard.shard_id.as_str(), target.shard_id.as_deref().unwrap());
    let meta = shard.status_metadata.unwrap().to_string();
    assert!(meta.contains("notes.txt"), "{meta}");
    assert!(
        rx.next(Duration::from_millis(500)).is_none(),
        "no files-status webhook for a tar shard"
    );
    // The config member is not a file of the batch.
    assert_eq!(api.batch_count("hooked", None).unwrap(), 1);

    let refs = ReferencesIngest {
        image_references: Some(vec![FileReference {
            name: "r.jpg".into(),
            url: "https://example.com/r.jpg".into(),
        }]),
        notifications_url: Some(url),
        ..Default::default()
    };
    let r = api
        .ingest_image_references("hooked-refs", &refs, None)
        .unwrap();
    let v = rx
        .next(Duration::from_secs(10))
        .expect("an ingest-status webhook")
        .json();
    assert_eq!(v["ingest_id"].as_str(), Some(r.ingest_id.as_str()));
    assert_eq!(v["notification"]["success"], false, "{v}");
    assert!(
        v["notification"]["error_details"]["reason"]
            .as_str()
            .unwrap()
            .contains("not allowed"),
        "{v}"
    );
}

/// `record`: one line per request, in order, naming its form (route, parameters, query
/// keys, the headers that matter, JSON key paths and types, multipart parts, tar members)
/// and none of its secrets.
#[test]
fn the_record_describes_each_request_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let ctx = start(SandboxConfig::default().record(&log));
    let api = api(&ctx);
    api.upload_image("rec", "a.png", &png(2, 2), None).unwrap();
    let target = api.request_shard_upload("shards", None).unwrap();
    let config = br#"{"ingestId": "i", "notificationsURL": "http://127.0.0.1:9/h"}"#;
    let tar = tar_of(&[("b.png", &png(2, 2)), ("notification_config.json", config)]);
    api.put_signed(&target, &UploadSource::bytes(tar)).unwrap();
    // A body of every JSON type (refused, and recorded all the same).
    let body = r#"{"imageReferences": [{"name": "a", "url": "u"}, {"name": "b", "url": null}],
                   "n": 3, "f": 3.0, "flag": false, "empty": [], "nested": {"k": "v"}}"#;
    let url = format!(
        "{}{}?api_key={}&displayName=Big%20Batch",
        ctx.sb.base_url(),
        ws_path(&ctx, "/batches/refs/bulk-upload/image-references"),
        ctx.sb.api_key()
    );
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer s3cret"),
    ];
    let sent = common::sandbox::http("POST", &url, &headers, Some(body.as_bytes()));
    assert_eq!(sent.status, 400);
    let text = std::fs::read_to_string(&log).unwrap();
    let token = target.upload_url.split("token=").nth(1).unwrap();
    for secret in [ctx.sb.api_key(), token, "s3cret", "u\""] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=lines.len() as u64).collect::<Vec<_>>());
    let line = |route: &str| {
        lines
            .iter()
            .find(|l| l["route"].as_str().unwrap().ends_with(route))
            .unwrap()
    };
    let image = line("{batchId}/upload/image");
    assert_eq!(image["params"]["batchId"], "rec");
    assert_eq!(image["queryValues"]["fileName"], "a.png");
    assert_eq!(
        image["headers"]["content-type"],
        "multipart/form-data; boundary"
    );
    assert!(image["multipart"][0]["name"].is_string(), "{image}");
    let put = line("{signedUpload}");
    assert_eq!(put["route"], "PUT {signedUpload}");
    assert_eq!(put["params"], serde_json::json!({}));
    assert_eq!(put["headers"]["x-rfbatch-upload"], "present");
    assert_eq!(
        put["query"],
        serde_json::json!(["expires", "limit", "token"])
    );
    assert!(put["headers"].get("user-agent").is_none(), "{put}");
    assert_eq!(
        put["tar"]["members"],
        serde_json::json!(["b.png", "notification_config.json"])
    );
    assert_eq!(put["tar"]["notificationConfig"]["ingestId"], "string");
    let refs = line("/image-references");
    assert_eq!(
        (refs["status"].as_u64(), &refs["queryValues"]["displayName"]),
        (Some(400), &"Big Batch".into())
    );
    assert_eq!(refs["headers"]["authorization"], "present");
    let paths = &refs["body"]["json"];
    for (path, kind) in [
        ("imageReferences", "array"),
        ("imageReferences[]", "object"),
        ("imageReferences[].url", "string|null"),
        ("n", "integer"),
        ("f", "float"),
        ("flag", "bool"),
        ("empty", "array"),
        ("nested.k", "string"),
    ] {
        assert_eq!(paths[path], kind, "{path} in {paths}");
    }
    assert!(paths.get("empty[]").is_none());
}

/// The single-image form's file part is found by any name (`file`, the file's, or the only
/// one with a filename), its bytes kept exactly; the record names parts, never their bytes.
#[test]
fn single_image_forms_take_the_file_part_by_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let ctx = start(SandboxConfig::default().record(&log));
    let post = |name: &str, content_type: &str, body: &[u8]| {
        let (base, key) = (ctx.sb.base_url(), ctx.sb.api_key());
        let path = ws_path(&ctx, "/batches/forms/upload/image");
        let url = format!("{base}{path}?api_key={key}&fileName={name}");
        common::sandbox::http("POST", &url, &[("Content-Type", content_type)], Some(body)).status
    };
    let form = |head: &str, data: &[u8], end: &str| {
        [
            format!("--xx\r\n{head}\r\n\r\n").as_bytes(),
            data,
            end.as_bytes(),
        ]
        .concat()
    };
    let img = png(2, 2);
    let a = form(
        "Content-Disposition: form-data; name=\"a.png\"; filename=\"a.png\"",
        &img,
        "\r\n--xx--\r\n",
    );
    assert_eq!(
        post("a.png", "multipart/form-data; boundary=\"xx\"", &a),
        200
    );
    // Named `file`, its bytes ending in what looks like another boundary.
    let data = [&img[..], b"\r\n--x"].concat();
    let head =
        "Content-Disposition: form-data; name=\"file\"\r\nContent-Type: Image/PNG\r\nX-Extra: 1";
    let b = form(head, &data, "\r\n--xx--");
    assert_eq!(post("b.png", "multipart/form-data; boundary=xx", &b), 200);
    let stored = |n: &str| std::fs::read(ctx.sb.data_dir().join("staging/forms/files").join(n));
    assert_eq!(
        (stored("a.png").unwrap(), stored("b.png").unwrap()),
        (img, data)
    );
    assert_eq!(
        post("c.png", "multipart/form-data; boundary=xx", b"garbage"),
        400
    );
    assert_eq!(post("c.png", "text/plain", &a), 400);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let parts = |i: usize| lines[i]["multipart"].clone();
    let a_part = serde_json::json!([{ "name": "a.png", "filename": "a.png", "headers": [] }]);
    let b_part =
        serde_json::json!([{ "name": "file", "headers": ["content-type: image/png", "x-extra"] }]);
    assert_eq!((parts(0), parts(1)), (a_part, b_part));
}

/// Varied answers page small, below the size asked; a bad size is still refused.
#[test]
fn varied_pages_are_small_and_capped_below_the_ask() {
    let ctx = start(SandboxConfig::default().vary(3));
    let api = api(&ctx);
    for i in 0..12 {
        api.upload_image(format!("b{i}"), "a.png", &png(1, 1), None)
            .unwrap();
    }
    let page = |q: &str| {
        let (status, v) = raw(&ctx, "GET", &ws_path(&ctx, &format!("/batches{q}")));
        (status, v["batches"].as_array().map_or(0, Vec::len))
    };
    let (status, asked) = page("?pageSize=10");
    assert!(
        status == 200 && (2..10).contains(&asked),
        "{status} {asked}"
    );
    assert!(page("").1 <= asked);
    assert_eq!(page("?pageSize=0").0, 400);
}
