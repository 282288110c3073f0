//! Job requests: the body that starts a job and the overrides of a restart, with the
//! checks run before either is sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AggregationFormat, InferenceBackend, JobType, MachineType};
use crate::error::{Error, Result};

/// `jobInput`: which staged batch (and part) to process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeConfiguration {
    /// Always `compute-configuration-v2`.
    #[serde(rename = "type")]
    pub config_type: String,
    /// CPU or GPU. Always sent (the spec requires it); read as `cpu` when missing, as the
    /// official client leaves it out.
    #[serde(default)]
    pub machine_type: MachineType,
    /// Parallel workers per machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers_per_machine: Option<u32>,
}

/// `processingSpecification`: the Workflow and what to do with its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Frames per second sampled from videos; a whole number is sent as an integer (`5`),
    /// as the official client sends it.
    #[serde(
        rename = "maxVideoFPS",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::whole::opt_compact"
    )]
    pub max_video_fps: Option<f64>,
    /// Workflow input name → image metadata key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_metadata_inputs_mapping: Option<BTreeMap<String, String>>,
}

/// The body of `POST /jobs/{job_id}`, with every field the official client can send.
///
/// [`JobSpec`](crate::jobs::JobSpec) builds it with the official client's defaults (CPU,
/// no limits, outputs not persisted); [`validate`](Self::validate) runs before anything is
/// sent. Its `Debug` output hides the webhook URL's query values.
///
/// ```
/// let req = roboflow_batch::model::JobStartRequest::images("my-batch", "my-workflow");
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["computeConfiguration"]["machineType"], "cpu");
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
    #[serde(
        rename = "notificationsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notifications_url: Option<String>,
    /// The inference engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_backend: Option<InferenceBackend>,
}

impl JobStartRequest {
    /// The minimal body of a job that runs `workflow_id` over the images of `batch_id`,
    /// as the official client sends it with no options.
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
                input_type: "staging-batch-input-v1".into(),
                batch_id: batch_id.into(),
                part_name: None,
                images_metadata_part: None,
            },
            compute_configuration: ComputeConfiguration {
                config_type: "compute-configuration-v2".into(),
                machine_type: MachineType::Cpu,
                workers_per_machine: None,
            },
            processing_timeout_seconds: None,
            max_parallel_tasks: None,
            max_image_failure_rate: None,
            processing_specification: ProcessingSpecification {
                spec_type: "workflows-processing-specification-v1".into(),
                workspace: None,
                workflow_id: workflow_id.into(),
                workflow_parameters: None,
                image_input_name: None,
                persist_images_outputs: false,
                images_outputs_to_be_persisted: None,
                aggregation_format: None,
                max_video_fps: None,
                images_metadata_inputs_mapping: None,
            },
            notifications_url: None,
            inference_backend: None,
        }
    }

    /// Checks the request before it is sent: the batch id, every enum value, and the
    /// ranges of the numbers.
    ///
    /// ```
    /// let mut req = roboflow_batch::model::JobStartRequest::images("b", "wf");
    /// req.max_image_failure_rate = Some(1.5);
    /// assert!(req.validate().unwrap_err().to_string().contains("maxImageFailureRate"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        super::BatchId::new(self.job_input.batch_id.as_str()).map_err(|e| match e {
            Error::InvalidInput { rule, .. } => Error::invalid("jobInput.batchId", rule),
            other => other,
        })?;
        known("type", &self.job_type, JobType::KNOWN)?;
        known(
            "computeConfiguration.machineType",
            &self.compute_configuration.machine_type,
            MachineType::KNOWN,
        )?;
        if let Some(f) = &self.processing_specification.aggregation_format {
            known(
                "processingSpecification.aggregationFormat",
                f,
                AggregationFormat::KNOWN,
            )?;
        }
        if let Some(b) = &self.inference_backend {
            known("inferenceBackend", b, InferenceBackend::KNOWN)?;
        }
        fixed(
            "jobInput.type",
            &self.job_input.input_type,
            "staging-batch-input-v1",
        )?;
        fixed(
            "computeConfiguration.type",
            &self.compute_configuration.config_type,
            "compute-configuration-v2",
        )?;
        fixed(
            "processingSpecification.type",
            &self.processing_specification.spec_type,
            "workflows-processing-specification-v1",
        )?;
        if self.processing_specification.workflow_id.trim().is_empty() {
            return Err(Error::invalid(
                "processingSpecification.workflowId",
                "must not be empty",
            ));
        }
        if self.job_type == JobType::SimpleVideoProcessing {
            // The service refuses these on a video job; the official client offers them
            // for images only.
            let image_only = [
                ("maxImageFailureRate", self.max_image_failure_rate.is_some()),
                (
                    "jobInput.imagesMetadataPart",
                    self.job_input.images_metadata_part.is_some(),
                ),
                (
                    "processingSpecification.imagesMetadataInputsMapping",
                    self.processing_specification
                        .images_metadata_inputs_mapping
                        .is_some(),
                ),
            ];
            if let Some((field, _)) = image_only.iter().find(|(_, set)| *set) {
                return Err(Error::invalid(
                    *field,
                    format!(
                        "is for image jobs only; a video job ({}) cannot take it",
                        self.job_type
                    ),
                ));
            }
        }
        limits(
            self.max_image_failure_rate,
            self.compute_configuration.workers_per_machine,
            self.max_parallel_tasks,
        )?;
        if self.processing_timeout_seconds == Some(0) {
            return Err(Error::invalid(
                "processingTimeoutSeconds",
                "must be at least 1",
            ));
        }
        if let Some(fps) = self.processing_specification.max_video_fps
            && !(fps > 0.0 && fps.is_finite())
        {
            return Err(Error::invalid(
                "processingSpecification.maxVideoFPS",
                format!("must be a positive number, got {fps}"),
            ));
        }
        if let Some(url) = &self.notifications_url {
            check_http_url("notificationsURL", url)?;
        }
        Ok(())
    }
}

fn known<T: std::fmt::Display + PartialEq>(field: &str, value: &T, allowed: &[&str]) -> Result<()> {
    let v = value.to_string();
    if allowed.contains(&v.as_str()) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be one of {}, got {v:?}", allowed.join(", ")),
        ))
    }
}

/// The ranges a start and a restart share.
fn limits(rate: Option<f64>, workers: Option<u32>, tasks: Option<u32>) -> Result<()> {
    if let Some(rate) = rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(Error::invalid(
            "maxImageFailureRate",
            format!("must be between 0 and 1, got {rate}"),
        ));
    }
    if workers == Some(0) {
        return Err(Error::invalid(
            "computeConfiguration.workersPerMachine",
            "must be at least 1",
        ));
    }
    if tasks == Some(0) {
        return Err(Error::invalid("maxParallelTasks", "must be at least 1"));
    }
    Ok(())
}

fn fixed(field: &str, value: &str, want: &str) -> Result<()> {
    if value == want {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be {want:?}, got {value:?}"),
        ))
    }
}

pub(crate) fn check_http_url(field: &str, url: &str) -> Result<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be an http:// or https:// URL".to_string(),
        ))
    }
}

/// The body of `POST /jobs/{job_id}/restart`: parameters to change for the new run.
///
/// ```
/// use roboflow_batch::model::{MachineType, RestartOverrides};
/// let o = RestartOverrides::default().machine_type(MachineType::Gpu).max_parallel_tasks(4);
/// let json = serde_json::to_value(&o).unwrap();
/// assert_eq!(json["type"], "parameters-override-v1");
/// assert_eq!(json["computeConfiguration"]["machineType"], "gpu");
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        self.compute_configuration
            .get_or_insert_with(|| RestartCompute {
                config_type: "compute-configuration-v2".into(),
                machine_type: None,
                workers_per_machine: None,
            })
    }

    /// A new machine type.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().machine_type(roboflow_batch::model::MachineType::Gpu);
    /// ```
    pub fn machine_type(mut self, machine: MachineType) -> Self {
        self.compute().machine_type = Some(machine);
        self
    }

    /// New workers per machine.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().workers_per_machine(2);
    /// ```
    pub fn workers_per_machine(mut self, workers: u32) -> Self {
        self.compute().workers_per_machine = Some(workers);
        self
    }

    /// New task parallelism.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().max_parallel_tasks(16);
    /// ```
    pub fn max_parallel_tasks(mut self, tasks: u32) -> Self {
        self.max_parallel_tasks = Some(tasks);
        self
    }

    /// New machine-time budget, in seconds.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().processing_timeout_seconds(600);
    /// ```
    pub fn processing_timeout_seconds(mut self, seconds: u64) -> Self {
        self.processing_timeout_seconds = Some(seconds);
        self
    }

    /// New failure tolerance, 0 to 1.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().max_image_failure_rate(0.2);
    /// ```
    pub fn max_image_failure_rate(mut self, rate: f64) -> Self {
        self.max_image_failure_rate = Some(rate);
        self
    }

    /// Whether nothing is overridden (then no body is sent, as the official client does).
    ///
    /// ```
    /// use roboflow_batch::model::RestartOverrides;
    /// assert!(RestartOverrides::default().is_empty());
    /// assert!(!RestartOverrides::default().max_parallel_tasks(2).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.compute_configuration.is_none()
            && self.max_parallel_tasks.is_none()
            && self.processing_timeout_seconds.is_none()
            && self.max_image_failure_rate.is_none()
    }

    /// Checks the ranges before anything is sent.
    ///
    /// ```
    /// let o = roboflow_batch::model::RestartOverrides::default().max_image_failure_rate(-0.1);
    /// assert!(o.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let compute = self.compute_configuration.as_ref();
        if let Some(m) = compute.and_then(|c| c.machine_type.as_ref()) {
            known("computeConfiguration.machineType", m, MachineType::KNOWN)?;
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

/// The body of `POST /jobs/{job_id}` for a TensorRT compilation (`trt-compilation-v1`), as
/// the official client's `trt-compile` sends it.
///
/// ```
/// use roboflow_batch::model::{CompilationDevice, TrtCompilationRequest};
/// let req = TrtCompilationRequest::new("my-project/3", vec![CompilationDevice::NvidiaT4]);
/// req.validate().unwrap();
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["type"], "trt-compilation-v1");
/// assert_eq!(json["compilationDevices"], serde_json::json!(["nvidia-t4"]));
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
    #[serde(
        rename = "notificationsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
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
        let mut unique: Vec<CompilationDevice> = Vec::with_capacity(devices.len());
        for d in devices {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        TrtCompilationRequest {
            job_type: JobType::TrtCompilation,
            model_id: model_id.into(),
            compilation_devices: unique,
            notifications_url: None,
        }
    }

    /// Where to send the completion webhook.
    ///
    /// ```
    /// use roboflow_batch::model::{CompilationDevice, TrtCompilationRequest};
    /// let req = TrtCompilationRequest::new("m/1", vec![CompilationDevice::NvidiaT4]).notifications_url("https://h/x");
    /// assert!(req.validate().is_ok());
    /// ```
    #[must_use]
    pub fn notifications_url(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }

    /// Checks the request before it is sent.
    ///
    /// ```
    /// use roboflow_batch::model::TrtCompilationRequest;
    /// let err = TrtCompilationRequest::new("m/1", vec![]).validate().unwrap_err();
    /// assert!(err.to_string().contains("compilationDevices"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        fixed("type", self.job_type.as_str(), "trt-compilation-v1")?;
        if self.model_id.trim().is_empty() {
            return Err(Error::invalid("modelId", "must not be empty"));
        }
        if self.compilation_devices.is_empty() {
            return Err(Error::invalid(
                "compilationDevices",
                "must name at least one device",
            ));
        }
        for d in &self.compilation_devices {
            known("compilationDevices", d, CompilationDevice::KNOWN)?;
        }
        if let Some(url) = &self.notifications_url {
            check_http_url("notificationsURL", url)?;
        }
        Ok(())
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
