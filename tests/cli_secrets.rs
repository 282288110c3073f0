//! The API key never appears in anything `rfbatch` prints: not in results, notes, `-v`
//! request logs, errors, JSON errors or help, whichever way the key is given.

mod cli_common;

use cli_common::{KEY, Run, rfbatch_env, run_job, sandbox, stage_images};

/// A wrong key that is just as distinctive: a rejected key must not be echoed either.
const WRONG: &str = "rfbk-Wr0ngK3y-8hTq2-distinctive";

fn assert_clean(run: &Run, what: &str) {
    for secret in [KEY, WRONG] {
        // Also a tell-tale fragment, in case the key were cut or re-encoded.
        let fragment = &secret[..12];
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret) && !text.contains(fragment),
                "{what}: the key appears in {stream}:\n{text}"
            );
        }
    }
}

/// No signed URL's signature either (the sandbox's `token=` is 64 hex digits), unless the
/// command was asked for the URLs (`batch files --urls`).
fn assert_no_signature(run: &Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for (i, _) in text.match_indices("token=") {
            let value: String = text[i + 6..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            assert!(
                value.len() < 16,
                "{what}: a signed URL's token appears in {stream}:\n{text}"
            );
        }
    }
}

#[test]
fn no_command_prints_the_key() {
    let env = sandbox();
    stage_images(&env.api, "photos", 3);
    run_job(&env.api, "job-s", "photos");
    let stage = env
        .api
        .job_stages("job-s")
        .unwrap()
        .into_iter()
        .find(|s| s.processing_stage_name == "processing")
        .unwrap()
        .processing_stage_id;
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    std::fs::write(
        &refs,
        "{\"name\":\"a.jpg\",\"url\":\"https://example.com/a.jpg\"}\n",
    )
    .unwrap();
    let refs = refs.to_str().unwrap().to_string();
    let out = dir.path().join("out").to_str().unwrap().to_string();
    let photos = dir.path().join("photos");
    roboflow_batch::testdata::ImageSet::new(5)
        .write_to(&photos)
        .unwrap();
    let photos = photos.to_str().unwrap().to_string();

    let commands: Vec<Vec<&str>> = vec![
        vec!["upload", "images", &photos, "--batch", "up", "--no-journal"],
        vec![
            "run",
            &photos,
            "--workflow",
            "image-stats",
            "--out",
            &out,
            "--no-journal",
            "--poll-interval",
            "0.1",
        ],
        vec!["bench", "upload", &photos, "--parallel", "2"],
        vec!["upload", "roboql", "tag:cars", "--batch", "cars"],
        vec![
            "job",
            "trt-compile",
            "--model-id",
            "p/3",
            "--device",
            "nvidia-t4",
        ],
        vec!["batch", "list"],
        vec!["batch", "show", "photos"],
        vec!["batch", "show", "job-s-processing"],
        vec!["batch", "count", "photos"],
        vec!["batch", "shards", "photos"],
        vec!["batch", "parts", "job-s-processing"],
        vec!["batch", "files", "photos", "--urls"],
        vec!["batch", "files", "job-s-export", "--urls"],
        vec!["job", "list"],
        vec!["job", "show", "job-s"],
        vec!["job", "stages", "job-s"],
        vec!["job", "tasks", "job-s", &stage],
        vec!["job", "logs", "job-s"],
        vec![
            "job",
            "start",
            "--batch",
            "photos",
            "--workflow",
            "image-stats",
            "--job-id",
            "job-t",
        ],
        vec!["job", "restart", "job-t", "--max-parallel-tasks", "2"],
        vec!["job", "abort", "job-t"],
        vec![
            "upload",
            "refs",
            &refs,
            "--batch",
            "remote",
            "--ingest-id",
            "i1",
        ],
        vec!["job", "wait", "job-s", "--poll-interval", "0.1"],
        vec![
            "job",
            "results",
            "job-s",
            "--out",
            &out,
            "--include-processing",
        ],
        vec![
            "batch",
            "export",
            "job-s-processing",
            "--out",
            &out,
            "--overwrite",
        ],
        vec![
            "job",
            "start",
            "--batch",
            "photos",
            "--workflow",
            "image-stats",
            "--wait",
            "--poll-interval",
            "0.1",
        ],
        // Error paths.
        vec!["batch", "show", "no-such-batch"],
        vec!["batch", "count", "Not Valid"],
        vec!["job", "show", "no-such-job"],
        vec![
            "job",
            "start",
            "--batch",
            "photos",
            "--workflow",
            "fail-fraction",
            "--job-id",
            "job-s",
        ],
        vec!["batch", "count"],
        vec!["batch", "list", "--limit", "x"],
        vec!["job", "restart"],
        vec!["completions", "bash"],
        vec!["--help"],
        vec!["batch", "list", "--help"],
        vec!["job", "start", "--help"],
    ];
    let url = env.sandbox.base_url().to_string();
    let mut runs = 0;
    for args in &commands {
        for extra in [&[][..], &["-v"], &["-vv", "--json"]] {
            let mut full: Vec<&str> = args.clone();
            full.extend_from_slice(extra);
            // The key from the environment.
            let run = rfbatch_env(&[("ROBOFLOW_API_KEY", KEY), ("API_BASE_URL", &url)], &full);
            assert_clean(&run, &format!("{full:?} (key in env)"));
            if !full.contains(&"--urls") {
                assert_no_signature(&run, &format!("{full:?}"));
            }
            // The key on the command line.
            let mut with_flag = full.clone();
            with_flag.extend_from_slice(&["--api-key", KEY, "--api-url", &url]);
            let run = rfbatch_env(&[], &with_flag);
            assert_clean(&run, &format!("{full:?} (key as --api-key)"));
            // A wrong key, which the service rejects.
            let run = rfbatch_env(
                &[("ROBOFLOW_API_KEY", WRONG), ("API_BASE_URL", &url)],
                &full,
            );
            assert_clean(&run, &format!("{full:?} (wrong key)"));
            runs += 3;
        }
    }
    assert!(runs >= 200, "{runs} runs");
}

#[test]
fn verbose_logs_requests_without_the_key() {
    let env = sandbox();
    stage_images(&env.api, "photos", 1);
    let url = env.sandbox.base_url().to_string();
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY), ("API_BASE_URL", &url)],
        &["batch", "count", "photos", "-v"],
    )
    .ok();
    // The request log is there, with the key's value redacted.
    assert!(run.stderr.contains("api_key=REDACTED"), "{}", run.stderr);
    assert!(run.stderr.contains("-> 200"), "{}", run.stderr);
    assert!(!run.stderr.contains("sent 0 B"), "{}", run.stderr);
    assert_clean(&run, "-v");
    // -vv says more: sizes and content types.
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY), ("API_BASE_URL", &url)],
        &["batch", "count", "photos", "-vv"],
    )
    .ok();
    assert!(
        run.stderr.contains("-> 200 in") && run.stderr.contains("application/json"),
        "{}",
        run.stderr
    );
    assert_clean(&run, "-vv");
    let wrong = rfbatch_env(
        &[("ROBOFLOW_API_KEY", WRONG), ("API_BASE_URL", &url)],
        &["batch", "count", "photos", "-v"],
    )
    .expect_code(3);
    assert!(wrong.stderr.contains("-> 401"), "{}", wrong.stderr);
    assert_clean(&wrong, "-v with a wrong key");
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else if meta.is_file()
                && std::fs::read(&p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn a_password_in_the_service_url_is_refused_and_written_nowhere() {
    let env = sandbox();
    stage_images(&env.api, "photos", 1);
    let port = env
        .sandbox
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let url = format!("http://u:PASSWORD@127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let photos = home.path().join("photos");
    roboflow_batch::testdata::ImageSet::new(2)
        .write_to(&photos)
        .unwrap();
    let photos = photos.to_str().unwrap();
    let out = home.path().join("out");
    let out = out.to_str().unwrap();
    let cache = home.path().join("cache");
    let vars = |extra: Option<(&'static str, String)>| {
        let mut v = vec![
            ("ROBOFLOW_API_KEY", KEY.to_string()),
            ("HOME", home.path().to_str().unwrap().to_string()),
            ("XDG_CACHE_HOME", cache.to_str().unwrap().to_string()),
            ("ROBOFLOW_WORKSPACE", "acme".to_string()),
        ];
        v.extend(extra);
        v
    };
    let commands: Vec<Vec<&str>> = vec![
        vec!["batch", "count", "photos"],
        vec!["upload", "images", photos, "--batch", "up"],
        vec!["batch", "export", "photos", "--out", out],
    ];
    for command in &commands {
        for json in [false, true] {
            let mut args = command.clone();
            args.push("-vv");
            if json {
                args.push("--json");
            }
            // By flag and by environment variable.
            for by_flag in [true, false] {
                let mut a = args.clone();
                let extra = if by_flag {
                    a.extend(["--api-url", &url]);
                    None
                } else {
                    Some(("API_BASE_URL", url.clone()))
                };
                let v = vars(extra);
                let v: Vec<(&str, &str)> = v.iter().map(|(k, x)| (*k, x.as_str())).collect();
                let run = rfbatch_env(&v, &a).expect_code(2);
                let what = format!("{a:?} (flag: {by_flag})");
                assert!(
                    run.stderr.contains("user name or password"),
                    "{what}: {}",
                    run.stderr
                );
                assert!(
                    !run.stderr.contains("PASSWORD") && !run.stdout.contains("PASSWORD"),
                    "{what}: {run:?}"
                );
                assert_clean(&run, &what);
            }
        }
    }
    // Help shows the variable, never its value.
    let help = rfbatch_env(&[("API_BASE_URL", &url)], &["batch", "count", "--help"]).ok();
    assert!(!help.stdout.contains("PASSWORD"), "{}", help.stdout);
    assert_eq!(
        files_containing(home.path(), "PASSWORD"),
        Vec::<std::path::PathBuf>::new()
    );
}

/// A service that answers every request 400 with a long message quoting the key it was
/// sent, placed so that the first `keep` characters of the key come before the 512th.
fn echoing_service(keep: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            // The rest of the head.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let key = line
                .split(['?', '&', ' '])
                .find_map(|p| p.strip_prefix("api_key="))
                .unwrap_or("")
                .to_string();
            let message = format!("{}{key} is not allowed here", "-".repeat(512 - keep));
            let body = serde_json::json!({ "error": message, "detail": message }).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn an_error_message_cut_across_the_key_shows_none_of_it() {
    for keep in [8, 14, 25, KEY.len() - 1] {
        let url = echoing_service(keep);
        for extra in [None, Some("--json"), Some("-vv")] {
            let mut args = vec!["batch", "count", "photos", "--workspace", "acme"];
            args.extend(extra);
            let run = rfbatch_env(&[("ROBOFLOW_API_KEY", KEY), ("API_BASE_URL", &url)], &args)
                .expect_code(2);
            assert!(
                run.stderr.contains("is not allowed") || run.stderr.contains("---"),
                "{}",
                run.stderr
            );
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains(&KEY[..keep.min(12)]),
                    "{keep} {extra:?}: part of the key appears in {stream}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn a_short_key_is_redacted_as_a_value_without_garbling_words() {
    // With the key `K`, a message naming AWS_ACCESS_KEY_ID stays readable, and the key
    // itself, where it stands as a value, is still never printed.
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rfbatch"))
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROBOFLOW_API_KEY", "K")
            .env("API_BASE_URL", "http://127.0.0.1:9")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["upload", "images", "s3://bk/in/*.jpg", "--batch", "b"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    assert!(!stderr.contains("REDACTEDEY"), "{stderr}");
    // The same key as a request's value is redacted (-v logs the refused connection).
    let (code, stderr) = run(&["-v", "batch", "list", "--retries", "0"]);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stderr.contains("api_key=REDACTED"), "{stderr}");
    assert!(!stderr.contains("api_key=K"), "{stderr}");
}
