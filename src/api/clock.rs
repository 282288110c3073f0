//! The sources of time and randomness that retries and polling use, injected so that tests
//! take no real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rand::FastRng;

/// The sources of time and randomness of retries and polling: `sleep`, `now` (the wall
/// clock, for `Retry-After` dates and bucket signatures), `monotonic` (for every deadline)
/// and `jitter`. Replace them in tests so that waits take no time and repeat.
///
/// ```
/// let clock = roboflow_batch::api::Clock::system().sleep_fn(|_| {});
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

    crate::model::setters! {
        setup: "use std::time::{Duration, UNIX_EPOCH};",
        on: "roboflow_batch::api::Clock::system()";
        /// Replaces sleeping.
        sleep_fn(s, sleep: impl Fn(Duration) + Send + Sync + 'static) = "|_| {}" {
            s.sleep = Arc::new(sleep);
        }
        /// Replaces the wall clock, which reads `Retry-After` dates (a date 10 s ahead of it is
        /// a wait of 10 s) and dates bucket signatures.
        now_fn(s, now: impl Fn() -> SystemTime + Send + Sync + 'static) = "|| UNIX_EPOCH" {
            s.now = Arc::new(now);
        }
        /// Replaces the monotonic clock: the time elapsed since any fixed start, which must
        /// never decrease. Deadlines are measured on it.
        monotonic_fn(s, f: impl Fn() -> Duration + Send + Sync + 'static) = "|| Duration::ZERO" {
            s.monotonic = Arc::new(f);
        }
        /// Replaces the jitter source; it must return fractions in `[0, 1)`.
        jitter_fn(s, jitter: impl Fn() -> f64 + Send + Sync + 'static) = "|| 0.5" {
            s.jitter = Arc::new(jitter);
        }
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
