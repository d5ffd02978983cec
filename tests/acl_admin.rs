//! CreateAcls, DescribeAcls and DeleteAcls (the FFI module `migrate::kafka::admin`) against
//! Apache Kafka's StandardAuthorizer: every resource type, pattern type, operation and permission
//! the evaluation uses is written, read back field by field, and deleted.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use migrate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use migrate::kafka::admin::describe_acls;

fn binding(
    principal: &str,
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
    host: &str,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: host.into(),
        operation,
        permission,
    }
}

fn of(principal: &str, bindings: Vec<AclBinding>) -> BTreeSet<String> {
    bindings.into_iter().filter(|b| b.principal == principal).map(|b| b.to_string()).collect()
}

#[test]
fn every_binding_field_round_trips_through_a_real_authorizer() {
    use AclOperation::*;
    use AclPermission::*;
    use PatternType::*;
    use ResourceType::*;
    let broker = &clusters().source;
    let principal = format!("User:{}", unique("roundtrip"));
    let topic = unique("orders");
    let wanted = vec![
        binding(&principal, Topic, &topic, Literal, Write, Allow, "*"),
        binding(&principal, Topic, &topic[..6], Prefixed, All, Allow, "*"),
        binding(&principal, Topic, &topic, Literal, Read, Deny, "*"),
        binding(&principal, Topic, &topic, Literal, DescribeConfigs, Allow, "10.0.0.7"),
        binding(&principal, Group, "order-", Prefixed, Read, Allow, "*"),
        binding(&principal, Cluster, "kafka-cluster", Literal, IdempotentWrite, Allow, "*"),
        binding(&principal, Cluster, "kafka-cluster", Literal, ClusterAction, Deny, "*"),
        binding(&principal, TransactionalId, "order-status-tx", Literal, Describe, Allow, "*"),
        binding(&principal, Topic, "*", Literal, AlterConfigs, Allow, "*"),
    ];
    broker.create_acls(&wanted);
    let admin = broker.admin();
    let expected: BTreeSet<String> = wanted.iter().map(|b| b.to_string()).collect();
    // The StandardAuthorizer applies new ACLs through the metadata log: poll until they show.
    let described = || of(&principal, describe_acls(admin.inner(), Duration::from_secs(10)).expect("DescribeAcls"));
    assert_eq!(settled(Duration::from_secs(10), &expected, described), expected);

    assert_eq!(broker.delete_acl(&wanted[2]), 1, "the DENY is deleted");
    let mut left = expected.clone();
    left.remove(&wanted[2].to_string());
    assert_eq!(settled(Duration::from_secs(10), &left, described), left, "only that one binding is gone");
}

/// A broker without an authorizer answers DescribeAcls with SECURITY_DISABLED. librdkafka 2.12
/// drops that top-level error (it returns NO_ERROR with an empty list), so it reaches us as "no
/// ACLs at all", which preflight reports as "cannot verify", never as a pass. Should librdkafka
/// start surfacing the error, it arrives as `AdminError::NoAuthorizer`, also "cannot verify".
#[test]
fn a_broker_without_authorizer_gives_no_acls_or_says_so() {
    use migrate::kafka::admin::AdminError;
    use migrate::preflight::acl::{AclReport, check, replicator_requirements};
    let open = start_broker(BrokerOptions { no_authorizer: true, ..Default::default() });
    let admin = open.admin();
    match describe_acls(admin.inner(), Duration::from_secs(10)) {
        Ok(bindings) => {
            assert!(bindings.is_empty(), "{bindings:?}");
            assert_eq!(
                check(&bindings, "User:replicator", &replicator_requirements(&["orders".into()], &[])),
                AclReport::CannotVerify
            );
        }
        Err(AdminError::NoAuthorizer(message)) => assert!(message.contains("No Authorizer"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
    }
}
