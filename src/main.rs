//! The `migrate` binary: parses the command line, runs one command, maps the outcome to the
//! documented exit codes.

mod cli;
mod commands;
mod output;

use std::time::Duration;

use clap::Parser;
use migrate::cutover::record::MoveCommand;
use migrate::exit::{ExitCode, Failure, exit_now};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::output::Output;

fn main() {
    // First, before any thread exists: every thread after this one inherits the blocked signals,
    // so no work can start before SIGINT/SIGTERM are handled.
    if let Err(error) = migrate::interrupt::install(output::on_interrupt) {
        eprintln!("error: cannot handle SIGINT/SIGTERM: {error}");
        exit_now(ExitCode::Unexpected);
    }
    let cli = Cli::parse();
    init_tracing(&cli);
    let output = Output::new(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            exit_now(ExitCode::Unexpected);
        }
    };
    let code = runtime.block_on(async {
        // `apply` runs until a signal and then stops gracefully itself; other commands just end.
        if let Command::Apply { timeout, recreate, wait_minutes, no_wait, create_secret } = &cli.command {
            let options = commands::apply::ApplyArgs {
                timeout: *timeout,
                recreate: *recreate,
                wait: Duration::from_secs(wait_minutes.saturating_mul(60)),
                no_wait: *no_wait,
                create_secret: *create_secret,
            };
            return report(&output, commands::apply::run(&cli.global, &output, &options).await);
        }
        // SIGINT/SIGTERM are handled by `migrate::interrupt`: at once, or by the command itself.
        report(&output, run(&cli, &output).await)
    });
    // Blocking Kafka calls may still be running; do not wait for them on the way out.
    runtime.shutdown_timeout(Duration::from_millis(100));
    exit_now(code);
}

async fn run(cli: &Cli, output: &Output) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Init { out, force } => commands::init::run(global, output, out.clone(), *force),
        Command::Validate => commands::validate::run(global, output),
        Command::Plan { timeout } => commands::plan::run(global, output, *timeout).await,
        Command::Completions { shell } => commands::completions::run(*shell),
        Command::Apply { .. } => unreachable!("apply is dispatched before, with graceful shutdown"),
        Command::Status { watch } => commands::status::run(global, output, *watch).await,
        Command::Verify => commands::verify::run(global, output).await,
        Command::Cutover(args) => commands::cutover::run(global, output, args, MoveCommand::Cutover).await,
        Command::Rollback(args) => commands::cutover::run(global, output, args, MoveCommand::Rollback).await,
        Command::Render { out, force, create_secret, delete_secrets, source_acls } => {
            let caller_use = migrate::msk::policy::CallerUse {
                create_secret: *create_secret,
                delete_secrets: *delete_secrets,
                ..Default::default()
            };
            commands::render::run(global, output, out, *force, caller_use, source_acls.as_deref())
        }
        Command::Teardown { force, no_verify, wait_minutes, delete_secrets, remove_synced_acls } => {
            let wait = Duration::from_secs(wait_minutes.saturating_mul(60));
            let options = commands::teardown::TeardownOptions {
                force: *force,
                run_verify: !*no_verify,
                wait,
                delete_secrets: *delete_secrets,
                remove_synced_acls: *remove_synced_acls,
            };
            commands::teardown::run(global, output, &options).await
        }
    }
}

/// Prints a failure (with its hint after a blank line) and picks the exit code. With `-o json`,
/// a command that failed before printing its document prints `{"ok": false, …}` instead, so
/// stdout always holds one JSON document.
fn report(output: &Output, outcome: anyhow::Result<ExitCode>) -> ExitCode {
    let (code, message, hint) = match outcome {
        Ok(code) => return code,
        Err(error) => match error.downcast_ref::<Failure>() {
            Some(user) => {
                if !user.reported {
                    eprintln!("error: {}", user.message);
                    if let Some(hint) = &user.hint {
                        eprintln!("\nhint: {hint}");
                    }
                }
                (user.code, user.message.clone(), user.hint.clone())
            }
            None => {
                eprintln!("error: {error:#}");
                (ExitCode::Unexpected, format!("{error:#}"), None)
            }
        },
    };
    output.failure_json(code, &message, hint.as_deref());
    code
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "migrate=debug,warn",
        (false, _) => "migrate=trace,librdkafka=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal, and never with NO_COLOR: logs in files and CI stay plain text.
    use std::io::IsTerminal;
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .try_init();
}
