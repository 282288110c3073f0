//! Shared test doubles and helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use roboflow_batch::BatchApi;
use roboflow_batch::api::{Clock, RetryPolicy};
use roboflow_batch::transport::{HttpRequest, HttpResponse, Method, Transport, TransportError};

mockall::mock! {
    /// A mockall double of the transport seam.
    pub Transport {}
    impl Transport for Transport {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
    }
}

pub const KEY: &str = "test-key-0123456789";
pub const BASE: &str = "http://api.test";

/// What a test saw of one request, with the body read out.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub url: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn from(req: HttpRequest) -> Seen {
        Seen {
            method: req.method,
            url: req.url.clone(),
            path: req.path().to_string(),
            query: req.query(),
            headers: req.headers.clone(),
            body: req.body.into_bytes().expect("request body readable"),
        }
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Sleeps recorded instead of slept.
#[derive(Clone, Default)]
pub struct Sleeps(pub Arc<Mutex<Vec<Duration>>>);

impl Sleeps {
    pub fn clock(&self) -> Clock {
        let log = self.0.clone();
        Clock::system()
            .sleep_fn(move |d| log.lock().unwrap().push(d))
            .jitter_fn(|| 0.5)
    }

    pub fn taken(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

/// A client on `transport` with the workspace preset (no `GET /`) and instant retries.
pub fn api_with(transport: impl Transport + 'static) -> BatchApi {
    BatchApi::builder()
        .base_url(BASE)
        .api_key(KEY)
        .workspace("ws")
        .clock(Sleeps::default().clock())
        .retry_policy(RetryPolicy::default())
        .transport(transport)
        .build()
        .expect("client builds")
}

/// A mock that expects exactly one request, records it, and answers `status` with `body`.
pub fn one_call(status: u16, body: &'static str) -> (MockTransport, Arc<Mutex<Option<Seen>>>) {
    let seen = Arc::new(Mutex::new(None));
    let log = seen.clone();
    let mut mock = MockTransport::new();
    mock.expect_send().times(1).returning(move |req| {
        *log.lock().unwrap() = Some(Seen::from(req));
        Ok(HttpResponse::json(status, body))
    });
    (mock, seen)
}

/// Asserts the common parts of an API request: method, path, the key, and no others.
pub fn assert_api_request(seen: &Seen, method: Method, path: &str) {
    assert_eq!(seen.method, method, "method of {path}");
    assert_eq!(seen.path, path);
    assert_eq!(seen.q("api_key"), Some(KEY), "api_key on {path}");
    assert!(seen.url.starts_with(BASE), "{}", seen.url);
}

pub mod raw;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
