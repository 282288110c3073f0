#![cfg(all(feature = "sandbox", feature = "webhook"))]
//! The webhook receiver against the sandbox's real deliveries, and a job wait driven by the
//! webhook with polling as the fallback.

mod jobs_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jobs_common::{Counting, client, config, images, ingest};
use roboflow_batch::jobs::{JobSpec, JobWaitOptions};
use roboflow_batch::sandbox::Sandbox;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, UreqTransport,
};
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::webhook::{Event, Receiver};

/// Counts `GET …/jobs/{id}` requests (status polls).
#[derive(Clone, Default)]
struct CountPolls {
    inner: Arc<UreqTransport>,
    polls: Arc<AtomicUsize>,
}

impl Transport for CountPolls {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let p = req.path();
        if p.contains("/batch-processing/") && p.rsplit('/').nth(1) == Some("jobs") {
            self.polls.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.send(req)
    }
}

#[test]
fn the_completion_arrives_with_the_right_payload() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 10).workspace("acme")).unwrap();
    let api = client(&sb, Counting::new(None));
    ingest(&api, "hooked", &images(3));
    let (receiver, events) = Receiver::builder()
        .workspace("acme")
        .path("/hooks/rf")
        .spawn_channel()
        .unwrap();
    let job = JobSpec::images(&api, "hooked", "image-stats")
        .notifications_url(receiver.url())
        .start()
        .unwrap()
        .job;
    let event = events
        .recv_timeout(Duration::from_secs(30))
        .expect("a webhook");
    let Event::Job(n) = event else {
        panic!("{event:?}")
    };
    assert_eq!(n.job_id, job.id().as_str());
    assert_eq!(n.job_state, "success");
    assert_eq!(n.delivery_attempt, 1);
    assert!(!n.event_id.is_empty());
    assert!(
        job.status().unwrap().state().is_terminal(),
        "the job is done when its webhook comes"
    );
    assert_eq!((receiver.accepted(), receiver.rejected()), (1, 0));
    assert!(
        events.recv_timeout(Duration::from_millis(200)).is_err(),
        "delivered once"
    );
}

#[test]
fn a_wrong_bearer_is_rejected_and_nothing_is_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 10).workspace("acme")).unwrap();
    let api = client(&sb, Counting::new(None));
    ingest(&api, "hooked", &images(2));
    // The receiver expects another workspace's token; the sandbox sends `rf_acme`.
    let (receiver, events) = Receiver::builder()
        .workspace("someone-else")
        .spawn_channel()
        .unwrap();
    let job = JobSpec::images(&api, "hooked", "image-stats")
        .notifications_url(receiver.url())
        .start()
        .unwrap()
        .job;
    let outcome = job
        .wait(&JobWaitOptions::default().timeout(Duration::from_secs(60)))
        .unwrap();
    assert!(outcome.is_success());
    // The sandbox tries 3 times (20 ms, then 40 ms apart).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.rejected() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} rejections",
            receiver.rejected()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(receiver.accepted(), 0);
    assert!(events.try_recv().is_err());

    // And by hand: the right token passes, a missing one or another path does not.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = r#"{"type":"roboflow-batch-job-notification-v1","event_id":"e1","job_id":"j","job_state":"fail","delivery_attempt":1}"#;
    let url = receiver.url();
    let status = |auth: Option<&str>, url: &str| {
        let mut req = agent.post(url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send(body).unwrap().status().as_u16()
    };
    assert_eq!(status(None, &url), 401);
    assert_eq!(status(Some("Bearer rf_acme"), &url), 401);
    assert_eq!(
        status(Some("Bearer rf_someone-else"), &format!("{url}other")),
        404
    );
    assert_eq!(status(Some("Bearer rf_someone-else"), &url), 200);
    assert!(
        matches!(events.recv_timeout(Duration::from_secs(5)), Ok(Event::Job(j)) if j.job_state == "fail")
    );
    // A redelivery of the same event is acknowledged but not handed over twice.
    assert_eq!(status(Some("Bearer rf_someone-else"), &url), 200);
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn a_panicking_callback_gets_a_500_and_the_receiver_keeps_serving() {
    let receiver = Receiver::builder()
        .workspace("w")
        .spawn(|e| {
            if e.event_id() == Some("boom") {
                panic!("handler bug");
            }
        })
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let send = |id: &str| {
        let body = format!(r#"{{"type":"x","event_id":"{id}"}}"#);
        agent
            .post(&receiver.url())
            .header("Authorization", "Bearer rf_w")
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send("boom"), 500);
    assert_eq!(send("fine"), 200);
    let big = "x".repeat(2 << 20);
    let r = agent
        .post(&receiver.url())
        .header("Authorization", "Bearer rf_w")
        .send(big);
    // Either a 413 answer or a connection closed while sending the rest: never accepted.
    assert!(r.map(|r| r.status().as_u16() == 413).unwrap_or(true));
    assert_eq!(receiver.accepted(), 1);
}

#[test]
fn waiting_through_the_webhook_polls_far_less_and_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    // 60 images at 60 per second: about two seconds of work over both stages.
    let sb = Sandbox::start(config(dir.path(), 10).job_speed(60.0)).unwrap();
    let counter = CountPolls::default();
    let api = client(&sb, counter.clone());
    ingest(&api, "slow", &images(60));
    let polling = WaitOptions::default()
        .poll_interval(Duration::from_millis(50))
        .max_interval(Duration::from_millis(50));
    let options = JobWaitOptions::default()
        .polling(polling)
        .timeout(Duration::from_secs(60));

    let (receiver, events) = Receiver::builder()
        .workspace(sb.workspace())
        .spawn_channel()
        .unwrap();
    let job = JobSpec::images(&api, "slow", "image-stats")
        .notifications_url(receiver.url())
        .start()
        .unwrap()
        .job;
    let before = counter.polls.load(Ordering::SeqCst);
    let outcome = job.wait_with_webhook(&events, &options).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let with_webhook = counter.polls.load(Ordering::SeqCst) - before;
    assert!(
        with_webhook <= 3,
        "one poll before, one to confirm: {with_webhook}"
    );

    // No webhook configured: after the grace period it polls until the end.
    let job = JobSpec::images(&api, "slow", "image-stats")
        .start()
        .unwrap()
        .job;
    let before = counter.polls.load(Ordering::SeqCst);
    let fallback = options.clone().webhook_grace(Duration::from_millis(100));
    let outcome = job.wait_with_webhook(&events, &fallback).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let polled = counter.polls.load(Ordering::SeqCst) - before;
    assert!(
        polled > with_webhook + 5,
        "it fell back to polling: {polled} polls"
    );
}

#[test]
fn no_body_limit_at_all_still_takes_webhooks() {
    // `max_body_bytes(u64::MAX)` once overflowed on every request (`limit + 1`).
    let (receiver, events) = Receiver::builder()
        .workspace("acme")
        .max_body_bytes(u64::MAX)
        .spawn_channel()
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = r#"{"type":"roboflow-batch-job-notification-v1","event_id":"e1","job_id":"j","job_state":"success","delivery_attempt":1}"#;
    let status = agent
        .post(receiver.url())
        .header("Authorization", "Bearer rf_acme")
        .send(body)
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 200);
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Job(j)) if j.job_id == "j"
    ));
}
