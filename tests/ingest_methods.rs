//! Which upload method an ingest takes, and what each sends: single images for small
//! sets, shards above the threshold, videos one by one, webhook settings in every shard.

mod ingest_util;

use std::io::Read;

use ingest_util::*;
use roboflow_batch::ingest::{Ingest, IngestMethod, Source, UploadMode};
use roboflow_batch::model::BatchType;
use roboflow_batch::model::MediaKind;
use roboflow_batch::progress::UnitKind;
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

#[test]
fn thirty_two_images_go_one_by_one_and_thirty_three_in_shards() {
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let journal = tempfile::tempdir().unwrap();
    for (n, method, kind) in [
        (32, IngestMethod::SingleImages, BatchType::Simple),
        (33, IngestMethod::Shards, BatchType::Sharded),
    ] {
        let dir = tempfile::tempdir().unwrap();
        ImageSet::new(n).write_to(dir.path()).unwrap();
        let batch = format!("count-{n}");
        let events = Events::default();
        let report = ingest(&api, &batch, dir.path(), journal.path())
            .on_progress(events.sink())
            .run()
            .unwrap();
        assert_eq!(report.method, method);
        assert_complete(&report, n as u64);
        assert_eq!(api.batch(&batch).unwrap().batch_type, kind);
        if method == IngestMethod::SingleImages {
            assert_eq!(report.units_uploaded, 32);
            let images = events
                .all()
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        roboflow_batch::progress::Event::UnitDone {
                            unit: UnitKind::Image,
                            ..
                        }
                    )
                })
                .count();
            assert_eq!(images, 32);
        }
    }
}

#[test]
fn an_existing_batch_keeps_its_method_and_methods_never_mix() {
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let journal = tempfile::tempdir().unwrap();
    let small = tempfile::tempdir().unwrap();
    ImageSet::new(5).write_to(small.path()).unwrap();
    let r = ingest(&api, "simple", small.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!(r.method, IngestMethod::SingleImages);

    // 40 more images into the simple batch: still one by one, with a warning.
    let more = tempfile::tempdir().unwrap();
    ImageSet::new(40)
        .prefix("more-")
        .write_to(more.path())
        .unwrap();
    let r = ingest(&api, "simple", more.path(), journal.path())
        .run()
        .unwrap();
    assert_eq!(r.method, IngestMethod::SingleImages);
    assert!(
        r.warnings.iter().any(|w| w.contains("simple-batch")),
        "{:?}",
        r.warnings
    );
    assert_complete(&r, 40);
    assert_eq!(api.batch_count("simple", None).unwrap(), 45);

    // Asking for shards in it is refused before anything is sent.
    let err = ingest(&api, "simple", more.path(), journal.path())
        .mode(UploadMode::Shards)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("never mix"), "{err}");
    // Forcing shards for a small new batch works.
    let r = ingest(&api, "forced", small.path(), journal.path())
        .mode(UploadMode::Shards)
        .run()
        .unwrap();
    assert_eq!(r.method, IngestMethod::Shards);
    assert_complete(&r, 5);
}

#[test]
fn every_shard_carries_the_webhook_settings() {
    let data = tempfile::tempdir().unwrap();
    let sandbox = sandbox(SandboxConfig::default().data_dir(data.path()));
    let api = api(&sandbox);
    let journal = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    ImageSet::new(250).write_to(dir.path()).unwrap();
    let r = ingest(&api, "hooked", dir.path(), journal.path())
        .max_images_per_shard(100)
        .notifications_url("http://127.0.0.1:9/hooks")
        .ingest_id("nightly-7")
        .run()
        .unwrap();
    assert_complete(&r, 250);
    let configs = notification_configs(data.path(), "hooked");
    assert_eq!(configs.len(), 3);
    for v in configs {
        assert_eq!(
            v,
            Some(
                serde_json::json!({"ingestId": "nightly-7", "notificationsURL": "http://127.0.0.1:9/hooks"})
            )
        );
    }
}

/// The `notification_config.json` of each stored shard of `batch` (checked to be its last
/// member), or `None` for a shard without one.
fn notification_configs(data: &std::path::Path, batch: &str) -> Vec<Option<serde_json::Value>> {
    let shards = std::fs::read_dir(data.join(format!("staging/{batch}/shards"))).unwrap();
    shards
        .map(|shard| {
            let mut archive =
                tar::Archive::new(std::fs::File::open(shard.unwrap().path()).unwrap());
            let mut found = None;
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                assert!(found.is_none(), "notification_config.json comes last");
                if entry.path().unwrap().to_string_lossy() == "notification_config.json" {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).unwrap();
                    found = Some(serde_json::from_str(&text).unwrap());
                }
            }
            found
        })
        .collect()
}

#[test]
fn an_ingest_id_without_a_notifications_url_puts_no_config_in_the_shards() {
    // The official client writes notification_config.json only with a URL, and then with
    // both keys; the service has never been seen receiving `{"ingestId"}` alone.
    let data = tempfile::tempdir().unwrap();
    let sandbox = sandbox(SandboxConfig::default().data_dir(data.path()));
    let api = api(&sandbox);
    let journal = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(dir.path()).unwrap();
    let r = ingest(&api, "no-hook", dir.path(), journal.path())
        .ingest_id("nightly-8")
        .run()
        .unwrap();
    assert_complete(&r, 40);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("ingest id is ignored")),
        "{:?}",
        r.warnings
    );
    let configs = notification_configs(data.path(), "no-hook");
    assert!(!configs.is_empty() && configs.iter().all(Option::is_none));

    // A URL alone: both keys, one random ingest id for every shard of the run.
    let r = ingest(&api, "url-only", dir.path(), journal.path())
        .max_images_per_shard(20)
        .notifications_url("http://127.0.0.1:9/hooks")
        .run()
        .unwrap();
    assert_complete(&r, 40);
    let mut ids = std::collections::BTreeSet::new();
    for config in notification_configs(data.path(), "url-only") {
        let config = config.expect("a notification_config.json");
        let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ingestId", "notificationsURL"]);
        ids.insert(config["ingestId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[test]
fn videos_go_one_by_one_streamed_from_their_files() {
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let journal = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["a.mp4", "b.MOV", "c.mkv"].iter().enumerate() {
        std::fs::write(dir.path().join(name), vec![i as u8 + 1; 100_000 + i]).unwrap();
    }
    std::fs::write(dir.path().join("still.jpg"), b"\xFF\xD8\xFF").unwrap();
    let report = Ingest::new(&api, "clips", Source::folder(dir.path()))
        .media(MediaKind::Videos)
        .journal_dir(journal.path())
        .verify(quick_verify())
        .notifications_url("https://example.com/hook")
        .run()
        .unwrap();
    assert_eq!(report.method, IngestMethod::Videos);
    assert_eq!((report.files_uploaded, report.bytes_uploaded), (3, 300_003));
    assert_complete(&report, 3);
    assert!(
        report.warnings.iter().any(|w| w.contains("ignored")),
        "{:?}",
        report.warnings
    );
    let names: Vec<String> = listed_names(&api, "clips").into_keys().collect();
    assert_eq!(names, ["a.mp4", "b.MOV", "c.mkv"]);
    // Again: nothing is sent twice.
    let again = Ingest::new(&api, "clips", Source::folder(dir.path()))
        .media(MediaKind::Videos)
        .journal_dir(journal.path())
        .verify(quick_verify())
        .run()
        .unwrap();
    assert_eq!((again.files_uploaded, again.files_resumed), (0, 3));
    // Videos cannot go into a batch of image shards.
    let images = tempfile::tempdir().unwrap();
    ImageSet::new(40).write_to(images.path()).unwrap();
    ingest(&api, "shards", images.path(), journal.path())
        .run()
        .unwrap();
    let err = Ingest::new(&api, "shards", Source::folder(dir.path()))
        .media(MediaKind::Videos)
        .without_journal()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("sharded-batch"), "{err}");
}

#[test]
fn the_report_serializes_for_a_cli() {
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    ImageSet::new(3).write_to(dir.path()).unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    let report = Ingest::new(&api, "json", Source::folder(dir.path()))
        .without_journal()
        .verify(quick_verify())
        .run()
        .unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["method"], "single-images");
    assert_eq!(v["filesUploaded"], 3);
    assert_eq!(v["skipped"][0]["reason"], "empty");
    assert_eq!(v["verification"]["complete"], true);
    assert!(v["durationSecs"].as_f64().unwrap() > 0.0);
    let back: roboflow_batch::ingest::IngestReport = serde_json::from_value(v).unwrap();
    assert_eq!(back.files_uploaded, 3);
}

/// A client whose requests are logged as `METHOD path`, and which answers a batch's
/// metadata with 400 when `missing_is_400` names it (as a service may for a batch that
/// does not exist yet).
fn logged_api(
    sandbox: &roboflow_batch::sandbox::Sandbox,
    missing_is_400: &'static str,
) -> (
    roboflow_batch::BatchApi,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use roboflow_batch::transport::{HttpRequest, HttpResponse, Transport, UreqTransport};
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = log.clone();
    let inner = UreqTransport::new();
    let meta = format!("/batches/{missing_is_400}");
    let transport = move |req: HttpRequest| {
        let line = format!("{} {}", req.method, req.path());
        seen.lock().unwrap().push(line);
        if req.path().ends_with(&meta) {
            return Ok(HttpResponse::json(400, r#"{"error": "batch not found"}"#));
        }
        inner.send(req)
    };
    let api = roboflow_batch::BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(transport)
        .build()
        .unwrap();
    (api, log)
}

fn metadata_calls(log: &std::sync::Mutex<Vec<String>>, batch: &str) -> usize {
    let path = format!("/batches/{batch}");
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("GET ") && l.ends_with(&path))
        .count()
}

#[test]
fn an_upload_into_a_new_batch_asks_nothing_about_it_first() {
    // The official client never calls GET /batches/{id} before uploading; a service that
    // answers a batch not yet created with 400 must not stop the upload.
    let sandbox = sandbox(SandboxConfig::default());
    let (api, log) = logged_api(&sandbox, "fresh");
    let journal = tempfile::tempdir().unwrap();
    for n in [5, 40] {
        let dir = tempfile::tempdir().unwrap();
        ImageSet::new(n).write_to(dir.path()).unwrap();
        let batch = if n == 5 { "fresh" } else { "fresh-big" };
        let r = ingest(&api, batch, dir.path(), journal.path())
            .run()
            .unwrap();
        assert_complete(&r, n as u64);
        assert_eq!(metadata_calls(&log, batch), 0, "{:?}", log.lock().unwrap());
        let first_upload = log
            .lock()
            .unwrap()
            .iter()
            .position(|l| l.starts_with("POST "))
            .unwrap();
        assert!(
            log.lock().unwrap()[..first_upload]
                .iter()
                .all(|l| l == "GET /"),
            "only the workspace is asked before the first upload: {:?}",
            log.lock().unwrap()
        );
        log.lock().unwrap().clear();
    }
}

#[test]
fn without_a_journal_a_batch_of_the_other_kind_is_found_from_the_refusal() {
    let sandbox = sandbox(SandboxConfig::default());
    let (api, log) = logged_api(&sandbox, "none");
    let small = tempfile::tempdir().unwrap();
    ImageSet::new(5).write_to(small.path()).unwrap();
    let big = tempfile::tempdir().unwrap();
    ImageSet::new(40)
        .prefix("big-")
        .write_to(big.path())
        .unwrap();
    let plain = |batch: &str, dir: &std::path::Path| {
        Ingest::new(&api, batch, Source::folder(dir))
            .without_journal()
            .verify(quick_verify())
    };
    // A simple batch, then 40 more images: the bulk request is refused (409), the batch
    // is asked about once, and the images go one by one.
    plain("simple", small.path()).run().unwrap();
    log.lock().unwrap().clear();
    let r = plain("simple", big.path()).run().unwrap();
    assert_eq!(r.method, IngestMethod::SingleImages);
    assert_complete(&r, 40);
    assert!(
        r.warnings.iter().any(|w| w.contains("refused tar shards")),
        "{:?}",
        r.warnings
    );
    assert_eq!(metadata_calls(&log, "simple"), 1);
    assert_eq!(api.batch_count("simple", None).unwrap(), 45);

    // A sharded batch, then 5 more: the single uploads are refused, and a shard goes.
    plain("sharded", big.path()).run().unwrap();
    let events = Events::default();
    let r = plain("sharded", small.path())
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_eq!(r.method, IngestMethod::Shards);
    assert_complete(&r, 5);
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(shard_objects(&api, "sharded"), 45);

    // Asked for explicitly, the refusal is the answer (exit 5 in the CLI).
    let err = plain("sharded", small.path())
        .mode(UploadMode::SingleImages)
        .run()
        .unwrap_err();
    assert!(matches!(err, roboflow_batch::Error::Conflict(_)), "{err:?}");
}
