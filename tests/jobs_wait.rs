//! Waiting for a job against a scripted fake service, on an injected clock: snapshots on
//! every poll, transient errors tolerated up to a cap, timeouts, and failed jobs with
//! their de-duplicated error notifications.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roboflow_batch::api::{Clock, RetryPolicy};
use roboflow_batch::jobs::{Job, JobOutcome, JobWaitOptions};
use roboflow_batch::model::JobState;
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::{BatchApi, Error};

/// What the fake service answers, and what it was asked.
#[derive(Default)]
struct Script {
    /// Answers to `GET …/jobs/j1`, in order; the last one repeats.
    job: VecDeque<(u16, String)>,
    /// Answers to `GET …/stages`, in order; the last one repeats.
    stages: VecDeque<(u16, String)>,
    job_polls: usize,
}

fn job_json(terminal: bool, error: bool, stage: &str, note: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"job":{{"jobId":"j1","name":"n","jobDefinition":{{}},"currentStage":"{stage}","plannedStages":["processing"],
            "error":{error},"isTerminal":{terminal},"lastNotification":{note},
            "createdAt":"2025-05-01T10:00:00Z","lastUpdate":"2025-05-01T10:00:00Z"}}}}"#
        ),
    )
}

fn stages_json(status_type: &str, note: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"stages":[{{"processingStageId":"processing","processingStageName":"processing","tasksNumber":2,
            "outputBatches":[],"startTimestamp":"2025-05-01T10:00:00Z","notification":{note},
            "statusType":"{status_type}","lastEventTimestamp":"2025-05-01T10:00:00Z"}}]}}"#
        ),
    )
}

const TASKS: &str = r#"{"tasks":[
  {"taskId":"t0","notification":{"type":"decode","message":"bad image"},"statusType":"error","eventTimestamp":"2025-05-01T10:00:00Z","progress":1.0},
  {"taskId":"t1","notification":{"message":"bad image","type":"decode"},"statusType":"error","eventTimestamp":"2025-05-01T10:00:00Z","progress":1.0}
], "nextPageToken": null}"#;
const TASKS_RUNNING: &str = r#"{"tasks":[
  {"taskId":"t0","notification":"ok","statusType":"success","eventTimestamp":"2025-05-01T10:00:00Z","progress":1.0},
  {"taskId":"t1","notification":"ok","statusType":"info","eventTimestamp":"2025-05-01T10:00:00Z","progress":0.5}
], "nextPageToken": null}"#;

fn next(q: &mut VecDeque<(u16, String)>) -> (u16, String) {
    if q.len() > 1 {
        q.pop_front().unwrap()
    } else {
        q.front().cloned().unwrap_or((500, "{}".into()))
    }
}

/// A client on the scripted service with no client-side retries and a clock that only
/// moves when the code sleeps.
fn api(script: Arc<Mutex<Script>>, tasks: &'static str) -> (BatchApi, Arc<Mutex<Duration>>) {
    let slept = Arc::new(Mutex::new(Duration::ZERO));
    let (s1, s2) = (slept.clone(), slept.clone());
    let clock = Clock::system()
        .sleep_fn(move |d| *s1.lock().unwrap() += d)
        .monotonic_fn(move || *s2.lock().unwrap())
        .jitter_fn(|| 0.0);
    let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let mut s = script.lock().unwrap();
        let path = req.path().to_string();
        let (status, body) = if path.ends_with("/jobs/j1") {
            s.job_polls += 1;
            next(&mut s.job)
        } else if path.ends_with("/jobs/j1/stages") {
            next(&mut s.stages)
        } else if path.ends_with("/stages/processing/tasks") {
            (200, tasks.to_string())
        } else {
            (404, format!(r#"{{"error":"no route {path}"}}"#))
        };
        Ok(HttpResponse::json(status, body))
    };
    let api = BatchApi::builder()
        .base_url("http://fake.test")
        .api_key("key-for-wait-tests")
        .workspace("ws")
        .retry_policy(RetryPolicy::never())
        .clock(clock)
        .transport(transport)
        .build()
        .unwrap();
    (api, slept)
}

fn options() -> JobWaitOptions {
    JobWaitOptions::default()
        .polling(
            WaitOptions::default()
                .poll_interval(Duration::from_secs(1))
                .max_interval(Duration::from_secs(1))
                .max_failed_polls(3),
        )
        .timeout(Duration::from_secs(60))
}

#[test]
fn transient_errors_do_not_end_the_wait_and_each_poll_yields_a_snapshot() {
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![
            job_json(false, false, "processing", "null"),
            (503, r#"{"error":"busy"}"#.into()),
            (503, r#"{"error":"busy"}"#.into()),
            job_json(false, false, "processing", "null"),
            job_json(true, false, "processing", r#"{"message":"Job completed"}"#),
        ]),
        stages: VecDeque::from(vec![stages_json("info", "{}")]),
        job_polls: 0,
    }));
    let (api, slept) = api(script.clone(), TASKS_RUNNING);
    let job = Job::new(&api, "j1").unwrap();
    let mut seen = Vec::new();
    let outcome = job
        .wait(&options(), |p| {
            seen.push((p.state.clone(), p.tasks.running, p.fraction))
        })
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(script.lock().unwrap().job_polls, 5);
    assert_eq!(seen.len(), 3, "one snapshot per successful poll: {seen:?}");
    assert_eq!(seen[0], (JobState::Processing, 1, 0.75));
    assert_eq!(seen[2].0, JobState::Completed);
    assert_eq!(seen[2].2, 1.0);
    assert_eq!(
        *slept.lock().unwrap(),
        Duration::from_secs(4),
        "four waits between five polls"
    );
}

#[test]
fn too_many_transient_errors_in_a_row_end_the_wait_with_the_error() {
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![
            job_json(false, false, "processing", "null"),
            (503, r#"{"error":"busy"}"#.into()),
        ]),
        stages: VecDeque::from(vec![stages_json("info", "{}")]),
        job_polls: 0,
    }));
    let (api, _) = api(script.clone(), TASKS_RUNNING);
    let err = Job::new(&api, "j1")
        .unwrap()
        .wait(&options(), |_| {})
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    // One good poll, then the failing one and three tolerated repeats.
    assert_eq!(script.lock().unwrap().job_polls, 5);
}

#[test]
fn a_permanent_error_ends_the_wait_at_once() {
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![(404, r#"{"error":"job not found"}"#.into())]),
        stages: VecDeque::new(),
        job_polls: 0,
    }));
    let (api, _) = api(script.clone(), TASKS_RUNNING);
    let err = Job::new(&api, "j1")
        .unwrap()
        .wait(&options(), |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert_eq!(script.lock().unwrap().job_polls, 1);
}

#[test]
fn a_job_still_running_at_the_timeout_times_out_with_the_last_snapshot() {
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![job_json(false, false, "processing", "null")]),
        stages: VecDeque::from(vec![stages_json("info", "{}")]),
        job_polls: 0,
    }));
    let (api, slept) = api(script.clone(), TASKS_RUNNING);
    let outcome = Job::new(&api, "j1")
        .unwrap()
        .wait(&options().timeout(Duration::from_secs(10)), |_| {})
        .unwrap();
    let JobOutcome::TimedOut { last, waited } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(last.unwrap().tasks.running, 1);
    assert!(waited <= Duration::from_secs(10), "{waited:?}");
    assert!(*slept.lock().unwrap() >= Duration::from_secs(9));
    assert!(script.lock().unwrap().job_polls >= 10);
}

#[test]
fn a_failed_job_reports_its_error_notifications_once_each() {
    let note = r#"{"type":"decode","message":"bad image"}"#;
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![job_json(
            true,
            true,
            "processing",
            r#"{"type":"job-failed","message":"too many failures"}"#,
        )]),
        stages: VecDeque::from(vec![stages_json("error", note)]),
        job_polls: 0,
    }));
    let (api, _) = api(script, TASKS);
    let outcome = Job::new(&api, "j1")
        .unwrap()
        .wait(&options(), |_| {})
        .unwrap();
    let JobOutcome::Failed { errors, last } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(last.state, JobState::Failed);
    let got: Vec<(String, usize)> = errors.iter().map(|e| (e.message(), e.tasks)).collect();
    assert_eq!(
        got,
        [
            ("bad image".to_string(), 2),
            ("too many failures".to_string(), 0)
        ],
        "two tasks and the stage share one notification; the job's own is second"
    );
    assert_eq!(outcome.errors().len(), 2);
}

#[test]
fn a_failed_stage_listing_keeps_the_previous_details() {
    let script = Arc::new(Mutex::new(Script {
        job: VecDeque::from(vec![
            job_json(false, false, "processing", "null"),
            job_json(false, false, "processing", "null"),
            job_json(true, false, "processing", "null"),
        ]),
        stages: VecDeque::from(vec![stages_json("info", "{}"), (503, "{}".into())]),
        job_polls: 0,
    }));
    let (api, _) = api(script, TASKS_RUNNING);
    let mut stages_seen = Vec::new();
    let outcome = Job::new(&api, "j1")
        .unwrap()
        .wait(&options(), |p| stages_seen.push(p.stages.len()))
        .unwrap();
    assert!(outcome.is_success());
    assert_eq!(stages_seen, [1, 1, 1]);
}
