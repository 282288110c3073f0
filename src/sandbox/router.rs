//! Which handler answers a request: the table of endpoints, authentication, and what
//! wraps every handler (injected faults, varied answers, the request recorder).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::faults::{Fault, FaultFamily};
use super::jobs;
use super::record::Recorder;
use super::request::{Answer, Notes, Req, Route, bad, fail, ok};
use super::staging::{batches, ingests, signed};
use super::state::State;
use super::vary::Variation;
use crate::error::Result;
use crate::server::{Body, Head, Reply};

type Handler = fn(&State, &mut Req<'_, '_>) -> Answer;

/// Every endpoint of the API, as the notes name them: method, path template (`{name}`
/// matches any one segment) and handler. Signed URLs are [`signed::serve`]'s.
#[rustfmt::skip]
const ROUTES: &[(&str, &str, Handler)] = &[
    ("GET", "", workspace),
    ("GET", "__test/panic", panic_hook),
    ("GET", "data-staging/v1/external/{workspace}/batches", batches::list),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}", batches::get),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}/count", batches::count),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}/parts", batches::parts),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}/list", batches::files),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}/shards", batches::shards),
    ("GET", "data-staging/v1/external/{workspace}/batches/{batchId}/export", not_served),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/upload/image", batches::upload_image),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/upload/video", batches::request_video),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/image-files", batches::request_shard),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/image-references", |s, r| ingests::references(s, r, false)),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/video-references", |s, r| ingests::references(s, r, true)),
    ("POST", "data-staging/v1/external/{workspace}/batches/{batchId}/roboql-ingest", ingests::roboql),
    ("GET", "batch-processing/v1/external/{workspace}/jobs", jobs::list),
    ("GET", "batch-processing/v1/external/{workspace}/jobs/{jobId}", jobs::get),
    ("POST", "batch-processing/v1/external/{workspace}/jobs/{jobId}", jobs::start),
    ("GET", "batch-processing/v1/external/{workspace}/jobs/{jobId}/stages", jobs::stages),
    ("GET", "batch-processing/v1/external/{workspace}/jobs/{jobId}/stages/{stageId}/tasks", jobs::tasks),
    ("POST", "batch-processing/v1/external/{workspace}/jobs/{jobId}/abort", jobs::abort),
    ("POST", "batch-processing/v1/external/{workspace}/jobs/{jobId}/restart", jobs::restart),
    ("GET", "batch-processing/v1/external/{workspace}/jobs/{jobId}/logs", jobs::logs),
];

/// What a request's method and path found.
#[derive(Clone, Copy)]
enum Found {
    Handler(Handler),
    /// A known path, another method.
    OtherMethod,
    Nothing,
}

fn route(head: &Head) -> (Route, Found) {
    if head.segments.first().is_some_and(|s| s == "signed") {
        let template = ["{signedDownload}", "{signedUpload}"][usize::from(head.method == "PUT")];
        let route = Route::literal(template.into());
        return (route, Found::Handler(signed::serve));
    }
    let mut other = None;
    for (method, template, handler) in ROUTES {
        if let Some(route) = Route::matching(template, &head.segments) {
            if *method == head.method {
                return (route, Found::Handler(*handler));
            }
            other.get_or_insert(route);
        }
    }
    let literal = || Route::literal(format!("/{}", head.segments.join("/")));
    other.map_or_else(|| (literal(), Found::Nothing), |r| (r, Found::OtherMethod))
}

pub(crate) struct Router {
    state: Arc<State>,
    recorder: Option<Recorder>,
    variation: Option<Variation>,
}

impl Router {
    pub fn new(state: Arc<State>) -> Result<Router> {
        let record = state.config.record.as_deref();
        let recorder = record.map(Recorder::open).transpose()?;
        let variation = state.config.vary.map(Variation::new);
        Ok(Router {
            state,
            recorder,
            variation,
        })
    }

    /// Handles one request: varies it and its answer, and records it, when asked to.
    pub fn handle(&self, head: &Head, body: &mut Body<'_>) -> Reply {
        let (route, found) = route(head);
        let vary = self.variation.as_ref();
        let adjusted = vary.and_then(|v| v.request(head, &route));
        let (handler_route, found) = match &adjusted {
            Some(h) => self::route(h),
            None => (route.clone(), found),
        };
        let mut req = Req {
            head: adjusted.as_ref().unwrap_or(head),
            body,
            route: handler_route,
            notes: self.recorder.as_ref().map(|_| Notes::default()),
        };
        let mut reply = serve(&self.state, &mut req, found);
        if let Some(v) = &self.variation {
            reply = v.reply(&self.state, head, &route, reply);
        }
        if let (Some(recorder), Some(notes)) = (&self.recorder, req.notes) {
            recorder.write(head, &route, reply.status, notes);
        }
        reply
    }
}

/// Serves one request, injecting the configured faults first.
fn serve(state: &State, req: &mut Req<'_, '_>, found: Found) -> Reply {
    let family = match req.route.template.as_str() {
        "{signedUpload}" => FaultFamily::Put,
        "{signedDownload}" => FaultFamily::Download,
        _ => {
            state.request_count.fetch_add(1, Ordering::Relaxed);
            FaultFamily::Api
        }
    };
    let (latency, fault) = state.faults.draw(family);
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    match fault {
        None => dispatch(state, req, found).unwrap_or_else(|r| r),
        Some(Fault::Status(429, Some(s))) => Reply::error(429, "fault injected: too many requests")
            .with_header("Retry-After", s.to_string()),
        Some(Fault::Status(code, _)) => Reply::error(code, format!("fault injected: HTTP {code}")),
        Some(Fault::Drop) if family == FaultFamily::Put => {
            // Take part of the upload, then break the reply: nothing is stored.
            let half = req.head.content_length.unwrap_or(0) / 2;
            let _ = std::io::copy(&mut (&mut *req.body).take(half), &mut std::io::sink());
            Reply::error(503, "fault injected: connection dropped").truncated()
        }
        Some(Fault::Drop) => dispatch(state, req, found)
            .unwrap_or_else(|r| r)
            .truncated(),
    }
}

/// Checks the API key (signed URLs carry their own token), the workspace and the batch
/// id, then calls the handler.
fn dispatch(state: &State, req: &mut Req<'_, '_>, found: Found) -> Answer {
    let m = &req.head.method;
    if !req.route.template.starts_with('{') {
        // In constant time, as the signed URLs' tokens and the webhook bearer are checked.
        let key = state.config.api_key.0.as_bytes();
        let eq = |k: &str| crate::webhook::constant_time_eq(k.as_bytes(), key);
        if !req.query("api_key").is_some_and(eq) {
            return fail(401, "Unauthorized: missing or invalid api_key");
        }
    }
    let handler = match found {
        Found::Handler(h) => h,
        Found::OtherMethod => return fail(405, format!("method {m} not allowed here")),
        Found::Nothing => return not_served(state, req),
    };
    if let Some(ws) = req.route.param("workspace")
        && ws != state.config.workspace
    {
        return fail(404, format!("workspace {ws:?} not found"));
    }
    if let Some(batch) = req.route.param("batchId") {
        crate::BatchId::new(batch).map_err(bad)?;
    }
    handler(state, req)
}

fn workspace(state: &State, _: &mut Req<'_, '_>) -> Answer {
    ok(&serde_json::json!({ "workspace": state.config.workspace }))
}

fn panic_hook(state: &State, req: &mut Req<'_, '_>) -> Answer {
    if !state.config.test_hooks {
        return not_served(state, req);
    }
    panic!("test hook: a request handler panicked")
}

/// A path that is no endpoint, or one the sandbox does not serve.
fn not_served(_: &State, req: &mut Req<'_, '_>) -> Answer {
    let (m, path) = (&req.head.method, req.head.segments.join("/"));
    fail(404, format!("no route for {m} /{path}"))
}
