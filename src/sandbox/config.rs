//! The sandbox's configuration, and the rules that keep a sandbox exposed beyond
//! loopback safe.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Faults;
use crate::error::{Error, Result};

/// What the sandbox does with uploaded bytes.
///
/// ```
/// use roboflow_batch::sandbox::{SandboxConfig, StoreMode};
/// assert_eq!(SandboxConfig::default().store, StoreMode::Disk);
/// assert_eq!(StoreMode::parse("discard"), Some(StoreMode::Discard));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreMode {
    /// Keep every upload in the data directory (jobs and downloads read it).
    #[default]
    Disk,
    /// A benchmark mode: index each tar shard from its headers while it streams in, and
    /// discard the bytes (never written to disk); videos and single images are recorded and
    /// discarded too. Counts, listings and shard statuses are as usual; jobs over such a
    /// batch fail ("images were discarded"), and downloads of its files are a 410.
    Discard,
}

impl StoreMode {
    /// Parses `disk` or `discard`.
    ///
    /// ```
    /// use roboflow_batch::sandbox::StoreMode;
    /// assert_eq!(StoreMode::parse("disk"), Some(StoreMode::Disk));
    /// assert_eq!(StoreMode::parse("tape"), None);
    /// ```
    pub fn parse(s: &str) -> Option<StoreMode> {
        match s {
            "disk" => Some(StoreMode::Disk),
            "discard" => Some(StoreMode::Discard),
            _ => None,
        }
    }
}

/// The API key of a default configuration: fine on loopback, refused beyond it.
const DEFAULT_API_KEY: &str = "sandbox-key";
/// The shortest API key accepted for a sandbox reachable beyond loopback.
const MIN_REMOTE_KEY_LEN: usize = 16;

/// How a [`Sandbox`](super::Sandbox) behaves.
///
/// ```
/// use roboflow_batch::sandbox::SandboxConfig;
/// let c = SandboxConfig::default().with_api_key("k").with_workspace("acme");
/// assert_eq!(c.workspace, "acme");
/// ```
#[derive(Clone)]
#[non_exhaustive]
#[must_use]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port. An address beyond loopback also needs
    /// [`allow_remote`](Self::allow_remote) and an explicit API key.
    pub addr: SocketAddr,
    /// The one valid API key.
    pub api_key: String,
    /// Allows listening beyond loopback (with an API key that is not the default and has
    /// at least 16 characters).
    pub allow_remote: bool,
    /// Hosts beyond loopback that webhooks may be sent to (exact host names or IP
    /// addresses, without ports). Loopback hosts are always allowed.
    pub webhook_allow: Vec<String>,
    /// Hosts beyond loopback that references may be fetched from (same rule as
    /// [`webhook_allow`](Self::webhook_allow)).
    pub fetch_allow: Vec<String>,
    /// The workspace slug.
    pub workspace: String,
    /// Where state and data live; a fresh temporary directory (removed on drop) when `None`.
    pub data_dir: Option<PathBuf>,
    /// Whether uploaded bytes are kept ([`StoreMode::Disk`]) or only indexed.
    pub store: StoreMode,
    /// Requests handled at the same time; more wait their turn (connections are served
    /// by threads of their own). A request holds its turn only while its handler works,
    /// not while it waits for the client's body nor while its answer is written.
    pub threads: usize,
    /// Added to every answer, signed uploads and downloads included: each reply waits this
    /// long before it is written (outside the request's turn, so parallel requests each
    /// see it once), as if the service were that far away. Zero by default.
    pub latency: Duration,
    /// How fast jobs go: work items (images) each running job processes per second, in
    /// each of its two stages (`processing`, then `export`). 0 holds every job at the start
    /// of its first stage (for testing aborts and timeouts).
    pub job_images_per_sec: f64,
    /// How many images one job task covers (`tasksNumber` = images / this, at least 1).
    pub job_images_per_task: u64,
    /// The most delivery attempts of one webhook.
    pub webhook_max_attempts: u32,
    /// The wait before a webhook's second attempt; it doubles after each failure.
    pub webhook_retry_delay: Duration,
    /// How long signed upload and download URLs stay valid.
    pub signed_url_ttl: Duration,
    /// How long an uploaded shard waits before it is indexed (so the count lags for real).
    pub indexing_delay: Duration,
    /// How long a received shard stays out of the shard listing. The real service registers
    /// a shard asynchronously after its PUT, so a client must not take "not listed yet" for
    /// "not received"; this lets tests show it. Zero by default.
    pub registration_delay: Duration,
    /// The largest tar shard a signed PUT accepts (`maxShardSize`), in bytes.
    pub max_shard_size: u64,
    /// The most images one shard may hold (`maxNumberOfImages`).
    pub max_images_per_shard: u64,
    /// The largest single image (simple upload or shard member), in bytes.
    pub max_image_size: u64,
    /// The largest video a signed PUT accepts (`maxFileSize`), in bytes.
    pub max_video_size: u64,
    /// Seeded faults injected on demand (none by default).
    pub faults: Faults,
    /// A file to append one JSON line to per request received (its form, no secrets);
    /// see [`with_record`](Self::with_record).
    pub record: Option<PathBuf>,
    /// The seed of varied answers; see [`with_vary`](Self::with_vary).
    pub vary: Option<u64>,
    /// Test-only hooks: the `panic-test` Workflow (panics on every image) and
    /// `GET /__test/panic` (panics in its handler). Off by default; for the sandbox's own
    /// tests of panic containment.
    #[doc(hidden)]
    pub test_hooks: bool,
    /// The server's deadlines and connection cap (short in tests).
    pub(crate) limits: crate::server::Limits,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("addr", &self.addr)
            .field("api_key", &crate::redact::REDACTED)
            .field("allow_remote", &self.allow_remote)
            .field("webhook_allow", &self.webhook_allow)
            .field("fetch_allow", &self.fetch_allow)
            .field("workspace", &self.workspace)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("threads", &self.threads)
            .field("latency", &self.latency)
            .field("job_images_per_sec", &self.job_images_per_sec)
            .field("job_images_per_task", &self.job_images_per_task)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_retry_delay", &self.webhook_retry_delay)
            .field("signed_url_ttl", &self.signed_url_ttl)
            .field("indexing_delay", &self.indexing_delay)
            .field("registration_delay", &self.registration_delay)
            .field("max_shard_size", &self.max_shard_size)
            .field("max_images_per_shard", &self.max_images_per_shard)
            .field("max_image_size", &self.max_image_size)
            .field("max_video_size", &self.max_video_size)
            .field("faults", &self.faults)
            .field("record", &self.record)
            .field("vary", &self.vary)
            .field("test_hooks", &self.test_hooks)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_API_KEY.into(),
            allow_remote: false,
            webhook_allow: Vec::new(),
            fetch_allow: Vec::new(),
            workspace: "sandbox".into(),
            data_dir: None,
            store: StoreMode::Disk,
            threads: 16,
            latency: Duration::ZERO,
            job_images_per_sec: 100.0,
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
    /// Sets the API key.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_api_key("test-key");
    /// assert_eq!(c.api_key, "test-key");
    /// ```
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Sets the workspace slug.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_workspace("acme");
    /// assert_eq!(c.workspace, "acme");
    /// ```
    pub fn with_workspace(mut self, ws: impl Into<String>) -> Self {
        self.workspace = ws.into();
        self
    }

    /// Sets the data directory (kept after the sandbox stops).
    ///
    /// ```
    /// use roboflow_batch::sandbox::SandboxConfig;
    /// assert_eq!(SandboxConfig::default().data_dir, None); // a temporary directory
    /// let c = SandboxConfig::default().with_data_dir("/var/tmp/rfbatch-sandbox");
    /// assert_eq!(c.data_dir.as_deref(), Some(std::path::Path::new("/var/tmp/rfbatch-sandbox")));
    /// ```
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the listening address.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_addr(([127, 0, 0, 1], 9001).into());
    /// assert_eq!(c.addr.to_string(), "127.0.0.1:9001");
    /// ```
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets how many images per second each running job processes.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_job_speed(20.0);
    /// assert_eq!(c.job_images_per_sec, 20.0);
    /// ```
    pub fn with_job_speed(mut self, images_per_sec: f64) -> Self {
        self.job_images_per_sec = images_per_sec;
        self
    }

    /// Sets how many images one job task covers.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_job_images_per_task(10);
    /// assert_eq!(c.job_images_per_task, 10);
    /// ```
    pub fn with_job_images_per_task(mut self, images: u64) -> Self {
        self.job_images_per_task = images;
        self
    }

    /// Sets the webhook retry policy: attempts in all, and the first wait (doubling).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_webhook_retries(3, Duration::from_millis(10));
    /// assert_eq!((c.webhook_max_attempts, c.webhook_retry_delay), (3, Duration::from_millis(10)));
    /// ```
    pub fn with_webhook_retries(mut self, max_attempts: u32, first_delay: Duration) -> Self {
        self.webhook_max_attempts = max_attempts;
        self.webhook_retry_delay = first_delay;
        self
    }

    /// Sets how long signed URLs stay valid.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_signed_url_ttl(Duration::from_secs(60));
    /// assert_eq!(c.signed_url_ttl, Duration::from_secs(60));
    /// ```
    pub fn with_signed_url_ttl(mut self, ttl: Duration) -> Self {
        self.signed_url_ttl = ttl;
        self
    }

    /// Sets the delay before an uploaded shard is indexed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_indexing_delay(Duration::ZERO);
    /// assert!(c.indexing_delay.is_zero());
    /// ```
    pub fn with_indexing_delay(mut self, delay: Duration) -> Self {
        self.indexing_delay = delay;
        self
    }

    /// Sets how long a received shard stays out of the shard listing (its indexing waits
    /// for that too), as the real service registers shards asynchronously.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = roboflow_batch::sandbox::SandboxConfig::default()
    ///     .with_registration_delay(Duration::from_secs(2));
    /// assert_eq!(c.registration_delay, Duration::from_secs(2));
    /// ```
    pub fn with_registration_delay(mut self, delay: Duration) -> Self {
        self.registration_delay = delay;
        self
    }

    /// Sets the largest shard a PUT accepts (`maxShardSize`).
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_max_shard_size(1 << 20);
    /// assert_eq!(c.max_shard_size, 1_048_576);
    /// ```
    pub fn with_max_shard_size(mut self, bytes: u64) -> Self {
        self.max_shard_size = bytes;
        self
    }

    /// Sets the largest accepted image.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_max_image_size(1024);
    /// assert_eq!(c.max_image_size, 1024);
    /// ```
    pub fn with_max_image_size(mut self, bytes: u64) -> Self {
        self.max_image_size = bytes;
        self
    }

    /// Delays every answer by `latency`, to simulate a distant service: each request
    /// (signed uploads and downloads included) costs at least one such wait, and requests
    /// in parallel wait at the same time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_latency(Duration::from_millis(40));
    /// assert_eq!(c.latency, Duration::from_millis(40));
    /// ```
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the injected faults.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultSettings, Faults, SandboxConfig};
    /// let c = SandboxConfig::default()
    ///     .with_faults(Faults::seeded(7).with_api(FaultSettings::default().with_rate_503(0.2)));
    /// assert_eq!(c.faults.api.rate_503, 0.2);
    /// ```
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Records every request received: one JSON line each, appended to `path` once the
    /// request is answered. A line holds the method and route template
    /// (`POST /data-staging/v1/external/{workspace}/batches/{batchId}/upload/image`,
    /// `PUT {signedUpload}`), the path's parameters, the query's keys (values only of
    /// `displayName`, `fileName`, `name`, `pageSize`, `partName` and `severity`), the
    /// headers that matter (`content-type` without its parameters' values; authorization,
    /// length and extension headers only as present), the JSON body's key paths with
    /// their types, a multipart body's part names and headers, a tar upload's member
    /// names in order with the key paths of its `notification_config.json`, and the
    /// status. Never the API key, a signature, or file contents.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let log = dir.path().join("requests.jsonl");
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_record(&log))?;
    /// let api = roboflow_batch::BatchApi::builder()
    ///     .base_url(sandbox.base_url())
    ///     .api_key(sandbox.api_key())
    ///     .build()?;
    /// api.list_jobs_page(&Default::default())?;
    /// let text = std::fs::read_to_string(&log)?;
    /// let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap())?;
    /// assert_eq!(last["route"], "GET /batch-processing/v1/external/{workspace}/jobs");
    /// assert!(!text.contains(sandbox.api_key()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_record(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// Varies the answers within what the spec and the official client's models allow,
    /// each choice following from `seed`: small default page sizes and a largest page
    /// below what is asked; stage ids and names that differ in text and case; optional
    /// fields left out or `null`, unknown extra fields and values; whole-number floats for
    /// integers (`3.0`) and both timestamp forms; a missing batch answered 404 or 400;
    /// empty bodies where the official client ignores them; shards and references listed
    /// late (a registration delay, unless one is set). A client that passes against
    /// several seeds does not lean on the sandbox's own habits.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_vary(7))?;
    /// let api = roboflow_batch::BatchApi::builder()
    ///     .base_url(sandbox.base_url())
    ///     .api_key(sandbox.api_key())
    ///     .build()?;
    /// assert_eq!(api.workspace()?, "sandbox"); // the same service, answered differently
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn with_vary(mut self, seed: u64) -> Self {
        self.vary = Some(seed);
        self
    }

    /// Allows (or forbids) listening beyond loopback; see [`Sandbox::start`](super::Sandbox::start)
    /// for the rule.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_allow_remote(true);
    /// assert!(c.allow_remote);
    /// ```
    pub fn with_allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// Allows webhooks to `host` (a name or an IP address, no port), beyond loopback.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default()
    ///     .with_webhook_allow("hooks.example.com")
    ///     .with_webhook_allow("10.0.0.7");
    /// assert_eq!(c.webhook_allow, ["hooks.example.com", "10.0.0.7"]);
    /// ```
    pub fn with_webhook_allow(mut self, host: impl Into<String>) -> Self {
        self.webhook_allow.push(host.into());
        self
    }

    /// Allows fetching references from `host` (a name or an IP address, no port), beyond
    /// loopback.
    ///
    /// ```
    /// let c = roboflow_batch::sandbox::SandboxConfig::default().with_fetch_allow("storage.example.com");
    /// assert_eq!(c.fetch_allow, ["storage.example.com"]);
    /// ```
    pub fn with_fetch_allow(mut self, host: impl Into<String>) -> Self {
        self.fetch_allow.push(host.into());
        self
    }

    /// Sets what happens to uploaded bytes.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{SandboxConfig, StoreMode};
    /// let c = SandboxConfig::default().with_store(StoreMode::Discard);
    /// assert_eq!(c.store, StoreMode::Discard);
    /// ```
    pub fn with_store(mut self, store: StoreMode) -> Self {
        self.store = store;
        self
    }

    /// Refuses an address beyond loopback unless remote access is allowed and the API
    /// key is explicit: a sandbox reachable from the network must not answer to the
    /// well-known default key.
    pub(crate) fn check_exposure(&self) -> Result<()> {
        let ip = match self.addr.ip() {
            std::net::IpAddr::V6(v6) => v6.to_canonical(),
            v4 => v4,
        };
        if ip.is_loopback() {
            return Ok(());
        }
        let addr = self.addr;
        if !self.allow_remote {
            return Err(Error::Config(format!(
                "refusing to listen on {addr}: it is reachable beyond this machine. Listen on \
                 127.0.0.1, or pass --allow-remote with an explicit --api-key of at least \
                 {MIN_REMOTE_KEY_LEN} characters (SandboxConfig::with_allow_remote and with_api_key)"
            )));
        }
        if self.api_key == DEFAULT_API_KEY || self.api_key.chars().count() < MIN_REMOTE_KEY_LEN {
            return Err(Error::Config(format!(
                "refusing to listen on {addr} with the default or a short API key: pass an \
                 explicit --api-key of at least {MIN_REMOTE_KEY_LEN} characters"
            )));
        }
        Ok(())
    }
}
