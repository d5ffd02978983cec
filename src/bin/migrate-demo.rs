//! `migrate-demo`: the demo's three apps and its helpers (not part of the product's interface).
//!
//! - `orders`, `order-status`, `notification`: the three apps of the reference plan, small but
//!   real rdkafka programs. Each reads its cluster and identity from a librdkafka properties file
//!   (the one `migrate` hands to hooks in `MIGRATE_CLIENT_CONFIG`), makes its effect durable before
//!   committing, and finishes cleanly on SIGTERM/SIGINT (the current record done, clients closed,
//!   so its group is left at once).
//! - `seed-group` makes a consumer group exist on a cluster, committed at the start of every
//!   partition of a topic, as if its app had started once and consumed nothing yet: the state the
//!   demo's groups are in before the apps run, so preflight can check them.
//! - `check` reads the notification ledger and the audit log and prints the demo's summary.

use std::path::PathBuf;
use std::time::Duration;

#[path = "migrate-demo/apps.rs"]
mod apps;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Parser)]
#[command(name = "migrate-demo", about = "Helpers for migrate's local demo clusters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Produce numbered orders (`order-<n>`, key `customer-<n mod keys>`) at a steady rate
    Orders {
        #[command(flatten)]
        app: apps::AppArgs,
        /// Orders per second (the demo sets it for every start, moves included, through the
        /// environment)
        #[arg(long, env = "MIGRATE_DEMO_RATE", default_value_t = 50)]
        rate: u32,
        /// Distinct customers (keys)
        #[arg(long, default_value_t = 8)]
        keys: u64,
    },
    /// Consume orders (group order-status) and produce one status per order
    OrderStatus {
        #[command(flatten)]
        app: apps::AppArgs,
        /// Produce the statuses and commit the orders in one transaction per batch, as this
        /// `transactional.id` (read-process-write, `send_offsets_to_transaction`)
        #[arg(long)]
        transactional_id: Option<String>,
    },
    /// Consume statuses (group notification) and append each to the ledger
    Notification {
        #[command(flatten)]
        app: apps::AppArgs,
    },
    /// Check the ledger: every order delivered once and in order per key; print the summary
    Check {
        /// The notification app's ledger
        #[arg(long)]
        ledger: PathBuf,
        /// The orders app's counter file (the number of orders produced)
        #[arg(long)]
        produced: PathBuf,
        /// migrate's audit log, for the table of moves
        #[arg(long)]
        audit: Option<PathBuf>,
        /// Print the summary as JSON
        #[arg(long)]
        json: bool,
    },
    /// Commit offset 0 on every partition of TOPIC for GROUP (SASL/SCRAM-SHA-512)
    SeedGroup {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        username: String,
        /// File holding the password (never passed on the command line)
        #[arg(long)]
        password_file: PathBuf,
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Orders { app, rate, keys } => apps::orders(&app, rate, keys),
        Command::OrderStatus { app, transactional_id } => apps::order_status(&app, transactional_id.as_deref()),
        Command::Notification { app } => apps::notification(&app),
        Command::Check { ledger, produced, audit, json } => apps::check(&ledger, &produced, audit.as_deref(), json),
        Command::SeedGroup { bootstrap, username, password_file, group, topic } => {
            let password = std::fs::read_to_string(&password_file)
                .with_context(|| format!("cannot read {}", password_file.display()))?;
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("security.protocol", "sasl_plaintext")
                .set("sasl.mechanism", "SCRAM-SHA-512")
                .set("sasl.username", &username)
                .set("sasl.password", password.trim_end())
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .create()
                .context("cannot create a consumer")?;
            let metadata = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .with_context(|| format!("{bootstrap}: cannot read metadata"))?;
            let Some(found) = metadata.topics().first().filter(|t| t.error().is_none() && !t.partitions().is_empty())
            else {
                bail!("{bootstrap}: topic `{topic}` does not exist");
            };
            let mut offsets = TopicPartitionList::new();
            for partition in found.partitions() {
                offsets.add_partition_offset(&topic, partition.id(), Offset::Offset(0))?;
            }
            // A fresh cluster creates its offsets topic on the first commit, and its coordinator
            // is not there at once: a demo failed on it (an error without a cause), the next
            // attempt a second later passed. Tried again for up to 60 s.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
                if std::time::Instant::now() > deadline {
                    return Err(error)
                        .with_context(|| format!("{bootstrap}: cannot commit offsets for group `{group}` (60 s)"));
                }
                eprintln!("migrate-demo: group `{group}`: commit failed ({error}); trying again");
                std::thread::sleep(Duration::from_millis(500));
            }
            eprintln!(
                "migrate-demo: group `{group}` committed at offset 0 on {} partition(s) of `{topic}`",
                found.partitions().len()
            );
            Ok(())
        }
    }
}
