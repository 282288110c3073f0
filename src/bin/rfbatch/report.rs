//! Printing what a command did: the one ingest report (of `upload` and `run`), the export
//! report, and the failures (exit codes) they amount to.

use std::path::PathBuf;

use roboflow_batch::export::ExportReport;
use roboflow_batch::ingest::{IngestMethod, IngestReport, SkipReason, Verification};
use roboflow_batch::model::MediaKind;
use serde_json::json;

use crate::context::Ctx;
use crate::exit::{Class, Failure};
use crate::output::{encoded, human_bytes, human_rate, human_secs};

/// A usage failure when the source held nothing to send, lest `run` start a job over a
/// batch that does not exist.
pub fn nothing_found(
    r: &IngestReport,
    paths: &[PathBuf],
    media: MediaKind,
    recursive: bool,
) -> Option<Failure> {
    if r.files_found > 0 || r.files_resumed > 0 {
        return None;
    }
    let videos = media == MediaKind::Videos;
    let noun = if videos { "videos" } else { "images" };
    let place = match paths {
        [one] => one.display().to_string(),
        _ => format!("the {} files given", paths.len()),
    };
    let mut message = format!("found no {noun} to upload in {place}");
    if let Some(first) = r.skipped.first() {
        let n = r.skipped.len();
        message.push_str(&format!("; {n} skipped, the first: {first}"));
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
        _ => {
            let extensions = media.extensions().join(", ");
            format!("{noun} are taken by extension, in any case: {extensions}")
        }
    };
    Some(Failure::usage(message).with_hint(hint))
}

/// Prints the report: JSON, or a few lines for people.
pub fn print_ingest(ctx: &Ctx, r: &IngestReport) -> Result<(), Failure> {
    if ctx.out.is_json() {
        return ctx.out.json(r);
    }
    ctx.out.line(summary(r))?;
    let refs = r.method == IngestMethod::References;
    match &r.verification {
        Some(v) => ctx.out.line(verification_line(v, r.failed.len(), refs))?,
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
fn verification_line(v: &Verification, failed: usize, refs: bool) -> String {
    let verb = format!("{}indexed", if refs { "fetched and " } else { "" });
    let timed_out = v.timed_out.then_some("; verification timed out");
    let end = format!(
        "(the batch holds {}){}",
        v.batch_count,
        timed_out.unwrap_or_default()
    );
    if v.indexed == 0 && failed > 0 && v.expected == 0 {
        return format!(
            "none of the {failed} files was {verb}: all {failed} failed, reasons below {end}"
        );
    }
    // The expected files leave out those that failed: count them back in.
    let total = v.expected + failed as u64;
    let failed = (failed > 0).then(|| format!(", {failed} failed"));
    let failed = failed.unwrap_or_default();
    format!("{verb} {} of {total} files{failed} {end}", v.indexed)
}

/// One line for people: what was sent, how fast (over the upload time shown next to the
/// rates; the whole ingest's time apart), what an earlier run had sent.
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
    let mut s = if refs {
        let pages = (r.listing_pages > 0).then(|| format!(" ({} listing pages)", r.listing_pages));
        let (n, batch, requests) = (r.files_uploaded, &r.batch_id, r.units_uploaded);
        format!(
            "sent {n} references to batch {batch} in {requests} requests{}",
            pages.unwrap_or_default()
        )
    } else if r.files_uploaded == 0 {
        format!("nothing new uploaded to batch {}", r.batch_id)
    } else {
        let (up, secs) = (r.upload_duration, r.upload_duration.as_secs_f64());
        let rates = (secs > 0.0).then(|| {
            let files = r.files_per_sec();
            format!(
                " ({files:.0} files/s, {})",
                human_rate(r.bytes_uploaded, up)
            )
        });
        format!(
            "uploaded {} files ({}) to batch {} as {} in {}{}",
            r.files_uploaded,
            human_bytes(r.bytes_uploaded),
            r.batch_id,
            r.method,
            human_secs(up),
            rates.unwrap_or_default()
        )
    };
    let verb = if refs { "sent" } else { "uploaded" };
    let what = if r.verification.is_some() {
        "verification"
    } else {
        "discovery and planning"
    };
    // The whole time only when it differs at the precision shown.
    let all = human_secs(r.duration);
    let apart = !refs && all != human_secs(r.upload_duration) && r.duration > r.upload_duration;
    let requests = r.requests.total();
    let more = [
        (r.files_resumed > 0).then(|| format!("{} already {verb} before", r.files_resumed)),
        (r.retries > 0).then(|| format!("{} retries", r.retries)),
        (requests > 0).then(|| format!("{requests} requests")),
        apart.then(|| format!("{all} in all, {what} included")),
    ];
    for m in more.into_iter().flatten() {
        s.push_str("; ");
        s.push_str(&m);
    }
    s
}

/// A partial failure for files that were skipped as [`IngestReport::not_sent`] (the report
/// names them).
pub fn not_sent_failure(r: &IngestReport) -> Option<Failure> {
    let lost = r.not_sent();
    let first = lost.first()?;
    let hint = if lost.iter().any(|s| s.reason == SkipReason::TooLarge) {
        "the service takes images up to 20 MiB: shrink or leave out the files over the limit"
    } else {
        "check those files: sending them again will not help until they change"
    };
    let (n, batch) = (lost.len(), &r.batch_id);
    let msg = format!("{n} files were not sent to batch {batch} (the first: {first})");
    Some(Failure::new(Class::Partial, msg).with_hint(hint))
}

/// A partial failure when files failed or were not confirmed indexed.
pub fn incomplete(r: &IngestReport) -> Option<Failure> {
    if r.is_success() {
        return None;
    }
    let (batch, failed) = (&r.batch_id, r.failed.len());
    let (what, hint) = match r.method {
        // A re-run with the same ingest ids is answered as a repeat and fetches nothing.
        IngestMethod::References if failed == 0 => (
            "reference",
            format!(
                "the service may still be fetching: follow it with: rfbatch batch shards {batch}"
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
    let msg = match failed {
        0 => format!("not every {what} of batch {batch} was confirmed indexed"),
        n => format!("{n} {what}s did not make it into batch {batch}"),
    };
    Some(Failure::new(Class::Partial, msg).with_hint(hint))
}

/// Prints the report with the requests the command made (its client is its own): JSON
/// (each file's `unpacked` as a count), or a line for people.
pub fn print_export(ctx: &Ctx, r: &ExportReport) -> Result<(), Failure> {
    let requests = ctx.api.requests();
    if ctx.out.is_json() {
        let mut v = encoded(serde_json::to_value(r))?;
        for f in v["files"].as_array_mut().into_iter().flatten() {
            f["unpacked"] = json!(f["unpacked"].as_array().map_or(0, Vec::len));
        }
        v["requests"] = json!(requests);
        return ctx.out.json(&v);
    }
    let mut extra = String::new();
    if r.skipped > 0 {
        extra.push_str(&format!(", {} already there", r.skipped));
    }
    if r.unpacked > 0 {
        extra.push_str(&format!(", {} unpacked from archives", r.unpacked));
    }
    ctx.out.line(format_args!(
        "{} files downloaded ({}) into {}{extra}; {} requests",
        r.downloaded,
        human_bytes(r.bytes),
        r.target.display(),
        requests.total(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(files: u64, bytes: u64, upload_ms: u64, total_ms: u64) -> IngestReport {
        let mut r = IngestReport::new("b", IngestMethod::Shards);
        r.files_uploaded = files;
        r.bytes_uploaded = bytes;
        r.upload_duration = Duration::from_millis(upload_ms);
        r.duration = Duration::from_millis(total_ms);
        r
    }

    // "nothing new uploaded …; 40 already uploaded before" and the failures are
    // `cli_upload_run::upload_images_then_again_sends_nothing`'s and `cli_commands`'.
    #[test]
    fn the_summary_rates_agree_with_the_time_shown_next_to_them() {
        // 200 files sent in 20 ms, 500 ms in all: the rates are over the 20 ms.
        let long =
            "in 20 ms (10000 files/s, 39.1 MiB/s); 500 ms in all, discovery and planning included";
        // Equal times: one duration only.
        let short = "in 1.00 s (10 files/s, 1.0 KiB/s)";
        for (r, want) in [
            (report(200, 200 * 4096, 20, 500), long),
            (report(10, 1024, 1000, 1000), short),
        ] {
            assert!(summary(&r).ends_with(want), "{}", summary(&r));
        }
        let v = Verification {
            indexed: 5,
            expected: 5,
            batch_count: 6,
            complete: true,
            timed_out: false,
            waited: Duration::ZERO,
        };
        let line = verification_line(&v, 0, false);
        assert_eq!(line, "indexed 5 of 5 files (the batch holds 6)");
    }
}
