//! Arguments and helpers that several commands share: the global options, `--limit`,
//! `--parallel`, durations in seconds, and setting only the options given.

use clap::{ArgAction, Args};

use crate::exit::Failure;

/// Options every command takes, before or after its name.
///
/// The ids `api_key` and `workspace` are shared with `rfbatch sandbox`'s own options, so
/// clap leaves the sandbox's in place there instead of adding these.
#[derive(Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Roboflow API key. Sent as the `api_key` query parameter; never printed.
    #[arg(
        long,
        env = "ROBOFLOW_API_KEY",
        hide_env_values = true,
        global = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    // Help given as a string: rustdoc would take the URL in a doc comment for a bare link.
    #[arg(
        long,
        env = "API_BASE_URL",
        hide_env_values = true,
        global = true,
        value_name = "URL",
        help = "Base URL of the service [default: https://api.roboflow.com, or as \
                ROBOFLOW_REGION (us, eu) and ROBOFLOW_ENVIRONMENT select]"
    )]
    pub api_url: Option<String>,
    /// Workspace slug; looked up from the API key when omitted.
    #[arg(long, env = "ROBOFLOW_WORKSPACE", global = true, value_name = "SLUG")]
    pub workspace: Option<String>,
    /// How many times a failed request is retried (transient failures only; 0 to 20).
    #[arg(
        long,
        env = "RFBATCH_RETRIES",
        global = true,
        value_name = "N",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(0..=20)
    )]
    pub retries: u32,
    /// Machine-readable output: one JSON document, or one JSON object per line for listings.
    /// Errors become one JSON object on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only results and errors: no progress bars, no notes.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also log each request to stderr (method, URL with its query values redacted,
    /// status, time); -vv adds sizes, the content type and any Retry-After.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// Shows whether a key is set, never the key.
impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("api_key", &self.api_key.as_ref().map(|_| "REDACTED"))
            .field(
                "api_url",
                &self
                    .api_url
                    .as_deref()
                    .map(roboflow_batch::redact::redact_url),
            )
            .field("workspace", &self.workspace)
            .field("retries", &self.retries)
            .field("json", &self.json)
            .field("quiet", &self.quiet)
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// A `--parallel` value (uploads or downloads): 1 to the library's most parallel downloads
/// (64), which uploads share.
pub fn parallel(s: &str) -> Result<usize, String> {
    const MAX: usize = roboflow_batch::export::MAX_PARALLELISM;
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX}")),
    }
}

/// A `--flag SECONDS` value as a duration: positive and finite.
pub fn seconds(flag: &str, v: f64) -> Result<std::time::Duration, Failure> {
    std::time::Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::usage(format!(
                "{flag} must be a positive number of seconds, got {v}"
            ))
        })
}

/// How many items a listing shows.
#[derive(Args, Debug, Clone, Copy)]
pub struct Limit {
    /// Stop after this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Calls a builder's setter only for an option that was given:
/// `builder.maybe(opt, Builder::setter)`.
pub trait Maybe: Sized {
    fn maybe<T>(self, value: Option<T>, set: impl FnOnce(Self, T) -> Self) -> Self {
        match value {
            Some(v) => set(self, v),
            None => self,
        }
    }
}

impl<B> Maybe for B {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            g: Global,
        }
        let cli = <Cli as clap::Parser>::parse_from(["rfbatch", "--api-key", "k-s3cret-77"]);
        let shown = format!("{:?}", cli.g);
        assert!(!shown.contains("k-s3cret-77"), "{shown}");
        assert!(shown.contains("api_key: Some(\"REDACTED\")"), "{shown}");
    }

    #[test]
    fn parallel_takes_1_to_64() {
        for (s, ok) in [
            ("1", true),
            ("64", true),
            ("0", false),
            ("65", false),
            ("x", false),
        ] {
            assert_eq!(parallel(s).is_ok(), ok, "{s:?}");
        }
    }

    #[test]
    fn seconds_are_positive() {
        for (v, ok) in [(0.5, true), (0.0, false), (-1.0, false), (f64::NAN, false)] {
            assert_eq!(seconds("--timeout", v).is_ok(), ok, "{v}");
        }
    }
}
