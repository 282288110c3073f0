//! Ingests into the in-process sandbox: counts, names, webhooks settings, methods.

mod ingest_util;

use ingest_util::*;
use roboflow_batch::BatchApi;
use roboflow_batch::ingest::{FailureStage, Ingest, SkipReason, Source};
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

#[test]
fn files_the_service_refuses_are_reported_with_its_reasons() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(40)
        .dimensions(8..=16, 8..=16)
        .write_to(images.path())
        .unwrap();
    // Image names, but not image bytes: the service indexes the shard and fails these.
    std::fs::write(
        images.path().join("fake-1.jpg"),
        b"this is not a jpeg at all",
    )
    .unwrap();
    std::fs::write(images.path().join("fake-2.png"), b"nor a png").unwrap();
    // Over the service's per-image limit (sent in the signed-URL answer): never sent. (A
    // varied sandbox may leave the limit out; this is about the limit, so never varied.)
    std::fs::write(images.path().join("big.jpg"), vec![0xFFu8; 5000]).unwrap();
    let sandbox = default_sandbox(SandboxConfig::default().max_image_size(4096));
    let api = api(&sandbox);
    let events = Events::default();
    let report = ingest(&api, "refused", images.path(), journal.path())
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_eq!(report.files_uploaded, 42);
    let failed: Vec<(&str, FailureStage)> = report
        .failed
        .iter()
        .map(|f| (f.name.as_str(), f.stage))
        .collect();
    assert_eq!(
        failed,
        [
            ("fake-1.jpg", FailureStage::Indexing),
            ("fake-2.png", FailureStage::Indexing)
        ]
    );
    assert!(
        report.failed[0].reason.contains("unsupported-file-type"),
        "{}",
        report.failed[0].reason
    );
    assert!(
        report.failed[0]
            .path
            .as_deref()
            .unwrap()
            .ends_with("fake-1.jpg")
    );
    let v = report.verification.as_ref().unwrap();
    assert!(
        !v.complete && !v.timed_out && v.indexed == 40 && v.expected == 40,
        "{v:?}"
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, SkipReason::TooLarge);
    assert!(
        report.skipped[0].detail.contains("maxFileSize"),
        "{:?}",
        report.skipped[0]
    );
    let index_failed = events
        .all()
        .iter()
        .filter(|e| matches!(e, Event::IndexFailed(_)))
        .count();
    assert_eq!(index_failed, 2);
}

/// Issue 15: verifying 10,000 files in 40 shards, nothing missing, costs at most about a
/// tenth of the upload's requests: the shards' statuses and counts account for every file,
/// so the names are never listed.
#[test]
fn verification_costs_a_tenth_of_the_upload_in_requests() {
    let images = tempfile::tempdir().unwrap();
    ImageSet::new(10_000)
        .dimensions(4..=4, 4..=4)
        .write_to(images.path())
        .unwrap();
    let sandbox = default_sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let report = Ingest::new(&api, "counted", Source::folder(images.path()))
        .without_journal()
        .max_images_per_shard(250)
        .run()
        .unwrap();
    assert_complete(&report, 10_000);
    let r = &report.requests;
    let upload = r.get("upload-url") + r.get("upload-put");
    assert_eq!(
        (r.get("upload-url"), r.get("upload-put")),
        (40, 40),
        "{r:?}"
    );
    let verify = r.get("list-shards") + r.get("batch-count") + r.get("list-files");
    assert_eq!(r.get("list-files"), 0, "{r:?}");
    assert!(
        verify * 10 <= upload,
        "{verify} verification requests for {upload}: {r:?}"
    );
    assert_eq!(r.total(), upload + verify + r.get("workspace"), "{r:?}");
}

/// A service that lists at most `page` names a page, and silently lost `lost`: its shard
/// counts one object fewer, and the name listing leaves it out.
fn losing(sandbox: &roboflow_batch::sandbox::Sandbox, page: usize, lost: &'static str) -> BatchApi {
    use roboflow_batch::transport::{HttpRequest, HttpResponse, Transport, UreqTransport};
    let inner = UreqTransport::new();
    let transport = move |mut req: HttpRequest| {
        let path = req.path().to_string();
        if path.ends_with("/list") {
            let asked = req.query().into_iter().find(|(k, _)| k == "pageSize");
            let asked: usize = asked.map_or(1000, |(_, v)| v.parse().unwrap());
            req.url = req.url.replace(
                &format!("pageSize={asked}"),
                &format!("pageSize={}", asked.min(page)),
            );
        }
        let resp = inner.send(req)?;
        if !(path.ends_with("/list") || path.ends_with("/shards")) || resp.status != 200 {
            return Ok(resp);
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&resp.read_body(1 << 24).unwrap()).unwrap();
        if let Some(files) = v["filesMetadata"].as_array_mut() {
            files.retain(|f| f["fileName"] != lost);
        }
        for s in v["shards"].as_array_mut().into_iter().flatten() {
            let n = s["shardObjectsCount"].as_u64().unwrap();
            s["shardObjectsCount"] = n.saturating_sub(1).into();
        }
        Ok(HttpResponse::json(200, v.to_string()))
    };
    BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(transport)
        .build()
        .unwrap()
}

/// Issue 15: a file the service lost without a word is still named, with its reason, when
/// the service lists names 1, 7 or 50 at a time.
#[test]
fn a_lost_file_is_named_with_its_reason_at_any_page_size() {
    let images = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(40).write_to(images.path()).unwrap();
    let lost: &'static str = Box::leak(generated[17].name.clone().into_boxed_str());
    let sandbox = default_sandbox(SandboxConfig::default());
    for page in [1, 7, 50] {
        let api = losing(&sandbox, page, lost);
        let batch = format!("lost-{page}");
        let report = Ingest::new(&api, &batch, Source::folder(images.path()))
            .without_journal()
            .mode(roboflow_batch::ingest::UploadMode::Shards)
            .verify(quick_verify().timeout(std::time::Duration::from_secs(2)))
            .run()
            .unwrap();
        let v = report.verification.as_ref().unwrap();
        assert!(
            v.timed_out && !v.complete && v.indexed == 39,
            "page {page}: {v:?}"
        );
        assert_eq!(report.failed.len(), 1, "page {page}: {:?}", report.failed);
        let f = &report.failed[0];
        assert_eq!((f.name.as_str(), f.stage), (lost, FailureStage::Indexing));
        assert!(f.path.as_deref().unwrap().ends_with(lost), "{f:?}");
        let why = &f.reason;
        let shard_said = why.contains("indexed 39 of the 40 files sent");
        assert!(
            why.starts_with("not in the batch after") && shard_said,
            "{why}"
        );
        assert!(report.requests.get("list-files") >= 39u64.div_ceil(page as u64));
    }
}
