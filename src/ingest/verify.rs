//! Verification: the service's word for every file, with requests that grow with the
//! units, not the files; the batch listing is read only where the shards do not add up.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::expected::{Expected, Files, name_key};
use super::report::{FailedFile, FailureStage, Verification};
use super::sorted::{Sorted, Sorter};
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::ShardDetails;
use crate::progress::{Emitter, Event};
use crate::wait::WaitOptions;

/// Every 0.1 s at first (the last shards are often moments from indexed), up to 5 s, 10 min.
pub(crate) fn default_options() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(100))
        .max_interval(Duration::from_secs(5))
        .timeout(Duration::from_secs(600))
}

/// The shortest interval between looks during the uploads (later shards are on their way).
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// At most this many units waiting: the batch count goes beside the look, hiding a trip.
const COUNT_BESIDE: usize = 2;

/// Bytes of the batch listing's keys sorted in memory before they spill.
const LISTING_MEMORY: usize = 4 << 20;

/// What the service has said of one accepted unit so far.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    /// Its shards are not all listed and indexed yet.
    Waiting,
    /// Its files are in the batch, but those its shards named as failed.
    Indexed,
    /// Its one shard failed whole, for this reason.
    Failed(String),
    /// Its shards do not account for its files: the listing decides (the reason why).
    Listing(Option<String>),
}

struct Unit {
    shards: Vec<String>,
    /// Files it carried, and how many of them verification expects.
    files: u64,
    expected: u64,
    /// Files its shards named as failed.
    failures: u64,
    status: Status,
}

struct State {
    units: Vec<Unit>,
    expected: Expected,
    /// Failures named by the units' shards, and by others (for units that named none).
    named: HashMap<u128, String>,
    unwatched: HashMap<u128, String>,
    /// The last look at the shards during the uploads, and the wait before the next one.
    last_look: Duration,
    interval: Duration,
    looking: bool,
}

impl State {
    /// Expected files that the units' shards (or answers) say are in the batch.
    fn accounted(&self) -> u64 {
        let indexed = self.units.iter().filter(|u| u.status == Status::Indexed);
        indexed.map(|u| u.expected.saturating_sub(u.failures)).sum()
    }
}

/// Verification of one ingest: units and files are added as the service accepts them.
pub(crate) struct Verifier<'a> {
    api: &'a BatchApi,
    batch: &'a str,
    wait: WaitOptions,
    events: Emitter<'a>,
    state: Mutex<State>,
}

impl<'a> Verifier<'a> {
    pub fn new(api: &'a BatchApi, batch: &'a str, wait: WaitOptions, events: Emitter<'a>) -> Self {
        let state = State {
            units: Vec::new(),
            expected: Expected::new(),
            named: HashMap::new(),
            unwatched: HashMap::new(),
            last_look: api.clock().monotonic(),
            interval: wait.first().max(LOOK_EVERY),
            looking: false,
        };
        Verifier {
            api,
            batch,
            wait,
            events,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// An accepted unit of `files` files, `confirmed` by its answer, else by its shards
    /// (none: by the listing); returns its number.
    pub fn unit(&self, shards: Vec<String>, files: u64, confirmed: bool) -> u32 {
        let status = match (confirmed, shards.is_empty()) {
            (true, _) => Status::Indexed,
            (false, true) => Status::Listing(None),
            (false, false) => Status::Waiting,
        };
        let mut st = self.lock();
        st.units.push(Unit {
            shards,
            files,
            expected: 0,
            failures: 0,
            status,
        });
        (st.units.len() - 1) as u32
    }

    /// Expects `name` (from `origin`) in the batch, carried by `unit`.
    pub fn file(&self, name: &str, origin: &str, unit: u32) {
        let mut st = self.lock();
        st.expected.add(name, origin, unit);
        if let Some(u) = st.units.get_mut(unit as usize) {
            u.expected += 1;
        }
    }

    /// During the uploads: a look at the shards when due and a unit waits (one at a time).
    pub fn look_now(&self) {
        let now = self.api.clock().monotonic();
        {
            let mut st = self.lock();
            let due = st.last_look.saturating_add(st.interval) <= now;
            if st.looking || !due || !st.units.iter().any(|u| u.status == Status::Waiting) {
                return;
            }
            st.looking = true;
        }
        let _ = self.look();
        let mut st = self.lock();
        st.looking = false;
        st.last_look = self.api.clock().monotonic();
        st.interval = self.wait.next(st.interval);
    }

    /// Looks at the shards for waiting units; the files accounted for so far.
    fn look(&self) -> Result<u64> {
        let (wanted, unnamed) = {
            let st = self.lock();
            let waiting = st.units.iter().filter(|u| u.status == Status::Waiting);
            let wanted: HashSet<String> = waiting.flat_map(|u| u.shards.clone()).collect();
            let unnamed = st.units.iter().any(|u| u.status == Status::Listing(None));
            (wanted, unnamed)
        };
        if !wanted.is_empty() || unnamed {
            let mut listed: HashMap<String, ShardDetails> = HashMap::new();
            let mut unwatched = HashMap::new();
            for s in self.api.shards(self.batch, None) {
                let s = s?;
                if wanted.contains(&s.shard_id) {
                    listed.insert(s.shard_id.clone(), s);
                } else if unnamed && !s.is_in_progress() {
                    for (n, why) in file_failures(&s) {
                        unwatched.entry(name_key(&n)).or_insert(why);
                    }
                }
            }
            let mut st = self.lock();
            st.unwatched.extend(unwatched);
            let mut named = Vec::new();
            for u in st.units.iter_mut().filter(|u| u.status == Status::Waiting) {
                let before = named.len();
                if let Some(status) = account(u, &listed, &mut named) {
                    u.status = status;
                    u.failures = (named.len() - before) as u64;
                }
            }
            for (name, why) in named {
                st.named.entry(name_key(&name)).or_insert(why);
            }
        }
        Ok(self.lock().accounted())
    }

    /// Units still waiting for their shards.
    fn waiting(&self) -> usize {
        let waiting = |u: &&Unit| u.status == Status::Waiting;
        self.lock().units.iter().filter(waiting).count()
    }

    /// Polls until every file is accounted for or time is up; which failed, and why.
    pub fn finish(self) -> Result<(Verification, Vec<FailedFile>)> {
        let start = self.api.clock().monotonic();
        let expected = std::mem::replace(&mut self.lock().expected, Expected::new());
        let total = expected.len();
        let mut files = expected.finish()?;
        let what = format!("the files of batch {} to be indexed", self.batch);
        let clock = self.api.clock();
        // The last shards were PUT a moment ago, and the service indexes a shard after its
        // PUT: a look at once would find them waiting, so the first look waits an interval.
        if self.waiting() > 0 {
            clock.sleep(self.wait.first());
        }
        let (api, batch) = (self.api, self.batch);
        let polled = crate::wait::poll(clock, &self.wait, &what, || {
            // Near the end the count goes beside the look, saving a round trip after it.
            let beside = self.waiting() <= COUNT_BESIDE;
            let (indexed, early) = std::thread::scope(|s| {
                let early = beside.then(|| s.spawn(move || api.batch_count(batch, None)));
                (self.look(), early.and_then(|h| h.join().ok()))
            });
            let indexed = indexed?;
            if self.waiting() > 0 {
                let expected = total;
                self.events.emit(Event::Verifying { indexed, expected });
                return Ok(None);
            }
            // A count answered before the last shard was indexed holds fewer: ask again.
            let count = match early {
                Some(Ok(count)) if count >= self.lock().accounted() => count,
                _ => api.batch_count(batch, None)?,
            };
            let t = self.tally(&mut files, count, None)?;
            self.events.emit(Event::Verifying {
                indexed: t.indexed,
                expected: total,
            });
            Ok((t.unexplained == 0).then_some((t, count)))
        });
        let (t, count, timed_out) = match polled {
            Ok((t, count)) => (t, count, false),
            // Time is up: one last look says what is still missing, and why.
            Err(Error::WaitTimeout { waited, .. }) => {
                self.look()?;
                let count = self.api.batch_count(self.batch, None)?;
                let secs = waited.as_secs_f64();
                let why = format!("not in the batch after {secs:.0} s of verification");
                let t = self.tally(&mut files, count, Some(&why))?;
                let missing = t.unexplained > 0;
                (t, count, missing)
            }
            Err(e) => return Err(e),
        };
        let mut failed = Vec::with_capacity(t.failed.len());
        for (at, reason) in t.failed {
            let (name, origin) = files.describe(at)?;
            let f = FailedFile::new(&name, origin, FailureStage::Indexing, &reason);
            self.events.emit(Event::IndexFailed(f.clone()));
            failed.push(f);
        }
        failed.sort_by(|a, b| a.name.cmp(&b.name));
        let v = Verification {
            indexed: t.indexed,
            expected: total - failed.len() as u64,
            batch_count: count,
            complete: failed.is_empty(),
            timed_out,
            waited: self.api.clock().monotonic().saturating_sub(start),
        };
        Ok((v, failed))
    }

    /// Every expected file: in the batch, failed (why), or missing (`timeout`: why, at the
    /// end); the listing is read only when the units' statuses cannot tell.
    fn tally(&self, files: &mut Files, count: u64, timeout: Option<&str>) -> Result<Tally> {
        let st = self.lock();
        let trusted = st.accounted() <= count;
        let needs_listing = !trusted
            || st.units.iter().any(|u| match u.status {
                Status::Listing(_) => u.expected > 0,
                Status::Waiting => timeout.is_some() && u.expected > 0,
                _ => false,
            });
        let mut listing = needs_listing.then(|| self.listing()).transpose()?;
        let mut t = Tally::default();
        let mut key = match &mut listing {
            Some(l) => l.next().map_err(sort_err)?,
            None => None,
        };
        files.each(|f| {
            if let Some(l) = &mut listing {
                while key.is_some_and(|k| k < f.key) {
                    key = l.next().map_err(sort_err)?;
                }
            }
            let present = key == Some(f.key);
            let status = st.units.get(f.unit as usize).map(|u| &u.status);
            let named = st.named.get(&f.key);
            let why: Option<String> = match status {
                _ if present => None,
                Some(Status::Failed(why)) => Some(why.clone()),
                Some(Status::Listing(None)) => named.or(st.unwatched.get(&f.key)).cloned(),
                _ => named.cloned(),
            };
            match why {
                Some(why) => t.failed.push((f.at, why)),
                None if present || (trusted && status == Some(&Status::Indexed)) => {
                    t.indexed += 1;
                }
                None => {
                    t.unexplained += 1;
                    if let Some(timeout) = timeout {
                        let why = match status {
                            Some(Status::Listing(Some(unit))) => format!("{timeout}; {unit}"),
                            Some(Status::Waiting) => {
                                format!("{timeout}; its shard was still being indexed")
                            }
                            _ => timeout.to_string(),
                        };
                        t.failed.push((f.at, why));
                    }
                }
            }
            Ok(())
        })?;
        Ok(t)
    }

    /// The names in the batch listing, as sorted keys (on disk when many).
    fn listing(&self) -> Result<Sorted<u128>> {
        let mut keys = Sorter::new(LISTING_MEMORY);
        for f in self.api.files(self.batch, None, None) {
            keys.push(&name_key(&f?.file_name)).map_err(sort_err)?;
        }
        keys.finish().map_err(sort_err)
    }
}

fn sort_err(e: std::io::Error) -> Error {
    Error::io("sorting the batch listing", e)
}

/// One look at the batch: expected files in it, failed (where, why), unexplained.
#[derive(Default)]
struct Tally {
    indexed: u64,
    unexplained: u64,
    failed: Vec<(u64, String)>,
}

/// What a waiting unit's shards say once all are done; per-file failures to `named`.
fn account(
    u: &Unit,
    listed: &HashMap<String, ShardDetails>,
    named: &mut Vec<(String, String)>,
) -> Option<Status> {
    let shards: Vec<&ShardDetails> = u.shards.iter().filter_map(|id| listed.get(id)).collect();
    if shards.len() < u.shards.len() || shards.iter().any(|s| s.is_in_progress()) {
        return None;
    }
    if let Some(bad) = shards.iter().find(|s| s.is_failed()) {
        let why = shard_reason(bad);
        return Some(match shards.len() {
            1 => Status::Failed(why),
            _ => Status::Listing(Some(why)),
        });
    }
    let objects: u64 = shards.iter().map(|s| s.shard_objects_count).sum();
    let mut failures = 0u64;
    for s in &shards {
        let f = file_failures(s);
        failures += f.len() as u64;
        named.extend(f);
    }
    if objects + failures == u.files {
        return Some(Status::Indexed);
    }
    let ids = u.shards.join(", ");
    Some(Status::Listing(Some(format!(
        "shard {ids} indexed {objects} of the {} files sent and named {failures} as failed",
        u.files
    ))))
}

/// Why a whole shard failed: its metadata's `reason`, else its status name.
fn shard_reason(s: &ShardDetails) -> String {
    let reason = s
        .status_metadata
        .as_ref()
        .and_then(|m| m.get("reason"))
        .and_then(|r| r.as_str());
    match reason {
        Some(r) => format!("shard {} failed: {r}", s.shard_id),
        None => format!("shard {} failed: {}", s.shard_id, s.status_name),
    }
}

/// Per-file failures in a shard's metadata (`failedFiles` or `failed_files`).
fn file_failures(s: &ShardDetails) -> Vec<(String, String)> {
    let Some(meta) = &s.status_metadata else {
        return Vec::new();
    };
    let list = meta
        .get("failedFiles")
        .or_else(|| meta.get("failed_files"))
        .and_then(|v| v.as_array());
    let text = |v: &serde_json::Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
            .map(str::to_string)
    };
    list.into_iter()
        .flatten()
        .filter_map(|f| {
            let name = text(f, &["fileName", "file_name", "name"])?;
            let kind = text(f, &["type"]);
            let reason = text(f, &["reason"]);
            let why = match (kind, reason) {
                (Some(k), Some(r)) => format!("{k}: {r}"),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => "failed by the service".into(),
            };
            Some((name, why))
        })
        .collect()
}
