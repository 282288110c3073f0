//! A custom transport: wrap the real one to log and time every request (with the API key
//! and signatures redacted), and use a closure as a transport to fake the service in a test.
//!
//! ```text
//! cargo run --example custom_transport --features sandbox
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::redact::redact_url;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, UreqTransport,
};

/// Any transport, plus a log line per request and a tally of time spent waiting.
struct Logged<T> {
    inner: T,
    waited: Mutex<Duration>,
}

impl<T: Transport> Transport for Logged<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // The URL carries the API key as a query parameter: never print it whole.
        let line = format!("{} {}", request.method, redact_url(&request.url));
        let start = Instant::now();
        let result = self.inner.send(request);
        let took = start.elapsed();
        if let Ok(mut w) = self.waited.lock() {
            *w += took;
        }
        match &result {
            Ok(resp) => eprintln!("{line} -> {} in {took:.1?}", resp.status),
            Err(e) => eprintln!("{line} -> {e}"),
        }
        result
    }
}

fn main() -> roboflow_batch::Result<()> {
    // 1. The real transport, wrapped, against a sandbox of the service.
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let logged = Arc::new(Logged {
        inner: UreqTransport::new(),
        waited: Mutex::new(Duration::ZERO),
    });
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .shared_transport(logged.clone())
        .build()?;
    println!("workspace: {}", api.workspace()?);
    println!("batches: {}", api.batches(None).count());
    if let Ok(w) = logged.waited.lock() {
        println!("time spent waiting on the service: {:.1?}", *w);
    }

    // 2. A closure is a transport too: a fake service in a few lines, for tests.
    let fake = |req: HttpRequest| -> Result<HttpResponse, TransportError> {
        Ok(match req.path() {
            "/" => HttpResponse::json(200, r#"{"workspace":"acme"}"#),
            p if p.ends_with("/count") => HttpResponse::json(200, r#"{"count":42}"#),
            _ => HttpResponse::json(404, r#"{"error":"no such route"}"#),
        })
    };
    let api = BatchApi::builder().api_key("any").transport(fake).build()?;
    assert_eq!(api.batch_count("my-batch", None)?, 42);
    let err = api.batch("my-batch").unwrap_err();
    println!("fake service: 42 items, and {err}");
    Ok(())
}
