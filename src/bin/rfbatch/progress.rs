//! Progress bars (indicatif) on stderr, drawn only on a terminal, never with `--json` or `-q`.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bytes: `upload [=====>   ] 120 MiB/300 MiB 85 MiB/s ETA 2s  412/1000 files`.
pub const BYTES: &str =
    "{spinner} {prefix} [{bar:20}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}";
/// Files: `index [=====>   ] 412/1000 files  3 failed`.
pub const FILES: &str = "{spinner} {prefix} [{bar:20}] {pos}/{len} files {msg}";
/// Per mille of a whole: `job [=====>   ] 41%  processing: 3/8 tasks done`.
pub const PER_MILLE: &str = "{spinner} {prefix} [{bar:20}] {percent:>3}% {elapsed_precise} {msg}";

/// The bars of one command.
pub struct Bars {
    multi: MultiProgress,
    visible: bool,
}

impl Bars {
    /// Bars drawn when `visible` (`Output::progress`), else hidden but counting.
    pub fn new(visible: bool) -> Bars {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            visible,
        }
    }

    /// A bar of `len` drawn as `template` (one of the constants above).
    pub fn add(&self, prefix: &str, len: u64, template: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(template);
        let style = style.unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(len).with_prefix(prefix.to_string());
        let bar = self.multi.add(bar.with_style(style.progress_chars("=> ")));
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }
}

/// A fraction from 0 to 1 as a position on a [`PER_MILLE`] bar of 1000.
pub fn per_mille(fraction: f64) -> u64 {
    if fraction.is_finite() {
        (fraction.clamp(0.0, 1.0) * 1000.0).round() as u64
    } else {
        0
    }
}

// Hidden bars still count: `ingest_progress`'s test reads their positions.
#[cfg(test)]
mod tests {
    #[test]
    fn per_mille_is_clamped() {
        for (f, want) in [(0.5, 500), (2.0, 1000), (f64::NAN, 0)] {
            assert_eq!(super::per_mille(f), want, "{f}");
        }
    }
}
