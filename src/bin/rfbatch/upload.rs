//! `rfbatch upload …`: every source (folder, files, bucket, references) through one `Ingest`.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use roboflow_batch::cloud::{BucketUrl, CloudSource, CloudSourceBuilder};
use roboflow_batch::ingest::{Ingest, IngestReport, Source, UploadMode};
use roboflow_batch::model::{MediaKind, NotificationCategory, RoboQlIngest};
use serde_json::json;

use crate::args::{Maybe, known, seconds};
use crate::context::Ctx;
use crate::exit::Failure;
use crate::ingest_progress::IngestProgress;
use crate::interrupt;
use crate::report::{self, incomplete, not_sent_failure, nothing_found};

#[derive(Subcommand)]
pub enum UploadCommand {
    /// Uploads a folder of images (resumable, verified), or a bucket's by reference.
    Images(FilesArgs),
    /// Uploads a folder of videos, one signed upload each (or a bucket's, by reference).
    Videos(FilesArgs),
    /// Ingests files by reference: the service fetches each signed URL itself.
    Refs(RefsArgs),
    /// Ingests the Asset Library images a RoboQL query selects.
    Roboql(RoboqlArgs),
}

/// Where the files come from and how they go.
#[derive(Args, Debug, Clone)]
pub struct FilesArgs {
    /// A folder, files, or a bucket URL with an optional glob (`s3://bucket/dir/**/*.jpg`).
    #[arg(value_name = "DIR", required = true, num_args = 1..)]
    pub source: Vec<PathBuf>,
    /// The batch to fill (created by the first upload).
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    #[command(flatten)]
    pub hooks: Hooks,
    #[command(flatten)]
    pub options: IngestArgs,
    #[command(flatten)]
    pub refs: RefsOptions,
    /// How long a bucket's signed URLs stay valid, in seconds [default: 86400].
    #[arg(long, value_name = "SECONDS", help_heading = REFS)]
    pub expiry: Option<u64>,
}

/// Webhook settings.
#[derive(Args, Debug, Clone, Default)]
pub struct Hooks {
    /// Where the service sends ingest webhooks (carried in every shard or request).
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
    /// An id for the ingest in webhooks; for references, it makes a repeat recognisable.
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
}

const REFS: &str = "References (bucket URLs, refs)";

/// Options of references (a bucket's, or a file's).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = REFS)]
pub struct RefsOptions {
    /// References per request [default: 20000 for images, 5000 for videos;
    /// MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST for images].
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<usize>,
    /// Which webhooks the service sends (repeatable).
    #[arg(long, value_name = "CATEGORY", value_parser = known!(NotificationCategory))]
    pub notification_category: Vec<NotificationCategory>,
}

/// How to ingest: shared by `upload` and `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct IngestArgs {
    /// Also take the files in subfolders (named `sub__dir__file.jpg` in the batch).
    #[arg(long)]
    pub recursive: bool,
    /// Follow symbolic links.
    #[arg(long)]
    pub follow_links: bool,
    /// Parallel uploads, 1 to 64 [default: 8].
    #[arg(long, value_name = "N", value_parser = crate::args::parallel)]
    pub parallel: Option<usize>,
    /// The most images per tar shard [default: the service's limit, else 500].
    #[arg(long, value_name = "N")]
    pub shard_size: Option<u64>,
    /// Shards or single-image uploads [default: shards above 32 images, or as before].
    #[arg(long, value_name = "MODE", value_parser = mode())]
    pub mode: Option<UploadMode>,
    /// Where the resume journal lives [default: the user's cache folder].
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Keep no journal: a re-run after an interruption sends everything again.
    #[arg(long, conflicts_with = "journal_dir")]
    pub no_journal: bool,
    #[command(flatten)]
    pub send: SendArgs,
}

/// Options of every upload.
#[derive(Args, Debug, Clone, Default)]
pub struct SendArgs {
    /// The batch's display name (default: its id).
    #[arg(long, value_name = "NAME")]
    pub batch_name: Option<String>,
    /// Do not wait for the service to index the files (a URL's references never are).
    #[arg(long)]
    pub no_verify: bool,
    /// How long to wait for indexing, in seconds [default: 600].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub verify_timeout: Option<Duration>,
    /// Print the plan (files, bytes, units, requests); send nothing but the workspace lookup.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--mode`: the library's upload modes by their short names.
fn mode() -> impl TypedValueParser<Value = UploadMode> {
    PossibleValuesParser::new(["auto", "shards", "single"]).map(|s| match s.as_str() {
        "shards" => UploadMode::Shards,
        "single" => UploadMode::SingleImages,
        _ => UploadMode::Auto,
    })
}

#[derive(Args, Debug)]
pub struct RefsArgs {
    /// A JSONL file of `{"name": …, "url": …}` lines, or an https:// URL of such a file.
    #[arg(value_name = "FILE_OR_URL")]
    pub source: String,
    /// The batch to fill.
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    /// The references are videos.
    #[arg(long)]
    pub videos: bool,
    #[command(flatten)]
    pub hooks: Hooks,
    #[command(flatten)]
    pub send: SendArgs,
    #[command(flatten)]
    pub refs: RefsOptions,
}

#[derive(Args, Debug)]
pub struct RoboqlArgs {
    /// The RoboQL query.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// The batch to fill.
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    /// The batch's display name.
    #[arg(long, value_name = "NAME")]
    pub batch_name: Option<String>,
    #[command(flatten)]
    pub hooks: Hooks,
}

pub fn run(ctx: &Ctx, cmd: UploadCommand) -> Result<(), Failure> {
    let report = match cmd {
        UploadCommand::Images(a) => files(ctx, &a, MediaKind::Images)?,
        UploadCommand::Videos(a) => files(ctx, &a, MediaKind::Videos)?,
        UploadCommand::Refs(a) => {
            let media = [MediaKind::Images, MediaKind::Videos][usize::from(a.videos)];
            let source = match a.source.contains("://") {
                true => Source::references_url(&a.source),
                false => Source::references(&a.source),
            };
            let ingest = Ingest::new(&ctx.api, &a.batch, source).media(media);
            send(ctx, ingest, &a.send, &a.hooks, &a.refs, media)?
        }
        UploadCommand::Roboql(a) => return roboql(ctx, &a),
    };
    report::print_ingest(ctx, &report)?;
    let failure = incomplete(&report).or_else(|| not_sent_failure(&report));
    failure.filter(|_| !report.dry_run).map_or(Ok(()), Err)
}

/// `upload images|videos`: a folder or files, or a bucket.
fn files(ctx: &Ctx, a: &FilesArgs, media: MediaKind) -> Result<IngestReport, Failure> {
    if let Some(url) = bucket_url(&a.source) {
        let expiry = a.expiry.map(Duration::from_secs);
        let source = CloudSource::builder(url).media(media);
        let source = source.maybe(expiry, CloudSourceBuilder::expiry).build()?;
        ctx.out.note(format_args!("listing {}", source.describe()));
        let ingest = Ingest::new(&ctx.api, &a.batch, Source::bucket(source));
        return send(ctx, ingest, &a.options.send, &a.hooks, &a.refs, media);
    }
    ingest(ctx, &a.source, &a.batch, media, &a.options, &a.hooks)
}

/// The bucket URL, when the source is one.
fn bucket_url(paths: &[PathBuf]) -> Option<&str> {
    let [one] = paths else { return None };
    one.to_str().filter(|s| BucketUrl::looks_like(s))
}

/// Runs (or plans) an ingest with the settings every source shares.
fn send(
    ctx: &Ctx,
    mut ingest: Ingest<'_>,
    send: &SendArgs,
    hooks: &Hooks,
    refs: &RefsOptions,
    media: MediaKind,
) -> Result<IngestReport, Failure> {
    ingest = ingest
        .maybe(send.batch_name.clone(), Ingest::display_name)
        .maybe(hooks.notifications_url.clone(), Ingest::notifications_url)
        .maybe(hooks.ingest_id.clone(), Ingest::ingest_id);
    // The official client's variable, for images.
    let env_chunk = std::env::var("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0 && media == MediaKind::Images);
    ingest = ingest.maybe(refs.chunk_size.or(env_chunk), Ingest::chunk_size);
    ingest = ingest.notification_categories(refs.notification_category.iter().cloned());
    ingest = ingest.maybe(send.verify_timeout, Ingest::verify_timeout);
    if send.no_verify {
        ingest = ingest.without_verify();
    }
    match send.dry_run {
        true => Ok(ingest.plan()?),
        false => run_ingest(ctx, ingest),
    }
}

/// The local source for the paths given: one folder, or files.
fn local_source(paths: &[PathBuf], recursive: bool, follow: bool) -> Result<Source, Failure> {
    let src = match paths {
        [one] if one.is_dir() => Source::folder(one).recursive(recursive),
        _ => {
            let bad = |p: &PathBuf, why| Err(Failure::usage(format!("{}{why}", p.display())));
            if let Some(dir) = paths.iter().find(|p| p.is_dir()) {
                return bad(dir, " is a folder: give one folder, or files");
            }
            if let Some(missing) = paths.iter().find(|p| !p.exists()) {
                return bad(missing, ": no such file or folder");
            }
            Source::files(paths.iter().cloned())
        }
    };
    Ok(src.follow_links(follow))
}

/// Ingests local files with progress (a failure when there were none).
pub fn ingest(
    ctx: &Ctx,
    paths: &[PathBuf],
    batch: &str,
    media: MediaKind,
    a: &IngestArgs,
    hooks: &Hooks,
) -> Result<IngestReport, Failure> {
    let src = local_source(paths, a.recursive, a.follow_links)?;
    let mut ingest = Ingest::new(&ctx.api, batch, src)
        .media(media)
        .mode(a.mode.unwrap_or_default())
        .maybe(a.parallel, Ingest::parallelism)
        .maybe(a.shard_size, Ingest::max_images_per_shard)
        .maybe(a.journal_dir.clone(), Ingest::journal_dir);
    if a.no_journal {
        ingest = ingest.without_journal();
    }
    let report = send(ctx, ingest, &a.send, hooks, &RefsOptions::default(), media)?;
    nothing_found(&report, paths, media, a.recursive).map_or(Ok(report), Err)
}

/// The rest of [`send`]: the ingest itself.
fn run_ingest(ctx: &Ctx, ingest: Ingest<'_>) -> Result<IngestReport, Failure> {
    let progress = IngestProgress::new(&ctx.out);
    // Ctrl-C: no new upload starts, those running finish and are journaled.
    let _stop = interrupt::Stoppable::enter();
    let result = ingest
        .cancel_flag(&interrupt::REQUESTED)
        .on_progress(|e| progress.on_event(e))
        .run();
    progress.finish();
    let report = result?;
    if report.cancelled {
        ctx.out.note(format_args!(
            "stopped: {} files uploaded, {} left for the next run",
            report.files_uploaded, report.files_pending
        ));
        return Err(interrupt::failure());
    }
    Ok(report)
}

fn roboql(ctx: &Ctx, a: &RoboqlArgs) -> Result<(), Failure> {
    let (batch, url) = (&a.batch, a.hooks.notifications_url.clone());
    let mut body = RoboQlIngest::new(a.query.as_str())
        .maybe(a.hooks.ingest_id.clone(), RoboQlIngest::ingest_id)
        .maybe(url, RoboQlIngest::notifications_url);
    body.display_name = a.batch_name.clone();
    let response = ctx.api.ingest_roboql(batch, &body)?;
    let accepted = format!("RoboQL ingest into batch {batch} accepted");
    ctx.out
        .answer(json!({"batchId": batch, "response": response}), accepted)?;
    ctx.out
        .note(format_args!("follow it with: rfbatch batch count {batch}"));
    Ok(())
}
