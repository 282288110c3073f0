use std::fmt;
use std::time::{Duration, SystemTime};

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A timezone-aware point in time, as sent by the service.
///
/// Decodes RFC 3339 in both of the service's forms (`2025-01-02T03:04:05.123Z` and
/// `2025-01-02T03:04:05.123456+00:00`). A timestamp without a zone is read as UTC rather
/// than rejected. Encodes as RFC 3339.
///
/// ```
/// use roboflow_batch::model::Timestamp;
/// let a: Timestamp = "2025-01-02T03:04:05.123Z".parse().unwrap();
/// let b: Timestamp = "2025-01-02T04:04:05.123+01:00".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.unix_seconds(), 1735787045);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, in UTC.
    ///
    /// ```
    /// use roboflow_batch::model::Timestamp;
    /// let t = Timestamp::now();
    /// assert_eq!(t.offset_seconds(), 0);
    /// assert!(t.unix_seconds() > 1_700_000_000);
    /// ```
    pub fn now() -> Self {
        Timestamp(OffsetDateTime::now_utc())
    }

    /// A timestamp from a [`SystemTime`], in UTC; a time beyond the representable years
    /// (-9999 to 9999) is clamped to the nearest end, never a panic.
    ///
    /// ```
    /// use roboflow_batch::model::Timestamp;
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let t = Timestamp::from_system_time(UNIX_EPOCH);
    /// assert_eq!(t.to_string(), "1970-01-01T00:00:00Z");
    /// let far = Timestamp::from_system_time(UNIX_EPOCH + Duration::from_secs(1 << 40));
    /// assert_eq!(far, Timestamp::MAX);
    /// ```
    pub fn from_system_time(t: SystemTime) -> Self {
        let since = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => time::Duration::try_from(d).unwrap_or(time::Duration::MAX),
            Err(e) => time::Duration::try_from(e.duration())
                .map(|d| -d)
                .unwrap_or(time::Duration::MIN),
        };
        Timestamp(OffsetDateTime::UNIX_EPOCH.saturating_add(since))
    }

    /// Seconds since the Unix epoch.
    ///
    /// ```
    /// let t: roboflow_batch::model::Timestamp = "1970-01-01T00:02:00+01:00".parse().unwrap();
    /// assert_eq!(t.unix_seconds(), 120 - 3600);
    /// ```
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// This instant as a [`SystemTime`].
    ///
    /// ```
    /// let t: roboflow_batch::model::Timestamp = "1970-01-01T00:01:00Z".parse().unwrap();
    /// assert_eq!(t.to_system_time(), std::time::UNIX_EPOCH + std::time::Duration::from_secs(60));
    /// ```
    pub fn to_system_time(&self) -> SystemTime {
        SystemTime::from(self.0)
    }

    /// This timestamp moved forward by `d`, or `None` past the year 9999.
    ///
    /// ```
    /// use roboflow_batch::model::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_system_time(std::time::UNIX_EPOCH);
    /// assert_eq!(t.checked_plus(Duration::from_secs(60)).unwrap().unix_seconds(), 60);
    /// assert_eq!(t.checked_plus(Duration::from_secs(u64::MAX)), None);
    /// ```
    pub fn checked_plus(&self, d: Duration) -> Option<Self> {
        let d = time::Duration::try_from(d).ok()?;
        self.0.checked_add(d).map(Timestamp)
    }

    /// This timestamp moved forward by `d`, stopping at [`Timestamp::MAX`] (never a panic).
    ///
    /// ```
    /// use roboflow_batch::model::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_system_time(std::time::UNIX_EPOCH);
    /// assert_eq!(t.plus(Duration::from_secs(60)).unix_seconds(), 60);
    /// assert_eq!(t.plus(Duration::from_secs(u64::MAX)), Timestamp::MAX);
    /// ```
    pub fn plus(&self, d: Duration) -> Self {
        self.checked_plus(d).unwrap_or(Timestamp::MAX)
    }

    /// The latest representable instant: the last nanosecond of the year 9999, UTC.
    ///
    /// ```
    /// use roboflow_batch::model::Timestamp;
    /// assert!(Timestamp::MAX.to_string().starts_with("9999-12-31T23:59:59"));
    /// ```
    pub const MAX: Timestamp = Timestamp(time::PrimitiveDateTime::MAX.assume_utc());

    /// The UTC offset it was given with, in seconds.
    ///
    /// ```
    /// let t: roboflow_batch::model::Timestamp = "2025-01-02T03:04:05+02:00".parse().unwrap();
    /// assert_eq!(t.offset_seconds(), 7200);
    /// ```
    pub fn offset_seconds(&self) -> i32 {
        self.0.offset().whole_seconds()
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Timestamp(t));
        }
        if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
            return Ok(Timestamp(t));
        }
        match PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
            Ok(t) => Ok(Timestamp(t.assume_offset(UtcOffset::UTC))),
            Err(_) => Err(format!("`{s}` is not an ISO 8601 / RFC 3339 timestamp")),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_forms_and_naive() {
        for s in [
            "2025-06-01T10:00:00.123Z",
            "2025-06-01T10:00:00.123456+00:00",
            "2025-06-01T12:00:00.123+02:00",
            "2025-06-01T10:00:00.123",
        ] {
            let t: Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.unix_seconds(), 1748772000, "{s}");
        }
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn serde_round_trip_keeps_offset() {
        let t: Timestamp = serde_json::from_str(r#""2025-06-01T12:00:00+02:00""#).unwrap();
        assert_eq!(t.offset_seconds(), 7200);
        let back: Timestamp = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
