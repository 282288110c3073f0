//! `rfbatch job start`: the options that define a job, and the request they build.

use std::path::PathBuf;

use clap::Args;
use roboflow_batch::BatchApi;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{AggregationFormat, InferenceBackend, MachineType, RestartOverrides};
use serde_json::json;

use crate::args::{Maybe, known};
use crate::context::Ctx;
use crate::exit::Failure;

/// How a job runs: shared by `job start` and `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct JobOptions {
    /// The Workflow to run.
    #[arg(long, value_name = "WORKFLOW_ID")]
    pub workflow: String,
    /// The job's id (a-z, 0-9, `-`, `_`; up to 20) [default: `job-` and 12 random
    /// characters; for `run`, `run-` and a hash of the batch, options and files].
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// A readable name for the job.
    #[arg(long, value_name = "NAME")]
    pub job_name: Option<String>,
    #[command(flatten)]
    pub limits: Limits,
    /// The format of the aggregated results.
    #[arg(long, value_name = "FORMAT", value_parser = known!(AggregationFormat))]
    pub aggregation_format: Option<AggregationFormat>,
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
    #[arg(long, value_name = "BACKEND", value_parser = known!(InferenceBackend))]
    pub inference_backend: Option<InferenceBackend>,
}

/// The machines and limits of a job: set by `job start` and `run`, changed by `job restart`.
#[derive(Args, Clone, Debug, Default)]
pub struct Limits {
    /// CPU or GPU machines.
    #[arg(long, value_name = "TYPE", value_parser = known!(MachineType))]
    pub machine_type: Option<MachineType>,
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
    /// Wait for the job to finish (exit 0 succeeded, 9 failed, 10 timed out).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: crate::job_wait::WaitArgs,
}

/// The job the options describe (the library checks it when it starts).
pub fn spec<'a>(
    api: &'a BatchApi,
    batch: &str,
    videos: bool,
    o: &JobOptions,
) -> Result<JobSpec<'a>, Failure> {
    let spec = if videos {
        JobSpec::videos(api, batch, o.workflow.as_str())
    } else {
        JobSpec::images(api, batch, o.workflow.as_str())
    };
    let l = &o.limits;
    let outputs = o.save_image_outputs || !o.image_outputs_to_save.is_empty();
    let outputs = outputs.then(|| o.image_outputs_to_save.clone());
    let spec = spec
        .maybe(o.job_id.clone(), JobSpec::job_id)
        .maybe(o.job_name.clone(), JobSpec::name)
        .maybe(l.machine_type.clone(), JobSpec::machine_type)
        .maybe(l.workers_per_machine, JobSpec::workers_per_machine)
        .maybe(l.max_runtime_seconds, JobSpec::max_runtime_seconds)
        .maybe(l.max_parallel_tasks, JobSpec::max_parallel_tasks)
        .maybe(l.max_image_failure_rate, JobSpec::max_image_failure_rate)
        .maybe(o.aggregation_format.clone(), JobSpec::aggregation_format)
        .maybe(o.image_input_name.clone(), JobSpec::image_input_name)
        .maybe(o.workflow_params.clone(), JobSpec::workflow_parameters_file)
        .maybe(o.notifications_url.clone(), JobSpec::notifications_url)
        .maybe(outputs, JobSpec::persist_image_outputs)
        .maybe(o.inference_backend.clone(), JobSpec::inference_backend);
    o.metadata_mapping.iter().try_fold(spec, |spec, m| {
        let pair = m.split_once('=').map(|(i, k)| (i.trim(), k.trim()));
        let (input, key) = pair
            .filter(|(i, k)| !i.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                Failure::usage(format!("--metadata-mapping must be INPUT=KEY, got {m:?}"))
            })?;
        Ok(spec.metadata_mapping(input, key))
    })
}

pub fn start(ctx: &Ctx, args: StartArgs) -> Result<(), Failure> {
    let meta = args.images_metadata_part.clone();
    let spec = spec(&ctx.api, &args.batch, args.videos, &args.job)?
        .maybe(args.part.clone(), JobSpec::part_name)
        .maybe(meta, JobSpec::images_metadata_part)
        .maybe(args.max_video_fps, JobSpec::max_video_fps);
    let started = spec.start()?;
    let id = started.job.id().as_str().to_string();
    let what = if started.created {
        "started"
    } else {
        "found the same job already started:"
    };
    if !args.wait {
        let doc = json!({
            "jobId": id,
            "name": spec.display_name(),
            "created": started.created,
            "batchId": args.batch,
            "workflowId": args.job.workflow,
        });
        ctx.out.answer(doc, format_args!("{what} job {id}"))?;
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
    #[command(flatten)]
    pub limits: Limits,
}

/// The restart overrides, or `None` when nothing changes.
pub fn overrides(l: &Limits) -> Option<RestartOverrides> {
    type O = RestartOverrides;
    let o = O::default()
        .maybe(l.machine_type.clone(), O::machine_type)
        .maybe(l.workers_per_machine, O::workers_per_machine)
        .maybe(l.max_runtime_seconds, O::processing_timeout_seconds)
        .maybe(l.max_parallel_tasks, O::max_parallel_tasks)
        .maybe(l.max_image_failure_rate, O::max_image_failure_rate);
    (!o.is_empty()).then_some(o)
}
