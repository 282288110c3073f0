//! Wall-clock helpers with saturating arithmetic: no configured delay and no number from
//! a request can overflow them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::Timestamp;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// [`now_ms`] plus `d`, saturating.
pub(crate) fn ms_after(d: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`now_secs`] plus `d`, saturating.
pub(crate) fn secs_after(d: Duration) -> u64 {
    now_secs().saturating_add(d.as_secs())
}

/// The instant `secs` after the epoch; [`Timestamp::MAX`] beyond the representable years.
pub(crate) fn timestamp_of_secs(secs: u64) -> Timestamp {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .map_or(Timestamp::MAX, Timestamp::from_system_time)
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
