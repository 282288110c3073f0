//! Job requests: the body that starts a job and the overrides of a restart, with the
//! checks run before either is sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AggregationFormat, InferenceBackend, JobType, MachineType, ensure};
use crate::error::{Error, Result};

/// The fixed `type` of each part of a job request.
const INPUT_TYPE: &str = "staging-batch-input-v1";
const COMPUTE_TYPE: &str = "compute-configuration-v2";
const SPEC_TYPE: &str = "workflows-processing-specification-v1";

/// `jobInput`: which staged batch (and part) to process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInput {
    /// Always `staging-batch-input-v1`.
    #[serde(rename = "type")]
    pub input_type: String,
    /// The input batch.
    pub batch_id: String,
    /// Only this part of a multipart batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_name: Option<String>,
    /// The part holding per-image metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_metadata_part: Option<String>,
}

/// `computeConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeConfiguration {
    /// Always `compute-configuration-v2`.
    #[serde(rename = "type")]
    pub config_type: String,
    /// CPU or GPU: always sent (the spec requires it), `cpu` when missing.
    #[serde(default)]
    pub machine_type: MachineType,
    /// Parallel workers per machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers_per_machine: Option<u32>,
}

/// `processingSpecification`: the Workflow and what to do with its outputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingSpecification {
    /// Always `workflows-processing-specification-v1`.
    #[serde(rename = "type")]
    pub spec_type: String,
    /// The workspace holding the Workflow; filled with the client's workspace when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The Workflow's id.
    pub workflow_id: String,
    /// Parameters passed to the Workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_parameters: Option<serde_json::Map<String, serde_json::Value>>,
    /// The Workflow input that receives the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_input_name: Option<String>,
    /// Whether to keep image outputs (always sent, default false).
    #[serde(default)]
    pub persist_images_outputs: bool,
    /// Which image outputs to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_outputs_to_be_persisted: Option<Vec<String>>,
    /// The results' format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_format: Option<AggregationFormat>,
    /// Frames per second sampled from videos (a whole number sent as an integer).
    #[serde(rename = "maxVideoFPS", serialize_with = "super::whole::opt_compact")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_video_fps: Option<f64>,
    /// Workflow input name → image metadata key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_metadata_inputs_mapping: Option<BTreeMap<String, String>>,
}

/// The body of `POST /jobs/{job_id}`, with every field the official client can send, as
/// [`JobSpec`](crate::jobs::JobSpec) builds it. `Debug` hides the webhook URL's query.
///
/// ```
/// let req = roboflow_batch::model::JobStartRequest::images("my-batch", "my-workflow");
/// assert_eq!(serde_json::to_value(&req).unwrap()["computeConfiguration"]["machineType"], "cpu");
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStartRequest {
    /// The kind of job.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// The input.
    pub job_input: JobInput,
    /// The machines.
    pub compute_configuration: ComputeConfiguration,
    /// Total machine time allowed, across all workers, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_timeout_seconds: Option<u64>,
    /// The most tasks run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel_tasks: Option<u32>,
    /// The fraction of images (0 to 1) that may fail before the job fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_image_failure_rate: Option<f64>,
    /// The Workflow.
    pub processing_specification: ProcessingSpecification,
    /// Where to send the completion webhook.
    #[serde(rename = "notificationsURL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_url: Option<String>,
    /// The inference engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_backend: Option<InferenceBackend>,
}

impl JobStartRequest {
    /// The minimal body of a job that runs `workflow_id` over the images of `batch_id`.
    ///
    /// ```
    /// let req = roboflow_batch::model::JobStartRequest::images("my-batch", "my-workflow");
    /// assert_eq!(req.job_input.batch_id, "my-batch");
    /// ```
    pub fn images(batch_id: impl Into<String>, workflow_id: impl Into<String>) -> Self {
        Self::new(JobType::SimpleImageProcessing, batch_id, workflow_id)
    }

    /// The same over the videos of `batch_id`.
    ///
    /// ```
    /// let req = roboflow_batch::model::JobStartRequest::videos("vids", "wf");
    /// assert_eq!(req.job_type.as_str(), "simple-video-processing-v1");
    /// ```
    pub fn videos(batch_id: impl Into<String>, workflow_id: impl Into<String>) -> Self {
        Self::new(JobType::SimpleVideoProcessing, batch_id, workflow_id)
    }

    fn new(job_type: JobType, batch_id: impl Into<String>, workflow_id: impl Into<String>) -> Self {
        JobStartRequest {
            job_type,
            job_input: JobInput {
                input_type: INPUT_TYPE.into(),
                batch_id: batch_id.into(),
                ..Default::default()
            },
            compute_configuration: ComputeConfiguration {
                config_type: COMPUTE_TYPE.into(),
                ..Default::default()
            },
            processing_timeout_seconds: None,
            max_parallel_tasks: None,
            max_image_failure_rate: None,
            processing_specification: ProcessingSpecification {
                spec_type: SPEC_TYPE.into(),
                workflow_id: workflow_id.into(),
                ..Default::default()
            },
            notifications_url: None,
            inference_backend: None,
        }
    }

    /// Checks the batch id, every enum value and the ranges of the numbers before sending.
    pub(crate) fn validate(&self) -> Result<()> {
        let (input, c) = (&self.job_input, &self.compute_configuration);
        let spec = &self.processing_specification;
        super::BatchId::new(input.batch_id.as_str()).map_err(|e| match e {
            Error::InvalidInput { rule, .. } => Error::invalid("jobInput.batchId", rule),
            other => other,
        })?;
        self.job_type.check("type")?;
        c.machine_type.check("computeConfiguration.machineType")?;
        if let Some(f) = &spec.aggregation_format {
            f.check("processingSpecification.aggregationFormat")?;
        }
        if let Some(b) = &self.inference_backend {
            b.check("inferenceBackend")?;
        }
        for (field, value, want) in [
            ("jobInput.type", &input.input_type, INPUT_TYPE),
            ("computeConfiguration.type", &c.config_type, COMPUTE_TYPE),
            ("processingSpecification.type", &spec.spec_type, SPEC_TYPE),
        ] {
            fixed(field, value, want)?;
        }
        let (workflow_set, rule) = (!spec.workflow_id.trim().is_empty(), "must not be empty");
        ensure(workflow_set, "processingSpecification.workflowId", rule)?;
        if self.job_type == JobType::SimpleVideoProcessing {
            // The service refuses these on a video job; the official client offers them
            // for images only.
            let part = input.images_metadata_part.is_some();
            let m = spec.images_metadata_inputs_mapping.is_some();
            let image_only = [
                ("maxImageFailureRate", self.max_image_failure_rate.is_some()),
                ("jobInput.imagesMetadataPart", part),
                ("processingSpecification.imagesMetadataInputsMapping", m),
            ];
            if let Some((field, _)) = image_only.iter().find(|(_, set)| *set) {
                let kind = &self.job_type;
                let rule = format!("is for image jobs only; a video job ({kind}) cannot take it");
                return Err(Error::invalid(*field, rule));
            }
        }
        let rate = self.max_image_failure_rate;
        limits(rate, c.workers_per_machine, self.max_parallel_tasks)?;
        let timeout_ok = self.processing_timeout_seconds != Some(0);
        ensure(timeout_ok, "processingTimeoutSeconds", "must be at least 1")?;
        if let Some(fps) = spec.max_video_fps {
            let rule = format!("must be a positive number, got {fps}");
            let ok = fps > 0.0 && fps.is_finite();
            ensure(ok, "processingSpecification.maxVideoFPS", rule)?;
        }
        match &self.notifications_url {
            Some(url) => check_http_url("notificationsURL", url),
            None => Ok(()),
        }
    }
}

/// The ranges a start and a restart share.
fn limits(rate: Option<f64>, workers: Option<u32>, tasks: Option<u32>) -> Result<()> {
    if let Some(rate) = rate {
        let rule = format!("must be between 0 and 1, got {rate}");
        ensure((0.0..=1.0).contains(&rate), "maxImageFailureRate", rule)?;
    }
    let workers_ok = workers != Some(0);
    ensure(
        workers_ok,
        "computeConfiguration.workersPerMachine",
        "must be at least 1",
    )?;
    ensure(tasks != Some(0), "maxParallelTasks", "must be at least 1")
}

fn fixed(field: &str, value: &str, want: &str) -> Result<()> {
    let rule = format!("must be {want:?}, got {value:?}");
    ensure(value == want, field, rule)
}

pub(crate) fn check_http_url(field: &str, url: &str) -> Result<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    ensure(ok, field, "must be an http:// or https:// URL")
}

/// The body of `POST /jobs/{job_id}/restart`: parameters to change for the new run.
///
/// ```
/// let o = roboflow_batch::model::RestartOverrides::default().max_parallel_tasks(4);
/// assert_eq!(serde_json::to_value(&o).unwrap()["type"], "parameters-override-v1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartOverrides {
    /// Always `parameters-override-v1`.
    #[serde(rename = "type")]
    pub override_type: String,
    /// New machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_configuration: Option<RestartCompute>,
    /// New task parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel_tasks: Option<u32>,
    /// New machine-time budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_timeout_seconds: Option<u64>,
    /// New failure tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_image_failure_rate: Option<f64>,
}

/// `computeConfiguration` in a restart: only what changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartCompute {
    /// Always `compute-configuration-v2`.
    #[serde(rename = "type")]
    pub config_type: String,
    /// New machine type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<MachineType>,
    /// New workers per machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers_per_machine: Option<u32>,
}

impl Default for RestartOverrides {
    fn default() -> Self {
        RestartOverrides {
            override_type: "parameters-override-v1".into(),
            compute_configuration: None,
            max_parallel_tasks: None,
            processing_timeout_seconds: None,
            max_image_failure_rate: None,
        }
    }
}

impl RestartOverrides {
    fn compute(&mut self) -> &mut RestartCompute {
        let config_type = COMPUTE_TYPE.into();
        let fresh = || RestartCompute {
            config_type,
            ..Default::default()
        };
        self.compute_configuration.get_or_insert_with(fresh)
    }

    super::setters! {
        setup: "use roboflow_batch::model::{MachineType, RestartOverrides};",
        on: "RestartOverrides::default()";
        /// A new machine type.
        machine_type(s, machine: MachineType) = "MachineType::Gpu" {
            s.compute().machine_type = Some(machine);
        }
        /// New workers per machine.
        workers_per_machine(s, workers: u32) = "2" {
            s.compute().workers_per_machine = Some(workers);
        }
        /// New task parallelism.
        max_parallel_tasks(s, tasks: u32) = "16" {
            s.max_parallel_tasks = Some(tasks);
        }
        /// New machine-time budget, in seconds.
        processing_timeout_seconds(s, seconds: u64) = "600" {
            s.processing_timeout_seconds = Some(seconds);
        }
        /// New failure tolerance, 0 to 1.
        max_image_failure_rate(s, rate: f64) = "0.2" {
            s.max_image_failure_rate = Some(rate);
        }
    }

    /// Whether nothing is overridden (then no body is sent, as the official client does).
    ///
    /// ```
    /// assert!(roboflow_batch::model::RestartOverrides::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.compute_configuration.is_none()
            && self.max_parallel_tasks.is_none()
            && self.processing_timeout_seconds.is_none()
            && self.max_image_failure_rate.is_none()
    }

    /// Checks the ranges before anything is sent.
    pub(crate) fn validate(&self) -> Result<()> {
        let compute = self.compute_configuration.as_ref();
        if let Some(m) = compute.and_then(|c| c.machine_type.as_ref()) {
            m.check("computeConfiguration.machineType")?;
        }
        let workers = compute.and_then(|c| c.workers_per_machine);
        limits(
            self.max_image_failure_rate,
            workers,
            self.max_parallel_tasks,
        )
    }
}

super::string_enum! {
    /// A GPU a TensorRT compilation targets.
    pub enum CompilationDevice {
        /// NVIDIA L4.
        NvidiaL4 => "nvidia-l4",
        /// NVIDIA T4.
        NvidiaT4 => "nvidia-t4",
        /// NVIDIA L40S.
        NvidiaL40s => "nvidia-l40s",
    }
}

/// The body of `POST /jobs/{job_id}` for a TensorRT compilation, as `trt-compile` sends it.
///
/// ```
/// use roboflow_batch::model::{CompilationDevice as D, TrtCompilationRequest as R};
/// let req = R::new("my-project/3", vec![D::NvidiaT4]);
/// assert_eq!(serde_json::to_value(&req).unwrap()["type"], "trt-compilation-v1");
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrtCompilationRequest {
    /// Always `trt-compilation-v1`.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// The model to compile, e.g. `project/3`.
    pub model_id: String,
    /// The GPUs to compile for (at least one; repeats are dropped).
    pub compilation_devices: Vec<CompilationDevice>,
    /// Where to send the completion webhook.
    #[serde(rename = "notificationsURL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_url: Option<String>,
}

impl TrtCompilationRequest {
    /// A compilation of `model_id` for `devices`, with repeated devices dropped.
    ///
    /// ```
    /// use roboflow_batch::model::{CompilationDevice as D, TrtCompilationRequest};
    /// let req = TrtCompilationRequest::new("m/1", vec![D::NvidiaL4, D::NvidiaL4]);
    /// assert_eq!(req.compilation_devices, vec![D::NvidiaL4]);
    /// ```
    pub fn new(model_id: impl Into<String>, devices: Vec<CompilationDevice>) -> Self {
        let mut compilation_devices: Vec<CompilationDevice> = Vec::new();
        for d in devices {
            if !compilation_devices.contains(&d) {
                compilation_devices.push(d);
            }
        }
        let (job_type, model_id) = (JobType::TrtCompilation, model_id.into());
        TrtCompilationRequest {
            job_type,
            model_id,
            compilation_devices,
            notifications_url: None,
        }
    }

    super::setters! {
        setup: "use roboflow_batch::model::{CompilationDevice as D, TrtCompilationRequest};",
        on: "TrtCompilationRequest::new(\"m/1\", vec![D::NvidiaT4])";
        /// Where to send the completion webhook.
        #[must_use]
        notifications_url(s, url: impl Into<String>) = "\"https://h/x\"" {
            s.notifications_url = Some(url.into());
        }
    }

    /// Checks the request before it is sent.
    pub(crate) fn validate(&self) -> Result<()> {
        fixed("type", self.job_type.as_str(), "trt-compilation-v1")?;
        ensure(
            !self.model_id.trim().is_empty(),
            "modelId",
            "must not be empty",
        )?;
        let devices = &self.compilation_devices;
        ensure(
            !devices.is_empty(),
            "compilationDevices",
            "must name at least one device",
        )?;
        for d in devices {
            d.check("compilationDevices")?;
        }
        match &self.notifications_url {
            Some(url) => check_http_url("notificationsURL", url),
            None => Ok(()),
        }
    }
}

super::redacted_debug!(JobStartRequest {
    job_type, job_input, compute_configuration, processing_timeout_seconds, max_parallel_tasks,
    max_image_failure_rate, processing_specification, notifications_url => opt_url,
    inference_backend,
});

super::redacted_debug!(TrtCompilationRequest {
    job_type, model_id, compilation_devices, notifications_url => opt_url,
});
