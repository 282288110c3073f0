//! Resume: a run killed with SIGKILL part-way, then run again, ends exact with no file
//! uploaded twice; a changed file is sent again; a stale journal is not trusted.

mod ingest_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ingest_util::*;
use roboflow_batch::BatchApi;
use roboflow_batch::ingest::{Ingest, LocalSource};
use roboflow_batch::sandbox::{FaultSettings, Faults, SandboxConfig};
use roboflow_batch::testdata::ImageSet;

const CHILD: &str = "RFBATCH_INGEST_RESUME_CHILD";
const N: usize = 600;

/// The child's side: when started by `killed_part_way_then_resumed_exactly`, ingest into
/// the parent's sandbox until killed. Otherwise there is nothing to do.
#[test]
fn resume_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.split('\n');
    let (base, key, images, journal) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let api = BatchApi::builder()
        .base_url(base)
        .api_key(key)
        .build()
        .unwrap();
    let _ = child_ingest(&api, Path::new(images), Path::new(journal)).run();
    // Reaching the end means the parent did not kill us in time; it notices.
}

fn child_ingest<'a>(api: &'a BatchApi, images: &Path, journal: &Path) -> Ingest<'a> {
    Ingest::images(api, "resumed", LocalSource::dir(images))
        .journal_dir(journal)
        .max_images_per_shard(10)
        .parallelism(2)
        .verify(quick_verify())
}

/// The journal (not its lock file, which lies beside it).
fn journal_file(dir: &Path) -> PathBuf {
    let ws = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let journals: Vec<PathBuf> = std::fs::read_dir(ws)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    journals[0].clone()
}

#[test]
fn killed_part_way_then_resumed_exactly() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(N)
        .dimensions(8..=16, 8..=16)
        .write_to(images.path())
        .unwrap();
    // Slow PUTs (60 shards, 2 at a time, 100 ms each): about 3 s in all, so the kill lands
    // part-way on a loaded machine too.
    let slow = FaultSettings::default().latency(Duration::from_millis(100));
    let sandbox = sandbox(SandboxConfig::default().faults(Faults::seeded(1).put(slow)));
    let api = api(&sandbox);

    let spec = [
        sandbox.base_url(),
        sandbox.api_key(),
        path_str(images.path()),
        path_str(journal.path()),
    ]
    .join("\n");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "resume_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let killed_at = loop {
        let shards = api.shards("resumed", None).filter_map(Result::ok).count();
        if shards >= 8 {
            child.kill().unwrap(); // SIGKILL
            break shards;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!child.wait().unwrap().success());
    assert!(
        killed_at < N / 10,
        "killed part-way, not at the end ({killed_at} shards)"
    );

    // A crash mid-write leaves a torn line; the next run must shrug it off.
    let jpath = journal_file(journal.path());
    let mut text = std::fs::read(&jpath).unwrap();
    text.extend_from_slice(br#"{"t":"pending","seq":99999,"unit":"sh"#);
    std::fs::write(&jpath, text).unwrap();

    // A PUT whose bytes were all sent before the kill may still be committed by the
    // service (after its 100 ms latency): wait until the shard count settles, as a re-run
    // by hand would.
    let mut before = api.shards("resumed", None).filter_map(Result::ok).count();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let now = api.shards("resumed", None).filter_map(Result::ok).count();
        if now == before {
            break;
        }
        before = now;
    }
    let report = child_ingest(&api, images.path(), journal.path())
        .run()
        .unwrap();
    assert!(
        report.files_resumed >= 10 * killed_at as u64 - 20,
        "{report:?}"
    );
    assert_eq!(report.files_resumed + report.files_uploaded, N as u64);
    assert_complete(&report, N as u64);
    let listed = listed_names(&api, "resumed");
    assert_eq!(listed.len(), N);
    assert!(listed.values().all(|&n| n == 1));
    assert_eq!(
        shard_objects(&api, "resumed"),
        N as u64,
        "no file uploaded twice"
    );
    let after = api.shards("resumed", None).filter_map(Result::ok).count();
    assert_eq!(after - before, report.units_uploaded as usize);

    // A third run has nothing left to send.
    let report = child_ingest(&api, images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((report.files_uploaded, report.files_resumed), (0, N as u64));
    assert_complete(&report, N as u64);
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_changed_file_is_sent_again_and_nothing_else() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(50).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let first = ingest(&api, "changes", images.path(), journal.path())
        .run()
        .unwrap();
    assert_complete(&first, 50);
    let (bytes, _) = ImageSet::new(1).seed(77).image(0);
    std::fs::write(&generated[7].path, &bytes).unwrap();
    let second = ingest(&api, "changes", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((second.files_uploaded, second.files_resumed), (1, 49));
    assert_eq!(second.bytes_uploaded, bytes.len() as u64);
    assert_complete(&second, 50);
    assert_eq!(api.batch_count("changes", None).unwrap(), 50);
}

#[test]
fn pending_lines_are_settled_against_the_service() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(300).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let first = ingest(&api, "settle", images.path(), journal.path())
        .max_images_per_shard(100)
        .run()
        .unwrap();
    assert_complete(&first, 300);
    // As if the process died after each PUT but before its `done` line: keep only the
    // `pending` lines, and add one for a shard the service never received.
    let jpath = journal_file(journal.path());
    let text = std::fs::read_to_string(&jpath).unwrap();
    let mut kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(r#""t":"done""#))
        .collect();
    let ghost = r#"{"t":"pending","seq":500,"unit":"shard","shard":"never-arrived","files":[]}"#;
    kept.push(ghost);
    std::fs::write(&jpath, kept.join("\n") + "\n").unwrap();

    let second = ingest(&api, "settle", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((second.files_uploaded, second.files_resumed), (0, 300));
    assert_complete(&second, 300);
    let text = std::fs::read_to_string(&jpath).unwrap();
    assert_eq!(
        text.matches(r#""t":"done""#).count(),
        3,
        "settled shards are marked done"
    );
}

#[test]
fn shards_the_service_has_not_listed_yet_are_not_sent_again() {
    // The real service lists a shard only some time after its PUT; a run started right
    // after another must take the journal's word for the shards it accepted.
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(120).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default().registration_delay(Duration::from_secs(3)));
    let api = api(&sandbox);
    let first = ingest(&api, "unlisted", images.path(), journal.path())
        .max_images_per_shard(40)
        .without_verify()
        .run()
        .unwrap();
    assert_eq!(first.files_uploaded, 120);
    assert_eq!(sandbox.put_count(), 3);
    assert!(
        api.shards("unlisted", None).next().is_none(),
        "the shards are not listed yet"
    );

    let second = ingest(&api, "unlisted", images.path(), journal.path())
        .max_images_per_shard(40)
        .run()
        .unwrap();
    assert_eq!((second.files_uploaded, second.files_resumed), (0, 120));
    assert_eq!(sandbox.put_count(), 3, "nothing was sent again");
    // Verification waited for the shards to be listed and indexed.
    assert_complete(&second, 120);
    let names = generated
        .iter()
        .map(|g| g.path.file_name().unwrap().to_string_lossy().into_owned());
    assert_indexed_once(&sandbox, "unlisted", names);
}

#[test]
fn a_journal_for_a_batch_the_service_no_longer_has_is_not_trusted() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(images.path()).unwrap();
    let addr = {
        let first = sandbox(SandboxConfig::default());
        let api = api(&first);
        assert_complete(
            &ingest(&api, "stale", images.path(), journal.path())
                .run()
                .unwrap(),
            40,
        );
        let port: u16 = first
            .base_url()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }; // stopped, data gone
    // A fresh service at the same address: the batch (and its files) no longer exist.
    let fresh = match roboflow_batch::sandbox::Sandbox::start(ingest_util::vary::config(
        SandboxConfig::default().addr(addr),
    )) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "NOTE: port {} could not be reused ({e}); staleness not checked",
                addr.port()
            );
            return;
        }
    };
    let api = api(&fresh);
    let report = ingest(&api, "stale", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((report.files_uploaded, report.files_resumed), (40, 0));
    assert_complete(&report, 40);
}

#[test]
fn a_cancelled_ingest_finishes_what_runs_and_the_next_run_sends_the_rest() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(400).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let report = ingest(&api, "cancelled", images.path(), journal.path())
        .parallelism(1)
        .max_images_per_shard(100)
        .cancel_flag(stop.clone())
        .on_progress(move |e| {
            if matches!(e, roboflow_batch::ingest::IngestEvent::UnitDone { .. }) {
                flag.store(true, Ordering::SeqCst); // Ctrl-C after the first shard
            }
        })
        .run()
        .unwrap();
    assert!(report.cancelled && !report.is_success());
    assert_eq!((report.files_uploaded, report.files_pending), (100, 300));
    assert!(report.failed.is_empty() && report.verification.is_none());
    stop.store(false, Ordering::SeqCst);
    let rest = ingest(&api, "cancelled", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((rest.files_uploaded, rest.files_resumed), (300, 100));
    assert_complete(&rest, 400);
    assert_indexed_once(
        &sandbox,
        "cancelled",
        listed_names(&api, "cancelled").into_keys(),
    );
}
