#![cfg(feature = "sandbox")]
//! One request or one job must never stop the sandbox: out-of-range numbers are refused on
//! arrival, and a panic in a job or a handler stays in that job or request.

mod common;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::io::Write as _;
use std::time::Duration;

use common::sandbox::*;
use proptest::prelude::*;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{JobStartRequest, JobState, LogSeverity};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, Value, json};

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
    let sb = Sandbox::start(SandboxConfig::default().job_speed(500.0)).unwrap();
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
    let config = SandboxConfig::default()
        .job_speed(200.0)
        .job_images_per_task(2)
        .test_hooks(true);
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
    let sb = Sandbox::start(SandboxConfig::default().job_speed(500.0)).unwrap();
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
    let config = SandboxConfig::default().test_hooks(true);
    let sb = Sandbox::start(config.addr(([127, 0, 0, 1], 0).into())).unwrap();
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
        let sb =
            Sandbox::start(SandboxConfig::default().job_speed(0.0).data_dir(dir.path())).unwrap();
        let api = client(&sb);
        stage_images(&api, "in", 3);
        let req = JobSpec::images(&api, "in", "image-stats")
            .max_runtime_seconds(60)
            .request()
            .unwrap();
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
            .job_speed(500.0)
            .data_dir(dir.path()),
    )
    .unwrap();
    let api = client(&sb);
    assert_eq!(wait_job(&api, "old", 30).state(), JobState::Completed);
    api.start_job("new", &JobStartRequest::images("in", "image-stats"), None)
        .unwrap();
    assert_eq!(wait_job(&api, "new", 30).state(), JobState::Completed);
    std::thread::sleep(Duration::from_millis(10));
}

// ---------------------------------------------------------------- exposure and limits

#[test]
fn listening_beyond_loopback_needs_allow_remote_and_an_explicit_key() {
    let any: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
    let e = Sandbox::start(SandboxConfig::default().addr(any)).unwrap_err();
    assert!(e.to_string().contains("--allow-remote"), "{e}");
    let e = Sandbox::start(SandboxConfig::default().addr(any).allow_remote(true)).unwrap_err();
    assert!(e.to_string().contains("--api-key"), "default key: {e}");
    let e = Sandbox::start(
        SandboxConfig::default()
            .addr(any)
            .allow_remote(true)
            .api_key("short"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("16"), "{e}");
    let key = "a-long-explicit-key-0123";
    let sb = Sandbox::start(
        SandboxConfig::default()
            .addr(any)
            .allow_remote(true)
            .api_key(key),
    )
    .unwrap();
    assert_eq!(client(&sb).workspace().unwrap(), "sandbox");
    // Loopback needs neither.
    let v6_loopback: std::net::SocketAddr = "[::ffff:127.0.0.1]:0".parse().unwrap();
    let _ = Sandbox::start(SandboxConfig::default().addr(v6_loopback));
}

#[test]
fn an_ipv6_sandbox_has_a_bracketed_base_url() {
    let addr: std::net::SocketAddr = "[::1]:0".parse().unwrap();
    if std::net::TcpListener::bind(addr).is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: no IPv6 loopback on this machine"
        );
        return;
    }
    let sb = Sandbox::start(SandboxConfig::default().addr(addr)).unwrap();
    assert!(
        sb.base_url().starts_with("http://[::1]:"),
        "{}",
        sb.base_url()
    );
    let api = client(&sb);
    assert_eq!(api.workspace().unwrap(), "sandbox");
    api.upload_image("v6", "a.png", &png(2, 2), None).unwrap();
    let f = api.files("v6", None, None).next().unwrap().unwrap();
    assert!(
        f.download_url.starts_with("http://[::1]:"),
        "{}",
        f.download_url
    );
    assert_eq!(http("GET", &f.download_url, &[], None).body, png(2, 2));
}

/// Sends raw bytes on a fresh connection; returns every answer's status, in order.
fn exchange(sb: &Sandbox, chunks: &[&[u8]]) -> (Vec<u16>, String) {
    common::raw::exchange(common::raw::addr_of(sb.base_url()), chunks)
}

#[test]
fn heads_over_the_limits_are_refused() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_eq!(exchange(&sb, &[long_line.as_bytes()]).0, [414]);
    let long_header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(exchange(&sb, &[long_header.as_bytes()]).0, [431]);
    let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(exchange(&sb, &[many.as_bytes()]).0, [431]);
    // A header that never ends: refused after the limit, not read to the end.
    let endless = vec![b'a'; 4 << 20];
    let (st, _) = exchange(&sb, &[b"GET / HTTP/1.1\r\nX: ", &endless]);
    assert_eq!(st, [431]);
    let (st, _) = exchange(
        &sb,
        &[b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"],
    );
    assert_eq!(st, [400], "both framings");
    let (st, _) = exchange(&sb, &[b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"]);
    assert_eq!(st, [400]);
    // The server is still fine.
    assert_eq!(client(&sb).workspace().unwrap(), "sandbox");
}

/// Every malformed head is refused with its own status; what parses is routed (401: no
/// key). Bodies are framed by one Content-Length or chunked, never both.
#[test]
fn each_malformed_head_or_framing_gets_its_status() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(8 * 1024));
    let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(8 * 1024));
    let many: String = (0..=100).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    let big: String = (0..20)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(4000)))
        .collect();
    let big = format!("GET / HTTP/1.1\r\n{big}\r\n");
    let empties = "\r\n".repeat(8 * 1024);
    let cases: &[(&[u8], &[u16])] = &[
        (b"", &[]),
        (b"\r\n\r\n", &[]),
        (b"GET / HTTP/1.1\r\nHost: x", &[]),
        (b"\r\nGET /a%20b?x=1 HTTP/1.1\r\nX-Y:  v \r\n\r\n", &[401]),
        (b"GET http://host:1/p?q HTTP/1.0\nA: b\n\n", &[401]),
        (b"GET / HTTP/1.1\r\nA: \xff\xfe\r\n\r\n", &[401]),
        (b"GET /\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1 extra\r\n\r\n", &[400]),
        (b"G(T / HTTP/1.1\r\n\r\n", &[400]),
        (b"GET / HTTP/2.0\r\n\r\n", &[505]),
        (b"GET / FTP/1.0\r\n\r\n", &[400]),
        (b"GET nopath HTTP/1.1\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1\r\nBad Name: b\r\n\r\n", &[400]),
        (b"GET /\xff HTTP/1.1\r\n\r\n", &[400]),
        (long_target.as_bytes(), &[414]),
        (long_header.as_bytes(), &[431]),
        (many.as_bytes(), &[431]),
        (big.as_bytes(), &[431]),
        (empties.as_bytes(), &[400]),
        (b"GET / HTTP/1.1\r\nX: a\r\r\n\r\n", &[400]),
        (b"GET /\r HTTP/1.1\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1\r\r\n\r\n", &[400]),
        (b"GET / HTTP/1.1\r\nX: a\r\n\r\r\n", &[400]),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
            &[401],
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab",
            &[400],
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde",
            &[400],
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            &[400],
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &[401],
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            &[501],
        ),
        // Keep-alive: HTTP/1.1 unless closed, HTTP/1.0 only when asked.
        (b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", &[401, 401]),
        (
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            &[401],
        ),
        (b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", &[401]),
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
            &[401, 401],
        ),
    ];
    for (raw, want) in cases {
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(60)]);
        assert_eq!(exchange(&sb, &[raw]).0, *want, "{shown:?}");
    }
}

#[test]
fn oversized_json_bodies_are_refused_before_they_are_read() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let key = sb.api_key().to_string();
    // Declares 10 GB and sends nothing: answered at once, nothing allocated.
    for path in [
        "batch-processing/v1/external/sandbox/jobs/big".to_string(),
        "batch-processing/v1/external/sandbox/jobs/big/restart".to_string(),
        "data-staging/v1/external/sandbox/batches/b/bulk-upload/image-references".to_string(),
        "data-staging/v1/external/sandbox/batches/b/roboql-ingest".to_string(),
    ] {
        let head = format!(
            "POST /{path}?api_key={key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        );
        let (st, text) = exchange(&sb, &[head.as_bytes()]);
        assert_eq!(st, [413], "{path}: {text}");
    }
    // A real body over the 1 MiB job limit.
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(2 << 20));
    let r = jobs_call(&sb, "POST", "jobs/big", Some(&big));
    assert_eq!(r.status, 413);
}

#[test]
fn keep_alive_chunked_bodies_and_100_continue_work() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let key = sb.api_key();
    let get = format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (st, _) = exchange(&sb, &[get.as_bytes(), get.as_bytes(), get.as_bytes()]);
    assert_eq!(st, [200, 200, 200], "three requests on one connection");
    // A chunked job body is decoded: the missing batch proves it was parsed.
    let body = job_body("nope", "image-stats", "60");
    let (a, b) = body.split_at(body.len() / 2);
    let chunked = format!(
        "POST /batch-processing/v1/external/sandbox/jobs/chunky?api_key={key} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let (st, text) = exchange(&sb, &[chunked.as_bytes()]);
    assert_eq!(st, [404], "{text}");
    assert!(text.contains("jobInput.batchId"), "{text}");
    // Expect: 100-continue: the server asks for the body before reading it.
    let head = format!(
        "POST /batch-processing/v1/external/sandbox/jobs/cont?api_key={key} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (st, _) = exchange(&sb, &[head.as_bytes(), body.as_bytes()]);
    assert_eq!(st, [100, 404]);
}

#[test]
fn the_largest_size_limits_do_not_overflow() {
    // `--max-image-size 18446744073709551615` (no limit) once made every single-image
    // upload a 500: the body reader's `limit + 1` overflowed.
    let sb = Sandbox::start(
        SandboxConfig::default()
            .max_image_size(u64::MAX)
            .max_shard_size(u64::MAX),
    )
    .unwrap();
    let api = client(&sb);
    api.upload_image("unlimited", "a.png", &png(3, 2), None)
        .unwrap();
    assert_eq!(api.batch_count("unlimited", None).unwrap(), 1);
    let target = api.request_shard_upload("shards", None).unwrap();
    let tar = tar_of(&[("b.png", &png(2, 2))]);
    api.put_signed(&target, &roboflow_batch::api::UploadSource::bytes(tar))
        .unwrap();
    wait_until("the shard is indexed", 30, || {
        api.batch_count("shards", None).unwrap() == 1
    });
}

#[test]
fn debug_output_hides_the_api_key() {
    let config = SandboxConfig::default().api_key("sandbox-secret-123");
    assert!(!format!("{config:?}").contains("sandbox-secret-123"));
    let sb = Sandbox::start(config).unwrap();
    assert!(!format!("{sb:?}").contains("sandbox-secret-123"));
}

#[cfg(unix)]
#[test]
fn the_data_folder_and_the_state_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    // A temporary folder, and one the user names (created, or there already).
    let parent = tempfile::tempdir().unwrap();
    let named = parent.path().join("data/sandbox");
    let old = parent.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("state.json"), "{}").unwrap();
    for config in [
        SandboxConfig::default(),
        SandboxConfig::default().data_dir(&named),
        SandboxConfig::default().data_dir(&old),
    ] {
        let sb = Sandbox::start(config).unwrap();
        let dir = sb.data_dir().to_path_buf();
        if dir != old {
            assert_eq!(mode(&dir).unwrap(), 0o700, "{}", dir.display());
        }
        // A change is saved within moments, owner-only.
        client(&sb)
            .upload_image("b", "a.png", &png(1, 1), None)
            .unwrap();
        let state = dir.join("state.json");
        wait_until("an owner-only state.json", 5, || {
            mode(&state).ok() == Some(0o600)
        });
    }
    assert_eq!(mode(&parent.path().join("data")).unwrap(), 0o700);
}

// ---------------------------------------------------------------- any body, any endpoint

/// The field names and values the decoders know, so that generated bodies get deep.
const KEYS: &str = "type jobInput batchId partName computeConfiguration machineType
    workersPerMachine processingTimeoutSeconds maxParallelTasks maxImageFailureRate
    processingSpecification workspace workflowId workflowParameters aggregationFormat
    maxVideoFPS notificationsURL inferenceBackend modelId compilationDevices imageReferences
    imageReferencesURL videoReferences videoReferencesURL name url ingestId
    notificationCategories query displayName";
const WORDS: &str = "simple-image-processing-v1 simple-video-processing-v1 trt-compilation-v1
    staging-batch-input-v1 compute-configuration-v2 workflows-processing-specification-v1
    parameters-override-v1 cpu gpu jsonl csv nvidia-t4 image-stats ingest-status files-status
    http://127.0.0.1:1/x https://h/a.jpg?sig=1 a.jpg .. b";

fn keys() -> Vec<&'static str> {
    KEYS.split_whitespace().collect()
}

fn words() -> Vec<&'static str> {
    WORDS.split_whitespace().chain(["", "\u{0}"]).collect()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(18446744073709551615u64)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(words()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(keys()).prop_map(String::from),
                        ".{0,6}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Valid bodies of each kind, as the notes show them.
fn valid_bodies() -> Vec<Value> {
    vec![
        json!({"type": "simple-image-processing-v1",
               "jobInput": {"type": "staging-batch-input-v1", "batchId": "b"},
               "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "cpu"},
               "processingTimeoutSeconds": 3600,
               "processingSpecification": {"type": "workflows-processing-specification-v1",
                   "workspace": "w", "workflowId": "image-stats", "aggregationFormat": "csv"}}),
        json!({"type": "trt-compilation-v1", "modelId": "m/1", "compilationDevices": ["nvidia-t4"]}),
        json!({"type": "parameters-override-v1", "processingTimeoutSeconds": 60, "maxParallelTasks": 2,
               "computeConfiguration": {"type": "compute-configuration-v2", "workersPerMachine": 2}}),
        json!({"imageReferences": [{"name": "a.jpg", "url": "https://h/a.jpg"}],
               "ingestId": "i", "notificationsURL": "http://127.0.0.1/h",
               "notificationCategories": ["files-status"]}),
        json!({"imageReferencesURL": "https://h/refs.jsonl"}),
        json!({"query": "tag:x", "ingestId": "q"}),
    ]
}

/// A valid body with one field (at any depth) replaced, removed or added.
fn mutated() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(valid_bodies()),
        prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        prop::option::of(json_value()),
        prop::sample::select(keys()),
    )
        .prop_map(|(mut body, path, replacement, key)| {
            mutate(&mut body, &path, replacement, key);
            body
        })
}

/// Walks `path` down from `node` as far as it goes, then changes what it reached.
fn mutate(node: &mut Value, path: &[prop::sample::Index], replacement: Option<Value>, key: &str) {
    if let Some((idx, rest)) = path.split_first() {
        let len = match node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len > 0 {
            let i = idx.index(len);
            let child = match node {
                Value::Object(m) => m.values_mut().nth(i),
                Value::Array(a) => a.get_mut(i),
                _ => None,
            };
            if let Some(child) = child {
                return mutate(child, rest, replacement, key);
            }
        }
    }
    match (node, replacement) {
        (Value::Object(m), Some(v)) => {
            m.insert(key.to_string(), v);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (n, Some(v)) => *n = v,
        (n, None) => *n = Value::Null,
    }
}

/// Any body: raw bytes, arbitrary JSON, or a mutated valid body.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        mutated().prop_map(|v| v.to_string().into_bytes()),
        // Valid JSON cut short.
        (mutated(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let s = v.to_string().into_bytes();
            let cut = i.index(s.len() + 1);
            s[..cut].to_vec()
        }),
    ]
}

/// Every request body the sandbox decodes (job start and restart, references and RoboQL
/// ingests, single-image multipart forms), of any shape, is answered with a value or a
/// 4xx: never a 5xx, never a panic.
#[test]
fn any_request_body_is_answered_with_a_value_or_a_4xx() {
    use proptest::test_runner::{Config, TestRunner};
    let sb = Sandbox::start(SandboxConfig::default().job_speed(0.0)).unwrap();
    let ws = format!("data-staging/v1/external/{}/batches/fuzz", sb.workspace());
    let paths = [
        "batch-processing/v1/external/sandbox/jobs/fuzz".to_string(),
        "batch-processing/v1/external/sandbox/jobs/fuzz/restart".into(),
        format!("{ws}/bulk-upload/image-references"),
        format!("{ws}/bulk-upload/video-references"),
        format!("{ws}/roboql-ingest"),
    ];
    let config = Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    };
    let bodies = (any_body(), 0..paths.len());
    TestRunner::new(config.clone())
        .run(&bodies, |(body, i)| {
            let r = http(
                "POST",
                &api_url(&sb, &paths[i]),
                &[("Content-Type", "application/json")],
                Some(&body),
            );
            prop_assert!(r.status < 500, "{}: {} {}", paths[i], r.status, r.text());
            Ok(())
        })
        .unwrap();
    let piece = prop_oneof![
        Just(b"--xx".to_vec()),
        Just(b"--xx--".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"".to_vec()),
        Just(b"Content-Disposition: form-data; name=".to_vec()),
        Just(b";".to_vec()),
        prop::collection::vec(any::<u8>(), 0..20),
    ];
    let content_type = prop_oneof![
        Just("multipart/form-data; boundary=xx".to_string()),
        Just("multipart/form-data; boundary=\"xx\"".to_string()),
        "[ -~]{0,40}",
    ];
    let forms = (prop::collection::vec(piece, 0..16), content_type);
    let url = api_url(&sb, &format!("{ws}/upload/image?fileName=a.png"));
    TestRunner::new(Config {
        cases: 256,
        ..config
    })
    .run(&forms, |(pieces, content_type)| {
        let r = http(
            "POST",
            &url,
            &[("Content-Type", &content_type)],
            Some(&pieces.concat()),
        );
        prop_assert!(r.status < 500, "{} {}", r.status, r.text());
        Ok(())
    })
    .unwrap();
}
