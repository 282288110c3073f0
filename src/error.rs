//! The crate's one error type: the context of a failure, and no secret.

use std::time::Duration;

use crate::redact::redact_text;
use crate::transport::{Method, TransportError, TransportErrorKind};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The context of an HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{method} {url} returned HTTP {status}{}",
    detail(message, body_snippet)
)]
pub struct ApiError {
    /// The request's method.
    pub method: Method,
    /// The request's URL with every query value redacted.
    pub url: String,
    /// The response status.
    pub status: u16,
    /// The server's message, from a JSON `error`, `message` or `detail` field.
    pub message: Option<String>,
    /// The start of the response body, scrubbed of secrets.
    pub body_snippet: String,
}

/// `: ` and the server's message, or else the body's start, redacted.
fn detail(message: &Option<String>, snippet: &str) -> String {
    match message.as_deref().unwrap_or(snippet) {
        "" => String::new(),
        m => format!(": {}", redact_text(m)),
    }
}

/// Everything that can go wrong. `Display` and `Debug` never show the API key or a signed
/// URL's secrets: URLs sent have every query value redacted, URLs quoted in other text
/// their secret-bearing parameters (see [`redact_text`]).
///
/// ```
/// let err = roboflow_batch::BatchId::new("Not Valid").unwrap_err();
/// assert!(matches!(err, roboflow_batch::Error::InvalidInput { .. }) && !err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value was rejected before anything was sent.
    #[error("invalid {field}: {}", redact_text(rule))]
    InvalidInput {
        /// The field or argument at fault, e.g. `batch_id`.
        field: String,
        /// The rule it broke, with the offending value where that is not a secret.
        rule: String,
    },
    /// HTTP 401: the API key is missing or wrong.
    #[error("unauthorized (check the API key): {0}")]
    Unauthorized(Box<ApiError>),
    /// HTTP 402 or 403: the workspace may not do this (plan, permissions).
    #[error("forbidden or payment required: {0}")]
    Forbidden(Box<ApiError>),
    /// HTTP 404: no such workspace, batch or job.
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// HTTP 409: e.g. a job id reused with a different definition.
    #[error("conflict: {0}")]
    Conflict(Box<ApiError>),
    /// HTTP 429, still failing after the retries allowed.
    #[error("rate limited{}: {error}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The response.
        error: Box<ApiError>,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx, still failing after the retries allowed.
    #[error("server error: {0}")]
    Server(Box<ApiError>),
    /// Any other unexpected status, such as a 400 for a bad request.
    #[error("request rejected: {0}")]
    Api(Box<ApiError>),
    /// No response was received.
    #[error("{method} {url} failed: {source}")]
    Transport {
        /// The request's method.
        method: Method,
        /// The request's URL with every query value redacted.
        url: String,
        /// What failed, with a kind that decides retries.
        #[source]
        source: TransportError,
    },
    /// A successful response did not have the expected shape.
    #[error(
        "could not decode the response of {url} at `{path}`: {}; body starts: {}",
        redact_text(message),
        redact_text(snippet)
    )]
    Decode {
        /// The request's URL with every query value redacted.
        url: String,
        /// The JSON path where decoding failed, e.g. `jobs[0].createdAt`.
        path: String,
        /// What was wrong.
        message: String,
        /// The start of the body, scrubbed of secrets.
        snippet: String,
    },
    /// A local file or stream failed (see [`Error::io`]).
    #[error("{}: {}", redact_text(context), redact_text(&source.to_string()))]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A tar archive could not be built or read.
    #[error("archive {context}: {}", redact_text(message))]
    Archive {
        /// Which archive or member.
        context: String,
        /// What was wrong.
        message: String,
    },
    /// A paginated listing returned a token it had already returned, which would loop forever.
    #[error("pagination of {url} repeated the page token it returned before; stopping")]
    RepeatedPageToken {
        /// The listing's URL with every query value redacted.
        url: String,
    },
    /// A paginated listing returned more empty pages with new tokens in a row than 16 (the
    /// service's) or 100 (a bucket's).
    #[error(
        "pagination of {listing} returned {pages} empty pages in a row, each with a new token; stopping"
    )]
    TooManyEmptyPages {
        /// The listing (a name or a URL with every query value redacted).
        listing: String,
        /// How many empty pages in a row were fetched.
        pages: usize,
    },
    /// A bulk-upload shard failed to be indexed.
    #[error(
        "shard {shard_id} of batch {batch_id} failed ({status}): {}",
        redact_text(details)
    )]
    ShardFailed {
        /// The batch.
        batch_id: String,
        /// The shard.
        shard_id: String,
        /// The shard's status name.
        status: String,
        /// The start of its status details (e.g. the files that failed).
        details: String,
    },
    /// The client is misconfigured (missing API key, bad base URL).
    #[error("configuration: {}", redact_text(.0))]
    Config(String),
    /// A cloud store refused a listing, or its credentials are missing or unusable.
    #[error("{store}: {message}")]
    Cloud {
        /// `S3`, `GCS` or `Azure`.
        store: &'static str,
        /// The store's HTTP status, when it answered.
        status: Option<u16>,
        /// What failed and what to check.
        message: String,
    },
    /// Waiting for something took longer than allowed.
    #[error("timed out after {waited:?} waiting for {what}")]
    WaitTimeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// Another run holds the lock of something only one run may use at a time (an ingest's
    /// journal); the lock goes with the process.
    #[error(
        "{what} is in use by another run{} (lock file {}); wait for it to finish, or stop it",
        holder.map(|p| format!(" (process {p})")).unwrap_or_default(),
        lock.display()
    )]
    Locked {
        /// What is locked.
        what: String,
        /// The lock file.
        lock: std::path::PathBuf,
        /// The process holding it, as it wrote itself in the lock file.
        holder: Option<u32>,
    },
}

impl Error {
    /// An [`Error::InvalidInput`].
    ///
    /// ```
    /// let e = roboflow_batch::Error::invalid("page_size", "must be at least 1");
    /// assert_eq!(e.to_string(), "invalid page_size: must be at least 1");
    /// ```
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            rule: redact_text(&rule.into()),
        }
    }

    /// An [`Error::Io`] naming what was being done (`?` on an I/O error says only "I/O
    /// error").
    ///
    /// ```
    /// let e = roboflow_batch::Error::io("reading img.jpg", std::io::ErrorKind::NotFound.into());
    /// assert!(e.to_string().starts_with("reading img.jpg"));
    /// ```
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: redact_text(&context.into()),
            source,
        }
    }

    /// Maps an error response to its variant.
    ///
    /// ```
    /// # use roboflow_batch::{ApiError, Error, transport::Method};
    /// let api = ApiError { method: Method::Get, url: "http://h/x".into(), status: 404, message: None, body_snippet: "".into() };
    /// assert!(matches!(Error::from_status(api, None), Error::NotFound(_)));
    /// ```
    pub fn from_status(api: ApiError, retry_after: Option<Duration>) -> Self {
        let api = Box::new(api);
        match api.status {
            401 => Error::Unauthorized(api),
            402 | 403 => Error::Forbidden(api),
            404 => Error::NotFound(api),
            409 => Error::Conflict(api),
            429 => Error::RateLimited {
                error: api,
                retry_after,
            },
            500..=599 => Error::Server(api),
            _ => Error::Api(api),
        }
    }

    /// Whether trying again later may succeed: for 408, 429, 500, 502, 503 and 504, and
    /// connect, timeout and interrupted transport errors.
    ///
    /// ```
    /// assert!(!roboflow_batch::Error::invalid("x", "y").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.kind().is_retryable(true),
            _ => self.status().is_some_and(is_retryable_status),
        }
    }

    /// The HTTP status, for errors that came from a response.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::Error::Config("x".into()).status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        if let Error::Cloud { status, .. } = self {
            return *status;
        }
        self.api_error().map(|a| a.status)
    }

    /// The response context, for errors that came from a response.
    ///
    /// ```
    /// assert!(roboflow_batch::Error::Config("x".into()).api_error().is_none());
    /// ```
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Unauthorized(a)
            | Error::Forbidden(a)
            | Error::NotFound(a)
            | Error::Conflict(a)
            | Error::Server(a)
            | Error::Api(a) => Some(a),
            Error::RateLimited { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The transport failure's kind, for [`Error::Transport`].
    ///
    /// ```
    /// assert!(roboflow_batch::Error::Config("x".into()).transport_kind().is_none());
    /// ```
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Error::Transport { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// `?` on an I/O error gives an [`Error::Io`] whose context only says it was I/O.
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            context: "I/O error".into(),
            source,
        }
    }
}

/// Statuses that signal a transient condition: 408, 429, 500, 502, 503, 504.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}
