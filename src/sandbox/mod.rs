//! A local emulator of the Batch Processing service (feature `sandbox`), so that
//! everything runs and is tested offline: the whole API, signed URLs that point back at
//! itself, background indexing, jobs that read the images, webhooks and seeded [`Faults`].
//! Loopback only unless allowed; dropping the handle stops it; state stays in its data
//! directory.
//!
//! ```
//! # use roboflow_batch::{sandbox::*, BatchApi}; let sandbox = Sandbox::start(SandboxConfig::default())?;
//! let api = BatchApi::builder().base_url(sandbox.base_url()).api_key(sandbox.api_key()).build()?;
//! assert_eq!(api.workspace()?, sandbox.workspace());
//! # Ok::<(), roboflow_batch::Error>(())
//! ```

mod clock;
mod config;
mod egress;
mod faults;
mod job_records;
mod jobs;
mod outbox;
mod paging;
mod record;
mod request;
mod router;
mod signing;
mod staging;
mod state;
mod store;
mod vary;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::server;

pub use config::{SandboxConfig, StoreMode};
pub use faults::{FaultSettings, Faults};
use state::State;

/// A running sandbox; dropping it stops the server and its background threads.
pub struct Sandbox {
    /// The temporary data directory, removed on drop (when none was configured).
    temp_dir: Option<tempfile::TempDir>,
    server: server::Server,
    state: Arc<State>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.state.base_url)
            .field("workspace", &self.state.config.workspace)
            .field("data_dir", &self.state.data_dir)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts serving; returns once the port is bound.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*;
    /// let sandbox = Sandbox::start(SandboxConfig::default().workspace("acme"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start(mut config: SandboxConfig) -> Result<Sandbox> {
        config.check_exposure()?;
        if let Some(seed) = config.vary
            && config.registration_delay.is_zero()
        {
            config.registration_delay = vary::Variation::new(seed).registration_delay;
        }
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = crate::owner_only::temp_dir("rfbatch-sandbox-")
                    .map_err(|e| Error::io("creating a temporary data directory", e))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        // Owner-only: it holds the staged data and `state.json`, whose key signs URLs.
        crate::owner_only::create_dir_all(&data_dir)
            .map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
        let listener = TcpListener::bind(config.addr)
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.addr)))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading the sandbox's address", e))?
            .port();
        // SocketAddr's Display brackets IPv6: http://[::1]:port.
        let base_url = format!("http://{}", SocketAddr::new(config.addr.ip(), port));
        let state = Arc::new(State::open(&config, &data_dir, &base_url)?);
        let router = router::Router::new(state.clone())?;
        let served = server::Config {
            limits: config.limits.clone(),
            permits: config.threads,
            latency: config.latency,
            name: "rfbatch-sandbox",
        };
        let handler: Arc<server::Handler> = Arc::new(move |head, body| router.handle(head, body));
        let server = server::Server::start(listener, handler, served)
            .map_err(|e| Error::io("starting the sandbox's server", e))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let mut sandbox = Sandbox {
            temp_dir,
            server,
            state: state.clone(),
            stopping: stopping.clone(),
            threads: Vec::new(),
        };
        // Stopped by the sandbox's drop, even if one fails to start.
        let threads = &mut sandbox.threads;
        *threads = staging::references::start(&state, &stopping)?;
        threads.push(State::start_saver(&state, &stopping)?);
        threads.push(staging::shards::start_indexer(&state, &stopping)?);
        threads.push(jobs::engine::start(&state, &stopping)?);
        threads.push(jobs::webhooks::start(&state, &stopping)?);
        Ok(sandbox)
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// The valid API key.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default().api_key("k"))?;
    /// assert_eq!(sandbox.api_key(), "k");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn api_key(&self) -> &str {
        &self.state.config.api_key.0
    }

    /// The workspace slug (`sandbox` unless configured).
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert_eq!(sandbox.workspace(), "sandbox");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn workspace(&self) -> &str {
        &self.state.config.workspace
    }

    /// The data directory.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert!(sandbox.data_dir().is_dir());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn data_dir(&self) -> &Path {
        &self.state.data_dir
    }

    /// How many times each file name was indexed into `batch_id`, by any route; empty for
    /// an unknown batch. A name uploaded twice counts 2, though the batch lists it once.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert!(sandbox.ingest_counts("photos").is_empty());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn ingest_counts(&self, batch_id: &str) -> std::collections::BTreeMap<String, u64> {
        let data = self.state.lock();
        let batch = data.staging.batches.get(batch_id);
        batch.map(|b| b.ingest_counts.clone()).unwrap_or_default()
    }

    /// Signed PUTs answered 2xx since this sandbox started, in all batches, including a
    /// repeated PUT of a completed upload (answered 200, storing nothing).
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert_eq!(sandbox.put_count(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn put_count(&self) -> u64 {
        self.state.put_count.load(Ordering::Relaxed)
    }

    /// API requests (everything but signed URLs) answered since this sandbox started,
    /// whatever their status, injected faults included.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*; let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// assert_eq!(sandbox.request_count(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request_count(&self) -> u64 {
        self.state.request_count.load(Ordering::Relaxed)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.stop();
        self.stopping.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.state.save_now();
        // Only now that the state is written: removes a temporary data directory.
        drop(self.temp_dir.take());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::tests::raw;

    #[test]
    fn a_signed_put_trickled_a_byte_at_a_time_is_cut_off_and_nothing_is_stored() {
        // A byte every 400 ms stays under the 2 s per-read timeout; the body must average
        // 1,000 bytes a second once its 1 s of grace is over.
        let config = SandboxConfig {
            limits: crate::server::Limits {
                io_timeout: Duration::from_secs(2),
                grace: Duration::from_secs(1),
                min_rate: 1000,
                ..crate::server::Limits::default()
            },
            ..SandboxConfig::default()
        };
        let sb = Sandbox::start(config).unwrap();
        let api = crate::BatchApi::builder()
            .base_url(sb.base_url())
            .api_key(sb.api_key())
            .build()
            .unwrap();
        let target = api.request_shard_upload("slow", None).unwrap();
        let head = raw::signed_put_head(&target.upload_url, &target.extension_headers, 100_000);
        let s = raw::send(raw::addr_of(sb.base_url()), head.as_bytes());
        let (got, took) = raw::trickle(
            &s,
            b"a",
            Duration::from_millis(400),
            Duration::from_secs(10),
        );
        assert_eq!(got, Some((408, true)));
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(raw::closed_within(&s, Duration::from_secs(3)));
        // Nothing was stored, and the upload can be sent again, whole.
        assert_eq!(sb.put_count(), 0);
        // Any body: the shard is judged only once it is whole.
        let body = crate::api::UploadSource::bytes(vec![0; 100_000]);
        api.put_signed(&target, &body).unwrap();
        assert_eq!(sb.put_count(), 1);
    }
}
