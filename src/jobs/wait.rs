//! Waiting for a job with progress snapshots, ending in a clear [`JobOutcome`].
//!
//! The polling itself is the crate's one poll loop ([`crate::wait`]), with its bounded
//! tolerance for transient errors; this adds a snapshot on each poll and the outcome.

use std::sync::mpsc;
use std::time::Duration;

use super::{ErrorReport, Job, Progress};
use crate::error::{Error, Result};
use crate::model::{JobStage, JobState, JobStatusResponse, TaskStatus};
use crate::wait::{WaitOptions, poll};
use crate::webhook::Event;

/// How to wait for a job.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::jobs::JobWaitOptions;
/// let o = JobWaitOptions::default().timeout(Duration::from_secs(3600));
/// assert_eq!(o.polling.timeout, Duration::from_secs(3600));
/// assert_eq!(o.polling.max_failed_polls, 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct JobWaitOptions {
    /// Intervals, timeout and failed polls allowed of the whole wait (the timeout defaults
    /// to [`WaitOptions::DEFAULT_TIMEOUT`], 24 hours).
    pub polling: WaitOptions,
    /// With a webhook: how long to wait for the job's notification before falling back to
    /// polling. Default 10 minutes.
    pub webhook_grace: Duration,
}

impl Default for JobWaitOptions {
    fn default() -> Self {
        JobWaitOptions {
            polling: WaitOptions::default(),
            webhook_grace: Duration::from_secs(600),
        }
    }
}

impl JobWaitOptions {
    /// Sets the polling options.
    ///
    /// ```
    /// use std::time::Duration;
    /// use roboflow_batch::{jobs::JobWaitOptions, wait::WaitOptions};
    /// let o = JobWaitOptions::default().polling(WaitOptions::default().poll_interval(Duration::from_millis(50)));
    /// assert_eq!(o.polling.poll_interval, Duration::from_millis(50));
    /// ```
    pub fn polling(mut self, polling: WaitOptions) -> Self {
        self.polling = polling;
        self
    }

    /// Sets the overall timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::jobs::JobWaitOptions::default().timeout(Duration::from_secs(5));
    /// assert_eq!(o.polling.timeout, Duration::from_secs(5));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.polling = self.polling.timeout(timeout);
        self
    }

    /// Sets how long to wait for a webhook before polling.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = roboflow_batch::jobs::JobWaitOptions::default().webhook_grace(Duration::from_secs(30));
    /// assert_eq!(o.webhook_grace, Duration::from_secs(30));
    /// ```
    pub fn webhook_grace(mut self, grace: Duration) -> Self {
        self.webhook_grace = grace;
        self
    }
}

/// How a wait ended.
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::jobs::JobOutcome;
/// let o = JobOutcome::TimedOut { last: None, waited: Duration::from_secs(60) };
/// assert!(!o.is_success());
/// assert!(o.errors().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// The job completed.
    Succeeded {
        /// The last snapshot.
        last: Progress,
    },
    /// The job ended in failure (or was aborted).
    Failed {
        /// The last snapshot.
        last: Progress,
        /// Its error notifications, de-duplicated (never empty).
        errors: Vec<ErrorReport>,
    },
    /// The timeout passed with the job still running.
    TimedOut {
        /// The last snapshot, if a poll succeeded.
        last: Option<Progress>,
        /// How long the wait lasted.
        waited: Duration,
    },
}

impl JobOutcome {
    /// Whether the job completed.
    ///
    /// ```
    /// # use roboflow_batch::jobs::JobOutcome;
    /// assert!(!JobOutcome::TimedOut { last: None, waited: Default::default() }.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        matches!(self, JobOutcome::Succeeded { .. })
    }

    /// The last snapshot.
    ///
    /// ```
    /// # use roboflow_batch::jobs::JobOutcome;
    /// assert!(JobOutcome::TimedOut { last: None, waited: Default::default() }.last().is_none());
    /// ```
    pub fn last(&self) -> Option<&Progress> {
        match self {
            JobOutcome::Succeeded { last } | JobOutcome::Failed { last, .. } => Some(last),
            JobOutcome::TimedOut { last, .. } => last.as_ref(),
        }
    }

    /// The error notifications of a failed job (empty otherwise).
    ///
    /// ```
    /// # use roboflow_batch::jobs::JobOutcome;
    /// assert!(JobOutcome::TimedOut { last: None, waited: Default::default() }.errors().is_empty());
    /// ```
    pub fn errors(&self) -> &[ErrorReport] {
        match self {
            JobOutcome::Failed { errors, .. } => errors,
            _ => &[],
        }
    }
}

type Details = Vec<(JobStage, Vec<TaskStatus>)>;

impl Job<'_> {
    /// Polls until the job is terminal or the timeout passes, calling `on_progress` with a
    /// snapshot after every poll, and returns how it ended.
    ///
    /// Each poll reads the status, the stages and their tasks. A transient error (after
    /// the client's own retries) does not end the wait, up to
    /// [`max_failed_polls`](WaitOptions::max_failed_polls) polls in a row; when only the
    /// stages or tasks fail, the snapshot keeps the previous details. Any other error ends
    /// the wait as `Err`.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::jobs::{Job, JobWaitOptions};
    /// let outcome = Job::new(&api, "job-1")?.wait(&JobWaitOptions::default(), |p| {
    ///     println!("{:?} {}/{} tasks", p.current_stage, p.tasks.finished, p.tasks.total);
    /// })?;
    /// println!("success: {}", outcome.is_success());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait(
        &self,
        options: &JobWaitOptions,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<JobOutcome> {
        let id = self.id.as_str();
        let mut details: Option<Details> = None;
        let mut last: Option<Progress> = None;
        let ended = poll(
            self.api.clock(),
            &options.polling,
            &format!("job {id}"),
            |_| {
                let status = self.api.job(id)?;
                match self.details() {
                    Ok(d) => details = Some(d),
                    Err(e) if !e.is_retryable() && details.is_none() => details = Some(Vec::new()),
                    Err(_) => {} // keep the previous details
                }
                let p = Progress::aggregate(id, &status, details.as_deref().unwrap_or_default());
                on_progress(&p);
                last = Some(p);
                Ok(status.state().is_terminal().then_some(status))
            },
        );
        match ended {
            Ok(status) => Ok(outcome(&status, last, &details)),
            Err(Error::WaitTimeout { waited, .. }) => Ok(JobOutcome::TimedOut { last, waited }),
            Err(e) => Err(e),
        }
    }

    /// Waits for the job's webhook on `events` (from a
    /// `webhook::Receiver`, feature `webhook`) instead of polling, then confirms the end
    /// with a poll. If no notification for this job arrives within
    /// [`webhook_grace`](JobWaitOptions::webhook_grace), it falls back to
    /// [`wait`](Self::wait). Events about other jobs are dropped. `on_progress` sees a
    /// snapshot at the start and on every poll.
    ///
    /// ```no_run
    /// # #[cfg(feature = "webhook")] {
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::jobs::{JobSpec, JobWaitOptions};
    /// use roboflow_batch::webhook::Receiver;
    /// let (receiver, events) = Receiver::builder().workspace(&api.workspace()?).spawn_channel()?;
    /// let job = JobSpec::images("my-batch", "image-stats").notifications_url(receiver.url()).start(&api)?;
    /// let outcome = job.wait_with_webhook(&events, &JobWaitOptions::default(), |_| {})?;
    /// # }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait_with_webhook(
        &self,
        events: &mpsc::Receiver<Event>,
        options: &JobWaitOptions,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<JobOutcome> {
        let clock = self.api.clock();
        let started = clock.monotonic();
        if let Ok(p) = self.progress() {
            let terminal = p.is_terminal();
            on_progress(&p);
            if terminal {
                return self.wait(options, on_progress);
            }
        }
        let grace = options.webhook_grace.min(options.polling.timeout);
        let deadline = std::time::Instant::now() + grace;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match events.recv_timeout(left) {
                Ok(e) if e.job_id() == Some(self.id.as_str()) => break,
                Ok(_) => continue,
                Err(_) => break, // timed out or disconnected: poll instead
            }
        }
        let mut rest = options.clone();
        let spent = clock.monotonic().saturating_sub(started);
        rest.polling.timeout = options.polling.timeout.saturating_sub(spent);
        self.wait(&rest, on_progress)
    }
}

/// The outcome of a terminal status.
fn outcome(
    status: &JobStatusResponse,
    last: Option<Progress>,
    details: &Option<Details>,
) -> JobOutcome {
    let last = last
        .unwrap_or_else(|| Progress::aggregate("", status, details.as_deref().unwrap_or_default()));
    if last.state == JobState::Completed {
        return JobOutcome::Succeeded { last };
    }
    let mut errors = last.errors.clone();
    if errors.is_empty() {
        let text = last
            .message
            .clone()
            .unwrap_or_else(|| format!("the job ended as {}", last.state));
        errors.push(ErrorReport {
            notification: serde_json::Value::String(text),
            tasks: 0,
        });
    }
    JobOutcome::Failed { last, errors }
}
