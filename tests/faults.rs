//! Faults injected into moves on Apache Kafka (issue 20, part B): `kill -9` of `migrate cutover`
//! (or `rollback`) in each of its steps, then the same command again or the opposite one; and
//! `kill -9` of the engine in each step, restarted 3 s later while the move waits. After each: the
//! move completes or reverts, the app runs on exactly one cluster (the one `control.json` names),
//! and its reader goes on with every record of the writer once, in order.
//!
//! `scripts/faults.sh` runs every case (`--ignored`) and prints the table; CI runs
//! [`smoke_one_kill_of_the_command_and_one_of_the_engine`] so the matrix cannot rot.
//!
//! How each step is held long enough to be killed in: the app's hooks wait while a hold file
//! exists (`stop`, `start`; `verify`: the start hook returns at once but the app starts only when
//! the hold goes); the fence lasts its 5 s window; the gate, drain and switch wait for the engine,
//! stopped with SIGSTOP once the step before is done (the engine-kill cases kill it instead).
//! `configure` writes one file and cannot be held: the kill lands where it lands, and the table
//! says which step `move.json` named at the kill.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::apps::*;
use common::ledger::{Anomalies, anomalies};
use common::*;
use migrate::plan::Side;

const STEPS: [&str; 8] = ["gate", "stop", "fence", "drain", "switch", "configure", "start", "verify"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Victim {
    /// `migrate cutover` / `rollback` itself.
    Command,
    /// The engine (`migrate apply`).
    Engine,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Then {
    /// The same command again.
    Same,
    /// The opposite command: it undoes the interrupted move.
    Opposite,
    /// Nothing: the command goes on (the engine was the victim, restarted).
    Wait,
}

/// One injected fault and what came of it.
struct Row {
    fault: String,
    step: &'static str,
    landed: String,
    then: String,
    exit: i32,
    side: String,
    anomalies: Anomalies,
    double_starts: u64,
    recovery: Duration,
}

/// The reader, alone in the plan, with hooks that wait while a hold file exists.
fn held_reader(dir: &Path, topic: &str, group: &str) -> String {
    let (app, holds) = (dir.join("reader"), dir.join("holds"));
    std::fs::create_dir_all(&holds).unwrap();
    let wait = |hold: &str| format!("while [ -e {}/{hold} ]; do sleep 0.05; done", holds.display());
    format!(
        "  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n    stop: {}; touch {app}/stop.request; while [ -e {app}/stop.request ]; do sleep 0.05; done\n    start: {}; ({}; printf '%s\\n%s\\n' \"$MIGRATE_SIDE\" \"$MIGRATE_CLIENT_CONFIG\" > {app}/start.tmp && mv {app}/start.tmp {app}/start.request) >/dev/null 2>&1 &\n",
        wait("stop"),
        wait("start"),
        wait("verify"),
        app = app.display()
    )
}

/// The move's record, when there is one: (the kind of its next step, whether it reverts).
fn next_step(world: &World) -> Option<(String, bool)> {
    let text = std::fs::read_to_string(world.plan.state.join("move.json")).ok()?;
    let record: serde_json::Value = serde_json::from_str(&text).ok()?;
    let next = record["next"].as_u64()? as usize;
    let kind = record["steps"].get(next).and_then(|s| s["kind"].as_str()).unwrap_or("done").to_string();
    Some((kind, record["reverting"] == true))
}

fn step_index(step: &str) -> usize {
    STEPS.iter().position(|s| *s == step).unwrap_or(STEPS.len())
}

/// Waits until the (not reverting) move's next step is `step` or one after it; panics if the
/// command ends first.
fn wait_for_step(world: &World, child: &mut Child, step: &str) {
    poll_until(format!("the move to reach its {step}"), Duration::from_secs(120), || {
        assert!(child.try_wait().unwrap().is_none(), "the command ended before its {step}");
        next_step(world).is_some_and(|(kind, reverting)| !reverting && step_index(&kind) >= step_index(step))
    });
}

fn spawn_move(world: &World, command: &str, fence_window: &str) -> Child {
    spawn_move_with(world, command, fence_window, &[])
}

/// [`spawn_move`] with `extra` options.
fn spawn_move_with(world: &World, command: &str, fence_window: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(world.plan_args())
        .args([command, "reader", "-o", "json", "--fence-window", fence_window, "--wait", "120s"])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// Injects one fault into a move of the reader, recovers as `then` says, and checks the outcome.
fn inject(
    world: &World,
    writer: &TestApp,
    reader: &TestApp,
    engine: &mut Option<Engine>,
    victim: Victim,
    step: &'static str,
    then: Then,
) -> Row {
    let on = reader.side.lock().unwrap().clone().expect("the reader runs");
    let (command, opposite, to) =
        if on == "source" { ("cutover", "rollback", "target") } else { ("rollback", "cutover", "source") };
    let holds = world.apps_dir.path().join("holds");
    let hold = |name: &str| std::fs::write(holds.join(name), "").unwrap();
    for held in ["stop", "start", "verify"].into_iter().filter(|h| *h == step) {
        hold(held);
    }
    let running_engine = |engine: &Option<Engine>| engine.as_ref().expect("the engine runs").child.id().to_string();
    let signal_engine = |signal: &str, pid: &str| {
        Command::new("kill").args([signal, pid]).status().unwrap();
    };
    let mut paused: Option<String> = None;
    // The gate cannot be read without the engine: the command waits in it.
    let engine_gone_before = step == "gate" && victim == Victim::Engine;
    if engine_gone_before {
        engine.take().expect("the engine runs").kill();
    } else if step == "gate" {
        let pid = running_engine(engine);
        signal_engine("-STOP", &pid);
        paused = Some(pid);
    }
    let before = reader.ledger().len();
    let fence_window = if step == "fence" { "5s" } else { "1s" };
    let mut child = spawn_move(world, command, fence_window);
    match (victim, step) {
        (Victim::Command, "drain" | "switch") => {
            // The engine paused once the step before is done: the step waits for it.
            let before_step = STEPS[step_index(step) - 1];
            wait_for_step(world, &mut child, before_step);
            if step == "drain" {
                // Past the fence already, or stopped at its start: either way no copy moves now.
                wait_for_step(world, &mut child, "fence");
            }
            let pid = running_engine(engine);
            signal_engine("-STOP", &pid);
            paused = Some(pid);
            wait_for_step(world, &mut child, step);
        }
        _ => wait_for_step(world, &mut child, step),
    }
    // Well inside a held step; at once in one the engine ends (the drain, the switch) or nothing
    // holds (the configure).
    let unheld = step == "configure" || (victim == Victim::Engine && matches!(step, "drain" | "switch"));
    std::thread::sleep(Duration::from_millis(if unheld { 0 } else { 500 }));
    let landed = next_step(world).map_or("the move's end".into(), |(kind, _)| kind);
    let killed = Instant::now();
    let (exit, output) = match victim {
        Victim::Command => {
            child.kill().unwrap();
            let _ = child.wait();
            for held in ["stop", "start", "verify"] {
                let _ = std::fs::remove_file(holds.join(held));
            }
            if let Some(pid) = paused.take() {
                signal_engine("-CONT", &pid);
            }
            let again = if then == Then::Same { command } else { opposite };
            let run = world.migrate(&[again, "reader", "-o", "json", "--fence-window", "1s", "--wait", "120s"]);
            (run.code, format!("{}\n{}", run.stdout, run.stderr))
        }
        Victim::Engine => {
            if !engine_gone_before {
                engine.take().expect("the engine runs").kill();
            }
            for held in ["stop", "start", "verify"] {
                let _ = std::fs::remove_file(holds.join(held));
            }
            // Deliberately gone for 3 s: the move meets no engine, not one restarting.
            std::thread::sleep(Duration::from_secs(3));
            *engine = Some(Engine::start(&world.plan));
            finish(child)
        }
    };
    let recovery = killed.elapsed();
    let expected = match (exit, then) {
        (0, Then::Opposite) => on.as_str(),
        (0, _) => to,
        (5, _) => on.as_str(),
        _ => panic!("{victim:?} killed in {step} (landed in {landed}), then {then:?}: exit {exit}\n{output}"),
    };
    assert!(!world.plan.state.join("move.json").exists(), "a move was left behind:\n{output}");
    // No entry: the app has never left the source.
    assert_eq!(control(world)["apps"]["reader"].as_str().unwrap_or("source"), expected, "{output}");
    reader.wait_side(Some(expected));
    engine.as_ref().expect("the engine runs").wait_gate_open(Duration::from_secs(120));
    poll_until("the reader to go on", Duration::from_secs(120), || reader.ledger().len() > before + 20);
    let row = Row {
        fault: format!("kill -9 of the {}", if victim == Victim::Command { command } else { "engine" }),
        step,
        landed,
        then: match then {
            Then::Same => format!("{command} again"),
            Then::Opposite => opposite.to_string(),
            Then::Wait => "engine restarted after 3 s".into(),
        },
        exit,
        side: expected.to_string(),
        anomalies: anomalies(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS, false),
        double_starts: reader.double_starts.load(Ordering::SeqCst),
        recovery,
    };
    eprintln!("{}", render(&row));
    row
}

fn render(row: &Row) -> String {
    format!(
        "| {} | {} (landed: {}) | {} | {} | {} | {} | {} | {} | {:.1} s |",
        row.fault,
        row.step,
        row.landed,
        row.then,
        row.exit,
        row.side,
        row.anomalies.lost,
        row.anomalies.duplicated + row.anomalies.out_of_order,
        row.double_starts,
        row.recovery.as_secs_f64()
    )
}

/// Runs `cases` on one world and prints the table; fails on any lost, duplicated or reordered
/// record, or any moment the app ran on both clusters.
fn matrix(name: &str, cases: &[(Victim, &'static str, Then)]) {
    let world = World::new(name, held_reader, QUICK_GATE);
    let (writer, reader, engine) = running(&world);
    let mut engine = Some(engine);
    let started = Instant::now();
    let rows: Vec<Row> = cases
        .iter()
        .map(|(victim, step, then)| inject(&world, &writer, &reader, &mut engine, *victim, step, *then))
        .collect();
    let rendered: Vec<String> = rows.iter().map(render).collect();
    let (written, total) = everything_read(writer, &reader);
    let double_starts = reader.double_starts.load(Ordering::SeqCst);
    reader.finish();
    engine.take().expect("the engine runs").stop();
    print_table(
        "| fault | step (where move.json was) | then | exit | app on | lost | duplicated or reordered | started twice | recovery |",
        &rendered,
        &format!("{name}: {} faults in {:.0} s", rows.len(), started.elapsed().as_secs_f64()),
        written,
        total,
    );
    println!("the app started on a second cluster {double_starts} time(s)");
    assert_eq!(
        (total.lost, total.duplicated, total.out_of_order, double_starts),
        (0, 0, 0, 0),
        "lost, duplicated, out of order, double starts"
    );
    assert_eq!(total.read as u64, written);
}

/// Stops the writer and waits for the reader to read everything it wrote; returns how many it
/// wrote and what the reader's ledger holds against that.
fn everything_read(writer: TestApp, reader: &TestApp) -> (u64, Anomalies) {
    let acknowledged = writer.produced.clone();
    writer.finish();
    let written = acknowledged.load(Ordering::SeqCst);
    poll_until("the reader to read everything", Duration::from_secs(120), || reader.ledger().len() as u64 >= written);
    // Deliberately a second more: a duplicate arriving after the count was reached is counted.
    std::thread::sleep(Duration::from_secs(1));
    (written, anomalies(&reader.ledger(), written, PARTITIONS, true))
}

/// A markdown table (`header`, then one line per row) and the records' summary under it.
fn print_table(header: &str, rows: &[String], title: &str, written: u64, total: Anomalies) {
    let columns = header.matches('|').count() - 1;
    println!("\n{header}\n|{}", "---|".repeat(columns));
    for row in rows {
        println!("{row}");
    }
    println!(
        "\n{title}; {written} records written, {} read: {} lost, {} duplicated, {} out of order",
        total.read, total.lost, total.duplicated, total.out_of_order
    );
}

/// [`print_table`], then fails unless every record written was read once, in order.
fn print_table_read_once(header: &str, rows: &[String], title: &str, (written, total): (u64, Anomalies)) {
    print_table(header, rows, title, written, total);
    assert_eq!((total.lost, total.duplicated, total.out_of_order), (0, 0, 0), "lost, duplicated, out of order");
    assert_eq!(total.read as u64, written);
}

/// CI's smoke of the matrix: the command killed in its drain and run again; the engine killed in
/// the switch.
#[test]
fn smoke_one_kill_of_the_command_and_one_of_the_engine() {
    matrix("faults-smoke", &[(Victim::Command, "drain", Then::Same), (Victim::Engine, "switch", Then::Wait)]);
}

#[test]
#[ignore = "a matrix of 8 kills, 1 to 3 minutes: scripts/faults.sh"]
fn kill_9_of_the_command_in_each_step_then_the_same_command() {
    let cases: Vec<_> = STEPS.iter().map(|step| (Victim::Command, *step, Then::Same)).collect();
    matrix("faults-same", &cases);
}

#[test]
#[ignore = "a matrix of 8 kills, 1 to 3 minutes: scripts/faults.sh"]
fn kill_9_of_the_command_in_each_step_then_the_opposite_command() {
    let cases: Vec<_> = STEPS.iter().map(|step| (Victim::Command, *step, Then::Opposite)).collect();
    matrix("faults-opposite", &cases);
}

#[test]
#[ignore = "a matrix of 8 kills, 1 to 3 minutes: scripts/faults.sh"]
fn kill_9_of_the_engine_in_each_step() {
    let cases: Vec<_> = STEPS.iter().map(|step| (Victim::Engine, *step, Then::Wait)).collect();
    matrix("faults-engine", &cases);
}

/// The engine's links, and only the engine's: it runs in a cgroup (v2) of its own, and nftables
/// rules in a table of their own drop its sockets' packets to one cluster's ports (a cut) or a
/// share of them (loss). The brokers advertise loopback addresses, so a network namespace for the
/// engine would need them re-addressed; matching the engine's sockets by cgroup cuts exactly its
/// links and nothing else on the machine. Both go when this is dropped.
struct EngineLinks {
    cgroup: std::path::PathBuf,
    /// The cgroup as nftables names it: its path under `/sys/fs/cgroup`.
    name: String,
    table: String,
}

impl EngineLinks {
    fn new() -> EngineLinks {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let root = mounts
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.get(2) == Some(&"cgroup2"))
            .map(|fields| fields[1].to_string())
            .expect("a cgroup2 mount");
        let leaf = unique("faults");
        let cgroup = Path::new(&root).join(&leaf);
        std::fs::create_dir_all(&cgroup).unwrap();
        let name = cgroup.strip_prefix("/sys/fs/cgroup").expect("cgroup2 under /sys/fs/cgroup").display().to_string();
        let table = leaf.replace('-', "_");
        nft(&format!("add table inet {table}"));
        nft(&format!("add chain inet {table} out {{ type filter hook output priority 0; }}"));
        EngineLinks { cgroup, name, table }
    }

    fn procs(&self) -> std::path::PathBuf {
        self.cgroup.join("cgroup.procs")
    }

    /// Drops every packet of the engine's to `broker`.
    fn cut(&self, broker: &Broker) {
        self.rule(broker, "");
    }

    /// Drops `percent` % of the engine's packets to `broker`, at random.
    fn lose(&self, broker: &Broker, percent: u32) {
        self.rule(broker, &format!("numgen random mod 100 < {percent} "));
    }

    fn rule(&self, broker: &Broker, condition: &str) {
        nft(&format!(
            "add rule inet {} out socket cgroupv2 level 1 \"{}\" tcp dport {{ {}, {} }} {condition}drop",
            self.table, self.name, broker.port, broker.replicator_port
        ));
    }

    fn heal(&self) {
        nft(&format!("flush chain inet {} out", self.table));
    }

    /// Sends the engine's new connections to `broker` (both its listeners) through proxies that
    /// hold every byte for `delay` each way: this kernel has no `netem`. Connections the engine
    /// holds already keep their path, so the engine is started (or restarted) after this.
    fn delay(&self, broker: &Broker, delay: Duration) -> Vec<DelayProxy> {
        let _ = Command::new("nft")
            .args(["add", "chain", "inet", &self.table, "nat_out", "{ type nat hook output priority -100; }"])
            .status();
        nft(&format!("flush chain inet {} nat_out", self.table));
        [broker.port, broker.replicator_port]
            .into_iter()
            .map(|port| {
                let proxy = DelayProxy::start(port, delay);
                nft(&format!(
                    "add rule inet {} nat_out socket cgroupv2 level 1 \"{}\" ip daddr 127.0.0.1 tcp dport {port} redirect to :{}",
                    self.table, self.name, proxy.port
                ));
                proxy
            })
            .collect()
    }
}

/// A TCP proxy on loopback to `upstream` that delivers every byte `delay` after it arrived, in
/// both directions: added latency, without reordering or loss. Stops accepting when dropped;
/// the connections it carries end with their clients.
struct DelayProxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections it carried: none would mean the engine's links did not go through it.
    accepted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DelayProxy {
    fn start(upstream: u16, delay: Duration) -> DelayProxy {
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stopping, accepted) = (stop.clone(), std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
        let counted = accepted.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                        // Each chunk as it comes: Nagle's batching would add delay of its own.
                        let ready =
                            client.set_nonblocking(false).and(client.set_nodelay(true)).and(server.set_nodelay(true));
                        let (Ok(()), Ok(client_copy), Ok(server_copy)) =
                            (ready, client.try_clone(), server.try_clone())
                        else {
                            continue;
                        };
                        counted.fetch_add(1, Ordering::SeqCst);
                        pump_delayed(client, server_copy, delay);
                        pump_delayed(server, client_copy, delay);
                    }
                    // An accept loop polled every 10 ms, so that dropping the proxy stops it.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        DelayProxy { port, stop, accepted }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read: one thread reads, one
/// writes what is due. At the end of `from`, `to`'s writing half is shut once the rest is out.
fn pump_delayed(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: Duration) {
    use std::io::{Read, Write};
    // Bounded: a slow reader on one side holds the other back, as TCP would.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<(Instant, Vec<u8>)>(256);
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            if sender.send((Instant::now() + delay, buffer[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in receiver {
            // Holding each chunk until it is due is what this proxy is for.
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Drop for EngineLinks {
    fn drop(&mut self) {
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.table]).status();
        // Empty once the engine is gone.
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

fn nft(rule: &str) {
    let output = Command::new("nft").args(rule.split(' ')).output().expect("nft (scripts/install.sh installs it)");
    assert!(output.status.success(), "nft {rule}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The gate's failing conditions, named (`MessageLag (source)`), and the largest message lag of
/// any flow, from the engine's status.
fn gate_and_lag(engine: &Engine) -> Option<(bool, Vec<String>, i64)> {
    let status = engine.status()?;
    let failing = status["gate"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == false)
        .map(|c| match c["cluster"].as_str() {
            Some(cluster) => format!("{} ({cluster})", c["name"].as_str().unwrap_or("?")),
            None => c["name"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    let lag = status["health"]["flows"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, flow)| flow["message_lag"].as_i64())
        .max()
        .unwrap_or(0);
    Some((status["gate"]["open"] == true, failing, lag))
}

/// The sum of `topic`'s partitions' high watermarks on `broker`.
fn ends(broker: &Broker, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = broker.client_config(ADMIN).create().unwrap();
    (0..PARTITIONS)
        .map(|partition| {
            consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).map_or(0, |(_, high)| high)
        })
        .sum()
}

/// What is done to the engine's link to one cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Every packet dropped.
    Cut,
    /// This share of the packets dropped, in percent.
    Loss(u32),
}

/// One case of the network matrix.
struct Case {
    side: Side,
    fault: Fault,
    seconds: u64,
    /// The step of a move of the reader the fault starts in; steady replication when `None`.
    step: Option<&'static str>,
    /// The move's `--drain-timeout`, when not the default.
    drain_timeout: Option<&'static str>,
}

impl Case {
    fn steady(side: Side, fault: Fault, seconds: u64) -> Case {
        Case { side, fault, seconds, step: None, drain_timeout: None }
    }

    fn in_move(side: Side, seconds: u64, step: &'static str) -> Case {
        Case { side, fault: Fault::Cut, seconds, step: Some(step), drain_timeout: None }
    }
}

/// One network fault and what came of it.
struct CutRow {
    fault: String,
    loss: Option<u32>,
    length: Duration,
    during: String,
    closed_after: Option<Duration>,
    why: Vec<String>,
    max_lag: i64,
    move_exit: Option<i32>,
    side: String,
    anomalies: Anomalies,
    recovery: Duration,
}

/// The engine's link to `broker` cut (or lossy) for `length`, in steady replication or from the
/// moment a move of the reader reaches `step`; then healed. Returns what the gate said and how
/// long the engine took to open it again after the heal.
fn cut_link(
    world: &World,
    (writer, reader): (&TestApp, &TestApp),
    engine: &Engine,
    links: &EngineLinks,
    (broker, name): (&Broker, &str),
    case: &Case,
) -> CutRow {
    let (length, step) = (Duration::from_secs(case.seconds), case.step);
    let loss = match case.fault {
        Fault::Cut => None,
        Fault::Loss(percent) => Some(percent),
    };
    let on = reader.side.lock().unwrap().clone().expect("the reader runs");
    let (command, to) = if on == "source" { ("cutover", "target") } else { ("rollback", "source") };
    let before = reader.ledger().len();
    // From its stop: the stop hook is held until the fault has begun, so the app's last commits
    // on the cluster it leaves come during the fault.
    let stop_hold = world.apps_dir.path().join("holds").join("stop");
    if step == Some("stop") {
        std::fs::write(&stop_hold, "").unwrap();
    }
    let mut mover = step.map(|step| {
        let extra: &[&str] = match case.drain_timeout {
            Some(timeout) => &["--drain-timeout", timeout],
            None => &[],
        };
        let mut child = spawn_move_with(world, command, "1s", extra);
        wait_for_step(world, &mut child, step);
        child
    });
    // Nothing left over from the fault before: the gate open for 2 s in a row.
    let mut open_since = Instant::now();
    poll_until("the gate to stay open for 2 s", Duration::from_secs(180), || {
        if !gate_and_lag(engine).is_some_and(|(open, _, _)| open) {
            open_since = Instant::now();
        }
        open_since.elapsed() >= Duration::from_secs(2)
    });
    let fault_started = Instant::now();
    match loss {
        Some(percent) => links.lose(broker, percent),
        None => links.cut(broker),
    }
    let _ = std::fs::remove_file(&stop_hold);
    // Sampled through the fault and after the heal: at least 10 s more, until the gate has been
    // open for 3 s in a row (a closure noticed late, after the heal, still counts).
    let (mut closed_after, mut why, mut max_lag) = (None, Vec::new(), 0);
    let (mut healed, mut last_closed): (Option<Instant>, Option<Instant>) = (None, None);
    loop {
        if let Some((open, failing, lag)) = gate_and_lag(engine) {
            max_lag = max_lag.max(lag);
            if !open {
                last_closed = Some(Instant::now());
                if closed_after.is_none() {
                    closed_after = Some(fault_started.elapsed());
                    why = failing;
                }
            }
        }
        if healed.is_none() && fault_started.elapsed() >= length {
            // The lag built: records on the source not yet copied to the target, at the heal.
            max_lag = max_lag.max(ends(world.source, &world.topic) - ends(world.target, &world.topic));
            links.heal();
            healed = Some(Instant::now());
        }
        if let Some(at) = healed {
            let quiet = last_closed.is_none_or(|closed| closed.elapsed() >= Duration::from_secs(3));
            if at.elapsed() >= Duration::from_secs(10) && quiet {
                break;
            }
            assert!(at.elapsed() < Duration::from_secs(300), "the gate stayed closed 5 minutes after the heal");
        }
        // A sampling loop over the fault and its aftermath, not a wait for one condition.
        std::thread::sleep(Duration::from_millis(200));
    }
    let healed = healed.expect("healed");
    // From the heal to the last moment the gate was seen closed: how long it took to open again.
    let recovery = last_closed.map_or(Duration::ZERO, |closed| closed.saturating_duration_since(healed));
    let move_exit = mover.take().map(|child| {
        let (exit, output) = finish(child);
        assert!(
            exit == 0 || exit == 5,
            "{command} with the link to the {name} cut in its {step:?}: exit {exit}\n{output}"
        );
        exit
    });
    if let Some(timeout) = case.drain_timeout {
        assert_eq!(
            move_exit,
            Some(5),
            "a cut of {} s against a drain timeout of {timeout}: the move reverts",
            case.seconds
        );
    }
    engine.wait_gate_open(Duration::from_secs(180));
    let side = match move_exit {
        Some(0) => to.to_string(),
        _ => on.clone(),
    };
    assert_eq!(control(world)["apps"]["reader"].as_str().unwrap_or("source"), side);
    reader.wait_side(Some(&side));
    poll_until("the reader to go on", Duration::from_secs(120), || reader.ledger().len() > before + 20);
    let row = CutRow {
        loss,
        length,
        fault: match loss {
            Some(percent) => {
                format!("{percent} % of the engine's packets to the {name} lost for {} s", length.as_secs())
            }
            None => format!("the engine's link to the {name} cut for {} s", length.as_secs()),
        },
        during: step.map_or("steady replication".into(), |step| match case.drain_timeout {
            Some(timeout) => format!("{command} with --drain-timeout {timeout}, from its {step}"),
            None => format!("{command}, from its {step}"),
        }),
        closed_after,
        why,
        max_lag,
        move_exit,
        side,
        anomalies: anomalies(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS, false),
        recovery,
    };
    eprintln!("{}", render_cut(&row));
    row
}

fn render_cut(row: &CutRow) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
        row.fault,
        row.during,
        row.closed_after.map_or("stayed open".into(), |after| format!(
            "closed after {:.1} s: {}",
            after.as_secs_f64(),
            row.why.join(", ")
        )),
        row.max_lag,
        row.move_exit.map_or("-".into(), |exit| exit.to_string()),
        row.side,
        row.anomalies.lost,
        row.anomalies.duplicated + row.anomalies.out_of_order,
        row.recovery.as_secs_f64()
    )
}

/// Network faults on one world whose engine runs in its own cgroup; prints the table and fails on
/// any lost, duplicated or reordered record.
fn network_matrix(name: &str, cases: &[Case]) {
    let world = World::new(name, held_reader, QUICK_GATE);
    let links = EngineLinks::new();
    let (writer, reader, engine) = running_with(&world, None, |plan| Engine::start_in_cgroup(plan, &links.procs()));
    let started = Instant::now();
    let rows: Vec<CutRow> = cases
        .iter()
        .map(|case| {
            let broker = if case.side == Side::Source { (world.source, "source") } else { (world.target, "target") };
            cut_link(&world, (&writer, &reader), &engine, &links, broker, case)
        })
        .collect();
    let rendered: Vec<String> = rows.iter().map(render_cut).collect();
    let read = everything_read(writer, &reader);
    reader.finish();
    engine.stop();
    print_table_read_once(
        "| fault | during | the gate | lag built (records) | move's exit | app on | lost | duplicated or reordered | gate open again after the heal |",
        &rendered,
        &format!("{name}: {} faults in {:.0} s", rows.len(), started.elapsed().as_secs_f64()),
        read,
    );
    // A cut link closes the gate within 10 s (a ping every 5 s, 2 s to answer, the status
    // published every second), however long the cut: it took 21 to 25 s in a 60 s cut while the
    // engine's topic sync waited out its timeouts and the status went unpublished.
    for row in rows.iter().filter(|row| row.loss.is_none() && row.length >= Duration::from_secs(10)) {
        assert!(
            row.closed_after.is_some_and(|after| after <= Duration::from_secs(10)),
            "the gate did not close within 10 s: {}",
            render_cut(row)
        );
    }
}

/// CI's smoke of the network faults: the engine's link to the source cut for 30 s, long enough for
/// a topic sync to meet the cut (the regression test of a status left unpublished meanwhile).
#[test]
fn smoke_one_cut_of_the_engines_link() {
    network_matrix("faults-cut-smoke", &[Case::steady(Side::Source, Fault::Cut, 30)]);
}

#[test]
#[ignore = "the network matrix, about 6 minutes: scripts/faults.sh"]
fn cuts_and_loss_on_the_engines_links_in_steady_replication_and_in_moves() {
    network_matrix(
        "faults-network",
        &[
            Case::steady(Side::Source, Fault::Cut, 5),
            Case::steady(Side::Target, Fault::Cut, 5),
            Case::steady(Side::Source, Fault::Cut, 60),
            Case::steady(Side::Target, Fault::Cut, 60),
            Case::in_move(Side::Target, 5, "drain"),
            Case::in_move(Side::Source, 5, "drain"),
            Case::in_move(Side::Target, 5, "switch"),
            // Longer than the drain may wait: the app's last commits on the target cannot reach
            // the source, the move reverts, the app back where it was.
            Case { drain_timeout: Some("10s"), ..Case::in_move(Side::Target, 30, "stop") },
            Case::steady(Side::Source, Fault::Loss(10), 30),
            Case::steady(Side::Target, Fault::Loss(10), 30),
        ],
    );
}

/// A tmpfs of `size` mounted on `path` (the state directory), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(path).status();
        assert!(status.is_ok_and(|s| s.success()), "mount a tmpfs on {} (root needed)", path.display());
        SmallDisk(path.to_path_buf())
    }

    /// Fills the disk with `filler` until it has no byte left.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The state directory's disk full while the engine runs and a move starts: the move is refused
/// with the file and the cause named, no state file is changed or left half-written, the engine
/// goes on copying; once there is room the same command moves the app, every record once.
#[test]
fn a_full_disk_under_the_state_directory_refuses_the_move_and_loses_nothing() {
    let world = World::new("faults-disk", held_reader, QUICK_GATE);
    let disk = SmallDisk::mount(&world.plan.state, "2m");
    let (writer, reader, engine) = running(&world);
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut found: Vec<(String, Vec<u8>)> = walk(dir)
            .into_iter()
            .filter(|path| !path.ends_with("filler"))
            .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap_or_default()))
            .collect();
        found.sort();
        found
    };
    let filler = disk.fill();
    // What a move could touch: everything but the engine's own files, which it rewrites each second.
    let moves_files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        // And the lock, an empty file any move command creates (no data: it fits a full disk).
        files(dir).into_iter().filter(|(path, _)| !path.contains("/engine/") && !path.ends_with("moves.lock")).collect()
    };
    let before = moves_files(&world.plan.state);
    let refused = world.migrate(&["cutover", "reader", "-o", "json", "--fence-window", "1s", "--wait", "60s"]);
    assert_eq!(refused.code, 1, "a move on a full disk:\n{}\n{}", refused.stdout, refused.stderr);
    println!("the refusal:\n{}", refused.stderr.trim());
    assert!(
        refused.stderr.contains("No space left on device") && refused.stderr.contains("move.json"),
        "the file and the cause named:\n{}",
        refused.stderr
    );
    assert_eq!(moves_files(&world.plan.state), before, "no state file changed");
    let temporaries: Vec<_> = walk(&world.plan.state)
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".tmp")))
        .collect();
    assert!(temporaries.is_empty(), "half-written temporaries left: {temporaries:?}");
    assert_eq!(*reader.side.lock().unwrap(), Some("source".to_string()), "the app was not touched");
    assert!(!engine.exited(), "the engine goes on:\n{}", engine.log_text());

    std::fs::remove_file(&filler).unwrap();
    engine.wait_gate_open(Duration::from_secs(60));
    let moved = world.migrate(&["cutover", "reader", "-o", "json", "--fence-window", "1s", "--wait", "60s"]);
    assert_eq!(moved.code, 0, "once there is room:\n{}\n{}", moved.stdout, moved.stderr);
    reader.wait_side(Some("target"));
    let read_before = reader.ledger().len();
    poll_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > read_before + 20);
    let (written, total) = everything_read(writer, &reader);
    reader.finish();
    engine.stop();
    println!(
        "disk full under the state directory: the move refused (exit {}), nothing changed; then moved; {written} records written, {} read: {} lost, {} duplicated, {} out of order",
        refused.code, total.read, total.lost, total.duplicated, total.out_of_order
    );
    assert_eq!((total.lost, total.duplicated, total.out_of_order), (0, 0, 0));
    drop(disk);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Writes `password` where the plan reads it, as an operator rotating it would (a whole new file).
fn write_password(file: &Path, password: &str) {
    migrate::state::write_atomically_with_mode(file, password.as_bytes(), 0o600).unwrap();
}

/// When the engine's current run started (ms since the epoch), from its status.
fn run_started_at(engine: &Engine) -> u64 {
    engine.status().and_then(|s| s["started_at_ms"].as_u64()).unwrap_or(0)
}

/// Waits for a run of the engine started after `before` (a run's start, [`run_started_at`]) to
/// report its gate open: the status the run before left says nothing about the new one.
fn wait_new_run_open(engine: &Engine, before: u64, timeout: Duration) {
    poll_until(
        Later(|| format!("a new run of the engine with its gate open:\n{}", engine.log_text())),
        timeout,
        || engine.status().is_some_and(|s| s["started_at_ms"].as_u64() > Some(before) && s["gate"]["open"] == true),
    );
}

/// The engine process's open files and threads.
fn engine_resources(engine: &Engine) -> (usize, usize) {
    let pid = engine.child.id();
    let files = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let threads =
        status.lines().find_map(|line| line.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    (files, threads)
}

/// Counts `needle` in the engine's log.
fn log_count(engine: &Engine, needle: &str) -> usize {
    engine.log_text().matches(needle).count()
}

/// Credential rotation, each as an operator would do it while everything runs:
/// - the source replicator's password changed on the cluster, then in the file the plan reads it
///   from: the engine restarts itself with it within seconds, and replicates on;
/// - the target app's password changed (cluster and file) between moves: the next move's client
///   file carries the new one, and the app reads on with it;
/// - the replicator's password changed in the file first, then on the cluster: the cluster
///   refuses it, so the engine goes on copying with the old one, and restarts with the new one
///   once the cluster has it; its open files and threads are what they were before the restarts.
///
/// Every record read once and in order throughout; the replicator and the app are users of this
/// test's own, so no other test's logins are touched.
#[test]
fn rotated_passwords_reach_the_running_engine_and_the_next_move() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let listen = format!("127.0.0.1:{}", free_port());
    let replicator = unique("rotating-replicator");
    let replicator_file = source.create_user(&replicator);
    let app = unique("rotating-app");
    let app_file = target.create_user(&app);
    // The same ACLs on both clusters, the target's first: the other tests' preflight compares
    // the source's ACLs on their (prefixed) topics with the target's, and failed while the
    // source alone had these.
    grant_least_privilege_to(target, &replicator, &app);
    grant_least_privilege_to(source, &replicator, &app);
    let app_auth = format!(
        "    auth:\n      target: {{ mechanism: SCRAM-SHA-512, username: {app}, password: {{ file: {} }} }}\n",
        app_file.display()
    );
    let world = World::on_with(
        "faults-rotation",
        |dir, topic, group| format!("{}{app_auth}", reader_only("", "")(dir, topic, group)),
        QUICK_GATE,
        source,
        target,
        |plan| {
            plan.replicator_user = replicator.clone();
            plan.replicator_password = replicator_file.clone();
            // A fixed address: the restarted engine must bind it again, so the first run's
            // server must be gone (it once lived on, serving that run's last status).
            plan.body = plan.body.replace("listen: 127.0.0.1:0", &format!("listen: {listen}"));
        },
    );
    let (writer, reader, engine) = running(&world);
    let restarted = "restarting the engine with them";
    let (files_before, threads_before) = engine_resources(&engine);
    let reads_on = |what: &str| {
        let before = reader.ledger().len();
        poll_until(format!("the reader to go on {what}"), Duration::from_secs(90), || {
            reader.ledger().len() > before + 20
        });
    };

    // 1. On the cluster first, then in the file.
    let password = source.set_new_password(&replicator);
    std::thread::sleep(Duration::from_secs(2));
    let first_run = run_started_at(&engine);
    let written = Instant::now();
    write_password(&replicator_file, &password);
    poll_until("the engine to restart with the new password", Duration::from_secs(60), || {
        log_count(&engine, restarted) == 1
    });
    wait_new_run_open(&engine, first_run, Duration::from_secs(90));
    let first = written.elapsed();
    // What the engine serves is the restarted run's.
    let served: serde_json::Value = serde_json::from_str(&engine.get("/status")).unwrap();
    let restarted_at = engine.status().unwrap()["started_at_ms"].clone();
    assert_eq!(engine.status().unwrap()["listen"], listen.as_str(), "{}", engine.log_text());
    assert_eq!(served["started_at_ms"], restarted_at, "the server of the run before the restart answered");
    // The copy on the target keeps up: every record written so far is there.
    let written_so_far = writer.produced.load(Ordering::SeqCst) as i64;
    poll_until("the target to hold what the writer wrote", Duration::from_secs(60), || {
        ends(target, &world.topic) >= written_so_far
    });

    // 2. The app's password on the target rotated between moves: the cutover hands it the new one.
    let app_password = target.set_new_password(&app);
    write_password(&app_file, &app_password);
    moved(&world.migrate(&["cutover", "reader", "-o", "json", "--wait", "2m"]));
    reader.wait_side(Some("target"));
    let handed = reader.configs.lock().unwrap().last().cloned().unwrap();
    assert!(handed.contains(&format!("sasl.password={app_password}")), "the move's client file:\n{handed}");
    reads_on("on the target with its new password (and the records the engine copies)");

    // 3. In the file first: the cluster refuses the new password, so the engine goes on with the
    // one it has (its connections, and the cluster, still take it), replicating; it restarts once
    // the cluster has the new one.
    let next = format!("pw-next-{}", unique("r"));
    let second_run = run_started_at(&engine);
    let written = Instant::now();
    write_password(&replicator_file, &next);
    poll_until("the engine to find the new password refused", Duration::from_secs(60), || {
        engine.log_text().contains("new credentials in the plan are refused")
    });
    reads_on("on the target while the new password is refused: the engine still copies");
    assert_eq!(log_count(&engine, restarted), 1, "the engine restarted with a password the cluster refused");
    assert_eq!(run_started_at(&engine), second_run, "a new run with a password the cluster refused");
    let output = source.kafka_tool(&format!(
        "kafka-configs --bootstrap-server {} --command-config admin.properties --alter --entity-type users --entity-name {replicator} --add-config 'SCRAM-SHA-512=[password={next}]'",
        source.bootstrap()
    ));
    assert!(output.status.success(), "kafka-configs: {}", String::from_utf8_lossy(&output.stderr));
    let on_cluster = Instant::now();
    wait_new_run_open(&engine, second_run, Duration::from_secs(90));
    let (second, second_after_cluster) = (written.elapsed(), on_cluster.elapsed());
    assert_eq!(log_count(&engine, restarted), 2);
    reads_on("once the engine runs with the password the cluster has");
    // Two runs ended in this process: what they held went with them.
    let (files, threads) = engine_resources(&engine);
    assert!(
        files <= files_before + 10 && threads <= threads_before + 10,
        "open files {files_before} → {files}, threads {threads_before} → {threads} across two restarts in place"
    );

    moved(&world.migrate(&["rollback", "reader", "-o", "json", "--wait", "2m"]));
    let log = engine.log_text();
    for secret in [password.as_str(), next.as_str(), app_password.as_str()] {
        assert!(!log.contains(secret), "a password in the engine's log");
    }
    let read = read_everything_exactly_once(writer, reader, Duration::from_secs(120));
    engine.stop();
    eprintln!(
        "| the source replicator's password changed on the cluster, then in its file | steady replication | 0 | 0 | the gate open again {:.1} s after the file changed | the engine restarted itself with it |",
        first.as_secs_f64()
    );
    eprintln!(
        "| the target app's password changed between moves | the next cutover | 0 | 0 | - | the move's client file carried the new password; the app read on with it |"
    );
    eprintln!(
        "| the source replicator's password changed in its file, then on the cluster ({:.1} s later) | the app on the target | 0 | 0 | the gate open again {:.1} s after the cluster had it | the new password refused meanwhile: the engine went on copying with the old one; then restarted with the new |",
        second.as_secs_f64() - second_after_cluster.as_secs_f64(),
        second_after_cluster.as_secs_f64(),
    );
    eprintln!("rotation: the engine's open files {files_before} → {files}, threads {threads_before} → {threads}");
    eprintln!("rotation: {read} records read once, in order");
}

/// The gate's `ReplicationLatency` (ms) now, if the engine reports it.
fn replication_latency(engine: &Engine) -> Option<f64> {
    let status = engine.status()?;
    status["gate"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "ReplicationLatency")
        .and_then(|c| c["value"].as_f64())
}

/// A cutover and a rollback of the reader: each one's downtime (ms).
fn there_and_back(world: &World) -> (u64, u64) {
    let downtime = |command: &str| {
        moved(&world.migrate(&[command, "reader", "-o", "json", "--wait", "3m"]))["downtime_ms"].as_u64().unwrap()
    };
    (downtime("cutover"), downtime("rollback"))
}

/// Added latency on the engine's links to the target (a proxy holding each byte 0, 50 and 200
/// ms each way; the engine restarted for each, so that all its connections take it): the gate
/// opens, the replication latency it reports (sampled for 15 s from 10 s after the gate opened),
/// and a cutover and a rollback each, with the records checked once and in order at the end.
#[test]
#[ignore = "added latency, about 3 minutes: scripts/faults.sh"]
fn added_latency_on_the_engines_links_to_the_target() {
    let world = World::new("faults-latency", held_reader, QUICK_GATE);
    let links = EngineLinks::new();
    let started = Instant::now();
    let (writer, reader, first) = running_with(&world, None, |plan| Engine::start_in_cgroup(plan, &links.procs()));
    // Each delay's figures from a start of the engine, the first's (none added) included.
    first.stop();
    let (mut rows, mut medians) = (Vec::new(), Vec::new());
    for delay in [0, 50, 200].map(Duration::from_millis) {
        let proxies = if delay.is_zero() { Vec::new() } else { links.delay(world.target, delay) };
        let restarted = Instant::now();
        let running = Engine::start_in_cgroup(&world.plan, &links.procs());
        running.wait_gate_open(Duration::from_secs(180));
        let gate_open = restarted.elapsed();
        // Past the engine's first 10 s window of acknowledgements, which holds the copies of what
        // was written while it was down (about 2.5 s late each): the latency the delay adds.
        std::thread::sleep(Duration::from_secs(10));
        let mut latencies: Vec<f64> = Vec::new();
        let sampling = Instant::now();
        while sampling.elapsed() < Duration::from_secs(15) {
            latencies.extend(replication_latency(&running));
            // Sampling the reported latency once a second for 15 s.
            std::thread::sleep(Duration::from_secs(1));
        }
        latencies.sort_by(f64::total_cmp);
        medians.push(latencies.get(latencies.len() / 2).copied().unwrap_or(f64::NAN));
        let (cutover, rollback) = there_and_back(&world);
        let carried: u64 = proxies.iter().map(|p| p.accepted.load(Ordering::SeqCst)).sum();
        assert!(delay.is_zero() || carried > 0, "no connection of the engine's went through the delaying proxies");
        let row = format!(
            "| {} ms each way on the engine's links to the target | {:.1} s | {:.0} / {:.0} ms | {:.1} s | {:.1} s | {carried} |",
            delay.as_millis(),
            gate_open.as_secs_f64(),
            latencies.get(latencies.len() / 2).copied().unwrap_or(f64::NAN),
            latencies.last().copied().unwrap_or(f64::NAN),
            cutover as f64 / 1000.0,
            rollback as f64 / 1000.0,
        );
        eprintln!("{row}");
        rows.push(row);
        running.stop();
        drop(proxies);
    }
    // The latency the engine reports grows with the delay: by most of the 400 ms round trip
    // added at 200 ms each way.
    let median = |row: usize| medians[row];
    assert!(median(2) - median(0) >= 250.0, "replication latency medians {medians:?} (ms) for 0, 50, 200 ms each way");
    let read = everything_read(writer, &reader);
    reader.finish();
    print_table_read_once(
        "| added latency | the gate open after the engine's start | replication latency median / max | cutover downtime | rollback downtime | connections through the proxies |",
        &rows,
        &format!("faults-latency: {} delays in {:.0} s", rows.len(), started.elapsed().as_secs_f64()),
        read,
    );
}
