//! `migrate completions SHELL`: prints a completion script generated from the CLI definition.

use clap::CommandFactory;
use clap_complete::Shell;
use migrate::exit::ExitCode;

use crate::cli::Cli;

pub fn run(shell: Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "migrate", &mut std::io::stdout());
    Ok(ExitCode::Success)
}
