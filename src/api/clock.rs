//! The sources of time and randomness that retries and polling use, injected so that tests
//! take no real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rand::FastRng;

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

    #[test]
    fn system_jitter_is_a_fraction() {
        let c = Clock::system();
        for _ in 0..1000 {
            let j = c.jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
