//! Polling helpers with an injected clock: no real time passes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use roboflow_batch::jobs::JobEnd;
use roboflow_batch::model::JobState;
use roboflow_batch::progress::Event;
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::{BatchApi, Error};

/// A clock whose monotonic time advances by what was slept, and whose wall clock is frozen
/// (deadlines must not depend on it). More than 100 000 sleeps is a runaway loop.
fn fake_clock() -> (roboflow_batch::api::Clock, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let log = slept.clone();
    let elapsed = slept.clone();
    let clock = roboflow_batch::api::Clock::system()
        .sleep_fn(move |d| {
            let mut log = log.lock().unwrap();
            assert!(log.len() < 100_000, "the wait never ends");
            log.push(d)
        })
        .monotonic_fn(move || elapsed.lock().unwrap().iter().sum::<Duration>())
        .now_fn(|| UNIX_EPOCH)
        .jitter_fn(|| 0.5);
    (clock, slept)
}

fn api(script: Vec<&'static str>, clock: roboflow_batch::api::Clock) -> BatchApi {
    let script = Mutex::new(script.into_iter());
    BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .workspace("ws")
        .clock(clock)
        .transport(
            move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
                let body = script
                    .lock()
                    .unwrap()
                    .next()
                    .unwrap_or(r#"{"jobStatus":"processing","progress":0.5}"#);
                Ok(HttpResponse::json(200, body))
            },
        )
        .build()
        .unwrap()
}

#[test]
fn waits_for_a_job_with_growing_capped_intervals() {
    let (clock, slept) = fake_clock();
    let api = api(
        vec![
            r#"{"jobStatus":"pending"}"#,
            r#"{"jobStatus":"processing","progress":0.25}"#,
            r#"{"jobStatus":"processing","progress":0.5}"#,
            r#"{"jobStatus":"processing","progress":0.75}"#,
            r#"{"jobStatus":"completed","progress":1.0}"#,
        ],
        clock,
    );
    let seen = Mutex::new(Vec::new());
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_secs(2))
        .max_interval(Duration::from_secs(4));
    let outcome = api
        .wait_for_job("j1", &opts, |e| {
            if let Event::JobPolled(p) = e {
                seen.lock().unwrap().push(p.fraction)
            }
        })
        .unwrap();
    assert_eq!(outcome.end, JobEnd::Succeeded);
    assert_eq!(outcome.requests.get("job-status"), 5);
    assert_eq!(seen.into_inner().unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0]);
    let secs: Vec<f64> = slept
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    assert_eq!(secs, vec![2.0, 3.0, 4.0, 4.0]);
}

#[test]
fn a_failed_job_is_returned_not_an_error() {
    let (clock, _) = fake_clock();
    let api = api(vec![r#"{"jobStatus":"failed"}"#], clock);
    let outcome = api
        .wait_for_job("j1", &WaitOptions::default(), |_| {})
        .unwrap();
    assert_eq!(outcome.end, JobEnd::Failed);
    assert_eq!(outcome.last.unwrap().state, JobState::Failed);
}

#[test]
fn times_out_without_waiting_past_the_limit() {
    let (clock, slept) = fake_clock();
    let api = api(vec![], clock);
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_secs(10))
        .timeout(Duration::from_secs(25));
    // Stopped early: an outcome that says so, not an error.
    let outcome = api.wait_for_job("j1", &opts, |_| {}).unwrap();
    assert_eq!(outcome.end, JobEnd::TimedOut);
    assert_eq!(outcome.job_id, "j1");
    assert_eq!(outcome.waited, Duration::from_secs(25));
    // Polls at 0, 10 and 25 s: the last one at the deadline.
    assert_eq!(outcome.requests.get("job-status"), 3);
    // 10 s, then 15 s reaches the 25 s limit; the next 22.5 s would pass it, so it stops.
    assert_eq!(
        *slept.lock().unwrap(),
        vec![Duration::from_secs(10), Duration::from_secs(15)]
    );
}

const SHARD_INFO: &str = r#"{"shardId":"s1","statusName":"indexing","statusType":"info","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":3}"#;
const SHARD_OK: &str = r#"{"shardId":"s2","statusName":"indexed","statusType":"success","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":3}"#;
const SHARD_BAD: &str = r#"{"shardId":"s9","statusName":"shard-ingest-failed","statusType":"error","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":0,"statusMetadata":{"reason":"not a tar"}}"#;

fn shards(list: &[&str]) -> &'static str {
    Box::leak(format!(r#"{{"shards":[{}],"nextPageToken":null}}"#, list.join(",")).into_boxed_str())
}

#[test]
fn ingest_wait_ends_at_the_count() {
    let (clock, _) = fake_clock();
    let api1 = api(
        vec![r#"{"count":0}"#, shards(&[SHARD_INFO]), r#"{"count":3}"#],
        clock,
    );
    assert_eq!(
        api1.wait_for_ingest("b", 3, &WaitOptions::default())
            .unwrap(),
        3
    );
}

#[test]
fn a_count_that_arrives_at_the_deadline_poll_is_no_timeout() {
    let (clock, slept) = fake_clock();
    let short = [r#"{"count":0}"#, shards(&[SHARD_INFO])];
    let script = [&short[..], &short[..], &[r#"{"count":3}"#]].concat();
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_secs(10))
        .timeout(Duration::from_secs(25));
    assert_eq!(
        api(script, clock).wait_for_ingest("b", 3, &opts).unwrap(),
        3
    );
    let secs = [Duration::from_secs(10), Duration::from_secs(15)];
    assert_eq!(
        *slept.lock().unwrap(),
        secs,
        "the third poll is at the deadline"
    );
}

#[test]
fn ingest_wait_fails_when_a_shard_failed_and_nothing_is_left_to_index() {
    let (clock, _) = fake_clock();
    // count, shards, count again (still short): the failure is final.
    let api2 = api(
        vec![r#"{"count":0}"#, shards(&[SHARD_BAD]), r#"{"count":0}"#],
        clock,
    );
    match api2.wait_for_ingest("b", 3, &WaitOptions::default()) {
        Err(Error::ShardFailed {
            shard_id, details, ..
        }) => {
            assert_eq!(shard_id, "s9");
            assert!(details.contains("not a tar"), "{details}");
            assert!(details.contains("1 of 1 shards failed"), "{details}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ingest_wait_survives_a_failed_shard_whose_files_were_uploaded_again() {
    // The first shard failed; its files went up again in s1 (still indexing), then s2.
    let table: Vec<(&str, Vec<&'static str>)> = vec![
        (
            "re-upload still indexing, then counted",
            vec![
                r#"{"count":0}"#,
                shards(&[SHARD_BAD, SHARD_INFO]),
                r#"{"count":3}"#,
            ],
        ),
        (
            "re-upload finished between the count and the listing",
            vec![
                r#"{"count":0}"#,
                shards(&[SHARD_BAD, SHARD_OK]),
                r#"{"count":3}"#,
            ],
        ),
        (
            "count already reached despite an old failed shard",
            vec![r#"{"count":3}"#],
        ),
    ];
    for (case, script) in table {
        let (clock, _) = fake_clock();
        let api = api(script, clock);
        assert_eq!(
            api.wait_for_ingest("b", 3, &WaitOptions::default())
                .unwrap_or_else(|e| panic!("{case}: {e}")),
            3,
            "{case}"
        );
    }
}

#[test]
fn job_states_table() {
    let job = |fields: &str| {
        format!(
            r#"{{"jobId":"j","name":"j","jobDefinition":{{}},"createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"{fields}}}"#
        )
    };
    let cases: Vec<(String, JobState, bool)> = vec![
        // The spec's form alone: known terminal words in any spelling end the job.
        (
            r#"{"jobStatus":"completed"}"#.into(),
            JobState::Completed,
            true,
        ),
        (r#"{"jobStatus":"failed"}"#.into(), JobState::Failed, true),
        (r#"{"jobStatus":"aborted"}"#.into(), JobState::Aborted, true),
        (
            r#"{"jobStatus":"Cancelled"}"#.into(),
            JobState::Cancelled,
            true,
        ),
        (
            r#"{"jobStatus":"canceled"}"#.into(),
            JobState::Cancelled,
            true,
        ),
        (
            r#"{"jobStatus":"SUCCEEDED"}"#.into(),
            JobState::Completed,
            true,
        ),
        (
            r#"{"jobStatus":"timed_out"}"#.into(),
            JobState::Other("timed-out".into()),
            true,
        ),
        (
            r#"{"jobStatus":"processing"}"#.into(),
            JobState::Processing,
            false,
        ),
        (
            r#"{"jobStatus":"paused"}"#.into(),
            JobState::Other("paused".into()),
            false,
        ),
        // isTerminal decides whenever the job object carries it.
        (
            format!(
                r#"{{"jobStatus":"paused","job":{}}}"#,
                job(r#","isTerminal":true"#)
            ),
            JobState::Completed,
            true,
        ),
        (
            format!(
                r#"{{"jobStatus":"processing","job":{}}}"#,
                job(r#","isTerminal":true,"error":true"#)
            ),
            JobState::Failed,
            true,
        ),
        (
            format!(
                r#"{{"jobStatus":"aborted","job":{}}}"#,
                job(r#","isTerminal":true,"error":true"#)
            ),
            JobState::Aborted,
            true,
        ),
        (
            format!(
                r#"{{"jobStatus":"completed","job":{}}}"#,
                job(r#","isTerminal":false,"currentStage":"export""#)
            ),
            JobState::Processing,
            false,
        ),
        // Without isTerminal, the job object follows jobStatus.
        (
            format!(r#"{{"jobStatus":"aborted","job":{}}}"#, job("")),
            JobState::Aborted,
            true,
        ),
        // The official client's form alone.
        (
            format!(r#"{{"job":{}}}"#, job(r#","isTerminal":true,"error":true"#)),
            JobState::Failed,
            true,
        ),
        (
            format!(r#"{{"job":{}}}"#, job(r#","currentStage":"processing""#)),
            JobState::Processing,
            false,
        ),
    ];
    for (body, want, terminal) in cases {
        let r: roboflow_batch::model::JobStatusResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(r.state(), want, "{body}");
        assert_eq!(r.state().is_terminal(), terminal, "{body}");
    }
}

#[test]
fn an_aborted_job_ends_the_wait() {
    for body in [r#"{"jobStatus":"aborted"}"#, r#"{"jobStatus":"Cancelled"}"#] {
        let (clock, _) = fake_clock();
        let api = api(vec![r#"{"jobStatus":"processing"}"#, body], clock);
        let outcome = api
            .wait_for_job("j1", &WaitOptions::default(), |_| {})
            .unwrap();
        assert_eq!(outcome.end, JobEnd::Failed, "{body}");
    }
}

#[test]
fn the_default_wait_ends() {
    let (clock, slept) = fake_clock();
    let api = api(vec![], clock);
    let outcome = api
        .wait_for_job("j1", &WaitOptions::default(), |_| {})
        .unwrap();
    assert_eq!(outcome.end, JobEnd::TimedOut);
    assert_eq!(outcome.waited, Duration::from_secs(24 * 3600));
    let total: Duration = slept.lock().unwrap().iter().sum();
    assert_eq!(total, Duration::from_secs(24 * 3600));
}

#[test]
fn a_zero_interval_is_raised_to_the_floor() {
    let (clock, slept) = fake_clock();
    let api = api(vec![], clock);
    let opts = WaitOptions {
        poll_interval: Duration::ZERO,
        max_interval: Duration::ZERO,
        timeout: Duration::from_secs(2),
        max_failed_polls: 0,
    };
    let outcome = api.wait_for_job("j1", &opts, |_| {}).unwrap();
    assert_eq!(outcome.end, JobEnd::TimedOut);
    let slept = slept.lock().unwrap();
    assert_eq!(slept.len(), 20);
    assert!(slept.iter().all(|d| *d == Duration::from_millis(100)));
}

#[test]
fn the_deadline_ignores_the_wall_clock() {
    // The wall clock jumps back an hour on every read; the monotonic clock is what counts.
    let (clock, slept) = fake_clock();
    let jumps = Arc::new(Mutex::new(0u64));
    let clock = clock.now_fn(move || {
        let mut n = jumps.lock().unwrap();
        *n += 1;
        UNIX_EPOCH + Duration::from_secs(1_000_000_000 - *n * 3600)
    });
    let api = api(vec![], clock);
    let opts = WaitOptions::default().timeout(Duration::from_secs(30));
    let outcome = api.wait_for_job("j1", &opts, |_| {}).unwrap();
    assert_eq!(outcome.end, JobEnd::TimedOut);
    assert_eq!(
        slept.lock().unwrap().iter().sum::<Duration>(),
        Duration::from_secs(30)
    );
}

#[test]
fn transient_failures_in_a_row_are_bounded() {
    // Each 503 is a failed poll (the client does not retry here). Two in a row are survived,
    // and a success starts the count again; the third in a row ends the wait with it.
    let busy = r#"{"error":"busy"}"#;
    let running = r#"{"jobStatus":"processing"}"#;
    let script = [busy, busy, running, busy, busy, busy];
    let (clock, slept) = fake_clock();
    let calls = Arc::new(Mutex::new(0usize));
    let n = calls.clone();
    let client = BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .workspace("ws")
        .clock(clock)
        .retry_policy(roboflow_batch::api::RetryPolicy::never())
        .transport(
            move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
                let mut n = n.lock().unwrap();
                let body = script[*n];
                *n += 1;
                Ok(HttpResponse::json(
                    if body == busy { 503 } else { 200 },
                    body,
                ))
            },
        )
        .build()
        .unwrap();
    let opts = WaitOptions::default().max_failed_polls(2);
    let err = client.wait_for_job("j1", &opts, |_| {}).unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(*calls.lock().unwrap(), 6);
    assert_eq!(slept.lock().unwrap().len(), 5);
    // Any other failure ends it at once.
    let (clock, slept) = fake_clock();
    let api = api(vec![], clock);
    let gone = api.wait_for_job("Not A Job", &opts, |_| {}).unwrap_err();
    assert!(matches!(gone, Error::InvalidInput { .. }), "{gone}");
    assert!(slept.lock().unwrap().is_empty());
}
