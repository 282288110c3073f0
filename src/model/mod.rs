//! The wire types of the Batch Processing API, shared by the client and the sandbox. Decoding
//! is tolerant: unknown fields are ignored, unknown enum values kept in `Other`.

mod ids;
pub(crate) mod job_request;
pub(crate) mod jobs;
mod media;
pub(crate) mod staging;
mod timestamp;
pub(crate) mod webhook;
pub(crate) mod whole;

pub use ids::{BatchId, JobId};
pub use job_request::*;
pub use jobs::*;
pub use media::MediaKind;
pub use staging::*;
pub use timestamp::Timestamp;
pub use webhook::*;

/// A field's default for `null` as well as for an absent key (with `#[serde(default)]`).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// `Ok` when `ok`, else an `InvalidInput` error naming `field` and `rule`.
pub(crate) fn ensure(ok: bool, field: &str, rule: impl Into<String>) -> crate::Result<()> {
    ok.then_some(())
        .ok_or_else(|| crate::Error::invalid(field, rule))
}

/// Defines a string enum that keeps unknown values in `Other(String)`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value this version knows, as sent on the wire.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::model::", stringify!($name), " as E;")]
            /// assert!(E::KNOWN.iter().all(|s| E::parse(s).is_known()));
            /// ```
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The value as sent on the wire.
            ///
            /// ```
            #[doc = concat!("let v = roboflow_batch::model::", stringify!($name), "::Other(\"new\".into());")]
            /// assert_eq!(v.as_str(), "new");
            /// ```
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Whether this is one of the [`KNOWN`](Self::KNOWN) values.
            ///
            /// ```
            #[doc = concat!("assert!(!roboflow_batch::model::", stringify!($name), "::parse(\"x\").is_known());")]
            /// ```
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }

            /// Refuses a value this version does not know, naming `field`.
            #[allow(dead_code)]
            pub(crate) fn check(&self, field: &str) -> crate::Result<()> {
                let (v, known) = (self.as_str(), Self::KNOWN);
                let rule = format!("must be one of {}, got {v:?}", known.join(", "));
                $crate::model::ensure(known.contains(&v), field, rule)
            }

            /// Parses a wire value; unknown values become `Other`.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::model::", stringify!($name), " as E;")]
            /// assert_eq!(E::parse(E::KNOWN[0]).to_string(), E::KNOWN[0]);
            /// ```
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so that `{:<7}` in a table lines up.
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::parse(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}
pub(crate) use string_enum;

/// The wire form of one page of a listing: the items under `$field`, and the next token.
macro_rules! listing {
    ($($name:ident { $field:ident: $item:ty })*) => {$(
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<String>,
            pub $field: Vec<$item>,
            pub next_page_token: Option<String>,
        }
    )*};
}
use listing;

/// Builder setters from a table: each gets its doc and a compiled one-line example,
/// `$setup` then `$on.<name>(<example>)`; `$s` names `&mut self` in the body.
macro_rules! setters {
    (setup: $setup:literal, on: $on:literal; $(
        $(#[$doc:meta])* $name:ident($s:ident $(, $arg:ident: $t:ty)*) = $ex:literal $body:block
    )*) => {$(
        $(#[$doc])*
        ///
        /// ```
        #[doc = $setup]
        #[doc = concat!("let _ = ", $on, ".", stringify!($name), "(", $ex, ");")]
        /// ```
        pub fn $name(mut self $(, $arg: $t)*) -> Self {
            let $s = &mut self;
            $body
            self
        }
    )*};
}
pub(crate) use setters;

/// A `Debug` impl listing `$t`'s fields, each as is or through a function of [`shown`].
macro_rules! redacted_debug {
    ($t:ident $(<$lt:lifetime>)? { $($field:ident $(=> $show:ident)?),* $(,)? }) => {
        impl std::fmt::Debug for $t $(<$lt>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($field), &$crate::model::redacted_debug!(@ self.$field $(, $show)?)))*
                    .finish()
            }
        }
    };
    (@ $v:expr) => { &$v };
    (@ $v:expr, $show:ident) => { $crate::model::shown::$show(&$v) };
}
pub(crate) use redacted_debug;

/// How [`redacted_debug`] shows fields that may hold secrets.
pub(crate) mod shown {
    use std::collections::BTreeMap;

    pub(crate) use crate::redact::{RedactedDebug as json, redact_url as url};

    /// An optional URL, with every query value redacted.
    pub fn opt_url(u: &Option<String>) -> Option<String> {
        u.as_deref().map(url)
    }

    /// Whether a secret is set, not what it is.
    #[cfg(feature = "webhook")]
    pub fn secret(v: &Option<String>) -> Option<&'static str> {
        v.as_ref().map(|_| crate::redact::REDACTED)
    }

    /// Header names only: signed headers carry secrets in their values.
    pub fn keys(h: &BTreeMap<String, String>) -> Vec<&String> {
        h.keys().collect()
    }
}
