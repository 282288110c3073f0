//! Ingest throughput and memory against the in-process sandbox, and the limit the loopback
//! and the sandbox allow.
//!
//! ```text
//! cargo run --release --example bench_ingest --features sandbox -- \
//!     [--images 5000] [--size-kib 50-250] [--parallel 8[,16,...]] [--runs 1] [--no-limit]
//!     [--store discard|disk]
//! ```
//!
//! The sandbox runs in its benchmark store mode by default (`discard`: each shard is
//! indexed from its tar headers as it streams in, and the bytes are dropped), so the figures
//! are the client's, not the sandbox's disk writes.
//!
//! It generates the dataset once (deterministic, kept in `/dev/shm` or the temp folder and
//! read once so it is in the page cache), starts a sandbox in a child process (this
//! program again, `serve`) with its data on tmpfs, and for each parallelism ingests the
//! whole set into a fresh batch (journal on, verification after the timed part). It prints
//! images/s, MB/s, PUT latency percentiles and the peak RSS of the ingesting process alone
//! (VmHWM, reset before each run).
//!
//! The limit: the same files cut into the same number of shards, built in memory first,
//! then PUT to signed URLs asked for beforehand, with the same number of streams. Ingest
//! MB/s over limit MB/s is the efficiency the issue asks to be at least 80%. The last
//! column PUTs the same shards streamed from the files (URLs asked for beforehand too): the
//! cost of reading the files, without the rest of the pipeline.
//!
//! Two helpers for `scripts/bench-vs-official.sh`:
//!
//! ```text
//! bench_ingest generate DIR [--images N] [--size-kib A-B]   # the dataset, deterministic
//! bench_ingest ingest DIR --batch ID [--parallel N] [--verify] [--recursive] [--journal DIR]
//!                                                           # one ingest into API_BASE_URL
//! bench_ingest serve DATA_DIR THREADS STORE                 # a sandbox until killed
//! ```
//!
//! `ingest` reads `API_BASE_URL` and `ROBOFLOW_API_KEY`, does not verify unless asked (the
//! script checks count and names itself), and prints one JSON line with the peak RSS of
//! the whole process (VmHWM): nothing else ran in it, so this is the figure for the
//! memory of an ingest of that many files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::api::UploadSource;
use roboflow_batch::ingest::{Ingest, Source, TarEntry, TarShard};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig, StoreMode};
use roboflow_batch::testdata::{ImageFormat, ImageSet};
use roboflow_batch::wait::WaitOptions;

struct Args {
    images: usize,
    size_kib: (u64, u64),
    parallel: Vec<usize>,
    runs: usize,
    limit: bool,
    store: StoreMode,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        images: 5000,
        size_kib: (50, 250),
        parallel: vec![roboflow_batch::ingest::DEFAULT_PARALLELISM],
        runs: 1,
        limit: true,
        store: StoreMode::Discard,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--images" => a.images = value()?.parse().map_err(|e| format!("--images: {e}"))?,
            "--size-kib" => {
                let v = value()?;
                let (lo, hi) = v.split_once('-').ok_or("--size-kib takes MIN-MAX")?;
                a.size_kib = (
                    lo.parse().map_err(|_| "bad MIN")?,
                    hi.parse().map_err(|_| "bad MAX")?,
                );
            }
            "--parallel" => {
                a.parallel = value()?
                    .split(',')
                    .map(|p| p.parse().map_err(|e| format!("--parallel: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--no-limit" => a.limit = false,
            "--store" => a.store = store_mode(&value()?).ok_or("--store takes disk or discard")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    match argv.next().as_deref() {
        Some("generate") => return exit(generate(argv.collect())),
        Some("ingest") => return exit(ingest_once(argv.collect())),
        Some("serve") => return exit(serve(argv.collect())),
        _ => {}
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

const SANDBOX_KEY: &str = "bench-key";

/// `disk` or `discard`.
fn store_mode(s: &str) -> Option<StoreMode> {
    match s {
        "disk" => Some(StoreMode::Disk),
        "discard" => Some(StoreMode::Discard),
        _ => None,
    }
}

/// `serve DATA_DIR THREADS STORE`: a sandbox in this process, until killed; prints its URL.
fn serve(argv: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = argv.first().ok_or("serve needs a data folder")?;
    let threads: usize = argv.get(1).ok_or("serve needs a thread count")?.parse()?;
    let store = argv
        .get(2)
        .and_then(|s| store_mode(s))
        .ok_or("serve needs a store mode")?;
    let config = SandboxConfig::default()
        .api_key(SANDBOX_KEY)
        .data_dir(dir)
        .store(store)
        .threads(threads)
        .indexing_delay(Duration::from_millis(50));
    let sandbox = Sandbox::start(config)?;
    println!("{}", sandbox.base_url());
    // Serves until the process is killed.
    loop {
        std::thread::park();
        let _ = &sandbox;
    }
}

/// The sandbox child process; killed on drop.
struct Server {
    child: std::process::Child,
    base_url: String,
}

impl Server {
    fn start(
        data: &Path,
        threads: usize,
        store: StoreMode,
    ) -> Result<Server, Box<dyn std::error::Error>> {
        let store = match store {
            StoreMode::Discard => "discard",
            _ => "disk",
        };
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg(data)
            .arg(threads.to_string())
            .arg(store)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let base_url = line.trim().to_string();
        if !base_url.starts_with("http://") {
            let _ = child.kill();
            return Err(format!("the sandbox did not start: {line:?}").into());
        }
        Ok(Server { child, base_url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exit(r: Result<(), Box<dyn std::error::Error>>) {
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `generate DIR [--images N] [--size-kib A-B]`
fn generate(argv: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = argv.first().ok_or("generate needs a folder")?;
    let (mut n, mut lo, mut hi) = (10_000usize, 50u64, 250u64);
    let mut it = argv.iter().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--images" => n = v.parse()?,
            "--size-kib" => {
                let (a, b) = v.split_once('-').ok_or("--size-kib takes MIN-MAX")?;
                (lo, hi) = (a.parse()?, b.parse()?);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let images = ImageSet::new(n)
        .seed(2024)
        .dimensions(64..=512, 64..=512)
        .file_size(lo * 1024..=hi * 1024)
        .formats(&[ImageFormat::Jpeg, ImageFormat::Png])
        .write_to(Path::new(dir))?;
    let bytes: u64 = images.iter().map(|i| i.size).sum();
    println!("{{\"images\":{},\"bytes\":{bytes}}}", images.len());
    Ok(())
}

/// `ingest DIR --batch ID [--parallel N]` into `API_BASE_URL`: one JSON line.
fn ingest_once(argv: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = argv.first().ok_or("ingest needs a folder")?;
    let (mut batch, mut parallel) = (None, roboflow_batch::ingest::DEFAULT_PARALLELISM);
    let (mut verify, mut recursive, mut journal_dir) = (false, false, None);
    let mut it = argv.iter().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--verify" => {
                verify = true;
                continue;
            }
            "--recursive" => {
                recursive = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--batch" => batch = Some(v.clone()),
            "--parallel" => parallel = v.parse()?,
            "--journal" => journal_dir = Some(PathBuf::from(v)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let batch = batch.ok_or("--batch is required")?;
    let api = BatchApi::from_env()?;
    let journal = tempfile::tempdir()?;
    let journal_dir = journal_dir.unwrap_or_else(|| journal.path().to_path_buf());
    let started = Instant::now();
    let mut ingest = Ingest::new(&api, &batch, Source::folder(dir).recursive(recursive))
        .parallelism(parallel)
        .journal_dir(journal_dir);
    ingest = if verify {
        ingest.verify(
            WaitOptions::default()
                .poll_interval(Duration::from_millis(200))
                .max_interval(Duration::from_secs(1))
                .timeout(Duration::from_secs(900)),
        )
    } else {
        ingest.without_verify()
    };
    let report = ingest.run()?;
    let secs = started.elapsed().as_secs_f64();
    let indexed = report
        .verification
        .as_ref()
        .map_or(-1, |v| v.indexed as i64);
    println!(
        "{{\"images\":{},\"resumed\":{},\"failed\":{},\"indexed\":{indexed},\"seconds\":{secs:.3},\"uploadSeconds\":{:.3},\"imagesPerSec\":{:.0},\"peakRssMiB\":{:.1}}}",
        report.files_uploaded,
        report.files_resumed,
        report.failed.len(),
        report.upload_duration.as_secs_f64(),
        report.files_per_sec(),
        peak_rss_mib().unwrap_or(0.0)
    );
    Ok(())
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The dataset, generated once per (count, size range) and reused.
fn dataset(args: &Args) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let (lo, hi) = args.size_kib;
    let dir = scratch_root().join(format!("rfbatch-bench-{}-{lo}-{hi}k", args.images));
    let found = std::fs::read_dir(&dir).map(|d| d.count());
    if found.ok() != Some(args.images) {
        let _ = std::fs::remove_dir_all(&dir);
        let started = Instant::now();
        ImageSet::new(args.images)
            .seed(2024)
            .dimensions(64..=512, 64..=512)
            .file_size(lo * 1024..=hi * 1024)
            .formats(&[ImageFormat::Jpeg, ImageFormat::Png])
            .write_to(&dir)?;
        eprintln!(
            "generated {} images in {:.1?} into {}",
            args.images,
            started.elapsed(),
            dir.display()
        );
    }
    // Read everything once so the files are in the page cache.
    for e in std::fs::read_dir(&dir)? {
        std::fs::read(e?.path())?;
    }
    Ok(dir)
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dir = dataset(args)?;
    let data = tempfile::Builder::new()
        .prefix("rfbatch-bench-sandbox-")
        .tempdir_in(scratch_root())?;
    let journals = tempfile::Builder::new()
        .prefix("rfbatch-bench-journal-")
        .tempdir_in(scratch_root())?;
    let max_parallel = args.parallel.iter().copied().max().unwrap_or(8);
    let sandbox = Server::start(data.path(), (max_parallel + 4).max(8), args.store)?;
    let api = client(&sandbox.base_url, SANDBOX_KEY)?;
    println!(
        "dataset: {} images, {}-{} KiB, in {}; sandbox store {:?}, data on {}",
        args.images,
        args.size_kib.0,
        args.size_kib.1,
        dir.display(),
        args.store,
        scratch_root().display()
    );
    println!(
        "{:>8} {:>4} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6} {:>10} {:>6} {:>10}",
        "parallel",
        "run",
        "images/s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "shards",
        "limit MB/s",
        "ratio",
        "files MB/s"
    );
    let mut batch_no = 0;
    for &p in &args.parallel {
        for run in 0..args.runs {
            batch_no += 1;
            let batch = format!("bench-{batch_no}");
            let rss_reset = reset_peak_rss();
            let report = Ingest::new(&api, &batch, Source::folder(&dir))
                .parallelism(p)
                .journal_dir(journals.path())
                .without_verify()
                .run()?;
            let rss = if rss_reset { peak_rss_mib() } else { None };
            // Verification, untimed: every image is there.
            let count = wait_count(&api, &batch, args.images as u64)?;
            if count != args.images as u64 || !report.failed.is_empty() {
                return Err(format!(
                    "batch {batch}: {count} indexed, {} failed",
                    report.failed.len()
                )
                .into());
            }
            let secs = report.upload_duration.as_secs_f64();
            let wire_mbs = report.wire_bytes as f64 / 1e6 / secs;
            let limit = if args.limit {
                Some(limit_mbs(
                    &api,
                    &format!("limit-{batch_no}"),
                    &dir,
                    report.units_uploaded as usize,
                    p,
                )?)
            } else {
                None
            };
            let lat =
                report
                    .put_latency
                    .clone()
                    .unwrap_or(roboflow_batch::ingest::LatencySummary {
                        p50_ms: 0.0,
                        p99_ms: 0.0,
                        max_ms: 0.0,
                        samples: 0,
                    });
            println!(
                "{:>8} {:>4} {:>9.0} {:>7.0} {:>7.1} {:>7.1} {:>7} {:>6} {:>10} {:>6} {:>10}",
                p,
                run + 1,
                report.files_uploaded as f64 / secs,
                wire_mbs,
                lat.p50_ms,
                lat.p99_ms,
                rss.map_or("n/a".into(), |r| format!("{r:.1}")),
                report.units_uploaded,
                limit.map_or("-".into(), |l| format!("{:.0}", l.0)),
                limit.map_or("-".into(), |l| format!("{:.0}%", 100.0 * wire_mbs / l.0)),
                limit.map_or("-".into(), |l| format!("{:.0}", l.1)),
            );
        }
    }
    Ok(())
}

fn client(base: &str, key: &str) -> roboflow_batch::Result<BatchApi> {
    BatchApi::builder().base_url(base).api_key(key).build()
}

fn wait_count(api: &BatchApi, batch: &str, want: u64) -> roboflow_batch::Result<u64> {
    let o = WaitOptions::default()
        .poll_interval(Duration::from_millis(100))
        .max_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(600));
    api.wait_for_ingest(batch, want, &o)
}

/// MB/s of PUTting the same files, as `shards` tars, over `streams` connections to signed
/// URLs asked for beforehand: `(prebuilt in memory, streamed from the files)`. The first is
/// the limit; the second tells how much of the gap is reading the files.
fn limit_mbs(
    api: &BatchApi,
    batch: &str,
    dir: &Path,
    shards: usize,
    streams: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    // The generated set: a flat folder of images, named and sized as found.
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        files.push((name, e.path(), e.metadata()?.len()));
    }
    files.sort();
    let per = files.len().div_ceil(shards.max(1));
    let mut tars = Vec::new();
    let mut bodies: Vec<Arc<[u8]>> = Vec::new();
    for chunk in files.chunks(per) {
        let entries = chunk
            .iter()
            .map(|(name, path, size)| TarEntry::file(name.clone(), path.clone(), *size, None))
            .collect::<Result<Vec<_>, _>>()?;
        let shard = TarShard::new(entries);
        let mut buf = Vec::with_capacity(shard.len() as usize);
        std::io::Read::read_to_end(&mut shard.reader(), &mut buf)?;
        bodies.push(buf.into());
        tars.push(shard);
    }
    let in_memory: Vec<UploadSource> = bodies.into_iter().map(UploadSource::Bytes).collect();
    let streamed: Vec<UploadSource> = tars
        .into_iter()
        .map(|t| {
            let len = t.len();
            UploadSource::Stream {
                open: Arc::new(move || Ok(Box::new(t.reader()) as Box<dyn std::io::Read + Send>)),
                len,
            }
        })
        .collect();
    let memory = put_all(api, &format!("{batch}-mem"), &in_memory, streams)?;
    let files = put_all(api, &format!("{batch}-files"), &streamed, streams)?;
    Ok((memory, files))
}

/// MB/s of PUTting `sources` over `streams` connections to fresh signed URLs.
fn put_all(
    api: &BatchApi,
    batch: &str,
    sources: &[UploadSource],
    streams: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let targets = sources
        .iter()
        .map(|_| api.request_shard_upload(batch, None))
        .collect::<Result<Vec<_>, _>>()?;
    let total: u64 = sources.iter().map(|s| s.len().unwrap_or(0)).sum();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..streams)
            .map(|_| {
                s.spawn(|| -> roboflow_batch::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(source) = sources.get(i) else {
                            return Ok(());
                        };
                        api.put_signed(&targets[i], source)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("PUT thread"))
    })?;
    Ok(total as f64 / 1e6 / started.elapsed().as_secs_f64())
}
