//! Starting the storage emulators, and small data for them.
#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roboflow_batch::transport::{Body, HttpRequest, Method, Transport, UreqTransport};

/// Azurite's well-known development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn cache() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::env::var("RFBATCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/roboflow-batch"))
}

/// The emulator venv of `scripts/cloud-emulators.sh`.
pub fn venv() -> PathBuf {
    std::env::var("CLOUD_EMU_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache().join("venv-cloud"))
}

/// An executable named by `var`, else at `default`; `None` (with a message) when missing.
fn find(var: &str, default: PathBuf, what: &str) -> Option<PathBuf> {
    let path = std::env::var(var).map(PathBuf::from).unwrap_or(default);
    if path.is_file() {
        Some(path)
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} is not installed ({} not found; set {var} or run scripts/cloud-emulators.sh)",
            path.display()
        );
        None
    }
}

/// Whether whatever listens on `port` answers a GET with an HTTP status line (any status).
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut status_line = [0u8; 9];
    s.write_all(request).is_ok()
        && std::io::Read::read_exact(&mut s, &mut status_line).is_ok()
        && status_line.starts_with(b"HTTP/1.")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running emulator, stopped when dropped.
pub struct Emulator {
    child: Child,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts the emulator that `command` makes for a port, and waits until it answers HTTP
    /// there (a TCP connect alone can come before it serves). `free_port` gives a port that
    /// was free a moment ago: an emulator that exits at start (another process took the
    /// port) is started again on another one.
    fn start(
        command: impl Fn(u16) -> Command,
        dir: Option<tempfile::TempDir>,
        what: &str,
    ) -> Emulator {
        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            let port = free_port();
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {what}: {e}"));
            let mut emu = Emulator {
                child,
                port,
                _dir: None,
            };
            match emu.wait_until_serving(what) {
                Ok(()) => {
                    emu._dir = dir;
                    return emu;
                }
                Err(status) if attempt < ATTEMPTS => {
                    eprintln!(
                        "{what} exited at start on port {port} ({status}): trying another port"
                    );
                    attempt += 1;
                }
                Err(status) => panic!("{what} exited at start {ATTEMPTS} times, last: {status}"),
            }
        }
    }

    /// Waits until the emulator answers an HTTP request, or for its exit status if it
    /// exits first. Bounded: an emulator not up in 60 s on a loaded machine fails the test.
    fn wait_until_serving(&mut self, what: &str) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(status);
            }
            if answers_http(self.port) {
                // Answered while still running: it is ours that serves the port.
                return match self.child.try_wait() {
                    Ok(Some(status)) => Err(status),
                    _ => Ok(()),
                };
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not answer HTTP on port {} within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// moto's server; `iam` makes it check every request's signature against its IAM.
    pub fn moto(iam: bool) -> Option<Emulator> {
        let exe = find(
            "MOTO_SERVER",
            venv().join("bin/moto_server"),
            "moto (S3 emulator)",
        )?;
        let command = |port: u16| {
            let mut cmd = Command::new(&exe);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            if iam {
                cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
            }
            cmd
        };
        Some(Self::start(command, None, "moto_server"))
    }

    /// gcp-storage-emulator, in memory.
    pub fn gcs() -> Option<Emulator> {
        let exe = find(
            "GCS_EMULATOR",
            venv().join("bin/gcp-storage-emulator"),
            "gcp-storage-emulator (GCS emulator)",
        )?;
        let command = |port: u16| {
            let mut cmd = Command::new(&exe);
            let port = port.to_string();
            cmd.args([
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--in-memory",
                "-q",
            ]);
            cmd
        };
        Some(Self::start(command, None, "gcp-storage-emulator"))
    }

    /// Azurite's blob service, in memory, accepting any API version.
    pub fn azurite() -> Option<Emulator> {
        let dir = std::env::var("AZURITE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache().join("azurite"));
        let exe = find(
            "AZURITE_BIN",
            dir.join("node_modules/.bin/azurite-blob"),
            "azurite (Azure Blob emulator)",
        )?;
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().to_path_buf();
        let command = |port: u16| {
            let mut cmd = Command::new(&exe);
            cmd.args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ]);
            cmd.current_dir(&cwd);
            cmd
        };
        Some(Self::start(command, Some(tmp), "azurite-blob"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// PUTs `body` to `url`, asserting a 2xx.
pub fn put(url: &str, body: &[u8], headers: &[(&str, &str)]) {
    let mut req = HttpRequest::new(Method::Put, url).body(Body::Bytes(body.to_vec()));
    for (k, v) in headers {
        req = req.with_header(*k, *v);
    }
    let resp = UreqTransport::new().send(req).unwrap();
    assert!(
        (200..300).contains(&resp.status),
        "PUT {url}: {}",
        resp.status
    );
}

/// A valid 2x2 RGB PNG whose pixels depend on `seed` (so every object differs).
pub fn tiny_png(seed: u32) -> Vec<u8> {
    let (w, h) = (2u32, 2u32);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let v = seed.wrapping_mul(2654435761).wrapping_add(x * 7 + y * 13);
            raw.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
        }
    }
    // zlib: header, one stored block, Adler-32.
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    z.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    for (kind, data) in [(&b"IHDR"[..], ihdr), (b"IDAT", z), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A service-account key file with a fresh RSA key (made with `openssl`), for signing.
pub fn service_account_key_file() -> tempfile::NamedTempFile {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl is needed to make a test service-account key");
    assert!(out.status.success(), "openssl genpkey failed");
    let pem = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "0",
        "private_key": pem,
        "client_email": "signer@test.iam.gserviceaccount.com",
        "token_uri": "http://127.0.0.1:1/token",
    });
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(json.to_string().as_bytes()).unwrap();
    f
}

/// An account SAS (all services' blob resources, every permission, a day) for setting up
/// Azurite: string-to-sign of version 2021-08-06.
pub fn account_sas(account: &str, key: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let se = "2099-01-01T00:00:00Z";
    let (sp, ss, srt, spr, sv) = ("rwdlacup", "b", "sco", "https,http", "2021-08-06");
    let to_sign = format!("{account}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{spr}\n{sv}\n\n");
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&b64.decode(key).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    let enc = |s: &str| {
        s.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
            .replace(':', "%3A")
            .replace(',', "%2C")
    };
    format!(
        "sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={}&spr={}&sig={}",
        enc(se),
        enc(spr),
        enc(&sig)
    )
}
