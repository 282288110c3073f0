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
    /// The same state with the spelling folded: ASCII case, surrounding space, and `_` or
    /// space for `-` are ignored, and common synonyms map to a variant (`succeeded`,
    /// `success`, `complete`, `done`, `finished` to `Completed`; `failure`, `error`,
    /// `errored` to `Failed`; `canceled` to `Cancelled`; `running`, `in-progress` to
    /// `Processing`; `queued` to `Pending`). Other words stay `Other`, folded.
    ///
    /// ```
    /// use roboflow_batch::model::JobState;
    /// assert_eq!(JobState::parse("SUCCEEDED").normalized(), JobState::Completed);
    /// assert_eq!(JobState::parse("Canceled").normalized(), JobState::Cancelled);
    /// assert_eq!(JobState::parse("Timed_Out").normalized(), JobState::Other("timed-out".into()));
    /// ```
    #[must_use]
    pub fn normalized(&self) -> JobState {
        let JobState::Other(word) = self else {
            return self.clone();
        };
        let folded: String = word
            .trim()
            .chars()
            .map(|c| match c {
                '_' | ' ' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect();
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

    /// Whether the job will not change any more: `completed`, `failed`, `aborted` and
    /// `cancelled` in any spelling [`normalized`](Self::normalized) folds, and
    /// `terminated`, `timed-out`, `expired`, `rejected`. Any other word is not terminal.
    ///
    /// ```
    /// use roboflow_batch::model::JobState;
    /// assert!(JobState::Completed.is_terminal());
    /// assert!(JobState::parse("aborted").is_terminal());
    /// assert!(JobState::parse("Cancelled").is_terminal());
    /// assert!(!JobState::Processing.is_terminal());
    /// assert!(!JobState::parse("paused").is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        match self.normalized() {
            JobState::Completed | JobState::Failed | JobState::Aborted | JobState::Cancelled => {
                true
            }
            JobState::Other(w) => OTHER_TERMINAL_WORDS.contains(&w.as_str()),
            _ => false,
        }
    }
}

/// A job as the official client reads it (`GET /jobs`, `GET /jobs/{id}`).
///
/// It has no status field: the state follows from [`is_terminal`](Self::is_terminal),
/// [`error`](Self::error) and [`current_stage`](Self::current_stage); see
/// [`state`](Self::state). Its `Debug` output redacts the secret-bearing parameters of
/// URLs echoed in the definition and the notification.
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
    #[serde(default)]
    pub current_stage: Option<String>,
    /// The stages it will run.
    #[serde(default)]
    pub planned_stages: Option<Vec<String>>,
    /// Whether it failed.
    #[serde(default)]
    pub error: bool,
    /// Whether it has finished.
    #[serde(default)]
    pub is_terminal: bool,
    /// The last notification: an object (with `message`, `type`, …) or a string.
    #[serde(default)]
    pub last_notification: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub last_update: Timestamp,
    /// Overrides given on restarts.
    #[serde(default)]
    pub restart_parameters_override: Vec<serde_json::Value>,
}

impl std::fmt::Debug for JobMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::redact::RedactedDebug;
        f.debug_struct("JobMetadata")
            .field("job_id", &self.job_id)
            .field("name", &self.name)
            .field("job_definition", &RedactedDebug(&self.job_definition))
            .field("current_stage", &self.current_stage)
            .field("planned_stages", &self.planned_stages)
            .field("error", &self.error)
            .field("is_terminal", &self.is_terminal)
            .field("last_notification", &RedactedDebug(&self.last_notification))
            .field("created_at", &self.created_at)
            .field("last_update", &self.last_update)
            .field(
                "restart_parameters_override",
                &RedactedDebug(&self.restart_parameters_override),
            )
            .finish()
    }
}

impl JobMetadata {
    /// The state derived from the flags: terminal with an error is `Failed`, terminal
    /// without one is `Completed`, running with a stage is `Processing`, else `Pending`.
    ///
    /// ```
    /// use roboflow_batch::model::{JobMetadata, JobState};
    /// let job: JobMetadata = serde_json::from_str(r#"{"jobId":"j","name":"j","jobDefinition":{},"isTerminal":true,"error":true,
    ///   "createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert_eq!(job.state(), JobState::Failed);
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
        match self.last_notification.as_ref()? {
            serde_json::Value::String(s) => Some(s),
            v => v.get("message").and_then(|m| m.as_str()),
        }
    }
}

/// The answer of `GET /jobs/{id}`, in either form: the official client's `job` object or
/// the spec's `jobStatus` and `progress`. The sandbox sends both.
///
/// When `job` arrives without `isTerminal`, its `is_terminal` is taken from `jobStatus`
/// (terminal when that word is, see [`JobState::is_terminal`]) instead of defaulting to
/// false, so that [`state`](Self::state) can let `isTerminal` decide whenever it is sent.
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
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    job: Option<RawJob>,
    #[serde(default)]
    job_status: Option<JobState>,
    #[serde(default)]
    progress: Option<f64>,
}

#[derive(Deserialize)]
struct RawJob {
    #[serde(rename = "isTerminal", default)]
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
    /// The state. The job's `isTerminal` decides whether the job is over whenever the
    /// `job` object is present; `jobStatus` then only names the state when it agrees
    /// (a terminal word for a terminal job, a running word for a running one). Without
    /// `job`, a known terminal word in `jobStatus` ends the job and any other word does
    /// not. Words are [`normalized`](JobState::normalized).
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
    /// use roboflow_batch::model::{JobState, JobStatusResponse};
    /// let r: JobStatusResponse = serde_json::from_str(r#"{"jobStatus":"processing","progress":0.5}"#).unwrap();
    /// assert_eq!(r.state(), JobState::Processing);
    /// let r: JobStatusResponse = serde_json::from_str(r#"{"jobStatus":"Aborted"}"#).unwrap();
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

/// The answer to an abort or a restart (`POST …/abort`, `POST …/restart`): any JSON object
/// (the official client prints it whole). The sandbox sends a `status` and a `message`;
/// whatever else the service sends is kept in `other`.
///
/// ```
/// use roboflow_batch::model::JobControlResponse;
/// let r: JobControlResponse = serde_json::from_str(r#"{"status":"ok","message":"job aborted","jobId":"j"}"#)?;
/// assert_eq!(r.message.as_deref(), Some("job aborted"));
/// assert_eq!(r.other["jobId"], "j");
/// # Ok::<(), serde_json::Error>(())
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

/// The answer of `GET /jobs`. `nextPageToken` is always present (null on the last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListJobsResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The jobs on this page.
    pub jobs: Vec<JobMetadata>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
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
    /// The batch it writes, as the spec words it ("an output batch ID"); see
    /// [`output_batch_ids`](Self::output_batch_ids), which reads either form.
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

    /// Whether it is still running (`statusType` is `info`).
    ///
    /// ```
    /// let stage: roboflow_batch::model::JobStage = serde_json::from_str(r#"{"processingStageId":"s","processingStageName":"processing",
    ///   "tasksNumber":1,"outputBatches":[],"startTimestamp":"2025-01-02T03:04:05Z","notification":"running",
    ///   "statusType":"info","lastEventTimestamp":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert!(stage.is_running() && !stage.is_failed());
    /// ```
    pub fn is_running(&self) -> bool {
        self.status_type == "info"
    }

    /// Whether it failed (`statusType` contains `error`).
    ///
    /// ```
    /// let stage: roboflow_batch::model::JobStage = serde_json::from_str(r#"{"processingStageId":"s","processingStageName":"processing",
    ///   "tasksNumber":1,"outputBatches":[],"startTimestamp":"2025-01-02T03:04:05Z","notification":"boom",
    ///   "statusType":"error-task-failed","lastEventTimestamp":"2025-01-02T03:04:05Z"}"#).unwrap();
    /// assert!(stage.is_failed() && !stage.is_running());
    /// ```
    pub fn is_failed(&self) -> bool {
        self.status_type.contains("error")
    }
}

/// The answer of `GET /jobs/{id}/stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ListStagesResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The stages.
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
    #[serde(default)]
    pub progress: Option<f64>,
}

/// The answer of `GET …/tasks`. `nextPageToken` is always present (null on the last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListTasksResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The tasks on this page.
    pub tasks: Vec<TaskStatus>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One log line of a job (`GET /jobs/{id}/logs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLog {
    /// When it was written.
    pub created_at: Timestamp,
    /// The stage it concerns.
    #[serde(default)]
    pub processing_stage_id: Option<String>,
    /// The task it concerns.
    #[serde(default)]
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

/// The answer of `GET /jobs/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListLogsResponse {
    /// A status word, when the service sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The lines on this page.
    pub logs: Vec<JobLog>,
    /// The next page's token.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_state_is_derived_from_flags() {
        let job = |terminal: bool, error: bool, stage: Option<&str>| JobMetadata {
            job_id: "j".into(),
            name: "j".into(),
            job_definition: serde_json::json!({}),
            current_stage: stage.map(str::to_string),
            planned_stages: None,
            error,
            is_terminal: terminal,
            last_notification: None,
            created_at: Timestamp::now(),
            last_update: Timestamp::now(),
            restart_parameters_override: vec![],
        };
        assert_eq!(job(false, false, None).state(), JobState::Pending);
        assert_eq!(
            job(false, false, Some("processing")).state(),
            JobState::Processing
        );
        assert_eq!(job(true, false, None).state(), JobState::Completed);
        assert_eq!(job(true, true, Some("export")).state(), JobState::Failed);
    }

    #[test]
    fn job_debug_hides_echoed_signatures() {
        let job: JobMetadata = serde_json::from_str(
            r#"{"jobId":"j","name":"j","jobDefinition":{"notificationsURL":"https://hooks/x?token=s3cr3t1"},
              "lastNotification":{"message":"fetch https://b/a?X-Goog-Signature=s3cr3t2 failed"},
              "createdAt":"2025-01-02T03:04:05Z","lastUpdate":"2025-01-02T03:04:05Z"}"#,
        )
        .unwrap();
        let shown = format!("{job:?}");
        assert!(
            shown.contains("hooks/x") && shown.contains("fetch https://b/a"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn unknown_severity_is_kept() {
        let l: LogSeverity = serde_json::from_str(r#""debug""#).unwrap();
        assert_eq!(l, LogSeverity::Other("debug".into()));
    }
}
