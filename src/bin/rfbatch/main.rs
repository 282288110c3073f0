//! `rfbatch`: the command-line tool of `roboflow-batch`, a thin layer over the library.
//!
//! `main` parses the command line, builds the client from the global options, runs one
//! command and turns its failure into one line on stderr and an exit code (see `exit`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod args;
mod batch;
mod bench;
mod cli;
mod completions;
mod context;
mod download;
mod exit;
mod ingest_progress;
mod interrupt;
mod job;
mod job_start;
mod job_wait;
mod output;
mod progress;
mod report;
mod run;
mod sandbox;
mod upload;

use cli::{Cli, Command};
use exit::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let g = &cli.global;
    let out = output::Output::new(g.json, g.quiet, g.verbose);
    let secrets: Vec<String> = cli.global.api_key.iter().cloned().collect();
    let result = match cli.command {
        // The sandbox installs its own Ctrl-C handler and reads its own options.
        Command::Sandbox(args) => {
            sandbox::run(args).map_err(|e| Failure::new(exit::Class::Other, e.to_string()))
        }
        Command::Completions(args) => {
            completions::run(&args, <Cli as clap::CommandFactory>::command())
        }
        // These choose their service themselves (an embedded sandbox, or the given one).
        Command::Run(args) => {
            interrupt::install().and_then(|()| run::run(&cli.global, &out, *args))
        }
        Command::Bench(c) => interrupt::install().and_then(|()| bench::run(&cli.global, &out, c)),
        command => interrupt::install().and_then(|()| {
            let ctx = context::connect(&cli.global, &out)?;
            match command {
                Command::Batch(c) => batch::run(&ctx, c),
                Command::Job(c) => job::run(&ctx, c),
                Command::Upload(c) => upload::run(&ctx, c),
                _ => Ok(()),
            }
        }),
    };
    exit::report(result, out.is_json(), &secrets)
}

/// An argument error: clap's text, or with `--json` the JSON error object (class `usage`,
/// exit 2) like every other failure. Asked-for help and version print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect();
    let json = args.iter().any(|a| a == "--json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let (message, hint) = clap_text(&e.render().to_string());
    let mut f = Failure::usage(message);
    f.hint = Some(hint);
    exit::report(Err(f), true, &arg_secrets(&args))
}

/// clap's error text as one message (its `error:` line) and a hint (its `tip:` lines, or
/// where to find the usage).
fn clap_text(text: &str) -> (String, String) {
    let mut message = String::new();
    let mut tips = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("error:") {
            message = m.trim().to_string();
        } else if let Some(t) = line.strip_prefix("tip:") {
            tips.push(t.trim().to_string());
        }
    }
    if message.is_empty() {
        message = text
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim()
            .to_string();
    }
    let hint = if tips.is_empty() {
        "see `rfbatch --help`, or `--help` after the command".to_string()
    } else {
        tips.join("; ")
    };
    (message, hint)
}

/// The API key wherever the command line or the environment gives it, to keep it out of
/// the error.
fn arg_secrets(args: &[String]) -> Vec<String> {
    let mut out: Vec<String> = std::env::var("ROBOFLOW_API_KEY").ok().into_iter().collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--api-key=") {
            out.push(v.to_string());
        } else if a == "--api-key"
            && let Some(v) = args.get(i + 1)
        {
            out.push(v.clone());
        }
    }
    out.retain(|k| !k.is_empty());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_errors_become_a_message_and_a_hint() {
        let (m, h) = super::clap_text(
            "error: unexpected argument '--nope' found\n\n  tip: to pass '--nope' as a value, use '-- --nope'\n\nUsage: rfbatch batch list [OPTIONS]\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(m, "unexpected argument '--nope' found");
        assert_eq!(h, "to pass '--nope' as a value, use '-- --nope'");
        let (m, h) = super::clap_text(
            "error: a value is required for '--batch <BATCH_ID>' but none was supplied\n",
        );
        assert_eq!(
            m,
            "a value is required for '--batch <BATCH_ID>' but none was supplied"
        );
        assert!(h.contains("--help"));
    }
}
