//! Each class of failure ends `rfbatch` with its own exit code and one clear line.

mod cli_common;

use cli_common::{KEY, rfbatch, rfbatch_env, sandbox, stage_images};
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig};

/// An address where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn usage_errors_exit_2() {
    let env = sandbox();
    for args in [
        &["batch"][..],
        &["batch", "count"],
        &["batch", "list", "--limit", "many"],
        &[
            "job",
            "start",
            "--batch",
            "b",
            "--workflow",
            "w",
            "--machine-type",
            "tpu",
        ],
        &["job", "logs", "j", "--severity", "loud"],
        &["no-such-command"],
    ] {
        let run = rfbatch(&env, args).expect_code(2);
        assert!(run.stderr.contains("error"), "{args:?}: {}", run.stderr);
    }
    // Sizes of generated images as MIN-MAX KiB, refused before anything is generated.
    for bad in ["", "5", "250-50", "0-1", "a-b", "1-999999"] {
        let run = rfbatch(&env, &["bench", "upload", &format!("--size-range={bad}")]);
        let run = run.expect_code(2);
        assert!(
            run.stderr.contains("--size-range takes MIN-MAX"),
            "{}",
            run.stderr
        );
    }
    // Seconds: positive and finite.
    for bad in ["0", "-1", "NaN", "1e30", "x"] {
        let run = rfbatch(&env, &["job", "wait", "j", &format!("--timeout={bad}")]);
        let run = run.expect_code(2);
        assert!(
            run.stderr.contains("positive number of seconds"),
            "{}",
            run.stderr
        );
    }
    // A mapping without both sides, named as given.
    for bad in ["nokey", "=key", "input=", " = "] {
        let args = ["job", "start", "--batch", "b", "--workflow", "w"];
        let run = rfbatch(&env, &[&args[..], &["--metadata-mapping", bad]].concat());
        let run = run.expect_code(2);
        assert!(run.stderr.contains(&format!("{bad:?}")), "{}", run.stderr);
    }
    // Values the library rejects before sending anything.
    let run = rfbatch(&env, &["batch", "count", "Not A Batch"]).expect_code(2);
    assert!(run.stderr.contains("batch_id"), "{}", run.stderr);
    let run = rfbatch(
        &env,
        &[
            "job",
            "start",
            "--batch",
            "b",
            "--workflow",
            "w",
            "--job-id",
            "j",
            "--max-image-failure-rate",
            "1.5",
        ],
    )
    .expect_code(2);
    assert!(run.stderr.contains("maxImageFailureRate"), "{}", run.stderr);
    // An image-only field on a video job, refused by name before it reaches the service.
    for (flag, value, field) in [
        ("--max-image-failure-rate", "0.1", "maxImageFailureRate"),
        (
            "--images-metadata-part",
            "meta",
            "jobInput.imagesMetadataPart",
        ),
        (
            "--metadata-mapping",
            "a=b",
            "processingSpecification.imagesMetadataInputsMapping",
        ),
    ] {
        let run = rfbatch(
            &env,
            &[
                "job",
                "start",
                "--batch",
                "b",
                "--workflow",
                "w",
                "--videos",
                flag,
                value,
            ],
        )
        .expect_code(2);
        assert!(
            run.stderr.contains(field) && run.stderr.contains("image jobs only"),
            "{flag}: {}",
            run.stderr
        );
    }
    let run = rfbatch(
        &env,
        &[
            "job",
            "start",
            "--batch",
            "b",
            "--workflow",
            "w",
            "--job-id",
            "j",
            "--workflow-params",
            "/no/such/file.json",
        ],
    )
    .expect_code(1); // a local file that cannot be read
    assert!(run.stderr.contains("/no/such/file.json"), "{}", run.stderr);
    let run = rfbatch(
        &env,
        &["upload", "refs", "/no/such/refs.jsonl", "--batch", "b"],
    )
    .expect_code(2);
    assert!(run.stderr.contains("/no/such/refs.jsonl"), "{}", run.stderr);
}

#[test]
fn a_missing_key_exits_2_with_a_hint() {
    let run = rfbatch_env(&[], &["batch", "list"]).expect_code(2);
    assert!(run.stderr.contains("no API key"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: set --api-key or ROBOFLOW_API_KEY"),
        "{}",
        run.stderr
    );
    // Help and completions need no key.
    rfbatch_env(&[], &["--help"]).ok();
    rfbatch_env(&[], &["job", "start", "--help"]).ok();
}

#[test]
fn service_answers_map_to_their_codes() {
    let env = sandbox();
    stage_images(&env.api, "photos", 2);

    let wrong = rfbatch(&env, &["batch", "list", "--api-key", "wrong-key-123"]).expect_code(3);
    assert!(
        wrong.stderr.starts_with("rfbatch: error: unauthorized"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stderr.contains("hint:"), "{}", wrong.stderr);
    assert_eq!(
        wrong.stderr.lines().count(),
        2,
        "one line and a hint: {}",
        wrong.stderr
    );

    let missing = rfbatch(&env, &["batch", "show", "nope"]).expect_code(4);
    assert!(missing.stderr.contains("nope"), "{}", missing.stderr);
    rfbatch(&env, &["job", "show", "nope"]).expect_code(4);
    rfbatch(&env, &["job", "abort", "nope"]).expect_code(4);

    // A job id reused for another job is a conflict.
    let start = |wf: &str| {
        rfbatch(
            &env,
            &[
                "job",
                "start",
                "--batch",
                "photos",
                "--workflow",
                wf,
                "--job-id",
                "same-id",
            ],
        )
    };
    start("image-stats").ok();
    start("image-stats").ok();
    let clash = start("fail-fraction").expect_code(5);
    assert!(
        clash.stderr.starts_with("rfbatch: error: conflict"),
        "{}",
        clash.stderr
    );
}

#[test]
fn no_answer_is_a_network_error() {
    let url = closed_port_url();
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY)],
        &["batch", "list", "--api-url", &url, "--retries", "0"],
    )
    .expect_code(6);
    assert!(
        run.stderr.contains("hint: is the service reachable"),
        "{}",
        run.stderr
    );
}

#[test]
fn dns_and_tls_failures_are_network_errors_and_only_dns_is_retried() {
    // An unresolvable host: exit 6, and every retry made (-v logs each try).
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY)],
        &[
            "-v",
            "batch",
            "list",
            "--api-url",
            "http://api.nonexistent.invalid",
            "--retries",
            "2",
        ],
    )
    .expect_code(6);
    let tries = run
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("rfbatch: GET http://api.nonexistent.invalid/") && l.contains("dns error")
        })
        .count();
    assert_eq!(tries, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: the host name did not resolve"),
        "{}",
        run.stderr
    );

    // https:// to a plain-HTTP server: exit 6 at once, tried once, saying why.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.read(&mut [0u8; 512]);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("https://127.0.0.1:{port}");
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY)],
        &[
            "-v",
            "batch",
            "list",
            "--api-url",
            &url,
            "--retries",
            "2",
            "--json",
        ],
    )
    .expect_code(6);
    let tries = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rfbatch: GET") && l.contains("tls error"))
        .count();
    assert_eq!(tries, 1, "{}", run.stderr);
    // The last line is the JSON error (the lines before it are -v's log).
    let last = run.stderr.lines().last().unwrap();
    let err: serde_json::Value = serde_json::from_str(last).unwrap();
    let err = &err["error"];
    assert_eq!(err["class"], "network");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("did not answer in TLS"),
        "{err}"
    );
}

#[test]
fn server_errors_exit_7() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .api_key(KEY)
            .faults(Faults::seeded(1).api(FaultSettings::default().rate_503(1.0))),
    )
    .unwrap();
    let run = rfbatch_env(
        &[
            ("ROBOFLOW_API_KEY", KEY),
            ("API_BASE_URL", sandbox.base_url()),
        ],
        &["batch", "list", "--retries", "0"],
    )
    .expect_code(7);
    assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
}

/// A rate limit that outlasts the retries; `-vv` logs each answer's size, type and
/// `Retry-After`.
#[test]
fn rate_limits_exit_7_and_verbose_logs_show_retry_after() {
    let faults = Faults::seeded(1).api(FaultSettings::default().rate_429(1.0, 3));
    let sandbox = Sandbox::start(SandboxConfig::default().api_key(KEY).faults(faults)).unwrap();
    let vars = [
        ("ROBOFLOW_API_KEY", KEY),
        ("API_BASE_URL", sandbox.base_url()),
    ];
    let run = rfbatch_env(&vars, &["batch", "list", "--retries", "0", "-vv"]).expect_code(7);
    let log = run
        .stderr
        .lines()
        .find(|l| l.contains(" -> 429 in "))
        .unwrap_or_default();
    assert!(log.contains(" ms (sent 0 B, got "), "{}", run.stderr);
    assert!(
        log.ends_with(" application/json, Retry-After 3)"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_parallel_option_takes_1_to_64() {
    let env = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["upload", "images", d, "--batch", "b", "--parallel"],
        &["upload", "videos", d, "--batch", "b", "--parallel"],
        &["batch", "export", "b", "--out", d, "--parallel"],
        &["job", "results", "j", "--out", d, "--parallel"],
        &[
            "run",
            d,
            "--workflow",
            "w",
            "--out",
            d,
            "--download-parallel",
        ],
    ];
    for cmd in commands {
        for bad in ["0", "65", "many"] {
            let mut args = cmd.to_vec();
            args.extend([bad, "--json"]);
            let run = rfbatch(&env, &args).expect_code(2);
            let err = run.json_error();
            assert!(
                err["message"]
                    .as_str()
                    .unwrap()
                    .contains("must be a whole number from 1 to 64"),
                "{args:?}: {err}"
            );
        }
    }
    let run = rfbatch(&env, &["bench", "upload", d, "--parallel", "65"]).expect_code(2);
    assert!(run.stderr.contains("from 1 to 64"), "{}", run.stderr);
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let env = sandbox();
    let run = rfbatch(&env, &["batch", "show", "nope", "--json"]).expect_code(4);
    assert!(run.stdout.is_empty());
    let err = run.json_error();
    assert_eq!(err["class"], "not_found");
    assert_eq!(err["code"], 4);
    // The server's own message first, the request named without its query string.
    let message = err["message"].as_str().unwrap();
    let (said, at) = message.split_once(" (HTTP 404 from GET http://").unwrap();
    assert!(
        said.starts_with("not found: ") && said.contains("nope"),
        "{message}"
    );
    assert!(!at.contains('?') && at.ends_with(')'), "{message}");
    assert!(err["hint"].is_string());

    // Argument errors too: the JSON object, not clap's text, and never the key; clap's tip
    // as the hint, else where to find the usage.
    let usage = "see `rfbatch --help`, or `--help` after the command";
    for (args, says, hint) in [
        (
            &["batch", "list", "--limit", "many", "--json"][..],
            "invalid value 'many' for '--limit <N>'",
            usage,
        ),
        (
            &["batch", "list", "--nope", "--json"],
            "unexpected argument '--nope'",
            usage,
        ),
        (
            &["batch", "list", "--limt", "3", "--json"],
            "unexpected argument '--limt' found",
            "a similar argument exists: '--limit'",
        ),
        (&["--json", "batch"], "requires a subcommand", usage),
        (
            &["--json", "--api-key", "k-secret-123", "batch", "count"],
            "the following required arguments were not provided",
            usage,
        ),
    ] {
        let run = rfbatch(&env, args).expect_code(2);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        let err = run.json_error();
        assert_eq!(err["class"], "usage", "{args:?}");
        assert_eq!(err["code"], 2);
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(!message.starts_with("error:"), "{args:?}: {message}");
        assert_eq!(err["hint"], hint, "{err}");
        assert!(!run.stderr.contains("k-secret-123"), "{}", run.stderr);
    }
    // Without --json, clap's own text; asked-for help is not an error.
    let run = rfbatch(&env, &["batch", "list", "--nope"]).expect_code(2);
    assert!(
        run.stderr.starts_with("error: unexpected argument"),
        "{}",
        run.stderr
    );
    rfbatch(&env, &["batch", "list", "--help", "--json"]).ok();
}

#[test]
fn help_lists_the_exit_codes() {
    let run = rfbatch_env(&[], &["--help"]).ok();
    for line in [
        "  2    usage",
        "  4    not found",
        "  6    network",
        "  130  interrupted",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    // Every code the command can exit with.
    for code in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 130] {
        let listed = format!("\n  {code:<4} ");
        assert!(run.stdout.contains(&listed), "{code} in\n{}", run.stdout);
    }
}

#[test]
fn an_unknown_region_is_a_usage_error_unless_a_url_is_given() {
    let env = sandbox();
    let run = rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY), ("ROBOFLOW_REGION", "mars")],
        &["batch", "list"],
    )
    .expect_code(2);
    assert!(run.stderr.contains("mars"), "{}", run.stderr);
    // An explicit URL wins over the region.
    rfbatch_env(
        &[("ROBOFLOW_API_KEY", KEY), ("ROBOFLOW_REGION", "mars")],
        &["batch", "list", "--api-url", env.sandbox.base_url()],
    )
    .ok();
}
