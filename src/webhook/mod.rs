//! Webhooks: the service's notifications (snake_case JSON, sent with `Authorization: Bearer
//! rf_<workspace>`), typed as [`Event`]s; [`bearer_matches`] checks the header in constant
//! time. With the `webhook` feature, `Receiver` serves both on a local address, and
//! [`Job::wait_with_webhook`](crate::jobs::Job::wait_with_webhook) can listen instead of
//! polling.

#[cfg(feature = "webhook")]
mod receiver;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::WebhookPayload;
pub use crate::model::{
    ErrorDetails, FailedFile, IngestEvent, IngestNotification, JobNotification,
};
#[cfg(feature = "webhook")]
pub use receiver::{Receiver, ReceiverBuilder};

/// The `type`s of ingest and job notifications.
const KNOWN_TYPES: [&str; 2] = [
    "roboflow-data-staging-notification-v1",
    "roboflow-batch-job-notification-v1",
];

/// One notification received. Bodies of a `type` this version does not know are kept as
/// [`Event::Other`], not refused, so that a receiver keeps acknowledging them.
///
/// ```
/// use roboflow_batch::webhook::Event;
/// let e = Event::parse(br#"{"type":"roboflow-stage-notification-v9","job_id":"j"}"#)?;
/// assert!(matches!(e, Event::Other(_)));
/// assert_eq!(e.job_id(), None);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A job finished.
    Job(JobNotification),
    /// An ingest finished, or a shard's files were indexed.
    Ingest(IngestNotification),
    /// A JSON object of another type.
    Other(Value),
}

impl Event {
    /// Decodes a webhook body. A body that is not a JSON object, or whose known `type` has
    /// the wrong shape, is an [`Error::Decode`] naming the field at fault.
    ///
    /// ```
    /// use roboflow_batch::webhook::Event;
    /// let err = Event::parse(br#"{"type":"roboflow-batch-job-notification-v1","job_id":3}"#).unwrap_err();
    /// assert!(err.to_string().contains("job_id"), "{err}");
    /// ```
    pub fn parse(body: &[u8]) -> Result<Event> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| decode_error("", e.to_string(), body))?;
        if !value.is_object() {
            let message = "the body is not a JSON object".into();
            return Err(decode_error("", message, body));
        }
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        if !KNOWN_TYPES.contains(&kind) {
            return Ok(Event::Other(value));
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        let payload: WebhookPayload = serde_path_to_error::deserialize(de)
            .map_err(|e| decode_error(&e.path().to_string(), e.inner().to_string(), body))?;
        Ok(match payload {
            WebhookPayload::Job(j) => Event::Job(j),
            WebhookPayload::Ingest(i) => Event::Ingest(i),
        })
    }

    /// The event id (the same on every redelivery), when the payload has one.
    ///
    /// ```
    /// let e = roboflow_batch::webhook::Event::parse(br#"{"type":"x","event_id":"e7"}"#).unwrap();
    /// assert_eq!(e.event_id(), Some("e7"));
    /// ```
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Event::Job(j) => Some(&j.event_id),
            Event::Ingest(i) => Some(&i.event_id),
            Event::Other(v) => v.get("event_id").and_then(Value::as_str),
        }
    }

    /// The job a job notification is about.
    ///
    /// ```
    /// let e = roboflow_batch::webhook::Event::parse(br#"{"type":"roboflow-batch-job-notification-v1",
    ///   "event_id":"e","job_id":"job-9","job_state":"fail","delivery_attempt":2}"#).unwrap();
    /// assert_eq!(e.job_id(), Some("job-9"));
    /// ```
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::Job(j) => Some(&j.job_id),
            _ => None,
        }
    }
}

/// A webhook body that cannot be read, with the JSON path at fault and a snippet.
fn decode_error(path: &str, message: String, body: &[u8]) -> Error {
    Error::Decode {
        url: "webhook".into(),
        path: path.to_string(),
        message,
        snippet: crate::redact::clean_snippet(&String::from_utf8_lossy(body), 120, &[] as &[&str]),
    }
}

/// Whether an `Authorization` header value is `Bearer <token>`, the scheme in any case, the
/// token compared in time that depends only on the lengths.
///
/// ```
/// use roboflow_batch::webhook::bearer_matches;
/// assert!(bearer_matches(Some("bearer rf_acme"), "rf_acme") && !bearer_matches(None, "rf_acme"));
/// ```
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some((scheme, value)) = header.map(str::trim).and_then(|h| h.split_once(' ')) else {
        return false;
    };
    // Evaluate both so the time does not reveal which part failed.
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer");
    let token_ok = constant_time_eq(value.trim().as_bytes(), token.as_bytes());
    scheme_ok & token_ok
}

/// Compares every byte of the longer input, whatever differs first.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}
