//! Verification: after the uploads, poll the shards' statuses and the batch until every
//! expected file is indexed (or the service has said why not), within a timeout measured
//! on the client's injected [`Clock`](crate::api::Clock).
//!
//! Neither the expected names nor the batch listing are held in memory: both become
//! sorted lists of 128-bit name keys (spilling to disk when long) and are merged; only the
//! files that failed are looked up by name, for the report.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::names::fnv1a128;
use super::progress::{IngestEvent, ProgressFn};
use super::report::{FailedFile, FailureStage, Verification};
use super::resume::NO_UNIT;
use super::spill::{Fields, Sorted, Sorter};
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::ShardDetails;
use crate::wait::WaitOptions;

/// How long verification waits by default (10 minutes).
///
/// ```
/// assert_eq!(roboflow_batch::ingest::DEFAULT_VERIFY_TIMEOUT.as_secs(), 600);
/// ```
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// The default polling of verification: every 0.5 s at first, growing to 5 s, for at most
/// 10 minutes.
///
/// ```
/// let o = roboflow_batch::ingest::default_verify_options();
/// assert_eq!(o.timeout, std::time::Duration::from_secs(600));
/// ```
pub fn default_verify_options() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(500))
        .max_interval(Duration::from_secs(5))
        .timeout(DEFAULT_VERIFY_TIMEOUT)
}

/// What verification waits for: file names (with where each came from, for the report)
/// and the shards that carried them.
///
/// ```
/// use roboflow_batch::ingest::ExpectedFiles;
/// let mut e = ExpectedFiles::default();
/// e.file("a.jpg", Some("imgs/a.jpg".into()));
/// e.shard("shard-1", vec!["a.jpg".into()]);
/// assert_eq!(e.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExpectedFiles {
    files: HashMap<String, Option<String>>,
    shards: Vec<(String, Vec<String>)>,
}

impl ExpectedFiles {
    /// Expects `name` in the batch; `origin` (a local path, an object URL without its
    /// signature) goes into the report if it fails.
    ///
    /// ```
    /// let mut e = roboflow_batch::ingest::ExpectedFiles::default();
    /// e.file("a.jpg", None);
    /// e.file("a.jpg", None);
    /// assert_eq!(e.len(), 1);
    /// ```
    pub fn file(&mut self, name: impl Into<String>, origin: Option<String>) {
        self.files.insert(name.into(), origin);
    }

    /// Watches shard `id`, which carried `names`, until it is indexed.
    ///
    /// ```
    /// let mut e = roboflow_batch::ingest::ExpectedFiles::default();
    /// e.shard("s1", vec!["a.jpg".into(), "b.jpg".into()]);
    /// assert!(e.is_empty()); // shards alone add no expected files
    /// ```
    pub fn shard(&mut self, id: impl Into<String>, names: Vec<String>) {
        self.shards.push((id.into(), names));
    }

    /// How many files are expected.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::ingest::ExpectedFiles::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is expected.
    ///
    /// ```
    /// assert!(roboflow_batch::ingest::ExpectedFiles::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Polls `batch_id` until every expected file is listed or the service has failed it
/// (or `wait.timeout` passes on the client's monotonic clock), and returns what was confirmed and the files that did not make it (failed by the
/// service, with its reasons, or still missing at the timeout).
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// use roboflow_batch::ingest::{default_verify_options, no_progress, verify_ingest, ExpectedFiles};
/// let mut expected = ExpectedFiles::default();
/// expected.file("a.jpg", None);
/// let (v, failed) = verify_ingest(&api, "my-batch", &expected, &default_verify_options(), &no_progress())?;
/// println!("{} of {} indexed, {} failed", v.indexed, v.expected, failed.len());
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
pub fn verify_ingest(
    api: &BatchApi,
    batch_id: &str,
    expected: &ExpectedFiles,
    wait: &WaitOptions,
    progress: &ProgressFn,
) -> Result<(Verification, Vec<FailedFile>)> {
    let mut mem = MemExpected::new(expected)?;
    verify(api, batch_id, &mut mem, wait, progress)
}

/// Bytes of one verification record: the key of the file's name, its unit (a position in
/// the watched shards, or [`NO_UNIT`]) and where to find its name and origin.
pub(crate) const RECORD_LEN: usize = 16 + 4 + 8;

/// The key of a name in the sorted lists verification merges (128 bits).
fn name_key(name: &str) -> [u8; 16] {
    fnv1a128(name.as_bytes()).to_be_bytes()
}

/// A verification record for `name`.
pub(crate) fn record(name: &str, unit: u32, locator: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..16].copy_from_slice(&name_key(name));
    r[16..20].copy_from_slice(&unit.to_be_bytes());
    r[20..].copy_from_slice(&locator.to_be_bytes());
    r
}

fn parse(rec: &[u8]) -> std::io::Result<([u8; 16], u32, u64)> {
    let mut f = Fields(rec);
    let mut key = [0u8; 16];
    key.copy_from_slice(f.fixed(16)?);
    Ok((key, f.u32()?, f.u64()?))
}

/// What verification waits for, as it reads it: records sorted by name key, the shards
/// watched, and the names and origins of the files it must report.
pub(crate) trait Expected {
    /// How many files.
    fn total(&self) -> u64;
    /// The watched shards' ids; a record's unit is a position here.
    fn shards(&self) -> &[String];
    /// The records, sorted, read from the first.
    fn records(&mut self) -> std::io::Result<&mut Sorted>;
    /// Name and origin of each locator, in the order given.
    fn describe(&mut self, locators: &[u64]) -> Result<Vec<(String, Option<String>)>>;
}

/// [`ExpectedFiles`] as verification reads it.
struct MemExpected<'a> {
    files: Vec<(&'a String, &'a Option<String>)>,
    shards: Vec<String>,
    sorted: Sorted,
}

impl<'a> MemExpected<'a> {
    fn new(e: &'a ExpectedFiles) -> Result<MemExpected<'a>> {
        let io = |e| Error::io("listing the expected files", e);
        let files: Vec<_> = e.files.iter().collect();
        let at: HashMap<&str, u64> = files
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i as u64))
            .collect();
        let mut sorter = Sorter::new(usize::MAX);
        let mut in_unit = vec![false; files.len()];
        for (unit, (_, names)) in e.shards.iter().enumerate() {
            for n in names {
                if let Some(&loc) = at.get(n.as_str()) {
                    sorter.push(&record(n, unit as u32, loc)).map_err(io)?;
                    if let Some(flag) = in_unit.get_mut(loc as usize) {
                        *flag = true;
                    }
                }
            }
        }
        for (loc, (n, _)) in files.iter().enumerate() {
            if !in_unit.get(loc).copied().unwrap_or(false) {
                sorter.push(&record(n, NO_UNIT, loc as u64)).map_err(io)?;
            }
        }
        Ok(MemExpected {
            files,
            shards: e.shards.iter().map(|(id, _)| id.clone()).collect(),
            sorted: sorter.finish().map_err(io)?,
        })
    }
}

impl Expected for MemExpected<'_> {
    fn total(&self) -> u64 {
        self.files.len() as u64
    }

    fn shards(&self) -> &[String] {
        &self.shards
    }

    fn records(&mut self) -> std::io::Result<&mut Sorted> {
        self.sorted.rewind()?;
        Ok(&mut self.sorted)
    }

    fn describe(&mut self, locators: &[u64]) -> Result<Vec<(String, Option<String>)>> {
        Ok(locators
            .iter()
            .map(|&l| {
                self.files
                    .get(l as usize)
                    .map(|(n, o)| ((*n).clone(), (*o).clone()))
                    .unwrap_or_default()
            })
            .collect())
    }
}

/// The names in the batch listing, as sorted keys (on disk when many).
fn listing(api: &BatchApi, batch_id: &str) -> Result<Sorted> {
    let io = |e| Error::io("sorting the batch listing", e);
    let mut keys = Sorter::new(LISTING_MEMORY);
    for f in api.files(batch_id, None, None) {
        keys.push(&name_key(&f?.file_name)).map_err(io)?;
    }
    keys.finish().map_err(io)
}

/// Bytes of the batch listing's keys sorted in memory before they spill.
const LISTING_MEMORY: usize = 4 << 20;

/// One look at the batch: how many expected files are there, how many are missing with
/// no reason yet, and the files that failed (by locator) with their reasons.
#[derive(Default)]
struct Tally {
    indexed: u64,
    unexplained: u64,
    failed: Vec<(u64, String)>,
}

/// Where the service's reasons for failed files come from, by how a file was sent.
#[derive(Default)]
struct Reasons {
    /// A watched shard failed whole: every file it carried.
    units: HashMap<u32, String>,
    /// A watched shard failed these files.
    names: HashMap<[u8; 16], String>,
    /// Other shards failed these files: a reason only for a file in no watched shard (a
    /// references ingest answered without `shardIds`).
    unwatched: HashMap<[u8; 16], String>,
}

/// Merges the expected records with the listing's keys.
fn tally(
    records: &mut Sorted,
    present: &mut Sorted,
    reasons: &Reasons,
    timeout: Option<&str>,
) -> std::io::Result<Tally> {
    let failed_units = &reasons.units;
    let mut t = Tally::default();
    let (mut rec, mut key) = (Vec::new(), Vec::new());
    let mut have_key = present.next_into(&mut key)?;
    let mut more = records.next_into(&mut rec)?;
    while more {
        let (name, unit, locator) = parse(&rec)?;
        let mut why = failed_units.get(&unit).cloned();
        let mut unwatched = unit == NO_UNIT;
        // Later records of the same name: its other units.
        loop {
            more = records.next_into(&mut rec)?;
            if !more {
                break;
            }
            let (next, unit, _) = parse(&rec)?;
            if next != name {
                break;
            }
            if why.is_none() {
                why = failed_units.get(&unit).cloned();
            }
            unwatched |= unit == NO_UNIT;
        }
        while have_key && key.as_slice() < name.as_slice() {
            have_key = present.next_into(&mut key)?;
        }
        if have_key && key.as_slice() == name.as_slice() {
            t.indexed += 1;
            continue;
        }
        let why = why
            .or_else(|| reasons.names.get(&name).cloned())
            .or_else(|| {
                unwatched
                    .then(|| reasons.unwatched.get(&name).cloned())
                    .flatten()
            });
        match why {
            Some(why) => t.failed.push((locator, why)),
            None => {
                t.unexplained += 1;
                if let Some(why) = timeout {
                    t.failed.push((locator, why.to_string()));
                }
            }
        }
    }
    Ok(t)
}

/// Verification over any [`Expected`] set.
pub(crate) fn verify(
    api: &BatchApi,
    batch_id: &str,
    expected: &mut dyn Expected,
    wait: &WaitOptions,
    progress: &ProgressFn,
) -> Result<(Verification, Vec<FailedFile>)> {
    let io = |e| Error::io("verifying the ingest", e);
    let clock = api.clock();
    let start = clock.monotonic();
    let limit = wait.timeout;
    let floor = WaitOptions::MIN_POLL_INTERVAL;
    let mut interval = wait.poll_interval.max(floor);
    let total = expected.total();
    let watched: HashMap<String, u32> = expected
        .shards()
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i as u32))
        .collect();
    // Files in no watched shard (a references ingest answered without `shardIds`) still
    // missing after a look at the batch are looked for in the other shards' failures, or
    // they would wait for the timeout though the service said why.
    let mut scan_all = false;
    loop {
        let mut reasons = Reasons::default();
        if scan_all {
            unwatched_failures(api, batch_id, &watched, &mut reasons.unwatched);
        }
        let mut waiting = 0usize;
        if !watched.is_empty() {
            let mut seen: HashSet<u32> = HashSet::new();
            for s in api.shards(batch_id, None) {
                let s = s?;
                let Some(&unit) = watched.get(&s.shard_id) else {
                    continue;
                };
                if !seen.insert(unit) {
                    continue;
                }
                if s.is_in_progress() {
                    waiting += 1;
                } else if s.is_failed() {
                    reasons.units.insert(unit, shard_reason(&s));
                } else {
                    for (n, why) in file_failures(&s) {
                        reasons.names.entry(name_key(&n)).or_insert(why);
                    }
                }
            }
            waiting += watched.len() - seen.len();
        }
        let batch_count = api.batch_count(batch_id, None)?;
        let waited = clock.monotonic().saturating_sub(start);
        let timed_out = waited >= limit;
        if waiting == 0 || timed_out {
            let mut present = listing(api, batch_id)?;
            let timeout = format!(
                "not in the batch after {:.0} s of verification",
                waited.as_secs_f64()
            );
            let t = tally(
                expected.records().map_err(io)?,
                &mut present,
                &reasons,
                timed_out.then_some(timeout.as_str()),
            )
            .map_err(io)?;
            drop(present);
            scan_all = t.unexplained > 0;
            progress(&IngestEvent::Verifying {
                indexed: t.indexed,
                expected: total,
            });
            if t.unexplained == 0 || timed_out {
                let failed = describe(expected, t.failed)?;
                for f in &failed {
                    progress(&IngestEvent::IndexFailed(f.clone()));
                }
                let v = Verification {
                    indexed: t.indexed,
                    expected: total - failed.len() as u64,
                    batch_count,
                    complete: failed.is_empty(),
                    timed_out: timed_out && t.unexplained > 0,
                    waited,
                };
                return Ok((v, failed));
            }
        } else {
            progress(&IngestEvent::Verifying {
                indexed: batch_count.min(total),
                expected: total,
            });
        }
        // The last poll happens at the deadline.
        clock.sleep(interval.min(limit - waited).max(floor));
        interval = (interval + interval / 2).min(wait.max_interval).max(floor);
    }
}

/// The per-file failures of the batch's settled shards that are not watched. Best
/// effort: a service that cannot list shards here (a batch of single uploads) leaves the
/// files to wait.
fn unwatched_failures(
    api: &BatchApi,
    batch_id: &str,
    watched: &HashMap<String, u32>,
    out: &mut HashMap<[u8; 16], String>,
) {
    for s in api.shards(batch_id, None) {
        let Ok(s) = s else {
            return;
        };
        if !s.is_in_progress() && !watched.contains_key(&s.shard_id) {
            for (n, why) in file_failures(&s) {
                out.entry(name_key(&n)).or_insert(why);
            }
        }
    }
}

/// The failed files with their names and origins, sorted by name.
fn describe(
    expected: &mut dyn Expected,
    mut failed: Vec<(u64, String)>,
) -> Result<Vec<FailedFile>> {
    failed.sort_by_key(|(l, _)| *l);
    failed.dedup_by_key(|(l, _)| *l);
    let locators: Vec<u64> = failed.iter().map(|(l, _)| *l).collect();
    let named = expected.describe(&locators)?;
    let mut out: Vec<FailedFile> = named
        .into_iter()
        .zip(failed)
        .map(|((name, path), (_, reason))| FailedFile {
            name,
            path,
            stage: FailureStage::Indexing,
            reason,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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

/// Per-file failures in a shard's metadata: `failedFiles` (or `failed_files`) entries with
/// a `fileName` and a `reason` or `type`.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(recs: &[&[u8]]) -> Sorted {
        let mut s = Sorter::new(64);
        for r in recs {
            s.push(r).unwrap();
        }
        s.finish().unwrap()
    }

    #[test]
    fn the_merge_counts_present_files_and_explains_missing_ones() {
        let mut e = ExpectedFiles::default();
        for n in [
            "here.jpg",
            "twice.jpg",
            "in-failed-shard.jpg",
            "refused.jpg",
            "lost.jpg",
        ] {
            e.file(n, Some(format!("/src/{n}")));
        }
        e.shard("ok", vec!["twice.jpg".into(), "refused.jpg".into()]);
        e.shard(
            "bad",
            vec!["twice.jpg".into(), "in-failed-shard.jpg".into()],
        );
        let mut mem = MemExpected::new(&e).unwrap();
        assert_eq!(mem.total(), 5);
        // The listing names some files twice, and files nobody expects.
        let listed = ["twice.jpg", "here.jpg", "other.jpg", "here.jpg"].map(name_key);
        let mut present = sorted(&listed.iter().map(|k| k.as_slice()).collect::<Vec<_>>());
        let why = Reasons {
            units: HashMap::from([(1u32, "shard bad failed: corrupt".to_string())]),
            names: HashMap::from([(name_key("refused.jpg"), "too big".to_string())]),
            unwatched: HashMap::new(),
        };
        let t = tally(mem.records().unwrap(), &mut present, &why, None).unwrap();
        // `twice.jpg` is present although one of its shards failed.
        assert_eq!((t.indexed, t.unexplained), (2, 1));
        let mut reasons: Vec<_> = mem
            .describe(&t.failed.iter().map(|f| f.0).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .zip(t.failed.iter().map(|f| f.1.as_str()))
            .map(|((n, o), r)| (n, o.unwrap(), r.to_string()))
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                (
                    "in-failed-shard.jpg".into(),
                    "/src/in-failed-shard.jpg".into(),
                    "shard bad failed: corrupt".into()
                ),
                (
                    "refused.jpg".into(),
                    "/src/refused.jpg".into(),
                    "too big".into()
                ),
            ]
        );
        // At the timeout, the unexplained file fails too.
        present.rewind().unwrap();
        let t = tally(mem.records().unwrap(), &mut present, &why, Some("late")).unwrap();
        assert_eq!(t.failed.len(), 3);
        assert!(t.failed.iter().any(|f| f.1 == "late"));
    }

    /// A service listing `a.png`, its shard `s1`, and a shard `s9` that no ingest named,
    /// which failed `gone.png` and `late.png`.
    fn shards_service() -> BatchApi {
        use crate::transport::{HttpRequest, HttpResponse, TransportError};
        let service = |req: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
            let path = req.url.split('?').next().unwrap_or("").to_string();
            let body = if path.ends_with("/count") {
                r#"{"count": 1}"#
            } else if path.ends_with("/list") {
                r#"{"filesMetadata": [{"downloadURL": "http://s/a", "fileName": "a.png",
                    "contentType": "image/png"}], "nextPageToken": null}"#
            } else if path.ends_with("/shards") {
                r#"{"shards": [{"shardId": "s1", "statusName": "shard-ingested",
                    "statusType": "success", "eventTimestamp": "2025-01-02T03:04:05Z",
                    "shardObjectsCount": 1},
                    {"shardId": "s9", "statusName": "shard-ingested",
                    "statusType": "success", "eventTimestamp": "2025-01-02T03:04:05Z",
                    "shardObjectsCount": 1, "statusMetadata": {"failedFiles": [
                    {"fileName": "gone.png", "type": "file-download-failed", "reason": "HTTP 404"},
                    {"fileName": "late.png", "type": "file-download-failed", "reason": "HTTP 404"}]}}]}"#
            } else {
                return Ok(HttpResponse::json(404, "{}"));
            };
            Ok(HttpResponse::json(200, body))
        };
        // A clock that advances only by what is slept: no real time passes.
        let elapsed = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let (e1, e2) = (elapsed.clone(), elapsed);
        let clock = crate::api::Clock::system()
            .sleep_fn(move |d| *e1.lock().unwrap() += d)
            .monotonic_fn(move || *e2.lock().unwrap());
        BatchApi::builder()
            .base_url("http://service.test")
            .api_key("k")
            .workspace("ws")
            .clock(clock)
            .transport(service)
            .build()
            .unwrap()
    }

    /// A references ingest answered without `shardIds`: the failure of a reference is
    /// found in the batch's other shards, not after the timeout; that shard's failures
    /// explain only files that no watched shard carried.
    #[test]
    fn files_in_no_watched_shard_find_their_failures_in_the_others() {
        let api = shards_service();
        // Without the scan this would wait out the timeout.
        let wait = crate::ingest::default_verify_options();
        let verify = |e: &ExpectedFiles| {
            verify_ingest(&api, "b", e, &wait, &crate::ingest::no_progress()).unwrap()
        };
        let mut e = ExpectedFiles::default();
        e.file("a.png", None);
        e.file("gone.png", Some("http://bucket/gone.png".into()));
        let (v, failed) = verify(&e);
        assert_eq!((v.indexed, v.timed_out), (1, false), "{v:?}");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, "gone.png");
        assert_eq!(failed[0].reason, "file-download-failed: HTTP 404");
        // `late.png` went in the watched shard `s1`, which failed nothing: s9's word about
        // it does not count, and it is missing at the timeout.
        e.file("late.png", None);
        e.shard("s1", vec!["a.png".into(), "late.png".into()]);
        let (v, failed) = verify(&e);
        assert!(v.timed_out, "{v:?}");
        let reasons: Vec<(&str, &str)> = failed
            .iter()
            .map(|f| (f.name.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(reasons[0], ("gone.png", "file-download-failed: HTTP 404"));
        assert_eq!(reasons[1].0, "late.png");
        assert!(
            reasons[1].1.starts_with("not in the batch after"),
            "{reasons:?}"
        );
    }

    #[test]
    fn failures_from_the_sandbox_and_snake_case_forms() {
        let s: ShardDetails = serde_json::from_str(
            r#"{"shardId":"s1","statusName":"shard-ingested","statusType":"success",
                "eventTimestamp":"2025-01-02T03:04:05Z","shardObjectsCount":1,
                "statusMetadata":{"ingestedFiles":1,"failedFiles":[
                  {"fileName":"bad.jpg","type":"unsupported-file-type","reason":"not a recognised image format"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            file_failures(&s),
            [(
                "bad.jpg".to_string(),
                "unsupported-file-type: not a recognised image format".to_string()
            )]
        );
        let mut s2 = s.clone();
        s2.status_metadata = Some(
            serde_json::json!({"failed_files": [{"file_name": "x.png", "reason": "too big"}]}),
        );
        assert_eq!(
            file_failures(&s2),
            [("x.png".to_string(), "too big".to_string())]
        );
        s2.status_metadata = Some(serde_json::json!({"reason": "not a tar"}));
        assert_eq!(shard_reason(&s2), "shard s1 failed: not a tar");
    }
}
