//! One unit's signed-URL PUT: streamed, retried (the stream reopened for each try), and
//! given a fresh signed URL when its own is rejected.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::feed::{Ctx, retried};
use crate::BatchApi;
use crate::api::UploadSource;
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

/// A unit to PUT; every retry is counted and reported as an [`Event::Retry`] with its cause.
pub(crate) struct PutJob<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub unit: UnitKind,
    pub index: u64,
    pub len: u64,
    pub open: Opener,
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

impl PutJob<'_, '_> {
    /// PUTs to `target`, asking `fresh` for another when it is rejected (at most
    /// [`MAX_FRESH_URLS`] times, each recorded by `on_new`).
    pub fn run(
        &self,
        mut target: SignedUrlDetails,
        mut fresh: impl FnMut(&BatchApi) -> Result<SignedUrlDetails>,
        mut on_new: impl FnMut(&SignedUrlDetails) -> Result<()>,
    ) -> Result<PutDone> {
        let started = Instant::now();
        let attempts = Arc::new(AtomicU32::new(0));
        let this_try = Arc::new(AtomicU64::new(0));
        let (ctx, unit) = (self.ctx, (self.unit, self.index));
        // Counts and reports a retry of the try `attempts` counts, rewinding its bytes.
        let note = {
            let (retries, events) = (ctx.retries.clone(), ctx.relay.clone());
            let (attempts, this_try) = (attempts.clone(), this_try.clone());
            move |why: String| {
                let at = attempts.load(Ordering::Relaxed);
                let rewound = this_try.swap(0, Ordering::Relaxed);
                retried(&retries, &events, unit, at + 1, rewound, why);
            }
        };
        let mut fresh_urls = 0;
        loop {
            let source = self.source(attempts.clone(), this_try.clone());
            let upload = note.clone();
            let observer = move |cause| upload(format!("upload: {cause}"));
            let api = ctx.api.reporting_retries(observer);
            match api.put_signed(&target, &source) {
                Ok(()) => {
                    return Ok(PutDone {
                        latency: started.elapsed(),
                        attempts: attempts.load(Ordering::Relaxed).max(1),
                    });
                }
                Err(e) if url_rejected(&e) && fresh_urls < MAX_FRESH_URLS => {
                    fresh_urls += 1;
                    let why = format!("signed URL rejected, asking for a fresh one: {e}");
                    note(why);
                    target =
                        ctx.retrying(self.unit, self.index, "signed URL request", &mut fresh)?;
                    on_new(&target)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The upload source of one `put_signed` call, reopened for each try.
    fn source(&self, attempts: Arc<AtomicU32>, this_try: Arc<AtomicU64>) -> UploadSource {
        let open = self.open.clone();
        let events = self.ctx.relay.clone();
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
