//! Sending a cloud source as references ingests: chunks with deterministic ingest ids,
//! listing and signing overlapped with the requests, memory bounded by one chunk.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::names::MediaKind;
use super::source::CloudSource;
use crate::model::{FileReference, NotificationCategory, ReferencesIngest};
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
/// At most this many skipped objects are kept by name in the report (all are counted).
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
    /// The base of every chunk's ingest id (`<id>-<chunk>`); by default one derived from
    /// the batch, the media kind and the source URL, so a re-run sends the same ids.
    pub ingest_id: Option<String>,
    /// References per request; by default 20,000 for images, 5,000 for videos.
    pub chunk_size: Option<usize>,
    /// The batch's display name (default: the batch id).
    pub display_name: Option<String>,
    /// Where the service sends webhooks.
    pub notifications_url: Option<String>,
    /// Which webhooks (`ingest-status`, `files-status`); empty: the service's default.
    pub notification_categories: Vec<NotificationCategory>,
}

/// What [`ingest_references`] reports as it goes (called from the calling thread).
///
/// ```
/// use roboflow_batch::cloud::CloudProgress;
/// let on_progress = |p: CloudProgress| match p {
///     CloudProgress::Listed { matched, .. } => eprintln!("{matched} found"),
///     CloudProgress::Skipped(s) => eprintln!("skipped {}: {}", s.key, s.reason),
///     CloudProgress::ChunkSent { ingest_id, .. } => eprintln!("sent {ingest_id}"),
///     _ => {}
/// };
/// on_progress(CloudProgress::Listed { pages: 1, matched: 3 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloudProgress {
    /// A listing page was read: `matched` objects of it belong to the source.
    Listed {
        /// Pages read so far.
        pages: u64,
        /// Objects matched so far.
        matched: u64,
    },
    /// An object was left out.
    Skipped(SkippedObject),
    /// A chunk was accepted by the service.
    ChunkSent {
        /// 0-based chunk number.
        chunk: u64,
        /// Its ingest id.
        ingest_id: String,
        /// References in it.
        references: usize,
        /// Whether the service had seen this ingest id before (nothing new ingested).
        duplicated: bool,
    },
}

/// An object that matched but could not be sent, with the reason.
///
/// ```
/// let s = roboflow_batch::cloud::SkippedObject { key: "a/../b.jpg".into(), reason: "`..`".into() };
/// assert_eq!(s.key, "a/../b.jpg");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedObject {
    /// Its key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// The outcome of [`ingest_references`].
///
/// ```
/// let r = roboflow_batch::cloud::CloudIngestReport::default();
/// assert_eq!((r.references_sent, r.requests), (0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudIngestReport {
    /// Objects that matched the URL and the extensions.
    pub objects_matched: u64,
    /// References sent (in chunks the service accepted, including duplicated ones).
    pub references_sent: u64,
    /// Chunks sent, in order, with their ingest ids.
    pub ingest_ids: Vec<String>,
    /// Chunks the service recognised as repeats (`duplicated: true`).
    pub duplicated_chunks: u64,
    /// Objects left out (the first 1,000; `skipped_count` counts all).
    pub skipped: Vec<SkippedObject>,
    /// How many objects were left out.
    pub skipped_count: u64,
    /// Listing pages read.
    pub listing_pages: u64,
    /// Requests made: listing pages plus ingest requests (retries not counted).
    pub requests: u64,
    /// Wall time.
    pub duration: Duration,
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
    let digest = Sha256::digest(format!("{batch_id}\n{}\n{source_url}", media.as_str()));
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

/// One listed page, signed, as the listing thread hands it over.
struct Item {
    pages: u64,
    refs: Vec<FileReference>,
    skipped: Vec<SkippedObject>,
    matched: usize,
}

/// Lists `source`, signs every matching object and sends the references to `batch_id`
/// in chunks (`bulk-upload/image-references` or `…/video-references`, by the source's
/// media kind).
///
/// Listing and signing run on a second thread, at most two pages ahead of the requests,
/// so memory is bounded by one chunk whatever the bucket's size. Chunk `n` carries the
/// ingest id `<base>-<n>` ([`chunk_ingest_id`]), with `base` the given ingest id or
/// [`derived_ingest_id`]: run again after a crash, the same listing produces the same
/// chunks, which the service answers as `duplicated`, so nothing is ingested twice. (If
/// the bucket changed in between, give a new ingest id.)
///
/// The first listing page is read before any request is sent, so bad credentials or a
/// missing bucket fail with an [`Error::Cloud`] and nothing reaches the service. A source
/// with no matching object is an error too.
///
/// ```no_run
/// use roboflow_batch::BatchApi;
/// use roboflow_batch::cloud::{CloudProgress, CloudSource, ReferencesIngestOptions, ingest_references};
/// let api = BatchApi::from_env()?;
/// let source = CloudSource::builder("az://media/2024/**/*.png").build()?;
/// let report = ingest_references(&api, "batch-1", &source, &ReferencesIngestOptions::default(), &|p| {
///     if let CloudProgress::ChunkSent { ingest_id, references, .. } = p {
///         eprintln!("{ingest_id}: {references}");
///     }
/// })?;
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
pub fn ingest_references(
    api: &BatchApi,
    batch_id: &str,
    source: &CloudSource,
    options: &ReferencesIngestOptions,
    progress: &(dyn Fn(CloudProgress) + Sync),
) -> Result<CloudIngestReport> {
    let started = Instant::now();
    crate::model::BatchId::new(batch_id)?;
    let chunk_size = options.chunk_size.unwrap_or(match source.media() {
        MediaKind::Images => DEFAULT_IMAGE_CHUNK,
        MediaKind::Videos => DEFAULT_VIDEO_CHUNK,
    });
    if chunk_size == 0 {
        return Err(Error::invalid("chunk_size", "must be at least 1"));
    }
    let base = match &options.ingest_id {
        Some(id) if id.trim().is_empty() => {
            return Err(Error::invalid("ingest_id", "must not be empty"));
        }
        Some(id) => id.clone(),
        None => derived_ingest_id(batch_id, source.media(), &source.url().to_string()),
    };
    let mut report = CloudIngestReport::default();
    let (tx, rx) = sync_channel::<Result<Item>>(2);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            let mut objects = source.objects();
            let mut pages = 0u64;
            while let Some(page) = objects.next_page() {
                pages += 1;
                let item = page.and_then(|list| {
                    let matched = list.len();
                    let mut refs = Vec::with_capacity(matched);
                    let mut skipped = Vec::new();
                    // Signing is CPU work (an RSA signature per URL for GCS service
                    // accounts): spread a page over the cores, keeping its order.
                    let signed: Vec<_> = list
                        .into_par_iter()
                        .with_min_len(64)
                        .map(|o| (o.key.clone(), source.sign_object(o)))
                        .collect();
                    for (key, signed) in signed {
                        match signed? {
                            Some(r) => refs.push(r.into_file_reference()),
                            None => skipped.push(SkippedObject {
                                reason: skip_reason(source, &key),
                                key,
                            }),
                        }
                    }
                    Ok(Item {
                        pages,
                        refs,
                        skipped,
                        matched,
                    })
                });
                let failed = item.is_err();
                // A closed channel means the sender stopped: stop listing too.
                if tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        let mut chunk: Vec<FileReference> = Vec::with_capacity(chunk_size.min(1 << 16));
        for item in rx {
            let Item {
                pages,
                refs,
                skipped,
                matched,
            } = item?;
            report.listing_pages = pages;
            report.objects_matched += matched as u64;
            progress(CloudProgress::Listed {
                pages,
                matched: report.objects_matched,
            });
            for s in skipped {
                report.skipped_count += 1;
                if report.skipped.len() < MAX_SKIPPED_KEPT {
                    report.skipped.push(s.clone());
                }
                progress(CloudProgress::Skipped(s));
            }
            for r in refs {
                chunk.push(r);
                if chunk.len() == chunk_size {
                    send_chunk(
                        api,
                        batch_id,
                        source,
                        options,
                        &base,
                        &mut chunk,
                        &mut report,
                        progress,
                    )?;
                }
            }
        }
        if !chunk.is_empty() {
            send_chunk(
                api,
                batch_id,
                source,
                options,
                &base,
                &mut chunk,
                &mut report,
                progress,
            )?;
        }
        Ok(())
    })?;
    report.requests += report.listing_pages;
    if report.references_sent == 0 {
        return Err(Error::Cloud {
            store: source.url().kind().name(),
            status: None,
            message: format!(
                "no {} found in {} ({} objects matched, {} skipped); extensions taken: the \
                 official client's {} list",
                source.media().as_str(),
                source.url(),
                report.objects_matched,
                report.skipped_count,
                source.media().as_str()
            ),
        });
    }
    report.duration = started.elapsed();
    Ok(report)
}

fn skip_reason(source: &CloudSource, key: &str) -> String {
    if source.name_for(key).is_none() {
        format!(
            "its name in the batch would be longer than {} bytes",
            super::names::MAX_NAME_BYTES
        )
    } else {
        "its key has `.` or `..` segments, which a URL cannot address".into()
    }
}

#[allow(clippy::too_many_arguments)]
fn send_chunk(
    api: &BatchApi,
    batch_id: &str,
    source: &CloudSource,
    options: &ReferencesIngestOptions,
    base: &str,
    chunk: &mut Vec<FileReference>,
    report: &mut CloudIngestReport,
    progress: &(dyn Fn(CloudProgress) + Sync),
) -> Result<()> {
    let n = report.ingest_ids.len() as u64;
    let ingest_id = chunk_ingest_id(base, n);
    let references = chunk.len();
    let body = ReferencesIngest {
        image_references: Some(std::mem::take(chunk)),
        image_references_url: None,
        ingest_id: Some(ingest_id.clone()),
        notifications_url: options.notifications_url.clone(),
        notification_categories: (!options.notification_categories.is_empty())
            .then(|| options.notification_categories.clone()),
    };
    let display = options.display_name.as_deref();
    let resp = match source.media() {
        MediaKind::Images => api.ingest_image_references(batch_id, &body, display),
        MediaKind::Videos => api.ingest_video_references(batch_id, &body, display),
    }?;
    drop(body);
    let duplicated = resp.duplicated == Some(true);
    report.requests += 1;
    report.references_sent += references as u64;
    report.duplicated_chunks += u64::from(duplicated);
    report.ingest_ids.push(ingest_id.clone());
    progress(CloudProgress::ChunkSent {
        chunk: n,
        ingest_id,
        references,
        duplicated,
    });
    Ok(())
}
