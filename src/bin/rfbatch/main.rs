//! `rfbatch`: the command-line tool of `roboflow-batch`, a thin layer over the library.
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
    let secrets: Vec<String> = g.api_key.iter().cloned().collect();
    let result = match cli.command {
        // The sandbox installs its own Ctrl-C handler and reads its own options.
        Command::Sandbox(args) => {
            sandbox::run(args).map_err(|e| Failure::new(exit::Class::Other, e.to_string()))
        }
        Command::Completions(args) => {
            completions::run(&args, <Cli as clap::CommandFactory>::command())
        }
        command => interrupt::install().and_then(|()| match command {
            // These two choose their service themselves (an embedded sandbox, or the given one).
            Command::Run(args) => run::run(g, &out, *args),
            Command::Bench(c) => bench::run(g, &out, c),
            Command::Batch(c) => batch::run(&context::connect(g, &out)?, c),
            Command::Job(c) => job::run(&context::connect(g, &out)?, c),
            Command::Upload(c) => upload::run(&context::connect(g, &out)?, c),
            Command::Sandbox(_) | Command::Completions(_) => Ok(()),
        }),
    };
    exit::report(result, out.json, &secrets)
}

/// An argument error: clap's text, or with `--json` the JSON error object (exit 2).
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
    let f = Failure::usage(message).with_hint(hint);
    exit::report(Err(f), true, &arg_secrets(&args))
}

/// clap's error text as a message (its `error:` line) and a hint (its `tip:` lines).
fn clap_text(text: &str) -> (String, String) {
    let after = |p: &'static str| {
        text.lines()
            .filter_map(move |l| l.trim().strip_prefix(p))
            .map(|s| s.trim().to_string())
    };
    let first = text.lines().next().map(|l| l.trim().to_string());
    let message = after("error:").next_back().or(first);
    let tips: Vec<String> = after("tip:").collect();
    let hint = match tips.is_empty() {
        true => "see `rfbatch --help`, or `--help` after the command".to_string(),
        false => tips.join("; "),
    };
    (message.unwrap_or_else(|| "invalid arguments".into()), hint)
}

/// The API key wherever the arguments or the environment give it, to keep it out of errors.
fn arg_secrets(args: &[String]) -> Vec<String> {
    let given = args.windows(2).filter(|w| w[0] == "--api-key");
    let given = given.map(|w| w[1].clone());
    let inline = args.iter().filter_map(|a| a.strip_prefix("--api-key="));
    let env = std::env::var("ROBOFLOW_API_KEY").ok();
    let all = env.into_iter().chain(given).chain(inline.map(String::from));
    all.filter(|k| !k.is_empty()).collect()
}
