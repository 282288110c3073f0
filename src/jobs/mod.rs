//! Jobs: start one ([`JobSpec`]), follow it with real progress ([`Job::wait`]), control it
//! and find its results ([`Job`]).
//!
//! ```no_run
//! use roboflow_batch::jobs::{JobSpec, JobWaitOptions};
//! let api = roboflow_batch::BatchApi::from_env()?;
//! let job = JobSpec::images(&api, "my-batch", "my-workflow").start()?.job;
//! let outcome = job.wait(&JobWaitOptions::default())?;
//! println!("{:?}: {:?}", outcome.end, job.results()?);
//! # Ok::<(), roboflow_batch::Error>(())
//! ```

mod outputs;
pub(crate) mod progress;
mod spec;
mod wait;

use std::sync::Arc;

use crate::BatchApi;
use crate::api::Pages;
use crate::error::Result;
use crate::model::{
    JobControlResponse, JobId, JobLog, JobStage, JobStatusResponse, LogSeverity, RestartOverrides,
    TaskStatus,
};
use crate::progress::{Event, SharedCallback};

pub(crate) use outputs::output_batches;
pub use progress::{ErrorReport, Progress, StageProgress, TaskCounts};
pub use spec::{JobSpec, Started};
pub use wait::{JobEnd, JobOutcome, JobWaitOptions};

/// `Job` methods that call [`BatchApi`] with the job's id; `$j` names `self` in the body.
macro_rules! forward {
    ($($(#[$doc:meta])* $name:ident($j:ident $(, $arg:ident: $t:ty)*) -> $ret:ty = $ex:literal $body:block)*) => {$(
        $(#[$doc])*
        ///
        /// ```no_run
        /// # let api = roboflow_batch::BatchApi::from_env()?;
        #[doc = concat!("let _ = roboflow_batch::jobs::Job::new(&api, \"job-1\")?.", stringify!($name), "(", $ex, ");")]
        /// # Ok::<(), roboflow_batch::Error>(())
        /// ```
        pub fn $name(&self $(, $arg: $t)*) -> $ret {
            let $j = self;
            $body
        }
    )*};
}

/// One output batch of a job: the stage that wrote it and its id.
///
/// ```
/// fn batch(o: &roboflow_batch::jobs::OutputBatch) -> &str { &o.batch_id }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OutputBatch {
    /// The stage's id (`processingStageId`).
    pub stage_id: String,
    /// The stage's display name (`processingStageName`), e.g. `processing` or `Export`.
    pub stage: String,
    /// The batch id, to export with [`crate::export`].
    pub batch_id: String,
}

/// A handle on one job (and its id, `AsRef<str>`): inspect, wait, control, find results.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::from_env()?;
/// let job = roboflow_batch::jobs::Job::new(&api, "job-abc123def456")?;
/// println!("{} with {} stages", job.status()?.state(), job.stages()?.len());
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Clone)]
pub struct Job<'a> {
    api: &'a BatchApi,
    id: JobId,
    callback: Option<SharedCallback<'a>>,
}

crate::model::redacted_debug!(Job<'_> { id });

impl AsRef<str> for Job<'_> {
    fn as_ref(&self) -> &str {
        self.id.as_str()
    }
}

impl<'a> Job<'a> {
    /// A handle on the job `id` (checked, nothing sent).
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// assert!(roboflow_batch::jobs::Job::new(&api, "Bad Id").is_err());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn new(api: &'a BatchApi, id: impl AsRef<str>) -> Result<Self> {
        let (id, callback) = (JobId::new(id.as_ref())?, None);
        Ok(Job { api, id, callback })
    }

    /// Called with an [`Event::JobPolled`] after every poll of [`wait`](Self::wait).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?.on_progress(|e| println!("{e:?}"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn on_progress(mut self, f: impl Fn(&Event) + Sync + 'a) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    forward! {
        /// The job id.
        id(j) -> &JobId = "" { &j.id }
        /// Its status (`GET …/jobs/{id}`).
        status(j) -> Result<JobStatusResponse> = "" { j.api.job(&j.id) }
        /// Its stages (`GET …/stages`).
        stages(j) -> Result<Vec<JobStage>> = "" { j.api.job_stages(&j.id) }
        /// Every task of a stage, following page tokens (lazy).
        tasks(j, stage_id: &str) -> Pages<'a, TaskStatus> = "\"processing\"" {
            j.api.tasks(j.id.clone(), stage_id.to_string(), None)
        }
        /// Its log lines, optionally of one severity, following page tokens (lazy).
        logs(j, severity: Option<LogSeverity>) -> Pages<'a, JobLog> = "None" {
            j.api.logs(j.id.clone(), severity, None)
        }
        /// One progress snapshot: the status, every stage and every task, aggregated.
        progress(j) -> Result<Progress> = "" {
            let status = j.status()?;
            Ok(Progress::aggregate(j.id.as_str(), &status, &j.details()?))
        }
        /// Aborts it (`POST …/abort`) and returns the service's answer.
        abort(j) -> Result<JobControlResponse> = "" { j.api.abort_job(&j.id) }
        /// Restarts it (`POST …/restart`), with overrides when given.
        restart(j, overrides: Option<&RestartOverrides>) -> Result<JobControlResponse> = "None" {
            j.api.restart_job(&j.id, overrides)
        }
        /// Its output batches, stage by stage in start order.
        results(j) -> Result<Vec<OutputBatch>> = "" {
            let mut stages = j.stages()?;
            stages.sort_by_key(|s| s.start_timestamp);
            let mut out: Vec<OutputBatch> = Vec::new();
            for s in &stages {
                for b in s.output_batch_ids() {
                    if !out.iter().any(|o| o.batch_id == b) {
                        out.push(OutputBatch {
                            stage_id: s.processing_stage_id.clone(),
                            stage: s.processing_stage_name.clone(),
                            batch_id: b.to_string(),
                        });
                    }
                }
            }
            Ok(out)
        }
    }

    /// Every stage with all its tasks.
    fn details(&self) -> Result<Vec<(JobStage, Vec<TaskStatus>)>> {
        self.stages()?
            .into_iter()
            .map(|s| {
                let tasks = self.tasks(&s.processing_stage_id).collect::<Result<_>>()?;
                Ok((s, tasks))
            })
            .collect()
    }
}
