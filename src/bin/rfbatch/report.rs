//! Printing the ingest and export reports, and the failures they amount to.

use std::path::PathBuf;

use roboflow_batch::export::ExportReport;
use roboflow_batch::ingest::{IngestMethod, IngestReport, SkipReason, Verification};
use roboflow_batch::model::MediaKind;
use serde_json::json;

use crate::context::Ctx;
use crate::exit::{Class, Failure};
use crate::output::{encoded, human_bytes, human_rate, human_secs, nonzero};

/// A usage failure when there is nothing to send, lest `run` start a job over no batch.
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
    let (n, first) = (r.skipped.len(), r.skipped.first());
    let skipped = first.map(|first| format!("; {n} skipped, the first: {first}"));
    let message = format!(
        "found no {noun} to upload in {place}{}",
        skipped.unwrap_or_default()
    );
    let subfolders = |p| std::fs::read_dir(p).is_ok_and(|d| d.flatten().any(|e| e.path().is_dir()));
    let hint = match paths {
        [one] if !recursive && subfolders(one) => {
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
    if ctx.out.json {
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
    let failed = r.failed.iter().map(|f| format!("failed {f}"));
    let skipped = r.skipped.iter().map(|s| format!("skipped {s}"));
    let warnings = r.warnings.iter().map(|w| format!("warning: {w}"));
    (failed.chain(skipped).chain(warnings)).try_for_each(|l| ctx.out.line(l))
}

/// `fetched and indexed 3 of 4 files, 1 failed (the batch holds 3)`, or `none of the…`.
fn verification_line(v: &Verification, failed: usize, refs: bool) -> String {
    let verb = format!("{}indexed", if refs { "fetched and " } else { "" });
    let (count, timed_out) = (
        v.batch_count,
        v.timed_out.then_some("; verification timed out"),
    );
    let end = format!("(the batch holds {count}){}", timed_out.unwrap_or_default());
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

/// One line: what was sent, how fast (rates over the upload time shown with them).
pub fn summary(r: &IngestReport) -> String {
    let refs = r.method == IngestMethod::References;
    let (batch, method, up) = (&r.batch_id, &r.method, r.upload_duration);
    if r.dry_run {
        let what = if refs { "references" } else { "files" };
        let requests: Vec<String> = r.requests.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let (n, size, units) = (r.files_found, human_bytes(r.bytes_found), r.units_planned);
        let (skipped, requests) = (r.skipped.len(), requests.join(", "));
        return format!(
            "plan: {n} {what} ({size}) to batch {batch} as {method} in {units} units, {skipped} skipped; requests: {requests}; nothing sent"
        );
    }
    let (n, size) = (r.files_uploaded, human_bytes(r.bytes_uploaded));
    let s = if refs {
        let pages = (r.listing_pages > 0).then(|| format!(" ({} listing pages)", r.listing_pages));
        let (pages, requests) = (pages.unwrap_or_default(), r.units_uploaded);
        format!("sent {n} references to batch {batch} in {requests} requests{pages}")
    } else if n == 0 {
        format!("nothing new uploaded to batch {batch}")
    } else {
        let (secs, rate) = (up.as_secs_f64(), human_rate(r.bytes_uploaded, up));
        let rates = (secs > 0.0).then(|| format!(" ({:.0} files/s, {rate})", r.files_per_sec()));
        let (time, rates) = (human_secs(up), rates.unwrap_or_default());
        format!("uploaded {n} files ({size}) to batch {batch} as {method} in {time}{rates}")
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
    more.into_iter().flatten().fold(s, |s, m| s + "; " + &m)
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
    let refs = r.method == IngestMethod::References;
    let what = if refs { "reference" } else { "file" };
    let hint = match (refs, failed) {
        // A re-run with the same ingest ids is answered as a repeat and fetches nothing.
        (true, 0) => format!(
            "the service may still be fetching: follow it with: rfbatch batch shards {batch}"
        ),
        (true, _) => "fix those references, then send them again with a new --ingest-id".into(),
        (false, _) => "run the same command again: it sends only what is missing".into(),
    };
    let msg = match failed {
        0 => format!("not every {what} of batch {batch} was confirmed indexed"),
        n => format!("{n} {what}s did not make it into batch {batch}"),
    };
    Some(Failure::new(Class::Partial, msg).with_hint(hint))
}

/// Prints the report with the command's requests (JSON: each file's `unpacked` counted).
pub fn print_export(ctx: &Ctx, r: &ExportReport) -> Result<(), Failure> {
    let requests = ctx.api.requests();
    if ctx.out.json {
        let mut v = encoded(serde_json::to_value(r))?;
        for f in v["files"].as_array_mut().into_iter().flatten() {
            f["unpacked"] = json!(f["unpacked"].as_array().map_or(0, Vec::len));
        }
        v["requests"] = json!(requests);
        return ctx.out.json(&v);
    }
    let extra = nonzero(&[
        (r.skipped, "already there"),
        (r.unpacked, "unpacked from archives"),
    ]);
    let (n, size, total) = (r.downloaded, human_bytes(r.bytes), requests.total());
    let into = r.target.display();
    ctx.out.line(format_args!(
        "{n} files downloaded ({size}) into {into}{extra}; {total} requests"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(files: u64, bytes: u64, upload_ms: u64, total_ms: u64) -> IngestReport {
        let mut r = IngestReport::new("b", IngestMethod::Shards);
        (r.files_uploaded, r.bytes_uploaded) = (files, bytes);
        let ms = Duration::from_millis;
        (r.upload_duration, r.duration) = (ms(upload_ms), ms(total_ms));
        r
    }

    // "nothing new uploaded …; 40 already uploaded before", the verification lines and the
    // failures: `cli_upload_run::upload_images_then_again_sends_nothing` and `cli_commands`.
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
    }
}
