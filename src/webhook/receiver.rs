//! A small synchronous webhook receiver on tiny_http (feature `webhook`).

use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::{Event, bearer_matches, workspace_token};
use crate::error::{Error, Result};

/// Event ids remembered to drop redeliveries.
const REMEMBERED_EVENTS: usize = 4096;

/// Configures a [`Receiver`].
///
/// ```
/// use roboflow_batch::webhook::Receiver;
/// let b = Receiver::builder().workspace("acme").path("/hooks/roboflow");
/// assert!(!format!("{b:?}").contains("rf_acme")); // the token is not shown
/// ```
#[must_use]
pub struct ReceiverBuilder {
    addr: SocketAddr,
    token: Option<String>,
    path: String,
    max_body: u64,
    dedupe: bool,
}

impl std::fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("addr", &self.addr)
            .field(
                "token",
                &self.token.as_ref().map(|_| crate::redact::REDACTED),
            )
            .field("path", &self.path)
            .field("max_body", &self.max_body)
            .field("dedupe", &self.dedupe)
            .finish()
    }
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        ReceiverBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            path: "/".into(),
            max_body: 1 << 20,
            dedupe: true,
        }
    }
}

impl ReceiverBuilder {
    /// Where to listen (default `127.0.0.1:0`, a free loopback port).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().addr(([127, 0, 0, 1], 0).into());
    /// # let _ = b;
    /// ```
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Accepts the token the service sends for `workspace` (`rf_<workspace>`).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().workspace("acme");
    /// # let _ = b;
    /// ```
    pub fn workspace(self, workspace: &str) -> Self {
        self.bearer_token(workspace_token(workspace))
    }

    /// Accepts exactly this bearer token (required, unless set by
    /// [`workspace`](Self::workspace)).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().bearer_token("rf_acme");
    /// # let _ = b;
    /// ```
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The path to accept POSTs on (default `/`); others get 404.
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().path("/hooks/roboflow");
    /// # let _ = b;
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The largest body accepted (default 1 MiB); larger ones get 413.
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().max_body_bytes(64 << 10);
    /// # let _ = b;
    /// ```
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// Whether a redelivery of an event already handed over (same `event_id`) is
    /// acknowledged without handing it over again (default true).
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder().dedupe(false);
    /// # let _ = b;
    /// ```
    pub fn dedupe(mut self, on: bool) -> Self {
        self.dedupe = on;
        self
    }

    /// Starts serving; each accepted event is handed to `on_event` on the receiver's
    /// thread, one at a time. A panic in `on_event` is contained: that request gets a 500.
    ///
    /// ```
    /// use roboflow_batch::webhook::Receiver;
    /// let receiver = Receiver::builder().workspace("acme").spawn(|event| println!("{event:?}"))?;
    /// assert!(receiver.url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn spawn(self, on_event: impl FnMut(Event) + Send + 'static) -> Result<Receiver> {
        Receiver::start(self, Box::new(on_event))
    }

    /// Starts serving and hands events to a channel.
    ///
    /// ```
    /// use roboflow_batch::webhook::Receiver;
    /// let (receiver, events) = Receiver::builder().workspace("acme").spawn_channel()?;
    /// assert!(events.try_recv().is_err()); // nothing yet
    /// # drop(receiver); Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn spawn_channel(self) -> Result<(Receiver, mpsc::Receiver<Event>)> {
        let (tx, rx) = mpsc::channel();
        let r = self.spawn(move |e| {
            let _ = tx.send(e);
        })?;
        Ok((r, rx))
    }
}

/// A webhook receiver: a thread serving POSTs on a local address, checking the bearer
/// token in constant time, and handing each event over. Dropping it stops it.
///
/// Answers: 200 for an event handed over (or a redelivery of one), 401 for a missing or
/// wrong bearer token, 404 for another path, 405 for another method, 413 for a body over
/// the limit, 400 for a body cut short or not a valid notification, 500 if the callback
/// panicked.
///
/// ```
/// use roboflow_batch::webhook::{Event, Receiver};
/// let (receiver, events) = Receiver::builder().workspace("acme").path("/hook").spawn_channel()?;
/// let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
/// let body = r#"{"type":"roboflow-batch-job-notification-v1","event_id":"e1","job_id":"job-1","job_state":"success","delivery_attempt":1}"#;
/// let ok = agent.post(&receiver.url()).header("Authorization", "Bearer rf_acme").send(body)?;
/// assert_eq!(ok.status(), 200);
/// let denied = agent.post(&receiver.url()).header("Authorization", "Bearer rf_other").send(body)?;
/// assert_eq!(denied.status(), 401);
/// assert!(matches!(events.recv()?, Event::Job(j) if j.job_id == "job-1"));
/// assert_eq!((receiver.accepted(), receiver.rejected()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver {
    addr: SocketAddr,
    path: String,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
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
    /// A builder.
    ///
    /// ```
    /// let b = roboflow_batch::webhook::Receiver::builder();
    /// # let _ = b;
    /// ```
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    fn start(b: ReceiverBuilder, mut on_event: Callback) -> Result<Receiver> {
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
        let server = tiny_http::Server::http(b.addr)
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", b.addr)))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::Config("the receiver is not on an IP address".into()))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let ctx = Handler {
            token,
            path: b.path.clone(),
            max_body: b.max_body,
            dedupe: b.dedupe,
            seen: Seen::default(),
        };
        let (srv, stop, count) = (server.clone(), stopping.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("webhook-receiver".into())
            .spawn(move || {
                let mut ctx = ctx;
                while !stop.load(Ordering::SeqCst) {
                    let Ok(req) = srv.recv() else { break };
                    // A bug here must not stop the receiver: the request (dropped with the
                    // unwinding) is answered 500 by tiny_http, and serving goes on.
                    let handled =
                        catch_unwind(AssertUnwindSafe(|| ctx.handle(req, &mut on_event, &count)));
                    if handled.is_err() {
                        count.rejected.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
            .map_err(|e| Error::io("starting the webhook receiver thread", e))?;
        Ok(Receiver {
            addr,
            path: b.path,
            server,
            stopping,
            counters,
            thread: Some(thread),
        })
    }

    /// The URL to give the service as `notificationsURL`.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").path("/h").spawn(|_| {})?;
    /// assert!(r.url().ends_with("/h"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn url(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) => format!("http://{a}{}", self.path),
            SocketAddr::V6(a) => format!("http://[{}]:{}{}", a.ip(), a.port(), self.path),
        }
    }

    /// The address it listens on.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {})?;
    /// assert!(r.local_addr().ip().is_loopback());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered 200.
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {})?;
    /// assert_eq!(r.accepted(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Requests refused (any status but 200).
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {})?;
    /// assert_eq!(r.rejected(), 0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::SeqCst)
    }

    /// Stops serving and waits for the thread (also done on drop).
    ///
    /// ```
    /// let r = roboflow_batch::webhook::Receiver::builder().workspace("w").spawn(|_| {})?;
    /// r.stop();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn stop(self) {
        drop(self)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Event ids handed over lately, oldest first out.
#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > REMEMBERED_EVENTS
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

struct Handler {
    token: String,
    path: String,
    max_body: u64,
    dedupe: bool,
    seen: Seen,
}

impl Handler {
    /// Answers one request, counting it first so that a sender who sees the answer also
    /// sees the count.
    fn handle(&mut self, mut req: tiny_http::Request, on_event: &mut Callback, count: &Counters) {
        let (status, message) = self.decide(&mut req, on_event);
        let counter = if status == 200 {
            &count.accepted
        } else {
            &count.rejected
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({ "message": message }).to_string();
        let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
        if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
            resp = resp.with_header(h);
        }
        if status == 401
            && let Ok(h) = tiny_http::Header::from_bytes("WWW-Authenticate", "Bearer")
        {
            resp = resp.with_header(h);
        }
        let _ = req.respond(resp);
    }

    fn decide(&mut self, req: &mut tiny_http::Request, on_event: &mut Callback) -> (u16, String) {
        let path = req.url().split('?').next().unwrap_or("");
        if path != self.path {
            return (404, format!("no webhook at {path}"));
        }
        if *req.method() != tiny_http::Method::Post {
            return (405, "webhooks are POSTed".into());
        }
        let auth = header(req, "Authorization");
        if !bearer_matches(auth.as_deref(), &self.token) {
            return (401, "missing or wrong bearer token".into());
        }
        let declared = req.body_length().map(|n| n as u64);
        if declared.is_some_and(|n| n > self.max_body) {
            return (413, format!("body over {} bytes", self.max_body));
        }
        let mut body = Vec::new();
        let read = req
            .as_reader()
            .take(self.max_body.saturating_add(1))
            .read_to_end(&mut body);
        match read {
            Err(e) => return (400, format!("cannot read the body: {e}")),
            Ok(n) if n as u64 > self.max_body => {
                return (413, format!("body over {} bytes", self.max_body));
            }
            // tiny_http reports a body cut short as a normal end.
            Ok(n) if declared.is_some_and(|d| d != n as u64) => {
                return (400, "the body ended before its Content-Length".into());
            }
            Ok(_) => {}
        }
        let event = match Event::parse(&body) {
            Ok(e) => e,
            Err(e) => return (400, e.to_string()),
        };
        let id = event.event_id().map(str::to_string);
        if self.dedupe
            && let Some(id) = &id
            && self.seen.contains(id)
        {
            return (200, "already received".into());
        }
        if catch_unwind(AssertUnwindSafe(|| on_event(event))).is_err() {
            return (500, "the event handler failed".into());
        }
        if self.dedupe
            && let Some(id) = &id
        {
            self.seen.insert(id);
        }
        (200, "ok".into())
    }
}

fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}
