//! The ACL evaluation, table-driven: what the replicator holds against what it needs.

use migrate::preflight::acl::*;

const ME: &str = "User:replicator";

fn binding(
    resource_type: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

fn allow(resource_type: ResourceType, name: &str, pattern: PatternType, operation: AclOperation) -> AclBinding {
    binding(resource_type, name, pattern, ME, operation, AclPermission::Allow)
}

/// Everything the replicator needs on `orders` / `order-status`, granted literally.
fn complete() -> Vec<AclBinding> {
    use AclOperation::*;
    let mut bindings = Vec::new();
    for op in [Alter, AlterConfigs, Create, Describe, DescribeConfigs, Read, Write] {
        bindings.push(allow(ResourceType::Topic, "orders", PatternType::Literal, op));
    }
    for op in [Read, Describe] {
        bindings.push(allow(ResourceType::Group, "order-status", PatternType::Literal, op));
    }
    for op in [Create, ClusterAction, Describe, DescribeConfigs] {
        bindings.push(allow(ResourceType::Cluster, CLUSTER_RESOURCE, PatternType::Literal, op));
    }
    bindings
}

fn needed() -> Vec<Requirement> {
    replicator_requirements(&["orders".into()], &["order-status".into()])
}

fn missing_of(report: &AclReport) -> Vec<(ResourceType, String, AclOperation)> {
    match report {
        AclReport::Lacking { missing, .. } => {
            missing.iter().map(|r| (r.resource_type, r.resource_name.clone(), r.operation)).collect()
        }
        other => panic!("expected missing permissions, got {other:?}"),
    }
}

#[test]
fn the_reference_list_is_required_exactly() {
    use AclOperation::*;
    let required = needed();
    assert_eq!(required.len(), 7 + 2 + 4);
    let cluster: Vec<AclOperation> =
        required.iter().filter(|r| r.resource_type == ResourceType::Cluster).map(|r| r.operation).collect();
    assert_eq!(cluster, vec![Create, ClusterAction, Describe, DescribeConfigs]);
}

#[test]
fn a_complete_grant_passes() {
    assert_eq!(check(&complete(), ME, &needed()), AclReport::AllGranted { checked: 13 });
}

#[test]
fn each_missing_kind_is_named() {
    use AclOperation::*;
    type Case = (&'static str, Box<dyn Fn(&AclBinding) -> bool>, (ResourceType, &'static str, AclOperation));
    let cases: Vec<Case> = vec![
        (
            "topic write",
            Box::new(|b: &AclBinding| b.resource_type == ResourceType::Topic && b.operation == Write),
            (ResourceType::Topic, "orders", Write),
        ),
        (
            "group read",
            Box::new(|b: &AclBinding| b.resource_type == ResourceType::Group && b.operation == Read),
            (ResourceType::Group, "order-status", Read),
        ),
        (
            "cluster action",
            Box::new(|b: &AclBinding| b.resource_type == ResourceType::Cluster && b.operation == ClusterAction),
            (ResourceType::Cluster, CLUSTER_RESOURCE, ClusterAction),
        ),
    ];
    for (case, remove, expected) in cases {
        let bindings: Vec<AclBinding> = complete().into_iter().filter(|b| !remove(b)).collect();
        let missing = missing_of(&check(&bindings, ME, &needed()));
        assert_eq!(missing, vec![(expected.0, expected.1.to_string(), expected.2)], "case {case}");
    }
}

#[test]
fn prefixed_and_wildcard_patterns_match() {
    use AclOperation::*;
    let mut bindings: Vec<AclBinding> =
        complete().into_iter().filter(|b| b.resource_type != ResourceType::Topic).collect();
    bindings.push(allow(ResourceType::Topic, "ord", PatternType::Prefixed, All));
    assert!(matches!(check(&bindings, ME, &needed()), AclReport::AllGranted { .. }), "PREFIXED `ord` covers `orders`");

    let mut bindings: Vec<AclBinding> =
        complete().into_iter().filter(|b| b.resource_type != ResourceType::Group).collect();
    bindings.push(allow(ResourceType::Group, "*", PatternType::Literal, Read));
    // A wildcard Read on groups covers `order-status`, and Read implies Describe.
    assert_eq!(check(&bindings, ME, &needed()), AclReport::AllGranted { checked: 13 });

    let mut bindings: Vec<AclBinding> =
        complete().into_iter().filter(|b| b.resource_type != ResourceType::Topic).collect();
    bindings.push(allow(ResourceType::Topic, "pay", PatternType::Prefixed, All));
    assert_eq!(missing_of(&check(&bindings, ME, &needed())).len(), 7, "PREFIXED `pay` does not cover `orders`");

    let mut bindings: Vec<AclBinding> =
        complete().into_iter().filter(|b| b.resource_type != ResourceType::Topic).collect();
    bindings.push(allow(ResourceType::Topic, "ord", PatternType::Literal, All));
    assert_eq!(missing_of(&check(&bindings, ME, &needed())).len(), 7, "a LITERAL `ord` is not a prefix");
}

#[test]
fn all_grants_every_operation_and_user_star_applies_to_everyone() {
    use AclOperation::*;
    let bindings = vec![
        binding(ResourceType::Topic, "*", PatternType::Literal, "User:*", All, AclPermission::Allow),
        binding(ResourceType::Group, "*", PatternType::Literal, "User:*", All, AclPermission::Allow),
        binding(ResourceType::Cluster, CLUSTER_RESOURCE, PatternType::Literal, ME, All, AclPermission::Allow),
    ];
    assert_eq!(check(&bindings, ME, &needed()), AclReport::AllGranted { checked: 13 });
}

#[test]
fn a_deny_overrides_an_allow() {
    use AclOperation::*;
    let mut bindings = complete();
    let deny = binding(ResourceType::Topic, "orders", PatternType::Literal, "User:*", Write, AclPermission::Deny);
    bindings.push(deny.clone());
    match check(&bindings, ME, &needed()) {
        AclReport::Lacking { missing, denied } => {
            assert!(missing.is_empty());
            assert_eq!(denied.len(), 1);
            assert_eq!(denied[0].0.operation, Write);
            assert_eq!(denied[0].1, deny);
        }
        other => panic!("{other:?}"),
    }
    // A DENY of All on a prefix denies everything on the topic.
    let mut bindings = complete();
    bindings.push(binding(ResourceType::Topic, "o", PatternType::Prefixed, ME, All, AclPermission::Deny));
    match check(&bindings, ME, &needed()) {
        AclReport::Lacking { denied, .. } => assert_eq!(denied.len(), 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn grants_for_others_do_not_count() {
    let bindings: Vec<AclBinding> = complete()
        .into_iter()
        .map(|mut b| {
            b.principal = "User:someone-else".into();
            b
        })
        .collect();
    assert_eq!(
        missing_of(&check(&bindings, ME, &needed())).len(),
        13,
        "ACLs for others but none for the replicator is a failure"
    );
}

#[test]
fn host_restricted_allows_do_not_count() {
    let bindings: Vec<AclBinding> = complete()
        .into_iter()
        .map(|mut b| {
            b.host = "10.0.0.5".into();
            b
        })
        .collect();
    assert_eq!(missing_of(&check(&bindings, ME, &needed())).len(), 13);
}

#[test]
fn no_acls_at_all_cannot_be_verified() {
    assert_eq!(check(&[], ME, &needed()), AclReport::CannotVerify);
}

#[test]
fn grant_commands_group_operations_per_resource() {
    use AclOperation::*;
    let missing = vec![
        Requirement { resource_type: ResourceType::Topic, resource_name: "orders".into(), operation: Read },
        Requirement { resource_type: ResourceType::Topic, resource_name: "orders".into(), operation: Write },
        Requirement {
            resource_type: ResourceType::Cluster,
            resource_name: CLUSTER_RESOURCE.into(),
            operation: ClusterAction,
        },
    ];
    let commands = grant_commands("kafka:9096", ME, &missing);
    assert_eq!(
        commands,
        vec![
            "kafka-acls --bootstrap-server kafka:9096 --command-config admin.properties --add --allow-principal User:replicator --operation Read --operation Write --topic orders",
            "kafka-acls --bootstrap-server kafka:9096 --command-config admin.properties --add --allow-principal User:replicator --operation ClusterAction --cluster",
        ]
    );
}

#[test]
fn the_target_writer_needs_idempotent_write() {
    let required = target_writer_requirements(&["orders".into()], &[]);
    assert!(
        required
            .iter()
            .any(|r| r.resource_type == ResourceType::Cluster && r.operation == AclOperation::IdempotentWrite)
    );
    assert_eq!(required.iter().filter(|r| r.resource_type == ResourceType::Topic).count(), 6);
}
