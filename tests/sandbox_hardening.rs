#![cfg(feature = "sandbox")]
//! One request or one job must never stop the sandbox: out-of-range numbers are refused on
//! arrival, and a panic in a job or a handler stays in that job or request.

mod common;

use std::time::Duration;

use common::sandbox::*;
use roboflow_batch::model::{JobStartRequest, JobState, LogSeverity};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const HUGE: &str = "18446744073709551615";

fn job_body(batch: &str, workflow: &str, timeout: &str) -> String {
    format!(
        r#"{{"type": "simple-image-processing-v1",
            "jobInput": {{"type": "staging-batch-input-v1", "batchId": "{batch}"}},
            "computeConfiguration": {{"type": "compute-configuration-v2", "machineType": "cpu"}},
            "processingTimeoutSeconds": {timeout},
            "processingSpecification": {{"type": "workflows-processing-specification-v1",
                "workspace": "sandbox", "workflowId": "{workflow}"}}}}"#
    )
}

#[test]
fn huge_timeouts_are_refused_at_start_and_restart_naming_the_field() {
    let sb = Sandbox::start(SandboxConfig::default().with_job_speed(500.0)).unwrap();
    let api = client(&sb);
    stage_images(&api, "in", 2);
    for value in [HUGE, "18446744073709551616", "31536001"] {
        let r = jobs_call(
            &sb,
            "POST",
            "jobs/huge",
            Some(&job_body("in", "image-stats", value)),
        );
        assert_eq!(r.status, 400, "{value}: {}", r.text());
        assert!(
            r.text().contains("processingTimeoutSeconds"),
            "{}",
            r.text()
        );
    }
    assert_eq!(
        jobs_call(&sb, "GET", "jobs/huge", None).status,
        404,
        "nothing stored"
    );
    // A valid job, then restarts with out-of-range overrides.
    let r = jobs_call(
        &sb,
        "POST",
        "jobs/ok",
        Some(&job_body("in", "image-stats", "3600")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(wait_job(&api, "ok", 20).state(), JobState::Completed);
    for value in [HUGE, "18446744073709551616"] {
        let body =
            format!(r#"{{"type": "parameters-override-v1", "processingTimeoutSeconds": {value}}}"#);
        let r = jobs_call(&sb, "POST", "jobs/ok/restart", Some(&body));
        assert_eq!(r.status, 400, "{value}: {}", r.text());
        assert!(
            r.text().contains("processingTimeoutSeconds"),
            "{}",
            r.text()
        );
    }
    // The engine still runs jobs.
    let r = jobs_call(
        &sb,
        "POST",
        "jobs/ok2",
        Some(&job_body("in", "image-stats", "60")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(wait_job(&api, "ok2", 20).state(), JobState::Completed);
}

#[test]
fn a_panicking_job_fails_alone_and_every_other_job_completes() {
    let mut config = SandboxConfig::default()
        .with_job_speed(200.0)
        .with_job_images_per_task(2);
    config.test_hooks = true;
    let sb = Sandbox::start(config).unwrap();
    let api = client(&sb);
    stage_images(&api, "in", 6);
    api.start_job(
        "before",
        &JobStartRequest::images("in", "image-stats"),
        None,
    )
    .unwrap();
    api.start_job("boom", &JobStartRequest::images("in", "panic-test"), None)
        .unwrap();
    api.start_job("after", &JobStartRequest::images("in", "image-stats"), None)
        .unwrap();
    let boom = wait_job(&api, "boom", 20);
    assert_eq!(boom.state(), JobState::Failed, "{boom:?}");
    let logs: Vec<_> = api
        .logs("boom", Some(LogSeverity::Error), None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        logs.iter().any(|l| l.log_type == "job-panicked"),
        "a log line says the job panicked: {logs:?}"
    );
    for id in ["before", "after"] {
        assert_eq!(wait_job(&api, id, 30).state(), JobState::Completed, "{id}");
    }
    // A job started after the panic runs too: the engine thread survived.
    api.start_job("later", &JobStartRequest::images("in", "image-stats"), None)
        .unwrap();
    assert_eq!(wait_job(&api, "later", 30).state(), JobState::Completed);
}

#[test]
fn the_panic_workflow_does_not_exist_without_the_test_hooks() {
    let sb = Sandbox::start(SandboxConfig::default().with_job_speed(500.0)).unwrap();
    let api = client(&sb);
    stage_images(&api, "in", 1);
    api.start_job("p", &JobStartRequest::images("in", "panic-test"), None)
        .unwrap();
    let st = wait_job(&api, "p", 20);
    assert!(
        st.job
            .unwrap()
            .last_message()
            .unwrap()
            .contains("not found")
    );
    let r = http("GET", &api_url(&sb, "__test/panic"), &[], None);
    assert_eq!(r.status, 404);
}

#[test]
fn a_panicking_handler_answers_500_and_the_server_carries_on() {
    let mut config = SandboxConfig::default();
    config.test_hooks = true;
    let sb = Sandbox::start(config.with_addr(([127, 0, 0, 1], 0).into())).unwrap();
    for _ in 0..20 {
        let r = http("GET", &api_url(&sb, "__test/panic"), &[], None);
        assert_eq!(r.status, 500);
        assert!(r.text().contains("panicked"), "{}", r.text());
    }
    // Every serving thread is still there.
    let api = client(&sb);
    for _ in 0..20 {
        assert_eq!(api.workspace().unwrap(), "sandbox");
    }
}

#[test]
fn a_persisted_job_with_a_huge_timeout_still_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Speed 0: the job starts its first stage and stays there.
        let sb = Sandbox::start(
            SandboxConfig::default()
                .with_job_speed(0.0)
                .with_data_dir(dir.path()),
        )
        .unwrap();
        let api = client(&sb);
        stage_images(&api, "in", 3);
        let req = JobStartRequest::images("in", "image-stats").with_processing_timeout_seconds(60);
        api.start_job("old", &req, None).unwrap();
        wait_until("the job's stage starts", 10, || {
            api.job("old").unwrap().state() == JobState::Processing
        });
    }
    // A state file written by an older sandbox, which accepted any u64.
    let path = dir.path().join("state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["jobs"]["jobs"]["old"]["timeout_seconds"] = json!(u64::MAX);
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();

    let sb = Sandbox::start(
        SandboxConfig::default()
            .with_job_speed(500.0)
            .with_data_dir(dir.path()),
    )
    .unwrap();
    let api = client(&sb);
    assert_eq!(wait_job(&api, "old", 30).state(), JobState::Completed);
    api.start_job("new", &JobStartRequest::images("in", "image-stats"), None)
        .unwrap();
    assert_eq!(wait_job(&api, "new", 30).state(), JobState::Completed);
    std::thread::sleep(Duration::from_millis(10));
}
