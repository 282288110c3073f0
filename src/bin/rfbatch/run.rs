//! `rfbatch run`: upload a folder, run a job over it, download its results. A re-run
//! resumes: the journals skip what was done, and the derived job id finds the same job.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::testdata::ImageSet;
use serde_json::{Value, json};

use crate::args::{Global, temp_dir};
use crate::context::{self, Ctx};
use crate::download::{self, ExportArgs, Source};
use crate::exit::Failure;
use crate::job_start::{self, JobOptions};
use crate::job_wait::{self, WaitArgs};
use crate::output::{Output, human_bytes, human_rate, human_secs};
use crate::report;
use crate::upload::{self, Hooks, IngestArgs};
use roboflow_batch::ids::stable_id;
use roboflow_batch::model::MediaKind;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  rfbatch run ./photos --workflow my-workflow --out results
  rfbatch run --sandbox --sample 200 --workflow image-stats --out rfbatch-results")]
pub struct RunArgs {
    /// The folder of images to process.
    #[arg(
        value_name = "DIR",
        required_unless_present = "sample",
        conflicts_with = "sample"
    )]
    pub dir: Option<PathBuf>,
    /// Where the results go (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The batch to fill [default: derived from the folder's name and path].
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: Option<String>,
    /// Run against a sandbox of the service started inside this process: no account, no
    /// network. The API key and URL options are then ignored.
    #[arg(long)]
    pub sandbox: bool,
    /// Generate this many sample images instead of reading a folder.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    #[command(flatten)]
    pub job: JobOptions,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Parallel downloads, 1 to 64.
    #[arg(long, value_name = "N", default_value_t = roboflow_batch::export::DEFAULT_PARALLELISM,
          value_parser = crate::args::parallel)]
    pub download_parallel: usize,
}

/// The most sample images `--sample` generates (they go to the temporary folder).
const MAX_SAMPLE: usize = 100_000;

pub fn run(global: &Global, out: &Output, mut args: RunArgs) -> Result<(), Failure> {
    let started = Instant::now();
    if let Some(n) = args.sample.filter(|n| !(1..=MAX_SAMPLE).contains(n)) {
        return Err(Failure::usage(format!(
            "--sample must be 1 to {MAX_SAMPLE}, got {n}"
        )));
    }
    let (ctx, _sandbox) = if args.sandbox {
        let sandbox = Sandbox::start(SandboxConfig::default().job_speed(500.0))?;
        out.note(format_args!(
            "using a sandbox of the service at {}",
            sandbox.base_url()
        ));
        let g = Global {
            api_key: Some(sandbox.api_key().to_string()),
            api_url: Some(sandbox.base_url().to_string()),
            workspace: Some(sandbox.workspace().to_string()),
            ..global.clone()
        };
        (context::connect(&g, out)?, Some(sandbox))
    } else {
        let hint = "set --api-key or ROBOFLOW_API_KEY, or add --sandbox to run against a \
                    sandbox of the service inside this command";
        match context::connect(global, out) {
            Err(f) if global.api_key.is_none() => return Err(f.with_hint(hint)),
            ctx => (ctx?, None),
        }
    };
    let (dir, _samples) = match (&args.dir, args.sample) {
        (Some(d), _) => (d.clone(), None),
        (None, Some(n)) => {
            let tmp = temp_dir("rfbatch-sample-", &std::env::temp_dir())?;
            ImageSet::new(n).write_to(tmp.path())?;
            out.note(format_args!(
                "generated {n} sample images in {}",
                tmp.path().display()
            ));
            (tmp.path().to_path_buf(), Some(tmp))
        }
        (None, None) => return Err(Failure::usage("give a folder of images, or --sample N")),
    };
    let batch = match (&args.batch, args.sample) {
        (Some(b), _) => b.clone(),
        (None, Some(n)) => format!("sample-{n}"),
        (None, None) => batch_for(&dir)?,
    };
    if args.sandbox {
        // The embedded sandbox answers at once: poll often, so the demo does not idle.
        let w = &mut args.wait;
        w.poll_interval.get_or_insert(Duration::from_millis(250));
        w.max_poll_interval.get_or_insert(Duration::from_secs(1));
    }
    main_job(&ctx, &args, &dir, &batch, started)
}

fn main_job(
    ctx: &Ctx,
    args: &RunArgs,
    dir: &Path,
    batch: &str,
    started: Instant,
) -> Result<(), Failure> {
    // 1. Ingest and verify.
    ctx.out.note(format_args!(
        "1/3 uploading {} into batch {batch}",
        dir.display()
    ));
    let mut ingest_args = args.ingest.clone();
    ingest_args.send.no_verify = false;
    let paths = [dir.to_path_buf()];
    let (images, hooks) = (MediaKind::Images, Hooks::default());
    let report = upload::ingest(ctx, &paths, batch, images, &ingest_args, &hooks)?;
    let dry_run = report.dry_run;
    if !ctx.out.is_json() && !dry_run {
        ctx.out.note(report::summary(&report));
    }
    if let Some(f) = report::incomplete(&report).filter(|_| !dry_run) {
        report::print_ingest(ctx, &report)?;
        return Err(f.context("stopping before the job"));
    }
    // Files skipped for what they are do not stop the job over the others; the command
    // ends with exit 8 naming them.
    let ingest_secs = started.elapsed();
    let ingest_requests = ctx.api.requests();

    // 2. The job: an id derived from what it runs, so that a re-run finds it again.
    let spec = job_start::spec(&ctx.api, batch, false, &args.job)?;
    let job_id = match &args.job.job_id {
        Some(id) => id.clone(),
        None => {
            let body = serde_json::to_string(&spec.request()?).unwrap_or_default();
            derived_job_id(&body, report.files_found, report.bytes_found)
        }
    };
    let spec = spec.job_id(job_id.as_str());
    let name = spec.display_name();
    if dry_run {
        // The plan: the ingest's, and the job that would follow.
        if ctx.out.is_json() {
            let plan = json!({"batchId": batch, "jobId": job_id, "ingest": report, "dryRun": true});
            return ctx.out.json(&plan);
        }
        report::print_ingest(ctx, &report)?;
        let then = format!(
            "then job {job_id} ({name}), its results into {}",
            args.out.display()
        );
        return ctx.out.line(then);
    }
    let job = spec.start()?;
    let again = if job.created { "" } else { ", started before" };
    ctx.out
        .note(format_args!("2/3 running job {job_id} ({name}{again})"));
    let outcome = job_wait::follow(ctx, job.job, &args.wait)?;
    let mut doc = json!({
        "batchId": batch,
        "jobId": job_id,
        "ingest": report,
        "job": &outcome,
    });
    if let Some(mut f) = job_wait::outcome_failure(&outcome) {
        if args.sandbox {
            // `job logs` cannot reach a sandbox that ends with this command.
            f.hint = Some(
                "the sandbox ran inside this command and is gone; its workflows are \
                 image-stats and fail-fraction"
                    .into(),
            );
        }
        if ctx.out.is_json() {
            ctx.out.json(&doc)?;
        }
        return Err(f);
    }
    let job_secs = started.elapsed().saturating_sub(ingest_secs);
    let job_requests = ctx.api.requests();

    // 3. The results.
    ctx.out.note(format_args!(
        "3/3 downloading the results into {}",
        args.out.display()
    ));
    let export_args = ExportArgs {
        out: args.out.clone(),
        parallel: args.download_parallel,
        ..ExportArgs::default()
    };
    let stages = Source::Job(&job_id, &["processing", "export"]);
    let exported = download::export(ctx, &export_args, stages)?;
    let total = started.elapsed();
    let requests = ctx.api.requests();
    let results: Vec<String> = exported
        .files
        .iter()
        .filter_map(|f| f.path.as_ref())
        .take(20)
        .map(|p| p.display().to_string())
        .collect();
    let unpacked_dirs: BTreeSet<String> = exported
        .files
        .iter()
        .filter(|f| !f.unpacked.is_empty())
        .filter_map(|f| f.part_name.as_ref())
        .map(|p| args.out.join(p).display().to_string())
        .collect();

    if ctx.out.is_json() {
        let more = json!({
            "export": {
                "target": exported.target,
                "downloaded": exported.downloaded,
                "skipped": exported.skipped,
                "bytes": exported.bytes,
                "unpacked": exported.unpacked,
            },
            "results": results,
            "unpackedInto": unpacked_dirs,
            "durationSecs": total.as_secs_f64(),
            "phaseSecs": {
                "ingest": ingest_secs.as_secs_f64(),
                "job": job_secs.as_secs_f64(),
                "export": total.saturating_sub(ingest_secs + job_secs).as_secs_f64(),
            },
            "requests": requests,
            "phaseRequests": {
                "ingest": ingest_requests.total(),
                "job": job_requests.since(&ingest_requests).total(),
                "export": requests.since(&job_requests).total(),
            },
        });
        if let (Some(doc), Value::Object(more)) = (doc.as_object_mut(), more) {
            doc.extend(more);
        }
        ctx.out.json(&doc)?;
    } else {
        let r = &report;
        let tasks: Option<u64> = outcome
            .last
            .as_ref()
            .map(|p| p.stages.iter().map(|s| s.tasks.total).sum());
        let mut lines = vec![
            "done".to_string(),
            format!(
                "  images    {} found, {} uploaded, {} already there, {} skipped, {} failed  (batch {batch})",
                r.files_found,
                r.files_uploaded,
                r.files_resumed,
                r.skipped.len(),
                r.failed.len()
            ),
            format!(
                "  upload    {} sent in {} ({:.0} images/s, {}); {} with verification",
                human_bytes(r.bytes_uploaded),
                human_secs(r.upload_duration),
                r.files_per_sec(),
                human_rate(r.bytes_uploaded, r.upload_duration),
                human_secs(r.duration),
            ),
            format!(
                "  job       {job_id} completed in {:.1} s{}",
                job_secs.as_secs_f64(),
                tasks.map(|t| format!(", {t} tasks")).unwrap_or_default()
            ),
            format!(
                "  results   {} files downloaded ({}), {} already there, {} unpacked",
                exported.downloaded,
                human_bytes(exported.bytes),
                exported.skipped,
                exported.unpacked
            ),
            format!(
                "  total     {:.1} s, {} requests",
                total.as_secs_f64(),
                requests.total()
            ),
            format!("results in {}", exported.target.display()),
        ];
        lines.extend(results.iter().map(|p| format!("  {p}")));
        lines.extend(
            unpacked_dirs
                .iter()
                .map(|d| format!("  {d}/ (one file per image)")),
        );
        lines.extend(r.not_sent().iter().map(|s| format!("skipped {s}")));
        for line in lines {
            ctx.out.line(line)?;
        }
    }
    report::not_sent_failure(&report).map_or(Ok(()), Err)
}

/// A batch id for a folder: its name, made safe, and a hash of its absolute path, so that
/// two folders of the same name never share a batch and a re-run finds the same one.
fn batch_for(dir: &Path) -> Result<String, Failure> {
    let abs = std::fs::canonicalize(dir)
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug = slug.trim_matches('-').chars().take(40).collect();
    if slug.is_empty() {
        slug = "images".into();
    }
    Ok(stable_id(&slug, abs.to_string_lossy().as_bytes(), 8))
}

/// `run-` and 12 hex digits of a hash of the job's request and of the folder's contents: the
/// same folder and options give the same job, and new images a new one.
fn derived_job_id(request_json: &str, files: u64, bytes: u64) -> String {
    stable_id(
        "run",
        format!("{request_json}\n{files}\n{bytes}").as_bytes(),
        12,
    )
}

// Stable ids (a re-run finds the same batch and job) and valid ones (the service takes
// them): `cli_upload_run::run_does_the_main_job_and_sums_up`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_with_what_they_stand_for() {
        let a = derived_job_id("{}", 10, 100);
        assert_ne!(a, derived_job_id("{}", 11, 100));
        assert_ne!(a, derived_job_id("{\"x\":1}", 10, 100));
        let tmp = tempfile::tempdir().unwrap();
        let (one, two) = (
            tmp.path().join("My Photos!"),
            tmp.path().join("b/My Photos!"),
        );
        std::fs::create_dir_all(&two).unwrap();
        std::fs::create_dir(&one).unwrap();
        let id = batch_for(&one).unwrap();
        assert!(id.starts_with("my-photos-"), "{id}");
        assert_ne!(id, batch_for(&two).unwrap());
    }
}
