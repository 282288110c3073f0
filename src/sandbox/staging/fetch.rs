//! Pulling references: a small pool of workers fetches every referenced URL (and the JSONL
//! list of a `…ReferencesURL`) and indexes each file as if it had been uploaded, with the
//! same checks as a tar member (image type, size limit).
//!
//! Ingests are served round-robin, one reference at a time, so a large ingest neither
//! blocks the API (the workers are not request threads) nor other ingests. Fetches go only
//! to hosts that [`check_host`] allows (loopback, or `fetch_allow`), follow no redirect,
//! and time out. An ingest still pending when the sandbox stops starts over on restart.

use std::collections::{HashSet, VecDeque};
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::State;
use super::ingest::{check_reference, max_references};
use super::store::{FileRec, ShardSource, ShardState, layout};
use super::tarindex::{Indexed, failed};
use crate::error::{Error, Result};
use crate::model::{BatchContentType, FailedFile, FileReference};
use crate::sandbox::StoreMode;
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
struct Run {
    batch: String,
    shard: String,
    source: ShardSource,
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

/// A readable HTTP status.
fn describe(status: u16) -> String {
    match status {
        403 => "HTTP 403 Forbidden (an expired or invalid signature?)".into(),
        404 => "HTTP 404 Not Found".into(),
        300..=399 => format!("HTTP {status} (redirects are not followed)"),
        s => format!("HTTP {s}"),
    }
}

/// An error's text without the URL it may carry (a signed URL is a secret).
fn scrub(e: &ureq::Error, url: &str) -> String {
    e.to_string()
        .replace(url, &crate::redact::redact_url(url).to_string())
}

/// Whether `head` (the first bytes) starts like a video container.
fn looks_like_video(head: &[u8]) -> bool {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    at(4, b"ftyp") // MP4, MOV, 3GP
        || at(0, &[0x1A, 0x45, 0xDF, 0xA3]) // Matroska, WebM
        || (at(0, b"RIFF") && at(8, b"AVI "))
        || at(0, b"FLV")
        || at(0, &[0x00, 0x00, 0x01, 0xBA]) // MPEG program stream
        || (head.first() == Some(&0x47) && head.get(188) == Some(&0x47)) // MPEG-TS
}

/// Fetches one reference and stores (or, in the discard store, counts) it.
fn fetch_one(state: &State, agent: &ureq::Agent, run: &Run, r: &FileReference) -> Outcome {
    let name = r.name.as_str();
    let cfg = state.config();
    let videos = matches!(run.source, ShardSource::References { videos: true, .. });
    let limit = if videos {
        cfg.max_video_size
    } else {
        cfg.max_image_size
    };
    check_host(&r.url, &cfg.fetch_allow).map_err(|why| failed("unsafe-url-detected", name, why))?;
    let resp = agent.get(&r.url).call().map_err(|e| {
        failed(
            "file-download-failed",
            name,
            format!("cannot fetch: {}", scrub(&e, &r.url)),
        )
    })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(failed("file-download-failed", name, describe(status)));
    }
    let too_big = |n: &str| {
        failed(
            "file-size-limit-exceeded",
            name,
            format!(
                "{n} bytes is over the {limit} byte limit for one {}",
                if videos { "video" } else { "image" }
            ),
        )
    };
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(len) = header("content-length").and_then(|l| l.trim().parse::<u64>().ok())
        && len > limit
    {
        return Err(too_big(&len.to_string()));
    }
    let content_type = header("content-type").unwrap_or_default();
    let mut body = resp.into_body().into_reader().take(limit + 1);
    let mut head = Vec::with_capacity(256);
    (&mut body).take(256).read_to_end(&mut head).map_err(|e| {
        failed(
            "file-download-failed",
            name,
            format!("reading the body failed: {e}"),
        )
    })?;
    let recognised = if videos {
        looks_like_video(&head) || content_type.starts_with("video/")
    } else {
        super::looks_like_image(&head[..head.len().min(64)])
    };
    if !recognised {
        let what = if videos { "video" } else { "image" };
        let ct = if content_type.is_empty() {
            "none".to_string()
        } else {
            content_type
        };
        return Err(failed(
            "unsupported-file-type",
            name,
            format!("not a recognised {what} format (Content-Type: {ct})"),
        ));
    }
    let discard = cfg.store == StoreMode::Discard;
    let (size, path) = if discard {
        let rest = std::io::copy(&mut body, &mut std::io::sink()).map_err(|e| {
            failed(
                "file-download-failed",
                name,
                format!("reading the body failed: {e}"),
            )
        })?;
        (head.len() as u64 + rest, String::new())
    } else {
        store(state, &run.batch, name, &head, &mut body).map_err(|e| {
            failed(
                "file-download-failed",
                name,
                format!("storing the file failed: {e}"),
            )
        })?
    };
    if size > limit {
        if !path.is_empty() {
            let _ = std::fs::remove_file(state.data_dir().join(&path));
        }
        return Err(too_big(&format!("more than {limit}")));
    }
    Ok(FileRec {
        name: name.to_string(),
        part: None,
        size,
        shard_id: Some(run.shard.clone()),
        path,
        offset: 0,
        discarded: discard,
    })
}

/// Writes `head` and the rest of `body` to the batch's files; returns the size and path.
fn store(
    state: &State,
    batch: &str,
    name: &str,
    head: &[u8],
    body: &mut impl Read,
) -> std::io::Result<(u64, String)> {
    let tmp = state
        .data_dir()
        .join(layout::tmp(&format!("ref-{}", crate::rand::hex(8))));
    if let Some(dir) = tmp.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let written = (|| {
        let mut out = BufWriter::with_capacity(256 * 1024, std::fs::File::create(&tmp)?);
        out.write_all(head)?;
        let rest = std::io::copy(body, &mut out)?;
        out.flush()?;
        let rel = layout::file(batch, name);
        let dst = state.data_dir().join(&rel);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&tmp, &dst)?;
        Ok((head.len() as u64 + rest, rel))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
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

    #[test]
    fn video_magic() {
        assert!(looks_like_video(b"\0\0\0\x18ftypmp42"));
        assert!(looks_like_video(&[0x1A, 0x45, 0xDF, 0xA3, 1]));
        assert!(looks_like_video(b"RIFF\0\0\0\0AVI LIST"));
        assert!(!looks_like_video(b"<html><body>"));
        assert!(!looks_like_video(b""));
    }
}
