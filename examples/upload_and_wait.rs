//! The main job, end to end, against the embedded sandbox: ingest a folder of images with
//! the library (streamed tar shards in parallel, resumable, verified), run a job, wait for
//! it, and download the results.
//!
//! ```text
//! cargo run --example upload_and_wait --features sandbox -- [IMAGES_DIR] [OUT_DIR]
//! ```
//!
//! Without `IMAGES_DIR`, 300 small generated PNG images are used. Results land in
//! `OUT_DIR` (default `./rfbatch-results`), one folder per part (`results/results.jsonl`,
//! and `archives/` with one JSON file per image).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use roboflow_batch::export::Exporter;
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::model::{AggregationFormat, JobStartRequest, JobState};
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::testdata::ImageSet;
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::{BatchApi, Error, JobId, Result};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let given = args.next().map(PathBuf::from);
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "rfbatch-results".into()));
    // Generated images go to a uniquely named temporary folder, removed when it drops.
    let generated = match &given {
        Some(_) => None,
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("rfbatch-demo-")
                .tempdir()
                .map_err(|e| Error::io("creating a temporary folder", e))?;
            ImageSet::new(300)
                .dimensions(32..=128, 24..=96)
                .write_to(tmp.path())?;
            Some(tmp)
        }
    };
    let images_dir = match (&given, &generated) {
        (Some(dir), _) => dir.clone(),
        (None, Some(tmp)) => tmp.path().to_path_buf(),
        (None, None) => unreachable!("generated when not given"),
    };
    main_job(&images_dir, &out_dir)
}

fn main_job(images_dir: &Path, out_dir: &Path) -> Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    println!("sandbox listening on {}", sandbox.base_url());
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .build()?;

    // Ingest: the library finds the images, packs and uploads shards, and verifies.
    let batch = "demo-images";
    let started = Instant::now();
    let shards = AtomicU64::new(0);
    let journal = sandbox.data_dir().join("journals"); // this sandbox's own resume journal
    let polling = WaitOptions::default()
        .poll_interval(Duration::from_millis(100))
        .max_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(600));
    let report = Ingest::new(&api, batch, Source::folder(images_dir))
        .journal_dir(&journal)
        .verify(polling.clone())
        .on_progress(|e| {
            // A plain counter: `run` returns once every event reached it.
            if matches!(e, Event::UnitDone { .. }) {
                shards.fetch_add(1, Ordering::Relaxed);
            }
        })
        .run()?;
    for s in &report.skipped {
        println!("  skipped {s}");
    }
    if !report.is_success() {
        for f in report.failed.iter().take(10) {
            println!("  failed {f}");
        }
        return Err(Error::Config(format!(
            "{} images did not make it",
            report.failed.len()
        )));
    }
    println!(
        "uploaded {} images ({:.1} MiB) in {} {} in {:.2?}; {} indexed",
        report.files_uploaded,
        report.bytes_uploaded as f64 / (1 << 20) as f64,
        shards.load(Ordering::Relaxed),
        report.method,
        report.upload_duration,
        report.verification.as_ref().map_or(0, |v| v.indexed),
    );

    let job = JobId::generate();
    let request = JobStartRequest::images(batch, "image-stats")
        .with_aggregation_format(AggregationFormat::Jsonl)
        .with_max_image_failure_rate(0.05);
    api.start_job(job.as_str(), &request, Some("Quickstart"))?;
    println!("started job {job}");
    let mut last = String::new();
    let status = api.wait_for_job(job.as_str(), &polling, |s| {
        let decile = (s.progress.unwrap_or(0.0) * 10.0).floor() * 10.0;
        let line = format!("  {} {decile:.0}%", s.state());
        if line != last {
            println!("{line}");
            last = line;
        }
    })?;
    let state = status.state();
    println!("job {job} finished: {state}");

    // Every output batch of both stages, downloaded in parallel into
    // `<out>/<part>/<file>`; archives are unpacked safely and a re-run skips what is there.
    let exported = Exporter::new(&api, out_dir)
        .include_processing(true)
        .job(job.as_str())?;
    for f in exported.files.iter().filter_map(|f| f.path.as_ref()) {
        println!("  {}", f.display());
    }
    println!(
        "downloaded {} result files ({} bytes, {} unpacked) to {} in {:.2?} total",
        exported.downloaded,
        exported.bytes,
        exported.unpacked,
        out_dir.display(),
        started.elapsed()
    );
    if state != JobState::Completed {
        return Err(Error::Config(format!("job {job} ended as {state}")));
    }
    Ok(())
}
