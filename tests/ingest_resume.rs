//! Resume: a changed file is sent again; pending and unlisted shards are settled against
//! the service; a stale journal is not trusted; a cancelled run and a sandbox restarted on
//! another port resume. (A run killed part-way is in `ingest_scenarios`, for every source.)

mod ingest_util;

use std::path::Path;
use std::time::Duration;

use ingest_util::*;
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

/// The journal (not its lock file, which lies beside it).
fn journal_file(dir: &Path) -> std::path::PathBuf {
    let ws = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let journals: Vec<_> = std::fs::read_dir(ws)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    journals[0].clone()
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
    let bytes = ImageSet::new(1).seed(77).image(0);
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
    use std::sync::atomic::{AtomicBool, Ordering};
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(400).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    // A plain flag, borrowed: the ingest ends before it does.
    let stop = AtomicBool::new(false);
    let report = ingest(&api, "cancelled", images.path(), journal.path())
        .parallelism(1)
        .max_images_per_shard(100)
        .cancel_flag(&stop)
        .on_progress(|e| {
            if matches!(e, roboflow_batch::progress::Event::UnitDone { .. }) {
                stop.store(true, Ordering::SeqCst); // Ctrl-C after the first shard
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

/// The journal is keyed by workspace and batch, not by the service's URL: the same batch,
/// reached again through a sandbox restarted on another port with the same data, resumes
/// every file (each confirmed by the service first) and sends nothing.
#[test]
fn a_sandbox_restarted_on_another_port_resumes_everything() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(images.path()).unwrap();
    let config = || SandboxConfig::default().data_dir(data.path().join("sandbox"));
    let first_url = {
        let first = sandbox(config());
        let report = ingest(&api(&first), "moved", images.path(), journal.path())
            .run()
            .unwrap();
        assert_complete(&report, 40);
        first.base_url().to_string()
    }; // stopped; its data stays
    let again = sandbox(config());
    assert_ne!(again.base_url(), first_url, "another port");
    let report = ingest(&api(&again), "moved", images.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!((report.files_uploaded, report.files_resumed), (0, 40));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_complete(&report, 40);
    assert_eq!(report.requests.get("upload-put"), 0);
}

/// The journal file itself (moved from the journal's unit tests): owner-only, with its lock;
/// a torn last line dropped silently; lines whose sequence numbers would wrap counted as
/// unreadable and ignored; and a journal that has used every number refuses to go on.
#[cfg(unix)]
#[test]
fn the_journal_is_owner_only_and_survives_torn_and_corrupt_lines() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let images = tempfile::tempdir().unwrap();
    let journals = tempfile::tempdir().unwrap();
    let journal_dir = journals.path().join("journals");
    ImageSet::new(40).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let first = ingest(&api, "journal", images.path(), &journal_dir)
        .run()
        .unwrap();
    assert_complete(&first, 40);
    let path = first.journal.clone().unwrap();
    let lock = path.with_file_name(format!(
        "{}.lock",
        path.file_name().unwrap().to_string_lossy()
    ));
    for (p, want) in [(&path, 0o600), (&lock, 0o600), (&journal_dir, 0o700)] {
        assert_eq!(mode(p), want, "{}", p.display());
    }
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    // Corrupt sequence numbers, then half a line (a crash mid-write); and a mode written
    // before the rule.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    for seq in [u64::MAX, (1u64 << 53) + 1] {
        writeln!(
            f,
            r#"{{"t":"pending","seq":{seq},"unit":"shard","shard":"evil","files":[]}}"#
        )
        .unwrap();
        writeln!(f, r#"{{"t":"done","seq":{seq}}}"#).unwrap();
    }
    f.write_all(br#"{"t":"done","se"#).unwrap();
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = ingest(&api, "journal", images.path(), &journal_dir)
        .run()
        .unwrap();
    assert_eq!((again.files_uploaded, again.files_resumed), (0, 40));
    assert!(
        again
            .warnings
            .iter()
            .any(|w| w.starts_with("4 unreadable lines")),
        "{:?}",
        again.warnings
    );
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let parses = |l: &str| serde_json::from_str::<serde_json::Value>(l).is_ok();
    assert!(text.lines().all(parses), "the torn line was cut: {text}");
    // A journal at the very end of the numbers refuses, rather than wrap to 0.
    let last = 1u64 << 53;
    std::fs::write(
        &path,
        format!("{{\"t\":\"pending\",\"seq\":{last},\"unit\":\"shard\",\"files\":[]}}\n"),
    )
    .unwrap();
    let err = ingest(&api, "journal", images.path(), &journal_dir)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("every sequence number"), "{err}");
}
