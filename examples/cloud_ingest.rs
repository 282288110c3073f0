//! Ingests a bucket by signed reference and prints references/s, requests and peak RSS:
//! the end-to-end cloud benchmark that `scripts/bench-cloud-ingest.sh` runs against moto
//! (S3, over TLS with a self-signed certificate) and `rfbatch sandbox`.
//!
//! ```text
//! cargo run --release --features cloud --example cloud_ingest -- \
//!     s3://bench-bucket/ http://127.0.0.1:8080 sandbox-key bench-batch [--insecure-tls]
//! ```
//! Credentials and the endpoint come from the usual variables (`AWS_ACCESS_KEY_ID`, …,
//! `AWS_ENDPOINT_URL`). `--insecure-tls` accepts the emulator's self-signed certificate for
//! the listing (never use it against a real store).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use roboflow_batch::BatchApi;
use roboflow_batch::cloud::CloudSource;
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::progress::Event;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, TransportErrorKind, UreqTransport,
};

/// GETs over ureq without certificate checks: only for a local emulator's self-signed TLS.
struct InsecureTls(ureq::Agent);

impl InsecureTls {
    fn new() -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(true)
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        InsecureTls(agent)
    }
}

impl Transport for InsecureTls {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut r = self.0.get(&req.url);
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        let resp = r
            .call()
            .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| TransportError::from_io(&e))?;
        Ok(HttpResponse {
            status,
            headers,
            body: Box::new(std::io::Cursor::new(body)),
        })
    }
}

/// Adds the time spent in each exchange to a counter (to tell the stores' time from ours).
struct Timed<T>(T, Arc<AtomicU64>);

impl<T: Transport> Transport for Timed<T> {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let t = Instant::now();
        let r = self.0.send(req);
        self.1
            .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        r
    }
}

/// CPU seconds (user + system) this process used, from /proc/self/stat (100 ticks/s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, api_url, key, batch, ..] = args.as_slice() else {
        eprintln!("usage: cloud_ingest BUCKET_URL API_URL API_KEY BATCH_ID [--insecure-tls]");
        std::process::exit(2);
    };
    let listing_us = Arc::new(AtomicU64::new(0));
    let ingest_us = Arc::new(AtomicU64::new(0));
    let insecure = args.iter().any(|a| a == "--insecure-tls");
    // A source for each run (a source is used by one ingest).
    let source = || {
        let builder = CloudSource::builder(url.as_str());
        let builder = if insecure {
            builder.transport(Timed(InsecureTls::new(), listing_us.clone()))
        } else {
            builder.transport(Timed(UreqTransport::new(), listing_us.clone()))
        };
        builder.build()
    };
    let api = BatchApi::builder()
        .base_url(api_url.as_str())
        .api_key(key.as_str())
        .workspace("sandbox")
        .transport(Timed(UreqTransport::new(), ingest_us.clone()))
        .build()?;
    for run in ["first run", "re-run"] {
        listing_us.store(0, Ordering::Relaxed);
        ingest_us.store(0, Ordering::Relaxed);
        let cpu0 = cpu_seconds().unwrap_or(0.0);
        let t = Instant::now();
        let r = Ingest::new(&api, batch, Source::bucket(source()?))
            .without_verify()
            .on_progress(|e| {
                if let Event::UnitDone { index, files, .. } = e {
                    eprintln!("  chunk {index}: {files} references");
                }
            })
            .run()?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{run}: {} references in {secs:.2} s = {:.0} references/s; {} requests ({} listing pages, {} ingest requests); {} already sent",
            r.files_uploaded + r.files_resumed,
            (r.files_uploaded + r.files_resumed) as f64 / secs,
            r.listing_pages + r.units_uploaded,
            r.listing_pages,
            r.ingest_ids.len(),
            r.files_resumed
        );
        println!(
            "  waiting on listing pages: {:.2} s; on ingest requests: {:.2} s; client CPU: {:.2} s",
            listing_us.load(Ordering::Relaxed) as f64 / 1e6,
            ingest_us.load(Ordering::Relaxed) as f64 / 1e6,
            cpu_seconds().unwrap_or(0.0) - cpu0
        );
    }
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
