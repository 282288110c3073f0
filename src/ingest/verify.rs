//! Verification: after the uploads, poll the shards' statuses and the batch until every
//! expected file is indexed (or the service has said why not), within a timeout measured
//! on the client's injected [`Clock`](crate::api::Clock).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::progress::{IngestEvent, ProgressFn};
use super::report::{FailedFile, FailureStage, Verification};
use crate::BatchApi;
use crate::error::Result;
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
        .with_poll_interval(Duration::from_millis(500))
        .with_max_interval(Duration::from_secs(5))
        .with_timeout(DEFAULT_VERIFY_TIMEOUT)
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
    let clock = api.clock();
    let start = clock.monotonic();
    let limit = wait.timeout;
    let floor = WaitOptions::MIN_POLL_INTERVAL;
    let mut interval = wait.poll_interval.max(floor);
    let total = expected.files.len() as u64;
    loop {
        let mut rejected: HashMap<String, String> = HashMap::new();
        let mut waiting = 0usize;
        if !expected.shards.is_empty() {
            let listed: HashMap<String, ShardDetails> = api
                .shards(batch_id, None)
                .map(|s| s.map(|s| (s.shard_id.clone(), s)))
                .collect::<Result<_>>()?;
            for (id, names) in &expected.shards {
                match listed.get(id) {
                    None => waiting += 1,
                    Some(s) if s.is_in_progress() => waiting += 1,
                    Some(s) if s.is_failed() => {
                        let why = shard_reason(s);
                        for n in names {
                            rejected.entry(n.clone()).or_insert_with(|| why.clone());
                        }
                    }
                    Some(s) => {
                        for (n, why) in file_failures(s) {
                            if expected.files.contains_key(&n) {
                                rejected.entry(n).or_insert(why);
                            }
                        }
                    }
                }
            }
        }
        let batch_count = api.batch_count(batch_id, None)?;
        let waited = clock.monotonic().saturating_sub(start);
        let timed_out = waited >= limit;
        if waiting == 0 || timed_out {
            let present: HashSet<String> = api
                .files(batch_id, None, None)
                .map(|f| f.map(|f| f.file_name))
                .collect::<Result<_>>()?;
            let indexed = expected
                .files
                .keys()
                .filter(|n| present.contains(*n))
                .count() as u64;
            progress(&IngestEvent::Verifying {
                indexed,
                expected: total,
            });
            let unexplained = expected
                .files
                .keys()
                .filter(|n| !present.contains(*n) && !rejected.contains_key(*n))
                .count();
            if unexplained == 0 || timed_out {
                let failed = failures(
                    expected,
                    &present,
                    &rejected,
                    waited,
                    timed_out && unexplained > 0,
                );
                for f in &failed {
                    progress(&IngestEvent::IndexFailed(f.clone()));
                }
                let v = Verification {
                    indexed,
                    expected: total - failed.len() as u64,
                    batch_count,
                    complete: failed.is_empty(),
                    timed_out: timed_out && unexplained > 0,
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

fn failures(
    expected: &ExpectedFiles,
    present: &HashSet<String>,
    rejected: &HashMap<String, String>,
    waited: Duration,
    timed_out: bool,
) -> Vec<FailedFile> {
    let mut out: Vec<FailedFile> = expected
        .files
        .iter()
        .filter(|(n, _)| !present.contains(*n))
        .filter_map(|(n, origin)| {
            let reason = match rejected.get(n) {
                Some(why) => why.clone(),
                None if timed_out => format!(
                    "not in the batch after {:.0} s of verification",
                    waited.as_secs_f64()
                ),
                None => return None,
            };
            Some(FailedFile {
                name: n.clone(),
                path: origin.clone(),
                stage: FailureStage::Indexing,
                reason,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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
