//! Batch processing: the `/batch-processing/v1` endpoints. The engine (`engine.rs`) moves
//! a persisted [`JobRecord`] through its stages; the handlers here read it or flip it.

pub(crate) mod decode;
pub(crate) mod engine;
pub(crate) mod webhooks;
mod workflows;

use serde_json::json;

use super::job_records::{JobKind, JobRecord, StageRecord};
use super::paging::{Page, nth};
use super::request::{Answer, Req, bad, fail, ok_page, ok_with};
use super::state::{Data, State};
use crate::model::{JobId, JobLog, JobNotification, JobStartRequest, LogSeverity, WebhookPayload};
use crate::server::Reply;

/// The largest job body accepted.
const MAX_BODY: u64 = 1 << 20;

fn not_found(id: &str) -> Reply {
    Reply::error(404, format!("job {id:?} not found"))
}

fn with_job(state: &State, req: &Req<'_, '_>, f: impl FnOnce(&mut JobRecord) -> Answer) -> Answer {
    let (id, mut data) = (req.param("jobId"), state.lock());
    f(data.jobs.jobs.get_mut(id).ok_or_else(|| not_found(id))?)
}

pub(crate) fn list(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, 10)?;
    let data = state.lock();
    // The latest first.
    let key = |seq: u64| format!("{:020}", u64::MAX - seq);
    let mut jobs: Vec<_> = data.jobs.jobs.values().map(|j| (key(j.seq), j)).collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    ok_page(
        "jobs",
        page.cut(jobs.into_iter().map(|(k, j)| (k, j.metadata()))),
    )
}

pub(crate) fn get(state: &State, req: &mut Req<'_, '_>) -> Answer {
    with_job(state, req, |j| {
        let progress = j.progress.clamp(0.0, 1.0);
        ok_with(json!({ "job": j.metadata(), "jobStatus": j.state(), "progress": progress }))
    })
}

pub(crate) fn start(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let id = req.param("jobId").to_string();
    JobId::new(&id).map_err(bad)?;
    let kind = decode::job_kind(&req.read_json_body(MAX_BODY)?)?;
    if let JobKind::Workflow(r) = &kind {
        check_input(state, r)?;
    }
    let name = req.query("name").filter(|n| !n.is_empty());
    let name = name.unwrap_or(&id).to_string();
    let mut data = state.lock();
    let seq = data.jobs.next_seq;
    let job = JobRecord::new(&id, name, seq, kind);
    if let Some(existing) = data.jobs.jobs.get(&id) {
        if existing.definition != job.definition {
            let msg = format!("job {id:?} already exists with a different definition");
            return fail(409, msg);
        }
        let message = "job already exists with this definition";
        return ok_with(json!({ "jobId": id, "message": message }));
    }
    data.jobs.next_seq += 1;
    data.jobs.jobs.insert(id.clone(), job);
    state.unlock_changed(data);
    ok_with(json!({ "jobId": id }))
}

/// The input batch (and part) of a Workflow job must exist.
fn check_input(state: &State, req: &JobStartRequest) -> Result<(), Reply> {
    let batch = &req.job_input.batch_id;
    let files = |part| super::staging::batch_files(state, batch, part);
    if files(None).is_none() {
        return fail(404, format!("jobInput.batchId: batch {batch:?} not found"));
    }
    if let Some(part) = &req.job_input.part_name
        && files(Some(part)).is_none_or(|f| f.is_empty())
    {
        let msg = format!("jobInput.partName: batch {batch:?} has no part {part:?}");
        return fail(404, msg);
    }
    Ok(())
}

pub(crate) fn stages(state: &State, req: &mut Req<'_, '_>) -> Answer {
    with_job(state, req, |job| {
        let stages: Vec<_> = job.stages.iter().map(StageRecord::wire).collect();
        ok_with(json!({ "stages": stages }))
    })
}

pub(crate) fn tasks(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, 100)?;
    let stage = req.param("stageId");
    with_job(state, req, |job| {
        let Some(s) = job.stages.iter().find(|s| s.id == stage) else {
            return fail(404, format!("job {:?} has no stage {stage:?}", job.id));
        };
        let tasks = s.tasks.iter().enumerate().map(|(i, t)| (nth(i), t.wire()));
        ok_page("tasks", page.cut(tasks))
    })
}

pub(crate) fn logs(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let page = Page::of(req.head, 100)?;
    let severity = match req.query("severity") {
        None | Some("") => None,
        Some(s) => match LogSeverity::parse(s) {
            LogSeverity::Other(_) => {
                let msg = format!("severity must be one of info, warning, error, got {s:?}");
                return fail(400, msg);
            }
            known => Some(known),
        },
    };
    with_job(state, req, |job| {
        let wanted = |l: &&JobLog| severity.as_ref().is_none_or(|s| &l.severity == s);
        let logs = job.logs.iter().enumerate().filter(|(_, l)| wanted(l));
        ok_page("logs", page.cut(logs.map(|(i, l)| (nth(i), l.clone()))))
    })
}

pub(crate) fn abort(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let id = req.param("jobId");
    let mut data = state.lock();
    let job = data.jobs.jobs.get_mut(id).ok_or_else(|| not_found(id))?;
    if job.phase.is_terminal() {
        return ok_with(json!({ "message": format!("job {id:?} has already finished") }));
    }
    job.fail("job-aborted", "Job aborted on request");
    ended(state, &mut data, id);
    state.unlock_changed(data);
    ok_with(json!({ "message": format!("job {id:?} aborted") }))
}

pub(crate) fn restart(state: &State, req: &mut Req<'_, '_>) -> Answer {
    let overrides = decode::restart_overrides(&req.read_json_body(MAX_BODY)?)?;
    let id = req.param("jobId");
    let old_run = {
        let mut data = state.lock();
        let job = data.jobs.jobs.get_mut(id).ok_or_else(|| not_found(id))?;
        if !job.phase.is_terminal() {
            let msg = format!("job {id:?} is still running; abort it before restarting");
            return fail(409, msg);
        }
        job.restart(overrides.as_ref());
        job.run - 1
    };
    let _ = std::fs::remove_dir_all(run_dir(state, id, old_run));
    state.save();
    ok_with(json!({ "message": format!("job {id:?} restarted") }))
}

/// The working directory of one run of a job.
pub(crate) fn run_dir(state: &State, id: &str, run: u32) -> std::path::PathBuf {
    state.data_dir.join(format!("jobs/{id}/run-{run}"))
}

/// Queues the webhook of job `id`, which has just ended; a refusal is logged in the job.
pub(crate) fn ended(state: &State, data: &mut Data, id: &str) {
    let Some(job) = data.jobs.jobs.get_mut(id) else {
        return;
    };
    let Some(url) = job.notifications_url().map(str::to_string) else {
        return;
    };
    let (run, success) = (job.run, job.phase == super::job_records::Phase::Completed);
    let outcome = if success { "success" } else { "fail" };
    let payload = WebhookPayload::Job(JobNotification {
        event_id: format!("job-{id}-run-{run}-{outcome}"),
        job_id: id.to_string(),
        job_state: outcome.into(),
        delivery_attempt: 1,
    });
    let allow = &state.config.webhook_allow;
    if let Err(message) = data.webhooks.push(&url, &payload, allow) {
        webhooks::log_refusal(data, &payload, message);
    }
}
