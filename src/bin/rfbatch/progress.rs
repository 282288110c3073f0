//! Progress bars (indicatif) on stderr, drawn only on a terminal and never with `--json` or
//! `-q`: bytes (rate and ETA), items, and a job's fraction done.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        let bar = self.multi.add(bar);
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// A bar of bytes: `upload [=====>   ] 120 MiB/300 MiB 85 MiB/s ETA 2s  412/1000 files`.
    pub fn bytes(&self, prefix: &str) -> ProgressBar {
        let bar = ProgressBar::new(0).with_prefix(prefix.to_string()).with_style(style(
            "{spinner} {prefix} [{bar:20}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        ));
        self.add(bar)
    }

    /// A bar of items: `indexing [=====>   ] 412/1000 files  3 failed`.
    pub fn count(&self, prefix: &str, unit: &str) -> ProgressBar {
        let template =
            format!("{{spinner}} {{prefix}} [{{bar:20}}] {{pos}}/{{len}} {unit} {{msg}}");
        let bar = ProgressBar::new(0)
            .with_prefix(prefix.to_string())
            .with_style(style(&template));
        self.add(bar)
    }

    /// A bar in per mille of a whole: `job [=====>   ] 41%  processing: 3/8 tasks done`.
    pub fn fraction(&self, prefix: &str) -> ProgressBar {
        let bar = ProgressBar::new(1000)
            .with_prefix(prefix.to_string())
            .with_style(style(
                "{spinner} {prefix} [{bar:20}] {percent:>3}% {elapsed_precise} {msg}",
            ));
        self.add(bar)
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A fraction from 0 to 1 as a position on a [`Bars::fraction`] bar.
pub fn per_mille(fraction: f64) -> u64 {
    if fraction.is_finite() {
        (fraction.clamp(0.0, 1.0) * 1000.0).round() as u64
    } else {
        0
    }
}

/// Counters that several threads add to, shown in a bar's message.
#[derive(Default)]
pub struct Tally<T>(Mutex<T>);

impl<T: Copy> Tally<T> {
    /// Changes the counts and returns them as they are then.
    pub fn update(&self, f: impl FnOnce(&mut T)) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        *g
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
