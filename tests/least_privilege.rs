//! Least privilege, table-driven, on Apache Kafka's StandardAuthorizer. A replicator user of its
//! own holds exactly what preflight demands of the embedded engine on each side (derived from the
//! requests the engine makes, `migrate::preflight::acl`); then, for every single one of those ACLs:
//! with just that one removed, `migrate plan --strict` exits 3 naming it and printing a grant
//! command; that command, run as printed with `sh -c` through the project's `kafka-acls` wrapper,
//! makes `plan` pass again.

mod common;

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
