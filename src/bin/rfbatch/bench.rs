//! `rfbatch bench upload`: upload speed and memory, against `--api-url` or a sandbox in a
//! child process (so that the peak memory is the client's alone); counts checked after.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use roboflow_batch::ingest::{Ingest, IngestReport, Source};
use roboflow_batch::testdata::{ImageFormat, ImageSet};
use roboflow_batch::wait::WaitOptions;
use serde_json::{Value, json};

use crate::args::{Global, temp_dir};
use crate::context::{self, Ctx};
use crate::exit::{Class, Failure};
use crate::output::{Output, human_bytes, opt};
use crate::sandbox::Store;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Upload throughput, PUT latency percentiles, requests per 1,000 images, peak memory.
    Upload(UploadBenchArgs),
}

#[derive(Args, Debug)]
pub struct UploadBenchArgs {
    /// A folder of images to upload [default: --synthetic images].
    #[arg(value_name = "DIR", conflicts_with = "synthetic")]
    pub dir: Option<PathBuf>,
    /// Generate this many images (deterministic; kept for the next run) [default: 2000].
    #[arg(long, value_name = "N")]
    pub synthetic: Option<usize>,
    /// Sizes of the generated images, in KiB.
    #[arg(long, value_name = "A-B", default_value = "50-250")]
    pub size_range: String,
    /// Parallel uploads, 1 to 64.
    #[arg(long, value_name = "N", default_value_t = roboflow_batch::ingest::DEFAULT_PARALLELISM,
          value_parser = crate::args::parallel)]
    pub parallel: usize,
    /// How many times to upload the set (each into a fresh batch).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub runs: usize,
    /// What the built-in sandbox does with the shards.
    #[arg(long, value_enum, default_value_t = Store::Discard)]
    pub store: Store,
}

pub fn run(global: &Global, out: &Output, cmd: BenchCommand) -> Result<(), Failure> {
    let BenchCommand::Upload(a) = cmd;
    if a.runs == 0 || a.runs > 100 {
        return Err(Failure::usage("--runs must be 1 to 100"));
    }
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => dataset(out, a.synthetic.unwrap_or(2000), &a.size_range)?,
    };
    warm_page_cache(&dir);
    let url = global.api_url.as_deref().unwrap_or_default();
    let (ctx, target, _server) = if !url.trim().is_empty() {
        let ctx = context::connect(global, out)?;
        let url = ctx.api.base_url().to_string();
        (ctx, url, None)
    } else {
        let server = SandboxChild::start(a.parallel, a.store)?;
        let g = Global {
            api_key: Some(SANDBOX_KEY.into()),
            api_url: Some(server.base_url.clone()),
            workspace: None,
            ..global.clone()
        };
        let disk = a.store == Store::Disk;
        let kept = if disk { "on disk" } else { "discarded" };
        let target = format!("{} (built-in sandbox, shards {kept})", server.base_url);
        (context::connect(&g, out)?, target, Some(server))
    };
    // The pipeline's own discovery, in bounded memory: the set is counted, not held.
    let plan = Ingest::new(&ctx.api, "bench-plan", Source::folder(&dir))
        .max_file_size(u64::MAX)
        .plan()?;
    let (images, bytes) = (plan.files_found, plan.bytes_found);
    drop(plan);
    if images == 0 {
        return Err(Failure::usage(format!("{} holds no images", dir.display())));
    }
    let (size, from, parallel) = (human_bytes(bytes), dir.display(), a.parallel);
    out.note(format_args!(
        "{images} images ({size}) from {from} into {target}, {parallel} in parallel"
    ));
    let stamp = UNIX_EPOCH.elapsed().unwrap_or_default().as_secs();
    let mut runs = Vec::new();
    for i in 0..a.runs {
        let batch = format!("bench-{stamp}-{}-{i}", std::process::id());
        let r = once(&ctx, &dir, &batch, a.parallel, images)?;
        if !out.json {
            if i == 0 {
                out.line(" run  images/s     MB/s   p50 ms   p99 ms   max ms  peak RSS retries  req/1000")?;
            }
            let f = |key: &str| r[key].as_f64().unwrap_or(0.0);
            let rss = opt(r["peakRssMiB"].as_f64().map(|m| format!("{m:.1} MiB")));
            let retries = f("retries");
            let (p50, p99, max) = (f("putP50Ms"), f("putP99Ms"), f("putMaxMs"));
            let (rate, mb, per_1000) =
                (f("imagesPerSec"), f("mbPerSec"), f("requestsPer1000Images"));
            let run = i + 1;
            out.line(format!(
                "{run:>4} {rate:>9.0} {mb:>8.1} {p50:>8.1} {p99:>8.1} {max:>8.1} {rss:>9} {retries:>7} {per_1000:>9.1}"
            ))?;
        }
        runs.push(r);
    }
    match out.json {
        true => out.json(&json!({
            "target": target,
            "images": images,
            "bytes": bytes,
            "parallel": a.parallel,
            "runs": runs,
        })),
        false => Ok(()),
    }
}

/// One timed ingest into a fresh batch, then an untimed check that every image arrived.
fn once(
    ctx: &Ctx,
    dir: &Path,
    batch: &str,
    parallel: usize,
    images: u64,
) -> Result<Value, Failure> {
    let journal = temp_dir("rfbatch-bench-journal-", &std::env::temp_dir())?;
    let rss_reset = reset_peak_rss();
    let report: IngestReport = Ingest::new(&ctx.api, batch, Source::folder(dir))
        .parallelism(parallel)
        .journal_dir(journal.path())
        .without_verify()
        .run()?;
    let rss = if rss_reset { peak_rss_mib() } else { None };
    let partial = |m: String| Err(Failure::new(Class::Partial, m));
    let failed = report.failed.len();
    if failed > 0 {
        return partial(format!("{failed} images failed to upload into {batch}"));
    }
    let wait = WaitOptions::default().poll_interval(Duration::from_millis(200));
    let count = ctx
        .api
        .wait_for_ingest(batch, images, &wait.timeout(Duration::from_secs(600)))?;
    if count != images {
        return partial(format!(
            "batch {batch} holds {count} items, {images} expected"
        ));
    }
    let (r, lat) = (&report, report.put_latency.as_ref());
    let per_1000 = r.requests.total() as f64 * 1000.0 / images.max(1) as f64;
    Ok(json!({
        "batchId": batch,
        "seconds": r.upload_duration.as_secs_f64(),
        "imagesPerSec": r.files_per_sec(),
        "mbPerSec": r.megabytes_per_sec(),
        "putP50Ms": lat.map(|l| l.p50_ms),
        "putP99Ms": lat.map(|l| l.p99_ms),
        "putMaxMs": lat.map(|l| l.max_ms),
        "requests": r.requests,
        "requestsPer1000Images": per_1000,
        "retries": r.retries,
        "peakRssMiB": rss,
    }))
}

/// `50-250` (KiB) as a byte range.
fn parse_range(s: &str) -> Result<(u64, u64), Failure> {
    let kib = |v: &str| v.trim().parse::<u64>().ok();
    let range = s.split_once('-').and_then(|(lo, hi)| kib(lo).zip(kib(hi)));
    match range.filter(|&(lo, hi)| lo > 0 && lo <= hi && hi <= 20 * 1024) {
        Some((lo, hi)) => Ok((lo * 1024, hi * 1024)),
        None => Err(Failure::usage(format!(
            "--size-range takes MIN-MAX in KiB, like 50-250, got {s:?}"
        ))),
    }
}

/// The generated set, kept in tmpfs (or the temp folder) and reused while it is complete.
fn dataset(out: &Output, n: usize, size_range: &str) -> Result<PathBuf, Failure> {
    let (lo, hi) = parse_range(size_range)?;
    if n == 0 || n > 1_000_000 {
        return Err(Failure::usage("--synthetic must be 1 to 1000000"));
    }
    let dir = scratch_root().join(format!("rfbatch-bench-{n}-{}-{}k", lo / 1024, hi / 1024));
    // Counted as the folder is read, not held.
    let complete = std::fs::read_dir(&dir).is_ok_and(|d| d.count() == n);
    if !complete {
        let _ = std::fs::remove_dir_all(&dir);
        out.note(format_args!("generating {n} images into {}", dir.display()));
        ImageSet::new(n)
            .seed(2024)
            .dimensions(64..=512, 64..=512)
            .file_size(lo..=hi)
            .formats(&[ImageFormat::Jpeg, ImageFormat::Png])
            .write_to(&dir)?;
    }
    Ok(dir)
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let shm = shm.is_dir().then(|| shm.to_path_buf());
    shm.unwrap_or_else(std::env::temp_dir)
}

/// Reads every file once so that the runs measure uploads, not the disk.
fn warm_page_cache(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::read(e.path());
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets `VmHWM` to the current RSS (Linux: 5 into `clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

const SANDBOX_KEY: &str = "bench-sandbox-key";

/// `rfbatch sandbox` as a child process, killed on drop.
struct SandboxChild {
    child: Child,
    base_url: String,
    // Kept open: the sandbox fails if its stdout is closed while it still prints.
    _stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
    _data: tempfile::TempDir,
}

impl SandboxChild {
    fn start(parallel: usize, store: Store) -> Result<SandboxChild, Failure> {
        let fail =
            |what: String| Failure::new(Class::Other, format!("starting the sandbox: {what}"));
        let data = temp_dir("rfbatch-bench-sandbox-", &scratch_root())?;
        let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
        let store = store.to_possible_value().map(|v| v.get_name().to_string());
        let mut child = Command::new(exe)
            .args(["sandbox", "--addr", "127.0.0.1:0", "--store"])
            .args(store)
            .args(["--threads", &(parallel + 4).max(8).to_string()])
            .args(["--indexing-delay-ms", "50"])
            .arg("--data-dir")
            // A folder the sandbox creates, so owner-only.
            .arg(data.path().join("data"))
            .env("RFBATCH_SANDBOX_API_KEY", SANDBOX_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        // Killed on drop, also when it does not start.
        let mut stdout = child.stdout.take().map(std::io::BufReader::new);
        let mut me = SandboxChild {
            child,
            base_url: String::new(),
            _stdout: None,
            _data: data,
        };
        let mut line = String::new();
        if let Some(r) = stdout.as_mut() {
            let _ = r.read_line(&mut line);
        }
        let url = line.trim().strip_prefix("listening on ");
        let url = url.ok_or_else(|| fail(format!("it printed {line:?}")))?;
        (me.base_url, me._stdout) = (url.to_string(), stdout);
        Ok(me)
    }
}

impl Drop for SandboxChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Those refused: `cli_exit_codes::usage_errors_exit_2`.
    #[test]
    fn size_ranges_are_in_kib() {
        assert_eq!(parse_range("50-250").unwrap(), (50 * 1024, 250 * 1024));
    }
}
