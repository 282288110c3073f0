//! One suite of scenarios run against every source, as object_store runs one suite against
//! every store: a fresh run, a re-run (nothing sent twice), a partial failure, a kill and
//! resume, and a verification failure, for a folder sent as tar shards, a folder sent as
//! single uploads, a JSONL file of references, and a bucket (a fake S3 listing whose signed
//! URLs point at a local file server, which the sandbox fetches from).

mod common;
mod ingest_util;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sandbox::{FileServer, Served};
use ingest_util::{assert_indexed_once, quick_verify};
use roboflow_batch::BatchApi;
use roboflow_batch::api::Clock;
use roboflow_batch::cloud::CloudSource;
use roboflow_batch::ingest::{
    FailureStage, Ingest, IngestMethod, IngestReport, Source, UploadMode,
};
use roboflow_batch::progress::Event;
use roboflow_batch::sandbox::{FaultSettings, Faults, Sandbox, SandboxConfig};
use roboflow_batch::testdata::ImageSet;
use roboflow_batch::transport::{
    Body, HttpRequest, HttpResponse, Method, Transport, UreqTransport,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Shards,
    Singles,
    Refs,
    Bucket,
}

const KINDS: [Kind; 4] = [Kind::Shards, Kind::Singles, Kind::Refs, Kind::Bucket];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shards => "shards",
            Kind::Singles => "singles",
            Kind::Refs => "refs",
            Kind::Bucket => "bucket",
        }
    }

    fn parse(s: &str) -> Kind {
        *KINDS.iter().find(|k| k.name() == s).unwrap()
    }
}

/// Files in every scenario; each unit carries two (shards, chunks) or one (single uploads).
const N: usize = 20;

/// What a scenario's client does besides talking to the sandbox: fail every try of the
/// first unit it sees (a partial failure), or lose a file without a word (its name left
/// out of listings, one less in counts).
#[derive(Default)]
struct Tap {
    fail_first: AtomicBool,
    failing: Mutex<Option<String>>,
    lost: Mutex<Option<String>>,
}

/// The key of the unit a request belongs to: a PUT's URL, an image's name, a chunk's id.
fn unit_key(req: &mut HttpRequest) -> Option<String> {
    let path = req.path().to_string();
    if req.method == Method::Put {
        return Some(path);
    }
    if path.ends_with("/upload/image") {
        return req
            .query()
            .into_iter()
            .find(|(k, _)| k == "fileName")
            .map(|(_, v)| v);
    }
    if path.contains("-references") {
        let bytes = std::mem::replace(&mut req.body, Body::Empty)
            .into_bytes()
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        req.body = Body::Bytes(bytes);
        return body["ingestId"].as_str().map(str::to_string);
    }
    None
}

impl Tap {
    fn send(
        &self,
        inner: &UreqTransport,
        mut req: HttpRequest,
    ) -> Result<HttpResponse, roboflow_batch::transport::TransportError> {
        if self.fail_first.load(Ordering::SeqCst)
            && let Some(key) = unit_key(&mut req)
        {
            let mut failing = self.failing.lock().unwrap();
            if failing.get_or_insert_with(|| key.clone()) == &key {
                return Ok(HttpResponse::json(
                    500,
                    r#"{"error":"fault: this unit fails"}"#,
                ));
            }
        }
        let lost = self.lost.lock().unwrap().clone();
        let path = req.path().to_string();
        let resp = inner.send(req)?;
        let Some(lost) = lost.filter(|_| resp.status == 200) else {
            return Ok(resp);
        };
        let rewrite = ["/list", "/count", "/shards"]
            .iter()
            .any(|s| path.ends_with(s));
        if !rewrite {
            return Ok(resp);
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&resp.read_body(1 << 24).unwrap()).unwrap();
        if let Some(files) = v["filesMetadata"].as_array_mut() {
            files.retain(|f| f["fileName"] != lost.as_str());
        }
        // A count may come as a whole float (a varied sandbox sends `20.0`).
        if let Some(n) = v["count"].as_f64() {
            v["count"] = (n as u64 - 1).into();
        }
        Ok(HttpResponse::json(200, v.to_string()))
    }
}

/// A sandbox, the files of `N` images, and the source that holds them.
struct World {
    kind: Kind,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    journal: tempfile::TempDir,
    files: FileServer,
    names: Vec<String>,
    tap: Arc<Tap>,
    api: BatchApi,
}

fn world(kind: Kind, faults: Option<Faults>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let generated = ImageSet::new(N)
        .dimensions(8..=16, 8..=16)
        .write_to(&images)
        .unwrap();
    let served: Vec<(String, Served)> = generated
        .iter()
        .map(|g| {
            (
                format!("/bk/{}", g.name),
                Served::ok("image/png", std::fs::read(&g.path).unwrap()),
            )
        })
        .collect();
    let files = FileServer::loopback(
        served
            .iter()
            .map(|(p, s)| (p.as_str(), s.clone()))
            .collect(),
    );
    let refs: String = generated
        .iter()
        .map(|g| {
            format!(
                "{{\"name\":\"{}\",\"url\":\"{}\"}}\n",
                g.name,
                files.url(&format!("/bk/{}", g.name))
            )
        })
        .collect();
    std::fs::write(dir.path().join("refs.jsonl"), refs).unwrap();
    let mut config = SandboxConfig::default().indexing_delay(Duration::from_millis(20));
    if let Some(f) = faults {
        config = config.faults(f);
    }
    let sandbox = Sandbox::start(ingest_util::vary::config(config)).unwrap();
    let tap = Arc::new(Tap::default());
    let api = client(sandbox.base_url(), sandbox.api_key(), tap.clone());
    World {
        kind,
        names: generated.iter().map(|g| g.name.clone()).collect(),
        sandbox,
        dir,
        journal: tempfile::tempdir().unwrap(),
        files,
        tap,
        api,
    }
}

/// A client through `tap`, whose retries wait a few milliseconds at most.
fn client(base: &str, key: &str, tap: Arc<Tap>) -> BatchApi {
    let inner = UreqTransport::new();
    BatchApi::builder()
        .base_url(base)
        .api_key(key)
        .clock(Clock::system().sleep_fn(|d| std::thread::sleep(d.min(Duration::from_millis(5)))))
        .transport(move |req| tap.send(&inner, req))
        .build()
        .unwrap()
}

/// A fake S3 bucket `bk` holding `names` (10 bytes each by the listing), its signed URLs
/// on `endpoint`.
fn bucket(names: &[String], endpoint: &str) -> CloudSource {
    let names = names.to_vec();
    let listing = move |_req: HttpRequest| {
        let mut xml =
            String::from(r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
        for n in &names {
            xml.push_str(&format!(
                "<Contents><Key>{n}</Key><Size>10</Size></Contents>"
            ));
        }
        xml.push_str("<IsTruncated>false</IsTruncated></ListBucketResult>");
        Ok(HttpResponse::new(200, xml))
    };
    CloudSource::builder("s3://bk/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIAFAKE")
        .set("AWS_SECRET_ACCESS_KEY", "fake-secret-0123456789")
        .set("AWS_ENDPOINT_URL", endpoint)
        .transport(listing)
        .build()
        .unwrap()
}

/// The ingest of a source of `kind` (its files in `dir`, a bucket on `endpoint`).
fn ingest<'a>(
    api: &'a BatchApi,
    kind: Kind,
    batch: &str,
    dir: &Path,
    journal: &Path,
    names: &[String],
    endpoint: &str,
) -> Ingest<'a> {
    let source = match kind {
        Kind::Shards | Kind::Singles => Source::folder(dir.join("images")),
        Kind::Refs => Source::references(dir.join("refs.jsonl")),
        Kind::Bucket => Source::bucket(bucket(names, endpoint)),
    };
    let mode = match kind {
        Kind::Singles => UploadMode::SingleImages,
        _ => UploadMode::Shards,
    };
    Ingest::new(api, batch, source)
        .journal_dir(journal)
        .verify(quick_verify().timeout(Duration::from_secs(30)))
        .mode(mode)
        .max_images_per_shard(2)
        .chunk_size(2)
        .parallelism(2)
}

impl World {
    fn ingest(&self, batch: &str) -> Ingest<'_> {
        ingest(
            &self.api,
            self.kind,
            batch,
            self.dir.path(),
            self.journal.path(),
            &self.names,
            &self.files.base,
        )
    }

    fn run(&self, batch: &str) -> IngestReport {
        self.ingest(batch).run().unwrap()
    }

    /// Every file indexed exactly once into `batch`.
    fn assert_all_once(&self, batch: &str) {
        assert_indexed_once(&self.sandbox, batch, self.names.iter().cloned());
    }
}

fn assert_verified(kind: Kind, r: &IngestReport, indexed: u64) {
    let v = r.verification.as_ref().expect("verification ran");
    assert!(v.complete && !v.timed_out, "{kind:?}: {v:?} {:?}", r.failed);
    assert_eq!(v.indexed, indexed, "{kind:?}: {v:?}");
}

#[test]
fn a_fresh_run_sends_every_file_once_and_the_events_add_up() {
    for kind in KINDS {
        let w = world(kind, None);
        let events = Mutex::new(Vec::new());
        let r = w
            .ingest("fresh")
            .on_progress(|e| events.lock().unwrap().push(e.clone()))
            .run()
            .unwrap();
        let method = match kind {
            Kind::Shards => IngestMethod::Shards,
            Kind::Singles => IngestMethod::SingleImages,
            _ => IngestMethod::References,
        };
        assert_eq!(r.method, method, "{kind:?}");
        assert_eq!(
            (r.files_found, r.files_uploaded, r.files_resumed),
            (N as u64, N as u64, 0),
            "{kind:?}"
        );
        assert!(
            r.failed.is_empty() && r.is_success(),
            "{kind:?}: {:?}",
            r.failed
        );
        assert_verified(kind, &r, N as u64);
        // Nothing missing: the units account for every file, and no name is listed (unless
        // a varied sandbox answers references without naming their shards).
        let named =
            matches!(kind, Kind::Shards | Kind::Singles) || ingest_util::vary::seed().is_none();
        assert!(
            !named || r.requests.get("list-files") == 0,
            "{kind:?}: {:?}",
            r.requests
        );
        w.assert_all_once("fresh");
        // Every unit reported done once, with its files and bytes; the plan matched.
        let events = events.into_inner().unwrap();
        let done: Vec<(u64, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::UnitDone { files, bytes, .. } => Some((*files, *bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(done.len() as u64, r.units_uploaded, "{kind:?}");
        assert_eq!(r.units_uploaded, r.units_planned, "{kind:?}");
        assert_eq!(done.iter().map(|d| d.0).sum::<u64>(), N as u64, "{kind:?}");
        assert_eq!(
            done.iter().map(|d| d.1).sum::<u64>(),
            r.bytes_uploaded,
            "{kind:?}"
        );
        if matches!(kind, Kind::Shards | Kind::Singles) {
            let sent: u64 = events
                .iter()
                .filter_map(|e| match e {
                    Event::BytesSent { bytes } => Some(*bytes),
                    _ => None,
                })
                .sum();
            assert_eq!(
                sent, r.wire_bytes,
                "{kind:?}: no retries, so bytes sent = bytes accepted"
            );
        }
        assert!(
            matches!(events.last(), Some(Event::Verifying { indexed, expected }) if *indexed == N as u64 && *expected == N as u64),
            "{kind:?}: {:?}",
            events.last()
        );
    }
}

#[test]
fn a_rerun_sends_nothing_twice() {
    for kind in KINDS {
        let w = world(kind, None);
        w.run("again");
        let before = w.api.requests();
        let r = w.run("again");
        assert_eq!(
            (r.files_uploaded, r.files_resumed),
            (0, N as u64),
            "{kind:?}"
        );
        assert_verified(kind, &r, N as u64);
        let spent = w.api.requests().since(&before);
        assert_eq!(
            spent.get("upload-put") + spent.get("single-upload"),
            0,
            "{kind:?}: {spent:?}"
        );
        // References are sent again, and answered as repeats: nothing is fetched twice.
        w.assert_all_once("again");
        assert_eq!(
            w.files.total_hits() as usize,
            if matches!(kind, Kind::Refs | Kind::Bucket) {
                N
            } else {
                0
            },
            "{kind:?}"
        );
    }
}

#[test]
fn a_unit_that_fails_fails_its_files_alone_and_a_rerun_completes() {
    for kind in KINDS {
        let w = world(kind, None);
        w.tap.fail_first.store(true, Ordering::SeqCst);
        let r = w.run("partial");
        let per_unit = if kind == Kind::Singles { 1 } else { 2 };
        assert_eq!(r.failed.len(), per_unit, "{kind:?}: {:?}", r.failed);
        assert!(
            r.failed
                .iter()
                .all(|f| f.stage == FailureStage::Upload && f.reason.contains("500")),
            "{kind:?}: {:?}",
            r.failed
        );
        assert_eq!(r.files_uploaded, (N - per_unit) as u64, "{kind:?}");
        assert!(!r.is_success());
        let failed: Vec<&String> = r.failed.iter().map(|f| &f.name).collect();
        let held = w.sandbox.ingest_counts("partial");
        assert!(
            failed.iter().all(|n| !held.contains_key(*n)),
            "{kind:?}: {held:?}"
        );
        assert_eq!(held.len(), N - per_unit, "{kind:?}");
        // The fault is gone: the next run sends what failed, and only that.
        w.tap.fail_first.store(false, Ordering::SeqCst);
        let r = w.run("partial");
        assert_eq!(
            (r.files_uploaded, r.files_resumed),
            (per_unit as u64, (N - per_unit) as u64),
            "{kind:?}"
        );
        assert_verified(kind, &r, N as u64);
        w.assert_all_once("partial");
    }
}

#[test]
fn a_file_the_service_fails_or_loses_is_named_with_its_reason() {
    for kind in KINDS {
        let w = world(kind, None);
        let bad = match kind {
            // Bytes that are no image: the service fails it when it indexes the shard.
            Kind::Shards => {
                std::fs::write(w.dir.path().join("images/bad.png"), b"not an image").unwrap();
                "bad.png".to_string()
            }
            // Stored, then lost without a word: the batch counts and lists one less.
            Kind::Singles => {
                *w.tap.lost.lock().unwrap() = Some(w.names[3].clone());
                w.names[3].clone()
            }
            // A reference to an object that is not there: the service's fetch fails.
            Kind::Refs | Kind::Bucket => {
                let path = w.dir.path().join("refs.jsonl");
                let text = std::fs::read_to_string(&path).unwrap();
                let gone = w.files.url("/bk/gone.png");
                std::fs::write(
                    &path,
                    format!("{text}{{\"name\":\"gone.png\",\"url\":\"{gone}\"}}\n"),
                )
                .unwrap();
                "gone.png".to_string()
            }
        };
        let names = if kind == Kind::Bucket {
            w.names
                .iter()
                .cloned()
                .chain(["gone.png".to_string()])
                .collect()
        } else {
            w.names.clone()
        };
        let verify = quick_verify().timeout(Duration::from_secs(2));
        let r = ingest(
            &w.api,
            kind,
            "refused",
            w.dir.path(),
            w.journal.path(),
            &names,
            &w.files.base,
        )
        .verify(verify)
        .run()
        .unwrap();
        assert_eq!(r.failed.len(), 1, "{kind:?}: {:?}", r.failed);
        let f = &r.failed[0];
        assert_eq!(
            (f.name.as_str(), f.stage),
            (bad.as_str(), FailureStage::Indexing),
            "{kind:?}"
        );
        let reason = match kind {
            Kind::Shards => "unsupported-file-type",
            Kind::Singles => "not in the batch after",
            _ => "404",
        };
        assert!(f.reason.contains(reason), "{kind:?}: {}", f.reason);
        assert!(f.path.is_some(), "{kind:?}: where it came from");
        let v = r.verification.as_ref().unwrap();
        let indexed = N - usize::from(kind == Kind::Singles); // the lost one was sent
        assert_eq!(v.indexed, indexed as u64, "{kind:?}: {v:?}");
        assert!(!v.complete && !r.is_success(), "{kind:?}");
    }
}

const CHILD: &str = "RFBATCH_SCENARIO_CHILD";

/// The child's side of the kill scenario: ingest into the parent's sandbox until killed.
#[test]
fn scenario_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let p: Vec<&str> = spec.split('\n').collect();
    let api = client(p[1], p[2], Arc::default());
    let names: Vec<String> = p[6].split(',').map(str::to_string).collect();
    let _ = ingest(
        &api,
        Kind::parse(p[0]),
        "killed",
        Path::new(p[3]),
        Path::new(p[4]),
        &names,
        p[5],
    )
    .run();
    // Reaching the end means the parent did not kill this process in time; it notices.
}

/// Waits until `f` stops changing (the service takes in what was sent before the kill).
fn settled<T: PartialEq>(f: impl Fn() -> T) -> T {
    let mut before = f();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let now = f();
        if now == before {
            return now;
        }
        before = now;
    }
}

#[test]
fn a_run_killed_part_way_resumes_and_sends_nothing_twice() {
    for kind in KINDS {
        // Slow units, two at a time (chunks of references one at a time): the kill lands
        // part-way on a loaded machine too.
        let slow = FaultSettings::default().latency(Duration::from_millis(150));
        let faults = Faults::seeded(1).put(slow.clone()).api(slow);
        let w = world(kind, Some(faults));
        let spec = [
            kind.name(),
            w.sandbox.base_url(),
            w.sandbox.api_key(),
            w.dir.path().to_str().unwrap(),
            w.journal.path().to_str().unwrap(),
            &w.files.base,
            &w.names.join(","),
        ]
        .join("\n");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "scenario_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, spec)
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            if w.sandbox.ingest_counts("killed").len() >= 4 {
                child.kill().unwrap(); // SIGKILL
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "{kind:?}: the child ended before it was killed"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{kind:?}: the child made no progress"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!child.wait().unwrap().success());
        let held = settled(|| w.sandbox.ingest_counts("killed").len());
        assert!(
            held < N,
            "{kind:?}: killed part-way, not at the end ({held} files)"
        );
        let r = w.run("killed");
        assert!(r.files_resumed >= 4, "{kind:?}: {r:?}");
        assert_eq!(r.files_resumed + r.files_uploaded, N as u64, "{kind:?}");
        assert_verified(kind, &r, N as u64);
        w.assert_all_once("killed");
    }
}
