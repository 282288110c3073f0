//! Webhook payloads in the shapes of notes §7 (snake_case), as literal JSON, so that a
//! wrong field name in the shared model types cannot pass on both sides.

use roboflow_batch::webhook::{Event, IngestEvent, bearer_matches};

#[test]
fn ingest_status_notification() {
    let body = br#"{
      "type": "roboflow-data-staging-notification-v1",
      "event_id": "evt-0001",
      "ingest_id": "ingest-42",
      "batch_id": "my-batch",
      "shard_id": null,
      "notification": {
        "type": "ingest-status-notification-v1",
        "success": false,
        "error_details": {"type": "unsafe-url-detected", "reason": "the URL is not on a trusted domain"}
      },
      "delivery_attempt": 1
    }"#;
    let Event::Ingest(n) = Event::parse(body).unwrap() else {
        panic!("not an ingest event")
    };
    assert_eq!(
        (
            n.event_id.as_str(),
            n.ingest_id.as_str(),
            n.batch_id.as_str()
        ),
        ("evt-0001", "ingest-42", "my-batch")
    );
    assert_eq!(n.shard_id, None);
    assert_eq!(n.delivery_attempt, 1);
    let IngestEvent::Status {
        success,
        error_details,
    } = &n.notification
    else {
        panic!("{:?}", n.notification)
    };
    assert!(!success);
    let d = error_details.as_ref().unwrap();
    assert_eq!(
        (d.error_type.as_str(), d.reason.as_str()),
        ("unsafe-url-detected", "the URL is not on a trusted domain")
    );
}

#[test]
fn files_status_notification() {
    let body = br#"{
      "type": "roboflow-data-staging-notification-v1",
      "event_id": "evt-0002",
      "ingest_id": "ingest-42",
      "batch_id": "my-batch",
      "shard_id": "shard-7",
      "notification": {
        "type": "ingest-files-status-notification-v1",
        "success": false,
        "ingested_files": ["a.jpg", "b.jpg"],
        "failed_files": [{"type": "file-size-limit-exceeded", "file_name": "huge.jpg", "reason": "larger than 20971520 bytes"}],
        "content_truncated": false
      },
      "delivery_attempt": 2
    }"#;
    let e = Event::parse(body).unwrap();
    assert_eq!(e.event_id(), Some("evt-0002"));
    let Event::Ingest(n) = e else { panic!() };
    assert_eq!(n.shard_id.as_deref(), Some("shard-7"));
    let IngestEvent::FilesStatus {
        success,
        ingested_files,
        failed_files,
        content_truncated,
    } = &n.notification
    else {
        panic!("{:?}", n.notification)
    };
    assert!(!success && !content_truncated);
    assert_eq!(ingested_files, &["a.jpg", "b.jpg"]);
    assert_eq!(failed_files[0].failure_type, "file-size-limit-exceeded");
    assert_eq!(failed_files[0].file_name, "huge.jpg");
}

#[test]
fn job_notification() {
    for (state, ok) in [("success", true), ("fail", false)] {
        let body = format!(
            r#"{{"type": "roboflow-batch-job-notification-v1", "event_id": "evt-9", "job_id": "job-abc123def456",
               "job_state": "{state}", "delivery_attempt": 3}}"#
        );
        let e = Event::parse(body.as_bytes()).unwrap();
        assert_eq!(e.job_id(), Some("job-abc123def456"));
        let Event::Job(j) = e else { panic!() };
        assert_eq!(j.is_success(), ok);
        assert_eq!(j.delivery_attempt, 3);
    }
}

#[test]
fn unknown_types_are_kept_and_malformed_known_ones_refused() {
    let e = Event::parse(
        br#"{"type":"roboflow-batch-stage-notification-v1","job_id":"j","stage":"export"}"#,
    )
    .unwrap();
    assert!(matches!(&e, Event::Other(v) if v["stage"] == "export"));
    for bad in [
        &br#"[1, 2]"#[..],
        br#"not json"#,
        br#"{"type":"roboflow-batch-job-notification-v1","event_id":"e","job_id":"j","delivery_attempt":1}"#,
    ] {
        assert!(Event::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let err = Event::parse(br#"{"type":"roboflow-batch-job-notification-v1","event_id":"e","job_id":"j","job_state":"success","delivery_attempt":"x"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("delivery_attempt"), "{err}");
}

#[test]
fn bearer_table() {
    let token = "rf_acme"; // the token the service sends for workspace `acme`
    let cases: &[(Option<&str>, bool)] = &[
        (Some("Bearer rf_acme\0"), false),
        (Some("Bearer rf_acme"), true),
        (Some("bearer rf_acme"), true),
        (Some("  Bearer rf_acme  "), true),
        (Some("Bearer rf_acm"), false),
        (Some("Bearer rf_acmee"), false),
        (Some("Bearer "), false),
        (Some("Bearer"), false),
        (Some("rf_acme"), false),
        (Some("Basic rf_acme"), false),
        (Some(""), false),
        (None, false),
    ];
    for (header, want) in cases {
        assert_eq!(bearer_matches(*header, token), *want, "{header:?}");
    }
}
