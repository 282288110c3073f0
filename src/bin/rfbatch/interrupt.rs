//! Ctrl-C (and SIGTERM): a clean stop for long-running commands.
//!
//! Outside a [`Stoppable`] section the process exits at once with code 130, as it would
//! without a handler. Inside one, the first signal sets a flag that the command (and the
//! library work it drives) checks to stop starting new work; in-flight work finishes or is
//! abandoned without being recorded as done, so running the same command again resumes.
//! A second signal exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use crate::exit::{Class, Failure};

/// Shared with the library's long-running calls, which take it as their cancel flag.
static REQUESTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
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
            std::process::exit(i32::from(Class::Interrupted.code()));
        }
    })
    .map_err(|e| Failure::new(Class::Other, format!("installing the Ctrl-C handler: {e}")))
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The flag itself, for library calls that stop when it is set.
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(&REQUESTED)
}

/// The flag, borrowed for as long as the process lives.
pub fn flag_ref() -> &'static AtomicBool {
    &REQUESTED
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

    /// `Err(interrupted)` once a stop was asked for; call between units of work.
    pub fn check(&self) -> Result<(), Failure> {
        if requested() { Err(failure()) } else { Ok(()) }
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        STOPPABLE.fetch_sub(1, Ordering::SeqCst);
    }
}
