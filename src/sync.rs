//! Locks taken even when poisoned: what each guards stays consistent between statements, so
//! a panic elsewhere (contained to its request or job) must not stop the rest.

use std::sync::{Mutex, MutexGuard};

/// The lock, even if a thread panicked holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
