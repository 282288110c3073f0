//! Ingests into the in-process sandbox: counts, names, webhooks settings, methods.

mod ingest_util;

use std::collections::BTreeSet;

use ingest_util::*;
use roboflow_batch::ingest::{FailureStage, IngestEvent, IngestMethod, SkipReason, UnitKind};
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

#[test]
fn two_thousand_images_arrive_exactly_once() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(2000)
        .dimensions(8..=24, 8..=24)
        .write_to(images.path())
        .unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let events = Events::default();
    let report = ingest(&api, "two-thousand", images.path(), journal.path())
        .parallelism(4)
        .on_progress(events.sink())
        .run()
        .unwrap();

    assert_eq!(report.method, IngestMethod::Shards);
    assert_eq!(
        (
            report.files_found,
            report.files_uploaded,
            report.files_resumed
        ),
        (2000, 2000, 0)
    );
    assert_eq!(
        report.bytes_uploaded,
        generated.iter().map(|g| g.size).sum::<u64>()
    );
    assert_complete(&report, 2000);
    assert_eq!(api.batch_count("two-thousand", None).unwrap(), 2000);
    let listed = listed_names(&api, "two-thousand");
    let want: BTreeSet<String> = generated.iter().map(|g| g.name.clone()).collect();
    assert_eq!(listed.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(listed.values().all(|&n| n == 1));
    assert_eq!(
        shard_objects(&api, "two-thousand"),
        2000,
        "no file indexed twice"
    );

    // Events add up: every shard reported done once, with its files and bytes.
    let events = events.all();
    let done: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::UnitDone {
                unit: UnitKind::Shard,
                index,
                files,
                bytes,
                ..
            } => Some((*index, *files, *bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(done.len() as u64, report.units_uploaded);
    assert_eq!(done.iter().map(|d| d.1).sum::<u64>(), 2000);
    assert_eq!(done.iter().map(|d| d.2).sum::<u64>(), report.bytes_uploaded);
    let sent: u64 = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::BytesSent { bytes } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(
        sent, report.wire_bytes,
        "no retries here, so bytes sent = bytes accepted"
    );
    assert!(matches!(
        events.last(),
        Some(IngestEvent::Verifying {
            indexed: 2000,
            expected: 2000
        })
    ));
}

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
        .filter(|e| matches!(e, IngestEvent::IndexFailed(_)))
        .count();
    assert_eq!(index_failed, 2);
}
