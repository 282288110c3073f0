//! `rfbatch run`: upload a folder, run a job over it, download its results; a re-run resumes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::testdata::ImageSet;
use serde_json::json;

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
use roboflow_batch::jobs::Progress;
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
        let must = format!("--sample must be 1 to {MAX_SAMPLE}, got {n}");
        return Err(Failure::usage(must));
    }
    let (ctx, _sandbox) = if args.sandbox {
        let sandbox = Sandbox::start(SandboxConfig::default().job_speed(500.0))?;
        let url = sandbox.base_url();
        out.note(format_args!("using a sandbox of the service at {url}"));
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
            let at = tmp.path().display();
            out.note(format_args!("generated {n} sample images in {at}"));
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
    let (shown, out) = (dir.display(), args.out.display());
    ctx.out
        .note(format_args!("1/3 uploading {shown} into batch {batch}"));
    let mut ingest_args = args.ingest.clone();
    ingest_args.send.no_verify = false;
    let paths = [dir.to_path_buf()];
    let (images, hooks) = (MediaKind::Images, Hooks::default());
    let report = upload::ingest(ctx, &paths, batch, images, &ingest_args, &hooks)?;
    let dry_run = report.dry_run;
    if !ctx.out.json && !dry_run {
        ctx.out.note(report::summary(&report));
    }
    if let Some(mut f) = report::incomplete(&report).filter(|_| !dry_run) {
        report::print_ingest(ctx, &report)?;
        f.message = format!("stopping before the job: {}", f.message);
        return Err(f);
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
        if ctx.out.json {
            let plan = json!({"batchId": batch, "jobId": job_id, "ingest": report, "dryRun": true});
            return ctx.out.json(&plan);
        }
        report::print_ingest(ctx, &report)?;
        return ctx.out.line(format_args!(
            "then job {job_id} ({name}), its results into {out}"
        ));
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
            f.hint = Some(SANDBOX_GONE.into());
        }
        if ctx.out.json {
            ctx.out.json(&doc)?;
        }
        return Err(f);
    }
    let job_secs = started.elapsed().saturating_sub(ingest_secs);
    let job_requests = ctx.api.requests();

    // 3. The results.
    ctx.out
        .note(format_args!("3/3 downloading the results into {out}"));
    let export_args = ExportArgs {
        out: args.out.clone(),
        parallel: args.download_parallel,
        ..ExportArgs::default()
    };
    let stages = Source::Job(&job_id, &["processing", "export"]);
    let e = download::export(ctx, &export_args, stages)?;
    let (total, requests) = (started.elapsed(), ctx.api.requests());
    let paths = e.files.iter().filter_map(|f| f.path.as_ref());
    let results: Vec<String> = paths.take(20).map(|p| p.display().to_string()).collect();
    let unpacked = e.files.iter().filter(|f| !f.unpacked.is_empty());
    let unpacked = unpacked.filter_map(|f| f.part_name.as_ref());
    let unpacked: BTreeSet<String> = unpacked
        .map(|p| args.out.join(p).display().to_string())
        .collect();
    let r = &report;
    if ctx.out.json {
        let export_secs = total.saturating_sub(ingest_secs + job_secs);
        doc["export"] = json!({
            "target": e.target,
            "downloaded": e.downloaded,
            "skipped": e.skipped,
            "bytes": e.bytes,
            "unpacked": e.unpacked,
        });
        doc["results"] = json!(results);
        doc["unpackedInto"] = json!(unpacked);
        doc["durationSecs"] = json!(total.as_secs_f64());
        doc["phaseSecs"] = json!({
            "ingest": ingest_secs.as_secs_f64(),
            "job": job_secs.as_secs_f64(),
            "export": export_secs.as_secs_f64(),
        });
        doc["requests"] = json!(requests);
        doc["phaseRequests"] = json!({
            "ingest": ingest_requests.total(),
            "job": job_requests.since(&ingest_requests).total(),
            "export": requests.since(&job_requests).total(),
        });
        ctx.out.json(&doc)?;
    } else {
        let tasks = |p: &Progress| p.stages.iter().map(|s| s.tasks.total).sum::<u64>();
        let tasks = outcome
            .last
            .as_ref()
            .map(|p| format!(", {} tasks", tasks(p)));
        let (found, sent, resumed) = (r.files_found, r.files_uploaded, r.files_resumed);
        let (skipped, failed) = (r.skipped.len(), r.failed.len());
        let (b, up) = (r.bytes_uploaded, r.upload_duration);
        let (bytes, rate, up) = (human_bytes(b), human_rate(b, up), human_secs(up));
        let (all, per_sec) = (human_secs(r.duration), r.files_per_sec());
        let (job, total) = (job_secs.as_secs_f64(), total.as_secs_f64());
        let (got, got_bytes, n) = (e.downloaded, human_bytes(e.bytes), requests.total());
        let lines = [
            "done".to_string(),
            format!(
                "  images    {found} found, {sent} uploaded, {resumed} already there, {skipped} skipped, {failed} failed  (batch {batch})"
            ),
            format!(
                "  upload    {bytes} sent in {up} ({per_sec:.0} images/s, {rate}); {all} with verification"
            ),
            format!(
                "  job       {job_id} completed in {job:.1} s{}",
                tasks.unwrap_or_default()
            ),
            format!(
                "  results   {got} files downloaded ({got_bytes}), {} already there, {} unpacked",
                e.skipped, e.unpacked
            ),
            format!("  total     {total:.1} s, {n} requests"),
            format!("results in {}", e.target.display()),
        ];
        let results = results.iter().map(|p| format!("  {p}"));
        let dirs = unpacked
            .iter()
            .map(|d| format!("  {d}/ (one file per image)"));
        let lost = r.not_sent().into_iter().map(|s| format!("skipped {s}"));
        let mut all = lines.into_iter().chain(results).chain(dirs).chain(lost);
        all.try_for_each(|line| ctx.out.line(line))?;
    }
    report::not_sent_failure(r).map_or(Ok(()), Err)
}

/// The hint of a failed job in the sandbox of `run --sandbox`, which `job logs` cannot reach.
const SANDBOX_GONE: &str = "the sandbox ran inside this command and is gone; its workflows are \
                            image-stats and fail-fraction";

/// The folder's name, made safe, and a hash of its path: found again, never shared.
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

/// `run-` and a hash of the job's request and the folder's contents: a re-run finds the job.
fn derived_job_id(request_json: &str, files: u64, bytes: u64) -> String {
    stable_id(
        "run",
        format!("{request_json}\n{files}\n{bytes}").as_bytes(),
        12,
    )
}
