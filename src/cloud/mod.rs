//! Ingest straight from S3, GCS and Azure buckets: list, sign locally, send references.
//!
//! A [`CloudSource`] lists a bucket page by page, keeps the keys matching the URL's glob and
//! the media's extensions, and signs a GET URL for each locally, so credentials never leave
//! the machine; settings and secrets are in the [cloud guide](crate::guide::cloud).
//!
//! # Example
//!
//! ```no_run
//! # use roboflow_batch::{cloud::CloudSource, ingest::{Ingest, Source}};
//! # let api = roboflow_batch::BatchApi::from_env()?;
//! let bucket = CloudSource::builder("s3://my-bucket/photos/**/*.jpg").build()?;
//! let r = Ingest::new(&api, "my-batch", Source::bucket(bucket)).run()?;
//! # Ok::<(), roboflow_batch::Error>(())
//! ```

mod azure;
mod gcs;
mod http;
mod location;
mod names;
mod s3;
mod settings;
mod signing;
mod source;

use std::time::{Duration, SystemTime};

pub use location::{BucketUrl, StoreKind};
pub(crate) use signing::list_signed;
pub use source::{CloudObject, CloudSource, CloudSourceBuilder, SignedReference};

use crate::Result;

/// The default lifetime of a signed URL: 24 hours, as the official client.
pub(crate) const DEFAULT_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// The longest lifetime a SigV4 (S3) or V4 (GCS) signed URL may have: 7 days.
pub(crate) const MAX_V4_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) objects: Vec<CloudObject>,
    pub(crate) next: Option<String>,
}

/// What a store does: list one page of keys under a prefix, and sign a GET URL.
pub(crate) trait Store: Send + Sync {
    /// One page of the keys under `prefix`, in the store's (lexicographic) order.
    fn list_page(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page>;
    /// A GET URL for `key`, valid from `now` for `expires`.
    fn sign_get(&self, key: &str, expires: Duration, now: SystemTime) -> Result<String>;
    /// Where the bucket is, for messages (no secrets).
    fn describe(&self) -> String;
    /// Something the user should know about the signed URLs, if anything.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// A string that is never shown: its `Debug` prints `REDACTED`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// Seconds since the epoch of `t` (0 before the epoch).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `t` to the whole second (the epoch when out of range).
pub(crate) fn timestamp(t: SystemTime) -> jiff::Timestamp {
    jiff::Timestamp::from_second(unix_seconds(t)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `t` as `YYYYMMDDTHHMMSSZ` (SigV4 and GCS V4 timestamps).
pub(crate) fn amz_date(t: SystemTime) -> String {
    timestamp(t).to_string().replace(['-', ':'], "")
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes a key for a URL path: RFC 3986 unreserved characters and `/` stay.
pub(crate) fn encode_path(key: &str) -> String {
    crate::urls::encode(key).replace("%2F", "/")
}
