//! `rfbatch completions SHELL`: a completion script for a shell, on stdout.

use clap::Args;
use clap_complete::Shell;

use crate::exit::Failure;

#[derive(Args, Debug)]
#[command(after_help = "Install, for example:
  bash:        rfbatch completions bash > ~/.local/share/bash-completion/completions/rfbatch
  zsh:         rfbatch completions zsh > \"${fpath[1]}/_rfbatch\"
  fish:        rfbatch completions fish > ~/.config/fish/completions/rfbatch.fish
  powershell:  rfbatch completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the script for `cmd`, the whole command line (`Cli::command()`).
pub fn run(args: &CompletionsArgs, mut cmd: clap::Command) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "rfbatch", &mut script);
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(&script)
        .map_err(Failure::output)
}
