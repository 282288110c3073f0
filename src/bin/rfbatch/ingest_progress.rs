//! Ingest events as bars (bytes sent, then files indexed), or off a terminal a note each.

use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use roboflow_batch::ingest::IngestMethod;
use roboflow_batch::progress::Event;

use crate::output::{Output, human_bytes, nonzero};
use crate::progress::{BYTES, Bars, FILES};

#[derive(Default, Clone, Copy)]
struct Counts {
    total: u64,
    done: u64,
    failed: u64,
    retries: u64,
    skipped: u64,
    resumed: u64,
    index_failed: u64,
    /// Bytes of failed tries that are being sent again: they do not move the bar twice.
    resend: u64,
}

impl Counts {
    fn message(&self) -> String {
        let counts = nonzero(&[
            (self.resumed, "already uploaded"),
            (self.failed, "failed"),
            (self.skipped, "skipped"),
            (self.retries, "retries"),
        ]);
        format!("{}/{} files{counts}", self.done, self.total)
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
    pub fn new(out: &Output) -> IngestProgress {
        let bars = Bars::new(out.progress);
        let upload = bars.add("upload", 0, BYTES);
        IngestProgress {
            bars,
            upload,
            verify: OnceLock::new(),
            counts: Mutex::default(),
            out: out.clone(),
        }
    }

    /// Notes only where no bar is drawn.
    fn note(&self, text: impl std::fmt::Display) {
        if !self.out.progress {
            self.out.note(text);
        }
    }

    /// Changes the counts (from any worker thread) and returns them as they are then.
    fn update(&self, f: impl FnOnce(&mut Counts)) -> Counts {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut counts);
        *counts
    }

    /// Changes the counts and shows them.
    fn count(&self, f: impl FnOnce(&mut Counts)) {
        self.upload.set_message(self.update(f).message());
    }

    /// Handles one event.
    pub fn on_event(&self, e: &Event) {
        match e {
            Event::Discovered { files, .. } => {
                self.upload.set_message(format!("found {files} files"));
            }
            Event::Skipped(_) => self.count(|c| c.skipped += 1),
            Event::Planned {
                method,
                files,
                bytes,
                units,
                resumed_files,
                ..
            } => {
                // Bytes on the wire: a tar adds about 768 bytes per file and 1 KiB per shard,
                // estimated (the bar grows its total rather than pass 100%: `BytesSent`).
                let overhead = match method {
                    IngestMethod::Shards => files.saturating_mul(768) + units.saturating_mul(1024),
                    _ => 0,
                };
                self.upload.set_length(bytes.saturating_add(overhead));
                // A second plan (the batch refused the first method) starts over.
                self.count(|c| {
                    (c.total, c.resumed, c.done, c.failed) = (*files, *resumed_files, 0, 0);
                });
                if *files == 0 && *resumed_files == 0 {
                    return; // nothing to send: the command says why
                }
                let resumed = (*resumed_files > 0)
                    .then(|| format!(" ({resumed_files} already uploaded by an earlier run)"));
                let (size, resumed) = (human_bytes(*bytes), resumed.unwrap_or_default());
                self.note(format_args!(
                    "uploading {files} files ({size}) as {method}, {units} requests{resumed}"
                ));
            }
            Event::BytesSent { bytes } => {
                // Bytes that repeat a failed try were counted once already.
                let mut new = 0;
                self.update(|c| {
                    let repeated = c.resend.min(*bytes);
                    c.resend -= repeated;
                    new = bytes - repeated;
                });
                let position = self.upload.position().saturating_add(new);
                // The overhead is an estimate: never show more done than planned.
                let length = self.upload.length().unwrap_or(0);
                self.upload.set_length(length.max(position));
                self.upload.set_position(position);
            }
            Event::UnitDone { files, .. } => self.count(|c| c.done += files),
            Event::UnitFailed { files, .. } => self.count(|c| c.failed += files),
            // The bar never goes back: the resent bytes are skipped instead.
            Event::Retry { rewound_bytes, .. } => self.count(|c| {
                c.retries += 1;
                c.resend = c.resend.saturating_add(*rewound_bytes);
            }),
            Event::Verifying { indexed, expected } => {
                let bar = self.verify.get_or_init(|| {
                    self.upload.finish();
                    self.note(format_args!("waiting for {expected} files to be indexed"));
                    self.bars.add("index", 0, FILES)
                });
                bar.set_length(*expected);
                bar.set_position(*indexed);
            }
            Event::IndexFailed(_) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use roboflow_batch::progress::UnitKind;

    #[test]
    fn the_upload_bar_never_goes_back_nor_past_its_total() {
        let p = IngestProgress::new(&Output::new(true, false, 0));
        let (method, resumed_files, resumed_bytes) = (IngestMethod::Shards, 0, 0);
        let (files, bytes, units) = (1, 1000, 1);
        p.on_event(&Event::Planned {
            method,
            files,
            bytes,
            units,
            resumed_files,
            resumed_bytes,
        });
        assert_eq!(p.upload.length(), Some(1000 + 768 + 1024));
        let sent = |bytes| Event::BytesSent { bytes };
        // The try fails after 1500 bytes and starts over: the bar stays at 1500 while they
        // are sent again, then moves on; past the estimate, the total grows instead.
        let (unit, index, attempt, rewound_bytes) = (UnitKind::Shard, 0, 2, 1500);
        let retry = Event::Retry {
            unit,
            index,
            attempt,
            rewound_bytes,
            reason: None,
        };
        let steps = [(sent(1500), 1500), (retry, 1500), (sent(1000), 1500)];
        for (e, want) in steps
            .into_iter()
            .chain([(sent(1000), 2000), (sent(2000), 4000)])
        {
            p.on_event(&e);
            let (pos, len) = (p.upload.position(), p.upload.length().unwrap_or(0));
            assert!(
                pos == want && pos <= len,
                "{pos} (of {len}) after {e:?}, not {want}"
            );
        }
        assert_eq!(p.upload.length(), Some(4000));
    }
}
