//! Webhook payloads (snake_case, unlike the REST API).

use serde::{Deserialize, Serialize};

/// A webhook body of a known `type`, as the sandbox sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum WebhookPayload {
    /// An ingest finished, or a shard's files were indexed.
    #[serde(rename = "roboflow-data-staging-notification-v1")]
    Ingest(IngestNotification),
    /// A job finished.
    #[serde(rename = "roboflow-batch-job-notification-v1")]
    Job(JobNotification),
}

/// A data-staging notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestNotification {
    /// Unique per event; a redelivery keeps it.
    pub event_id: String,
    /// The ingest it concerns.
    pub ingest_id: String,
    /// The batch.
    pub batch_id: String,
    /// The shard, for per-shard notifications.
    pub shard_id: Option<String>,
    /// What happened.
    pub notification: IngestEvent,
    /// 1 on the first delivery, then 2, 3, …
    #[serde(deserialize_with = "super::whole::int")]
    pub delivery_attempt: u32,
}

/// What an ingest notification reports, told apart by its `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum IngestEvent {
    /// The ingest as a whole finished.
    #[serde(rename = "ingest-status-notification-v1")]
    Status {
        /// Whether it succeeded.
        success: bool,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_details: Option<ErrorDetails>,
    },
    /// One shard's files were indexed.
    #[serde(rename = "ingest-files-status-notification-v1")]
    FilesStatus {
        /// Whether every file was ingested.
        success: bool,
        /// Names of the files ingested.
        ingested_files: Vec<String>,
        /// Files that failed, and why.
        failed_files: Vec<FailedFile>,
        /// Whether the lists were cut short.
        content_truncated: bool,
    },
}

/// Why an ingest failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetails {
    /// A machine-readable reason, e.g. `unsafe-url-detected`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// A readable reason.
    pub reason: String,
}

/// A file that could not be ingested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFile {
    /// A machine-readable reason, e.g. `file-size-limit-exceeded`.
    #[serde(rename = "type")]
    pub failure_type: String,
    /// The file's name.
    pub file_name: String,
    /// A readable reason.
    pub reason: String,
}

/// A job notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobNotification {
    /// Unique per event; a redelivery keeps it.
    pub event_id: String,
    /// The job.
    pub job_id: String,
    /// `success` or `fail`.
    pub job_state: String,
    /// 1 on the first delivery, then 2, 3, …
    #[serde(deserialize_with = "super::whole::int")]
    pub delivery_attempt: u32,
}

impl JobNotification {
    /// Whether the job succeeded (`job_state` is `success`).
    ///
    /// ```
    /// let j: roboflow_batch::webhook::JobNotification = serde_json::from_str(r#"{"event_id":"e1","job_id":"j1","job_state":"fail","delivery_attempt":1}"#).unwrap();
    /// assert!(!j.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.job_state == "success"
    }
}

impl IngestEvent {
    /// Whether the ingest (or the shard's files) succeeded.
    ///
    /// ```
    /// let e: roboflow_batch::model::IngestEvent = serde_json::from_str(r#"{"type":"ingest-status-notification-v1","success":true}"#).unwrap();
    /// assert!(e.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        let (IngestEvent::Status { success, .. } | IngestEvent::FilesStatus { success, .. }) = self;
        *success
    }
}
