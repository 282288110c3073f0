//! `upload images`, `upload videos`, `run` (including a re-run after being killed part-way)
//! and `bench upload`, end to end against the sandbox.

mod cli_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_common::{KEY, WORKSPACE, rfbatch, rfbatch_env};
use roboflow_batch::BatchApi;
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig};
use roboflow_batch::testdata::ImageSet;

const FAST: [&str; 4] = ["--poll-interval", "0.1", "--max-poll-interval", "0.3"];

fn images(dir: &Path, n: usize) {
    ImageSet::new(n).write_to(dir).expect("images written");
}

fn start(config: SandboxConfig) -> (Sandbox, BatchApi) {
    let sandbox = Sandbox::start(cli_common::vary::config(
        config
            .api_key(KEY)
            .workspace(WORKSPACE)
            .indexing_delay(Duration::ZERO),
    ))
    .unwrap();
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(KEY)
        .build()
        .unwrap();
    (sandbox, api)
}

fn vars(sandbox: &Sandbox) -> [(&'static str, String); 2] {
    [
        ("ROBOFLOW_API_KEY", KEY.to_string()),
        ("API_BASE_URL", sandbox.base_url().to_string()),
    ]
}

fn run_with(sandbox: &Sandbox, args: &[&str]) -> cli_common::Run {
    let v = vars(sandbox);
    let v: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    rfbatch_env(&v, args)
}

#[test]
fn upload_images_then_again_sends_nothing() {
    let env = cli_common::sandbox();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 40);
    let journal = tmp.path().join("journal");
    let (d, j) = (dir.to_str().unwrap(), journal.to_str().unwrap());

    let first = rfbatch(
        &env,
        &[
            "upload",
            "images",
            d,
            "--batch",
            "photos",
            "--journal-dir",
            j,
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(first["filesUploaded"], 40, "{first}");
    assert_eq!(
        first["method"], "shards",
        "more than 32 images go as shards"
    );
    assert_eq!(first["verification"]["complete"], true, "{first}");
    assert_eq!(env.api.batch_count("photos", None).unwrap(), 40);

    let again = rfbatch(
        &env,
        &[
            "upload",
            "images",
            d,
            "--batch",
            "photos",
            "--journal-dir",
            j,
        ],
    )
    .ok();
    assert!(
        again
            .stdout
            .starts_with("nothing new uploaded to batch photos"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("40 already uploaded before"),
        "{}",
        again.stdout
    );
    let verified = "\nindexed 40 of 40 files (the batch holds 40)";
    assert!(again.stdout.contains(verified), "{}", again.stdout);
    let counts = env.sandbox.ingest_counts("photos");
    assert_eq!(counts.len(), 40);
    assert!(
        counts.values().all(|&n| n == 1),
        "each image indexed once: {counts:?}"
    );
}

#[test]
fn upload_images_reports_bad_files_and_partial_failures() {
    let (sandbox, _api) = start(SandboxConfig::default().max_image_size(3_000));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mixed");
    ImageSet::new(3)
        .file_size(1_000..=2_000)
        .write_to(&dir)
        .unwrap();
    ImageSet::new(2)
        .prefix("big-")
        .file_size(5_000..=6_000)
        .write_to(&dir)
        .unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let run = run_with(
        &sandbox,
        &[
            "upload",
            "images",
            dir.to_str().unwrap(),
            "--batch",
            "mixed",
            "--no-journal",
        ],
    )
    .expect_code(8);
    assert!(
        run.stdout.contains("skipped") && run.stdout.contains("empty.png"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("failed big-"),
        "the oversize files are named: {}",
        run.stdout
    );
    assert!(run.stderr.contains("did not make it"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: run the same command again"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_skipped_for_its_size_makes_upload_and_run_exit_8_naming_it() {
    let (sandbox, _api) = start(SandboxConfig::default().job_speed(1000.0));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 3);
    // Over the 20 MiB limit, without writing 20 MiB: sparse.
    let huge = std::fs::File::create(dir.join("huge.jpg")).unwrap();
    huge.set_len(20 * 1024 * 1024 + 1).unwrap();
    drop(huge);
    let run = run_with(
        &sandbox,
        &[
            "upload",
            "images",
            dir.to_str().unwrap(),
            "--batch",
            "sizes",
            "--no-journal",
        ],
    )
    .expect_code(8);
    assert!(
        run.stdout.contains("skipped") && run.stdout.contains("huge.jpg: over the size limit"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 files were not sent to batch sizes")
            && run.stderr.contains("huge.jpg")
            && run
                .stderr
                .contains("hint: the service takes images up to 20 MiB"),
        "{}",
        run.stderr
    );

    // `run` processes the others, then ends the same way.
    let out = tmp.path().join("results");
    let mut args = vec![
        "run",
        dir.to_str().unwrap(),
        "--workflow",
        "image-stats",
        "--out",
        out.to_str().unwrap(),
        "--no-journal",
    ];
    args.extend(FAST);
    let run = run_with(&sandbox, &args).expect_code(8);
    assert!(run.stdout.contains("results in"), "{}", run.stdout);
    assert!(run.stdout.contains("skipped"), "{}", run.stdout);
    assert!(run.stderr.contains("huge.jpg"), "{}", run.stderr);
    let results = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 3);
}

#[test]
fn upload_videos() {
    let env = cli_common::sandbox();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a.mp4", "b.mov"] {
        std::fs::write(tmp.path().join(name), vec![7u8; 2048]).unwrap();
    }
    let report = rfbatch(
        &env,
        &[
            "upload",
            "videos",
            tmp.path().to_str().unwrap(),
            "--batch",
            "clips",
            "--no-journal",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(report["filesUploaded"], 2, "{report}");
    assert_eq!(report["method"], "videos");
}

#[test]
fn run_does_the_main_job_and_sums_up() {
    let (sandbox, api) = start(SandboxConfig::default().job_speed(1000.0));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 36);
    let out = tmp.path().join("results");
    let mut args = vec![
        "run",
        dir.to_str().unwrap(),
        "--workflow",
        "image-stats",
        "--out",
        out.to_str().unwrap(),
        "--journal-dir",
        tmp.path().to_str().unwrap(),
    ];
    args.extend(FAST);
    let run = run_with(&sandbox, &args).ok();
    for want in [
        "done",
        "images    36 found, 36 uploaded",
        "job       run-",
        "results in",
    ] {
        assert!(run.stdout.contains(want), "{want:?} in\n{}", run.stdout);
    }
    let results = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 36);
    assert!(
        run.stdout.contains("results.jsonl"),
        "the summary says where: {}",
        run.stdout
    );

    // Again: nothing is uploaded, the same job is found, nothing is downloaded twice.
    args.push("--json");
    let again = run_with(&sandbox, &args).ok().json();
    assert_eq!(again["ingest"]["filesUploaded"], 0, "{again}");
    assert_eq!(again["ingest"]["filesResumed"], 36);
    assert_eq!(again["export"]["downloaded"], 0, "{again}");
    assert_eq!(again["job"]["outcome"], "succeeded");
    // Its requests, by kind and by phase: nothing was uploaded or downloaded again.
    let requests: roboflow_batch::api::RequestCounts =
        serde_json::from_value(again["requests"].clone()).unwrap();
    assert_eq!(requests.get("upload-put"), 0, "{again}");
    assert_eq!(requests.get("download"), 0, "{again}");
    assert!(requests.get("job-status") >= 1, "{again}");
    let phases = &again["phaseRequests"];
    let by_phase: u64 = ["ingest", "job", "export"]
        .iter()
        .map(|p| phases[p].as_u64().unwrap())
        .sum();
    assert_eq!(by_phase, requests.total(), "{again}");
    assert!(run.stdout.contains(" requests"), "{}", run.stdout);
    assert_eq!(api.jobs(None).count(), 1, "the re-run found the same job");
}

#[test]
fn run_with_the_embedded_sandbox_needs_no_account() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rfbatch-results");
    let mut args = vec![
        "run",
        "--sandbox",
        "--sample",
        "12",
        "--workflow",
        "image-stats",
        "--out",
        out.to_str().unwrap(),
        "--journal-dir",
        tmp.path().to_str().unwrap(),
    ];
    args.extend(FAST);
    let run = rfbatch_env(&[], &args).ok();
    assert!(
        run.stdout.contains("images    12 found, 12 uploaded"),
        "{}",
        run.stdout
    );
    let results = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 12);
}

/// Runs `rfbatch run` as a child, kills it (SIGKILL) once `ready` says so, and returns
/// whether it was killed before finishing.
fn kill_when(mut cmd: Command, ready: impl Fn() -> bool) -> bool {
    let mut child = cmd.spawn().expect("rfbatch starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ready() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_command(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfbatch"));
    for v in ["ROBOFLOW_WORKSPACE", "RFBATCH_RETRIES", "ROBOFLOW_REGION"] {
        cmd.env_remove(v);
    }
    cmd.envs(vars(sandbox).iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn run_resumes_after_being_killed_during_the_upload() {
    // Slow PUTs, so the upload is still going when it is killed.
    let faults =
        Faults::seeded(7).put(FaultSettings::default().latency(Duration::from_millis(150)));
    let (sandbox, api) = start(SandboxConfig::default().job_speed(1000.0).faults(faults));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 300);
    let out = tmp.path().join("out");
    let journal = tmp.path().join("journal");
    let mut args = vec![
        "run",
        dir.to_str().unwrap(),
        "--workflow",
        "image-stats",
        "--out",
        out.to_str().unwrap(),
        "--journal-dir",
        journal.to_str().unwrap(),
        "--shard-size",
        "20",
        "--parallel",
        "2",
    ];
    args.extend(FAST);
    let killed = kill_when(run_command(&sandbox, &args), || sandbox.put_count() >= 3);
    assert!(killed, "the first run was killed part-way");
    // PUTs the killed process had fully sent may still be finishing in the sandbox (it
    // sleeps 150 ms before each); a re-run cannot know of those, so wait until they land.
    let mut last = sandbox.put_count();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(400));
        let now = sandbox.put_count();
        if now == last {
            break;
        }
        last = now;
    }
    let puts_before = sandbox.put_count();
    assert!(
        puts_before < 15,
        "killed before the upload ended ({puts_before} of 15 shards)"
    );

    args.push("--json");
    let again = run_with(&sandbox, &args).ok().json();
    assert!(
        again["ingest"]["filesResumed"].as_u64().unwrap() >= 20,
        "{again}"
    );
    assert_eq!(
        again["ingest"]["filesResumed"].as_u64().unwrap()
            + again["ingest"]["filesUploaded"].as_u64().unwrap(),
        300,
        "{again}"
    );
    let batch = again["batchId"].as_str().unwrap();
    let counts = sandbox.ingest_counts(batch);
    assert_eq!(counts.len(), 300, "every image is in the batch");
    assert!(counts.values().all(|&n| n == 1), "none twice: {counts:?}");
    assert_eq!(api.batch_count(batch, None).unwrap(), 300);
    let results = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 300);
}

#[test]
fn ctrl_c_stops_an_upload_cleanly_and_a_rerun_finishes_it() {
    let faults =
        Faults::seeded(3).put(FaultSettings::default().latency(Duration::from_millis(150)));
    let (sandbox, api) = start(SandboxConfig::default().faults(faults));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 200);
    let journal = tmp.path().join("journal");
    let args = [
        "upload",
        "images",
        dir.to_str().unwrap(),
        "--batch",
        "stopped",
        "--journal-dir",
        journal.to_str().unwrap(),
        "--shard-size",
        "10",
        "--parallel",
        "2",
    ];
    let mut cmd = run_command(&sandbox, &args);
    cmd.stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox.put_count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    if !sent.is_ok_and(|s| s.success()) {
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("skipped: no `kill` command to send SIGINT with");
        return;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopping after the work in flight"),
        "{stderr}"
    );
    assert!(stderr.contains("left for the next run"), "{stderr}");
    let stopped_at = sandbox.put_count();
    assert!(
        stopped_at < 20,
        "it stopped early ({stopped_at} of 20 shards)"
    );

    let again = run_with(&sandbox, &args).ok();
    assert!(
        again.stdout.contains("already uploaded before"),
        "{}",
        again.stdout
    );
    let counts = sandbox.ingest_counts("stopped");
    assert_eq!(counts.len(), 200);
    assert!(counts.values().all(|&n| n == 1), "none twice: {counts:?}");
    assert_eq!(api.batch_count("stopped", None).unwrap(), 200);
}

#[test]
fn run_resumes_after_being_killed_during_the_job() {
    // A slow job, so the first run is waiting when it is killed.
    let (sandbox, api) = start(
        SandboxConfig::default()
            .job_speed(40.0)
            .job_images_per_task(10),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 40);
    let out = tmp.path().join("out");
    let mut args = vec![
        "run",
        dir.to_str().unwrap(),
        "--workflow",
        "image-stats",
        "--out",
        out.to_str().unwrap(),
        "--journal-dir",
        tmp.path().to_str().unwrap(),
    ];
    args.extend(FAST);
    let killed = kill_when(run_command(&sandbox, &args), || api.jobs(None).count() > 0);
    assert!(killed);
    let again = run_with(&sandbox, &args).ok();
    assert!(
        again.stdout.contains("40 already there"),
        "{}",
        again.stdout
    );
    assert_eq!(
        api.jobs(None).count(),
        1,
        "the re-run waited for the same job"
    );
    let results = std::fs::read_to_string(out.join("results").join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 40);
}

#[test]
fn bench_upload_measures_a_synthetic_set() {
    let run = rfbatch_env(
        &[],
        &[
            "bench",
            "upload",
            "--synthetic",
            "60",
            "--size-range",
            "1-4",
            "--parallel",
            "2",
            "--json",
        ],
    )
    .ok();
    let out = run.json();
    assert_eq!(out["images"], 60, "{out}");
    assert!(
        out["target"].as_str().unwrap().contains("built-in sandbox"),
        "{out}"
    );
    let r = &out["runs"][0];
    assert!(r["imagesPerSec"].as_f64().unwrap() > 0.0, "{out}");
    assert!(r["putP50Ms"].as_f64().unwrap() >= 0.0, "{out}");
    assert!(
        r["putP99Ms"].as_f64().unwrap() >= r["putP50Ms"].as_f64().unwrap(),
        "{out}"
    );
    if cfg!(target_os = "linux") {
        assert!(r["peakRssMiB"].as_f64().unwrap() > 1.0, "{out}");
    }
    // In text: a table.
    let text = rfbatch_env(
        &[],
        &[
            "bench",
            "upload",
            "--synthetic",
            "60",
            "--size-range",
            "1-4",
            "--parallel",
            "2",
        ],
    )
    .ok();
    assert!(
        text.stdout.contains("images/s") && text.stdout.contains("p99 ms"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_folder_with_nothing_to_upload_is_a_usage_error_with_a_hint() {
    let env = cli_common::sandbox();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), b"not an image").unwrap();
    let run = rfbatch(
        &env,
        &[
            "upload",
            "images",
            empty.to_str().unwrap(),
            "--batch",
            "e",
            "--no-journal",
        ],
    )
    .expect_code(2);
    assert!(
        run.stderr.contains("found no images to upload in") && run.stderr.contains("jpg"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("uploaded"), "{}", run.stdout);

    // Images only in a subfolder: the hint says --recursive.
    let nested = tmp.path().join("nested");
    images(&nested.join("sub"), 2);
    let run = rfbatch(
        &env,
        &[
            "upload",
            "images",
            nested.to_str().unwrap(),
            "--batch",
            "n",
            "--no-journal",
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("add --recursive"), "{}", run.stderr);

    // `run` stops there too, before any job.
    let out = tmp.path().join("out");
    let run = rfbatch(
        &env,
        &[
            "run",
            empty.to_str().unwrap(),
            "--workflow",
            "image-stats",
            "--out",
            out.to_str().unwrap(),
            "--no-journal",
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("found no images"), "{}", run.stderr);
    assert_eq!(env.api.jobs(None).count(), 0, "no job was started");
}

#[test]
fn run_says_how_to_start_without_an_account() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let common = ["--workflow", "image-stats", "--out", out];
    // No key and no --sandbox: the hint names --sandbox.
    let mut args = vec!["run", "--sample", "3"];
    args.extend(common);
    let run = rfbatch_env(&[], &args).expect_code(2);
    assert!(run.stderr.contains("add --sandbox"), "{}", run.stderr);
    // A sample of nothing is refused before anything happens.
    let mut args = vec!["run", "--sandbox", "--sample", "0"];
    args.extend(common);
    let run = rfbatch_env(&[], &args).expect_code(2);
    assert!(
        run.stderr.contains("--sample must be 1 to"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("generated"), "{}", run.stderr);
}

/// `--dry-run`: the plan, and nothing sent but the workspace lookup (counted by `-v`'s log
/// of every request): for a folder, a references file and `run`, in text and JSON.
#[test]
fn a_dry_run_makes_one_request_and_prints_the_plan() {
    let (sandbox, api) = start(SandboxConfig::default());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    images(&dir, 40);
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let refs = tmp.path().join("refs.jsonl");
    let line =
        |n: usize| format!("{{\"name\":\"{n}.png\",\"url\":\"https://example.com/{n}.png\"}}\n");
    std::fs::write(&refs, (0..5).map(line).collect::<String>()).unwrap();
    let (d, r) = (dir.to_str().unwrap(), refs.to_str().unwrap());
    let requests = |run: &cli_common::Run| -> Vec<String> {
        run.stderr
            .lines()
            .filter(|l| l.contains(" -> "))
            .map(str::to_string)
            .collect()
    };

    let text = run_with(
        &sandbox,
        &["upload", "images", d, "--batch", "plan", "--dry-run", "-v"],
    )
    .ok();
    assert_eq!(requests(&text).len(), 1, "{}", text.stderr);
    assert!(
        requests(&text)[0].contains("GET ") && requests(&text)[0].contains("/?api_key"),
        "{}",
        text.stderr
    );
    assert!(
        text.stdout.contains("plan: 40 files") && text.stdout.contains("as tar shards in 1 units"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("upload-put 1"), "{}", text.stdout);
    assert!(
        text.stdout.contains("skipped ") && text.stdout.contains("empty.png"),
        "{}",
        text.stdout
    );

    // The plan as JSON, with the one request checked: `args` and `--dry-run --json -v`.
    let plan = |args: &[&str]| {
        let run = run_with(&sandbox, &[args, &["--dry-run", "--json", "-v"]].concat()).ok();
        assert_eq!(requests(&run).len(), 1, "{}", run.stderr);
        run.json()
    };
    let p = plan(&["upload", "images", d, "--batch", "plan"]);
    assert_eq!(
        (p["dryRun"].as_bool(), p["filesFound"].as_u64()),
        (Some(true), Some(40))
    );
    assert_eq!(p["unitsPlanned"], 1);
    assert_eq!(p["skipped"][0]["reason"], "empty");
    assert_eq!(
        (
            p["requests"]["upload-url"].as_u64(),
            p["requests"]["workspace"].as_u64()
        ),
        (Some(1), Some(1))
    );

    let p = plan(&[
        "upload",
        "refs",
        r,
        "--batch",
        "plan-refs",
        "--chunk-size",
        "2",
    ]);
    assert_eq!(
        (p["filesFound"].as_u64(), p["unitsPlanned"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(p["requests"]["references-ingest"], 3);

    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let p = plan(&["run", d, "--workflow", "image-stats", "--out", o]);
    assert!(p["jobId"].as_str().unwrap().starts_with("run-"), "{p}");
    assert_eq!(p["ingest"]["filesFound"], 40);
    // The ids stand for what they name: the folder's name and path; the job's request and
    // files. Two folders of the same name never share a batch.
    let (one, two) = (
        tmp.path().join("My Photos!"),
        tmp.path().join("b/My Photos!"),
    );
    images(&one, 3);
    images(&two, 3);
    let ids = |dir: &Path, more: &[&str]| {
        let run = [
            "run",
            dir.to_str().unwrap(),
            "--workflow",
            "image-stats",
            "--out",
            o,
        ];
        let p = plan(&[&run[..], more].concat());
        let id = |k: &str| p[k].as_str().unwrap().to_string();
        (id("batchId"), id("jobId"))
    };
    let (batch, job) = ids(&one, &[]);
    assert!(batch.starts_with("my-photos-"), "{batch}");
    assert_eq!((batch.clone(), job.clone()), ids(&one, &[]));
    assert_ne!(batch, ids(&two, &[]).0);
    assert_ne!(job, ids(&one, &["--max-parallel-tasks", "3"]).1);
    images(&one, 4);
    assert_ne!(job, ids(&one, &[]).1, "a new image, a new job");
    // Nothing was sent: no batch, no job, no results.
    assert!(api.batches(None).next().is_none());
    assert!(!out.exists());
}
