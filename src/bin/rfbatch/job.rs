//! `rfbatch job …`: jobs (Batch Processing).

use clap::Subcommand;
use roboflow_batch::model::{
    CompilationDevice, JobLog, JobMetadata, JobStage, LogSeverity, TaskStatus,
    TrtCompilationRequest,
};
use serde_json::json;

use roboflow_batch::jobs::Job;

use crate::args::{Limit, Maybe, known};
use crate::context::Ctx;
use crate::download::{self, ExportArgs, Source};
use crate::exit::{Failure, one_line};
use crate::job_start::{self, RestartArgs, StartArgs};
use crate::job_wait::{WaitArgs, progress_line};
use crate::output::opt;
use crate::report;

/// A job named on the command line.
#[derive(clap::Args)]
pub struct JobArg {
    /// The job id.
    job: String,
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Starts a job: runs a Workflow over a staged batch.
    Start(Box<StartArgs>),
    /// Lists the workspace's jobs.
    List(Limit),
    /// Shows a job: its state, progress and stages.
    Show(JobArg),
    /// Waits for a job to finish (exit 0 succeeded, 9 failed, 10 timed out).
    Wait {
        /// The job id.
        job: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Downloads a finished job's results (the `export` stage's output).
    Results {
        /// The job id.
        job: String,
        /// Also the `processing` stage's output (the aggregated results file).
        #[arg(long)]
        include_processing: bool,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Lists a job's stages and the batches they write.
    Stages(JobArg),
    /// Lists the tasks of one stage of a job.
    Tasks {
        /// The job id.
        job: String,
        /// The stage id (see `rfbatch job stages`).
        stage: String,
        #[command(flatten)]
        limit: Limit,
    },
    /// Prints a job's log lines.
    Logs {
        /// The job id.
        job: String,
        /// Only lines of this severity.
        #[arg(long, value_parser = known!(LogSeverity))]
        severity: Option<LogSeverity>,
        #[command(flatten)]
        limit: Limit,
    },
    /// Aborts a job.
    Abort(JobArg),
    /// Restarts a job, optionally with new limits.
    Restart(RestartArgs),
    /// Starts a TensorRT compilation of a model for the given GPUs.
    TrtCompile {
        /// The model, e.g. `my-project/3`.
        #[arg(long, value_name = "MODEL_ID")]
        model_id: String,
        /// A GPU to compile for (repeatable).
        #[arg(long = "device", value_name = "DEVICE", required = true,
              value_parser = known!(CompilationDevice))]
        devices: Vec<CompilationDevice>,
        /// The job id [default: generated].
        #[arg(long, value_name = "ID")]
        job_id: Option<String>,
        /// A readable name for the job.
        #[arg(long, value_name = "NAME")]
        job_name: Option<String>,
        /// Where the service sends the completion webhook.
        #[arg(long, value_name = "URL")]
        notifications_url: Option<String>,
    },
}

pub fn run(ctx: &Ctx, cmd: JobCommand) -> Result<(), Failure> {
    match cmd {
        JobCommand::Start(args) => job_start::start(ctx, *args),
        JobCommand::List(l) => {
            let headers = ["JOB", "NAME", "STATE", "STAGE", "CREATED", "UPDATED"];
            ctx.out
                .listing(ctx.api.jobs(None), l.limit, &headers, job_row, "no jobs")
        }
        JobCommand::Show(j) => show(ctx, &j.job),
        JobCommand::Wait { job, wait } => {
            crate::job_wait::wait(ctx, Job::new(&ctx.api, &job)?, &wait)
        }
        JobCommand::Results {
            job,
            include_processing,
            export,
        } => {
            let stages = &["processing", "export"][usize::from(!include_processing)..];
            let report = download::export(ctx, &export, Source::Job(&job, stages))?;
            report::print_export(ctx, &report)
        }
        JobCommand::Stages(j) => stages(ctx, &j.job),
        JobCommand::Tasks { job, stage, limit } => {
            let headers = ["TASK", "STATUS", "PROGRESS", "UPDATED", "NOTE"];
            let tasks = ctx.api.tasks(&job, &stage, None);
            let empty = format!("stage {stage} has no tasks");
            ctx.out
                .listing(tasks, limit.limit, &headers, task_row, empty)
        }
        JobCommand::Logs {
            job,
            severity,
            limit,
        } => {
            let lines = ctx.api.logs(&job, severity, None);
            let json = |l: &JobLog| serde_json::to_value(l).unwrap_or_default();
            let text = |l: &JobLog| {
                let (at, module, kind) = (&l.created_at, &l.reporting_module, &l.log_type);
                format!("{at} {:<7} {module} {kind} {}", l.severity, l.payload)
            };
            if ctx.out.stream(lines, limit.limit, json, text)? == 0 {
                ctx.out.note(format_args!("job {job} has no log lines"));
            }
            Ok(())
        }
        JobCommand::Abort(JobArg { job }) => {
            let answer = ctx.api.abort_job(&job)?;
            let doc = json!({"jobId": job, "aborted": true, "response": answer});
            ctx.out.answer(doc, format_args!("aborted job {job}"))
        }
        JobCommand::Restart(RestartArgs { job, limits }) => {
            let overrides = job_start::overrides(&limits);
            let response = ctx.api.restart_job(&job, overrides.as_ref())?;
            let doc = json!({
                "jobId": job,
                "restarted": true,
                "overrides": overrides,
                "response": response,
            });
            ctx.out.answer(doc, format_args!("restarted job {job}"))
        }
        JobCommand::TrtCompile {
            model_id,
            devices,
            job_id,
            job_name,
            notifications_url,
        } => {
            let req = TrtCompilationRequest::new(model_id.as_str(), devices)
                .maybe(notifications_url, TrtCompilationRequest::notifications_url);
            let id = job_id.unwrap_or_else(|| roboflow_batch::JobId::generate().to_string());
            ctx.api
                .start_trt_compilation(&id, &req, job_name.as_deref())?;
            let doc = json!({"jobId": id, "modelId": model_id});
            ctx.out.answer(doc, format_args!("started job {id}"))?;
            ctx.out
                .note(format_args!("follow it with: rfbatch job wait {id}"));
            Ok(())
        }
    }
}

fn job_row(j: &JobMetadata) -> Vec<String> {
    vec![
        j.job_id.clone(),
        j.name.clone(),
        j.state().to_string(),
        opt(j.current_stage.as_deref()),
        j.created_at.to_string(),
        j.last_update.to_string(),
    ]
}

fn show(ctx: &Ctx, job_id: &str) -> Result<(), Failure> {
    let job = Job::new(&ctx.api, job_id)?;
    let status = job.status()?;
    let progress = job.progress()?;
    if ctx.out.json {
        let mut v = json!(progress);
        v["job"] = json!(status.job);
        return ctx.out.json(&v);
    }
    let mut fields = vec![
        ("job", job_id.to_string()),
        ("state", progress.state.to_string()),
        ("progress", progress_line(&progress)),
    ];
    if let Some(j) = &status.job {
        fields.push(("name", j.name.clone()));
        fields.push(("created", j.created_at.to_string()));
        fields.push(("updated", j.last_update.to_string()));
    }
    if let Some(m) = &progress.message {
        fields.push(("last message", one_line(m)));
    }
    ctx.out.fields(&fields)?;
    if !progress.stages.is_empty() {
        let rows: Vec<Vec<String>> = progress
            .stages
            .iter()
            .map(|s| {
                let t = &s.tasks;
                vec![
                    s.name.clone(),
                    s.status_type.clone(),
                    format!("{:.0}%", s.fraction * 100.0),
                    format!("{}/{}", t.finished, t.total),
                    t.running.to_string(),
                    t.failed.to_string(),
                    s.output_batches.join(","),
                ]
            })
            .collect();
        let headers: Vec<&str> = "STAGE,STATUS,DONE,TASKS,RUNNING,FAILED,OUTPUT BATCHES"
            .split(',')
            .collect();
        ctx.out.line("")?;
        ctx.out.table(&headers, &rows)?;
    }
    for e in &progress.errors {
        let (tasks, message) = (e.tasks, one_line(&e.message));
        ctx.out
            .line(format_args!("error ({tasks} tasks): {message}"))?;
    }
    Ok(())
}

fn stages(ctx: &Ctx, job_id: &str) -> Result<(), Failure> {
    let stages = ctx
        .api
        .job_stages(job_id)?
        .into_iter()
        .map(Ok::<_, Failure>);
    let headers = ["STAGE", "NAME", "STATUS", "TASKS", "OUTPUT BATCHES"];
    let row = |s: &JobStage| {
        vec![
            s.processing_stage_id.clone(),
            s.processing_stage_name.clone(),
            s.status_type.clone(),
            s.tasks_number.to_string(),
            s.output_batch_ids().join(","),
        ]
    };
    let empty = format!("job {job_id} has no stages yet");
    ctx.out.listing(stages, None, &headers, row, empty)
}

fn task_row(t: &TaskStatus) -> Vec<String> {
    let note = match &t.notification {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        v => v
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| v.to_string(), str::to_string),
    };
    vec![
        t.task_id.clone(),
        t.status_type.clone(),
        opt(t.progress.map(|p| format!("{:.0}%", p * 100.0))),
        t.event_timestamp.to_string(),
        one_line(&note),
    ]
}
