//! Ctrl-C: exit 130 at once, or in a [`Stoppable`] section first a clean stop (resumable).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::exit::{Class, Failure};

/// Shared with the library's long-running calls, which take it as their cancel flag.
pub static REQUESTED: AtomicBool = AtomicBool::new(false);
static STOPPABLE: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler. Call once, before any long-running work.
pub fn install() -> Result<(), Failure> {
    ctrlc::set_handler(|| {
        let first = !REQUESTED.swap(true, Ordering::SeqCst);
        if first && STOPPABLE.load(Ordering::SeqCst) > 0 {
            eprintln!(
                "\nrfbatch: stopping after the work in flight (Ctrl-C again to quit at once)"
            );
        } else {
            eprintln!("\nrfbatch: interrupted");
            std::process::exit(Class::Interrupted as i32);
        }
    })
    .map_err(|e| Failure::new(Class::Other, format!("installing the Ctrl-C handler: {e}")))
}

/// The failure of a command stopped by Ctrl-C.
pub fn failure() -> Failure {
    Failure::new(Class::Interrupted, "interrupted")
        .with_hint("run the same command again to resume")
}

/// Marks a section during which Ctrl-C asks for a clean stop instead of exiting.
#[must_use]
pub struct Stoppable(());

impl Stoppable {
    pub fn enter() -> Self {
        STOPPABLE.fetch_add(1, Ordering::SeqCst);
        Stoppable(())
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        STOPPABLE.fetch_sub(1, Ordering::SeqCst);
    }
}
