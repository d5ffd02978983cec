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
use migrate::plan::Side;
use migrate::preflight::acl::{AclOperation, ResourceType, embedded_replicator_requirements};

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
        (plan, dir)
    };

    // With exactly the list: every record copied, the group in sync, no authorization error.
    let (plan, dir) = case("all");
    let started = Instant::now();
    let baseline = run_engine(&plan, &dir.path().join("state"), Duration::from_secs(60), 20, 5);
    assert!(baseline.done && !baseline.authorization, "with every ACL of the list: {:?}", baseline.problem);
    let baseline_took = started.elapsed();

    let (mut failed, mut named_by_broker, mut ran_anyway) = (Vec::new(), 0, Vec::new());
    for (side, broker, requirements) in &needs {
        for (n, requirement) in requirements.iter().enumerate() {
            let (plan, dir) = case(&format!("{side}-{n}"));
            let binding = &allows(&principal, std::slice::from_ref(requirement))[0];
            assert_eq!(broker.delete_acl(binding), 1, "{binding}");
            // Three times what the whole work took with every ACL.
            let run =
                run_engine(&plan, &dir.path().join("state"), (baseline_took * 3).max(Duration::from_secs(15)), 20, 5);
            broker.create_acls(std::slice::from_ref(binding));
            let named = format!(
                "{} on {:?} {} ({side})",
                requirement.operation, requirement.resource_type, requirement.resource_name
            );
            if run.authorization {
                named_by_broker += 1;
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
        "the engine without each ACL (all work done in {:.1} s with every one): {} cases failed ({named_by_broker} naming the broker's authorization error), {} ran anyway\n{}",
        baseline_took.as_secs_f64(),
        failed.len(),
        ran_anyway.len(),
        failed.join("\n")
    );
    // What the copy both ways and the offset sync need, each shown necessary here: Read on the
    // topics on both sides (the origin's fetch, the destination's tail at resume), Write on both
    // (each is a destination), Create on the target, DescribeConfigs on the source (the configs
    // of the topic it creates; rust-rdkafka reads a refused DescribeConfigs as "no configs", so
    // without it the topic was created with the target's defaults, silently, before this test
    // looked), Read on the synced group on both sides (OffsetFetch, OffsetCommit), Describe on
    // the resume readers' group names (their coordinator lookup fails the read). The others in
    // the list serve requests this run does not make or survives (preflight's DescribeAcls and
    // ListGroups, a topic appearing first on the target, the coordinator lookups of the engine's
    // own group names, which librdkafka reports and goes on without) and are printed.
    let data_path = |side: Side, requirement: &migrate::preflight::acl::Requirement| {
        use AclOperation::*;
        match (requirement.resource_type, requirement.operation) {
            (ResourceType::Topic, Read | Write) => true,
            (ResourceType::Topic, Create) => side == Side::Target,
            (ResourceType::Topic, DescribeConfigs) => side == Side::Source,
            (ResourceType::Group, Read) => true,
            // The resume reader's coordinator lookup fails its read of the destination's tail.
            (ResourceType::Group, Describe) => requirement.resource_name.ends_with("-resume"),
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
    assert_eq!(necessary.len(), 10, "{necessary:?}");
    for named in &necessary {
        assert!(!ran_anyway.contains(named), "the engine copied and synced everything without {named}");
        assert!(failed.iter().any(|f| f.starts_with(named.as_str())), "{named} was not tried");
    }
    eprintln!("not needed by the engine's copy and offset sync in this run: {ran_anyway:#?}");
}
