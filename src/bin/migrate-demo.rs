//! `migrate-demo`: helpers for the local demo clusters (not part of the product's interface).
//!
//! `seed-group` makes a consumer group exist on a cluster, committed at the start of every
//! partition of a topic, as if its app had started once and consumed nothing yet: the state the
//! demo's groups are in before the apps run, so preflight can check them.

use std::path::PathBuf;
use std::time::Duration;

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
            consumer
                .commit(&offsets, CommitMode::Sync)
                .with_context(|| format!("{bootstrap}: cannot commit offsets for group `{group}`"))?;
            eprintln!(
                "migrate-demo: group `{group}` committed at offset 0 on {} partition(s) of `{topic}`",
                found.partitions().len()
            );
            Ok(())
        }
    }
}
