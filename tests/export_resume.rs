#![cfg(feature = "sandbox")]
//! Exports under faults and interruptions: every file correct in the end, nothing partial
//! under a final name, and finished files never downloaded again.

mod jobs_common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jobs_common::{Counting, client, config, images, ingest, tree};
use roboflow_batch::BatchApi;
use roboflow_batch::export::Exporter;
use roboflow_batch::jobs::{JobSpec, JobWaitOptions};
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox};

/// The export log, in the target folder.
const LOG_FILE: &str = ".rfbatch-export.jsonl";

/// Ingests `n` images and runs `image-stats`; returns the job id.
fn finished_job(api: &BatchApi, n: usize) -> String {
    ingest(api, "photos", &images(n));
    let job = JobSpec::images(api, "photos", "image-stats")
        .start()
        .unwrap()
        .job;
    let outcome = job
        .wait(&JobWaitOptions::default().timeout(Duration::from_secs(120)))
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    job.id().to_string()
}

/// Files that are not results: the log and anything left half-done.
fn leftovers(files: &[String]) -> Vec<&String> {
    files
        .iter()
        .filter(|f| {
            f.contains(".rfbatch-dl-") || f.contains(".rfbatch-unpack-") || f.ends_with(".part")
        })
        .collect()
}

fn contents(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|f| f != LOG_FILE)
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn an_export_under_dropped_connections_and_503s_matches_a_clean_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sandbox");
    let clean = dir.path().join("clean");
    let job = {
        let sb = Sandbox::start(config(&data, 3)).unwrap();
        let api = client(&sb, Counting::new(None));
        let job = finished_job(&api, 30);
        Exporter::new(&api, &clean)
            .include_processing(true)
            .job(&job)
            .unwrap();
        job
    };
    // The same data, served again with faults on downloads and API calls.
    let faults = Faults::seeded(11)
        .download(FaultSettings::default().drop_rate(0.3).rate_503(0.2))
        .api(FaultSettings::default().rate_503(0.1));
    let sb = Sandbox::start(config(&data, 3).faults(faults)).unwrap();
    let counting = Counting::new(None);
    let api = client(&sb, counting.clone());
    let faulty = dir.path().join("faulty");
    let report = Exporter::new(&api, &faulty)
        .include_processing(true)
        .parallelism(4)
        .job(&job)
        .unwrap();
    assert_eq!(report.downloaded, 11, "results.jsonl and ten archives");
    assert!(
        counting.count() > 11,
        "faults were hit: {} GETs for 11 files",
        counting.count()
    );
    let files = tree(&faulty);
    assert!(leftovers(&files).is_empty(), "{files:?}");
    let want = contents(&clean);
    assert_eq!(want.len(), 31, "results.jsonl and 30 unpacked records");
    assert_eq!(
        contents(&faulty),
        want,
        "every file identical to the clean export"
    );
}

#[test]
fn an_export_cut_off_part_way_resumes_without_downloading_finished_files() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 2)).unwrap();
    let api = client(&sb, Counting::new(None));
    let job = finished_job(&api, 24); // 12 archives + results.jsonl
    let out = dir.path().join("out");

    // Run 1: downloads fail for good after the 5th.
    let first = Counting::new(Some(5));
    let api1 = client(&sb, first.clone());
    let err = Exporter::new(&api1, &out)
        .include_processing(true)
        .parallelism(2)
        .job(&job)
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let done1: BTreeSet<String> = first.paths.lock().unwrap().iter().cloned().collect();
    assert_eq!(done1.len(), 5);
    let files = tree(&out);
    assert!(leftovers(&files).is_empty(), "{files:?}");
    let logged = std::fs::read_to_string(out.join(LOG_FILE))
        .unwrap()
        .lines()
        .count();
    assert_eq!(logged, 5, "each finished download is logged");

    // Run 2: only the rest are downloaded.
    let second = Counting::new(None);
    let api2 = client(&sb, second.clone());
    let report = Exporter::new(&api2, &out)
        .include_processing(true)
        .parallelism(2)
        .job(&job)
        .unwrap();
    let done2: BTreeSet<String> = second.paths.lock().unwrap().iter().cloned().collect();
    assert_eq!((report.downloaded, report.skipped), (8, 5));
    assert_eq!(second.count(), 8);
    assert!(
        done1.is_disjoint(&done2),
        "nothing downloaded twice: {:?}",
        done1.intersection(&done2).collect::<Vec<_>>()
    );
    let files = tree(&out);
    assert_eq!(
        files.iter().filter(|f| f.starts_with("archives/")).count(),
        24,
        "{files:?}"
    );
    assert!(out.join("results/results.jsonl").exists());

    // Run 3: nothing to do; a file removed by hand brings back only its archive.
    let third = Counting::new(None);
    let api3 = client(&sb, third.clone());
    let r = Exporter::new(&api3, &out)
        .include_processing(true)
        .job(&job)
        .unwrap();
    assert_eq!((r.downloaded, r.skipped, third.count()), (0, 13, 0));
    std::fs::remove_file(out.join("archives/img-007.bmp.json")).unwrap();
    let r = Exporter::new(&api3, &out)
        .include_processing(true)
        .job(&job)
        .unwrap();
    assert_eq!((r.downloaded, third.count()), (1, 1));
    assert!(out.join("archives/img-007.bmp.json").exists());
    // A kept file of the wrong length (changed by hand) is downloaded again.
    let results = out.join("results/results.jsonl");
    let whole = std::fs::read(&results).unwrap();
    std::fs::write(&results, &whole[..whole.len() / 2]).unwrap();
    let r = Exporter::new(&api3, &out)
        .include_processing(true)
        .job(&job)
        .unwrap();
    assert_eq!((r.downloaded, third.count()), (1, 2));
    assert_eq!(std::fs::read(&results).unwrap(), whole);

    // Overwrite forces every file again.
    let r = Exporter::new(&api3, &out)
        .include_processing(true)
        .overwrite(true)
        .job(&job)
        .unwrap();
    assert_eq!((r.downloaded, r.skipped, third.count()), (13, 0, 15));
}

#[test]
fn a_cancelled_export_stops_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 2)).unwrap();
    let api = client(&sb, Counting::new(None));
    let job = finished_job(&api, 20);
    let out = dir.path().join("out");
    let stop = AtomicBool::new(false);
    // Stopped early: a report that says so, not an error.
    let stopped = Exporter::new(&api, &out)
        .parallelism(1)
        .cancel_flag(&stop)
        .on_progress(|e| {
            if matches!(e, Event::Exported(f) if !f.skipped) {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .job(&job)
        .unwrap();
    assert!(stopped.cancelled);
    assert_eq!((stopped.downloaded, stopped.files_pending), (1, 9));
    stop.store(false, Ordering::SeqCst);
    let counting = Counting::new(None);
    let api2 = client(&sb, counting.clone());
    let r = Exporter::new(&api2, &out).job(&job).unwrap();
    assert_eq!((r.skipped, r.downloaded), (1, 9));
    assert_eq!(
        tree(&out)
            .iter()
            .filter(|f| f.starts_with("archives/"))
            .count(),
        20
    );
}

#[test]
fn batch_export_of_one_part_and_bad_parts() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(dir.path(), 5)).unwrap();
    let api = client(&sb, Counting::new(None));
    let job = finished_job(&api, 10);
    let out = dir.path().join("out");
    let r = Exporter::new(&api, &out)
        .part("archives")
        .keep_archives(true)
        .batch(format!("{job}-export"))
        .unwrap();
    assert_eq!(r.downloaded, 2);
    let files = tree(&out);
    assert!(
        files.contains(&"archives/export-00000.tar".to_string()),
        "{files:?}"
    );
    assert_eq!(files.iter().filter(|f| f.ends_with(".json")).count(), 10);

    let err = Exporter::new(&api, &out)
        .part("nope")
        .batch(format!("{job}-export"))
        .unwrap_err();
    assert!(err.to_string().contains(r#"no part "nope""#), "{err}");
    // The input batch is a simple batch: it has no parts, its files land in the target.
    let err = Exporter::new(&api, &out)
        .part("x")
        .batch("photos")
        .unwrap_err();
    assert!(err.to_string().contains("has no parts"), "{err}");
    let inputs = dir.path().join("inputs");
    let r = Exporter::new(&api, &inputs).batch("photos").unwrap();
    assert_eq!(r.downloaded, 10);
    assert_eq!(
        std::fs::read(inputs.join("img-000.png")).unwrap(),
        images(1)[0].bytes
    );
}

#[test]
fn a_batch_that_does_not_exist_leaves_no_folder_behind() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(config(&dir.path().join("sandbox"), 3)).unwrap();
    let api = client(&sb, Counting::new(None));
    let target = dir.path().join("out").join("results");
    let err = Exporter::new(&api, &target)
        .batch("no-such-batch")
        .unwrap_err();
    assert!(err.to_string().contains("no-such-batch"), "{err}");
    assert!(
        !target.exists(),
        "an empty {} was created",
        target.display()
    );
}
