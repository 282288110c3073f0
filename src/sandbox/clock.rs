//! The sandbox's wall clock, with saturating arithmetic (no configured delay and no number
//! from a request can overflow it), and the service's two timestamp precisions.

use std::time::{Duration, UNIX_EPOCH};

use crate::model::Timestamp;

fn since_epoch() -> Duration {
    UNIX_EPOCH.elapsed().unwrap_or_default()
}

fn saturating_u64(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    saturating_u64(since_epoch().as_millis())
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// [`now_ms`] plus `d`.
pub(crate) fn ms_after(d: Duration) -> u64 {
    now_ms().saturating_add(saturating_u64(d.as_millis()))
}

/// [`now_secs`] plus `d`.
pub(crate) fn secs_after(d: Duration) -> u64 {
    now_secs().saturating_add(d.as_secs())
}

/// The instant `secs` after the epoch; [`Timestamp::MAX`] beyond the representable years.
pub(crate) fn timestamp_of_secs(secs: u64) -> Timestamp {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .map_or(Timestamp::MAX, Timestamp::from_system_time)
}

/// Now, to the millisecond, as the service's data-staging timestamps (`…123Z`).
pub(crate) fn stamp_ms() -> Timestamp {
    Timestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(now_ms()))
}

/// Now, to the microsecond, as the service's batch-processing timestamps.
pub(crate) fn stamp_us() -> Timestamp {
    let us = saturating_u64(since_epoch().as_micros());
    Timestamp::from_system_time(UNIX_EPOCH + Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_values_saturate() {
        assert_eq!(timestamp_of_secs(u64::MAX), Timestamp::MAX);
        assert_eq!(timestamp_of_secs(60).unix_seconds(), 60);
        assert_eq!(ms_after(Duration::MAX), u64::MAX);
        assert_eq!(secs_after(Duration::MAX), u64::MAX);
        assert!(ms_after(Duration::ZERO) >= now_ms() - 1000);
    }
}
