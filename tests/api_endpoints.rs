//! One or more tests per endpoint: what `BatchApi` sends, and how it decodes a realistic
//! answer (shapes from the official client's notes).

mod common;

use common::*;
use roboflow_batch::api::{ListOptions, UploadSource};
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
fn list_batches_page_sends_paging_and_decodes() {
    let body: &'static str =
        Box::leak(format!(r#"{{"batches":[{BATCH_JSON}],"nextPageToken":"p2"}}"#).into_boxed_str());
    let (mock, s) = one_call(200, body);
    let api = api_with(mock);
    let page = api
        .list_batches_page(&ListOptions::default().page_size(5).page_token("p1"))
        .unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Get, &format!("{STAGING}/batches"));
    assert_eq!(s.q("pageSize"), Some("5"));
    assert_eq!(s.q("nextPageToken"), Some("p1"));
    assert_eq!(page.items[0].batch_type, BatchType::Sharded);
    assert_eq!(page.next_page_token.as_deref(), Some("p2"));
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
    let page = api_with(mock)
        .list_shards_page("b", &ListOptions::default())
        .unwrap();
    assert_eq!(page.items[0].shard_objects_count, 256);
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
    let (mock, _) = one_call(200, r#"{"status":"ok","items":[{"partName":"a"}]}"#);
    let err = api_with(mock).list_parts("x").unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("batchParts"), "{err}");
}

#[test]
fn list_files_page_sends_part_and_decodes() {
    let (mock, s) = one_call(
        200,
        r#"{"status":"ok","filesMetadata":[{"downloadURL":"https://storage.test/f?X-Goog-Signature=abc","fileName":"results.jsonl","partName":"results","shardId":null,"contentType":"metadata","nestedContentType":null}],"nextPageToken":null}"#,
    );
    let page = api_with(mock)
        .list_files_page(
            "j-processing",
            Some("results"),
            &ListOptions::default().page_size(100),
        )
        .unwrap();
    let s = seen(&s);
    assert_api_request(
        &s,
        Method::Get,
        &format!("{STAGING}/batches/j-processing/list"),
    );
    assert_eq!(s.q("partName"), Some("results"));
    assert_eq!(s.q("pageSize"), Some("100"));
    assert_eq!(page.items[0].file_name, "results.jsonl");
    assert!(page.is_last());
}

#[test]
fn list_shards_page_decodes_statuses() {
    let (mock, s) = one_call(
        200,
        r#"{"shards":[{"shardId":"4b6c","statusName":"indexing-failed","statusType":"error","eventTimestamp":"2025-06-01T10:00:00.123Z","shardObjectsCount":256,"statusMetadata":{"failedFiles":1}}],"nextPageToken":"n"}"#,
    );
    let page = api_with(mock)
        .list_shards_page("big", &ListOptions::default())
        .unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{STAGING}/batches/big/shards"),
    );
    assert!(page.items[0].is_failed());
    assert_eq!(page.items[0].shard_objects_count, 256);
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
fn a_video_upload_answer_with_null_extension_headers_decodes() {
    let (mock, _) = one_call(
        200,
        r#"{"signedURLDetails":{"uploadURL":"https://storage.test/v?sig=1","extensionHeaders":null}}"#,
    );
    let d = api_with(mock)
        .request_video_upload("vids", "clip.mp4", None)
        .unwrap();
    assert!(d.extension_headers.is_empty());
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
    let req = JobStartRequest::images("my-batch", "count-cars")
        .with_part_name("p1")
        .with_images_metadata_part("meta")
        .with_machine_type(MachineType::Gpu)
        .with_workers_per_machine(2)
        .with_processing_timeout_seconds(3600)
        .with_max_parallel_tasks(8)
        .with_max_image_failure_rate(0.05)
        .with_workflow_parameters(params)
        .with_image_input_name("image")
        .with_persisted_image_outputs(vec!["viz".into()])
        .with_aggregation_format(AggregationFormat::Csv)
        .with_metadata_mapping("camera", "cam_id")
        .with_notifications_url("https://hook.test/jobs")
        .with_inference_backend(InferenceBackend::InferenceModels);
    api_with(mock)
        .start_job("job-1", &req, Some("My Job"))
        .unwrap();
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
fn list_jobs_page_decodes() {
    let body: &'static str =
        Box::leak(format!(r#"{{"jobs":[{JOB_JSON}],"nextPageToken":null}}"#).into_boxed_str());
    let (mock, s) = one_call(200, body);
    let page = api_with(mock)
        .list_jobs_page(&ListOptions::default().page_size(10))
        .unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Get, &format!("{JOBS}/jobs"));
    assert_eq!(s.q("pageSize"), Some("10"));
    assert_eq!(page.items[0].planned_stages.as_ref().unwrap().len(), 2);
    assert!(page.is_last());
}

#[test]
fn job_stages_decode() {
    let (mock, s) = one_call(
        200,
        r#"{"stages":[{"processingStageId":"processing","processingStageName":"processing","tasksNumber":3,"outputBatches":["job-1-processing"],"startTimestamp":"2025-06-01T10:00:00.123456+00:00","notification":{"type":"info"},"statusType":"info","lastEventTimestamp":"2025-06-01T10:01:00.123456+00:00"}]}"#,
    );
    let stages = api_with(mock).job_stages("job-1").unwrap();
    assert_api_request(&seen(&s), Method::Get, &format!("{JOBS}/jobs/job-1/stages"));
    assert!(stages[0].is_running());
    assert_eq!(stages[0].output_batches, vec!["job-1-processing"]);
}

#[test]
fn list_tasks_page_decodes() {
    let (mock, s) = one_call(
        200,
        r#"{"tasks":[{"taskId":"t0","notification":"started","statusType":"info","eventTimestamp":"2025-06-01T10:00:00+00:00","progress":0.5},{"taskId":"t1","notification":{},"statusType":"info","eventTimestamp":"2025-06-01T10:00:00+00:00","progress":null}],"nextPageToken":null}"#,
    );
    let page = api_with(mock)
        .list_tasks_page("job-1", "processing", &ListOptions::default())
        .unwrap();
    assert_api_request(
        &seen(&s),
        Method::Get,
        &format!("{JOBS}/jobs/job-1/stages/processing/tasks"),
    );
    assert_eq!(page.items[0].progress, Some(0.5));
    assert_eq!(page.items[1].progress, None);
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
        .with_machine_type(MachineType::Gpu)
        .with_workers_per_machine(1)
        .with_max_parallel_tasks(2)
        .with_processing_timeout_seconds(600)
        .with_max_image_failure_rate(0.2);
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
fn list_logs_page_filters_severity() {
    let (mock, s) = one_call(
        200,
        r#"{"logs":[{"createdAt":"2025-06-01T10:00:00.1+00:00","processingStageId":"processing","taskId":"t0","severity":"error","reportingModule":"worker","logType":"image-failed","payload":{"file":"a.jpg"}}],"nextPageToken":null}"#,
    );
    let page = api_with(mock)
        .list_logs_page("job-1", Some(&LogSeverity::Error), &ListOptions::default())
        .unwrap();
    let s = seen(&s);
    assert_api_request(&s, Method::Get, &format!("{JOBS}/jobs/job-1/logs"));
    assert_eq!(s.q("severity"), Some("error"));
    assert_eq!(page.items[0].severity, LogSeverity::Error);
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
    let mut mock = MockTransport::new();
    mock.expect_send().times(0);
    let api = api_with(mock);
    let cases: Vec<(roboflow_batch::Result<()>, &str)> = vec![
        (api.batch_count("Bad Batch", None).map(drop), "batch_id"),
        (api.batch("a".repeat(65)).map(drop), "batch_id"),
        (api.job("job id").map(drop), "job_id"),
        (
            api.start_job(
                "j",
                &JobStartRequest::images("b", "wf").with_max_image_failure_rate(2.0),
                None,
            ),
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
            api.list_logs_page(
                "j",
                Some(&LogSeverity::Other("debug".into())),
                &ListOptions::default(),
            )
            .map(drop),
            "severity",
        ),
        (
            api.list_jobs_page(&ListOptions::default().page_size(0))
                .map(drop),
            "page_size",
        ),
        (api.upload_image("b", "../x.jpg", b"x", None), "file_name"),
        (
            api.list_tasks_page("j", "", &ListOptions::default())
                .map(drop),
            "stage_id",
        ),
        (
            api.restart_job(
                "j",
                Some(&RestartOverrides::default().with_max_image_failure_rate(-1.0)),
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
    match api_with(mock).list_jobs_page(&ListOptions::default()) {
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
        .with_ingest_id("rq-1")
        .with_notifications_url("https://hook.test/x");
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
    .with_notifications_url("https://hook.test/trt");
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
        match api.list_tasks_page("j1", stage, &ListOptions::default()) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "stage_id"),
            other => panic!("{stage}: {other:?}"),
        }
        let first = api.tasks("j1", stage, None).next();
        assert!(
            matches!(first, Some(Err(Error::InvalidInput { .. }))),
            "{first:?}"
        );
    }
}
