//! Helpers shared by the ingest tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roboflow_batch::BatchApi;
use roboflow_batch::ingest::{Ingest, IngestReport, Source};
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::wait::WaitOptions;

#[path = "../vary_common/mod.rs"]
pub mod vary;

/// A sandbox that indexes at once (its answers varied under `RFBATCH_SANDBOX_VARY`).
pub fn sandbox(config: SandboxConfig) -> Sandbox {
    default_sandbox(vary::config(config))
}

/// A sandbox that indexes at once, with its default answers even under
/// `RFBATCH_SANDBOX_VARY`: for tests of what a default answer holds, on purpose.
pub fn default_sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config.indexing_delay(Duration::from_millis(20))).expect("sandbox starts")
}

pub fn api(sandbox: &Sandbox) -> BatchApi {
    BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .build()
        .expect("client")
}

/// Fast polling for verification.
pub fn quick_verify() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(50))
        .max_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(120))
}

/// An images ingest with a private journal and fast verification.
pub fn ingest<'a>(api: &'a BatchApi, batch: &str, dir: &Path, journal: &Path) -> Ingest<'a> {
    Ingest::new(api, batch, Source::folder(dir))
        .journal_dir(journal)
        .verify(quick_verify())
}

/// Every event, recorded.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<Event>>>);

impl Events {
    pub fn sink(&self) -> impl Fn(&Event) + Sync + '_ {
        |e: &Event| self.0.lock().unwrap().push(e.clone())
    }

    pub fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// Names in the batch listing, with how many times each appears.
pub fn listed_names(api: &BatchApi, batch: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in api.files(batch, None, None) {
        *out.entry(f.expect("listing").file_name).or_insert(0) += 1;
    }
    out
}

/// Objects the batch's successful shards hold in all: more than the file count means a
/// file was indexed twice.
pub fn shard_objects(api: &BatchApi, batch: &str) -> u64 {
    api.shards(batch, None)
        .map(|s| s.expect("shards"))
        .filter(|s| !s.is_failed())
        .map(|s| s.shard_objects_count)
        .sum()
}

pub fn assert_complete(report: &IngestReport, n: u64) {
    assert!(
        report.failed.is_empty(),
        "failed: {:#?}",
        &report.failed[..report.failed.len().min(5)]
    );
    let v = report.verification.as_ref().expect("verification ran");
    assert!(v.complete, "{v:?}");
    assert_eq!(v.indexed, n, "{v:?}");
}

/// A client that retries hard and sleeps at most a few milliseconds between tries, for
/// runs against injected faults.
///
/// Reads and writes time out after 2 s, so a stalled exchange counts as a failed try
/// quickly.
pub fn patient_api(sandbox: &Sandbox) -> BatchApi {
    use roboflow_batch::api::{Clock, RetryPolicy};
    use roboflow_batch::transport::{Timeouts, UreqTransport};
    let timeouts = Timeouts {
        read: Duration::from_secs(2),
        write: Duration::from_secs(2),
        ..Timeouts::default()
    };
    BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(UreqTransport::builder().timeouts(timeouts).build())
        .retry_policy(RetryPolicy {
            max_retries: 12,
            ..RetryPolicy::default()
        })
        .clock(Clock::system().sleep_fn(|d| std::thread::sleep(d.min(Duration::from_millis(5)))))
        .build()
        .expect("client")
}

/// Asserts the sandbox indexed each of `names` exactly once into `batch`, and nothing else.
pub fn assert_indexed_once(
    sandbox: &Sandbox,
    batch: &str,
    names: impl IntoIterator<Item = String>,
) {
    let counts = sandbox.ingest_counts(batch);
    let want: std::collections::BTreeSet<String> = names.into_iter().collect();
    let got: std::collections::BTreeSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, want, "names indexed");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "indexed more than once: {twice:?}");
}
