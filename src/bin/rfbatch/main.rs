//! `rfbatch`: the command-line tool of `roboflow-batch`, a thin layer over the library.
//!
//! `main` parses the command line, builds the client from the global options, runs one
//! command and turns its failure into one line on stderr and an exit code (see `exit`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

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
mod run;
mod sandbox;
mod upload;
mod upload_files;
mod upload_refs;

use cli::{Cli, Command};
use exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Output::new(&cli.global);
    let secrets: Vec<String> = cli.global.api_key.iter().cloned().collect();
    let result = match cli.command {
        // The sandbox installs its own Ctrl-C handler and reads its own options.
        Command::Sandbox(args) => {
            sandbox::run(args).map_err(|e| Failure::new(exit::Class::Other, e.to_string()))
        }
        Command::Completions(args) => completions::run(&args),
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
