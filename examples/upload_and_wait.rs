//! The main job, end to end, against the embedded sandbox: ingest a folder of images as tar
//! shards (packed and uploaded in parallel), wait for indexing, run a job, wait for it, and
//! download the results.
//!
//! ```text
//! cargo run --example upload_and_wait --features sandbox -- [IMAGES_DIR] [OUT_DIR]
//! ```
//!
//! Without `IMAGES_DIR`, 300 small PNG images are generated first. Results land in
//! `OUT_DIR` (default `./rfbatch-results`), one folder per output batch and part.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use roboflow_batch::api::UploadSource;
use roboflow_batch::model::{AggregationFormat, JobStartRequest, JobState};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::transport::ExactLengthReader;
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::{BatchApi, Error, JobId, Result};

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "png", "bmp", "dib", "webp", "jp2"];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let images_dir = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = std::env::temp_dir().join(format!("rfbatch-demo-{}", std::process::id()));
            generate_images(&dir, 300)?;
            dir
        }
    };
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "rfbatch-results".into()));
    let result = main_job(&images_dir, &out_dir);
    if generated_here(&images_dir) {
        let _ = std::fs::remove_dir_all(&images_dir);
    }
    result
}

fn generated_here(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("rfbatch-demo-"))
        && dir.starts_with(std::env::temp_dir())
}

fn main_job(images_dir: &Path, out_dir: &Path) -> Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    println!("sandbox listening on {}", sandbox.base_url());
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .build()?;

    let batch = "demo-images";
    let started = Instant::now();
    let images = discover(images_dir)?;
    if images.is_empty() {
        return Err(Error::invalid(
            "IMAGES_DIR",
            format!("no images in {}", images_dir.display()),
        ));
    }
    let uploaded = ingest(&api, batch, &images)?;
    println!(
        "uploaded {} images ({:.1} MiB) in {} shards in {:.2?}",
        images.len(),
        uploaded.bytes as f64 / (1 << 20) as f64,
        uploaded.shards,
        started.elapsed()
    );
    let polling = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_max_interval(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(600));
    api.wait_for_ingest(batch, images.len() as u64, &polling)?;
    println!("indexed {} images", images.len());

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

struct Uploaded {
    shards: usize,
    bytes: u64,
}

/// Packs the images into tar shards within the service's limits and uploads them in parallel.
fn ingest(api: &BatchApi, batch: &str, images: &[PathBuf]) -> Result<Uploaded> {
    // The first signed URL tells the limits; it is used for the first shard.
    let first = api.request_shard_upload(batch, None)?;
    let per_shard = first.max_number_of_images.unwrap_or(500).clamp(1, 10_000) as usize;
    let chunks: Vec<&[PathBuf]> = images.chunks(per_shard).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .thread_name(|i| format!("upload-{i}"))
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    let sizes = pool.install(|| {
        chunks
            .par_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let tar = pack(chunk)?;
                let target = if i == 0 {
                    first.clone()
                } else {
                    api.request_shard_upload(batch, None)?
                };
                if let Some(max) = target.max_shard_size
                    && tar.len() as u64 > max
                {
                    return Err(Error::invalid(
                        "shard",
                        format!("{} bytes exceed the {max}-byte limit", tar.len()),
                    ));
                }
                let len = tar.len() as u64;
                api.put_signed(&target, &UploadSource::bytes(tar))?;
                Ok(len)
            })
            .collect::<Result<Vec<u64>>>()
    })?;
    Ok(Uploaded {
        shards: sizes.len(),
        bytes: sizes.iter().sum(),
    })
}

/// One uncompressed tar with each image under its base name.
fn pack(files: &[PathBuf]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::invalid(
                "image file name",
                format!("{} is not valid UTF-8", path.display()),
            )
        })?;
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, ExactLengthReader::new(file, len))
            .map_err(|e| Error::Archive {
                context: name.to_string(),
                message: e.to_string(),
            })?;
    }
    builder.into_inner().map_err(|e| Error::Archive {
        context: "shard".into(),
        message: e.to_string(),
    })
}

fn discover(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
            .path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if path.is_file() && IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
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

/// Writes `n` small PNGs of varying sizes (headers are what the sandbox's workflow reads).
fn generate_images(dir: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    for i in 0..n {
        let (w, h) = (32 + (i as u32 % 7) * 16, 24 + (i as u32 % 5) * 8);
        let path = dir.join(format!("img-{i:04}.png"));
        std::fs::write(&path, png_header(w, h))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// A PNG signature and IHDR chunk: enough for header-reading workflows.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(&[0, 0, 0, 0]); // CRC, not checked by header readers
    v.extend_from_slice(&[0u8; 64]);
    v
}
