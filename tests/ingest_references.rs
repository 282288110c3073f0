//! A JSONL file of references: a bad line is named before anything is sent, and the ingest
//! ids a run derives follow the batch and the references (blank lines aside).

use std::sync::{Arc, Mutex};

use roboflow_batch::BatchApi;
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};

/// An api whose service takes any references ingest; the ingest ids it was sent.
fn service() -> (BatchApi, Arc<Mutex<Vec<String>>>) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = ids.clone();
    let transport = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        let body: serde_json::Value =
            serde_json::from_slice(&req.body.into_bytes().unwrap_or_default()).unwrap_or_default();
        let id = body["ingestId"].as_str().unwrap_or_default().to_string();
        seen.lock().unwrap().push(id.clone());
        Ok(HttpResponse::json(
            200,
            serde_json::json!({ "ingestId": id }).to_string(),
        ))
    };
    let api = BatchApi::builder()
        .api_key("k")
        .workspace("ws")
        .transport(transport)
        .build()
        .unwrap();
    (api, ids)
}

#[test]
fn a_bad_line_is_named_and_the_ids_follow_the_references() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refs.jsonl");
    let (api, ids) = service();
    let id = |batch: &str, body: &str| {
        std::fs::write(&path, body).unwrap();
        let run = Ingest::new(&api, batch, Source::references(&path))
            .without_verify()
            .run();
        run.map(|r| (r.files_uploaded, ids.lock().unwrap().pop().unwrap()))
    };
    let a = "{\"name\":\"a\",\"url\":\"https://h/a\"}\n";
    let b = "{\"name\":\"a\",\"url\":\"https://h/b\"}\n";
    let c = "{\"name\":\"c\",\"url\":\"https://h/c\"}\n";
    let (sent, first) = id("b1", a).unwrap();
    assert_eq!(sent, 1);
    assert!(first.starts_with("refs-") && first.len() == 25, "{first}");
    assert_eq!(
        id("b1", &format!("\n{a}\n")).unwrap().1,
        first,
        "blank lines do not count"
    );
    assert_ne!(id("b1", b).unwrap().1, first);
    assert_ne!(id("b2", a).unwrap().1, first);
    assert_eq!(id("b1", &format!("{a}{c}")).unwrap().0, 2);
    let sent_before = ids.lock().unwrap().len();
    let err = id("b1", &format!("{a}not json\n")).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = id("b1", "\n").unwrap_err();
    assert!(err.to_string().contains("no references"), "{err}");
    assert_eq!(ids.lock().unwrap().len(), sent_before, "nothing sent");
}
