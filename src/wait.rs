//! The crate's one poll loop, under [`WaitOptions`] and the client's [`Clock`].

use std::time::Duration;

use crate::BatchApi;
use crate::api::Clock;
use crate::error::{Error, Result};

/// How often to poll, for how long, and how many failed polls a wait survives: the
/// interval grows by half after each poll up to `max_interval`, never under 100 ms; the last
/// poll is at `timeout` on the monotonic clock; up to `max_failed_polls` in a row may fail
/// with a transient error ([`Error::is_retryable`]).
///
/// ```
/// let o = roboflow_batch::wait::WaitOptions::default().max_failed_polls(0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// The first wait between polls.
    pub poll_interval: Duration,
    /// The longest wait between polls.
    pub max_interval: Duration,
    /// Give up after this long (default 24 hours).
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
            timeout: Duration::from_secs(24 * 3600),
            max_failed_polls: 5,
        }
    }
}

impl WaitOptions {
    /// The shortest wait between two polls, whatever the options say.
    pub(crate) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

    crate::model::setters! {
        setup: "use std::time::Duration;",
        on: "roboflow_batch::wait::WaitOptions::default()";
        /// Sets the first interval (and raises the longest to match if needed).
        poll_interval(s, interval: Duration) = "Duration::from_secs(1)" {
            s.poll_interval = interval;
            s.max_interval = s.max_interval.max(interval);
        }
        /// Sets the longest interval.
        max_interval(s, interval: Duration) = "Duration::from_secs(5)" {
            s.max_interval = interval;
        }
        /// Sets the timeout.
        timeout(s, timeout: Duration) = "Duration::from_secs(60)" {
            s.timeout = timeout;
        }
        /// Sets how many polls in a row may fail with a transient error.
        max_failed_polls(s, n: u32) = "0" {
            s.max_failed_polls = n;
        }
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
    /// Polls a bulk-upload batch until at least `expected` items are indexed and returns
    /// the count; [`Error::ShardFailed`] when it is short, a shard failed and none is still
    /// being indexed (a failed shard's files may be in another).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.wait_for_ingest("my-batch", 1000, &Default::default())?;
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
            || {
                let count = self.batch_count(batch_id, None)?;
                if count >= expected {
                    return Ok(Some(count));
                }
                let shards = self.shards(batch_id, None).collect::<Result<Vec<_>>>()?;
                let failed: Vec<_> = shards.iter().filter(|s| s.is_failed()).collect();
                let in_progress = shards.iter().any(|s| s.is_in_progress());
                let Some(first) = failed.first().filter(|_| !in_progress) else {
                    return Ok(None);
                };
                let count = self.batch_count(batch_id, None)?;
                if count >= expected {
                    return Ok(Some(count));
                }
                let (n_failed, total) = (failed.len(), shards.len());
                let metadata = first
                    .status_metadata
                    .as_ref()
                    .map(|m| crate::redact::clean_snippet(&m.to_string(), 512, &self.secrets("")))
                    .unwrap_or_default();
                Err(Error::ShardFailed {
                    batch_id: batch_id.to_string(),
                    shard_id: first.shard_id.clone(),
                    status: first.status_name.clone(),
                    details: format!(
                        "{n_failed} of {total} shards failed, none in progress, {count} of {expected} items indexed; {metadata}"
                    ),
                })
            },
        )
    }
}

/// Calls `check` until it returns a value, as [`WaitOptions`] say; the last call is at the
/// deadline, and a timeout names `what`.
pub(crate) fn poll<T>(
    clock: &Clock,
    options: &WaitOptions,
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = clock.monotonic();
    let waited = || clock.monotonic().saturating_sub(start);
    let mut interval = options.first();
    let mut failed = 0u32;
    loop {
        match check() {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => failed = 0,
            Err(e) if e.is_retryable() && failed < options.max_failed_polls => failed += 1,
            Err(e) => return Err(e),
        }
        let waited = waited();
        if waited >= options.timeout {
            let what = what.to_string();
            return Err(Error::WaitTimeout { what, waited });
        }
        // Never less than the floor, even at the deadline: no tight loop.
        let left = options.timeout.saturating_sub(waited);
        clock.sleep(interval.min(left).max(WaitOptions::MIN_POLL_INTERVAL));
        interval = options.next(interval);
    }
}
