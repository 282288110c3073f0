//! [`Timestamp`]: a point in time as the service sends it, with its time zone.

use std::fmt;
#[cfg(feature = "sandbox")]
use std::time::SystemTime;

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

/// A timezone-aware point in time in RFC 3339, in both of the service's forms
/// (`…05.123Z`, `…05.123456+00:00`); one without a zone is read as UTC, not refused.
///
/// ```
/// let a: roboflow_batch::model::Timestamp = "2025-01-02T03:04:05.123Z".parse().unwrap();
/// assert_eq!(a, "2025-01-02T04:04:05.123+01:00".parse().unwrap());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Seconds since the Unix epoch.
    ///
    /// ```
    /// let t: roboflow_batch::model::Timestamp = "1970-01-01T00:02:00+01:00".parse().unwrap();
    /// assert_eq!(t.unix_seconds(), 120 - 3600);
    /// ```
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

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
        let iso = &Iso8601::DEFAULT;
        let t = OffsetDateTime::parse(s, &Rfc3339).or_else(|_| OffsetDateTime::parse(s, iso));
        let t = t.or_else(|_| PrimitiveDateTime::parse(s, iso).map(|t| t.assume_utc()));
        let err = |_| format!("`{s}` is not an ISO 8601 / RFC 3339 timestamp");
        t.map(Timestamp).map_err(err)
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

/// What the sandbox needs to make timestamps.
#[cfg(feature = "sandbox")]
impl Timestamp {
    /// The latest representable instant: the last nanosecond of the year 9999, UTC.
    pub(crate) const MAX: Timestamp = Timestamp(time::PrimitiveDateTime::MAX.assume_utc());

    /// This instant as a [`SystemTime`].
    pub(crate) fn to_system_time(self) -> SystemTime {
        SystemTime::from(self.0)
    }

    /// The current time, in UTC.
    pub(crate) fn now() -> Self {
        Timestamp(OffsetDateTime::now_utc())
    }

    /// A timestamp from a [`SystemTime`], in UTC, clamped to the years -9999 to 9999.
    pub(crate) fn from_system_time(t: SystemTime) -> Self {
        let since = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => time::Duration::try_from(d).unwrap_or(time::Duration::MAX),
            Err(e) => time::Duration::try_from(e.duration())
                .map(|d| -d)
                .unwrap_or(time::Duration::MIN),
        };
        Timestamp(OffsetDateTime::UNIX_EPOCH.saturating_add(since))
    }

    /// This timestamp moved forward by `d`, or `None` past the year 9999.
    pub(crate) fn checked_plus(&self, d: std::time::Duration) -> Option<Self> {
        let d = time::Duration::try_from(d).ok()?;
        self.0.checked_add(d).map(Timestamp)
    }

    /// This timestamp moved forward by `d`, stopping at [`Timestamp::MAX`].
    pub(crate) fn plus(&self, d: std::time::Duration) -> Self {
        self.checked_plus(d).unwrap_or(Timestamp::MAX)
    }
}
