//! Every `rfbatch` command once against an in-process sandbox, in text and in `--json`.

mod cli_common;
#[allow(dead_code)]
#[path = "common/sandbox.rs"]
mod sandbox_common;
// `sandbox_common` serves files with it, as `super::server`.
#[path = "common/server.rs"]
mod server;

use cli_common::{KEY, WORKSPACE, rfbatch, rfbatch_env, run_job, sandbox, stage_images};
use sandbox_common::{FileServer, Served, png};

#[test]
fn batch_commands_in_text_and_json() {
    let env = sandbox();
    stage_images(&env.api, "photos", 3);

    let text = rfbatch(&env, &["batch", "list"]).ok();
    let header = text.stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("BATCH") && header.contains("EXPIRES"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("photos"), "{}", text.stdout);
    let lines = rfbatch(&env, &["batch", "list", "--json"])
        .ok()
        .json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["batchId"], "photos");
    assert_eq!(lines[0]["batchType"], "simple-batch");

    // Columns as wide as their widest cell, two spaces apart, no trailing spaces.
    assert!(header.starts_with("BATCH   NAME"), "{}", text.stdout);
    assert!(text.stdout.lines().nth(1).unwrap().starts_with("photos  "));
    assert!(
        text.stdout.lines().all(|l| l == l.trim_end()),
        "{}",
        text.stdout
    );
    // Values aligned one column after the longest `key:` (`content:`).
    let show = rfbatch(&env, &["batch", "show", "photos"]).ok();
    assert!(
        show.stdout.starts_with("batch:    photos\n"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("\nitems:    3"), "{}", show.stdout);
    let show = rfbatch(&env, &["batch", "show", "photos", "--json"])
        .ok()
        .json();
    assert_eq!(show["batch"]["batchId"], "photos");
    assert_eq!(show["count"], 3);
    assert!(show["parts"].is_null());

    assert_eq!(
        rfbatch(&env, &["batch", "count", "photos"])
            .ok()
            .stdout
            .trim(),
        "3"
    );
    let count = rfbatch(&env, &["batch", "count", "photos", "--json"])
        .ok()
        .json();
    assert_eq!(
        count,
        serde_json::json!({"batchId": "photos", "partName": null, "count": 3})
    );

    // Files: tab-separated text; JSON lines without signed URLs unless asked.
    let files = rfbatch(&env, &["batch", "files", "photos"]).ok();
    let mut names: Vec<&str> = files
        .stdout
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["img-0.png", "img-1.png", "img-2.png"]);
    // No part: `-`.
    assert!(
        files.stdout.lines().all(|l| l.starts_with("-\t")),
        "{}",
        files.stdout
    );
    let files = rfbatch(
        &env,
        &["batch", "files", "photos", "--json", "--limit", "2"],
    )
    .ok();
    let lines = files.json_lines();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|f| f.get("downloadURL").is_none()),
        "{}",
        files.stdout
    );
    let with_urls = rfbatch(&env, &["batch", "files", "photos", "--json", "--urls"]).ok();
    assert!(
        with_urls
            .json_lines()
            .iter()
            .all(|f| f["downloadURL"].is_string())
    );

    // Shards of a batch filled by single uploads: none, and a note says so.
    let shards = rfbatch(&env, &["batch", "shards", "photos"]).ok();
    assert!(
        shards.stdout.is_empty() && shards.stderr.contains("no shards"),
        "{shards:?}"
    );
    assert!(
        rfbatch(&env, &["batch", "shards", "photos", "--json"])
            .ok()
            .stdout
            .is_empty()
    );
}

#[test]
fn a_job_output_batch_has_parts() {
    let env = sandbox();
    stage_images(&env.api, "input", 4);
    run_job(&env.api, "job-a", "input");

    let parts = rfbatch(&env, &["batch", "parts", "job-a-processing"]).ok();
    assert!(parts.stdout.starts_with("PART"), "{}", parts.stdout);
    let parts = rfbatch(&env, &["batch", "parts", "job-a-processing", "--json"])
        .ok()
        .json_lines();
    assert_eq!(parts[0]["partName"], "results");

    let show = rfbatch(&env, &["batch", "show", "job-a-processing", "--json"])
        .ok()
        .json();
    assert_eq!(show["batch"]["batchType"], "multipart-batch");
    assert_eq!(show["parts"][0]["partName"], "results");
    assert_eq!(show["parts"][0]["count"], 1);

    let count = rfbatch(
        &env,
        &["batch", "count", "job-a-processing", "--part", "results"],
    )
    .ok();
    assert_eq!(count.stdout.trim(), "1");
    let files = rfbatch(
        &env,
        &[
            "batch",
            "files",
            "job-a-processing",
            "--part",
            "results",
            "--json",
        ],
    )
    .ok();
    assert_eq!(files.json_lines()[0]["fileName"], "results.jsonl");
}

#[test]
fn job_commands_in_text_and_json() {
    let env = sandbox();
    stage_images(&env.api, "input", 4);
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("params.json");
    std::fs::write(&params, r#"{"note": "from a file"}"#).unwrap();

    let started = rfbatch(
        &env,
        &[
            "job",
            "start",
            "--batch",
            "input",
            "--workflow",
            "image-stats",
            "--job-id",
            "job-b",
            "--job-name",
            "Nightly",
            "--machine-type",
            "gpu",
            "--max-image-failure-rate",
            "0.5",
            "--aggregation-format",
            "csv",
            "--workflow-params",
            params.to_str().unwrap(),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        started,
        serde_json::json!({"jobId": "job-b", "name": "Nightly", "created": true, "batchId": "input", "workflowId": "image-stats"})
    );
    let done = env
        .api
        .wait_for_job(
            "job-b",
            &roboflow_batch::wait::WaitOptions::default()
                .poll_interval(std::time::Duration::from_millis(50))
                .timeout(std::time::Duration::from_secs(60)),
            |_| {},
        )
        .unwrap();
    assert!(done.is_success(), "{done:?}");
    let done = env.api.job("job-b").unwrap();
    // What was sent is what the options said.
    let def = &done.job.as_ref().unwrap().job_definition;
    assert_eq!(def["computeConfiguration"]["machineType"], "gpu");
    assert_eq!(def["processingSpecification"]["aggregationFormat"], "csv");
    assert_eq!(def["maxImageFailureRate"], 0.5);
    assert_eq!(
        def["processingSpecification"]["workflowParameters"]["note"],
        "from a file"
    );

    let list = rfbatch(&env, &["job", "list"]).ok();
    assert!(
        list.stdout.starts_with("JOB") && list.stdout.contains("job-b"),
        "{}",
        list.stdout
    );
    let list = rfbatch(&env, &["job", "list", "--json"]).ok().json_lines();
    assert_eq!(list[0]["jobId"], "job-b");
    assert_eq!(list[0]["name"], "Nightly");

    let show = rfbatch(&env, &["job", "show", "job-b"]).ok();
    assert!(
        show.stdout.contains("state:") && show.stdout.contains("completed"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("STAGE"), "{}", show.stdout);
    let show = rfbatch(&env, &["job", "show", "job-b", "--json"])
        .ok()
        .json();
    assert_eq!(show["jobId"], "job-b");
    assert_eq!(show["state"], "completed");
    assert_eq!(show["fraction"], 1.0);
    assert_eq!(show["job"]["name"], "Nightly");
    // The processing stage is the one whose output is `<job>-processing` (a stage's name
    // is a display name, which a varied sandbox makes unlike its id).
    let is_processing = |s: &&serde_json::Value| {
        s["outputBatches"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b == "job-b-processing"))
    };
    let processing = show["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(is_processing)
        .unwrap_or_else(|| panic!("no processing stage: {show}"));
    assert_eq!(processing["tasks"]["total"], 2, "{show}");
    assert_eq!(processing["tasks"]["succeeded"], 2, "{show}");

    let stages = rfbatch(&env, &["job", "stages", "job-b", "--json"])
        .ok()
        .json_lines();
    let processing = stages
        .iter()
        .find(is_processing)
        .expect("a processing stage");
    let stage_id = processing["processingStageId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        rfbatch(&env, &["job", "stages", "job-b"])
            .ok()
            .stdout
            .contains("OUTPUT BATCHES")
    );

    let tasks = rfbatch(&env, &["job", "tasks", "job-b", &stage_id, "--json"])
        .ok()
        .json_lines();
    assert_eq!(tasks.len(), 2, "4 images at 2 per task");
    assert!(tasks.iter().all(|t| t["taskId"].is_string()));
    assert!(
        rfbatch(&env, &["job", "tasks", "job-b", &stage_id])
            .ok()
            .stdout
            .starts_with("TASK")
    );

    let logs = rfbatch(&env, &["job", "logs", "job-b", "--json"])
        .ok()
        .json_lines();
    assert!(!logs.is_empty());
    assert!(logs.iter().all(|l| l["severity"].is_string()));
    let info = rfbatch(
        &env,
        &["job", "logs", "job-b", "--severity", "info", "--json"],
    )
    .ok();
    assert!(info.json_lines().iter().all(|l| l["severity"] == "info"));
    let text = rfbatch(&env, &["job", "logs", "job-b", "--limit", "1"]).ok();
    assert_eq!(text.stdout.lines().count(), 1, "{}", text.stdout);

    let restarted = rfbatch(
        &env,
        &[
            "job",
            "restart",
            "job-b",
            "--max-parallel-tasks",
            "3",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(restarted["jobId"], "job-b");
    assert_eq!(restarted["overrides"]["maxParallelTasks"], 3);
    let aborted = rfbatch(&env, &["job", "abort", "job-b"]).ok();
    assert_eq!(aborted.stdout.trim(), "aborted job job-b");
    let aborted = rfbatch(&env, &["job", "abort", "job-b", "--json"])
        .ok()
        .json();
    assert_eq!(aborted["aborted"], true);
    // Nothing to change: no overrides sent.
    run_job(&env.api, "job-r", "input");
    let restarted = rfbatch(&env, &["job", "restart", "job-r", "--json"])
        .ok()
        .json();
    assert!(restarted["overrides"].is_null(), "{restarted}");
    // Options sent as the service names them.
    let mut args = vec![
        "job",
        "start",
        "--batch",
        "input",
        "--workflow",
        "image-stats",
    ];
    args.extend([
        "--job-id",
        "job-m",
        "--metadata-mapping",
        " camera = cam_id",
    ]);
    rfbatch(
        &env,
        &[&args[..], &["--image-outputs-to-save", "crops"]].concat(),
    )
    .ok();
    let job = env.api.job("job-m").unwrap().job.unwrap();
    let spec = &job.job_definition["processingSpecification"];
    let mapping = &spec["imagesMetadataInputsMapping"];
    assert_eq!(mapping, &serde_json::json!({"camera": "cam_id"}));
    assert_eq!(spec["persistImagesOutputs"], true);
}

#[test]
fn upload_refs_from_a_file_and_a_url() {
    let env = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    std::fs::write(
        &refs,
        "{\"name\":\"a.jpg\",\"url\":\"https://example.com/a.jpg?sig=1\"}\n\
         {\"name\":\"b.jpg\",\"url\":\"https://example.com/b.jpg?sig=2\"}\n\
         {\"name\":\"c.jpg\",\"url\":\"https://example.com/c.jpg?sig=3\"}\n",
    )
    .unwrap();
    let path = refs.to_str().unwrap();

    // Three references in chunks of two: two requests, ingest ids suffixed by chunk.
    let run = rfbatch_env(
        &[
            ("ROBOFLOW_API_KEY", KEY),
            ("API_BASE_URL", env.sandbox.base_url()),
            ("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST", "2"),
        ],
        &[
            "upload",
            "refs",
            path,
            "--batch",
            "remote",
            "--ingest-id",
            "ing",
            "--json",
            "--no-verify",
        ],
    )
    .ok()
    .json();
    assert_eq!(run["batchId"], "remote");
    assert_eq!(run["method"], "references");
    assert_eq!(run["ingestIds"], serde_json::json!(["ing-0", "ing-1"]));
    assert_eq!(
        (run["filesUploaded"].as_u64(), run["unitsUploaded"].as_u64()),
        (Some(3), Some(2))
    );

    // The same again: the service recognises the repeat.
    let again = rfbatch_env(
        &[
            ("ROBOFLOW_API_KEY", KEY),
            ("API_BASE_URL", env.sandbox.base_url()),
            ("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST", "2"),
        ],
        &[
            "upload",
            "refs",
            path,
            "--batch",
            "remote",
            "--ingest-id",
            "ing",
            "--no-verify",
        ],
    )
    .ok();
    assert!(
        again
            .stdout
            .contains("sent 0 references to batch remote in 2 requests; 3 already sent before"),
        "{}",
        again.stdout
    );

    // Without an ingest id, one derived from the batch and the references: run twice,
    // the second run's chunks are all repeats.
    let env_vars = [
        ("ROBOFLOW_API_KEY", KEY),
        ("API_BASE_URL", env.sandbox.base_url()),
        ("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST", "2"),
    ];
    let args = [
        "upload",
        "refs",
        path,
        "--batch",
        "derived",
        "--json",
        "--no-verify",
    ];
    let first = rfbatch_env(&env_vars, &args).ok().json();
    let second = rfbatch_env(&env_vars, &args).ok().json();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(v["ingestIds"].clone()).unwrap()
    };
    assert_eq!(ids(&first).len(), 2);
    assert!(ids(&first)[0].starts_with("refs-") && ids(&first)[0].ends_with("-0"));
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(
        (
            first["filesUploaded"].as_u64(),
            first["filesResumed"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(
        (
            second["filesUploaded"].as_u64(),
            second["filesResumed"].as_u64()
        ),
        (Some(0), Some(3))
    );
    // One chunk carries the id itself, given or derived.
    for (given, batch) in [(Some("mine"), "one-given"), (None, "one-derived")] {
        let mut args = vec![
            "upload",
            "refs",
            path,
            "--batch",
            batch,
            "--json",
            "--no-verify",
        ];
        if let Some(id) = given {
            args.extend(["--ingest-id", id]);
        }
        let one = rfbatch(&env, &args).ok().json();
        let id = one["ingestIds"][0].as_str().unwrap().to_string();
        match given {
            Some(g) => assert_eq!(id, g),
            None => assert!(id.starts_with("refs-") && id.len() == 25, "{id}"),
        }
    }

    let url = rfbatch(
        &env,
        &[
            "upload",
            "refs",
            "https://example.com/refs.jsonl",
            "--batch",
            "remote2",
            "--json",
        ],
    )
    .ok()
    .json();
    // Its names are not known here: one request, nothing to verify.
    assert_eq!(
        (url["unitsUploaded"].as_u64(), url["filesUploaded"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(url["ingestIds"][0].is_string());
    assert!(url.get("verification").is_none(), "{url}");
}

#[test]
fn upload_refs_verifies_what_the_service_fetched() {
    let env = sandbox();
    let files = FileServer::loopback(vec![
        ("/a.png", Served::ok("image/png", png(3, 4))),
        ("/b.png", Served::ok("image/png", png(5, 6))),
        ("/c.png", Served::ok("image/png", png(7, 8))),
    ]);
    let dir = tempfile::tempdir().unwrap();
    // A references file naming `<n>.png` at the file server for each of `names`.
    let refs_file = |file: &str, names: &[&str]| {
        let path = dir.path().join(file);
        let lines: String = names
            .iter()
            .map(|n| {
                format!(
                    "{{\"name\":\"{n}.png\",\"url\":\"{}\"}}\n",
                    files.url(&format!("/{n}.png"))
                )
            })
            .collect();
        std::fs::write(&path, lines).unwrap();
        path
    };
    let refs = refs_file("refs.jsonl", &["a", "b", "c", "gone"]);
    let vars = [
        ("ROBOFLOW_API_KEY", KEY),
        ("API_BASE_URL", env.sandbox.base_url()),
        ("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST", "3"),
    ];
    let path = refs.to_str().unwrap();

    // The one the file server does not have is named, with the service's reason and the
    // URL without its signature; the exit is a partial failure (8).
    let run = rfbatch_env(
        &vars,
        &["upload", "refs", path, "--batch", "fetched", "--json"],
    )
    .expect_code(8);
    let doc = run.json();
    assert_eq!(doc["verification"]["indexed"], 3, "{doc}");
    assert_eq!(doc["verification"]["complete"], false, "{doc}");
    let failed = doc["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{doc}");
    assert_eq!(failed[0]["name"], "gone.png");
    assert_eq!(failed[0]["path"], format!("{}/gone.png", files.base));
    // Alone in its chunk, it failed the chunk's whole shard (named in the shard's reason,
    // or, when the service names no shards for the ingest, in its list of failed files).
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("HTTP 404"), "{doc}");
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
    assert!(run.stderr.contains("new --ingest-id"), "{}", run.stderr);
    assert_eq!(env.api.batch_count("fetched", None).unwrap(), 3);

    // In text, again: the chunks are repeats, and verification says the same.
    let again = rfbatch_env(&vars, &["upload", "refs", path, "--batch", "fetched"]).expect_code(8);
    assert!(
        again
            .stdout
            .contains("fetched and indexed 3 of 4 files, 1 failed"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("failed gone.png"), "{}", again.stdout);
    assert!(
        again.stdout.contains("4 already sent before"),
        "{}",
        again.stdout
    );
    assert_eq!(files.hits("/a.png"), 1, "fetched once");

    // Every reference failing is said plainly, not as `0 of 0 files`.
    let lost = refs_file("lost.jsonl", &["x", "y"]);
    let none = rfbatch_env(
        &vars,
        &["upload", "refs", lost.to_str().unwrap(), "--batch", "lost"],
    )
    .expect_code(8);
    assert!(
        none.stdout
            .contains("none of the 2 files was fetched and indexed: all 2 failed"),
        "{}",
        none.stdout
    );
    assert!(!none.stdout.contains("0 of 0"), "{}", none.stdout);
    assert!(none.stdout.contains("failed x.png"), "{}", none.stdout);
}

#[test]
fn completions_for_every_shell() {
    // Generating builds the whole command tree, which a debug build of clap checks for
    // consistency (`Command::debug_assert`) on the way.
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = rfbatch_env(&[], &["completions", shell]).ok();
        assert!(run.stdout.contains("rfbatch"), "{shell}");
        assert!(
            run.stdout.contains("upload"),
            "{shell}: subcommands are completed"
        );
    }
    rfbatch_env(&[], &["completions", "tcsh"]).expect_code(2);
}

#[test]
fn the_workspace_option_is_used() {
    let env = sandbox();
    stage_images(&env.api, "photos", 1);
    rfbatch(
        &env,
        &["batch", "count", "photos", "--workspace", WORKSPACE],
    )
    .ok();
    // Another workspace's batch is not found.
    let other = rfbatch(&env, &["batch", "count", "photos", "--workspace", "other"]);
    assert_eq!(other.code, 4, "{other:?}");
}

#[test]
fn roboql_ingests_and_trt_compilations_start() {
    let env = sandbox();
    let roboql = rfbatch(
        &env,
        &[
            "upload",
            "roboql",
            "tag:cars",
            "--batch",
            "cars",
            "--ingest-id",
            "cars-1",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(roboql["batchId"], "cars");
    assert!(
        rfbatch(&env, &["upload", "roboql", "tag:cars", "--batch", "cars2"])
            .ok()
            .stdout
            .contains("accepted")
    );
    // An empty query is refused before anything is sent.
    rfbatch(&env, &["upload", "roboql", " ", "--batch", "cars"]).expect_code(2);

    let trt = rfbatch(
        &env,
        &[
            "job",
            "trt-compile",
            "--model-id",
            "proj/3",
            "--device",
            "nvidia-t4",
            "--device",
            "nvidia-l4",
            "--json",
        ],
    )
    .ok()
    .json();
    let id = trt["jobId"].as_str().unwrap();
    assert!(id.starts_with("job-"), "{trt}");
    let job = env.api.job(id).unwrap();
    let def = &job.job.unwrap().job_definition;
    assert_eq!(def["type"], "trt-compilation-v1", "{def}");
    assert_eq!(
        def["compilationDevices"].as_array().unwrap().len(),
        2,
        "{def}"
    );
    rfbatch(
        &env,
        &["job", "trt-compile", "--model-id", "p/1", "--device", "tpu"],
    )
    .expect_code(2);
}

/// `rfbatch sandbox` with `extra` options, in a child process, and its standard output.
fn standalone_sandbox(
    dir: &std::path::Path,
    extra: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rfbatch"))
        .args(["sandbox", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env_remove("RFBATCH_SANDBOX_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// `rfbatch sandbox` says how to reach it; a key it was given is never shown.
#[test]
fn the_standalone_sandbox_prints_how_to_use_it() {
    use std::io::BufRead;
    let first_lines = |extra: &[&str]| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, mut out) = standalone_sandbox(dir.path(), extra);
        let mut lines = Vec::new();
        let want = if extra.is_empty() { 3 } else { 2 };
        for _ in 0..want {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            lines.push(l.trim_end().to_string());
        }
        let _ = child.kill();
        let _ = child.wait();
        // Whatever else it printed before it was stopped.
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        lines.extend(rest.lines().map(str::to_string));
        lines
    };
    let lines = first_lines(&[]);
    assert!(
        lines[0].starts_with("listening on http://127.0.0.1:"),
        "{lines:?}"
    );
    let url = lines[0].trim_start_matches("listening on ");
    assert_eq!(
        lines[2],
        format!("try: API_BASE_URL={url} ROBOFLOW_API_KEY=sandbox-key rfbatch batch list")
    );
    let lines = first_lines(&["--api-key", "given-key-0123456789"]);
    assert!(lines.iter().all(|l| !l.contains("given-key")), "{lines:?}");
}

/// `rfbatch sandbox --latency-ms N` delays every answer by N ms.
#[test]
fn the_standalone_sandbox_simulates_distance() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = standalone_sandbox(dir.path(), &["--latency-ms", "250"]);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let waits: Vec<std::time::Duration> = (0..2)
        .map(|_| {
            let t = std::time::Instant::now();
            let r = sandbox_common::http("GET", &format!("{url}/?api_key=sandbox-key"), &[], None);
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        waits
            .iter()
            .all(|w| *w >= std::time::Duration::from_millis(250)),
        "{waits:?}"
    );
}

/// `rfbatch sandbox --vary SEED --record FILE` says it varies, and records what it receives
/// without the key.
#[test]
fn the_standalone_sandbox_varies_and_records() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("requests.jsonl");
    let record_arg = record.to_str().unwrap();
    let (mut child, mut out) =
        standalone_sandbox(dir.path(), &["--vary", "3", "--record", record_arg]);
    let mut lines = Vec::new();
    while lines.last().is_none_or(|l: &String| !l.starts_with("try:")) {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 {
            break;
        }
        lines.push(l.trim_end().to_string());
    }
    assert!(
        lines.contains(&"answers varied with seed 3 (--vary)".to_string()),
        "{lines:?}"
    );
    let url = lines[0].trim_start_matches("listening on ");
    let answer = sandbox_common::http("GET", &format!("{url}/?api_key=sandbox-key"), &[], None);
    assert_eq!(answer.status, 200);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&record).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["route"], "GET /");
    assert_eq!(line["query"], serde_json::json!(["api_key"]));
    assert!(!text.contains("sandbox-key"), "{text}");
}
