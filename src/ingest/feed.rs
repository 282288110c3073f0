//! The one pool every source's units go through: a feeder thread forms units and hands
//! them, a few ahead, to the workers; the [`Ctx`] is what they share.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Ingest;
use super::files::LocalFile;
use super::journal::Journal;
use super::report::{FailedFile, FailureStage, SkipReason, SkippedFile};
use super::verify::Verifier;
use crate::BatchApi;
use crate::api::retry::RetryCause;
use crate::error::{Error, Result};
use crate::model::{FileReference, SignedUrlDetails};
use crate::progress::{Emitter, Event, Relay, UnitKind};
use crate::sync::lock;

/// A chunk of references for one request (or the URL of a list the service reads).
#[derive(Default)]
pub(crate) struct Chunk {
    pub refs: Vec<FileReference>,
    pub url: Option<String>,
    /// `None`: the service's, or one the client derives from the request.
    pub ingest_id: Option<String>,
    /// The objects' bytes, when the listing said.
    pub bytes: u64,
}

/// What one request (or one signed upload) carries.
pub(crate) enum Unit {
    /// A shard's files and positions, and its signed URL, asked ahead (or why none).
    Shard {
        files: Vec<(u64, LocalFile)>,
        target: Option<std::result::Result<SignedUrlDetails, String>>,
    },
    Image(LocalFile),
    Video(LocalFile),
    References(Chunk),
}

impl Unit {
    pub fn kind(&self) -> UnitKind {
        match self {
            Unit::Shard { .. } => UnitKind::Shard,
            Unit::Image(_) => UnitKind::Image,
            Unit::Video(_) => UnitKind::Video,
            Unit::References(_) => UnitKind::References,
        }
    }

    /// Files and payload bytes.
    fn size(&self) -> (u64, u64) {
        match self {
            Unit::Shard { files, .. } => {
                (files.len() as u64, files.iter().map(|(_, f)| f.size).sum())
            }
            Unit::Image(f) | Unit::Video(f) => (1, f.size),
            Unit::References(c) => (c.refs.len() as u64, c.bytes),
        }
    }

    /// Each file's name and origin (a local path, or a URL without its query).
    pub fn names(&self) -> Vec<(&str, String)> {
        fn local(f: &LocalFile) -> (&str, String) {
            (f.name.as_str(), f.path.to_string_lossy().into_owned())
        }
        match self {
            Unit::Shard { files, .. } => files.iter().map(|(_, f)| local(f)).collect(),
            Unit::Image(f) | Unit::Video(f) => vec![local(f)],
            Unit::References(c) => {
                let origin = |r: &FileReference| crate::redact::without_query(&r.url).to_string();
                c.refs
                    .iter()
                    .map(|r| (r.name.as_str(), origin(r)))
                    .collect()
            }
        }
    }
}

/// What the uploads of one run achieved.
#[derive(Default)]
pub(crate) struct Outcome {
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    pub wire_bytes: u64,
    pub units: u64,
    /// Files the service already had (references answered as a repeat).
    pub files_resumed: u64,
    /// One per accepted unit.
    pub latencies: Vec<Duration>,
    pub failed: Vec<FailedFile>,
    pub skipped: Vec<SkippedFile>,
    /// Files not attempted because the ingest was cancelled.
    pub pending: u64,
    /// References chunks' ingest ids, by unit.
    pub ingest_ids: Vec<(u64, String)>,
}

/// Why no new unit may start.
pub(crate) enum Stop {
    /// The caller's cancel flag: units not started stay pending for the next run.
    Cancelled,
    /// A fatal error: units not started fail with it.
    Fatal(String),
}

/// A unit the service accepted, for the books.
pub(crate) struct Accepted<'u> {
    pub index: u64,
    pub unit: &'u Unit,
    /// Bytes on the wire.
    pub wire: u64,
    pub latency: Duration,
    pub attempts: u32,
    /// The shards the service made of it (none: the listing tells); `None`: stored.
    pub shards: Option<Vec<String>>,
    /// The service already had it.
    pub repeat: bool,
}

impl<'u> Accepted<'u> {
    /// Accepted at the first try, its files stored by the answer.
    pub fn new(index: u64, unit: &'u Unit, wire: u64, latency: Duration) -> Self {
        let (attempts, shards, repeat) = (1, None, false);
        Accepted {
            index,
            unit,
            wire,
            latency,
            attempts,
            shards,
            repeat,
        }
    }
}

/// What every worker shares.
pub(crate) struct Ctx<'a> {
    pub api: &'a BatchApi,
    pub batch: &'a str,
    pub display_name: Option<&'a str>,
    pub events: Emitter<'a>,
    /// The same, for what runs inside requests.
    pub relay: Relay,
    pub pool: rayon::ThreadPool,
    pub parallelism: usize,
    /// Counts every repeated request; shared with retry observers, which are `'static`.
    pub retries: Arc<AtomicU64>,
    pub journal: Option<Journal>,
    pub verifier: Option<Verifier<'a>>,
    pub out: Mutex<Outcome>,
    stop: AtomicBool,
    fatal: Mutex<Option<Error>>,
    cancel: Option<&'a AtomicBool>,
}

impl<'a> Ctx<'a> {
    /// The context of a run of `ing`: its pool, and verification unless it only plans.
    pub fn new(ing: &'a Ingest<'_>, events: &Emitter<'a>, dry_run: bool) -> Result<Ctx<'a>> {
        let parallelism = ing.parallelism.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("rfbatch-upload-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start the upload threads: {e}")))?;
        let verify = ing.verify.clone().filter(|_| !dry_run);
        Ok(Ctx {
            api: ing.api,
            batch: &ing.batch_id,
            display_name: ing.display_name.as_deref(),
            relay: events.relay(),
            events: events.clone(),
            pool,
            parallelism,
            retries: Arc::new(AtomicU64::new(0)),
            journal: None,
            verifier: verify.map(|w| Verifier::new(ing.api, &ing.batch_id, w, events.clone())),
            out: Mutex::new(Outcome::default()),
            stop: AtomicBool::new(false),
            fatal: Mutex::new(None),
            cancel: ing.cancel,
        })
    }

    /// Runs `f` on an api that counts and reports its retries as unit `index`'s (`what`).
    pub fn retrying<R>(
        &self,
        unit: UnitKind,
        index: u64,
        what: &'static str,
        f: impl FnOnce(&BatchApi) -> R,
    ) -> R {
        let (retries, events) = (self.retries.clone(), self.relay.clone());
        let tries = AtomicU32::new(1);
        let observer = move |cause: RetryCause| {
            let at = tries.fetch_add(1, Ordering::Relaxed);
            let why = format!("{what}: {cause}");
            retried(&retries, &events, (unit, index), at + 1, 0, why);
        };
        f(&self.api.reporting_retries(observer))
    }

    pub fn out(&self) -> MutexGuard<'_, Outcome> {
        lock(&self.out)
    }

    /// Stops new units; the first such error is returned by the ingest.
    pub fn fatal(&self, e: Error) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = lock(&self.fatal);
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// The fatal error, if any, taken (to send the files again another way, or to end).
    pub fn take_fatal(&self) -> Option<Error> {
        self.stop.store(false, Ordering::Relaxed);
        lock(&self.fatal).take()
    }

    /// Whether the fatal error is a 409: the batch holds the other kind of upload.
    pub fn refused(&self) -> bool {
        matches!(*lock(&self.fatal), Some(Error::Conflict(_)))
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::SeqCst))
    }

    /// Why new units must not start, if they must not.
    pub fn stopped(&self) -> Option<Stop> {
        if self.stop.load(Ordering::Relaxed) {
            let why = lock(&self.fatal)
                .as_ref()
                .map_or_else(|| "the ingest stopped".into(), |e| e.to_string());
            return Some(Stop::Fatal(why));
        }
        self.cancelled().then_some(Stop::Cancelled)
    }

    /// Leaves out a file too large for the service (`why`), and says so.
    pub fn too_large(&self, f: &LocalFile, why: String) {
        let s = SkippedFile::new(f.path.to_string_lossy(), SkipReason::TooLarge, why);
        self.events.emit(Event::Skipped(s.clone()));
        self.out().skipped.push(s);
    }

    /// Fails every file of a unit with `reason`.
    pub fn fail(&self, index: u64, unit: &Unit, reason: &str) {
        let names = unit.names();
        self.events.emit(Event::UnitFailed {
            unit: unit.kind(),
            index,
            files: names.len() as u64,
            reason: reason.to_string(),
        });
        self.out().failed.extend(
            names
                .into_iter()
                .map(|(name, origin)| FailedFile::new(name, origin, FailureStage::Upload, reason)),
        );
    }

    /// Records an accepted unit: journal, verification, event and counts.
    pub fn accepted(&self, a: Accepted<'_>, journal_seq: Option<u64>) {
        if let (Some(j), Some(seq)) = (&self.journal, journal_seq)
            && let Err(e) = j.done(seq)
        {
            // Sent, but a re-run may not know it: say so, without failing the files.
            self.fatal(e);
        }
        let (files, bytes) = a.unit.size();
        if let Some(v) = &self.verifier {
            let confirmed = a.shards.is_none();
            let id = v.unit(a.shards.unwrap_or_default(), files, confirmed);
            for (name, origin) in a.unit.names() {
                v.file(name, &origin, id);
            }
        }
        if a.unit.kind() == UnitKind::Image {
            self.events.emit(Event::BytesSent { bytes });
        }
        self.events.emit(Event::UnitDone {
            unit: a.unit.kind(),
            index: a.index,
            files,
            bytes,
            latency: a.latency,
            attempts: a.attempts,
        });
        let mut o = self.out();
        if a.repeat {
            o.files_resumed += files;
        } else {
            o.files_uploaded += files;
            o.bytes_uploaded += bytes;
            o.wire_bytes += a.wire;
        }
        o.units += 1;
        o.latencies.push(a.latency);
        drop(o);
        if let Some(v) = &self.verifier {
            v.look_now();
        }
    }
}

/// Hands units to the workers, numbered in order.
pub(crate) struct Feed<'e> {
    tx: std::sync::mpsc::SyncSender<(u64, Unit)>,
    next: u64,
    events: &'e Emitter<'e>,
}

impl Feed<'_> {
    /// The number the next unit gets.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Hands a unit over; `false` when the workers are gone.
    pub fn send(&mut self, unit: Unit) -> bool {
        let index = self.next;
        self.next += 1;
        let ((files, bytes), kind) = (unit.size(), unit.kind());
        let sent = self.tx.send((index, unit)).is_ok();
        if sent {
            self.events.emit(Event::UnitQueued {
                unit: kind,
                index,
                files,
                bytes,
            });
        }
        sent
    }
}

/// Runs `produce` on a thread of its own, handing units (a few ahead) to `workers` that
/// `send` each unless the ingest stopped; an error of `produce` is fatal.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    workers: usize,
    produce: impl FnOnce(&mut Feed<'_>) -> Result<()> + Send,
    send: impl Fn(&Ctx<'_>, u64, Unit) + Sync,
) {
    let workers = workers.max(1);
    let (tx, rx) = sync_channel::<(u64, Unit)>(workers);
    let rx = Mutex::new(rx);
    let send = &send;
    let fed = std::thread::scope(|ts| {
        let feeder = ts.spawn(move || {
            let mut feed = Feed {
                tx,
                next: 0,
                events: &ctx.events,
            };
            produce(&mut feed)
        });
        ctx.pool.scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| {
                    loop {
                        // The lock is held for the receive only, not while sending.
                        let Ok((index, unit)) = lock(&rx).recv() else {
                            break;
                        };
                        match ctx.stopped() {
                            Some(Stop::Cancelled) => ctx.out().pending += unit.size().0,
                            Some(Stop::Fatal(why)) => {
                                ctx.fail(index, &unit, &format!("not attempted: {why}"))
                            }
                            None => send(ctx, index, unit),
                        }
                    }
                });
            }
        });
        feeder.join()
    });
    match fed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => ctx.fatal(e),
        Err(_) => ctx.fatal(Error::Config(
            "the thread forming the units panicked".into(),
        )),
    }
}

/// Counts a retry of a unit's request and reports it, with its cause.
pub(crate) fn retried(
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
