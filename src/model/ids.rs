//! Validated ids: [`BatchId`] and [`JobId`], checked before anything is sent.

use std::fmt;

use crate::error::{Error, Result};

/// Checks an id against the service's rule, naming `field` in the error.
fn check_id(field: &str, value: &str, max: usize) -> Result<()> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if value.is_empty() || value.len() > max || !value.bytes().all(allowed) {
        return Err(Error::invalid(
            field,
            format!(
                "must match ^[a-z0-9_-]{{1,{max}}}$ (lowercase letters, digits, `-`, `_`; 1 to {max} characters), got {value:?}"
            ),
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr_2021) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `id`; a bad id is an [`Error::InvalidInput`] naming the field and rule.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::", stringify!($name), " as Id;")]
            /// assert!(matches!(Id::new("Nightly 1"), Err(roboflow_batch::Error::InvalidInput { .. })));
            /// ```
            pub fn new(id: impl Into<String>) -> Result<Self> {
                let id = id.into();
                check_id($field, &id, $max)?;
                Ok($name(id))
            }

            /// The id as a string.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::", stringify!($name), " as Id;")]
            /// assert_eq!(Id::new("run_2").unwrap().as_str(), "run_2");
            /// ```
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                $name::new(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A validated batch id: `^[a-z0-9_-]{1,64}$`.
    ///
    /// ```
    /// assert!(roboflow_batch::BatchId::new("My Batch").unwrap_err().to_string().contains("batch_id"));
    /// ```
    BatchId,
    "batch_id",
    64
);

id_type!(
    /// A validated job id: `^[a-z0-9_-]{1,20}$`.
    ///
    /// ```
    /// assert!(roboflow_batch::JobId::new("a-job-id-that-is-far-too-long").is_err());
    /// ```
    JobId,
    "job_id",
    20
);

impl JobId {
    /// A fresh id of the official client's form: `job-` and 12 random `[a-z0-9]`.
    ///
    /// ```
    /// assert!(roboflow_batch::JobId::generate().as_str().starts_with("job-"));
    /// ```
    pub fn generate() -> Self {
        JobId(format!(
            "job-{}",
            crate::rand::string(crate::rand::ID_ALPHABET, 12)
        ))
    }
}
