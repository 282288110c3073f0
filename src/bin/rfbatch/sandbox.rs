//! `rfbatch sandbox`: serves the emulator on an address until the process is killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::args::Maybe;
use clap::{Args, ValueEnum};
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig, StoreMode};

#[derive(Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free one; beyond loopback, see --allow-remote).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The one API key the sandbox accepts (default `sandbox-key`, on loopback only).
    #[arg(long, env = "RFBATCH_SANDBOX_API_KEY")]
    api_key: Option<String>,
    /// Allow listening beyond loopback (needs an explicit --api-key of 16+ characters).
    #[arg(long)]
    allow_remote: bool,
    /// A host beyond loopback that webhooks may go to (repeatable).
    #[arg(long, value_name = "HOST")]
    webhook_allow: Vec<String>,
    /// A host beyond loopback that references may be fetched from (repeatable).
    #[arg(long, value_name = "HOST")]
    fetch_allow: Vec<String>,
    /// The workspace slug answered by `GET /`.
    #[arg(long, default_value = "sandbox")]
    workspace: String,
    /// Where state and data live (kept across restarts) [default: a temporary folder].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Requests worked on at the same time (not counting bodies read or answers written).
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Delay every answer (signed URLs included) by this many milliseconds, as if far away.
    #[arg(long, default_value_t = 0, value_name = "N")]
    latency_ms: u64,
    /// Keep uploaded bytes, or index shards and drop them (a benchmark mode: no jobs).
    #[arg(long, value_enum, default_value_t = Store::Disk)]
    store: Store,
    /// How long signed URLs stay valid, in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    signed_url_ttl_secs: u64,
    /// Delay before an uploaded shard is indexed, in milliseconds.
    #[arg(long, default_value_t = 200)]
    indexing_delay_ms: u64,
    /// How long a received shard stays out of the shard listing, in milliseconds.
    #[arg(long, default_value_t = 0)]
    registration_delay_ms: u64,
    /// Largest tar shard accepted, in bytes (`maxShardSize`).
    #[arg(long)]
    max_shard_size: Option<u64>,
    /// Largest image accepted, in bytes.
    #[arg(long)]
    max_image_size: Option<u64>,
    /// How fast jobs process images, per second (0 holds jobs at their first stage).
    #[arg(long, default_value_t = 100.0)]
    job_speed: f64,
    /// Images per task of a job stage.
    #[arg(long, default_value_t = 100)]
    job_images_per_task: u64,
    /// Which endpoint families the fault options apply to (repeatable).
    #[arg(long, value_enum, default_values_t = [Family::All])]
    fault_family: Vec<Family>,
    /// Seed of the fault generators (same seed, same faults).
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Rate of 429 replies (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate_429: f64,
    /// `Retry-After` seconds sent with injected 429s.
    #[arg(long, default_value_t = 1)]
    fault_retry_after_secs: u64,
    /// Rate of 500 replies (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate_500: f64,
    /// Rate of 503 replies (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate_503: f64,
    /// Rate of connections dropped mid-body (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_drop_rate: f64,
    /// Latency added to the requests of the --fault-family families, in milliseconds.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Hand out signed URLs (of the put/download families) already expired.
    #[arg(long)]
    fault_expired_urls: bool,
    /// Append each request's shape to FILE as a JSON line (never keys, signatures, contents).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Answer unlike the defaults, within what the service may do (pages, names, fields).
    #[arg(long, value_name = "SEED")]
    vary: Option<u64>,
}

/// What the sandbox does with uploaded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Store {
    /// Write the shards to the sandbox's data folder.
    Disk,
    /// Index the tar headers and drop the bytes: measures the client.
    Discard,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Family {
    Api,
    Put,
    Download,
    All,
}

pub fn run(a: SandboxArgs) -> Result<(), Box<dyn std::error::Error>> {
    for (name, rate) in [
        ("--fault-rate-429", a.fault_rate_429),
        ("--fault-rate-500", a.fault_rate_500),
        ("--fault-rate-503", a.fault_rate_503),
        ("--fault-drop-rate", a.fault_drop_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("{name} must be between 0 and 1, got {rate}").into());
        }
    }
    if !(a.job_speed.is_finite() && a.job_speed >= 0.0) {
        return Err(format!(
            "--job-speed must be a number of images per second, 0 or more, got {}",
            a.job_speed
        )
        .into());
    }
    let settings = FaultSettings::default()
        .rate_429(a.fault_rate_429, a.fault_retry_after_secs)
        .rate_500(a.fault_rate_500)
        .rate_503(a.fault_rate_503)
        .drop_rate(a.fault_drop_rate)
        .latency(Duration::from_millis(a.fault_latency_ms))
        .expired_urls(a.fault_expired_urls);
    let on = |f: Family| a.fault_family.contains(&f) || a.fault_family.contains(&Family::All);
    let faults = Faults::seeded(a.fault_seed)
        .maybe(on(Family::Api).then(|| settings.clone()), Faults::api)
        .maybe(on(Family::Put).then(|| settings.clone()), Faults::put)
        .maybe(on(Family::Download).then_some(settings), Faults::download);
    if a.allow_remote && a.api_key.is_none() {
        return Err(
            "--allow-remote needs an explicit --api-key (or RFBATCH_SANDBOX_API_KEY)".into(),
        );
    }
    let mut config = SandboxConfig::default()
        .addr(a.addr)
        .allow_remote(a.allow_remote)
        .workspace(a.workspace)
        .signed_url_ttl(Duration::from_secs(a.signed_url_ttl_secs))
        .indexing_delay(Duration::from_millis(a.indexing_delay_ms))
        .registration_delay(Duration::from_millis(a.registration_delay_ms))
        .latency(Duration::from_millis(a.latency_ms))
        .job_speed(a.job_speed)
        .job_images_per_task(a.job_images_per_task.max(1))
        .faults(faults)
        .threads(a.threads.max(1))
        .store(match a.store {
            Store::Disk => StoreMode::Disk,
            Store::Discard => StoreMode::Discard,
        });
    let default_key = a.api_key.is_none();
    config = a
        .webhook_allow
        .into_iter()
        .fold(config, SandboxConfig::webhook_allow);
    config = a
        .fetch_allow
        .into_iter()
        .fold(config, SandboxConfig::fetch_allow);
    let config = config
        .maybe(a.api_key, SandboxConfig::api_key)
        .maybe(a.data_dir, SandboxConfig::data_dir)
        .maybe(a.max_shard_size, SandboxConfig::max_shard_size)
        .maybe(a.max_image_size, SandboxConfig::max_image_size)
        .maybe(a.record, SandboxConfig::record)
        .maybe(a.vary, SandboxConfig::vary);
    let sandbox = Sandbox::start(config)?;
    let mut out = std::io::stdout();
    let (url, workspace, data) = (sandbox.base_url(), sandbox.workspace(), sandbox.data_dir());
    writeln!(out, "listening on {url}")?;
    writeln!(out, "workspace {workspace} data dir {}", data.display())?;
    if let Some(seed) = a.vary {
        writeln!(out, "answers varied with seed {seed} (--vary)")?;
    }
    if default_key {
        // The well-known default key is no secret (loopback only); a given key is never shown.
        let key = sandbox.api_key();
        writeln!(
            out,
            "try: API_BASE_URL={url} ROBOFLOW_API_KEY={key} rfbatch batch list"
        )?;
    }
    out.flush()?;
    // Stop on Ctrl-C or SIGTERM by dropping the sandbox, which stops its threads, writes its
    // state and removes a temporary data directory.
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    let _ = rx.recv();
    drop(sandbox);
    writeln!(std::io::stderr(), "rfbatch sandbox: stopped")?;
    Ok(())
}
