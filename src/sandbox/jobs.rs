//! Batch processing: the job records and the `/batch-processing/v1` handlers.
//!
//! A job is a persisted [`JobRecord`]; the engine thread (`engine.rs`) moves it through
//! `pending` → `processing` stage → `export` stage → completed/failed, and the handlers
//! here only read it or flip it (start, abort, restart).

pub(crate) mod decode;
mod engine;
mod records;
mod webhooks;
mod workflows;

use serde_json::{Value, json};

use super::State;
use crate::model::{
    JobLog, JobMetadata, JobStartRequest, JobStatusResponse, ListJobsResponse, ListLogsResponse,
    ListStagesResponse, ListTasksResponse, LogSeverity, TaskStatus,
};
use crate::server::{Body, Head, Reply, read_limited};

pub(crate) use records::{
    JobKind, JobRecord, JobsData, Phase, StageRecord, TaskRecord, TrtJob, now,
};
pub(crate) use webhooks::PendingWebhook;

/// The largest job body accepted.
const MAX_BODY: u64 = 1 << 20;
/// The failure tolerance when `maxImageFailureRate` is absent: the service's documented
/// default of 10 failed images per 256-image shard.
pub(crate) const DEFAULT_MAX_FAILURE_RATE: f64 = 10.0 / 256.0;

/// Parses `pageSize` and `nextPageToken` and cuts one page out of `items`.
fn page<T: Clone>(
    head: &Head,
    items: &[T],
    default: usize,
) -> Result<(Vec<T>, Option<String>), Reply> {
    let (offset, size) = super::paging::paging(head, default)?;
    Ok(super::paging::page(items.iter().cloned(), offset, size))
}

fn not_found(id: &str) -> Reply {
    Reply::error(404, format!("job {id:?} not found"))
}

use decode::{job_kind, restart_overrides};

impl State {
    pub(crate) fn jobs(&self, head: &Head, rest: &[&str], req: &mut Body<'_>) -> Reply {
        let m = head.method.as_str();
        match (m, rest) {
            ("GET", ["jobs"]) => self.list_jobs(head),
            ("GET", ["jobs", id]) => self.get_job(id),
            ("POST", ["jobs", id]) => self.start_job(head, id, req),
            ("GET", ["jobs", id, "stages"]) => self.get_stages(id),
            ("GET", ["jobs", id, "stages", stage, "tasks"]) => self.get_tasks(head, id, stage),
            ("POST", ["jobs", id, "abort"]) => self.abort_job(id),
            ("POST", ["jobs", id, "restart"]) => self.restart_job(head, id, req),
            ("GET", ["jobs", id, "logs"]) => self.get_logs(head, id),
            (_, ["jobs"] | ["jobs", _] | ["jobs", _, "stages" | "abort" | "restart" | "logs"])
            | (_, ["jobs", _, "stages", _, "tasks"]) => {
                Reply::error(405, format!("method {m} not allowed here"))
            }
            _ => Reply::error(
                404,
                format!(
                    "no route for {m} /batch-processing/v1/external/…/{}",
                    rest.join("/")
                ),
            ),
        }
    }

    fn list_jobs(&self, head: &Head) -> Reply {
        let mut all: Vec<JobMetadata> = Vec::new();
        {
            let inner = self.lock();
            let mut recs: Vec<&JobRecord> = inner.jobs.jobs.values().collect();
            recs.sort_by_key(|r| std::cmp::Reverse(r.seq));
            all.extend(recs.into_iter().map(JobRecord::metadata));
        }
        match page(head, &all, 10) {
            Ok((jobs, next)) => Reply::json(
                200,
                &ListJobsResponse {
                    status: Some("ok".into()),
                    jobs,
                    next_page_token: next,
                },
            ),
            Err(r) => r,
        }
    }

    fn get_job(&self, id: &str) -> Reply {
        let inner = self.lock();
        let Some(job) = inner.jobs.jobs.get(id) else {
            return not_found(id);
        };
        Reply::json(
            200,
            &JobStatusResponse {
                status: Some("ok".into()),
                job: Some(job.metadata()),
                job_status: Some(job.state()),
                progress: Some(job.progress.clamp(0.0, 1.0)),
            },
        )
    }

    fn start_job(&self, head: &Head, id: &str, req: &mut Body<'_>) -> Reply {
        if let Err(e) = crate::model::JobId::new(id) {
            return Reply::error(400, e.to_string());
        }
        let body = match read_limited(head, req, MAX_BODY) {
            Ok(b) => b,
            Err(r) => return r,
        };
        super::record::note_json(&body);
        let kind = match job_kind(&body) {
            Ok(k) => k,
            Err(r) => return r,
        };
        if let JobKind::Workflow(req) = &kind
            && let Err(r) = self.check_job_input(req)
        {
            return r;
        }
        let definition = match &kind {
            JobKind::Workflow(r) => serde_json::to_value(r),
            JobKind::Trt(t) => serde_json::to_value(t),
        }
        .unwrap_or(Value::Null);
        let name = head
            .query("name")
            .filter(|n| !n.is_empty())
            .unwrap_or(id)
            .to_string();
        {
            let mut inner = self.lock();
            if let Some(existing) = inner.jobs.jobs.get(id) {
                return if existing.definition == definition {
                    Reply::json(
                        200,
                        &json!({ "status": "ok", "jobId": id, "message": "job already exists with this definition" }),
                    )
                } else {
                    Reply::error(
                        409,
                        format!("job {id:?} already exists with a different definition"),
                    )
                };
            }
            let (rate, timeout) = match &kind {
                JobKind::Workflow(r) => (r.max_image_failure_rate, r.processing_timeout_seconds),
                JobKind::Trt(_) => (None, None),
            };
            let now = now();
            let seq = inner.jobs.next_seq;
            inner.jobs.next_seq += 1;
            let mut rec = JobRecord {
                id: id.to_string(),
                name,
                seq,
                definition,
                kind,
                created_at: now,
                last_update: now,
                run: 0,
                phase: Phase::Pending,
                current_stage: None,
                last_notification: Some(
                    json!({ "type": "job-accepted", "message": "Job accepted" }),
                ),
                restart_overrides: Vec::new(),
                max_failure_rate: rate,
                timeout_seconds: timeout,
                started_at: None,
                total: 0,
                cursor: 0,
                failed: 0,
                results_bytes: 0,
                progress: 0.0,
                stages: Vec::new(),
                logs: Vec::new(),
            };
            rec.log(
                LogSeverity::Info,
                None,
                "job-accepted",
                json!({ "message": "Job accepted" }),
            );
            inner.jobs.jobs.insert(id.to_string(), rec);
        }
        let _ = self.save();
        Reply::json(200, &json!({ "status": "ok", "jobId": id }))
    }

    /// The input batch (and part) of a Workflow job must exist.
    fn check_job_input(&self, req: &JobStartRequest) -> Result<(), Reply> {
        let batch = &req.job_input.batch_id;
        if self.batch_files(batch, None).is_none() {
            return Err(Reply::error(
                404,
                format!("jobInput.batchId: batch {batch:?} not found"),
            ));
        }
        if let Some(part) = &req.job_input.part_name
            && self
                .batch_files(batch, Some(part))
                .is_none_or(|f| f.is_empty())
        {
            return Err(Reply::error(
                404,
                format!("jobInput.partName: batch {batch:?} has no part {part:?}"),
            ));
        }
        Ok(())
    }

    fn get_stages(&self, id: &str) -> Reply {
        let inner = self.lock();
        let Some(job) = inner.jobs.jobs.get(id) else {
            return not_found(id);
        };
        let stages = job.stages.iter().map(StageRecord::wire).collect();
        Reply::json(
            200,
            &ListStagesResponse {
                status: Some("ok".into()),
                stages,
            },
        )
    }

    fn get_tasks(&self, head: &Head, id: &str, stage: &str) -> Reply {
        let tasks: Vec<TaskStatus> = {
            let inner = self.lock();
            let Some(job) = inner.jobs.jobs.get(id) else {
                return not_found(id);
            };
            let Some(s) = job.stages.iter().find(|s| s.id == stage) else {
                return Reply::error(404, format!("job {id:?} has no stage {stage:?}"));
            };
            s.tasks.iter().map(TaskRecord::wire).collect()
        };
        match page(head, &tasks, 100) {
            Ok((tasks, next)) => Reply::json(
                200,
                &ListTasksResponse {
                    status: Some("ok".into()),
                    tasks,
                    next_page_token: next,
                },
            ),
            Err(r) => r,
        }
    }

    fn get_logs(&self, head: &Head, id: &str) -> Reply {
        let severity = match head.query("severity") {
            None | Some("") => None,
            Some(s) => match LogSeverity::parse(s) {
                LogSeverity::Other(_) => {
                    return Reply::error(
                        400,
                        format!("severity must be one of info, warning, error, got {s:?}"),
                    );
                }
                known => Some(known),
            },
        };
        let logs: Vec<JobLog> = {
            let inner = self.lock();
            let Some(job) = inner.jobs.jobs.get(id) else {
                return not_found(id);
            };
            job.logs
                .iter()
                .filter(|l| severity.as_ref().is_none_or(|s| &l.severity == s))
                .cloned()
                .collect()
        };
        match page(head, &logs, 100) {
            Ok((logs, next)) => Reply::json(
                200,
                &ListLogsResponse {
                    status: Some("ok".into()),
                    logs,
                    next_page_token: next,
                },
            ),
            Err(r) => r,
        }
    }

    fn abort_job(&self, id: &str) -> Reply {
        let hook = {
            let mut inner = self.lock();
            let Some(job) = inner.jobs.jobs.get_mut(id) else {
                return not_found(id);
            };
            if job.phase.is_terminal() {
                return Reply::json(
                    200,
                    &json!({ "status": "ok", "message": format!("job {id:?} has already finished") }),
                );
            }
            job.fail("job-aborted", "Job aborted on request");
            job.notifications_url().map(|u| (u.to_string(), job.run))
        };
        if let Some((url, run)) = hook {
            self.job_webhook(&url, id, run, false);
        }
        let _ = self.save();
        Reply::json(
            200,
            &json!({ "status": "ok", "message": format!("job {id:?} aborted") }),
        )
    }

    fn restart_job(&self, head: &Head, id: &str, req: &mut Body<'_>) -> Reply {
        let body = match read_limited(head, req, MAX_BODY) {
            Ok(b) => b,
            Err(r) => return r,
        };
        super::record::note_json(&body);
        let overrides = match restart_overrides(&body) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let old_dir = {
            let mut inner = self.lock();
            let Some(job) = inner.jobs.jobs.get_mut(id) else {
                return not_found(id);
            };
            if !job.phase.is_terminal() {
                return Reply::error(
                    409,
                    format!("job {id:?} is still running; abort it before restarting"),
                );
            }
            let old_run = job.run;
            job.restart(overrides.as_ref());
            self.run_dir(id, old_run)
        };
        let _ = std::fs::remove_dir_all(old_dir);
        let _ = self.save();
        Reply::json(
            200,
            &json!({ "status": "ok", "message": format!("job {id:?} restarted") }),
        )
    }

    /// The working directory of one run of a job.
    pub(crate) fn run_dir(&self, id: &str, run: u32) -> std::path::PathBuf {
        self.data_dir()
            .join("jobs")
            .join(id)
            .join(format!("run-{run}"))
    }

    /// Queues the completion webhook of a job.
    pub(crate) fn job_webhook(&self, url: &str, id: &str, run: u32, success: bool) {
        let payload = crate::model::WebhookPayload::Job(crate::model::JobNotification {
            event_id: format!(
                "job-{id}-run-{run}-{}",
                if success { "success" } else { "fail" }
            ),
            job_id: id.to_string(),
            job_state: if success { "success" } else { "fail" }.into(),
            delivery_attempt: 1,
        });
        self.enqueue_webhook(url, &payload);
    }
}
