//! The demo's apps: `orders` → topic `orders` → `order_status` (group `order-status`) → topic
//! `order_status` → `notification` (group `notification`) → the ledger file.
//!
//! Exactly once under a graceful stop: `orders` counts an order only once its delivery is
//! acknowledged (the counter file names the next order); `order_status` commits an order only once
//! its status is acknowledged; `notification` commits a status only once its ledger line is on
//! disk (fsync). A crash between the effect and the commit would repeat one record: the demo stops
//! apps with SIGTERM, as `migrate`'s hooks do.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use migrate::kafka::iam::IamTokens;
use migrate::kafka::{HasNativeClient, Served};
use rdkafka::client::ClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Args, Clone)]
pub struct AppArgs {
    /// librdkafka properties file with the cluster and the app's identity (a SCRAM or
    /// plaintext side)
    #[arg(long, env = "MIGRATE_CLIENT_CONFIG", required_unless_present = "auth")]
    config: Option<PathBuf>,
    /// `iam`: the side is MSK IAM (what a hook gets instead of a client file); the app signs its
    /// tokens with the default AWS credential chain, for `AWS_REGION` (else the region in the
    /// brokers' names)
    #[arg(long, env = "MIGRATE_AUTH", value_parser = ["iam"])]
    auth: Option<String>,
    /// The side's bootstrap servers (the hook's `MIGRATE_BOOTSTRAP`); used with `--auth iam`
    #[arg(long, env = "MIGRATE_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// With `--auth iam`: the CA file the brokers' certificates are signed by, when not a public
    /// CA (MSK's is public: leave it unset; the local IAM stand-in's is private)
    #[arg(long, env = "MIGRATE_DEMO_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Where the app keeps its files (the orders counter, the ledger)
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[arg(long, default_value = "orders")]
    orders_topic: String,
    #[arg(long, default_value = "order_status")]
    status_topic: String,
    #[arg(long, default_value = "order-status")]
    order_status_group: String,
    #[arg(long, default_value = "notification")]
    notification_group: String,
}

/// librdkafka debug contexts (its `debug` property, e.g. `eos,msg,topic,broker,protocol`) whose
/// lines an app keeps, the last [`DEBUG_LINES`], and writes to its log when a delivery is slow.
const DEBUG_ENV: &str = "MIGRATE_DEMO_RDKAFKA_DEBUG";
const DEBUG_LINES: usize = 3000;

/// The debug contexts [`DEBUG_ENV`] asks for, if any.
fn debug_contexts() -> Option<String> {
    std::env::var(DEBUG_ENV).ok().filter(|contexts| !contexts.is_empty())
}

/// How an app reaches its cluster: librdkafka settings, and the IAM tokens when the side is MSK IAM.
struct Connection {
    config: ClientConfig,
    tokens: Option<Arc<IamTokens>>,
}

impl Connection {
    /// From `--config` (a properties file), or for `--auth iam` from the bootstrap servers.
    fn new(args: &AppArgs) -> anyhow::Result<Connection> {
        let (mut config, tokens) = match (&args.auth, &args.config) {
            (Some(_), _) => iam_config(args)?,
            (None, Some(path)) => (properties(path)?, None),
            (None, None) => bail!("no client configuration: give --config (MIGRATE_CLIENT_CONFIG) or --auth iam"),
        };
        // rdkafka hands the context only what its log level lets through, and without a `log`
        // logger that level is Error: warnings would never reach the app's log.
        config.set_log_level(RDKafkaLogLevel::Warning);
        if let Some(contexts) = debug_contexts() {
            config.set("debug", contexts).set_log_level(RDKafkaLogLevel::Debug);
        }
        Ok(Connection { config, tokens })
    }

    /// A client with `extra` settings; its IAM tokens served by a thread of its own
    /// ([`migrate::kafka::create`]) so it gets a fresh one before each expires.
    fn create<T>(&self, extra: &[(&str, &str)], app: &'static str) -> anyhow::Result<Served<T>>
    where
        T: HasNativeClient<Context = AppContext> + FromClientConfigAndContext<AppContext>,
    {
        let mut config = self.config.clone();
        for (key, value) in extra {
            config.set(*key, *value);
        }
        Ok(migrate::kafka::create(&config, AppContext::new(app), self.tokens.clone())?)
    }
}

fn properties(path: &Path) -> anyhow::Result<ClientConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut config = ClientConfig::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) =
            line.split_once('=').with_context(|| format!("{}: `{line}` is not key=value", path.display()))?;
        config.set(key.trim(), value.trim());
    }
    // Without it librdkafka only warns and then waits for brokers it will never know: an app
    // given an empty or half-written file would sit silent, a producer for minutes, a consumer
    // for ever.
    if config.get("bootstrap.servers").is_none_or(|servers| servers.trim().is_empty()) {
        bail!("{}: no bootstrap.servers", path.display());
    }
    Ok(config)
}

/// An MSK IAM side: SASL_SSL with OAUTHBEARER tokens signed as MSK IAM's.
fn iam_config(args: &AppArgs) -> anyhow::Result<(ClientConfig, Option<Arc<IamTokens>>)> {
    let Some(bootstrap) = args.bootstrap.as_deref().map(str::trim).filter(|b| !b.is_empty()) else {
        bail!("--auth iam needs the bootstrap servers (--bootstrap, MIGRATE_BOOTSTRAP)");
    };
    let servers: Vec<String> = bootstrap.split(',').map(|s| s.trim().to_string()).collect();
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|r| !r.is_empty()))
        .or_else(|| migrate::aws::region::region_in_broker_names(&servers))
        .context("--auth iam: no region (set AWS_REGION, or use MSK's broker names)")?;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "sasl_ssl")
        .set("sasl.mechanism", "OAUTHBEARER");
    if let Some(ca) = &args.ca_file {
        config.set("ssl.ca.location", ca.display().to_string());
    }
    Ok((config, Some(Arc::new(IamTokens::new(region)))))
}

/// Set on SIGTERM or SIGINT.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let set = flag.clone();
    std::thread::spawn(move || {
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            set.store(true, Ordering::SeqCst);
        })
    });
    Ok(flag)
}

/// Replaces the counter atomically, without fsync (unlike `migrate::state::write_atomically`):
/// the demo stops its apps gracefully. With an fsync of the file and its directory per order,
/// two scenario runs out of two failed (a ledger that stopped growing, an app that took over
/// 30 s to stop) next to the sqlite brokers' own syncs; without, the runs before and after passed.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The UTC time of day, to the millisecond, like the hook script's lines.
fn time_of_day() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (seconds, millis) = (now.as_secs() % 86_400, now.subsec_millis());
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    format!("{h:02}:{m:02}:{s:02}.{millis:03}")
}

/// A log line, stamped with the time of day.
fn say(app: &str, message: &str) {
    eprintln!("[{}] {app}: {message}", time_of_day());
}

/// The apps' client context. Client errors and rebalances go to the app's log (the default
/// context logs through `log`, which the demo does not set up), and a producer keeps its first
/// failed delivery: `flush` only says the queue is empty, not that what left it was written, and
/// an app must not count or commit what was not.
struct AppContext {
    app: &'static str,
    failed: Mutex<Option<String>>,
    /// librdkafka's latest debug lines, kept only when [`DEBUG_ENV`] asks for them.
    debug: Option<Mutex<VecDeque<String>>>,
}

impl AppContext {
    fn new(app: &'static str) -> AppContext {
        let debug = debug_contexts().map(|_| Mutex::new(VecDeque::new()));
        AppContext { app, failed: Mutex::new(None), debug }
    }

    /// Writes the kept debug lines to the log and forgets them.
    fn dump_debug(&self) {
        let Some(Ok(mut kept)) = self.debug.as_ref().map(Mutex::lock) else {
            return;
        };
        let lines = std::mem::take(&mut *kept);
        drop(kept);
        say(self.app, &format!("librdkafka debug, the last {} line(s):", lines.len()));
        let mut stderr = std::io::stderr().lock();
        for line in lines {
            let _ = writeln!(stderr, "  {line}");
        }
    }
}

impl ClientContext for AppContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel::{Alert, Critical, Emerg, Error, Warning};
        if matches!(level, Emerg | Alert | Critical | Error | Warning) {
            say(self.app, &format!("librdkafka {facility}: {message}"));
        } else if let Some(Ok(mut lines)) = self.debug.as_ref().map(Mutex::lock) {
            if lines.len() == DEBUG_LINES {
                lines.pop_front();
            }
            lines.push_back(format!("[{}] {facility}: {message}", time_of_day()));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        say(self.app, &format!("client error: {error}: {reason}"));
    }
}

impl ConsumerContext for AppContext {
    fn post_rebalance(&self, _: &BaseConsumer<AppContext>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| {
            list.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect::<Vec<_>>().join(" ")
        };
        match rebalance {
            Rebalance::Assign(list) => say(self.app, &format!("assigned [{}]", partitions(list))),
            Rebalance::Revoke(list) => say(self.app, &format!("revoked [{}]", partitions(list))),
            Rebalance::Error(error) => say(self.app, &format!("rebalance error: {error}")),
        }
    }
}

impl ProducerContext for AppContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert_with(|| error.to_string());
        }
    }
}

/// Waits until everything sent is acknowledged; an error when any of it was not written.
/// Patient like librdkafka itself: a record still queued is retried until its own
/// `message.timeout.ms` (300 s by default) fails it, so a broker slow to answer (seen: a first
/// record of a fresh topic unacknowledged for over 60 s on Nisshi) delays the app, not kills it.
fn flush_written(producer: &BaseProducer<AppContext>) -> anyhow::Result<()> {
    let started = Instant::now();
    while producer.flush(Duration::from_secs(30)).is_err() {
        let context = producer.context();
        say(context.app, &format!("not acknowledged after {} s; still waiting", started.elapsed().as_secs()));
        context.dump_debug();
    }
    match producer.context().failed.lock().map(|mut failed| failed.take()) {
        Ok(None) => Ok(()),
        Ok(Some(error)) => bail!("not written: {error}"),
        Err(_) => bail!("the delivery reports are unreadable"),
    }
}

pub fn orders(args: &AppArgs, rate: u32, keys: u64) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    std::fs::create_dir_all(&args.dir)?;
    let counter = args.dir.join("orders.next");
    let mut next: u64 = match std::fs::read_to_string(&counter) {
        Ok(text) => text.trim().parse().with_context(|| format!("{} is corrupt", counter.display()))?,
        Err(_) => 0,
    };
    let producer: Served<BaseProducer<AppContext>> = Connection::new(args)?
        .create(&[("enable.idempotence", "true"), ("linger.ms", "1")], "orders")
        .context("cannot create the producer")?;
    say("orders", &format!("producing from order {next} at {rate}/s"));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut due = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        // Every order due by now in one round trip (one at 20/s; about twenty at 2,000/s, where
        // an acknowledgement per order could not keep up), at most `MAX_BATCH`.
        let batch = orders_due(due, interval);
        for n in next..next + batch {
            let key = format!("customer-{}", n % keys.max(1));
            let value = format!("order-{n}");
            producer
                .send(BaseRecord::to(&args.orders_topic).key(&key).payload(&value))
                .map_err(|(error, _)| anyhow::anyhow!("cannot send order {n}: {error}"))?;
        }
        // Counted only once acknowledged: the counter never names an order that was not written.
        flush_written(&producer).with_context(|| format!("orders {next} to {}", next + batch - 1))?;
        next += batch;
        write_atomically(&counter, &next.to_string())?;
        due += interval * u32::try_from(batch).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // How long the client's teardown takes is part of the app's stop, hence of a move's downtime.
    let closing = Instant::now();
    drop(producer);
    say("orders", &format!("stopped; next order {next}; producer closed in {:.2} s", closing.elapsed().as_secs_f64()));
    Ok(())
}

/// How many orders are due at `due`, one every `interval`: at least the one due, at most
/// `MAX_BATCH` (a producer that fell behind catches up over several round trips).
fn orders_due(due: Instant, interval: Duration) -> u64 {
    const MAX_BATCH: u64 = 500;
    let late = Instant::now().saturating_duration_since(due);
    let behind = (late.as_secs_f64() / interval.as_secs_f64()) as u64;
    (behind + 1).min(MAX_BATCH)
}

fn consumer(
    args: &AppArgs,
    app: &'static str,
    group: &str,
    topic: &str,
) -> anyhow::Result<Served<BaseConsumer<AppContext>>> {
    let settings = [
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "10000"),
        ("fetch.wait.max.ms", "100"),
    ];
    let consumer: Served<BaseConsumer<AppContext>> =
        Connection::new(args)?.create(&settings, app).context("cannot create the consumer")?;
    consumer.subscribe(&[topic]).context("cannot subscribe")?;
    Ok(consumer)
}

/// Up to `BATCH` records, or what arrives within 100 ms of the first.
fn next_batch<'a>(consumer: &'a BaseConsumer<AppContext>, app: &str, stop: &AtomicBool) -> Vec<BorrowedMessage<'a>> {
    const BATCH: usize = 500;
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(100);
    while batch.len() < BATCH && !stop.load(Ordering::SeqCst) {
        let wait = if batch.is_empty() {
            Duration::from_millis(100)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match consumer.poll(wait) {
            Some(Ok(message)) => batch.push(message),
            Some(Err(error)) => say(app, &format!("{error}")),
            None if batch.is_empty() => return batch,
            None => break,
        }
        if !batch.is_empty() && Instant::now() >= deadline {
            break;
        }
    }
    batch
}

/// The position after each partition's last record of `batch`.
fn next_positions(batch: &[BorrowedMessage<'_>]) -> anyhow::Result<TopicPartitionList> {
    let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for message in batch {
        next.insert((message.topic().to_string(), message.partition()), message.offset() + 1);
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        list.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
    }
    Ok(list)
}

/// Commits the position after each partition's last record of `batch`.
fn commit_batch(consumer: &BaseConsumer<AppContext>, batch: &[BorrowedMessage<'_>]) -> anyhow::Result<()> {
    consumer.commit(&next_positions(batch)?, CommitMode::Sync).context("cannot commit")
}

/// How long a transaction's requests may take (a broker restart included).
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// `order_status`: one status per order. Exactly once under a graceful stop by default (statuses
/// acknowledged, then the orders committed); with a `transactional.id`, exactly once whatever
/// happens: each batch's statuses and the group's offsets commit in one transaction
/// (`send_offsets_to_transaction`), and a batch cut short is aborted as a whole.
pub fn order_status(args: &AppArgs, transactional_id: Option<&str>) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    let consumer = consumer(args, "order_status", &args.order_status_group, &args.orders_topic)?;
    let mut settings = vec![("enable.idempotence", "true"), ("linger.ms", "1")];
    if let Some(id) = transactional_id {
        settings.push(("transactional.id", id));
    }
    let producer: Served<BaseProducer<AppContext>> =
        Connection::new(args)?.create(&settings, "order_status").context("cannot create the producer")?;
    if let Some(id) = transactional_id {
        producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .with_context(|| format!("cannot initialise transactions as `{id}`"))?;
        say("order_status", &format!("consuming orders, transactional as `{id}`"));
    } else {
        say("order_status", "consuming orders");
    }
    let started = Instant::now();
    let mut handled = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let batch = next_batch(&consumer, "order_status", &stop);
        if batch.is_empty() {
            continue;
        }
        if handled == 0 {
            say("order_status", &format!("first record after {:.1} s", started.elapsed().as_secs_f64()));
        }
        if transactional_id.is_some() {
            producer.begin_transaction().context("cannot begin a transaction")?;
        }
        for message in &batch {
            let order = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            let status = format!("shipped:{order}");
            let mut record = BaseRecord::to(&args.status_topic).payload(&status);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            producer
                .send(record)
                .map_err(|(error, _)| anyhow::anyhow!("cannot send the status of {order}: {error}"))?;
        }
        // Delivery reports are served here (this producer's poll), before the commit waits for them.
        flush_written(&producer).context("statuses")?;
        if transactional_id.is_some() {
            let metadata = consumer.group_metadata().context("the group's metadata is not known yet")?;
            producer
                .send_offsets_to_transaction(&next_positions(&batch)?, &metadata, TRANSACTION_TIMEOUT)
                .context("cannot add the orders' offsets to the transaction")?;
            producer.commit_transaction(TRANSACTION_TIMEOUT).context("cannot commit the transaction")?;
        } else {
            commit_batch(&consumer, &batch)?;
        }
        handled += batch.len() as u64;
    }
    // How long leaving the group and the clients' teardown take is part of the app's stop, hence
    // of a move's downtime.
    let closing = Instant::now();
    consumer.unsubscribe();
    drop(consumer);
    let consumer_closed = closing.elapsed().as_secs_f64();
    drop(producer);
    say(
        "order_status",
        &format!(
            "stopped after {handled} order(s); consumer closed in {consumer_closed:.2} s, producer in {:.2} s",
            closing.elapsed().as_secs_f64() - consumer_closed
        ),
    );
    Ok(())
}

pub fn notification(args: &AppArgs) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    std::fs::create_dir_all(&args.dir)?;
    let consumer = consumer(args, "notification", &args.notification_group, &args.status_topic)?;
    let path = args.dir.join("ledger.txt");
    let mut ledger = std::fs::File::options().create(true).append(true).open(&path)?;
    say("notification", "consuming statuses");
    let started = Instant::now();
    let mut handled = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let batch = next_batch(&consumer, "notification", &stop);
        if batch.is_empty() {
            continue;
        }
        if handled == 0 {
            say("notification", &format!("first record after {:.1} s", started.elapsed().as_secs_f64()));
        }
        let mut lines = String::new();
        for message in &batch {
            let key = String::from_utf8_lossy(message.key().unwrap_or_default());
            let status = String::from_utf8_lossy(message.payload().unwrap_or_default());
            lines.push_str(&format!("{key} {status}\n"));
        }
        // Committed only once the lines are on disk.
        ledger.write_all(lines.as_bytes())?;
        ledger.sync_data()?;
        commit_batch(&consumer, &batch)?;
        handled += batch.len() as u64;
    }
    let closing = Instant::now();
    consumer.unsubscribe();
    drop(consumer);
    say(
        "notification",
        &format!(
            "stopped after {handled} notification(s); consumer closed in {:.2} s",
            closing.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// What the ledger proves.
#[derive(Debug, serde::Serialize)]
pub struct Totals {
    pub produced: u64,
    pub delivered_once: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order_keys: u64,
}

/// Reads the ledger against the number of orders produced.
pub fn totals(ledger: &Path, produced: u64) -> anyhow::Result<(Totals, Vec<String>)> {
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut last_per_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut out_of_order = 0;
    let mut problems = Vec::new();
    for line in text.lines() {
        let Some((key, status)) = line.split_once(' ') else { bail!("bad ledger line `{line}`") };
        let Some(n) = status.strip_prefix("shipped:order-").and_then(|n| n.parse::<u64>().ok()) else {
            bail!("bad ledger line `{line}`")
        };
        *seen.entry(n).or_default() += 1;
        if let Some(previous) = last_per_key.insert(key.to_string(), n)
            && previous >= n
        {
            out_of_order += 1;
            problems.push(format!("{key}: order {n} after order {previous}"));
        }
    }
    let lost: Vec<u64> = (0..produced).filter(|n| !seen.contains_key(n)).collect();
    let duplicated: Vec<u64> = seen.iter().filter(|(_, count)| **count > 1).map(|(n, _)| *n).collect();
    if !lost.is_empty() {
        problems.push(format!("lost: {:?}", &lost[..lost.len().min(20)]));
    }
    if !duplicated.is_empty() {
        problems.push(format!("duplicated: {:?}", &duplicated[..duplicated.len().min(20)]));
    }
    let delivered_once = (0..produced).filter(|n| seen.get(n) == Some(&1)).count() as u64;
    let totals = Totals {
        produced,
        delivered_once,
        lost: lost.len() as u64,
        duplicated: duplicated.len() as u64,
        out_of_order_keys: out_of_order,
    };
    Ok((totals, problems))
}

pub fn check(ledger: &Path, produced: &Path, audit: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let produced: u64 = std::fs::read_to_string(produced)
        .with_context(|| format!("cannot read {}", produced.display()))?
        .trim()
        .parse()
        .context("the orders counter is corrupt")?;
    let (totals, problems) = totals(ledger, produced)?;
    let mut moves = Vec::new();
    if let Some(audit) = audit {
        for line in std::fs::read_to_string(audit).unwrap_or_default().lines() {
            let entry: serde_json::Value = serde_json::from_str(line)?;
            if entry["step"] == "move" {
                moves.push(entry);
            }
        }
    }
    if json {
        println!("{}", serde_json::json!({"moves": moves, "totals": totals, "problems": problems}));
    } else {
        println!("{:<5} {:<13} {:<9} {:<18} {:>10}  result", "move", "app", "command", "from → to", "downtime");
        for (i, entry) in moves.iter().enumerate() {
            let downtime =
                entry["downtime_ms"].as_u64().map_or("–".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
            println!(
                "{:<5} {:<13} {:<9} {:<18} {:>10}  {}",
                i + 1,
                entry["app"].as_str().unwrap_or("?"),
                entry["command"].as_str().unwrap_or("?"),
                format!("{} → {}", entry["from"].as_str().unwrap_or("?"), entry["to"].as_str().unwrap_or("?")),
                downtime,
                entry["result"].as_str().unwrap_or("?"),
            );
        }
        println!(
            "\norders produced: {}, delivered once: {}, lost: {}, duplicated: {}, out of order (per key): {}",
            totals.produced, totals.delivered_once, totals.lost, totals.duplicated, totals.out_of_order_keys
        );
        for problem in &problems {
            println!("  ✗ {problem}");
        }
    }
    if totals.lost > 0 || totals.duplicated > 0 || totals.out_of_order_keys > 0 {
        bail!("the ledger shows lost, duplicated or reordered orders");
    }
    Ok(())
}
