//! The oldest source AWS's guide allows, Apache Kafka 2.8 (on ZooKeeper, with its AclAuthorizer
//! and SCRAM users kept in ZooKeeper), against the target line: preflight passes with the
//! replicator holding only the ACLs it demands, the engine copies every record and translates a
//! group's position, and `verify` finds the clusters equal. Checked by content.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;

fn values(broker: &Broker, topic: &str, expected: usize) -> BTreeMap<i32, Vec<String>> {
    let consumer: BaseConsumer = broker
        .client_config(ADMIN)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.values().map(Vec::len).sum::<usize>() < expected {
        assert!(Instant::now() < deadline, "{topic}: {seen:?}");
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            seen.entry(message.partition()).or_default().push(value);
        }
    }
    seen
}

#[test]
fn a_kafka_2_8_source_passes_preflight_and_replicates_records_and_offsets_exactly() {
    let (source, target) = std::thread::scope(|scope| {
        let source = scope.spawn(|| {
            start_broker(BrokerOptions { version: Some(kafka_versions().kafka2.clone()), ..Default::default() })
        });
        let target = scope.spawn(|| start_broker(BrokerOptions::default()));
        (source.join().unwrap(), target.join().unwrap())
    });
    let topic = unique("legacy");
    let group = unique("legacy-reader");
    source.create_topics(&[(&topic, PARTITIONS, &[])]);
    let producer: BaseProducer = source.client_config(ADMIN).set("enable.idempotence", "true").create().unwrap();
    let mut produced: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for i in 0..300 {
        let (partition, value) = (i % PARTITIONS, format!("legacy-{i}"));
        producer.send(BaseRecord::<(), _>::to(&topic).partition(partition).payload(&value)).unwrap();
        produced.entry(partition).or_default().push(value);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    // The group has consumed the first 40 records of each partition.
    let committer: BaseConsumer = source.client_config(ADMIN).set("group.id", &group).create().unwrap();
    let mut offsets = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        offsets.add_partition_offset(&topic, partition, Offset::Offset(40)).unwrap();
    }
    poll_ok("the group's commit on 2.8", Duration::from_secs(30), || committer.commit(&offsets, CommitMode::Sync));
    drop(committer);

    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "replication:\n  topics: [{topic}]\n  groups: [{group}]\nengine:\n  listen: 127.0.0.1:0\napps:\n  - name: legacy\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n"
    );
    let mut yaml = PlanYaml::new("kafka-2-8", &source, &target, body);
    yaml.source_extra = format!("  cluster_id: {}\n", source.cluster_id);
    let path = yaml.write_to(dir.path(), "plan.yaml");
    let plan = TestPlan { path, state: dir.path().join("state"), _dir: dir };
    let secrets = [source.password(REPLICATOR), target.password(REPLICATOR)];

    let preflight =
        migrate(&["-p", plan.path.to_str().unwrap(), "-o", "json", "plan", "--timeout", "10"], &[], &secrets);
    assert_eq!(preflight.code, 0, "{}\n{}", preflight.stdout, preflight.stderr);
    let document = preflight.json();
    let acl_checks: Vec<_> = checks_named(&document, "replicator-acls");
    assert!(!acl_checks.is_empty() && acl_checks.iter().all(|c| c["status"] == "pass"), "{acl_checks:?}");

    let engine = Engine::start(&plan);
    let copied = values(&target, &topic, 300);
    assert_eq!(copied, produced, "the target holds the 2.8 source's records, in order, per partition");
    let translated = poll_ok("the group's offsets on the target", Duration::from_secs(60), || {
        let offsets = committed_offsets(&target, &group, &topic, PARTITIONS);
        if offsets.len() == PARTITIONS as usize { Ok(offsets) } else { Err(format!("{offsets:?}")) }
    });
    assert!(translated.values().all(|offset| *offset == 40), "{translated:?}");
    let verify = migrate(&["-p", plan.path.to_str().unwrap(), "-o", "json", "verify"], &[], &secrets);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    engine.stop();
    eprintln!(
        "Kafka {} → {}: preflight passed ({} ACL checks), 300 records copied and compared, the group at 40 on each partition translated to {translated:?}, verify equal",
        source.version,
        target.version,
        acl_checks.len()
    );
}
