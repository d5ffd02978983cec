//! `migrate-bench`: the engine's figures beside the best this machine allows and beside Apache
//! Kafka's own replicator, all measured in one run on the same brokers and the same data (run it
//! through `scripts/bench.sh`, which starts the brokers and fetches the peers). Each phase prints
//! its figures and merges them into a JSON file (`--results`), so phases can run separately
//! (`--only`) and two runs can be compared:
//!
//! - `kafka-perf`: Kafka's own `kafka-producer-perf-test` and `kafka-consumer-perf-test` on the
//!   source with the same record size and count, as context for the limit;
//! - `engine`: the limit (a bare consume → produce loop in Rust with the engine's exact client
//!   settings, [`CONSUMER_TUNING`] and [`PRODUCER_TUNING`], and none of its logic) and the engine
//!   (`migrate apply`, one direction and both) on the same backlog: MiB/s, records/s, MiB per
//!   CPU-second of the replicator's process tree, peak RSS, median of the rounds;
//! - `mm2`, `mm2-eos`: MirrorMaker 2 (dedicated mode, `IdentityReplicationPolicy`, one direction),
//!   the same figures, the second with `exactly.once.source.support=enabled` (KIP-618);
//! - `redpanda`: Redpanda Connect's migrator, or why it was not run;
//! - `latency`: replication latency p50/p99/p999 at steady rates, for each replicator and for the
//!   records read straight from the source (the broker's own part);
//! - `crash`: each replicator killed with SIGKILL 3 times mid-copy at random moments and
//!   restarted; the records on the target that are there more than once, counted by content;
//! - `python`: the loop a user would otherwise write, in Python with confluent-kafka;
//! - `scale`: engine RSS with 1,000 partitions (idle); throughput and RSS copying 256 MiB over 12,
//!   1,000 and 5,000 partitions (1 and 100 topics); `migrate plan` with 1,000 topics and 1,000 groups;
//! - `moved-group`: a consumer group committed on the source mid-stream, its offsets translated by
//!   each replicator, a consumer in it started on the target: records skipped and seen twice.
//!
//! Every copy is checked by content: the records on the target are read back (read_committed)
//! and each record's key counted, so a phase is done when every record is there, and the
//! duplicates are counted, not guessed from offsets (transaction markers take offsets too).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use migrate::engine::flow::{CONSUMER_TUNING, PRODUCER_TUNING};
use migrate::provenance::{HEADER_ORIGIN, provenance_value};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};

#[derive(Parser, Clone)]
#[command(name = "migrate-bench")]
struct Args {
    #[arg(long)]
    source: String,
    #[arg(long)]
    target: String,
    /// SCRAM-SHA-512 user on both clusters (none: PLAINTEXT, as scripts/bench.sh runs it)
    #[arg(long)]
    username: Option<String>,
    /// Files with the user's password on the source and the target
    #[arg(long, num_args = 2)]
    password_files: Vec<PathBuf>,
    /// Backlog size
    #[arg(long, default_value_t = 1024)]
    megabytes: u64,
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Rounds per replicator and mode (the medians are compared)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Name for this run in the output
    #[arg(long, default_value = "Apache Kafka")]
    label: String,
    /// The phases to run, comma-separated (default: all)
    #[arg(long, value_delimiter = ',', default_values_t = Phase::all())]
    only: Vec<Phase>,
    /// The JSON file each phase merges its figures into
    #[arg(long, default_value = "bench-results.json")]
    results: PathBuf,
    /// Versions to record, `name=version` (the brokers', the peers')
    #[arg(long = "version", value_name = "NAME=VERSION")]
    versions: Vec<String>,
    /// MirrorMaker 2's jars (connect-mirror and the Connect runtime; scripts/bench/pom.xml)
    #[arg(long)]
    mm2_libs: Option<PathBuf>,
    /// The java that runs MirrorMaker 2
    #[arg(long, default_value = "java")]
    java: String,
    /// Why Redpanda Connect's migrator is not measured in this run (recorded as its figures)
    #[arg(long)]
    redpanda_not_run: Option<String>,
    /// Measured seconds per latency run (after the warm-up: until the brokers settle, at most 60 s)
    #[arg(long, default_value_t = 15)]
    latency_seconds: u64,
    /// Steady rates (records/s) the latency is measured at
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10000])]
    latency_rates: Vec<u64>,
    /// The python interpreter with confluent-kafka
    #[arg(long, default_value = "python3")]
    python: String,
    /// The same brokers' SASL_SSL listeners, source and target (comma-separated), for the `secure`
    /// phase: SCRAM-SHA-512 over TLS, as a user the StandardAuthorizer checks against ACLs
    #[arg(long, value_delimiter = ',')]
    secure_bootstraps: Vec<String>,
    /// The `secure` phase's SCRAM user
    #[arg(long)]
    secure_username: Option<String>,
    /// Its password files, source and target (comma-separated)
    #[arg(long, value_delimiter = ',')]
    secure_password_files: Vec<PathBuf>,
    /// The CA files of the SASL_SSL listeners, source and target (comma-separated)
    #[arg(long, value_delimiter = ',')]
    secure_ca_files: Vec<PathBuf>,
    /// Kafka's tool wrappers (kafka-producer-perf-test, kafka-consumer-perf-test)
    #[arg(long, default_value = "scripts/kafka/bin")]
    kafka_bin: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Phase {
    KafkaPerf,
    Engine,
    Mm2,
    Mm2Eos,
    Redpanda,
    Latency,
    Crash,
    Python,
    Scale,
    MovedGroup,
    Secure,
}

impl Phase {
    fn all() -> Vec<Phase> {
        Phase::value_variants().to_vec()
    }

    fn name(self) -> String {
        self.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string())
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

const RECORD_BYTES: usize = 1024;

struct Cluster {
    bootstrap: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    /// A SASL_SSL listener's CA (else SASL_PLAINTEXT, or PLAINTEXT without a username)
    ca_file: Option<PathBuf>,
}

impl Cluster {
    fn config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        if let (Some(user), Some(file)) = (&self.username, &self.password_file) {
            let password = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
            config
                .set("security.protocol", "sasl_plaintext")
                .set("sasl.mechanism", "SCRAM-SHA-512")
                .set("sasl.username", user)
                .set("sasl.password", password.trim_end());
            if let Some(ca) = &self.ca_file {
                config.set("security.protocol", "sasl_ssl").set("ssl.ca.location", ca.display().to_string());
            }
        }
        Ok(config)
    }

    fn plan_auth(&self) -> String {
        match (&self.username, &self.password_file) {
            (Some(user), Some(file)) => {
                format!("{{ mechanism: SCRAM-SHA-512, username: {user}, password: {{ file: {} }} }}", file.display())
            }
            _ => "{ mechanism: none }".into(),
        }
    }

    fn security(&self) -> &'static str {
        match (&self.username, &self.ca_file) {
            (Some(_), Some(_)) => "SASL_SSL (SCRAM-SHA-512)",
            (Some(_), None) => "SASL_PLAINTEXT (SCRAM-SHA-512)",
            (None, _) => "PLAINTEXT",
        }
    }

    /// The plan's `tls:` line of this cluster, if its listener is TLS.
    fn plan_tls(&self) -> String {
        self.ca_file.as_ref().map_or_else(String::new, |ca| format!("\n  tls: {{ ca_file: {} }}", ca.display()))
    }
}

/// What one benchmark run shares with all its phases.
struct Bench {
    args: Args,
    source: Cluster,
    target: Cluster,
    run: String,
    workdir: PathBuf,
    /// The backlog every throughput phase copies (created on first use).
    backlog: Option<String>,
    records: i64,
    results: Results,
}

impl Bench {
    fn bytes(&self) -> f64 {
        self.records as f64 * RECORD_BYTES as f64
    }

    /// The backlog topic, produced once per run: `records` records of [`RECORD_BYTES`], key
    /// `key-<index>` (what the content counts read back), spread round-robin over the partitions.
    fn backlog(&mut self) -> anyhow::Result<String> {
        if let Some(topic) = &self.backlog {
            return Ok(topic.clone());
        }
        let topic = format!("bench-{}", self.run);
        create_topics(&self.source, &[(topic.as_str(), self.args.partitions)])?;
        let started = Instant::now();
        produce_backlog(&self.source, &[topic.as_str()], self.args.partitions, self.records)?;
        let elapsed = started.elapsed();
        println!(
            "backlog produced: {} records in {:.1} s ({:.0} MiB/s)",
            self.records,
            elapsed.as_secs_f64(),
            mib(self.bytes()) / elapsed.as_secs_f64()
        );
        self.backlog = Some(topic.clone());
        Ok(topic)
    }

    /// A fresh copy of the backlog on the source, for one round of one replicator: each round
    /// finds the brokers holding the same data, and no replicator reads what another warmed.
    fn round_topic(&mut self, name: &str) -> anyhow::Result<String> {
        let backlog = self.backlog()?;
        let topic = format!("{backlog}-{name}");
        create_topics(&self.source, &[(topic.as_str(), self.args.partitions)])?;
        bare_loop(&self.source, &self.source, &backlog, &topic, self.records, false)?;
        Ok(topic)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (source, target) = (
        Cluster {
            bootstrap: args.source.clone(),
            username: args.username.clone(),
            password_file: args.password_files.first().cloned(),
            ca_file: None,
        },
        Cluster {
            bootstrap: args.target.clone(),
            username: args.username.clone(),
            password_file: args.password_files.get(1).cloned(),
            ca_file: None,
        },
    );
    let slug: String =
        args.label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let run = format!("{slug}-{}", std::process::id());
    let records = (args.megabytes * 1024 * 1024 / RECORD_BYTES as u64) as i64;
    let workdir = std::env::temp_dir().join(format!("migrate-bench-{run}"));
    std::fs::create_dir_all(&workdir).with_context(|| format!("create {}", workdir.display()))?;
    let results = Results { path: args.results.clone(), run: run_description(&args, &source) };
    println!(
        "== {} brokers ({} as a super user: the authorizer reads no ACL for it; TLS and ACL costs are the secure phase's): \
         {} MiB backlog of {RECORD_BYTES}-byte records over {} partitions; phases {} ==",
        args.label,
        source.security(),
        args.megabytes,
        args.partitions,
        args.only.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
    );
    println!("figures merged into {}", results.path.display());
    let mut bench = Bench { args, source, target, run, workdir, backlog: None, records, results };
    // Latency first, on brokers that hold nothing yet: with gigabytes in the page cache and the
    // log, the broker alone takes longer per record, which would swamp the replicators' share.
    let phases = bench.args.only.clone();
    if phases.contains(&Phase::Latency) {
        let figures = latency_phase(&bench)?;
        bench.results.record(Phase::Latency, figures)?;
    }
    for phase in phases {
        let figures = match phase {
            Phase::Latency => continue,
            Phase::KafkaPerf => kafka_perf_phase(&bench)?,
            Phase::Engine => engine_phase(&mut bench)?,
            Phase::Mm2 => mirror_maker_phase(&mut bench, false)?,
            Phase::Mm2Eos => mirror_maker_phase(&mut bench, true)?,
            Phase::Redpanda => {
                let reason = bench.args.redpanda_not_run.clone().unwrap_or_else(|| {
                    "no migrator binary was given to the harness (scripts/bench.sh builds none)".into()
                });
                println!("-- Redpanda Connect redpanda_migrator: not measured: {reason}");
                json!({ "measured": false, "reason": reason })
            }
            Phase::Crash => crash_phase(&mut bench)?,
            Phase::MovedGroup => moved_group_phase(&bench)?,
            Phase::Secure => secure_phase(&mut bench)?,
            Phase::Python => python_phase(&mut bench)?,
            Phase::Scale => {
                let wide = wide_rss(&bench.source, &bench.target, &bench.workdir, &bench.run)?;
                let plan = preflight_scale(&bench.source, &bench.target, &bench.workdir, &bench.run)?;
                // Copying at 12, 1,000 and 5,000 partitions, over 1 and 100 topics; a size this
                // machine cannot hold (file descriptors, the brokers' memory) is recorded with why.
                let mut copying = Vec::new();
                for (topics, per_topic) in [(1, 12), (1, 1000), (100, 10), (100, 50)] {
                    let partitions = topics as i64 * per_topic as i64;
                    copying.push(scale_copy(&bench, topics, per_topic).unwrap_or_else(|error| {
                        println!("scale: {partitions} partitions over {topics} topic(s): not measured: {error:#}");
                        json!({ "partitions": partitions, "topics": topics, "measured": false, "reason": format!("{error:#}") })
                    }));
                }
                json!({ "engine_rss_1000_partitions": wide, "plan_1000_topics_1000_groups": plan, "copying": copying })
            }
        };
        bench.results.record(phase, figures)?;
    }
    if let Some(backlog) = &bench.backlog {
        delete_topics(&bench.source, &[backlog.as_str()])?;
    }
    // Kept: MirrorMaker's logs (with the client settings it ran with) and the engine's state.
    println!("logs and plans of this run: {}", bench.workdir.display());
    bench.results.summarize()?;
    Ok(())
}

fn run_description(args: &Args, source: &Cluster) -> Value {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .unwrap_or_default();
    let mut versions: BTreeMap<String, String> = args
        .versions
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, version)| (name.to_string(), version.to_string()))
        .collect();
    versions.insert("librdkafka".into(), rdkafka::util::get_rdkafka_version().1);
    versions.insert("migrate".into(), env!("CARGO_PKG_VERSION").into());
    json!({
        "label": args.label,
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "memory_gib": (memory_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
            "cpu": cpu,
        },
        "versions": versions,
        "brokers": format!(
            "one broker per cluster on this machine, {} as a super user of the StandardAuthorizer (no ACL read for it)",
            source.security()
        ),
        "record_bytes": RECORD_BYTES,
        "partitions": args.partitions,
        "megabytes": args.megabytes,
        "records": args.megabytes * 1024 * 1024 / RECORD_BYTES as u64,
        "rounds": args.rounds,
    })
}

/// The JSON file the phases merge their figures into: `run` describes the latest run (machine,
/// versions, sizes), `phases.<name>` holds each phase's latest figures with the time and the
/// machine's load average when it ended, `summary` the ratios the issue's targets are about.
struct Results {
    path: PathBuf,
    run: Value,
}

impl Results {
    fn load(&self) -> anyhow::Result<Value> {
        match std::fs::read_to_string(&self.path) {
            // An empty file (CI hands a fresh `mktemp`) holds no figures yet.
            Ok(text) if text.trim().is_empty() => Ok(json!({})),
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not JSON", self.path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
            Err(error) => Err(error).with_context(|| format!("read {}", self.path.display())),
        }
    }

    fn store(&self, document: &Value) -> anyhow::Result<()> {
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_string_pretty(document)? + "\n")
            .with_context(|| format!("write {}", temporary.display()))?;
        std::fs::rename(&temporary, &self.path).with_context(|| format!("write {}", self.path.display()))
    }

    fn record(&self, phase: Phase, mut figures: Value) -> anyhow::Result<()> {
        let mut document = self.load()?;
        document["run"] = self.run.clone();
        figures["recorded_at_unix"] =
            json!(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        figures["load_average"] = json!(std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
        document["phases"][phase.name()] = figures;
        self.store(&document)?;
        println!("{phase}: figures merged into {}", self.path.display());
        Ok(())
    }

    /// The ratios the targets are stated in, from whatever phases the file holds.
    fn summarize(&self) -> anyhow::Result<()> {
        let mut document = self.load()?;
        let phases = &document["phases"];
        let figure = |phase: &str, path: &[&str]| {
            path.iter().fold(&phases[phase], |value, key| &value[*key]).as_f64().filter(|v| *v > 0.0)
        };
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (a / b * 100.0).round() / 100.0);
        let engine_rate = figure("engine", &["one_direction", "mib_per_second"]);
        let engine_efficiency = figure("engine", &["one_direction", "mib_per_cpu_second"]);
        let summary = json!({
            "engine_one_direction_over_limit": ratio(engine_rate, figure("engine", &["limit", "mib_per_second"])),
            "engine_both_over_one_direction": ratio(figure("engine", &["both_directions", "mib_per_second"]), engine_rate),
            "engine_over_mm2_mib_per_cpu_second": ratio(engine_efficiency, figure("mm2", &["mib_per_cpu_second"])),
            "engine_over_mm2_eos_mib_per_cpu_second": ratio(engine_efficiency, figure("mm2-eos", &["mib_per_cpu_second"])),
            "engine_over_mm2_mib_per_second": ratio(engine_rate, figure("mm2", &["mib_per_second"])),
            "crash_duplicates": phases["crash"].as_object().map(|replicators| replicators
                .iter()
                .filter_map(|(name, figures)| Some((name.clone(), figures.get("duplicates")?.clone())))
                .collect::<serde_json::Map<_, _>>()),
            "moved_group_skipped_and_seen_twice": phases["moved-group"].as_object().map(|replicators| replicators
                .iter()
                .filter(|(_, figures)| figures.get("skipped").is_some())
                .map(|(name, figures)| (name.clone(), json!([figures["skipped"], figures["seen_twice"]])))
                .collect::<serde_json::Map<_, _>>()),
            "cutover_downtime_p50_p99_ms": phases["cutover"].get("downtime_p50_ms")
                .map(|p50| json!([p50, phases["cutover"]["downtime_p99_ms"]])),
        });
        println!("summary (ratios from {}): {summary}", self.path.display());
        document["summary"] = summary;
        self.store(&document)
    }
}

/// The figures of one replicator's copies, over its rounds.
#[derive(Default)]
struct Rounds {
    rates: Vec<f64>,
    cpu_seconds: Vec<f64>,
    peak_rss_kib: u64,
    duplicates: Vec<i64>,
}

impl Rounds {
    fn push(&mut self, bytes: f64, copy: &Copy) {
        self.rates.push(bytes / copy.elapsed.as_secs_f64());
        self.cpu_seconds.push(copy.cpu_seconds);
        self.peak_rss_kib = self.peak_rss_kib.max(copy.peak_rss_kib);
        self.duplicates.push(copy.duplicates);
    }

    fn figures(&self, bytes: f64, records: i64) -> Value {
        let rate = median(&self.rates);
        json!({
            "mib_per_second": round1(mib(rate)),
            "records_per_second": (rate / RECORD_BYTES as f64).round(),
            "rounds_mib_per_second": self.rates.iter().map(|r| round1(mib(*r))).collect::<Vec<_>>(),
            "mib_per_cpu_second": round1(mib(bytes) / median(&self.cpu_seconds).max(0.001)),
            "rounds_cpu_seconds": self.cpu_seconds.iter().map(|c| round1(*c)).collect::<Vec<_>>(),
            "peak_rss_mib": round1(self.peak_rss_kib as f64 / 1024.0),
            "records_per_round": records,
            "duplicates_per_round": self.duplicates,
        })
    }

    /// A round of the limit: a loop inside this process, so no RSS of its own and no duplicates.
    fn push_limit(&mut self, bytes: f64, limit: &Measured) {
        self.rates.push(bytes / limit.elapsed.as_secs_f64());
        self.cpu_seconds.push(limit.cpu_seconds);
    }

    /// [`Rounds::figures`] of the limit, without what only a replicator's own process has.
    fn limit_figures(&self, bytes: f64, records: i64) -> Value {
        let mut figures = self.figures(bytes, records);
        if let Some(fields) = figures.as_object_mut() {
            fields.retain(|key, _| !key.starts_with("peak_rss") && !key.starts_with("duplicates"));
        }
        figures
    }

    fn limit_line(&self, name: &str, bytes: f64) -> String {
        format!(
            "{name:<34} {:>8.1} MiB/s (median of {:?}); {:.1} MiB per CPU-second",
            mib(median(&self.rates)),
            self.rates.iter().map(|r| round1(mib(*r))).collect::<Vec<_>>(),
            mib(bytes) / median(&self.cpu_seconds).max(0.001)
        )
    }

    fn line(&self, name: &str, bytes: f64) -> String {
        format!(
            "{name:<34} {:>8.1} MiB/s (median of {:?}); {:.1} MiB per CPU-second; peak RSS {:.0} MiB",
            mib(median(&self.rates)),
            self.rates.iter().map(|r| round1(mib(*r))).collect::<Vec<_>>(),
            mib(bytes) / median(&self.cpu_seconds).max(0.001),
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Kafka's own producer and consumer perf tests on the source (the target's tools), the same
/// record size and count as the backlog: context for the limit, their output lines recorded.
fn kafka_perf_phase(bench: &Bench) -> anyhow::Result<Value> {
    let topic = format!("perf-{}", bench.run);
    create_topics(&bench.source, &[(topic.as_str(), bench.args.partitions)])?;
    let records = bench.records.to_string();
    let run = |tool: &str, args: &[&str]| -> anyhow::Result<String> {
        let binary = bench.args.kafka_bin.join(tool);
        let output = Command::new(&binary).args(args).output().with_context(|| format!("run {}", binary.display()))?;
        if !output.status.success() {
            bail!("{tool} failed: {}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default());
        }
        Ok(String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_string())
    };
    let producer = run(
        "kafka-producer-perf-test",
        &[
            "--topic",
            &topic,
            "--num-records",
            &records,
            "--record-size",
            &RECORD_BYTES.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={}", bench.source.bootstrap),
            "acks=all",
            "linger.ms=5",
            "batch.size=1048576",
        ],
    )?;
    println!("kafka-producer-perf-test: {producer}");
    let consumer = run(
        "kafka-consumer-perf-test",
        &[
            "--bootstrap-server",
            &bench.source.bootstrap,
            "--topic",
            &topic,
            "--messages",
            &records,
            "--timeout",
            "60000",
        ],
    )?;
    println!("kafka-consumer-perf-test (start.time, end.time, data.consumed.in.MB, MB.sec, ...): {consumer}");
    delete_topics(&bench.source, &[topic.as_str()])?;
    Ok(json!({
        "producer_perf_test": producer,
        "producer_settings": "acks=all linger.ms=5 batch.size=1048576",
        "consumer_perf_test": consumer,
        "consumer_columns": "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec",
    }))
}

/// The limit and the engine, one direction and both, on fresh copies of the same backlog.
fn engine_phase(bench: &mut Bench) -> anyhow::Result<Value> {
    let (partitions, records, bytes) = (bench.args.partitions, bench.records, bench.bytes());
    let mut figures = json!({});
    let mut headed_rates = Vec::new();
    for (name, key, bidirectional) in
        [("engine, one direction", "one_direction", false), ("engine, both directions", "both_directions", true)]
    {
        println!("-- {name}: {} round(s) --", bench.args.rounds);
        let (mut engine_rounds, mut limit_rounds) = (Rounds::default(), Rounds::default());
        for round in 0..bench.args.rounds {
            let topic = bench.round_topic(&format!("{key}-{round}"))?;
            let (source, target) = (&bench.source, &bench.target);
            // The limit reads the very batches the engine reads next: a ratio of this round.
            let limit = limit_run(source, target, &topic, "bare", (partitions, records), false)?;
            limit_rounds.push_limit(bytes, &limit);
            if !bidirectional {
                let headed = limit_run(source, target, &topic, "headers", (partitions, records), true)?;
                headed_rates.push(bytes / headed.elapsed.as_secs_f64());
            }
            let plan = write_plan(&bench.workdir, &topic, source, target, bidirectional)?;
            let mut engine = Replicator::engine(&plan, &bench.workdir)?;
            let outcome = engine.copy(target, &topic, partitions, records, Duration::from_secs(900));
            engine.stop();
            let copy = outcome?;
            delete_topics(target, &[topic.as_str()])?;
            delete_topics(source, &[topic.as_str()])?;
            println!(
                "round {round}: limit {:.1} MiB/s, engine {:.1} MiB/s = {:.2}× this round's limit; {} duplicates",
                mib(bytes / limit.elapsed.as_secs_f64()),
                mib(bytes / copy.elapsed.as_secs_f64()),
                limit.elapsed.as_secs_f64() / copy.elapsed.as_secs_f64(),
                copy.duplicates
            );
            engine_rounds.push(bytes, &copy);
        }
        let (engine_rate, limit_rate) = (median(&engine_rounds.rates), median(&limit_rounds.rates));
        println!("{}", limit_rounds.limit_line("limit (bare Rust loop, one direction)", bytes));
        println!("{} = {:.2}× the limit", engine_rounds.line(name, bytes), engine_rate / limit_rate);
        figures[key] = engine_rounds.figures(bytes, records);
        figures[key]["over_limit"] = json!((engine_rate / limit_rate * 100.0).round() / 100.0);
        let mut limit = limit_rounds.limit_figures(bytes, records);
        if !bidirectional {
            limit["what"] = json!("bare consume → produce loop in Rust, the engine's client settings, no logic");
            figures["limit"] = limit;
        } else {
            figures[key]["limit_this_mode"] = limit;
        }
    }
    if !headed_rates.is_empty() {
        println!("bare loop + provenance header:         {:>8.1} MiB/s", mib(median(&headed_rates)));
        figures["limit_with_provenance_header_mib_per_second"] = json!(round1(mib(median(&headed_rates))));
    }
    figures["engine_settings"] = json!({
        "consumer": CONSUMER_TUNING.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        "producer": PRODUCER_TUNING.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    });
    Ok(figures)
}

/// What TLS and the authorizer cost, once: on the same brokers and data, each round copies the
/// backlog four times, one direction: the limit and the engine over PLAINTEXT (a super user: the
/// authorizer answers it without reading ACLs), then both over SASL_SSL with SCRAM-SHA-512 as a
/// user the StandardAuthorizer checks against its PREFIXED ACLs on every request.
fn secure_phase(bench: &mut Bench) -> anyhow::Result<Value> {
    let args = bench.args.clone();
    let (
        Some(username),
        [source_bootstrap, target_bootstrap],
        [source_password, target_password],
        [source_ca, target_ca],
    ) = (
        &args.secure_username,
        args.secure_bootstraps.as_slice(),
        args.secure_password_files.as_slice(),
        args.secure_ca_files.as_slice(),
    )
    else {
        let reason = "no SASL_SSL listeners given (--secure-bootstraps, --secure-username, --secure-password-files, --secure-ca-files)";
        println!("-- secure: not measured: {reason}");
        return Ok(json!({ "measured": false, "reason": reason }));
    };
    let secure = |bootstrap: &String, password: &PathBuf, ca: &PathBuf| Cluster {
        bootstrap: bootstrap.clone(),
        username: Some(username.clone()),
        password_file: Some(password.clone()),
        ca_file: Some(ca.clone()),
    };
    let (secure_source, secure_target) =
        (secure(source_bootstrap, source_password, source_ca), secure(target_bootstrap, target_password, target_ca));
    let (partitions, records, bytes) = (bench.args.partitions, bench.records, bench.bytes());
    println!("-- secure: TLS and ACL costs, {} round(s) --", bench.args.rounds);
    let mut modes: Vec<(&str, Rounds, Rounds)> =
        vec![("plaintext", Rounds::default(), Rounds::default()), ("sasl_ssl", Rounds::default(), Rounds::default())];
    for round in 0..bench.args.rounds {
        for (mode, limit_rounds, engine_rounds) in &mut modes {
            let topic = bench.round_topic(&format!("secure-{mode}-{round}"))?;
            let (source, target) =
                if *mode == "plaintext" { (&bench.source, &bench.target) } else { (&secure_source, &secure_target) };
            let limit = limit_run(source, target, &topic, "bare", (partitions, records), false)?;
            limit_rounds.push_limit(bytes, &limit);
            let plan = write_plan(&bench.workdir, &topic, source, target, false)?;
            let mut engine = Replicator::engine(&plan, &bench.workdir)?;
            let outcome = engine.copy(target, &topic, partitions, records, Duration::from_secs(900));
            engine.stop();
            let copy = outcome.with_context(|| format!("the engine over {mode}"))?;
            delete_topics(&bench.target, &[topic.as_str()])?;
            delete_topics(&bench.source, &[topic.as_str()])?;
            println!(
                "round {round}, {mode}: limit {:.1} MiB/s, engine {:.1} MiB/s; {} duplicates",
                mib(bytes / limit.elapsed.as_secs_f64()),
                mib(bytes / copy.elapsed.as_secs_f64()),
                copy.duplicates
            );
            engine_rounds.push(bytes, &copy);
        }
    }
    let mut figures = json!({
        "what": "one direction; plaintext: PLAINTEXT as a super user; sasl_ssl: SASL_SSL, SCRAM-SHA-512, a user checked against PREFIXED ACLs by the StandardAuthorizer",
    });
    for (mode, limit_rounds, engine_rounds) in &modes {
        println!("{}", limit_rounds.limit_line(&format!("limit, {mode}"), bytes));
        println!("{}", engine_rounds.line(&format!("engine, {mode}"), bytes));
        figures[*mode] = json!({
            "limit": limit_rounds.limit_figures(bytes, records),
            "engine": engine_rounds.figures(bytes, records),
        });
    }
    // sasl_ssl over plaintext: MiB/s, and MiB per CPU-second (the inverse ratio of CPU-seconds).
    let ratio = |secure: f64, plain: f64| (secure / plain * 100.0).round() / 100.0;
    let ((_, plain_limit, plain_engine), (_, secure_limit, secure_engine)) = (&modes[0], &modes[1]);
    let costs = json!({
        "limit_mib_per_second": ratio(median(&secure_limit.rates), median(&plain_limit.rates)),
        "engine_mib_per_second": ratio(median(&secure_engine.rates), median(&plain_engine.rates)),
        "limit_mib_per_cpu_second": ratio(median(&plain_limit.cpu_seconds), median(&secure_limit.cpu_seconds)),
        "engine_mib_per_cpu_second": ratio(median(&plain_engine.cpu_seconds), median(&secure_engine.cpu_seconds)),
    });
    println!("sasl_ssl over plaintext (1.00 = no cost): {costs}");
    figures["sasl_ssl_over_plaintext"] = costs;
    Ok(figures)
}

/// MirrorMaker 2, one direction, on fresh copies of the backlog: one JVM per round (dedicated
/// mode reads its topics at start), each round timed and its CPU counted from its first copied
/// record, so the JVM's start-up is not counted; the JIT's warm-up is, in every round alike.
fn mirror_maker_phase(bench: &mut Bench, exactly_once: bool) -> anyhow::Result<Value> {
    let name = if exactly_once { "MirrorMaker 2, exactly.once.source.support=enabled" } else { "MirrorMaker 2" };
    let Some(libs) = bench.args.mm2_libs.clone() else {
        bail!("{name}: --mm2-libs was not given (scripts/bench.sh fetches MirrorMaker 2's jars)");
    };
    if bench.source.username.is_some() {
        bail!("{name}: the MirrorMaker phases run against PLAINTEXT brokers only (scripts/bench.sh)");
    }
    let (partitions, records, bytes) = (bench.args.partitions, bench.records, bench.bytes());
    let mut rounds = Rounds::default();
    let mut settings = Value::Null;
    println!("-- {name}: {} round(s) --", bench.args.rounds);
    for round in 0..bench.args.rounds {
        let topic = bench.round_topic(&format!("mm2{}-{round}", if exactly_once { "eos" } else { "" }))?;
        let config = MirrorMakerConfig::tuned(&bench.source, &bench.target, &topic, exactly_once)?;
        settings = config.describe();
        let mut mm2 = Replicator::mirror_maker(&bench.args.java, &libs, &config, &bench.workdir, &topic)?;
        let outcome = mm2.copy(&bench.target, &topic, partitions, records, Duration::from_secs(900));
        mm2.stop();
        let copy = outcome?;
        delete_topics(&bench.target, &[topic.as_str()])?;
        delete_topics(&bench.source, &[topic.as_str()])?;
        println!(
            "round {round}: {:.1} MiB/s, {:.1} CPU-s, peak RSS {:.0} MiB, {} duplicates",
            mib(bytes / copy.elapsed.as_secs_f64()),
            copy.cpu_seconds,
            copy.peak_rss_kib as f64 / 1024.0,
            copy.duplicates
        );
        rounds.push(bytes, &copy);
    }
    println!("{}", rounds.line(name, bytes));
    let mut figures = rounds.figures(bytes, records);
    figures["settings"] = settings;
    Ok(figures)
}

/// MirrorMaker 2's dedicated-mode configuration, tuned per Kafka's guidance for throughput: one
/// task per core, larger producer batches with a short linger, larger fetches.
struct MirrorMakerConfig {
    properties: Vec<(String, String)>,
    /// `exactly.once.source.support=enabled`: its copies come with transaction markers.
    exactly_once: bool,
}

impl MirrorMakerConfig {
    fn tuned(source: &Cluster, target: &Cluster, topics: &str, exactly_once: bool) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut properties: Vec<(String, String)> = [
            ("clusters", "source, target".to_string()),
            ("source.bootstrap.servers", source.bootstrap.clone()),
            ("target.bootstrap.servers", target.bootstrap.clone()),
            ("source->target.enabled", "true".into()),
            ("target->source.enabled", "false".into()),
            ("source->target.topics", topics.replace('.', "\\.")),
            ("replication.policy.class", "org.apache.kafka.connect.mirror.IdentityReplicationPolicy".into()),
            // The single-broker clusters: every internal topic with one replica.
            ("replication.factor", "1".into()),
            ("offset-syncs.topic.replication.factor", "1".into()),
            ("checkpoints.topic.replication.factor", "1".into()),
            ("heartbeats.topic.replication.factor", "1".into()),
            ("offset.storage.replication.factor", "1".into()),
            ("status.storage.replication.factor", "1".into()),
            ("config.storage.replication.factor", "1".into()),
            // The ACLs are not what is measured (MirrorMaker 2 connects as a super user).
            ("sync.topic.acls.enabled", "false".into()),
            ("refresh.topics.interval.seconds", "5".into()),
            ("tasks.max", cores.to_string()),
            ("target.producer.batch.size", "327680".into()),
            ("target.producer.linger.ms", "5".into()),
            ("target.producer.acks", "all".into()),
            ("target.producer.buffer.memory", "67108864".into()),
            ("source.consumer.fetch.max.bytes", "52428800".into()),
            ("source.consumer.max.partition.fetch.bytes", "1048576".into()),
            ("source.consumer.max.poll.records", "2000".into()),
            ("source.consumer.fetch.min.bytes", "1".into()),
            ("offset.flush.timeout.ms", "10000".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        if exactly_once {
            // KIP-618 in dedicated mode needs the workers' internal REST server (KIP-710). A
            // worker's settings are its target cluster's (`target.` prefix): set at the top
            // level, `exactly.once.source.support` never reached the worker (its log said
            // `disabled` and the task producers had no transactional.id).
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            for (key, value) in [
                ("target.exactly.once.source.support", "enabled".to_string()),
                ("dedicated.mode.enable.internal.rest", "true".into()),
                ("listeners", format!("http://127.0.0.1:{port}")),
                ("target.listeners", format!("http://127.0.0.1:{port}")),
                ("source.consumer.isolation.level", "read_committed".into()),
            ] {
                properties.push((key.into(), value));
            }
        }
        Ok(MirrorMakerConfig { properties, exactly_once })
    }

    fn describe(&self) -> Value {
        Value::Object(
            self.properties
                .iter()
                .filter(|(key, _)| !key.ends_with("bootstrap.servers") && !key.ends_with("listeners"))
                .map(|(key, value)| (key.clone(), Value::from(value.as_str())))
                .collect(),
        )
    }

    fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text: String = self.properties.iter().map(|(key, value)| format!("{key} = {value}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
    }
}

/// A replicator under measurement: the engine or a peer, a child process whose whole process
/// tree is measured from `/proc` (the brokers are not in it).
struct Replicator {
    name: String,
    child: Child,
    log: Option<PathBuf>,
    /// Writes transactions: its offsets count markers, so only the content says a copy is done.
    transactional: bool,
}

/// One copy of a backlog, measured.
struct Copy {
    /// From the first record visible on the target to the last one there: when the target's
    /// offsets reached the record count (a replicator without transactions: every offset is a
    /// record, and the content read after proves each is there once), else the last one counted
    /// by content (transaction markers take offsets). Reading 512 MiB back took seconds, which
    /// the limit (timed by its own loop) never paid: a full run had the engine at 0.55× for it.
    elapsed: Duration,
    /// utime + stime of the replicator's process tree over `elapsed`.
    cpu_seconds: f64,
    peak_rss_kib: u64,
    /// Records on the target beyond one copy of each source record.
    duplicates: i64,
}

impl Replicator {
    fn engine(plan: &Path, dir: &Path) -> anyhow::Result<Replicator> {
        let state = dir.join(format!("state-{}", plan.file_stem().unwrap_or_default().to_string_lossy()));
        let binary = std::env::current_exe()?.with_file_name("migrate");
        // Its errors (a preflight that failed: exit 3) kept, named when it exits early.
        let log = state.with_extension("log");
        let child = Command::new(&binary)
            .arg("-p")
            .arg(plan)
            .arg("--state-dir")
            .arg(&state)
            .args(["-q", "apply"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        Ok(Replicator { name: "migrate apply".into(), child, log: Some(log), transactional: false })
    }

    fn mirror_maker(
        java: &str,
        libs: &Path,
        config: &MirrorMakerConfig,
        dir: &Path,
        tag: &str,
    ) -> anyhow::Result<Replicator> {
        let properties = dir.join(format!("mm2-{tag}.properties"));
        config.write(&properties)?;
        let log = dir.join(format!("mm2-{tag}.log"));
        let log4j = dir.join("mm2-log4j.properties");
        std::fs::write(
            &log4j,
            format!(
                "log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\n\
                 log4j.appender.file.File={}\nlog4j.appender.file.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n",
                log.display()
            ),
        )?;
        // The heap connect-mirror-maker.sh gives it; kafka-run-class's GC settings.
        let child = Command::new(java)
            .args(["-Xms256m", "-Xmx2g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
            .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg("org.apache.kafka.connect.mirror.MirrorMaker")
            .arg(&properties)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {java} (MirrorMaker 2)"))?;
        Ok(Replicator { name: "MirrorMaker 2".into(), child, log: Some(log), transactional: config.exactly_once })
    }

    fn tree(&self) -> Vec<u32> {
        process_tree(self.child.id())
    }

    fn cpu_seconds(&self) -> f64 {
        self.tree().iter().map(|pid| proc_cpu_seconds(&read_proc(*pid, "stat"))).sum()
    }

    fn rss_field(&self, name: &str) -> u64 {
        self.tree().iter().map(|pid| status_kib(&read_proc(*pid, "status"), name)).sum()
    }

    fn peak_rss_kib(&self) -> u64 {
        self.rss_field("VmHWM:")
    }

    fn rss_kib(&self) -> u64 {
        self.rss_field("VmRSS:")
    }

    fn exited(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            // Its last words in the error itself: a CI run keeps no log directory.
            let tail = |log: &PathBuf| {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().rev().take(8).collect();
                lines.into_iter().rev().collect::<Vec<_>>().join("\n")
            };
            bail!(
                "{} exited ({status}) before the copy was complete{}",
                self.name,
                self.log.as_ref().map_or(String::new(), |log| format!("; see {}:\n{}", log.display(), tail(log)))
            );
        }
        Ok(())
    }

    /// Waits until every one of `records` is on the target, counted by content.
    fn copy(
        &mut self,
        target: &Cluster,
        topic: &str,
        partitions: i32,
        records: i64,
        limit: Duration,
    ) -> anyhow::Result<Copy> {
        let deadline = Instant::now() + limit;
        let mut client = high_watermark_client(target)?;
        let (mut first, mut cpu_at_first, mut cpu_before) = (None, 0.0, self.cpu_seconds());
        let mut counter: Option<ContentCounter> = None;
        // When the offsets reached `records`, and the CPU then.
        let mut reached: Option<(Duration, f64)> = None;
        loop {
            self.exited()?;
            // A client that looked before the replicator created the topic keeps not finding
            // it (librdkafka caches the metadata): a new client then, only then.
            let offsets = match high_watermarks_with(&client, topic, partitions) {
                Ok(offsets) => offsets,
                Err(_) => {
                    client = high_watermark_client(target)?;
                    0
                }
            };
            if offsets > 0 && first.is_none() {
                // The CPU sampled before the first copy was seen: start-up is not copying.
                first = Some(Instant::now());
                cpu_at_first = cpu_before;
            }
            cpu_before = self.cpu_seconds();
            if offsets >= records && reached.is_none() {
                reached = Some((first.map(|f| f.elapsed()).unwrap_or_default(), cpu_before - cpu_at_first));
            }
            // Offsets count transaction markers too: only the content says when all is there.
            if offsets >= records {
                let counter = match &mut counter {
                    Some(counter) => counter,
                    None => counter.insert(ContentCounter::new(target, topic, partitions, records)?),
                };
                counter.drain()?;
                if counter.distinct >= records {
                    let (elapsed, cpu_seconds) = match reached {
                        // Without a duplicate, offsets reaching the count meant every record.
                        Some(reached) if !self.transactional && counter.total == counter.distinct => reached,
                        _ => (first.map(|f| f.elapsed()).unwrap_or_default(), self.cpu_seconds() - cpu_at_first),
                    };
                    return Ok(Copy {
                        elapsed,
                        cpu_seconds,
                        peak_rss_kib: self.peak_rss_kib(),
                        duplicates: counter.total - counter.distinct,
                    });
                }
            }
            if Instant::now() > deadline {
                let counted = counter.as_ref().map_or(0, |c| c.distinct);
                bail!(
                    "{}: {counted} of {records} records on the target after {limit:?} ({offsets} offsets)",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL to the whole process tree: no shutdown path runs, in-flight data is lost.
    fn kill(mut self) {
        for pid in self.tree() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = self.child.wait();
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_proc(pid: u32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default()
}

fn status_kib(status: &str, name: &str) -> u64 {
    status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// `root` and every process descending from it, from each process's parent in `/proc/*/stat`.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let stat = read_proc(pid, "stat");
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                .unwrap_or(0);
            parents.push((pid, parent));
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        index += 1;
    }
    tree
}

/// Reads a topic on the target back (read_committed, from the beginning, incrementally) and
/// counts each backlog record's key: how many distinct records arrived and how many copies.
struct ContentCounter {
    consumer: BaseConsumer,
    seen: Vec<u8>,
    total: i64,
    distinct: i64,
}

impl ContentCounter {
    fn new(cluster: &Cluster, topic: &str, partitions: i32, records: i64) -> anyhow::Result<Self> {
        let mut config = cluster.config()?;
        config
            .set("group.id", "bench-content")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("fetch.max.bytes", "16777216");
        let consumer: BaseConsumer = config.create()?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&list)?;
        Ok(ContentCounter { consumer, seen: vec![0; records as usize], total: 0, distinct: 0 })
    }

    /// Reads what is there now: until each partition reached its end once, or 5 s of nothing.
    fn drain(&mut self) -> anyhow::Result<()> {
        let partitions = self.consumer.assignment()?.count();
        let mut at_end = std::collections::BTreeSet::new();
        let mut idle = Instant::now();
        while at_end.len() < partitions && idle.elapsed() < Duration::from_secs(5) {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    idle = Instant::now();
                    at_end.remove(&message.partition());
                    self.total += 1;
                    if let Some(count) = record_index(&message).and_then(|i| self.seen.get_mut(i)) {
                        if *count == 0 {
                            self.distinct += 1;
                        }
                        *count = count.saturating_add(1);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    at_end.insert(partition);
                }
                Some(Err(error)) => bail!("reading the copies back: {error}"),
                None => {}
            }
        }
        Ok(())
    }
}

/// Each replicator copies a fresh copy of the backlog and is killed with SIGKILL (its whole
/// process tree) three times, at random points between 10 % and 90 % of the copy, each time
/// restarted at once; when every record is on the target, the records there more than once are
/// counted by content (read_committed, so MirrorMaker's exactly-once mode is read as its
/// consumers would).
fn crash_phase(bench: &mut Bench) -> anyhow::Result<Value> {
    let (partitions, records) = (bench.args.partitions, bench.records);
    let mut kinds = vec![("engine", None)];
    if bench.args.mm2_libs.is_some() && bench.source.username.is_none() {
        kinds.push(("mm2", Some(false)));
        kinds.push(("mm2-eos", Some(true)));
    }
    let mut figures = json!({});
    for (name, mirror_maker) in kinds {
        let topic = bench.round_topic(&format!("crash-{name}"))?;
        let plan = write_plan(&bench.workdir, &topic, &bench.source, &bench.target, false)?;
        let config = MirrorMakerConfig::tuned(&bench.source, &bench.target, &topic, mirror_maker == Some(true))?;
        let start = || match mirror_maker {
            None => Replicator::engine(&plan, &bench.workdir),
            Some(_) => Replicator::mirror_maker(
                &bench.args.java,
                bench.args.mm2_libs.as_deref().unwrap_or(Path::new(".")),
                &config,
                &bench.workdir,
                &topic,
            ),
        };
        let mut points: Vec<f64> = (0..3).map(|_| 0.1 + 0.8 * random_fraction()).collect();
        points.sort_by(f64::total_cmp);
        let mut replicator = start()?;
        let client = high_watermark_client(&bench.target)?;
        let mut killed_at = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(900);
        for point in &points {
            let at = (*point * records as f64) as i64;
            loop {
                replicator.exited()?;
                let offsets = high_watermarks_with(&client, &topic, partitions).unwrap_or(0);
                if offsets >= at {
                    killed_at.push(offsets);
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{name}: {offsets} of {records} offsets on the target after 900 s (crash phase)");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            replicator.kill();
            replicator = start()?;
        }
        let outcome = replicator.copy(&bench.target, &topic, partitions, records, Duration::from_secs(900));
        replicator.stop();
        let copy = outcome?;
        delete_topics(&bench.target, &[topic.as_str()])?;
        delete_topics(&bench.source, &[topic.as_str()])?;
        println!(
            "crash: {name} killed with SIGKILL at {killed_at:?} of {records} offsets on the target, restarted each \
             time: {} records there more than once",
            copy.duplicates
        );
        figures[name] = json!({ "kills": killed_at.len(), "killed_at_offsets": killed_at, "records": records,
            "duplicates": copy.duplicates });
    }
    Ok(figures)
}

/// Records a consumer group is moved through, produced at [`MOVED_GROUP_RATE`] per second.
const MOVED_GROUP_RECORDS: i64 = 20_000;
const MOVED_GROUP_RATE: i64 = 2_000;

/// A consumer group moved mid-stream: records flow into a fresh topic on the source while a
/// consumer in the group reads half of them there and commits; each replicator copies the topic
/// and translates the group's offsets to the target (the engine exactly, for the group of a
/// planned app; MirrorMaker 2 through its checkpoints, `sync.group.offsets.enabled`); when the
/// translation stands still and every record is on the target, a consumer in the same group
/// starts there from what was committed and reads to the end (the replicator still runs, as
/// during a real move; neither writes a group's offsets while it has members there). Counted by content (each record's
/// key): records neither consumer saw (skipped) and records both saw (seen twice).
fn moved_group_phase(bench: &Bench) -> anyhow::Result<Value> {
    let partitions = bench.args.partitions;
    let mut kinds = vec!["engine"];
    if bench.args.mm2_libs.is_some() && bench.source.username.is_none() {
        kinds.push("mm2");
    }
    let mut figures = json!({});
    for name in kinds {
        let topic = format!("moved-{}-{name}", bench.run);
        let group = topic.clone();
        create_topics(&bench.source, &[(topic.as_str(), partitions)])?;
        let mut settings = Value::Null;
        let mut replicator = if name == "engine" {
            let app = format!("[{{ name: mover, consumes: [{{ group: {group}, topics: [{topic}] }}] }}]");
            let plan =
                write_plan_with_groups(&bench.workdir, &topic, Some(&group), &bench.source, &bench.target, true, &app)?;
            Replicator::engine(&plan, &bench.workdir)?
        } else {
            let mut config = MirrorMakerConfig::tuned(&bench.source, &bench.target, &topic, false)?;
            // Checkpoints and the offset sync every second (defaults: 60 s), for this group only;
            // `offset.lag.max` left at its default, as users run it.
            for (key, value) in [
                ("source->target.groups", group.replace('.', "\\.")),
                ("emit.checkpoints.enabled", "true".into()),
                ("emit.checkpoints.interval.seconds", "1".into()),
                ("sync.group.offsets.enabled", "true".into()),
                ("sync.group.offsets.interval.seconds", "1".into()),
                ("refresh.groups.interval.seconds", "1".into()),
            ] {
                config.properties.push((key.into(), value));
            }
            settings = config.describe();
            let libs = bench.args.mm2_libs.as_deref().unwrap_or(Path::new("."));
            Replicator::mirror_maker(&bench.args.java, libs, &config, &bench.workdir, &topic)?
        };
        let outcome = moved_group(bench, &topic, &group, &mut replicator);
        replicator.stop();
        // The run's own error first: a replicator that failed may have made no topic to delete.
        let cleanup = delete_topics(&bench.target, &[topic.as_str()]);
        let mut moved = outcome.with_context(|| format!("moved group: {name}"))?;
        cleanup?;
        delete_topics(&bench.source, &[topic.as_str()])?;
        println!(
            "moved group: {name}: {} records, {} read on the source before the commit, {} on the target from the \
             translated offsets: {} skipped, {} seen twice (translation stood still {:.1} s after the commit)",
            MOVED_GROUP_RECORDS,
            moved["read_on_source"],
            moved["read_on_target"],
            moved["skipped"],
            moved["seen_twice"],
            moved["translated_after_seconds"].as_f64().unwrap_or_default()
        );
        if !settings.is_null() {
            moved["settings"] = settings;
        }
        figures[name] = moved;
    }
    Ok(figures)
}

/// One moved group's run, with `replicator` copying `topic` (see [`moved_group_phase`]).
fn moved_group(bench: &Bench, topic: &str, group: &str, replicator: &mut Replicator) -> anyhow::Result<Value> {
    let partitions = bench.args.partitions;
    let records = MOVED_GROUP_RECORDS;
    let producing = {
        let producer = producer(&bench.source)?;
        let topic = topic.to_string();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let value = vec![b'x'; RECORD_BYTES - 16];
            let started = Instant::now();
            for i in 0..records {
                let due = started + Duration::from_secs_f64(i as f64 / MOVED_GROUP_RATE as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let key = format!("key-{:012}", i);
                let partition = (i % partitions as i64) as i32;
                send(&producer, BaseRecord::to(&topic).partition(partition).key(key.as_bytes()).payload(&value[..]));
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(60))?;
            Ok(())
        })
    };
    // On the source: half the records read in the group, then its positions committed.
    let mut seen = vec![0u8; records as usize];
    let source_consumer = moved_group_consumer(&bench.source, group)?;
    source_consumer.subscribe(&[topic])?;
    let mut read_on_source = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while read_on_source < records / 2 {
        anyhow::ensure!(Instant::now() < deadline, "{read_on_source} records read on the source in 120 s");
        match source_consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                if let Some(index) = record_index(&message) {
                    seen[index] = seen[index].saturating_add(1);
                    read_on_source += 1;
                }
            }
            // Ahead of the producer on a partition: more comes. A topic just created may be
            // unknown to the broker the consumer asks first (a full run failed on it): until
            // the deadline, it comes too.
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition))) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Some(Err(error)) => bail!("reading on the source: {error}"),
        }
    }
    source_consumer.commit_consumer_state(CommitMode::Sync)?;
    let committed_at = Instant::now();
    drop(source_consumer);
    producing.join().map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;

    // The translation on the target: present for every partition committed on the source, and
    // standing still for 5 s (both replicators sync each second).
    let committed_on = |cluster: &Cluster| -> anyhow::Result<BTreeMap<i32, i64>> {
        let consumer = moved_group_consumer(cluster, group)?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some((e.partition(), offset)),
                _ => None,
            })
            .collect())
    };
    let on_source = committed_on(&bench.source)?;
    let (mut last, mut since) = (BTreeMap::new(), Instant::now());
    let translated_after;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        replicator.exited()?;
        let on_target = committed_on(&bench.target)?;
        if on_target != last {
            (last, since) = (on_target.clone(), Instant::now());
        }
        if on_target.len() == on_source.len() && since.elapsed() >= Duration::from_secs(5) {
            translated_after = since.duration_since(committed_at).as_secs_f64();
            break;
        }
        // Not a figure: without a translation the consumer would start from the beginning.
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {} committed partitions translated on the target after 120 s",
            on_target.len(),
            on_source.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every record on the target before the group starts there.
    let client = high_watermark_client(&bench.target)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while high_watermarks_with(&client, topic, partitions).unwrap_or(0) < records {
        anyhow::ensure!(Instant::now() < deadline, "the copy did not complete within 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }

    // On the target: the same group from what the replicator committed there, to the end.
    let target_consumer = moved_group_consumer(&bench.target, group)?;
    target_consumer.subscribe(&[topic])?;
    let (mut read_on_target, mut idle) = (0i64, Instant::now());
    let mut at_end = std::collections::BTreeSet::new();
    while (at_end.len() < partitions as usize) && idle.elapsed() < Duration::from_secs(30) {
        match target_consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                idle = Instant::now();
                at_end.remove(&message.partition());
                if let Some(index) = record_index(&message) {
                    seen[index] = seen[index].saturating_add(1);
                    read_on_target += 1;
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => bail!("reading on the target: {error}"),
            None => {}
        }
    }
    anyhow::ensure!(
        at_end.len() == partitions as usize,
        "reading on the target: {} of {partitions} partitions reached their end (30 s without a record)",
        at_end.len()
    );
    let skipped = seen.iter().filter(|n| **n == 0).count();
    let seen_twice: i64 = seen.iter().map(|n| (*n as i64 - 1).max(0)).sum();
    Ok(json!({
        "records": records,
        "read_on_source": read_on_source,
        "read_on_target": read_on_target,
        "partitions_committed_on_source": on_source.len(),
        "partitions_translated_on_target": last.len(),
        "translated_after_seconds": (translated_after * 10.0).round() / 10.0,
        "skipped": skipped,
        "seen_twice": seen_twice,
    }))
}

/// A consumer in `group` as an application runs one: subscribed, from the earliest record when
/// the group has no offset, committing only when told, seeing each partition's end.
fn moved_group_consumer(cluster: &Cluster, group: &str) -> anyhow::Result<BaseConsumer> {
    let mut config = cluster.config()?;
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true");
    Ok(config.create()?)
}

/// The backlog index in a record's key (`key-<index>`).
fn record_index<M: Message>(message: &M) -> Option<usize> {
    message.key().and_then(|k| std::str::from_utf8(k).ok())?.strip_prefix("key-")?.parse().ok()
}

/// A fraction in [0, 1) from the standard library's randomly keyed hasher (no rand crate for
/// three kill points).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The loop a user would otherwise write: with confluent-kafka's defaults, as a user would, and
/// with the engine's consumer settings (which a user would have to know to set). Both read a
/// fresh copy of the backlog, like the engine.
fn python_phase(bench: &mut Bench) -> anyhow::Result<Value> {
    let python_source = bench.round_topic("python")?;
    let (source, target, partitions, records) = (&bench.source, &bench.target, bench.args.partitions, bench.records);
    let tuned: serde_json::Map<String, Value> =
        CONSUMER_TUNING.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
    let mut figures = json!({});
    for (label, key, consumer_settings) in [
        ("defaults", "defaults", serde_json::Map::new()),
        ("the engine's consumer settings", "engine_consumer_settings", tuned),
    ] {
        let python_topic = format!("{python_source}-{}", consumer_settings.len());
        create_topics(target, &[(python_topic.as_str(), partitions)])?;
        let outcome = python_loop(
            &bench.args.python,
            source,
            target,
            (&python_source, &python_topic),
            partitions,
            records,
            &Value::Object(consumer_settings).to_string(),
        );
        delete_topics(target, &[python_topic.as_str()])?;
        match outcome {
            Ok(elapsed) => {
                let rate = bench.bytes() / elapsed.as_secs_f64();
                println!(
                    "python confluent-kafka loop ({label}): {:.1} MiB/s ({:.2} s)",
                    mib(rate),
                    elapsed.as_secs_f64()
                );
                figures[key] = json!({ "mib_per_second": round1(mib(rate)) });
            }
            Err(error) => {
                println!("python confluent-kafka loop ({label}): not measured: {error:#}");
                figures[key] = json!({ "measured": false, "reason": format!("{error:#}") });
            }
        }
    }
    delete_topics(source, &[python_source.as_str()])?;
    Ok(figures)
}

/// Replication latency (copy read on the target − the record's timestamp) at steady rates, for
/// each replicator; each run also reads the same records straight from the source (the broker's
/// own part of the latency).
fn latency_phase(bench: &Bench) -> anyhow::Result<Value> {
    let mut figures = json!({});
    let mut replicators: Vec<(&str, Option<bool>)> = vec![("engine", None)];
    if bench.args.only.contains(&Phase::Mm2) || bench.args.only.contains(&Phase::Mm2Eos) {
        if bench.args.mm2_libs.is_some() {
            replicators.push(("mm2", Some(false)));
        }
        if bench.args.only.contains(&Phase::Mm2Eos) && bench.args.mm2_libs.is_some() {
            replicators.push(("mm2-eos", Some(true)));
        }
    }
    for (name, mirror_maker) in replicators {
        for rate in &bench.args.latency_rates {
            let topic = format!("latency-{}-{name}-{rate}", bench.run);
            create_topics(&bench.source, &[(topic.as_str(), 12)])?;
            let replicator = match mirror_maker {
                None => {
                    let plan = write_plan(&bench.workdir, &topic, &bench.source, &bench.target, true)?;
                    Replicator::engine(&plan, &bench.workdir)?
                }
                Some(exactly_once) => {
                    let config = MirrorMakerConfig::tuned(&bench.source, &bench.target, &topic, exactly_once)?;
                    let libs = bench.args.mm2_libs.clone().unwrap_or_default();
                    Replicator::mirror_maker(&bench.args.java, &libs, &config, &bench.workdir, &topic)?
                }
            };
            let outcome = latency(&bench.source, &bench.target, &topic, *rate, bench.args.latency_seconds);
            replicator.stop();
            let (copies, direct, warm_up) =
                outcome.with_context(|| format!("latency of {name} at {rate} records/s"))?;
            println!(
                "latency at {rate} records/s: {name} {copies}; broker alone {direct}; {name} adds p50 {} ms, p99 {} ms; acknowledged by the source {}; {}",
                copies.at(0.50) - direct.at(0.50),
                copies.at(0.99) - direct.at(0.99),
                warm_up.acknowledged,
                if warm_up.settled {
                    format!("after a warm-up of {:.0} s", warm_up.took.as_secs_f64())
                } else {
                    format!("the brokers never settled in a {} s warm-up", WARM_UP_LIMIT.as_secs())
                }
            );
            figures[name][format!("{rate}_per_second")] = copies.json();
            figures[name][format!("{rate}_per_second")]["warm_up_s"] = json!(warm_up.took.as_secs_f64());
            figures[name][format!("{rate}_per_second")]["settled"] = json!(warm_up.settled);
            figures["acknowledged_by_the_source"][format!("{rate}_per_second_beside_{name}")] =
                warm_up.acknowledged.json();
            // The replicator's own share: what it adds to the same records read from the source.
            figures[name][format!("{rate}_per_second")]["over_broker_alone_ms"] = json!({
                "p50": copies.at(0.50) - direct.at(0.50),
                "p99": copies.at(0.99) - direct.at(0.99),
                "p999": copies.at(0.999) - direct.at(0.999),
            });
            figures["broker_alone"][format!("{rate}_per_second_beside_{name}")] = direct.json();
        }
    }
    figures["writer_linger_ms"] = json!(LATENCY_LINGER_MS.parse::<u64>().unwrap_or_default());
    figures["writer_settings"] = LATENCY_WRITER.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
    Ok(figures)
}

struct Percentiles {
    sorted: Vec<i64>,
}

impl Percentiles {
    fn at(&self, quantile: f64) -> i64 {
        self.sorted.get(((self.sorted.len() as f64 - 1.0) * quantile).round() as usize).copied().unwrap_or(-1)
    }

    fn json(&self) -> Value {
        json!({
            "p50_ms": self.at(0.50), "p99_ms": self.at(0.99), "p999_ms": self.at(0.999),
            "max_ms": self.sorted.last().copied().unwrap_or(-1), "records": self.sorted.len(),
        })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} ms, p99 {} ms, p999 {} ms, max {} ms ({} records)",
            self.at(0.50),
            self.at(0.99),
            self.at(0.999),
            self.sorted.last().copied().unwrap_or(-1),
            self.sorted.len()
        )
    }
}

const LATENCY_PARTITIONS: i32 = 12;

/// A reader assigned at the current end of each partition of `topic` (the high watermarks read
/// first, so it is positioned before anything is produced: no backlog, no reset to wait for).
fn positioned_reader(cluster: &Cluster, topic: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    let reader = consumer(cluster, group)?;
    let mut list = TopicPartitionList::new();
    for partition in 0..LATENCY_PARTITIONS {
        // A topic just created may not have its leader yet: retried for a minute.
        let deadline = Instant::now() + Duration::from_secs(60);
        let high = loop {
            match reader.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
                Ok((_, high)) => break high,
                Err(error) if Instant::now() > deadline => {
                    return Err(error).with_context(|| format!("{topic} [{partition}] on {}", cluster.bootstrap));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        list.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    reader.assign(&list)?;
    Ok(reader)
}

/// Latency at `rate` records/s for `seconds`, on a replicator already started for `topic`, once
/// the brokers have settled: (copies read on the target, the records read straight from the
/// source, how the warm-up went).
///
/// A freshly started JVM broker answers its first produce requests seconds late while its JIT
/// compiles the request path: on a fresh source broker a Python producer and consumer pair at
/// 1,000 records/s read p50 7.3 s, 1.5 s, 0.4 s, 13 ms and 9 ms in five consecutive 6 s runs.
/// Latency is the first phase, on fresh brokers: without this warm-up it measured the JIT (the
/// broker alone read p50 10–35 s in full runs).
fn latency(
    source: &Cluster,
    target: &Cluster,
    topic: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(Percentiles, Percentiles, WarmUp)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // The replicator creates the target topic; wait for it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let client = high_watermark_client(target)?;
    while client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map(|m| m.topics().first().map_or(0, |t| t.partitions().len()))
        .unwrap_or(0)
        != LATENCY_PARTITIONS as usize
    {
        if Instant::now() > deadline {
            bail!("{topic} never created on the target");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both readers positioned at the end before anything is produced, then proven live: one
    // probe record per partition must reach both (copied by the replicator) before the timed
    // records start. An earlier version assigned from the beginning after the writer started and
    // measured its own start-up (p50 19.4 s on Kafka).
    let reader = positioned_reader(target, topic, "bench-latency")?;
    let direct = positioned_reader(source, topic, "bench-latency-direct")?;
    // Batched for up to 5 ms, as producers are: one record per produce request (linger.ms=0)
    // costs the 2-core machine's source broker more than the replicators it is measured beside.
    let producer: BaseProducer<AckTimes> = {
        let mut config = source.config()?;
        config.set("linger.ms", LATENCY_LINGER_MS);
        for (key, value) in LATENCY_WRITER {
            config.set(*key, *value);
        }
        config.create_with_context(AckTimes::default())?
    };
    for partition in 0..LATENCY_PARTITIONS {
        send(&producer, BaseRecord::to(topic).partition(partition).key(b"probe".as_slice()).payload(b"p".as_slice()));
    }
    producer.flush(Duration::from_secs(30))?;
    for (consumer, side) in [(&reader, "the target"), (&direct, "the source")] {
        let mut probes = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while probes < LATENCY_PARTITIONS {
            if let Some(message) = consumer.poll(Duration::from_millis(100))
                && message?.key() == Some(b"probe".as_slice())
            {
                probes += 1;
            }
            if Instant::now() > deadline {
                bail!("{probes} of {LATENCY_PARTITIONS} probe records read on {side} after 120 s");
            }
        }
    }
    // Warm-up records (key `warm`) at the same rate until the direct reader saw SETTLED_SECONDS
    // whole seconds in a row with every warm record within SETTLED_MS, or WARM_UP_LIMIT passed;
    // then the timed records (key `k`).
    let settled = Arc::new(AtomicBool::new(false));
    let measured = rate * seconds;
    let writer = {
        let (topic, settled) = (topic.to_string(), Arc::clone(&settled));
        std::thread::spawn(move || -> anyhow::Result<(Duration, Percentiles)> {
            let started = Instant::now();
            let interval = Duration::from_secs(1).as_nanos() as u64 / rate.max(1);
            let mut warm_up = None;
            let (mut i, mut timed) = (0u64, 0u64);
            while timed < measured {
                let due = started + Duration::from_nanos(i * interval);
                let now = Instant::now();
                if now < due {
                    producer.poll(Duration::ZERO);
                    std::thread::sleep(due - now);
                }
                let warming = warm_up.is_none();
                if warming && (settled.load(Ordering::SeqCst) || started.elapsed() > WARM_UP_LIMIT) {
                    warm_up = Some(started.elapsed());
                    continue;
                }
                let timestamp = migrate::state::now_ms() as i64;
                send(
                    &producer,
                    BaseRecord::to(&topic)
                        .partition((i % LATENCY_PARTITIONS as u64) as i32)
                        .key(if warming { b"warm".as_slice() } else { b"k".as_slice() })
                        .payload(b"latency".as_slice())
                        .timestamp(timestamp),
                );
                producer.poll(Duration::ZERO);
                i += 1;
                timed += u64::from(!warming);
            }
            // On a loaded machine the broker acknowledges seconds late (the broker-alone figure
            // shows it): the writer waits as long as the readers do.
            producer.flush(Duration::from_secs(120)).context("the latency writer's last records")?;
            let mut acknowledged = std::mem::take(&mut *producer.context().0.lock().unwrap_or_else(|e| e.into_inner()));
            acknowledged.sort_unstable();
            Ok((warm_up.unwrap_or_default(), Percentiles { sorted: acknowledged }))
        })
    };
    // One thread per reader, each polling with a timeout: a reader never waits on the other.
    // The direct reader also judges the warm-up.
    let read = |consumer: BaseConsumer, judge: Option<Arc<AtomicBool>>| {
        std::thread::spawn(move || -> Percentiles {
            let mut latencies = Vec::with_capacity(measured as usize);
            let deadline = Instant::now() + WARM_UP_LIMIT + Duration::from_secs(seconds + 120);
            // This second's warm records' latencies, from when it started.
            let mut window: (Instant, Vec<i64>) = (Instant::now(), Vec::new());
            let mut calm_seconds = 0;
            while (latencies.len() as u64) < measured && Instant::now() < deadline {
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else { continue };
                let now = migrate::state::now_ms() as i64;
                let latency = message.timestamp().to_millis().map(|timestamp| now - timestamp);
                match (message.key(), latency) {
                    (Some(b"k"), Some(latency)) => latencies.push(latency),
                    (Some(b"warm"), Some(latency)) if judge.is_some() => {
                        window.1.push(latency);
                        if window.0.elapsed() >= Duration::from_secs(1) {
                            window.1.sort_unstable();
                            let median = window.1[window.1.len() / 2];
                            calm_seconds = if median <= SETTLED_MS { calm_seconds + 1 } else { 0 };
                            if calm_seconds >= SETTLED_SECONDS
                                && let Some(settled) = &judge
                            {
                                settled.store(true, Ordering::SeqCst);
                            }
                            window = (Instant::now(), Vec::new());
                        }
                    }
                    _ => {}
                }
            }
            latencies.sort_unstable();
            Percentiles { sorted: latencies }
        })
    };
    let (copies, straight) = (read(reader, None), read(direct, Some(Arc::clone(&settled))));
    let copies = copies.join().map_err(|_| anyhow::anyhow!("reader panicked"))?;
    let straight = straight.join().map_err(|_| anyhow::anyhow!("reader panicked"))?;
    let (warm_up, acknowledged) = writer.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    if copies.sorted.len() < measured as usize {
        bail!("{} of {measured} measured records copied within 120 s of the end", copies.sorted.len());
    }
    Ok((copies, straight, WarmUp { took: warm_up, settled: settled.load(Ordering::SeqCst), acknowledged }))
}

/// The writer's delivery reports: each timed record's time from its timestamp to the source
/// broker's acknowledgement (the producer's and the broker's part of the latency, no reader's).
#[derive(Default)]
struct AckTimes(std::sync::Mutex<Vec<i64>>);

impl rdkafka::ClientContext for AckTimes {}

impl rdkafka::producer::ProducerContext for AckTimes {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        let Ok(message) = result else { return };
        if message.key() == Some(b"k".as_slice())
            && let Some(timestamp) = message.timestamp().to_millis()
        {
            let latency = migrate::state::now_ms() as i64 - timestamp;
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
        }
    }
}

/// The latency writer's `linger.ms` (recorded with the figures).
const LATENCY_LINGER_MS: &str = "5";

/// The latency writer's other settings: the Java client's defaults since Kafka 3.0 (idempotent,
/// acks=all), what a producing app runs with. With librdkafka's own defaults (not idempotent)
/// every record read straight from the source, and its acknowledgement, came 9–25 s late at
/// 1,000 records/s through a 60 s warm-up and the measured run, in full runs and alone; with the
/// engine's producer settings the same run read p50 9 ms, p99 40 ms.
const LATENCY_WRITER: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// A whole second of warm-up records read straight from the source whose median is within this
/// many milliseconds of their production counts as calm (a JIT still compiling the broker's
/// request path answers seconds late; a loaded machine's occasional 100 ms must not keep the
/// warm-up going).
const SETTLED_MS: i64 = 100;
/// Calm seconds in a row after which the brokers count as warm.
const SETTLED_SECONDS: u32 = 3;
/// The longest warm-up: measured anyway after it, and said so.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// How a latency run's warm-up went.
struct WarmUp {
    took: Duration,
    /// Whether the brokers settled (else the warm-up ran out at [`WARM_UP_LIMIT`]).
    settled: bool,
    /// The timed records' acknowledgements by the source broker ([`AckTimes`]).
    acknowledged: Percentiles,
}

fn admin(cluster: &Cluster) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(cluster.config()?.create()?)
}

fn delete_topics(cluster: &Cluster, topics: &[&str]) -> anyhow::Result<()> {
    let admin = admin(cluster)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for result in runtime
        .block_on(admin.delete_topics(topics, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)))))?
    {
        result.map_err(|(topic, code)| anyhow::anyhow!("cannot delete {topic}: {code}"))?;
    }
    Ok(())
}

fn create_topics(cluster: &Cluster, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin = admin(cluster)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for chunk in topics.chunks(200) {
        let new: Vec<NewTopic> = chunk
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
            .collect();
        for result in runtime.block_on(
            admin.create_topics(&new, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)))),
        )? {
            if let Err((topic, code)) = result {
                bail!("create {topic}: {code}");
            }
        }
    }
    Ok(())
}

fn producer(cluster: &Cluster) -> anyhow::Result<BaseProducer> {
    let mut config = cluster.config()?;
    for (key, value) in PRODUCER_TUNING {
        config.set(*key, *value);
    }
    Ok(config.create()?)
}

fn send<C: rdkafka::producer::ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(5));
            }
        }
    }
}

/// `records` records of [`RECORD_BYTES`], key `key-<index>` (what the content counts read back),
/// round-robin over the `per_topic` partitions of each of `topics` in turn.
fn produce_backlog(cluster: &Cluster, topics: &[&str], per_topic: i32, records: i64) -> anyhow::Result<()> {
    let producer = producer(cluster)?;
    let value = vec![b'x'; RECORD_BYTES - 16];
    let partitions = topics.len() as i64 * per_topic as i64;
    for i in 0..records {
        let slot = i % partitions;
        let key = format!("key-{:012}", i);
        let topic = topics[(slot / per_topic as i64) as usize];
        send(
            &producer,
            BaseRecord::to(topic).partition((slot % per_topic as i64) as i32).key(key.as_bytes()).payload(&value[..]),
        );
    }
    producer.flush(Duration::from_secs(600))?;
    Ok(())
}

fn consumer(cluster: &Cluster, group: &str) -> anyhow::Result<BaseConsumer> {
    let mut config = cluster.config()?;
    config.set("group.id", group);
    for (key, value) in CONSUMER_TUNING {
        config.set(*key, *value);
    }
    Ok(config.create()?)
}

/// Consume `from` from the beginning, produce each record to the same partition of `to`.
/// Copies `records` from `from` to `to` with the engine's client settings and nothing else; with
/// `provenance`, each copy also gets the engine's provenance header (same size), to tell
/// the cost of the header (in the clients and the brokers) from the cost of the engine's logic.
fn bare_loop(
    origin: &Cluster,
    dest: &Cluster,
    from: &str,
    to: &str,
    records: i64,
    provenance: bool,
) -> anyhow::Result<Duration> {
    let consumer = consumer(origin, &format!("bench-bare-{to}"))?;
    let producer = producer(dest)?;
    let metadata = consumer.fetch_metadata(Some(from), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition_offset(from, partition.id(), Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut first = None;
    let mut copied = 0;
    let mut provenance_buffer = Vec::new();
    while copied < records {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            // Timed from the first record, as the engine is (from its first copy): start-up is
            // not copying.
            first.get_or_insert_with(Instant::now);
            let mut record = BaseRecord::to(to).partition(message.partition());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            let mut headers = message.headers().map(|h| h.detach()).unwrap_or_default();
            if provenance {
                let value = provenance_value(&mut provenance_buffer, "bench-source", message.offset());
                headers = headers.insert(Header { key: HEADER_ORIGIN, value: Some(value) });
            }
            if headers.count() > 0 {
                record = record.headers(headers);
            }
            if let Some(timestamp) = message.timestamp().to_millis() {
                record = record.timestamp(timestamp);
            }
            send(&producer, record);
            copied += 1;
        }
        producer.poll(Duration::ZERO);
        if started.elapsed() > Duration::from_secs(900) {
            bail!("bare loop: {copied} of {records} after 900 s");
        }
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(first.unwrap_or(started).elapsed())
}

/// One timed bare loop of `records` from `from` on the source to a fresh topic `{from}-{label}` of
/// `partitions` partitions on the target, deleted afterwards.
fn limit_run(
    source: &Cluster,
    target: &Cluster,
    from: &str,
    label: &str,
    (partitions, records): (i32, i64),
    provenance: bool,
) -> anyhow::Result<Measured> {
    let to = format!("{from}-{label}");
    create_topics(target, &[(to.as_str(), partitions)])?;
    let cpu = own_cpu_seconds();
    let elapsed = bare_loop(source, target, from, &to, records, provenance)?;
    let measured = Measured { elapsed, cpu_seconds: own_cpu_seconds() - cpu };
    delete_topics(target, &[to.as_str()])?;
    Ok(measured)
}

struct Measured {
    elapsed: Duration,
    /// This process's CPU time (every thread: the loop and librdkafka's), as for the engine.
    cpu_seconds: f64,
}

fn own_cpu_seconds() -> f64 {
    proc_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// utime + stime from a `/proc/<pid>/stat` line, in seconds.
fn proc_cpu_seconds(stat: &str) -> f64 {
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / 1048576.0
}

/// One client for reading high watermarks, reused across calls (a new client per call would load
/// the brokers while the figures are being measured).
fn high_watermark_client(cluster: &Cluster) -> anyhow::Result<BaseConsumer> {
    consumer(cluster, "bench-watermarks")
}

fn high_watermarks_with(consumer: &BaseConsumer, topic: &str, partitions: i32) -> anyhow::Result<i64> {
    let mut total = 0;
    for partition in 0..partitions {
        total += consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?.1;
    }
    Ok(total)
}

/// A plan over `topics` (a name, or `regex:PATTERN`) and, when given, groups matching `groups`.
fn write_plan(
    dir: &Path,
    topics: &str,
    source: &Cluster,
    target: &Cluster,
    bidirectional: bool,
) -> anyhow::Result<PathBuf> {
    write_plan_with_groups(dir, topics, None, source, target, bidirectional, "[]")
}

fn write_plan_with_groups(
    dir: &Path,
    topics: &str,
    groups: Option<&str>,
    source: &Cluster,
    target: &Cluster,
    bidirectional: bool,
    apps: &str,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("plan-{}.yaml", topics.replace(['/', '*', '\\', '.', '(', ')', '|'], "_")));
    let topic_list = match topics.strip_prefix("regex:") {
        Some(pattern) => format!("[{{ regex: \"{pattern}\" }}]"),
        None => format!("[{topics}]"),
    };
    let yaml = format!(
        "name: bench\nsource:\n  bootstrap_servers: {}{stls}\n  replicator_auth: {sa}\n  app_auth: {sa}\ntarget:\n  bootstrap_servers: {}{ttls}\n  replicator_auth: {ta}\n  app_auth: {ta}\nreplication:\n  topics: {topic_list}\n  groups: {group_list}\n  bidirectional: {bidirectional}\nengine:\n  listen: 127.0.0.1:0\napps: {apps}\n",
        source.bootstrap,
        target.bootstrap,
        sa = source.plan_auth(),
        ta = target.plan_auth(),
        stls = source.plan_tls(),
        ttls = target.plan_tls(),
        group_list = groups.map_or("[]".to_string(), |g| format!("[{{ regex: \"{g}\" }}]")),
    );
    std::fs::write(&path, yaml)?;
    Ok(path)
}

const PYTHON_LOOP: &str = r#"
import json, os, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
source, target, frm, to, partitions, records = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
auth = {}
if len(sys.argv) > 7:
    auth = {"security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": sys.argv[7]}
c = Consumer({"bootstrap.servers": source, "group.id": "bench-python", "enable.auto.commit": False, "isolation.level": "read_committed", **json.loads(os.environ["BENCH_CONSUMER_SETTINGS"]), **({**auth, "sasl.password": open(sys.argv[8]).read().strip()} if auth else {})})
p = Producer({"bootstrap.servers": target, "enable.idempotence": True, "acks": "all", "linger.ms": 5, **({**auth, "sasl.password": open(sys.argv[9]).read().strip()} if auth else {})})
c.assign([TopicPartition(frm, i, 0) for i in range(partitions)])
start = time.time(); copied = 0
while copied < records:
    for m in c.consume(1000, 0.1):
        if m.error(): continue
        while True:
            try:
                p.produce(to, m.value(), m.key(), partition=m.partition(), headers=m.headers(), timestamp=m.timestamp()[1]); break
            except BufferError:
                p.poll(0.005)
        copied += 1
    p.poll(0)
p.flush(300)
print(time.time() - start)
"#;

fn python_loop(
    python: &str,
    source: &Cluster,
    target: &Cluster,
    (from, to): (&str, &str),
    partitions: i32,
    records: i64,
    consumer_settings: &str,
) -> anyhow::Result<Duration> {
    let mut command = Command::new(python);
    command.env("BENCH_CONSUMER_SETTINGS", consumer_settings);
    command.args([
        "-c",
        PYTHON_LOOP,
        &source.bootstrap,
        &target.bootstrap,
        from,
        to,
        &partitions.to_string(),
        &records.to_string(),
    ]);
    if let (Some(user), Some(s), Some(t)) = (&source.username, &source.password_file, &target.password_file) {
        command.args([user.as_str(), s.to_str().unwrap_or_default(), t.to_str().unwrap_or_default()]);
    }
    let output = command.output().context("run python3")?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("python failed"));
    }
    let seconds: f64 = String::from_utf8_lossy(&output.stdout).trim().parse().context("python's timing")?;
    Ok(Duration::from_secs_f64(seconds))
}

/// Megabytes the engine copies in each scale run (the run's backlog size when smaller).
const SCALE_COPY_MEGABYTES: i64 = 256;

/// The engine copying a backlog spread over many partitions: `topics` × `per_topic` of them on
/// the source, [`SCALE_COPY_MEGABYTES`] of 1 KiB records round-robin over all, one direction.
/// Timed from the first copy on the target to the last, by the target's high watermarks (summed
/// every 100 ms in one ListOffsets round; the engine writes no transaction markers, so offsets
/// are records); peak RSS while copying (VmHWM of its process), and RSS idle 10 s after.
fn scale_copy(bench: &Bench, topics: usize, per_topic: i32) -> anyhow::Result<Value> {
    let partitions = topics as i64 * per_topic as i64;
    let prefix = format!("scale-{}-{partitions}-{topics}", bench.run);
    let names: Vec<String> = (0..topics).map(|i| format!("{prefix}-{i}")).collect();
    let specs: Vec<(&str, i32)> = names.iter().map(|t| (t.as_str(), per_topic)).collect();
    create_topics(&bench.source, &specs)?;
    let megabytes = SCALE_COPY_MEGABYTES.min(bench.args.megabytes as i64);
    let records = megabytes * 1024 * 1024 / RECORD_BYTES as i64;
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    produce_backlog(&bench.source, &names_ref, per_topic, records)?;
    let plan = write_plan(&bench.workdir, &format!("regex:{prefix}-.*"), &bench.source, &bench.target, false)?;
    let mut engine = Replicator::engine(&plan, &bench.workdir)?;
    let ends = high_watermark_client(&bench.target)?;
    // Before the engine created the topics on the target, nothing is there.
    let copied = || summed_ends(&ends, &names, per_topic).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(900);
    let (mut first, mut cpu_at_first, mut peak_copying) = (None, 0.0, 0u64);
    let outcome = loop {
        if let Err(error) = engine.exited() {
            break Err(error);
        }
        let now = copied();
        if now > 0 && first.is_none() {
            first = Some(Instant::now());
            cpu_at_first = engine.cpu_seconds();
        }
        if first.is_some() {
            peak_copying = peak_copying.max(engine.rss_kib());
        }
        if now >= records {
            let elapsed = first.map_or(Duration::ZERO, |f| f.elapsed());
            break Ok((elapsed, engine.cpu_seconds() - cpu_at_first));
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("{now} of {records} records copied after 900 s ({partitions} partitions)"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let peak = engine.peak_rss_kib();
    std::thread::sleep(Duration::from_secs(10));
    let idle = engine.rss_kib();
    engine.stop();
    // The run's own error first: an engine that failed may have made no topic to delete.
    let cleanup = delete_topics(&bench.target, &names_ref);
    let (elapsed, cpu) = outcome?;
    cleanup?;
    delete_topics(&bench.source, &names_ref)?;
    let bytes = records as f64 * RECORD_BYTES as f64;
    let rate = bytes / elapsed.as_secs_f64().max(0.001);
    println!(
        "scale: {partitions} partitions over {topics} topic(s): engine {:.1} MiB/s ({} MiB in {:.1} s), \
         {:.0} MiB per CPU-second; RSS peak {:.0} MiB (sampled while copying {:.0} MiB), idle after 10 s {:.0} MiB",
        mib(rate),
        megabytes,
        elapsed.as_secs_f64(),
        mib(bytes) / cpu.max(0.001),
        peak as f64 / 1024.0,
        peak_copying as f64 / 1024.0,
        idle as f64 / 1024.0
    );
    Ok(json!({
        "partitions": partitions,
        "topics": topics,
        "megabytes": megabytes,
        "mib_per_second": round1(mib(rate)),
        "seconds": round1(elapsed.as_secs_f64()),
        "mib_per_cpu_second": round1(mib(bytes) / cpu.max(0.001)),
        "peak_rss_mib": round1(peak as f64 / 1024.0),
        "idle_rss_mib_after_10_s": round1(idle as f64 / 1024.0),
    }))
}

/// The sum of the high watermarks of `topics` (each of `per_topic` partitions) on the client's
/// cluster, in one ListOffsets round (timestamp -1: the latest offset), not one request per
/// partition (5,000 of them would take seconds).
fn summed_ends(consumer: &BaseConsumer, topics: &[String], per_topic: i32) -> anyhow::Result<i64> {
    let mut list = TopicPartitionList::new();
    for topic in topics {
        for partition in 0..per_topic {
            list.add_partition_offset(topic, partition, Offset::End)?;
        }
    }
    let found = consumer.offsets_for_times(list, Duration::from_secs(10))?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        })
        .sum())
}

/// The engine's resident memory with 1,000 partitions assigned (idle).
fn wide_rss(source: &Cluster, target: &Cluster, dir: &Path, run: &str) -> anyhow::Result<Value> {
    let topics: Vec<String> = (0..10).map(|i| format!("wide-{run}-{i}")).collect();
    let specs: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), 100)).collect();
    create_topics(source, &specs)?;
    let plan = write_plan(dir, &format!("regex:wide-{run}-.*"), source, target, true)?;
    let engine = Replicator::engine(&plan, dir)?;
    std::thread::sleep(Duration::from_secs(20));
    let rss = engine.rss_kib();
    let peak = engine.peak_rss_kib();
    engine.stop();
    println!(
        "engine RSS with 1,000 partitions (both directions, idle after 20 s): {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    Ok(json!({ "idle_rss_mib": round1(rss as f64 / 1024.0), "peak_rss_mib": round1(peak as f64 / 1024.0) }))
}

/// `migrate plan` with 1,000 topics and 1,000 groups.
fn preflight_scale(source: &Cluster, target: &Cluster, dir: &Path, run: &str) -> anyhow::Result<Value> {
    let topics: Vec<String> = (0..1000).map(|i| format!("pf-{run}-{i}")).collect();
    let specs: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), 1)).collect();
    create_topics(source, &specs)?;
    let mut groups = BTreeMap::new();
    for (i, topic) in topics.iter().enumerate() {
        let group = format!("pfg-{run}-{i}");
        let consumer = consumer(source, &group)?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(topic, 0, Offset::Offset(0))?;
        // A topic just created may be unknown to the coordinator for a moment: retried.
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
            if Instant::now() > deadline {
                return Err(error).with_context(|| format!("commit {group} on {topic}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        groups.insert(group, topic.clone());
    }
    let plan = write_plan_with_groups(
        dir,
        &format!("regex:pf-{run}-.*"),
        Some(&format!("pfg-{run}-.*")),
        source,
        target,
        true,
        "[]",
    )?;
    let binary = std::env::current_exe()?.with_file_name("migrate");
    let started = Instant::now();
    let output = Command::new(binary).args(["-p", plan.to_str().unwrap_or_default(), "-o", "json", "plan"]).output()?;
    let elapsed = started.elapsed();
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let checks = document["checks"].as_array().map_or(0, Vec::len);
    let topics_detail = document["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "topics"))
        .map(|c| c["detail"].to_string())
        .unwrap_or_default();
    println!(
        "migrate plan with 1,000 topics and {} groups: {:.2} s wall clock (exit {}, {checks} checks; topics: {})",
        groups.len(),
        elapsed.as_secs_f64(),
        output.status.code().unwrap_or(-1),
        topics_detail.chars().take(60).collect::<String>()
    );
    Ok(
        json!({ "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0, "exit": output.status.code(), "checks": checks }),
    )
}
