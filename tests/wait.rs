//! Polling helpers with an injected clock: no real time passes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use roboflow_batch::model::JobState;
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::{BatchApi, Error};

/// A clock whose `now` advances by what was slept.
fn fake_clock() -> (roboflow_batch::api::Clock, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let log = slept.clone();
    let now = slept.clone();
    let clock = roboflow_batch::api::Clock::system()
        .with_sleep(move |d| log.lock().unwrap().push(d))
        .with_now(move || -> SystemTime {
            UNIX_EPOCH + now.lock().unwrap().iter().sum::<Duration>()
        })
        .with_jitter(|| 0.5);
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
    let mut seen = Vec::new();
    let opts = WaitOptions::default()
        .with_poll_interval(Duration::from_secs(2))
        .with_max_interval(Duration::from_secs(4));
    let last = api
        .wait_for_job("j1", &opts, |s| seen.push(s.progress))
        .unwrap();
    assert_eq!(last.state(), JobState::Completed);
    assert_eq!(
        seen,
        vec![None, Some(0.25), Some(0.5), Some(0.75), Some(1.0)]
    );
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
    let last = api
        .wait_for_job("j1", &WaitOptions::default(), |_| {})
        .unwrap();
    assert_eq!(last.state(), JobState::Failed);
}

#[test]
fn times_out_without_waiting_past_the_limit() {
    let (clock, slept) = fake_clock();
    let api = api(vec![], clock);
    let opts = WaitOptions::default()
        .with_poll_interval(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(25));
    match api.wait_for_job("j1", &opts, |_| {}) {
        Err(Error::WaitTimeout { what, waited }) => {
            assert!(what.contains("j1"), "{what}");
            assert_eq!(waited, Duration::from_secs(25));
        }
        other => panic!("{other:?}"),
    }
    // 10 s, then 15 s reaches the 25 s limit; the next 22.5 s would pass it, so it stops.
    assert_eq!(
        *slept.lock().unwrap(),
        vec![Duration::from_secs(10), Duration::from_secs(15)]
    );
}

#[test]
fn ingest_wait_ends_at_the_count_or_on_a_failed_shard() {
    let (clock, _) = fake_clock();
    let shards_ok = r#"{"shards":[{"shardId":"s1","statusName":"indexing","statusType":"info","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":0}],"nextPageToken":null}"#;
    let api1 = api(
        vec![r#"{"count":0}"#, shards_ok, r#"{"count":3}"#],
        clock.clone(),
    );
    assert_eq!(
        api1.wait_for_ingest("b", 3, &WaitOptions::default())
            .unwrap(),
        3
    );

    let shards_bad = r#"{"shards":[{"shardId":"s9","statusName":"shard-ingest-failed","statusType":"error","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":0,"statusMetadata":{"reason":"not a tar"}}],"nextPageToken":null}"#;
    let api2 = api(vec![r#"{"count":0}"#, shards_bad], clock);
    match api2.wait_for_ingest("b", 3, &WaitOptions::default()) {
        Err(Error::ShardFailed {
            shard_id, details, ..
        }) => {
            assert_eq!(shard_id, "s9");
            assert!(details.contains("not a tar"), "{details}");
        }
        other => panic!("{other:?}"),
    }
}
