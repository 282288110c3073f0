//! The sandbox's state: configuration, the staging and jobs data, and persistence.
//!
//! Everything mutable sits in one `Mutex<Inner>`; handlers hold the lock only for
//! bookkeeping, never while moving bytes. `Inner` is saved to `state.json` in the data
//! directory (atomically, through a temp file) and read back on start, so a restarted
//! sandbox keeps its batches and jobs. Handlers only mark the state dirty; a saver thread
//! writes it within [`SAVE_INTERVAL`], and stopping the sandbox writes it at once. Saving on
//! every request would make each upload cost a rewrite of the whole state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SandboxConfig;
use crate::error::{Error, Result};

/// Persisted state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Inner {
    #[serde(default)]
    pub staging: super::staging::StagingData,
    #[serde(default)]
    pub jobs: super::jobs::JobsData,
}

/// The shared state of a running sandbox.
pub(crate) struct State {
    config: SandboxConfig,
    data_dir: PathBuf,
    base_url: String,
    inner: Mutex<Inner>,
    pub(crate) faults: super::staging::faults::Injector,
    /// Serialises saves, so concurrent handlers never race on the temp file.
    save_lock: Mutex<()>,
    /// Set by [`State::save`]; cleared by the saver thread when it writes.
    dirty: AtomicBool,
    /// Signs and checks signed URLs.
    signer: super::staging::signing::Signer,
    /// References ingests waiting for the fetch workers.
    fetch_queue: super::staging::FetchQueue,
    /// Signed PUTs answered 2xx since start.
    pub(crate) put_count: AtomicU64,
    /// API requests (not signed URLs) answered since start.
    pub(crate) request_count: AtomicU64,
    /// Records every request, when asked to.
    recorder: Option<super::record::Recorder>,
    /// Varies the answers, when asked to.
    variation: Option<super::vary::Variation>,
}

/// The longest a change waits before it is written to `state.json`.
pub(crate) const SAVE_INTERVAL: Duration = Duration::from_millis(50);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn open(config: &SandboxConfig, data_dir: &Path, base_url: &str) -> Result<State> {
        let path = data_dir.join("state.json");
        let mut inner: Inner = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!("cannot read sandbox state {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Inner::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        inner.staging.normalise_uploads();
        let key = match super::staging::signing::unhex(&inner.staging.signing_key) {
            Some(k) => k,
            None => {
                let k = crate::rand::secret32();
                inner.staging.signing_key = super::staging::signing::hex(&k);
                k
            }
        };
        let recorder = match &config.record {
            Some(path) => Some(super::record::Recorder::open(path)?),
            None => None,
        };
        Ok(State {
            recorder,
            variation: config.vary.map(super::vary::Variation::new),
            faults: super::staging::faults::Injector::new(&config.faults),
            save_lock: Mutex::new(()),
            dirty: AtomicBool::new(false),
            config: config.clone(),
            data_dir: data_dir.to_path_buf(),
            base_url: base_url.to_string(),
            inner: Mutex::new(inner),
            signer: super::staging::signing::Signer::new(key),
            fetch_queue: super::staging::FetchQueue::default(),
            put_count: AtomicU64::new(0),
            request_count: AtomicU64::new(0),
        })
    }

    /// The configuration it was started with.
    pub(crate) fn config(&self) -> &SandboxConfig {
        &self.config
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.config.api_key
    }

    pub(crate) fn workspace(&self) -> &str {
        &self.config.workspace
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn recorder(&self) -> Option<&super::record::Recorder> {
        self.recorder.as_ref()
    }

    pub(crate) fn variation(&self) -> Option<&super::vary::Variation> {
        self.variation.as_ref()
    }

    pub(crate) fn fetch_queue(&self) -> &super::staging::FetchQueue {
        &self.fetch_queue
    }

    pub(crate) fn signer(&self) -> &super::staging::signing::Signer {
        &self.signer
    }

    /// Locks the mutable state; a poisoned lock is recovered, not propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the state changed; the saver thread writes it within [`SAVE_INTERVAL`].
    pub(crate) fn save(&self) -> Result<()> {
        self.dirty.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Writes `state.json` atomically, now.
    pub(crate) fn save_now(&self) -> Result<()> {
        self.dirty.store(false, Ordering::SeqCst);
        let _saving = self.save_lock.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = {
            let inner = self.lock();
            serde_json::to_vec(&*inner).map_err(|e| Error::Config(e.to_string()))?
        };
        let path = self.data_dir.join("state.json");
        let tmp = self
            .data_dir
            .join(format!("state.json.{}.tmp", crate::rand::hex(8)));
        // Owner-only: it holds the key that signs the sandbox's URLs.
        let written = crate::owner_only::write(&tmp, &bytes)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))
            .and_then(|()| {
                std::fs::rename(&tmp, &path)
                    .map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp); // no stray temporary files on failure
        }
        written
    }

    /// Starts the background threads (shard indexing, jobs, webhooks).
    pub(crate) fn start_background(
        self: &Arc<Self>,
        stopping: Arc<AtomicBool>,
    ) -> Result<Vec<JoinHandle<()>>> {
        let mut threads = self.start_staging_background(stopping.clone())?;
        threads.extend(self.start_jobs_background(stopping.clone())?);
        let state = self.clone();
        let saver = std::thread::Builder::new()
            .name("sandbox-saver".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(SAVE_INTERVAL);
                    if state.dirty.load(Ordering::SeqCst) {
                        let _ = state.save_now();
                    }
                }
            })
            .map_err(|e| Error::io("starting the sandbox saver thread", e))?;
        threads.push(saver);
        Ok(threads)
    }
}
