//! Building requests, sending them with retries, and decoding responses.

use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::BatchApi;
use super::requests::RequestKind;
use super::retry::{Idempotency, Refused, Retrying, send_with_retry};
use crate::error::{ApiError, Error, Result};
use crate::redact::{clean_snippet, query_secrets, redact_url};
use crate::transport::{Body, HttpRequest, HttpResponse, Method};

/// The largest JSON response buffered (16 MiB).
pub(crate) const MAX_JSON_BODY: u64 = 16 << 20;
/// How much of an error body is kept.
const SNIPPET_CHARS: usize = 512;
/// How much of an error body is read: a prefix, whatever the body's size.
pub(crate) const ERROR_BODY_PREFIX: u64 = 64 * 1024;

/// A call to the API, before the base URL and the key are added. Pure data, so that
/// builders can be tested as tables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    /// What it is for, as counted.
    pub kind: RequestKind,
    pub method: Method,
    /// Path from the base URL, each segment already encoded.
    pub path: String,
    /// Query parameters other than `api_key`, in order, not yet encoded.
    pub query: Vec<(&'static str, String)>,
    /// The body: `None`, or a content type and bytes.
    pub body: Option<(String, Vec<u8>)>,
    pub idempotency: Idempotency,
    /// How many times the read timeout the answer may take (see
    /// [`HttpRequest::read_timeout_factor`](crate::transport::HttpRequest)).
    pub read_timeout_factor: u32,
}

impl Call {
    pub fn get(kind: RequestKind, path: String) -> Self {
        Call {
            kind,
            method: Method::Get,
            path,
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            read_timeout_factor: 1,
        }
    }

    pub fn post(kind: RequestKind, path: String, idempotency: Idempotency) -> Self {
        Call {
            kind,
            method: Method::Post,
            path,
            query: Vec::new(),
            body: None,
            idempotency,
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
/// use roboflow_batch::api::UploadSource;
/// let s = UploadSource::bytes(b"tar bytes".to_vec());
/// assert_eq!(s.len().unwrap(), 9);
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
    /// use roboflow_batch::api::UploadSource;
    /// let src = UploadSource::bytes(b"\xFF\xD8 jpeg".to_vec());
    /// assert_eq!(src.len()?, 7);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn bytes(bytes: impl Into<Arc<[u8]>>) -> Self {
        UploadSource::Bytes(bytes.into())
    }

    /// A file on disk.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("cat.jpg");
    /// # std::fs::write(&path, b"jpeg bytes")?;
    /// use roboflow_batch::api::UploadSource;
    /// assert_eq!(UploadSource::file(&path).len()?, 10);
    /// assert!(UploadSource::file(dir.path().join("missing.jpg")).len().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        UploadSource::File(path.into())
    }

    /// The length in bytes (for a file, as it is now).
    ///
    /// ```
    /// use roboflow_batch::api::UploadSource;
    /// assert_eq!(UploadSource::bytes(vec![0u8; 1024]).len()?, 1024);
    /// assert!(UploadSource::file("/no/such/dir/img.jpg").len().is_err());
    /// # Ok::<(), roboflow_batch::Error>(())
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
    /// use roboflow_batch::api::UploadSource;
    /// assert!(UploadSource::bytes(Vec::new()).is_empty()?);
    /// assert!(!UploadSource::bytes(b"x".to_vec()).is_empty()?);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A body for one try, of exactly `len` bytes.
    pub(crate) fn body(&self, len: u64) -> Result<Body> {
        match self {
            UploadSource::Bytes(b) => Ok(Body::sized(std::io::Cursor::new(b.clone()), len)),
            UploadSource::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
                Ok(Body::sized(f, len))
            }
            UploadSource::Stream { open, .. } => {
                let r = open().map_err(|e| Error::io("opening the upload stream", e))?;
                Ok(Body::sized(r, len))
            }
        }
    }
}

impl BatchApi {
    /// `base + path + ?api_key=…&query`.
    pub(crate) fn url(&self, path: &str, query: &[(&'static str, String)]) -> String {
        let mut all = Vec::with_capacity(query.len() + 1);
        all.push(("api_key", self.shared.api_key.clone()));
        all.extend(query.iter().cloned());
        crate::urls::with_query(&format!("{}{}", self.shared.base_url, path), &all)
    }

    /// The request a call turns into.
    pub(crate) fn request(&self, call: &Call) -> HttpRequest {
        let mut req = HttpRequest::new(call.method, self.url(&call.path, &call.query))
            .read_timeout_factor(call.read_timeout_factor);
        if let Some((ct, bytes)) = &call.body {
            req = req
                .with_header("Content-Type", ct.clone())
                .body(Body::Bytes(bytes.clone()));
        }
        req
    }

    /// Refuses a path with a dot segment, which would reach another endpoint. Inputs are
    /// checked by name before this; it guards every call that is sent.
    fn check_path(call: &Call) -> Result<()> {
        if crate::urls::has_dot_segment(&call.path) {
            return Err(Error::invalid(
                "path",
                format!("{:?} has a `.` or `..` segment", call.path),
            ));
        }
        Ok(())
    }

    /// Sends a call with retries and returns the successful response, body unread.
    pub(crate) fn execute(&self, call: &Call) -> Result<HttpResponse> {
        Self::check_path(call)?;
        self.send(call.kind, call.idempotency, || Ok(self.request(call)), Ok)
    }

    /// Sends a call and decodes its JSON answer. A body cut off mid-read is retried like a
    /// dropped connection.
    pub(crate) fn execute_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        Self::check_path(call)?;
        let url = self.url(&call.path, &call.query);
        let body = self.send(
            call.kind,
            call.idempotency,
            || Ok(self.request(call)),
            |resp| resp.read_body(MAX_JSON_BODY),
        )?;
        self.decode_bytes(&url, &body)
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
        let Refused {
            method,
            url: raw_url,
            response: resp,
            retry_after,
        } = refused;
        let status = resp.status;
        let secrets = self.secrets(&raw_url);
        // A prefix only: a proxy's 502 page can be any size, and its start says enough.
        let body = read_prefix(resp.body, ERROR_BODY_PREFIX);
        let text = String::from_utf8_lossy(&body);
        // Bodies may echo signed URLs (a reference that could not be fetched); secrets go
        // from the whole text before it is cut.
        let clean = |t: &str| clean_snippet(t, SNIPPET_CHARS, &secrets);
        let message = error_message(&text).map(|m| clean(&m));
        let api = ApiError {
            method,
            url: redact_url(&raw_url),
            status,
            message,
            body_snippet: clean(text.trim()),
        };
        Error::from_status(api, retry_after)
    }

    /// Decodes a JSON body, reporting the JSON path of a mismatch.
    pub(crate) fn decode_bytes<T: DeserializeOwned>(
        &self,
        raw_url: &str,
        body: &[u8],
    ) -> Result<T> {
        decode_json(body).map_err(|(path, message)| Error::Decode {
            url: redact_url(raw_url),
            path,
            message,
            snippet: clean_snippet(
                String::from_utf8_lossy(body).trim(),
                SNIPPET_CHARS,
                &self.secrets(raw_url),
            ),
        })
    }
}

/// Decodes JSON; on failure returns the path and the message.
pub(crate) fn decode_json<T: DeserializeOwned>(
    body: &[u8],
) -> std::result::Result<T, (String, String)> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        (path, e.into_inner().to_string())
    })
}

/// The first `limit` bytes of a body; a failed read keeps what came before it.
pub(crate) fn read_prefix(body: impl std::io::Read, limit: u64) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut r = body.take(limit);
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    out
}

/// The server's message from a JSON error body: `error` (a string, or an object with a
/// `message`), `message` or `detail`. A body cut short (a prefix of a large one) still
/// gives its message when the message's string comes whole before the cut.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return truncated_message(body);
    };
    let pick = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            _ => None,
        }
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
    use crate::transport::TransportError;

    #[test]
    fn error_message_forms() {
        let cases = [
            (r#"{"error":"bad batch"}"#, Some("bad batch")),
            (r#"{"error":{"message":"nested"}}"#, Some("nested")),
            (r#"{"message":"m"}"#, Some("m")),
            (r#"{"detail":"d"}"#, Some("d")),
            (r#"{"other":1}"#, None),
            ("<html>oops</html>", None),
            // Cut short: the message is whole before the cut.
            (
                r#"{"error": "upstream timed out", "trace": "aaaa"#,
                Some("upstream timed out"),
            ),
            (r#"{"trace": "x", "detail":"d\"q", "more": ["#, Some("d\"q")),
            (r#"{"error": "cut in the midd"#, None),
            (r#"["error": "not an object""#, None),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn a_path_with_a_dot_segment_is_never_sent() {
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = sent.clone();
        let api = BatchApi::builder()
            .api_key("k")
            .workspace("ws")
            .transport(
                move |_: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(HttpResponse::json(200, "{}"))
                },
            )
            .build()
            .unwrap();
        for path in ["/a/../b", "/a/%2e%2E/b", "/./a"] {
            let err = api
                .execute(&Call::get(RequestKind::Workspace, path.into()))
                .unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "path"),
                "{err}"
            );
            let err = api
                .execute_json::<serde_json::Value>(&Call::get(RequestKind::Workspace, path.into()))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        }
        assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 0);
        api.execute(&Call::get(RequestKind::Workspace, "/a/..b/c".into()))
            .unwrap();
    }

    #[test]
    fn a_key_across_the_cut_of_an_error_message_is_not_shown_in_part() {
        // Issue 14: a long message with the key placed across the 512th character.
        const KEY: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz";
        // From 4 characters on: shorter pieces occur in any text.
        for keep in 4..KEY.len() {
            let message = format!("{}{KEY} is not valid here", "-".repeat(512 - keep));
            let body = serde_json::json!({ "error": message, "trace": message }).to_string();
            let api = BatchApi::builder()
                .api_key(KEY)
                .workspace("ws")
                .transport(
                    move |_: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
                        Ok(HttpResponse::json(400, body.clone()))
                    },
                )
                .build()
                .unwrap();
            let err = api
                .execute_json::<serde_json::Value>(&Call::get(RequestKind::Workspace, "/x".into()))
                .unwrap_err();
            let api_error = err.api_error().unwrap();
            for text in [
                err.to_string(),
                format!("{err:?}"),
                api_error.body_snippet.clone(),
            ] {
                assert!(!text.contains(&KEY[..keep]), "{keep}: {text}");
            }
            assert!(api_error.message.as_deref().unwrap().ends_with('…'));
        }
    }

    #[test]
    fn decode_reports_path() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            jobs: Vec<crate::model::JobMetadata>,
        }
        let (path, msg) = decode_json::<T>(br#"{"jobs":[{"jobId":"j"}]}"#).unwrap_err();
        assert_eq!(path, "jobs[0]");
        assert!(msg.contains("missing field"), "{msg}");
    }
}
