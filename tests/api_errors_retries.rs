//! Status-to-error mapping, retry sequences, pagination through the API, and redaction.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use roboflow_batch::api::{RetryPolicy, UploadSource};
use roboflow_batch::model::SignedUrlDetails;
use roboflow_batch::redact::{redact_text, redact_url, scrub};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError, TransportErrorKind};
use roboflow_batch::{BatchApi, Error};

type Urls = Arc<Mutex<Vec<String>>>;

/// A transport that answers from a script and records the URLs it was sent.
fn scripted(
    script: Vec<Result<HttpResponse, TransportError>>,
) -> (impl roboflow_batch::transport::Transport, Urls) {
    let urls = Arc::new(Mutex::new(Vec::new()));
    let log = urls.clone();
    let script = Mutex::new(script.into_iter());
    let t = move |req: HttpRequest| {
        log.lock().unwrap().push(req.url.clone());
        script
            .lock()
            .unwrap()
            .next()
            .expect("more requests than scripted")
    };
    (t, urls)
}

fn api(t: impl roboflow_batch::transport::Transport + 'static, sleeps: &Sleeps) -> BatchApi {
    BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .workspace("ws")
        .clock(sleeps.clock())
        .transport(t)
        .build()
        .unwrap()
}

#[test]
fn status_to_error_table() {
    type Check = fn(&Error) -> bool;
    let cases: Vec<(u16, Check, bool)> = vec![
        (400, |e| matches!(e, Error::Api(_)), false),
        (401, |e| matches!(e, Error::Unauthorized(_)), false),
        (402, |e| matches!(e, Error::Forbidden(_)), false),
        (403, |e| matches!(e, Error::Forbidden(_)), false),
        (404, |e| matches!(e, Error::NotFound(_)), false),
        (409, |e| matches!(e, Error::Conflict(_)), false),
        (422, |e| matches!(e, Error::Api(_)), false),
        (429, |e| matches!(e, Error::RateLimited { .. }), true),
        (500, |e| matches!(e, Error::Server(_)), true),
        (501, |e| matches!(e, Error::Server(_)), false),
        (503, |e| matches!(e, Error::Server(_)), true),
    ];
    for (status, check, retryable) in cases {
        let sleeps = Sleeps::default();
        let (t, _) = scripted(
            (0..10)
                .map(|_| Ok(HttpResponse::json(status, r#"{"error":"why it failed"}"#)))
                .collect(),
        );
        let err = api(t, &sleeps).batch_count("b", None).unwrap_err();
        assert!(check(&err), "{status}: {err:?}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.is_retryable(), retryable, "{status}");
        assert_eq!(
            err.api_error().unwrap().message.as_deref(),
            Some("why it failed")
        );
        assert!(err.to_string().contains("why it failed"), "{err}");
    }
}

#[test]
fn retries_503_then_429_with_retry_after_then_succeeds() {
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(vec![
        Ok(HttpResponse::json(503, r#"{"error":"busy"}"#)),
        Ok(HttpResponse::json(429, r#"{"error":"slow down"}"#).with_header("Retry-After", "7")),
        Ok(HttpResponse::json(200, r#"{"count":5}"#)),
    ]);
    assert_eq!(api(t, &sleeps).batch_count("b", None).unwrap(), 5);
    assert_eq!(urls.lock().unwrap().len(), 3);
    // Full jitter 0.5 of the first 500 ms ceiling, then exactly the server's 7 s.
    assert_eq!(
        sleeps.taken(),
        vec![Duration::from_millis(250), Duration::from_secs(7)]
    );
}

#[test]
fn retry_after_http_date_is_honoured() {
    let sleeps = Sleeps::default();
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
    let (t, _) = scripted(vec![
        Ok(HttpResponse::json(429, "{}")
            .with_header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")),
        Ok(HttpResponse::json(200, r#"{"count":1}"#)),
    ]);
    let api = BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .workspace("ws")
        .clock(sleeps.clock().now_fn(move || now))
        .transport(t)
        .build()
        .unwrap();
    api.batch_count("b", None).unwrap();
    assert_eq!(sleeps.taken(), vec![Duration::from_secs(10)]);
}

#[test]
fn a_400_is_never_retried() {
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(vec![Ok(HttpResponse::json(400, r#"{"error":"bad"}"#))]);
    let err = api(t, &sleeps).batch_count("b", None).unwrap_err();
    assert!(matches!(err, Error::Api(_)));
    assert_eq!(urls.lock().unwrap().len(), 1);
    assert!(sleeps.taken().is_empty());
}

#[test]
fn gives_up_after_max_retries_with_growing_backoff() {
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(
        (0..5)
            .map(|_| Ok(HttpResponse::json(502, "bad gateway")))
            .collect(),
    );
    let err = api(t, &sleeps).batch_count("b", None).unwrap_err();
    assert!(matches!(err, Error::Server(_)));
    assert_eq!(urls.lock().unwrap().len(), 5);
    let ms: Vec<u128> = sleeps.taken().iter().map(Duration::as_millis).collect();
    assert_eq!(ms, vec![250, 500, 1000, 2000]);
}

#[test]
fn rate_limit_with_huge_retry_after_is_returned_not_waited() {
    let sleeps = Sleeps::default();
    let (t, _) = scripted(vec![Ok(
        HttpResponse::json(429, "{}").with_header("Retry-After", "3600")
    )]);
    match api(t, &sleeps).batch_count("b", None).unwrap_err() {
        Error::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)))
        }
        other => panic!("{other:?}"),
    }
    assert!(sleeps.taken().is_empty());
}

#[test]
fn transport_errors_retry_by_kind_and_idempotency() {
    // A timeout on a GET is retried.
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(vec![
        Err(TransportError::new(
            TransportErrorKind::Timeout,
            "read timed out",
        )),
        Ok(HttpResponse::json(200, r#"{"count":2}"#)),
    ]);
    assert_eq!(api(t, &sleeps).batch_count("b", None).unwrap(), 2);
    assert_eq!(urls.lock().unwrap().len(), 2);

    // A timeout on a restart (not idempotent) is not.
    let (t, urls) = scripted(vec![Err(TransportError::new(
        TransportErrorKind::Timeout,
        "read timed out",
    ))]);
    let err = api(t, &sleeps).restart_job("j", None).unwrap_err();
    assert_eq!(err.transport_kind(), Some(TransportErrorKind::Timeout));
    assert_eq!(urls.lock().unwrap().len(), 1);

    // A refused connection on a restart is (nothing reached the server).
    let (t, urls) = scripted(vec![
        Err(TransportError::new(TransportErrorKind::Connect, "refused")),
        Ok(HttpResponse::json(200, "{}")),
    ]);
    api(t, &sleeps).restart_job("j", None).unwrap();
    assert_eq!(urls.lock().unwrap().len(), 2);

    // A 500 on a restart is not retried; a 503 is.
    let (t, urls) = scripted(vec![Ok(HttpResponse::json(500, "{}"))]);
    assert!(api(t, &sleeps).restart_job("j", None).is_err());
    assert_eq!(urls.lock().unwrap().len(), 1);
    let (t, urls) = scripted(vec![
        Ok(HttpResponse::json(503, "{}")),
        Ok(HttpResponse::json(200, "{}")),
    ]);
    api(t, &sleeps).restart_job("j", None).unwrap();
    assert_eq!(urls.lock().unwrap().len(), 2);
}

#[test]
fn a_references_post_without_an_ingest_id_is_retried_after_a_timeout_as_the_same_ingest() {
    // The first try may have reached the service: the second carries the same derived
    // ingest id, so the service answers it as a repeat instead of ingesting twice.
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let factors = Arc::new(Mutex::new(Vec::new()));
    let (b, f) = (bodies.clone(), factors.clone());
    let answers = Mutex::new(
        vec![
            Err(TransportError::new(
                TransportErrorKind::Timeout,
                "read timed out",
            )),
            Ok(HttpResponse::json(
                200,
                r#"{"ingestId":"x","duplicated":true}"#,
            )),
        ]
        .into_iter(),
    );
    let t = move |req: HttpRequest| {
        f.lock().unwrap().push(req.read_timeout_factor);
        let body: serde_json::Value =
            serde_json::from_slice(&req.body.into_bytes().unwrap()).unwrap();
        b.lock().unwrap().push(body);
        answers.lock().unwrap().next().unwrap()
    };
    let body = roboflow_batch::model::ReferencesIngest {
        image_references_url: Some("https://bucket.test/refs.jsonl".into()),
        ..Default::default()
    };
    let r = api(t, &Sleeps::default())
        .ingest_image_references("refs", &body, None)
        .unwrap();
    assert_eq!(r.duplicated, Some(true));
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);
    assert!(
        bodies[0]["ingestId"]
            .as_str()
            .unwrap()
            .starts_with("rfbatch-"),
        "{}",
        bodies[0]
    );
    // Each try may wait twice the read timeout, as the official client allows.
    assert_eq!(*factors.lock().unwrap(), vec![2, 2]);
}

#[test]
fn put_retries_reread_the_source() {
    let sleeps = Sleeps::default();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let log = bodies.clone();
    let calls = Mutex::new(0);
    let t = move |req: HttpRequest| {
        log.lock().unwrap().push(req.body.into_bytes().unwrap());
        let mut n = calls.lock().unwrap();
        *n += 1;
        if *n == 1 {
            Err(TransportError::new(
                TransportErrorKind::Interrupted,
                "connection reset",
            ))
        } else {
            Ok(HttpResponse::new(200, ""))
        }
    };
    let target: SignedUrlDetails =
        serde_json::from_str(r#"{"uploadURL":"https://s.test/u?sig=1"}"#).unwrap();
    api(t, &sleeps)
        .put_signed(&target, &UploadSource::bytes(b"0123456789".to_vec()))
        .unwrap();
    assert_eq!(
        *bodies.lock().unwrap(),
        vec![b"0123456789".to_vec(), b"0123456789".to_vec()]
    );
}

fn shards_page(ids: &[&str], token: Option<&str>) -> HttpResponse {
    let shards: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"shardId":"{id}","statusName":"ok","statusType":"success","eventTimestamp":"2025-01-01T00:00:00Z","shardObjectsCount":1}}"#))
        .collect();
    let tok = token.map_or("null".to_string(), |t| format!("\"{t}\""));
    HttpResponse::json(
        200,
        format!(
            r#"{{"shards":[{}],"nextPageToken":{tok}}}"#,
            shards.join(",")
        ),
    )
}

#[test]
fn pagination_through_the_api() {
    let sleeps = Sleeps::default();
    // Several pages, page size passed through, tokens followed.
    let (t, urls) = scripted(vec![
        Ok(shards_page(&["a", "b"], Some("t1"))),
        Ok(shards_page(&["c", "d"], Some("t2"))),
        Ok(shards_page(&["e"], None)),
    ]);
    let api1 = api(t, &sleeps);
    let ids: Vec<String> = api1
        .shards("big", Some(2))
        .map(|s| s.unwrap().shard_id)
        .collect();
    assert_eq!(ids, vec!["a", "b", "c", "d", "e"]);
    let urls = urls.lock().unwrap();
    assert!(urls.iter().all(|u| u.contains("pageSize=2")));
    assert!(!urls[0].contains("nextPageToken"));
    assert!(urls[1].contains("nextPageToken=t1") && urls[2].contains("nextPageToken=t2"));

    // An empty token ends the listing.
    let (t, urls) = scripted(vec![Ok(shards_page(&["a"], Some("")))]);
    assert_eq!(api(t, &sleeps).shards("big", None).count(), 1);
    assert_eq!(urls.lock().unwrap().len(), 1);

    // A repeated token is an error, not an endless loop.
    let (t, urls) = scripted(vec![
        Ok(shards_page(&["a"], Some("t1"))),
        Ok(shards_page(&["b"], Some("t1"))),
    ]);
    let api3 = api(t, &sleeps);
    let out: Vec<_> = api3.shards("big", None).collect();
    assert_eq!(out.len(), 3);
    assert!(matches!(out[2], Err(Error::RepeatedPageToken { .. })));
    assert_eq!(urls.lock().unwrap().len(), 2);

    // Empty pages that carry a token are followed, and items restart their count: 15 empty
    // pages and a full one, twice, never make 16 empty in a row.
    let tokens: Vec<String> = (0..32).map(|i| format!("t{i}")).collect();
    let script = (0..32).map(|i| {
        let ids: &[&str] = if i % 16 == 15 { &["x"] } else { &[] };
        Ok(shards_page(ids, (i < 31).then(|| tokens[i].as_str())))
    });
    let (t, urls) = scripted(script.collect());
    assert_eq!(
        api(t, &sleeps)
            .shards("big", None)
            .filter(Result::is_ok)
            .count(),
        2
    );
    assert_eq!(urls.lock().unwrap().len(), 32);

    // An error ends a listing: nothing more is fetched or yielded.
    let (t, urls) = scripted(vec![
        Ok(shards_page(&["a"], Some("t1"))),
        Ok(HttpResponse::json(404, "{}")),
    ]);
    let out: Vec<_> = api(t, &sleeps).shards("big", None).collect();
    assert!(
        out.len() == 2 && matches!(out[1], Err(Error::NotFound(_))),
        "{out:?}"
    );
    assert_eq!(urls.lock().unwrap().len(), 2);
}

#[test]
#[rustfmt::skip]
fn the_servers_message_is_found_in_its_error_body() {
    let cases = [
        (r#"{"error":"bad batch"}"#, Some("bad batch")),
        (r#"{"error":{"message":"nested"}}"#, Some("nested")),
        (r#"{"message":"m"}"#, Some("m")),
        (r#"{"detail":"d"}"#, Some("d")),
        (r#"{"other":1}"#, None),
        ("<html>oops</html>", None),
        // Cut short (a prefix of a large body): the message is whole before the cut.
        (r#"{"error": "upstream timed out", "trace": "aaaa"#, Some("upstream timed out")),
        (r#"{"trace": "x", "detail":"d\"q", "more": ["#, Some("d\"q")),
        (r#"{"error": "cut in the midd"#, None),
        (r#"["error": "not an object""#, None),
    ];
    for (body, want) in cases {
        let t = move |_: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse::json(400, body))
        };
        let err = api(t, &Sleeps::default()).batch("b").unwrap_err();
        assert_eq!(err.api_error().unwrap().message.as_deref(), want, "{body}");
    }
}

#[test]
fn no_error_text_contains_the_key_or_a_signature() {
    let sig = "SIGNATURE-abcdef123456";
    let signed = format!("https://storage.test/upload?X-Goog-Signature={sig}&X-Goog-Expires=900");
    let target: SignedUrlDetails = serde_json::from_str(&format!(
        r#"{{"uploadURL":"{signed}","extensionHeaders":{{"x-goog-meta-a":"{sig}"}}}}"#
    ))
    .unwrap();
    let echo_url = |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        // A hostile server echoing the full URL back in its error body.
        Ok(HttpResponse::json(
            403,
            format!(r#"{{"error":"denied for {}"}}"#, req.url),
        ))
    };
    let transport_fail = |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        Err(TransportError::new(
            TransportErrorKind::Protocol,
            format!("bad response from {}", req.url),
        ))
    };
    let sleeps = Sleeps::default();
    let mut errors: Vec<Error> = Vec::new();
    let a = api(echo_url, &sleeps);
    errors.push(a.batch_count("b", None).unwrap_err());
    errors.push(
        a.put_signed(&target, &UploadSource::bytes(vec![1, 2, 3]))
            .unwrap_err(),
    );
    errors.push(a.download(&signed).unwrap_err());
    let b = api(transport_fail, &sleeps);
    errors.push(b.batch_count("b", None).unwrap_err());
    errors.push(
        b.put_signed(&target, &UploadSource::bytes(vec![1, 2, 3]))
            .unwrap_err(),
    );
    let (t, _) = scripted(vec![Ok(HttpResponse::json(
        200,
        format!(r#"{{"unexpected":"{KEY}"}}"#),
    ))]);
    errors.push(api(t, &sleeps).batch_count("b", None).unwrap_err());
    for e in &errors {
        for text in [
            e.to_string(),
            format!("{e:?}"),
            format!("{:?}", std::error::Error::source(e)),
        ] {
            assert!(!text.contains(KEY), "key leaked: {text}");
            assert!(!text.contains(sig), "signature leaked: {text}");
        }
    }
    // Debug of the client, its builder, requests and signed-URL types hides them too.
    let client = api(
        |_: HttpRequest| -> Result<HttpResponse, TransportError> { unreachable!() },
        &sleeps,
    );
    let builder = BatchApi::builder().api_key(KEY);
    let req = HttpRequest::get(format!("{BASE}/?api_key={KEY}"))
        .with_header("Authorization", format!("Bearer {KEY}"));
    for text in [
        format!("{client:?}"),
        format!("{builder:?}"),
        format!("{req:?}"),
        format!("{target:?}"),
    ] {
        assert!(!text.contains(KEY) && !text.contains(sig), "{text}");
    }
}

#[test]
fn builder_and_env_config_errors() {
    assert!(matches!(BatchApi::builder().build(), Err(Error::Config(_))));
    assert!(matches!(
        BatchApi::builder().api_key(" ").build(),
        Err(Error::Config(_))
    ));
    for bad in ["ftp://x", "http://", "http://h/?q=1", "not a url"] {
        let e = BatchApi::builder()
            .api_key("k")
            .base_url(bad)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{bad}");
    }
    let e = BatchApi::builder()
        .api_key("k")
        .workspace("a/b")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("workspace"));
    let api = BatchApi::builder()
        .api_key("k")
        .base_url("http://h:1/")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    assert_eq!(api.base_url(), "http://h:1");
}

/// A body that yields `data`, then fails with `kind`.
struct CutOff {
    data: std::io::Cursor<Vec<u8>>,
    kind: std::io::ErrorKind,
}

impl std::io::Read for CutOff {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.data.read(buf)? {
            0 => Err(std::io::Error::new(self.kind, "cut off")),
            n => Ok(n),
        }
    }
}

fn cut_off(status: u16, data: &str, kind: std::io::ErrorKind) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Length".into(), "1000".into())],
        body: Box::new(CutOff {
            data: std::io::Cursor::new(data.as_bytes().to_vec()),
            kind,
        }),
    }
}

#[test]
fn a_json_body_cut_off_mid_read_is_retried() {
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(vec![
        Ok(cut_off(
            200,
            r#"{"cou"#,
            std::io::ErrorKind::ConnectionReset,
        )),
        Ok(cut_off(200, r#"{"count"#, std::io::ErrorKind::TimedOut)),
        Ok(HttpResponse::json(200, r#"{"count":9}"#)),
    ]);
    assert_eq!(api(t, &sleeps).batch_count("b", None).unwrap(), 9);
    assert_eq!(urls.lock().unwrap().len(), 3);

    // Not for a request that could act twice.
    let (t, urls) = scripted(vec![Ok(cut_off(
        200,
        "{",
        std::io::ErrorKind::ConnectionReset,
    ))]);
    let err = api(t, &sleeps).restart_job("j", None).unwrap_err();
    assert_eq!(err.transport_kind(), Some(TransportErrorKind::Interrupted));
    assert_eq!(urls.lock().unwrap().len(), 1);
}

#[test]
fn download_to_file_restarts_after_a_drop_and_never_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.tar");
    let sleeps = Sleeps::default();
    let (t, urls) = scripted(vec![
        Ok(cut_off(200, "partial", std::io::ErrorKind::ConnectionReset)),
        Ok(HttpResponse::new(200, "complete").with_header("Content-Length", "8")),
    ]);
    let n = api(t, &sleeps)
        .download_to_file("https://s.test/f?sig=1", &path)
        .unwrap();
    assert_eq!(n, 8);
    assert_eq!(std::fs::read(&path).unwrap(), b"complete");
    assert_eq!(urls.lock().unwrap().len(), 2);

    // When every try fails, nothing is left at the path or beside it.
    let path2 = dir.path().join("never.tar");
    let (t, _) = scripted(
        (0..5)
            .map(|_| Ok(cut_off(200, "x", std::io::ErrorKind::ConnectionReset)))
            .collect(),
    );
    let err = api(t, &sleeps)
        .download_to_file("https://s.test/f?sig=1", &path2)
        .unwrap_err();
    assert!(err.to_string().contains("never.tar"), "{err}");
    assert!(!path2.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_listing_of_endless_empty_pages_ends_with_an_error() {
    let calls = Arc::new(Mutex::new(0usize));
    let log = calls.clone();
    let t = move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let mut n = log.lock().unwrap();
        *n += 1;
        assert!(*n < 10_000, "followed empty pages for ever");
        Ok(HttpResponse::json(
            200,
            format!(r#"{{"filesMetadata":[],"nextPageToken":"page-{n}"}}"#),
        ))
    };
    let api = api(t, &Sleeps::default());
    let out: Vec<_> = api.files("b1", None, None).collect();
    assert_eq!(out.len(), 1);
    match &out[0] {
        Err(e @ Error::TooManyEmptyPages { listing, .. }) => {
            assert!(listing.contains("b1"), "{listing}");
            assert!(!e.to_string().contains(KEY), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*calls.lock().unwrap(), 16);
}

#[test]
fn a_huge_error_body_keeps_its_start() {
    let page = format!(
        "<html><head><title>502 Bad Gateway</title></head><body>{}</body></html>",
        "x".repeat(200 * 1024)
    );
    let json_cut = format!(
        r#"{{"error":"upstream timed out","trace":"{}"}}"#,
        "y".repeat(100 * 1024)
    );
    let json_ok = format!(
        r#"{{"trace":"{}","error":"quota exceeded"}}"#,
        "z".repeat(60 * 1024)
    );
    let cases = [
        (502u16, page, None, "<html><head><title>502 Bad Gateway"),
        (
            500,
            json_cut,
            Some("upstream timed out"),
            r#"{"error":"upstream timed out""#,
        ),
        (400, json_ok, Some("quota exceeded"), r#"{"trace":"zzz"#),
    ];
    for (status, body, message, starts) in cases {
        let t = move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse::new(status, body.clone()))
        };
        let err = api(t, &Sleeps::default())
            .batch_count("b1", None)
            .unwrap_err();
        let a = err.api_error().expect("an HTTP error");
        assert_eq!(a.status, status);
        assert_eq!(a.message.as_deref(), message, "{status}");
        assert!(a.body_snippet.starts_with(starts), "{}", a.body_snippet);
        assert!(
            a.body_snippet.chars().count() <= 513,
            "the snippet is bounded"
        );
        assert!(err.to_string().contains(message.unwrap_or(starts)), "{err}");
    }
}

#[test]
fn error_bodies_that_echo_signed_urls_are_redacted() {
    let signed = "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Credential=AKIASECRET1&X-Amz-Signature=deadbeefSECRET2";
    let bodies = [
        format!(r#"{{"error":"could not fetch {signed}"}}"#),
        format!(
            r#"{{"detail":{{"url":"{}"}}}}"#,
            signed.replace('&', "\\u0026")
        ),
        format!(
            "<html><a href=\"{}\">retry</a></html>",
            signed.replace('&', "&amp;")
        ),
    ];
    for body in bodies {
        let t = move |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse::new(400, body.clone()))
        };
        let err = api(t, &Sleeps::default())
            .batch_count("b1", None)
            .unwrap_err();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(shown.contains("a.jpg"), "{shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(!shown.contains(KEY), "{shown}");
        }
    }
}

// Redaction of URLs and text, and the scrubbing of known secrets.

#[test]
fn redacted_urls_lose_every_query_value_and_their_user() {
    let cases = [
        ("http://h/p", "http://h/p"),
        ("http://h/p?", "http://h/p"),
        ("http://h/p?api_key=k", "http://h/p?api_key=REDACTED"),
        (
            "http://h/p?a=1&X-Goog-Signature=abc#frag",
            "http://h/p?a=REDACTED&X-Goog-Signature=REDACTED",
        ),
        // A user name and password go too.
        (
            "http://u:PASSWORD@h:1/p?a=1",
            "http://REDACTED@h:1/p?a=REDACTED",
        ),
        ("https://tok@h", "https://REDACTED@h"),
        ("https://a@b:c@h/x", "https://REDACTED@h/x"),
        ("https://h/p@q?x=a@b", "https://h/p@q?x=REDACTED"),
        ("http://h?u=1@2", "http://h?u=REDACTED"),
        ("http://h/a@b", "http://h/a@b"),
        ("no scheme@h", "no scheme@h"),
    ];
    for (input, want) in cases {
        assert_eq!(redact_url(input), want, "{input}");
    }
}

#[test]
fn text_redaction_table() {
    let cases = [
        // S3 SigV4: signature, credential and token go; date and expiry stay.
        (
            "GET https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20250101&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=FwoG&X-Amz-Signature=9f8e failed",
            "GET https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED failed",
        ),
        // S3 SigV2.
        (
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=abc%2B",
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=REDACTED&Expires=1&Signature=REDACTED",
        ),
        // GCS V4 and V2.
        (
            "https://storage.googleapis.com/b/o?x-goog-credential=sa%40p&x-goog-signature=0a1b",
            "https://storage.googleapis.com/b/o?x-goog-credential=REDACTED&x-goog-signature=REDACTED",
        ),
        (
            "https://storage.googleapis.com/b/o?GoogleAccessId=sa@p.iam&Expires=1&Signature=c2ln",
            "https://storage.googleapis.com/b/o?GoogleAccessId=REDACTED&Expires=1&Signature=REDACTED",
        ),
        // Azure SAS: sig and the delegation key ids go; se, sp, sv stay.
        (
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sp=r&skoid=o1&sktid=t1&sig=AbC%3D",
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sp=r&skoid=REDACTED&sktid=REDACTED&sig=REDACTED",
        ),
        // A GCS service account's token request: the signed JWT goes.
        (
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJh.eyJp.c2ln",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=REDACTED",
        ),
        // Our own key and the sandbox's token, in any case.
        (
            "http://h/x?API_KEY=k1&pageSize=5&Token=t1",
            "http://h/x?API_KEY=REDACTED&pageSize=5&Token=REDACTED",
        ),
        // Quoted forms: JSON-escaped, HTML, and a URL inside another URL's query.
        (
            r#"{"url":"https://h/a?x=1\u0026sig=s1\u0026y=2"}"#,
            r#"{"url":"https://h/a?x=1\u0026sig=REDACTED\u0026y=2"}"#,
        ),
        (
            "<a href=\"https://h/a?x=1&amp;signature=s2&amp;y=2\">",
            "<a href=\"https://h/a?x=1&amp;signature=REDACTED&amp;y=2\">",
        ),
        (
            "https://proxy/?u=https%3A%2F%2Fh%2Fa%3Fsig%3Ds3%26x%3D1",
            "https://proxy/?u=https%3A%2F%2Fh%2Fa%3Fsig%3DREDACTED%26x%3D1",
        ),
        // Values end at delimiters of the text around the URL.
        (
            "see (https://h/a?token=t2), 'https://h/b?key=k2' and <https://h/c?sig=s4#f>",
            "see (https://h/a?token=REDACTED), 'https://h/b?key=REDACTED' and <https://h/c?sig=REDACTED#f>",
        ),
        // Bare parameters at the start or after a space.
        ("sig=abc def", "sig=REDACTED def"),
        ("bad api_key=k3", "bad api_key=REDACTED"),
        // Not secret, or not a parameter: kept.
        (
            "https://h/a?design=1&keys=2&sigma=3",
            "https://h/a?design=1&keys=2&sigma=3",
        ),
        (
            "a token is required; key: value",
            "a token is required; key: value",
        ),
        ("https://h/a?sig=&x=1", "https://h/a?sig=&x=1"),
        (
            "zażółć https://h/ä?sig=ü€ ok",
            "zażółć https://h/ä?sig=REDACTED ok",
        ),
        ("", ""),
    ];
    for (input, want) in cases {
        assert_eq!(redact_text(input), want, "{input}");
    }
}

#[test]
fn scrub_removes_whole_tokens_and_ignores_empty() {
    assert_eq!(scrub("a X a", &["X", ""]), "a REDACTED a");
    assert_eq!(scrub("none", &[""]), "none");
}

#[test]
fn a_key_is_redacted_as_a_value_or_a_token_never_inside_a_word() {
    // (text, key, expected)
    let cases = [
        // A short key leaves the words that contain it alone.
        (
            "set AWS_ACCESS_KEY_ID and Key",
            "K",
            "set AWS_ACCESS_KEY_ID and Key",
        ),
        ("Keep OK kK", "K", "Keep OK kK"),
        ("KEY_ID", "ID", "KEY_ID"),
        ("id2 ID_x xID", "ID", "id2 ID_x xID"),
        // …but not where it stands as a value or a token.
        (
            "GET http://h/x?api_key=K&a=1 -> 401",
            "K",
            "GET http://h/x?api_key=REDACTED&a=1 -> 401",
        ),
        ("key K.", "K", "key REDACTED."),
        ("K", "K", "REDACTED"),
        (r#"{"api_key":"K"}"#, "K", r#"{"api_key":"REDACTED"}"#),
        ("/ws/K/batches", "K", "/ws/REDACTED/batches"),
        (
            "(K), [K]; K-K",
            "K",
            "(REDACTED), [REDACTED]; REDACTED-REDACTED",
        ),
        ("K\nK\tK", "K", "REDACTED\nREDACTED\tREDACTED"),
        // A full-length key, anywhere it stands alone.
        (
            "invalid key rf_abc123XYZ789def456; api_key=rf_abc123XYZ789def456",
            "rf_abc123XYZ789def456",
            "invalid key REDACTED; api_key=REDACTED",
        ),
        // A key long enough not to occur by chance goes even glued to other text.
        (
            "sha xrf_abc123XYZ789def456y",
            "rf_abc123XYZ789def456",
            "sha xREDACTEDy",
        ),
        // A short one inside a longer word is another word (a hash, an id).
        ("sha x1234567y", "1234567", "sha x1234567y"),
        // Edges that are not word characters need no boundary (a base64 signature).
        ("sig=ab+c/d== x", "ab+c/d==", "sig=REDACTED x"),
        ("x=ab+c/d==yz", "ab+c/d==", "x=REDACTEDyz"),
        // Non-ASCII letters are word characters too.
        ("éK Kä K", "K", "éK Kä REDACTED"),
        ("", "K", ""),
    ];
    for (text, key, want) in cases {
        assert_eq!(scrub(text, &[key]), want, "{text:?} with key {key:?}");
    }
}

#[test]
fn a_key_across_the_cut_of_an_error_message_is_not_shown_in_part() {
    // Issue 14: a long message with the key placed across the 512th character, from 4
    // characters on (shorter pieces occur in any text).
    const KEY: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz";
    for keep in 4..KEY.len() {
        let message = format!("{}{KEY} is not valid here", "-".repeat(512 - keep));
        let body = serde_json::json!({ "error": message, "trace": message }).to_string();
        let t = move |_: HttpRequest| -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse::json(400, body.clone()))
        };
        let api = BatchApi::builder()
            .api_key(KEY)
            .workspace("ws")
            .transport(t)
            .build()
            .unwrap();
        let err = api.batch("b").unwrap_err();
        let api_error = err.api_error().unwrap();
        for text in [
            err.to_string(),
            format!("{err:?}"),
            api_error.body_snippet.clone(),
        ] {
            assert!(!text.contains(&KEY[..keep]), "{keep}: {text}");
        }
        assert!(api_error.message.as_deref().unwrap().ends_with('…'));
    }
}
