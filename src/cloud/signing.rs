//! Listing and signing as two stages at once: the listing on one thread, each page signed
//! on a pool of all cores, each stage at most a page ahead, so memory holds a few pages.
//! Pages and their references come out in listing order whatever the threads, since
//! chunks and their ingest ids are cut from that order.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;

use super::CloudObject;
use super::source::CloudSource;
use crate::ingest::report::{SkipReason, SkippedFile};
use crate::model::FileReference;
use crate::{Error, Result};

/// A reference with what the report needs of its object.
pub(crate) struct Signed {
    pub(crate) reference: FileReference,
    pub(crate) size: u64,
}

/// One listed page, signed: what the consumer of [`signed_pages`] receives.
pub(crate) struct Item {
    /// Listing pages read so far, this one included.
    pub(crate) pages: u64,
    pub(crate) signed: Vec<Signed>,
    pub(crate) skipped: Vec<SkippedFile>,
}

/// Pages waiting between two stages, while the next works on one and the previous makes one.
const PAGES_IN_A_CHANNEL: usize = 1;

/// Lists and signs `source` on all cores, giving `on_page` each page in listing order until
/// it returns `false`; a listing or signing error ends it.
pub(crate) fn list_signed(
    source: &CloudSource,
    max_size: u64,
    mut on_page: impl FnMut(Item) -> bool,
) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    signed_pages(source, max_size, threads, |rx| {
        for item in rx {
            if !on_page(item?) {
                break;
            }
        }
        Ok(())
    })
}

/// Lists `source` on one thread and signs on `threads` others while `consume` takes the
/// pages in order (objects of 0 bytes, over `max_size` or unusable in `skipped`; an error
/// last). When `consume` drops the receiver, both stages stop after the page in hand.
fn signed_pages<T>(
    source: &CloudSource,
    max_size: u64,
    threads: usize,
    consume: impl FnOnce(Receiver<Result<Item>>) -> Result<T>,
) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("rfbatch-sign-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("cannot start the signing threads: {e}")))?;
    let (pages_tx, pages_rx) = sync_channel(PAGES_IN_A_CHANNEL);
    let (items_tx, items_rx) = sync_channel(PAGES_IN_A_CHANNEL);
    std::thread::scope(|scope| {
        scope.spawn(move || list(source, pages_tx));
        let pool = &pool;
        scope.spawn(move || sign(source, max_size, pool, pages_rx, items_tx));
        consume(items_rx)
    })
}

/// The listing stage: page after page, numbered from 1.
fn list(source: &CloudSource, tx: SyncSender<(u64, Result<Vec<CloudObject>>)>) {
    let mut objects = source.listing();
    let mut pages = 0u64;
    while let Some(page) = objects.next_page() {
        pages += 1;
        let failed = page.is_err();
        // A closed channel means the signing stage stopped: stop listing too.
        if tx.send((pages, page)).is_err() || failed {
            return;
        }
    }
}

/// The signing stage: each page spread over the pool, in order.
fn sign(
    source: &CloudSource,
    max_size: u64,
    pool: &rayon::ThreadPool,
    rx: Receiver<(u64, Result<Vec<CloudObject>>)>,
    tx: SyncSender<Result<Item>>,
) {
    for (pages, page) in rx {
        let item = page.and_then(|list| sign_page(source, max_size, pool, list, pages));
        let failed = item.is_err();
        if tx.send(item).is_err() || failed {
            return;
        }
    }
}

fn sign_page(
    source: &CloudSource,
    max_size: u64,
    pool: &rayon::ThreadPool,
    list: Vec<CloudObject>,
    pages: u64,
) -> Result<Item> {
    let mut skipped = Vec::new();
    let mut usable = Vec::with_capacity(list.len());
    for o in list {
        match o.size {
            Some(0) => skipped.push(SkippedFile::new(&o.key, SkipReason::Empty, "0 bytes")),
            Some(n) if n > max_size => skipped.push(SkippedFile::new(
                &o.key,
                SkipReason::TooLarge,
                format!("{n} bytes, over {max_size}"),
            )),
            _ => usable.push(o),
        }
    }
    // `collect` keeps the page's order however the work was split.
    let results: Vec<_> = pool.install(|| {
        usable
            .into_par_iter()
            .with_min_len(64)
            .map(|o| {
                let (key, size) = (o.key.clone(), o.size.unwrap_or(0));
                (key, size, source.sign_object(o))
            })
            .collect()
    });
    let mut signed = Vec::with_capacity(results.len());
    for (key, size, r) in results {
        match r? {
            Ok(r) => signed.push(Signed {
                reference: r.into_file_reference(),
                size,
            }),
            Err(why) => skipped.push(SkippedFile::new(&key, SkipReason::Unreadable, why)),
        }
    }
    Ok(Item {
        pages,
        signed,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::api::{Clock, RetryPolicy};
    use crate::transport::{HttpRequest, HttpResponse, TransportError};

    /// Keys of a bucket listed `PER_PAGE` at a time: plain images, and on some pages an
    /// empty object, one too large, one with `..` and one whose name is too long.
    const PAGES: usize = 5;
    const PER_PAGE: usize = 130;

    fn bucket() -> Vec<(String, u64)> {
        let object = |n: usize| {
            let (p, i) = (n / PER_PAGE, n % PER_PAGE);
            let (name, size) = match (p, i) {
                (1, 7) => ("empty ".into(), 0),
                (2, 70) => ("big ".into(), 5_000),
                (3, 100) => ("../dots ".into(), 10),
                (4, 5) => ("x".repeat(600), 10),
                _ => ("img ".into(), 10 + i as u64),
            };
            let ext = if (p, i) == (0, 9) { "txt" } else { "jpg" };
            (format!("in/p{p}/{name}{i:03}.{ext}"), size)
        };
        (0..PAGES * PER_PAGE).map(object).collect()
    }

    /// A GCS emulator's JSON listing of [`bucket`] (the page token is the next index),
    /// counting the pages it served.
    fn fake_gcs(
        served: Arc<AtomicUsize>,
    ) -> impl Fn(HttpRequest) -> std::result::Result<HttpResponse, TransportError> + Send + Sync
    {
        let objects = bucket();
        move |req: HttpRequest| {
            served.fetch_add(1, Ordering::SeqCst);
            let q: BTreeMap<String, String> = req.query().into_iter().collect();
            let start: usize = q.get("pageToken").map_or(0, |t| t.parse().unwrap());
            let end = (start + q["maxResults"].parse::<usize>().unwrap()).min(objects.len());
            let items: Vec<_> = objects[start..end]
                .iter()
                .map(|(k, s)| serde_json::json!({"name": k, "size": s.to_string()}))
                .collect();
            let mut page = serde_json::json!({ "items": items });
            if end < objects.len() {
                page["nextPageToken"] = end.to_string().into();
            }
            Ok(HttpResponse::json(200, page.to_string()))
        }
    }

    /// A source on [`fake_gcs`] with HMAC keys (deterministic signatures, as RSA's).
    fn source(served: Arc<AtomicUsize>, clock: Clock) -> CloudSource {
        CloudSource::builder("gs://bk/in/**/*.jpg")
            .env(None::<fn(&str) -> Option<String>>)
            .set("GCS_HMAC_ACCESS_ID", "GOOG1EXAMPLE")
            .set("GCS_HMAC_SECRET", "c2VjcmV0")
            .set("STORAGE_EMULATOR_HOST", "http://gcs.test")
            .page_size(PER_PAGE as u32)
            .retry_policy(RetryPolicy::never())
            .transport(fake_gcs(served))
            .clock(clock)
            .build()
            .unwrap()
    }

    fn fixed_clock() -> Clock {
        Clock::system().now_fn(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    type Seen = Vec<(u64, Vec<(String, String, u64)>, Vec<(String, SkipReason)>)>;

    fn run(threads: usize) -> Seen {
        let src = source(Arc::default(), fixed_clock());
        let page = |item: Item| {
            let signed = item.signed.into_iter();
            let signed = signed.map(|s| (s.reference.name, s.reference.url, s.size));
            let skipped = item.skipped.into_iter().map(|s| (s.path, s.reason));
            (item.pages, signed.collect(), skipped.collect())
        };
        signed_pages(&src, 1_000, threads, |rx| {
            rx.into_iter().map(|i| i.map(page)).collect()
        })
        .unwrap()
    }

    /// Chunks and their ingest ids are cut from this sequence: it must not depend on the
    /// number of signing threads (signatures are deterministic, so URLs compare too).
    #[test]
    fn pages_come_out_in_listing_order_whatever_the_threads() {
        let one = run(1);
        assert_eq!(one.len(), PAGES);
        assert_eq!(
            one.iter().map(|p| p.0).collect::<Vec<_>>(),
            (1..=PAGES as u64).collect::<Vec<_>>()
        );
        let names: Vec<&str> = one
            .iter()
            .flat_map(|p| p.1.iter().map(|s| s.0.as_str()))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "listing order (the keys are listed sorted)");
        assert_eq!(names.len(), PAGES * PER_PAGE - 5);
        assert!(one[0].1[0].1.contains("X-Goog-Algorithm=GOOG4-HMAC-SHA256"));
        let skipped: Vec<(String, SkipReason)> =
            one.iter().flat_map(|p| p.2.iter().cloned()).collect();
        let reasons: Vec<SkipReason> = skipped.iter().map(|s| s.1).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::Empty,
                SkipReason::TooLarge,
                SkipReason::Unreadable,
                SkipReason::Unreadable
            ]
        );
        assert!(run(3) == one, "3 threads changed the output");
    }

    /// The first signature waits until the listing has read a second page, which a
    /// listing that signed its pages before reading the next would never do.
    #[test]
    fn the_listing_does_not_wait_for_signing() {
        let served = Arc::new(AtomicUsize::new(0));
        let waited_out = Arc::new(AtomicBool::new(false));
        let (s, w) = (served.clone(), waited_out.clone());
        let clock = Clock::system().now_fn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while s.load(Ordering::SeqCst) < 2 {
                if Instant::now() > deadline {
                    w.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        });
        let src = source(served.clone(), clock);
        let pages = signed_pages(&src, 1_000, 2, |rx| Ok(rx.into_iter().count())).unwrap();
        assert_eq!(pages, PAGES);
        assert!(
            !waited_out.load(Ordering::SeqCst),
            "signing held up the listing"
        );
    }

    /// A consumer that takes nothing holds the listing a few pages ahead, not the whole
    /// bucket; when it returns, both stages stop.
    #[test]
    fn the_stages_stay_a_page_apart_and_stop_with_the_consumer() {
        let served = Arc::new(AtomicUsize::new(0));
        let src = source(served.clone(), fixed_clock());
        let seen = signed_pages(&src, 1_000, 2, |_rx| {
            // Until the stages are full, then a while longer for any page too many.
            let deadline = Instant::now() + Duration::from_secs(10);
            while served.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(300));
            Ok(served.load(Ordering::SeqCst))
        })
        .unwrap();
        // One page in each channel, one being signed, one in the listing's hands.
        assert_eq!(seen, 4);
        assert_eq!(
            served.load(Ordering::SeqCst),
            4,
            "stopped with the consumer"
        );
    }
}
