//! Kafka 4 (the 4.x pair of `scripts/kafka/versions.sh`): an older 3.x source's topic configs
//! reach a 4.x target without the ones 4.0 removed, and a group on the consumer protocol
//! (KIP-848), which the classic DescribeGroups reports as "Dead" while it consumes, is seen by the
//! fence.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use migrate::offsets::{ClusterClients, GroupState};
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The 4.x pair.
fn pair() -> &'static (Broker, Broker) {
    static PAIR: OnceLock<(Broker, Broker)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let version = || BrokerOptions { version: Some(kafka_versions().kafka4.clone()), ..Default::default() };
        std::thread::scope(|scope| {
            let source = scope.spawn(|| start_broker(version()));
            let target = scope.spawn(|| start_broker(version()));
            (source.join().unwrap(), target.join().unwrap())
        })
    })
}

/// A source on the older 3.x line.
fn older_source() -> &'static Broker {
    static SOURCE: OnceLock<Broker> = OnceLock::new();
    SOURCE.get_or_init(|| {
        start_broker(BrokerOptions { version: Some(kafka_versions().source.clone()), ..Default::default() })
    })
}

fn produce(broker: &Broker, topic: &str, count: usize) {
    let producer: BaseProducer = broker.client_config(ADMIN).set("enable.idempotence", "true").create().unwrap();
    for i in 0..count {
        let value = format!("v{i}");
        producer.send(BaseRecord::<str, str>::to(topic).partition((i % 3) as i32).payload(&value)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn high_watermarks(broker: &Broker, topic: &str) -> i64 {
    let consumer: BaseConsumer = broker.client_config(ADMIN).create().unwrap();
    (0..3).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).map_or(0, |(_, high)| high)).sum()
}

fn topic_configs(broker: &Broker, topic: &str) -> BTreeMap<String, String> {
    let admin = broker.admin();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results =
        runtime.block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())).unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    resource.entries.into_iter().filter_map(|e| Some((e.name, e.value?))).collect()
}

fn test_plan(source: &Broker, target: &Broker, name: &str, body: String) -> TestPlan {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{body}engine:\n  listen: 127.0.0.1:0\n");
    let path = PlanYaml::new(name, source, target, body).write_to(dir.path(), "plan.yaml");
    TestPlan { path, state: dir.path().join("state"), _dir: dir }
}

#[test]
fn an_older_sources_topic_reaches_a_4x_target_without_the_configs_4_0_removed() {
    let (source, target) = (older_source(), &pair().1);
    let topic = unique("from-3-6");
    // Removed in 4.0 (KIP-937 replaced it with the before/after pair); 3.6 still takes it.
    source.create_topics(&[(
        &topic,
        3,
        &[("message.timestamp.difference.max.ms", "3600000"), ("retention.ms", "86400000")],
    )]);
    produce(source, &topic, 300);
    let plan = test_plan(
        source,
        target,
        "kafka4-configs",
        format!("replication:\n  topics: [{topic}]\napps:\n  - name: producer\n    produces: [{topic}]\n"),
    );
    let engine = Engine::start(&plan);
    poll_until("300 records on the 4.x target", Duration::from_secs(60), || high_watermarks(target, &topic) == 300);
    let configs = topic_configs(target, &topic);
    assert_eq!(configs.get("retention.ms").map(String::as_str), Some("86400000"), "{configs:?}");
    assert!(!configs.contains_key("message.timestamp.difference.max.ms"), "{configs:?}");
    let status = engine.status().unwrap();
    let problems = status["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "topic `{topic}` created without the configs the target refuses: message.timestamp.difference.max.ms=3600000"
        )),
        "{problems}"
    );
    let log = engine.stop();
    assert!(log.contains("without the configs it refuses: message.timestamp.difference.max.ms=3600000"), "{log}");
}

#[test]
fn the_fence_sees_a_group_on_the_consumer_protocol_which_describegroups_calls_dead() {
    let (source, target) = pair();
    let topic = unique("k4");
    let group = unique("k4-group");
    source.create_topics(&[(&topic, 3, &[])]);
    produce(source, &topic, 30);
    let plan = test_plan(
        source,
        target,
        "kafka4-fence",
        format!(
            "replication:\n  topics: [{topic}]\n  groups: [{group}]\nreadiness:\n  max_message_lag: 1000\n  max_replication_latency_ms: 5000\n  max_sum_offset_lag: 1000\n  sustained_for: 1s\napps:\n  - name: reader\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n    stop: 'true'\n    start: 'true'\n"
        ),
    );
    let consumer: BaseConsumer = source
        .client_config(APP)
        .set("group.id", &group)
        .set("group.protocol", "consumer")
        .set("client.id", "kip848-reader")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    poll_until("an assignment", Duration::from_secs(30), || {
        consumer.poll(Duration::from_millis(100));
        consumer.assignment().unwrap().count() > 0
    });
    // The classic answer, which the fence used to read: "Dead", no member, while it consumes.
    let classic = source.admin().inner().fetch_group_list(Some(&group), Duration::from_secs(10)).unwrap();
    assert_eq!(classic.groups()[0].state(), "Dead");

    let loaded = migrate::plan::load(&plan.path, &|_| None).unwrap();
    let clients = ClusterClients::new(&loaded.source, &source.cluster_id).unwrap();
    match clients.group_state(&group).unwrap() {
        GroupState::Active { state, .. } => assert_eq!(state, "Stable"),
        other => panic!("a consuming group on the consumer protocol read as {other:?}"),
    }
    // Its members, named by DescribeConsumerGroups (asked once, for messages).
    let members = clients.consumer_group_members(&group);
    assert!(members.len() == 1 && members[0].starts_with("kip848-reader@127.0.0.1 ("), "{members:?}");

    // Preflight's listing sees it too (ListGroups alone would call it absent).
    let planned = migrate(&["-p", plan.path.to_str().unwrap(), "-o", "json", "plan"], &[], &[]);
    let groups =
        checks_named(&planned.json(), "groups").into_iter().find(|c| c["cluster"] == "source").cloned().unwrap();
    assert!(groups["detail"].as_str().unwrap().contains(&format!("{group} Stable")), "{groups}");

    // A cutover whose stop hook leaves it consuming: the fence refuses, naming the member.
    let engine = Engine::start(&plan);
    engine.wait_gate_open(Duration::from_secs(60));
    let keep_polling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let poller = {
        let keep = keep_polling.clone();
        std::thread::spawn(move || {
            while keep.load(std::sync::atomic::Ordering::SeqCst) {
                consumer.poll(Duration::from_millis(100));
            }
            drop(consumer);
        })
    };
    let args = ["-p", plan.path.to_str().unwrap(), "--state-dir", plan.state.to_str().unwrap()];
    let run = migrate(
        &[&args[..], &["cutover", "reader", "--fence-window", "1s", "--fence-timeout", "5s", "-o", "json"]].concat(),
        &[],
        &[],
    );
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let failure = run.json()["failure"].as_str().unwrap().to_string();
    assert!(
        failure.contains(&format!("group `{group}` is still Stable on the source, members: kip848-reader@127.0.0.1 (")),
        "{failure}"
    );

    // Once it stops, the member leaves (the consumer protocol has no session to wait out).
    keep_polling.store(false, std::sync::atomic::Ordering::SeqCst);
    poller.join().unwrap();
    poll_until("the group to be empty", Duration::from_secs(30), || {
        clients.group_state(&group).unwrap() == GroupState::Empty
    });
    engine.stop();
}
