//! A job's output batches found by stage id, display name or batch name, against a fake
//! service whose stages are named as the real one may name them (`Export`, not `export`),
//! and the part filter across a job's several output batches.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use roboflow_batch::export::Exporter;
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};

const JOBS: &str = "/batch-processing/v1/external/ws/jobs";
const STAGING: &str = "/data-staging/v1/external/ws/batches";

/// The job `conf-job`, finished, with two stages named unlike their ids.
fn service(
    seen: Arc<Mutex<Vec<String>>>,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportError> {
    move |req: HttpRequest| {
        let path = req.path().to_string();
        let part = req
            .query()
            .into_iter()
            .find(|(k, _)| k == "partName")
            .map(|(_, v)| v);
        let page_size = req
            .query()
            .into_iter()
            .find(|(k, _)| k == "pageSize")
            .map_or(String::new(), |(_, v)| format!("?pageSize={v}"));
        seen.lock().unwrap().push(format!("{path}{page_size}"));
        let body = match path.as_str() {
            p if p == format!("{JOBS}/conf-job") => r#"{"job": {"jobId": "conf-job", "name": "c",
                "jobDefinition": {}, "currentStage": "conf-job-export", "error": false,
                "isTerminal": true, "lastNotification": null,
                "createdAt": "2025-01-02T03:04:05.123456+00:00",
                "lastUpdate": "2025-01-02T03:09:05.123456+00:00"}}"#
                .to_string(),
            p if p == format!("{JOBS}/conf-job/stages") => r#"{"stages": [
                {"processingStageId": "conf-job-processing", "processingStageName": "Processing",
                 "tasksNumber": 2, "outputBatches": ["conf-job-processing"],
                 "startTimestamp": "2025-01-02T03:04:05.123Z", "notification": {},
                 "statusType": "success", "lastEventTimestamp": "2025-01-02T03:05:05.123Z"},
                {"processingStageId": "conf-job-export", "processingStageName": "Export",
                 "tasksNumber": 1, "outputBatches": ["conf-job-export"],
                 "startTimestamp": "2025-01-02T03:06:05.123Z", "notification": {},
                 "statusType": "success", "lastEventTimestamp": "2025-01-02T03:07:05.123Z"}]}"#
                .to_string(),
            p if p.starts_with(STAGING) => {
                let rest = &p[STAGING.len() + 1..];
                let (batch, tail) = rest.split_once('/').unwrap_or((rest, ""));
                let parts: &[&str] = if batch == "conf-job-processing" {
                    &["results"]
                } else {
                    &["archives", "images"]
                };
                match tail {
                    "" => format!(
                        r#"{{"batch": {{"displayName": "{batch}", "batchId": "{batch}",
                        "batchType": "multipart-batch", "batchContentType": "mixed",
                        "createdDate": "2025-01-02T03:04:05.123Z",
                        "expiryDate": "2025-01-09T03:04:05.123Z"}}}}"#
                    ),
                    "parts" => format!(
                        r#"{{"batchParts": [{}]}}"#,
                        parts
                            .iter()
                            .map(|p| format!(
                                r#"{{"partName": "{p}", "partType": "simple-part", "contentType": "mixed"}}"#
                            ))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    "list" => {
                        let part = part.unwrap_or_default();
                        format!(
                            r#"{{"filesMetadata": [{{"downloadURL": "{BASE}/dl/{batch}/{part}/f.txt",
                            "fileName": "{part}.txt", "partName": "{part}", "contentType": "text/plain"}}],
                            "nextPageToken": null}}"#
                        )
                    }
                    _ => return Ok(HttpResponse::json(404, r#"{"error": "no such thing"}"#)),
                }
            }
            p if p.starts_with("/dl/") => return Ok(HttpResponse::new(200, p.as_bytes().to_vec())),
            _ => return Ok(HttpResponse::json(404, r#"{"error": "no such route"}"#)),
        };
        Ok(HttpResponse::json(200, body))
    }
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_export_stage_is_found_when_its_name_is_not_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api = api_with(service(seen.clone()));
    let report = Exporter::new(&api, dir.path()).job("conf-job").unwrap();
    assert_eq!(report.batches, vec!["conf-job-export"]);
    // Each part's files are listed in pages of 1,000.
    let lists: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.contains("/list"))
        .cloned()
        .collect();
    assert_eq!(
        lists,
        [
            format!("{STAGING}/conf-job-export/list?pageSize=1000"),
            format!("{STAGING}/conf-job-export/list?pageSize=1000"),
        ]
    );
    assert_eq!(
        files(dir.path()),
        vec!["archives/archives.txt", "images/images.txt"]
    );

    let both = dir.path().join("both");
    let report = Exporter::new(&api, &both)
        .include_processing(true)
        .job("conf-job")
        .unwrap();
    assert_eq!(
        report.batches,
        vec!["conf-job-processing", "conf-job-export"]
    );
    assert_eq!(
        files(&both),
        vec![
            "archives/archives.txt",
            "images/images.txt",
            "results/results.txt"
        ]
    );
}

#[test]
fn a_part_filter_applies_to_the_stages_that_have_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_with(service(Arc::default()));
    // The processing stage has no part `images`: it comes whole, the export is filtered.
    let report = Exporter::new(&api, dir.path())
        .include_processing(true)
        .part("images")
        .job("conf-job")
        .unwrap();
    assert_eq!(report.downloaded, 2);
    assert_eq!(
        files(dir.path()),
        vec!["images/images.txt", "results/results.txt"]
    );

    // A part of the processing stage filters it, and the export comes whole.
    let other = dir.path().join("other");
    Exporter::new(&api, &other)
        .include_processing(true)
        .part("results")
        .job("conf-job")
        .unwrap();
    assert_eq!(
        files(&other),
        vec![
            "archives/archives.txt",
            "images/images.txt",
            "results/results.txt"
        ]
    );

    // A part no stage has is an error naming what each has; nothing is created.
    let none = dir.path().join("none");
    let err = Exporter::new(&api, &none)
        .include_processing(true)
        .part("imgs")
        .job("conf-job")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"no batch has a part "imgs""#)
            && err.contains("conf-job-processing: results")
            && err.contains("conf-job-export: archives, images"),
        "{err}"
    );
    assert!(!none.exists());

    // One batch alone must have the part.
    let err = Exporter::new(&api, &none)
        .part("results")
        .job("conf-job")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"batch conf-job-export has no part "results"; its parts: archives, images"#),
        "{err}"
    );
}

/// The job `j` (failed when `failed`) with `stages` as (id, name, output batches); every
/// batch is a simple one without files.
fn stages_service(
    stages: Vec<(&'static str, &'static str, Vec<&'static str>)>,
    failed: bool,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportError> {
    move |req: HttpRequest| {
        let path = req.path().to_string();
        let at = "2025-01-02T03:04:05Z";
        let body = if path == format!("{JOBS}/j") {
            serde_json::json!({"job": {"jobId": "j", "name": "j", "jobDefinition": {},
                "error": failed, "isTerminal": true, "createdAt": at, "lastUpdate": at}})
        } else if path == format!("{JOBS}/j/stages") {
            let stages: Vec<_> = stages
                .iter()
                .map(|(id, name, batches)| {
                    serde_json::json!({"processingStageId": id, "processingStageName": name,
                        "tasksNumber": 1, "outputBatches": batches, "startTimestamp": at,
                        "notification": {}, "statusType": "success", "lastEventTimestamp": at})
                })
                .collect();
            serde_json::json!({ "stages": stages })
        } else if let Some(rest) = path.strip_prefix(&format!("{STAGING}/")) {
            match rest.split_once('/') {
                None => serde_json::json!({"batch": {"displayName": rest, "batchId": rest,
                    "batchType": "simple-batch", "batchContentType": "images",
                    "createdDate": at, "expiryDate": at}}),
                Some((_, "list")) => {
                    serde_json::json!({"filesMetadata": [], "nextPageToken": null})
                }
                _ => return Ok(HttpResponse::json(404, "{}")),
            }
        } else {
            return Ok(HttpResponse::json(404, "{}"));
        };
        Ok(HttpResponse::json(200, body.to_string()))
    }
}

#[test]
fn stages_are_found_by_id_then_name_then_batch_name() {
    let (p, e) = ("j-processing", "j-export");
    // (stages, wanted, expected batches); the case where names differ from ids in text and
    // case is `the_export_stage_is_found_when_its_name_is_not_its_id`.
    type Stages = Vec<(&'static str, &'static str, Vec<&'static str>)>;
    let cases: Vec<(Stages, &[&str], Vec<&str>)> = vec![
        // Ids equal to the word, as our sandbox names them.
        (
            vec![
                ("processing", "processing", vec![p]),
                ("export", "export", vec![e]),
            ],
            &["export"],
            vec![e],
        ),
        // The id wins over another stage's name.
        (
            vec![
                ("export", "Packaging", vec!["by-id"]),
                ("s2", "EXPORT", vec!["by-name"]),
            ],
            &["export"],
            vec!["by-id"],
        ),
        // Neither id nor name says it: the batch name does (ignoring case), also past a
        // stage found by name without output batches.
        (
            vec![("s-1", "export", vec![]), ("s-2", "Archiving", vec![e])],
            &["EXPORT"],
            vec![e],
        ),
        // Asked twice, or two stages writing one batch: listed once.
        (
            vec![
                ("a", "Processing", vec!["j-out"]),
                ("b", "Export", vec!["j-out", e]),
            ],
            &["processing", "export"],
            vec!["j-out", e],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (stages, wanted, expected) in cases {
        let api = api_with(stages_service(stages.clone(), false));
        let report = Exporter::new(&api, dir.path())
            .stages(wanted.iter().copied())
            .job("j")
            .unwrap();
        assert_eq!(report.batches, expected, "{wanted:?} in {stages:?}");
    }
}

#[test]
fn no_batch_found_lists_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let stages = vec![
        ("j-processing", "Processing", vec!["j-processing"]),
        ("j-export", "Export", vec![]),
    ];
    let api = api_with(stages_service(stages, true));
    let err = Exporter::new(&api, dir.path())
        .job("j")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("job j (the job failed) has no output batch from stage export")
            && err.contains(r#"j-processing ("Processing") -> j-processing"#)
            && err.contains(r#"j-export ("Export") -> no output batch"#),
        "{err}"
    );
    let api = api_with(stages_service(vec![], false));
    let err = Exporter::new(&api, dir.path()).job("j").unwrap_err();
    assert!(err.to_string().ends_with("its stages: none"), "{err}");
}
