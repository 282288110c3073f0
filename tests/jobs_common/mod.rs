//! Helpers of the jobs, export and webhook tests: valid images with known sizes, a sandbox
//! with a batch ingested, and a transport that counts (and can cut off) downloads.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::api::RetryPolicy;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, UreqTransport,
};

/// One generated image: its name, bytes and what `image-stats` must report.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: &'static str,
}

/// `n` images, alternating PNG and BMP, with sizes that differ per image.
pub fn images(n: usize) -> Vec<Image> {
    (0..n)
        .map(|i| {
            let (w, h) = (3 + (i as u32 * 7) % 29, 2 + (i as u32 * 5) % 17);
            if i % 2 == 0 {
                Image {
                    name: format!("img-{i:03}.png"),
                    bytes: png(w, h, i as u8),
                    width: w,
                    height: h,
                    format: "png",
                }
            } else {
                Image {
                    name: format!("img-{i:03}.bmp"),
                    bytes: bmp(w, h, i as u8),
                    width: w,
                    height: h,
                    format: "bmp",
                }
            }
        })
        .collect()
}

/// A complete, valid RGB PNG (signature, IHDR, zlib IDAT, IEND, with CRCs).
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&[(x as u8).wrapping_mul(seed), y as u8, seed]);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A complete, valid 24-bit uncompressed BMP.
pub fn bmp(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let row = (width * 3).div_ceil(4) * 4;
    let pixels = row * height;
    let mut out = Vec::new();
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(54 + pixels).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&(width as i32).to_le_bytes());
    out.extend_from_slice(&(height as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // no compression
    out.extend_from_slice(&pixels.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    for y in 0..height {
        for x in 0..row {
            out.push((x as u8) ^ (y as u8) ^ seed);
        }
    }
    out
}

#[path = "../vary_common/mod.rs"]
pub mod vary;

/// Fast retries for tests (the default backoff is for real services).
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        ..RetryPolicy::default()
    }
}

/// A sandbox config with fast jobs of `per_task` images per task.
pub fn config(dir: &std::path::Path, per_task: u64) -> SandboxConfig {
    vary::config(
        SandboxConfig::default()
            .data_dir(dir)
            .job_speed(400.0)
            .job_images_per_task(per_task)
            .indexing_delay(Duration::ZERO)
            .webhook_retries(3, Duration::from_millis(20)),
    )
}

/// A client of `sandbox` on `transport`.
pub fn client(sandbox: &Sandbox, transport: impl Transport + 'static) -> BatchApi {
    BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .retry_policy(quick_retries())
        .transport(transport)
        .build()
        .unwrap()
}

/// Uploads `images` one by one into `batch` and waits until all are counted.
pub fn ingest(api: &BatchApi, batch: &str, images: &[Image]) {
    for img in images {
        api.upload_image(batch, &img.name, &img.bytes, None)
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.batch_count(batch, None).unwrap() < images.len() as u64 {
        assert!(Instant::now() < deadline, "ingest of {batch} timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts the GETs of signed download URLs, remembering their paths, and after `cut_after`
/// of them answers 403 (a permanent failure) to every further one.
#[derive(Clone)]
pub struct Counting {
    inner: Arc<UreqTransport>,
    pub downloads: Arc<AtomicUsize>,
    pub paths: Arc<std::sync::Mutex<Vec<String>>>,
    cut_after: Option<usize>,
}

impl Counting {
    pub fn new(cut_after: Option<usize>) -> Counting {
        Counting {
            inner: Arc::new(UreqTransport::new()),
            downloads: Arc::new(AtomicUsize::new(0)),
            paths: Arc::new(std::sync::Mutex::new(Vec::new())),
            cut_after,
        }
    }

    pub fn count(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

impl Transport for Counting {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        if req.path().starts_with("/signed/download/") {
            let n = self.downloads.fetch_add(1, Ordering::SeqCst);
            if self.cut_after.is_some_and(|cut| n >= cut) {
                return Ok(HttpResponse::json(
                    403,
                    r#"{"error":"cut off by the test"}"#,
                ));
            }
            self.paths.lock().unwrap().push(req.path().to_string());
        }
        self.inner.send(req)
    }
}

/// Every file under `dir`, relative, sorted (hidden files included).
pub fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}
