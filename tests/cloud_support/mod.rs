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
    fn start(mut cmd: Command, port: u16, dir: Option<tempfile::TempDir>, what: &str) -> Emulator {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let mut emu = Emulator {
            child,
            port,
            _dir: dir,
        };
        // Bounded: an emulator that is not up in 60 s on a loaded machine fails the test.
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emu.child.try_wait() {
                panic!("{what} exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emu
    }

    /// moto's server; `iam` makes it check every request's signature against its IAM.
    pub fn moto(iam: bool) -> Option<Emulator> {
        let exe = find(
            "MOTO_SERVER",
            venv().join("bin/moto_server"),
            "moto (S3 emulator)",
        )?;
        let port = free_port();
        let mut cmd = Command::new(exe);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if iam {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        Some(Self::start(cmd, port, None, "moto_server"))
    }

    /// gcp-storage-emulator, in memory.
    pub fn gcs() -> Option<Emulator> {
        let exe = find(
            "GCS_EMULATOR",
            venv().join("bin/gcp-storage-emulator"),
            "gcp-storage-emulator (GCS emulator)",
        )?;
        let port = free_port();
        let mut cmd = Command::new(exe);
        cmd.args([
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--in-memory",
            "-q",
        ]);
        Some(Self::start(cmd, port, None, "gcp-storage-emulator"))
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
        let port = free_port();
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(exe);
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
        cmd.current_dir(tmp.path());
        Some(Self::start(cmd, port, Some(tmp), "azurite-blob"))
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
