//! Downloads (`batch export`, `job results`, the end of `run`) on the library's `Exporter`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use clap::Args;
use roboflow_batch::export::{ExportReport, Exporter};
use roboflow_batch::progress::Event;

use crate::args::Maybe;
use crate::context::Ctx;
use crate::exit::Failure;
use crate::interrupt;
use crate::output::{human_bytes, human_rate};
use crate::progress::{Bars, FILES};

/// Where and how to download.
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    /// The folder the files go to (created if needed); files land in `DIR/<part>/<file>`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only this part (repeatable; a job's output batches without it come whole).
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
    Job(&'a str, &'a [&'a str]),
}

/// Exports with a progress bar of files, stopping cleanly on Ctrl-C.
pub fn export(ctx: &Ctx, args: &ExportArgs, source: Source<'_>) -> Result<ExportReport, Failure> {
    let bars = Bars::new(ctx.out.progress);
    let bar = bars.add("download", 0, FILES);
    let (bytes, skipped) = (AtomicU64::new(0), AtomicU64::new(0));
    // `3 already there, 12.5 MiB at 4.1 MiB/s`.
    let message = || {
        let (b, s) = (bytes.load(Relaxed), skipped.load(Relaxed));
        let there = (s > 0).then(|| format!("{s} already there, "));
        let (got, rate) = (human_bytes(b), human_rate(b, bar.elapsed()));
        bar.set_message(format!("{}{got} at {rate}", there.unwrap_or_default()));
    };
    let exporter = Exporter::new(&ctx.api, &args.out)
        .parallelism(args.parallel)
        .overwrite(args.overwrite)
        .unpack_archives(!args.no_unpack)
        .keep_archives(args.keep_archives)
        .cancel_flag(&interrupt::REQUESTED)
        .on_progress(|e| match e {
            Event::FilesListed { files, .. } => bar.inc_length(*files),
            Event::BytesReceived { bytes: n } => {
                bytes.fetch_add(*n, Relaxed);
                message();
            }
            Event::Exported(f) => {
                skipped.fetch_add(u64::from(f.skipped), Relaxed);
                bar.inc(1);
                message();
            }
            _ => {}
        })
        .maybe(args.max_unpacked_bytes, Exporter::max_unpacked_bytes)
        .maybe(args.max_unpacked_entries, Exporter::max_unpacked_entries);
    let exporter = args.part.iter().fold(exporter, |e, p| e.part(p));
    let _stop = interrupt::Stoppable::enter();
    let result = match source {
        Source::Batch(id) => exporter.batch(id),
        Source::Job(id, stages) => exporter.stages(stages.iter().copied()).job(id),
    };
    bar.finish_and_clear();
    let report = result?;
    match report.cancelled {
        true => Err(interrupt::failure()),
        false => Ok(report),
    }
}
