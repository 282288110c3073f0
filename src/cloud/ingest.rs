//! Sending a cloud source as references ingests: chunks with deterministic ingest ids,
//! listing and signing overlapped with the requests, memory bounded by one chunk. Progress
//! and the report are the local folder's: [`IngestEvent`] and [`IngestReport`].

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::names::media_name;
use super::pipeline::{Item, signed_pages, signing_threads};
use super::source::CloudSource;
use crate::ingest::{
    DEFAULT_MAX_IMAGE_SIZE, IngestEvent, IngestMethod, IngestReport, LatencySummary, MediaKind,
    ProgressFn, SentFiles, UnitKind,
};
use crate::model::{FileReference, NotificationCategory, ReferencesIngest};
use crate::redact::without_query;
use crate::wait::WaitOptions;
use crate::{BatchApi, Error, Result};

/// The official client's limit of image references per request.
///
/// ```
/// assert_eq!(roboflow_batch::cloud::DEFAULT_IMAGE_CHUNK, 20_000);
/// ```
pub const DEFAULT_IMAGE_CHUNK: usize = 20_000;
/// The service's limit of video references per request.
///
/// ```
/// assert_eq!(roboflow_batch::cloud::DEFAULT_VIDEO_CHUNK, 5_000);
/// ```
pub const DEFAULT_VIDEO_CHUNK: usize = 5_000;
/// At most this many skipped objects are kept by name in the report (a warning counts the
/// rest), so that a bucket of a million unusable keys cannot fill memory.
const MAX_SKIPPED_KEPT: usize = 1_000;

/// How a cloud source is sent.
///
/// ```
/// use roboflow_batch::cloud::ReferencesIngestOptions;
/// use roboflow_batch::model::NotificationCategory;
/// let o = ReferencesIngestOptions {
///     ingest_id: Some("nightly-7".into()),
///     notifications_url: Some("https://hooks.example.com/rf".into()),
///     notification_categories: vec![NotificationCategory::IngestStatus, NotificationCategory::FilesStatus],
///     ..Default::default()
/// };
/// assert_eq!(o.chunk_size, None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReferencesIngestOptions {
    /// The ingest id: sent as it is when the source fits in one chunk, else the base of
    /// every chunk's id (`<id>-<chunk>`); by default one derived from the batch, the media
    /// kind and the source URL, so a re-run sends the same ids.
    pub ingest_id: Option<String>,
    /// References per request; by default 20,000 for images, 5,000 for videos.
    pub chunk_size: Option<usize>,
    /// The batch's display name (default: the batch id).
    pub display_name: Option<String>,
    /// Where the service sends webhooks.
    pub notifications_url: Option<String>,
    /// Which webhooks (`ingest-status`, `files-status`); empty: the service's default.
    pub notification_categories: Vec<NotificationCategory>,
    /// Objects larger than this (from the listing's sizes) are skipped as too large; by
    /// default 20 MiB for images (the service's limit) and no limit for videos.
    pub max_file_size: Option<u64>,
    /// Wait, once every chunk is sent, until the service has fetched and listed every
    /// reference or said why not (its reasons go into the report's `failed`), polling as a
    /// local ingest's verification does
    /// ([`default_verify_options`](crate::ingest::default_verify_options)). `None`, the
    /// default, returns as soon as the service has accepted the requests.
    pub verify: Option<WaitOptions>,
}

/// The outcome of [`ingest_references`]: the local folder's [`IngestReport`] (method
/// `references`; units are chunks; files in chunks the service recognised as repeats count
/// as resumed), and what only a references ingest has.
///
/// ```
/// let r = roboflow_batch::cloud::CloudIngestReport::default();
/// assert_eq!((r.report.files_uploaded, r.requests), (0, 0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CloudIngestReport {
    /// Counts, skips, failures (when verified), durations.
    pub report: IngestReport,
    /// The chunks' ingest ids, in order.
    pub ingest_ids: Vec<String>,
    /// Chunks the service answered as `duplicated` (nothing new ingested).
    pub duplicated_chunks: u64,
    /// Listing pages read.
    pub listing_pages: u64,
    /// Requests made: listing pages plus ingest requests (retries not counted).
    pub requests: u64,
}

impl Default for CloudIngestReport {
    fn default() -> Self {
        CloudIngestReport {
            report: IngestReport::new("", IngestMethod::References),
            ingest_ids: Vec::new(),
            duplicated_chunks: 0,
            listing_pages: 0,
            requests: 0,
        }
    }
}

/// The ingest id base used when the user gives none: `cloud-` and 20 hex digits of a
/// SHA-256 of the batch, the media kind and the source URL.
///
/// ```
/// use roboflow_batch::cloud::{MediaKind, derived_ingest_id};
/// let a = derived_ingest_id("b1", MediaKind::Images, "s3://bk/p/*.jpg");
/// assert_eq!(a, derived_ingest_id("b1", MediaKind::Images, "s3://bk/p/*.jpg"));
/// assert_ne!(a, derived_ingest_id("b2", MediaKind::Images, "s3://bk/p/*.jpg"));
/// assert!(a.starts_with("cloud-") && a.len() == 26);
/// ```
pub fn derived_ingest_id(batch_id: &str, media: MediaKind, source_url: &str) -> String {
    let digest = Sha256::digest(format!("{batch_id}\n{}\n{source_url}", media_name(media)));
    format!("cloud-{}", &super::hex(&digest)[..20])
}

/// The ingest id of chunk `n`: `<base>-<n>`.
///
/// ```
/// assert_eq!(roboflow_batch::cloud::chunk_ingest_id("nightly", 3), "nightly-3");
/// ```
pub fn chunk_ingest_id(base: &str, n: u64) -> String {
    format!("{base}-{n}")
}

/// A chunk being filled.
#[derive(Default)]
struct Chunk {
    refs: Vec<FileReference>,
    bytes: u64,
}

/// Lists `source`, signs every matching object and sends the references to `batch_id`
/// in chunks (`bulk-upload/image-references` or `…/video-references`, by the source's
/// media kind), reporting through the same [`IngestEvent`]s as a local ingest:
/// `Discovered` (running totals) per listing page, `Skipped`, `Planned` once the listing
/// has ended, and `UnitDone` (unit `references`) per chunk. The service fetches the files
/// afterwards; with [`ReferencesIngestOptions::verify`] the call waits for it, and the
/// references it could not fetch are in the report's `failed`, with its reasons.
///
/// The listing runs on its own thread and the signing on all cores at the same time, each
/// at most a page ahead of the next stage, so neither waits for the other or for the
/// requests, and memory is bounded by two chunks whatever the bucket's size. The order of
/// the references, and so the chunks, does not depend on the number of cores. A source
/// that fits in one chunk is sent with the ingest id unchanged, as the official client
/// sends it (so a webhook receiver keyed on the given id sees it); with several, chunk `n`
/// carries `<base>-<n>` ([`chunk_ingest_id`]) so that each is its own ingest (the official
/// client's bucket path sends the same id with every chunk, which the service may answer
/// as a repeat of the first). `base` is the given ingest id or [`derived_ingest_id`]: run
/// again after a crash, the same listing produces the same chunks, which the service
/// answers as `duplicated`, so nothing is ingested twice. (If the bucket changed in
/// between, give a new ingest id.)
///
/// The first listing page is read before any request is sent, so bad credentials or a
/// missing bucket fail with an [`Error::Cloud`] and nothing reaches the service. A source
/// with no matching object is an error too.
///
/// ```no_run
/// use roboflow_batch::BatchApi;
/// use roboflow_batch::cloud::{CloudSource, ReferencesIngestOptions, ingest_references};
/// use roboflow_batch::ingest::{IngestEvent, ProgressFn};
/// let api = BatchApi::from_env()?;
/// let source = CloudSource::builder("az://media/2024/**/*.png").build()?;
/// let progress: ProgressFn = std::sync::Arc::new(|e: &IngestEvent| {
///     if let IngestEvent::UnitDone { index, files, .. } = e {
///         eprintln!("chunk {index}: {files} references");
///     }
/// });
/// let r = ingest_references(&api, "batch-1", &source, &ReferencesIngestOptions::default(), &progress)?;
/// println!("{} sent, {} already known", r.report.files_uploaded, r.report.files_resumed);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
pub fn ingest_references(
    api: &BatchApi,
    batch_id: &str,
    source: &CloudSource,
    options: &ReferencesIngestOptions,
    progress: &ProgressFn,
) -> Result<CloudIngestReport> {
    let started = Instant::now();
    crate::model::BatchId::new(batch_id)?;
    let media = source.media();
    let chunk_size = options.chunk_size.unwrap_or(match media {
        MediaKind::Images => DEFAULT_IMAGE_CHUNK,
        MediaKind::Videos => DEFAULT_VIDEO_CHUNK,
    });
    if chunk_size == 0 {
        return Err(Error::invalid("chunk_size", "must be at least 1"));
    }
    let max_size = options.max_file_size.unwrap_or(match media {
        MediaKind::Images => DEFAULT_MAX_IMAGE_SIZE,
        MediaKind::Videos => u64::MAX,
    });
    let base = match &options.ingest_id {
        Some(id) if id.trim().is_empty() => {
            return Err(Error::invalid("ingest_id", "must not be empty"));
        }
        Some(id) => id.clone(),
        None => derived_ingest_id(batch_id, media, &source.url().to_string()),
    };
    let mut out = CloudIngestReport::default();
    out.report.batch_id = batch_id.to_string();
    let mut latencies = Vec::new();
    let mut expect = match options.verify {
        Some(_) => Some(SentFiles::new()?),
        None => None,
    };
    signed_pages(source, max_size, signing_threads(), |rx| -> Result<()> {
        let mut chunk = Chunk::default();
        // A full chunk waits for the next reference: only then is it known not to be the
        // only one.
        let mut held: Option<Chunk> = None;
        let mut skipped_count = 0u64;
        for item in rx {
            let Item {
                pages,
                signed,
                skipped,
            } = item?;
            out.listing_pages = pages;
            for s in skipped {
                skipped_count += 1;
                progress(&IngestEvent::Skipped(s.clone()));
                if out.report.skipped.len() < MAX_SKIPPED_KEPT {
                    out.report.skipped.push(s);
                }
            }
            for s in &signed {
                out.report.files_found += 1;
                out.report.bytes_found += s.size;
            }
            progress(&IngestEvent::Discovered {
                files: out.report.files_found,
                bytes: out.report.bytes_found,
            });
            for s in signed {
                if let Some(full) = held.take() {
                    let id = chunk_ingest_id(&base, out.ingest_ids.len() as u64);
                    send_chunk(
                        api,
                        batch_id,
                        source,
                        options,
                        id,
                        full,
                        &mut expect,
                        &mut out,
                        &mut latencies,
                        progress,
                    )?;
                }
                chunk.bytes += s.size;
                chunk.refs.push(s.reference);
                if chunk.refs.len() == chunk_size {
                    held = Some(std::mem::take(&mut chunk));
                }
            }
        }
        if skipped_count > MAX_SKIPPED_KEPT as u64 {
            out.report.warnings.push(format!(
                "{skipped_count} objects were skipped; the report lists the first {MAX_SKIPPED_KEPT}"
            ));
        }
        let last: Vec<Chunk> = held.into_iter().chain(Some(chunk)).collect();
        let last: Vec<Chunk> = last.into_iter().filter(|c| !c.refs.is_empty()).collect();
        let units = out.ingest_ids.len() as u64 + last.len() as u64;
        progress(&IngestEvent::Planned {
            method: IngestMethod::References,
            files: out.report.files_found,
            bytes: out.report.bytes_found,
            units,
            resumed_files: 0,
            resumed_bytes: 0,
        });
        for c in last {
            let id = if units == 1 {
                base.clone()
            } else {
                chunk_ingest_id(&base, out.ingest_ids.len() as u64)
            };
            send_chunk(
                api,
                batch_id,
                source,
                options,
                id,
                c,
                &mut expect,
                &mut out,
                &mut latencies,
                progress,
            )?;
        }
        Ok(())
    })?;
    out.requests = out.listing_pages + out.ingest_ids.len() as u64;
    if out.ingest_ids.is_empty() {
        return Err(Error::Cloud {
            store: source.url().kind().name(),
            status: None,
            message: format!(
                "no {} found in {} ({} skipped); the extensions taken are a local folder's",
                media_name(media),
                source.url(),
                out.report.skipped.len()
            ),
        });
    }
    out.report.upload_duration = started.elapsed();
    out.report.put_latency = LatencySummary::from_samples(&latencies);
    if let Some(w) = source.store().warning() {
        out.report.warnings.push(w);
    }
    if let (Some(wait), Some(expect)) = (&options.verify, expect) {
        out.report
            .add_verification(expect.verify(api, batch_id, wait, progress));
    }
    out.report.duration = started.elapsed();
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn send_chunk(
    api: &BatchApi,
    batch_id: &str,
    source: &CloudSource,
    options: &ReferencesIngestOptions,
    ingest_id: String,
    chunk: Chunk,
    expect: &mut Option<SentFiles>,
    out: &mut CloudIngestReport,
    latencies: &mut Vec<Duration>,
    progress: &ProgressFn,
) -> Result<()> {
    let n = out.ingest_ids.len() as u64;
    let files = chunk.refs.len() as u64;
    let body = ReferencesIngest {
        image_references: Some(chunk.refs),
        image_references_url: None,
        ingest_id: Some(ingest_id.clone()),
        notifications_url: options.notifications_url.clone(),
        notification_categories: (!options.notification_categories.is_empty())
            .then(|| options.notification_categories.clone()),
    };
    let display = options.display_name.as_deref();
    let t = Instant::now();
    let resp = match source.media() {
        MediaKind::Images => api.ingest_image_references(batch_id, &body, display),
        MediaKind::Videos => api.ingest_video_references(batch_id, &body, display),
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            progress(&IngestEvent::UnitFailed {
                unit: UnitKind::References,
                index: n,
                files,
                reason: e.to_string(),
            });
            return Err(e);
        }
    };
    let latency = t.elapsed();
    latencies.push(latency);
    if let Some(e) = expect {
        // Objects are named by their URL without the query (signature, credential id).
        let files = body.image_references.iter().flatten();
        e.add_request(
            resp.shard_ids.as_deref().unwrap_or_default(),
            files.map(|r| (r.name.as_str(), without_query(&r.url))),
        );
    }
    drop(body);
    let duplicated = resp.duplicated == Some(true);
    if duplicated {
        out.duplicated_chunks += 1;
        out.report.files_resumed += files;
    } else {
        out.report.files_uploaded += files;
        out.report.bytes_uploaded += chunk.bytes;
    }
    out.report.units_uploaded += 1;
    out.ingest_ids.push(ingest_id);
    progress(&IngestEvent::UnitDone {
        unit: UnitKind::References,
        index: n,
        files,
        bytes: chunk.bytes,
        latency,
        attempts: 1,
    });
    Ok(())
}
