//! The sources of time and randomness that retries and polling use, injected so that tests
//! take no real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rand::FastRng;

/// The sources of time and randomness used by retries and polling.
///
/// - `sleep` waits;
/// - `now` is the wall clock, used only to read HTTP dates (`Retry-After`) and to sign
///   bucket URLs;
/// - `monotonic` is the time elapsed since a fixed start, which never goes back: every
///   deadline (such as a wait's timeout) is measured on it, so a wall clock that jumps
///   cannot shorten or stretch a wait;
/// - `jitter` is a random fraction for backoff.
///
/// Replace them in tests so that waits take no real time and are repeatable; give the clock
/// to [`BatchApiBuilder::clock`](crate::BatchApiBuilder::clock):
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use roboflow_batch::{api::Clock, BatchApi};
/// use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
/// let slept = Arc::new(Mutex::new(Vec::new()));
/// let log = slept.clone();
/// let clock = Clock::system()
///     .sleep_fn(move |d| log.lock().unwrap().push(d))
///     .jitter_fn(|| 0.5);
/// let busy = |_: HttpRequest| -> Result<HttpResponse, TransportError> { Ok(HttpResponse::json(503, "{}")) };
/// let api = BatchApi::builder().api_key("k").workspace("acme").clock(clock).transport(busy).build()?;
/// assert!(api.batch_count("b", None).is_err()); // after 4 retries, at once
/// // Half (the jitter) of each backoff ceiling: 0.5 s, 1 s, 2 s, 4 s.
/// let secs: Vec<f64> = slept.lock().unwrap().iter().map(|d| d.as_secs_f64()).collect();
/// assert_eq!(secs, [0.25, 0.5, 1.0, 2.0]);
/// # Ok::<(), roboflow_batch::Error>(())
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
    /// pseudo-random jitter (the default).
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").clock(roboflow_batch::api::Clock::system()).build()?;
    /// # Ok::<(), roboflow_batch::Error>(())
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

    /// Replaces sleeping (see the example on [`Clock`]).
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system().sleep_fn(|_| {}); // never sleeps
    /// ```
    #[must_use]
    pub fn sleep_fn(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// Replaces the wall clock, which reads `Retry-After` dates (a date 10 s ahead of it is a
    /// wait of 10 s) and dates bucket signatures.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let clock = roboflow_batch::api::Clock::system().now_fn(|| UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    /// ```
    #[must_use]
    pub fn now_fn(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// Replaces the monotonic clock: a function returning the time elapsed since any fixed
    /// start, which must never decrease. Deadlines are measured on it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// // A fake clock that advances only by what is slept: an hour's wait takes no time.
    /// let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    /// let (e1, e2) = (elapsed.clone(), elapsed.clone());
    /// let clock = roboflow_batch::api::Clock::system()
    ///     .sleep_fn(move |d| *e1.lock().unwrap() += d)
    ///     .monotonic_fn(move || *e2.lock().unwrap());
    /// ```
    #[must_use]
    pub fn monotonic_fn(mut self, elapsed: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        self.monotonic = Arc::new(elapsed);
        self
    }

    /// Replaces the jitter source; it must return fractions in `[0, 1)` (see the example on
    /// [`Clock`]).
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system().jitter_fn(|| 0.25);
    /// ```
    #[must_use]
    pub fn jitter_fn(mut self, jitter: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    /// Sleeps for `d`.
    pub(crate) fn sleep(&self, d: Duration) {
        (self.sleep)(d)
    }

    /// The current time.
    pub(crate) fn now(&self) -> SystemTime {
        (self.now)()
    }

    /// The time elapsed since the clock's fixed start, never decreasing.
    pub(crate) fn monotonic(&self) -> Duration {
        (self.monotonic)()
    }

    /// A random fraction in `[0, 1)`.
    pub(crate) fn jitter(&self) -> f64 {
        (self.jitter)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_moves_and_its_jitter_is_a_fraction() {
        let c = Clock::system();
        assert!(c.now() > std::time::UNIX_EPOCH);
        let a = c.monotonic();
        c.sleep(Duration::from_millis(2));
        assert!(c.monotonic() >= a + Duration::from_millis(2));
        for _ in 0..1000 {
            let j = c.jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
