#![cfg(feature = "sandbox")]
//! Jobs against the sandbox, through the real `BatchApi` and `UreqTransport`.
//!
//! Each behaviour is a scenario function taking a client; the `#[test]`s start a sandbox
//! and call them.

mod common;

use std::time::{Duration, Instant};

use common::sandbox::png;
use roboflow_batch::BatchApi;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{
    AggregationFormat, CompilationDevice, JobStartRequest, JobState, JobStatusResponse,
    LogSeverity, RestartOverrides, TrtCompilationRequest,
};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

struct Env {
    sb: Sandbox,
    api: BatchApi,
    _dir: tempfile::TempDir,
}

fn config(speed: f64) -> SandboxConfig {
    SandboxConfig::default()
        .job_speed(speed)
        .job_images_per_task(4)
}

fn env(speed: f64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(speed).data_dir(dir.path())).unwrap();
    let api = client(&sb);
    Env { sb, api, _dir: dir }
}

fn client(sb: &Sandbox) -> BatchApi {
    BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .build()
        .unwrap()
}

/// Uploads `n` PNGs named `img-000.png`…, image `i` being `(10 + i) x (20 + 2i)`.
fn stage_images(api: &BatchApi, batch: &str, n: u32) {
    for i in 0..n {
        api.upload_image(
            batch,
            &format!("img-{i:03}.png"),
            &png(10 + i, 20 + 2 * i),
            None,
        )
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.batch_count(batch, None).unwrap_or(0) < u64::from(n) {
        assert!(
            Instant::now() < deadline,
            "batch {batch} never reached {n} files"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls until the job is terminal; returns the last status and every state seen.
fn wait_terminal(api: &BatchApi, id: &str) -> (JobStatusResponse, Vec<JobState>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        let st = api.job(id).unwrap();
        let state = st.state();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state.is_terminal() {
            return (st, seen);
        }
        assert!(Instant::now() < deadline, "job {id} never finished: {st:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn params(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Raw HTTP, for what the client refuses to send.
fn raw(sb: &Sandbox, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!(
        "{}/batch-processing/v1/external/{}/{path}{}api_key={}",
        sb.base_url(),
        sb.workspace(),
        if path.contains('?') { "&" } else { "?" },
        sb.api_key()
    );
    let resp = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        (_, Some(b)) => agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(b),
        (_, None) => agent.post(&url).send_empty(),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn download(
    api: &BatchApi,
    batch: &str,
    part: &str,
    dir: &std::path::Path,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in api.files(batch, Some(part), None) {
        let f = f.unwrap();
        let path = dir.join(&f.file_name);
        api.download_to_file(&f.download_url, &path).unwrap();
        out.push((f.file_name.clone(), std::fs::read(&path).unwrap()));
    }
    out
}

// ---------------------------------------------------------------- scenarios

fn scenario_image_stats_end_to_end(api: &BatchApi) {
    stage_images(api, "stats-in", 6);
    let req = JobStartRequest::images("stats-in", "image-stats");
    api.start_job("stats-1", &req, Some("Stats job")).unwrap();
    let (st, seen) = wait_terminal(api, "stats-1");
    assert_eq!(st.state(), JobState::Completed, "{st:?}");
    assert!(seen.contains(&JobState::Processing), "{seen:?}");
    assert_eq!(st.progress, Some(1.0));
    let job = st.job.unwrap();
    assert_eq!(job.name, "Stats job");
    assert!(job.is_terminal && !job.error);
    assert_eq!(
        job.job_definition["computeConfiguration"]["machineType"],
        "cpu"
    );

    let stages = api.job_stages("stats-1").unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s.processing_stage_name.as_str())
        .collect();
    assert_eq!(names, ["processing", "export"]);
    assert_eq!(stages[0].output_batches, ["stats-1-processing"]);
    assert_eq!(stages[1].output_batches, ["stats-1-export"]);
    assert_eq!(stages[0].tasks_number, 2, "6 images in tasks of 4");
    assert!(stages.iter().all(|s| s.status_type == "success"));
    let tasks: Vec<_> = api
        .tasks("stats-1", "processing", Some(1))
        .map(Result::unwrap)
        .collect();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| t.progress == Some(1.0) && t.status_type == "success")
    );

    let tmp = tempfile::tempdir().unwrap();
    // Output batches: multipart, one part each, listed, counted and downloaded by part.
    let parts = api.list_parts("stats-1-processing").unwrap();
    assert_eq!(parts[0].part_name, "results");
    assert_eq!(parts[0].content_type, "metadata");
    let meta = api.batch("stats-1-processing").unwrap();
    assert_eq!(meta.batch_type, roboflow_batch::model::BatchType::Multipart);
    assert_eq!(
        api.batch_count("stats-1-export", Some("archives")).unwrap(),
        2
    );
    assert_eq!(
        api.batch_count("stats-1-export", Some("results")).unwrap(),
        0
    );
    let files = download(api, "stats-1-processing", "results", tmp.path());
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "results.jsonl");
    let rows: Vec<Value> = String::from_utf8(files[0].1.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["file_name"], format!("img-{i:03}.png"));
        assert_eq!(row["width"], 10 + i as u64, "{row}");
        assert_eq!(row["height"], 20 + 2 * i as u64, "{row}");
        assert_eq!(row["format"], "png");
        assert_eq!(row["bytes"], png(1, 1).len() as u64);
    }

    let tars = download(api, "stats-1-export", "archives", tmp.path());
    assert_eq!(tars.len(), 2);
    let mut members = Vec::new();
    for (_, bytes) in &tars {
        let mut a = tar::Archive::new(&bytes[..]);
        for e in a.entries().unwrap() {
            members.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
    }
    members.sort();
    assert_eq!(members.len(), 6);
    assert_eq!(members[0], "img-000.png.json");
}

fn scenario_csv_results(api: &BatchApi) {
    stage_images(api, "csv-in", 3);
    let req = JobSpec::images(api, "csv-in", "image-stats")
        .aggregation_format(AggregationFormat::Csv)
        .request()
        .unwrap();
    api.start_job("csv-1", &req, None).unwrap();
    assert_eq!(wait_terminal(api, "csv-1").0.state(), JobState::Completed);
    let tmp = tempfile::tempdir().unwrap();
    let files = download(api, "csv-1-processing", "results", tmp.path());
    assert_eq!(files[0].0, "results.csv");
    let text = String::from_utf8(files[0].1.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "file_name,part_name,status,width,height,format,bytes,error"
    );
    assert!(
        lines[2].starts_with("img-001.png,,success,11,22,png,"),
        "{}",
        lines[2]
    );
}

fn scenario_failure_rate(api: &BatchApi) {
    stage_images(api, "fail-in", 20);
    let wf = |rate| {
        JobSpec::images(api, "fail-in", "fail-fraction")
            .workflow_parameters(params(json!({"fraction": 0.3})))
            .max_image_failure_rate(rate)
            .request()
            .unwrap()
    };
    api.start_job("tolerant", &wf(0.9), None).unwrap();
    api.start_job("strict", &wf(0.01), None).unwrap();

    let (ok, _) = wait_terminal(api, "tolerant");
    assert_eq!(ok.state(), JobState::Completed, "{ok:?}");
    let warnings: Vec<_> = api
        .logs("tolerant", Some(LogSeverity::Warning), None)
        .map(Result::unwrap)
        .collect();
    assert!(
        !warnings.is_empty() && warnings.len() < 20,
        "{}",
        warnings.len()
    );
    assert!(warnings.iter().all(|l| l.log_type == "image-failed"));

    let (bad, _) = wait_terminal(api, "strict");
    assert_eq!(bad.state(), JobState::Failed);
    let job = bad.job.unwrap();
    assert!(
        job.last_message().unwrap().contains("maxImageFailureRate"),
        "{job:?}"
    );
    let stages = api.job_stages("strict").unwrap();
    assert_eq!(stages.len(), 1, "no export after a failed processing stage");
    assert!(stages[0].status_type.contains("error"));
    let errors: Vec<_> = api
        .logs("strict", Some(LogSeverity::Error), None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(errors.len(), 1);
    // Same failures in both: the choice is a hash of the file name.
    let strict_warnings = api.logs("strict", Some(LogSeverity::Warning), None).count();
    assert_eq!(strict_warnings, warnings.len());

    // A restart with a looser tolerance completes, and records the override.
    let o = RestartOverrides::default()
        .max_image_failure_rate(0.9)
        .max_parallel_tasks(2);
    api.restart_job("strict", Some(&o)).unwrap();
    let (again, _) = wait_terminal(api, "strict");
    assert_eq!(again.state(), JobState::Completed);
    let job = again.job.unwrap();
    assert_eq!(job.restart_parameters_override.len(), 1);
    assert_eq!(
        job.restart_parameters_override[0]["maxImageFailureRate"],
        0.9
    );
    let restarted = api
        .logs("strict", Some(LogSeverity::Info), None)
        .map(Result::unwrap);
    assert_eq!(
        restarted.filter(|l| l.log_type == "job-restarted").count(),
        1
    );
}

fn scenario_unknown_workflow_fails(api: &BatchApi) {
    stage_images(api, "wf-in", 1);
    api.start_job(
        "no-wf",
        &JobStartRequest::images("wf-in", "does-not-exist"),
        None,
    )
    .unwrap();
    let (st, _) = wait_terminal(api, "no-wf");
    assert_eq!(st.state(), JobState::Failed);
    assert!(
        st.job
            .unwrap()
            .last_message()
            .unwrap()
            .contains("does-not-exist")
    );
    let stages = api.job_stages("no-wf").unwrap();
    assert_eq!(stages[0].status_type, "error");
    assert!(stages[0].tasks_number >= 1);
    let errors: Vec<_> = api
        .logs("no-wf", Some(LogSeverity::Error), None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].severity, LogSeverity::Error);
}

fn scenario_idempotent_start_and_conflict(api: &BatchApi) {
    stage_images(api, "idem-in", 1);
    let req = JobStartRequest::images("idem-in", "image-stats");
    api.start_job("idem", &req, None).unwrap();
    api.start_job("idem", &req, None).unwrap();
    let mut other = req.clone();
    other.max_image_failure_rate = Some(0.5);
    let err = api.start_job("idem", &other, None).unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    assert_eq!(api.jobs(None).count(), 1);
}

fn scenario_abort_and_restart_running(sb: &Sandbox, api: &BatchApi) {
    stage_images(api, "slow-in", 12);
    api.start_job(
        "slow",
        &JobStartRequest::images("slow-in", "image-stats"),
        None,
    )
    .unwrap();
    let err = api.restart_job("slow", None).unwrap_err();
    assert_eq!(
        err.status(),
        Some(409),
        "a running job cannot be restarted: {err}"
    );
    // Tasks after the running one have not registered yet: progress is null.
    let deadline = Instant::now() + Duration::from_secs(5);
    while api.job_stages("slow").unwrap().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let tasks: Vec<_> = api
        .tasks("slow", "processing", None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(tasks.len(), 3, "12 images in tasks of 4");
    assert!(tasks[0].progress.is_some(), "{tasks:?}");
    assert_eq!(tasks[2].progress, None, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.status_type == "info"));
    let (_, body) = raw(
        sb,
        "GET",
        "jobs/slow/stages/processing/tasks?pageSize=2",
        None,
    );
    assert_eq!(body["tasks"].as_array().unwrap().len(), 2, "{body}");
    let token = body["nextPageToken"].as_str().expect("a second page");
    let path = format!("jobs/slow/stages/processing/tasks?nextPageToken={token}");
    let (_, body) = raw(sb, "GET", &path, None);
    assert_eq!(
        body["tasks"][0]["taskId"], "processing-task-00002",
        "{body}"
    );
    assert!(
        body.as_object().unwrap().contains_key("nextPageToken") && body["nextPageToken"].is_null()
    );
    api.abort_job("slow").unwrap();
    let stages = api.job_stages("slow").unwrap();
    assert!(stages[0].status_type.contains("error"), "{stages:?}");
    let st = api.job("slow").unwrap();
    assert_eq!(st.state(), JobState::Failed);
    assert!(st.job.unwrap().last_message().unwrap().contains("abort"));
    api.abort_job("slow").unwrap();
    // Restart without a body (what the official client sends without overrides).
    let (code, body) = raw(sb, "POST", "jobs/slow/restart", None);
    assert_eq!(code, 200, "{body}");
    assert!(!api.job("slow").unwrap().state().is_terminal());
    assert!(
        api.job("slow")
            .unwrap()
            .job
            .unwrap()
            .restart_parameters_override
            .is_empty()
    );
    let (code, body) = raw(
        sb,
        "POST",
        "jobs/slow/restart",
        Some(r#"{"type":"parameters-override-v1","maxImageFailureRate":7}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("maxImageFailureRate"),
        "{body}"
    );
    let (code, body) = raw(
        sb,
        "POST",
        "jobs/slow/restart",
        Some(r#"{"type":"parameters-override-v1","maxImageFailureRate":0.5}"#),
    );
    assert_eq!(code, 409, "still running: {body}");
}

fn scenario_logs_and_severity(sb: &Sandbox, api: &BatchApi) {
    stage_images(api, "log-in", 2);
    api.start_job(
        "logs",
        &JobStartRequest::images("log-in", "image-stats"),
        None,
    )
    .unwrap();
    wait_terminal(api, "logs");
    let before = api.requests();
    let all: Vec<_> = api
        .logs("logs", None, Some(2))
        .map(Result::unwrap)
        .collect();
    assert!(all.len() >= 5, "{all:?}");
    assert!(all.iter().all(|l| l.severity == LogSeverity::Info));
    // Pages of 2, each but the last naming the next.
    let pages = api.requests().since(&before).get("job-logs");
    assert_eq!(pages, all.len().div_ceil(2) as u64);
    assert_eq!(api.logs("logs", Some(LogSeverity::Error), None).count(), 0);
    let (code, body) = raw(sb, "GET", "jobs/logs/logs?severity=debug", None);
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("severity"),
        "{body}"
    );
    let (code, _) = raw(sb, "GET", "jobs/logs/logs?pageSize=0", None);
    assert_eq!(code, 400);
    let (code, _) = raw(sb, "GET", "jobs/logs/logs?nextPageToken=garbage", None);
    assert_eq!(code, 400);
}

fn scenario_list_jobs_pagination(sb: &Sandbox, api: &BatchApi) {
    stage_images(api, "list-in", 1);
    for i in 0..5 {
        api.start_job(
            format!("list-{i}"),
            &JobStartRequest::images("list-in", "image-stats"),
            None,
        )
        .unwrap();
    }
    let before = api.requests();
    let ids: Vec<String> = api.jobs(Some(2)).map(|j| j.unwrap().job_id).collect();
    assert_eq!(
        ids,
        ["list-4", "list-3", "list-2", "list-1", "list-0"],
        "newest first"
    );
    assert_eq!(
        api.requests().since(&before).get("list-jobs"),
        3,
        "pages of 2"
    );
    // The key is present, null, on the last page (the official client requires it).
    let (code, body) = raw(sb, "GET", "jobs?pageSize=10", None);
    assert_eq!(code, 200);
    assert!(
        body.as_object().unwrap().contains_key("nextPageToken"),
        "{body}"
    );
    assert!(body["nextPageToken"].is_null());
    let (_, body) = raw(sb, "GET", "jobs/list-0/stages/processing/tasks", None);
    assert!(
        body.as_object()
            .is_some_and(|o| o.contains_key("nextPageToken"))
            || body["error"].is_string(),
        "{body}"
    );
}

fn scenario_not_found(sb: &Sandbox, api: &BatchApi) {
    assert_eq!(api.job("nope").unwrap_err().status(), Some(404));
    assert_eq!(api.job_stages("nope").unwrap_err().status(), Some(404));
    assert_eq!(api.abort_job("nope").unwrap_err().status(), Some(404));
    assert_eq!(
        api.restart_job("nope", None).unwrap_err().status(),
        Some(404)
    );
    assert_eq!(
        api.logs("nope", None, None)
            .next()
            .unwrap()
            .unwrap_err()
            .status(),
        Some(404)
    );
    let (code, _) = raw(sb, "GET", "jobs/nope/stages/processing/tasks", None);
    assert_eq!(code, 404);
    let err = api
        .start_job(
            "orphan",
            &JobStartRequest::images("no-such-batch", "image-stats"),
            None,
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("no-such-batch"), "{err}");
}

fn scenario_bad_bodies(sb: &Sandbox, api: &BatchApi) {
    stage_images(api, "body-in", 1);
    let ok = r#"{"type":"simple-image-processing-v1","jobInput":{"type":"staging-batch-input-v1","batchId":"body-in"},
        "computeConfiguration":{"type":"compute-configuration-v2"},
        "processingSpecification":{"type":"workflows-processing-specification-v1","workspace":"sandbox","workflowId":"image-stats","persistImagesOutputs":false}}"#;
    let (code, body) = raw(sb, "POST", "jobs/official", Some(ok));
    assert_eq!(code, 200, "missing machineType is accepted: {body}");
    // Both answer forms at once, with tz-aware timestamps.
    let (code, body) = raw(sb, "GET", "jobs/official", None);
    assert_eq!(code, 200);
    assert_eq!(body["status"], "ok");
    assert!(
        body["jobStatus"].is_string() && body["progress"].is_number(),
        "{body}"
    );
    assert_eq!(body["job"]["jobId"], "official");
    let created = body["job"]["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z') || created.contains('+'), "{created}");
    let fraction = created
        .split('.')
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(|c: char| !c.is_ascii_digit());
    assert!(
        fraction.len() <= 6,
        "at most microseconds, as Python parses: {created}"
    );
    let mut v: Value = serde_json::from_str(ok).unwrap();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "no-input",
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("jobInput"))),
            "jobInput",
        ),
        (
            "no-batch",
            Box::new(|v| drop(v["jobInput"].as_object_mut().unwrap().remove("batchId"))),
            "batchId",
        ),
        (
            "tpu",
            Box::new(|v| v["computeConfiguration"]["machineType"] = json!("tpu")),
            "machineType",
        ),
        (
            "xml",
            Box::new(|v| v["processingSpecification"]["aggregationFormat"] = json!("xml")),
            "aggregationFormat",
        ),
        (
            "bad-type",
            Box::new(|v| v["type"] = json!("fancy-v9")),
            "type",
        ),
        (
            "rate",
            Box::new(|v| v["maxImageFailureRate"] = json!(3)),
            "maxImageFailureRate",
        ),
        (
            "rate-str",
            Box::new(|v| v["maxImageFailureRate"] = json!("high")),
            "maxImageFailureRate",
        ),
    ];
    for (id, edit, field) in cases {
        let mut b = v.clone();
        edit(&mut b);
        let (code, body) = raw(sb, "POST", &format!("jobs/{id}"), Some(&b.to_string()));
        assert_eq!(code, 400, "{id}: {body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(field), "{id}: {msg}");
    }
    let (code, body) = raw(sb, "POST", "jobs/Bad%20Id", Some(ok));
    assert_eq!(code, 400, "{body}");
    let (code, _) = raw(sb, "POST", "jobs/not-json", Some("{"));
    assert_eq!(code, 400);
    let (code, body) = raw(
        sb,
        "POST",
        "jobs/trt-1",
        Some(r#"{"type":"trt-compilation-v1","modelId":"m/1","compilationDevices":["nvidia-l4"]}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(wait_terminal(api, "trt-1").0.state(), JobState::Completed);
    // The typed client request does the same, and unknown devices are refused.
    let trt = TrtCompilationRequest::new("m/2", vec![CompilationDevice::NvidiaT4]);
    api.start_trt_compilation("trt-2", &trt, Some("Compile"))
        .unwrap();
    assert_eq!(wait_terminal(api, "trt-2").0.state(), JobState::Completed);
    let (code, body) = raw(
        sb,
        "POST",
        "jobs/trt-3",
        Some(
            r#"{"type":"trt-compilation-v1","modelId":"m/1","compilationDevices":["nvidia-h100"]}"#,
        ),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("compilationDevices"), "{body}");
    v["type"] = json!("simple-video-processing-v1");
    let (code, body) = raw(sb, "POST", "jobs/video-1", Some(&v.to_string()));
    assert_eq!(code, 200, "{body}");
}

fn scenario_undecodable_images_fail(api: &BatchApi) {
    stage_images(api, "broken-in", 3);
    api.upload_image(
        "broken-in",
        "zz-broken.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR",
        None,
    )
    .unwrap();
    let req = || JobStartRequest::images("broken-in", "image-stats");
    let mut lenient = req();
    lenient.max_image_failure_rate = Some(0.5);
    api.start_job("lenient", &lenient, None).unwrap();
    // No maxImageFailureRate: the default tolerance (10 per 256 images) is exceeded by 1 of 4.
    api.start_job("default-rate", &req(), None).unwrap();
    assert_eq!(wait_terminal(api, "lenient").0.state(), JobState::Completed);
    assert_eq!(
        wait_terminal(api, "default-rate").0.state(),
        JobState::Failed
    );
    let tmp = tempfile::tempdir().unwrap();
    let files = download(api, "lenient-processing", "results", tmp.path());
    let text = String::from_utf8(files[0].1.clone()).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["file_name"], "zz-broken.png");
    assert_eq!(last["status"], "error");
    assert!(last["error"].as_str().unwrap().contains("decod"), "{last}");
    let warnings: Vec<_> = api
        .logs("lenient", Some(LogSeverity::Warning), None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].payload["file_name"], "zz-broken.png");
}

fn scenario_processing_timeout(api: &BatchApi) {
    stage_images(api, "timeout-in", 1);
    let mut req = JobStartRequest::images("timeout-in", "image-stats");
    req.processing_timeout_seconds = Some(1);
    api.start_job("timeout", &req, None).unwrap();
    let (st, _) = wait_terminal(api, "timeout");
    assert_eq!(st.state(), JobState::Failed);
    assert!(
        st.job
            .unwrap()
            .last_message()
            .unwrap()
            .contains("processingTimeoutSeconds")
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn undecodable_images_fail() {
    scenario_undecodable_images_fail(&env(500.0).api);
}

#[test]
fn processing_timeout() {
    // Speed 0: the job never advances, so only the timeout can end it.
    scenario_processing_timeout(&env(0.0).api);
}

#[test]
fn image_stats_end_to_end() {
    let e = env(40.0);
    scenario_image_stats_end_to_end(&e.api);
}

#[test]
fn csv_results() {
    scenario_csv_results(&env(500.0).api);
}

#[test]
fn failure_rate_and_restart_with_overrides() {
    scenario_failure_rate(&env(500.0).api);
}

#[test]
fn unknown_workflow_fails() {
    scenario_unknown_workflow_fails(&env(500.0).api);
}

#[test]
fn idempotent_start_and_conflict() {
    scenario_idempotent_start_and_conflict(&env(500.0).api);
}

#[test]
fn abort_and_restart_running() {
    let e = env(2.0);
    scenario_abort_and_restart_running(&e.sb, &e.api);
}

#[test]
fn logs_and_severity() {
    let e = env(500.0);
    scenario_logs_and_severity(&e.sb, &e.api);
}

#[test]
fn list_jobs_pagination() {
    let e = env(500.0);
    scenario_list_jobs_pagination(&e.sb, &e.api);
}

#[test]
fn not_found() {
    let e = env(500.0);
    scenario_not_found(&e.sb, &e.api);
}

#[test]
fn bad_bodies() {
    let e = env(500.0);
    scenario_bad_bodies(&e.sb, &e.api);
}

#[test]
fn sandbox_restart_resumes_a_job_midway() {
    let dir = tempfile::tempdir().unwrap();
    {
        let sb = Sandbox::start(config(20.0).data_dir(dir.path())).unwrap();
        let api = client(&sb);
        stage_images(&api, "resume-in", 30);
        api.start_job(
            "resume",
            &JobStartRequest::images("resume-in", "image-stats"),
            None,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let p = api.job("resume").unwrap().progress.unwrap_or(0.0);
            if p > 0.1 {
                assert!(p < 0.5, "still in the processing stage: {p}");
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let sb = Sandbox::start(config(500.0).data_dir(dir.path())).unwrap();
    let api = client(&sb);
    let before = api.job("resume").unwrap();
    assert!(
        before.progress.unwrap() > 0.1,
        "progress survived: {before:?}"
    );
    let (st, _) = wait_terminal(&api, "resume");
    assert_eq!(st.state(), JobState::Completed, "{st:?}");
    let tmp = tempfile::tempdir().unwrap();
    let files = download(&api, "resume-processing", "results", tmp.path());
    let text = String::from_utf8(files[0].1.clone()).unwrap();
    let names: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["file_name"].to_string())
        .collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names.len(), 30, "every image once");
    assert_eq!(unique.len(), 30);
}

/// What the official client's models need stays under varied answers (`vary`), in every
/// stage style: the `nextPageToken` key of job and task listings, `tasksNumber` ≥ 1,
/// zone-aware times, exact log severities; stage names never equal their ids, whose
/// tasks stay reachable.
#[test]
fn varied_answers_keep_what_the_official_client_needs() {
    // Seeds 2, 6, 7 and 15 cover the four stage styles.
    for seed in [2, 6, 7, 15] {
        let sb = Sandbox::start(config(1000.0).vary(seed).indexing_delay(Duration::ZERO)).unwrap();
        let api = client(&sb);
        api.upload_image("b", "a.png", &png(1, 1), None).unwrap();
        let req = JobStartRequest::images("b", "image-stats");
        api.start_job("j1", &req, None).unwrap();
        wait_terminal(&api, "j1");
        let get = |path: &str| {
            let (status, body) = raw(&sb, "GET", path, None);
            assert_eq!(status, 200, "seed {seed}: {path}: {body}");
            body
        };
        let times = |o: &Value, keys: &[&str]| {
            for k in keys {
                if let Some(t) = o.get(*k).and_then(Value::as_str) {
                    assert!(t.ends_with('Z') || t.ends_with("+00:00"), "{k}: {t}");
                    t.parse::<roboflow_batch::model::Timestamp>().unwrap();
                }
            }
        };
        let list = get("jobs?pageSize=10");
        assert!(list.get("nextPageToken").is_some(), "seed {seed}: {list}");
        times(&list["jobs"][0], &["createdAt", "lastUpdate"]);
        let stages = get("jobs/j1/stages");
        let stages = stages["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 2, "seed {seed}");
        for st in stages {
            let id = st["processingStageId"].as_str().unwrap();
            assert_ne!(
                st["processingStageName"].as_str().unwrap(),
                id,
                "seed {seed}"
            );
            assert!(st["tasksNumber"].as_f64().unwrap() >= 1.0, "{st}");
            times(st, &["startTimestamp", "lastEventTimestamp"]);
            let tasks = get(&format!("jobs/j1/stages/{id}/tasks"));
            assert!(tasks.get("nextPageToken").is_some(), "seed {seed}: {tasks}");
            assert!(!tasks["tasks"].as_array().unwrap().is_empty());
        }
        for l in get("jobs/j1/logs")["logs"].as_array().unwrap() {
            let severity = l["severity"].as_str().unwrap();
            assert!(["info", "warning", "error"].contains(&severity), "{l}");
            times(l, &["createdAt"]);
        }
        // Asked twice, answered alike: the choices are stable.
        assert_eq!(get("jobs/j1/stages"), get("jobs/j1/stages"));
    }
}
