//! Batch Processing endpoints: start, inspect, control and list jobs.

use super::BatchApi;
use super::call::Call;
use super::paging::Pages;
use super::requests::RequestKind as K;
use crate::error::{Error, Result};
use crate::model::*;
use crate::urls::encode;

fn check_stage_id(stage: &str) -> Result<()> {
    super::check_segment("stage_id", stage)?;
    if stage.is_empty() || stage.len() > 256 || stage.chars().any(char::is_control) {
        return Err(Error::invalid(
            "stage_id",
            "must be 1 to 256 characters without control characters",
        ));
    }
    Ok(())
}

impl BatchApi {
    /// A call of `kind` to `…/jobs{rest}`, or to `…/jobs/{job_id}{rest}` with the id checked
    /// before anything is sent.
    fn jobs_call(&self, kind: K, job_id: Option<&str>, rest: &str) -> Result<Call> {
        let job = job_id.map(JobId::new).transpose()?;
        let id = job.as_ref().map(JobId::as_str);
        self.workspace_call(kind, ("batch-processing", "jobs"), id, rest)
    }

    /// Starts a job (`POST …/jobs/{job_id}`), with an optional display name (the `name`
    /// query parameter). The request is validated first; the Workflow's workspace defaults
    /// to the client's. Starting the same id with the same definition again is harmless.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let req = roboflow_batch::model::JobStartRequest::images("my-batch", "count-cars");
    /// api.start_job("cars-2026-11", &req, Some("Car count"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start_job(
        &self,
        job_id: impl AsRef<str>,
        request: &JobStartRequest,
        name: Option<&str>,
    ) -> Result<()> {
        request.validate()?;
        let call = self.jobs_call(K::StartJob, Some(job_id.as_ref()), "")?;
        let mut body = request.clone();
        let spec = &mut body.processing_specification;
        spec.workspace = spec.workspace.take().or(Some(self.workspace()?));
        self.execute_ignoring_body(&call.query_opt("name", name).json(&body)?)
    }

    /// Starts a TensorRT compilation job (`POST …/jobs/{job_id}` with a
    /// `trt-compilation-v1` body), as the official client's `trt-compile` does.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// # use roboflow_batch::model::{CompilationDevice as D, TrtCompilationRequest as R};
    /// api.start_trt_compilation("trt-1", &R::new("my-project/3", vec![D::NvidiaT4]), None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start_trt_compilation(
        &self,
        job_id: impl AsRef<str>,
        request: &TrtCompilationRequest,
        name: Option<&str>,
    ) -> Result<()> {
        request.validate()?;
        let call = self.jobs_call(K::StartJob, Some(job_id.as_ref()), "")?;
        self.execute_ignoring_body(&call.query_opt("name", name).json(request)?)
    }

    /// A job's status (`GET …/jobs/{job_id}`), decoded from either answer form; see
    /// [`JobStatusResponse::state`].
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// println!("{}", api.job("cars-2026-11")?.state());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job(&self, job_id: impl AsRef<str>) -> Result<JobStatusResponse> {
        let job_id = job_id.as_ref();
        let r: JobStatusResponse =
            self.execute_json(&self.jobs_call(K::JobStatus, Some(job_id), "")?)?;
        if r.job.is_none() && r.job_status.is_none() {
            return Err(Error::Decode {
                url: format!("jobs/{job_id}"),
                path: String::new(),
                message: "neither `job` nor `jobStatus` is present".into(),
                snippet: String::new(),
            });
        }
        Ok(r)
    }

    /// Every job of the workspace (`GET …/jobs`; see [`Pages`] for the page size).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let first = api.jobs(Some(10)).next().transpose()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn jobs(&self, page_size: Option<u32>) -> Pages<'_, JobMetadata> {
        let call = || self.jobs_call(K::ListJobs, None, "");
        self.listing("jobs", page_size, call, |r: ListJobsResponse| {
            (r.jobs, r.next_page_token)
        })
    }

    /// A job's stages (`GET …/jobs/{job_id}/stages`), typically `processing` then `export`.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let stages = api.job_stages("cars-2026-11")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job_stages(&self, job_id: impl AsRef<str>) -> Result<Vec<JobStage>> {
        let call = self.jobs_call(K::JobStages, Some(job_id.as_ref()), "/stages")?;
        Ok(self.execute_json::<ListStagesResponse>(&call)?.stages)
    }

    /// Every task of a stage (`GET …/stages/{stage_id}/tasks`; see [`Pages`]).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let n = api.tasks("cars-2026-11", "processing", None).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn tasks<'a>(
        &'a self,
        job_id: impl AsRef<str> + Send + 'a,
        stage_id: impl AsRef<str> + Send + 'a,
        page_size: Option<u32>,
    ) -> Pages<'a, TaskStatus> {
        let what = format!("tasks of {}/{}", job_id.as_ref(), stage_id.as_ref());
        let call = move || {
            let (job, stage) = (JobId::new(job_id.as_ref())?, stage_id.as_ref());
            check_stage_id(stage)?;
            let rest = format!("/stages/{}/tasks", encode(stage));
            self.jobs_call(K::ListTasks, Some(job.as_str()), &rest)
        };
        self.listing(what, page_size, call, |r: ListTasksResponse| {
            (r.tasks, r.next_page_token)
        })
    }

    /// Aborts a job (`POST …/jobs/{job_id}/abort`) and returns the service's answer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let answer = api.abort_job("cars-2026-11")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn abort_job(&self, job_id: impl AsRef<str>) -> Result<JobControlResponse> {
        self.execute_json(&self.jobs_call(K::AbortJob, Some(job_id.as_ref()), "/abort")?)
    }

    /// Restarts a job (`POST …/jobs/{job_id}/restart`), optionally with new parameters.
    /// Without overrides no body is sent, as the official client does.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// api.restart_job("cars-2026-11", None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn restart_job(
        &self,
        job_id: impl AsRef<str>,
        overrides: Option<&RestartOverrides>,
    ) -> Result<JobControlResponse> {
        if let Some(o) = overrides {
            o.validate()?;
        }
        let call = self.jobs_call(K::RestartJob, Some(job_id.as_ref()), "/restart")?;
        match overrides.filter(|o| !o.is_empty()) {
            Some(o) => self.execute_json(&call.json(o)?),
            None => self.execute_json(&call),
        }
    }

    /// Every log line of a job, optionally of one severity (`GET …/jobs/{job_id}/logs`; see
    /// [`Pages`]).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let lines = api.logs("cars-2026-11", None, None).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn logs<'a>(
        &'a self,
        job_id: impl AsRef<str> + Send + 'a,
        severity: Option<LogSeverity>,
        page_size: Option<u32>,
    ) -> Pages<'a, JobLog> {
        let what = format!("logs of {}", job_id.as_ref());
        let call = move || {
            let job = JobId::new(job_id.as_ref())?;
            if let Some(s) = severity.as_ref().filter(|s| !s.is_known()) {
                let known = LogSeverity::KNOWN.join(", ");
                let rule = format!("must be one of {known}, got {:?}", s.as_str());
                return Err(Error::invalid("severity", rule));
            }
            let c = self.jobs_call(K::JobLogs, Some(job.as_str()), "/logs")?;
            Ok(c.query_opt(
                "severity",
                severity.as_ref().map(|s| s.as_str().to_string()),
            ))
        };
        self.listing(what, page_size, call, |r: ListLogsResponse| {
            (r.logs, r.next_page_token)
        })
    }
}
