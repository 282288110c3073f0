//! The persisted job records, and how they read on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::stamp_us as now;
use crate::model::{
    JobLog, JobMetadata, JobStage, JobStartRequest, JobState, LogSeverity, RestartOverrides,
    TaskStatus, Timestamp,
};

/// Images per task when the config says 0.
const DEFAULT_IMAGES_PER_TASK: u64 = 100;

/// Jobs, with their stages, tasks and logs.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct JobsData {
    pub jobs: BTreeMap<String, JobRecord>,
    pub next_seq: u64,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Phase {
    Pending,
    Processing,
    Export,
    Completed,
    Failed,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed)
    }
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum JobKind {
    Workflow(Box<JobStartRequest>),
    Trt(TrtJob),
}

/// A `trt-compilation-v1` job body (official client).
pub(crate) type TrtJob = crate::model::TrtCompilationRequest;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    pub id: String,
    pub name: String,
    pub seq: u64,
    /// The normalised definition, compared for idempotent starts.
    pub definition: Value,
    pub kind: JobKind,
    pub created_at: Timestamp,
    pub last_update: Timestamp,
    /// Bumped by every restart; engine work for an older run is discarded.
    pub run: u32,
    pub phase: Phase,
    pub current_stage: Option<String>,
    pub last_notification: Option<Value>,
    pub restart_overrides: Vec<Value>,
    /// The tolerance in force (the definition's, or a restart override).
    pub max_failure_rate: Option<f64>,
    pub timeout_seconds: Option<u64>,
    pub started_at: Option<Timestamp>,
    /// Work items of the current stage, and how many are done.
    pub total: u64,
    pub cursor: u64,
    pub failed: u64,
    /// Bytes of the results file that belong to processed images.
    pub results_bytes: u64,
    pub progress: f64,
    pub stages: Vec<StageRecord>,
    pub logs: Vec<JobLog>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StageRecord {
    pub id: String,
    pub name: String,
    pub tasks: Vec<TaskRecord>,
    pub output_batches: Vec<String>,
    pub start: Timestamp,
    pub notification: Value,
    pub status_type: String,
    pub last_event: Timestamp,
}

/// One task: a chunk `[first, first + count)` of the stage's work items.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskRecord {
    pub id: String,
    pub first: u64,
    pub count: u64,
    pub done: u64,
    pub failed: u64,
    /// `None` until the task has registered (started).
    pub registered: Option<Timestamp>,
    pub status_type: String,
    pub notification: Value,
}

impl JobRecord {
    pub fn new(id: &str, name: String, seq: u64, kind: JobKind) -> JobRecord {
        let (definition, (max_failure_rate, timeout_seconds)) = match &kind {
            JobKind::Workflow(r) => (
                serde_json::to_value(r),
                (r.max_image_failure_rate, r.processing_timeout_seconds),
            ),
            JobKind::Trt(t) => (serde_json::to_value(t), (None, None)),
        };
        let (now, msg) = (now(), "Job accepted");
        let accepted = json!({ "type": "job-accepted", "message": msg });
        let mut job = JobRecord {
            id: id.to_string(),
            name,
            seq,
            definition: definition.unwrap_or(Value::Null),
            kind,
            created_at: now,
            last_update: now,
            run: 0,
            phase: Phase::Pending,
            current_stage: None,
            last_notification: Some(accepted),
            restart_overrides: Vec::new(),
            max_failure_rate,
            timeout_seconds,
            started_at: None,
            total: 0,
            cursor: 0,
            failed: 0,
            results_bytes: 0,
            progress: 0.0,
            stages: Vec::new(),
            logs: Vec::new(),
        };
        job.log(
            LogSeverity::Info,
            None,
            "job-accepted",
            json!({ "message": msg }),
        );
        job
    }

    pub fn state(&self) -> JobState {
        match self.phase {
            Phase::Pending => JobState::Pending,
            Phase::Processing | Phase::Export => JobState::Processing,
            Phase::Completed => JobState::Completed,
            Phase::Failed => JobState::Failed,
        }
    }

    pub fn notifications_url(&self) -> Option<&str> {
        match &self.kind {
            JobKind::Workflow(r) => r.notifications_url.as_deref(),
            JobKind::Trt(t) => t.notifications_url.as_deref(),
        }
    }

    pub fn metadata(&self) -> JobMetadata {
        let planned = match self.kind {
            JobKind::Workflow(_) => vec!["processing".to_string(), "export".to_string()],
            JobKind::Trt(_) => vec!["compilation".to_string()],
        };
        JobMetadata {
            job_id: self.id.clone(),
            name: self.name.clone(),
            job_definition: self.definition.clone(),
            current_stage: self.current_stage.clone(),
            planned_stages: Some(planned),
            error: self.phase == Phase::Failed,
            is_terminal: self.phase.is_terminal(),
            last_notification: self.last_notification.clone(),
            created_at: self.created_at,
            last_update: self.last_update,
            restart_parameters_override: self.restart_overrides.clone(),
        }
    }

    pub fn log(&mut self, severity: LogSeverity, stage: Option<&str>, kind: &str, payload: Value) {
        self.logs.push(JobLog {
            created_at: now(),
            processing_stage_id: stage.map(str::to_string),
            task_id: None,
            severity,
            reporting_module: "sandbox-engine".into(),
            log_type: kind.into(),
            payload,
        });
    }

    /// Starts a new run from scratch, with the overrides applied and recorded.
    pub fn restart(&mut self, overrides: Option<&RestartOverrides>) {
        if let Some(o) = overrides {
            if let JobKind::Workflow(r) = &mut self.kind {
                let c = &mut r.compute_configuration;
                if let Some(oc) = &o.compute_configuration {
                    c.machine_type = oc.machine_type.clone().unwrap_or(c.machine_type.clone());
                    c.workers_per_machine = oc.workers_per_machine.or(c.workers_per_machine);
                }
                r.max_parallel_tasks = o.max_parallel_tasks.or(r.max_parallel_tasks);
            }
            self.max_failure_rate = o.max_image_failure_rate.or(self.max_failure_rate);
            self.timeout_seconds = o.processing_timeout_seconds.or(self.timeout_seconds);
            self.restart_overrides
                .push(serde_json::to_value(o).unwrap_or_default());
        }
        self.run += 1;
        self.phase = Phase::Pending;
        self.current_stage = None;
        self.stages.clear();
        (self.total, self.cursor, self.failed, self.results_bytes) = (0, 0, 0, 0);
        self.progress = 0.0;
        self.started_at = None;
        self.last_update = now();
        self.last_notification =
            Some(json!({ "type": "job-restarted", "message": "Job restarted" }));
        let payload =
            json!({ "message": "Job restarted", "run": self.run, "overrides": overrides });
        self.log(LogSeverity::Info, None, "job-restarted", payload);
    }

    /// Ends the job as failed: the running stage turns `error`, a notification and an
    /// error log say why.
    pub fn fail(&mut self, kind: &str, message: &str) {
        let now = now();
        let note = json!({ "type": kind, "message": message });
        let stage_id = self.current_stage.clone();
        let current = |s: &&mut StageRecord| stage_id.as_deref() == Some(&s.id);
        if let Some(stage) = self.stages.iter_mut().find(current) {
            stage.status_type = "error".into();
            stage.notification = note.clone();
            stage.last_event = now;
            for t in stage.tasks.iter_mut().filter(|t| t.status_type == "info") {
                t.status_type = "error".into();
                t.notification = note.clone();
            }
        }
        let payload = json!({ "message": message });
        self.log(LogSeverity::Error, stage_id.as_deref(), kind, payload);
        self.last_notification = Some(note);
        self.phase = Phase::Failed;
        self.last_update = now;
    }
}

impl StageRecord {
    pub fn new(name: &str, total: u64, per_task: u64) -> StageRecord {
        let now = now();
        let per_task = Some(per_task)
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_IMAGES_PER_TASK);
        let n = total.div_ceil(per_task).max(1);
        let tasks = (0..n)
            .map(|i| TaskRecord {
                id: format!("{name}-task-{i:05}"),
                first: i * per_task,
                count: per_task.min(total.saturating_sub(i * per_task)),
                done: 0,
                failed: 0,
                registered: None,
                status_type: "info".into(),
                notification: json!({ "type": "task-waiting", "message": "Waiting for a worker" }),
            })
            .collect();
        StageRecord {
            id: name.into(),
            name: name.into(),
            tasks,
            output_batches: Vec::new(),
            start: now,
            notification: json!({ "type": "stage-started", "message": format!("Stage {name} started") }),
            status_type: "info".into(),
            last_event: now,
        }
    }

    pub fn wire(&self) -> JobStage {
        JobStage {
            processing_stage_id: self.id.clone(),
            processing_stage_name: self.name.clone(),
            tasks_number: self.tasks.len().max(1) as u64,
            output_batches: self.output_batches.clone(),
            output_batch_id: self.output_batches.first().cloned(),
            start_timestamp: self.start,
            notification: self.notification.clone(),
            status_type: self.status_type.clone(),
            last_event_timestamp: self.last_event,
        }
    }
}

impl TaskRecord {
    pub fn wire(&self) -> TaskStatus {
        // An empty task is done: 0/0 is NaN, and NaN.min(1.0) is 1.0.
        let progress = (self.done as f64 / self.count as f64).min(1.0);
        TaskStatus {
            task_id: self.id.clone(),
            notification: self.notification.clone(),
            status_type: self.status_type.clone(),
            event_timestamp: self.registered.unwrap_or_else(Timestamp::now),
            progress: self.registered.map(|_| progress),
        }
    }
}
