//! `rfbatch`: the command-line tool of `roboflow-batch`. For now it only runs the sandbox;
//! the full client CLI comes later.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sandbox;

#[derive(Parser)]
#[command(
    name = "rfbatch",
    version,
    about = "Roboflow Batch Processing client and local sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the local emulator of the service until killed.
    Sandbox(sandbox::SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sandbox(args) => sandbox::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rfbatch: {e}");
            ExitCode::FAILURE
        }
    }
}
