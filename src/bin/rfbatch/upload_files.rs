//! `rfbatch upload images` and `upload videos`: local files into a batch, on the library's
//! `Ingest` (parallel streaming shards, resume journal, verification).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use roboflow_batch::cloud::{CloudSource, ReferencesIngestOptions, ingest_references};
use roboflow_batch::ingest::{
    FailedFile, Ingest, IngestReport, LocalSource, MediaKind, ProgressFn, SkipReason, SkippedFile,
    UploadMode, Verification,
};
use roboflow_batch::model::NotificationCategory;
use roboflow_batch::wait::WaitOptions;

use crate::context::Ctx;
use crate::download::human_bytes;
use crate::exit::{Class, Failure};
use crate::ingest_progress::IngestProgress;
use crate::interrupt;

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
    /// Where the service sends ingest webhooks (carried in every shard).
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
    /// An id for the ingest: it names it in webhooks (a folder's shards carry it only with
    /// --notifications-url), and for a bucket it makes a repeated request recognisable.
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
    #[command(flatten)]
    pub options: IngestArgs,
    #[command(flatten)]
    pub bucket: BucketArgs,
}

/// Options of a bucket source.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Bucket sources (s3://, gs://, az://)")]
pub struct BucketArgs {
    /// How long the signed URLs stay valid, in seconds [default: 86400].
    #[arg(long, value_name = "SECONDS")]
    pub expiry: Option<u64>,
    /// References per request [default: 20000 for images, 5000 for videos].
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<usize>,
    /// Which webhooks the service sends (repeatable).
    #[arg(long, value_name = "CATEGORY", value_parser = clap::builder::PossibleValuesParser::new(NotificationCategory::KNOWN.iter().copied()))]
    pub notification_category: Vec<String>,
}

/// How to ingest: shared by `upload images` and `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct IngestArgs {
    /// Also take the files in subfolders (named `sub__dir__file.jpg` in the batch).
    #[arg(long)]
    pub recursive: bool,
    /// Follow symbolic links.
    #[arg(long)]
    pub follow_links: bool,
    /// The batch's display name (default: its id).
    #[arg(long, value_name = "NAME")]
    pub batch_name: Option<String>,
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
    /// Do not wait for the service to index the files.
    #[arg(long)]
    pub no_verify: bool,
    /// How long to wait for indexing, in seconds [default: the library's].
    #[arg(long, value_name = "SECONDS")]
    pub verify_timeout: Option<f64>,
    /// Where the resume journal lives [default: the user's cache folder].
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Keep no journal: a re-run after an interruption sends everything again.
    #[arg(long, conflicts_with = "journal_dir")]
    pub no_journal: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    Auto,
    Shards,
    Single,
}

/// The local source for the paths given: one folder, or files.
fn source(paths: &[PathBuf], recursive: bool, follow: bool) -> Result<LocalSource, Failure> {
    let src = match paths {
        [one] if one.is_dir() => LocalSource::dir(one).recursive(recursive),
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
            LocalSource::files(paths.iter().cloned())
        }
    };
    Ok(src.follow_links(follow))
}

/// Webhook settings of an ingest.
#[derive(Default)]
pub struct Webhooks<'a> {
    pub url: Option<&'a str>,
    pub ingest_id: Option<&'a str>,
}

/// Runs the ingest with progress and returns its report; the caller decides the exit.
pub fn ingest(
    ctx: &Ctx,
    paths: &[PathBuf],
    batch: &str,
    videos: bool,
    a: &IngestArgs,
    hooks: &Webhooks<'_>,
) -> Result<IngestReport, Failure> {
    let src = source(paths, a.recursive, a.follow_links)?;
    let mut ingest = if videos {
        Ingest::videos(&ctx.api, batch, src)
    } else {
        Ingest::images(&ctx.api, batch, src)
    };
    if let Some(n) = &a.batch_name {
        ingest = ingest.display_name(n.as_str());
    }
    if let Some(u) = hooks.url {
        ingest = ingest.notifications_url(u);
    }
    if let Some(id) = hooks.ingest_id {
        ingest = ingest.ingest_id(id);
    }
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
    ingest = match verify_options(a.no_verify, a.verify_timeout)? {
        Some(w) => ingest.verify(w),
        None => ingest.without_verify(),
    };
    let progress = IngestProgress::new(&ctx.out);
    let p = Arc::clone(&progress);
    // Ctrl-C: no new upload starts, those running finish and are journaled.
    let stop = interrupt::Stoppable::enter();
    let result = ingest
        .cancel_flag(interrupt::flag())
        .on_progress(move |e| p.on_event(e))
        .run();
    progress.finish();
    let report = result?;
    if let Some(f) = nothing_found(&report, paths, videos, a.recursive) {
        return Err(f);
    }
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
fn nothing_found(
    r: &IngestReport,
    paths: &[PathBuf],
    videos: bool,
    recursive: bool,
) -> Option<Failure> {
    if r.files_found > 0 || r.files_resumed > 0 {
        return None;
    }
    let kind = if videos {
        MediaKind::Videos
    } else {
        MediaKind::Images
    };
    let noun = if videos { "videos" } else { "images" };
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
            kind.extensions().join(", ")
        ),
    };
    Some(Failure::usage(message).with_hint(hint))
}

/// How verification waits (`None`: `--no-verify`).
pub fn verify_options(
    no_verify: bool,
    timeout: Option<f64>,
) -> Result<Option<WaitOptions>, Failure> {
    if no_verify {
        return Ok(None);
    }
    let defaults = roboflow_batch::ingest::default_verify_options();
    let Some(secs) = timeout else {
        return Ok(Some(defaults));
    };
    let t = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--verify-timeout must be a positive number of seconds, got {secs}"
            ))
        })?;
    Ok(Some(defaults.with_timeout(t)))
}

/// The bucket URL, when the source is one.
fn bucket_url(args: &FilesArgs) -> Option<&str> {
    match args.source.as_slice() {
        [one] => one
            .to_str()
            .filter(|s| ["s3://", "gs://", "az://"].iter().any(|p| s.starts_with(p))),
        _ => None,
    }
}

/// A bucket's objects, signed here and ingested by reference.
fn upload_bucket(ctx: &Ctx, url: &str, args: &FilesArgs, videos: bool) -> Result<(), Failure> {
    let media = if videos {
        MediaKind::Videos
    } else {
        MediaKind::Images
    };
    let mut builder = CloudSource::builder(url).media(media);
    if let Some(secs) = args.bucket.expiry {
        builder = builder.expiry(Duration::from_secs(secs));
    }
    let source = builder.build()?;
    let opts = ReferencesIngestOptions {
        ingest_id: args.ingest_id.clone(),
        chunk_size: args.bucket.chunk_size,
        display_name: args.options.batch_name.clone(),
        notifications_url: args.notifications_url.clone(),
        notification_categories: args
            .bucket
            .notification_category
            .iter()
            .map(|c| NotificationCategory::parse(c))
            .collect(),
        verify: verify_options(args.options.no_verify, args.options.verify_timeout)?,
        ..ReferencesIngestOptions::default()
    };
    ctx.out.note(format_args!("listing {}", source.describe()));
    let progress = IngestProgress::new(&ctx.out);
    let p = Arc::clone(&progress);
    let on_event: ProgressFn = Arc::new(move |e| p.on_event(e));
    let result = ingest_references(&ctx.api, &args.batch, &source, &opts, &on_event);
    progress.finish();
    let r = result?;
    if ctx.out.is_json() {
        let mut v = serde_json::to_value(&r.report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("ingestIds".into(), serde_json::json!(r.ingest_ids));
            o.insert(
                "duplicatedChunks".into(),
                serde_json::json!(r.duplicated_chunks),
            );
            o.insert("listingPages".into(), serde_json::json!(r.listing_pages));
            o.insert("requests".into(), serde_json::json!(r.requests));
        }
        ctx.out.json(&v)?;
    } else {
        let verified = r.report.verification.is_some();
        ctx.out.line(format_args!(
            "sent {} references to batch {} in {} requests ({} listing pages){}{}",
            r.report.files_uploaded,
            r.report.batch_id,
            r.requests,
            r.listing_pages,
            if r.report.files_resumed > 0 {
                format!(", {} already sent before", r.report.files_resumed)
            } else {
                String::new()
            },
            if verified {
                ""
            } else {
                "; the service fetches the files now"
            }
        ))?;
        print_details(ctx, &r.report, "fetched and indexed")?;
        if !verified {
            ctx.out.note(format_args!(
                "follow it with: rfbatch batch shards {}",
                r.report.batch_id
            ));
        }
    }
    match report_failure(&r.report) {
        None => Ok(()),
        Some(f) => Err(f.with_hint(references_hint(
            &r.report.batch_id,
            r.report.failed.is_empty(),
        ))),
    }
}

/// What to do when references were not all confirmed: a re-run with the same ingest ids is
/// answered as a repeat and fetches nothing.
pub fn references_hint(batch: &str, none_failed: bool) -> String {
    if none_failed {
        format!("the service may still be fetching: follow it with: rfbatch batch shards {batch}")
    } else {
        "fix those references, then send them again with a new --ingest-id".into()
    }
}

/// `rfbatch upload images|videos`.
pub fn upload(ctx: &Ctx, args: &FilesArgs, videos: bool) -> Result<(), Failure> {
    if let Some(url) = bucket_url(args) {
        return upload_bucket(ctx, url, args, videos);
    }
    let hooks = Webhooks {
        url: args.notifications_url.as_deref(),
        ingest_id: args.ingest_id.as_deref(),
    };
    let report = ingest(
        ctx,
        &args.source,
        &args.batch,
        videos,
        &args.options,
        &hooks,
    )?;
    print_report(ctx, &report)?;
    report_failure(&report).map_or(Ok(()), Err)
}

/// The lines under a report's summary: what verification confirmed (`verb`: what the
/// service did), then skips, failures and warnings.
fn print_details(ctx: &Ctx, r: &IngestReport, verb: &str) -> Result<(), Failure> {
    match &r.verification {
        Some(v) => print_verification(ctx, v, &r.failed, verb)?,
        None => {
            for f in &r.failed {
                ctx.out.line(format_args!("failed {f}"))?;
            }
        }
    }
    for s in &r.skipped {
        ctx.out.line(format_args!("skipped {s}"))?;
    }
    for w in &r.warnings {
        ctx.out.line(format_args!("warning: {w}"))?;
    }
    Ok(())
}

/// `{verb} 3 of 4 files (the batch holds 3)`, then a line per file in `failed`.
pub fn print_verification(
    ctx: &Ctx,
    v: &Verification,
    failed: &[FailedFile],
    verb: &str,
) -> Result<(), Failure> {
    ctx.out.line(verification_line(v, failed.len(), verb))?;
    for f in failed {
        ctx.out.line(format_args!("failed {f}"))?;
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

/// Prints the report: JSON, or a few lines for people.
pub fn print_report(ctx: &Ctx, r: &IngestReport) -> Result<(), Failure> {
    if ctx.out.is_json() {
        return ctx.out.json(r);
    }
    ctx.out.line(summary(r))?;
    print_details(ctx, r, "indexed")
}

/// `uploaded 1000 files (120.3 MiB) to batch b as tar shards in 4.10 s (244 files/s,
/// 29.3 MiB/s); 5.62 s in all, verification included`.
///
/// The rates are over the upload time printed next to them; the whole ingest (discovery,
/// planning, verification) is given apart, so the line never contradicts itself.
pub fn summary(r: &IngestReport) -> String {
    let upload = r.upload_duration.as_secs_f64();
    let total = r.duration.as_secs_f64();
    let mut s = if r.files_uploaded == 0 {
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
        s.push_str(&format!("; {} already uploaded before", r.files_resumed));
    }
    if r.retries > 0 {
        s.push_str(&format!("; {} retries", r.retries));
    }
    // Only when it differs at the precision shown.
    if human_secs(r.duration) != human_secs(r.upload_duration) && total > upload {
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
    Some(
        Failure::new(
            Class::Partial,
            format!(
                "{} files were not sent to batch {} (the first: {first})",
                lost.len(),
                r.batch_id
            ),
        )
        .with_hint(hint),
    )
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
    let msg = if r.failed.is_empty() {
        format!(
            "not every file of batch {} was confirmed indexed",
            r.batch_id
        )
    } else {
        format!(
            "{} files did not make it into batch {}",
            r.failed.len(),
            r.batch_id
        )
    };
    Some(
        Failure::new(Class::Partial, msg)
            .with_hint("run the same command again: it sends only what is missing"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use roboflow_batch::ingest::IngestMethod;

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
        let r = report(200, 200 * 4096, 20, 500);
        let s = summary(&r);
        assert!(s.contains("in 20 ms (10000 files/s, 39.1 MiB/s)"), "{s}");
        assert!(
            s.ends_with("; 500 ms in all, discovery and planning included"),
            "{s}"
        );
        // Equal times: one duration only.
        let s = summary(&report(10, 1024, 1000, 1000));
        assert!(s.ends_with("in 1.00 s (10 files/s, 1.0 KiB/s)"), "{s}");
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

    #[test]
    fn a_run_with_nothing_new_says_so_without_rates() {
        let mut r = report(0, 0, 0, 300);
        r.files_resumed = 40;
        let s = summary(&r);
        assert!(
            s.starts_with("nothing new uploaded to batch b; 40 already uploaded before"),
            "{s}"
        );
        assert!(!s.contains("files/s"), "{s}");
    }
}
