//! What several commands share: global options, value parsers, temporary folders, `maybe`.

use std::time::Duration;

use clap::{ArgAction, Args};

use crate::exit::{Class, Failure};

/// Options every command takes (`rfbatch sandbox` keeps its own `api_key` and `workspace`).
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
    /// JSON output: one document, one object a line for listings, errors as one object.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only results and errors: no progress bars, no notes.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log each request to stderr (query values redacted); -vv adds sizes and content types.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// A `--parallel` value: 1 to the library's most parallel downloads (64), as for uploads.
pub fn parallel(s: &str) -> Result<usize, String> {
    const MAX: usize = roboflow_batch::export::MAX_PARALLELISM;
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX}")),
    }
}

/// A SECONDS value as a duration: positive and finite.
pub fn seconds(s: &str) -> Result<Duration, String> {
    let d = s
        .trim()
        .parse()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok());
    d.filter(|d| !d.is_zero())
        .ok_or_else(|| "must be a positive number of seconds".to_string())
}

/// A temporary folder named `prefix…` in `root`, removed on drop.
pub fn temp_dir(prefix: &str, root: &std::path::Path) -> Result<tempfile::TempDir, Failure> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(root);
    dir.map_err(|e| Failure::new(Class::Other, format!("creating a temporary folder: {e}")))
}

/// How many items a listing shows.
#[derive(Args, Debug, Clone, Copy)]
pub struct Limit {
    /// Stop after this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// A value parser of the library's known values of a string enum, as that type.
macro_rules! known {
    ($t:ty) => {
        clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(<$t>::KNOWN.iter().copied()),
            |s| <$t>::parse(&s),
        )
    };
}
pub(crate) use known;

/// `builder.maybe(opt, Builder::setter)`: calls the setter only for an option given.
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

    /// Those refused: `cli_exit_codes` (`every_parallel_option_takes_1_to_64`, and
    /// `usage_errors_exit_2` for seconds).
    #[test]
    fn bounds_of_parallel_and_seconds() {
        assert!(parallel("1").is_ok() && parallel("64").is_ok());
        assert_eq!(seconds(" 0.5"), Ok(Duration::from_millis(500)));
    }
}
