//! Logs with holes, which only a real Kafka makes: a compacted topic (the log cleaner removed the
//! older values of each key) and a topic whose log start DeleteRecords moved. Both are copied,
//! `migrate verify` proves them equal by content, and a group committed inside a hole or before
//! the log start translates so a consumer resumes on the target with nothing skipped or repeated.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 2;

/// A source whose log cleaner runs every 200 ms (the default waits 15 s between passes), and a
/// target.
fn pair() -> &'static (Broker, Broker) {
    static PAIR: OnceLock<(Broker, Broker)> = OnceLock::new();
    PAIR.get_or_init(|| {
        std::thread::scope(|scope| {
            let source = scope.spawn(|| {
                start_broker(BrokerOptions {
                    version: Some(kafka_versions().source.clone()),
                    extra_config: "log.cleaner.backoff.ms=200".into(),
                    ..Default::default()
                })
            });
            let target = scope.spawn(|| start_broker(BrokerOptions::default()));
            (source.join().unwrap(), target.join().unwrap())
        })
    })
}

/// (offset, key, value) of every record, per partition, from `start` (default: the log start).
type Log = BTreeMap<i32, Vec<(i64, String, String)>>;

fn read(broker: &Broker, topic: &str, start: &BTreeMap<i32, i64>) -> Log {
    let consumer: BaseConsumer = broker.client_config(ADMIN).set("group.id", unique("log-reader")).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).unwrap();
        let from = start.get(&partition).copied().unwrap_or(low).max(low);
        if from < high {
            ends.insert(partition, high);
            assignment.add_partition_offset(topic, partition, Offset::Offset(from)).unwrap();
        }
    }
    let mut log: Log = (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
    if ends.is_empty() {
        return log;
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ends.is_empty() {
        assert!(Instant::now() < deadline, "{topic}: reading did not reach {ends:?}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.unwrap();
        let text = |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        log.get_mut(&message.partition()).unwrap().push((
            message.offset(),
            text(message.key()),
            text(message.payload()),
        ));
        if ends.get(&message.partition()) == Some(&(message.offset() + 1)) {
            ends.remove(&message.partition());
        }
    }
    log
}

/// The keys and values alone, in order: what a copy must equal (its offsets differ).
fn contents(log: &Log) -> BTreeMap<i32, Vec<(String, String)>> {
    log.iter().map(|(p, records)| (*p, records.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect())).collect()
}

fn produce(broker: &Broker, topic: &str, records: &[(i32, String, String)]) {
    let producer: BaseProducer = broker.client_config(ADMIN).set("enable.idempotence", "true").create().unwrap();
    for (partition, key, value) in records {
        producer.send(BaseRecord::to(topic).partition(*partition).key(key).payload(value)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn commit(broker: &Broker, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) {
    let consumer: BaseConsumer = broker.client_config(ADMIN).set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for (partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset)).unwrap();
    }
    poll_ok(format!("`{group}` to commit"), Duration::from_secs(30), || consumer.commit(&list, CommitMode::Sync));
}

/// Copies `topic` with group `group` (committed at `positions` on the source), checks the copy by
/// content and with `migrate verify`, and that a consumer starting at the translated position on
/// the target reads exactly what the group had left on the source.
fn copy_and_check(topic: &str, group: &str, positions: &BTreeMap<i32, i64>) -> (usize, usize) {
    let (source, target) = pair();
    commit(source, group, topic, positions);
    let on_source = read(source, topic, &BTreeMap::new());
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "replication:\n  topics: [{topic}]\n  groups: [{group}]\nengine:\n  listen: 127.0.0.1:0\napps:\n  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n"
    );
    let path = PlanYaml::new("log-holes", source, target, body).write_to(dir.path(), "plan.yaml");
    let plan = TestPlan { path, state: dir.path().join("state"), _dir: dir };
    let engine = Engine::start(&plan);
    let expected: usize = on_source.values().map(Vec::len).sum();
    // Counted by watermarks until the engine has created the topic and copied enough: reading a
    // topic that does not exist yet fails.
    poll_until("the copy", Duration::from_secs(60), || {
        let consumer: BaseConsumer = target.client_config(ADMIN).create().unwrap();
        (0..PARTITIONS)
            .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).map_or(0, |(low, high)| high - low))
            .sum::<i64>()
            >= expected as i64
    });
    let on_target = read(target, topic, &BTreeMap::new());
    assert_eq!(contents(&on_target), contents(&on_source), "the copy holds the same records in the same order");

    let run = migrate(&["-p", plan.path.to_str().unwrap(), "-o", "json", "verify"], &[], &[]);
    assert_eq!(run.code, 0, "verify:\n{}\n{}", run.stdout, run.stderr);

    let translated = poll_for("the group's translated offsets", Duration::from_secs(60), || {
        Some(committed_offsets(target, group, topic, PARTITIONS)).filter(|offsets| offsets.len() == PARTITIONS as usize)
    });
    let left_on_source = read(source, topic, positions);
    let resumed = read(target, topic, &translated);
    assert_eq!(
        contents(&resumed),
        contents(&left_on_source),
        "resumed on the target at {translated:?} for the source's {positions:?}"
    );
    engine.stop();
    (expected, resumed.values().map(Vec::len).sum())
}

#[test]
fn a_compacted_topic_copies_by_content_and_a_group_inside_a_hole_resumes_exactly() {
    let (source, _) = pair();
    let topic = unique("compacted");
    let group = unique("compacted-group");
    source.create_topics(&[(
        &topic,
        PARTITIONS,
        &[("cleanup.policy", "compact"), ("segment.ms", "100"), ("min.cleanable.dirty.ratio", "0.01")],
    )]);
    // Four rounds over the same 40 keys, then a fifth over every fourth key, each in segments of
    // its own (segment.ms rolls them): the fourth round's other keys survive between removed ones.
    let mut produced = 0;
    for round in 0..5 {
        let records: Vec<(i32, String, String)> = (0..40)
            .filter(|k| round < 4 || k % 4 == 0)
            .map(|k| ((k % PARTITIONS as usize) as i32, format!("k{k}"), format!("r{round}-k{k}")))
            .collect();
        produce(source, &topic, &records);
        produced += records.len();
        // Deliberately 300 ms: past `segment.ms`, so the next round starts a segment of its own.
        std::thread::sleep(Duration::from_millis(300));
    }
    // One record per partition more, so the fifth round's segment is closed too: the cleaner never
    // touches the active segment.
    produce(source, &topic, &[(0, "tail".into(), "tail-0".into()), (1, "tail".into(), "tail-1".into())]);
    produced += 2;
    // The cleaner rewrites the closed segments; wait until the older values are gone.
    poll_until("the log cleaner", Duration::from_secs(60), || {
        // The 40 keys' last values and the two tails.
        read(source, &topic, &BTreeMap::new()).values().map(Vec::len).sum::<usize>() == 42
    });
    let log = read(source, &topic, &BTreeMap::new());
    // Partition 0: a position inside a hole (an offset the cleaner removed); partition 1: past
    // its second surviving record.
    let offsets: Vec<i64> = log[&0].iter().map(|(o, _, _)| *o).collect();
    let hole = (offsets[0]..*offsets.last().unwrap()).find(|o| !offsets.contains(o)).expect("a hole in partition 0");
    let positions = BTreeMap::from([(0, hole), (1, log[&1][1].0 + 1)]);
    let (copied, resumed) = copy_and_check(&topic, &group, &positions);
    eprintln!(
        "compaction: {produced} produced, {copied} left after compaction and copied, group in the hole at offset {hole}: {resumed} read after it on the target"
    );
}

#[test]
fn a_topic_whose_log_start_moved_copies_from_it_and_a_group_before_it_resumes_at_its_first_record() {
    let (source, _) = pair();
    let topic = unique("truncated");
    let group = unique("truncated-group");
    source.create_topics(&[(&topic, PARTITIONS, &[])]);
    let records: Vec<(i32, String, String)> =
        (0..200).map(|i| ((i % PARTITIONS as usize) as i32, format!("k{i}"), format!("v{i}"))).collect();
    produce(source, &topic, &records);
    let mut delete = TopicPartitionList::new();
    delete.add_partition_offset(&topic, 0, Offset::Offset(40)).unwrap();
    delete.add_partition_offset(&topic, 1, Offset::Offset(70)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let admin = source.admin();
    let result = runtime.block_on(admin.delete_records(&delete, &AdminOptions::new())).expect("DeleteRecords");
    for element in result.elements() {
        assert!(element.error().is_ok(), "{element:?}");
    }
    // Partition 0: committed before the new log start; partition 1: past it.
    let positions = BTreeMap::from([(0, 20), (1, 85)]);
    let (copied, resumed) = copy_and_check(&topic, &group, &positions);
    assert_eq!(copied, 60 + 30);
    assert_eq!(resumed, 60 + 15);
    eprintln!(
        "DeleteRecords: 200 produced, log start 40 and 70, {copied} copied, {resumed} read after the translated group"
    );
}
