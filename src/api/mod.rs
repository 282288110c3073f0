//! [`BatchApi`]: one blocking method per endpoint. Each checks its input (nothing is sent
//! when a check fails), builds a call, sends it under the [`RetryPolicy`], and decodes the
//! answer.

mod call;
mod clock;
mod download;
mod jobs;
mod paging;
mod requests;
pub(crate) mod retry;
mod staging;
#[cfg(feature = "sandbox")]
pub(crate) use staging::check_file_name;
mod transfer;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use call::UploadSource;
pub use clock::Clock;
pub use download::DownloadOptions;
pub use paging::Pages;
pub use requests::RequestCounts;
pub(crate) use requests::RequestKind;
pub use retry::RetryPolicy;

use crate::error::{Error, Result};
use crate::transport::{Timeouts, Transport, UreqTransport};
use requests::RequestCounter;
use retry::RetryCause;

/// The production service.
const DEFAULT_BASE_URL: &str = "https://api.roboflow.com";

/// A blocking client for the Batch Processing API: `Send + Sync`, and cheap to clone (clones
/// share the transport, the workspace, the settings and the [`requests`](Self::requests)
/// counted). Its `Debug` output never shows the API key. Ids are taken as `impl AsRef<str>`.
///
/// ```no_run
/// let api = roboflow_batch::BatchApi::builder().api_key("my-key").build()?;
/// println!("{} images staged", api.clone().batch_count("my-batch", None)?);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Clone)]
pub struct BatchApi {
    shared: Arc<Shared>,
    /// See [`reporting_retries`](Self::reporting_retries).
    on_retry: Option<Arc<OnRetry>>,
}

type OnRetry = dyn Fn(RetryCause) + Send + Sync;

/// What the clones of one client share.
struct Shared {
    transport: Arc<dyn Transport>,
    base_url: String,
    api_key: String,
    /// Set once: as configured, or by the first successful lookup.
    workspace: OnceLock<String>,
    /// Held while looking the workspace up, so concurrent first calls make one request.
    workspace_lookup: Mutex<()>,
    retry: RetryPolicy,
    clock: Clock,
    requests: RequestCounter,
}

impl std::fmt::Debug for BatchApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchApi")
            .field("base_url", &self.shared.base_url)
            .field("api_key", &crate::redact::REDACTED)
            .field("workspace", &self.shared.workspace.get())
            .field("retry", &self.shared.retry)
            .finish_non_exhaustive()
    }
}

/// Configures a [`BatchApi`].
///
/// ```
/// let api = roboflow_batch::BatchApi::builder().base_url("http://127.0.0.1:8080").api_key("key").build()?;
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct BatchApiBuilder {
    base_url: Option<String>,
    api_key: Option<String>,
    workspace: Option<String>,
    retry: Option<RetryPolicy>,
    transport: Option<Arc<dyn Transport>>,
    clock: Option<Clock>,
    /// From `ROBOFLOW_API_REQUEST_TIMEOUT`, for the default transport.
    timeouts: Option<Timeouts>,
}

impl std::fmt::Debug for BatchApiBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchApiBuilder")
            .field(
                "base_url",
                &self.base_url.as_deref().map(crate::redact::redact_url),
            )
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::redact::REDACTED),
            )
            .field("workspace", &self.workspace)
            .field("retry", &self.retry)
            .field("custom_transport", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl BatchApiBuilder {
    crate::model::setters! {
        setup: "use roboflow_batch::{api::*, transport::*};",
        on: "roboflow_batch::BatchApi::builder()";
        /// The service's base URL (default `https://api.roboflow.com`; a trailing slash is
        /// dropped); a user name or password in it is refused.
        base_url(s, url: impl Into<String>) = "\"http://127.0.0.1:9001/\"" {
            s.base_url = Some(url.into());
        }
        /// The API key (required). It is sent as the `api_key` query parameter and never shown.
        api_key(s, key: impl Into<String>) = "\"s3cret-key\"" {
            s.api_key = Some(key.into());
        }
        /// The workspace slug. When not set, it is looked up once with `GET /`.
        workspace(s, workspace: impl Into<String>) = "\"acme\"" {
            s.workspace = Some(workspace.into());
        }
        /// How failures are retried (default [`RetryPolicy::default`]; its `Debug` shows it).
        retry_policy(s, policy: RetryPolicy) = "RetryPolicy::never()" {
            s.retry = Some(policy);
        }
        /// The transport (default: a [`UreqTransport`] with its default timeouts and pool
        /// limits; configure another with [`UreqTransport::builder`]).
        transport(s, transport: impl Transport + 'static) = "UreqTransport::new()" {
            s.transport = Some(Arc::new(transport));
        }
        /// A transport shared with other clients (one connection pool for all).
        shared_transport(s, transport: Arc<dyn Transport>) = "std::sync::Arc::new(UreqTransport::new())" {
            s.transport = Some(transport);
        }
        /// The sources of time and randomness for retries and polling (default
        /// [`Clock::system`]).
        clock(s, clock: Clock) = "Clock::system().jitter_fn(|| 0.0)" {
            s.clock = Some(clock);
        }
    }

    /// Checks the settings and builds the client.
    ///
    /// ```
    /// let err = roboflow_batch::BatchApi::builder().build().unwrap_err();
    /// assert!(err.to_string().contains("API key"));
    /// ```
    pub fn build(self) -> Result<BatchApi> {
        let api_key = self.api_key.unwrap_or_default();
        let config = |message: &str| Err(Error::Config(message.into()));
        if api_key.trim().is_empty() {
            return config("no API key: set it with .api_key(..) or ROBOFLOW_API_KEY");
        }
        if api_key.chars().any(|c| c.is_control()) {
            return config("the API key contains control characters");
        }
        let base_url = self
            .base_url
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim()
            .trim_end_matches('/')
            .to_string();
        // Refused, not just hidden: the service takes only the API key, and a password
        // here would reach logs, errors and the resume journal. Not echoed.
        if crate::redact::userinfo(&base_url).is_some() {
            return config(
                "the base URL must not carry a user name or password (user:password@host): \
                 the service authenticates with the API key only; remove them from the URL",
            );
        }
        let valid_base = (base_url.starts_with("http://") || base_url.starts_with("https://"))
            && base_url.split("://").nth(1).is_some_and(|h| !h.is_empty())
            && !base_url.contains(['?', '#', ' ']);
        if !valid_base {
            return Err(Error::Config(format!(
                "base URL must be http(s)://host[:port][/path] without a query, got {:?}",
                crate::redact::redact_url(&base_url)
            )));
        }
        if let Some(ws) = &self.workspace {
            check_workspace(ws)?;
        }
        let transport = match (self.transport, self.timeouts) {
            (None, t) => {
                let timeouts = t.unwrap_or_default();
                Arc::new(UreqTransport::builder().timeouts(timeouts).build())
            }
            (Some(t), None) => t,
            // Refused rather than silently dropped.
            (Some(_), Some(_)) => {
                return config(
                    "ROBOFLOW_API_REQUEST_TIMEOUT sets the timeouts of the default transport and \
                     cannot be combined with a custom .transport(); set them on that transport",
                );
            }
        };
        let workspace = self.workspace.map_or_else(OnceLock::new, OnceLock::from);
        Ok(BatchApi {
            shared: Arc::new(Shared {
                transport,
                base_url,
                api_key,
                workspace,
                workspace_lookup: Mutex::new(()),
                retry: self.retry.unwrap_or_default(),
                clock: self.clock.unwrap_or_default(),
                requests: RequestCounter::default(),
            }),
            on_retry: None,
        })
    }
}

/// The base URL for a region and environment, as the official client resolves them
/// (environment `prod`, or else project `roboflow-platform` or unset, is prod), but an
/// unknown region is an error, not `us`.
fn regional_base_url(
    region: Option<&str>,
    environment: Option<&str>,
    project: Option<&str>,
) -> Result<&'static str> {
    let region = region.map_or("us".to_string(), |r| r.trim().to_ascii_lowercase());
    let prod = match environment {
        Some(e) => e.trim().eq_ignore_ascii_case("prod"),
        None => project.is_none_or(|p| p == "roboflow-platform"),
    };
    match (region.as_str(), prod) {
        ("us", true) => Ok(DEFAULT_BASE_URL),
        ("us", false) => Ok("https://api.roboflow.one"),
        ("eu", true) => Ok("https://api.roboflow.eu"),
        ("eu", false) => Ok("https://api.roboflow-eu.one"),
        (other, _) => Err(Error::Config(format!(
            "ROBOFLOW_REGION must be `us` or `eu`, got {other:?}"
        ))),
    }
}

/// Refuses `.` and `..`, which a server or proxy would resolve as dot segments.
pub(crate) fn check_segment(field: &str, value: &str) -> Result<()> {
    if value == "." || value == ".." {
        return Err(Error::invalid(
            field,
            format!("must not be {value:?}: as a path segment it would change the request path"),
        ));
    }
    Ok(())
}

fn check_workspace(ws: &str) -> Result<()> {
    check_segment("workspace", ws)?;
    let ok = !ws.is_empty()
        && ws.len() <= 128
        && ws
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "workspace",
            format!("must be a workspace slug (letters, digits, `-`, `_`, `.`), got {ws:?}"),
        ))
    }
}

impl BatchApi {
    /// A builder (see [`BatchApiBuilder`]).
    ///
    /// ```
    /// let builder = roboflow_batch::BatchApi::builder().api_key("k");
    /// ```
    pub fn builder() -> BatchApiBuilder {
        BatchApiBuilder::default()
    }

    /// A builder preset from environment variables read through `vars`, as the official
    /// client reads them: `ROBOFLOW_API_KEY` (required), `API_BASE_URL`,
    /// `ROBOFLOW_WORKSPACE` and `ROBOFLOW_API_REQUEST_TIMEOUT` (seconds, per read); without
    /// `API_BASE_URL`, `ROBOFLOW_REGION` (`us` or `eu`), `ROBOFLOW_ENVIRONMENT` and `PROJECT`.
    ///
    /// ```
    /// let vars = |name: &str| (name == "ROBOFLOW_API_KEY").then(|| "k".to_string());
    /// let api = roboflow_batch::BatchApi::builder_from_vars(vars)?.build()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn builder_from_vars(vars: impl Fn(&str) -> Option<String>) -> Result<BatchApiBuilder> {
        let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let key = var("ROBOFLOW_API_KEY")
            .ok_or_else(|| Error::Config("ROBOFLOW_API_KEY is not set".into()))?;
        let mut b = BatchApi::builder().api_key(key);
        // An explicit URL always wins over the region and environment.
        let base = match var("API_BASE_URL") {
            Some(url) => url,
            // Set but empty still counts for these two, as in the official client.
            None => regional_base_url(
                var("ROBOFLOW_REGION").as_deref(),
                vars("ROBOFLOW_ENVIRONMENT").as_deref(),
                vars("PROJECT").as_deref(),
            )?
            .to_string(),
        };
        b = b.base_url(base);
        if let Some(ws) = var("ROBOFLOW_WORKSPACE") {
            b = b.workspace(ws);
        }
        if let Some(t) = var("ROBOFLOW_API_REQUEST_TIMEOUT") {
            // try_from: a value too large for a Duration (1e30) is an error, not a panic.
            let timeout = t
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "ROBOFLOW_API_REQUEST_TIMEOUT must be a positive number of seconds, got {t:?}"
                    ))
                })?;
            b.timeouts = Some(Timeouts {
                read: timeout,
                write: timeout,
                ..Timeouts::default()
            });
        }
        Ok(b)
    }

    /// A client configured from the process's environment (see
    /// [`builder_from_vars`](Self::builder_from_vars)).
    ///
    /// ```no_run
    /// let api = roboflow_batch::BatchApi::from_env()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn from_env() -> Result<BatchApi> {
        Self::builder_from_vars(|name| std::env::var(name).ok())?.build()
    }

    /// The base URL, without a trailing slash (see [`BatchApiBuilder::base_url`]).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// assert_eq!(api.base_url(), "https://api.roboflow.com");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many requests this client (with its clones) has made so far, by kind.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").workspace("acme").build()?;
    /// assert_eq!(api.requests().total(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn requests(&self) -> RequestCounts {
        self.shared.requests.snapshot()
    }

    /// The same client, telling `on_retry` of each retry it decides on (before the wait).
    pub(crate) fn reporting_retries(
        &self,
        on_retry: impl Fn(RetryCause) + Send + Sync + 'static,
    ) -> BatchApi {
        BatchApi {
            shared: Arc::clone(&self.shared),
            on_retry: Some(Arc::new(on_retry)),
        }
    }

    /// The workspace slug: as configured, or looked up once with `GET /` (threads asking at
    /// once wait for the first lookup; a failed one is tried again on the next call).
    ///
    /// ```no_run
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// println!("{}", api.workspace()?);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn workspace(&self) -> Result<String> {
        let shared = &self.shared;
        if let Some(ws) = shared.workspace.get() {
            return Ok(ws.clone());
        }
        let _lookup = shared
            .workspace_lookup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(ws) = shared.workspace.get() {
            return Ok(ws.clone());
        }
        let info = self.fetch_workspace()?;
        check_workspace(&info.workspace).map_err(|_| Error::Decode {
            url: crate::redact::redact_url(&self.url("/", &[])),
            path: "workspace".into(),
            message: "not a usable workspace slug".into(),
            snippet: crate::redact::clean_snippet(&info.workspace, 80, &self.secrets("")),
        })?;
        Ok(shared.workspace.get_or_init(|| info.workspace).clone())
    }
}
