//! The differential wire test: for each operation that both clients have, the official
//! client (inference-cli 1.8.3, from the venv at `$ICLI_VENV`, by default
//! `~/.cache/roboflow-batch/venv-icli`) and `rfbatch` each run it against a sandbox of their
//! own that records what it receives (`SandboxConfig::record`), and the two records are
//! compared operation by operation, route by route: which requests, their query keys (and
//! plain values), headers, JSON key paths and types, multipart parts, tar members and
//! `notification_config.json`.
//!
//! Every difference must be one the compatibility guide's table "Where rfbatch differs from the official
//! client, and why" allows: [`ALLOWED`] says which row covers which difference, and a row
//! that the table lacks allows nothing. Without the venv the test prints `SKIPPED: …`.

mod cli_common;
#[path = "common/sandbox.rs"]
#[allow(dead_code)]
mod sandbox_common;
// `sandbox_common` serves files with it, as `super::server`.
#[path = "common/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const KEY: &str = "differential-key";
const WORKSPACE: &str = "diff";
/// Images of the sharded upload: more than 256, so that the official client cuts two shards.
const BIG_N: &str = "300";
/// Where webhooks go: nowhere (the sandbox gives up at once); only their settings matter.
const HOOK: &str = "http://127.0.0.1:9/hook";

/// One difference between the two records of an operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Diff {
    op: String,
    route: String,
    /// What differs: `request`, `count`, `query-key K`, `query-value K`, `param K`,
    /// `header H`, `body`, `body-path P`, `multipart`, `tar-members`, `tar-shards`,
    /// `notification-config P`.
    aspect: String,
    official: String,
    rfbatch: String,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}: official {} | rfbatch {}",
            self.op, self.route, self.aspect, self.official, self.rfbatch
        )
    }
}

/// Which compatibility guide's row (by its key) allows which difference.
type Allowance = (&'static str, fn(&Diff) -> bool);

const ALLOWED: &[Allowance] = &[
    ("verification calls", |d| {
        (d.op.starts_with("upload") || d.op.starts_with("references"))
            && d.aspect == "request"
            && d.official == "not sent"
            && d.route.starts_with("GET ")
            && ["/count", "/list", "/shards"]
                .iter()
                .any(|s| d.route.ends_with(s))
    }),
    ("shard size from the service's limits", |d| {
        d.op == "upload large"
            && (d.route.ends_with("/bulk-upload/image-files") || d.route == "PUT {signedUpload}")
            && (d.aspect == "count" || d.aspect == "tar-shards")
    }),
    ("job name always sent", |d| {
        d.op.starts_with("job start")
            && d.route.starts_with("POST ")
            && d.route.ends_with("/jobs/{jobId}")
            && (d.aspect == "query-key name" || d.aspect == "query-value name")
            && (d.official == "does not" || d.official == "absent")
    }),
    ("job looked up before a start with an id", |d| {
        d.op.starts_with("job start")
            && d.route.starts_with("GET ")
            && d.route.ends_with("/jobs/{jobId}")
            && d.aspect == "request"
            && d.official == "not sent"
    }),
    ("machineType always sent", |d| {
        d.op.starts_with("job start")
            && d.aspect == "body-path computeConfiguration.machineType"
            && d.official == "absent"
    }),
    ("pageSize query on listings", |d| {
        // Every whole listing (of any command: exports, waits, verification) asks for
        // pages of 1,000, so it may need no second page where the official client follows
        // a token.
        let listing = d.route.starts_with("GET ")
            && ["/batches", "/list", "/shards", "/jobs", "/tasks", "/logs"]
                .iter()
                .any(|s| d.route.ends_with(s));
        let fewer_pages = (d.aspect == "query-key nextPageToken"
            || d.aspect == "query-value nextPageToken")
            && (d.rfbatch == "does not" || d.rfbatch == "absent");
        listing
            && (d.aspect == "query-key pageSize"
                || d.aspect == "query-value pageSize"
                || fewer_pages)
    }),
    ("no count before an export", |d| {
        d.op == "export a multipart output batch"
            && d.route.ends_with("/count")
            && d.aspect == "request"
            && d.rfbatch == "not sent"
    }),
    ("no batch lookup before a file listing", |d| {
        d.op == "list files"
            && d.route.ends_with("/batches/{batchId}")
            && d.aspect == "request"
            && d.rfbatch == "not sent"
    }),
];

// ------------------------------------------------------------------ the two sides

/// One client's side: its sandbox, its copy of the media, and where its record stands.
struct Side {
    name: &'static str,
    sandbox: Sandbox,
    api: BatchApi,
    record: PathBuf,
    /// Record lines already taken.
    seen: usize,
    dir: PathBuf,
}

impl Side {
    fn start(name: &'static str, root: &Path, media: &Path) -> Side {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        copy_dir(media, &dir.join("media"));
        let record = dir.join("record.jsonl");
        let sandbox = Sandbox::start(
            SandboxConfig::default()
                .api_key(KEY)
                .workspace(WORKSPACE)
                .data_dir(dir.join("data"))
                .job_speed(2000.0)
                .indexing_delay(Duration::ZERO)
                .webhook_retries(1, Duration::from_millis(1))
                .record(&record),
        )
        .expect("sandbox starts");
        let api = BatchApi::builder()
            .base_url(sandbox.base_url())
            .api_key(KEY)
            .build()
            .unwrap();
        Side {
            name,
            sandbox,
            api,
            record,
            seen: 0,
            dir,
        }
    }

    /// The record's lines since the last call.
    fn take(&mut self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .skip(self.seen)
            .map(|l| serde_json::from_str(l).expect("a record line is JSON"))
            .collect();
        self.seen += lines.len();
        lines
    }

    /// The words of `command`, with `{media}`, `{out}` and `{hook}` filled in for this side.
    fn args(&self, command: &str) -> Vec<String> {
        words(command)
            .into_iter()
            .map(|a| {
                a.replace("{media}", &self.dir.join("media").to_string_lossy())
                    .replace("{out}", &self.dir.join("out").to_string_lossy())
                    .replace("{hook}", HOOK)
            })
            .collect()
    }

    fn wait_job(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.api.job(id).expect("job").state().is_terminal() {
            assert!(
                Instant::now() < deadline,
                "{}: job {id} never ended",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A command's words: split at whitespace, except inside '…'.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_default();
            }
            c if c.is_whitespace() && !quoted => out.extend(word.take()),
            c => word.get_or_insert_default().push(c),
        }
    }
    out.extend(word);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// The official client's venv, when it holds inference-cli 1.8.3.
fn venv() -> Option<PathBuf> {
    let dir = match std::env::var_os("ICLI_VENV") {
        Some(v) => PathBuf::from(v),
        None => {
            let cache = std::env::var_os("RFBATCH_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/roboflow-batch"))
                })?;
            cache.join("venv-icli")
        }
    };
    let lib = dir.join("lib");
    let installed = std::fs::read_dir(&lib).ok()?.flatten().any(|py| {
        py.path()
            .join("site-packages/inference_cli-1.8.3.dist-info")
            .is_dir()
    });
    (installed && dir.join("bin/inference").exists()).then_some(dir)
}

/// Runs a command to its end; its output when it fails.
fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

struct Harness {
    venv: PathBuf,
    official: Side,
    rfbatch: Side,
    diffs: Vec<Diff>,
    /// The operations compared, with how many requests each side sent.
    ops: Vec<(String, usize, usize)>,
}

impl Harness {
    /// Waits until job `id` has ended on both sides.
    fn wait_job(&self, id: &str) {
        self.official.wait_job(id);
        self.rfbatch.wait_job(id);
    }

    /// Runs one operation with both clients and compares what the sandboxes received.
    fn op(&mut self, name: &str, official: &str, rfbatch: &str) {
        // What the test itself asked between operations is no part of either.
        self.official.take();
        self.rfbatch.take();
        let mut cmd = Command::new(self.venv.join("bin/inference"));
        cmd.arg("rf-cloud")
            .args(self.official.args(official))
            .current_dir(&self.official.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.official.dir)
            .env("API_BASE_URL", self.official.sandbox.base_url())
            .env("ROBOFLOW_API_KEY", KEY)
            .env("COLUMNS", "200")
            .env("NO_COLOR", "1");
        run(cmd, &format!("{name}: the official client ({official:?})"));
        let a = self.official.take();
        let args = self.rfbatch.args(rfbatch);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = cli_common::rfbatch_env(
            &[
                ("ROBOFLOW_API_KEY", KEY),
                ("API_BASE_URL", self.rfbatch.sandbox.base_url()),
            ],
            &args,
        );
        assert_eq!(
            r.code, 0,
            "{name}: rfbatch {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        let b = self.rfbatch.take();
        self.ops.push((name.to_string(), a.len(), b.len()));
        self.diffs.extend(compare(name, &a, &b));
    }
}

// ------------------------------------------------------------------ comparison

/// What one client sent on one route during one operation, merged over its requests.
#[derive(Default)]
struct View {
    count: usize,
    query_keys: BTreeSet<String>,
    query_values: BTreeMap<String, BTreeSet<String>>,
    params: BTreeMap<String, BTreeSet<String>>,
    headers: Vec<BTreeMap<String, String>>,
    bodies: BTreeSet<String>,
    body_paths: BTreeMap<String, BTreeSet<String>>,
    multipart: BTreeSet<String>,
    members: BTreeSet<String>,
    shards: Vec<usize>,
    config_last: BTreeSet<bool>,
    config: BTreeMap<String, BTreeSet<String>>,
}

fn strings(v: &Value) -> impl Iterator<Item = (String, String)> + '_ {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
}

fn views(lines: &[Value]) -> BTreeMap<String, View> {
    let mut out: BTreeMap<String, View> = BTreeMap::new();
    for l in lines {
        let v = out
            .entry(l["route"].as_str().unwrap().to_string())
            .or_default();
        v.count += 1;
        for k in l["query"].as_array().into_iter().flatten() {
            v.query_keys.insert(k.as_str().unwrap().to_string());
        }
        for (k, x) in strings(&l["queryValues"]) {
            v.query_values.entry(k).or_default().insert(x);
        }
        for (k, x) in strings(&l["params"]) {
            v.params.entry(k).or_default().insert(x);
        }
        v.headers.push(strings(&l["headers"]).collect());
        match l.get("body") {
            Some(b) if b.get("json").is_some() => {
                v.bodies.insert("json".into());
                for (p, t) in strings(&b["json"]) {
                    v.body_paths.entry(p).or_default().insert(t);
                }
            }
            Some(_) => {
                v.bodies.insert("not JSON".into());
            }
            None if l["headers"].get("content-length").and_then(Value::as_str)
                == Some("present") =>
            {
                v.bodies.insert("bytes".into());
            }
            None => {
                v.bodies.insert("none".into());
            }
        }
        if let Some(parts) = l.get("multipart").and_then(Value::as_array) {
            let file = l["queryValues"]["fileName"].as_str().unwrap_or("");
            let name = |x: &Value| match x.as_str() {
                None => "absent".to_string(),
                Some(n) if n == file => "the file's name".to_string(),
                Some(n) => format!("{n:?}"),
            };
            let desc: Vec<String> = parts
                .iter()
                .map(|p| {
                    format!(
                        "part name {}, filename {}, headers {}",
                        name(&p["name"]),
                        name(&p["filename"]),
                        p["headers"]
                    )
                })
                .collect();
            v.multipart.insert(desc.join("; "));
        }
        if let Some(tar) = l.get("tar") {
            let members: Vec<&str> = tar["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let images = members
                .iter()
                .filter(|m| **m != "notification_config.json")
                .count();
            v.shards.push(images);
            v.members.extend(members.iter().map(|m| m.to_string()));
            v.config_last
                .insert(members.last() == Some(&"notification_config.json"));
            for (p, t) in strings(&tar["notificationConfig"]) {
                v.config.entry(p).or_default().insert(t);
            }
        }
    }
    out
}

fn show<T: std::fmt::Debug>(s: Option<&T>) -> String {
    s.map_or_else(|| "absent".into(), |s| format!("{s:?}"))
}

/// The differences between two sets of keyed values.
fn diff_maps<T: PartialEq + std::fmt::Debug>(
    a: &BTreeMap<String, T>,
    b: &BTreeMap<String, T>,
    mut push: impl FnMut(&str, String, String),
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if a.get(k) != b.get(k) {
            push(k, show(a.get(k)), show(b.get(k)));
        }
    }
}

fn compare(op: &str, official: &[Value], rfbatch: &[Value]) -> Vec<Diff> {
    let (a, b) = (views(official), views(rfbatch));
    let mut out = Vec::new();
    let routes: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for route in routes {
        let mut push = |aspect: String, official: String, rfbatch: String| {
            out.push(Diff {
                op: op.into(),
                route: route.clone(),
                aspect,
                official,
                rfbatch,
            });
        };
        let (x, y) = match (a.get(route), b.get(route)) {
            (Some(x), Some(y)) => (x, y),
            (x, y) => {
                let n =
                    |v: Option<&View>| v.map_or("not sent".into(), |v| format!("{} sent", v.count));
                push("request".into(), n(x), n(y));
                continue;
            }
        };
        if !route.starts_with("GET ") && x.count != y.count {
            push("count".into(), x.count.to_string(), y.count.to_string());
        }
        for k in x.query_keys.symmetric_difference(&y.query_keys) {
            let has = |v: &View| {
                if v.query_keys.contains(k) {
                    "sends it"
                } else {
                    "does not"
                }
            };
            push(format!("query-key {k}"), has(x).into(), has(y).into());
        }
        diff_maps(&x.query_values, &y.query_values, |k, o, r| {
            push(format!("query-value {k}"), o, r)
        });
        diff_maps(&x.params, &y.params, |k, o, r| {
            push(format!("param {k}"), o, r)
        });
        // Each header's values over the requests, a request without it counting as absent.
        let names: BTreeSet<&String> = x
            .headers
            .iter()
            .chain(&y.headers)
            .flat_map(|h| h.keys())
            .collect();
        for h in names {
            let values = |v: &View| -> BTreeSet<String> {
                v.headers
                    .iter()
                    .map(|m| m.get(h).cloned().unwrap_or_else(|| "absent".into()))
                    .collect()
            };
            if values(x) != values(y) {
                push(
                    format!("header {h}"),
                    format!("{:?}", values(x)),
                    format!("{:?}", values(y)),
                );
            }
        }
        if x.bodies != y.bodies {
            push(
                "body".into(),
                format!("{:?}", x.bodies),
                format!("{:?}", y.bodies),
            );
        }
        diff_maps(&x.body_paths, &y.body_paths, |p, o, r| {
            push(format!("body-path {p}"), o, r)
        });
        if x.multipart != y.multipart {
            push(
                "multipart".into(),
                format!("{:?}", x.multipart),
                format!("{:?}", y.multipart),
            );
        }
        if x.members != y.members {
            let only = |p: &BTreeSet<String>, q: &BTreeSet<String>| {
                let d: Vec<&String> = p.difference(q).take(5).collect();
                format!(
                    "{} members, {} not in the other's ({d:?}…)",
                    p.len(),
                    p.difference(q).count()
                )
            };
            push(
                "tar-members".into(),
                only(&x.members, &y.members),
                only(&y.members, &x.members),
            );
        }
        let (mut s, mut t) = (x.shards.clone(), y.shards.clone());
        s.sort_unstable();
        t.sort_unstable();
        if s != t {
            push(
                "tar-shards".into(),
                format!("images per shard {s:?}"),
                format!("images per shard {t:?}"),
            );
        }
        if x.config_last != y.config_last {
            let d = |v: &View| format!("notification_config.json last: {:?}", v.config_last);
            push("tar-layout".into(), d(x), d(y));
        }
        diff_maps(&x.config, &y.config, |p, o, r| {
            push(format!("notification-config {p}"), o, r)
        });
    }
    out
}

// ------------------------------------------------------------------ the compatibility guide's table

const TABLE_TITLE: &str = "Where rfbatch differs from the official client, and why";

/// The keys of the compatibility guide's table's rows: the first column, without backticks.
fn table_keys(readme: &str) -> Result<BTreeSet<String>, String> {
    let start = readme
        .lines()
        .position(|l| l.starts_with('#') && l.contains(TABLE_TITLE))
        .ok_or_else(|| format!("docs/compatibility.md has no heading {TABLE_TITLE:?}"))?;
    let rows = readme
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2); // the header and its rule
    let keys: BTreeSet<String> = rows
        .filter_map(|r| r.split('|').nth(1))
        .map(|k| k.trim().trim_matches('`').to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "the compatibility guide's table {TABLE_TITLE:?} has no rows"
        ));
    }
    Ok(keys)
}

// ------------------------------------------------------------------ the test

#[test]
fn rfbatch_sends_what_the_official_client_sends_or_the_readme_says_why_not() {
    let Some(venv) = venv() else {
        println!(
            "SKIPPED: the official client's venv (inference-cli 1.8.3) is missing; set ICLI_VENV or \
             run scripts/official-client-compat.sh once to install it into ~/.cache/roboflow-batch/venv-icli"
        );
        return;
    };
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let media = root.path().join("media");
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/official_client_compat.py");
    let mut media_cmd = Command::new(venv.join("bin/python"));
    media_cmd
        .arg(&helper)
        .arg("gen-media")
        .arg(&media)
        .arg(BIG_N);
    run(media_cmd, "generating the media");
    // The "bucket" that references point at.
    let mut served = Vec::new();
    for (dir, name) in [
        ("small", "small-00.png"),
        ("small", "small-01.jpg"),
        ("videos", "clip-0.mp4"),
    ] {
        let bytes = std::fs::read(media.join(dir).join(name)).unwrap();
        let ct = if dir == "videos" {
            "video/mp4"
        } else {
            "image/png"
        };
        served.push((
            format!("/{dir}/{name}"),
            sandbox_common::Served::ok(ct, bytes),
        ));
    }
    let files = sandbox_common::FileServer::loopback(
        served
            .iter()
            .map(|(p, s)| (p.as_str(), s.clone()))
            .collect(),
    );
    let refs = |names: &[(&str, &str)]| -> String {
        names
            .iter()
            .map(|(name, path)| {
                format!(
                    "{{\"name\": \"{name}\", \"url\": \"{}\"}}\n",
                    files.url(path)
                )
            })
            .collect()
    };
    std::fs::write(
        media.join("image-refs.jsonl"),
        refs(&[
            ("a.png", "/small/small-00.png"),
            ("b.jpg", "/small/small-01.jpg"),
        ]),
    )
    .unwrap();
    std::fs::write(
        media.join("video-refs.jsonl"),
        refs(&[("v.mp4", "/videos/clip-0.mp4")]),
    )
    .unwrap();
    std::fs::write(
        media.join("params.json"),
        r#"{"threshold": 0.5, "classes": ["a"]}"#,
    )
    .unwrap();
    let mut h = Harness {
        venv,
        official: Side::start("official", root.path(), &media),
        rfbatch: Side::start("rfbatch", root.path(), &media),
        diffs: Vec::new(),
        ops: Vec::new(),
    };
    // Each operation: the official client's command, then rfbatch's (split at spaces;
    // '…' keeps spaces). `{media}`, `{out}` and `{hook}` are filled in per side.
    let up = "--journal-dir {out}/journal";
    let ds = "data-staging";
    let bp = "batch-processing";
    // Uploads.
    h.op(
        "upload small",
        &format!("{ds} create-batch-of-images -b d-small --images-dir {{media}}/small --batch-name 'Small Batch'"),
        &format!("upload images {{media}}/small --batch d-small --batch-name 'Small Batch' {up}"),
    );
    let hooked = "--notifications-url {hook} --ingest-id big-ingest --batch-name 'Big Batch'";
    h.op(
        "upload large",
        &format!("{ds} create-batch-of-images -b d-big --images-dir {{media}}/big {hooked}"),
        &format!("upload images {{media}}/big --batch d-big {hooked} {up}"),
    );
    h.op(
        "upload videos",
        &format!("{ds} create-batch-of-videos -b d-vid --videos-dir {{media}}/videos"),
        &format!("upload videos {{media}}/videos --batch d-vid {up}"),
    );
    let notify = "--ingest-id refs-ingest --notifications-url {hook} \
        --notification-category ingest-status --notification-category files-status";
    h.op(
        "references (images, inline JSONL)",
        &format!("{ds} create-batch-of-images -b d-refs -ds references-file -r {{media}}/image-refs.jsonl {notify}"),
        &format!("upload refs {{media}}/image-refs.jsonl --batch d-refs {notify}"),
    );
    h.op(
        "references (videos, inline JSONL)",
        &format!("{ds} create-batch-of-videos -b d-vrefs -ds references-file -r {{media}}/video-refs.jsonl --ingest-id vrefs-ingest"),
        "upload refs {media}/video-refs.jsonl --videos --batch d-vrefs --ingest-id vrefs-ingest",
    );
    h.op(
        "roboql ingest",
        &format!("{ds} create-batch-of-images -b d-q -ds roboql -q tag:diff --ingest-id q-ingest"),
        "upload roboql tag:diff --batch d-q --ingest-id q-ingest",
    );

    // Listings of staged data.
    h.op("list batches", &format!("{ds} list-batches"), "batch list");
    h.op(
        "show a batch",
        &format!("{ds} show-batch-details -b d-big"),
        "batch show d-big",
    );
    h.op(
        "list files",
        &format!("{ds} list-batch-content -b d-big"),
        "batch files d-big",
    );
    h.op(
        "list shards",
        &format!("{ds} list-ingest-details -b d-big"),
        "batch shards d-big",
    );

    // Jobs.
    h.op(
        "job start (no options)",
        &format!("{bp} process-images-with-workflow -b d-small -w image-stats -j j-min"),
        "job start --batch d-small --workflow image-stats --job-id j-min",
    );
    h.wait_job("j-min");
    // The same options in both spellings.
    let shared = "--workflow-params {media}/params.json --image-input-name image \
        --save-image-outputs --image-outputs-to-save crops --image-outputs-to-save masks \
        --workers-per-machine 2 --max-runtime-seconds 600 --max-parallel-tasks 3 \
        --max-image-failure-rate 0.25 --aggregation-format csv --notifications-url {hook}";
    h.op(
        "job start (every option)",
        &format!(
            "{bp} process-images-with-workflow -b j-min-processing -w image-stats {shared} \
             -p results -imp metadata -mt gpu -j j-all -ib inference-models -jn 'All Options' \
             -mm model_input=key1"
        ),
        &format!(
            "job start --batch j-min-processing --workflow image-stats {shared} --part results \
             --images-metadata-part metadata --machine-type gpu --job-id j-all \
             --inference-backend inference-models --job-name 'All Options' \
             --metadata-mapping model_input=key1"
        ),
    );
    h.op(
        "job start (videos)",
        &format!(
            "{bp} process-videos-with-workflow -b d-vid -w image-stats -j j-vid --max-video-fps 5"
        ),
        "job start --videos --batch d-vid --workflow image-stats --job-id j-vid --max-video-fps 5",
    );
    h.op(
        "TensorRT compilation",
        &format!("{bp} trt-compile -m diff-model/1 -d nvidia-t4 -d nvidia-l4 -j j-trt"),
        "job trt-compile --model-id diff-model/1 --device nvidia-t4 --device nvidia-l4 --job-id j-trt",
    );
    h.op("list jobs", &format!("{bp} list-jobs"), "job list");
    h.op(
        "show a job",
        &format!("{bp} show-job-details -j j-min"),
        "job show j-min",
    );
    h.op(
        "job logs",
        &format!("{bp} fetch-logs -j j-min --log-severity info"),
        "job logs j-min --severity info",
    );
    h.op(
        "abort",
        &format!("{bp} abort-job -j j-all"),
        "job abort j-all",
    );
    h.wait_job("j-all");
    h.op(
        "restart (no overrides)",
        &format!("{bp} restart-job -j j-all"),
        "job restart j-all",
    );
    h.op(
        "export a multipart output batch",
        &format!("{ds} export-batch -b j-min-export -t {{out}}/export"),
        "batch export j-min-export --out {out}/export",
    );
    let limits = "--machine-type cpu --workers-per-machine 2 --max-runtime-seconds 100 \
        --max-parallel-tasks 2 --max-image-failure-rate 0.25";
    h.op(
        "restart (overrides)",
        &format!("{bp} restart-job -j j-min {limits}"),
        &format!("job restart j-min {limits}"),
    );

    // Judge every difference by the compatibility guide's table.
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compatibility.md"),
    )
    .unwrap();
    let keys = table_keys(&readme);
    let mut unexplained = Vec::new();
    let mut used = BTreeSet::new();
    println!("operations compared (requests: official, rfbatch):");
    for (op, a, b) in &h.ops {
        println!("  {op}: {a}, {b}");
    }
    println!("differences:");
    for d in &h.diffs {
        let key = ALLOWED
            .iter()
            .find(|(_, allows)| allows(d))
            .map(|(k, _)| *k);
        match (key, &keys) {
            (Some(k), Ok(rows)) if rows.contains(k) => {
                used.insert(k);
                println!("  [{k}] {d}");
            }
            (Some(k), _) => unexplained.push(format!(
                "{d}\n      (allowed by `{k}`, which the compatibility guide's table lacks)"
            )),
            (None, _) => unexplained.push(d.to_string()),
        }
    }
    if let Ok(rows) = &keys {
        let unused: Vec<&String> = rows.iter().filter(|k| !used.contains(k.as_str())).collect();
        println!(
            "compatibility guide's rows that allowed nothing seen on the wire here: {unused:?}"
        );
    }
    println!(
        "({} operations in {:.1} s)",
        h.ops.len(),
        started.elapsed().as_secs_f64()
    );
    let readme_problem = keys.err().map(|e| format!("\n{e}")).unwrap_or_default();
    assert!(
        unexplained.is_empty(),
        "{} differences from the official client that the compatibility guide's table \"{TABLE_TITLE}\" does not allow:\n  {}{readme_problem}",
        unexplained.len(),
        unexplained.join("\n  ")
    );
}

#[test]
fn commands_split_into_words_like_a_shell_with_quotes() {
    assert_eq!(
        words("a -b 'Big Batch'  c\n   d ''"),
        ["a", "-b", "Big Batch", "c", "d", ""]
    );
}
