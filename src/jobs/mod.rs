//! Jobs: start one ([`JobSpec`]), follow it with real progress ([`Job::wait`]), control it
//! and find its results ([`Job`]).
//!
//! ```no_run
//! use roboflow_batch::BatchApi;
//! use roboflow_batch::jobs::{JobOutcome, JobSpec, JobWaitOptions};
//!
//! let api = BatchApi::from_env()?;
//! let job = JobSpec::images("my-batch", "my-workflow").start(&api)?;
//! let outcome = job.wait(&JobWaitOptions::default(), |p| {
//!     println!("{:?} {:.0}% ({} running)", p.current_stage, p.fraction * 100.0, p.tasks.running);
//! })?;
//! match outcome {
//!     JobOutcome::Succeeded { .. } => println!("results in {:?}", job.results()?),
//!     JobOutcome::Failed { errors, .. } => errors.iter().for_each(|e| eprintln!("{}", e.message())),
//!     JobOutcome::TimedOut { waited, .. } => eprintln!("still running after {waited:?}"),
//!     _ => {}
//! }
//! # Ok::<(), roboflow_batch::Error>(())
//! ```

mod outputs;
mod progress;
mod spec;
mod wait;

use crate::BatchApi;
use crate::api::Pages;
use crate::error::Result;
use crate::model::{
    JobControlResponse, JobId, JobLog, JobStage, JobStatusResponse, LogSeverity, RestartOverrides,
    TaskStatus,
};

pub(crate) use outputs::output_batches;
pub use progress::{ErrorReport, Progress, StageProgress, TaskCounts, aggregate_stage};
pub use spec::{JobSpec, PreparedJob};
pub use wait::{JobOutcome, JobWaitOptions};

/// One output batch of a job: the stage that wrote it and its id.
///
/// ```
/// let b = roboflow_batch::jobs::OutputBatch {
///     stage_id: "job-1-export".into(), stage: "Export".into(), batch_id: "job-1-export".into(),
/// };
/// assert_eq!(b.batch_id, "job-1-export");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputBatch {
    /// The stage's id (`processingStageId`).
    pub stage_id: String,
    /// The stage's display name (`processingStageName`), e.g. `processing` or `Export`.
    pub stage: String,
    /// The batch id, to export with [`crate::export`].
    pub batch_id: String,
}

/// A handle on one job: inspect, wait, control, find results.
///
/// It borrows the client; it holds no state of its own beyond the id, so make as many as
/// needed.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// use roboflow_batch::jobs::Job;
/// use roboflow_batch::model::LogSeverity;
/// let job = Job::new(&api, "job-abc123def456")?;
/// println!("{}", job.status()?.state());
/// for line in job.logs(Some(LogSeverity::Error)) {
///     println!("{:?}", line?.payload);
/// }
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Job<'a> {
    api: &'a BatchApi,
    id: JobId,
}

impl<'a> Job<'a> {
    /// A handle on the job `id` (checked, nothing sent).
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// assert!(roboflow_batch::jobs::Job::new(&api, "Bad Id").is_err());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn new(api: &'a BatchApi, id: &str) -> Result<Self> {
        Ok(Job {
            api,
            id: JobId::new(id)?,
        })
    }

    pub(crate) fn from_id(api: &'a BatchApi, id: JobId) -> Self {
        Job { api, id }
    }

    /// The job id.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// assert_eq!(roboflow_batch::jobs::Job::new(&api, "job-1")?.id().as_str(), "job-1");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// The client it uses.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?;
    /// assert!(std::ptr::eq(job.api(), &api));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn api(&self) -> &'a BatchApi {
        self.api
    }

    /// Its status (`GET …/jobs/{id}`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?;
    /// println!("{}", job.status()?.state());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn status(&self) -> Result<JobStatusResponse> {
        self.api.job(self.id.as_str())
    }

    /// Its stages (`GET …/stages`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for s in roboflow_batch::jobs::Job::new(&api, "job-1")?.stages()? {
    ///     println!("{} {}", s.processing_stage_name, s.status_type);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn stages(&self) -> Result<Vec<JobStage>> {
        self.api.job_stages(self.id.as_str())
    }

    /// Every task of a stage, following page tokens (lazy).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?;
    /// let failed = job.tasks("processing").filter(|t| t.as_ref().is_ok_and(|t| t.status_type.contains("error"))).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn tasks(&self, stage_id: &str) -> Pages<'a, TaskStatus> {
        self.api.tasks(self.id.clone(), stage_id.to_string(), None)
    }

    /// Its log lines, optionally of one severity, following page tokens (lazy).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::LogSeverity;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?;
    /// for line in job.logs(Some(LogSeverity::Warning)).take(20) {
    ///     println!("{}", line?.payload);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn logs(&self, severity: Option<LogSeverity>) -> Pages<'a, JobLog> {
        self.api.logs(self.id.clone(), severity, None)
    }

    /// One progress snapshot: the status, every stage and every task, aggregated (see
    /// [`Progress`]).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let p = roboflow_batch::jobs::Job::new(&api, "job-1")?.progress()?;
    /// println!("{:?}: {:.0}%", p.current_stage, p.fraction * 100.0);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn progress(&self) -> Result<Progress> {
        let status = self.status()?;
        let details = self.details()?;
        Ok(Progress::aggregate(self.id.as_str(), &status, &details))
    }

    /// Every stage with all its tasks.
    fn details(&self) -> Result<Vec<(JobStage, Vec<TaskStatus>)>> {
        let mut out = Vec::new();
        for stage in self.stages()? {
            let tasks = self
                .tasks(&stage.processing_stage_id)
                .collect::<Result<Vec<_>>>()?;
            out.push((stage, tasks));
        }
        Ok(out)
    }

    /// Aborts it (`POST …/abort`) and returns the service's answer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// roboflow_batch::jobs::Job::new(&api, "job-1")?.abort()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn abort(&self) -> Result<JobControlResponse> {
        self.api.abort_job(self.id.as_str())
    }

    /// Restarts it (`POST …/restart`), with overrides when given.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::RestartOverrides;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-1")?;
    /// job.restart(Some(&RestartOverrides::default().with_max_image_failure_rate(0.2)))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn restart(&self, overrides: Option<&RestartOverrides>) -> Result<JobControlResponse> {
        self.api.restart_job(self.id.as_str(), overrides)
    }

    /// Its output batches, stage by stage in start order (typically
    /// `<job>-processing` with the aggregated results, then `<job>-export` with archives).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for out in roboflow_batch::jobs::Job::new(&api, "job-1")?.results()? {
    ///     println!("{}: {}", out.stage, out.batch_id);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn results(&self) -> Result<Vec<OutputBatch>> {
        let mut stages = self.stages()?;
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
