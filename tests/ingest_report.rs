//! The public shapes of an ingest's report: JSON names, `Display` forms, rates (moved from
//! the doc examples of `src/ingest/report.rs`).

use std::time::Duration;

use roboflow_batch::ingest::{
    FailedFile, FailureStage, IngestMethod, IngestReport, LatencySummary, SkipReason, SkippedFile,
    Verification,
};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn enums_serialize_in_kebab_case() {
    assert_eq!(json(&IngestMethod::Shards), r#""shards""#);
    assert_eq!(json(&SkipReason::NotUtf8), r#""not-utf8""#);
    assert_eq!(json(&FailureStage::Indexing), r#""indexing""#);
}

#[test]
fn skipped_and_failed_files_display_with_their_reasons() {
    let s = SkippedFile {
        path: "imgs/empty.jpg".into(),
        reason: SkipReason::Empty,
        detail: "0 bytes".into(),
    };
    assert_eq!(s.to_string(), "imgs/empty.jpg: empty file (0 bytes)");
    let f = FailedFile {
        name: "a.jpg".into(),
        path: Some("imgs/a.jpg".into()),
        stage: FailureStage::Upload,
        reason: "HTTP 500".into(),
    };
    assert_eq!(f.to_string(), "a.jpg (imgs/a.jpg): upload failed: HTTP 500");
}

#[test]
fn reports_serialize_in_camel_case_with_seconds() {
    let l = LatencySummary {
        p50_ms: 10.0,
        p99_ms: 30.0,
        max_ms: 30.0,
        samples: 2,
    };
    assert_eq!(serde_json::to_value(&l).unwrap()["samples"], 2);
    let v = Verification::default();
    assert!(!v.complete);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(
        (json["batchCount"].as_u64(), json["timedOut"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(json["waitedSecs"], 0.0);
    let r = IngestReport::new("my-batch", IngestMethod::Shards);
    assert_eq!(r.files_uploaded, 0);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["batchId"], "my-batch");
    assert_eq!(json["durationSecs"], 0.0);
}

#[test]
fn success_and_rates() {
    let mut r = IngestReport::new("b", IngestMethod::Shards);
    assert!(r.is_success());
    r.files_uploaded = 100;
    r.bytes_uploaded = 4_000_000;
    r.upload_duration = Duration::from_secs(2);
    assert_eq!((r.files_per_sec(), r.megabytes_per_sec()), (50.0, 2.0));
    r.failed.push(FailedFile {
        name: "a.jpg".into(),
        path: None,
        stage: FailureStage::Indexing,
        reason: "corrupt".into(),
    });
    assert!(!r.is_success());
}
