//! Apps a test moves, and the world they live in: a writer producing `w-<n>` and a reader
//! keeping a ledger of what it read, both started and stopped by the plan's hooks through request
//! files (`start.request`, `stop.request`) exactly as an operator's hooks would start and stop a
//! real app; a plan over the test brokers, its state directory and an engine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::ledger::assert_exactly_once_in_order;
use super::*;

pub const PARTITIONS: i32 = 3;

/// What an app does.
#[derive(Clone)]
pub enum Role {
    /// Consumes `topic` in `group`, recording each value, committing after each record; a static
    /// member (`group.instance.id`) when `instance` is set.
    Reader { group: String, topic: String, instance: Option<String> },
    /// Produces `w-<n>` to `topic`, partition `n % PARTITIONS`, every few milliseconds.
    Writer { topic: String },
}

/// An app run by this test, moved by its hooks.
pub struct TestApp {
    pub dir: PathBuf,
    /// (partition, value) in the order processed.
    pub ledger: Arc<Mutex<Vec<(i32, String)>>>,
    /// The side it runs on now, if running.
    pub side: Arc<Mutex<Option<String>>>,
    /// The client configuration files it was started with.
    pub configs: Arc<Mutex<Vec<String>>>,
    pub produced: Arc<AtomicU64>,
    /// Start requests for the other side while it ran on one: a real app would then run on both
    /// clusters at once.
    pub double_starts: Arc<AtomicU64>,
    pub quit: Arc<AtomicBool>,
    pub controller: Option<JoinHandle<()>>,
}

impl TestApp {
    pub fn new(parent: &Path, name: &str, role: Role) -> TestApp {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut app = TestApp {
            dir: dir.clone(),
            ledger: Arc::default(),
            side: Arc::default(),
            configs: Arc::default(),
            produced: Arc::default(),
            double_starts: Arc::default(),
            quit: Arc::default(),
            controller: None,
        };
        let (ledger, side, configs, produced, quit) =
            (app.ledger.clone(), app.side.clone(), app.configs.clone(), app.produced.clone(), app.quit.clone());
        let double_starts = app.double_starts.clone();
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
                    } else if side.lock().unwrap().as_deref() != Some(on) {
                        double_starts.fetch_add(1, Ordering::SeqCst);
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
                // A service loop, not a wait: it looks for the hooks' requests every 20 ms.
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
    pub fn start_on(&self, side: &str, config: &str) {
        std::fs::write(self.dir.join("start.request"), format!("{side}\n{config}\n")).unwrap();
        self.wait_side(Some(side));
    }

    pub fn wait_side(&self, expected: Option<&str>) {
        poll_until(format!("the app to reach {expected:?}"), Duration::from_secs(30), || {
            self.side.lock().unwrap().as_deref() == expected
        });
    }

    pub fn ledger(&self) -> Vec<(i32, String)> {
        self.ledger.lock().unwrap().clone()
    }

    pub fn finish(mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(handle) = self.controller.take() {
            handle.join().unwrap();
        }
    }
}

pub fn client_config_from(properties: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    for line in properties.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (key, value) = line.split_once('=').expect("key=value");
        config.set(key, value);
    }
    config
}

pub fn run_app(
    role: Role,
    mut config: ClientConfig,
    ledger: Arc<Mutex<Vec<(i32, String)>>>,
    produced: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    match role {
        Role::Reader { group, topic, instance } => {
            if let Some(instance) = &instance {
                config.set("group.instance.id", instance);
            }
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
                        // Tried again while a broker restarts: committing the same offset twice is harmless.
                        poll_ok("the reader's commit", Duration::from_secs(120), || {
                            consumer.commit_message(&message, CommitMode::Sync)
                        });
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
                // One at a time: the sequence number is known to be written before the next. The
                // idempotent producer retries on its own while a broker restarts.
                poll_ok(format!("the writer's {value} to be acknowledged"), Duration::from_secs(120), || {
                    producer.flush(Duration::from_secs(10))
                });
                produced.fetch_add(1, Ordering::SeqCst);
                // Paces the writer: about a record every 10 ms.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A test's world: a plan over the shared brokers (or a test's own), its state directory, its
/// apps' directory.
pub struct World {
    pub plan: TestPlan,
    pub topic: String,
    pub group: String,
    pub apps_dir: tempfile::TempDir,
    pub source: &'static Broker,
    pub target: &'static Broker,
}

impl World {
    pub fn new(name: &str, apps_yaml: impl Fn(&Path, &str, &str) -> String, readiness: &str) -> World {
        let clusters = clusters();
        World::on(name, apps_yaml, readiness, &clusters.source, &clusters.target)
    }

    pub fn on(
        name: &str,
        apps_yaml: impl Fn(&Path, &str, &str) -> String,
        readiness: &str,
        source: &'static Broker,
        target: &'static Broker,
    ) -> World {
        World::on_with(name, apps_yaml, readiness, source, target, |_| {})
    }

    /// [`World::on`] with the plan changed by `customise` before it is written (another identity,
    /// say).
    pub fn on_with(
        name: &str,
        apps_yaml: impl Fn(&Path, &str, &str) -> String,
        readiness: &str,
        source: &'static Broker,
        target: &'static Broker,
        customise: impl FnOnce(&mut PlanYaml<'_>),
    ) -> World {
        let topic = unique("moved");
        let group = unique("reader");
        source.create_topics(&[(&topic, PARTITIONS, &[])]);
        let apps_dir = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "replication:\n  topics: [{topic}]\n  groups: [{group}]\nreadiness:\n{readiness}engine:\n  listen: 127.0.0.1:0\napps:\n{}",
            apps_yaml(apps_dir.path(), &topic, &group)
        );
        let mut plan = PlanYaml::new(name, source, target, body);
        customise(&mut plan);
        let path = plan.write_to(dir.path(), "plan.yaml");
        let state = dir.path().join("state");
        World { plan: TestPlan { path, state, _dir: dir }, topic, group, apps_dir, source, target }
    }

    pub fn plan_args(&self) -> [&str; 4] {
        ["-p", self.plan.path.to_str().unwrap(), "--state-dir", self.plan.state.to_str().unwrap()]
    }

    pub fn migrate(&self, args: &[&str]) -> Run {
        let all = [&self.plan_args()[..], args].concat();
        migrate(&all, &[], &[self.source.password(REPLICATOR), self.target.password(REPLICATOR)])
    }

    /// `migrate ARGS` in the background, its output discarded (for commands a test interrupts or
    /// races with).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.spawn_with_stderr(args, std::process::Stdio::null())
    }

    pub fn spawn_with_stderr(&self, args: &[&str], stderr: impl Into<std::process::Stdio>) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(self.plan_args())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    /// A client configuration for the app user, as a hook would get it (for first starts).
    pub fn app_config(&self, broker: &Broker, side: &str) -> String {
        let path = self.apps_dir.path().join(format!("first-{side}.properties"));
        std::fs::write(&path, broker.app_properties()).unwrap();
        path.to_string_lossy().into_owned()
    }
}

pub const QUICK_GATE: &str =
    "  max_message_lag: 1000\n  max_replication_latency_ms: 5000\n  max_sum_offset_lag: 1000\n  sustained_for: 1s\n";

pub fn two_apps(dir: &Path, topic: &str, group: &str) -> String {
    format!(
        "  - name: writer\n    produces: [{topic}]\n{}  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n{}",
        hooks_for(dir, "writer"),
        hooks_for(dir, "reader")
    )
}

pub fn hooks_for(dir: &Path, app: &str) -> String {
    format!(
        "    start: printf '%s\\n%s\\n' \"$MIGRATE_SIDE\" \"$MIGRATE_CLIENT_CONFIG\" > {dir}/start.request\n    stop: touch {dir}/stop.request; while [ -e {dir}/stop.request ]; do sleep 0.05; done\n",
        dir = dir.join(app).display()
    )
}

pub fn moved(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "the move failed:\n{}\n{}", run.stdout, run.stderr);
    let outcome = run.json();
    assert_eq!(outcome["result"], "moved", "{outcome:#}");
    outcome
}

/// Stops the writer, waits up to `timeout` for the reader to read everything it wrote, checks it
/// read each record exactly once, in order, and stops the reader; returns how many were written.
pub fn read_everything_exactly_once(writer: TestApp, reader: TestApp, timeout: Duration) -> u64 {
    let produced = writer.produced.clone();
    writer.finish();
    let produced = produced.load(Ordering::SeqCst);
    poll_until("the reader to read everything", timeout, || reader.ledger().len() as u64 >= produced);
    // Deliberately a second more: a duplicate arriving after the count was reached fails below.
    std::thread::sleep(Duration::from_secs(1));
    let read = assert_exactly_once_in_order(&reader.ledger(), produced, PARTITIONS);
    assert_eq!(read as u64, produced, "every record read exactly once");
    reader.finish();
    produced
}

/// The reader app alone in the plan (the test's writer produces natively on the source), with its
/// hooks prefixed by `stop_prefix`/`start_prefix` shell code.
pub fn reader_only(stop_prefix: &'static str, start_prefix: &'static str) -> impl Fn(&Path, &str, &str) -> String {
    move |dir, topic, group| {
        let hooks = hooks_for(dir, "reader")
            .replace("    start: ", &format!("    start: {start_prefix}"))
            .replace("    stop: ", &format!("    stop: {stop_prefix}"));
        format!("  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n{hooks}")
    }
}

/// A world with the writer (outside the plan) and the reader running on the source, an engine,
/// and the gate open.
pub fn running(world: &World) -> (TestApp, TestApp, Engine) {
    running_reader(world, None)
}

/// [`running`], the reader a static member with `group.instance.id` `instance` when given.
pub fn running_reader(world: &World, instance: Option<String>) -> (TestApp, TestApp, Engine) {
    running_with(world, instance, Engine::start)
}

/// [`running_reader`] with the engine started by `start_engine` (in a cgroup of its own, say).
pub fn running_with(
    world: &World,
    instance: Option<String>,
    start_engine: impl FnOnce(&TestPlan) -> Engine,
) -> (TestApp, TestApp, Engine) {
    let writer = TestApp::new(world.apps_dir.path(), "writer", Role::Writer { topic: world.topic.clone() });
    let reader = TestApp::new(
        world.apps_dir.path(),
        "reader",
        Role::Reader { group: world.group.clone(), topic: world.topic.clone(), instance },
    );
    writer.start_on("source", &world.app_config(world.source, "source"));
    reader.start_on("source", &world.app_config(world.source, "source"));
    poll_until("the reader to read", Duration::from_secs(30), || reader.ledger().len() > 10);
    let engine = start_engine(&world.plan);
    engine.wait_gate_open(Duration::from_secs(60));
    (writer, reader, engine)
}

/// The reader runs on `side` and goes on reading, still each record once and in order; then
/// everything stops.
pub fn goes_on_exactly_once_then_stop(reader: TestApp, writer: TestApp, engine: Engine, side: &str) {
    reader.wait_side(Some(side));
    let before = reader.ledger().len();
    poll_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > before + 20);
    assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS);
    writer.finish();
    reader.finish();
    engine.stop();
}

pub fn control(world: &World) -> serde_json::Value {
    std::fs::read_to_string(world.plan.state.join("control.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(serde_json::json!({"apps": {}}))
}
