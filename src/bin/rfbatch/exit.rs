//! Error classes, their exit codes, and the one line printed for a failure.

use std::process::ExitCode;

use roboflow_batch::Error;
use roboflow_batch::transport::TransportErrorKind;

/// The exit codes, as printed by `rfbatch --help` and listed in the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    other failure (a local file, an unexpected error)
  2    usage: bad arguments, a value rejected before anything was sent, a missing API key,
       or a request the service rejected as invalid (400)
  3    auth: the API key was rejected (401) or may not do this (402, 403)
  4    not found: no such batch, job or workspace (404)
  5    conflict: the request clashes with what exists, e.g. a job id reused for another job (409)
  6    network: no answer from the service (connection refused, DNS, TLS, timeout)
  7    service: server errors (5xx) or rate limiting that outlasted the retries, or an answer
       of an unexpected shape
  8    partial failure: the command finished, but some items failed (its report lists them)
  9    job failed: the job ended in failure
  10   timed out while waiting
  130  interrupted (Ctrl-C); running the same command again resumes";

/// A kind of failure: the discriminant is its exit code, the serde form its `--json` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Other = 1,
    Usage = 2,
    Auth = 3,
    NotFound = 4,
    Conflict = 5,
    Network = 6,
    Service = 7,
    #[serde(rename = "partial_failure")]
    Partial = 8,
    JobFailed = 9,
    Timeout = 10,
    Interrupted = 130,
}

/// A command's failure: a class, one line of message, and an optional hint.
#[derive(Debug)]
pub struct Failure {
    pub class: Class,
    pub message: String,
    pub hint: Option<String>,
    /// Set when stdout was closed by its reader (`rfbatch … | head`): exit quietly.
    pub broken_pipe: bool,
}

impl Failure {
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
            hint: None,
            broken_pipe: false,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Class::Usage, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A failure writing to stdout or stderr.
    pub fn output(err: std::io::Error) -> Self {
        let mut f = Failure::new(Class::Other, format!("writing output: {err}"));
        f.broken_pipe = err.kind() == std::io::ErrorKind::BrokenPipe;
        f
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let mut f = Failure::new(classify(&e), message(&e));
        f.hint = hint(&e);
        f
    }
}

/// One line for a library error: the server's own message first, the URL without its query.
pub fn message(e: &Error) -> String {
    let Some(api) = e.api_error() else {
        return e.to_string();
    };
    let what = match e {
        Error::Unauthorized(_) => "unauthorized",
        Error::Forbidden(_) => "forbidden",
        Error::NotFound(_) => "not found",
        Error::Conflict(_) => "conflict",
        Error::RateLimited { .. } => "rate limited",
        Error::Server(_) => "server error",
        _ => "request rejected",
    };
    let snippet = (!api.body_snippet.is_empty()).then_some(api.body_snippet.as_str());
    let url = api.url.split('?').next().unwrap_or_default();
    let (status, method) = (api.status, api.method);
    match api.message.as_deref().or(snippet) {
        Some(said) => format!("{what}: {said} (HTTP {status} from {method} {url})"),
        None => format!("{what}: HTTP {status} from {method} {url}"),
    }
}

/// The class of a library error.
pub fn classify(e: &Error) -> Class {
    use TransportErrorKind as K;
    match e {
        Error::InvalidInput { .. } | Error::Config(_) => Class::Usage,
        Error::Unauthorized(_) | Error::Forbidden(_) => Class::Auth,
        Error::NotFound(_) => Class::NotFound,
        Error::Conflict(_) | Error::Locked { .. } => Class::Conflict,
        Error::RateLimited { .. } | Error::Server(_) | Error::Decode { .. } => Class::Service,
        Error::RepeatedPageToken { .. } | Error::TooManyEmptyPages { .. } => Class::Service,
        Error::Api(a) if matches!(a.status, 400 | 422) => Class::Usage,
        Error::Transport { source, .. } => match source.kind() {
            K::Dns | K::Connect | K::Tls | K::Timeout | K::Interrupted | K::Protocol => {
                Class::Network
            }
            _ => Class::Other,
        },
        Error::ShardFailed { .. } => Class::Partial,
        Error::WaitTimeout { .. } => Class::Timeout,
        Error::Cloud { status, .. } => match status {
            Some(401 | 403) => Class::Auth,
            Some(404) => Class::NotFound,
            Some(500..=599) => Class::Service,
            _ => Class::Other,
        },
        _ => Class::Other,
    }
}

/// The hint when no API key is given.
pub const NO_KEY: &str =
    "set --api-key or ROBOFLOW_API_KEY (or try the local sandbox: rfbatch sandbox)";

fn hint(e: &Error) -> Option<String> {
    let h = match e {
        Error::Config(m) if m.contains("API key") => NO_KEY,
        Error::Unauthorized(_) => "check --api-key or ROBOFLOW_API_KEY, and --api-url",
        Error::Forbidden(_) => "the workspace's plan or the key's permissions do not allow this",
        Error::NotFound(_) => "check the id, and --workspace if you set one",
        Error::Locked { .. } => {
            "another run is uploading into this batch; wait for it to end, or stop it"
        }
        Error::RateLimited { .. } | Error::Server(_) => {
            "the service is struggling; try again later"
        }
        Error::Cloud { .. } => {
            "check the bucket URL and the cloud credentials in the environment (AWS_*, \
             GOOGLE_APPLICATION_CREDENTIALS or GCS_HMAC_*, AZURE_STORAGE_*)"
        }
        Error::Transport { source, .. } => match source.kind() {
            TransportErrorKind::Dns => {
                "the host name did not resolve: check --api-url / API_BASE_URL, and the \
                 network's DNS"
            }
            TransportErrorKind::Connect => "is the service reachable at --api-url / API_BASE_URL?",
            TransportErrorKind::Tls => {
                "check that --api-url / API_BASE_URL is the service's https:// address, the \
                 system clock, and any proxy that intercepts TLS"
            }
            TransportErrorKind::Timeout => {
                "the service did not answer in time; ROBOFLOW_API_REQUEST_TIMEOUT sets the limit"
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(h.to_string())
}

/// Prints a failure to stderr, every secret removed, and returns the exit code.
pub fn report(result: Result<(), Failure>, json: bool, secrets: &[String]) -> ExitCode {
    let f = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(f) if f.broken_pipe => return ExitCode::SUCCESS,
        Err(f) => f,
    };
    let clean = |s: &str| {
        let s = roboflow_batch::redact::redact_text(&roboflow_batch::redact::scrub(s, secrets));
        one_line(&s)
    };
    let message = clean(&f.message);
    let hint = f.hint.as_deref().map(clean);
    let text = match (json, &hint) {
        (true, _) => serde_json::json!({"error": {
            "class": f.class, "code": f.class as u8, "message": message, "hint": hint,
        }})
        .to_string(),
        (false, Some(h)) => format!("rfbatch: error: {message}\n  hint: {h}"),
        (false, None) => format!("rfbatch: error: {message}"),
    };
    eprintln!("{text}");
    ExitCode::from(f.class as u8)
}

/// `s` on one line: line breaks and runs of whitespace become one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use roboflow_batch::ApiError;
    use roboflow_batch::transport::Method;

    /// 401, 404, 409, 503 and the network kinds are `cli_exit_codes`' (by exit code), as are
    /// the message of a response (`json_errors_are_one_object_on_stderr`) and the help's list.
    #[test]
    fn classes_by_error() {
        let api = |status| {
            let (method, url) = (Method::Get, "http://h/x".into());
            let (message, body_snippet) = (None, String::new());
            let e = ApiError {
                method,
                url,
                status,
                message,
                body_snippet,
            };
            Error::from_status(e, None)
        };
        let locked = Error::Locked {
            what: "batch b".into(),
            lock: "/tmp/j.lock".into(),
            holder: Some(7),
        };
        let waited = std::time::Duration::from_secs(1);
        let timeout = Error::WaitTimeout {
            what: "job".into(),
            waited,
        };
        let cases = [
            (Error::invalid("batch_id", "bad"), Class::Usage),
            (Error::Config("no API key".into()), Class::Usage),
            (api(400), Class::Usage),
            (api(403), Class::Auth),
            (locked, Class::Conflict),
            (api(429), Class::Service),
            (api(418), Class::Other),
            (timeout, Class::Timeout),
        ];
        for (err, want) in cases {
            assert_eq!(classify(&err), want, "{err}");
        }
        assert_eq!(one_line("a\n  b\r\nc "), "a b c");
    }
}
