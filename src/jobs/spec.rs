//! [`JobSpec`]: the one builder of a job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::Job;
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::ensure;
use crate::model::{AggregationFormat, InferenceBackend, JobId, JobStartRequest, MachineType};

/// The largest Workflow parameters file read (1 MiB, the sandbox's body limit).
const MAX_PARAMS_FILE: u64 = 1 << 20;

/// What to run: a Workflow over a staged batch, with the official client's options and
/// defaults. The id, unless given, is drawn when the spec is made, so that starting the same
/// spec twice is a repeat, not a second job. [`request`](Self::request) and
/// [`start`](Self::start) check it all, naming the field (or file) at fault.
///
/// ```no_run
/// let api = roboflow_batch::BatchApi::from_env()?;
/// let spec = roboflow_batch::jobs::JobSpec::images(&api, "my-batch", "image-stats").max_parallel_tasks(4);
/// println!("{}", spec.start()?.job.id());
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
/// ```
/// fn repeated(s: &roboflow_batch::jobs::Started) -> bool { !s.created }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Started<'a> {
    /// The job.
    pub job: Job<'a>,
    /// False when a job of this id and definition was already there (a repeat).
    pub created: bool,
}

impl<'a> JobSpec<'a> {
    /// Runs `workflow_id` over the images of `batch_id`.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert!(roboflow_batch::jobs::JobSpec::images(&api, "my-batch", "count-cars").id().starts_with("job-"));
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
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// let req = roboflow_batch::jobs::JobSpec::videos(&api, "clips", "track").request().unwrap();
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

    /// The job id: the one given, or the one drawn (see [`images`](Self::images)).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert_eq!(roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").job_id("n-1").id(), "n-1");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    crate::model::setters! {
        setup: "# let api = roboflow_batch::BatchApi::builder().api_key(\"k\").build().unwrap();",
        on: "roboflow_batch::jobs::JobSpec::images(&api, \"b\", \"wf\")";
        /// The job id (default: drawn at random). Checked by [`request`](Self::request).
        job_id(s, id: impl Into<String>) = "\"nightly-1\"" {
            s.id = id.into();
            s.generated = false;
        }
        /// The display name (default: see [`display_name`](Self::display_name)).
        name(s, name: impl Into<String>) = "\"Car count\"" {
            s.name = Some(name.into());
        }
        /// Processes only this part of the input batch.
        part_name(s, part: impl Into<String>) = "\"train\"" {
            s.request.job_input.part_name = Some(part.into());
        }
        /// Names the part that holds per-image metadata (image jobs only).
        images_metadata_part(s, part: impl Into<String>) = "\"meta\"" {
            s.request.job_input.images_metadata_part = Some(part.into());
        }
        /// CPU (default) or GPU.
        machine_type(s, machine: MachineType) = "roboflow_batch::model::MachineType::Gpu" {
            s.request.compute_configuration.machine_type = machine;
        }
        /// Parallel workers per machine.
        workers_per_machine(s, workers: u32) = "4" {
            s.request.compute_configuration.workers_per_machine = Some(workers);
        }
        /// Total machine time allowed, across all workers, in seconds (`--max-runtime-seconds`).
        max_runtime_seconds(s, seconds: u64) = "3600" {
            s.request.processing_timeout_seconds = Some(seconds);
        }
        /// The most tasks run at once.
        max_parallel_tasks(s, tasks: u32) = "8" {
            s.request.max_parallel_tasks = Some(tasks);
        }
        /// The fraction of images (0 to 1) that may fail before the job fails (image jobs only).
        max_image_failure_rate(s, rate: f64) = "0.05" {
            s.request.max_image_failure_rate = Some(rate);
        }
        /// The format of the aggregated results (JSONL or CSV).
        aggregation_format(s, format: AggregationFormat) = "roboflow_batch::model::AggregationFormat::Csv" {
            s.request.processing_specification.aggregation_format = Some(format);
        }
        /// The Workflow input that receives the image.
        image_input_name(s, name: impl Into<String>) = "\"photo\"" {
            s.request.processing_specification.image_input_name = Some(name.into());
        }
        /// Parameters passed to the Workflow (replacing any file given before).
        workflow_parameters(s, params: Map<String, Value>) = "serde_json::Map::new()" {
            s.params_file = None;
            s.request.processing_specification.workflow_parameters = Some(params);
        }
        /// Parameters from a JSON file of one object (`--workflow-params`), read by
        /// [`request`](Self::request), whose errors name the file.
        workflow_parameters_file(s, path: impl Into<PathBuf>) = "\"params.json\"" {
            s.params_file = Some(path.into());
        }
        /// Keeps the named image outputs of the Workflow (all of them when the list is empty).
        persist_image_outputs(s, outputs: Vec<String>) = "vec![\"crops\".into()]" {
            let spec = &mut s.request.processing_specification;
            spec.persist_images_outputs = true;
            spec.images_outputs_to_be_persisted = (!outputs.is_empty()).then_some(outputs);
        }
        /// Maps a Workflow input to an image metadata key (image jobs only).
        metadata_mapping(s, input: impl Into<String>, key: impl Into<String>) = "\"camera\", \"cam_id\"" {
            let spec = &mut s.request.processing_specification;
            let mapping = spec.images_metadata_inputs_mapping.get_or_insert_with(BTreeMap::new);
            mapping.insert(input.into(), key.into());
        }
        /// Where the service posts the completion webhook.
        notifications_url(s, url: impl Into<String>) = "\"https://example.com/hook\"" {
            s.request.notifications_url = Some(url.into());
        }
        /// The inference engine.
        inference_backend(s, backend: InferenceBackend) = "roboflow_batch::model::InferenceBackend::InferenceModels" {
            s.request.inference_backend = Some(backend);
        }
        /// Frames per second sampled from videos; a whole number is sent as an integer.
        max_video_fps(s, fps: f64) = "2.0" {
            s.request.processing_specification.max_video_fps = Some(fps);
        }
        /// The workspace holding the Workflow (default: the client's).
        workspace(s, workspace: impl Into<String>) = "\"other\"" {
            s.request.processing_specification.workspace = Some(workspace.into());
        }
    }

    /// The body [`start`](Self::start) sends, checked (the workspace filled in when sent).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let json = serde_json::to_value(roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").request()?).unwrap();
    /// assert_eq!(json["computeConfiguration"]["machineType"], "cpu");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn request(&self) -> Result<JobStartRequest> {
        let mut request = self.request.clone();
        if let Some(path) = &self.params_file {
            request.processing_specification.workflow_parameters = Some(read_parameters(path)?);
        }
        request.validate()?;
        JobId::new(self.id.as_str())?;
        let bad_name = |n: &String| n.trim().is_empty() || n.chars().any(char::is_control);
        let rule = "must not be empty or hold control characters";
        ensure(!self.name.as_ref().is_some_and(bad_name), "job name", rule)?;
        Ok(request)
    }

    /// The display name sent: the one given, or `"<workflow> on <batch>[/<part>]"`.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert_eq!(roboflow_batch::jobs::JobSpec::images(&api, "b", "wf").display_name(), "wf on b");
    /// ```
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let r = &self.request;
        let (input, spec) = (&r.job_input, &r.processing_specification);
        let part = input.part_name.as_ref().map(|p| format!("/{p}"));
        let part = part.unwrap_or_default();
        format!("{} on {}{part}", spec.workflow_id, input.batch_id)
    }

    /// Starts the job; a repeat succeeds with [`Started::created`] false, an id taken by
    /// another definition is an [`Error::Conflict`].
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let job = roboflow_batch::jobs::JobSpec::images(&api, "my-batch", "image-stats").start()?.job;
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
        let name = self.display_name();
        match self.api.start_job(&self.id, &request, Some(&name)) {
            Ok(()) => Ok(Started {
                job: Job::new(self.api, &self.id)?,
                created: !existed,
            }),
            Err(Error::Conflict(mut e)) => {
                let server = e.message.take().map(|m| format!(" (service: {m})"));
                let (id, server) = (&self.id, server.unwrap_or_default());
                e.message = Some(format!(
                    "job id {id:?} is already taken by a job with a different definition; \
                     choose another id, or leave it out to generate one{server}"
                ));
                Err(Error::Conflict(e))
            }
            Err(e) => Err(e),
        }
    }
}

/// Reads a JSON object of Workflow parameters, naming the file in every error.
fn read_parameters(path: &Path) -> Result<Map<String, Value>> {
    let (field, shown) = ("workflow parameters file", path.display());
    let io = |e: std::io::Error| Error::io(format!("reading {shown}"), e);
    let len = std::fs::metadata(path).map_err(io)?.len();
    let rule = format!("{shown} is {len} bytes, more than the {MAX_PARAMS_FILE}-byte limit");
    ensure(len <= MAX_PARAMS_FILE, field, rule)?;
    let bytes = std::fs::read(path).map_err(io)?;
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
