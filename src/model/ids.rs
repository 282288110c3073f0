use std::fmt;

use crate::error::{Error, Result};

fn check_id(field: &str, value: &str, max: usize) -> Result<()> {
    let rule = || {
        format!(
            "must match ^[a-z0-9_-]{{1,{max}}}$ (lowercase letters, digits, `-`, `_`; 1 to {max} characters), got {value:?}"
        )
    };
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::invalid(field, rule()));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(Error::invalid(field, rule()));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr_2021) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest id allowed.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::", stringify!($name), " as Id;")]
            /// assert!(Id::new("a".repeat(Id::MAX_LEN)).is_ok());
            /// assert!(Id::new("a".repeat(Id::MAX_LEN + 1)).is_err());
            /// ```
            pub const MAX_LEN: usize = $max;

            /// Validates `id`; a bad id is an [`Error::InvalidInput`] naming the field and rule.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::", stringify!($name), " as Id;")]
            /// assert_eq!(Id::new("nightly-1")?.to_string(), "nightly-1");
            /// assert!(matches!(Id::new("Nightly 1"), Err(roboflow_batch::Error::InvalidInput { .. })));
            /// # Ok::<(), roboflow_batch::Error>(())
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
            /// assert_eq!(Id::new("run_2")?.as_str(), "run_2");
            /// # Ok::<(), roboflow_batch::Error>(())
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

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
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

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                $name::new(s)
            }
        }

        impl TryFrom<&$name> for $name {
            type Error = Error;
            fn try_from(s: &$name) -> Result<Self> {
                Ok(s.clone())
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
    /// use roboflow_batch::BatchId;
    /// assert!(BatchId::new("my-batch_01").is_ok());
    /// let err = BatchId::new("My Batch").unwrap_err();
    /// assert!(err.to_string().contains("batch_id"));
    /// ```
    BatchId,
    "batch_id",
    64
);

id_type!(
    /// A validated job id: `^[a-z0-9_-]{1,20}$`.
    ///
    /// ```
    /// use roboflow_batch::JobId;
    /// assert!(JobId::new("job-1").is_ok());
    /// assert!(JobId::new("a-job-id-that-is-far-too-long").is_err());
    /// ```
    JobId,
    "job_id",
    20
);

impl JobId {
    /// A fresh id of the official client's form: `job-` and 12 random `[a-z0-9]`.
    ///
    /// ```
    /// let id = roboflow_batch::JobId::generate();
    /// assert_eq!(id.as_str().len(), 16);
    /// assert!(id.as_str().starts_with("job-"));
    /// ```
    pub fn generate() -> Self {
        JobId(format!(
            "job-{}",
            crate::rand::string(crate::rand::ID_ALPHABET, 12)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules_table() {
        let long65 = "a".repeat(65);
        let long64 = "a".repeat(64);
        let cases: &[(&str, bool, bool)] = &[
            // (id, valid batch, valid job)
            ("abc", true, true),
            ("a-b_c-9", true, true),
            ("", false, false),
            ("ABC", false, false),
            ("a b", false, false),
            ("a/b", false, false),
            ("ąb", false, false),
            ("abcdefghijklmnopqrst", true, true),
            ("abcdefghijklmnopqrstu", true, false),
            (&long64, true, false),
            (&long65, false, false),
        ];
        for (id, batch_ok, job_ok) in cases {
            assert_eq!(BatchId::new(*id).is_ok(), *batch_ok, "batch {id:?}");
            assert_eq!(JobId::new(*id).is_ok(), *job_ok, "job {id:?}");
        }
    }

    #[test]
    fn error_names_field_and_rule() {
        let e = JobId::new("Bad").unwrap_err().to_string();
        assert!(
            e.contains("job_id") && e.contains("^[a-z0-9_-]{1,20}$") && e.contains("Bad"),
            "{e}"
        );
    }

    #[test]
    fn generated_ids_are_valid_and_differ() {
        let a = JobId::generate();
        let b = JobId::generate();
        assert!(JobId::new(a.as_str()).is_ok());
        assert_ne!(a, b);
    }
}
