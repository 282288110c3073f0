//! A small synchronous webhook receiver (feature `webhook`) on the crate's HTTP server.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use super::{Event, bearer_matches};
use crate::error::{Error, Result};
use crate::server::{self, Body, Head, Reply, read_limited};

/// Event ids remembered to drop redeliveries.
const REMEMBERED_EVENTS: usize = 4096;
/// Requests handled at once (the callback itself runs one event at a time).
const PERMITS: usize = 4;
/// Connections served at once; at the cap, the one idle longest is closed.
const MAX_CONNECTIONS: usize = 128;

/// Configures a [`Receiver`]; `Debug` does not show the token.
///
/// ```
/// let b = roboflow_batch::webhook::Receiver::builder().workspace("acme").path("/hooks/roboflow");
/// assert!(!format!("{b:?}").contains("rf_acme"));
/// ```
#[must_use]
pub struct ReceiverBuilder {
    addr: SocketAddr,
    token: Option<String>,
    path: String,
    max_body: u64,
    dedupe: bool,
    /// The server's deadlines and connection cap (short in tests).
    limits: server::Limits,
}

crate::model::redacted_debug!(ReceiverBuilder {
    addr, token => secret, path, max_body, dedupe,
});

impl Default for ReceiverBuilder {
    fn default() -> Self {
        ReceiverBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            path: "/".into(),
            max_body: 1 << 20,
            dedupe: true,
            limits: server::Limits {
                max_connections: MAX_CONNECTIONS,
                ..server::Limits::default()
            },
        }
    }
}

impl ReceiverBuilder {
    crate::model::setters! {
        setup: "",
        on: "roboflow_batch::webhook::Receiver::builder()";
        /// Where to listen (default `127.0.0.1:0`, a free loopback port).
        addr(s, addr: SocketAddr) = "([127, 0, 0, 1], 0).into()" {
            s.addr = addr;
        }
        /// Accepts exactly this bearer token (required, unless set by
        /// [`workspace`](Self::workspace)).
        bearer_token(s, token: impl Into<String>) = "\"rf_acme\"" {
            s.token = Some(token.into());
        }
        /// The path to accept POSTs on (default `/`); others get 404.
        path(s, path: impl Into<String>) = "\"/hooks/roboflow\"" {
            s.path = path.into();
        }
        /// The largest body accepted (default 1 MiB); larger ones get 413, decided from
        /// `Content-Length` before reading, and the connection closes.
        max_body_bytes(s, bytes: u64) = "64 << 10" {
            s.max_body = bytes;
        }
        /// Whether a redelivery of an event already handed over (same `event_id`) is
        /// acknowledged without handing it over again (default true).
        dedupe(s, on: bool) = "false" {
            s.dedupe = on;
        }
    }

    /// Accepts the token the service sends for `workspace` (`rf_<workspace>`).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().workspace("acme");
    /// ```
    pub fn workspace(self, workspace: &str) -> Self {
        self.bearer_token(format!("rf_{workspace}"))
    }

    /// Starts serving; each accepted event goes to `on_event`, one at a time (calls never
    /// overlap). A panic in `on_event` is contained: that request gets a 500.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("acme").spawn(|e| println!("{e:?}")).unwrap();
    /// ```
    pub fn spawn(self, on_event: impl FnMut(Event) + Send + 'static) -> Result<Receiver> {
        Receiver::start(self, Box::new(on_event))
    }

    /// Starts serving and hands events to a channel.
    ///
    /// ```
    /// let (receiver, events) = roboflow_batch::webhook::Receiver::builder().workspace("acme").spawn_channel().unwrap();
    /// ```
    pub fn spawn_channel(self) -> Result<(Receiver, mpsc::Receiver<Event>)> {
        let (tx, rx) = mpsc::channel();
        let r = self.spawn(move |e| drop(tx.send(e)))?;
        Ok((r, rx))
    }
}

/// A webhook receiver: a local server taking POSTs, checking the bearer token in constant
/// time, and handing each event over; dropping it stops it. Limits: heads of 8 KiB a line
/// and 64 KiB in all, bodies of [`max_body_bytes`](ReceiverBuilder::max_body_bytes),
/// deadlines on heads, bodies and replies, 128 connections (closing the one idle longest).
///
/// Answers: 200 for an event handed over (or a redelivery), 401 for a missing or wrong
/// token, 404 for another path, 405 for another method, 413 for a body over the limit,
/// 400 for a body cut short or not a notification, 408 for a body too slow, 500 if the
/// callback panicked.
///
/// ```
/// # use roboflow_batch::webhook::{Event, Receiver};
/// let (receiver, events) = Receiver::builder().workspace("acme").path("/hook").spawn_channel()?;
/// let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
/// let body = r#"{"type":"roboflow-batch-job-notification-v1","event_id":"e1","job_id":"job-1","job_state":"success","delivery_attempt":1}"#;
/// let ok = agent.post(&receiver.url()).header("Authorization", "Bearer rf_acme").send(body)?;
/// assert_eq!(ok.status(), 200);
/// assert!(matches!(events.recv()?, Event::Job(j) if j.job_id == "job-1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver {
    addr: SocketAddr,
    server: server::Server,
    handler: Arc<Handler>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("url", &self.url())
            .field("accepted", &self.accepted())
            .field("rejected", &self.rejected())
            .finish_non_exhaustive()
    }
}

type Callback = Box<dyn FnMut(Event) + Send>;

impl Receiver {
    /// A builder (see [`ReceiverBuilder`]).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder();
    /// ```
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    fn start(b: ReceiverBuilder, on_event: Callback) -> Result<Receiver> {
        let token = b.token.clone().filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::Config(
                "a webhook receiver needs the bearer token (.workspace(..) or .bearer_token(..))"
                    .into(),
            )
        })?;
        if !b.path.starts_with('/') || b.path.contains(['?', '#', ' ']) {
            return Err(Error::invalid(
                "path",
                format!("must start with `/` and hold no query, got {:?}", b.path),
            ));
        }
        let listener = TcpListener::bind(b.addr)
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", b.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the receiver's address", e))?;
        let ctx = Arc::new(Handler {
            token,
            path: b.path,
            max_body: b.max_body,
            dedupe: b.dedupe,
            delivery: Mutex::new(Delivery {
                seen: VecDeque::new(),
                on_event,
            }),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        let served = ctx.clone();
        let handler: Arc<server::Handler> = Arc::new(move |head, body| served.handle(head, body));
        let config = server::Config {
            limits: b.limits,
            permits: PERMITS,
            latency: std::time::Duration::ZERO,
            name: "rfbatch-webhook",
        };
        let server = server::Server::start(listener, handler, config)
            .map_err(|e| Error::io("starting the webhook receiver", e))?;
        Ok(Receiver {
            addr,
            server,
            handler: ctx,
        })
    }

    /// The URL to give the service as `notificationsURL`.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").path("/h").spawn(|_| {}).unwrap();
    /// assert!(r.url().ends_with("/h"));
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.handler.path)
    }

    /// Requests answered 200.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {}).unwrap();
    /// assert_eq!(r.accepted(), 0);
    /// ```
    pub fn accepted(&self) -> u64 {
        self.handler.accepted.load(Ordering::SeqCst)
    }

    /// Requests refused (any status but 200).
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {}).unwrap();
    /// assert_eq!(r.rejected(), 0);
    /// ```
    pub fn rejected(&self) -> u64 {
        self.handler.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// What hands events over, one at a time, and the ids of those handed over lately.
struct Delivery {
    seen: VecDeque<String>,
    on_event: Callback,
}

struct Handler {
    token: String,
    path: String,
    max_body: u64,
    dedupe: bool,
    delivery: Mutex<Delivery>,
    /// Requests answered 200, and all others.
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl Handler {
    /// Answers one request, counted before the answer (an accepted one before it is handed
    /// over), so that whoever sees the answer or the event sees the count too.
    fn handle(&self, head: &Head, body: &mut Body<'_>) -> Reply {
        let (status, message) = self.decide(head, body);
        if status != 200 {
            self.rejected.fetch_add(1, Ordering::SeqCst);
        }
        let reply = Reply::json(status, &serde_json::json!({ "message": message }));
        match status {
            401 => reply.with_header("WWW-Authenticate", "Bearer"),
            _ => reply,
        }
    }

    fn decide(&self, head: &Head, body: &mut Body<'_>) -> (u16, String) {
        let path = head.path();
        if path != self.path {
            return (404, format!("no webhook at {path}"));
        }
        if head.method != "POST" {
            return (405, "webhooks are POSTed".into());
        }
        if !bearer_matches(head.header("Authorization"), &self.token) {
            return (401, "missing or wrong bearer token".into());
        }
        // Read before taking the delivery lock: a slow body holds no one else up.
        let bytes = match read_limited(head, body, self.max_body) {
            Ok(b) => b,
            Err(reply) => {
                let what = match reply.status {
                    413 => format!("body over {} bytes", self.max_body),
                    408 => "the body did not arrive in time".into(),
                    _ => "the body was cut short or malformed".into(),
                };
                return (reply.status, what);
            }
        };
        let event = match Event::parse(&bytes) {
            Ok(e) => e,
            Err(e) => return (400, e.to_string()),
        };
        let id = event.event_id().filter(|_| self.dedupe).map(str::to_string);
        let mut delivery = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        let accepted = &self.accepted;
        accepted.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = &id
            && delivery.seen.contains(id)
        {
            return (200, "already received".into());
        }
        if crate::panics::contain(|| (delivery.on_event)(event)).is_err() {
            accepted.fetch_sub(1, Ordering::SeqCst);
            return (500, "the event handler failed".into());
        }
        if let Some(id) = id {
            delivery.seen.push_back(id);
            if delivery.seen.len() > REMEMBERED_EVENTS {
                delivery.seen.pop_front();
            }
        }
        (200, "ok".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tests::raw;
    use std::time::Duration;

    #[test]
    fn a_body_trickled_a_byte_at_a_time_is_cut_off_while_webhooks_arrive() {
        // Each byte comes well within the 2 s per-read timeout; the body must average
        // 1,000 bytes a second once its 1 s of grace is over.
        let mut b = Receiver::builder().bearer_token("rf_t").path("/hook");
        b.limits = server::Limits {
            io_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(1),
            min_rate: 1000,
            ..b.limits
        };
        let (receiver, events) = b.spawn_channel().unwrap();
        let addr = receiver.addr;
        let s = raw::send(
            addr,
            b"POST /hook HTTP/1.1\r\nAuthorization: Bearer rf_t\r\nContent-Length: 5000\r\n\r\n{",
        );
        let (got, took) = raw::trickle(
            &s,
            b" ",
            Duration::from_millis(300),
            Duration::from_secs(10),
        );
        assert_eq!(got, Some((408, true)));
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(raw::closed_within(&s, Duration::from_secs(3)));
        assert_eq!(receiver.rejected(), 1);
        // Webhooks still arrive.
        let valid = r#"{"type":"roboflow-batch-job-notification-v1","event_id":"e","job_id":"j","job_state":"success","delivery_attempt":1}"#;
        let head = format!(
            "POST /hook HTTP/1.1\r\nAuthorization: Bearer rf_t\r\nContent-Length: {}\r\n\r\n{valid}",
            valid.len()
        );
        let ok = raw::send(addr, head.as_bytes());
        assert_eq!(
            raw::answer(&ok, Duration::from_secs(10)),
            Some((200, false))
        );
        assert!(events.recv_timeout(Duration::from_secs(5)).is_ok());
    }
}
