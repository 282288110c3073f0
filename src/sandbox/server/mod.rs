//! The sandbox's HTTP/1.1 server, on `std::net` threads: one thread per connection (at
//! most [`MAX_CONNECTIONS`]), keep-alive, `Content-Length` and chunked request bodies,
//! `100 Continue`, and bounded heads (see `head.rs`).
//!
//! It replaces tiny_http 0.12, which bounds neither request lines nor headers, spawns a
//! thread for every connection without limit, has no read timeouts, and on an unread
//! body allocates a buffer of the whole remaining `Content-Length`.

mod body;
pub(crate) mod head;

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use body::{Body, Framing};

use super::http::{Head, Reply};
use head::HeadError;
pub(crate) use head::RawHead;

/// The most connections served at once; more are answered 503 and closed.
pub(crate) const MAX_CONNECTIONS: usize = 512;
/// How long a connection may stay silent: waiting for a request, or within a head.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one read of a request body may wait.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a body a handler left unread is skipped to keep the connection.
const DRAIN_MAX: u64 = 1 << 20;

/// Answers one request.
pub(crate) type Handler = dyn Fn(&Head, &mut Body<'_>) -> Reply + Send + Sync;

/// A counting semaphore: the most requests handled at once.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    fn acquire(&self) -> PermitGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        PermitGuard(self)
    }
}

struct PermitGuard<'a>(&'a Permits);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The live connections, so that stopping can close them.
#[derive(Default)]
struct Conns {
    live: Mutex<HashMap<u64, TcpStream>>,
    ended: Condvar,
    next: AtomicU64,
}

impl Conns {
    fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn remove(&self, id: u64) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.ended.notify_all();
    }
}

/// A running server; stopping (or dropping) it closes every connection.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    conns: Arc<Conns>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` with `handler`, at most `permits` requests at a time.
    pub fn start(
        listener: TcpListener,
        handler: Arc<Handler>,
        permits: usize,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Conns::default());
        let permits = Arc::new(Permits {
            free: Mutex::new(permits.max(1)),
            freed: Condvar::new(),
        });
        let (stop, live) = (stopping.clone(), conns.clone());
        let accept = std::thread::Builder::new()
            .name("sandbox-accept".into())
            .spawn(move || accept_loop(&listener, &handler, &permits, &stop, &live))?;
        Ok(Server {
            addr,
            stopping,
            conns,
            accept: Some(accept),
        })
    }

    /// Blocks until the server is stopped.
    pub fn wait(&mut self) {
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }

    /// Stops accepting, closes every connection, and waits (a few seconds at most) for
    /// their handlers to return.
    pub fn stop(&mut self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut live = self.conns.live.lock().unwrap_or_else(|p| p.into_inner());
        for s in live.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        while !live.is_empty() && Instant::now() < deadline {
            live = self
                .conns
                .ended
                .wait_timeout(live, Duration::from_millis(50))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: &TcpListener,
    handler: &Arc<Handler>,
    permits: &Arc<Permits>,
    stopping: &AtomicBool,
    conns: &Arc<Conns>,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or a connection reset before accept: try again shortly.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if conns.len() >= MAX_CONNECTIONS {
            let mut w = &stream;
            let _ = write_error(&mut w, 503, "too many connections; retry later");
            continue;
        }
        let Ok(registered) = stream.try_clone() else {
            continue;
        };
        let id = conns.next.fetch_add(1, Ordering::SeqCst);
        conns
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, registered);
        let (handler, permits, conns2) = (handler.clone(), permits.clone(), conns.clone());
        let spawned = std::thread::Builder::new()
            .name("sandbox-conn".into())
            .spawn(move || {
                // Released even if serving panics outside the handler (writing a reply,
                // parsing a head): a leaked slot would count against MAX_CONNECTIONS.
                let _slot = Slot(&conns2, id);
                serve_connection(stream, &*handler, &permits);
            });
        if spawned.is_err() {
            conns.remove(id);
        }
    }
}

/// A live connection's entry, removed when its thread ends, by return or by panic.
struct Slot<'a>(&'a Conns, u64);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// A plain error answer that closes the connection.
fn write_error(w: &mut impl Write, status: u16, message: &str) -> io::Result<()> {
    let mut buf = Vec::new();
    let ok = Reply::error(status, message)
        .closing()
        .write_to(&mut buf, false, false);
    if ok {
        w.write_all(&buf)?;
    }
    w.flush()
}

/// How the body of `head` is framed, or the error status.
fn framing(head: &RawHead) -> Result<Framing, (u16, String)> {
    let te: Vec<&str> = head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v.as_str())
        .collect();
    let cl: Vec<&str> = head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .collect();
    match (te.as_slice(), cl.as_slice()) {
        ([], []) => Ok(Framing::Length(0)),
        ([], lens) => {
            let first = lens[0].trim();
            let ok = lens.iter().all(|l| l.trim() == first)
                && !first.is_empty()
                && first.bytes().all(|b| b.is_ascii_digit());
            match first.parse::<u64>() {
                Ok(n) if ok => Ok(Framing::Length(n)),
                _ => Err((400, "malformed Content-Length".into())),
            }
        }
        ([t], []) if t.trim().eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
        (_, []) => Err((
            501,
            "only the chunked Transfer-Encoding is supported".into(),
        )),
        (_, _) => Err((
            400,
            "a request cannot have both Transfer-Encoding and Content-Length".into(),
        )),
    }
}

fn wants_keep_alive(head: &RawHead) -> bool {
    let conn = head.header("connection").unwrap_or("").to_ascii_lowercase();
    if head.http11 {
        !conn.split(',').any(|t| t.trim() == "close")
    } else {
        conn.split(',').any(|t| t.trim() == "keep-alive")
    }
}

/// Reads (and drops) what the client still sends, briefly, before closing: closing with
/// unread data makes the kernel reset the connection, and the client could lose the answer.
fn linger(stream: &TcpStream, reader: &mut BufReader<TcpStream>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = io::copy(&mut io::Read::take(reader, 8 << 20), &mut io::sink());
}

fn serve_connection(stream: TcpStream, handler: &Handler, permits: &Permits) {
    let _ = stream.set_nodelay(true);
    let (Ok(read_half), Ok(write_half)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = BufWriter::with_capacity(64 * 1024, write_half);
    loop {
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        let raw = match head::read_head(&mut reader) {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Bad(status, msg)) => {
                let _ = write_error(&mut writer, status, &msg);
                return;
            }
            Err(HeadError::Io(e)) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    let _ = write_error(&mut writer, 408, "request head timed out");
                }
                return;
            }
        };
        let framing = match framing(&raw) {
            Ok(f) => f,
            Err((status, msg)) => {
                let _ = write_error(&mut writer, status, &msg);
                return;
            }
        };
        let expect = raw.header("expect").map(str::to_ascii_lowercase);
        if expect.as_deref().is_some_and(|e| e != "100-continue") {
            let _ = write_error(&mut writer, 417, "only `Expect: 100-continue` is supported");
            return;
        }
        let keep_alive = wants_keep_alive(&raw);
        let head = Head::from_raw(&raw);
        let _ = stream.set_read_timeout(Some(BODY_TIMEOUT));
        let permit = permits.acquire();
        let mut continue_to = &stream;
        let wants_continue = raw.http11 && expect.is_some();
        let mut body = Body::new(
            &mut reader,
            framing,
            wants_continue.then_some(&mut continue_to as &mut dyn Write),
        );
        let reply = match super::panics::contain(|| handler(&head, &mut body)) {
            Ok(r) => r,
            Err(panic) => {
                eprintln!("rfbatch sandbox: a request handler panicked: {panic}");
                Reply::error(500, "internal error: the request's handler panicked").closing()
            }
        };
        let reusable = keep_alive
            && !reply.closes()
            && !body.awaits_continue()
            && (body.is_done() || body.drain(DRAIN_MAX));
        let written = reply.write_to(&mut writer, head.method == "HEAD", reusable);
        drop(permit);
        if !written || !reusable {
            let _ = writer.flush();
            let _ = stream.shutdown(Shutdown::Write);
            linger(&stream, &mut reader);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::http::ReplyBody;
    use std::io::{Read, Write};

    /// A reply body whose first read panics: a panic while the reply is written, after
    /// the handler has returned.
    struct Panicking;

    impl Read for Panicking {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("test: a reply body panicked")
        }
    }

    #[test]
    fn a_panic_while_writing_a_reply_frees_its_connection_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let handler: Arc<Handler> = Arc::new(|_: &Head, _: &mut Body<'_>| Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Reader(Box::new(Panicking), 10),
        });
        let server = Server::start(listener, handler, 4).unwrap();
        for _ in 0..3 {
            let mut c = TcpStream::connect(server.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            let _ = c.read_to_end(&mut answer); // the connection ends with the panic
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.conns.len() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} slots leaked",
                server.conns.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
