//! The command line: the top-level commands, each with its module's arguments.

use clap::{Parser, Subcommand};

use crate::args::Global;
use crate::{batch, bench, completions, job, run, sandbox, upload};

#[derive(Parser)]
#[command(
    name = "rfbatch",
    version,
    about = "Roboflow Batch Processing: stage images, run Workflows over them, download the results",
    long_about = "Roboflow Batch Processing: stage images and videos, run Workflows over them as \
                  jobs, follow the jobs and download the results; and a local sandbox of the \
                  service.",
    after_help = crate::exit::EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The main job in one command: upload a folder, run a Workflow over it, download the
    /// results. Run it again after an interruption to resume.
    Run(Box<run::RunArgs>),
    /// Staged batches: list, inspect, count, list shards, parts and files.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Jobs: start, list, inspect, follow logs, abort, restart.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Put data into a batch: images, videos, or references.
    #[command(subcommand)]
    Upload(upload::UploadCommand),
    /// Measures uploads against a service or a built-in sandbox.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Prints a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Runs the local emulator of the service until stopped (Ctrl-C).
    Sandbox(sandbox::SandboxArgs),
}
