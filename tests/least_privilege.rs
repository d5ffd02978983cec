//! Least privilege, table-driven, on Apache Kafka's StandardAuthorizer. A replicator user of its
//! own holds exactly what preflight demands of the embedded engine on each side (derived from the
//! requests the engine makes, `migrate::preflight::acl`); then, for every single one of those ACLs:
//! with just that one removed, `migrate plan --strict` exits 3 naming it and printing a grant
//! command; that command, run as printed with `sh -c` through the project's `kafka-acls` wrapper,
//! makes `plan` pass again. And the engine itself, run without each one (no preflight): the
//! ACLs its copy and offset sync need each stop it, most with the broker's authorization error.

mod common;

use std::time::{Duration, Instant};

use common::*;
use migrate::kafka::acl::{AclOperation, ResourceType};
use migrate::plan::Side;
use migrate::preflight::acl::{Requirement, embedded_replicator_requirements};

#[test]
fn each_required_acl_missing_alone_is_named_and_its_grant_command_restores_it() {
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let user = unique("least").replace('-', "_");
    let principal = format!("User:{user}");
    let source_password = source.create_user(&user);
    let target_password = target.create_user(&user);
    let topic = unique("orders");
    let group = unique("order-status");
    source.create_topics(&[(&topic, 3, &[])]);
    commit_group_offset(source, &group, &topic);

    let (topics, groups) = ([topic.clone()], [group.clone()]);
    let needs = [
        (Side::Source, source, embedded_replicator_requirements(&topics, &groups, Side::Source, true)),
        (Side::Target, target, embedded_replicator_requirements(&topics, &groups, Side::Target, true)),
    ];
    for (_, broker, requirements) in &needs {
        let bindings: Vec<_> =
            requirements.iter().map(|r| allow(&principal, r.resource_type, &r.resource_name, r.operation)).collect();
        broker.create_acls(&bindings);
    }

    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "replication:\n  topics: [{topic}]\n  groups: [{group}]\napps:\n  - name: status\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n"
    );
    let mut yaml = PlanYaml::new("least-privilege", source, target, body);
    yaml.replicator_user = user.clone();
    yaml.replicator_password = source_password;
    yaml.target_replicator_user = user.clone();
    yaml.target_replicator_password = target_password;
    let plan = yaml.write_to(dir.path(), "plan.yaml");
    let run_plan =
        || migrate(&["-p", plan.to_str().unwrap(), "-o", "json", "--strict", "plan", "--timeout", "5"], &[], &[]);
    let acl_checks = |run: &Run| -> Vec<serde_json::Value> {
        run.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "replicator-acls" || c["name"] == "target-writer-acls")
            .cloned()
            .collect()
    };

    // Exactly the list: every check passes.
    let complete = run_plan();
    assert_eq!(complete.code, 0, "{}\n{}", complete.stdout, complete.stderr);

    let mut cases = 0;
    for (side, broker, requirements) in &needs {
        for requirement in requirements {
            let binding =
                allow(&principal, requirement.resource_type, &requirement.resource_name, requirement.operation);
            assert_eq!(broker.delete_acl(&binding), 1, "{binding}");
            let missing = run_plan();
            assert_eq!(missing.code, 3, "without {binding}:\n{}\n{}", missing.stdout, missing.stderr);
            let failing: Vec<serde_json::Value> =
                acl_checks(&missing).into_iter().filter(|c| c["status"] != "pass").collect();
            assert_eq!(failing.len(), 1, "without {binding}: {failing:?}");
            let check = &failing[0];
            assert_eq!(check["cluster"], side.as_str(), "{check}");
            let detail = check["detail"].as_str().unwrap();
            let named =
                format!("{} on {:?} {}", requirement.operation, requirement.resource_type, requirement.resource_name);
            assert!(detail.contains(&named), "without {binding}: {detail}");
            let commands: Vec<&str> =
                check["hint"].as_str().unwrap().lines().filter(|l| l.starts_with("kafka-acls ")).collect();
            assert_eq!(commands.len(), 1, "one grant command for one missing ACL: {check}");
            let output = broker.kafka_tool(commands[0]);
            assert!(output.status.success(), "{}: {}", commands[0], String::from_utf8_lossy(&output.stderr));
            let restored = run_plan();
            assert_eq!(restored.code, 0, "after `{}`:\n{}\n{}", commands[0], restored.stdout, restored.stderr);
            cases += 1;
        }
    }
    let source_count = needs[0].2.len();
    assert!(cases >= 19, "{cases}");
    assert!(
        needs[0].2.iter().any(|r| r.resource_type == ResourceType::Cluster && r.operation == AclOperation::Describe)
    );
    eprintln!(
        "least privilege: {cases} ACLs ({source_count} on the source, {} on the target) each missing alone, named, granted by its printed command",
        cases - source_count
    );
}

/// What the embedded engine met, run in this process (no preflight: the point is what the engine
/// itself meets) on `plan`, until it copied `expected` records and synced every group, met an
/// authorization error, or `patience` ran out.
struct EngineRun {
    /// Whether it did all its work: every record copied source → target and target → source,
    /// every group in sync.
    done: bool,
    /// The first problem naming an authorization error, else the last problem it reported.
    problem: Option<String>,
    authorization: bool,
}

fn run_engine(
    plan: &migrate::plan::Plan,
    state: &std::path::Path,
    patience: Duration,
    expected: u64,
    expected_back: u64,
) -> EngineRun {
    use migrate::engine::{EngineOptions, StopHandle};
    let stop = StopHandle::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (plan_owned, state_owned, stop_engine) = (plan.clone(), state.to_path_buf(), stop.clone());
    let options = EngineOptions { topic_refresh: Duration::from_secs(2), timeout: Duration::from_secs(5) };
    let engine = std::thread::spawn(move || {
        runtime
            .block_on(migrate::engine::run(&plan_owned, &state_owned, &options, stop_engine))
            .map_err(|e| e.to_string())
    });
    let status_file = state.join("engine/status.json");
    let deadline = Instant::now() + patience;
    let mut run = EngineRun { done: false, problem: None, authorization: false };
    while Instant::now() < deadline && !engine.is_finished() && !run.done && !run.authorization {
        std::thread::sleep(Duration::from_millis(250));
        let Some(status) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        else {
            continue;
        };
        let copied = status["flows"]["source->target"]["copied"].as_u64().unwrap_or(0);
        let copied_back = status["flows"]["target->source"]["copied"].as_u64().unwrap_or(0);
        let groups = status["groups"]["groups"].as_object().cloned().unwrap_or_default();
        let in_sync = !groups.is_empty() && groups.values().all(|g| g["in_sync"] == true);
        run.done = copied >= expected && copied_back >= expected_back && in_sync;
        let problems: Vec<String> = status["problems"]
            .as_array()
            .into_iter()
            .chain(status["alarms"].as_array())
            .flatten()
            .map(|p| p["message"].as_str().map_or(p.to_string(), String::from))
            .collect();
        if let Some(denied) = problems.iter().find(|p| p.to_lowercase().contains("authoriz")) {
            run.problem = Some(denied.clone());
            run.authorization = true;
        } else if let Some(last) = problems.last() {
            run.problem = Some(last.clone());
        }
    }
    stop.stop();
    if let Err(error) = engine.join().unwrap() {
        run.authorization |= error.to_lowercase().contains("authoriz");
        run.problem = Some(error);
    }
    run
}

#[test]
fn the_engine_itself_fails_without_each_acl_its_copy_and_offset_sync_need() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let user = unique("necessary").replace('-', "_");
    let principal = format!("User:{user}");
    let source_password = source.create_user(&user);
    let target_password = target.create_user(&user);
    // Every topic and group of this test starts with `prefix`: granted PREFIXED, like the list.
    let prefix = unique("nec");
    let names = [prefix.clone()];
    let needs = [
        (Side::Source, source, embedded_replicator_requirements(&names, &names, Side::Source, true)),
        (Side::Target, target, embedded_replicator_requirements(&names, &names, Side::Target, true)),
    ];
    for (_, broker, requirements) in &needs {
        broker.create_acls(&allows(&principal, requirements));
    }
    // A fresh topic (not yet on the target) with 20 records, a group committed on it; a topic on
    // both clusters with 5 records written natively on the target by an app that runs there (the
    // flow back to the source); a plan.
    let case = |name: &str| {
        let topic = format!("{prefix}-{name}-topic");
        let group = format!("{prefix}-{name}-group");
        let back = format!("{prefix}-{name}-back");
        source.create_topics(&[(&topic, 2, &[]), (&back, 1, &[])]);
        target.create_topics(&[(&back, 1, &[])]);
        for (broker, topic, partitions, count) in [(source, &topic, 2, 20), (target, &back, 1, 5)] {
            let producer: BaseProducer = broker.client_config(ADMIN).create().unwrap();
            for i in 0..count {
                producer
                    .send(BaseRecord::<(), _>::to(topic).partition(i % partitions).payload(&format!("r{i}")))
                    .unwrap();
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        }
        commit_group_offset(source, &group, &topic);
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "replication:\n  topics: [{topic}, {back}]\n  groups: [{group}]\nengine:\n  listen: 127.0.0.1:0\napps:\n  - name: writer\n    produces: [{back}]\n  - name: status\n    consumes:\n      - group: {group}\n        topics: [{topic}]\n"
        );
        // `writer` runs on the target: its records there are its own, not a split brain.
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("state/control.json"), r#"{"apps": {"writer": "target"}}"#).unwrap();
        let mut yaml = PlanYaml::new("necessary", source, target, body);
        yaml.replicator_user = user.clone();
        yaml.replicator_password = source_password.clone();
        yaml.target_replicator_user = user.clone();
        yaml.target_replicator_password = target_password.clone();
        let path = yaml.write_to(dir.path(), "plan.yaml");
        let plan = migrate::plan::load(&path, &|name| std::env::var(name).ok()).unwrap();
        (plan, dir, path)
    };

    // With exactly the list: every record copied, the group in sync, no authorization error.
    let (plan, dir, _) = case("all");
    let started = Instant::now();
    let baseline = run_engine(&plan, &dir.path().join("state"), Duration::from_secs(60), 20, 5);
    assert!(baseline.done && !baseline.authorization, "with every ACL of the list: {:?}", baseline.problem);
    let baseline_took = started.elapsed();

    let (mut failed, mut named_by_broker, mut ran_anyway, mut refused) = (Vec::new(), 0, Vec::new(), Vec::new());
    for (side, broker, requirements) in &needs {
        for (n, requirement) in requirements.iter().enumerate() {
            let (plan, dir, path) = case(&format!("{side}-{n}"));
            let binding = &allows(&principal, std::slice::from_ref(requirement))[0];
            assert_eq!(broker.delete_acl(binding), 1, "{binding}");
            let log_from = broker_log_len(broker);
            // Three times what the whole work took with every ACL.
            let run =
                run_engine(&plan, &dir.path().join("state"), (baseline_took * 3).max(Duration::from_secs(15)), 20, 5);
            // `verify` runs as the replicator too (its group name is in the list): after the copy.
            let verified = (run.done && !run.authorization).then(|| {
                let state = dir.path().join("state");
                let secrets = [&source_password, &target_password].map(|file| std::fs::read_to_string(file).unwrap());
                let secrets = [secrets[0].trim(), secrets[1].trim()];
                migrate(
                    &["-p", path.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "verify"],
                    &[],
                    &secrets,
                )
            });
            let denied = denied_since(broker, &principal, log_from, requirement);
            broker.create_acls(std::slice::from_ref(binding));
            let named = format!(
                "{} on {:?} {} ({side})",
                requirement.operation, requirement.resource_type, requirement.resource_name
            );
            if run.authorization {
                named_by_broker += 1;
            }
            if let Some(denial) = denied.first() {
                refused.push(format!("{named}: {} request(s) refused, e.g. {denial}", denied.len()));
            }
            if let Some(verify) = verified.as_ref().filter(|v| v.code != 0) {
                failed.push(format!("{named}: done, but verify exits {}: {}", verify.code, verify.stderr.trim()));
                continue;
            }
            match (run.done, run.authorization) {
                (true, false) => ran_anyway.push(named),
                (_, _) => failed.push(format!(
                    "{named}: {}{}",
                    if run.done { "done, yet reported " } else { "not done; " },
                    run.problem.unwrap_or_else(|| "no problem reported".into())
                )),
            }
        }
    }
    eprintln!(
        "the engine without each ACL (all work done in {:.1} s with every one): {} cases failed ({named_by_broker} naming the broker's authorization error), {} ran anyway\n{}\nrequests the broker's authorizer refused (its log):\n{}",
        baseline_took.as_secs_f64(),
        failed.len(),
        ran_anyway.len(),
        failed.join("\n"),
        refused.join("\n")
    );
    // What the copy both ways and the offset sync need, each shown necessary here: Read on the
    // topics on both sides (the origin's fetch, the destination's tail at resume), Write on both
    // (each is a destination), Create on the target, DescribeConfigs on the source (the configs
    // of the topic it creates; rust-rdkafka reads a refused DescribeConfigs as "no configs", so
    // without it the topic was created with the target's defaults, silently, before this test
    // looked), Read on the synced group on both sides (OffsetFetch, OffsetCommit), Describe on
    // the resume readers' and `verify`'s group names (their coordinator lookup fails the read).
    // The others are checked below.
    let data_path = |side: Side, requirement: &migrate::preflight::acl::Requirement| {
        use AclOperation::*;
        match (requirement.resource_type, requirement.operation) {
            (ResourceType::Topic, Read | Write) => true,
            (ResourceType::Topic, Create) => side == Side::Target,
            (ResourceType::Topic, DescribeConfigs) => side == Side::Source,
            (ResourceType::Group, Read) => true,
            // The coordinator lookup of the resume reader fails its read of the destination's
            // tail; `verify`'s fails the verification.
            (ResourceType::Group, Describe) => {
                requirement.resource_name.ends_with("-resume") || requirement.resource_name == "migrate-verify"
            }
            _ => false,
        }
    };
    let necessary: Vec<String> = needs
        .iter()
        .flat_map(|(side, _, requirements)| {
            requirements
                .iter()
                .filter(|r| data_path(*side, r))
                .map(move |r| format!("{} on {:?} {} ({side})", r.operation, r.resource_type, r.resource_name))
        })
        .collect();
    assert_eq!(necessary.len(), 12, "{necessary:?}");
    for named in &necessary {
        assert!(!ran_anyway.contains(named), "the engine copied and synced everything without {named}");
        assert!(failed.iter().any(|f| f.starts_with(named.as_str())), "{named} was not tried");
    }
    // Every other ACL of the list serves a request the engine or `verify` makes, which the
    // broker's authorizer refused without it (logged), though the work went on: librdkafka's
    // coordinator lookups for the readers' group names (it needs a group id even for manual
    // assignment), retried all along. Two are preflight's: Describe on the cluster (DescribeAcls
    // reads the identity's own ACLs) and DescribeConfigs on the target (it compares the topics'
    // `max.message.bytes`); the test above shows `plan` naming each.
    let preflights = |named: &&String| {
        named.starts_with("Describe on Cluster")
            || (named.starts_with("DescribeConfigs on Topic") && named.ends_with("(target)"))
    };
    let unexplained: Vec<&String> = ran_anyway
        .iter()
        .filter(|named| !preflights(named))
        .filter(|named| !refused.iter().any(|r| r.starts_with(named.as_str())))
        .collect();
    assert!(unexplained.is_empty(), "neither needed nor refused without it: {unexplained:#?}");
    eprintln!("not needed by the engine's copy, offset sync and verify in this run: {ran_anyway:#?}");
}

/// The size of `broker`'s log now: where [`denied_since`] starts reading.
fn broker_log_len(broker: &Broker) -> u64 {
    std::fs::metadata(broker.dir.join("broker.log")).map_or(0, |m| m.len())
}

/// The requests of `principal` that `broker`'s authorizer refused since byte `from` of its log and
/// that `requirement` would have allowed: each line's operation, resource and request.
fn denied_since(broker: &Broker, principal: &str, from: u64, requirement: &Requirement) -> Vec<String> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(broker.dir.join("broker.log")) {
        let _ = file.seek(std::io::SeekFrom::Start(from));
        let _ = file.read_to_string(&mut text);
    }
    // `Principal = User:x is Denied operation = DESCRIBE from host = … on resource =
    // Group:LITERAL:name for request = FindCoordinator with …` (kafka.authorizer.logger).
    let operation: String = requirement.operation.to_string().chars().fold(String::new(), |mut out, c| {
        if c.is_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        out
    });
    let resource = format!("{:?}:LITERAL:{}", requirement.resource_type, requirement.resource_name);
    text.lines()
        .filter(|line| line.contains(&format!("Principal = {principal} is Denied operation = {operation} from")))
        .filter_map(|line| line.split_once(" on resource = ").map(|(_, rest)| rest))
        .filter(|rest| rest.starts_with(&resource))
        .map(|rest| rest.split(" with resourceRefCount").next().unwrap_or(rest).to_string())
        .collect()
}

/// The cutover's waits try a failed check again until their timeout, unless the failure is fatal
/// (`migrate::kafka::classify`): then the step fails at once, since the app may be stopped. A
/// refused Describe on a topic is such a failure, as the broker answers it; it used to read as
/// "topic does not exist", and was tried again until the timeout. A topic not there yet is
/// retriable.
#[test]
fn a_refused_describe_fails_a_cutover_check_at_once_and_a_missing_topic_is_waited_for() {
    use migrate::kafka::ErrorClass;
    use migrate::offsets::{ClusterClients, OffsetsError};
    let clusters = clusters();
    let (source, target) = (&clusters.source, &clusters.target);
    let topic = unique("undescribed");
    source.create_topics(&[(&topic, 1, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: a\n    produces: [{topic}]\n");
    let clients_as = |user: Option<(&str, std::path::PathBuf)>, file: &str| {
        let mut yaml = PlanYaml::new("classify", source, target, body.clone());
        if let Some((user, password)) = user {
            yaml.replicator_user = user.into();
            yaml.replicator_password = password;
        }
        let plan = migrate::plan::load(&yaml.write_to(dir.path(), file), &|name| std::env::var(name).ok()).unwrap();
        ClusterClients::new(&plan.source, "unused").unwrap()
    };

    // A user with no ACL at all: the broker refuses its Describe of the topic.
    let user = unique("no-acl").replace('-', "_");
    let password = source.create_user(&user);
    let refused = clients_as(Some((&user, password)), "no-acl.yaml").partitions(&topic).unwrap_err();
    assert!(matches!(refused, OffsetsError::TopicMetadata { .. }), "{refused:?}");
    assert!(refused.to_string().contains("authorization"), "{refused}");
    assert_eq!(refused.class(), ErrorClass::Fatal, "{refused}");

    // The replicator, allowed to describe the prefix, asking for a topic not created yet.
    let missing = clients_as(None, "replicator.yaml").partitions(&unique("not-yet")).unwrap_err();
    assert!(matches!(missing, OffsetsError::NoTopic { .. }), "{missing:?}");
    assert_eq!(missing.class(), ErrorClass::Retriable, "{missing}");
}
