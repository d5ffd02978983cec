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
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::apps::*;
use common::ledger::assert_exactly_once_in_order;
use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[test]
fn offsets_translate_exactly_in_both_directions_across_moves() {
    let world = World::new("cutover-translate", two_apps, QUICK_GATE);
    let (writer, reader, engine) = running(&world);
    let mut downtimes = Vec::new();
    let mut check_move = |args: &[&str], app: &TestApp, side: &str| {
        let before = reader.ledger().len();
        let outcome = moved(&world.migrate(&[args, &["-o", "json", "--fence-window", "1s", "--wait", "60s"]].concat()));
        downtimes.push(outcome["downtime_ms"].as_u64().unwrap());
        app.wait_side(Some(side));
        // The reader goes on from where it stopped: more records, and still no gap or duplicate.
        poll_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > before + 20);
        assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS);
        engine.wait_gate_open(Duration::from_secs(60));
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
    read_everything_exactly_once(writer, reader, Duration::from_secs(60));
    let audit = std::fs::read_to_string(world.plan.state.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().filter(|l| l.contains("\"step\":\"move\"") && l.contains("\"moved\"")).count(), 6);
    eprintln!("downtime per move (ms): {downtimes:?}");
    engine.stop();
}

/// `kill -9` of a broker in the middle of a move: three moves with the target killed (in the
/// fence, the drain, the verify), then three with the source. Each move either completes once the
/// broker is back, within its step timeouts, or reverts with exit 5; the reader then runs on
/// exactly the side `control.json` names and goes on with every record once, in order.
#[test]
fn kill_9_of_a_broker_in_the_middle_of_a_move_completes_or_reverts_it_exactly_once() {
    static PAIR: std::sync::OnceLock<(Broker, Broker)> = std::sync::OnceLock::new();
    let (source, target) = PAIR.get_or_init(|| {
        (
            start_broker(BrokerOptions { version: Some(kafka_versions().source.clone()), ..Default::default() }),
            start_broker(BrokerOptions::default()),
        )
    });
    let world = World::on("cutover-kill9", two_apps, QUICK_GATE, source, target);
    let (writer, reader, engine) = running(&world);
    let mut outcomes = Vec::new();
    for (broker, name, step) in [
        (target, "target", "fence"),
        (target, "target", "drain"),
        (target, "target", "verify"),
        (source, "source", "fence"),
        (source, "source", "drain"),
        (source, "source", "verify"),
    ] {
        let on = reader.side.lock().unwrap().clone().expect("the reader runs");
        let (command, other) = if on == "source" { ("cutover", "target") } else { ("rollback", "source") };
        let before = reader.ledger().len();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(world.plan_args())
            .args([command, "reader", "-o", "json", "--fence-window", "1s", "--wait", "120s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Kill once the move has reached `step` (the step it is in, or a later one).
        let move_json = world.plan.state.join("move.json");
        poll_until(format!("{command} to reach its {step}"), Duration::from_secs(120), || {
            assert!(child.try_wait().unwrap().is_none(), "{command} ended before the kill in its {step}");
            let record: Option<serde_json::Value> =
                std::fs::read_to_string(&move_json).ok().and_then(|text| serde_json::from_str(&text).ok());
            record.is_some_and(|record| {
                let next = record["next"].as_u64().unwrap_or(0) as usize;
                let steps = record["steps"].as_array().cloned().unwrap_or_default();
                let at = steps.iter().position(|s| s["kind"] == step);
                record["reverting"] == false && at.is_some_and(|at| next >= at && next < steps.len())
            })
        });
        broker.kill9();
        let killed = Instant::now();
        // Deliberately down for 3 s: the move meets a broker that is gone, not one restarting.
        std::thread::sleep(Duration::from_secs(3));
        broker.restart();
        let output = child.wait_with_output().unwrap();
        let took = killed.elapsed();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        let expected_side = match output.status.code() {
            Some(0) => other,
            Some(5) => on.as_str(),
            code => panic!("{command} with the {name} killed in its {step}: exit {code:?}\n{stdout}\n{stderr}"),
        };
        assert!(!move_json.exists(), "{command} left a move behind:\n{stderr}");
        assert_eq!(control(&world)["apps"]["reader"], expected_side, "{stderr}");
        reader.wait_side(Some(expected_side));
        outcomes.push(format!(
            "{command} with the {name} killed in the {step}: exit {}, ended {:.1} s after the kill",
            output.status.code().unwrap_or(-1),
            took.as_secs_f64()
        ));
        engine.wait_gate_open(Duration::from_secs(120));
        poll_until("the reader to go on", Duration::from_secs(120), || reader.ledger().len() > before + 20);
        assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS);
    }
    let produced = read_everything_exactly_once(writer, reader, Duration::from_secs(120));
    engine.stop();
    eprintln!("kill -9 in the middle of moves: {produced} records read once each, 0 lost, 0 duplicated; {outcomes:#?}");
}

#[test]
fn a_closed_gate_refuses_with_exit_4_naming_the_condition_and_touches_nothing() {
    let readiness = format!("{QUICK_GATE}  expected_consumer_group_count: 5\n");
    let world = World::new("cutover-gate", reader_only("", ""), &readiness);
    let no_engine = world.migrate(&["cutover", "reader"]);
    assert_eq!(no_engine.code, 4, "{}", no_engine.stderr);
    assert!(no_engine.stderr.contains("the engine does not answer"), "{}", no_engine.stderr);

    let clusters = clusters();
    let reader = TestApp::new(
        world.apps_dir.path(),
        "reader",
        Role::Reader { group: world.group.clone(), topic: world.topic.clone(), instance: None },
    );
    reader.start_on("source", &world.app_config(&clusters.source, "source"));
    let engine = Engine::start(&world.plan);
    poll_until("a gate evaluation with the group counted", Duration::from_secs(30), || {
        engine.status().is_some_and(|s| s["groups"]["passes"].as_u64() > Some(1))
    });
    let refused = world.migrate(&["cutover", "reader", "--wait", "2s"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    // One short line naming only what does not hold, not a sentence per condition.
    let line = refused.stderr.lines().find(|l| l.contains("the readiness gate is closed: ")).unwrap_or_default();
    assert!(line.contains("the readiness gate is closed: ConsumerGroupCount (target) 0 ≠ 5; "), "{}", refused.stderr);
    assert!(line.contains(" of ") && line.contains(" hold"), "{line}");
    assert!(line.chars().count() <= 160, "{} chars: {line}", line.chars().count());
    assert!(refused.stderr.contains("hint: `migrate status` shows every condition"), "{}", refused.stderr);
    // Nothing was touched: the app still runs where it ran, nothing is recorded as moving.
    assert_eq!(reader.side.lock().unwrap().as_deref(), Some("source"));
    assert!(!world.plan.state.join("move.json").exists());
    assert_eq!(control(&world)["apps"]["reader"], serde_json::Value::Null);
    let audit = std::fs::read_to_string(world.plan.state.join("audit.jsonl")).unwrap();
    assert!(audit.lines().last().unwrap().contains("\"result\":\"gate-closed\""), "{audit}");
    reader.finish();
    engine.stop();
}

#[test]
fn the_fence_catches_an_app_that_keeps_producing_after_its_stop_hook() {
    // The writer's stop hook "succeeds" without stopping anything.
    let apps = |dir: &Path, topic: &str, _: &str| {
        let hooks = hooks_for(dir, "writer");
        let start = hooks.lines().next().unwrap();
        format!("  - name: writer\n    produces: [{topic}]\n{start}\n    stop: 'true'\n")
    };
    let world = World::new("cutover-fence", apps, QUICK_GATE);
    let clusters = clusters();
    let writer = TestApp::new(world.apps_dir.path(), "writer", Role::Writer { topic: world.topic.clone() });
    writer.start_on("source", &world.app_config(&clusters.source, "source"));
    let engine = Engine::start(&world.plan);
    engine.wait_gate_open(Duration::from_secs(60));

    let run = world.migrate(&["cutover", "writer", "--fence-window", "1s", "-o", "json"]);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let outcome = run.json();
    assert_eq!(outcome["result"], "reverted");
    assert!(outcome["failure"].as_str().unwrap().contains("writer kept producing on the source after its stop hook"));
    let steps: Vec<String> = outcome["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}:{}",
                s["step"]["kind"].as_str().unwrap(),
                s["step"]["side"].as_str().unwrap(),
                &s["result"].as_str().unwrap()[..4]
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "gate:source:done",
            "stop:source:done",
            "fence:source:fail",
            "switch:source:done",
            "configure:source:done",
            "start:source:done",
            "verify:source:done"
        ]
    );
    // Left where it was: still producing on the source, which is still its side.
    assert_eq!(writer.side.lock().unwrap().as_deref(), Some("source"));
    assert_eq!(control(&world)["apps"]["writer"], "source");
    assert!(!world.plan.state.join("move.json").exists());
    assert!(engine.status().unwrap()["alarms"].as_array().unwrap().is_empty());
    writer.finish();
    engine.stop();
}

#[test]
fn the_fence_names_the_member_a_stop_hook_left_in_its_group() {
    // The reader's stop hook "succeeds" without stopping it: its consumer stays in the group as a
    // member DescribeGroups lists by client and host (Nisshi listed none, so only the state spoke).
    let world = World::new("cutover-member", reader_only("exit 0; ", ""), QUICK_GATE);
    let (writer, reader, engine) = running(&world);
    let run = world.migrate(&["cutover", "reader", "--fence-window", "1s", "--fence-timeout", "5s", "-o", "json"]);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let outcome = run.json();
    assert_eq!(outcome["result"], "reverted");
    let failure = outcome["failure"].as_str().unwrap();
    assert!(
        failure.contains("reader did not leave its groups")
            && failure.contains(&format!(
                "group `{}` is still Stable on the source, members: rdkafka@127.0.0.1 (",
                world.group
            )),
        "{failure}"
    );
    // Left where it was: still reading on the source, exactly once, in order.
    assert_eq!(control(&world)["apps"]["reader"], "source");
    assert!(!world.plan.state.join("move.json").exists());
    goes_on_exactly_once_then_stop(reader, writer, engine, "source");
}

#[test]
fn a_static_member_moves_and_comes_back_once_its_session_runs_out() {
    // A static member (`group.instance.id`) does not leave its group when it closes: the group
    // stays Stable with it until `session.timeout.ms` (6 s here) runs out. The fence waits that
    // out rather than removing the member (librdkafka has no RemoveMembersFromConsumerGroup), so a
    // static app's move takes about its session timeout longer.
    let world = World::new("cutover-static", reader_only("", ""), QUICK_GATE);
    let (writer, reader, engine) = running_reader(&world, Some(unique("static-reader")));
    let mut downtimes = Vec::new();
    for (command, side) in [("cutover", "target"), ("rollback", "source")] {
        let before = reader.ledger().len();
        let outcome =
            moved(&world.migrate(&[command, "reader", "-o", "json", "--fence-window", "1s", "--wait", "60s"]));
        downtimes.push(outcome["downtime_ms"].as_u64().unwrap());
        reader.wait_side(Some(side));
        poll_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > before + 20);
        assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS);
        engine.wait_gate_open(Duration::from_secs(60));
    }
    // Each move waited out the static member's 6 s session on the side it left.
    assert!(downtimes.iter().all(|d| *d >= 6_000), "{downtimes:?}");
    eprintln!("static member: downtime per move (ms): {downtimes:?}");
    goes_on_exactly_once_then_stop(reader, writer, engine, "source");
}

#[test]
fn a_failing_start_hook_puts_the_app_back_exactly_where_it_was_with_exit_5() {
    let refuse_target = "if [ \"$MIGRATE_SIDE\" = target ]; then echo refusing >&2; exit 3; fi; ";
    let world = World::new("cutover-start-fails", reader_only("", refuse_target), QUICK_GATE);
    let (writer, reader, engine) = running(&world);

    let run = world.migrate(&["cutover", "reader", "--fence-window", "1s", "-o", "json"]);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("it was put back on the source"), "{}", run.stderr);
    let outcome = run.json();
    assert_eq!(outcome["result"], "reverted");
    assert!(outcome["failure"].as_str().unwrap().contains("start hook"), "{outcome:#}");
    // After the switch, the way back is a whole move: stop, fence, drain and switch on the target.
    let kinds: Vec<String> = outcome["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}:{}", s["step"]["kind"].as_str().unwrap(), s["step"]["side"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds[4..],
        [
            "switch:target",
            "configure:target",
            "start:target",
            "stop:target",
            "fence:target",
            "drain:target",
            "switch:source",
            "configure:source",
            "start:source",
            "verify:source"
        ]
    );
    assert_eq!(control(&world)["apps"]["reader"], "source");
    goes_on_exactly_once_then_stop(reader, writer, engine, "source");
}

#[test]
fn ctrl_c_between_stop_and_start_then_the_same_command_completes_the_move() {
    let world = World::new("cutover-interrupted", reader_only("", ""), QUICK_GATE);
    let (writer, reader, engine) = running(&world);
    let log = world.apps_dir.path().join("first-cutover.log");
    let mut first =
        world.spawn_with_stderr(&["cutover", "reader", "--fence-window", "5s"], std::fs::File::create(&log).unwrap());
    // Interrupt during the fence: the app is stopped, the move half done.
    poll_until("the stop step to be done", Duration::from_secs(60), || {
        std::fs::read_to_string(world.plan.state.join("move.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|record| record["next"] == 2)
    });
    std::process::Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap();
    // Exit 130, not killed by a signal on the way out, not still running.
    let status = wait_status(&mut first, Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "{} after SIGINT; its stderr:\n{}",
        status.map_or("still running 10 s".to_string(), |s| format!("{s}")),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(*reader.side.lock().unwrap(), None, "the app stays stopped");

    // Another app's move is refused while this one is unfinished… (here: the same app, opposite
    // direction, would undo it; the same command finishes it).
    let resumed = world.migrate(&["cutover", "reader", "--fence-window", "1s", "-o", "json"]);
    let outcome = moved(&resumed);
    assert!(resumed.stderr.contains("resuming the unfinished cutover"), "{}", resumed.stderr);
    // The log spans both runs: the stop ran once, the move went on from the interrupted fence.
    let kinds: Vec<&str> =
        outcome["steps"].as_array().unwrap().iter().map(|s| s["step"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["gate", "stop", "fence", "drain", "switch", "configure", "start", "verify"]);
    goes_on_exactly_once_then_stop(reader, writer, engine, "target");
}

#[test]
fn a_second_move_is_refused_by_the_lock_while_the_engine_runs_and_hooks_get_the_apps_identity() {
    let world = World::new(
        "cutover-lock",
        reader_only(
            "env | grep ^MIGRATE_ > \"$MIGRATE_APP.env\"; cp \"$MIGRATE_CLIENT_CONFIG\" \"$MIGRATE_APP.stop-config\"; sleep 4; ",
            "",
        ),
        QUICK_GATE,
    );
    let (writer, reader, engine) = running(&world);
    let dry = world.migrate(&["cutover", "reader", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains(" 1. gate") && dry.stdout.contains(" 8. verify"), "{}", dry.stdout);
    assert!(!world.plan.state.join("move.json").exists(), "a dry run changes nothing");
    assert_eq!(world.migrate(&["cutover", "nobody"]).code, 2);

    let mut first = world.spawn(&["cutover", "reader", "--fence-window", "1s"]);
    poll_until("the stop hook to run", Duration::from_secs(60), || world.plan._dir.path().join("reader.env").exists());
    let updated = engine.status().unwrap()["updated_at_ms"].as_u64().unwrap();
    let second = world.migrate(&["rollback", "reader"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(second.stderr.contains("another cutover, rollback or teardown is running"), "{}", second.stderr);
    // The engine is neither blocked by the move's lock nor blocks it.
    poll_until("the engine to go on", Duration::from_secs(10), || {
        engine.status().unwrap()["updated_at_ms"].as_u64().unwrap() > updated
    });
    assert_eq!(wait_exit(&mut first, Duration::from_secs(120)), Some(0));
    reader.wait_side(Some("target"));

    // The stop hook got the app's identity on the source, never the replicator's.
    let clusters = clusters();
    let env = std::fs::read_to_string(world.plan._dir.path().join("reader.env")).unwrap();
    assert!(env.contains("MIGRATE_APP=reader\n") && env.contains("MIGRATE_SIDE=source\n"), "{env}");
    assert!(env.contains(&format!("MIGRATE_BOOTSTRAP={}\n", clusters.source.bootstrap())), "{env}");
    let config = std::fs::read_to_string(world.plan._dir.path().join("reader.stop-config")).unwrap();
    assert!(config.contains(&format!("sasl.username={APP}\n")), "{config}");
    assert!(config.contains(&format!("sasl.password={}\n", clusters.source.password(APP))), "{config}");
    assert!(!config.contains(clusters.source.password(REPLICATOR)) && !config.contains(REPLICATOR), "{config}");
    // Only the side the app runs on keeps a client configuration, private to its owner.
    let clients = world.plan.state.join("clients");
    assert!(!clients.join("reader.source.properties").exists());
    let target = clients.join("reader.target.properties");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&target).unwrap().contains(clusters.target.password(APP)));
    writer.finish();
    reader.finish();
    engine.stop();
}

/// The committed offsets of `group` on `topic` (partitions 0..PARTITIONS); `None`: nothing.
fn committed(broker: &Broker, group: &str, topic: &str) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = broker.client_config(ADMIN).set("group.id", group).create().unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    (0..PARTITIONS)
        .map(|p| match committed.find_partition(topic, p).unwrap().offset() {
            rdkafka::Offset::Offset(offset) => Some(offset),
            _ => None,
        })
        .collect()
}

fn produce_values(broker: &Broker, topic: &str, per_partition: usize, prefix: &str) {
    let producer: BaseProducer = broker.client_config(ADMIN).create().unwrap();
    for partition in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = format!("{prefix}-{partition}-{i}");
            producer.send(BaseRecord::<(), str>::to(topic).partition(partition).payload(&value)).unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn translation_lands_on_the_copy_when_offsets_differ_between_clusters() {
    // The target's topic already holds 7 records per partition from before the migration (one
    // direction only, so they stay there): every copy lands 7 offsets later than its original.
    let clusters = clusters();
    let topic = unique("shifted");
    let (never, partly) = (unique("never-committed"), unique("partly"));
    for broker in [&clusters.source, &clusters.target] {
        broker.create_topics(&[(&topic, PARTITIONS, &[])]);
    }
    produce_values(&clusters.target, &topic, 7, "old");
    produce_values(&clusters.source, &topic, 10, "new");
    // Partition 0's first three records are deleted (log start 3) before anything is replicated.
    let mut before = rdkafka::TopicPartitionList::new();
    before.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(3)).unwrap();
    let admin = clusters.source.admin();
    let deleted = futures::executor::block_on(admin.delete_records(&before, &rdkafka::admin::AdminOptions::new()))
        .expect("DeleteRecords");
    let partition = deleted.find_partition(&topic, 0).expect("partition 0 answered");
    assert!(partition.error().is_ok(), "DeleteRecords on partition 0: {:?}", partition.error());
    // Partition 0: committed before the log start; 1: everything consumed; 2: half.
    let consumer: BaseConsumer = clusters.source.client_config(ADMIN).set("group.id", &partly).create().unwrap();
    let mut offsets = rdkafka::TopicPartitionList::new();
    for (partition, offset) in [(0, 2), (1, 10), (2, 5)] {
        offsets.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(offset)).unwrap();
    }
    consumer.commit(&offsets, CommitMode::Sync).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "replication:\n  topics: [{topic}]\n  groups: [{never}, {partly}]\n  bidirectional: false\nengine:\n  listen: 127.0.0.1:0\napps:\n  - name: a\n    consumes: [{{ group: {never}, topics: [{topic}] }}]\n  - name: b\n    consumes: [{{ group: {partly}, topics: [{topic}] }}]\n"
    );
    let path =
        PlanYaml::new("translate-shifted", &clusters.source, &clusters.target, body).write_to(dir.path(), "plan.yaml");
    let plan = TestPlan { path, state: dir.path().join("state"), _dir: dir };
    let engine = Engine::start(&plan);
    let translated = poll_for("the group's offsets on the target", Duration::from_secs(60), || {
        Some(committed(&clusters.target, &partly, &topic)).filter(|offsets| offsets.iter().all(Option::is_some))
    });
    // 2, before the log start → at the copy of the first record that exists (offset 3, copied to
    // 7: where `auto.offset.reset=earliest` would resume on the source); 10 (all) → after the copy
    // of offset 9; 5 → after the copy of offset 4.
    assert_eq!(translated, [Some(7), Some(17), Some(12)]);
    // A group that never committed gets nothing written, and is not counted.
    assert_eq!(committed(&clusters.target, &never, &topic), [None, None, None]);
    poll_until("a status with the synced group measured", Duration::from_secs(30), || {
        engine
            .status()
            .is_some_and(|s| s["groups"]["groups"][&partly]["sides"]["target"]["sum_offset_lag"][&topic].is_number())
    });
    let status = engine.status().unwrap();
    assert_eq!(status["groups"]["consumer_group_count"]["target"], 1, "{:#}", status["groups"]);
    assert_eq!(status["groups"]["groups"][&partly]["in_sync"], true);
    // SumOffsetLag from Kafka: (10 - 2) + 0 + 5 on the source; (14 - 7) + 0 + 5 on the target.
    assert_eq!(status["groups"]["groups"][&partly]["sides"]["source"]["sum_offset_lag"][&topic], 13);
    assert_eq!(status["groups"]["groups"][&partly]["sides"]["target"]["sum_offset_lag"][&topic], 12);
    let metrics = engine.get("/metrics");
    assert!(metrics.contains("ConsumerGroupCount{"), "{metrics}");
    engine.stop();
}

/// Regression: undoing a move interrupted before its `stop` (here, while waiting for the gate)
/// called the command again from inside itself, which then found its own lock taken.
#[test]
fn undoing_a_move_interrupted_before_stop_needs_nothing_put_back() {
    let world = World::new("cutover-undo-early", reader_only("", ""), QUICK_GATE);
    // No engine: the gate step waits.
    let mut waiting = world.spawn(&["cutover", "reader", "--wait", "60s"]);
    poll_until("the move to be recorded", Duration::from_secs(30), || world.plan.state.join("move.json").exists());
    std::process::Command::new("kill").args(["-INT", &waiting.id().to_string()]).status().unwrap();
    assert_eq!(wait_exit(&mut waiting, Duration::from_secs(10)), Some(130));
    // Interrupted before anything changed, the move is forgotten (issue 20: a record left here
    // blocked every other app) and the audit log says so.
    assert!(!world.plan.state.join("move.json").exists());
    let audit = std::fs::read_to_string(world.plan.state.join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"result\":\"interrupted\""), "{audit}");

    let undo = world.migrate(&["rollback", "reader", "-o", "json"]);
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(undo.json()["result"], "already-there");
    assert!(!world.plan.state.join("move.json").exists(), "the stale move is gone");
}

/// Collects what a move reports (for tests calling the library directly).
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl migrate::cutover::MoveReporter for Notes {
    fn event(&self, app: &str, event: migrate::cutover::MoveEvent) {
        if let migrate::cutover::MoveEvent::Note(note) = event {
            self.0.lock().unwrap().push(format!("{app}: {note}"));
        }
    }
}

/// GetMetricData answered from the request: every query gets a datapoint for every minute asked,
/// healthy, except ReplicatorFailure = 1 while `failing` is set.
fn cloudwatch_answers(failing: Arc<AtomicBool>) -> aws_smithy_mocks::Rule {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_compute_output(move |request| {
        let start = request.start_time().unwrap().secs();
        let end = request.end_time().unwrap().secs();
        let minutes: Vec<i64> = (start..end).step_by(60).collect();
        let results = request.metric_data_queries().iter().map(|query| {
            let metric = query.metric_stat().and_then(|s| s.metric()).and_then(|m| m.metric_name()).unwrap();
            let value = match metric {
                "KafkaClusterPingSuccessCount" | "ConsumerGroupCount" => 1.0,
                "ReplicatorFailure" if failing.load(Ordering::SeqCst) => 1.0,
                _ => 0.0,
            };
            MetricDataResult::builder()
                .id(query.id().unwrap())
                .set_timestamps(Some(minutes.iter().map(|m| aws_smithy_types::DateTime::from_secs(*m)).collect()))
                .set_values(Some(vec![value; minutes.len()]))
                .build()
        });
        GetMetricDataOutput::builder().set_metric_data_results(Some(results.collect())).build()
    })
}

/// Both replicators RUNNING, with their cluster aliases.
fn replicators_running() -> Vec<aws_smithy_mocks::Rule> {
    use aws_sdk_kafka::operation::describe_replicator::DescribeReplicatorOutput;
    use aws_sdk_kafka::operation::list_replicators::ListReplicatorsOutput;
    use aws_sdk_kafka::types::{
        AmazonMskCluster, ApacheKafkaCluster, KafkaClusterDescription, ReplicatorState, ReplicatorSummary,
    };
    let list = aws_smithy_mocks::mock!(aws_sdk_kafka::Client::list_replicators).then_compute_output(|request| {
        let name = request.replicator_name_filter().unwrap().to_string();
        ListReplicatorsOutput::builder()
            .replicators(
                ReplicatorSummary::builder()
                    .replicator_name(&name)
                    .replicator_arn(format!("arn:aws:kafka:eu-west-1:123456789012:replicator/{name}/r-1"))
                    .replicator_state(ReplicatorState::Running)
                    .build(),
            )
            .build()
    });
    let describe = aws_smithy_mocks::mock!(aws_sdk_kafka::Client::describe_replicator).then_compute_output(|_| {
        DescribeReplicatorOutput::builder()
            .kafka_clusters(
                KafkaClusterDescription::builder()
                    .kafka_cluster_alias("ext-1")
                    .apache_kafka_cluster(ApacheKafkaCluster::builder().apache_kafka_cluster_id("x").build())
                    .build(),
            )
            .kafka_clusters(
                KafkaClusterDescription::builder()
                    .kafka_cluster_alias("msk-1")
                    .amazon_msk_cluster(AmazonMskCluster::builder().msk_cluster_arn("arn").build())
                    .build(),
            )
            .build()
    });
    vec![list, describe]
}

/// The MSK backend's moves through the same `cutover`/`rollback` code: the gate from CloudWatch
/// (mocked) and the source cluster, the drain proven by content and MSK's translated offsets
/// compared with the exact positions. The local clusters stand in for the data plane, the
/// embedded engine for MSK Replicator (it copies the records and writes the groups' offsets on
/// the passive side, as MSK's enhanced offset sync does).
#[test]
fn moves_on_the_msk_backend_use_the_cloudwatch_gate_and_prove_the_drain_by_content() {
    use migrate::cutover::record::MoveCommand;
    use migrate::cutover::{MoveError, MoveOptions, execute};

    let world = World::new("cutover-msk", two_apps, QUICK_GATE);
    let (writer, reader, engine) = running(&world);
    let lookup = |_: &str| None;
    let local = migrate::plan::load(&world.plan.path, &lookup).unwrap();
    let mut plan = common::aws::example_msk_plan(|text| text);
    plan.file = local.file.clone();
    plan.source = local.source.clone();
    plan.target = local.target.clone();
    plan.apps = local.apps.clone();
    plan.replication.topics = local.replication.topics.clone();
    plan.replication.groups = local.replication.groups.clone();
    plan.readiness.expected_consumer_group_count = Some(1);
    assert!(plan.msk().is_some(), "backend msk");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let metrics = cloudwatch_answers(failing.clone());
    let replicators = replicators_running();
    let (kafka, cloudwatch) = runtime.block_on(async {
        let kafka = common::aws::mock_kafka(&replicators.iter().collect::<Vec<_>>()).await;
        let cloudwatch =
            aws_smithy_mocks::mock_client!(aws_sdk_cloudwatch, aws_smithy_mocks::RuleMode::MatchAny, &[&metrics]);
        (kafka, cloudwatch)
    });
    let mut readiness = migrate::msk::readiness::MskReadiness::new(
        plan.clone(),
        kafka,
        cloudwatch,
        runtime.handle().clone(),
        world.plan.state.clone(),
    );
    let options = MoveOptions { fence_window: Duration::from_secs(1), wait: Duration::ZERO, ..MoveOptions::default() };
    let notes = Notes::default();
    let state = world.plan.state.clone();
    let refused = |readiness: &migrate::msk::readiness::MskReadiness| match execute(
        &plan,
        &state,
        "reader",
        MoveCommand::Cutover,
        &options,
        readiness,
        &notes,
    ) {
        Err(MoveError::GateClosed(waiting_on)) => {
            assert!(waiting_on.starts_with("ReplicatorFailure 1 ≠ 0"), "{waiting_on}")
        }
        other => panic!("expected the gate to refuse: {other:?}"),
    };
    // A replicator failure in CloudWatch's latest minute closes the gate: nothing moves.
    refused(&readiness);
    assert_eq!(control(&world)["apps"], serde_json::json!({}));
    assert_eq!(metrics.num_calls(), 1);
    // CloudWatch changes once a minute: within `cloudwatch_every` (30 s) its answer is reused, even
    // though the failure is gone now.
    failing.store(false, Ordering::SeqCst);
    refused(&readiness);
    assert_eq!(metrics.num_calls(), 1);
    // From here CloudWatch is asked at each evaluation (the mock answers at once).
    readiness.cloudwatch_every = Duration::ZERO;
    let run = |app: &str, command: MoveCommand| execute(&plan, &state, app, command, &options, &readiness, &notes);

    let check_move = |app: &TestApp, name: &str, command: MoveCommand, side: &str| {
        let before = reader.ledger().len();
        let outcome = run(name, command).unwrap_or_else(|e| panic!("{name} {command:?}: {e:?}"));
        assert_eq!(outcome.result, "moved");
        app.wait_side(Some(side));
        poll_until("the reader to go on", Duration::from_secs(60), || reader.ledger().len() > before + 20);
        assert_exactly_once_in_order(&reader.ledger(), writer.produced.load(Ordering::SeqCst), PARTITIONS);
        outcome
    };
    let outcome = check_move(&reader, "reader", MoveCommand::Cutover, "target");
    // The stand-in writes exact translations: the estimate says nothing will be read again.
    assert_eq!(outcome.duplicates_estimate, BTreeMap::from([(world.group.clone(), 0)]));
    assert!(notes.0.lock().unwrap().iter().any(|n| n.contains("about 0 records before where it stopped")));
    let mut downtimes = vec![outcome.downtime_ms.unwrap()];
    for (app, name, command, side) in [
        (&writer, "writer", MoveCommand::Cutover, "target"),
        (&reader, "reader", MoveCommand::Rollback, "source"),
        (&writer, "writer", MoveCommand::Rollback, "source"),
    ] {
        downtimes.push(check_move(app, name, command, side).downtime_ms.unwrap());
    }
    eprintln!("msk backend: downtime per move (ms): {downtimes:?}");

    read_everything_exactly_once(writer, reader, Duration::from_secs(60));
    engine.stop();
}

/// MSK Replicator's copies carry no provenance and its offset sync is approximate: positions are
/// compared by content (key, value, timestamp). Here the "replicator" is this test, producing the
/// same records to both clusters, the target's shifted by 4 older records, and committing the
/// translated offsets MSK might: behind (re-reads), exact, and past (would skip).
#[test]
fn translated_offsets_are_compared_with_the_exact_position_by_content() {
    use migrate::offsets::{ClusterClients, Matching, Resumption, Translation, fully_replicated, resumption};

    let clusters = clusters();
    let topic = unique("by-content");
    for broker in [&clusters.source, &clusters.target] {
        broker.create_topics(&[(&topic, 1, &[])]);
    }
    let send = |broker: &Broker, values: &[String]| {
        let producer: BaseProducer = broker.client_config(ADMIN).create().unwrap();
        for (i, value) in values.iter().enumerate() {
            let key = format!("k{i}");
            let record =
                BaseRecord::to(&topic).partition(0).key(&key).payload(value).timestamp(1_700_000_000_000 + i as i64);
            producer.send(record).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    };
    let values: Vec<String> = (0..10).map(|i| format!("same-{i}")).collect();
    send(&clusters.target, &(0..4).map(|i| format!("older-{i}")).collect::<Vec<_>>());
    send(&clusters.source, &values);
    // The target has the first 8 copies so far (keys and timestamps as on the source).
    let producer: BaseProducer = clusters.target.client_config(ADMIN).create().unwrap();
    for (i, value) in values.iter().enumerate().take(8) {
        let key = format!("k{i}");
        producer
            .send(BaseRecord::to(&topic).partition(0).key(&key).payload(value).timestamp(1_700_000_000_000 + i as i64))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = PlanYaml::new(
        "by-content",
        &clusters.source,
        &clusters.target,
        format!("replication:\n  topics: [{topic}]\napps:\n  - name: a\n    produces: [{topic}]\n"),
    )
    .write_to(dir.path(), "plan.yaml");
    let plan = migrate::plan::load(&path, &|_| None).unwrap();
    let source = ClusterClients::new(&plan.source, "src").unwrap();
    let target = ClusterClients::new(&plan.target, "tgt").unwrap();

    // Committed 6 on the source (records 0..=5 processed): the exact position on the target is
    // after the copy of record 5, at 4 + 6 = 10.
    assert_eq!(resumption(&source, &target, &topic, 0, 6, 7).unwrap(), Ok(Resumption::Rereads { behind: 3 }));
    assert_eq!(resumption(&source, &target, &topic, 0, 6, 10).unwrap(), Ok(Resumption::Rereads { behind: 0 }));
    assert_eq!(resumption(&source, &target, &topic, 0, 6, 12).unwrap(), Ok(Resumption::Skips { ahead: 2 }));
    // Committed 10: record 9's copy is not on the target yet, so no position can be judged.
    let pending = resumption(&source, &target, &topic, 0, 10, 12).unwrap();
    assert!(pending.as_ref().is_err_and(|why| why.contains("not on the target yet")), "{pending:?}");
    // And the drain's proof by content says the same; by provenance nothing at all is found.
    assert!(matches!(
        fully_replicated(Matching::Content, &source, &target, &topic, 0).unwrap(),
        Translation::Pending(_)
    ));
    producer
        .send(BaseRecord::to(&topic).partition(0).key("k8").payload(&values[8]).timestamp(1_700_000_000_008))
        .unwrap();
    producer
        .send(BaseRecord::to(&topic).partition(0).key("k9").payload(&values[9]).timestamp(1_700_000_000_009))
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(fully_replicated(Matching::Content, &source, &target, &topic, 0).unwrap(), Translation::At(14));
    assert!(matches!(
        fully_replicated(Matching::Provenance, &source, &target, &topic, 0).unwrap(),
        Translation::Pending(_)
    ));
    assert_eq!(resumption(&source, &target, &topic, 0, 10, 14).unwrap(), Ok(Resumption::Rereads { behind: 0 }));
    // A record with the same key and value but another timestamp is not the same record.
    producer
        .send(BaseRecord::to(&topic).partition(0).key("k9").payload(&values[9]).timestamp(1_700_000_099_999))
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(fully_replicated(Matching::Content, &source, &target, &topic, 0).unwrap(), Translation::At(14));

    // What MSK teardown checks: the source's tail is on the target; the target's own last record
    // (native there) is not on the source.
    assert!(plan.replication.bidirectional);
    let pending = migrate::offsets::unreplicated_tails(&plan).unwrap();
    assert_eq!(pending, [format!("{topic}/0: the copy of target offset 14 is not on the source yet")]);
}
