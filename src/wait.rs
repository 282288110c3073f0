//! Polling until something is done: a job reaching a terminal state, or a bulk ingest being
//! indexed. Sleep and clock come from the client's [`Clock`](crate::api::Clock), so tests
//! of these loops take no real time.

use std::time::Duration;

use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::JobStatusResponse;

/// How often to poll, and for how long.
///
/// The interval starts at `poll_interval` and grows by half after each poll, up to
/// `max_interval`. Every interval is at least [`MIN_POLL_INTERVAL`](Self::MIN_POLL_INTERVAL),
/// so a zero interval never makes a tight loop. A wait always ends: after `timeout`
/// ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), 24 hours, unless set), measured on the
/// client's monotonic clock ([`Clock::monotonic`](crate::api::Clock::monotonic)), the wait
/// fails with [`Error::WaitTimeout`]. The last poll happens at the deadline.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::wait::WaitOptions;
/// let o = WaitOptions::default().with_timeout(Duration::from_secs(60));
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
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            poll_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            timeout: Self::DEFAULT_TIMEOUT,
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
    /// let o = roboflow_batch::wait::WaitOptions::default().with_poll_interval(Duration::from_millis(100));
    /// assert_eq!(o.poll_interval, Duration::from_millis(100));
    /// ```
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self.max_interval = self.max_interval.max(interval);
        self
    }

    /// Sets the longest interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().with_max_interval(Duration::from_secs(5));
    /// assert_eq!(o.max_interval, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Sets the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().with_timeout(Duration::from_secs(9));
    /// assert_eq!(o.timeout, Duration::from_secs(9));
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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
        job_id: &str,
        options: &WaitOptions,
        mut on_poll: impl FnMut(&JobStatusResponse),
    ) -> Result<JobStatusResponse> {
        self.poll(&format!("job {job_id}"), options, || {
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
        batch_id: &str,
        expected: u64,
        options: &WaitOptions,
    ) -> Result<u64> {
        self.poll(
            &format!("{expected} items in batch {batch_id}"),
            options,
            || {
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

    /// Calls `check` until it returns a value, sleeping between calls; the last call
    /// happens at the deadline, measured on the monotonic clock.
    pub(crate) fn poll<T>(
        &self,
        what: &str,
        options: &WaitOptions,
        mut check: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let clock = self.clock();
        let start = clock.monotonic();
        let mut interval = options.first();
        loop {
            if let Some(done) = check()? {
                return Ok(done);
            }
            let waited = clock.monotonic().saturating_sub(start);
            if waited >= options.timeout {
                return Err(Error::WaitTimeout {
                    what: what.to_string(),
                    waited,
                });
            }
            // Never less than the floor, even at the deadline: no tight loop.
            let left = options.timeout - waited;
            clock.sleep(interval.min(left).max(WaitOptions::MIN_POLL_INTERVAL));
            interval = options.next(interval);
        }
    }
}
