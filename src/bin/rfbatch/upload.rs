//! `rfbatch upload …`: putting data into a batch. Every source (a folder, files, a bucket,
//! a references file or URL) goes through the library's one `Ingest`: this parses the
//! arguments, draws progress and prints the one report.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand, ValueEnum};
use roboflow_batch::ingest::{
    Ingest, IngestMethod, IngestReport, SkipReason, SkippedFile, Source, UploadMode, Verification,
};
use roboflow_batch::model::{MediaKind, NotificationCategory, RoboQlIngest};
use serde_json::json;

use crate::context::Ctx;
use crate::download::human_bytes;
use crate::exit::{Class, Failure};
use crate::ingest_progress::IngestProgress;
use crate::interrupt;

#[derive(Subcommand)]
pub enum UploadCommand {
    /// Uploads a folder of images: tar shards streamed in parallel (single uploads for 32
    /// or fewer), resumed after an interruption, then verified. A bucket URL is listed and
    /// signed here, and its objects sent as references.
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
    /// A folder, one or more files, or a bucket URL with an optional glob
    /// (`s3://bucket/prefix/**/*.jpg`, `gs://…`, `az://container/…`): the service then
    /// fetches each object by a URL signed here with your cloud credentials.
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
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "References (bucket URLs, refs)"
    )]
    pub expiry: Option<u64>,
}

/// Webhook settings.
#[derive(Args, Debug, Clone, Default)]
pub struct Hooks {
    /// Where the service sends ingest webhooks (carried in every shard or request).
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
    /// An id for the ingest: it names it in webhooks (a folder's shards carry it only with
    /// --notifications-url), and for references it makes a repeated request recognisable.
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
}

/// Options of references (a bucket's, or a file's).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "References (bucket URLs, refs)")]
pub struct RefsOptions {
    /// References per request [default: 20000 for images, 5000 for videos;
    /// MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST for images].
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<usize>,
    /// Which webhooks the service sends (repeatable).
    #[arg(long, value_name = "CATEGORY", value_parser = PossibleValuesParser::new(NotificationCategory::KNOWN.iter().copied()))]
    pub notification_category: Vec<String>,
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
    #[arg(long, value_name = "N", value_parser = crate::cli::parallel)]
    pub parallel: Option<usize>,
    /// The most images per tar shard [default: what the service allows, 500 when it does not
    /// say].
    #[arg(long, value_name = "N")]
    pub shard_size: Option<u64>,
    /// Shards or single-image uploads [default: shards above 32 images, or as the batch
    /// was filled].
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<Mode>,
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
    /// Do not wait for the service to index the files (a URL's references are never
    /// verified: their names are not known here).
    #[arg(long)]
    pub no_verify: bool,
    /// How long to wait for indexing, in seconds [default: 600].
    #[arg(long, value_name = "SECONDS")]
    pub verify_timeout: Option<f64>,
    /// Print the plan (files found and skipped, bytes, units, requests) and send nothing
    /// but the workspace lookup.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    Auto,
    Shards,
    Single,
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
    let (report, send) = match cmd {
        UploadCommand::Images(a) => (files(ctx, &a, MediaKind::Images)?, a.options.send),
        UploadCommand::Videos(a) => (files(ctx, &a, MediaKind::Videos)?, a.options.send),
        UploadCommand::Refs(a) => {
            let media = if a.videos {
                MediaKind::Videos
            } else {
                MediaKind::Images
            };
            let source = match a.source.contains("://") {
                true => Source::references_url(&a.source),
                false => Source::references(&a.source),
            };
            let ingest = Ingest::new(&ctx.api, &a.batch, source).media(media);
            let ingest = configure(ingest, &a.send, &a.hooks, &a.refs, media)?;
            (ingest_with_progress(ctx, ingest, a.send.dry_run)?, a.send)
        }
        UploadCommand::Roboql(a) => return roboql(ctx, &a),
    };
    print_report(ctx, &report)?;
    match send.dry_run {
        true => Ok(()),
        false => report_failure(&report).map_or(Ok(()), Err),
    }
}

/// `upload images|videos`: a folder or files, or a bucket.
fn files(ctx: &Ctx, a: &FilesArgs, media: MediaKind) -> Result<IngestReport, Failure> {
    if let Some(url) = bucket_url(&a.source) {
        let mut b = roboflow_batch::cloud::CloudSource::builder(url).media(media);
        if let Some(secs) = a.expiry {
            b = b.expiry(Duration::from_secs(secs));
        }
        let source = b.build()?;
        ctx.out.note(format_args!("listing {}", source.describe()));
        let ingest = Ingest::new(&ctx.api, &a.batch, Source::bucket(source));
        let ingest = configure(ingest, &a.options.send, &a.hooks, &a.refs, media)?;
        return ingest_with_progress(ctx, ingest, a.options.send.dry_run);
    }
    let report = ingest(ctx, &a.source, &a.batch, media, &a.options, &a.hooks)?;
    nothing_found(&report, &a.source, media, a.options.recursive).map_or(Ok(report), Err)
}

/// The bucket URL, when the source is one.
fn bucket_url(paths: &[PathBuf]) -> Option<&str> {
    match paths {
        [one] => one
            .to_str()
            .filter(|s| ["s3://", "gs://", "az://"].iter().any(|p| s.starts_with(p))),
        _ => None,
    }
}

/// The settings every source shares.
fn configure<'a>(
    mut ingest: Ingest<'a>,
    send: &SendArgs,
    hooks: &Hooks,
    refs: &RefsOptions,
    media: MediaKind,
) -> Result<Ingest<'a>, Failure> {
    if let Some(n) = &send.batch_name {
        ingest = ingest.display_name(n.as_str());
    }
    if let Some(u) = &hooks.notifications_url {
        ingest = ingest.notifications_url(u.as_str());
    }
    if let Some(id) = &hooks.ingest_id {
        ingest = ingest.ingest_id(id.as_str());
    }
    // The official client's variable, for images.
    let env_chunk = std::env::var("MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0 && media == MediaKind::Images);
    if let Some(n) = refs.chunk_size.or(env_chunk) {
        ingest = ingest.chunk_size(n);
    }
    ingest = ingest.notification_categories(
        refs.notification_category
            .iter()
            .map(|c| NotificationCategory::parse(c)),
    );
    Ok(match (send.no_verify, send.verify_timeout) {
        (true, _) => ingest.without_verify(),
        (false, None) => ingest,
        (false, Some(secs)) => {
            let t = Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--verify-timeout must be a positive number of seconds, got {secs}"
                    ))
                })?;
            ingest.verify_timeout(t)
        }
    })
}

/// The local source for the paths given: one folder, or files.
fn local_source(paths: &[PathBuf], recursive: bool, follow: bool) -> Result<Source, Failure> {
    let src = match paths {
        [one] if one.is_dir() => Source::folder(one).recursive(recursive),
        _ => {
            if let Some(dir) = paths.iter().find(|p| p.is_dir()) {
                return Err(Failure::usage(format!(
                    "{} is a folder: give one folder, or files",
                    dir.display()
                )));
            }
            if let Some(missing) = paths.iter().find(|p| !p.exists()) {
                return Err(Failure::usage(format!(
                    "{}: no such file or folder",
                    missing.display()
                )));
            }
            Source::files(paths.iter().cloned())
        }
    };
    Ok(src.follow_links(follow))
}

/// Ingests local files with progress and returns the report; the caller decides the exit.
pub fn ingest(
    ctx: &Ctx,
    paths: &[PathBuf],
    batch: &str,
    media: MediaKind,
    a: &IngestArgs,
    hooks: &Hooks,
) -> Result<IngestReport, Failure> {
    let src = local_source(paths, a.recursive, a.follow_links)?;
    let mut ingest = Ingest::new(&ctx.api, batch, src).media(media);
    if let Some(n) = a.parallel {
        ingest = ingest.parallelism(n);
    }
    if let Some(n) = a.shard_size {
        ingest = ingest.max_images_per_shard(n);
    }
    ingest = ingest.mode(match a.mode {
        None | Some(Mode::Auto) => UploadMode::Auto,
        Some(Mode::Shards) => UploadMode::Shards,
        Some(Mode::Single) => UploadMode::SingleImages,
    });
    if let Some(dir) = &a.journal_dir {
        ingest = ingest.journal_dir(dir.as_path());
    }
    if a.no_journal {
        ingest = ingest.without_journal();
    }
    let ingest = configure(ingest, &a.send, hooks, &RefsOptions::default(), media)?;
    ingest_with_progress(ctx, ingest, a.send.dry_run)
}

/// Runs (or plans) an ingest with progress bars, Ctrl-C stopping it cleanly.
fn ingest_with_progress(
    ctx: &Ctx,
    ingest: Ingest<'_>,
    dry_run: bool,
) -> Result<IngestReport, Failure> {
    if dry_run {
        return Ok(ingest.plan()?);
    }
    let progress = IngestProgress::new(&ctx.out);
    // Ctrl-C: no new upload starts, those running finish and are journaled.
    let stop = interrupt::Stoppable::enter();
    let result = ingest
        .cancel_flag(interrupt::flag_ref())
        .on_progress(|e| progress.on_event(e))
        .run();
    progress.finish();
    let report = result?;
    if report.cancelled {
        ctx.out.note(format_args!(
            "stopped: {} files uploaded, {} left for the next run",
            report.files_uploaded, report.files_pending
        ));
        stop.check()?;
        return Err(interrupt::failure());
    }
    Ok(report)
}

/// A usage failure when the source held nothing to send: an empty folder, a wrong one, or
/// files that were all skipped. Without it the command "succeeds" with 0 files, and `run`
/// goes on to a job over a batch that does not exist.
pub fn nothing_found(
    r: &IngestReport,
    paths: &[PathBuf],
    media: MediaKind,
    recursive: bool,
) -> Option<Failure> {
    if r.files_found > 0 || r.files_resumed > 0 {
        return None;
    }
    let noun = media_noun(media);
    let place = match paths {
        [one] => one.display().to_string(),
        _ => format!("the {} files given", paths.len()),
    };
    let mut message = format!("found no {noun} to upload in {place}");
    if let Some(first) = r.skipped.first() {
        message.push_str(&format!(
            "; {} skipped, the first: {first}",
            r.skipped.len()
        ));
    }
    let has_subfolders = |p: &PathBuf| {
        std::fs::read_dir(p)
            .map(|d| d.flatten().any(|e| e.path().is_dir()))
            .unwrap_or(false)
    };
    let hint = match paths {
        [one] if !recursive && has_subfolders(one) => {
            "it has subfolders: add --recursive to take the files in them".to_string()
        }
        _ => format!(
            "{noun} are taken by extension, in any case: {}",
            media.extensions().join(", ")
        ),
    };
    Some(Failure::usage(message).with_hint(hint))
}

fn media_noun(media: MediaKind) -> &'static str {
    match media {
        MediaKind::Videos => "videos",
        _ => "images",
    }
}

fn roboql(ctx: &Ctx, a: &RoboqlArgs) -> Result<(), Failure> {
    let mut body = RoboQlIngest::new(a.query.as_str());
    body.display_name = a.batch_name.clone();
    if let Some(id) = &a.hooks.ingest_id {
        body = body.with_ingest_id(id.as_str());
    }
    if let Some(u) = &a.hooks.notifications_url {
        body = body.with_notifications_url(u.as_str());
    }
    let answer = ctx.api.ingest_roboql(&a.batch, &body)?;
    if ctx.out.is_json() {
        return ctx
            .out
            .json(&json!({"batchId": a.batch, "response": answer}));
    }
    ctx.out.line(format_args!(
        "RoboQL ingest into batch {} accepted",
        a.batch
    ))?;
    ctx.out.note(format_args!(
        "follow it with: rfbatch batch count {}",
        a.batch
    ));
    Ok(())
}

/// Prints the report: JSON, or a few lines for people.
pub fn print_report(ctx: &Ctx, r: &IngestReport) -> Result<(), Failure> {
    if ctx.out.is_json() {
        return ctx.out.json(r);
    }
    ctx.out.line(summary(r))?;
    let refs = r.method == IngestMethod::References;
    match &r.verification {
        Some(v) => {
            let verb = if refs {
                "fetched and indexed"
            } else {
                "indexed"
            };
            ctx.out.line(verification_line(v, r.failed.len(), verb))?;
        }
        None if refs && !r.dry_run => ctx.out.note(format_args!(
            "the service fetches the files now; follow it with: rfbatch batch shards {}",
            r.batch_id
        )),
        None => {}
    }
    for f in &r.failed {
        ctx.out.line(format_args!("failed {f}"))?;
    }
    for s in &r.skipped {
        ctx.out.line(format_args!("skipped {s}"))?;
    }
    for w in &r.warnings {
        ctx.out.line(format_args!("warning: {w}"))?;
    }
    Ok(())
}

/// `fetched and indexed 3 of 4 files, 1 failed (the batch holds 3)`; and when none made it,
/// plainly so: `none of the 4 files was fetched and indexed: all 4 failed (…)`.
fn verification_line(v: &Verification, failed: usize, verb: &str) -> String {
    let timed_out = if v.timed_out {
        "; verification timed out"
    } else {
        ""
    };
    let holds = format!("the batch holds {}", v.batch_count);
    if v.indexed == 0 && failed > 0 && v.expected == 0 {
        return format!(
            "none of the {failed} files was {verb}: all {failed} failed, reasons below ({holds}){timed_out}"
        );
    }
    // The expected files leave out those that failed: count them back in.
    let total = v.expected + failed as u64;
    let failed = if failed > 0 {
        format!(", {failed} failed")
    } else {
        String::new()
    };
    format!(
        "{verb} {} of {total} files{failed} ({holds}){timed_out}",
        v.indexed
    )
}

/// One line for people: what was sent, how fast, what an earlier run had sent.
///
/// The rates are over the upload time printed next to them; the whole ingest (discovery,
/// planning, verification) is given apart, so the line never contradicts itself.
pub fn summary(r: &IngestReport) -> String {
    let refs = r.method == IngestMethod::References;
    if r.dry_run {
        let what = if refs { "references" } else { "files" };
        let requests: Vec<String> = r.requests.iter().map(|(k, n)| format!("{k} {n}")).collect();
        return format!(
            "plan: {} {what} ({}) to batch {} as {} in {} units, {} skipped; requests: {}; nothing sent",
            r.files_found,
            human_bytes(r.bytes_found),
            r.batch_id,
            r.method,
            r.units_planned,
            r.skipped.len(),
            requests.join(", ")
        );
    }
    let upload = r.upload_duration.as_secs_f64();
    let mut s = if refs {
        let mut s = format!(
            "sent {} references to batch {} in {} requests",
            r.files_uploaded, r.batch_id, r.units_uploaded
        );
        if r.listing_pages > 0 {
            s.push_str(&format!(" ({} listing pages)", r.listing_pages));
        }
        s
    } else if r.files_uploaded == 0 {
        format!("nothing new uploaded to batch {}", r.batch_id)
    } else {
        let mut s = format!(
            "uploaded {} files ({}) to batch {} as {} in {}",
            r.files_uploaded,
            human_bytes(r.bytes_uploaded),
            r.batch_id,
            r.method,
            human_secs(r.upload_duration),
        );
        if upload > 0.0 {
            s.push_str(&format!(
                " ({:.0} files/s, {}/s)",
                r.files_uploaded as f64 / upload,
                human_bytes((r.bytes_uploaded as f64 / upload) as u64)
            ));
        }
        s
    };
    if r.files_resumed > 0 {
        let verb = if refs { "sent" } else { "uploaded" };
        s.push_str(&format!("; {} already {verb} before", r.files_resumed));
    }
    if r.retries > 0 {
        s.push_str(&format!("; {} retries", r.retries));
    }
    if r.requests.total() > 0 {
        s.push_str(&format!("; {} requests", r.requests.total()));
    }
    // Only when it differs at the precision shown.
    if !refs
        && human_secs(r.duration) != human_secs(r.upload_duration)
        && r.duration > r.upload_duration
    {
        let what = if r.verification.is_some() {
            "verification included"
        } else {
            "discovery and planning included"
        };
        s.push_str(&format!("; {} in all, {what}", human_secs(r.duration)));
    }
    s
}

/// A duration with three significant digits or so: `14 ms`, `2.35 s`, `61.2 s`, so that a
/// rate computed over it can be checked against it.
pub fn human_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 10.0 {
        format!("{secs:.2} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// Files found but not sent for what they are (too large, empty, unreadable, a name that is
/// not UTF-8): files that did not make it. Files left out by choice or kind (links not
/// followed, other extensions) are not among them.
pub fn not_sent(r: &IngestReport) -> Vec<&SkippedFile> {
    r.skipped
        .iter()
        .filter(|s| {
            matches!(
                s.reason,
                SkipReason::TooLarge
                    | SkipReason::Empty
                    | SkipReason::Unreadable
                    | SkipReason::NotUtf8
            )
        })
        .collect()
}

/// A partial failure for files that were skipped as [`not_sent`] (the report names them).
pub fn not_sent_failure(r: &IngestReport) -> Option<Failure> {
    let lost = not_sent(r);
    let first = lost.first()?;
    let hint = if lost.iter().any(|s| s.reason == SkipReason::TooLarge) {
        "the service takes images up to 20 MiB: shrink or leave out the files over the limit"
    } else {
        "check those files: sending them again will not help until they change"
    };
    let msg = format!(
        "{} files were not sent to batch {} (the first: {first})",
        lost.len(),
        r.batch_id
    );
    Some(Failure::new(Class::Partial, msg).with_hint(hint))
}

/// A partial failure when files failed, were not confirmed indexed, or were skipped as
/// [`not_sent`].
pub fn report_failure(r: &IngestReport) -> Option<Failure> {
    incomplete(r).or_else(|| not_sent_failure(r))
}

/// A partial failure when files failed or were not confirmed indexed.
pub fn incomplete(r: &IngestReport) -> Option<Failure> {
    if r.is_success() {
        return None;
    }
    let (what, hint) = match r.method {
        // A re-run with the same ingest ids is answered as a repeat and fetches nothing.
        IngestMethod::References if r.failed.is_empty() => (
            "reference",
            format!(
                "the service may still be fetching: follow it with: rfbatch batch shards {}",
                r.batch_id
            ),
        ),
        IngestMethod::References => (
            "reference",
            "fix those references, then send them again with a new --ingest-id".to_string(),
        ),
        _ => (
            "file",
            "run the same command again: it sends only what is missing".to_string(),
        ),
    };
    let msg = if r.failed.is_empty() {
        format!(
            "not every {what} of batch {} was confirmed indexed",
            r.batch_id
        )
    } else {
        format!(
            "{} {what}s did not make it into batch {}",
            r.failed.len(),
            r.batch_id
        )
    };
    Some(Failure::new(Class::Partial, msg).with_hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(files: u64, bytes: u64, upload_ms: u64, total_ms: u64) -> IngestReport {
        let mut r = IngestReport::new("b", IngestMethod::Shards);
        r.files_uploaded = files;
        r.bytes_uploaded = bytes;
        r.upload_duration = Duration::from_millis(upload_ms);
        r.duration = Duration::from_millis(total_ms);
        r
    }

    #[test]
    fn the_summary_rates_agree_with_the_time_shown_next_to_them() {
        // 200 files sent in 20 ms, 500 ms in all: the rates are over the 20 ms.
        let s = summary(&report(200, 200 * 4096, 20, 500));
        assert!(s.contains("in 20 ms (10000 files/s, 39.1 MiB/s)"), "{s}");
        assert!(
            s.ends_with("; 500 ms in all, discovery and planning included"),
            "{s}"
        );
        // Equal times: one duration only.
        let s = summary(&report(10, 1024, 1000, 1000));
        assert!(s.ends_with("in 1.00 s (10 files/s, 1.0 KiB/s)"), "{s}");
        let mut r = report(0, 0, 0, 300);
        r.files_resumed = 40;
        let s = summary(&r);
        assert!(
            s.starts_with("nothing new uploaded to batch b; 40 already uploaded before"),
            "{s}"
        );
        assert!(!s.contains("files/s"), "{s}");
    }

    #[test]
    fn verification_says_plainly_when_nothing_made_it() {
        let v = |indexed, expected| Verification {
            indexed,
            expected,
            batch_count: indexed,
            complete: indexed == expected,
            timed_out: false,
            waited: Duration::ZERO,
        };
        let verb = "fetched and indexed";
        assert_eq!(
            verification_line(&v(0, 0), 4, verb),
            "none of the 4 files was fetched and indexed: all 4 failed, reasons below (the batch holds 0)"
        );
        assert_eq!(
            verification_line(&v(3, 3), 1, verb),
            "fetched and indexed 3 of 4 files, 1 failed (the batch holds 3)"
        );
        assert_eq!(
            verification_line(&v(5, 5), 0, "indexed"),
            "indexed 5 of 5 files (the batch holds 5)"
        );
    }
}
