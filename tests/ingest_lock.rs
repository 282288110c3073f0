//! One run at a time per batch and journal: a second run is refused with an error naming
//! the batch and the lock file, and the lock of a killed run does not outlive it.

mod ingest_util;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use ingest_util::*;
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;
use roboflow_batch::{BatchApi, Error};

const CHILD: &str = "RFBATCH_INGEST_LOCK_CHILD";
/// What the child prints once it holds the lock.
const HOLDING: &str = "rfbatch-child-holds-the-journal-lock";

fn client(base: &str, key: &str) -> BatchApi {
    BatchApi::builder()
        .base_url(base)
        .api_key(key)
        .build()
        .unwrap()
}

fn assert_locked(err: &Error, holder: u32) {
    let text = err.to_string();
    assert!(
        matches!(err, Error::Locked { holder: Some(h), .. } if *h == holder),
        "{err:?}"
    );
    assert!(
        text.contains("batch locked") && text.contains("locked.jsonl.lock"),
        "names the batch and the lock file: {text}"
    );
}

#[test]
fn a_second_run_into_the_same_batch_is_refused_while_the_first_runs() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let second: Arc<Mutex<Option<Result<u64, Error>>>> = Arc::default();
    let slot = second.clone();
    let (base, key) = (
        sandbox.base_url().to_string(),
        sandbox.api_key().to_string(),
    );
    let (dir, jdir) = (images.path().to_path_buf(), journal.path().to_path_buf());
    let report = ingest(&api, "locked", images.path(), journal.path())
        .on_progress(move |e| {
            // While the first run holds its journal (it is uploading), start a second one.
            if matches!(e, Event::Planned { .. }) {
                let api = client(&base, &key);
                let events = Events::default();
                let r = ingest(&api, "locked", &dir, &jdir)
                    .on_progress(events.sink())
                    .run()
                    .map(|r| r.files_uploaded);
                // Refused before it even looked at the folder.
                assert!(events.all().is_empty(), "{:?}", events.all());
                *slot.lock().unwrap() = Some(r);
            }
        })
        .run()
        .unwrap();
    assert_complete(&report, 40);
    let second = second.lock().unwrap().take().expect("the second run ran");
    let err = second.expect_err("the second run is refused");
    assert_locked(&err, std::process::id());
    // Once the first run is over, the batch can be ingested again (nothing left to send).
    let again = ingest(&api, "locked", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((again.files_uploaded, again.files_resumed), (0, 40));
}

/// The child's side of `the_lock_of_a_killed_run_does_not_block_the_next`: ingest, and
/// once uploading, say so and wait to be killed.
#[test]
fn lock_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let api = client(parts[0], parts[1]);
    let _ = ingest(&api, "locked", Path::new(parts[2]), Path::new(parts[3]))
        .on_progress(|e| {
            if matches!(e, Event::Planned { .. }) {
                println!("{HOLDING}");
                // Bounded: the parent kills this process long before.
                std::thread::sleep(std::time::Duration::from_secs(120));
            }
        })
        .run();
}

#[test]
fn the_lock_of_a_killed_run_does_not_block_the_next() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let spec = [
        sandbox.base_url(),
        sandbox.api_key(),
        images.path().to_str().unwrap(),
        journal.path().to_str().unwrap(),
    ]
    .join("\n");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--test-threads=1"])
        .env("RUST_TEST_NOCAPTURE", "1")
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (by reading, not by timing) until the child holds the lock.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        // libtest writes "test lock_child ... " before it, on the same line.
        lines.any(|l| l.unwrap().ends_with(HOLDING)),
        "the child never said it holds the lock"
    );
    let err = ingest(&api, "locked", images.path(), journal.path())
        .run()
        .unwrap_err();
    assert_locked(&err, child.id());

    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let report = ingest(&api, "locked", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!(report.files_uploaded + report.files_resumed, 40);
    assert_complete(&report, 40);
    assert_eq!(api.batch_count("locked", None).unwrap(), 40);
}
