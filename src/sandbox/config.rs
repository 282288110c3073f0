//! The sandbox's configuration, and the rule that keeps a sandbox exposed beyond loopback
//! safe.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::faults::Faults;
use crate::error::{Error, Result};

/// What the sandbox does with uploaded bytes.
///
/// ```
/// # use roboflow_batch::sandbox::*;
/// let config = SandboxConfig::default().store(StoreMode::Discard);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreMode {
    /// Keep every upload in the data directory (jobs and downloads read it).
    #[default]
    Disk,
    /// A benchmark mode: uploads are indexed as they stream in and never written; listings
    /// are as usual, but jobs over such a batch fail and its downloads are a 410.
    Discard,
}

/// The API key of a default configuration: fine on loopback, refused beyond it.
const DEFAULT_API_KEY: &str = "sandbox-key";
/// The shortest API key accepted for a sandbox reachable beyond loopback.
const MIN_REMOTE_KEY_LEN: usize = 16;

/// The API key, which `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(pub(crate) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// How a [`Sandbox`](super::Sandbox) behaves: the defaults, changed by plain setters.
///
/// ```
/// let config = roboflow_batch::sandbox::SandboxConfig::default().workspace("acme").job_speed(500.0);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SandboxConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) api_key: ApiKey,
    pub(crate) allow_remote: bool,
    pub(crate) webhook_allow: Vec<String>,
    pub(crate) fetch_allow: Vec<String>,
    pub(crate) workspace: String,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) store: StoreMode,
    pub(crate) threads: usize,
    pub(crate) latency: Duration,
    pub(crate) job_speed: f64,
    pub(crate) job_images_per_task: u64,
    pub(crate) webhook_max_attempts: u32,
    pub(crate) webhook_retry_delay: Duration,
    pub(crate) signed_url_ttl: Duration,
    pub(crate) indexing_delay: Duration,
    pub(crate) registration_delay: Duration,
    pub(crate) max_shard_size: u64,
    pub(crate) max_images_per_shard: u64,
    pub(crate) max_image_size: u64,
    pub(crate) max_video_size: u64,
    pub(crate) faults: Faults,
    pub(crate) record: Option<PathBuf>,
    pub(crate) vary: Option<u64>,
    pub(crate) test_hooks: bool,
    /// The server's deadlines and connection cap (short in tests).
    pub(crate) limits: crate::server::Limits,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: ApiKey(DEFAULT_API_KEY.into()),
            allow_remote: false,
            webhook_allow: Vec::new(),
            fetch_allow: Vec::new(),
            workspace: "sandbox".into(),
            data_dir: None,
            store: StoreMode::Disk,
            threads: 16,
            latency: Duration::ZERO,
            job_speed: 100.0,
            job_images_per_task: 100,
            webhook_max_attempts: 5,
            webhook_retry_delay: Duration::from_millis(200),
            signed_url_ttl: Duration::from_secs(24 * 3600),
            indexing_delay: Duration::from_millis(200),
            registration_delay: Duration::ZERO,
            max_shard_size: 1 << 30,
            max_images_per_shard: 500,
            max_image_size: 20 * 1024 * 1024,
            max_video_size: 4 << 30,
            faults: Faults::default(),
            record: None,
            vary: None,
            test_hooks: false,
            limits: crate::server::Limits::default(),
        }
    }
}

impl SandboxConfig {
    crate::model::setters! {
        setup: "", on: "roboflow_batch::sandbox::SandboxConfig::default()";
        /// Where to listen (default `127.0.0.1:0`, a free port); beyond loopback, see
        /// [`allow_remote`](Self::allow_remote).
        addr(s, addr: SocketAddr) = "([127, 0, 0, 1], 9001).into()" { s.addr = addr; }
        /// Allows listening beyond loopback, with an API key that is not the default and has
        /// at least 16 characters.
        allow_remote(s, on: bool) = "true" { s.allow_remote = on; }
        /// The workspace slug (default `sandbox`).
        workspace(s, slug: impl Into<String>) = "\"acme\"" { s.workspace = slug.into(); }
        /// What happens to uploaded bytes (default [`StoreMode::Disk`]).
        store(s, mode: StoreMode) = "roboflow_batch::sandbox::StoreMode::Discard" { s.store = mode; }
        /// Requests handled at the same time (default 16), not counting bodies read or
        /// answers written; more wait their turn.
        threads(s, n: usize) = "4" { s.threads = n; }
        /// Delays every answer (signed URLs included) as if the service were far away,
        /// outside the request's turn, so parallel requests wait side by side (default 0).
        latency(s, d: Duration) = "std::time::Duration::from_millis(40)" { s.latency = d; }
        /// Work items (images) each running job processes per second, in each of its two
        /// stages (default 100). 0 holds every job at the start of its first stage.
        job_speed(s, per_sec: f64) = "20.0" { s.job_speed = per_sec; }
        /// How many images one job task covers (default 100; `tasksNumber` = images / this).
        job_images_per_task(s, n: u64) = "10" { s.job_images_per_task = n; }
        /// How long signed upload and download URLs stay valid (default a day).
        signed_url_ttl(s, d: Duration) = "std::time::Duration::from_secs(60)" { s.signed_url_ttl = d; }
        /// How long an uploaded shard or references ingest waits before it is indexed
        /// (default 200 ms), so that counts lag for real.
        indexing_delay(s, d: Duration) = "std::time::Duration::ZERO" { s.indexing_delay = d; }
        /// How long a received shard stays out of the shard listing (default 0), as the
        /// service registers shards asynchronously: "not listed yet" is not "not received".
        registration_delay(s, d: Duration) = "std::time::Duration::from_secs(2)" { s.registration_delay = d; }
        /// The largest tar shard a signed PUT accepts, in bytes (`maxShardSize`, 1 GiB).
        max_shard_size(s, bytes: u64) = "1 << 20" { s.max_shard_size = bytes; }
        /// The largest single image (simple upload, shard member or reference), in bytes
        /// (default 20 MiB).
        max_image_size(s, bytes: u64) = "1024" { s.max_image_size = bytes; }
        /// Seeded faults injected on demand (none by default).
        faults(s, f: Faults) = "roboflow_batch::sandbox::Faults::seeded(7)" { s.faults = f; }
        /// The one valid API key (default `sandbox-key`, accepted on loopback only).
        api_key(s, key: impl Into<String>) = "\"test-key\"" { s.api_key = ApiKey(key.into()); }
        /// Where state and data live, kept after the sandbox stops (default: a temporary
        /// directory, removed on drop).
        data_dir(s, dir: impl Into<PathBuf>) = "\"/var/tmp/rfbatch\"" { s.data_dir = Some(dir.into()); }
        /// Appends one JSON line per answered request to the file: its route, parameters,
        /// headers that matter and body's shape, never a key, signature or file contents.
        record(s, file: impl Into<PathBuf>) = "\"requests.jsonl\"" { s.record = Some(file.into()); }
        /// Varies the answers within what the service may send, by the seed (page sizes,
        /// stage names, optional and extra fields, number and timestamp forms, statuses), so
        /// that a client passing under several seeds does not lean on the sandbox's habits.
        vary(s, seed: u64) = "7" { s.vary = Some(seed); }
        /// Allows webhooks to `host` (a name or an IP address, no port) beyond loopback;
        /// loopback hosts are always allowed.
        webhook_allow(s, host: impl Into<String>) = "\"10.0.0.7\"" { s.webhook_allow.push(host.into()); }
        /// Allows fetching references from `host` beyond loopback (as
        /// [`webhook_allow`](Self::webhook_allow)).
        fetch_allow(s, host: impl Into<String>) = "\"storage.example.com\"" { s.fetch_allow.push(host.into()); }
        /// The webhook retry policy: attempts in all (default 5), and the wait before the
        /// second (default 200 ms), doubling after each failure.
        webhook_retries(s, max_attempts: u32, first_delay: Duration) = "3, std::time::Duration::from_millis(10)" {
            (s.webhook_max_attempts, s.webhook_retry_delay) = (max_attempts, first_delay);
        }
        /// Test-only hooks: the `panic-test` Workflow (panics on every image) and
        /// `GET /__test/panic` (panics in its handler), for tests of panic containment.
        #[doc(hidden)]
        test_hooks(s, on: bool) = "true" { s.test_hooks = on; }
    }

    /// Refuses an address beyond loopback unless remote access is allowed and the API
    /// key is explicit: a sandbox reachable from the network must not answer to the
    /// well-known default key.
    pub(crate) fn check_exposure(&self) -> Result<()> {
        if self.addr.ip().to_canonical().is_loopback() {
            return Ok(());
        }
        let addr = self.addr;
        if !self.allow_remote {
            return Err(Error::Config(format!(
                "refusing to listen on {addr}: it is reachable beyond this machine. Listen on \
                 127.0.0.1, or pass --allow-remote with an explicit --api-key of at least \
                 {MIN_REMOTE_KEY_LEN} characters (SandboxConfig::allow_remote and api_key)"
            )));
        }
        let key = &self.api_key.0;
        if key == DEFAULT_API_KEY || key.chars().count() < MIN_REMOTE_KEY_LEN {
            return Err(Error::Config(format!(
                "refusing to listen on {addr} with the default or a short API key: pass an \
                 explicit --api-key of at least {MIN_REMOTE_KEY_LEN} characters"
            )));
        }
        Ok(())
    }
}
