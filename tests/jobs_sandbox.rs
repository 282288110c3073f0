#![cfg(feature = "sandbox")]
//! The second half of the main job against the sandbox: start, wait with progress, export,
//! and check the results against the images that went in.

mod jobs_common;

use std::collections::BTreeMap;
use std::time::Duration;

use jobs_common::{Counting, Image, client, config, images, ingest};
use roboflow_batch::Error;
use roboflow_batch::export::Exporter;
use roboflow_batch::jobs::{Job, JobEnd, JobSpec, JobWaitOptions};
use roboflow_batch::model::{AggregationFormat, JobState, LogSeverity, RestartOverrides};
use roboflow_batch::sandbox::Sandbox;
use roboflow_batch::wait::WaitOptions;
use serde_json::Value;

fn waiting() -> JobWaitOptions {
    JobWaitOptions::default()
        .polling(
            WaitOptions::default()
                .poll_interval(Duration::from_millis(50))
                .max_interval(Duration::from_millis(200)),
        )
        .timeout(Duration::from_secs(120))
}

/// Checks that `rows` (one per image, keyed by file name) match the images.
fn check_rows(rows: &BTreeMap<String, BTreeMap<String, String>>, imgs: &[Image]) {
    assert_eq!(
        rows.len(),
        imgs.len(),
        "one record per image: {:?}",
        rows.keys()
    );
    for img in imgs {
        let row = rows
            .get(&img.name)
            .unwrap_or_else(|| panic!("no record for {}", img.name));
        assert_eq!(row["status"], "success", "{}", img.name);
        assert_eq!(row["width"], img.width.to_string(), "{}", img.name);
        assert_eq!(row["height"], img.height.to_string(), "{}", img.name);
        assert_eq!(row["format"], img.format, "{}", img.name);
        assert_eq!(row["bytes"], img.bytes.len().to_string(), "{}", img.name);
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn image_stats_results_hold_one_correct_record_per_image_in_jsonl_then_csv() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(&dir.path().join("sb"), 4)).unwrap();
    let api = client(&sb, Counting::new(None));
    let imgs = images(13);
    ingest(&api, "photos", &imgs);

    // Run 1: JSONL.
    let job = JobSpec::images(&api, "photos", "image-stats")
        .aggregation_format(AggregationFormat::Jsonl)
        .start()
        .unwrap()
        .job;
    assert!(job.id().as_str().starts_with("job-"));
    let snapshots = std::sync::Mutex::new(Vec::new());
    let outcome = job
        .clone()
        .on_progress(|e| {
            if let roboflow_batch::progress::Event::JobPolled(p) = e {
                snapshots.lock().unwrap().push(p.fraction);
            }
        })
        .wait(&waiting())
        .unwrap();
    let snapshots = snapshots.into_inner().unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let last = outcome.last.as_ref().unwrap();
    assert_eq!(last.fraction, 1.0);
    // Two stages (their display names are the service's to choose: a varied sandbox
    // names them unlike their ids); their output batches below say which is which.
    assert_eq!(last.stages.len(), 2, "{last:?}");
    // 13 images at 4 per task: 4 tasks per stage, all succeeded.
    assert!(
        last.stages
            .iter()
            .all(|s| s.tasks.total == 4 && s.tasks.succeeded == 4),
        "{last:?}"
    );
    assert!(
        snapshots.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    let outputs: Vec<String> = job
        .results()
        .unwrap()
        .into_iter()
        .map(|o| o.batch_id)
        .collect();
    assert_eq!(
        outputs,
        [
            format!("{}-processing", job.id()),
            format!("{}-export", job.id())
        ]
    );

    let out = dir.path().join("out-jsonl");
    let report = Exporter::new(&api, &out)
        .include_processing(true)
        .job(job.id().as_str())
        .unwrap();
    assert_eq!(report.downloaded, 1 + 4, "results.jsonl and four archives");
    assert_eq!(
        report.unpacked,
        imgs.len() as u64,
        "one JSON file per image in the archives"
    );
    let text = std::fs::read_to_string(out.join("results/results.jsonl")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let row: BTreeMap<String, String> = obj.iter().map(|(k, v)| (k.clone(), cell(v))).collect();
        assert!(
            rows.insert(row["file_name"].clone(), row).is_none(),
            "duplicate record"
        );
    }
    check_rows(&rows, &imgs);
    // The export archives were unpacked (and removed): one record per image there too.
    for img in &imgs {
        let v: Value = serde_json::from_slice(
            &std::fs::read(out.join("archives").join(format!("{}.json", img.name))).unwrap(),
        )
        .unwrap();
        assert_eq!(v["width"], img.width);
    }
    assert!(
        !jobs_common::tree(&out).iter().any(|f| f.ends_with(".tar")),
        "archives removed"
    );

    // Run 2: CSV, a new job over the same batch.
    let job = JobSpec::images(&api, "photos", "image-stats")
        .aggregation_format(AggregationFormat::Csv)
        .start()
        .unwrap()
        .job;
    assert!(job.wait(&waiting()).unwrap().is_success());
    let out = dir.path().join("out-csv");
    Exporter::new(&api, &out)
        .stages(["processing"])
        .job(job.id().as_str())
        .unwrap();
    let text = std::fs::read_to_string(out.join("results/results.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut rows = BTreeMap::new();
    for line in lines {
        // Our names hold no commas or quotes, so a plain split is exact here.
        let row: BTreeMap<String, String> = header
            .iter()
            .map(|h| h.to_string())
            .zip(line.split(',').map(str::to_string))
            .collect();
        rows.insert(row["file_name"].clone(), row);
    }
    check_rows(&rows, &imgs);
}

#[test]
fn fail_fraction_ends_as_the_failure_rate_demands_with_the_errors_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 10)).unwrap();
    let api = client(&sb, Counting::new(None));
    let imgs = images(40);
    ingest(&api, "mixed", &imgs);
    let params = dir.path().join("params.json");
    std::fs::write(&params, r#"{"fraction": 0.3}"#).unwrap();

    // Under the rate: succeeds, and the failed images are in the results and the logs.
    let job = JobSpec::images(&api, "mixed", "fail-fraction")
        .workflow_parameters_file(&params)
        .max_image_failure_rate(0.9)
        .start()
        .unwrap()
        .job;
    let outcome = job.wait(&waiting()).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let out = dir.path().join("under");
    Exporter::new(&api, &out)
        .stages(["processing"])
        .job(job.id().as_str())
        .unwrap();
    let text = std::fs::read_to_string(out.join("results/results.jsonl")).unwrap();
    let failed = text
        .lines()
        .filter(|l| l.contains(r#""status":"error""#))
        .count();
    assert_eq!(text.lines().count(), 40);
    assert!((3..=25).contains(&failed), "about 30% of 40 fail: {failed}");
    let warnings = job
        .logs(Some(LogSeverity::Warning))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(warnings.len(), failed, "one warning per failed image");

    // Over the rate: the same failures now fail the job, and the outcome says why.
    let job = JobSpec::images(&api, "mixed", "fail-fraction")
        .workflow_parameters_file(&params)
        .max_image_failure_rate(0.01)
        .start()
        .unwrap()
        .job;
    let outcome = job.wait(&waiting()).unwrap();
    assert_eq!(outcome.end, JobEnd::Failed, "{outcome:?}");
    let errors = &outcome.errors;
    assert_eq!(outcome.last.as_ref().unwrap().state, JobState::Failed);
    assert_eq!(
        errors.len(),
        1,
        "the stage and the job report one notification: {errors:?}"
    );
    let msg = &errors[0].message;
    assert!(
        msg.contains(&format!("{failed} of 40 images failed"))
            && msg.contains("maxImageFailureRate"),
        "{msg}"
    );
    let logged = job
        .logs(Some(LogSeverity::Error))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(logged.len(), 1);
    // Only the processing stage ran: there is no export output to download.
    let err = Exporter::new(&api, dir.path().join("over"))
        .job(job.id().as_str())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no output batch from stage export"),
        "{err}"
    );
}

#[test]
fn starting_again_is_safe_and_a_different_definition_is_a_clear_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 10).job_speed(0.0)).unwrap();
    let api = client(&sb, Counting::new(None));
    ingest(&api, "few", &images(2));
    let spec = JobSpec::images(&api, "few", "image-stats").job_id("nightly-1");
    assert!(spec.start().unwrap().created);
    let again = spec.start().unwrap();
    assert!(!again.created, "the same definition again is a repeat");
    assert_eq!(again.job.id().as_str(), "nightly-1");
    // A drawn id: created, and the same spec started again is a repeat, not a second job.
    let drawn = JobSpec::images(&api, "few", "image-stats").max_parallel_tasks(2);
    assert!(drawn.start().unwrap().created);
    drawn.start().unwrap();
    let err = JobSpec::images(&api, "few", "image-stats")
        .job_id("nightly-1")
        .max_parallel_tasks(3)
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(r#"job id "nightly-1" is already taken by a job with a different definition"#),
        "{msg}"
    );
    assert_eq!(api.jobs(None).count(), 2);
}

#[test]
fn abort_and_restart_through_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    // Speed 0 holds jobs at the start of their first stage.
    let sb = Sandbox::start(config(dir.path(), 10).job_speed(0.0)).unwrap();
    let api = client(&sb, Counting::new(None));
    ingest(&api, "held", &images(3));
    let job = JobSpec::images(&api, "held", "image-stats")
        .start()
        .unwrap()
        .job;
    assert!(!job.status().unwrap().state().is_terminal());
    job.abort().unwrap();
    let outcome = job.wait(&waiting()).unwrap();
    assert!(
        outcome.errors.iter().any(|e| e.message.contains("aborted")),
        "{outcome:?}"
    );
    job.restart(Some(&RestartOverrides::default().max_parallel_tasks(2)))
        .unwrap();
    let again = Job::new(&api, job.id().as_str()).unwrap();
    assert!(!again.status().unwrap().state().is_terminal());
    let timed = again
        .wait(&waiting().timeout(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(timed.end, JobEnd::TimedOut, "{timed:?}");
    assert!(
        again
            .logs(None)
            .filter_map(Result::ok)
            .any(|l| l.log_type == "job-restarted")
    );
}
