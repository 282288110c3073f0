//! The server against clients that stall, trickle, never read, or crowd it, with short
//! deadlines so that each test takes a second or two.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// The raw client helpers of the integration tests.
#[path = "../../tests/common/raw.rs"]
pub(crate) mod raw;

use raw::{closed_within, trickle};

/// The next answer on `s`, waiting up to 10 s.
fn answer(s: &TcpStream) -> Option<(u16, bool)> {
    raw::answer(s, Duration::from_secs(10))
}

/// Sends `raw` on a new connection and reads one answer.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<(u16, bool)> {
    answer(&raw::send(addr, bytes))
}

fn short() -> Limits {
    Limits {
        head_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        grace: Duration::from_secs(2),
        min_rate: 1024,
        drain_max: 64 * 1024,
        max_connections: 512,
    }
}

/// A reply body whose first read panics: a panic while the reply is written, after the
/// handler has returned.
struct Panicking;

impl Read for Panicking {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        panic!("test: a reply body panicked")
    }
}

/// `/` answers at once; `/big?n=N` answers N bytes; `/hold` waits until `release` is set;
/// `/panic-body` panics while its reply is written.
fn handler(release: Arc<AtomicBool>) -> Arc<Handler> {
    Arc::new(move |head: &Head, _: &mut Body<'_>| match head.path() {
        "/big" => {
            let n: u64 = head.query("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            Reply {
                status: 200,
                headers: Vec::new(),
                body: ReplyBody::Reader(Box::new(io::repeat(b'x')), n),
            }
        }
        "/hold" => {
            while !release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Reply::json(200, &"released")
        }
        "/panic-body" => Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Reader(Box::new(Panicking), 10),
        },
        _ => Reply::json(200, &"ok"),
    })
}

/// A server with these limits, and the switch that releases `/hold`.
fn start_with(limits: Limits, permits: usize) -> (Server, Arc<AtomicBool>) {
    let release = Arc::new(AtomicBool::new(false));
    let config = Config {
        limits,
        permits,
        latency: Duration::ZERO,
        name: "test-server",
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(listener, handler(release.clone()), config).unwrap();
    (server, release)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Waits until the server holds `n` connections or fewer.
fn wait_for_connections(server: &Server, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while server.shared.conns.lock().len() > n {
        assert!(
            Instant::now() < deadline,
            "{} connections still live",
            server.shared.conns.lock().len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_panic_while_writing_a_reply_frees_its_connection_slot() {
    let server = start_with(short(), 4).0;
    for _ in 0..3 {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.write_all(b"GET /panic-body HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        assert!(closed_within(&c, Duration::from_secs(10)));
    }
    wait_for_connections(&server, 0, Duration::from_secs(10));
}

#[test]
fn a_head_trickled_byte_by_byte_is_cut_at_its_deadline() {
    // One byte every 100 ms stays under every per-read timeout; the whole head has 600 ms.
    let limits = Limits {
        head_timeout: Duration::from_millis(600),
        ..short()
    };
    let server = start_with(limits, 4).0;
    let s = raw::send(server.addr, b"GET / HTTP/1.1\r\nX-Slow: ");
    let (got, took) = trickle(&s, b"a", Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!(got, Some((408, true)));
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_silent_new_connection_and_an_idle_kept_alive_one_are_closed() {
    let limits = Limits {
        head_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..short()
    };
    let server = start_with(limits, 4).0;
    let silent = TcpStream::connect(server.addr).unwrap();
    assert!(closed_within(&silent, Duration::from_secs(3)));
    let mut kept = TcpStream::connect(server.addr).unwrap();
    kept.write_all(GET).unwrap();
    assert_eq!(answer(&kept), Some((200, false)));
    assert!(closed_within(&kept, Duration::from_secs(3)));
    wait_for_connections(&server, 0, Duration::from_secs(5));
}

#[test]
fn a_client_that_never_reads_holds_no_permit_and_is_cut_off() {
    let limits = Limits {
        io_timeout: Duration::from_millis(500),
        grace: Duration::from_millis(500),
        min_rate: 64 << 20,
        ..short()
    };
    let server = start_with(limits, 1).0;
    let mut stuck = TcpStream::connect(server.addr).unwrap();
    stuck
        .write_all(b"GET /big?n=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(exchange(server.addr, GET), Some((200, false)));
    // The writer gives up on the reader that never reads, and its slot is freed.
    wait_for_connections(&server, 0, Duration::from_secs(8));
    drop(stuck);
}

#[test]
fn at_the_cap_with_every_connection_busy_a_newcomer_gets_503() {
    let limits = Limits {
        max_connections: 2,
        ..short()
    };
    let (server, release) = start_with(limits, 4);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(exchange(server.addr, GET), Some((503, true)));
    release.store(true, Ordering::SeqCst);
    for s in &held {
        assert_eq!(answer(s), Some((200, false)));
    }
}
