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
/// `max_interval`.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::wait::WaitOptions;
/// let o = WaitOptions::default().with_timeout(Duration::from_secs(60));
/// assert_eq!(o.poll_interval, Duration::from_secs(2));
/// assert_eq!(o.timeout, Some(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// The first wait between polls.
    pub poll_interval: Duration,
    /// The longest wait between polls.
    pub max_interval: Duration,
    /// Give up after this long; `None` waits for ever.
    pub timeout: Option<Duration>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            poll_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            timeout: None,
        }
    }
}

impl WaitOptions {
    /// Sets the first interval (and raises the longest to match if needed).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().with_poll_interval(Duration::from_millis(100));
    /// assert_eq!(o.poll_interval, Duration::from_millis(100));
    /// ```
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
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Sets the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::wait::WaitOptions::default().with_timeout(Duration::from_secs(9));
    /// assert_eq!(o.timeout, Some(Duration::from_secs(9)));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn next(&self, current: Duration) -> Duration {
        (current + current / 2).min(self.max_interval)
    }
}

impl BatchApi {
    /// Polls a job until it is terminal (completed or failed) and returns its last status.
    /// `on_poll` sees every status, for progress reporting. A failed job is returned as
    /// `Ok`: check [`JobStatusResponse::state`].
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

    /// Polls a bulk-upload batch until at least `expected` items are indexed, failing as
    /// soon as a shard reports an error. Returns the count.
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
                for shard in self.shards(batch_id, None) {
                    let shard = shard?;
                    if shard.is_failed() {
                        return Err(Error::ShardFailed {
                            batch_id: batch_id.to_string(),
                            shard_id: shard.shard_id,
                            status: shard.status_name,
                            details: shard
                                .status_metadata
                                .map(|m| crate::redact::snippet(&m.to_string(), 512))
                                .unwrap_or_default(),
                        });
                    }
                }
                Ok(None)
            },
        )
    }

    /// Calls `check` until it returns a value, sleeping between calls, within the timeout.
    fn poll<T>(
        &self,
        what: &str,
        options: &WaitOptions,
        mut check: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let clock = self.clock();
        let start = clock.now();
        let mut interval = options.poll_interval;
        loop {
            if let Some(done) = check()? {
                return Ok(done);
            }
            let waited = clock.now().duration_since(start).unwrap_or_default();
            if let Some(limit) = options.timeout
                && waited + interval > limit
            {
                return Err(Error::WaitTimeout {
                    what: what.to_string(),
                    waited,
                });
            }
            clock.sleep(interval);
            interval = options.next(interval);
        }
    }
}
