//! The ACL evaluation, table-driven: what the replicator holds against what it needs.

use migrate::kafka::acl::*;
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
fn the_embedded_engine_needs_what_it_does_on_each_side() {
    use AclOperation::*;
    use migrate::plan::Side;
    let ops = |side: Side, bidirectional: bool, resource_type: ResourceType| -> Vec<AclOperation> {
        let mut found: Vec<AclOperation> =
            embedded_replicator_requirements(&["orders".into()], &["order-status".into()], side, bidirectional)
                .into_iter()
                .filter(|r| r.resource_type == resource_type && !r.resource_name.starts_with("migrate-"))
                .map(|r| r.operation)
                .collect();
        found.sort();
        found
    };
    // One way: the source is read (and its configs copied), the target created, written, read
    // back; both sides' configs read by preflight (max.message.bytes).
    assert_eq!(ops(Side::Source, false, ResourceType::Topic), vec![Read, DescribeConfigs]);
    assert_eq!(ops(Side::Target, false, ResourceType::Topic), vec![Read, Write, Create, DescribeConfigs]);
    // Both ways: each side is an origin and a destination; topics are created on the target only.
    assert_eq!(ops(Side::Source, true, ResourceType::Topic), vec![Read, Write, DescribeConfigs]);
    assert_eq!(ops(Side::Target, true, ResourceType::Topic), vec![Read, Write, Create, DescribeConfigs]);
    // Groups: offsets read on one side, translated commits written on the other, either way.
    assert_eq!(ops(Side::Source, false, ResourceType::Group), vec![Read]);
    // No MSK Replicator extras (Alter, AlterConfigs, ClusterAction, cluster Create, IdempotentWrite).
    assert_eq!(ops(Side::Target, true, ResourceType::Cluster), vec![Describe]);
}

#[test]
fn the_embedded_engines_own_group_names_need_describe_where_its_clients_run() {
    use migrate::plan::Side;
    let one_way_source = embedded_internal_groups(Side::Source, false);
    assert!(one_way_source.contains(&"migrate-engine-source->target".to_string()), "{one_way_source:?}");
    assert!(!one_way_source.iter().any(|g| g.ends_with("-resume")), "{one_way_source:?}");
    let one_way_target = embedded_internal_groups(Side::Target, false);
    assert!(one_way_target.contains(&"migrate-engine-source->target-resume".to_string()), "{one_way_target:?}");
    assert!(embedded_internal_groups(Side::Source, true).contains(&"migrate-engine-target->source-resume".to_string()));
    // A grant command names such a group in quotes, so `sh -c` does not read `>` as a redirect.
    let missing = [Requirement {
        resource_type: ResourceType::Group,
        resource_name: "migrate-engine-source->target-resume".into(),
        operation: AclOperation::Describe,
    }];
    let command = &grant_commands("k:9096", ME, &missing)[0];
    assert!(command.ends_with("--group 'migrate-engine-source->target-resume'"), "{command}");
}

#[test]
fn an_app_needs_write_on_what_it_produces_and_read_on_what_it_consumes() {
    use AclOperation::*;
    let needed = app_requirements(&["order_status".into()], &["orders".into()], &["order-status".into()], &[]);
    let named: Vec<(ResourceType, &str, AclOperation)> =
        needed.iter().map(|r| (r.resource_type, r.resource_name.as_str(), r.operation)).collect();
    assert_eq!(
        named,
        vec![
            (ResourceType::Topic, "order_status", Write),
            (ResourceType::Topic, "orders", Read),
            (ResourceType::Group, "order-status", Read),
        ]
    );
}

#[test]
fn a_transactional_app_needs_write_on_its_transactional_id_and_the_grant_names_it() {
    use AclOperation::*;
    let needed = app_requirements(&["order_status".into()], &["orders".into()], &[], &["order-status-tx".into()]);
    assert!(
        needed.contains(&Requirement {
            resource_type: ResourceType::TransactionalId,
            resource_name: "order-status-tx".into(),
            operation: Write,
        }),
        "{needed:?}"
    );
    let only_id: Vec<Requirement> =
        needed.into_iter().filter(|r| r.resource_type == ResourceType::TransactionalId).collect();
    let command = &grant_commands("k:9092", "User:app", &only_id)[0];
    assert!(command.ends_with("--operation Write --transactional-id order-status-tx"), "{command}");
}

mod permissions_diff {
    use std::collections::BTreeMap;

    use migrate::kafka::acl::*;
    use migrate::preflight::acl::CLUSTER_RESOURCE;
    use migrate::preflight::permissions::{Scope, add_command, closing_resources, missing_on_target};

    fn replication(map: &[(&str, &str)]) -> migrate::plan::Replication {
        migrate::plan::Replication {
            topics: Vec::new(),
            groups: Vec::new(),
            starting_position: migrate::plan::StartingPosition::Earliest,
            target_compression: migrate::plan::Compression::None,
            bidirectional: true,
            acls: migrate::plan::AclMode::Check,
            principal_map: map.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    fn binding(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: AclOperation,
        permission: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    fn scope() -> Scope {
        Scope {
            topics: vec!["orders".into(), "order_status".into()],
            groups: vec!["order-status".into()],
            transactional_ids: vec!["orders-tx".into()],
            excluded_principals: ["User:replicator".to_string()].into(),
        }
    }

    #[test]
    fn the_scope_takes_literal_prefixed_wildcard_group_txn_deny_and_idempotent_write_only() {
        use AclOperation::*;
        use AclPermission::*;
        use PatternType::*;
        use ResourceType::*;
        let me = "User:orders-svc";
        let scope = scope();
        for (covered, b) in [
            (true, binding(Topic, "orders", Literal, me, Write, Allow)),
            (true, binding(Topic, "ord", Prefixed, me, Write, Allow)),
            (true, binding(Topic, "*", Literal, me, Read, Allow)),
            (true, binding(Topic, "order_status", Literal, me, Write, Deny)),
            (true, binding(Group, "order-status", Literal, me, Read, Allow)),
            (true, binding(TransactionalId, "orders-tx", Literal, me, Write, Allow)),
            (true, binding(Cluster, CLUSTER_RESOURCE, Literal, me, IdempotentWrite, Allow)),
            (false, binding(Cluster, CLUSTER_RESOURCE, Literal, me, Alter, Allow)),
            (false, binding(Topic, "payments", Literal, me, Write, Allow)),
            (false, binding(Topic, "ord", Literal, me, Write, Allow)),
            (false, binding(Topic, "orders-archive", Prefixed, me, Write, Allow)),
            (false, binding(Group, "notification", Literal, me, Read, Allow)),
            (false, binding(Topic, "orders", Literal, "User:replicator", Read, Allow)),
        ] {
            assert_eq!(scope.covers(&b), covered, "{b}");
        }
    }

    #[test]
    fn missing_bindings_are_translated_with_the_principal_map_and_found_exactly() {
        use AclOperation::*;
        use AclPermission::*;
        use PatternType::*;
        use ResourceType::*;
        let source = vec![
            binding(Topic, "ord", Prefixed, "User:orders-svc", Write, Allow),
            binding(Topic, "order_status", Literal, "User:orders-svc", Write, Deny),
            binding(Group, "order-status", Literal, "User:status-svc", Read, Allow),
        ];
        let replication = replication(&[("User:orders-svc", "User:orders-svc-msk")]);
        // The target has the group's binding, and a LITERAL (not PREFIXED) Write on `ord`.
        let target = vec![
            binding(Group, "order-status", Literal, "User:status-svc", Read, Allow),
            binding(Topic, "ord", Literal, "User:orders-svc-msk", Write, Allow),
        ];
        let missing = missing_on_target(&source, &target, &scope(), &replication);
        let created: Vec<String> = missing.iter().map(|m| m.target.to_string()).collect();
        assert_eq!(
            created,
            [
                "Allow Write on Topic:ord(Prefixed) for User:orders-svc-msk from *",
                "Deny Write on Topic:order_status(Literal) for User:orders-svc-msk from *",
            ]
        );
        assert_eq!(missing[0].source.principal, "User:orders-svc");
        assert!(add_command("b:9092", &missing[0].target).ends_with(
            "--add --allow-principal User:orders-svc-msk --operation Write --topic ord --resource-pattern-type prefixed"
        ));
        assert!(
            add_command("b:9092", &missing[1].target)
                .contains("--deny-principal User:orders-svc-msk --operation Write --topic order_status")
        );
    }

    #[test]
    fn on_an_open_target_the_first_acl_of_a_resource_names_who_loses_access() {
        use AclOperation::*;
        use AclPermission::*;
        use PatternType::*;
        use ResourceType::*;
        let to_create = vec![binding(Topic, "orders", Literal, "User:orders-svc", Write, Allow)];
        let uses = vec![
            ("User:orders-svc".to_string(), Topic, "orders".to_string()),
            ("User:replicator".to_string(), Topic, "orders".to_string()),
            ("User:status-svc".to_string(), Topic, "order_status".to_string()),
        ];
        let closing = closing_resources(&[], &to_create, &uses);
        assert_eq!(closing.len(), 1);
        assert_eq!(closing[0].resource_name, "orders");
        assert_eq!(closing[0].losing, ["User:replicator"]);
        // A topic some binding already governs is closed already: nothing changes for anyone.
        let existing = vec![binding(Topic, "ord", Prefixed, "User:replicator", Read, Allow)];
        assert!(closing_resources(&existing, &to_create, &uses).is_empty());
    }
}
