//! The request recorder (`rfbatch sandbox --record FILE`): one JSON line per answered
//! request, its form without its secrets (no key, signature or file contents), so that what
//! two clients send can be compared (`tests/differential_wire.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::request::{Notes, Route};
use crate::error::{Error, Result};
use crate::server::Head;

/// Query parameters whose values are recorded: names, sizes and filters, never a secret.
const PLAIN_QUERY: &str = "displayName fileName name pageSize partName severity";

/// Appends one line per request to a file.
#[derive(Debug)]
pub(crate) struct Recorder {
    file: Mutex<File>,
    seq: AtomicU64,
}

impl Recorder {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening the record file {}", path.display()), e))?;
        Ok(Recorder {
            file: Mutex::new(file),
            seq: AtomicU64::new(0),
        })
    }

    /// Writes a request's line, once it was answered with `status`.
    pub fn write(&self, head: &Head, route: &Route, status: u16, notes: Notes) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut line = describe(head, route, status, notes);
        line["seq"] = json!(seq);
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line, so lines of concurrent requests never interleave; a full
        // disk loses lines, never the request.
        let _ = file.write_all(text.as_bytes());
    }
}

/// One request's line (without its sequence number).
fn describe(head: &Head, route: &Route, status: u16, notes: Notes) -> Value {
    let mut query: Vec<&str> = head.query.iter().map(|(k, _)| k.as_str()).collect();
    query.sort_unstable();
    query.dedup();
    let plain = head
        .query
        .iter()
        .filter(|(k, _)| PLAIN_QUERY.split(' ').any(|q| q == k));
    let values: BTreeMap<&str, &str> = plain.map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Signed URLs carry their ids in the path; only the API's parameters are kept.
    let signed = route.template.starts_with('{');
    let params = route.params.iter().filter(|_| !signed);
    let params: BTreeMap<&str, &str> = params.map(|(k, v)| (*k, v.as_str())).collect();
    let mut line = json!({
        "method": head.method,
        "route": format!("{} {}", head.method, route.template),
        "params": params,
        "query": query,
        "queryValues": values,
        "headers": headers(head),
        "status": status,
    });
    if let Some(b) = notes.body {
        line["body"] = match serde_json::from_slice::<Value>(&b) {
            Ok(v) => json!({ "json": key_paths(&v) }),
            Err(_) => json!({ "bytes": b.len() }),
        };
    }
    if let Some((body, boundary)) = notes.multipart {
        line["multipart"] = Value::Array(super::staging::multipart::describe(&body, &boundary));
    }
    if let Some((members, config)) = notes.tar {
        let mut tar = json!({ "members": members });
        if let Some(bytes) = config {
            tar["notificationConfig"] = match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => key_paths(&v),
                Err(_) => json!("not JSON"),
            };
        }
        line["tar"] = tar;
    }
    line
}

/// The headers that matter to the service, each as its value or only as present.
fn headers(head: &Head) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in &head.headers {
        let k = k.to_ascii_lowercase();
        let shown = match k.as_str() {
            "content-type" => media_type(v),
            "content-length" if v.trim() == "0" => "0".into(),
            "content-length" | "authorization" | "cookie" => "present".into(),
            "transfer-encoding" | "expect" | "content-encoding" | "range" => {
                v.trim().to_lowercase()
            }
            // Extension headers (x-goog-…, x-amz-…, the sandbox's own): their values may
            // be secrets.
            _ if k.starts_with("x-") => "present".into(),
            _ => continue,
        };
        out.insert(k, shown);
    }
    out
}

/// A Content-Type's media type and the names of its parameters (`multipart/form-data;
/// boundary`), without their values.
fn media_type(v: &str) -> String {
    let names = v
        .split(';')
        .map(|p| p.split('=').next().unwrap_or("").trim().to_lowercase());
    let names: Vec<String> = names.filter(|n| !n.is_empty()).collect();
    names.join("; ")
}

/// The key paths of a JSON value and their types: `{"a": {"b": [1]}}` gives `a: object`,
/// `a.b: array`, `a.b[]: integer`. The elements of an array share one path.
fn key_paths(v: &Value) -> Value {
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    json!(out)
}

fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    if !path.is_empty() {
        let ty = type_name(v);
        // An array's elements of different types list every type once.
        let types = out.entry(path.to_string()).or_default();
        if types.is_empty() {
            *types = ty.to_string();
        } else if !types.split('|').any(|x| x == ty) {
            *types = format!("{types}|{ty}");
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let dot = if path.is_empty() { "" } else { "." };
                walk(x, &format!("{path}{dot}{k}"), out);
            }
        }
        Value::Array(a) => {
            let p = format!("{path}[]");
            for x in a {
                walk(x, &p, out);
            }
        }
        _ => {}
    }
}

/// A JSON value's type; a number is `integer` when written without a fraction or
/// exponent, else `float`.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
