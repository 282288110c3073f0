//! [`JobSpec`]: the one builder of a job, with the official client's defaults, an id
//! generated when none is given, and Workflow parameters from a JSON file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::Job;
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::{AggregationFormat, InferenceBackend, JobId, JobStartRequest, MachineType};

/// The largest Workflow parameters file read (1 MiB, the sandbox's body limit).
const MAX_PARAMS_FILE: u64 = 1 << 20;

/// What to run: a Workflow over a staged batch, with every option the official client has.
///
/// Defaults are the official client's: CPU, no limits, image outputs not persisted, the
/// service's default failure tolerance and result format. Without [`job_id`](Self::job_id)
/// the id is one of the official form (`job-` and 12 random `[a-z0-9]`), drawn when the
/// spec is made, so that starting the same spec twice is a repeat, not a second job.
/// Without [`name`](Self::name) the job is named after its Workflow and batch. Nothing is
/// checked until [`request`](Self::request) or [`start`](Self::start), whose errors name
/// the field (or the file) at fault.
///
/// ```no_run
/// use roboflow_batch::jobs::JobSpec;
/// use roboflow_batch::model::{AggregationFormat, MachineType};
/// let api = roboflow_batch::BatchApi::from_env()?;
/// let spec = JobSpec::images(&api, "my-batch", "image-stats").machine_type(MachineType::Gpu);
/// let started = spec.aggregation_format(AggregationFormat::Csv).start()?;
/// println!("{} {}", started.job.id(), if started.created { "started" } else { "already there" });
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct JobSpec<'a> {
    api: &'a BatchApi,
    id: String,
    /// Whether the id was drawn here, so that no job can hold it yet.
    generated: bool,
    name: Option<String>,
    params_file: Option<PathBuf>,
    request: JobStartRequest,
}

/// What [`JobSpec::start`] did: the job, and whether this call created it.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").job_id("nightly-7");
/// assert!(spec.start()?.created);
/// assert!(!spec.start()?.created); // the same definition again: a harmless repeat
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Started<'a> {
    /// The job.
    pub job: Job<'a>,
    /// True when this call created the job; false when a job of this id and definition
    /// was already there (the service took the start as a repeat).
    pub created: bool,
}

impl<'a> JobSpec<'a> {
    /// Runs `workflow_id` over the images of `batch_id`.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "my-batch", "count-cars");
    /// assert!(spec.id().starts_with("job-"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn images(
        api: &'a BatchApi,
        batch_id: impl Into<String>,
        workflow_id: impl Into<String>,
    ) -> Self {
        Self::new(api, JobStartRequest::images(batch_id, workflow_id))
    }

    /// Runs `workflow_id` over the videos of `batch_id`.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let req = roboflow_batch::jobs::JobSpec::videos(&api, "clips", "track").max_video_fps(5.0).request()?;
    /// assert_eq!(req.job_type.as_str(), "simple-video-processing-v1");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn videos(
        api: &'a BatchApi,
        batch_id: impl Into<String>,
        workflow_id: impl Into<String>,
    ) -> Self {
        Self::new(api, JobStartRequest::videos(batch_id, workflow_id))
    }

    fn new(api: &'a BatchApi, request: JobStartRequest) -> Self {
        JobSpec {
            api,
            id: JobId::generate().as_str().to_string(),
            generated: true,
            name: None,
            params_file: None,
            request,
        }
    }

    /// The job id: the one given, or the one drawn.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert_eq!(roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").job_id("n-1").id(), "n-1");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The job id (default: drawn at random). Checked by [`request`](Self::request).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert!(roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").job_id("Not Valid").request().is_err());
    /// ```
    pub fn job_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self.generated = false;
        self
    }

    /// The display name (default: see [`display_name`](Self::display_name)).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").name("Car count");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Processes only this part of the input batch.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").part_name("train");
    /// ```
    pub fn part_name(mut self, part: impl Into<String>) -> Self {
        self.request.job_input.part_name = Some(part.into());
        self
    }

    /// Names the part that holds per-image metadata (image jobs only).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").images_metadata_part("meta");
    /// ```
    pub fn images_metadata_part(mut self, part: impl Into<String>) -> Self {
        self.request.job_input.images_metadata_part = Some(part.into());
        self
    }

    /// CPU (default) or GPU.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").machine_type(roboflow_batch::model::MachineType::Gpu);
    /// ```
    pub fn machine_type(mut self, machine: MachineType) -> Self {
        self.request.compute_configuration.machine_type = machine;
        self
    }

    /// Parallel workers per machine.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").workers_per_machine(4);
    /// ```
    pub fn workers_per_machine(mut self, workers: u32) -> Self {
        self.request.compute_configuration.workers_per_machine = Some(workers);
        self
    }

    /// Total machine time allowed, across all workers, in seconds
    /// (`processingTimeoutSeconds`; the official client's `--max-runtime-seconds`).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").max_runtime_seconds(3600);
    /// ```
    pub fn max_runtime_seconds(mut self, seconds: u64) -> Self {
        self.request.processing_timeout_seconds = Some(seconds);
        self
    }

    /// The most tasks run at once.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").max_parallel_tasks(8);
    /// ```
    pub fn max_parallel_tasks(mut self, tasks: u32) -> Self {
        self.request.max_parallel_tasks = Some(tasks);
        self
    }

    /// The fraction of images (0 to 1) that may fail before the job fails (image jobs only).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let err = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").max_image_failure_rate(2.0).request().unwrap_err();
    /// assert!(err.to_string().contains("maxImageFailureRate"));
    /// ```
    pub fn max_image_failure_rate(mut self, rate: f64) -> Self {
        self.request.max_image_failure_rate = Some(rate);
        self
    }

    /// The format of the aggregated results (JSONL or CSV).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").aggregation_format(roboflow_batch::model::AggregationFormat::Csv);
    /// ```
    pub fn aggregation_format(mut self, format: AggregationFormat) -> Self {
        self.request.processing_specification.aggregation_format = Some(format);
        self
    }

    /// The Workflow input that receives the image.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").image_input_name("photo");
    /// ```
    pub fn image_input_name(mut self, name: impl Into<String>) -> Self {
        self.request.processing_specification.image_input_name = Some(name.into());
        self
    }

    /// Parameters passed to the Workflow (replacing any file given before).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let params = serde_json::json!({"fraction": 0.2}).as_object().cloned().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "fail-fraction").workflow_parameters(params);
    /// ```
    pub fn workflow_parameters(mut self, params: Map<String, Value>) -> Self {
        self.params_file = None;
        self.request.processing_specification.workflow_parameters = Some(params);
        self
    }

    /// Parameters passed to the Workflow, read from a JSON file holding one object (the
    /// official client's `--workflow-params`) by [`request`](Self::request); a missing file
    /// or bad JSON is an error naming the file, with the line and column.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let err = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").workflow_parameters_file("none.json").request().unwrap_err();
    /// assert!(err.to_string().contains("none.json"));
    /// ```
    pub fn workflow_parameters_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.params_file = Some(path.into());
        self
    }

    /// Keeps the named image outputs of the Workflow (all of them when the list is empty).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").persist_image_outputs(vec!["crops".into()]);
    /// ```
    pub fn persist_image_outputs(mut self, outputs: Vec<String>) -> Self {
        let spec = &mut self.request.processing_specification;
        spec.persist_images_outputs = true;
        spec.images_outputs_to_be_persisted = (!outputs.is_empty()).then_some(outputs);
        self
    }

    /// Maps a Workflow input to an image metadata key (image jobs only).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").metadata_mapping("camera", "cam_id");
    /// ```
    pub fn metadata_mapping(mut self, input: impl Into<String>, key: impl Into<String>) -> Self {
        self.request
            .processing_specification
            .images_metadata_inputs_mapping
            .get_or_insert_with(BTreeMap::new)
            .insert(input.into(), key.into());
        self
    }

    /// Where the service posts the completion webhook.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").notifications_url("https://example.com/hook");
    /// ```
    pub fn notifications_url(mut self, url: impl Into<String>) -> Self {
        self.request.notifications_url = Some(url.into());
        self
    }

    /// The inference engine.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").inference_backend(roboflow_batch::model::InferenceBackend::InferenceModels);
    /// ```
    pub fn inference_backend(mut self, backend: InferenceBackend) -> Self {
        self.request.inference_backend = Some(backend);
        self
    }

    /// Frames per second sampled from videos; a whole number is sent as an integer.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::videos(&api, "b", "wf").max_video_fps(2.0);
    /// ```
    pub fn max_video_fps(mut self, fps: f64) -> Self {
        self.request.processing_specification.max_video_fps = Some(fps);
        self
    }

    /// The workspace holding the Workflow (default: the client's).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").workspace("other");
    /// ```
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.request.processing_specification.workspace = Some(workspace.into());
        self
    }

    /// The body [`start`](Self::start) sends, checked: the parameters file read, the id,
    /// the name and every field validated ([`JobStartRequest::validate`]). The workspace is
    /// filled in by the client when sent.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::jobs::JobSpec;
    /// let json = serde_json::to_value(JobSpec::images(&api, "b", "wf").request()?).unwrap();
    /// assert_eq!(json["computeConfiguration"]["machineType"], "cpu");
    /// assert!(JobSpec::images(&api, "Bad Batch", "wf").request().is_err());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request(&self) -> Result<JobStartRequest> {
        let mut request = self.request.clone();
        if let Some(path) = &self.params_file {
            request.processing_specification.workflow_parameters = Some(read_parameters(path)?);
        }
        request.validate()?;
        JobId::new(self.id.as_str())?;
        if let Some(n) = &self.name
            && (n.trim().is_empty() || n.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "job name",
                "must not be empty or hold control characters",
            ));
        }
        Ok(request)
    }

    /// The display name sent (the `name` query parameter): the one given, or
    /// `"<workflow> on <batch>"`, with `/<part>` for a part.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let spec = roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").part_name("train");
    /// assert_eq!(spec.display_name(), "wf on b/train");
    /// ```
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let input = &self.request.job_input;
        let part = input.part_name.as_ref().map(|p| format!("/{p}"));
        format!(
            "{} on {}{}",
            self.request.processing_specification.workflow_id,
            input.batch_id,
            part.unwrap_or_default()
        )
    }

    /// Starts the job. Starting the same id with the same definition again succeeds, with
    /// [`Started::created`] false (the service takes it as a repeat); an id used by a job
    /// with a *different* definition is an [`Error::Conflict`] that says so. To tell the
    /// two apart, a start with an id given first looks the job up (`GET …/jobs/{id}`); a
    /// drawn id needs no look.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let job = roboflow_batch::jobs::JobSpec::images(&api, "my-batch", "image-stats").start()?.job;
    /// println!("started {}", job.id());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn start(&self) -> Result<Started<'a>> {
        let request = self.request()?;
        let existed = !self.generated
            && match self.api.job(&self.id) {
                Ok(_) => true,
                Err(Error::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
        match self
            .api
            .start_job(&self.id, &request, Some(&self.display_name()))
        {
            Ok(()) => Ok(Started {
                job: Job::new(self.api, &self.id)?,
                created: !existed,
            }),
            Err(Error::Conflict(mut e)) => {
                let server = e.message.take().map(|m| format!(" (service: {m})"));
                e.message = Some(format!(
                    "job id {:?} is already taken by a job with a different definition; \
                     choose another id, or leave it out to generate one{}",
                    self.id,
                    server.unwrap_or_default()
                ));
                Err(Error::Conflict(e))
            }
            Err(e) => Err(e),
        }
    }
}

/// Reads a JSON object of Workflow parameters, naming the file in every error.
fn read_parameters(path: &Path) -> Result<Map<String, Value>> {
    let field = "workflow parameters file";
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    if meta.len() > MAX_PARAMS_FILE {
        let rule = format!(
            "{shown} is {} bytes, more than the {MAX_PARAMS_FILE}-byte limit",
            meta.len()
        );
        return Err(Error::invalid(field, rule));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "null or a boolean",
            };
            let rule = format!("{shown} must hold a JSON object of parameters, found {kind}");
            Err(Error::invalid(field, rule))
        }
        Err(e) => Err(Error::invalid(
            field,
            format!("{shown} is not valid JSON: {e}"),
        )),
    }
}
