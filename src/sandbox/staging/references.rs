//! Pulling references: a few workers fetch URLs round-robin across ingests, so a large one
//! holds up neither the API nor others; each file gets a tar member's checks. Only allowed
//! hosts, no redirects; a pending ingest starts over on restart.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::config::StoreMode;
use super::super::egress::{agent, check_host};
use super::super::state::{State, background};
use super::super::store::{FileRec, Indexed, NewFile, ShardSource, failed, layout};
use super::ingests::{check_reference, limits};
use crate::error::Result;
use crate::model::{FailedFile, FileReference};
use crate::sync::lock;

const WORKERS: usize = 4;
/// The largest JSONL list of references fetched.
const MAX_LIST_BYTES: u64 = 64 << 20;
/// How often idle workers look for new ingests.
const IDLE: Duration = Duration::from_millis(20);

/// One reference: to fetch, or already failed (a bad line of a list); then its outcome.
type Outcome = std::result::Result<FileRec, FailedFile>;
type Entry = std::result::Result<FileReference, FailedFile>;

/// One references ingest (one shard) being fetched.
struct Run {
    batch: String,
    shard: String,
    source: ShardSource,
    /// Taken by the worker that reads the references.
    loading: AtomicBool,
    refs: OnceLock<Vec<Entry>>,
    /// The next reference to claim.
    next: AtomicUsize,
    /// References not yet fetched; the worker that fetches the last one concludes the run.
    remaining: AtomicUsize,
    results: Mutex<Vec<Option<Outcome>>>,
}

impl Run {
    fn videos(&self) -> bool {
        matches!(self.source, ShardSource::References { videos: true, .. })
    }
}

/// What a worker does next.
enum Job {
    Load(Arc<Run>),
    Fetch(Arc<Run>, usize),
}

/// The ingests being fetched, shared by the workers.
#[derive(Default)]
struct Pool {
    runs: Mutex<Vec<Arc<Run>>>,
    turn: AtomicUsize,
    scanned: Mutex<Option<Instant>>,
}

impl Pool {
    /// Takes in the ingests that wait, every [`IDLE`] at most.
    fn adopt(&self, state: &State) {
        let mut scanned = lock(&self.scanned);
        if scanned.is_some_and(|t| t.elapsed() < IDLE) {
            return;
        }
        *scanned = Some(Instant::now());
        // Under the pool's lock: a run concluded meanwhile is then either still in the
        // pool, or no longer waiting; it is never taken twice.
        let mut runs = lock(&self.runs);
        for (batch, shard, source) in super::shards::waiting(state, true) {
            if runs.iter().all(|r| r.shard != shard) {
                runs.push(Arc::new(Run {
                    batch,
                    shard,
                    source,
                    loading: AtomicBool::new(false),
                    refs: OnceLock::new(),
                    next: AtomicUsize::new(0),
                    remaining: AtomicUsize::new(0),
                    results: Mutex::new(Vec::new()),
                }));
            }
        }
    }

    /// The next job, taking the ingests in turn.
    fn next(&self) -> Option<Job> {
        let runs = lock(&self.runs);
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        (0..runs.len()).find_map(|k| {
            let run = &runs[(start + k) % runs.len()];
            match run.refs.get() {
                None if !run.loading.swap(true, Ordering::SeqCst) => Some(Job::Load(run.clone())),
                None => None,
                Some(refs) => {
                    let i = run.next.fetch_add(1, Ordering::SeqCst);
                    (i < refs.len()).then(|| Job::Fetch(run.clone(), i))
                }
            }
        })
    }

    /// Ends a run: its files are indexed and its shard concluded.
    fn conclude(&self, state: &State, run: &Arc<Run>, outcomes: Result<Vec<Outcome>, String>) {
        let mut out = Indexed::default();
        match outcomes {
            Err(why) => out.error = Some(why),
            Ok(outcomes) => {
                for o in outcomes {
                    o.map_or_else(|f| out.failed.push(f), |f| out.files.push(f));
                }
            }
        }
        if out.error.is_none() && out.files.is_empty() {
            let first = out.failed.first();
            let first = first.map(|f| format!(" (first failure: {}: {})", f.file_name, f.reason));
            let first = first.unwrap_or_default();
            out.error = Some(format!("no reference could be ingested{first}"));
        }
        super::shards::conclude(state, &run.batch, &run.shard, &run.source, out);
        lock(&self.runs).retain(|r| !Arc::ptr_eq(r, run));
    }
}

/// Starts the workers; they also take the ingests a previous run left pending.
pub(crate) fn start(state: &Arc<State>, stopping: &Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>> {
    let pool = Arc::new(Pool::default());
    (0..WORKERS)
        .map(|i| {
            let (st, pool) = (state.clone(), pool.clone());
            let agent = agent(Duration::from_secs(30), Duration::from_secs(600));
            let name = format!("sandbox-fetch-{i}");
            background(&name, stopping, IDLE, move || work(&st, &pool, &agent))
        })
        .collect()
}

/// One step of a worker: reads an ingest's references, or fetches one of them; false
/// when there was nothing to do.
fn work(state: &State, pool: &Pool, agent: &ureq::Agent) -> bool {
    pool.adopt(state);
    match pool.next() {
        None => return false,
        Some(Job::Load(run)) => match load(state, agent, &run) {
            Ok(refs) => {
                *lock(&run.results) = vec![None; refs.len()];
                run.remaining.store(refs.len(), Ordering::SeqCst);
                let _ = run.refs.set(refs);
            }
            Err(why) => pool.conclude(state, &run, Err(why)),
        },
        Some(Job::Fetch(run, i)) => {
            let outcome = match run.refs.get().and_then(|refs| refs.get(i)) {
                None => return true,
                Some(Err(f)) => Err(f.clone()),
                Some(Ok(r)) => crate::panics::contain(|| fetch_one(state, agent, &run, r))
                    .unwrap_or_else(|panic| Err(failed("internal-error", &r.name, panic))),
            };
            lock(&run.results)[i] = Some(outcome);
            if run.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                let results = std::mem::take(&mut *lock(&run.results));
                pool.conclude(state, &run, Ok(results.into_iter().flatten().collect()));
            }
        }
    }
    true
}

/// The run's references, from its file or its list's URL.
fn load(state: &State, agent: &ureq::Agent, run: &Run) -> std::result::Result<Vec<Entry>, String> {
    let ShardSource::References {
        refs_file,
        list_url,
        ..
    } = &run.source
    else {
        return Err("not a references ingest".into());
    };
    let text = match (refs_file, list_url) {
        (Some(rel), _) => std::fs::read_to_string(state.data_dir.join(rel))
            .map_err(|e| format!("the ingest's references could not be read: {e}"))?,
        (None, Some(url)) => fetch_list(state, agent, url)?,
        (None, None) => return Err("the ingest has no references".into()),
    };
    let refs = parse_list(&text, run.videos())?;
    if refs.is_empty() {
        return Err("the references list is empty".into());
    }
    Ok(refs)
}

type Response = ureq::http::Response<ureq::Body>;

/// GETs `url`, from a host the configuration allows; the error is a failure type and why.
fn get(state: &State, agent: &ureq::Agent, url: &str) -> Result<Response, (&'static str, String)> {
    check_host(url, &state.config.fetch_allow).map_err(|why| ("unsafe-url-detected", why))?;
    let resp = agent.get(url).call().map_err(|e| {
        // Its text may quote the URL, which may be signed.
        let why = e.to_string().replace(url, &crate::redact::redact_url(url));
        ("file-download-failed", format!("cannot fetch: {why}"))
    })?;
    let status = resp.status().as_u16();
    let why = match status {
        200 => return Ok(resp),
        403 => "HTTP 403 Forbidden (an expired or invalid signature?)".into(),
        404 => "HTTP 404 Not Found".into(),
        300..=399 => format!("HTTP {status} (redirects are not followed)"),
        s => format!("HTTP {s}"),
    };
    Err(("file-download-failed", why))
}

fn fetch_list(state: &State, agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let shown = crate::redact::redact_url(url);
    let failed = |(_, why)| format!("the references list {shown}: {why}");
    let body = get(state, agent, url).map_err(failed)?.into_body();
    let mut text = String::new();
    let read = body
        .into_reader()
        .take(MAX_LIST_BYTES + 1)
        .read_to_string(&mut text);
    read.map_err(|e| format!("the references list {shown} could not be read: {e}"))?;
    if text.len() as u64 > MAX_LIST_BYTES {
        return Err(format!(
            "the references list {shown} is larger than {MAX_LIST_BYTES} bytes"
        ));
    }
    Ok(text)
}

/// The references of a JSONL list: a bad line becomes a failed file, too many lines fail
/// the whole ingest.
fn parse_list(text: &str, videos: bool) -> std::result::Result<Vec<Entry>, String> {
    let (max, noun) = limits(videos);
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
        out.push(match serde_json::from_str::<FileReference>(line) {
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
                Ok(()) if !seen.insert(r.name.clone()) => {
                    let why = format!("{:?} {at} repeats an earlier name", r.name);
                    Err(failed("duplicate-name", &r.name, why))
                }
                Ok(()) => Ok(r),
            },
        });
    }
    Ok(out)
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
    let (name, videos, c) = (r.name.as_str(), run.videos(), &state.config);
    let (limit, what) = if videos {
        (c.max_video_size, "video")
    } else {
        (c.max_image_size, "image")
    };
    let download_failed = |why: String| failed("file-download-failed", name, why);
    let too_big = |n: &str| {
        let why = format!("{n} bytes is over the {limit} byte limit for one {what}");
        failed("file-size-limit-exceeded", name, why)
    };
    let resp = get(state, agent, &r.url).map_err(|(kind, why)| failed(kind, name, why))?;
    let header = |h: &str| resp.headers().get(h)?.to_str().ok().map(str::to_string);
    if let Some(len) = header("content-length").and_then(|l| l.trim().parse::<u64>().ok())
        && len > limit
    {
        return Err(too_big(&len.to_string()));
    }
    let content_type = header("content-type").unwrap_or_default();
    let mut body = resp.into_body().into_reader().take(limit.saturating_add(1));
    let mut head = Vec::with_capacity(256);
    let reading_failed =
        |e: std::io::Error| download_failed(format!("reading the body failed: {e}"));
    (&mut body)
        .take(256)
        .read_to_end(&mut head)
        .map_err(reading_failed)?;
    let recognised = if videos {
        looks_like_video(&head) || content_type.starts_with("video/")
    } else {
        super::looks_like_image(&head[..head.len().min(64)])
    };
    if !recognised {
        let ct = Some(content_type.as_str()).filter(|c| !c.is_empty());
        let ct = ct.unwrap_or("none");
        let why = format!("not a recognised {what} format (Content-Type: {ct})");
        return Err(failed("unsupported-file-type", name, why));
    }
    let storing_failed =
        |e: std::io::Error| download_failed(format!("storing the file failed: {e}"));
    let discarded = c.store == StoreMode::Discard;
    // Placed only once whole and within the limit: a failed fetch never replaces (or
    // deletes) a file of the same name fetched before.
    let mut file = (!discarded)
        .then(|| NewFile::create(&state.data_dir, name))
        .transpose()
        .map_err(storing_failed)?;
    let copied = match &mut file {
        Some(f) => f
            .out
            .write_all(&head)
            .and_then(|()| std::io::copy(&mut body, &mut f.out))
            .map_err(storing_failed),
        None => std::io::copy(&mut body, &mut std::io::sink()).map_err(reading_failed),
    };
    let size = head.len() as u64 + copied?;
    if size > limit {
        return Err(too_big(&format!("more than {limit}")));
    }
    let path = match file {
        None => String::new(),
        Some(f) => {
            let rel = layout::file(&run.batch, name);
            f.place(&state.data_dir.join(&rel))
                .map_err(storing_failed)?;
            rel
        }
    };
    let shard_id = Some(run.shard.clone());
    Ok(FileRec {
        shard_id,
        ..FileRec::new(name.to_string(), size, path)
    })
}
