//! `rfbatch job start`: the options that define a job, and the request they build.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValuesParser;
use roboflow_batch::BatchApi;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{AggregationFormat, InferenceBackend, MachineType, RestartOverrides};
use serde_json::json;

use crate::context::Ctx;
use crate::exit::Failure;

/// How a job runs: shared by `job start` and `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct JobOptions {
    /// The Workflow to run.
    #[arg(long, value_name = "WORKFLOW_ID")]
    pub workflow: String,
    /// The job's id (lowercase letters, digits, `-`, `_`; at most 20 characters). When
    /// omitted, `job start` generates one (`job-` and 12 random letters or digits) and `run`
    /// derives one (`run-` and a hash of the batch, the options and the files).
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// A readable name for the job.
    #[arg(long, value_name = "NAME")]
    pub job_name: Option<String>,
    /// CPU or GPU machines.
    #[arg(long, value_name = "TYPE", value_parser = PossibleValuesParser::new(MachineType::KNOWN.iter().copied()))]
    pub machine_type: Option<String>,
    /// Workers per machine.
    #[arg(long, value_name = "N")]
    pub workers_per_machine: Option<u32>,
    /// Total machine time allowed, across all workers, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_runtime_seconds: Option<u64>,
    /// The most tasks run at once.
    #[arg(long, value_name = "N")]
    pub max_parallel_tasks: Option<u32>,
    /// The fraction of images (0 to 1) that may fail before the job fails.
    #[arg(long, value_name = "F")]
    pub max_image_failure_rate: Option<f64>,
    /// The format of the aggregated results.
    #[arg(long, value_name = "FORMAT", value_parser = PossibleValuesParser::new(AggregationFormat::KNOWN.iter().copied()))]
    pub aggregation_format: Option<String>,
    /// The Workflow input that receives the image.
    #[arg(long, value_name = "NAME")]
    pub image_input_name: Option<String>,
    /// A JSON file holding an object of Workflow parameters.
    #[arg(long, value_name = "FILE")]
    pub workflow_params: Option<PathBuf>,
    /// Where the service sends the job's completion webhook.
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
    /// Keep the Workflow's image outputs (all, or those named by --image-outputs-to-save).
    #[arg(long)]
    pub save_image_outputs: bool,
    /// An image output to keep (repeatable; implies --save-image-outputs).
    #[arg(long, value_name = "OUTPUT")]
    pub image_outputs_to_save: Vec<String>,
    /// Map a Workflow input to an image metadata key (repeatable).
    #[arg(long, value_name = "INPUT=KEY")]
    pub metadata_mapping: Vec<String>,
    /// The inference engine.
    #[arg(long, value_name = "BACKEND", value_parser = PossibleValuesParser::new(InferenceBackend::KNOWN.iter().copied()))]
    pub inference_backend: Option<String>,
}

/// `rfbatch job start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// The batch to process.
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    /// Process only this part of the batch.
    #[arg(long, value_name = "PART")]
    pub part: Option<String>,
    /// The part that holds per-image metadata.
    #[arg(long, value_name = "PART")]
    pub images_metadata_part: Option<String>,
    /// The batch holds videos.
    #[arg(long)]
    pub videos: bool,
    /// Frames per second sampled from videos (with --videos).
    #[arg(long, value_name = "FPS", requires = "videos")]
    pub max_video_fps: Option<f64>,
    #[command(flatten)]
    pub job: JobOptions,
    /// Wait for the job to finish, showing its progress; the exit code then says how it
    /// ended (0 succeeded, 9 failed, 10 timed out).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: crate::job_wait::WaitArgs,
}

/// The job the options describe; the library checks it (and reads the parameters file)
/// when it is started.
pub fn spec<'a>(
    api: &'a BatchApi,
    batch: &str,
    videos: bool,
    opts: &JobOptions,
) -> Result<JobSpec<'a>, Failure> {
    let mut spec = if videos {
        JobSpec::videos(api, batch, opts.workflow.as_str())
    } else {
        JobSpec::images(api, batch, opts.workflow.as_str())
    };
    if let Some(id) = &opts.job_id {
        spec = spec.job_id(id.as_str());
    }
    if let Some(name) = &opts.job_name {
        spec = spec.name(name.as_str());
    }
    if let Some(m) = &opts.machine_type {
        spec = spec.machine_type(MachineType::parse(m));
    }
    if let Some(n) = opts.workers_per_machine {
        spec = spec.workers_per_machine(n);
    }
    if let Some(s) = opts.max_runtime_seconds {
        spec = spec.max_runtime_seconds(s);
    }
    if let Some(n) = opts.max_parallel_tasks {
        spec = spec.max_parallel_tasks(n);
    }
    if let Some(r) = opts.max_image_failure_rate {
        spec = spec.max_image_failure_rate(r);
    }
    if let Some(f) = &opts.aggregation_format {
        spec = spec.aggregation_format(AggregationFormat::parse(f));
    }
    if let Some(n) = &opts.image_input_name {
        spec = spec.image_input_name(n.as_str());
    }
    if let Some(path) = &opts.workflow_params {
        spec = spec.workflow_parameters_file(path.as_path());
    }
    if let Some(u) = &opts.notifications_url {
        spec = spec.notifications_url(u.as_str());
    }
    if opts.save_image_outputs || !opts.image_outputs_to_save.is_empty() {
        spec = spec.persist_image_outputs(opts.image_outputs_to_save.clone());
    }
    for m in &opts.metadata_mapping {
        let (input, key) = m
            .split_once('=')
            .filter(|(i, k)| !i.trim().is_empty() && !k.trim().is_empty())
            .ok_or_else(|| {
                Failure::usage(format!("--metadata-mapping must be INPUT=KEY, got {m:?}"))
            })?;
        spec = spec.metadata_mapping(input.trim(), key.trim());
    }
    if let Some(b) = &opts.inference_backend {
        spec = spec.inference_backend(InferenceBackend::parse(b));
    }
    Ok(spec)
}

pub fn start(ctx: &Ctx, args: StartArgs) -> Result<(), Failure> {
    let mut spec = spec(&ctx.api, &args.batch, args.videos, &args.job)?;
    if let Some(p) = &args.part {
        spec = spec.part_name(p.as_str());
    }
    if let Some(p) = &args.images_metadata_part {
        spec = spec.images_metadata_part(p.as_str());
    }
    if let Some(fps) = args.max_video_fps {
        spec = spec.max_video_fps(fps);
    }
    let started = spec.start()?;
    let name = spec.display_name();
    let id = started.job.id().as_str().to_string();
    let what = if started.created {
        "started"
    } else {
        "found the same job already started:"
    };
    if !args.wait {
        if ctx.out.is_json() {
            return ctx.out.json(&json!({
                "jobId": id,
                "name": name,
                "created": started.created,
                "batchId": args.batch,
                "workflowId": args.job.workflow,
            }));
        }
        ctx.out.line(format_args!("{what} job {id}"))?;
        ctx.out.note(format_args!(
            "follow it with: rfbatch job wait {id}  (or rfbatch job show {id})"
        ));
        return Ok(());
    }
    ctx.out.note(format_args!("{what} job {id}"));
    crate::job_wait::wait(ctx, started.job, &args.waiting)
}

/// `rfbatch job restart`: what may change.
#[derive(Args, Debug)]
pub struct RestartArgs {
    /// The job id.
    pub job: String,
    /// New machine type.
    #[arg(long, value_name = "TYPE", value_parser = PossibleValuesParser::new(MachineType::KNOWN.iter().copied()))]
    pub machine_type: Option<String>,
    /// New workers per machine.
    #[arg(long, value_name = "N")]
    pub workers_per_machine: Option<u32>,
    /// New machine-time budget in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_runtime_seconds: Option<u64>,
    /// New task parallelism.
    #[arg(long, value_name = "N")]
    pub max_parallel_tasks: Option<u32>,
    /// New failure tolerance (0 to 1).
    #[arg(long, value_name = "F")]
    pub max_image_failure_rate: Option<f64>,
}

/// The restart overrides, or `None` when nothing changes.
pub fn overrides(a: &RestartArgs) -> Option<RestartOverrides> {
    let mut o = RestartOverrides::default();
    let mut any = false;
    if let Some(m) = &a.machine_type {
        o = o.machine_type(MachineType::parse(m));
        any = true;
    }
    if let Some(n) = a.workers_per_machine {
        o = o.workers_per_machine(n);
        any = true;
    }
    if let Some(s) = a.max_runtime_seconds {
        o = o.processing_timeout_seconds(s);
        any = true;
    }
    if let Some(n) = a.max_parallel_tasks {
        o = o.max_parallel_tasks(n);
        any = true;
    }
    if let Some(r) = a.max_image_failure_rate {
        o = o.max_image_failure_rate(r);
        any = true;
    }
    any.then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> JobOptions {
        JobOptions {
            workflow: "wf".into(),
            ..JobOptions::default()
        }
    }

    fn api() -> BatchApi {
        BatchApi::builder().api_key("k").build().unwrap()
    }

    #[test]
    fn options_become_request_fields() {
        let o = JobOptions {
            machine_type: Some("gpu".into()),
            max_image_failure_rate: Some(0.2),
            aggregation_format: Some("csv".into()),
            metadata_mapping: vec!["camera=cam_id".into()],
            image_outputs_to_save: vec!["crops".into()],
            job_id: Some("nightly-1".into()),
            ..opts()
        };
        let api = api();
        let spec = spec(&api, "b", false, &o).unwrap();
        assert_eq!(spec.id(), "nightly-1");
        let json = serde_json::to_value(spec.request().unwrap()).unwrap();
        assert_eq!(json["computeConfiguration"]["machineType"], "gpu");
        assert_eq!(json["maxImageFailureRate"], 0.2);
        assert_eq!(json["processingSpecification"]["aggregationFormat"], "csv");
        assert_eq!(
            json["processingSpecification"]["imagesMetadataInputsMapping"]["camera"],
            "cam_id"
        );
        assert_eq!(
            json["processingSpecification"]["persistImagesOutputs"],
            true
        );
        // Without an id, one is generated.
        assert!(spec_id(&api, &opts()).starts_with("job-"));
    }

    fn spec_id(api: &BatchApi, o: &JobOptions) -> String {
        spec(api, "b", false, o).unwrap().id().to_string()
    }

    #[test]
    fn a_bad_mapping_is_a_usage_error() {
        let o = JobOptions {
            metadata_mapping: vec!["nokey".into()],
            ..opts()
        };
        let err = spec(&api(), "b", false, &o).unwrap_err();
        assert_eq!(err.class, crate::exit::Class::Usage);
        assert!(err.message.contains("nokey"), "{}", err.message);
    }

    #[test]
    fn no_overrides_sends_none() {
        let a = RestartArgs {
            job: "j".into(),
            machine_type: None,
            workers_per_machine: None,
            max_runtime_seconds: None,
            max_parallel_tasks: None,
            max_image_failure_rate: None,
        };
        assert!(overrides(&a).is_none());
        let a = RestartArgs {
            max_parallel_tasks: Some(3),
            ..a
        };
        assert_eq!(overrides(&a).unwrap().max_parallel_tasks, Some(3));
    }
}
