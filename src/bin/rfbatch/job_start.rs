//! `rfbatch job start`: the options that define a job, and the request they build.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValuesParser;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{AggregationFormat, InferenceBackend, MachineType, RestartOverrides};
use serde_json::json;

use crate::args::Maybe;
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
    #[command(flatten)]
    pub limits: Limits,
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

/// The machines and limits of a job: set by `job start` and `run`, changed by `job restart`.
#[derive(Args, Clone, Debug, Default)]
pub struct Limits {
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
/// when it is built.
pub fn spec(batch: &str, videos: bool, opts: &JobOptions) -> Result<JobSpec, Failure> {
    let spec = if videos {
        JobSpec::videos(batch, opts.workflow.as_str())
    } else {
        JobSpec::images(batch, opts.workflow.as_str())
    };
    let l = &opts.limits;
    let outputs = opts.save_image_outputs || !opts.image_outputs_to_save.is_empty();
    let mut spec = spec
        .maybe(opts.job_id.as_deref(), |s, v| s.job_id(v))
        .maybe(opts.job_name.as_deref(), |s, v| s.name(v))
        .maybe(l.machine_type.as_deref(), |s, v| {
            s.machine_type(MachineType::parse(v))
        })
        .maybe(l.workers_per_machine, JobSpec::workers_per_machine)
        .maybe(l.max_runtime_seconds, JobSpec::max_runtime_seconds)
        .maybe(l.max_parallel_tasks, JobSpec::max_parallel_tasks)
        .maybe(l.max_image_failure_rate, JobSpec::max_image_failure_rate)
        .maybe(opts.aggregation_format.as_deref(), |s, v| {
            s.aggregation_format(AggregationFormat::parse(v))
        })
        .maybe(opts.image_input_name.as_deref(), |s, v| {
            s.image_input_name(v)
        })
        .maybe(opts.workflow_params.as_deref(), |s, v| {
            s.workflow_parameters_file(v)
        })
        .maybe(opts.notifications_url.as_deref(), |s, v| {
            s.notifications_url(v)
        })
        .maybe(
            outputs.then(|| opts.image_outputs_to_save.clone()),
            JobSpec::persist_image_outputs,
        )
        .maybe(opts.inference_backend.as_deref(), |s, v| {
            s.inference_backend(InferenceBackend::parse(v))
        });
    for m in &opts.metadata_mapping {
        let (input, key) = m
            .split_once('=')
            .filter(|(i, k)| !i.trim().is_empty() && !k.trim().is_empty())
            .ok_or_else(|| {
                Failure::usage(format!("--metadata-mapping must be INPUT=KEY, got {m:?}"))
            })?;
        spec = spec.metadata_mapping(input.trim(), key.trim());
    }
    Ok(spec)
}

pub fn start(ctx: &Ctx, args: StartArgs) -> Result<(), Failure> {
    let prepared = spec(&args.batch, args.videos, &args.job)?
        .maybe(args.part.as_deref(), |s, p| s.part_name(p))
        .maybe(args.images_metadata_part.as_deref(), |s, p| {
            s.images_metadata_part(p)
        })
        .maybe(args.max_video_fps, JobSpec::max_video_fps)
        .build()?;
    let job = prepared.start(&ctx.api)?;
    let id = job.id().as_str().to_string();
    if !args.wait {
        if ctx.out.is_json() {
            return ctx.out.json(&json!({
                "jobId": id,
                "name": prepared.name,
                "batchId": args.batch,
                "workflowId": args.job.workflow,
            }));
        }
        ctx.out.line(format_args!("started job {id}"))?;
        ctx.out.note(format_args!(
            "follow it with: rfbatch job wait {id}  (or rfbatch job show {id})"
        ));
        return Ok(());
    }
    ctx.out.note(format_args!("started job {id}"));
    crate::job_wait::wait(ctx, &job, &args.waiting)
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
    let o = RestartOverrides::default()
        .maybe(l.machine_type.as_deref(), |o, m| {
            o.with_machine_type(MachineType::parse(m))
        })
        .maybe(
            l.workers_per_machine,
            RestartOverrides::with_workers_per_machine,
        )
        .maybe(
            l.max_runtime_seconds,
            RestartOverrides::with_processing_timeout_seconds,
        )
        .maybe(
            l.max_parallel_tasks,
            RestartOverrides::with_max_parallel_tasks,
        )
        .maybe(
            l.max_image_failure_rate,
            RestartOverrides::with_max_image_failure_rate,
        );
    (o != RestartOverrides::default()).then_some(o)
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

    #[test]
    fn options_become_request_fields() {
        let o = JobOptions {
            limits: Limits {
                machine_type: Some("gpu".into()),
                max_image_failure_rate: Some(0.2),
                ..Limits::default()
            },
            aggregation_format: Some("csv".into()),
            metadata_mapping: vec!["camera=cam_id".into()],
            image_outputs_to_save: vec!["crops".into()],
            job_id: Some("nightly-1".into()),
            ..opts()
        };
        let job = spec("b", false, &o).unwrap().build().unwrap();
        assert_eq!(job.id.as_str(), "nightly-1");
        let json = serde_json::to_value(&job.request).unwrap();
        for (pointer, want) in [
            ("/computeConfiguration/machineType", json!("gpu")),
            ("/maxImageFailureRate", json!(0.2)),
            ("/processingSpecification/aggregationFormat", json!("csv")),
            (
                "/processingSpecification/imagesMetadataInputsMapping/camera",
                json!("cam_id"),
            ),
            ("/processingSpecification/persistImagesOutputs", json!(true)),
        ] {
            assert_eq!(json.pointer(pointer), Some(&want), "{pointer}");
        }
    }

    #[test]
    fn a_bad_mapping_is_a_usage_error() {
        for bad in ["nokey", "=key", "input=", " = "] {
            let o = JobOptions {
                metadata_mapping: vec![bad.into()],
                ..opts()
            };
            let err = spec("b", false, &o).unwrap_err();
            assert_eq!(err.class, crate::exit::Class::Usage);
            assert!(err.message.contains(&format!("{bad:?}")), "{}", err.message);
        }
    }

    #[test]
    fn no_overrides_sends_none() {
        assert!(overrides(&Limits::default()).is_none());
        let l = Limits {
            max_parallel_tasks: Some(3),
            ..Limits::default()
        };
        assert_eq!(overrides(&l).unwrap().max_parallel_tasks, Some(3));
    }
}
