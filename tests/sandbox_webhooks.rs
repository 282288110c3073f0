#![cfg(feature = "sandbox")]
//! Job completion webhooks from the sandbox, caught by a local receiver.

mod common;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::io::Write as _;
use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::webhook::Event;

use common::sandbox::non_loopback_ip;
use common::server::{Response, TestServer};

/// One request the receiver saw.
struct Hit {
    method: String,
    url: String,
    auth: Option<String>,
    content_type: Option<String>,
    payload: Event,
}

/// A receiver on 127.0.0.1:0 that answers `statuses[i]` to its i-th request (200 after).
fn receiver(statuses: Vec<u16>) -> (String, TestServer) {
    let server =
        TestServer::start(move |req| Response::status(statuses.get(req.n).copied().unwrap_or(200)));
    (server.url("/hooks/job?token=s3cret"), server)
}

fn sandbox(dir: &std::path::Path) -> (Sandbox, BatchApi) {
    sandbox_with(dir, Duration::from_millis(30))
}

/// A sandbox (workspace `acme`, 4 webhook attempts) with one image in batch `hook-in`.
fn sandbox_with(dir: &std::path::Path, retry_delay: Duration) -> (Sandbox, BatchApi) {
    let config = SandboxConfig::default()
        .data_dir(dir)
        .workspace("acme")
        .job_speed(500.0)
        .webhook_retries(4, retry_delay);
    let sb = Sandbox::start(config).unwrap();
    let api = BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .build()
        .unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x05\0\0\0\x07\x08\x02\0\0\0\0\0\0\0";
    api.upload_image("hook-in", "a.png", png, None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.batch_count("hook-in", None).unwrap_or(0) < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    (sb, api)
}

fn next(server: &TestServer) -> Hit {
    let req = server
        .next(Duration::from_secs(10))
        .expect("a webhook arrives");
    Hit {
        method: req.method.clone(),
        url: req.target.clone(),
        auth: req.header("Authorization").map(str::to_string),
        content_type: req.header("Content-Type").map(str::to_string),
        payload: Event::parse(&req.body).unwrap(),
    }
}

fn job_payload(hit: &Hit) -> &roboflow_batch::model::JobNotification {
    match &hit.payload {
        Event::Job(j) => j,
        other => panic!("not a job notification: {other:?}"),
    }
}

#[test]
fn completed_job_sends_one_webhook_with_workspace_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (_sb, api) = sandbox(dir.path());
    let (url, rx) = receiver(vec![]);
    let req = JobSpec::images(&api, "hook-in", "image-stats")
        .notifications_url(url)
        .request()
        .unwrap();
    api.start_job("hooked", &req, None).unwrap();
    let hit = next(&rx);
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.url, "/hooks/job?token=s3cret");
    assert_eq!(hit.auth.as_deref(), Some("Bearer rf_acme"));
    assert_eq!(hit.content_type.as_deref(), Some("application/json"));
    let j = job_payload(&hit);
    assert_eq!(
        (j.job_id.as_str(), j.job_state.as_str(), j.delivery_attempt),
        ("hooked", "success", 1)
    );
    assert!(!j.event_id.is_empty());
    assert!(api.job("hooked").unwrap().state().is_terminal());
    assert!(
        rx.next(Duration::from_millis(200)).is_none(),
        "delivered once"
    );
}

#[test]
fn failing_receiver_gets_retries_with_incremented_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (_sb, api) = sandbox(dir.path());
    let (url, rx) = receiver(vec![503, 500]);
    let req = JobSpec::images(&api, "hook-in", "no-such-workflow")
        .notifications_url(url)
        .request()
        .unwrap();
    api.start_job("retried", &req, None).unwrap();
    let hits: Vec<Hit> = (0..3).map(|_| next(&rx)).collect();
    let attempts: Vec<u32> = hits
        .iter()
        .map(|h| job_payload(h).delivery_attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    let events: Vec<&str> = hits
        .iter()
        .map(|h| job_payload(h).event_id.as_str())
        .collect();
    assert!(
        events.iter().all(|e| *e == events[0]),
        "a redelivery keeps its event id"
    );
    assert!(hits.iter().all(|h| job_payload(h).job_state == "fail"));
    assert!(
        rx.next(Duration::from_millis(300)).is_none(),
        "no more after a 2xx"
    );
}

#[test]
fn delivery_attempts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (_sb, api) = sandbox(dir.path());
    let (url, rx) = receiver(vec![500; 10]);
    let req = JobSpec::images(&api, "hook-in", "image-stats")
        .notifications_url(url)
        .request()
        .unwrap();
    api.start_job("bounded", &req, None).unwrap();
    let attempts: Vec<u32> = (0..4)
        .map(|_| job_payload(&next(&rx)).delivery_attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    assert!(
        rx.next(Duration::from_millis(800)).is_none(),
        "gave up after 4 attempts"
    );
}

#[test]
fn aborted_job_sends_fail() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig::default().data_dir(dir.path()).job_speed(0.0);
    let sb = Sandbox::start(config).unwrap();
    let api = BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .build()
        .unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x05\0\0\0\x07\x08\x02\0\0\0\0\0\0\0";
    api.upload_image("slow-in", "a.png", png, None).unwrap();
    let (url, rx) = receiver(vec![]);
    let req = JobSpec::images(&api, "slow-in", "image-stats")
        .notifications_url(url)
        .request()
        .unwrap();
    api.start_job("aborted", &req, None).unwrap();
    api.abort_job("aborted").unwrap();
    let hit = next(&rx);
    let j = job_payload(&hit);
    assert_eq!(
        (j.job_id.as_str(), j.job_state.as_str()),
        ("aborted", "fail")
    );
    assert_eq!(hit.auth.as_deref(), Some("Bearer rf_sandbox"));
}

#[test]
fn pending_redelivery_survives_a_sandbox_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (url, rx) = receiver(vec![500]);
    {
        let (sb, api) = sandbox_with(dir.path(), Duration::from_millis(400));
        let req = JobSpec::images(&api, "hook-in", "image-stats")
            .notifications_url(url)
            .request()
            .unwrap();
        api.start_job("survivor", &req, None).unwrap();
        assert_eq!(job_payload(&next(&rx)).delivery_attempt, 1);
        drop(sb); // before the second attempt is due
    }
    let config = SandboxConfig::default()
        .data_dir(dir.path())
        .workspace("acme");
    let _sb = Sandbox::start(config).unwrap();
    let hit = next(&rx);
    let j = job_payload(&hit);
    assert_eq!((j.job_id.as_str(), j.delivery_attempt), ("survivor", 2));
}

/// Polls the job's logs for a `webhook-refused` warning.
fn refused_log(api: &BatchApi, id: &str) -> Option<String> {
    api.logs(id, None, None)
        .filter_map(Result::ok)
        .find(|l| l.log_type == "webhook-refused")
        .map(|l| l.payload.to_string())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn webhooks_beyond_loopback_are_refused_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, api) = sandbox(dir.path());
    // TEST-NET-1: not loopback, never allowed by default.
    let req = JobSpec::images(&api, "hook-in", "image-stats")
        .notifications_url("http://192.0.2.1:9/hook?token=s3cret")
        .request()
        .unwrap();
    api.start_job("far", &req, None).unwrap();
    let mut log = None;
    wait_for("the refusal in the job's logs", || {
        log = refused_log(&api, "far");
        log.is_some()
    });
    let log = log.unwrap();
    assert!(log.contains("192.0.2.1"), "{log}");
    assert!(log.contains("--webhook-allow"), "{log}");
    assert!(!log.contains("s3cret"), "the URL is redacted: {log}");
    drop(sb);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    let refused = state["webhooks"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        state["webhooks"]["pending"].as_array().unwrap().is_empty(),
        "nothing queued"
    );
}

#[test]
fn an_allowed_host_beyond_loopback_gets_its_webhook() {
    let Some(ip) = non_loopback_ip() else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: this machine has no address beyond loopback"
        );
        return;
    };
    let server = TestServer::start_on(ip, 1 << 20, |_| Response::status(200));
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig::default()
        .data_dir(dir.path())
        .job_speed(500.0)
        .webhook_allow(ip.to_string());
    let sb = Sandbox::start(config).unwrap();
    let api = BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .build()
        .unwrap();
    api.upload_image("in", "a.png", &png_bytes(), None).unwrap();
    let req = JobSpec::images(&api, "in", "image-stats")
        .notifications_url(format!("http://{ip}:{port}/allowed"))
        .request()
        .unwrap();
    api.start_job("near", &req, None).unwrap();
    let hit = server.next(Duration::from_secs(15)).expect("webhook sent");
    assert_eq!(hit.target, "/allowed");
    assert!(refused_log(&api, "near").is_none());
}

fn png_bytes() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x05\0\0\0\x07\x08\x02\0\0\0\0\0\0\0".to_vec()
}

#[test]
fn redirects_are_not_followed() {
    // The target of the redirect: must never be reached.
    let (target_url, target_rx) = receiver(vec![]);
    let server =
        TestServer::start(move |_| Response::status(307).header("Location", target_url.as_str()));
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let (_sb, api) = sandbox(dir.path());
    let req = JobSpec::images(&api, "hook-in", "image-stats")
        .notifications_url(format!("http://127.0.0.1:{port}/redirect"))
        .request()
        .unwrap();
    api.start_job("moved", &req, None).unwrap();
    // Every attempt (4) hits the redirecting receiver, none follows it.
    for _ in 0..4 {
        server.next(Duration::from_secs(15)).expect("an attempt");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !server.pending(),
        "a redirect is a failed attempt, retried at most 4 times"
    );
    assert!(!target_rx.pending(), "the redirect target got nothing");
}

#[test]
fn a_shards_notification_config_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, api) = sandbox(dir.path());
    let config = br#"{"ingestId": "far-ingest", "notificationsURL": "http://203.0.113.5/hook"}"#;
    let png = png_bytes();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("notification_config.json", &config[..]),
        ("a.png", &png[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }
    let target = api.request_shard_upload("tarred", None).unwrap();
    api.put_signed(
        &target,
        &roboflow_batch::api::UploadSource::bytes(b.into_inner().unwrap()),
    )
    .unwrap();
    wait_for("the shard to be indexed", || {
        api.batch_count("tarred", None).unwrap_or(0) == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    drop(sb);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    let refused = state["webhooks"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]["url"].as_str().unwrap().contains("203.0.113.5"));
    assert!(state["webhooks"]["pending"].as_array().unwrap().is_empty());
}
