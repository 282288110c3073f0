//! The wire types on their own: ids and their rules, timestamps in the service's forms,
//! the job state derived from the official client's flags and words, values this version
//! does not know kept as they came, and secrets kept out of `Debug`.

use roboflow_batch::model::{
    BatchContentType, BatchMetadata, BatchType, FileMetadata, FileReference, JobMetadata, JobStage,
    JobStartRequest, JobState, LogSeverity, MachineType, ReferencesIngest, SignedUrlDetails,
    Timestamp,
};
use roboflow_batch::webhook::Event;
use roboflow_batch::{BatchId, JobId};

#[test]
fn id_rules_table() {
    let (long64, long65) = ("a".repeat(64), "a".repeat(65));
    // (id, valid batch id, valid job id)
    let cases: &[(&str, bool, bool)] = &[
        ("abc", true, true),
        ("a-b_c-9", true, true),
        ("", false, false),
        ("ABC", false, false),
        ("a b", false, false),
        ("a/b", false, false),
        ("ąb", false, false),
        ("abcdefghijklmnopqrst", true, true),
        ("abcdefghijklmnopqrstu", true, false),
        (&long64, true, false),
        (&long65, false, false),
    ];
    for (id, batch_ok, job_ok) in cases {
        assert_eq!(BatchId::new(*id).is_ok(), *batch_ok, "batch {id:?}");
        assert_eq!(JobId::new(*id).is_ok(), *job_ok, "job {id:?}");
        assert_eq!(id.parse::<JobId>().is_ok(), *job_ok, "job {id:?}");
    }
    let e = JobId::new("Bad").unwrap_err().to_string();
    assert!(
        e.contains("job_id") && e.contains("^[a-z0-9_-]{1,20}$") && e.contains("Bad"),
        "{e}"
    );
    let (a, b) = (JobId::generate(), JobId::generate());
    assert!(JobId::new(a.as_str()).is_ok() && a != b);
    assert_eq!(format!("{:<4}|", BatchId::new("b1").unwrap()), "b1  |");
}

#[test]
fn timestamps_in_the_services_forms_keep_their_zone() {
    for s in [
        "2025-06-01T10:00:00.123Z",
        "2025-06-01T10:00:00.123456+00:00",
        "2025-06-01T12:00:00.123+02:00",
        "2025-06-01T10:00:00.123", // no zone: read as UTC
    ] {
        let t: Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(t.unix_seconds(), 1748772000, "{s}");
    }
    assert!("yesterday".parse::<Timestamp>().is_err());
    let t: Timestamp = serde_json::from_str(r#""2025-06-01T12:00:00+02:00""#).unwrap();
    assert_eq!(t.offset_seconds(), 7200);
    let back: Timestamp = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

fn job(flags: &str) -> JobMetadata {
    serde_json::from_str(&format!(
        r#"{{"jobId":"j","name":"j","jobDefinition":{{}},{flags}
        "createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}}"#
    ))
    .unwrap()
}

#[test]
fn job_state_from_flags_and_words() {
    let cases = [
        (r#""isTerminal":false,"#, JobState::Pending),
        (r#""currentStage":"processing","#, JobState::Processing),
        (r#""isTerminal":true,"#, JobState::Completed),
        (
            r#""isTerminal":true,"error":true,"currentStage":"export","#,
            JobState::Failed,
        ),
    ];
    for (flags, want) in cases {
        assert_eq!(job(flags).state(), want, "{flags}");
    }
    for (word, terminal) in [
        ("SUCCEEDED", true),
        ("Canceled", true),
        ("Timed_Out", true),
        (" done ", true),
        ("errored", true),
        ("queued", false),
        ("paused", false),
        ("processing", false),
    ] {
        assert_eq!(JobState::parse(word).is_terminal(), terminal, "{word}");
    }
    let l: LogSeverity = serde_json::from_str(r#""debug""#).unwrap();
    assert_eq!(l, LogSeverity::Other("debug".into()));
    let b: BatchMetadata = serde_json::from_str(
        r#"{"displayName":"d","batchId":"b","batchType":"future-batch","batchContentType":"images",
            "createdDate":"2025-01-01T00:00:00.000Z","expiryDate":"2025-01-08T00:00:00.000Z"}"#,
    )
    .unwrap();
    assert_eq!(b.batch_type, BatchType::Other("future-batch".into()));
    assert_eq!(b.batch_content_type, BatchContentType::Images);
}

#[test]
fn debug_output_hides_signatures_and_tokens() {
    let job: JobMetadata = serde_json::from_str(
        r#"{"jobId":"j","name":"j","jobDefinition":{"notificationsURL":"https://hooks/x?token=s3cr3t1"},
          "lastNotification":{"message":"fetch https://b/a?X-Goog-Signature=s3cr3t2 failed"},
          "createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}"#,
    )
    .unwrap();
    let refs = ReferencesIngest {
        image_references: Some(vec![FileReference {
            name: "a.jpg".into(),
            url: "https://b/a.jpg?X-Amz-Signature=s3cr3t4".into(),
        }]),
        image_references_url: Some("https://b/refs.jsonl?sig=s3cr3t5".into()),
        notifications_url: Some("https://hooks/x?token=s3cr3t6".into()),
        ..Default::default()
    };
    let file: FileMetadata = serde_json::from_str(
        r#"{"downloadURL":"https://s/f?X-Sig=s3cr3t3","fileName":"a.jsonl","contentType":"metadata","extra":1}"#,
    )
    .unwrap();
    for (shown, kept) in [
        (format!("{job:?}"), "fetch https://b/a"),
        (format!("{file:?}"), "a.jsonl"),
        (format!("{refs:?}"), "refs.jsonl"),
        (format!("{refs:?}"), "a.jpg"),
    ] {
        assert!(shown.contains(kept) && !shown.contains("s3cr3t"), "{shown}");
    }
}

#[test]
fn string_enums_keep_unknown_values_and_honour_width() {
    let m: Vec<MachineType> = serde_json::from_str(r#"["gpu","tpu"]"#).unwrap();
    assert_eq!(m, [MachineType::Gpu, MachineType::Other("tpu".into())]);
    assert_eq!(serde_json::to_string(&m).unwrap(), r#"["gpu","tpu"]"#);
    assert!(m[0].is_known() && !m[1].is_known());
    assert_eq!(format!("{:<5}|{:>5}", m[0], m[0]), "gpu  |  gpu");
}

/// A stage whose `tasksNumber` is `n` as written, decoded.
fn tasks_number(n: &str) -> Result<u64, String> {
    let body = format!(
        r#"{{"processingStageId":"s","processingStageName":"p","tasksNumber":{n},"notification":{{}},
        "startTimestamp":"2025-01-02T03:04:05Z","statusType":"info","lastEventTimestamp":"2025-01-02T03:04:05Z"}}"#
    );
    let stage: Result<JobStage, _> = serde_json::from_str(&body);
    stage.map(|s| s.tasks_number).map_err(|e| e.to_string())
}

#[test]
fn counts_may_come_as_whole_floats_but_never_with_a_fraction() {
    let ok: &[(&str, u64)] = &[
        ("3", 3),
        ("3.0", 3),
        ("0.0", 0),
        ("1e3", 1000),
        ("18446744073709551615", u64::MAX),
        ("4294967296.0", 1 << 32),
    ];
    for (n, want) in ok {
        assert_eq!(tasks_number(n), Ok(*want), "{n}");
    }
    for (n, says) in [
        (
            "3.5",
            "invalid value: floating point `3.5`, expected a whole number",
        ),
        ("-1", "invalid value: integer `-1`, expected a whole number"),
        ("-2.0", "floating point `-2.0`"),
        ("1e20", "floating point `1e+20`"),
        (
            r#""3""#,
            r#"invalid type: string "3", expected a whole number"#,
        ),
        ("null", "invalid type: null"),
    ] {
        let e = tasks_number(n).unwrap_err();
        assert!(e.contains(says), "{n}: {e}");
    }
    // Optional counts: null is none.
    let limit = |v: &str| {
        let body = format!(r#"{{"uploadURL":"https://s/u","maxShardSize":{v}}}"#);
        let d: Result<SignedUrlDetails, _> = serde_json::from_str(&body);
        d.map(|d| d.max_shard_size).map_err(|e| e.to_string())
    };
    assert_eq!(limit("7.0"), Ok(Some(7)));
    assert_eq!(limit("null"), Ok(None));
    assert!(limit("0.5").unwrap_err().contains("floating point `0.5`"));
    // A u32 count names its range.
    let attempt = |v: &str| {
        let body = format!(
            r#"{{"type":"roboflow-batch-job-notification-v1","event_id":"e","job_id":"j","job_state":"success","delivery_attempt":{v}}}"#
        );
        Event::parse(body.as_bytes()).map_err(|e| e.to_string())
    };
    assert!(matches!(attempt("4294967295.0"), Ok(Event::Job(j)) if j.delivery_attempt == u32::MAX));
    let e = attempt("4294967296").unwrap_err();
    assert!(
        e.contains("expected a whole number from 0 to 4294967295"),
        "{e}"
    );
}

#[test]
fn whole_numbers_are_sent_as_integers() {
    let fps = |v: f64| {
        let mut req = JobStartRequest::videos("b", "wf");
        req.processing_specification.max_video_fps = Some(v);
        serde_json::to_value(&req).unwrap()["processingSpecification"]["maxVideoFPS"].to_string()
    };
    assert_eq!(fps(5.0), "5");
    assert_eq!(fps(-3.0), "-3");
    assert_eq!(fps(2.5), "2.5");
    assert_eq!(fps(1e300), "1e+300"); // beyond 2^53: a float
}

#[test]
fn restart_and_compilation_bodies_on_the_wire_and_checked_before_sending() {
    use roboflow_batch::model::{CompilationDevice as D, RestartOverrides, TrtCompilationRequest};
    let o = RestartOverrides::default()
        .machine_type(MachineType::Gpu)
        .workers_per_machine(2)
        .max_parallel_tasks(4);
    assert_eq!(
        serde_json::to_value(&o).unwrap(),
        serde_json::json!({"type": "parameters-override-v1", "maxParallelTasks": 4,
            "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "gpu",
            "workersPerMachine": 2}})
    );
    assert!(RestartOverrides::default().is_empty() && !o.is_empty());
    let trt = TrtCompilationRequest::new("m/1", vec![D::NvidiaL4, D::NvidiaL4]);
    assert_eq!(trt.compilation_devices, vec![D::NvidiaL4]);
    // Refused before anything is sent: nothing listens behind this api.
    let api = roboflow_batch::BatchApi::builder()
        .api_key("k")
        .base_url("http://127.0.0.1:9")
        .workspace("w")
        .build()
        .unwrap();
    let bad = RestartOverrides::default().max_image_failure_rate(-0.1);
    let err = api.restart_job("j", Some(&bad)).unwrap_err();
    assert!(err.to_string().contains("maxImageFailureRate"), "{err}");
    let none = TrtCompilationRequest::new("m/1", vec![]);
    let err = api.start_trt_compilation("t", &none, None).unwrap_err();
    assert!(err.to_string().contains("compilationDevices"), "{err}");
}
