//! Waiting for a job, ending in a [`JobOutcome`]: [`Job::wait`] and
//! [`BatchApi::wait_for_job`], both on the crate's one poll loop ([`crate::wait`]).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{ErrorReport, Job, Progress};
use crate::BatchApi;
use crate::api::RequestCounts;
use crate::error::{Error, Result};
use crate::model::JobState;
use crate::progress::Event;
use crate::wait::{WaitOptions, poll};

/// How to wait for a job.
///
/// ```
/// let o = roboflow_batch::jobs::JobWaitOptions::default().timeout(std::time::Duration::from_secs(60));
/// assert_eq!(o.polling.timeout.as_secs(), 60);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct JobWaitOptions {
    /// Intervals, timeout (default 24 hours) and failed polls allowed of the whole wait.
    pub polling: WaitOptions,
    /// With a webhook: how long to wait for it before polling (default 10 minutes).
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
    crate::model::setters! {
        setup: "use std::time::{Duration, Instant};",
        on: "roboflow_batch::jobs::JobWaitOptions::default()";
        /// Sets the polling options.
        polling(s, polling: WaitOptions) = "roboflow_batch::wait::WaitOptions::default()" {
            s.polling = polling;
        }
        /// Sets the overall timeout.
        timeout(s, timeout: Duration) = "Duration::from_secs(5)" {
            s.polling = s.polling.clone().timeout(timeout);
        }
        /// Sets how long to wait for a webhook before polling.
        webhook_grace(s, grace: Duration) = "Duration::from_secs(30)" {
            s.webhook_grace = grace;
        }
    }
}

/// How a wait ended.
///
/// ```
/// assert_eq!(serde_json::to_string(&roboflow_batch::jobs::JobEnd::TimedOut).unwrap(), r#""timed_out""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobEnd {
    /// The job completed.
    Succeeded,
    /// The job ended in failure, or was aborted or cancelled.
    Failed,
    /// The timeout passed with the job still running: the wait stopped early.
    TimedOut,
}

/// What a wait saw: how it ended (a timeout too), the last snapshot, errors and cost.
///
/// ```
/// fn failures(o: &roboflow_batch::jobs::JobOutcome) -> usize { o.errors.len() }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobOutcome {
    /// The job.
    pub job_id: String,
    /// How the wait ended.
    #[serde(rename = "outcome")]
    pub end: JobEnd,
    /// The last snapshot, if a poll succeeded.
    #[serde(rename = "progress")]
    pub last: Option<Progress>,
    /// A failed job's error notifications, de-duplicated (never empty then; empty otherwise).
    pub errors: Vec<ErrorReport>,
    /// How long the wait lasted.
    #[serde(rename = "waitedSecs", with = "crate::ingest::report::secs")]
    pub waited: Duration,
    /// Requests made by the wait, by kind.
    pub requests: RequestCounts,
}

impl JobOutcome {
    /// Whether the job completed.
    ///
    /// ```
    /// fn ok(o: &roboflow_batch::jobs::JobOutcome) -> bool { o.is_success() }
    /// ```
    pub fn is_success(&self) -> bool {
        self.end == JobEnd::Succeeded
    }
}

impl Job<'_> {
    /// Polls the status, stages and tasks until the job is terminal or the timeout passes
    /// ([`JobEnd::TimedOut`]); transient errors are borne up to
    /// [`max_failed_polls`](WaitOptions::max_failed_polls) in a row, others end it as `Err`.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let outcome = roboflow_batch::jobs::Job::new(&api, "job-1")?.wait(&Default::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait(&self, options: &JobWaitOptions) -> Result<JobOutcome> {
        self.poll_until_done(&options.polling, true)
    }

    /// Waits for the job's webhook on `events` (other jobs' are dropped), then polls; polls
    /// only after [`webhook_grace`](JobWaitOptions::webhook_grace) without one.
    ///
    /// ```no_run
    /// # let (api, (_, events)) = (roboflow_batch::BatchApi::from_env()?, std::sync::mpsc::channel());
    /// let outcome = roboflow_batch::jobs::Job::new(&api, "j")?.wait_with_webhook(&events, &Default::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait_with_webhook(
        &self,
        events: &mpsc::Receiver<crate::webhook::Event>,
        options: &JobWaitOptions,
    ) -> Result<JobOutcome> {
        let (clock, before) = (self.api.clock(), self.api.requests());
        let started = clock.monotonic();
        let mut rest = options.clone();
        let first = self.progress();
        if let (Ok(p), Some(f)) = (&first, &self.callback) {
            f(&Event::JobPolled(p.clone()));
        }
        if !first.is_ok_and(|p| p.state.is_terminal()) {
            let deadline = Instant::now() + options.webhook_grace.min(options.polling.timeout);
            let left = || deadline.saturating_duration_since(Instant::now());
            // Until this job's event; timed out or disconnected: poll instead.
            while let Ok(e) = events.recv_timeout(left()) {
                if e.job_id() == Some(self.id.as_str()) {
                    break;
                }
            }
            let spent = clock.monotonic().saturating_sub(started);
            rest.polling.timeout = options.polling.timeout.saturating_sub(spent);
        }
        let mut outcome = self.wait(&rest)?;
        outcome.waited = clock.monotonic().saturating_sub(started);
        outcome.requests = self.api.requests().since(&before);
        Ok(outcome)
    }

    /// The one job wait: polls the status (with `details`, stages and tasks too) to the end.
    fn poll_until_done(&self, polling: &WaitOptions, details: bool) -> Result<JobOutcome> {
        let (api, id) = (self.api, self.id.as_str());
        let (clock, before) = (api.clock(), api.requests());
        let started = clock.monotonic();
        let mut stages = None;
        let mut last: Option<Progress> = None;
        let ended = poll(clock, polling, &format!("job {id}"), || {
            let status = api.job(id)?;
            if details {
                match self.details() {
                    Ok(d) => stages = Some(d),
                    Err(e) if !e.is_retryable() && stages.is_none() => stages = Some(Vec::new()),
                    Err(_) => {} // keep the previous details
                }
            }
            let p = Progress::aggregate(id, &status, stages.as_deref().unwrap_or_default());
            if let Some(f) = &self.callback {
                f(&Event::JobPolled(p.clone()));
            }
            let terminal = p.state.is_terminal();
            last = Some(p);
            Ok(terminal.then_some(()))
        });
        let completed = matches!(&last, Some(p) if p.state == JobState::Completed);
        let end = match ended {
            Ok(()) if completed => JobEnd::Succeeded,
            Ok(()) => JobEnd::Failed,
            Err(Error::WaitTimeout { .. }) => JobEnd::TimedOut,
            Err(e) => return Err(e),
        };
        let mut errors = Vec::new();
        if let (JobEnd::Failed, Some(p)) = (end, &last) {
            errors = p.errors.clone();
            if errors.is_empty() {
                let text = p.message.clone();
                let text = text.unwrap_or_else(|| format!("the job ended as {}", p.state));
                errors.push(ErrorReport::new(serde_json::Value::String(text), 0));
            }
        }
        Ok(JobOutcome {
            job_id: id.to_string(),
            end,
            last,
            errors,
            waited: clock.monotonic().saturating_sub(started),
            requests: api.requests().since(&before),
        })
    }
}

impl BatchApi {
    /// [`Job::wait`] with one request (the status) per poll; a failure is an outcome.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let outcome = api.wait_for_job("nightly-1", &Default::default(), |e| println!("{e:?}"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn wait_for_job(
        &self,
        job_id: impl AsRef<str>,
        options: &WaitOptions,
        on_progress: impl Fn(&Event) + Sync,
    ) -> Result<JobOutcome> {
        Job::new(self, job_id)?
            .on_progress(on_progress)
            .poll_until_done(options, false)
    }
}
