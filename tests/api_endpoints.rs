//! One or more tests per endpoint: what `BatchApi` sends, and how it decodes a realistic
//! answer (shapes from the official client's notes).

mod common;

use common::*;
use roboflow_batch::api::UploadSource;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::*;
use roboflow_batch::transport::{HttpRequest, HttpResponse, Method, TransportError};
use roboflow_batch::{BatchApi, Error};
use std::sync::Arc;

const STAGING: &str = "/data-staging/v1/external/ws";
const JOBS: &str = "/batch-processing/v1/external/ws";

fn seen(s: &std::sync::Arc<std::sync::Mutex<Option<Seen>>>) -> Seen {
    s.lock().unwrap().clone().expect("a request was sent")
}

const BATCH_JSON: &str = r#"{"displayName":"My Batch","batchId":"my-batch","batchType":"sharded-batch","batchContentType":"images","createdDate":"2025-06-01T10:00:00.123Z","expiryDate":"2025-06-08T10:00:00.123Z"}"#;

const JOB_JSON: &str = r#"{"jobId":"job-1","name":"Nightly","jobDefinition":{"type":"simple-image-processing-v1"},"currentStage":"processing","plannedStages":["processing","export"],"error":false,"isTerminal":false,"lastNotification":{"type":"info","message":"running"},"createdAt":"2025-06-01T10:00:00.123456+00:00","lastUpdate":"2025-06-01T10:05:00.123456+00:00","restartParametersOverride":[]}"#;

#[test]
fn workspace_is_resolved_once_with_get_root() {
    let mut mock = MockTransport::new();
    let mut seq = mockall::Sequence::new();
    mock.expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|r| {
            r.path() == "/"
                && r.method == Method::Get
                && r.query().contains(&("api_key".into(), KEY.into()))
        })
        .returning(|_| {
            Ok(HttpResponse::json(
                200,
                r#"{"workspace":"acme","extra":true}"#,
            ))
        });
    mock.expect_send()
        .times(2)
        .in_sequence(&mut seq)
        .withf(|r| r.path() == "/data-staging/v1/external/acme/batches/b1/count")
        .returning(|_| Ok(HttpResponse::json(200, r#"{"status":"ok","count":3}"#)));
    let api = roboflow_batch::BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .clock(Sleeps::default().clock())
        .transport(mock)
        .build()
        .unwrap();
    assert_eq!(api.batch_count("b1", None).unwrap(), 3);
    assert_eq!(api.batch_count("b1", None).unwrap(), 3);
    assert_eq!(api.workspace().unwrap(), "acme");
}

#[test]
fn fetch_workspace_decodes() {
    let (mock, s) = one_call(200, r#"{"workspace":"acme"}"#);
    let api = api_with(mock);
    assert_eq!(api.fetch_workspace().unwrap().workspace, "acme");
    assert_api_request(&seen(&s), Method::Get, "/");
}

#[test]
fn batches_send_paging_and_decode() {
    // The first page names the next; the second is the last.
    let first = format!(r#"{{"batches":[{BATCH_JSON}],"nextPageToken":"p1"}}"#);
    let last = format!(r#"{{"batches":[{BATCH_JSON}],"nextPageToken":null}}"#);
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent.clone();
    let t = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let s = Seen::from(req);
        let body = if s.q("nextPageToken").is_some() {
            &last
        } else {
            &first
        };
        log.lock().unwrap().push(s);
        Ok(HttpResponse::json(200, body.clone()))
    };
    let api = api_with(t);
    let batches: Vec<_> = api.batches(Some(5)).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].batch_type, BatchType::Sharded);
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    for s in sent.iter() {
        assert_api_request(s, Method::Get, &format!("{STAGING}/batches"));
        assert_eq!(s.q("pageSize"), Some("5"));
    }
    assert_eq!(sent[0].q("nextPageToken"), None);
    assert_eq!(sent[1].q("nextPageToken"), Some("p1"));
}

#[test]
fn batch_metadata_decodes() {
    let body: &'static str =
        Box::leak(format!(r#"{{"status":"ok","batch":{BATCH_JSON}}}"#).into_boxed_str());
    let (mock, s) = one_call(200, body);
    let b = api_with(mock).batch("my-batch").unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{STAGING}/batches/my-batch"),
    );
    assert_eq!(b.display_name, "My Batch");
    assert_eq!(
        b.expiry_date.unix_seconds() - b.created_date.unix_seconds(),
        7 * 86400
    );
}

#[test]
fn batch_count_passes_part_name() {
    let (mock, s) = one_call(200, r#"{"status":"ok","count":42}"#);
    assert_eq!(
        api_with(mock)
            .batch_count("out-export", Some("results"))
            .unwrap(),
        42
    );
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Get,
        &format!("{STAGING}/batches/out-export/count"),
    );
    assert_eq!(s.q("partName"), Some("results"));
}

#[test]
fn integer_fields_take_whole_number_floats_and_refuse_fractions() {
    // A service in Python may send counts as floats; the official client's models take
    // `3.0` as 3.
    let (mock, _) = one_call(200, r#"{"status":"ok","count":3.0}"#);
    assert_eq!(api_with(mock).batch_count("b", None).unwrap(), 3);
    let (mock, _) = one_call(
        200,
        r#"{"shards":[{"shardId":"s","statusName":"indexed","statusType":"success","eventTimestamp":"2025-06-01T10:00:00.123Z","shardObjectsCount":256.0}],"nextPageToken":null}"#,
    );
    let shard = api_with(mock).shards("b", None).next().unwrap().unwrap();
    assert_eq!(shard.shard_objects_count, 256);
    let (mock, _) = one_call(
        200,
        r#"{"stages":[{"processingStageId":"p","processingStageName":"Processing","tasksNumber":2.0,"outputBatches":[],"startTimestamp":"2025-06-01T10:00:00.123456+00:00","notification":"x","statusType":"info","lastEventTimestamp":"2025-06-01T10:00:00.123456+00:00"}]}"#,
    );
    assert_eq!(
        api_with(mock).job_stages("job-1").unwrap()[0].tasks_number,
        2
    );
    let (mock, _) = one_call(
        200,
        r#"{"signedURLDetails":{"uploadURL":"https://s.test/u","extensionHeaders":{},"maxNumberOfImages":500.0,"maxShardSize":1.0e8}}"#,
    );
    let signed = api_with(mock).request_shard_upload("b", None).unwrap();
    assert_eq!(
        (signed.max_number_of_images, signed.max_shard_size),
        (Some(500), Some(100_000_000))
    );

    // 3.5 is no count: a decode error naming the field and the value.
    let (mock, _) = one_call(200, r#"{"status":"ok","count":3.5}"#);
    let err = api_with(mock).batch_count("b", None).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("at `count`") && msg.contains("3.5") && msg.contains("whole number"),
        "{msg}"
    );
}

#[test]
fn list_parts_decodes_official_form() {
    let (mock, s) = one_call(
        200,
        r#"{"batchParts":[{"partName":"results","partType":"output-part","contentType":"metadata","partDescription":"JSONL"}]}"#,
    );
    let parts = api_with(mock).list_parts("j-processing").unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{STAGING}/batches/j-processing/parts"),
    );
    assert_eq!(parts[0].content_type, "metadata");
}

#[test]
fn list_parts_decodes_spec_form() {
    let (mock, _) = one_call(
        200,
        r#"{"status":"ok","parts":[{"partName":"a"},{"partName":"b"}]}"#,
    );
    let names: Vec<_> = api_with(mock)
        .list_parts("x")
        .unwrap()
        .into_iter()
        .map(|p| p.part_name)
        .collect();
    assert_eq!(names, vec!["a", "b"]);
}

#[test]
fn a_parts_answer_without_parts_is_a_decode_error_not_zero_parts() {
    for body in [
        r#"{"status":"ok","items":[{"partName":"a"}]}"#,
        r#"{"batchParts":null,"parts":null}"#,
        "{}",
    ] {
        let (mock, _) = one_call(200, body);
        let err = api_with(mock).list_parts("x").unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{body}: {err:?}");
        assert!(err.to_string().contains("batchParts"), "{body}: {err}");
    }
    let (mock, _) = one_call(200, r#"{"batchParts":[]}"#);
    assert!(api_with(mock).list_parts("x").unwrap().is_empty());
}

#[test]
fn files_send_part_and_decode() {
    let (mock, s) = one_call(
        200,
        r#"{"status":"ok","filesMetadata":[{"downloadURL":"https://storage.test/f?X-Goog-Signature=abc","fileName":"results.jsonl","partName":"results","shardId":null,"contentType":"metadata","nestedContentType":null}],"nextPageToken":null}"#,
    );
    let api = api_with(mock);
    let files: Vec<_> = api
        .files("j-processing", Some("results"), Some(100))
        .collect();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Get,
        &format!("{STAGING}/batches/j-processing/list"),
    );
    assert_eq!(s.q("partName"), Some("results"));
    assert_eq!(s.q("pageSize"), Some("100"));
    // One request: the page is the last.
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].as_ref().unwrap().file_name, "results.jsonl");
}

#[test]
fn shards_decode_statuses() {
    let (mock, s) = one_call(
        200,
        r#"{"shards":[{"shardId":"4b6c","statusName":"indexing-failed","statusType":"error","eventTimestamp":"2025-06-01T10:00:00.123Z","shardObjectsCount":256,"statusMetadata":{"failedFiles":1}}],"nextPageToken":"n"}"#,
    );
    // Only the first page is fetched (the iterator is lazy), though it names a next one.
    let shard = api_with(mock).shards("big", None).next().unwrap().unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{STAGING}/batches/big/shards"),
    );
    assert!(shard.is_failed());
    assert_eq!(shard.shard_objects_count, 256);
}

#[test]
fn upload_image_sends_one_multipart_file_part() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    api_with(mock)
        .upload_image("small", "cat.jpg", b"\xFF\xD8\xFFjpeg", Some("Small Batch"))
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/small/upload/image"),
    );
    assert_eq!(s.q("fileName"), Some("cat.jpg"));
    assert_eq!(s.q("displayName"), Some("Small Batch"));
    let ct = s.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8_lossy(&s.body);
    assert_eq!(body.matches("Content-Disposition").count(), 1);
    // The official client's part (notes §4.3): named after the file, no Content-Type.
    assert!(
        body.contains(r#"name="cat.jpg"; filename="cat.jpg""#),
        "{body}"
    );
    assert!(
        !body.to_ascii_lowercase().contains("content-type"),
        "{body}"
    );
    assert!(s.body.windows(7).any(|w| w == b"\xFF\xD8\xFFjpeg"));
}

#[test]
fn a_single_image_upload_ignores_the_success_body() {
    // The official client reads only the status: an empty, non-JSON or odd body is a
    // stored image.
    for (status, body) in [
        (200, ""),
        (201, "OK"),
        (200, "<html>stored</html>"),
        (204, ""),
        (200, r#"{"status": 1}"#),
    ] {
        let (mock, _) = one_call(status, body);
        api_with(mock)
            .upload_image("small", "cat.jpg", b"\xFF\xD8\xFFjpeg", None)
            .unwrap_or_else(|e| panic!("{status} {body:?}: {e}"));
    }
}

#[test]
fn request_video_upload_decodes_signed_url() {
    let (mock, s) = one_call(
        200,
        r#"{"status":"ok","signedURLDetails":{"uploadURL":"https://storage.test/v?sig=1","method":"PUT","extensionHeaders":{"x-goog-content-length-range":"0,1000"},"maxFileSize":1000}}"#,
    );
    let d = api_with(mock)
        .request_video_upload("vids", "clip.mp4", None)
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/vids/upload/video"),
    );
    assert_eq!(s.q("fileName"), Some("clip.mp4"));
    assert_eq!(s.q("displayName"), Some("vids"));
    assert!(s.body.is_empty());
    assert_eq!(d.max_file_size, Some(1000));
}

#[test]
fn a_video_upload_answer_with_null_or_absent_extension_headers_decodes() {
    for body in [
        r#"{"signedURLDetails":{"uploadURL":"https://storage.test/v?sig=1","extensionHeaders":null}}"#,
        r#"{"signedURLDetails":{"uploadURL":"https://storage.test/v?sig=1"}}"#,
    ] {
        let (mock, _) = one_call(200, body);
        let d = api_with(mock)
            .request_video_upload("vids", "clip.mp4", None)
            .unwrap();
        assert!(d.extension_headers.is_empty(), "{body}");
    }
}

#[test]
fn request_shard_upload_decodes_limits() {
    let (mock, s) = one_call(
        200,
        r#"{"status":"ok","signedURLDetails":{"shardId":"0b3f","uploadURL":"https://storage.test/s?sig=1","extensionHeaders":{},"maxNumberOfImages":500,"maxShardSize":524288000}}"#,
    );
    let d = api_with(mock)
        .request_shard_upload("big", Some("Big"))
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/big/bulk-upload/image-files"),
    );
    assert_eq!(s.q("displayName"), Some("Big"));
    assert_eq!(d.max_number_of_images, Some(500));
    assert_eq!(d.shard_id.as_deref(), Some("0b3f"));
}

#[test]
fn ingest_image_references_sends_inline_list() {
    let (mock, s) = one_call(
        200,
        r#"{"ingestId":"ing-1","shardIds":["s1"],"duplicated":false}"#,
    );
    let body = ReferencesIngest {
        image_references: Some(vec![FileReference {
            name: "a.jpg".into(),
            url: "https://bucket.test/a.jpg?sig=1".into(),
        }]),
        ingest_id: Some("ing-1".into()),
        notifications_url: Some("https://hook.test/x".into()),
        notification_categories: Some(vec![
            NotificationCategory::IngestStatus,
            NotificationCategory::FilesStatus,
        ]),
        ..Default::default()
    };
    let r = api_with(mock)
        .ingest_image_references("refs", &body, None)
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/refs/bulk-upload/image-references"),
    );
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(
        s.json(),
        serde_json::json!({
            "imageReferences": [{"name": "a.jpg", "url": "https://bucket.test/a.jpg?sig=1"}],
            "ingestId": "ing-1",
            "notificationsURL": "https://hook.test/x",
            "notificationCategories": ["ingest-status", "files-status"]
        })
    );
    assert_eq!(r.shard_ids, Some(vec!["s1".to_string()]));
}

#[test]
fn ingest_video_references_uses_video_names() {
    let (mock, s) = one_call(200, r#"{"ingestId":"ing-2","duplicated":true}"#);
    let body = ReferencesIngest {
        image_references_url: Some("https://bucket.test/refs.jsonl".into()),
        ..Default::default()
    };
    let r = api_with(mock)
        .ingest_video_references("vids", &body, None)
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/vids/bulk-upload/video-references"),
    );
    let mut sent = s.json();
    // Without an ingest id, one derived from the request is sent.
    let id = sent.as_object_mut().unwrap().remove("ingestId").unwrap();
    assert!(id.as_str().unwrap().starts_with("rfbatch-"), "{id}");
    assert_eq!(
        sent,
        serde_json::json!({"videoReferencesURL": "https://bucket.test/refs.jsonl"})
    );
    assert_eq!(r.duplicated, Some(true));
}

#[test]
fn start_job_sends_full_body_and_name() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    let mut params = serde_json::Map::new();
    params.insert("confidence".into(), serde_json::json!(0.4));
    let api = api_with(mock);
    let req = JobSpec::images(&api, "my-batch", "count-cars")
        .part_name("p1")
        .images_metadata_part("meta")
        .machine_type(MachineType::Gpu)
        .workers_per_machine(2)
        .max_runtime_seconds(3600)
        .max_parallel_tasks(8)
        .max_image_failure_rate(0.05)
        .workflow_parameters(params)
        .image_input_name("image")
        .persist_image_outputs(vec!["viz".into()])
        .aggregation_format(AggregationFormat::Csv)
        .metadata_mapping("camera", "cam_id")
        .notifications_url("https://hook.test/jobs")
        .inference_backend(InferenceBackend::InferenceModels)
        .request()
        .unwrap();
    api.start_job("job-1", &req, Some("My Job")).unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Post, &format!("{JOBS}/jobs/job-1"));
    assert_eq!(s.q("name"), Some("My Job"));
    assert_eq!(
        s.json(),
        serde_json::json!({
            "type": "simple-image-processing-v1",
            "jobInput": {"type": "staging-batch-input-v1", "batchId": "my-batch", "partName": "p1", "imagesMetadataPart": "meta"},
            "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "gpu", "workersPerMachine": 2},
            "processingTimeoutSeconds": 3600,
            "maxParallelTasks": 8,
            "maxImageFailureRate": 0.05,
            "processingSpecification": {
                "type": "workflows-processing-specification-v1",
                "workspace": "ws",
                "workflowId": "count-cars",
                "workflowParameters": {"confidence": 0.4},
                "imageInputName": "image",
                "persistImagesOutputs": true,
                "imagesOutputsToBePersisted": ["viz"],
                "aggregationFormat": "csv",
                "imagesMetadataInputsMapping": {"camera": "cam_id"}
            },
            "notificationsURL": "https://hook.test/jobs",
            "inferenceBackend": "inference-models"
        })
    );
}

#[test]
fn job_decodes_official_form() {
    let body: &'static str = Box::leak(format!(r#"{{"job":{JOB_JSON}}}"#).into_boxed_str());
    let (mock, s) = one_call(200, body);
    let r = api_with(mock).job("job-1").unwrap();
    assert_api_request(&seen(&s), Method::Get, &format!("{JOBS}/jobs/job-1"));
    assert_eq!(r.state(), JobState::Processing);
    assert_eq!(r.job.unwrap().last_message(), Some("running"));
}

#[test]
fn job_decodes_spec_form() {
    let (mock, _) = one_call(
        200,
        r#"{"status":"ok","jobStatus":"completed","progress":1.0}"#,
    );
    let r = api_with(mock).job("job-1").unwrap();
    assert_eq!(r.state(), JobState::Completed);
    assert_eq!(r.progress, Some(1.0));
}

#[test]
fn jobs_decode() {
    let body: &'static str =
        Box::leak(format!(r#"{{"jobs":[{JOB_JSON}],"nextPageToken":null}}"#).into_boxed_str());
    let (mock, s) = one_call(200, body);
    let api = api_with(mock);
    let jobs: Vec<_> = api.jobs(Some(10)).collect::<Result<_, _>>().unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Get, &format!("{JOBS}/jobs"));
    assert_eq!(s.q("pageSize"), Some("10"));
    assert_eq!(jobs[0].planned_stages.as_ref().unwrap().len(), 2);
    assert_eq!(jobs.len(), 1);
}

#[test]
fn job_stages_decode() {
    let (mock, s) = one_call(
        200,
        r#"{"stages":[{"processingStageId":"processing","processingStageName":"processing","tasksNumber":3,"outputBatches":["job-1-processing"],"startTimestamp":"2025-06-01T10:00:00.123456+00:00","notification":{"type":"info"},"statusType":"info","lastEventTimestamp":"2025-06-01T10:01:00.123456+00:00"}]}"#,
    );
    let stages = api_with(mock).job_stages("job-1").unwrap();
    assert_api_request(&seen(&s), Method::Get, &format!("{JOBS}/jobs/job-1/stages"));
    assert_eq!(stages[0].status_type, "info");
    assert_eq!(stages[0].output_batches, vec!["job-1-processing"]);
}

#[test]
fn tasks_decode() {
    let (mock, s) = one_call(
        200,
        r#"{"tasks":[{"taskId":"t0","notification":"started","statusType":"info","eventTimestamp":"2025-06-01T10:00:00+00:00","progress":0.5},{"taskId":"t1","notification":{},"statusType":"info","eventTimestamp":"2025-06-01T10:00:00+00:00","progress":null}],"nextPageToken":null}"#,
    );
    let api = api_with(mock);
    let tasks: Vec<_> = api
        .tasks("job-1", "processing", None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{JOBS}/jobs/job-1/stages/processing/tasks"),
    );
    assert_eq!(tasks[0].progress, Some(0.5));
    assert_eq!(tasks[1].progress, None);
}

#[test]
fn abort_job_posts_without_body() {
    let (mock, s) = one_call(
        200,
        r#"{"status":"ok","message":"aborting","abortedAt":"2025-06-01T10:00:00Z"}"#,
    );
    let v = api_with(mock).abort_job("job-1").unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Post, &format!("{JOBS}/jobs/job-1/abort"));
    assert!(s.body.is_empty());
    assert_eq!(v.message.as_deref(), Some("aborting"));
    assert_eq!(v.status.as_deref(), Some("ok"));
    // What else the service says is kept, and printed back whole.
    assert_eq!(v.other["abortedAt"], "2025-06-01T10:00:00Z");
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"status":"ok","message":"aborting","abortedAt":"2025-06-01T10:00:00Z"})
    );
}

#[test]
fn restart_job_without_overrides_sends_no_body() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    api_with(mock).restart_job("job-1", None).unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Post, &format!("{JOBS}/jobs/job-1/restart"));
    assert!(s.body.is_empty());
    assert_eq!(s.header("content-type"), None);
}

#[test]
fn restart_job_with_overrides_sends_them() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    let o = RestartOverrides::default()
        .machine_type(MachineType::Gpu)
        .workers_per_machine(1)
        .max_parallel_tasks(2)
        .processing_timeout_seconds(600)
        .max_image_failure_rate(0.2);
    api_with(mock).restart_job("job-1", Some(&o)).unwrap();
    assert_eq!(
        seen(&s).json(),
        serde_json::json!({
            "type": "parameters-override-v1",
            "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "gpu", "workersPerMachine": 1},
            "maxParallelTasks": 2,
            "processingTimeoutSeconds": 600,
            "maxImageFailureRate": 0.2
        })
    );
}

#[test]
fn logs_filter_severity() {
    let (mock, s) = one_call(
        200,
        r#"{"logs":[{"createdAt":"2025-06-01T10:00:00.1+00:00","processingStageId":"processing","taskId":"t0","severity":"error","reportingModule":"worker","logType":"image-failed","payload":{"file":"a.jpg"}}],"nextPageToken":null}"#,
    );
    let api = api_with(mock);
    let logs: Vec<_> = api
        .logs("job-1", Some(LogSeverity::Error), None)
        .collect::<Result<_, _>>()
        .unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Get, &format!("{JOBS}/jobs/job-1/logs"));
    assert_eq!(s.q("severity"), Some("error"));
    assert_eq!(logs[0].severity, LogSeverity::Error);
}

#[test]
fn put_signed_sends_extension_headers_and_no_key() {
    let (mock, s) = one_call(200, "");
    let target: SignedUrlDetails = serde_json::from_str(
        r#"{"uploadURL":"https://storage.test/up?X-Goog-Signature=sig123","extensionHeaders":{"x-goog-meta-shard":"s1"}}"#,
    )
    .unwrap();
    api_with(mock)
        .put_signed(&target, &UploadSource::bytes(vec![7u8; 1000]))
        .unwrap();
    let s = seen(&s);
    assert_eq!(s.method, Method::Put);
    assert_eq!(s.url, "https://storage.test/up?X-Goog-Signature=sig123");
    assert_eq!(s.q("api_key"), None);
    assert!(!s.url.contains(KEY));
    assert_eq!(s.header("x-goog-meta-shard"), Some("s1"));
    assert_eq!(s.body.len(), 1000);
}

#[test]
fn put_signed_streams_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shard.tar");
    std::fs::write(&path, vec![1u8; 4096]).unwrap();
    let (mock, s) = one_call(200, "");
    let target: SignedUrlDetails =
        serde_json::from_str(r#"{"uploadURL":"https://storage.test/up"}"#).unwrap();
    api_with(mock)
        .put_signed(&target, &UploadSource::file(&path))
        .unwrap();
    assert_eq!(seen(&s).body, vec![1u8; 4096]);
}

#[test]
fn download_sends_no_key() {
    let mut mock = MockTransport::new();
    mock.expect_send()
        .times(1)
        .withf(|r| r.url == "https://storage.test/f?sig=abc" && r.method == Method::Get)
        .returning(|_| Ok(HttpResponse::new(200, "line1\nline2\n")));
    let resp = api_with(mock)
        .download("https://storage.test/f?sig=abc")
        .unwrap();
    assert_eq!(resp.read_body(100).unwrap(), b"line1\nline2\n");
}

#[test]
fn download_to_file_writes_complete_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let mut mock = MockTransport::new();
    mock.expect_send()
        .times(1)
        .returning(|_| Ok(HttpResponse::new(200, "abc").with_header("Content-Length", "3")));
    let n = api_with(mock)
        .download_to_file("https://storage.test/f?sig=abc", &path)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    assert!(!dir.path().join("results.jsonl.part").exists());
}

#[test]
fn invalid_ids_send_nothing() {
    // The first item of a listing: its error, the listing ends.
    fn first<T: std::fmt::Debug>(
        mut pages: roboflow_batch::api::Pages<'_, T>,
    ) -> roboflow_batch::Result<()> {
        let item = pages.next().expect("an item").map(drop);
        assert!(pages.next().is_none());
        item
    }
    let mut mock = MockTransport::new();
    mock.expect_send().times(0);
    let api = api_with(mock);
    let mut too_tolerant = JobStartRequest::images("b", "wf");
    too_tolerant.max_image_failure_rate = Some(2.0);
    let cases: Vec<(roboflow_batch::Result<()>, &str)> = vec![
        (api.batch_count("Bad Batch", None).map(drop), "batch_id"),
        (api.batch("a".repeat(65)).map(drop), "batch_id"),
        (api.job("job id").map(drop), "job_id"),
        (
            api.start_job("j", &too_tolerant, None),
            "maxImageFailureRate",
        ),
        (
            api.start_job(
                "this-job-id-is-too-long",
                &JobStartRequest::images("b", "wf"),
                None,
            ),
            "job_id",
        ),
        (
            first(api.logs("j", Some(LogSeverity::Other("debug".into())), None)),
            "severity",
        ),
        (first(api.jobs(Some(0))), "page_size"),
        (api.upload_image("b", "../x.jpg", b"x", None), "file_name"),
        (first(api.tasks("j", "", None)), "stage_id"),
        (
            api.restart_job(
                "j",
                Some(&RestartOverrides::default().max_image_failure_rate(-1.0)),
            )
            .map(drop),
            "maxImageFailureRate",
        ),
    ];
    for (result, field) in cases {
        match result {
            Err(Error::InvalidInput { field: f, .. }) => {
                assert!(f.contains(field), "{f} vs {field}")
            }
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }
    assert!(api.shards("NOPE", None).next().unwrap().is_err());
}

#[test]
fn decode_errors_name_the_json_path() {
    let (mock, _) = one_call(200, r#"{"jobs":[{"jobId":"j"}],"nextPageToken":null}"#);
    match api_with(mock).jobs(None).next().unwrap() {
        Err(Error::Decode { path, snippet, .. }) => {
            assert_eq!(path, "jobs[0]");
            assert!(snippet.contains("jobId"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ingest_roboql_sends_the_query() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    let body = RoboQlIngest::new("tag:cars")
        .ingest_id("rq-1")
        .notifications_url("https://hook.test/x");
    let v = api_with(mock).ingest_roboql("cars", &body).unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Post,
        &format!("{STAGING}/batches/cars/roboql-ingest"),
    );
    assert_eq!(
        s.json(),
        serde_json::json!({"query": "tag:cars", "ingestId": "rq-1", "notificationsURL": "https://hook.test/x"})
    );
    assert_eq!(v["status"], "ok");
}

#[test]
fn start_trt_compilation_sends_the_trt_body() {
    let (mock, s) = one_call(200, r#"{"status":"ok"}"#);
    let req = TrtCompilationRequest::new(
        "proj/3",
        vec![CompilationDevice::NvidiaL4, CompilationDevice::NvidiaT4],
    )
    .notifications_url("https://hook.test/trt");
    api_with(mock)
        .start_trt_compilation("trt-proj-3", &req, Some("Compile"))
        .unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Post, &format!("{JOBS}/jobs/trt-proj-3"));
    assert_eq!(s.q("name"), Some("Compile"));
    assert_eq!(
        s.json(),
        serde_json::json!({
            "type": "trt-compilation-v1",
            "modelId": "proj/3",
            "compilationDevices": ["nvidia-l4", "nvidia-t4"],
            "notificationsURL": "https://hook.test/trt"
        })
    );
}

#[test]
fn job_stages_decode_the_spec_form_too() {
    let (mock, _) = one_call(
        200,
        r#"{"status":"ok","stages":[{"processingStageId":"export","processingStageName":"export","tasksNumber":1,"outputBatchId":"job-1-export","startTimestamp":"2025-06-01T10:00:00Z","notification":{},"statusType":"success","lastEventTimestamp":"2025-06-01T10:01:00Z"}]}"#,
    );
    let stages = api_with(mock).job_stages("job-1").unwrap();
    assert_eq!(stages[0].output_batch_ids(), vec!["job-1-export"]);
}

#[test]
fn the_workspace_is_looked_up_once_under_concurrent_first_use() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let lookups = Arc::new(AtomicUsize::new(0));
    let count = lookups.clone();
    let t = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        if req.path() == "/" {
            count.fetch_add(1, SeqCst);
            // Widen the window in which a second thread could start its own lookup.
            std::thread::sleep(std::time::Duration::from_millis(50));
            return Ok(HttpResponse::json(200, r#"{"workspace":"acme"}"#));
        }
        Ok(HttpResponse::json(200, r#"{"count":1}"#))
    };
    let api = Arc::new(
        BatchApi::builder()
            .base_url(BASE)
            .api_key(KEY)
            .transport(t)
            .build()
            .unwrap(),
    );
    let start = Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (api, start) = (api.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                api.batch_count("b1", None).unwrap();
                api.workspace().unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "acme");
    }
    assert_eq!(lookups.load(SeqCst), 1);
}

#[test]
fn dot_segments_are_refused_by_name_before_sending() {
    // A configured workspace.
    for ws in [".", ".."] {
        match BatchApi::builder().api_key(KEY).workspace(ws).build() {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "workspace"),
            other => panic!("{ws}: {other:?}"),
        }
    }
    // A looked-up workspace.
    let t = |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse::json(200, r#"{"workspace":".."}"#))
    };
    let api = BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .transport(t)
        .build()
        .unwrap();
    assert!(api.batch_count("b1", None).is_err());
    // A stage id: nothing is sent.
    let mut mock = MockTransport::new();
    mock.expect_send().times(0);
    let api = api_with(mock);
    for stage in [".", ".."] {
        let mut tasks = api.tasks("j1", stage, None);
        match tasks.next() {
            Some(Err(Error::InvalidInput { field, .. })) => assert_eq!(field, "stage_id"),
            other => panic!("{stage}: {other:?}"),
        }
        assert!(tasks.next().is_none(), "one error, then nothing");
    }
}

/// The bodies a client sends, answering each with `answer`.
fn recording(answer: &'static str) -> (BatchApi, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent.clone();
    let t = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        log.lock().unwrap().push(Seen::from(req));
        Ok(HttpResponse::json(200, answer))
    };
    (api_with(t), sent)
}

#[test]
fn references_without_an_ingest_id_get_one_derived_from_batch_and_body() {
    let (api, sent) = recording(r#"{"ingestId":"x"}"#);
    let body = |url: &str, id: Option<&str>| ReferencesIngest {
        image_references: Some(vec![FileReference {
            name: "a.jpg".into(),
            url: url.into(),
        }]),
        ingest_id: id.map(Into::into),
        ..Default::default()
    };
    let sent_id = |batch: &str, video: bool, body: &ReferencesIngest| {
        if video {
            api.ingest_video_references(batch, body, None).unwrap();
        } else {
            api.ingest_image_references(batch, body, None).unwrap();
        }
        let seen = sent.lock().unwrap().pop().unwrap();
        assert_eq!(seen.header("content-type"), Some("application/json"));
        seen.json()["ingestId"].as_str().unwrap().to_string()
    };
    let a = body("https://s/a.jpg?sig=1", None);
    let id = sent_id("b1", false, &a);
    assert!(id.starts_with("rfbatch-") && id.len() == 40, "{id}");
    assert_eq!(
        id,
        sent_id("b1", false, &a),
        "the same request, the same id"
    );
    assert_ne!(id, sent_id("b2", false, &a), "another batch");
    assert_ne!(id, sent_id("b1", true, &a), "other media");
    assert_ne!(
        id,
        sent_id("b1", false, &body("https://s/a.jpg?sig=2", None))
    );
    // A given id is sent as it is.
    assert_eq!(
        sent_id("b1", false, &body("https://s/a.jpg", Some("mine"))),
        "mine"
    );
}

#[test]
fn references_are_checked_before_anything_is_sent() {
    let r = |name: &str, url: &str| FileReference {
        name: name.into(),
        url: url.into(),
    };
    let inline = |refs: Vec<FileReference>| ReferencesIngest {
        image_references: Some(refs),
        ..Default::default()
    };
    let listed = |url: &str| ReferencesIngest {
        image_references_url: Some(url.into()),
        ..Default::default()
    };
    let cases: Vec<(ReferencesIngest, &str)> = vec![
        (ReferencesIngest::default(), "exactly one"),
        (inline(vec![]), "empty"),
        (
            inline(vec![r("a.jpg", "https://x/a"), r("a.jpg", "https://x/b")]),
            "unique",
        ),
        (
            inline(vec![r("../a.jpg", "https://x/a")]),
            "references[0].name",
        ),
        (listed("http://x.example"), "https"),
        (
            ReferencesIngest {
                notification_categories: Some(vec![NotificationCategory::Other("x".into())]),
                ..listed("https://x")
            },
            "notificationCategories",
        ),
    ];
    // Plain http:// only to this machine.
    let urls = [
        (
            "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=x",
            true,
        ),
        ("http://127.0.0.1:9000/bucket/a.jpg", true),
        ("http://localhost:9000/a.jpg", true),
        ("http://[::1]:10000/devstoreaccount1/c/a.jpg", true),
        ("http://user@127.0.0.2/a.jpg", true),
        ("http://[::ffff:127.0.0.1]:9000/a.jpg", true),
        ("HTTP://LOCALHOST/a.jpg", true),
        ("http://example.com/a.jpg", false),
        ("http://127.0.0.1.evil.example/a.jpg", false),
        ("http://localhost.evil.example/a.jpg", false),
        ("http://[::2]/a.jpg", false),
        ("ftp://127.0.0.1/a.jpg", false),
        ("https://", false),
    ];
    let mut mock = MockTransport::new();
    mock.expect_send().times(0);
    let api = api_with(mock);
    for (body, want) in cases {
        let err = api.ingest_image_references("b", &body, None).unwrap_err();
        assert!(err.to_string().contains(want), "{err} vs {want}");
    }
    for (url, ok) in urls {
        if !ok {
            let err = api
                .ingest_image_references("b", &inline(vec![r("a.jpg", url)]), None)
                .unwrap_err();
            assert!(
                err.to_string().contains("references[0].url"),
                "{url}: {err}"
            );
            assert!(
                api.ingest_image_references("b", &listed(url), None)
                    .is_err(),
                "{url}"
            );
        }
    }
    let (api, sent) = recording(r#"{"ingestId":"x"}"#);
    for (url, _) in urls.iter().filter(|(_, ok)| *ok) {
        api.ingest_image_references("b", &inline(vec![r("a.jpg", url)]), None)
            .unwrap();
        api.ingest_image_references("b", &listed(url), None)
            .unwrap();
    }
    assert_eq!(sent.lock().unwrap().len(), 14);
}

#[test]
fn odd_names_are_escaped_where_they_are_sent() {
    let (api, sent) = recording(r#"{"status":"ok","tasks":[],"nextPageToken":null}"#);
    // A quote in a file name is percent-escaped in the part, as urllib3 does.
    api.upload_image("b", "a\"b.jpg", b"x", None).unwrap();
    // A stage id is one path segment.
    assert_eq!(api.tasks("j1", "st/1", None).count(), 0);
    // Overrides that override nothing send no body.
    api.restart_job("j1", Some(&RestartOverrides::default()))
        .unwrap();
    let sent = sent.lock().unwrap();
    let part = String::from_utf8_lossy(&sent[0].body);
    assert!(
        part.contains(r#"name="a%22b.jpg"; filename="a%22b.jpg""#),
        "{part}"
    );
    assert_eq!(sent[1].path, format!("{JOBS}/jobs/j1/stages/st%2F1/tasks"));
    assert!(sent[2].body.is_empty());
}
