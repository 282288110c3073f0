//! Batch Processing endpoints: start, inspect, control and list jobs.

use super::BatchApi;
use super::call::Call;
use super::paging::{ListOptions, Pages};
use super::requests::RequestKind as K;
use super::retry::Idempotency;
use crate::error::{Error, Result};
use crate::model::*;
use crate::urls::encode;

/// Pure builders: a workspace and arguments in, a [`Call`] out.
pub(crate) mod build {
    use super::*;

    pub fn jobs_path(ws: &str, rest: &str) -> String {
        format!("/batch-processing/v1/external/{}/jobs{rest}", encode(ws))
    }

    pub fn job_path(ws: &str, job: &JobId, rest: &str) -> String {
        jobs_path(ws, &format!("/{}{rest}", encode(job.as_str())))
    }

    pub fn start(
        ws: &str,
        job: &JobId,
        body: &JobStartRequest,
        name: Option<&str>,
    ) -> Result<Call> {
        // The service accepts a repeat with the same id and definition; a different one is a 409.
        Call::post(K::StartJob, job_path(ws, job, ""), Idempotency::Idempotent)
            .query_opt("name", name)
            .json(body)
    }

    pub fn start_trt(
        ws: &str,
        job: &JobId,
        body: &TrtCompilationRequest,
        name: Option<&str>,
    ) -> Result<Call> {
        // Like a job start: the id makes a repeat harmless.
        Call::post(K::StartJob, job_path(ws, job, ""), Idempotency::Idempotent)
            .query_opt("name", name)
            .json(body)
    }

    pub fn job(ws: &str, job: &JobId) -> Call {
        Call::get(K::JobStatus, job_path(ws, job, ""))
    }

    pub fn list(ws: &str, opts: &ListOptions) -> Call {
        let mut c = Call::get(K::ListJobs, jobs_path(ws, ""));
        c.query.extend(opts.query());
        c
    }

    pub fn stages(ws: &str, job: &JobId) -> Call {
        Call::get(K::JobStages, job_path(ws, job, "/stages"))
    }

    pub fn tasks(ws: &str, job: &JobId, stage: &str, opts: &ListOptions) -> Call {
        let path = job_path(ws, job, &format!("/stages/{}/tasks", encode(stage)));
        let mut c = Call::get(K::ListTasks, path);
        c.query.extend(opts.query());
        c
    }

    pub fn abort(ws: &str, job: &JobId) -> Call {
        // Aborting an aborted job changes nothing.
        Call::post(
            K::AbortJob,
            job_path(ws, job, "/abort"),
            Idempotency::Idempotent,
        )
    }

    pub fn restart(ws: &str, job: &JobId, overrides: Option<&RestartOverrides>) -> Result<Call> {
        // A repeat could restart a run that the first request already restarted.
        let c = Call::post(
            K::RestartJob,
            job_path(ws, job, "/restart"),
            Idempotency::NotIdempotent,
        );
        match overrides.filter(|o| !o.is_empty()) {
            Some(o) => c.json(o),
            None => Ok(c),
        }
    }

    pub fn logs(ws: &str, job: &JobId, severity: Option<&LogSeverity>, opts: &ListOptions) -> Call {
        let mut c = Call::get(K::JobLogs, job_path(ws, job, "/logs"))
            .query_opt("severity", severity.map(|s| s.as_str().to_string()));
        c.query.extend(opts.query());
        c
    }
}

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
    /// Starts a job (`POST …/jobs/{job_id}`), with an optional display name (the `name`
    /// query parameter). The request is validated first; the Workflow's workspace defaults
    /// to the client's. Starting the same id with the same definition again is harmless.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::{JobStartRequest, MachineType};
    /// let req = JobStartRequest::images("my-batch", "count-cars").with_machine_type(MachineType::Gpu);
    /// api.start_job("cars-2026-11", &req, Some("Car count"))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start_job(
        &self,
        job_id: impl AsRef<str>,
        request: &JobStartRequest,
        name: Option<&str>,
    ) -> Result<()> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        request.validate()?;
        let ws = self.workspace()?;
        let mut body = request.clone();
        if body.processing_specification.workspace.is_none() {
            body.processing_specification.workspace = Some(ws.clone());
        }
        let resp = self.execute(&build::start(&ws, &job, &body, name)?)?;
        let _ = resp.read_body(super::call::MAX_JSON_BODY);
        Ok(())
    }

    /// Starts a TensorRT compilation job (`POST …/jobs/{job_id}` with a
    /// `trt-compilation-v1` body), as the official client's `trt-compile` does.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::{CompilationDevice, TrtCompilationRequest};
    /// let req = TrtCompilationRequest::new("my-project/3", vec![CompilationDevice::NvidiaT4]);
    /// api.start_trt_compilation("trt-my-project-3", &req, None)?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start_trt_compilation(
        &self,
        job_id: impl AsRef<str>,
        request: &TrtCompilationRequest,
        name: Option<&str>,
    ) -> Result<()> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        request.validate()?;
        let resp = self.execute(&build::start_trt(&self.workspace()?, &job, request, name)?)?;
        let _ = resp.read_body(super::call::MAX_JSON_BODY);
        Ok(())
    }

    /// A job's status (`GET …/jobs/{job_id}`), decoded from either answer form; see
    /// [`JobStatusResponse::state`].
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let status = api.job("cars-2026-11")?;
    /// println!("{} {:?}", status.state(), status.progress);
    /// // Ids are taken as `impl AsRef<str>`: a &str, a String, a JobId or a BatchId.
    /// let id = roboflow_batch::JobId::new("cars-2026-11")?;
    /// assert_eq!(api.job(&id)?.state(), status.state());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job(&self, job_id: impl AsRef<str>) -> Result<JobStatusResponse> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        let r: JobStatusResponse = self.execute_json(&build::job(&self.workspace()?, &job))?;
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

    /// One page of the workspace's jobs (`GET …/jobs`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// let page = api.list_jobs_page(&ListOptions::default().page_size(10))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_jobs_page(&self, opts: &ListOptions) -> Result<Page<JobMetadata>> {
        opts.validate()?;
        let r: ListJobsResponse = self.execute_json(&build::list(&self.workspace()?, opts))?;
        Ok(Page {
            items: r.jobs,
            next_page_token: r.next_page_token,
        })
    }

    /// Every job of the workspace, following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for job in api.jobs(Some(10)).take(25) {
    ///     println!("{}", job?.job_id);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn jobs(&self, page_size: Option<u32>) -> Pages<'_, JobMetadata> {
        let opts = ListOptions::first_page(page_size);
        Pages::new("jobs", opts, move |o: &ListOptions| self.list_jobs_page(o))
    }

    /// A job's stages (`GET …/jobs/{job_id}/stages`), typically `processing` then `export`.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for stage in api.job_stages("cars-2026-11")? {
    ///     println!("{} -> {:?}", stage.processing_stage_name, stage.output_batch_ids());
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job_stages(&self, job_id: impl AsRef<str>) -> Result<Vec<JobStage>> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        let r: ListStagesResponse = self.execute_json(&build::stages(&self.workspace()?, &job))?;
        Ok(r.stages)
    }

    /// One page of a stage's tasks (`GET …/stages/{stage_id}/tasks`).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// let page = api.list_tasks_page("cars-2026-11", "processing", &ListOptions::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_tasks_page(
        &self,
        job_id: impl AsRef<str>,
        stage_id: impl AsRef<str>,
        opts: &ListOptions,
    ) -> Result<Page<TaskStatus>> {
        let job_id = job_id.as_ref();
        let stage_id = stage_id.as_ref();
        let job = JobId::new(job_id)?;
        check_stage_id(stage_id)?;
        opts.validate()?;
        let r: ListTasksResponse =
            self.execute_json(&build::tasks(&self.workspace()?, &job, stage_id, opts))?;
        Ok(Page {
            items: r.tasks,
            next_page_token: r.next_page_token,
        })
    }

    /// Every task of a stage, following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let done = api.tasks("cars-2026-11", "processing", None).filter(|t| t.as_ref().is_ok_and(|t| t.status_type != "info")).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn tasks<'a>(
        &'a self,
        job_id: impl AsRef<str> + Send + 'a,
        stage_id: impl AsRef<str> + Send + 'a,
        page_size: Option<u32>,
    ) -> Pages<'a, TaskStatus> {
        let (job, stage) = (job_id.as_ref(), stage_id.as_ref());
        if let Err(e) = JobId::new(job).and_then(|_| check_stage_id(stage)) {
            return Pages::failed(e);
        }
        let what = format!("tasks of {job}/{stage}");
        Pages::new(what, ListOptions::first_page(page_size), move |o| {
            self.list_tasks_page(job_id.as_ref(), stage_id.as_ref(), o)
        })
    }

    /// Aborts a job (`POST …/jobs/{job_id}/abort`) and returns the service's answer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let answer = api.abort_job("cars-2026-11")?;
    /// println!("{}", answer.message.unwrap_or_default());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn abort_job(&self, job_id: impl AsRef<str>) -> Result<JobControlResponse> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        self.execute_json(&build::abort(&self.workspace()?, &job))
    }

    /// Restarts a job (`POST …/jobs/{job_id}/restart`), optionally with new parameters.
    /// Without overrides no body is sent, as the official client does.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::model::RestartOverrides;
    /// api.restart_job("cars-2026-11", Some(&RestartOverrides::default().with_max_image_failure_rate(0.1)))?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn restart_job(
        &self,
        job_id: impl AsRef<str>,
        overrides: Option<&RestartOverrides>,
    ) -> Result<JobControlResponse> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        if let Some(o) = overrides {
            o.validate()?;
        }
        self.execute_json(&build::restart(&self.workspace()?, &job, overrides)?)
    }

    /// One page of a job's logs (`GET …/jobs/{job_id}/logs`), optionally of one severity.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::api::ListOptions;
    /// use roboflow_batch::model::LogSeverity;
    /// let page = api.list_logs_page("cars-2026-11", Some(&LogSeverity::Error), &ListOptions::default())?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn list_logs_page(
        &self,
        job_id: impl AsRef<str>,
        severity: Option<&LogSeverity>,
        opts: &ListOptions,
    ) -> Result<Page<JobLog>> {
        let job_id = job_id.as_ref();
        let job = JobId::new(job_id)?;
        if let Some(s) = severity.filter(|s| !s.is_known()) {
            return Err(Error::invalid(
                "severity",
                format!(
                    "must be one of {}, got {:?}",
                    LogSeverity::KNOWN.join(", "),
                    s.as_str()
                ),
            ));
        }
        opts.validate()?;
        let r: ListLogsResponse =
            self.execute_json(&build::logs(&self.workspace()?, &job, severity, opts))?;
        Ok(Page {
            items: r.logs,
            next_page_token: r.next_page_token,
        })
    }

    /// Every log line of a job, following page tokens. Pages of `page_size` are asked for
    /// (1,000 when `None`); the service may grant fewer.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// for line in api.logs("cars-2026-11", None, None) {
    ///     let line = line?;
    ///     println!("{} {} {}", line.created_at, line.severity, line.log_type);
    /// }
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn logs<'a>(
        &'a self,
        job_id: impl AsRef<str> + Send + 'a,
        severity: Option<LogSeverity>,
        page_size: Option<u32>,
    ) -> Pages<'a, JobLog> {
        if let Err(e) = JobId::new(job_id.as_ref()) {
            return Pages::failed(e);
        }
        let what = format!("logs of {}", job_id.as_ref());
        Pages::new(what, ListOptions::first_page(page_size), move |o| {
            self.list_logs_page(job_id.as_ref(), severity.as_ref(), o)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Method;

    #[test]
    #[allow(clippy::type_complexity)]
    fn builders_table() {
        let j = JobId::new("j1").unwrap();
        let o = ListOptions::default().page_size(10);
        let cases: Vec<(Call, Method, &str, Vec<(&str, &str)>, Idempotency)> = vec![
            (
                build::job("ws", &j),
                Method::Get,
                "/batch-processing/v1/external/ws/jobs/j1",
                vec![],
                Idempotency::Idempotent,
            ),
            (
                build::list("ws", &o),
                Method::Get,
                "/batch-processing/v1/external/ws/jobs",
                vec![("pageSize", "10")],
                Idempotency::Idempotent,
            ),
            (
                build::stages("ws", &j),
                Method::Get,
                "/batch-processing/v1/external/ws/jobs/j1/stages",
                vec![],
                Idempotency::Idempotent,
            ),
            (
                build::tasks("ws", &j, "st/1", &ListOptions::default()),
                Method::Get,
                "/batch-processing/v1/external/ws/jobs/j1/stages/st%2F1/tasks",
                vec![],
                Idempotency::Idempotent,
            ),
            (
                build::abort("ws", &j),
                Method::Post,
                "/batch-processing/v1/external/ws/jobs/j1/abort",
                vec![],
                Idempotency::Idempotent,
            ),
            (
                build::restart("ws", &j, None).unwrap(),
                Method::Post,
                "/batch-processing/v1/external/ws/jobs/j1/restart",
                vec![],
                Idempotency::NotIdempotent,
            ),
            (
                build::logs("ws", &j, Some(&LogSeverity::Error), &o),
                Method::Get,
                "/batch-processing/v1/external/ws/jobs/j1/logs",
                vec![("severity", "error"), ("pageSize", "10")],
                Idempotency::Idempotent,
            ),
            (
                build::start(
                    "ws",
                    &j,
                    &JobStartRequest::images("b", "wf"),
                    Some("My Job"),
                )
                .unwrap(),
                Method::Post,
                "/batch-processing/v1/external/ws/jobs/j1",
                vec![("name", "My Job")],
                Idempotency::Idempotent,
            ),
        ];
        for (call, method, path, query, idem) in cases {
            assert_eq!(call.method, method, "{path}");
            assert_eq!(call.path, path);
            let got: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(got, query, "{path}");
            assert_eq!(call.idempotency, idem, "{path}");
        }
    }

    #[test]
    fn restart_body_only_with_overrides() {
        let j = JobId::new("j1").unwrap();
        assert!(build::restart("ws", &j, None).unwrap().body.is_none());
        assert!(
            build::restart("ws", &j, Some(&RestartOverrides::default()))
                .unwrap()
                .body
                .is_none()
        );
        let c = build::restart(
            "ws",
            &j,
            Some(&RestartOverrides::default().with_max_parallel_tasks(2)),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&c.body.unwrap().1).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "parameters-override-v1", "maxParallelTasks": 2})
        );
    }
}
