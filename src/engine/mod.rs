//! The embedded replication engine: both directions, identical topic names, loop-free, and
//! exactly once on the destination across crashes.
//!
//! # Design
//!
//! **Data path.** One flow per direction (`source->target`, and `target->source` when
//! bidirectional), each an OS thread with a consumer on its origin (`read_committed`, manual
//! assignment, no consumer group) and an idempotent producer on its destination. A record keeps its
//! partition number, key, value, headers and timestamp (as CreateTime); the copy gains one
//! provenance header, `migrate.origin: <origin cluster ID>:<origin offset>` (one header, not two:
//! each header costs the clients and the broker per record, measured 0.86× against 0.77× of a bare
//! loop's rate on Nisshi). Copies written with the earlier pair of headers (`migrate.origin` = the
//! cluster ID, `migrate.offset` = the offset) are still read ([`crate::provenance`]).
//!
//! **Loop prevention.** A flow never copies a record whose `migrate.origin` names its
//! destination's cluster ID: that record is itself a copy from there.
//!
//! **Exactly once across crashes, without transactions.** Kafka transactions cannot span two
//! clusters, an idempotent producer gets a new producer ID after a restart so it cannot
//! deduplicate across crashes. The engine therefore keeps no position of its own: the destination's log *is* the checkpoint.
//! Within a session the idempotent producer writes each partition in order, without gaps
//! (`message.timeout.ms=0`: a record is never abandoned, so no later record can land after a hole)
//! and without duplicates (retries are deduplicated by the broker). So at any moment the last copy
//! from this origin in a destination partition proves every earlier origin record is there, once.
//! A session starts by reading that tail ([`resume`]) and consumes the origin from the next offset;
//! after a crash, a broker restart, or a producer failure, a new session does the same. The
//! checkpoint file (last acknowledged copy per partition) only bounds how much of the destination
//! is read. After an unclean stop the engine first waits a second, so a produce request of the
//! killed process that the broker already received lands before the tail is read.
//!
//! **Offset bookkeeping.** The provenance header maps every copy to its original, in both
//! directions, durably and inside Kafka: a consumer position on one cluster translates exactly to
//! the other by finding the copy of the last record it consumed. This is exact under the
//! **one-writer invariant**: each partition has one writing side at a time, and the writer switches
//! only after the old side is fully replicated (cutover guarantees it). The engine knows each
//! topic's writer from the plan (the side of the apps producing it, from `control.json`; the source
//! for topics no app produces) and raises a **split-brain alarm** when a native record (one that is
//! not a copy) appears on a side that is not the writer. The alarm is never silent: it is logged,
//! kept in the status file, and closes the readiness gate.
//!
//! **Topic sync** ([`topics`]): missing destination topics are created with the origin's partition
//! count and replicable configs; the origin's topics are listed again every `topic_refresh` (10 s),
//! so a new matching topic is replicated within that; a partition-count mismatch is reported and
//! the topic is not replicated.
//!
//! **Backpressure.** The consumer's prefetch and the producer's queue are bounded; when the
//! destination is slow or away, the flow stops polling the origin until deliveries make room.

pub mod checkpoints;
pub mod credentials;
pub mod flow;
pub mod groups;
pub mod health;
pub mod http;
pub mod readiness;
pub mod resume;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::checkpoints::{Checkpoint, Checkpoints, EngineLock, partition_key};
use self::flow::{Counters, FlowSpec};
use self::health::{FlowHealth, Health};
use self::topics::Admin;
use crate::gate::{Gate, GateInputs, Sustain};
use crate::kafka::{CaptureContext, Identity, admin as kafka_admin, client_config};
use crate::plan::{Cluster, Plan, Side};
use crate::state::{Control, StateDir, now_ms, write_atomically};

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How often the origins' topics are listed again.
    pub topic_refresh: Duration,
    /// Bound on each admin request.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { topic_refresh: Duration::from_secs(10), timeout: Duration::from_secs(10) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Locked(String),
    #[error("{side}: {message}")]
    Cluster { side: Side, message: String },
    #[error("state directory: {0}")]
    State(String),
}

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmKind {
    /// A native record (not a copy) written on the side that is not the topic's writer.
    SplitBrain,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::SplitBrain => "split-brain",
        }
    }
}

/// A condition that closes the readiness gate until an operator looks at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub topic: String,
    pub partition: i32,
    /// The side where the unexpected native write happened.
    pub side: Side,
    /// Its offset there (the first one seen).
    pub offset: i64,
    pub first_seen_ms: u64,
    pub count: u64,
}

impl Alarm {
    pub fn split_brain(topic: &str, partition: i32, side: Side, offset: i64) -> Self {
        Self {
            kind: AlarmKind::SplitBrain,
            topic: topic.into(),
            partition,
            side,
            offset,
            first_seen_ms: now_ms(),
            count: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    pub flow: String,
    pub message: String,
    pub at_ms: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FlowStatus {
    pub copied: u64,
    pub skipped_copies: u64,
    /// `topic/partition` → last acknowledged copy.
    pub partitions: BTreeMap<String, Checkpoint>,
}

/// The topics each flow replicates, and a version that changes with them (flows assign new
/// partitions when it does).
#[derive(Default)]
struct TopicsByFlow {
    version: u64,
    flows: BTreeMap<String, BTreeMap<String, i32>>,
}

/// What the engine's threads share.
pub struct Shared {
    stop: AtomicBool,
    /// After an unclean stop: how long a new session waits before reading tails.
    pub settle: Duration,
    topics: Mutex<TopicsByFlow>,
    writers: RwLock<HashMap<String, BTreeSet<Side>>>,
    checkpoints: Mutex<Checkpoints>,
    alarms: Mutex<Vec<Alarm>>,
    problems: Mutex<Vec<Problem>>,
    flows: Mutex<BTreeMap<String, FlowStatus>>,
    health: Mutex<BTreeMap<String, FlowHealth>>,
    failures: Mutex<BTreeMap<String, u64>>,
    /// Where each app runs, as last read from `control.json`.
    control: RwLock<Control>,
    /// The offset sync's last pass.
    groups: Mutex<groups::GroupsReport>,
}

impl Shared {
    fn new(checkpoints: Checkpoints, settle: Duration) -> Self {
        Self {
            stop: AtomicBool::new(false),
            settle,
            topics: Mutex::new(TopicsByFlow::default()),
            writers: RwLock::new(HashMap::new()),
            checkpoints: Mutex::new(checkpoints),
            alarms: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
            flows: Mutex::new(BTreeMap::new()),
            health: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            control: RwLock::new(Control::default()),
            groups: Mutex::new(groups::GroupsReport::default()),
        }
    }

    pub fn control(&self) -> Control {
        self.control.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_groups(&self, report: groups::GroupsReport) {
        *self.groups.lock().unwrap_or_else(|e| e.into_inner()) = report;
    }

    /// The control the groups thread last applied (what `switch` waits for).
    fn applied_control(&self) -> Control {
        self.groups.lock().map(|g| g.applied_control.clone()).unwrap_or_default()
    }

    fn groups_report(&self) -> groups::GroupsReport {
        self.groups.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn topics_version(&self) -> u64 {
        self.topics.lock().unwrap_or_else(|e| e.into_inner()).version
    }

    pub fn topics_for(&self, flow: &str) -> (u64, BTreeMap<String, i32>) {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        (topics.version, topics.flows.get(flow).cloned().unwrap_or_default())
    }

    fn set_topics(&self, flow: &str, replicated: BTreeMap<String, i32>) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics.flows.get(flow) != Some(&replicated) {
            topics.flows.insert(flow.to_string(), replicated);
            topics.version += 1;
        }
    }

    /// Whether `side` may write natively to `topic` (default: the source).
    pub fn is_writer(&self, topic: &str, side: Side) -> bool {
        let writers = self.writers.read().unwrap_or_else(|e| e.into_inner());
        match writers.get(topic) {
            Some(sides) => sides.contains(&side),
            None => side == Side::Source,
        }
    }

    pub fn raise_alarm(&self, alarm: Alarm) {
        let mut alarms = self.alarms.lock().unwrap_or_else(|e| e.into_inner());
        match alarms.iter_mut().find(|a| {
            a.kind == alarm.kind && a.topic == alarm.topic && a.partition == alarm.partition && a.side == alarm.side
        }) {
            Some(existing) => existing.count += 1,
            None => {
                tracing::error!(
                    topic = %alarm.topic, partition = alarm.partition, side = %alarm.side, offset = alarm.offset,
                    "split-brain: a native write on the {}, which is not this partition's writer; offset translation is no longer exact",
                    alarm.side
                );
                alarms.push(alarm);
            }
        }
    }

    /// A failed session: counted as ReplicatorFailure and kept among the recent problems.
    pub fn record_failure(&self, flow: &str, message: &str) {
        *self.failures.lock().unwrap_or_else(|e| e.into_inner()).entry(flow.to_string()).or_default() += 1;
        self.record_problem(flow, message);
    }

    pub fn record_health(&self, flow: &str, health: FlowHealth) {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).insert(flow.to_string(), health);
    }

    /// The engine's health now: flows (with their failure counts), cluster pings, alarms.
    fn health(&self, pings: &BTreeMap<String, u8>) -> Health {
        let failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        let mut flows = self.health.lock().map(|h| h.clone()).unwrap_or_default();
        for (flow, health) in flows.iter_mut() {
            health.replicator_failure += failures.get(flow).copied().unwrap_or(0);
        }
        Health {
            flows,
            kafka_cluster_ping_success_count: pings.clone(),
            alarms: self.alarms.lock().map(|a| a.clone()).unwrap_or_default(),
        }
    }

    pub fn record_problem(&self, flow: &str, message: &str) {
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        problems.push(Problem { flow: flow.into(), message: message.into(), at_ms: now_ms() });
        let excess = problems.len().saturating_sub(20);
        problems.drain(..excess);
    }

    pub fn checkpoint(&self, flow: &str, topic: &str, partition: i32) -> Option<Checkpoint> {
        self.checkpoints.lock().unwrap_or_else(|e| e.into_inner()).get(flow, topic, partition)
    }

    pub fn set_checkpoint(&self, flow: &str, topic: &str, partition: i32, checkpoint: Checkpoint) {
        self.checkpoints.lock().unwrap_or_else(|e| e.into_inner()).set(flow, topic, partition, checkpoint);
    }

    pub fn record_deliveries(&self, flow: &str, delivered: HashMap<(String, i32), Checkpoint>, counters: &Counters) {
        let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
        let status = flows.entry(flow.to_string()).or_default();
        status.copied = counters.copied;
        status.skipped_copies = counters.skipped_copies;
        for ((topic, partition), checkpoint) in delivered {
            status.partitions.insert(partition_key(&topic, partition), checkpoint);
            self.set_checkpoint(flow, &topic, partition, checkpoint);
        }
    }
}

/// The engine's status file and `/status`: what `migrate status`, cutover and tests read, as this
/// same type.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct EngineStatus {
    pub plan: String,
    pub pid: u32,
    pub state: String,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
    pub cluster_ids: BTreeMap<Side, String>,
    pub topics: BTreeMap<String, BTreeMap<String, i32>>,
    pub mismatched_topics: Vec<String>,
    pub flows: BTreeMap<String, FlowStatus>,
    pub alarms: Vec<Alarm>,
    pub problems: Vec<Problem>,
    /// Where `/metrics` and `/status` are served.
    pub listen: Option<String>,
    pub health: Health,
    /// Consumer groups: state, SumOffsetLag and offset sync per cluster; the control applied.
    pub groups: groups::GroupsReport,
    /// The readiness gate, evaluated every second.
    pub gate: Gate,
}

/// A handle to stop a running engine gracefully (SIGINT/SIGTERM).
#[derive(Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs the engine until `stop` is triggered; returns after a graceful shutdown.
pub async fn run(plan: &Plan, state_dir: &Path, options: &EngineOptions, stop: StopHandle) -> Result<(), EngineError> {
    let _lock = lock(state_dir)?;
    run_locked(plan, state_dir, options, stop).await
}

/// The state directory's engine lock: one engine per plan. Held across several runs by a caller
/// that restarts the engine in place, so no other engine starts in between.
pub fn lock(state_dir: &Path) -> Result<crate::state::FileLock, EngineError> {
    EngineLock::acquire(&StateDir::new(state_dir).engine_lock()).map_err(EngineError::Locked)
}

/// [`run`] for a caller holding the engine's [`lock`].
pub async fn run_locked(
    plan: &Plan,
    state_dir: &Path,
    options: &EngineOptions,
    stop: StopHandle,
) -> Result<(), EngineError> {
    let files = StateDir::new(state_dir);
    let clusters = Clusters::connect(plan, options.timeout).await?;
    let (shared, first_start) = load_shared_state(&files)?;
    let control = Control::load(&files.control()).map_err(EngineError::State)?;
    apply_control(&shared, plan, &control);
    let flows = flow_specs(plan, &clusters, first_start);
    let mut mismatched = BTreeSet::new();
    sync_topics(plan, &flows, &clusters, &shared, &mut mismatched, options.timeout).await;

    let started_at_ms = now_ms();
    let flow_threads = start_flows(&flows, &shared)?;
    let offset_sync = match start_offset_sync(plan, &clusters.ids(), &shared) {
        Ok(thread) => thread,
        Err(error) => {
            stop_threads(&shared, flow_threads);
            return Err(error);
        }
    };
    let snapshot = Arc::new(Mutex::new(http::Snapshot::default()));
    let (listen, server) = serve_metrics_and_status(plan, &snapshot, &shared).await.unzip();
    let pings = Pings::default();
    let pinger = Pinger::start(plan, &pings);
    let mut engine = RunningEngine {
        plan,
        options,
        files,
        shared,
        clusters,
        flows,
        mismatched,
        control,
        started_at_ms,
        listen,
        snapshot,
        pings,
    };
    let gate = engine.run_until_stopped(&stop).await;
    engine.shut_down(flow_threads, offset_sync, pinger, gate).await;
    // The listener goes with the run: a restart in the same process (rotated credentials) binds
    // the same address again, and nothing may go on serving this run's last snapshot.
    if let Some(server) = server {
        server.abort();
        let _ = server.await;
    }
    Ok(())
}

/// Both clusters' admin clients and IDs.
struct Clusters {
    /// Shared with the blocking tasks that ask for metadata (see [`topics::sync`]).
    source_admin: Arc<Admin>,
    target_admin: Arc<Admin>,
    source_id: String,
    target_id: String,
}

impl Clusters {
    async fn connect(plan: &Plan, timeout: Duration) -> Result<Self, EngineError> {
        let source_admin = admin_for(&plan.source, timeout)?;
        let target_admin = admin_for(&plan.target, timeout)?;
        let source_id = cluster_id(&source_admin, Side::Source, timeout).await?;
        let target_id = cluster_id(&target_admin, Side::Target, timeout).await?;
        Ok(Self { source_admin: Arc::new(source_admin), target_admin: Arc::new(target_admin), source_id, target_id })
    }

    fn ids(&self) -> BTreeMap<Side, String> {
        BTreeMap::from([(Side::Source, self.source_id.clone()), (Side::Target, self.target_id.clone())])
    }
}

/// What the threads share at the start, from the saved checkpoints, and whether this is the
/// engine's first start (no checkpoints yet). The clean-shutdown mark is used up here.
fn load_shared_state(files: &StateDir) -> Result<(Arc<Shared>, bool), EngineError> {
    let existing = Checkpoints::load(&files.checkpoints()).map_err(EngineError::State)?;
    let first_start = existing.is_none();
    let clean = files.clean_shutdown().exists();
    let _ = std::fs::remove_file(files.clean_shutdown());
    let settle = if first_start || clean { Duration::ZERO } else { Duration::from_secs(1) };
    Ok((Arc::new(Shared::new(existing.unwrap_or_default(), settle)), first_start))
}

/// The topics' writers and the apps' sides from `control`, for the flows and the offset sync.
fn apply_control(shared: &Shared, plan: &Plan, control: &Control) {
    set_writers(shared, plan, control);
    *shared.control.write().unwrap_or_else(|e| e.into_inner()) = control.clone();
}

/// The flow from the source, and the one back when the replication is bidirectional.
fn flow_specs(plan: &Plan, clusters: &Clusters, first_start: bool) -> Vec<FlowSpec> {
    let mut flows = vec![flow_spec(plan, Side::Source, &clusters.source_id, &clusters.target_id, first_start)];
    if plan.replication.bidirectional {
        flows.push(flow_spec(plan, Side::Target, &clusters.target_id, &clusters.source_id, first_start));
    }
    flows
}

/// A thread per flow; each returns whether its last session stopped cleanly. When one cannot be
/// started, those already running are stopped first: an engine started again in the same process
/// must not find them still copying.
fn start_flows(flows: &[FlowSpec], shared: &Arc<Shared>) -> Result<Vec<JoinHandle<bool>>, EngineError> {
    let mut threads = Vec::new();
    for spec in flows.iter().cloned() {
        let flow_shared = Arc::clone(shared);
        match std::thread::Builder::new()
            .name(format!("flow {}", spec.name))
            .spawn(move || flow::run(spec, flow_shared))
        {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                stop_threads(shared, threads);
                return Err(EngineError::State(format!("cannot start a flow thread: {error}")));
            }
        }
    }
    Ok(threads)
}

/// Stops the flows and waits for them (a start that failed half-way).
fn stop_threads(shared: &Shared, threads: Vec<JoinHandle<bool>>) {
    shared.stop.store(true, Ordering::SeqCst);
    for thread in threads {
        let _ = thread.join();
    }
}

fn start_offset_sync(
    plan: &Plan,
    cluster_ids: &BTreeMap<Side, String>,
    shared: &Arc<Shared>,
) -> Result<JoinHandle<()>, EngineError> {
    let (plan, ids, shared) = (plan.clone(), cluster_ids.clone(), Arc::clone(shared));
    std::thread::Builder::new()
        .name("offset sync".into())
        .spawn(move || groups::run(plan, ids, shared))
        .map_err(|e| EngineError::State(format!("cannot start the offset sync thread: {e}")))
}

/// Serves `/metrics` and `/status` from `snapshot`. Returns where and the server's task, or `None`
/// when the address cannot be bound (a problem recorded: the engine replicates without them).
async fn serve_metrics_and_status(
    plan: &Plan,
    snapshot: &Arc<Mutex<http::Snapshot>>,
    shared: &Shared,
) -> Option<(String, tokio::task::JoinHandle<()>)> {
    match tokio::net::TcpListener::bind(plan.engine.listen).await {
        Ok(listener) => {
            let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!("serving /metrics and /status on http://{address}");
            Some((address, tokio::spawn(http::serve(listener, Arc::clone(snapshot)))))
        }
        Err(error) => {
            let message = format!("cannot serve /metrics and /status on {}: {error}", plan.engine.listen);
            tracing::warn!("{message}");
            shared.record_problem("engine", &message);
            None
        }
    }
}

/// Each cluster's last ping by side (1 when it answered, 0 when not), as the pinger writes it.
#[derive(Clone, Default)]
struct Pings(Arc<Mutex<BTreeMap<String, u8>>>);

impl Pings {
    fn current(&self) -> BTreeMap<String, u8> {
        self.0.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// The thread that pings the clusters, and the flag that keeps it going.
struct Pinger {
    pinging: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Pinger {
    /// Each cluster pinged every 5 s on a thread of its own: a topic sync or metadata request
    /// waiting out its timeout on a cluster that is down must not keep a stale ping in the status.
    fn start(plan: &Plan, pings: &Pings) -> Self {
        let pinging = Arc::new(AtomicBool::new(true));
        let thread = {
            let (pings, pinging) = (pings.clone(), Arc::clone(&pinging));
            let clusters = [plan.source.clone(), plan.target.clone()];
            std::thread::spawn(move || {
                while pinging.load(Ordering::SeqCst) {
                    for cluster in &clusters {
                        let ok = crate::kafka::probe::ping(cluster, Duration::from_secs(2));
                        if let Ok(mut pings) = pings.0.lock() {
                            pings.insert(cluster.side.to_string(), u8::from(ok));
                        }
                    }
                    for _ in 0..20 {
                        if !pinging.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
            })
        };
        Self { pinging, thread }
    }

    async fn stop(self) {
        self.pinging.store(false, Ordering::SeqCst);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// A started engine: what its loop reads, syncs and publishes until it is stopped.
struct RunningEngine<'a> {
    plan: &'a Plan,
    options: &'a EngineOptions,
    files: StateDir,
    shared: Arc<Shared>,
    clusters: Clusters,
    flows: Vec<FlowSpec>,
    mismatched: BTreeSet<String>,
    /// Where each app runs, as last applied from `control.json`.
    control: Control,
    started_at_ms: u64,
    listen: Option<String>,
    /// What `/metrics` and `/status` serve.
    snapshot: Arc<Mutex<http::Snapshot>>,
    pings: Pings,
}

impl RunningEngine<'_> {
    /// Follows `control.json`, syncs the topics every `topic_refresh` and publishes the status
    /// every second, until `stop`. Returns the gate last published.
    async fn run_until_stopped(&mut self, stop: &StopHandle) -> Gate {
        let mut publication = Publication::new(self.shared.applied_control());
        let mut last_sync = Instant::now();
        while !stop.stopped() {
            // A cutover's app is down from its stop to its start: the control file it writes is read
            // within a tenth of a second (a small file; reading it is cheap).
            tokio::time::sleep(Duration::from_millis(100)).await;
            follow_control(&mut self.control, &self.files, &self.shared, self.plan);
            publication.when_due(self);
            if last_sync.elapsed() >= self.options.topic_refresh {
                self.sync_topics_publishing(&mut publication, stop).await;
                last_sync = Instant::now();
            }
        }
        publication.gate
    }

    /// Syncs the topics while the status goes on being published. A cluster that is away makes
    /// the sync wait out its requests' timeouts (20 s and more); published only between syncs, the
    /// status went stale meanwhile and showed the gate still open with a link cut (found by the
    /// network faults of `tests/faults.rs`).
    async fn sync_topics_publishing(&mut self, publication: &mut Publication, stop: &StopHandle) {
        let mut mismatched = self.mismatched.clone();
        let finished = {
            let sync = sync_topics(
                self.plan,
                &self.flows,
                &self.clusters,
                &self.shared,
                &mut mismatched,
                self.options.timeout,
            );
            tokio::pin!(sync);
            loop {
                tokio::select! {
                    () = &mut sync => break true,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        if stop.stopped() {
                            break false;
                        }
                        follow_control(&mut self.control, &self.files, &self.shared, self.plan);
                        publication.when_due(self);
                    }
                }
            }
        };
        if finished {
            self.mismatched = mismatched;
        }
    }

    /// Saves the checkpoints, evaluates the readiness gate and publishes the status: to the
    /// status file, to `/status` and, as Prometheus text, to `/metrics`. Returns the gate.
    fn publish(&self, sustain: &mut Sustain, counted: &mut (u64, u64)) -> Gate {
        save_checkpoints(&self.shared, &self.files);
        let health = self.shared.health(&self.pings.current());
        let groups = self.shared.groups_report();
        let inputs = gate_inputs(self.plan, &health, &groups, counted);
        let gate = sustain.evaluate(&inputs, &self.plan.readiness, now_ms());
        let current = self.status("running", health, groups, gate.clone());
        write_status(&self.files, &current);
        if let Ok(mut served) = self.snapshot.lock() {
            served.status_json = serde_json::to_string_pretty(&current).unwrap_or_default();
            let apps = self.plan.apps.iter().map(|app| (app.name.clone(), self.control.side_of(&app.name))).collect();
            served.metrics_text =
                health::prometheus(&self.plan.name, &current.health, &current.groups, &current.gate, &apps);
        }
        gate
    }

    /// The status document, with the health and offset-sync report the gate was evaluated on.
    fn status(&self, state: &str, health: Health, groups: groups::GroupsReport, gate: Gate) -> EngineStatus {
        let shared = &self.shared;
        EngineStatus {
            plan: self.plan.name.clone(),
            pid: std::process::id(),
            state: state.into(),
            started_at_ms: self.started_at_ms,
            updated_at_ms: now_ms(),
            cluster_ids: self.clusters.ids(),
            topics: shared.topics.lock().map(|t| t.flows.clone()).unwrap_or_default(),
            mismatched_topics: self.mismatched.iter().cloned().collect(),
            flows: shared.flows.lock().map(|f| f.clone()).unwrap_or_default(),
            alarms: shared.alarms.lock().map(|a| a.clone()).unwrap_or_default(),
            problems: shared.problems.lock().map(|p| p.clone()).unwrap_or_default(),
            listen: self.listen.clone(),
            health,
            groups,
            gate,
        }
    }

    /// Stops the flows and saves their last checkpoints, stops the offset sync and the pinger,
    /// and writes the stopped status, its gate closed.
    async fn shut_down(
        self,
        flow_threads: Vec<JoinHandle<bool>>,
        offset_sync: JoinHandle<()>,
        pinger: Pinger,
        mut gate: Gate,
    ) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let clean = tokio::task::spawn_blocking(move || flow_threads.into_iter().all(|t| t.join().unwrap_or(false)))
            .await
            .unwrap_or(false);
        save_checkpoints(&self.shared, &self.files);
        let _ = tokio::task::spawn_blocking(move || offset_sync.join()).await;
        gate.open = false;
        pinger.stop().await;
        let health = self.shared.health(&self.pings.current());
        write_status(&self.files, &self.status("stopped", health, self.shared.groups_report(), gate));
        // Only when every flow delivered all it had in flight may the next start skip the settle wait.
        if clean && let Err(error) = write_atomically(&self.files.clean_shutdown(), b"") {
            tracing::warn!("cannot mark the clean shutdown: {error}");
        }
    }
}

/// Applies `control.json` when it changed since it was last applied.
fn follow_control(control: &mut Control, files: &StateDir, shared: &Shared, plan: &Plan) {
    if let Ok(latest) = Control::load(&files.control())
        && latest != *control
    {
        tracing::info!("control.json changed: {:?}", latest.apps);
        *control = latest;
        apply_control(shared, plan, control);
    }
}

/// When the status is published: every second, and at once when the offset sync applied a new
/// side (a cutover's `switch` waits for that, its app down); with the gate's sustained windows.
struct Publication {
    sustain: Sustain,
    gate: Gate,
    counted: (u64, u64),
    last_save: Instant,
    published_control: Control,
}

impl Publication {
    fn new(applied: Control) -> Self {
        Self {
            sustain: Sustain::default(),
            gate: Gate::default(),
            counted: (0, 0),
            last_save: Instant::now(),
            published_control: applied,
        }
    }

    fn when_due(&mut self, engine: &RunningEngine<'_>) {
        let applied = engine.shared.applied_control();
        if applied != self.published_control || self.last_save.elapsed() >= Duration::from_secs(1) {
            self.published_control = applied;
            self.gate = engine.publish(&mut self.sustain, &mut self.counted);
            self.last_save = Instant::now();
        }
    }
}

/// The gate's inputs from the engine's health and the offset sync's last pass. `counted` keeps
/// the failure totals of the previous evaluation: the gate looks at new failures.
fn gate_inputs(plan: &Plan, health: &Health, groups: &groups::GroupsReport, counted: &mut (u64, u64)) -> GateInputs {
    let failures: u64 = health.flows.values().map(|f| f.replicator_failure).sum();
    let sync_failures = groups.consumer_group_offset_sync_failure;
    let new_failures = (failures.saturating_sub(counted.0), sync_failures.saturating_sub(counted.1));
    *counted = (failures, sync_failures);
    let measured = groups.passes > 0;

    let message_lag = health.flows.values().map(|f| f.message_lag).max();
    let latency = health.flows.values().filter_map(|f| f.replication_latency_ms.map(|l| l.max)).max();
    // Nothing copied in the window and nothing waiting: no record is delayed.
    let latency = latency.or_else(|| message_lag.filter(|lag| *lag == 0));
    let sum_offset_lag = [Side::Source, Side::Target]
        .into_iter()
        .map(|side| {
            let worst = groups
                .groups
                .values()
                .filter_map(|g| g.sides.get(&side))
                .flat_map(|s| s.sum_offset_lag.values().flatten().copied())
                .max();
            // A group that never committed has no lag to measure.
            (side, measured.then_some(worst.unwrap_or(0)))
        })
        .collect();
    let expected = plan.readiness.expected_consumer_group_count.unwrap_or_else(|| {
        groups
            .groups
            .values()
            .filter(|g| g.active_side.and_then(|side| g.sides.get(&side)).is_some_and(|s| s.has_offsets))
            .count() as u64
    });
    GateInputs {
        replicator_failure: Some(new_failures.0),
        consumer_group_offset_sync_failure: measured.then_some(new_failures.1),
        ping: [Side::Source, Side::Target]
            .into_iter()
            .map(|side| (side, health.kafka_cluster_ping_success_count.get(side.as_str()).copied()))
            .collect(),
        message_lag,
        replication_latency_ms: latency,
        sum_offset_lag,
        consumer_group_count_target: measured
            .then(|| groups.consumer_group_count.get(&Side::Target).copied().unwrap_or(0)),
        expected_consumer_group_count: expected,
        split_brain_alarms: health.alarms.iter().filter(|a| a.kind == AlarmKind::SplitBrain).count() as u64,
    }
}

fn flow_spec(plan: &Plan, origin: Side, origin_id: &str, dest_id: &str, first_start: bool) -> FlowSpec {
    FlowSpec {
        name: format!("{origin}->{}", origin.other()),
        origin: plan.cluster(origin).clone(),
        dest: plan.cluster(origin.other()).clone(),
        origin_id: origin_id.into(),
        dest_id: dest_id.into(),
        compression: plan.replication.target_compression,
        starting_position: plan.replication.starting_position,
        first_start,
    }
}

/// Each produced topic's writer sides: where the apps producing it run.
fn set_writers(shared: &Shared, plan: &Plan, control: &Control) {
    let mut writers: HashMap<String, BTreeSet<Side>> = HashMap::new();
    for app in &plan.apps {
        for topic in &app.produces {
            writers.entry(topic.clone()).or_default().insert(control.side_of(&app.name));
        }
    }
    *shared.writers.write().unwrap_or_else(|e| e.into_inner()) = writers;
}

async fn sync_topics(
    plan: &Plan,
    flows: &[FlowSpec],
    clusters: &Clusters,
    shared: &Shared,
    mismatched: &mut BTreeSet<String>,
    timeout: Duration,
) {
    for spec in flows {
        let (origin, dest) = match spec.origin.side {
            Side::Source => (&clusters.source_admin, &clusters.target_admin),
            Side::Target => (&clusters.target_admin, &clusters.source_admin),
        };
        match topics::sync(origin, dest, plan, spec.dest.side == Side::Target, timeout).await {
            Ok(outcome) => {
                for (topic, configs) in &outcome.created {
                    tracing::info!(flow = %spec.name, "created topic {topic} on the {} with {configs:?}", spec.dest.side);
                }
                for (topic, refused) in &outcome.skipped {
                    let names: Vec<String> = refused.iter().map(|(key, value)| format!("{key}={value}")).collect();
                    tracing::warn!(
                        flow = %spec.name,
                        "created topic {topic} on the {} without the configs it refuses: {}",
                        spec.dest.side,
                        names.join(", ")
                    );
                    shared.record_problem(
                        &spec.name,
                        &format!(
                            "topic `{topic}` created without the configs the {} refuses: {}",
                            spec.dest.side,
                            names.join(", ")
                        ),
                    );
                }
                for (topic, origin_partitions, dest_partitions) in &outcome.mismatched {
                    let message = format!(
                        "topic `{topic}` has {origin_partitions} partition(s) on the {} and {dest_partitions} on the {}: not replicated",
                        spec.origin.side, spec.dest.side
                    );
                    if mismatched.insert(topic.clone()) {
                        tracing::error!("{message}");
                        shared.record_problem(&spec.name, &message);
                    }
                }
                for (topic, partitions) in &outcome.missing {
                    let message = format!(
                        "topic `{topic}` exists on the {} only: not replicated to the {} until it is created there (with {partitions} partition(s)); the engine creates topics on the target only",
                        spec.origin.side, spec.dest.side
                    );
                    if mismatched.insert(format!("missing:{topic}")) {
                        tracing::warn!("{message}");
                        shared.record_problem(&spec.name, &message);
                    }
                }
                shared.set_topics(&spec.name, outcome.replicated);
            }
            Err(error) => {
                tracing::warn!(flow = %spec.name, "topic sync failed: {error}");
                shared.record_problem(&spec.name, &format!("topic sync: {error}"));
            }
        }
    }
}

fn save_checkpoints(shared: &Shared, files: &StateDir) {
    let checkpoints = shared.checkpoints.lock().map(|c| c.clone()).unwrap_or_default();
    if let Err(error) = checkpoints.save(&files.checkpoints()) {
        tracing::warn!("cannot save checkpoints: {error}");
    }
}

fn write_status(files: &StateDir, status: &EngineStatus) {
    match serde_json::to_vec_pretty(status) {
        Ok(bytes) => {
            if let Err(error) = write_atomically(&files.engine_status(), &bytes) {
                tracing::warn!("cannot write {}: {error}", files.engine_status().display());
            }
        }
        Err(error) => tracing::warn!("cannot encode the status: {error}"),
    }
}

fn admin_for(cluster: &Cluster, timeout: Duration) -> Result<Admin, EngineError> {
    let mut config = client_config(cluster, Identity::Replicator)
        .map_err(|e| EngineError::Cluster { side: cluster.side, message: e.to_string() })?;
    config.set("socket.timeout.ms", timeout.as_millis().to_string());
    CaptureContext::for_cluster(cluster).create(&config).map_err(|e| EngineError::Cluster {
        side: cluster.side,
        message: format!("cannot create an admin client: {e}"),
    })
}

async fn cluster_id(admin: &Admin, side: Side, timeout: Duration) -> Result<String, EngineError> {
    // cluster_id blocks: keep the runtime's other tasks running meanwhile.
    tokio::task::block_in_place(|| kafka_admin::cluster_id(admin.inner(), timeout)).ok_or_else(|| {
        EngineError::Cluster {
            side,
            message: "the brokers report no cluster ID (needed for the provenance header)".into(),
        }
    })
}
