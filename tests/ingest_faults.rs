//! Ingests through injected faults: every file arrives exactly once, and the report says
//! exactly which files did not.

mod ingest_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ingest_util::*;
use roboflow_batch::BatchApi;
use roboflow_batch::progress::{Event, UnitKind};
use roboflow_batch::sandbox::{FaultSettings, Faults, SandboxConfig};
use roboflow_batch::testdata::ImageSet;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Method, Transport, TransportError, TransportErrorKind, UreqTransport,
};

#[test]
fn every_file_exactly_once_through_503s_429s_and_dropped_puts() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(2000)
        .seed(3)
        .dimensions(8..=24, 8..=24)
        .write_to(images.path())
        .unwrap();
    let api_faults = FaultSettings::default().rate_503(0.10).rate_429(0.05, 0);
    let put_faults = FaultSettings::default()
        .rate_503(0.10)
        .rate_429(0.05, 0)
        .drop_rate(0.05);
    let sandbox = sandbox(
        SandboxConfig::default().faults(Faults::seeded(11).api(api_faults).put(put_faults)),
    );
    let api = patient_api(&sandbox);
    let events = Events::default();
    let report = ingest(&api, "faulty", images.path(), journal.path())
        .parallelism(4)
        .max_images_per_shard(50) // 40 shards: plenty of PUTs to fault
        .on_progress(events.sink())
        .run()
        .unwrap();

    assert_complete(&report, 2000);
    assert!(
        report.retries > 0,
        "faults were injected, so some PUTs were retried"
    );
    let listed = listed_names(&api, "faulty");
    assert_eq!(listed.len(), 2000);
    assert!(listed.values().all(|&n| n == 1));
    for g in &generated {
        assert!(listed.contains_key(&g.name), "{} missing", g.name);
    }
    assert_eq!(shard_objects(&api, "faulty"), 2000, "no file indexed twice");
    assert_indexed_once(&sandbox, "faulty", generated.iter().map(|g| g.name.clone()));
    // Dropped PUTs store nothing, so every accepted PUT is one shard.
    assert_eq!(sandbox.put_count(), report.units_uploaded);
    let retries = events
        .all()
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .count() as u64;
    assert_eq!(retries, report.retries);
}

/// A transport that spoils the signature of the first `n` PUTs, as an expired or revoked
/// signed URL would be refused.
fn spoil_first_puts(n: usize) -> impl Transport {
    let inner = UreqTransport::new();
    let spoiled = AtomicUsize::new(0);
    move |mut req: HttpRequest| -> Result<HttpResponse, TransportError> {
        if req.method == Method::Put && spoiled.fetch_add(1, Ordering::SeqCst) < n {
            req.url = req.url.replace("token=", "token=0");
        }
        inner.send(req)
    }
}

#[test]
fn a_rejected_signed_url_is_replaced_by_a_fresh_one() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(120).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(spoil_first_puts(2))
        .build()
        .unwrap();
    let events = Events::default();
    let report = ingest(&api, "fresh-urls", images.path(), journal.path())
        .parallelism(1)
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_complete(&report, 120);
    assert_eq!(report.retries, 2);
    let reasons: Vec<String> = events
        .all()
        .iter()
        .filter_map(|e| match e {
            Event::Retry {
                reason: Some(r), ..
            } => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].contains("403"), "{reasons:?}");
    assert!(
        reasons[0].contains("token=REDACTED"),
        "signed URLs stay secret: {reasons:?}"
    );
}

#[test]
fn a_url_rejected_every_time_fails_only_its_shard() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(300).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    // The first shard's PUT and its three fresh URLs are all refused.
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(spoil_first_puts(4))
        .build()
        .unwrap();
    let report = ingest(&api, "one-bad-shard", images.path(), journal.path())
        .parallelism(1)
        .max_images_per_shard(100)
        .run()
        .unwrap();
    // 300 images, 100 per shard: the first shard failed, the others arrived.
    assert_eq!(report.files_uploaded, 200);
    assert_eq!(report.failed.len(), 100);
    let failed: Vec<&str> = report.failed.iter().map(|f| f.name.as_str()).collect();
    let want: Vec<String> = (0..100).map(|i| format!("img-{i:05}.png")).collect();
    assert_eq!(failed, want);
    assert!(
        report.failed[0].reason.contains("403"),
        "{}",
        report.failed[0].reason
    );
    let v = report.verification.as_ref().unwrap();
    assert!(v.complete && v.indexed == 200, "{v:?}");
    assert!(!report.is_success());
    assert_eq!(api.batch_count("one-bad-shard", None).unwrap(), 200);
}

#[test]
fn a_file_changed_during_its_upload_fails_its_shard_loudly_and_nothing_corrupt_arrives() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(200).write_to(images.path()).unwrap();
    let victim = generated[5].path.clone();
    let sandbox = sandbox(SandboxConfig::default());
    let inner = UreqTransport::new();
    let done = AtomicBool::new(false);
    let grow = Arc::new(victim.clone());
    // Just before the first shard's body is read, one of its files grows.
    let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        if req.method == Method::Put && !done.swap(true, Ordering::SeqCst) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&*grow)
                .unwrap();
            std::io::Write::write_all(&mut f, b"more bytes").unwrap();
        }
        inner.send(req)
    };
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(transport)
        .build()
        .unwrap();
    let events = Events::default();
    let report = ingest(&api, "changing", images.path(), journal.path())
        .parallelism(1)
        .max_images_per_shard(100)
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_eq!(report.files_uploaded, 100);
    assert_eq!(report.failed.len(), 100);
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.reason.contains("img-00005.png") && f.reason.contains("changed size")),
        "{:?}",
        report.failed[0]
    );
    assert!(events.all().iter().any(|e| matches!(
        e,
        Event::UnitFailed {
            unit: UnitKind::Shard,
            index: 0,
            files: 100,
            ..
        }
    )));
    // The service holds exactly the other shard: nothing corrupt or partial.
    let listed = listed_names(&api, "changing");
    assert_eq!(listed.len(), 100);
    assert!(listed.keys().all(|n| n.as_str() >= "img-00100.png"));
    assert!(
        api.shards("changing", None)
            .all(|s| !s.unwrap().is_failed())
    );

    // A second run sends the failed shard again, with the file as it is now.
    let report = ingest(&api, "changing", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((report.files_uploaded, report.files_resumed), (100, 100));
    assert_complete(&report, 200);
}

/// A transport that answers the first signed-URL request and the first PUT with 503, and
/// breaks the connection of the second PUT.
fn flaky_once() -> impl Transport {
    let inner = UreqTransport::new();
    let (urls, puts) = (AtomicUsize::new(0), AtomicUsize::new(0));
    move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        if req.method == Method::Post
            && req.url.contains("/bulk-upload/image-files")
            && urls.fetch_add(1, Ordering::SeqCst) == 0
        {
            return Ok(HttpResponse::json(503, r#"{"error":"busy"}"#));
        }
        if req.method == Method::Put {
            match puts.fetch_add(1, Ordering::SeqCst) {
                0 => return Ok(HttpResponse::json(503, r#"{"error":"busy"}"#)),
                1 => {
                    return Err(TransportError::new(
                        TransportErrorKind::Interrupted,
                        "connection reset by peer",
                    ));
                }
                _ => {}
            }
        }
        inner.send(req)
    }
}

#[test]
fn every_retry_is_counted_with_its_cause_and_no_secret() {
    use roboflow_batch::api::Clock;
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(120).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(flaky_once())
        .clock(Clock::system().sleep_fn(|_| {}))
        .build()
        .unwrap();
    let events = Events::default();
    let report = ingest(&api, "retried", images.path(), journal.path())
        .parallelism(1)
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_complete(&report, 120);
    let retries: Vec<(UnitKind, u64, u32, String)> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Event::Retry {
                unit,
                index,
                attempt,
                reason,
                ..
            } => Some((unit, index, attempt, reason.expect("a reason"))),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            (
                UnitKind::Shard,
                0,
                2,
                "signed URL request: HTTP 503".to_string()
            ),
            (UnitKind::Shard, 0, 2, "upload: HTTP 503".to_string()),
            (
                UnitKind::Shard,
                0,
                3,
                "upload: transport error (interrupted)".to_string()
            ),
        ]
    );
    assert_eq!(report.retries, 3);
    for (.., reason) in &retries {
        assert!(
            !reason.contains(sandbox.api_key()) && !reason.contains("token"),
            "{reason}"
        );
    }
}

#[test]
fn retries_of_single_image_uploads_are_counted_too() {
    use roboflow_batch::api::Clock;
    let images = tempfile::tempdir().unwrap();
    ImageSet::new(3).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let inner = UreqTransport::new();
    let posts = AtomicUsize::new(0);
    let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        if req.method == Method::Post
            && req.url.contains("/upload/image")
            && posts.fetch_add(1, Ordering::SeqCst) == 0
        {
            return Ok(HttpResponse::json(429, r#"{"error":"slow down"}"#));
        }
        inner.send(req)
    };
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(transport)
        .clock(Clock::system().sleep_fn(|_| {}))
        .build()
        .unwrap();
    let events = Events::default();
    let report = roboflow_batch::ingest::Ingest::new(
        &api,
        "single-retried",
        roboflow_batch::ingest::Source::folder(images.path()),
    )
    .without_journal()
    .verify(quick_verify())
    .parallelism(1)
    .on_progress(events.sink())
    .run()
    .unwrap();
    assert_complete(&report, 3);
    assert_eq!(report.retries, 1);
    assert!(events.all().iter().any(|e| matches!(
        e,
        Event::Retry { unit: UnitKind::Image, index: 0, attempt: 2, reason: Some(r), .. }
            if r == "upload: HTTP 429"
    )));
}
