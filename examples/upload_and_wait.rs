//! The main job, end to end, against the embedded sandbox: ingest a folder of images with
//! the library (streamed tar shards in parallel, resumable, verified), run a job, wait for
//! it, and download the results.
//!
//! ```text
//! cargo run --example upload_and_wait --features sandbox -- [IMAGES_DIR] [OUT_DIR]
//! ```
//!
//! Without `IMAGES_DIR`, 300 small generated PNG images are used. Results land in
//! `OUT_DIR` (default `./rfbatch-results`), one folder per output batch and part.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use roboflow_batch::ingest::{Ingest, IngestEvent, LocalSource};
use roboflow_batch::model::{AggregationFormat, JobStartRequest, JobState};
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
    let images_dir = match &given {
        Some(dir) => dir.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("rfbatch-demo-{}", std::process::id()));
            ImageSet::new(300)
                .dimensions(32..=128, 24..=96)
                .write_to(&dir)?;
            dir
        }
    };
    let result = main_job(&images_dir, &out_dir);
    if given.is_none() {
        let _ = std::fs::remove_dir_all(&images_dir);
    }
    result
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
    let shards = Arc::new(AtomicU64::new(0));
    let journal = sandbox.data_dir().join("journals"); // this sandbox's own resume journal
    let polling = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_max_interval(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(600));
    let done = shards.clone();
    let report = Ingest::images(&api, batch, LocalSource::dir(images_dir))
        .journal_dir(&journal)
        .verify(polling.clone())
        .on_progress(move |e| {
            // Called from the upload threads.
            if matches!(e, IngestEvent::UnitDone { .. }) {
                done.fetch_add(1, Ordering::Relaxed);
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

    let mut files = 0;
    for stage in api.job_stages(job.as_str())? {
        for out in stage.output_batch_ids() {
            for part in api.list_parts(out)? {
                let dir = out_dir.join(out).join(&part.part_name);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                for f in api.files(out, Some(&part.part_name), None) {
                    let f = f?;
                    let path = dir.join(safe_name(&f.file_name)?);
                    let n = api.download_to_file(&f.download_url, &path)?;
                    println!("  {} ({n} bytes)", path.display());
                    files += 1;
                }
            }
        }
    }
    println!(
        "downloaded {files} result files to {} in {:.2?} total",
        out_dir.display(),
        started.elapsed()
    );
    if state != JobState::Completed {
        return Err(Error::Config(format!("job {job} ended as {state}")));
    }
    Ok(())
}

/// A result file name from the service, refused if it could escape the output folder.
fn safe_name(name: &str) -> Result<&str> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(Error::invalid(
            "fileName",
            format!("{name:?} is not a plain file name"),
        ));
    }
    Ok(name)
}
