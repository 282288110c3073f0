//! `rfbatch upload images s3://…` against moto (the S3 emulator) and the sandbox, which
//! fetches every signed reference: each object indexed once, a re-run sends nothing new,
//! bad credentials fail before anything reaches the service, and no secret is printed.
//!
//! `scripts/cloud-emulators.sh` installs moto; without it the tests say so and skip.

mod cli_common;
mod cloud_support;

use std::time::Duration;

use cli_common::{KEY, Run, rfbatch_env};
use cloud_support::{Emulator, put, tiny_png};
use roboflow_batch::transport::{HttpRequest, Method, Transport, UreqTransport};

const SECRET: &str = "moto-secret-cli-0123456789";

fn aws_vars<'a>(sandbox_url: &'a str, moto_url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ROBOFLOW_API_KEY", KEY),
        ("API_BASE_URL", sandbox_url),
        ("AWS_ACCESS_KEY_ID", "AKIAMOTOCLIEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_ENDPOINT_URL", moto_url),
        ("AWS_REGION", "us-east-1"),
    ]
}

fn assert_no_secret(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(SECRET) && !text.contains(KEY),
            "a secret leaked:\n{text}"
        );
    }
}

#[test]
fn upload_images_from_an_s3_bucket() {
    let Some(moto) = Emulator::moto(false) else {
        return;
    };
    let env = cli_common::sandbox();
    let base = moto.base_url();
    let t = UreqTransport::new();
    let made = t
        .send(HttpRequest::new(Method::Put, format!("{base}/cli-bucket")))
        .unwrap();
    assert_eq!(made.status, 200);
    for i in 0..12 {
        put(
            &format!("{base}/cli-bucket/photos/p-{i:02}.png"),
            &tiny_png(i),
            &[],
        );
    }
    put(
        &format!("{base}/cli-bucket/photos/notes.txt"),
        b"not an image",
        &[],
    );
    // Named like an image, but text: the service fetches it and fails it.
    put(
        &format!("{base}/cli-bucket/photos/fake.png"),
        b"not an image either",
        &[],
    );
    put(
        &format!("{base}/cli-bucket/other/x.png"),
        &tiny_png(99),
        &[],
    );
    let vars = aws_vars(env.sandbox.base_url(), &base);

    let run = rfbatch_env(
        &vars,
        &[
            "upload",
            "images",
            "s3://cli-bucket/photos/*.png",
            "--batch",
            "from-s3",
            "--json",
            "-v",
        ],
    )
    // Verified by default: the fake is reported with the service's reason (exit 8, partial).
    .expect_code(8);
    assert_no_secret(&run);
    let report = run.json();
    assert_eq!(report["filesUploaded"], 13, "{report}");
    assert_eq!(report["method"], "references");
    assert!(
        !report["ingestIds"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["verification"]["indexed"], 12, "{report}");
    assert_eq!(report["verification"]["complete"], false, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["name"], "fake.png");
    assert_eq!(
        failed[0]["path"],
        format!("{base}/cli-bucket/photos/fake.png")
    );
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unsupported-file-type"),
        "{report}"
    );
    assert!(run.stderr.contains("new --ingest-id"), "{}", run.stderr);
    assert_eq!(env.api.batch_count("from-s3", None).unwrap(), 12);
    let counts = env.sandbox.ingest_counts("from-s3");
    assert_eq!(counts.len(), 12, "{counts:?}");
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");

    // Again: the service recognises every chunk; nothing new is ingested, and the
    // verification still names the fake.
    let again = rfbatch_env(
        &vars,
        &[
            "upload",
            "images",
            "s3://cli-bucket/photos/*.png",
            "--batch",
            "from-s3",
        ],
    )
    .expect_code(8);
    assert!(
        again
            .stdout
            .contains("fetched and indexed 12 of 13 files, 1 failed"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("failed fake.png"), "{}", again.stdout);
    assert!(
        again.stdout.contains("13 already sent before"),
        "{}",
        again.stdout
    );
    assert_no_secret(&again);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        env.sandbox
            .ingest_counts("from-s3")
            .values()
            .all(|&c| c == 1)
    );
}

#[test]
fn bad_s3_credentials_fail_before_the_service() {
    // IAM mode: moto checks every signature and knows no access key.
    let Some(moto) = Emulator::moto(true) else {
        return;
    };
    let env = cli_common::sandbox();
    let base = moto.base_url();
    let vars = aws_vars(env.sandbox.base_url(), &base);
    let run = rfbatch_env(
        &vars,
        &[
            "upload",
            "images",
            "s3://nobody/photos/",
            "--batch",
            "never",
            "-v",
        ],
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("rfbatch: error: S3"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: check the bucket URL"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run);
    // (A missing batch is a 404 or, from a varied sandbox, a 400: the listing decides.)
    let batches: Vec<String> = env
        .api
        .batches(None)
        .map(|b| b.expect("listing").batch_id)
        .collect();
    assert!(
        !batches.contains(&"never".to_string()),
        "nothing reached the service"
    );
}

#[test]
fn every_bucket_scheme_the_library_reads_is_a_bucket_to_the_cli() {
    // No credentials in a bare environment: each URL must reach its store's own check (not be
    // taken for a local path), and nothing is sent.
    let home = tempfile::tempdir().unwrap();
    for (url, store) in [
        ("gcs://bucket/photos/", "GCS"),
        ("s3a://bucket/photos/", "S3"),
        ("abfss://box@acct.dfs.core.windows.net/photos/", "Azure"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rfbatch"))
            .env_clear()
            .env("HOME", home.path())
            .env("ROBOFLOW_API_KEY", KEY)
            .env("API_BASE_URL", "http://127.0.0.1:9")
            .env("ROBOFLOW_WORKSPACE", "ws")
            .args(["upload", "images", url, "--batch", "b"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains(&format!("rfbatch: error: {store}: no credentials")),
            "{url}: {stderr}"
        );
    }
}
