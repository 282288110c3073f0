//! A faithful local emulator of the Batch Processing service (feature `sandbox`).
//!
//! [`Sandbox::start`] serves the whole API on `127.0.0.1` (port 0 picks a free one) from a
//! data directory, with no async runtime: a small pool of threads on
//! [tiny_http](https://docs.rs/tiny_http). It speaks the wire shapes of [`crate::model`],
//! answers in both the spec's and the official client's forms, hands out signed URLs that
//! point back at itself, indexes tar shards in the background, runs jobs that really read
//! the images, sends webhooks, and injects seeded faults on demand. Dropping the handle
//! stops it; state persists in the data directory.
//!
//! ```
//! use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
//! use roboflow_batch::BatchApi;
//!
//! let sandbox = Sandbox::start(SandboxConfig::default())?;
//! let api = BatchApi::builder()
//!     .base_url(sandbox.base_url())
//!     .api_key(sandbox.api_key())
//!     .build()?;
//! assert_eq!(api.workspace()?, sandbox.workspace());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod http;
mod jobs;
mod panics;
mod router;
mod staging;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};

pub use staging::faults::{FaultFamily, FaultSettings, Faults};
pub use state::State;

/// How a [`Sandbox`] behaves.
///
/// ```
/// use roboflow_batch::sandbox::SandboxConfig;
/// let c = SandboxConfig::default().with_api_key("k").with_workspace("acme");
/// assert_eq!(c.workspace, "acme");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The one valid API key.
    pub api_key: String,
    /// The workspace slug.
    pub workspace: String,
    /// Where state and data live; a fresh temporary directory (removed on drop) when `None`.
    pub data_dir: Option<PathBuf>,
    /// Threads serving requests.
    pub threads: usize,
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
    /// Test-only hooks: the `panic-test` Workflow (panics on every image) and
    /// `GET /__test/panic` (panics in its handler). Off by default; for the sandbox's own
    /// tests of panic containment.
    #[doc(hidden)]
    pub test_hooks: bool,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("addr", &self.addr)
            .field("api_key", &crate::redact::REDACTED)
            .field("workspace", &self.workspace)
            .field("data_dir", &self.data_dir)
            .field("threads", &self.threads)
            .field("job_images_per_sec", &self.job_images_per_sec)
            .field("job_images_per_task", &self.job_images_per_task)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_retry_delay", &self.webhook_retry_delay)
            .field("signed_url_ttl", &self.signed_url_ttl)
            .field("indexing_delay", &self.indexing_delay)
            .field("max_shard_size", &self.max_shard_size)
            .field("max_images_per_shard", &self.max_images_per_shard)
            .field("max_image_size", &self.max_image_size)
            .field("max_video_size", &self.max_video_size)
            .field("faults", &self.faults)
            .field("test_hooks", &self.test_hooks)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: "sandbox-key".into(),
            workspace: "sandbox".into(),
            data_dir: None,
            threads: 8,
            job_images_per_sec: 100.0,
            job_images_per_task: 100,
            webhook_max_attempts: 5,
            webhook_retry_delay: Duration::from_millis(200),
            signed_url_ttl: Duration::from_secs(24 * 3600),
            indexing_delay: Duration::from_millis(200),
            max_shard_size: 1 << 30,
            max_images_per_shard: 500,
            max_image_size: 20 * 1024 * 1024,
            max_video_size: 4 << 30,
            faults: Faults::default(),
            test_hooks: false,
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
}

/// A running sandbox; dropping it stops the server and its background threads.
pub struct Sandbox {
    base_url: String,
    config: SandboxConfig,
    data_dir: PathBuf,
    temp_dir: bool,
    server: Arc<tiny_http::Server>,
    state: Arc<State>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .field("workspace", &self.config.workspace)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts serving; returns once the port is bound.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_workspace("acme"))?;
    /// assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(sandbox.workspace(), "acme");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start(config: SandboxConfig) -> Result<Sandbox> {
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(d) => (d.clone(), false),
            None => (fresh_temp_dir()?, true),
        };
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
        let server = tiny_http::Server::http(config.addr)
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.addr)))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| Error::Config("the sandbox is not on an IP address".into()))?;
        let base_url = format!("http://{}:{port}", config.addr.ip());
        let server = Arc::new(server);
        let state = Arc::new(State::open(&config, &data_dir, &base_url)?);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..config.threads.max(1) {
            let server = server.clone();
            let state = state.clone();
            let stopping = stopping.clone();
            let t = std::thread::Builder::new()
                .name(format!("sandbox-http-{i}"))
                .spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        match server.recv() {
                            Ok(req) => router::handle(&state, req),
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| Error::io("starting a sandbox thread", e))?;
            threads.push(t);
        }
        threads.extend(state.start_background(stopping.clone())?);
        Ok(Sandbox {
            base_url,
            config,
            data_dir,
            temp_dir,
            server,
            state,
            stopping,
            threads,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// use roboflow_batch::transport::{HttpRequest, Transport, UreqTransport};
    /// let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// let url = format!("{}/?api_key={}", sandbox.base_url(), sandbox.api_key());
    /// assert_eq!(UreqTransport::new().send(HttpRequest::get(url))?.status, 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The valid API key.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// use roboflow_batch::{BatchApi, Error};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_api_key("right-key"))?;
    /// let api = BatchApi::builder().base_url(sandbox.base_url()).api_key("wrong-key").build()?;
    /// assert!(matches!(api.workspace(), Err(Error::Unauthorized(_))));
    /// assert_eq!(sandbox.api_key(), "right-key");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn api_key(&self) -> &str {
        &self.config.api_key
    }

    /// The workspace slug.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert_eq!(sandbox.workspace(), "sandbox"); // the default slug
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn workspace(&self) -> &str {
        &self.config.workspace
    }

    /// The data directory.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_data_dir(dir.path()))?;
    /// assert_eq!(sandbox.data_dir(), dir.path());
    /// drop(sandbox); // stops, saves its state and keeps the directory
    /// assert!(dir.path().join("state.json").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The shared state, for tests that inspect it.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_job_images_per_task(10))?;
    /// assert_eq!(sandbox.state().config().job_images_per_task, 10);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Blocks until the sandbox is stopped from another thread (used by `rfbatch sandbox`).
    ///
    /// ```no_run
    /// use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default().with_addr(([127, 0, 0, 1], 9001).into()))?;
    /// println!("serving {} at {}", sandbox.workspace(), sandbox.base_url());
    /// sandbox.wait(); // serves until the process is stopped
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.state.save_now();
        if self.temp_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

fn fresh_temp_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "rfbatch-sandbox-{}-{}",
        std::process::id(),
        crate::rand::hex(8)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_api_key() {
        let config = SandboxConfig::default().with_api_key("sandbox-secret-123");
        assert!(!format!("{config:?}").contains("sandbox-secret-123"));
        let sandbox = Sandbox::start(config).unwrap();
        assert!(!format!("{sandbox:?}").contains("sandbox-secret-123"));
        assert!(!format!("{:?}", sandbox.state()).contains("sandbox-secret-123"));
    }
}
