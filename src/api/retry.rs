//! Retries as data: which failures are repeated, and how long to wait between tries.
//!
//! The decisions are pure functions of the failure, the request's [`Idempotency`] and the
//! attempt number, so they are tested as tables. Sleeping, the clock and the jitter are
//! injected through [`Clock`], so retry tests take no real time.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rand::FastRng;

use crate::transport::TransportErrorKind;

/// Whether repeating a request could duplicate its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it is harmless: reads, PUTs to a signed URL, and POSTs the service
    /// de-duplicates (a job start with the same id and definition, an abort, a single image
    /// keyed by its file name, a request for another signed URL).
    Idempotent,
    /// Repeating it could act twice (a restart; a references ingest without an ingest id).
    /// Retried only when the failure shows the request was not acted on: no connection,
    /// or a 408, 429 or 503 refusal.
    NotIdempotent,
}

/// How failures are retried.
///
/// Waits grow exponentially from `initial_backoff` by `multiplier` up to `max_backoff`, with
/// full jitter (a uniform random fraction of the ceiling). A server's `Retry-After` (seconds
/// or an HTTP date) replaces the computed wait; one longer than `max_retry_after` is not
/// waited out, and the error is returned at once with the delay in it.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::api::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_retries, 4);
/// // The ceiling doubles per attempt, capped.
/// assert_eq!(p.backoff_ceiling(0), Duration::from_millis(500));
/// assert_eq!(p.backoff_ceiling(2), Duration::from_secs(2));
/// assert_eq!(p.backoff_ceiling(30), p.max_backoff);
/// assert_eq!(RetryPolicy::never().max_retries, 0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first try (so `max_retries + 1` tries at most).
    pub max_retries: u32,
    /// The ceiling of the first wait.
    pub initial_backoff: Duration,
    /// The largest ceiling.
    pub max_backoff: Duration,
    /// How fast the ceiling grows.
    pub multiplier: f64,
    /// The longest `Retry-After` that is waited out.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Give up and return the error.
    Stop,
    /// Wait this long, then try again.
    RetryAfter(Duration),
}

impl RetryPolicy {
    /// A policy that never retries.
    ///
    /// ```
    /// use roboflow_batch::api::{Idempotency, RetryDecision, RetryPolicy};
    /// use roboflow_batch::transport::TransportErrorKind;
    /// let p = RetryPolicy::never();
    /// assert_eq!(p.on_transport_error(TransportErrorKind::Connect, Idempotency::Idempotent, 0, 0.5), RetryDecision::Stop);
    /// ```
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The ceiling of the wait after failed try number `attempt` (0-based).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = roboflow_batch::api::RetryPolicy::default();
    /// assert_eq!(p.backoff_ceiling(1), Duration::from_secs(1));
    /// assert_eq!(p.backoff_ceiling(100), Duration::from_secs(30));
    /// ```
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(63) as i32);
        let secs = self.initial_backoff.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max_backoff.as_secs_f64() {
            self.max_backoff
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The decision after an HTTP error status. `attempt` is the 0-based number of the
    /// try that failed, and `jitter` is a random fraction in `[0, 1)`.
    pub(crate) fn on_status(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        idempotency: Idempotency,
        attempt: u32,
        jitter: f64,
    ) -> RetryDecision {
        let retryable = match idempotency {
            Idempotency::Idempotent => crate::error::is_retryable_status(status),
            Idempotency::NotIdempotent => matches!(status, 408 | 429 | 503),
        };
        if !retryable || attempt >= self.max_retries {
            return RetryDecision::Stop;
        }
        match retry_after {
            Some(d) if d > self.max_retry_after => RetryDecision::Stop,
            Some(d) => RetryDecision::RetryAfter(d),
            None => RetryDecision::RetryAfter(self.jittered(attempt, jitter)),
        }
    }

    /// The decision after a failed exchange (no response).
    ///
    /// ```
    /// use roboflow_batch::api::{Idempotency, RetryDecision, RetryPolicy};
    /// use roboflow_batch::transport::TransportErrorKind as K;
    /// let p = RetryPolicy::default();
    /// assert_ne!(p.on_transport_error(K::Connect, Idempotency::NotIdempotent, 0, 0.0), RetryDecision::Stop);
    /// assert_eq!(p.on_transport_error(K::Timeout, Idempotency::NotIdempotent, 0, 0.0), RetryDecision::Stop);
    /// ```
    pub fn on_transport_error(
        &self,
        kind: TransportErrorKind,
        idempotency: Idempotency,
        attempt: u32,
        jitter: f64,
    ) -> RetryDecision {
        let idempotent = idempotency == Idempotency::Idempotent;
        if !kind.is_retryable(idempotent) || attempt >= self.max_retries {
            return RetryDecision::Stop;
        }
        RetryDecision::RetryAfter(self.jittered(attempt, jitter))
    }

    fn jittered(&self, attempt: u32, jitter: f64) -> Duration {
        let j = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self.backoff_ceiling(attempt).mul_f64(j)
    }
}

/// Why a request is about to be tried again, as told to an observer set with
/// [`observe_retries`]: nothing secret, only a status or a kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryCause {
    /// The server answered with this status.
    Status(u16),
    /// No response: the exchange failed this way.
    Transport(TransportErrorKind),
}

impl std::fmt::Display for RetryCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryCause::Status(s) => write!(f, "HTTP {s}"),
            RetryCause::Transport(k) => write!(f, "transport error ({k})"),
        }
    }
}

type Observer = Rc<dyn Fn(RetryCause)>;

thread_local! {
    static OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
}

/// Runs `f`, telling `observer` about each retry that requests made meanwhile on this
/// thread decide on (before their wait). Requests are blocking, so every try of a call
/// made inside `f` happens on this thread.
pub(crate) fn observe_retries<R>(
    observer: impl Fn(RetryCause) + 'static,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore(Option<Observer>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let _ = OBSERVER.try_with(|o| *o.borrow_mut() = prev);
        }
    }
    let prev = OBSERVER.with(|o| o.replace(Some(Rc::new(observer))));
    let _restore = Restore(prev);
    f()
}

/// Tells this thread's observer, if any, that a request will be tried again.
pub(crate) fn notify_retry(cause: RetryCause) {
    let observer = OBSERVER.with(|o| o.borrow().clone());
    if let Some(observer) = observer {
        observer(cause);
    }
}

/// Parses `Retry-After`: delta seconds, or an HTTP date measured against `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if (0.0..1e9).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

/// The sources of time and randomness used by retries and polling.
///
/// - `sleep` waits;
/// - `now` is the wall clock, used only to read HTTP dates (`Retry-After`);
/// - `monotonic` is the time elapsed since a fixed start, which never goes back: every
///   deadline (such as a wait's timeout) is measured on it, so a wall clock that jumps
///   cannot shorten or stretch a wait;
/// - `jitter` is a random fraction for backoff.
///
/// Replace them in tests so that waits take no real time and are repeatable:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use roboflow_batch::api::Clock;
/// let slept = Arc::new(Mutex::new(Vec::new()));
/// let log = slept.clone();
/// let clock = Clock::system()
///     .with_sleep(move |d| log.lock().unwrap().push(d))
///     .with_jitter(|| 0.5);
/// clock.sleep(Duration::from_secs(3));
/// assert_eq!(*slept.lock().unwrap(), vec![Duration::from_secs(3)]);
/// assert_eq!(clock.jitter(), 0.5);
/// ```
#[derive(Clone)]
pub struct Clock {
    sleep: Arc<dyn Fn(Duration) + Send + Sync>,
    now: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    monotonic: Arc<dyn Fn() -> Duration + Send + Sync>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// Real sleeping, the system clock, [`Instant`] as the monotonic clock and a fast
    /// pseudo-random jitter.
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system();
    /// assert!(clock.now() > std::time::UNIX_EPOCH);
    /// assert!((0.0..1.0).contains(&clock.jitter()));
    /// ```
    pub fn system() -> Self {
        let rng = Mutex::new(FastRng::from_os());
        let start = Instant::now();
        Clock {
            sleep: Arc::new(std::thread::sleep),
            now: Arc::new(SystemTime::now),
            monotonic: Arc::new(move || start.elapsed()),
            jitter: Arc::new(move || rng.lock().unwrap_or_else(|p| p.into_inner()).next_f64()),
        }
    }

    /// Replaces sleeping.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    /// use std::{sync::Arc, time::Duration};
    /// let total = Arc::new(AtomicU64::new(0));
    /// let t = total.clone();
    /// let clock = roboflow_batch::api::Clock::system().with_sleep(move |d| { t.fetch_add(d.as_secs(), SeqCst); });
    /// clock.sleep(Duration::from_secs(3600)); // returns at once
    /// assert_eq!(total.load(SeqCst), 3600);
    /// ```
    #[must_use]
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// Replaces the clock.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let clock = roboflow_batch::api::Clock::system().with_now(|| UNIX_EPOCH + Duration::from_secs(60));
    /// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn with_now(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// Replaces the monotonic clock: a function returning the time elapsed since any fixed
    /// start, which must never decrease. Deadlines are measured on it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// // A fake clock that advances only by what is slept.
    /// let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    /// let (e1, e2) = (elapsed.clone(), elapsed.clone());
    /// let clock = roboflow_batch::api::Clock::system()
    ///     .with_sleep(move |d| *e1.lock().unwrap() += d)
    ///     .with_monotonic(move || *e2.lock().unwrap());
    /// clock.sleep(Duration::from_secs(90));
    /// assert_eq!(clock.monotonic(), Duration::from_secs(90));
    /// ```
    #[must_use]
    pub fn with_monotonic(
        mut self,
        elapsed: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.monotonic = Arc::new(elapsed);
        self
    }

    /// Replaces the jitter source; it must return fractions in `[0, 1)`.
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system().with_jitter(|| 0.25);
    /// assert_eq!(clock.jitter(), 0.25);
    /// ```
    #[must_use]
    pub fn with_jitter(mut self, jitter: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    /// Sleeps for `d`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// roboflow_batch::api::Clock::system().sleep(Duration::from_millis(5));
    /// assert!(start.elapsed() >= Duration::from_millis(5));
    /// ```
    pub fn sleep(&self, d: Duration) {
        (self.sleep)(d)
    }

    /// The current time.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// let clock = roboflow_batch::api::Clock::system().with_now(|| UNIX_EPOCH);
    /// assert_eq!(clock.now(), UNIX_EPOCH);
    /// ```
    pub fn now(&self) -> SystemTime {
        (self.now)()
    }

    /// The time elapsed since the clock's fixed start, never decreasing.
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system();
    /// let a = clock.monotonic();
    /// assert!(clock.monotonic() >= a);
    /// ```
    pub fn monotonic(&self) -> Duration {
        (self.monotonic)()
    }

    /// A random fraction in `[0, 1)`.
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::default();
    /// let j = clock.jitter();
    /// assert!((0.0..1.0).contains(&j));
    /// ```
    pub fn jitter(&self) -> f64 {
        (self.jitter)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Idempotency::*;
    use RetryDecision::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn status_decisions_table() {
        let p = RetryPolicy::default();
        let ceiling0 = p.backoff_ceiling(0);
        let cases: &[(u16, Idempotency, RetryDecision)] = &[
            (400, Idempotent, Stop),
            (401, Idempotent, Stop),
            (404, Idempotent, Stop),
            (409, Idempotent, Stop),
            (408, Idempotent, RetryAfter(ceiling0)),
            (429, Idempotent, RetryAfter(ceiling0)),
            (500, Idempotent, RetryAfter(ceiling0)),
            (502, Idempotent, RetryAfter(ceiling0)),
            (503, Idempotent, RetryAfter(ceiling0)),
            (504, Idempotent, RetryAfter(ceiling0)),
            (501, Idempotent, Stop),
            (500, NotIdempotent, Stop),
            (502, NotIdempotent, Stop),
            (504, NotIdempotent, Stop),
            (503, NotIdempotent, RetryAfter(ceiling0)),
            (429, NotIdempotent, RetryAfter(ceiling0)),
        ];
        for &(status, idem, want) in cases {
            assert_eq!(
                p.on_status(status, None, idem, 0, 1.0),
                want,
                "{status} {idem:?}"
            );
        }
    }

    #[test]
    fn gives_up_after_max_retries_and_on_long_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.on_status(503, None, Idempotent, p.max_retries, 0.5), Stop);
        assert_ne!(
            p.on_status(503, None, Idempotent, p.max_retries - 1, 0.5),
            Stop
        );
        let long = p.max_retry_after + Duration::from_secs(1);
        assert_eq!(p.on_status(429, Some(long), Idempotent, 0, 0.5), Stop);
    }

    #[test]
    fn full_jitter_scales_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.on_status(503, None, Idempotent, 1, 0.0),
            RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            p.on_status(503, None, Idempotent, 1, 0.5),
            RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(
            p.on_status(503, None, Idempotent, 1, f64::NAN),
            RetryAfter(Duration::from_millis(500))
        );
    }

    #[test]
    fn transport_decisions_table() {
        use TransportErrorKind as K;
        let p = RetryPolicy::default();
        let cases = [
            (K::Connect, Idempotent, true),
            (K::Connect, NotIdempotent, true),
            (K::Timeout, Idempotent, true),
            (K::Timeout, NotIdempotent, false),
            (K::Interrupted, Idempotent, true),
            (K::Interrupted, NotIdempotent, false),
            (K::Protocol, Idempotent, false),
            (K::Body, Idempotent, false),
            (K::Other, Idempotent, false),
        ];
        for (kind, idem, retry) in cases {
            let d = p.on_transport_error(kind, idem, 0, 0.5);
            assert_eq!(d != Stop, retry, "{kind:?} {idem:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let before = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", before),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", before), None);
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn system_jitter_is_a_fraction() {
        let c = Clock::system();
        for _ in 0..1000 {
            let j = c.jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
