//! A call to the API as data, sent with retries, its answer decoded or turned into an error.

use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::BatchApi;
use super::requests::RequestKind;
use super::retry::{Idempotency, Refused, Retrying, send_with_retry};
use crate::error::{ApiError, Error, Result};
use crate::redact::{clean_snippet, query_secrets, redact_url};
use crate::transport::{Body, HttpRequest, HttpResponse, Method};

/// The largest JSON answer buffered.
pub(super) const MAX_JSON_BODY: u64 = 16 << 20;
/// How much of an error body is kept.
const SNIPPET_CHARS: usize = 512;
/// How much of an error body is read: its start says enough, whatever its size.
const ERROR_BODY_PREFIX: u64 = 64 * 1024;

/// A call to the API, before the base URL and the key are added.
pub(crate) struct Call {
    /// What it is for, as counted.
    pub kind: RequestKind,
    pub method: Method,
    /// Path from the base URL, each segment already encoded.
    pub path: String,
    /// Query parameters other than `api_key`, in order, not yet encoded.
    pub query: Vec<(&'static str, String)>,
    /// A content type and the bytes.
    pub body: Option<(String, Vec<u8>)>,
    pub idempotency: Idempotency,
    /// How many times the read timeout the answer may take.
    pub read_timeout_factor: u32,
}

impl Call {
    /// A call of `kind`'s method. Every POST but a restart may be repeated: the service
    /// de-duplicates the others (references carry an ingest id).
    pub fn new(kind: RequestKind, path: String) -> Self {
        Call {
            kind,
            method: kind.method(),
            path,
            query: Vec::new(),
            body: None,
            idempotency: if kind == RequestKind::RestartJob {
                Idempotency::NotIdempotent
            } else {
                Idempotency::Idempotent
            },
            read_timeout_factor: 1,
        }
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn query_opt(self, name: &'static str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    pub fn json(mut self, value: &impl serde::Serialize) -> Result<Self> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| Error::invalid("request body", e.to_string()))?;
        self.body = Some(("application/json".into(), bytes));
        Ok(self)
    }
}

/// The bytes of an upload, in a form that can be read again for a retry.
///
/// ```
/// let s = roboflow_batch::api::UploadSource::file("shard.tar");
/// ```
#[derive(Clone)]
pub enum UploadSource {
    /// Bytes in memory (shared, so retries do not copy them).
    Bytes(Arc<[u8]>),
    /// A file, opened afresh for each try; it must not change while uploading.
    File(PathBuf),
    /// A stream factory: called once per try, it returns a reader of exactly `len` bytes.
    Stream {
        /// Opens a new reader.
        open: Arc<dyn Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync>,
        /// The exact length.
        len: u64,
    },
}

impl std::fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            UploadSource::File(p) => write!(f, "File({})", p.display()),
            UploadSource::Stream { len, .. } => write!(f, "Stream({len} bytes)"),
        }
    }
}

impl UploadSource {
    /// Bytes in memory.
    ///
    /// ```
    /// let src = roboflow_batch::api::UploadSource::bytes(b"jpeg".to_vec());
    /// ```
    pub fn bytes(bytes: impl Into<Arc<[u8]>>) -> Self {
        UploadSource::Bytes(bytes.into())
    }

    /// A file on disk.
    ///
    /// ```
    /// let src = roboflow_batch::api::UploadSource::file("cat.jpg");
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        UploadSource::File(path.into())
    }

    /// The length in bytes (for a file, as it is now).
    ///
    /// ```
    /// assert!(roboflow_batch::api::UploadSource::file("/no/such/img.jpg").len().is_err());
    /// ```
    pub fn len(&self) -> Result<u64> {
        match self {
            UploadSource::Bytes(b) => Ok(b.len() as u64),
            UploadSource::File(p) => std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| Error::io(format!("reading the size of {}", p.display()), e)),
            UploadSource::Stream { len, .. } => Ok(*len),
        }
    }

    /// Whether there are no bytes.
    ///
    /// ```
    /// assert!(roboflow_batch::api::UploadSource::bytes(Vec::new()).is_empty()?);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A body for one try, of exactly `len` bytes.
    pub(crate) fn body(&self, len: u64) -> Result<Body> {
        let reader: Box<dyn std::io::Read + Send> = match self {
            UploadSource::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
            UploadSource::File(p) => Box::new(
                std::fs::File::open(p)
                    .map_err(|e| Error::io(format!("opening {}", p.display()), e))?,
            ),
            UploadSource::Stream { open, .. } => {
                open().map_err(|e| Error::io("opening the upload stream", e))?
            }
        };
        Ok(Body::Reader { reader, len })
    }
}

impl BatchApi {
    /// `base + path + ?api_key=…&query`.
    pub(crate) fn url(&self, path: &str, query: &[(&'static str, String)]) -> String {
        let mut all = vec![("api_key", self.shared.api_key.clone())];
        all.extend(query.iter().cloned());
        crate::urls::with_query(&format!("{}{}", self.shared.base_url, path), &all)
    }

    /// A call of `kind` to `/{api}/v1/external/{workspace}/{collection}`, then `/{id}` when
    /// given (checked by the caller before this looks the workspace up), then `rest`.
    pub(super) fn workspace_call(
        &self,
        kind: RequestKind,
        api_and_collection: (&str, &str),
        id: Option<&str>,
        rest: &str,
    ) -> Result<Call> {
        let (api, collection) = api_and_collection;
        let ws = crate::urls::encode(&self.workspace()?);
        let id = id.map_or(String::new(), |i| format!("/{}", crate::urls::encode(i)));
        let path = format!("/{api}/v1/external/{ws}/{collection}{id}{rest}");
        Ok(Call::new(kind, path))
    }

    fn request(&self, call: &Call) -> HttpRequest {
        let mut req = HttpRequest::new(call.method, self.url(&call.path, &call.query))
            .read_timeout_factor(call.read_timeout_factor);
        if let Some((ct, bytes)) = &call.body {
            req = req
                .with_header("Content-Type", ct.clone())
                .body(Body::Bytes(bytes.clone()));
        }
        req
    }

    /// Sends a call with retries; `accept` reads the successful answer. Inputs are checked
    /// by name before this; a path with a dot segment, which would reach another endpoint,
    /// is refused here whatever built it.
    pub(super) fn execute<T>(
        &self,
        call: &Call,
        accept: impl FnMut(HttpResponse) -> std::io::Result<T>,
    ) -> Result<T> {
        if crate::urls::has_dot_segment(&call.path) {
            let rule = format!("{:?} has a `.` or `..` segment", call.path);
            return Err(Error::invalid("path", rule));
        }
        self.send(
            call.kind,
            call.idempotency,
            || Ok(self.request(call)),
            accept,
        )
    }

    /// Sends a call whose answer does not matter (any 2xx is success): the body is read, so
    /// that the connection can be reused, and ignored, as the official client ignores it.
    pub(super) fn execute_ignoring_body(&self, call: &Call) -> Result<()> {
        self.execute(call, |r| {
            let _ = super::retry::drain(r.body, MAX_JSON_BODY);
            Ok(())
        })
    }

    /// Sends a call and decodes its JSON answer. A body cut off mid-read is retried like a
    /// dropped connection.
    pub(super) fn execute_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let body = self.execute(call, |r| r.read_body(MAX_JSON_BODY))?;
        let raw_url = self.url(&call.path, &call.query);
        decode_json(&body).map_err(|(path, message)| Error::Decode {
            url: redact_url(&raw_url),
            path,
            message,
            snippet: clean_snippet(
                String::from_utf8_lossy(&body).trim(),
                SNIPPET_CHARS,
                &self.secrets(&raw_url),
            ),
        })
    }

    /// Sends requests made by `make` (once per try, each counted as a request of `kind`)
    /// through the retry loop, under the client's policy and clock, telling this handle's
    /// retry callback; `accept` reads the successful response, and an I/O failure there
    /// counts as a failed exchange.
    pub(crate) fn send<T>(
        &self,
        kind: RequestKind,
        idempotency: Idempotency,
        mut make: impl FnMut() -> Result<HttpRequest>,
        accept: impl FnMut(HttpResponse) -> std::io::Result<T>,
    ) -> Result<T> {
        let shared = &self.shared;
        let key = self.key_secrets();
        let on_retry = |cause| {
            if let Some(f) = &self.on_retry {
                f(cause);
            }
        };
        let how = Retrying {
            policy: &shared.retry,
            clock: &shared.clock,
            idempotency,
            secrets: &key,
            on_retry: &on_retry,
        };
        let counted = || {
            let req = make()?;
            shared.requests.add(kind);
            Ok(req)
        };
        send_with_retry(&*shared.transport, &how, counted, accept)?
            .map_err(|refused| self.error_from_response(refused))
    }

    /// Every secret that could appear in text about `url`.
    pub(crate) fn secrets(&self, url: &str) -> Vec<String> {
        let mut s = query_secrets(url);
        s.extend(self.key_secrets());
        s
    }

    /// The API key, as given and as sent in a query.
    fn key_secrets(&self) -> [String; 2] {
        let key = &self.shared.api_key;
        [key.clone(), crate::urls::encode(key)]
    }

    /// The error of a refused request: its status, the server's message and a body
    /// snippet, secrets gone.
    fn error_from_response(&self, refused: Refused) -> Error {
        let (url, status) = (&refused.url, refused.response.status);
        let secrets = self.secrets(url);
        // A prefix only: a proxy's 502 page can be any size.
        let body = read_prefix(refused.response.body, ERROR_BODY_PREFIX);
        let text = String::from_utf8_lossy(&body);
        // Bodies may echo signed URLs (a reference that could not be fetched); secrets go
        // from the whole text before it is cut.
        let clean = |t: &str| clean_snippet(t, SNIPPET_CHARS, &secrets);
        let api = ApiError {
            method: refused.method,
            url: redact_url(url),
            status,
            message: error_message(&text).map(|m| clean(&m)),
            body_snippet: clean(text.trim()),
        };
        Error::from_status(api, refused.retry_after)
    }
}

/// Decodes JSON; on failure returns the JSON path and the message.
fn decode_json<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, (String, String)> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de)
        .map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
}

/// The first `limit` bytes of a body; a failed read keeps what came before it.
fn read_prefix(body: impl std::io::Read, limit: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut body.take(limit), &mut out);
    out
}

/// The server's message from a JSON error body: `error` (a string, or an object with a
/// `message`), `message` or `detail`. A body cut short (a prefix of a large one) still
/// gives its message when the message's string comes whole before the cut.
fn error_message(body: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return truncated_message(body);
    };
    let pick = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("message")?.as_str().map(str::to_string),
        _ => None,
    };
    ["error", "message", "detail"]
        .iter()
        .find_map(|k| v.get(*k).and_then(pick))
}

/// The first `"error"`, `"message"` or `"detail"` string of a JSON object cut short.
fn truncated_message(body: &str) -> Option<String> {
    if !body.trim_start().starts_with('{') {
        return None;
    }
    ["\"error\"", "\"message\"", "\"detail\""]
        .iter()
        .filter_map(|key| {
            let at = body.find(key)?;
            let rest = body.get(at + key.len()..)?.trim_start().strip_prefix(':')?;
            let mut strings =
                serde_json::Deserializer::from_str(rest.trim_start()).into_iter::<String>();
            strings.next()?.ok().map(|m| (at, m))
        })
        .min_by_key(|(at, _)| *at)
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_a_dot_segment_is_never_sent() {
        let never = |_: HttpRequest| -> std::result::Result<HttpResponse, crate::transport::TransportError> {
            panic!("sent")
        };
        let api = BatchApi::builder()
            .api_key("k")
            .transport(never)
            .build()
            .unwrap();
        for path in ["/a/../b", "/a/%2e%2E/b", "/./a"] {
            let err = api
                .execute_json::<serde_json::Value>(&Call::new(RequestKind::Workspace, path.into()))
                .unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "path"),
                "{err}"
            );
        }
    }
}
