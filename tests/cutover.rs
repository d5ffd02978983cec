//! Cutover and rollback against the real brokers, with a running engine and apps that really
//! consume and produce, checked by content: every record an app processed, in order, once.
//!
//! The apps are threads of this test driven by their hooks through files: the `start` hook writes
//! the side and client configuration it was given into `start.request`; the `stop` hook writes
//! `stop.request` and waits until the app removed it (after closing its clients, so it left its
//! group). The app's clients are built **from the hook's properties file** only, so every move
//! also proves the file carries working credentials.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const PARTITIONS: i32 = 3;

/// What an app does.
#[derive(Clone)]
enum Role {
    /// Consumes `topic` in `group`, recording each value, committing after each record.
    Reader { group: String, topic: String },
    /// Produces `w-<n>` to `topic`, partition `n % PARTITIONS`, every few milliseconds.
    Writer { topic: String },
}

/// An app run by this test, moved by its hooks.
struct TestApp {
    dir: PathBuf,
    /// (partition, value) in the order processed.
    ledger: Arc<Mutex<Vec<(i32, String)>>>,
    /// The side it runs on now, if running.
    side: Arc<Mutex<Option<String>>>,
    /// The client configuration files it was started with.
    configs: Arc<Mutex<Vec<String>>>,
    produced: Arc<AtomicU64>,
    quit: Arc<AtomicBool>,
    controller: Option<JoinHandle<()>>,
}

impl TestApp {
    fn new(parent: &Path, name: &str, role: Role) -> TestApp {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut app = TestApp {
            dir: dir.clone(),
            ledger: Arc::default(),
            side: Arc::default(),
            configs: Arc::default(),
            produced: Arc::default(),
            quit: Arc::default(),
            controller: None,
        };
        let (ledger, side, configs, produced, quit) =
            (app.ledger.clone(), app.side.clone(), app.configs.clone(), app.produced.clone(), app.quit.clone());
        app.controller = Some(std::thread::spawn(move || {
            let mut running: Option<(Arc<AtomicBool>, JoinHandle<()>)> = None;
            while !quit.load(Ordering::SeqCst) {
                let start = dir.join("start.request");
                if let Ok(text) = std::fs::read_to_string(&start) {
                    let mut lines = text.lines();
                    let (Some(on), Some(file)) = (lines.next(), lines.next()) else { continue };
                    let config_text = std::fs::read_to_string(file).expect("the hook's client configuration");
                    configs.lock().unwrap().push(config_text.clone());
                    if running.is_none() {
                        let stop = Arc::new(AtomicBool::new(false));
                        let config = client_config_from(&config_text);
                        let (role, ledger, produced, stop_flag) =
                            (role.clone(), ledger.clone(), produced.clone(), stop.clone());
                        let handle = std::thread::spawn(move || run_app(role, config, ledger, produced, stop_flag));
                        running = Some((stop, handle));
                        *side.lock().unwrap() = Some(on.to_string());
                    }
                    std::fs::remove_file(&start).unwrap();
                }
                let stop = dir.join("stop.request");
                if stop.exists() {
                    if let Some((flag, handle)) = running.take() {
                        flag.store(true, Ordering::SeqCst);
                        handle.join().unwrap();
                    }
                    *side.lock().unwrap() = None;
                    std::fs::remove_file(&stop).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some((flag, handle)) = running.take() {
                flag.store(true, Ordering::SeqCst);
                handle.join().unwrap();
            }
        }));
        app
    }

    /// Starts the app as its start hook would, outside any move (its first start).
    fn start_on(&self, side: &str, config: &str) {
        std::fs::write(self.dir.join("start.request"), format!("{side}\n{config}\n")).unwrap();
        self.wait_side(Some(side));
    }

    fn wait_side(&self, expected: Option<&str>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.side.lock().unwrap().as_deref() != expected {
            assert!(Instant::now() < deadline, "the app did not reach {expected:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ledger(&self) -> Vec<(i32, String)> {
        self.ledger.lock().unwrap().clone()
    }

    fn finish(mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(handle) = self.controller.take() {
            handle.join().unwrap();
        }
    }
}

fn client_config_from(properties: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    for line in properties.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (key, value) = line.split_once('=').expect("key=value");
        config.set(key, value);
    }
    config
}

fn run_app(
    role: Role,
    mut config: ClientConfig,
    ledger: Arc<Mutex<Vec<(i32, String)>>>,
    produced: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    match role {
        Role::Reader { group, topic } => {
            let consumer: BaseConsumer = config
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "6000")
                .set("fetch.wait.max.ms", "50")
                .create()
                .unwrap();
            consumer.subscribe(&[&topic]).unwrap();
            while !stop.load(Ordering::SeqCst) {
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(message)) => {
                        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                        ledger.lock().unwrap().push((message.partition(), value));
                        // Commit only once the effect (the ledger entry) is done.
                        consumer.commit_message(&message, CommitMode::Sync).unwrap();
                    }
                    Some(Err(error)) => eprintln!("reader: {error}"),
                    None => {}
                }
            }
            consumer.unsubscribe();
            drop(consumer);
        }
        Role::Writer { topic } => {
            let producer: BaseProducer =
                config.set("enable.idempotence", "true").set("linger.ms", "2").create().unwrap();
            while !stop.load(Ordering::SeqCst) {
                let n = produced.load(Ordering::SeqCst);
                let value = format!("w-{n}");
                let partition = (n % PARTITIONS as u64) as i32;
                let record: BaseRecord<'_, (), str> = BaseRecord::to(&topic).partition(partition).payload(&value);
                producer.send(record).unwrap();
                // One at a time: the sequence number is known to be written before the next.
                producer.flush(Duration::from_secs(30)).unwrap();
                produced.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A test's world: a plan over the shared brokers, its state directory, its apps' directory.
struct World {
    plan: TestPlan,
    topic: String,
    group: String,
    apps_dir: tempfile::TempDir,
}

impl World {
    fn new(name: &str, apps_yaml: impl Fn(&Path, &str, &str) -> String, readiness: &str) -> World {
        let clusters = clusters();
        let topic = unique("moved");
        let group = unique("reader");
        clusters.source.create_topics(&[(&topic, PARTITIONS, &[])]);
        let apps_dir = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "replication:\n  topics: [{topic}]\n  groups: [{group}]\nreadiness:\n{readiness}engine:\n  listen: 127.0.0.1:0\napps:\n{}",
            apps_yaml(apps_dir.path(), &topic, &group)
        );
        let path = PlanYaml::new(name, &clusters.source, &clusters.target, body).write_to(dir.path(), "plan.yaml");
        let state = dir.path().join("state");
        World { plan: TestPlan { path, state, _dir: dir }, topic, group, apps_dir }
    }

    fn migrate(&self, args: &[&str]) -> Run {
        let mut all = vec!["-p", self.plan.path.to_str().unwrap(), "--state-dir", self.plan.state.to_str().unwrap()];
        all.extend_from_slice(args);
        let clusters = clusters();
        migrate(&all, &[], &[clusters.source.password(REPLICATOR), clusters.target.password(REPLICATOR)])
    }

    /// A client configuration for the app user, as a hook would get it (for first starts).
    fn app_config(&self, broker: &Broker, side: &str) -> String {
        let path = self.apps_dir.path().join(format!("first-{side}.properties"));
        let text = format!(
            "bootstrap.servers={}\nsecurity.protocol=sasl_plaintext\nsasl.mechanism=SCRAM-SHA-512\nsasl.username={APP}\nsasl.password={}\n",
            broker.bootstrap(),
            broker.password(APP)
        );
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn wait_gate_open(&self, engine: &Engine) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = engine.status().unwrap_or_default();
            if status["gate"]["open"] == true {
                return;
            }
            assert!(Instant::now() < deadline, "the gate did not open:\n{:#}\n{}", status["gate"], engine.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

const QUICK_GATE: &str =
    "  max_message_lag: 1000\n  max_replication_latency_ms: 5000\n  max_sum_offset_lag: 1000\n  sustained_for: 1s\n";

/// Each partition's values, in ledger order.
fn by_partition(ledger: &[(i32, String)]) -> BTreeMap<i32, Vec<String>> {
    let mut partitions: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (partition, value) in ledger {
        partitions.entry(*partition).or_default().push(value.clone());
    }
    partitions
}

/// What the writer produced, per partition, in order.
fn produced_values(count: u64) -> BTreeMap<i32, Vec<String>> {
    let mut partitions: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for n in 0..count {
        partitions.entry((n % PARTITIONS as u64) as i32).or_default().push(format!("w-{n}"));
    }
    partitions
}

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn two_apps(dir: &Path, topic: &str, group: &str) -> String {
    format!(
        "  - name: writer\n    produces: [{topic}]\n{}  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n{}",
        hooks_for(dir, "writer"),
        hooks_for(dir, "reader")
    )
}

fn hooks_for(dir: &Path, app: &str) -> String {
    format!(
        "    start: printf '%s\\n%s\\n' \"$MIGRATE_SIDE\" \"$MIGRATE_CLIENT_CONFIG\" > {dir}/start.request\n    stop: touch {dir}/stop.request; while [ -e {dir}/stop.request ]; do sleep 0.05; done\n",
        dir = dir.join(app).display()
    )
}

fn moved(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "the move failed:\n{}\n{}", run.stdout, run.stderr);
    let outcome = run.json();
    assert_eq!(outcome["result"], "moved", "{outcome:#}");
    outcome
}

/// Asserts each partition of the ledger is the writer's sequence, each value once, in order, with
/// nothing missing up to the last value read; returns how many were read. `produced` may lag the
/// writer by the one record it is sending.
fn assert_exactly_once_in_order(ledger: &[(i32, String)], produced: u64) -> usize {
    let expected = produced_values(produced + 1);
    let read = by_partition(ledger);
    for (partition, values) in &read {
        let want = &expected[partition][..values.len().min(expected[partition].len())];
        assert_eq!(values.len(), want.len(), "partition {partition} read more than was produced");
        for (i, (got, want)) in values.iter().zip(want).enumerate() {
            assert_eq!(
                got, want,
                "partition {partition}, record {i}: read {got}, expected {want} (a gap or a duplicate)"
            );
        }
    }
    ledger.len()
}

#[test]
fn offsets_translate_exactly_in_both_directions_across_moves() {
    let clusters = clusters();
    let world = World::new("cutover-translate", two_apps, QUICK_GATE);
    let writer = TestApp::new(world.apps_dir.path(), "writer", Role::Writer { topic: world.topic.clone() });
    let reader = TestApp::new(
        world.apps_dir.path(),
        "reader",
        Role::Reader { group: world.group.clone(), topic: world.topic.clone() },
    );
    writer.start_on("source", &world.app_config(&clusters.source, "source"));
    reader.start_on("source", &world.app_config(&clusters.source, "source"));
    wait_until("the reader to read", Duration::from_secs(30), || reader.ledger().len() > 30);

    let engine = Engine::start(&world.plan);
    world.wait_gate_open(&engine);
    let mut downtimes = Vec::new();
    let mut check_move = |args: &[&str], app: &TestApp, side: &str| {
        let before = reader.ledger().len();
        let outcome = moved(&world.migrate(&[args, &["-o", "json", "--fence-window", "1s", "--wait", "60s"]].concat()));
        downtimes.push(outcome["downtime_ms"].as_u64().unwrap());
        app.wait_side(Some(side));
        // The reader goes on from where it stopped: more records, and still no gap or duplicate.
        wait_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > before + 20);
        assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst));
        world.wait_gate_open(&engine);
    };
    // The reader reads copies on the target; then the writer writes natively on the target (copied
    // back); the reader, back on the source, reads copies of target records; and so on.
    check_move(&["cutover", "reader"], &reader, "target");
    check_move(&["cutover", "writer"], &writer, "target");
    check_move(&["rollback", "reader"], &reader, "source");
    check_move(&["cutover", "reader"], &reader, "target");
    check_move(&["rollback", "writer"], &writer, "source");
    check_move(&["rollback", "reader"], &reader, "source");

    // Stop writing, let the reader read everything, compare all of it.
    let produced = writer.produced.clone();
    writer.finish();
    let produced = produced.load(Ordering::SeqCst);
    wait_until("the reader to read everything", Duration::from_secs(60), || reader.ledger().len() as u64 >= produced);
    std::thread::sleep(Duration::from_secs(1));
    let read = assert_exactly_once_in_order(&reader.ledger(), produced);
    assert_eq!(read as u64, produced, "every record read exactly once");
    reader.finish();
    let audit = std::fs::read_to_string(world.plan.state.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().filter(|l| l.contains("\"step\":\"move\"") && l.contains("\"moved\"")).count(), 6);
    eprintln!("downtime per move (ms): {downtimes:?}");
    engine.stop();
}
