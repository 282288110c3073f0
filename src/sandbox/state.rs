//! The shared state: configuration, the persisted data behind one lock (never held while
//! moving bytes), and the background threads' loop. A saver writes `state.json` within
//! [`SAVE_INTERVAL`] of a change: saving per request would rewrite it per upload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::SandboxConfig;
use super::faults::Injector;
use super::job_records::JobsData;
use super::outbox::Outbox;
use super::signing::{Signer, hex, unhex};
use super::store::{NewFile, StagingData};
use crate::error::{Error, Result};

/// The longest a change waits before it is written to `state.json`.
const SAVE_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Data {
    pub staging: StagingData,
    pub jobs: JobsData,
    pub webhooks: Outbox,
}

pub(crate) struct State {
    pub config: SandboxConfig,
    pub data_dir: PathBuf,
    pub base_url: String,
    data: Mutex<Data>,
    pub faults: Injector,
    /// Signs and checks signed URLs.
    pub signer: Signer,
    /// Signed PUTs answered 2xx since start.
    pub put_count: AtomicU64,
    /// API requests (not signed URLs) answered since start.
    pub request_count: AtomicU64,
    /// Set by [`State::save`]; cleared when the saver writes.
    changed: AtomicBool,
    /// Serialises saves, so that two never race on the file.
    saving: Mutex<()>,
}

impl State {
    pub fn open(config: &SandboxConfig, data_dir: &Path, base_url: &str) -> Result<State> {
        let path = data_dir.join("state.json");
        let mut data: Data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!("cannot read sandbox state {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        data.staging.reopen_uploads();
        let stored = unhex(&data.staging.signing_key).and_then(|k| <[u8; 32]>::try_from(k).ok());
        let key = stored.unwrap_or_else(crate::rand::secret32);
        data.staging.signing_key = hex(&key);
        // Uploads cut short by a previous run are never resumed.
        let _ = std::fs::remove_dir_all(data_dir.join(super::store::layout::TMP));
        Ok(State {
            config: config.clone(),
            data_dir: data_dir.to_path_buf(),
            base_url: base_url.to_string(),
            data: Mutex::new(data),
            faults: Injector::new(&config.faults),
            signer: Signer(key),
            put_count: AtomicU64::new(0),
            request_count: AtomicU64::new(0),
            changed: AtomicBool::new(false),
            saving: Mutex::new(()),
        })
    }

    /// Locks the data; a poisoned lock is recovered, not propagated.
    pub fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the data changed; the saver writes it within [`SAVE_INTERVAL`].
    pub fn save(&self) {
        self.changed.store(true, Ordering::SeqCst);
    }

    /// Releases the lock, then marks the data changed.
    pub fn unlock_changed(&self, data: MutexGuard<'_, Data>) {
        drop(data);
        self.save();
    }

    /// Writes `state.json` atomically, now; owner-only, as it holds the key that signs URLs.
    pub fn save_now(&self) -> Result<()> {
        self.changed.store(false, Ordering::SeqCst);
        let _saving = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = serde_json::to_vec(&*self.lock()).map_err(|e| Error::Config(e.to_string()))?;
        let path = self.data_dir.join("state.json");
        NewFile::write(&self.data_dir, "state.json", &bytes)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    pub fn start_saver(self: &Arc<Self>, stopping: &Arc<AtomicBool>) -> Result<JoinHandle<()>> {
        let state = self.clone();
        background("sandbox-saver", stopping, SAVE_INTERVAL, move || {
            if state.changed.load(Ordering::SeqCst) {
                let _ = state.save_now();
            }
            false
        })
    }
}

/// A thread that calls `step` until `stopping`, sleeping `idle` after one that did nothing
/// (false); a panic in a step is reported and the thread carries on.
pub(crate) fn background(
    name: &str,
    stopping: &Arc<AtomicBool>,
    idle: Duration,
    mut step: impl FnMut() -> bool + Send + 'static,
) -> Result<JoinHandle<()>> {
    let (stop, thread) = (stopping.clone(), name.to_string());
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match crate::panics::contain(&mut step) {
                    Ok(true) => {}
                    Ok(false) => std::thread::sleep(idle),
                    Err(panic) => {
                        eprintln!("rfbatch sandbox: {thread} panicked: {panic}");
                        std::thread::sleep(idle);
                    }
                }
            }
        })
        .map_err(|e| Error::io(format!("starting the {name} thread"), e))
}
