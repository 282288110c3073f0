//! The sources of time and randomness that retries and polling use, injected so that tests
//! take no real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rand::FastRng;

/// The sources of time and randomness used by retries and polling: `sleep`; `now`, the wall
/// clock (only for `Retry-After` dates and bucket signatures); `monotonic`, on which every
/// deadline is measured, so a wall clock that jumps cannot change a wait; and `jitter`.
/// Replace them in tests so that waits take no real time and are repeatable.
///
/// ```
/// let clock = roboflow_batch::api::Clock::system().sleep_fn(|_| {}).jitter_fn(|| 0.5);
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
    /// let clock = roboflow_batch::api::Clock::system();
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

    /// Replaces sleeping (see [`Clock`]).
    #[must_use]
    pub fn sleep_fn(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// Replaces the wall clock, which reads `Retry-After` dates (a date 10 s ahead of it is a
    /// wait of 10 s) and dates bucket signatures.
    ///
    /// ```
    /// let clock = roboflow_batch::api::Clock::system().now_fn(|| std::time::UNIX_EPOCH);
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
    /// let clock = roboflow_batch::api::Clock::system().monotonic_fn(|| std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn monotonic_fn(mut self, elapsed: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        self.monotonic = Arc::new(elapsed);
        self
    }

    /// Replaces the jitter source; it must return fractions in `[0, 1)` (see [`Clock`]).
    #[must_use]
    pub fn jitter_fn(mut self, jitter: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    pub(crate) fn sleep(&self, d: Duration) {
        (self.sleep)(d)
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.now)()
    }

    pub(crate) fn monotonic(&self) -> Duration {
        (self.monotonic)()
    }

    pub(crate) fn jitter(&self) -> f64 {
        (self.jitter)()
    }
}
