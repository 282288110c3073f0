//! Maps a request to its handler, after authentication.

use std::io::Read;

use super::State;
use super::routes::Route;
use super::staging::faults::{Fault, FaultFamily};
use crate::server::{Body, Head, Reply};

/// Handles one request: records it and varies its answer when the sandbox is asked to.
pub(crate) fn handle(state: &State, head: &Head, req: &mut Body<'_>) -> Reply {
    if state.recorder().is_none() && state.variation().is_none() {
        return serve(state, head, req);
    }
    let route = Route::of(&head.method, &head.segments);
    let recording = state.recorder().map(|r| r.begin());
    let reply = match state.variation() {
        Some(v) => {
            let adjusted = v.request(head, &route);
            let reply = serve(state, adjusted.as_ref().unwrap_or(head), req);
            v.reply(state, head, &route, reply)
        }
        None => serve(state, head, req),
    };
    if let (Some(recorder), Some(recording)) = (state.recorder(), recording) {
        recorder.finish(recording, head, &route, reply.status);
    }
    reply
}

/// Serves one request, injecting the configured faults first.
fn serve(state: &State, head: &Head, req: &mut Body<'_>) -> Reply {
    let family = family(head);
    if family == FaultFamily::Api {
        state
            .request_count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let (latency, fault) = state.faults.draw(family);
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    match fault {
        None => contained(state, head, req),
        Some(Fault::Status(429, retry_after)) => {
            let r = Reply::error(429, "fault injected: too many requests");
            match retry_after {
                Some(s) => r.with_header("Retry-After", s.to_string()),
                None => r,
            }
        }
        Some(Fault::Status(code, _)) => Reply::error(code, format!("fault injected: HTTP {code}")),
        Some(Fault::Drop) if family == FaultFamily::Put => {
            // Take part of the upload, then break the reply: nothing is stored.
            let half = head.content_length.unwrap_or(0) / 2;
            let _ = std::io::copy(&mut req.as_reader().take(half), &mut std::io::sink());
            Reply::error(503, "fault injected: connection dropped").truncated()
        }
        Some(Fault::Drop) => contained(state, head, req).truncated(),
    }
}

/// Routes the request; a panic in its handler becomes a 500 for this request only.
fn contained(state: &State, head: &Head, req: &mut Body<'_>) -> Reply {
    match crate::sandbox::panics::contain(|| route(state, head, req)) {
        Ok(reply) => reply,
        Err(panic) => {
            eprintln!(
                "rfbatch sandbox: the handler of {} /{} panicked: {panic}",
                head.method,
                head.segments.first().map_or("", String::as_str)
            );
            Reply::error(
                500,
                "internal error: this request's handler panicked; the sandbox carries on",
            )
        }
    }
}

fn family(head: &Head) -> FaultFamily {
    match head.segments.first().map(String::as_str) {
        Some("signed") if head.method == "PUT" => FaultFamily::Put,
        Some("signed") => FaultFamily::Download,
        _ => FaultFamily::Api,
    }
}

fn route(state: &State, head: &Head, req: &mut Body<'_>) -> Reply {
    let segs: Vec<&str> = head.segments.iter().map(String::as_str).collect();
    // Signed URLs carry their own token instead of the API key.
    if segs.first() == Some(&"signed") {
        return state.signed(head, &segs[1..], req);
    }
    // In constant time, as the signed URLs' tokens and the webhook bearer are checked.
    match head.query("api_key") {
        Some(k) if crate::webhook::constant_time_eq(k.as_bytes(), state.api_key().as_bytes()) => {}
        _ => return Reply::error(401, "Unauthorized: missing or invalid api_key"),
    }
    match segs.as_slice() {
        [] if head.method == "GET" => {
            Reply::json(200, &serde_json::json!({ "workspace": state.workspace() }))
        }
        ["__test", "panic"] if state.config().test_hooks => {
            panic!("test hook: a request handler panicked")
        }
        ["data-staging", "v1", "external", ws, rest @ ..] => {
            if *ws != state.workspace() {
                return Reply::error(404, format!("workspace {ws:?} not found"));
            }
            state.staging(head, rest, req)
        }
        ["batch-processing", "v1", "external", ws, rest @ ..] => {
            if *ws != state.workspace() {
                return Reply::error(404, format!("workspace {ws:?} not found"));
            }
            state.jobs(head, rest, req)
        }
        _ => Reply::error(
            404,
            format!("no route for {} /{}", head.method, segs.join("/")),
        ),
    }
}
