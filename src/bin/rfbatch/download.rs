//! Downloads: `rfbatch batch export`, `job results` and the last step of `run`, on the
//! library's `Exporter` (parallel, resumable, archives unpacked safely).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use roboflow_batch::export::{ExportEvent, ExportReport, Exporter};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::exit::Failure;
use crate::interrupt;
use crate::progress::{Bars, Tally};

/// Where and how to download.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The folder the files go to (created if needed); files land in `DIR/<part>/<file>`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only this part (repeatable). Of a job's several output batches, only those that
    /// have the part are filtered; the others come whole.
    #[arg(long, value_name = "PART")]
    pub part: Vec<String>,
    /// Download again the files already complete in DIR.
    #[arg(long)]
    pub overwrite: bool,
    /// Parallel downloads, 1 to 64.
    #[arg(long, value_name = "N", default_value_t = roboflow_batch::export::DEFAULT_PARALLELISM,
          value_parser = crate::cli::parallel)]
    pub parallel: usize,
    /// Keep `.tar` and `.tar.gz` files after unpacking them.
    #[arg(long)]
    pub keep_archives: bool,
    /// Leave archives packed.
    #[arg(long)]
    pub no_unpack: bool,
    /// Refuse an archive that unpacks to more than this many bytes [default: 16 GiB].
    #[arg(long, value_name = "BYTES")]
    pub max_unpacked_bytes: Option<u64>,
    /// Refuse an archive of more than this many entries [default: 1000000].
    #[arg(long, value_name = "N")]
    pub max_unpacked_entries: Option<u64>,
}

/// What to export.
pub enum Source<'a> {
    Batch(&'a str),
    /// A job, from the given stages' output batches.
    Job(&'a str, &'a [String]),
}

/// Exports with a progress bar of files, stopping cleanly on Ctrl-C.
pub fn export(ctx: &Ctx, args: &ExportArgs, source: Source<'_>) -> Result<ExportReport, Failure> {
    let bars = Bars::new(&ctx.out);
    let bar = bars.count("download", "files");
    let tally = Arc::new(Tally::default());
    let (b, t) = (bar.clone(), Arc::clone(&tally));
    let mut exporter = Exporter::new(&ctx.api, &args.out)
        .parallelism(args.parallel)
        .overwrite(args.overwrite)
        .unpack_archives(!args.no_unpack)
        .keep_archives(args.keep_archives)
        .cancel_flag(interrupt::flag())
        .on_event(move |e| match e {
            ExportEvent::Listed { files, .. } => {
                b.inc_length(*files as u64);
                let c = t.update(|c| c.total += *files as u64);
                b.set_message(transfer_message(&c, b.elapsed()));
            }
            ExportEvent::Bytes(n) => {
                let c = t.update(|c| c.bytes += n);
                b.set_message(transfer_message(&c, b.elapsed()));
            }
            ExportEvent::Downloaded(_) | ExportEvent::Skipped(_) => {
                let skipped = matches!(e, ExportEvent::Skipped(_));
                let c = t.update(|c| {
                    c.done += 1;
                    c.skipped += u64::from(skipped);
                });
                b.inc(1);
                b.set_message(transfer_message(&c, b.elapsed()));
            }
            _ => {}
        });
    for p in &args.part {
        exporter = exporter.part(p.as_str());
    }
    if let Some(n) = args.max_unpacked_bytes {
        exporter = exporter.max_unpacked_bytes(n);
    }
    if let Some(n) = args.max_unpacked_entries {
        exporter = exporter.max_unpacked_entries(n);
    }
    let stop = interrupt::Stoppable::enter();
    let result = match source {
        Source::Batch(id) => exporter.batch(id),
        Source::Job(id, stages) => exporter.stages(stages.iter().cloned()).job(id),
    };
    bar.finish_and_clear();
    match result {
        Ok(report) => Ok(report),
        Err(_) if interrupt::requested() => {
            Err(stop.check().err().unwrap_or_else(interrupt::failure))
        }
        Err(e) => Err(e.into()),
    }
}

/// `3 skipped, 12.5 MiB at 4.1 MiB/s`.
fn transfer_message(c: &crate::progress::TallyCounts, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let mut s = format!(
        "{} at {}/s",
        human_bytes(c.bytes),
        human_bytes((c.bytes as f64 / secs) as u64)
    );
    if c.skipped > 0 {
        s = format!("{} already there, {s}", c.skipped);
    }
    s
}

/// The report as JSON (camelCase, paths as given).
pub fn report_json(r: &ExportReport) -> Value {
    json!({
        "target": r.target,
        "batches": r.batches,
        "downloaded": r.downloaded,
        "skipped": r.skipped,
        "bytes": r.bytes,
        "unpacked": r.unpacked,
        "files": r.files.iter().map(|f| json!({
            "batchId": f.batch_id,
            "partName": f.part_name,
            "fileName": f.file_name,
            "path": f.path,
            "bytes": f.bytes,
            "unpacked": f.unpacked.len(),
            "skipped": f.skipped,
        })).collect::<Vec<_>>(),
    })
}

/// Prints the report with the requests the command made (its client is its own): JSON, or
/// a line for people.
pub fn print_report(ctx: &Ctx, r: &ExportReport) -> Result<(), Failure> {
    let requests = ctx.api.requests();
    if ctx.out.is_json() {
        let mut v = report_json(r);
        v["requests"] = json!(requests);
        return ctx.out.json(&v);
    }
    ctx.out.line(format_args!(
        "{} files downloaded ({}) into {}{}{}; {} requests",
        r.downloaded,
        human_bytes(r.bytes),
        r.target.display(),
        if r.skipped > 0 {
            format!(", {} already there", r.skipped)
        } else {
            String::new()
        },
        if r.unpacked > 0 {
            format!(", {} unpacked from archives", r.unpacked)
        } else {
            String::new()
        },
        requests.total(),
    ))
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
