//! The library's ingest events drawn as bars: bytes sent (rate and ETA) with files done,
//! then files indexed. Off a terminal, a note per phase instead.

use std::sync::{Arc, Mutex, OnceLock};

use indicatif::ProgressBar;
use roboflow_batch::ingest::{IngestEvent, IngestMethod};

use crate::download::human_bytes;
use crate::output::Output;
use crate::progress::Bars;

#[derive(Default, Clone, Copy)]
struct Counts {
    total: u64,
    done: u64,
    failed: u64,
    retries: u64,
    skipped: u64,
    resumed: u64,
    index_failed: u64,
}

impl Counts {
    fn message(&self) -> String {
        let mut s = format!("{}/{} files", self.done, self.total);
        for (n, what) in [
            (self.resumed, "already uploaded"),
            (self.failed, "failed"),
            (self.skipped, "skipped"),
            (self.retries, "retries"),
        ] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        s
    }
}

/// The state shared by the event callback (called from worker threads) and the command.
pub struct IngestProgress {
    bars: Bars,
    upload: ProgressBar,
    verify: OnceLock<ProgressBar>,
    counts: Mutex<Counts>,
    out: Output,
}

impl IngestProgress {
    pub fn new(out: &Output) -> Arc<IngestProgress> {
        let bars = Bars::new(out);
        let upload = bars.bytes("upload");
        Arc::new(IngestProgress {
            bars,
            upload,
            verify: OnceLock::new(),
            counts: Mutex::new(Counts::default()),
            out: out.clone(),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Counts)) -> Counts {
        let mut g = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        *g
    }

    /// Notes only where no bar is drawn.
    fn note(&self, text: impl std::fmt::Display) {
        if !self.out.progress() {
            self.out.note(text);
        }
    }

    /// Handles one event.
    pub fn on_event(&self, e: &IngestEvent) {
        match e {
            IngestEvent::Discovered { files, .. } => {
                self.upload.set_message(format!("found {files} files"));
            }
            IngestEvent::Skipped(_) => {
                let c = self.update(|c| c.skipped += 1);
                self.upload.set_message(c.message());
            }
            IngestEvent::Planned {
                method,
                files,
                bytes,
                units,
                resumed_files,
                ..
            } => {
                // The bar counts bytes on the wire; a tar adds a header and padding per
                // file (768 bytes on average) and a trailer per shard.
                let overhead = match method {
                    IngestMethod::Shards => files * 768 + units * 1024,
                    _ => 0,
                };
                self.upload.set_length(bytes + overhead);
                let c = self.update(|c| {
                    c.total = *files;
                    c.resumed = *resumed_files;
                });
                self.upload.set_message(c.message());
                let resumed = if *resumed_files > 0 {
                    format!(" ({resumed_files} already uploaded by an earlier run)")
                } else {
                    String::new()
                };
                self.note(format_args!(
                    "uploading {files} files ({}) as {method}, {units} requests{resumed}",
                    human_bytes(*bytes)
                ));
            }
            IngestEvent::BytesSent { bytes } => {
                self.upload.inc(*bytes);
                // The overhead is an estimate: never show more done than planned.
                if let Some(len) = self.upload.length()
                    && self.upload.position() > len
                {
                    self.upload.set_length(self.upload.position());
                }
            }
            IngestEvent::UnitDone { files, .. } => {
                let c = self.update(|c| c.done += files);
                self.upload.set_message(c.message());
            }
            IngestEvent::UnitFailed { files, .. } => {
                let c = self.update(|c| c.failed += files);
                self.upload.set_message(c.message());
            }
            IngestEvent::Retry { rewound_bytes, .. } => {
                self.upload
                    .set_position(self.upload.position().saturating_sub(*rewound_bytes));
                let c = self.update(|c| c.retries += 1);
                self.upload.set_message(c.message());
            }
            IngestEvent::Verifying { indexed, expected } => {
                let mut first = false;
                let bar = self.verify.get_or_init(|| {
                    first = true;
                    self.upload.finish();
                    self.bars.count("index", "files")
                });
                if first {
                    self.note(format_args!("waiting for {expected} files to be indexed"));
                }
                bar.set_length(*expected);
                bar.set_position(*indexed);
            }
            IngestEvent::IndexFailed(_) => {
                let c = self.update(|c| c.index_failed += 1);
                if let Some(bar) = self.verify.get() {
                    bar.set_message(format!("{} failed", c.index_failed));
                }
            }
            _ => {}
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.upload.finish_and_clear();
        if let Some(b) = self.verify.get() {
            b.finish_and_clear();
        }
    }
}
