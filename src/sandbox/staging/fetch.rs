//! Pulling references: a small pool of workers fetches every referenced URL (and the JSONL
//! list of a `…ReferencesURL`) and indexes each file as if it had been uploaded, with the
//! same checks as a tar member (image type, size limit).
//!
//! Ingests are served round-robin, one reference at a time, so a large ingest neither
//! blocks the API (the workers are not request threads) nor other ingests. Fetches go only
//! to hosts that [`check_host`] allows (loopback, or `fetch_allow`), follow no redirect,
//! and time out. An ingest still pending when the sandbox stops starts over on restart.

use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::State;
use super::fetch_one::{describe, fetch_one, scrub};
use super::ingest::{check_reference, max_references};
use super::store::{FileRec, ShardSource, ShardState};
use super::tarindex::{Indexed, failed};
use crate::error::{Error, Result};
use crate::model::{BatchContentType, FailedFile, FileReference};
use crate::sandbox::egress::check_host;

/// Fetch workers.
const WORKERS: usize = 4;
/// The largest JSONL list of references fetched.
const MAX_LIST_BYTES: u64 = 64 << 20;

/// One reference of a run: to fetch, or already failed (a bad line of a list).
type Entry = std::result::Result<FileReference, FailedFile>;
type Outcome = std::result::Result<FileRec, FailedFile>;

/// Where a run's references are.
enum Refs {
    /// Not read yet.
    Pending,
    /// A worker is reading them (a list URL can take a while).
    Loading,
    Ready(Arc<Vec<Entry>>),
}

/// One references ingest (one shard) being fetched.
pub(super) struct Run {
    pub(super) batch: String,
    pub(super) shard: String,
    pub(super) source: ShardSource,
    refs: Mutex<Refs>,
    /// The next reference to claim.
    next: AtomicUsize,
    /// References not yet settled; the worker that settles the last one finishes the run.
    remaining: AtomicUsize,
    results: Mutex<Vec<Option<Outcome>>>,
}

/// The runs waiting for a worker.
#[derive(Default)]
pub(crate) struct FetchQueue {
    runs: Mutex<VecDeque<Arc<Run>>>,
    more: Condvar,
}

impl FetchQueue {
    /// Queues the fetching of shard `shard` of `batch`.
    pub fn push(&self, batch: &str, shard: &str, source: &ShardSource) {
        let run = Arc::new(Run {
            batch: batch.to_string(),
            shard: shard.to_string(),
            source: source.clone(),
            refs: Mutex::new(Refs::Pending),
            next: AtomicUsize::new(0),
            remaining: AtomicUsize::new(0),
            results: Mutex::new(Vec::new()),
        });
        self.requeue(run);
    }

    fn requeue(&self, run: Arc<Run>) {
        lock(&self.runs).push_back(run);
        self.more.notify_one();
    }

    /// The next run, waiting a little for one.
    fn next(&self) -> Option<Arc<Run>> {
        let mut runs = lock(&self.runs);
        if runs.is_empty() {
            runs = self
                .more
                .wait_timeout(runs, Duration::from_millis(50))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        runs.pop_front()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the workers, after queueing the references ingests a previous run left pending.
pub(super) fn start(state: &Arc<State>, stopping: Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>> {
    let pending: Vec<(String, String, ShardSource)> = {
        let inner = state.lock();
        inner
            .staging
            .batches
            .values()
            .flat_map(|b| {
                b.shards
                    .iter()
                    .filter(|s| s.state == ShardState::Indexing && fetchable(&s.source))
                    .map(|s| (b.id.clone(), s.id.clone(), s.source.clone()))
            })
            .collect()
    };
    for (batch, shard, source) in pending {
        state.fetch_queue().push(&batch, &shard, &source);
    }
    (0..WORKERS)
        .map(|i| {
            let (st, stop) = (state.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(format!("sandbox-fetch-{i}"))
                .spawn(move || worker(&st, &stop))
                .map_err(|e| Error::io("starting a fetch worker", e))
        })
        .collect()
}

/// Whether the fetch workers own this shard (else the indexer settles it).
pub(crate) fn fetchable(source: &ShardSource) -> bool {
    matches!(
        source,
        ShardSource::References { query: None, refs_file, list_url, .. }
            if refs_file.is_some() || list_url.is_some()
    )
}

fn worker(state: &State, stopping: &AtomicBool) {
    // Redirects off, no proxy; a stalled server cannot hold a worker for long.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .user_agent("rfbatch-sandbox")
        .build()
        .into();
    let queue = state.fetch_queue();
    while !stopping.load(Ordering::SeqCst) {
        let Some(run) = queue.next() else {
            continue;
        };
        let refs = match ready(state, &agent, &run) {
            Ok(Some(refs)) => refs,
            Ok(None) => {
                // Another worker is reading the list.
                queue.requeue(run);
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(why) => {
                settle(state, &run, Vec::new(), Some(why));
                continue;
            }
        };
        let i = run.next.fetch_add(1, Ordering::SeqCst);
        let Some(entry) = refs.get(i) else {
            continue; // every reference is claimed: the run leaves the queue
        };
        if i + 1 < refs.len() {
            queue.requeue(run.clone());
        }
        let outcome = match entry {
            Err(f) => Err(f.clone()),
            Ok(r) => crate::sandbox::panics::contain(|| fetch_one(state, &agent, &run, r))
                .unwrap_or_else(|panic| Err(failed("internal-error", &r.name, panic))),
        };
        if let Some(slot) = lock(&run.results).get_mut(i) {
            *slot = Some(outcome);
        }
        if run.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            let results = std::mem::take(&mut *lock(&run.results));
            settle(state, &run, results.into_iter().flatten().collect(), None);
        }
    }
}

/// The run's references: `Ok(None)` while another worker reads them, `Err` when they
/// cannot be read (the whole ingest fails).
fn ready(
    state: &State,
    agent: &ureq::Agent,
    run: &Run,
) -> std::result::Result<Option<Arc<Vec<Entry>>>, String> {
    {
        let mut refs = lock(&run.refs);
        match &*refs {
            Refs::Ready(r) => return Ok(Some(r.clone())),
            Refs::Loading => return Ok(None),
            Refs::Pending => *refs = Refs::Loading,
        }
    }
    let ShardSource::References {
        refs_file,
        list_url,
        videos,
        ..
    } = &run.source
    else {
        return Err("not a references ingest".into());
    };
    let kind = if *videos {
        BatchContentType::Videos
    } else {
        BatchContentType::Images
    };
    let text = match (refs_file, list_url) {
        (Some(rel), _) => std::fs::read_to_string(state.data_dir().join(rel))
            .map_err(|e| format!("the ingest's references could not be read: {e}"))?,
        (None, Some(url)) => fetch_list(state, agent, url)?,
        (None, None) => return Err("the ingest has no references".into()),
    };
    let entries = parse_list(&text, &kind)?;
    if entries.is_empty() {
        return Err("the references list is empty".into());
    }
    let entries = Arc::new(entries);
    *lock(&run.results) = vec![None; entries.len()];
    run.remaining.store(entries.len(), Ordering::SeqCst);
    *lock(&run.refs) = Refs::Ready(entries.clone());
    Ok(Some(entries))
}

/// Fetches a JSONL list of references.
fn fetch_list(
    state: &State,
    agent: &ureq::Agent,
    url: &str,
) -> std::result::Result<String, String> {
    let shown = crate::redact::redact_url(url).to_string();
    check_host(url, &state.config().fetch_allow)
        .map_err(|why| format!("the references list {shown} is not fetched: {why}"))?;
    let resp = agent.get(url).call().map_err(|e| {
        format!(
            "the references list {shown} could not be fetched: {}",
            scrub(&e, url)
        )
    })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!(
            "the references list {shown} answered {}",
            describe(status)
        ));
    }
    let mut text = String::new();
    resp.into_body()
        .into_reader()
        .take(MAX_LIST_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("the references list {shown} could not be read: {e}"))?;
    if text.len() as u64 > MAX_LIST_BYTES {
        return Err(format!(
            "the references list {shown} is larger than {MAX_LIST_BYTES} bytes"
        ));
    }
    Ok(text)
}

/// The references of a JSONL list: a bad line becomes a failed file, too many lines fail
/// the whole ingest.
fn parse_list(text: &str, kind: &BatchContentType) -> std::result::Result<Vec<Entry>, String> {
    let noun = super::ingest::noun(kind);
    let max = max_references(kind);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if out.len() == max {
            return Err(format!(
                "the references list holds more than {max} {noun} references"
            ));
        }
        let at = format!("(line {})", n + 1);
        let entry = match serde_json::from_str::<FileReference>(line) {
            Err(e) => {
                // Name the file when the line names one.
                let name = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("name")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("line {}", n + 1));
                Err(failed("invalid-reference", &name, format!("{at}: {e}")))
            }
            Ok(r) => match check_reference(noun, &at, &r) {
                Err(why) => Err(failed("invalid-reference", &r.name, why)),
                Ok(()) if !seen.insert(r.name.clone()) => Err(failed(
                    "duplicate-name",
                    &r.name,
                    format!("{:?} {at} repeats an earlier name", r.name),
                )),
                Ok(()) => Ok(r),
            },
        };
        out.push(entry);
    }
    Ok(out)
}

/// Ends a run: its files are indexed and its shard settled (webhooks included).
fn settle(state: &State, run: &Run, outcomes: Vec<Outcome>, error: Option<String>) {
    let mut out = Indexed {
        error,
        ..Indexed::default()
    };
    for o in outcomes {
        match o {
            Ok(f) => out.files.push(f),
            Err(f) => out.failed.push(f),
        }
    }
    if out.error.is_none() && out.files.is_empty() {
        out.error = Some(match out.failed.first() {
            Some(f) => format!(
                "no reference could be ingested (first failure: {}: {})",
                f.file_name, f.reason
            ),
            None => "no reference could be ingested".into(),
        });
    }
    super::indexer::finish(state, &run.batch, &run.shard, &run.source, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_with_bad_lines_as_failures() {
        let text = "{\"name\": \"a.jpg\", \"url\": \"http://127.0.0.1/a\"}\n\nnot json\n\
                    {\"name\": \"a.jpg\", \"url\": \"http://127.0.0.1/b\"}\n\
                    {\"name\": \"../x\", \"url\": \"http://127.0.0.1/c\"}\n\
                    {\"name\": \"d.jpg\", \"url\": \"ftp://h/d\"}\n";
        let e = parse_list(text, &BatchContentType::Images).unwrap();
        assert_eq!(e.len(), 5);
        assert!(e[0].is_ok());
        let kinds: Vec<&str> = e[1..]
            .iter()
            .map(|x| x.as_ref().unwrap_err().failure_type.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "invalid-reference",
                "duplicate-name",
                "invalid-reference",
                "invalid-reference"
            ]
        );
        let many: String = (0..5001)
            .map(|i| format!("{{\"name\": \"v{i}.mp4\", \"url\": \"http://127.0.0.1/{i}\"}}\n"))
            .collect();
        assert!(
            parse_list(&many, &BatchContentType::Videos)
                .unwrap_err()
                .contains("5000")
        );
    }
}
