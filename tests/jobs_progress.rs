//! Progress aggregation as the official client's `show-job-details` does it (notes §3.1),
//! table-tested on literal JSON in the service's shapes (camelCase, as the notes list the
//! fields of JobMetadata, JobStageDetails and TaskStatus).

use roboflow_batch::jobs::{Progress, StageProgress, TaskCounts};
use roboflow_batch::model::{JobStage, JobState, JobStatusResponse, TaskStatus};

fn stage(json: &str) -> JobStage {
    serde_json::from_str(json).expect("stage JSON")
}

fn tasks(json: &str) -> Vec<TaskStatus> {
    serde_json::from_str(json).expect("tasks JSON")
}

fn status(json: &str) -> JobStatusResponse {
    serde_json::from_str(json).expect("status JSON")
}

/// One stage's progress, as a snapshot of a running job aggregates it.
fn aggregate_stage(stage: &JobStage, tasks: &[TaskStatus]) -> StageProgress {
    let running = status(r#"{"jobStatus":"processing"}"#);
    let p = Progress::aggregate("j", &running, &[(stage.clone(), tasks.to_vec())]);
    p.stages.into_iter().next().unwrap()
}

const PROCESSING_RUNNING: &str = r#"{"processingStageId":"proc-1","processingStageName":"processing","tasksNumber":4,
  "outputBatches":[],"startTimestamp":"2025-05-01T10:00:00.000000+00:00","notification":{"type":"stage-started"},
  "statusType":"info","lastEventTimestamp":"2025-05-01T10:05:00.000000+00:00"}"#;

#[test]
fn stage_table() {
    struct Case {
        name: &'static str,
        stage: &'static str,
        tasks: &'static str,
        counts: TaskCounts,
        fraction: f64,
        errors: Vec<(&'static str, u64)>,
    }
    let cases = vec![
        Case {
            name: "one of each: done, failed, running half way, not registered",
            stage: PROCESSING_RUNNING,
            tasks: r#"[
              {"taskId":"t0","notification":{"type":"task-completed","message":"256 images"},"statusType":"success","eventTimestamp":"2025-05-01T10:01:00Z","progress":1.0},
              {"taskId":"t1","notification":{"type":"oom","message":"out of memory"},"statusType":"error","eventTimestamp":"2025-05-01T10:02:00Z","progress":0.3},
              {"taskId":"t2","notification":"running","statusType":"info","eventTimestamp":"2025-05-01T10:03:00Z","progress":0.5},
              {"taskId":"t3","notification":"queued","statusType":"info","eventTimestamp":"2025-05-01T10:04:00Z","progress":null}
            ]"#,
            counts: TaskCounts {
                total: 4,
                waiting: 1,
                running: 1,
                finished: 2,
                succeeded: 1,
                failed: 1,
            },
            fraction: (1.0 + 1.0 + 0.5) / 4.0,
            errors: vec![("out of memory", 1)],
        },
        Case {
            name: "tasks not listed yet are waiting",
            stage: PROCESSING_RUNNING,
            tasks: r#"[{"taskId":"t0","notification":"running","statusType":"info","eventTimestamp":"2025-05-01T10:01:00Z","progress":0.2}]"#,
            counts: TaskCounts {
                total: 4,
                waiting: 3,
                running: 1,
                finished: 0,
                succeeded: 0,
                failed: 0,
            },
            fraction: 0.2 / 4.0,
            errors: vec![],
        },
        Case {
            name: "the same error in any key order counts once per task; most reported first",
            stage: PROCESSING_RUNNING,
            tasks: r#"[
              {"taskId":"t0","notification":{"message":"bad image","type":"decode"},"statusType":"error","eventTimestamp":"2025-05-01T10:01:00Z","progress":1.0},
              {"taskId":"t1","notification":"worker lost","statusType":"task-error","eventTimestamp":"2025-05-01T10:01:00Z"},
              {"taskId":"t2","notification":{"type":"decode","message":"bad image"},"statusType":"ERROR","eventTimestamp":"2025-05-01T10:01:00Z","progress":0.1},
              {"taskId":"t3","notification":"done","statusType":"SUCCESS","eventTimestamp":"2025-05-01T10:01:00Z","progress":1.0}
            ]"#,
            counts: TaskCounts {
                total: 4,
                waiting: 0,
                running: 0,
                finished: 4,
                succeeded: 1,
                failed: 3,
            },
            fraction: 1.0,
            errors: vec![("bad image", 2), ("worker lost", 1)],
        },
        Case {
            name: "a finished status that is neither success nor error still completes the task",
            stage: PROCESSING_RUNNING,
            tasks: r#"[{"taskId":"t0","notification":"skipped","statusType":"warning","eventTimestamp":"2025-05-01T10:01:00Z","progress":0.0}]"#,
            counts: TaskCounts {
                total: 4,
                waiting: 3,
                running: 0,
                finished: 1,
                succeeded: 0,
                failed: 0,
            },
            fraction: 0.25,
            errors: vec![],
        },
        Case {
            name: "progress outside 0..1 is clamped",
            stage: PROCESSING_RUNNING,
            tasks: r#"[{"taskId":"t0","notification":"x","statusType":"info","eventTimestamp":"2025-05-01T10:01:00Z","progress":7.5},
                       {"taskId":"t1","notification":"x","statusType":"info","eventTimestamp":"2025-05-01T10:01:00Z","progress":-2}]"#,
            counts: TaskCounts {
                total: 4,
                waiting: 2,
                running: 2,
                finished: 0,
                succeeded: 0,
                failed: 0,
            },
            fraction: 0.25,
            errors: vec![],
        },
        Case {
            name: "tasksNumber 0 does not divide by zero",
            stage: r#"{"processingStageId":"s","processingStageName":"export","tasksNumber":0,"outputBatches":["j-export"],
              "startTimestamp":"2025-05-01T10:00:00Z","notification":"x","statusType":"success","lastEventTimestamp":"2025-05-01T10:00:00Z"}"#,
            tasks: "[]",
            counts: TaskCounts {
                total: 1,
                waiting: 1,
                running: 0,
                finished: 0,
                succeeded: 0,
                failed: 0,
            },
            fraction: 0.0,
            errors: vec![],
        },
    ];
    for c in cases {
        let p = aggregate_stage(&stage(c.stage), &tasks(c.tasks));
        assert_eq!(p.tasks, c.counts, "{}", c.name);
        assert!(
            (p.fraction - c.fraction).abs() < 1e-9,
            "{}: {} vs {}",
            c.name,
            p.fraction,
            c.fraction
        );
        let errors: Vec<(String, u64)> = p
            .errors
            .iter()
            .map(|e| (e.message.clone(), e.tasks))
            .collect();
        let want: Vec<(String, u64)> = c.errors.iter().map(|(m, n)| (m.to_string(), *n)).collect();
        assert_eq!(errors, want, "{}", c.name);
    }
}

fn job_status(terminal: bool, error: bool, current: &str, last: &str) -> JobStatusResponse {
    status(&format!(
        r#"{{"job":{{"jobId":"job-abc","name":"n","jobDefinition":{{}},"currentStage":"{current}",
        "plannedStages":["processing","export"],"error":{error},"isTerminal":{terminal},"lastNotification":{last},
        "createdAt":"2025-05-01T09:59:00Z","lastUpdate":"2025-05-01T10:05:00Z","restartParametersOverride":[]}}}}"#
    ))
}

const PROCESSING_DONE: &str = r#"{"processingStageId":"proc-1","processingStageName":"processing","tasksNumber":2,
  "outputBatches":["job-abc-processing"],"startTimestamp":"2025-05-01T10:00:00Z","notification":{"type":"stage-completed"},
  "statusType":"success","lastEventTimestamp":"2025-05-01T10:05:00Z"}"#;
const EXPORT_RUNNING: &str = r#"{"processingStageId":"exp-1","processingStageName":"export","tasksNumber":2,
  "outputBatches":[],"startTimestamp":"2025-05-01T10:06:00Z","notification":{"type":"stage-started"},
  "statusType":"info","lastEventTimestamp":"2025-05-01T10:06:00Z"}"#;
const TWO_DONE: &str = r#"[{"taskId":"a","notification":"ok","statusType":"success","eventTimestamp":"2025-05-01T10:01:00Z","progress":1.0},
  {"taskId":"b","notification":"ok","statusType":"success","eventTimestamp":"2025-05-01T10:01:00Z","progress":1.0}]"#;
const ONE_HALF: &str = r#"[{"taskId":"c","notification":"ok","statusType":"info","eventTimestamp":"2025-05-01T10:07:00Z","progress":1.0}]"#;

#[test]
fn job_snapshot_over_planned_stages_in_start_order() {
    // Listed out of order: the snapshot orders stages by startTimestamp.
    let stages = vec![
        (stage(EXPORT_RUNNING), tasks(ONE_HALF)),
        (stage(PROCESSING_DONE), tasks(TWO_DONE)),
    ];
    let p = Progress::aggregate(
        "job-abc",
        &job_status(false, false, "export", "null"),
        &stages,
    );
    assert_eq!(p.state, JobState::Processing);
    assert_eq!(p.current_stage.as_deref(), Some("export"));
    let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["processing", "export"]);
    assert_eq!(
        p.tasks,
        TaskCounts {
            total: 2,
            waiting: 1,
            running: 1,
            finished: 0,
            succeeded: 0,
            failed: 0
        }
    );
    // processing 1.0, export 0.5, over 2 planned stages.
    assert!((p.fraction - 0.75).abs() < 1e-9, "{}", p.fraction);
    assert_eq!(p.output_batches(), ["job-abc-processing"]);
    assert!(p.errors.is_empty());

    // Only the first of two planned stages has started: it counts for half.
    let only = vec![(stage(PROCESSING_DONE), tasks(TWO_DONE))];
    let p = Progress::aggregate(
        "job-abc",
        &job_status(false, false, "processing", "null"),
        &only,
    );
    assert!((p.fraction - 0.5).abs() < 1e-9, "{}", p.fraction);

    // Planned stages, none listed yet: exactly 0, not -0 (the sum of no floats), which
    // prints as "-0%".
    let p = Progress::aggregate("job-abc", &job_status(false, false, "", "null"), &[]);
    assert!(
        p.fraction == 0.0 && p.fraction.is_sign_positive(),
        "{}",
        p.fraction
    );
}

#[test]
fn completed_job_is_whole_and_failed_job_reports_its_notification_once() {
    let stages = vec![(stage(PROCESSING_DONE), tasks(TWO_DONE))];
    let done = Progress::aggregate(
        "job-abc",
        &job_status(
            true,
            false,
            "export",
            r#"{"type":"job-completed","message":"Job completed"}"#,
        ),
        &stages,
    );
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.fraction, 1.0);
    assert_eq!(done.message.as_deref(), Some("Job completed"));
    assert!(done.errors.is_empty());

    let failed_stage = r#"{"processingStageId":"proc-1","processingStageName":"processing","tasksNumber":2,
      "outputBatches":["job-abc-processing"],"startTimestamp":"2025-05-01T10:00:00Z",
      "notification":{"type":"image-failure-rate-exceeded","message":"30 of 100 images failed"},
      "statusType":"error","lastEventTimestamp":"2025-05-01T10:05:00Z"}"#;
    let note = r#"{"message":"30 of 100 images failed","type":"image-failure-rate-exceeded"}"#;
    let p = Progress::aggregate(
        "job-abc",
        &job_status(true, true, "processing", note),
        &[(stage(failed_stage), tasks(TWO_DONE))],
    );
    assert_eq!(p.state, JobState::Failed);
    assert!(p.state.is_terminal());
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].message, "30 of 100 images failed");
    assert_eq!(p.errors[0].tasks, 0);
    assert!(p.stages[0].status_type.contains("error"));

    // The job's notification as a plain string, the stage's as an object (the models
    // allow either): still one report, in its object form.
    let p = Progress::aggregate(
        "job-abc",
        &job_status(true, true, "processing", r#""30 of 100 images failed""#),
        &[(stage(failed_stage), tasks(TWO_DONE))],
    );
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(
        p.errors[0].notification["type"],
        "image-failure-rate-exceeded"
    );
    // Two objects with the same message but different types stay two.
    let other = r#"{"message":"30 of 100 images failed","type":"another-kind"}"#;
    let p = Progress::aggregate(
        "job-abc",
        &job_status(true, true, "processing", other),
        &[(stage(failed_stage), tasks(TWO_DONE))],
    );
    assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
}

#[test]
fn spec_form_status_without_stages_uses_its_progress() {
    let p = Progress::aggregate(
        "j",
        &status(r#"{"jobStatus":"processing","progress":0.4}"#),
        &[],
    );
    assert_eq!(p.state, JobState::Processing);
    assert!((p.fraction - 0.4).abs() < 1e-9);
    assert_eq!(p.tasks, TaskCounts::default());
}
