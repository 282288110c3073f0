//! `BatchApi::from_env` reads the official client's variables. One test in its own binary,
//! because the environment is process-wide.

use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use roboflow_batch::{BatchApi, Error};

#[test]
fn from_env_reads_key_base_url_workspace_and_timeout() {
    for v in [
        "ROBOFLOW_API_KEY",
        "API_BASE_URL",
        "ROBOFLOW_WORKSPACE",
        "ROBOFLOW_API_REQUEST_TIMEOUT",
        "ROBOFLOW_REGION",
        "ROBOFLOW_ENVIRONMENT",
        "PROJECT",
    ] {
        // SAFETY: this test binary holds this one test, so no other thread reads the environment.
        unsafe { std::env::remove_var(v) };
    }
    assert!(
        matches!(BatchApi::from_env(), Err(Error::Config(m)) if m.contains("ROBOFLOW_API_KEY"))
    );

    // SAFETY: as above, no other thread reads the environment.
    unsafe { std::env::set_var("ROBOFLOW_API_KEY", "env-key-123456") };
    unsafe { std::env::set_var("API_BASE_URL", "http://127.0.0.1:9/") };
    unsafe { std::env::set_var("ROBOFLOW_WORKSPACE", "from-env") };
    unsafe { std::env::set_var("ROBOFLOW_API_REQUEST_TIMEOUT", "12.5") };
    // The timeout configures the default transport: it is not silently dropped when a
    // custom transport replaces it.
    let fake = |_: HttpRequest| -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse::json(200, "{}"))
    };
    let err = BatchApi::builder_from_vars(|n| std::env::var(n).ok())
        .unwrap()
        .transport(fake)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("timeouts"), "{err}");
    assert!(BatchApi::from_env().is_ok());

    unsafe { std::env::remove_var("ROBOFLOW_API_REQUEST_TIMEOUT") };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let api = BatchApi::builder_from_vars(|n| std::env::var(n).ok())
        .unwrap()
        .transport(
            move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
                log.lock().unwrap().push(req.url.clone());
                Ok(HttpResponse::json(200, r#"{"count":1}"#))
            },
        )
        .build()
        .unwrap();
    assert_eq!(api.base_url(), "http://127.0.0.1:9");
    assert_eq!(api.workspace().unwrap(), "from-env");
    api.batch_count("b", None).unwrap();
    assert_eq!(
        seen.lock().unwrap()[0],
        "http://127.0.0.1:9/data-staging/v1/external/from-env/batches/b/count?api_key=env-key-123456"
    );
    assert!(!format!("{api:?}").contains("env-key-123456"));

    // Not a number, not positive, or too large for a Duration: a clear error, never a panic.
    for bad in ["soon", "0", "-3", "NaN", "inf", "1e30"] {
        unsafe { std::env::set_var("ROBOFLOW_API_REQUEST_TIMEOUT", bad) };
        let err = BatchApi::from_env().unwrap_err();
        assert!(
            err.to_string().contains("ROBOFLOW_API_REQUEST_TIMEOUT")
                && err.to_string().contains(bad),
            "{bad}: {err}"
        );
    }
    unsafe { std::env::remove_var("ROBOFLOW_API_REQUEST_TIMEOUT") };
}

#[test]
fn region_and_environment_choose_the_base_url_unless_api_base_url_is_set() {
    let build = |pairs: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("ROBOFLOW_API_KEY".to_string(), "k".to_string())])
            .collect();
        BatchApi::builder_from_vars(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .and_then(|b| b.build())
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "https://api.roboflow.com"),
        (&[("ROBOFLOW_REGION", "eu")], "https://api.roboflow.eu"),
        (
            &[("ROBOFLOW_ENVIRONMENT", "staging")],
            "https://api.roboflow.one",
        ),
        (
            &[("ROBOFLOW_REGION", "eu"), ("ROBOFLOW_ENVIRONMENT", "dev")],
            "https://api.roboflow-eu.one",
        ),
        (
            &[("PROJECT", "roboflow-platform")],
            "https://api.roboflow.com",
        ),
        (
            &[("PROJECT", "roboflow-staging")],
            "https://api.roboflow.one",
        ),
        // Set but empty: staging, as in the official client (`inference_sdk/regions.py`).
        (&[("ROBOFLOW_ENVIRONMENT", "")], "https://api.roboflow.one"),
        (&[("PROJECT", "")], "https://api.roboflow.one"),
        (
            &[("ROBOFLOW_ENVIRONMENT", " PROD "), ("PROJECT", "")],
            "https://api.roboflow.com",
        ),
        (
            &[
                ("ROBOFLOW_ENVIRONMENT", ""),
                ("PROJECT", "roboflow-platform"),
            ],
            "https://api.roboflow.one",
        ),
        (&[("ROBOFLOW_REGION", "")], "https://api.roboflow.com"),
        (
            &[
                ("PROJECT", "roboflow-staging"),
                ("ROBOFLOW_ENVIRONMENT", "prod"),
            ],
            "https://api.roboflow.com",
        ),
        (
            &[
                ("ROBOFLOW_REGION", "eu"),
                ("API_BASE_URL", "http://127.0.0.1:9"),
            ],
            "http://127.0.0.1:9",
        ),
    ];
    for (vars, want) in cases {
        assert_eq!(build(vars).unwrap().base_url(), *want, "{vars:?}");
    }
    let err = build(&[("ROBOFLOW_REGION", "mars")]).unwrap_err();
    assert!(err.to_string().contains("ROBOFLOW_REGION"), "{err}");
}

#[test]
fn a_base_url_with_a_user_or_password_is_refused_and_never_echoed() {
    let builder = BatchApi::builder()
        .api_key("k")
        .base_url("http://u:pw0rd@127.0.0.1:9001");
    assert!(format!("{builder:?}").contains("http://REDACTED@127.0.0.1:9001"));
    let err = builder.build().unwrap_err().to_string();
    assert!(
        err.contains("user name or password") && !err.contains("pw0rd"),
        "{err}"
    );
}
