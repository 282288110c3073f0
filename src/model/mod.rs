//! The wire types of the Batch Processing API, shared by the client and the sandbox.
//!
//! Field names are the service's camelCase names (webhook payloads are snake_case).
//! Decoding is tolerant: unknown fields are ignored, enum values this version does not know
//! are kept in an `Other` variant, and timestamps keep their time zone.

mod ids;
pub mod job_request;
pub mod jobs;
mod media;
pub mod staging;
mod timestamp;
pub mod webhook;
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
            /// assert!(!E::KNOWN.is_empty());
            /// assert!(E::KNOWN.iter().all(|s| E::parse(s).is_known()));
            /// ```
            #[allow(dead_code)]
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The value as sent on the wire.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::model::", stringify!($name), " as E;")]
            /// assert_eq!(E::parse(E::KNOWN[0]).as_str(), E::KNOWN[0]);
            /// assert_eq!(E::Other("new-value".into()).as_str(), "new-value");
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
            #[doc = concat!("use roboflow_batch::model::", stringify!($name), " as E;")]
            /// assert!(E::parse(E::KNOWN[0]).is_known());
            /// assert!(!E::parse("no-such-value").is_known());
            /// ```
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }

            /// Parses a wire value; unknown values become `Other`.
            ///
            /// ```
            #[doc = concat!("use roboflow_batch::model::", stringify!($name), " as E;")]
            /// assert_eq!(E::parse(E::KNOWN[0]).to_string(), E::KNOWN[0]);
            /// assert_eq!(E::parse("no-such-value"), E::Other("no-such-value".into()));
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

/// One page of a paginated listing.
///
/// ```
/// use roboflow_batch::model::Page;
/// let page = Page { items: vec![1, 2], next_page_token: None };
/// assert!(page.is_last());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// The token of the next page; `None` (or an empty string) on the last page.
    pub next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// Whether there is no next page (an empty token counts as none).
    ///
    /// ```
    /// use roboflow_batch::model::Page;
    /// assert!(Page { items: vec![1], next_page_token: Some(String::new()) }.is_last());
    /// assert!(!Page { items: vec![1], next_page_token: Some("p2".into()) }.is_last());
    /// ```
    pub fn is_last(&self) -> bool {
        self.next_page_token.as_deref().is_none_or(str::is_empty)
    }
}

#[cfg(test)]
mod tests {
    string_enum! {
        /// Test enum.
        pub enum Color {
            /// Red.
            Red => "red",
        }
    }

    #[test]
    fn string_enum_keeps_unknown_values() {
        let c: Vec<Color> = serde_json::from_str(r#"["red","blue"]"#).unwrap();
        assert_eq!(c, vec![Color::Red, Color::Other("blue".into())]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"["red","blue"]"#);
        assert!(Color::Red.is_known());
        assert!(!c[1].is_known());
    }

    #[test]
    fn string_enums_and_ids_honour_width() {
        assert_eq!(
            format!("{:<5}|{:>5}", Color::Red, Color::Red),
            "red  |  red"
        );
        let id = crate::model::BatchId::new("b1").unwrap();
        assert_eq!(format!("{id:<4}|"), "b1  |");
    }
}
