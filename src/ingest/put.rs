//! One unit's signed-URL PUT: streamed, retried (the stream reopened for each try), and
//! given a fresh signed URL when its own is rejected.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::BatchApi;
use crate::api::UploadSource;
use crate::api::retry::RetryCause;
use crate::error::{Error, Result};
use crate::model::SignedUrlDetails;
use crate::progress::{Event, Relay, UnitKind};

/// How many fresh signed URLs one unit may ask for after rejections.
pub(crate) const MAX_FRESH_URLS: u32 = 3;

/// `BytesSent` events are sent at most once per this many bytes (and at the end).
const EVENT_EVERY: u64 = 256 * 1024;

/// A reader that reports the bytes it yields.
struct Counting<R> {
    inner: R,
    events: Relay,
    /// Bytes of the current try (reported by `Retry::rewound_bytes` when it fails).
    this_try: Arc<AtomicU64>,
    unreported: u64,
    /// Bytes still expected: the last event goes out when they reach zero.
    left: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.unreported += n as u64;
        self.left = self.left.saturating_sub(n as u64);
        let end = n == 0 || self.left == 0;
        if self.unreported >= EVENT_EVERY || (end && self.unreported > 0) {
            self.this_try.fetch_add(self.unreported, Ordering::Relaxed);
            self.events.emit(Event::BytesSent {
                bytes: self.unreported,
            });
            self.unreported = 0;
        }
        Ok(n)
    }
}

/// Opens a fresh reader of the unit's bytes for each try.
pub(crate) type Opener = Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// A unit to PUT. Every retry is counted in `retries` and reported as an
/// [`Event::Retry`] with its cause (a status or a kind of transport failure; never a URL).
pub(crate) struct PutJob<'a> {
    pub api: &'a BatchApi,
    pub events: &'a Relay,
    pub unit: UnitKind,
    pub index: u64,
    pub len: u64,
    pub open: Opener,
    /// Counts every repeated try, shared by the whole ingest.
    pub retries: &'a Arc<AtomicU64>,
}

/// A successful PUT.
pub(crate) struct PutDone {
    pub latency: Duration,
    pub attempts: u32,
}

/// Whether a PUT failure means the URL itself is bad, so a fresh one may work.
pub(crate) fn url_rejected(e: &Error) -> bool {
    matches!(e.status(), Some(400 | 401 | 403 | 404 | 410))
}

impl PutJob<'_> {
    /// PUTs to `target`; on a rejected URL asks `fresh` for another (after `on_new` has
    /// recorded it) up to [`MAX_FRESH_URLS`] times.
    pub fn run(
        &self,
        mut target: SignedUrlDetails,
        mut fresh: impl FnMut(&BatchApi) -> Result<SignedUrlDetails>,
        mut on_new: impl FnMut(&SignedUrlDetails) -> Result<()>,
    ) -> Result<PutDone> {
        let started = Instant::now();
        let attempts = Arc::new(AtomicU32::new(0));
        let this_try = Arc::new(AtomicU64::new(0));
        let mut fresh_urls = 0;
        loop {
            let source = self.source(attempts.clone(), this_try.clone());
            let api = self
                .api
                .reporting_retries(self.observer(attempts.clone(), this_try.clone()));
            match api.put_signed(&target, &source) {
                Ok(()) => {
                    return Ok(PutDone {
                        latency: started.elapsed(),
                        attempts: attempts.load(Ordering::Relaxed).max(1),
                    });
                }
                Err(e) if url_rejected(&e) && fresh_urls < MAX_FRESH_URLS => {
                    fresh_urls += 1;
                    let (at, rewound) = (
                        attempts.load(Ordering::Relaxed),
                        this_try.swap(0, Ordering::Relaxed),
                    );
                    let why = format!("signed URL rejected, asking for a fresh one: {e}");
                    retried(
                        self.retries,
                        self.events,
                        (self.unit, self.index),
                        at + 1,
                        rewound,
                        why,
                    );
                    target = counting_retries(
                        self.api,
                        self.retries,
                        self.events,
                        (self.unit, self.index),
                        "signed URL request",
                        |api| fresh(api),
                    )?;
                    on_new(&target)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Counts and reports each retry `put_signed` decides on, with its cause.
    fn observer(
        &self,
        attempts: Arc<AtomicU32>,
        this_try: Arc<AtomicU64>,
    ) -> impl Fn(RetryCause) + Send + Sync + 'static {
        let events = self.events.clone();
        let retries = self.retries.clone();
        let (unit, index) = (self.unit, self.index);
        move |cause| {
            let (at, rewound) = (
                attempts.load(Ordering::Relaxed),
                this_try.swap(0, Ordering::Relaxed),
            );
            retried(
                &retries,
                &events,
                (unit, index),
                at + 1,
                rewound,
                format!("upload: {cause}"),
            );
        }
    }

    /// The upload source of one `put_signed` call, reopened for each try.
    fn source(&self, attempts: Arc<AtomicU32>, this_try: Arc<AtomicU64>) -> UploadSource {
        let open = self.open.clone();
        let events = self.events.clone();
        let len = self.len;
        UploadSource::Stream {
            open: Arc::new(move || {
                attempts.fetch_add(1, Ordering::Relaxed);
                this_try.store(0, Ordering::Relaxed);
                let inner = open()?;
                Ok(Box::new(Counting {
                    inner,
                    events: events.clone(),
                    this_try: this_try.clone(),
                    unreported: 0,
                    left: len,
                }) as Box<dyn Read + Send>)
            }),
            len: self.len,
        }
    }
}

/// Runs `f` (requests for one unit other than its PUT: a signed URL, a single-image
/// upload, a chunk of references) on a handle of `api` that counts each retry in `retries`
/// and reports it as an [`Event::Retry`] of `unit` whose reason starts with `what`.
pub(crate) fn counting_retries<R>(
    api: &BatchApi,
    retries: &Arc<AtomicU64>,
    events: &Relay,
    (unit, index): (UnitKind, u64),
    what: &'static str,
    f: impl FnOnce(&BatchApi) -> R,
) -> R {
    let retries = retries.clone();
    let events = events.clone();
    let tries = Arc::new(AtomicU32::new(1));
    let observer = move |cause: RetryCause| {
        let at = tries.fetch_add(1, Ordering::Relaxed);
        retried(
            &retries,
            &events,
            (unit, index),
            at + 1,
            0,
            format!("{what}: {cause}"),
        );
    };
    f(&api.reporting_retries(observer))
}

/// Counts a retry of a unit's request and reports it, with its cause.
fn retried(
    retries: &AtomicU64,
    events: &Relay,
    (unit, index): (UnitKind, u64),
    attempt: u32,
    rewound_bytes: u64,
    reason: String,
) {
    retries.fetch_add(1, Ordering::Relaxed);
    let reason = Some(reason);
    events.emit(Event::Retry {
        unit,
        index,
        attempt,
        rewound_bytes,
        reason,
    });
}
