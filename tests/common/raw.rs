//! Raw HTTP/1.1 on a socket, for the requests no well-behaved client sends: stalled
//! bodies, trickled heads, readers that never read. (The crate's own server tests include
//! this file too.)
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The `host:port` of a base URL such as `http://127.0.0.1:4000`.
pub fn addr_of(base_url: &str) -> SocketAddr {
    let host = base_url.trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    host.to_socket_addrs().unwrap().next().unwrap()
}

/// The head of a PUT of `len` bytes to a signed `url` with its extension `headers` (the body
/// is up to the caller).
pub fn signed_put_head<'a>(
    url: &str,
    headers: impl IntoIterator<Item = (&'a String, &'a String)>,
    len: u64,
) -> String {
    let path = url.split_once("//").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let mut head = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head + "\r\n"
}

/// A new connection that has sent `bytes`.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.write_all(bytes).expect("sends");
    s
}

/// The next answer on `s`: its status and whether it closes the connection; its body is
/// read and dropped. `None` if the connection ended or stayed silent for `within` first.
pub fn answer(s: &TcpStream, within: Duration) -> Option<(u16, bool)> {
    s.set_read_timeout(Some(within)).ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let (mut len, mut close) = (0u64, false);
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        close |= l == "connection: close";
    }
    io::copy(&mut r.by_ref().take(len), &mut io::sink()).ok()?;
    Some((status, close))
}

/// The status of the next answer on `s` (see [`answer`]).
pub fn status(s: &TcpStream, within: Duration) -> Option<u16> {
    answer(s, within).map(|(status, _)| status)
}

/// Sends `byte` on `s` every `every` until an answer comes, for at most `give_up`; the
/// answer (`None` if none came) and how long it took.
pub fn trickle(
    s: &TcpStream,
    byte: &[u8],
    every: Duration,
    give_up: Duration,
) -> (Option<(u16, bool)>, Duration) {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = s.try_clone().unwrap();
    std::thread::spawn(move || tx.send(answer(&reader, give_up)));
    loop {
        if let Ok(got) = rx.try_recv() {
            return (got, started.elapsed());
        }
        if started.elapsed() > give_up {
            return (None, started.elapsed());
        }
        let _ = (&*s).write_all(byte);
        std::thread::sleep(every);
    }
}

/// Whether the peer closed `s` within `within` (a read sees the end, or a reset); what
/// arrives before is dropped.
pub fn closed_within(s: &TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        match (&*s).read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Sends `chunks` on a new connection, closes the writing side, and returns every
/// answer's status in order, with the whole text.
pub fn exchange(addr: SocketAddr, chunks: &[&[u8]]) -> (Vec<u16>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for c in chunks {
        if s.write_all(c).is_err() {
            break; // the server may close before reading it all
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let statuses = text
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3)?.parse().ok())
        .collect();
    (statuses, text)
}

/// The process's resident memory, in KiB (Linux; `None` elsewhere).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
