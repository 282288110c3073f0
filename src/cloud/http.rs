//! Listing requests over the crate's transport: retries, caps, and errors without secrets.

use std::sync::Arc;

use super::{CloudObject, Page};
use crate::api::retry::{Idempotency, Refused, Retrying, send_with_retry};
use crate::api::{Clock, RetryPolicy};
use crate::redact::{clean_snippet, redact_url, scrub};
use crate::transport::{HttpRequest, Transport};
use crate::{Error, Result};
use instant_xml::FromXml;

/// The largest listing or token answer read (a page of 5,000 keys is about 2 MiB).
const MAX_BODY: u64 = 32 << 20;
/// How much of a store's error message is kept.
const MESSAGE_CHARS: usize = 300;

/// How a store's requests are sent.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Clock,
}

/// A store's refusal: the status and what the store said (scrubbed).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) region_hint: Option<String>,
}

impl Refusal {
    /// `HTTP 403 SignatureDoesNotMatch: …`
    pub(crate) fn summary(&self) -> String {
        let code = self
            .code
            .as_deref()
            .map_or(String::new(), |c| format!(" {c}"));
        match self.message.as_str() {
            "" => format!("HTTP {}{code}", self.status),
            m => format!("HTTP {}{code}: {m}", self.status),
        }
    }
}

impl Http {
    /// The body of a 2xx answer to `make`'s request (under the crate's one retry loop), or
    /// the store's refusal; `secrets` are scrubbed from everything kept.
    pub(crate) fn fetch(
        &self,
        store: &'static str,
        make: &dyn Fn() -> HttpRequest,
        secrets: &[String],
    ) -> Result<std::result::Result<Vec<u8>, Refusal>> {
        let how = Retrying {
            policy: &self.retry,
            clock: &self.clock,
            idempotency: Idempotency::Idempotent,
            secrets,
            on_retry: &|_| {},
        };
        let all_secrets = |url: &str| {
            let mut all = crate::redact::query_secrets(url);
            all.extend(secrets.iter().cloned());
            all
        };
        match send_with_retry(&*self.transport, &how, || Ok(make()), Ok)? {
            Ok(resp) => resp.read_body(MAX_BODY).map(Ok).map_err(|e| {
                // The request is built again only to name it.
                let url = make().url;
                let message = format!("reading the answer of {} failed: {e}", redact_url(&url));
                cloud_error(store, None, scrub(&message, &all_secrets(&url)))
            }),
            Err(Refused { url, response, .. }) => {
                let status = response.status;
                let region_hint = response.header("x-amz-bucket-region").map(str::to_string);
                let body = response.read_body(64 << 10).unwrap_or_default();
                let (code, message) = parse_error_body(&body);
                // Known secrets go, and so does any signed URL the store quotes, before the
                // message is cut.
                let all = all_secrets(&url);
                let clean = |t: &str| clean_snippet(t, MESSAGE_CHARS, &all);
                Ok(Err(Refusal {
                    status,
                    code: code.map(|c| clean(&c)),
                    message: clean(&message),
                    region_hint,
                }))
            }
        }
    }
}

impl Refusal {
    /// The error for a refused listing of `what`: a 401 or 403 says which credentials to
    /// `check`, anything else where the request went (`at`).
    pub(crate) fn listing_error(
        &self,
        store: &'static str,
        what: &str,
        check: &str,
        at: &str,
    ) -> Error {
        let message = if matches!(self.status, 401 | 403) {
            format!("{what} was refused ({}); {check}", self.summary())
        } else {
            format!("{what} failed ({}) at {at}", self.summary())
        };
        cloud_error(store, Some(self.status), message)
    }
}

/// An error of `store`, with the status it answered, if any.
pub(crate) fn cloud_error(
    store: &'static str,
    status: Option<u16>,
    message: impl Into<String>,
) -> Error {
    Error::Cloud {
        store,
        status,
        message: message.into(),
    }
}

/// The error for a listing of `what` whose answer could not be decoded.
pub(crate) fn undecodable(store: &'static str, what: &str, why: impl std::fmt::Display) -> Error {
    let message = format!("the listing of {what} could not be decoded: {why}");
    cloud_error(store, None, message)
}

/// A `ListObjectsV2` answer (S3, and GCS's XML API) as a page; `what` names the listing.
pub(crate) fn list_objects_v2(store: &'static str, body: &[u8], what: &str) -> Result<Page> {
    let text = String::from_utf8_lossy(body);
    let parsed = rusty_s3::actions::ListObjectsV2::parse_response(&text).map_err(|e| {
        let code = parse_error_body(body).0.map(|c| format!("; its code: {c}"));
        undecodable(store, what, format!("{e}{}", code.unwrap_or_default()))
    })?;
    let objects = parsed.contents.into_iter().map(|c| CloudObject {
        key: c.key,
        size: c.size,
    });
    Ok(Page {
        objects: objects.collect(),
        next: parsed.next_continuation_token,
    })
}

/// HMAC-SHA256 of `data` under `key` (SigV4, GCS HMAC keys, Azure SAS).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// A V4 signature (SigV4 and GCS V4 alike): the key derived from `secret` (with its
/// `AWS4`/`GOOG4` prefix) through `date` and the three `scope` parts, over `string_to_sign`.
pub(crate) fn v4_signature(secret: &str, date: &str, scope: [&str; 3], to_sign: &str) -> String {
    let mut key = hmac_sha256(secret.as_bytes(), date.as_bytes());
    for part in scope {
        key = hmac_sha256(&key, part.as_bytes());
    }
    super::hex(&hmac_sha256(&key, to_sign.as_bytes()))
}

/// A V4 canonical query: each pair percent-encoded, sorted, joined with `&`.
pub(crate) fn canonical_query<K: AsRef<str>>(pairs: &[(K, String)]) -> String {
    let mut sorted: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (crate::urls::encode(k.as_ref()), crate::urls::encode(v)))
        .collect();
    sorted.sort();
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

#[derive(FromXml)]
#[xml(rename = "Error")]
struct XmlError {
    #[xml(rename = "Code")]
    code: Option<String>,
    #[xml(rename = "Message")]
    message: Option<String>,
}

/// The code and message of an XML `<Error>` (S3, GCS, Azure) or JSON `{"error": …}` (GCS,
/// OAuth) answer, whole: the caller cuts it once secrets are gone.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim().trim_start_matches('\u{feff}');
    if text.starts_with('<') {
        // A store may quote a URL with a bare `&`, which is not XML: then the code alone.
        let code = || Some(text.split_once("<Code>")?.1.split_once("</Code>")?.0.into());
        return match instant_xml::from_str::<XmlError>(text) {
            Ok(e) => (e.code, e.message.unwrap_or_default()),
            Err(_) => (code(), String::new()),
        };
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let err = &v["error"];
        if let Some(s) = err.as_str() {
            let desc = v["error_description"].as_str().unwrap_or("");
            return (Some(s.to_string()), desc.to_string());
        }
        let code = err["status"]
            .as_str()
            .map(str::to_string)
            .or_else(|| err["code"].as_u64().map(|c| c.to_string()));
        let message = err["message"].as_str().unwrap_or("").to_string();
        return (code, message);
    }
    (None, text.to_string())
}
