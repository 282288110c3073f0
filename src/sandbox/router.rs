//! Maps a request to its handler, after authentication.

use super::http::{Head, Reply};
use super::State;

/// Handles one request and sends the reply.
pub(crate) fn handle(state: &State, mut req: tiny_http::Request) {
    let head = Head::parse(&req);
    let reply = route(state, &head, &mut req);
    reply.send(req);
}

fn route(state: &State, head: &Head, req: &mut tiny_http::Request) -> Reply {
    let segs: Vec<&str> = head.segments.iter().map(String::as_str).collect();
    // Signed URLs carry their own token instead of the API key.
    if segs.first() == Some(&"signed") {
        return state.signed(head, &segs[1..], req);
    }
    match head.query("api_key") {
        Some(k) if k == state.api_key() => {}
        _ => return Reply::error(401, "Unauthorized: missing or invalid api_key"),
    }
    match segs.as_slice() {
        [] if head.method == "GET" => {
            Reply::json(200, &serde_json::json!({ "workspace": state.workspace() }))
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
        _ => Reply::error(404, format!("no route for {} /{}", head.method, segs.join("/"))),
    }
}
