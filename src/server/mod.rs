//! The bounded HTTP/1.1 server of the sandbox and the webhook receiver, on std threads.
//! No client holds more than its own connection for long: heads and idle waits have
//! deadlines; bodies and replies a minimum rate after a grace period; a handler holds a
//! permit only while it runs; at the connection cap the connection waiting longest in a
//! head is closed, and only when all are busy is a newcomer answered 503.
// The sandbox uses all of it; the webhook receiver alone, most.
#![cfg_attr(not(feature = "sandbox"), allow(dead_code, unused_imports))]

mod body;
mod conn;
mod head;
mod reply;
mod wire;

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use body::{Body, read_limited};
pub(crate) use head::Head;
pub(crate) use reply::{Reply, ReplyBody};

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod tests;

/// Answers one request.
pub(crate) type Handler = dyn Fn(&Head, &mut Body<'_>) -> Reply + Send + Sync;

/// The server's limits and deadlines.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The whole request head, from its first byte (on a new connection, from accept).
    pub head_timeout: Duration,
    /// The wait for the next request on a kept-alive connection.
    pub idle_timeout: Duration,
    /// One read of a body, or one write of a reply.
    pub io_timeout: Duration,
    /// Bodies and replies must average [`min_rate`](Self::min_rate) once this has passed.
    pub grace: Duration,
    /// Bytes a second, on average, of a body or a reply (0: no minimum).
    pub min_rate: u64,
    /// The largest unread body drained to keep the connection; a larger one closes it.
    pub drain_max: u64,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(30),
            min_rate: 16 * 1024,
            drain_max: 64 * 1024,
            max_connections: 512,
        }
    }
}

/// How a server runs.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub limits: Limits,
    /// Handlers running at once; more wait their turn.
    pub permits: usize,
    /// Waited before writing each reply (to simulate a distant service).
    pub latency: Duration,
    /// The `Server` header, and the name of the threads.
    pub name: &'static str,
}

/// What a connection is doing, for choosing which one to close at the cap.
const WAITING: u8 = 0;
const BUSY: u8 = 1;
const EVICTED: u8 = 2;

/// One live connection.
struct Conn {
    stream: TcpStream,
    phase: AtomicU8,
    /// When its current wait (for a head) began, in ns since the server started.
    since: AtomicU64,
}

impl Conn {
    /// Marks the connection as waiting for a head from `at`.
    fn waiting(&self, at: u64) {
        self.since.store(at, Ordering::SeqCst);
        self.phase.store(WAITING, Ordering::SeqCst);
    }

    /// Marks the connection as busy with a request; false if it was evicted meanwhile.
    fn busy(&self) -> bool {
        self.phase
            .compare_exchange(WAITING, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// The live connections, so that the cap can close idle ones and stopping can close all.
#[derive(Default)]
struct Conns {
    live: Mutex<HashMap<u64, Arc<Conn>>>,
    ended: Condvar,
    next: AtomicU64,
}

impl Conns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.ended.notify_all();
    }
}

/// What the connection threads share.
struct Shared {
    config: Config,
    handler: Arc<Handler>,
    permits: wire::Permits,
    conns: Conns,
    epoch: Instant,
}

impl Shared {
    /// Nanoseconds since the server started.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A running server; stopping (or dropping) it closes every connection.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` with `handler`.
    pub fn start(
        listener: TcpListener,
        handler: Arc<Handler>,
        config: Config,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            permits: wire::Permits::new(config.permits),
            config,
            handler,
            conns: Conns::default(),
            epoch: Instant::now(),
        });
        let (stop, sh) = (stopping.clone(), shared.clone());
        let accept = std::thread::Builder::new()
            .name(format!("{}-accept", shared.config.name))
            .spawn(move || accept_loop(&listener, &sh, &stop))?;
        Ok(Server {
            addr,
            stopping,
            shared,
            accept: Some(accept),
        })
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
        let conns = &self.shared.conns;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut live = conns.lock();
        for c in live.values() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        while !live.is_empty() && Instant::now() < deadline {
            live = conns
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

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stopping: &AtomicBool) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or a connection reset before accept: try again shortly.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let conn = Arc::new(Conn {
            stream,
            phase: AtomicU8::new(WAITING),
            since: AtomicU64::new(shared.now()),
        });
        let id = shared.conns.next.fetch_add(1, Ordering::SeqCst);
        if !admit(shared, id, &conn) {
            // Never blocks the accept loop: the answer fits the socket's send buffer.
            let _ = conn.stream.set_nonblocking(true);
            let mut buf = Vec::new();
            Reply::error(503, "too many connections; retry later")
                .closing()
                .write_to(&mut buf, shared.config.name, false, false);
            let _ = io::Write::write_all(&mut &conn.stream, &buf);
            continue;
        }
        let sh = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn", shared.config.name))
            .spawn(move || {
                // Released even if serving panics outside the handler (writing a reply,
                // parsing a head): a leaked slot would count against the cap.
                let _slot = Slot(&sh.conns, id);
                conn::serve(&conn, &sh);
            });
        if spawned.is_err() {
            shared.conns.remove(id);
        }
    }
}

/// Registers `conn`, closing the connection that has waited longest in a head to make
/// room at the cap; false when every connection is busy.
fn admit(shared: &Shared, id: u64, conn: &Arc<Conn>) -> bool {
    let mut live = shared.conns.lock();
    while live.len() >= shared.config.limits.max_connections {
        let oldest = live
            .iter()
            .filter(|(_, c)| c.phase.load(Ordering::SeqCst) == WAITING)
            .min_by_key(|(_, c)| c.since.load(Ordering::SeqCst))
            .map(|(id, c)| (*id, c.clone()));
        let Some((old_id, old)) = oldest else {
            return false;
        };
        // It may have just become busy: then look again.
        if old
            .phase
            .compare_exchange(WAITING, EVICTED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let _ = old.stream.shutdown(Shutdown::Both);
            live.remove(&old_id);
        }
    }
    live.insert(id, conn.clone());
    true
}

/// A live connection's entry, removed when its thread ends, by return or by panic.
struct Slot<'a>(&'a Conns, u64);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}
