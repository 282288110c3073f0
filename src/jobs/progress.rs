//! A job's progress, aggregated from its stages and tasks as the official client's
//! `show-job-details` does (notes §3.1): pure functions, listings in, a [`Progress`] out.
//! A task is worth `1 / tasksNumber` of its stage; the job's fraction is the stages' sum
//! over the stages planned (`plannedStages`, or those seen), and 1 once completed.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::{JobStage, JobState, JobStatusResponse, TaskStatus};

/// Task counts of a stage.
///
/// ```
/// assert_eq!(roboflow_batch::jobs::TaskCounts::default().total, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    /// `tasksNumber` of the stage (or the tasks listed, when more were listed).
    pub total: u64,
    /// Not started: not listed yet, or listed with no progress.
    pub waiting: u64,
    /// Listed with `statusType` `info` and a progress value.
    pub running: u64,
    /// Listed with any other `statusType`.
    pub finished: u64,
    /// Finished with a `statusType` containing `success`.
    pub succeeded: u64,
    /// Finished with a `statusType` containing `error`.
    pub failed: u64,
}

/// One distinct error notification, with how many failed tasks reported it.
///
/// ```
/// fn shown(e: &roboflow_batch::jobs::ErrorReport) -> String { format!("{} x{}", e.message, e.tasks) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorReport {
    /// The readable part: the notification's `message`, the string itself, or its JSON.
    pub message: String,
    /// The notification as the service sent it (an object or a string).
    pub notification: Value,
    /// Failed tasks that reported it (0 when only a stage or the job did).
    pub tasks: u64,
}

impl ErrorReport {
    pub(crate) fn new(notification: Value, tasks: u64) -> Self {
        ErrorReport {
            message: notification_text(&notification),
            notification,
            tasks,
        }
    }
}

/// The text of a notification: its `message`, the string itself, or its JSON.
fn notification_text(n: &Value) -> String {
    let message = n.as_str().or_else(|| n.get("message")?.as_str());
    message.map_or_else(|| canonical(n), str::to_string)
}

/// One stage's progress.
///
/// ```
/// fn done(s: &roboflow_batch::jobs::StageProgress) -> bool { s.fraction >= 1.0 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageProgress {
    /// `processingStageId`.
    pub id: String,
    /// `processingStageName`, e.g. `processing` or `export`.
    pub name: String,
    /// `statusType`: `info` while running; contains `error` on failure.
    pub status_type: String,
    /// Its tasks.
    pub tasks: TaskCounts,
    /// Done, from 0 to 1.
    pub fraction: f64,
    /// The batches it writes.
    pub output_batches: Vec<String>,
    /// Its failed tasks' notifications, de-duplicated.
    pub errors: Vec<ErrorReport>,
}

/// A snapshot of a job: where it is, how far it got, and what went wrong.
///
/// ```
/// let status = serde_json::from_str(r#"{"jobStatus":"pending","progress":0}"#).unwrap();
/// let p = roboflow_batch::jobs::Progress::aggregate("job-1", &status, &[]);
/// assert_eq!((p.fraction, p.current_stage), (0.0, None));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Progress {
    /// The job.
    pub job_id: String,
    /// Its state.
    pub state: JobState,
    /// The stage running now (or the last one).
    pub current_stage: Option<String>,
    /// The current stage's tasks.
    pub tasks: TaskCounts,
    /// The whole job, from 0 to 1.
    pub fraction: f64,
    /// Every stage so far, in start order.
    pub stages: Vec<StageProgress>,
    /// Error notifications of tasks, failed stages and the failed job, de-duplicated.
    pub errors: Vec<ErrorReport>,
    /// The job's last notification, as text.
    pub message: Option<String>,
}

impl Progress {
    /// Aggregates one poll: the job's status, and each stage with every one of its tasks.
    ///
    /// ```
    /// let status = serde_json::from_str(r#"{"jobStatus":"completed"}"#).unwrap();
    /// assert_eq!(roboflow_batch::jobs::Progress::aggregate("j", &status, &[]).fraction, 1.0);
    /// ```
    pub fn aggregate(
        job_id: &str,
        status: &JobStatusResponse,
        stages: &[(JobStage, Vec<TaskStatus>)],
    ) -> Progress {
        let mut ordered: Vec<&(JobStage, Vec<TaskStatus>)> = stages.iter().collect();
        ordered.sort_by_key(|(s, _)| s.start_timestamp);
        let per_stage: Vec<StageProgress> =
            ordered.iter().map(|(s, t)| aggregate_stage(s, t)).collect();
        let state = status.state();
        let job = status.job.as_ref();

        let named = job.and_then(|j| j.current_stage.as_deref());
        let current = named
            .and_then(|n| per_stage.iter().find(|s| s.id == n || s.name == n))
            .or_else(|| per_stage.iter().rev().find(|s| s.status_type == "info"))
            .or(per_stage.last());
        let current_stage = current
            .map(|s| s.name.clone())
            .or_else(|| named.map(str::to_string));
        let tasks = current.map(|s| s.tasks).unwrap_or_default();

        let planned = job
            .and_then(|j| j.planned_stages.as_ref())
            .map_or(0, Vec::len);
        let n = planned.max(per_stage.len());
        let fraction = if state == JobState::Completed {
            1.0
        } else if n == 0 {
            unit(status.progress.unwrap_or(0.0))
        } else {
            unit(per_stage.iter().map(|s| s.fraction).sum::<f64>() / n as f64)
        };

        let mut errors = Dedup::default();
        for (stage, task_list) in &ordered {
            for t in task_list.iter().filter(|t| is_error(&t.status_type)) {
                errors.add(&t.notification, 1);
            }
            if is_error(&stage.status_type) {
                errors.add(&stage.notification, 0);
            }
        }
        let failed = job.is_some_and(|j| j.error) || state == JobState::Failed;
        let last = job.and_then(|j| j.last_notification.as_ref());
        if failed && let Some(n) = last {
            errors.add(n, 0);
        }
        Progress {
            job_id: job_id.to_string(),
            state,
            current_stage,
            tasks,
            fraction,
            stages: per_stage,
            errors: errors.into_reports(),
            message: last.map(notification_text),
        }
    }

    /// The output batches of the stages so far.
    ///
    /// ```
    /// let status = serde_json::from_str(r#"{"jobStatus":"pending"}"#).unwrap();
    /// assert!(roboflow_batch::jobs::Progress::aggregate("j", &status, &[]).output_batches().is_empty());
    /// ```
    pub fn output_batches(&self) -> Vec<&str> {
        self.stages
            .iter()
            .flat_map(|s| s.output_batches.iter().map(String::as_str))
            .collect()
    }
}

/// Aggregates one stage from its tasks (every page of them).
fn aggregate_stage(stage: &JobStage, tasks: &[TaskStatus]) -> StageProgress {
    let listed = tasks.len() as u64;
    // `tasksNumber` is at least 1 on the wire; guard against 0 rather than divide by it.
    let total = stage.tasks_number.max(listed).max(1);
    let share = 1.0 / total as f64;
    let mut c = TaskCounts {
        total,
        waiting: total - listed,
        ..TaskCounts::default()
    };
    let mut done = 0.0;
    let mut errors = Dedup::default();
    for t in tasks {
        if t.status_type == "info" {
            match t.progress {
                Some(p) => {
                    c.running += 1;
                    done += unit(p) * share;
                }
                None => c.waiting += 1,
            }
            continue;
        }
        c.finished += 1;
        done += share;
        let s = t.status_type.to_ascii_lowercase();
        if s.contains("success") {
            c.succeeded += 1;
        }
        if s.contains("error") {
            c.failed += 1;
            errors.add(&t.notification, 1);
        }
    }
    StageProgress {
        id: stage.processing_stage_id.clone(),
        name: stage.processing_stage_name.clone(),
        status_type: stage.status_type.clone(),
        tasks: c,
        fraction: unit(done),
        output_batches: stage
            .output_batch_ids()
            .into_iter()
            .map(str::to_string)
            .collect(),
        errors: errors.into_reports(),
    }
}

fn is_error(status_type: &str) -> bool {
    status_type.to_ascii_lowercase().contains("error")
}

/// Clamps to `[0, 1]`; NaN and -0.0 (the sum of no floats) count as 0.
fn unit(x: f64) -> f64 {
    if x > 0.0 { x.min(1.0) } else { 0.0 }
}

/// JSON with object keys sorted, so equal notifications compare equal whatever the key order.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
                pairs.sort_by_key(|(k, _)| *k);
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, x)| (k.clone(), sorted(x)))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// Distinct notifications with task counts; a string and an object of the same `message`
/// are one report, in object form.
#[derive(Default)]
struct Dedup {
    index: HashMap<String, usize>,
    by_text: HashMap<String, usize>,
    reports: Vec<ErrorReport>,
}

impl Dedup {
    fn add(&mut self, n: &Value, tasks: u64) {
        let key = canonical(n);
        let text = notification_text(n);
        let found = self.index.get(&key).copied().or_else(|| {
            let i = *self.by_text.get(&text)?;
            let other = &self.reports.get(i)?.notification;
            (other.is_string() != n.is_string()).then_some(i)
        });
        let i = found.unwrap_or(self.reports.len());
        self.index.insert(key, i);
        match self.reports.get_mut(i) {
            Some(r) if r.notification.is_string() && !n.is_string() => {
                *r = ErrorReport::new(n.clone(), r.tasks + tasks);
            }
            Some(r) => r.tasks += tasks,
            None => {
                self.by_text.entry(text).or_insert(i);
                self.reports.push(ErrorReport::new(n.clone(), tasks));
            }
        }
    }

    /// Most-reported first; ties keep first-seen order (the sort is stable).
    fn into_reports(mut self) -> Vec<ErrorReport> {
        self.reports.sort_by_key(|r| std::cmp::Reverse(r.tasks));
        self.reports
    }
}
