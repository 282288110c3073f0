//! Polling until something is done: a job reaching a terminal state, or a bulk ingest being
//! indexed. These two and [`Job::wait`](crate::jobs::Job::wait) run the crate's one poll
//! loop (`poll`, crate-private, which a verifier calls too), under [`WaitOptions`].
//! Sleep and clock come from the client's [`Clock`], so tests of these loops take no real
//! time.

use std::time::Duration;

use crate::BatchApi;
use crate::api::Clock;
use crate::error::{Error, Result};
use crate::model::JobStatusResponse;

/// How often to poll, for how long, and how many failed polls a wait survives.
///
/// The interval starts at `poll_interval` and grows by half after each poll, up to
/// `max_interval`. Every interval is at least [`MIN_POLL_INTERVAL`](Self::MIN_POLL_INTERVAL),
/// so a zero interval never makes a tight loop. A wait always ends: after `timeout`
/// ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), 24 hours, unless set), measured on the
/// client's monotonic clock (never the wall clock), the wait fails with
/// [`Error::WaitTimeout`]. The last poll happens at the deadline. A poll that fails with a
/// transient error ([`Error::is_retryable`], after the client's own retries) does not end
/// the wait, up to `max_failed_polls` in a row; any other error ends it at once.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::wait::WaitOptions;
/// let o = WaitOptions::default().timeout(Duration::from_secs(60));
/// assert_eq!(o.poll_interval, Duration::from_secs(2));
/// assert_eq!(o.timeout, Duration::from_secs(60));
/// assert_eq!(WaitOptions::default().timeout, WaitOptions::DEFAULT_TIMEOUT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// The first wait between polls (at least [`MIN_POLL_INTERVAL`](Self::MIN_POLL_INTERVAL)).
    pub poll_interval: Duration,
    /// The longest wait between polls.
    pub max_interval: Duration,
    /// Give up after this long (default [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)).
    pub timeout: Duration,
    /// Polls in a row that may fail with a transient error before the wait ends with that
    /// error (default 5).
    pub max_failed_polls: u32,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            poll_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            timeout: Self::DEFAULT_TIMEOUT,
            max_failed_polls: 5,
        }
    }
}

impl WaitOptions {
    /// How long a wait lasts unless told otherwise: 24 hours, longer than a typical batch
    /// job, short enough that a stuck job does not hold a process for ever.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::wait::WaitOptions::DEFAULT_TIMEOUT.as_secs(), 24 * 3600);
    /// ```
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    /// The shortest wait between two polls, whatever the options say (100 ms).
    ///
    /// ```
    /// assert_eq!(roboflow_batch::wait::WaitOptions::MIN_POLL_INTERVAL.as_millis(), 100);
    /// ```
    pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

    /// Sets the first interval (and raises the longest to match if needed).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().poll_interval(Duration::from_millis(100));
    /// assert_eq!(o.poll_interval, Duration::from_millis(100));
    /// ```
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self.max_interval = self.max_interval.max(interval);
        self
    }

    /// Sets the longest interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().max_interval(Duration::from_secs(5));
    /// assert_eq!(o.max_interval, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Sets the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().timeout(Duration::from_secs(9));
    /// assert_eq!(o.timeout, Duration::from_secs(9));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many polls in a row may fail with a transient error.
    ///
    /// ```
    /// let o = roboflow_batch::wait::WaitOptions::default().max_failed_polls(0);
    /// assert_eq!(o.max_failed_polls, 0); // the first failed poll ends the wait
    /// ```
    #[must_use]
    pub fn max_failed_polls(mut self, n: u32) -> Self {
        self.max_failed_polls = n;
        self
    }

    pub(crate) fn first(&self) -> Duration {
        self.poll_interval.max(Self::MIN_POLL_INTERVAL)
    }

    pub(crate) fn next(&self, current: Duration) -> Duration {
        let grown = current.saturating_add(current / 2);
        grown.min(self.max_interval).max(Self::MIN_POLL_INTERVAL)
    }
}

impl BatchApi {
    /// Polls a job until it is terminal and returns its last status. `on_poll` sees every
    /// status, for progress reporting. A failed or aborted job is returned as `Ok`: check
    /// [`JobStatusResponse::state`], whose rules (the job's `isTerminal` decides whenever
    /// it is sent) say when a job is terminal.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::wait::WaitOptions;
    /// let last = api.wait_for_job("nightly-1", &WaitOptions::default(), |s| {
    ///     println!("{} {:.0}%", s.state(), s.progress.unwrap_or(0.0) * 100.0);
    /// })?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait_for_job(
        &self,
        job_id: impl AsRef<str>,
        options: &WaitOptions,
        mut on_poll: impl FnMut(&JobStatusResponse),
    ) -> Result<JobStatusResponse> {
        let job_id = job_id.as_ref();
        poll(self.clock(), options, &format!("job {job_id}"), |_| {
            let status = self.job(job_id)?;
            on_poll(&status);
            Ok(status.state().is_terminal().then_some(status))
        })
    }

    /// Polls a bulk-upload batch until at least `expected` items are indexed and returns
    /// the count.
    ///
    /// A failed shard does not end the wait by itself, because its files may have been
    /// uploaded again in another shard. The wait fails with [`Error::ShardFailed`] only when
    /// all three hold at once: the count is below `expected`, at least one shard failed,
    /// and no shard is still being indexed (the count is read again after the shard
    /// listing, so a shard that finished in between is not missed). Otherwise it keeps
    /// polling until the count is reached or the timeout passes.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::wait::WaitOptions;
    /// let n = api.wait_for_ingest("my-batch", 1000, &WaitOptions::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait_for_ingest(
        &self,
        batch_id: impl AsRef<str>,
        expected: u64,
        options: &WaitOptions,
    ) -> Result<u64> {
        let batch_id = batch_id.as_ref();
        poll(
            self.clock(),
            options,
            &format!("{expected} items in batch {batch_id}"),
            |_| {
                let count = self.batch_count(batch_id, None)?;
                if count >= expected {
                    return Ok(Some(count));
                }
                let (mut failed, mut in_progress, mut total) = (Vec::new(), 0usize, 0usize);
                for shard in self.shards(batch_id, None) {
                    let shard = shard?;
                    total += 1;
                    if shard.is_failed() {
                        failed.push(shard);
                    } else if shard.is_in_progress() {
                        in_progress += 1;
                    }
                }
                if failed.is_empty() || in_progress > 0 {
                    return Ok(None);
                }
                let count = self.batch_count(batch_id, None)?;
                if count >= expected {
                    return Ok(Some(count));
                }
                let n_failed = failed.len();
                let first = failed.swap_remove(0);
                let metadata = first
                    .status_metadata
                    .map(|m| crate::redact::clean_snippet(&m.to_string(), 512, &self.secrets("")))
                    .unwrap_or_default();
                Err(Error::ShardFailed {
                    batch_id: batch_id.to_string(),
                    shard_id: first.shard_id,
                    status: first.status_name,
                    details: format!(
                        "{n_failed} of {total} shards failed, none in progress, {count} of {expected} items indexed; {metadata}"
                    ),
                })
            },
        )
    }
}

/// One poll of [`poll`]: how long the wait has lasted so far.
pub(crate) struct Poll<'a> {
    clock: &'a Clock,
    start: Duration,
    timeout: Duration,
}

impl Poll<'_> {
    /// The time since the wait began, read now.
    pub(crate) fn waited(&self) -> Duration {
        self.clock.monotonic().saturating_sub(self.start)
    }

    /// Whether the deadline has passed, read now: a check that sees it should give its final
    /// answer, as no other poll follows.
    pub(crate) fn deadline_passed(&self) -> bool {
        self.waited() >= self.timeout
    }
}

/// The crate's one poll loop. Calls `check` until it returns a value, sleeping between
/// calls as [`WaitOptions`] say (the interval grows by half from `poll_interval` up to
/// `max_interval`, never under [`WaitOptions::MIN_POLL_INTERVAL`]), on `clock` (so a fake
/// clock makes it instant). The last call happens at the deadline, after which the wait
/// fails with [`Error::WaitTimeout`] naming `what`. A check that fails with a transient
/// error is called again, up to `max_failed_polls` failures in a row; any other error is
/// returned at once.
///
/// `check` is told how long the wait has lasted ([`Poll::waited`]) and whether the deadline
/// has passed ([`Poll::deadline_passed`]): a check that returns `Some` at the deadline (a
/// verification reporting what is still missing) ends the wait without an error.
pub(crate) fn poll<T>(
    clock: &Clock,
    options: &WaitOptions,
    what: &str,
    mut check: impl FnMut(&Poll<'_>) -> Result<Option<T>>,
) -> Result<T> {
    let p = Poll {
        clock,
        start: clock.monotonic(),
        timeout: options.timeout,
    };
    let mut interval = options.first();
    let mut failed = 0u32;
    loop {
        match check(&p) {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => failed = 0,
            Err(e) if e.is_retryable() && failed < options.max_failed_polls => failed += 1,
            Err(e) => return Err(e),
        }
        if p.deadline_passed() {
            return Err(Error::WaitTimeout {
                what: what.to_string(),
                waited: p.waited(),
            });
        }
        // Never less than the floor, even at the deadline: no tight loop.
        let left = options.timeout.saturating_sub(p.waited());
        clock.sleep(interval.min(left).max(WaitOptions::MIN_POLL_INTERVAL));
        interval = options.next(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A clock whose monotonic time is the sum of what was slept.
    fn fake_clock() -> (Clock, Arc<Mutex<Vec<Duration>>>) {
        let slept = Arc::new(Mutex::new(Vec::new()));
        let (log, elapsed) = (slept.clone(), slept.clone());
        let clock = Clock::system()
            .sleep_fn(move |d| {
                let mut log = log.lock().unwrap();
                assert!(log.len() < 10_000, "the loop never ends");
                log.push(d);
            })
            .monotonic_fn(move || elapsed.lock().unwrap().iter().sum());
        (clock, slept)
    }

    fn options(first: u64, max: u64, timeout: u64) -> WaitOptions {
        WaitOptions {
            poll_interval: Duration::from_secs(first),
            max_interval: Duration::from_secs(max),
            timeout: Duration::from_secs(timeout),
            max_failed_polls: 0,
        }
    }

    #[test]
    fn the_last_poll_happens_at_the_deadline() {
        // Polls at 0, 10 and 25 s: the wait to 37.5 s is cut to the deadline.
        let (clock, slept) = fake_clock();
        let mut seen = Vec::new();
        let err = poll(&clock, &options(10, 60, 25), "the thing", |p| {
            seen.push((p.waited().as_secs(), p.deadline_passed()));
            Ok(None::<()>)
        })
        .unwrap_err();
        match err {
            Error::WaitTimeout { what, waited } => {
                assert_eq!(what, "the thing");
                assert_eq!(waited, Duration::from_secs(25));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(seen, [(0, false), (10, false), (25, true)]);
        assert_eq!(slept.lock().unwrap().len(), 2);
        // A check that answers at the deadline (a verification's final tally) is not an
        // error.
        let (clock, _) = fake_clock();
        let got = poll(&clock, &options(10, 60, 25), "x", |p| {
            Ok(p.deadline_passed().then(|| p.waited()))
        });
        assert_eq!(got.unwrap(), Duration::from_secs(25));
    }
}
