//! Batch Processing: jobs, stages, tasks and logs.

use serde::{Deserialize, Serialize};

use super::{Timestamp, string_enum};
use crate::error::Result;

string_enum! {
    /// The kind of job.
    pub enum JobType {
        /// Run a Workflow over images (the spec's only value).
        SimpleImageProcessing => "simple-image-processing-v1",
        /// Run a Workflow over videos (official client).
        SimpleVideoProcessing => "simple-video-processing-v1",
        /// Compile a model with TensorRT (official client).
        TrtCompilation => "trt-compilation-v1",
    }
}

string_enum! {
    /// The machine a job runs on.
    pub enum MachineType {
        /// CPU (the service's default).
        Cpu => "cpu",
        /// GPU, for Workflows with several or large models.
        Gpu => "gpu",
    }
}

#[allow(clippy::derivable_impls)] // the enum comes from a macro
impl Default for MachineType {
    fn default() -> Self {
        MachineType::Cpu
    }
}

string_enum! {
    /// The format of the `processing` stage's aggregated results.
    pub enum AggregationFormat {
        /// JSON Lines (the default).
        Jsonl => "jsonl",
        /// CSV.
        Csv => "csv",
    }
}

string_enum! {
    /// Which inference engine runs the Workflow.
    pub enum InferenceBackend {
        /// The classic engine.
        OldInference => "old-inference",
        /// The `inference-models` engine.
        InferenceModels => "inference-models",
    }
}

string_enum! {
    /// A log line's severity.
    pub enum LogSeverity {
        /// Information.
        Info => "info",
        /// A warning.
        Warning => "warning",
        /// An error.
        Error => "error",
    }
}

string_enum! {
    /// A job's state, in the spec's words (`jobStatus`).
    pub enum JobState {
        /// Accepted, not running yet.
        Pending => "pending",
        /// Running.
        Processing => "processing",
        /// Finished successfully.
        Completed => "completed",
        /// Finished with an error (the sandbox also reports aborted jobs so).
        Failed => "failed",
        /// Stopped on request.
        Aborted => "aborted",
        /// Cancelled.
        Cancelled => "cancelled",
    }
}

/// Words (after [`JobState::normalized`]) that end a job without a variant of their own.
const OTHER_TERMINAL_WORDS: &[&str] = &["terminated", "timed-out", "expired", "rejected"];

impl JobState {
    /// The state with its spelling folded (case, space, `_` for `-`) and synonyms mapped.
    fn normalized(&self) -> JobState {
        let JobState::Other(word) = self else {
            return self.clone();
        };
        let folded = word.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        match folded.as_str() {
            "succeeded" | "success" | "successful" | "complete" | "done" | "finished" => {
                JobState::Completed
            }
            "failure" | "error" | "errored" => JobState::Failed,
            "canceled" => JobState::Cancelled,
            "running" | "in-progress" => JobState::Processing,
            "queued" => JobState::Pending,
            other => JobState::parse(other),
        }
    }

    /// Whether the job will not change any more (`completed`, `timed-out`, `canceled`, …,
    /// in any case, with `_` or space for `-`).
    ///
    /// ```
    /// assert!(roboflow_batch::model::JobState::parse("Timed_Out").is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        match self.normalized() {
            Self::Completed | Self::Failed | Self::Aborted | Self::Cancelled => true,
            JobState::Other(w) => OTHER_TERMINAL_WORDS.contains(&w.as_str()),
            _ => false,
        }
    }
}

/// A job as the official client reads it, its [`state`](Self::state) from the flags.
/// `Debug` redacts the URLs echoed in it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMetadata {
    /// The id.
    pub job_id: String,
    /// The display name.
    pub name: String,
    /// The definition it was started with.
    pub job_definition: serde_json::Value,
    /// The stage running now.
    pub current_stage: Option<String>,
    /// The stages it will run.
    pub planned_stages: Option<Vec<String>>,
    /// Whether it failed.
    #[serde(default)]
    pub error: bool,
    /// Whether it has finished.
    #[serde(default)]
    pub is_terminal: bool,
    /// The last notification: an object (with `message`, `type`, …) or a string.
    pub last_notification: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub last_update: Timestamp,
    /// Overrides given on restarts.
    #[serde(default)]
    pub restart_parameters_override: Vec<serde_json::Value>,
}

super::redacted_debug!(JobMetadata {
    job_id, name, job_definition => json, current_stage, planned_stages, error, is_terminal,
    last_notification => json, created_at, last_update, restart_parameters_override => json,
});

impl JobMetadata {
    /// The state from `isTerminal`, `error` and `currentStage`.
    ///
    /// ```
    /// let job: roboflow_batch::model::JobMetadata = serde_json::from_str(r#"{"jobId":"j","name":"j","jobDefinition":{},
    ///   "isTerminal":true,"error":true,"createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert_eq!(job.state(), roboflow_batch::model::JobState::Failed);
    /// ```
    pub fn state(&self) -> JobState {
        match (self.is_terminal, self.error) {
            (true, true) => JobState::Failed,
            (true, false) => JobState::Completed,
            (false, _) if self.current_stage.is_some() => JobState::Processing,
            _ => JobState::Pending,
        }
    }

    /// The last notification's `message`, or the notification itself when it is a string.
    ///
    /// ```
    /// let job: roboflow_batch::model::JobMetadata = serde_json::from_str(r#"{"jobId":"j","name":"j","jobDefinition":{},
    ///   "lastNotification":{"message":"stage done"},"createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert_eq!(job.last_message(), Some("stage done"));
    /// ```
    pub fn last_message(&self) -> Option<&str> {
        let n = self.last_notification.as_ref()?;
        n.as_str().or_else(|| n.get("message")?.as_str())
    }
}

/// The answer of `GET /jobs/{id}`: the official client's `job`, the spec's `jobStatus` and
/// `progress`, or both; a `job` without `isTerminal` takes it from `jobStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "RawJobStatusResponse")]
pub struct JobStatusResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The job, as the official client reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetadata>,
    /// The state, as the spec names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobState>,
    /// Progress from 0 to 1, as the spec names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
}

/// The wire form, which keeps whether `job.isTerminal` was sent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawJobStatusResponse {
    status: Option<String>,
    job: Option<RawJob>,
    job_status: Option<JobState>,
    progress: Option<f64>,
}

#[derive(Deserialize)]
struct RawJob {
    #[serde(rename = "isTerminal")]
    is_terminal: Option<bool>,
    #[serde(flatten)]
    job: JobMetadata,
}

impl From<RawJobStatusResponse> for JobStatusResponse {
    fn from(raw: RawJobStatusResponse) -> Self {
        let word_terminal = raw.job_status.as_ref().is_some_and(JobState::is_terminal);
        let job = raw.job.map(|r| JobMetadata {
            is_terminal: r.is_terminal.unwrap_or(word_terminal),
            ..r.job
        });
        JobStatusResponse {
            status: raw.status,
            job,
            job_status: raw.job_status,
            progress: raw.progress,
        }
    }
}

impl JobStatusResponse {
    /// The state: `job.isTerminal` decides whether the job is over, `jobStatus` (folded as
    /// in [`JobState::is_terminal`]) names it when it agrees.
    ///
    /// | `job.isTerminal` | `job.error` | `jobStatus` | state |
    /// |---|---|---|---|
    /// | true | false | absent or not terminal | `Completed` |
    /// | true | true | absent, not terminal or `completed` | `Failed` |
    /// | true | any | `aborted`, `cancelled`, … | that word |
    /// | false | any | terminal word or absent | from `currentStage`: `Processing` or `Pending` |
    /// | false | any | another word | that word |
    /// | no `job` | | any word | that word |
    ///
    /// ```
    /// let r: roboflow_batch::model::JobStatusResponse = serde_json::from_str(r#"{"jobStatus":"Aborted"}"#).unwrap();
    /// assert!(r.state().is_terminal());
    /// ```
    pub fn state(&self) -> JobState {
        let word = self.job_status.as_ref().map(JobState::normalized);
        let Some(job) = &self.job else {
            return word.unwrap_or_else(|| JobState::Other("unknown".into()));
        };
        match word {
            Some(w) if job.is_terminal && w.is_terminal() => {
                if job.error && w == JobState::Completed {
                    JobState::Failed
                } else {
                    w
                }
            }
            Some(w) if !job.is_terminal && !w.is_terminal() => w,
            _ => job.state(),
        }
    }
}

/// The answer to an abort or a restart: any JSON object, the rest kept in `other`.
///
/// ```
/// let r: roboflow_batch::model::JobControlResponse = serde_json::from_str(r#"{"message":"aborted","jobId":"j"}"#).unwrap();
/// assert_eq!(r.other["jobId"], "j");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobControlResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What was done, when the service says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One stage of a job (`GET /jobs/{id}/stages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStage {
    /// The id, used to list its tasks.
    pub processing_stage_id: String,
    /// The name, e.g. `processing` or `export`.
    pub processing_stage_name: String,
    /// How many tasks it has (at least 1).
    #[serde(deserialize_with = "super::whole::int")]
    pub tasks_number: u64,
    /// The batches it writes (the official client's form).
    #[serde(default)]
    pub output_batches: Vec<String>,
    /// The batch it writes, as the spec words it (see [`output_batch_ids`](Self::output_batch_ids)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_batch_id: Option<String>,
    /// When it started.
    pub start_timestamp: Timestamp,
    /// The latest notification (object or string).
    pub notification: serde_json::Value,
    /// `info` while running; contains `error` on failure.
    pub status_type: String,
    /// When it last changed.
    pub last_event_timestamp: Timestamp,
}

impl JobStage {
    /// The batches it writes, from `outputBatches`, or else from `outputBatchId`.
    ///
    /// ```
    /// let stage: roboflow_batch::model::JobStage = serde_json::from_str(r#"{"processingStageId":"s","processingStageName":"export",
    ///   "tasksNumber":1,"outputBatchId":"j-export","startTimestamp":"2025-01-02T03:04:05Z","notification":{},
    ///   "statusType":"success","lastEventTimestamp":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert_eq!(stage.output_batch_ids(), vec!["j-export"]);
    /// ```
    pub fn output_batch_ids(&self) -> Vec<&str> {
        if self.output_batches.is_empty() {
            self.output_batch_id.iter().map(String::as_str).collect()
        } else {
            self.output_batches.iter().map(String::as_str).collect()
        }
    }
}

/// The answer of `GET /jobs/{id}/stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ListStagesResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub stages: Vec<JobStage>,
}

/// One task of a stage (`GET …/stages/{id}/tasks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The id.
    pub task_id: String,
    /// The latest notification (object or string).
    pub notification: serde_json::Value,
    /// `info` while running; otherwise finished (`success…` or `error…`).
    pub status_type: String,
    /// When it last changed.
    pub event_timestamp: Timestamp,
    /// Progress from 0 to 1; `None` before the task has registered.
    pub progress: Option<f64>,
}

/// One log line of a job (`GET /jobs/{id}/logs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLog {
    /// When it was written.
    pub created_at: Timestamp,
    /// The stage it concerns.
    pub processing_stage_id: Option<String>,
    /// The task it concerns.
    pub task_id: Option<String>,
    /// `info`, `warning` or `error`.
    pub severity: LogSeverity,
    /// Which component wrote it.
    pub reporting_module: String,
    /// The kind of event.
    pub log_type: String,
    /// Details.
    pub payload: serde_json::Value,
}

super::listing! {
    ListJobsResponse { jobs: JobMetadata }
    ListTasksResponse { tasks: TaskStatus }
    ListLogsResponse { logs: JobLog }
}
