//! `migrate-bench`: the engine's figures against the best this machine allows, all measured in one
//! run on the same brokers (run it through `scripts/bench.sh`, which starts the brokers).
//!
//! - the limit: a bare consume → produce loop in Rust with the engine's exact client settings
//!   ([`CONSUMER_TUNING`], [`PRODUCER_TUNING`]) and none of its logic;
//! - the engine (`migrate apply`, one direction and both) on the same backlog, as a ratio of the
//!   limit, with bytes per engine CPU-second and peak RSS;
//! - the loop a user would otherwise write, in Python with confluent-kafka;
//! - replication latency p50/p99 at a steady 1,000 records/s;
//! - engine RSS with 1,000 partitions; `migrate plan` with 1,000 topics and 1,000 groups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use migrate::engine::flow::{CONSUMER_TUNING, PRODUCER_TUNING};
use migrate::engine::{HEADER_ORIGIN, provenance_value};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Parser)]
#[command(name = "migrate-bench")]
struct Args {
    #[arg(long)]
    source: String,
    #[arg(long)]
    target: String,
    /// SCRAM-SHA-512 user on both clusters (none: no SASL)
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
    /// Rounds per engine mode (limit and engine each round; the medians are compared)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Name for this run in the output
    #[arg(long, default_value = "memory")]
    label: String,
    /// Only the throughput figures (bare loop and engine), e.g. for the sqlite comparison
    #[arg(long)]
    throughput_only: bool,
    /// The python interpreter with confluent-kafka
    #[arg(long, default_value = "python3")]
    python: String,
}

const RECORD_BYTES: usize = 1024;

struct Cluster {
    bootstrap: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (source, target) = (
        Cluster {
            bootstrap: args.source.clone(),
            username: args.username.clone(),
            password_file: args.password_files.first().cloned(),
        },
        Cluster {
            bootstrap: args.target.clone(),
            username: args.username.clone(),
            password_file: args.password_files.get(1).cloned(),
        },
    );
    let slug: String =
        args.label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let run = format!("{slug}-{}", std::process::id());
    let records = (args.megabytes * 1024 * 1024 / RECORD_BYTES as u64) as i64;
    let bytes = records as f64 * RECORD_BYTES as f64;
    println!(
        "== {} brokers: {} MiB backlog of {RECORD_BYTES}-byte records over {} partitions ==",
        args.label, args.megabytes, args.partitions
    );

    let workdir = std::env::temp_dir().join(format!("migrate-bench-{run}"));
    std::fs::create_dir_all(&workdir)?;
    // Latency first, on brokers that hold nothing yet: with gigabytes in memory, the broker alone
    // (read straight from the source) takes seconds per record, which would swamp the engine's share.
    if !args.throughput_only {
        latency(&source, &target, &workdir, &run)?;
    }

    let topic = format!("bench-{run}");
    create_topics(&source, &[(topic.as_str(), args.partitions)])?;
    let started = Instant::now();
    produce_backlog(&source, &topic, args.partitions, records)?;
    let elapsed = started.elapsed();
    println!(
        "backlog produced: {records} records in {:.1} s ({:.0} MiB/s)",
        elapsed.as_secs_f64(),
        bytes / 1048576.0 / elapsed.as_secs_f64()
    );

    // Each mode runs `rounds` rounds; a round makes a fresh copy of the backlog on the source (the
    // engine copies under the same name), runs the limit, then the engine, on that very copy (both
    // read the same batches), and deletes every topic it wrote, so each round finds the brokers
    // holding the same data (Nisshi slows down as it holds more). The ratio is of the medians.
    let mut engine_one_direction = 0.0;
    for (name, bidirectional) in [("engine, one direction", false), ("engine, both directions", true)] {
        println!("-- {name}: {} round(s) --", args.rounds);
        let (mut limits, mut headed_rates, mut engines) = (Vec::new(), Vec::new(), Vec::new());
        let (mut limit_cpu, mut engine_cpu, mut peak_rss) = (Vec::new(), Vec::new(), 0u64);
        for round in 0..args.rounds {
            let engine_topic = format!("{topic}-{}-{round}", if bidirectional { "both" } else { "one" });
            create_topics(&source, &[(engine_topic.as_str(), args.partitions)])?;
            bare_loop(&source, &source, &topic, &engine_topic, records, false)?;

            let limit = limit_run(&source, &target, &engine_topic, "bare", (args.partitions, records), false)?;
            limits.push(bytes / limit.elapsed.as_secs_f64());
            limit_cpu.push(limit.cpu_seconds);
            let headed = if bidirectional {
                None
            } else {
                let headed = limit_run(&source, &target, &engine_topic, "headers", (args.partitions, records), true)?;
                headed_rates.push(bytes / headed.elapsed.as_secs_f64());
                Some(headed)
            };

            let plan = write_plan(&workdir, &engine_topic, &source, &target, bidirectional)?;
            let engine = Engine::start(&plan, &workdir)?;
            let outcome =
                engine.wait_copied(&target, &engine_topic, args.partitions, records, Duration::from_secs(600));
            let (cpu, rss) = (engine.cpu_seconds(), engine.peak_rss_kib());
            engine.stop();
            let copy = outcome?;
            delete_topics(&target, &[engine_topic.as_str()])?;
            delete_topics(&source, &[engine_topic.as_str()])?;
            engines.push(bytes / copy.as_secs_f64());
            engine_cpu.push(cpu);
            peak_rss = peak_rss.max(rss);
            println!(
                "round {round}: limit {:.1} MiB/s{}, engine {:.1} MiB/s = {:.2}× this round's limit",
                mib(bytes / limit.elapsed.as_secs_f64()),
                headed.map_or(String::new(), |h| format!(
                    ", with headers {:.1} MiB/s",
                    mib(bytes / h.elapsed.as_secs_f64())
                )),
                mib(bytes / copy.as_secs_f64()),
                limit.elapsed.as_secs_f64() / copy.as_secs_f64()
            );
        }
        let limit = median(&limits);
        println!(
            "limit (bare Rust loop):        {:>8.1} MiB/s  median of {:?}; {:.1} MiB per CPU-second",
            mib(limit),
            limits.iter().map(|r| (mib(*r) * 10.0).round() / 10.0).collect::<Vec<_>>(),
            mib(bytes) / median(&limit_cpu).max(0.001)
        );
        if !headed_rates.is_empty() {
            let headed = median(&headed_rates);
            println!("bare loop + provenance header: {:>8.1} MiB/s  = {:.2}× the limit", mib(headed), headed / limit);
        }
        let engine = median(&engines);
        if !bidirectional {
            engine_one_direction = engine;
        }
        println!(
            "{name:<30} {:>8.1} MiB/s  = {:.2}× the limit (median of {:?}); {:.1} MiB per engine CPU-second; peak RSS {:.0} MiB",
            mib(engine),
            engine / limit,
            engines.iter().map(|r| (mib(*r) * 10.0).round() / 10.0).collect::<Vec<_>>(),
            mib(bytes) / median(&engine_cpu).max(0.001),
            peak_rss as f64 / 1024.0
        );
    }
    if args.throughput_only {
        return Ok(());
    }

    // The loop a user would otherwise write: with confluent-kafka's defaults, as a user would, and
    // with the engine's consumer settings (which a user would have to know to set). Both read a
    // fresh copy of the backlog, like the engine.
    let python_source = format!("{topic}-python");
    create_topics(&source, &[(python_source.as_str(), args.partitions)])?;
    bare_loop(&source, &source, &topic, &python_source, records, false)?;
    let tuned: serde_json::Map<String, serde_json::Value> =
        CONSUMER_TUNING.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    for (label, consumer_settings) in [("defaults", serde_json::Map::new()), ("the engine's consumer settings", tuned)]
    {
        let python_topic = format!("{python_source}-{}", consumer_settings.len());
        create_topics(&target, &[(python_topic.as_str(), args.partitions)])?;
        let outcome = python_loop(
            &args.python,
            &source,
            &target,
            (&python_source, &python_topic),
            args.partitions,
            records,
            &serde_json::Value::Object(consumer_settings).to_string(),
        );
        delete_topics(&target, &[python_topic.as_str()])?;
        match outcome {
            Ok(elapsed) => {
                let rate = bytes / elapsed.as_secs_f64();
                println!(
                    "python confluent-kafka loop ({label}): {:.1} MiB/s ({:.2} s); the engine (one direction) = {:.2}× it",
                    mib(rate),
                    elapsed.as_secs_f64(),
                    engine_one_direction / rate
                );
            }
            Err(error) => println!("python confluent-kafka loop ({label}): not measured: {error:#}"),
        }
    }
    delete_topics(&source, &[python_source.as_str()])?;

    wide_rss(&source, &target, &workdir, &run)?;
    preflight_scale(&source, &target, &workdir, &run)?;
    Ok(())
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

fn send(producer: &BaseProducer, mut record: BaseRecord<'_, [u8], [u8]>) {
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

fn produce_backlog(cluster: &Cluster, topic: &str, partitions: i32, records: i64) -> anyhow::Result<()> {
    let producer = producer(cluster)?;
    let value = vec![b'x'; RECORD_BYTES - 16];
    for i in 0..records {
        let key = format!("key-{:012}", i);
        send(
            &producer,
            BaseRecord::to(topic).partition((i % partitions as i64) as i32).key(key.as_bytes()).payload(&value[..]),
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
    write_plan_with_groups(dir, topics, None, source, target, bidirectional)
}

fn write_plan_with_groups(
    dir: &Path,
    topics: &str,
    groups: Option<&str>,
    source: &Cluster,
    target: &Cluster,
    bidirectional: bool,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("plan-{}.yaml", topics.replace(['/', '*', '\\', '.', '(', ')', '|'], "_")));
    let topic_list = match topics.strip_prefix("regex:") {
        Some(pattern) => format!("[{{ regex: \"{pattern}\" }}]"),
        None => format!("[{topics}]"),
    };
    let yaml = format!(
        "name: bench\nsource:\n  bootstrap_servers: {}\n  replicator_auth: {sa}\n  app_auth: {sa}\ntarget:\n  bootstrap_servers: {}\n  replicator_auth: {ta}\n  app_auth: {ta}\nreplication:\n  topics: {topic_list}\n  groups: {group_list}\n  bidirectional: {bidirectional}\nengine:\n  listen: 127.0.0.1:0\napps: []\n",
        source.bootstrap,
        target.bootstrap,
        sa = source.plan_auth(),
        ta = target.plan_auth(),
        group_list = groups.map_or("[]".to_string(), |g| format!("[{{ regex: \"{g}\" }}]")),
    );
    std::fs::write(&path, yaml)?;
    Ok(path)
}

struct Engine {
    child: Child,
}

impl Engine {
    fn start(plan: &Path, dir: &Path) -> anyhow::Result<Engine> {
        let state = dir.join(format!("state-{}", plan.file_stem().unwrap_or_default().to_string_lossy()));
        let binary = std::env::current_exe()?.with_file_name("migrate");
        let child = Command::new(binary)
            .args([
                "-p",
                plan.to_str().unwrap_or_default(),
                "--state-dir",
                state.to_str().unwrap_or_default(),
                "-q",
                "apply",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Engine { child })
    }

    fn wait_copied(
        &self,
        target: &Cluster,
        topic: &str,
        partitions: i32,
        records: i64,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + limit;
        let mut client = high_watermark_client(target)?;
        let mut first = None;
        loop {
            // A client that looked before the engine created the topic keeps not finding it
            // (librdkafka caches the metadata): a new client then, only then.
            let copied = match high_watermarks_with(&client, topic, partitions) {
                Ok(copied) => copied,
                Err(_) => {
                    client = high_watermark_client(target)?;
                    0
                }
            };
            if copied > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if copied >= records {
                // From the first copy on: preflight and start-up are not replication.
                return Ok(first.map(|f| f.elapsed()).unwrap_or_default());
            }
            if Instant::now() > deadline {
                bail!("{copied} of {records} copied after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn proc_field(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap_or_default()
    }

    fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(&self.proc_field("stat"))
    }

    fn rss_field(&self, name: &str) -> u64 {
        self.proc_field("status")
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    fn peak_rss_kib(&self) -> u64 {
        self.rss_field("VmHWM:")
    }

    fn rss_kib(&self) -> u64 {
        self.rss_field("VmRSS:")
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

/// p50/p99 of (copy received on the target − record timestamp) at a steady 1,000 records/s.
fn latency(source: &Cluster, target: &Cluster, dir: &Path, run: &str) -> anyhow::Result<()> {
    let topic = format!("latency-{run}");
    create_topics(source, &[(topic.as_str(), 12)])?;
    let plan = write_plan(dir, &topic, source, target, true)?;
    let engine = Engine::start(&plan, dir)?;
    // The engine creates the target topic; wait for it before reading.
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = high_watermark_client(target)?;
    while client.fetch_metadata(Some(&topic), Duration::from_secs(5))?.topics()[0].partitions().len() != 12 {
        if Instant::now() > deadline {
            bail!("latency topic never created on the target");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    // The reader uses the engine's consumer settings (a short fetch wait), so its own waiting
    // adds little to the measured latency.
    let reader = consumer(target, &format!("bench-latency-{run}"))?;
    let mut list = TopicPartitionList::new();
    for partition in 0..12 {
        list.add_partition_offset(&topic, partition, Offset::Beginning)?;
    }
    reader.assign(&list)?;
    // The same records read straight from the source: what the broker alone adds.
    let direct = consumer(source, &format!("bench-latency-direct-{run}"))?;
    direct.assign(&list)?;
    let seconds = 15;
    // The first two seconds warm the clients up (connections, metadata, the first fetches): their
    // records are read but not measured, so the figures are the steady state's.
    let warmup = 2;
    let total = 1000 * (warmup + seconds);
    let measured = 1000 * seconds;
    let writer = {
        let source_config = source.config()?;
        let topic = topic.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let mut config = source_config;
            config.set("linger.ms", "0");
            let producer: BaseProducer = config.create()?;
            let started = Instant::now();
            for i in 0..total {
                let due = started + Duration::from_micros(i as u64 * 1000);
                while Instant::now() < due {
                    producer.poll(Duration::ZERO);
                    std::thread::sleep(Duration::from_micros(200));
                }
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
                send(
                    &producer,
                    BaseRecord::to(&topic)
                        .partition(i % 12)
                        .key(if i < 1000 * warmup { b"warm".as_slice() } else { b"k".as_slice() })
                        .payload(b"latency".as_slice())
                        .timestamp(now),
                );
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30))?;
            Ok(())
        })
    };
    // One thread per reader, each polling with a timeout: a reader must never wait on the other
    // (an earlier version alternated 5 ms polls and measured its own backlog).
    let read = |consumer: BaseConsumer| {
        std::thread::spawn(move || -> Vec<i64> {
            let mut latencies = Vec::with_capacity(measured as usize);
            let mut read = 0;
            let deadline = Instant::now() + Duration::from_secs((warmup + seconds) as u64 + 60);
            while read < total && Instant::now() < deadline {
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                    read += 1;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    if message.key() == Some(b"k".as_slice())
                        && let Some(timestamp) = message.timestamp().to_millis()
                    {
                        latencies.push(now - timestamp);
                    }
                }
            }
            latencies
        })
    };
    let (copies, straight) = (read(reader), read(direct));
    let mut latencies = copies.join().map_err(|_| anyhow::anyhow!("reader panicked"))?;
    let mut direct_latencies = straight.join().map_err(|_| anyhow::anyhow!("reader panicked"))?;
    direct_latencies.sort_unstable();
    if !direct_latencies.is_empty() {
        let at = |q: f64| direct_latencies[((direct_latencies.len() as f64 - 1.0) * q).round() as usize];
        println!("broker alone (read straight from the source): p50 {} ms, p99 {} ms", at(0.50), at(0.99));
    }
    writer.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    engine.stop();
    latencies.sort_unstable();
    if latencies.is_empty() {
        bail!("no copy arrived");
    }
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "replication latency at 1,000 records/s: p50 {} ms, p99 {} ms, max {} ms ({} records after a {warmup} s warm-up)",
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1],
        latencies.len()
    );
    Ok(())
}

/// The engine's resident memory with 1,000 partitions assigned (idle).
fn wide_rss(source: &Cluster, target: &Cluster, dir: &Path, run: &str) -> anyhow::Result<()> {
    let topics: Vec<String> = (0..10).map(|i| format!("wide-{run}-{i}")).collect();
    let specs: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), 100)).collect();
    create_topics(source, &specs)?;
    let plan = write_plan(dir, &format!("regex:wide-{run}-.*"), source, target, true)?;
    let engine = Engine::start(&plan, dir)?;
    std::thread::sleep(Duration::from_secs(20));
    let rss = engine.rss_kib();
    let peak = engine.peak_rss_kib();
    engine.stop();
    println!(
        "engine RSS with 1,000 partitions (both directions, idle after 20 s): {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    Ok(())
}

/// `migrate plan` with 1,000 topics and 1,000 groups.
fn preflight_scale(source: &Cluster, target: &Cluster, dir: &Path, run: &str) -> anyhow::Result<()> {
    let topics: Vec<String> = (0..1000).map(|i| format!("pf-{run}-{i}")).collect();
    let specs: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), 1)).collect();
    create_topics(source, &specs)?;
    let mut groups = BTreeMap::new();
    for (i, topic) in topics.iter().enumerate() {
        let group = format!("pfg-{run}-{i}");
        let consumer = consumer(source, &group)?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(topic, 0, Offset::Offset(0))?;
        consumer.commit(&offsets, CommitMode::Sync)?;
        groups.insert(group, topic.clone());
    }
    let plan = write_plan_with_groups(
        dir,
        &format!("regex:pf-{run}-.*"),
        Some(&format!("pfg-{run}-.*")),
        source,
        target,
        true,
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
    Ok(())
}
