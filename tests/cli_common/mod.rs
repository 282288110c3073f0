//! Shared by the `cli_*` tests: an in-process sandbox, data staged in it, and a way to run
//! the built `rfbatch` binary against it.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use roboflow_batch::BatchApi;
use roboflow_batch::model::JobStartRequest;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::wait::WaitOptions;

/// A distinctive key: if it shows up in any output, something leaked it.
#[path = "../vary_common/mod.rs"]
pub mod vary;

pub const KEY: &str = "rfbk-Zq7xK29vLmP4-distinctive";
pub const WORKSPACE: &str = "acme";

pub struct Env {
    pub sandbox: Sandbox,
    pub api: BatchApi,
}

/// A sandbox on 127.0.0.1:0 with [`KEY`], fast jobs and no indexing delay.
pub fn sandbox() -> Env {
    let sandbox = Sandbox::start(vary::config(
        SandboxConfig::default()
            .api_key(KEY)
            .workspace(WORKSPACE)
            .job_speed(1000.0)
            .job_images_per_task(2)
            .indexing_delay(Duration::ZERO),
    ))
    .expect("sandbox starts");
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(KEY)
        .build()
        .expect("client");
    Env { sandbox, api }
}

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Fails with both streams shown unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn ok(self) -> Run {
        self.expect_code(0)
    }

    /// stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    /// stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{}", self.stdout))
            })
            .collect()
    }

    /// stderr as the one JSON error object that `--json` prints.
    pub fn json_error(&self) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}):\n{}", self.stderr));
        v["error"].clone()
    }
}

/// Runs `rfbatch ARGS` with the given environment only (no inherited Roboflow variables).
pub fn rfbatch_env(vars: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfbatch"));
    for v in [
        "ROBOFLOW_API_KEY",
        "API_BASE_URL",
        "ROBOFLOW_WORKSPACE",
        "RFBATCH_RETRIES",
        "ROBOFLOW_API_REQUEST_TIMEOUT",
        "ROBOFLOW_REGION",
        "ROBOFLOW_ENVIRONMENT",
        "PROJECT",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::null());
    let out = cmd.output().expect("rfbatch runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `rfbatch ARGS` against the sandbox, the key and URL given in the environment.
pub fn rfbatch(env: &Env, args: &[&str]) -> Run {
    rfbatch_env(
        &[
            ("ROBOFLOW_API_KEY", KEY),
            ("API_BASE_URL", env.sandbox.base_url()),
        ],
        args,
    )
}

/// The header of a PNG of `w` x `h`: enough for the sandbox, which reads only headers.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v
}

/// Stages `n` images in `batch` by single-image uploads.
pub fn stage_images(api: &BatchApi, batch: &str, n: u32) {
    for i in 0..n {
        api.upload_image(batch, &format!("img-{i}.png"), &png(10 + i, 20), None)
            .expect("upload");
    }
}

/// Runs `image-stats` over `batch` as `job` and waits for it to finish.
pub fn run_job(api: &BatchApi, job: &str, batch: &str) {
    api.start_job(job, &JobStartRequest::images(batch, "image-stats"), None)
        .expect("job starts");
    let done = api
        .wait_for_job(
            job,
            &WaitOptions::default()
                .poll_interval(Duration::from_millis(50))
                .max_interval(Duration::from_millis(200))
                .timeout(Duration::from_secs(60)),
            |_| {},
        )
        .expect("job ends");
    assert!(
        done.last.expect("a poll").state.is_terminal(),
        "{:?}",
        done.end
    );
}
