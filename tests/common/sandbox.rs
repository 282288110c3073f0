//! Helpers for tests against the sandbox: media, tars, raw HTTP and polling.

use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::model::JobStatusResponse;
use roboflow_batch::sandbox::Sandbox;
use serde_json::Value;

/// A minimal valid PNG (signature, IHDR, IEND with CRCs) of the given size.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A tar of regular files, as `tar::Builder` writes it.
pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).expect("tar member");
    }
    b.into_inner().expect("tar")
}

/// A client of the sandbox with default settings.
pub fn client(sb: &Sandbox) -> BatchApi {
    BatchApi::builder()
        .base_url(sb.base_url())
        .api_key(sb.api_key())
        .build()
        .expect("client builds")
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request with ureq, no retries, every status returned.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Raw {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = match body {
        Some(b) => agent.run(req.body(b.to_vec()).expect("request")),
        None => agent.run(req.body(()).expect("request")),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .into_body()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap_or_default();
    Raw {
        status,
        headers,
        body,
    }
}

/// An API URL of the sandbox: `path` after the host, with the API key added.
pub fn api_url(sb: &Sandbox, path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{}/{path}{sep}api_key={}", sb.base_url(), sb.api_key())
}

/// A JSON request to the batch-processing API.
pub fn jobs_call(sb: &Sandbox, method: &str, path: &str, body: Option<&str>) -> Raw {
    let url = api_url(
        sb,
        &format!("batch-processing/v1/external/{}/{path}", sb.workspace()),
    );
    http(
        method,
        &url,
        &[("Content-Type", "application/json")],
        body.map(str::as_bytes),
    )
}

/// Polls `cond` every 10 ms until it holds; fails the test after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Uploads `n` PNGs named `img-000.png`… as single images and waits until all count.
pub fn stage_images(api: &BatchApi, batch: &str, n: u32) {
    for i in 0..n {
        api.upload_image(batch, &format!("img-{i:03}.png"), &png(10 + i, 20), None)
            .expect("upload");
    }
    wait_until(&format!("{n} files in {batch}"), 20, || {
        api.batch_count(batch, None).unwrap_or(0) >= u64::from(n)
    });
}

/// Polls a job until it is terminal.
pub fn wait_job(api: &BatchApi, id: &str, secs: u64) -> JobStatusResponse {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = api.job(id).expect("job status");
        if st.state().is_terminal() {
            return st;
        }
        assert!(Instant::now() < deadline, "job {id} never finished: {st:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One file the test file server answers with.
#[derive(Clone)]
pub struct Served {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Served {
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Served {
        Served {
            status: 200,
            content_type,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Served {
        Served {
            status,
            content_type: "text/plain",
            body: format!("status {status}").into_bytes(),
            delay: Duration::ZERO,
        }
    }

    pub fn slow(mut self, delay: Duration) -> Served {
        self.delay = delay;
        self
    }
}

/// A file server on `ip:0` that counts the requests to each path.
pub struct FileServer {
    pub base: String,
    server: super::server::TestServer,
}

impl FileServer {
    pub fn start(ip: std::net::IpAddr, files: Vec<(&str, Served)>) -> FileServer {
        let files: std::collections::HashMap<String, Served> =
            files.into_iter().map(|(p, s)| (p.to_string(), s)).collect();
        let server = super::server::TestServer::start_on(ip, 1 << 20, move |req| {
            let served = files
                .get(req.path())
                .cloned()
                .unwrap_or_else(|| Served::status(404));
            super::server::Response::bytes(served.status, served.content_type, served.body)
                .after(served.delay)
        });
        FileServer {
            base: server.base.clone(),
            server,
        }
    }

    pub fn loopback(files: Vec<(&str, Served)>) -> FileServer {
        FileServer::start([127, 0, 0, 1].into(), files)
    }

    /// A URL of this server (with a query, as signed URLs have).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}?X-Amz-Signature=s3cret", self.base)
    }

    pub fn hits(&self, path: &str) -> u64 {
        self.server.hits(path) as u64
    }

    pub fn total_hits(&self) -> u64 {
        self.server.requests().len() as u64
    }
}

/// A webhook receiver on loopback, answering 200; its URL ends in `/hook`.
pub fn webhook_receiver() -> (String, super::server::TestServer) {
    let server = super::server::TestServer::start(|_| super::server::Response::status(200));
    (server.url("/hook"), server)
}

/// This machine's address on its main interface, when it has one beyond loopback.
pub fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?; // no packet is sent
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
