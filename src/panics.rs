//! Containing panics: a panic in one request (of the sandbox or the webhook receiver) or in
//! one of the sandbox's job steps is caught where it happens, reported, and never takes a
//! thread (or a lock) down with it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, turning a panic into `Err(message)`.
///
/// State shared across the unwind is either behind a lock that recovers from poisoning (the
/// sandbox's state lock) or rebuilt by the caller, hence `AssertUnwindSafe`.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(p.as_ref()))
}

/// The text of a panic payload.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_with_their_message() {
        assert_eq!(contain(|| 7), Ok(7));
        let e = contain(|| -> u8 { panic!("boom {}", 1) }).unwrap_err();
        assert_eq!(e, "boom 1");
        let e = contain(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(e, "a panic without a message");
    }
}
