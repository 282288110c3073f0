//! Downloads: `rfbatch batch export`, `job results` and the last step of `run`, on the
//! library's `Exporter` (parallel, resumable, archives unpacked safely).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use roboflow_batch::export::{ExportEvent, ExportReport, Exporter};

use crate::args::Maybe;
use crate::context::Ctx;
use crate::exit::Failure;
use crate::interrupt;
use crate::output::human_bytes;
use crate::progress::{Bars, Tally};

/// Where and how to download.
#[derive(Args, Debug, Clone, Default)]
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
          value_parser = crate::args::parallel)]
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
    let bars = Bars::new(ctx.out.progress());
    let bar = bars.count("download", "files");
    let tally = Arc::new(Tally::<Transfer>::default());
    let (b, t) = (bar.clone(), Arc::clone(&tally));
    let mut exporter = Exporter::new(&ctx.api, &args.out)
        .parallelism(args.parallel)
        .overwrite(args.overwrite)
        .unpack_archives(!args.no_unpack)
        .keep_archives(args.keep_archives)
        .cancel_flag(interrupt::flag())
        .on_event(move |e| match e {
            ExportEvent::Listed { files, .. } => b.inc_length(*files as u64),
            ExportEvent::Bytes(n) => {
                let c = t.update(|c| c.bytes += n);
                b.set_message(transfer_message(&c, b.elapsed()));
            }
            ExportEvent::Downloaded(_) | ExportEvent::Skipped(_) => {
                let skipped = matches!(e, ExportEvent::Skipped(_));
                let c = t.update(|c| c.skipped += u64::from(skipped));
                b.inc(1);
                b.set_message(transfer_message(&c, b.elapsed()));
            }
            _ => {}
        });
    for p in &args.part {
        exporter = exporter.part(p.as_str());
    }
    let exporter = exporter
        .maybe(args.max_unpacked_bytes, Exporter::max_unpacked_bytes)
        .maybe(args.max_unpacked_entries, Exporter::max_unpacked_entries);
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

/// Bytes and files already there, as a download goes.
#[derive(Default, Clone, Copy)]
struct Transfer {
    bytes: u64,
    skipped: u64,
}

/// `3 already there, 12.5 MiB at 4.1 MiB/s`.
fn transfer_message(c: &Transfer, elapsed: std::time::Duration) -> String {
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
