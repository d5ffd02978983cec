//! The command line: global options and one subcommand per operator action.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use migrate::exit::EXIT_CODES_HELP;
use migrate::plan::parse_duration;
use migrate::settings::{DEFAULT_PLAN, ENV_PLAN, ENV_STATE_DIR};

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    about = "Move Kafka workloads to Amazon MSK Express: no data lost, no record processed twice, apps moved one at a time, rollback at any moment.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The migration plan (YAML)
    #[arg(short = 'p', long = "plan", global = true, env = ENV_PLAN, default_value = DEFAULT_PLAN, value_name = "FILE")]
    pub plan: PathBuf,

    /// Where migrate keeps its state [default: the plan's `state_dir`, else .migrate/<name> beside the plan]
    #[arg(long, global = true, env = ENV_STATE_DIR, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Output format: a table for people, or one JSON document on stdout for programs
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Answer yes to every confirmation
    #[arg(long, global = true)]
    pub yes: bool,

    /// Treat warnings as failures
    #[arg(long, global = true)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The app's name in the plan
    pub app: String,

    /// Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Duration,

    /// Print the steps without running them
    #[arg(long)]
    pub dry_run: bool,

    /// On a failure after `stop`, leave the app where the move stopped instead of putting it back
    #[arg(long)]
    pub no_auto_revert: bool,

    /// How long the app's topics must stand still on the old side to prove it stopped
    #[arg(long, default_value = "3s", value_parser = parse_duration, value_name = "DURATION")]
    pub fence_window: Duration,

    /// How long the app may take to leave its groups on the old side
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub fence_timeout: Duration,

    /// How long replication may take to bring the app's records and offsets across
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub drain_timeout: Duration,

    /// How long the app may take to work on the new side
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub verify_timeout: Duration,

    /// How long each hook may run before it is killed
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub hook_timeout: Duration,

    /// (msk, cutover) Move although the reverse replicator may have missed writes on MSK to the
    /// topics of the app (an app producing to them ran there before it was RUNNING, or it is not
    /// RUNNING now)
    #[arg(long)]
    pub accept_uncopied_writes: bool,
}

/// A duration as `--wait` takes it (`2s`, `1m`), or a bare number of seconds as `--timeout` always
/// took; at least one second.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => parse_duration(text)?,
    };
    Ok(duration.max(Duration::from_secs(1)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example plan for the three demo apps
    Init {
        /// Where to write it [default: the --plan path]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// Check the plan offline: syntax, fields, references, credentials present
    Validate,
    /// Validate, run preflight against both clusters, and list what apply would do; changes nothing
    Plan {
        /// Bound on each network step (e.g. 10s, 1m; a bare number is seconds)
        #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DURATION")]
        timeout: Duration,
    },
    /// Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and
    /// the role's IAM policies; offline, changes nothing
    Render {
        /// The directory to write into (created if absent)
        #[arg(long, value_name = "DIR", default_value = "msk-replicator-inputs")]
        out: PathBuf,
        /// Overwrite files already there
        #[arg(long)]
        force: bool,
        /// The caller's policy also allows what `apply --create-secret` does
        #[arg(long)]
        create_secret: bool,
        /// The caller's policy also allows what `teardown --delete-secrets` does
        #[arg(long)]
        delete_secrets: bool,
        /// The source's ACLs as `kafka-acls.sh --list` prints them: also write acl-translation.md
        /// (each ACL of the apps' principals and the IAM statement it became)
        #[arg(long, value_name = "FILE")]
        source_acls: Option<PathBuf>,
    },
    /// Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk,
    /// create both MSK Replicators and wait until they run
    Apply {
        /// Bound on each preflight network step (e.g. 10s, 1m; a bare number is seconds)
        #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DURATION")]
        timeout: Duration,
        /// (msk) Delete and create again a replicator that differs from the plan in what AWS
        /// cannot update; asks for confirmation unless --yes
        #[arg(long)]
        recreate: bool,
        /// (msk) How long to wait for RUNNING, in minutes (creation takes tens of minutes)
        #[arg(long, default_value_t = 60, value_name = "MINUTES")]
        wait_minutes: u64,
        /// (msk) Create the replicators and return without waiting for RUNNING
        #[arg(long)]
        no_wait: bool,
        /// (msk) Create the replicator's secret (msk.scram_secret_arn) from the plan's source
        /// credentials and CA when it does not exist, encrypted with msk.secret_kms_key_arn
        #[arg(long)]
        create_secret: bool,
    },
    /// Show the running engine's health (MSK Replicator's metric names) and where each app runs
    Status {
        /// Refresh every 2 s, in place on a terminal
        #[arg(long)]
        watch: bool,
    },
    /// Compare source and target partition by partition, both directions, up to what is replicated
    Verify,
    /// Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)
    Cutover(MoveArgs),
    /// Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)
    Rollback(MoveArgs),
    /// Remove what the migration created once every app runs on the target: the replicators
    /// (msk) or the engine's state (embedded); never the clusters or the role, and secrets only
    /// with --delete-secrets (only those `apply --create-secret` created)
    Teardown {
        /// Go on although some apps still run on the source (prints a warning)
        #[arg(long)]
        force: bool,
        /// Skip `migrate verify` before removing anything
        #[arg(long)]
        no_verify: bool,
        /// (msk) How long to wait for the replicators to disappear, in minutes
        #[arg(long, default_value_t = 30, value_name = "MINUTES")]
        wait_minutes: u64,
        /// (msk) Also delete the secrets `apply --create-secret` created for this plan
        /// (recoverable for 7 days); secrets migrate did not create are never deleted
        #[arg(long)]
        delete_secrets: bool,
        /// Also delete the target ACLs `apply` created under `replication.acls: sync` (exactly
        /// those recorded in the state directory; no other ACL is ever deleted)
        #[arg(long)]
        remove_synced_acls: bool,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: Shell,
    },
}
