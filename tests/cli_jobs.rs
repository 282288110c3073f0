//! `job start --wait`, `job wait`, `job results` and `batch export` against the sandbox:
//! outcomes and their exit codes, files on disk, re-runs that skip what is complete.

mod cli_common;

use cli_common::{KEY, WORKSPACE, rfbatch, rfbatch_env, sandbox, stage_images};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};

const FAST: [&str; 4] = ["--poll-interval", "0.1", "--max-poll-interval", "0.3"];

fn args<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn start_and_wait_until_done() {
    let env = sandbox();
    stage_images(&env.api, "input", 4);
    let run = rfbatch(
        &env,
        &args(
            &[
                "job",
                "start",
                "--batch",
                "input",
                "--workflow",
                "image-stats",
                "--wait",
                "--json",
            ],
            &FAST,
        ),
    )
    .ok();
    let out = run.json();
    assert_eq!(out["outcome"], "succeeded", "{out}");
    assert_eq!(out["progress"]["state"], "completed");
    assert_eq!(out["progress"]["fraction"], 1.0);
    let job_id = out["progress"]["jobId"].as_str().unwrap().to_string();
    assert!(job_id.starts_with("job-"), "a generated id: {job_id}");
    let batches = out["progress"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["outputBatches"].as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(
        batches.contains(&serde_json::json!(format!("{job_id}-export"))),
        "{out}"
    );

    // Waiting again for a finished job returns at once, in text.
    let again = rfbatch(&env, &args(&["job", "wait", &job_id], &FAST)).ok();
    assert!(
        again.stdout.contains(&format!("job {job_id} completed")),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("output batch"), "{}", again.stdout);
    // Not on a terminal: no bar drawing, but notes on stderr say what happened.
    assert!(!again.stderr.contains('\r'), "{:?}", again.stderr);
}

#[test]
fn a_failed_job_exits_9_with_its_errors() {
    let env = sandbox();
    stage_images(&env.api, "input", 4);
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("params.json");
    std::fs::write(&params, r#"{"fraction": 1.0}"#).unwrap();
    rfbatch(
        &env,
        &[
            "job",
            "start",
            "--batch",
            "input",
            "--workflow",
            "fail-fraction",
            "--job-id",
            "doomed",
            "--max-image-failure-rate",
            "0",
            "--workflow-params",
            params.to_str().unwrap(),
        ],
    )
    .ok();
    let run = rfbatch(&env, &args(&["job", "wait", "doomed"], &FAST)).expect_code(9);
    assert!(
        run.stderr.contains("rfbatch: error: job doomed failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: see rfbatch job logs doomed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("error"),
        "the errors are listed: {}",
        run.stdout
    );
    let json = rfbatch(&env, &args(&["job", "wait", "doomed", "--json"], &FAST)).expect_code(9);
    let out = json.json();
    assert_eq!(out["outcome"], "failed");
    assert!(!out["errors"].as_array().unwrap().is_empty(), "{out}");
    assert_eq!(json.json_error()["class"], "job_failed");
}

#[test]
fn a_wait_that_outlasts_its_timeout_exits_10() {
    // Jobs held at their first stage.
    let sandbox = Sandbox::start(cli_common::vary::config(
        SandboxConfig::default()
            .api_key(KEY)
            .workspace(WORKSPACE)
            .job_speed(0.0),
    ))
    .unwrap();
    let api = roboflow_batch::BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(KEY)
        .build()
        .unwrap();
    stage_images(&api, "input", 2);
    let vars = [
        ("ROBOFLOW_API_KEY", KEY),
        ("API_BASE_URL", sandbox.base_url()),
    ];
    let run = rfbatch_env(
        &vars,
        &args(
            &[
                "job",
                "start",
                "--batch",
                "input",
                "--workflow",
                "image-stats",
                "--job-id",
                "slow",
                "--wait",
                "--timeout",
                "0.5",
            ],
            &FAST,
        ),
    )
    .expect_code(10);
    assert!(run.stderr.contains("still running"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--timeout"),
        "the hint says how to wait longer: {}",
        run.stderr
    );
    // Results of a job that has not finished are refused, naming its state.
    let dir = tempfile::tempdir().unwrap();
    let res = rfbatch_env(
        &vars,
        &[
            "job",
            "results",
            "slow",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert!(
        res.stderr.contains("wait for it to finish"),
        "{}",
        res.stderr
    );
}

#[test]
fn results_land_on_disk_and_a_rerun_skips_them() {
    let env = sandbox();
    stage_images(&env.api, "input", 4);
    rfbatch(
        &env,
        &args(
            &[
                "job",
                "start",
                "--batch",
                "input",
                "--workflow",
                "image-stats",
                "--job-id",
                "stats",
                "--wait",
            ],
            &FAST,
        ),
    )
    .ok();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let out_s = out.to_str().unwrap();

    let first = rfbatch(
        &env,
        &[
            "job",
            "results",
            "stats",
            "--out",
            out_s,
            "--include-processing",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(first["skipped"], 0);
    let downloaded = first["downloaded"].as_u64().unwrap();
    assert!(downloaded >= 2, "{first}");
    // The requests it made, by kind: one download per file, and the listings.
    assert_eq!(
        first["requests"]["download"].as_u64(),
        Some(downloaded),
        "{first}"
    );
    assert!(
        first["requests"]["list-files"].as_u64() >= Some(1),
        "{first}"
    );
    // The aggregated results: one record per image.
    let jsonl = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 4, "{jsonl}");
    for line in jsonl.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(rec.to_string().contains("png"), "{rec}");
    }
    // The export stage's archives were unpacked and removed.
    let unpacked = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["unpacked"].as_u64().unwrap())
        .sum::<u64>();
    assert!(unpacked > 0, "{first}");
    assert!(
        !walk(&out)
            .iter()
            .any(|p| p.ends_with(".tar") || p.ends_with(".tar.gz")),
        "archives are removed after unpacking: {:?}",
        walk(&out)
    );

    // Again: nothing is downloaded twice.
    let again = rfbatch(
        &env,
        &[
            "job",
            "results",
            "stats",
            "--out",
            out_s,
            "--include-processing",
        ],
    )
    .ok();
    assert!(
        again.stdout.starts_with("0 files downloaded"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains(&format!("{downloaded} already there")),
        "{}",
        again.stdout
    );
    // An archive over the limits is refused whole, naming the limit.
    for (flag, said) in [
        ("--max-unpacked-bytes=1024", "more than 1024 bytes"),
        ("--max-unpacked-entries=0", "more than 0 entries"),
    ] {
        let capped = dir.path().join("capped");
        let refused = rfbatch(
            &env,
            &[
                "job",
                "results",
                "stats",
                "--out",
                capped.to_str().unwrap(),
                flag,
            ],
        )
        .expect_code(1);
        assert!(refused.stderr.contains(said), "{}", refused.stderr);
        assert!(
            !walk(&capped)
                .iter()
                .any(|p| !p.ends_with(".export_log.jsonl")),
            "{:?}",
            walk(&capped)
        );
    }
    // Unless asked.
    let forced = rfbatch(
        &env,
        &[
            "job",
            "results",
            "stats",
            "--out",
            out_s,
            "--include-processing",
            "--overwrite",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(forced["downloaded"].as_u64(), Some(downloaded));

    // A part of the export stage with --include-processing: the processing stage, which
    // has no such part, comes whole.
    let mixed = dir.path().join("mixed");
    let with_part = rfbatch(
        &env,
        &[
            "job",
            "results",
            "stats",
            "--out",
            mixed.to_str().unwrap(),
            "--include-processing",
            "--part",
            "archives",
            "--json",
        ],
    )
    .ok()
    .json();
    let parts: std::collections::BTreeSet<&str> = with_part["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["partName"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        ["archives", "results"].into_iter().collect(),
        "{with_part}"
    );
    assert!(mixed.join("results").join("results.jsonl").is_file());

    // One batch, one part, into another folder.
    let other = dir.path().join("one-part");
    let part = rfbatch(
        &env,
        &[
            "batch",
            "export",
            "stats-processing",
            "--out",
            other.to_str().unwrap(),
            "--part",
            "results",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(part["downloaded"], 1);
    assert_eq!(part["files"][0]["fileName"], "results.jsonl");
    assert_eq!(part["requests"]["download"], 1, "{part}");
    assert_eq!(part["requests"]["list-files"], 1, "{part}");
    assert!(other.join("results").join("results.jsonl").is_file());
    // A part the batch does not have is a usage error naming the parts it has.
    let bad = rfbatch(
        &env,
        &[
            "batch",
            "export",
            "stats-processing",
            "--out",
            other.to_str().unwrap(),
            "--part",
            "nope",
        ],
    )
    .expect_code(2);
    assert!(bad.stderr.contains("results"), "{}", bad.stderr);
}

/// Every file under `dir`, as strings.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}
