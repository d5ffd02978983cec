//! ACL evaluation: does a principal hold the permissions the replicator needs?
//!
//! A pure function over the bindings DescribeAcls returned, following Kafka's `AclAuthorizer`
//! semantics: a binding applies to the principal itself or `User:*`; a LITERAL pattern matches its
//! name or the wildcard `*`, a PREFIXED pattern every name starting with it; `All` grants every
//! operation; an ALLOW of Read, Write, Delete or Alter implies Describe, an ALLOW of AlterConfigs
//! implies DescribeConfigs; any matching DENY overrides every ALLOW. Bindings limited to one host
//! do not count as grants (the replicator's address is not known here), but DENYs on any host
//! count: preflight errs towards "missing", never towards a false pass.

use crate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use crate::plan::Side;

/// One permission a principal needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub operation: AclOperation,
}

/// The name Kafka gives the one cluster resource.
pub const CLUSTER_RESOURCE: &str = "kafka-cluster";

/// The source-side ACLs MSK Replicator's user needs (the reference's exact list).
pub fn replicator_requirements(topics: &[String], groups: &[String]) -> Vec<Requirement> {
    use AclOperation::*;
    requirements(
        topics,
        &[Alter, AlterConfigs, Create, Describe, DescribeConfigs, Read, Write],
        groups,
        &[Read, Describe],
        &[Create, ClusterAction, Describe, DescribeConfigs],
    )
}

/// The consumer groups the embedded engine's own clients name on `side` (none is ever joined,
/// but librdkafka looks each one's coordinator up, which needs Describe on it): the offset reader,
/// `verify`'s reader, each origin consumer and each destination's resume reader.
pub fn embedded_internal_groups(side: Side, bidirectional: bool) -> Vec<String> {
    let mut groups = vec!["migrate-offset-reader".to_string(), "migrate-verify".to_string()];
    // The flow leaving this side and the one arriving on it.
    let (leaving, arriving) = match side {
        Side::Source => ("source->target", "target->source"),
        Side::Target => ("target->source", "source->target"),
    };
    if side == Side::Source || bidirectional {
        groups.push(format!("migrate-engine-{leaving}"));
    }
    if side == Side::Target || bidirectional {
        groups.push(format!("migrate-engine-{arriving}-resume"));
    }
    groups
}

/// What the embedded engine's replicator does on one cluster, request by request (README,
/// "ACLs"), and so the ACLs it needs there. The target is always a destination; the source is one
/// too when replication is bidirectional.
///
/// Everywhere: Fetch of the origin, of the destination's tail at resume and of both for offset
/// translation and `verify` (Read on the topics, which implies the Describe of Metadata,
/// ListOffsets and OffsetFetch); the groups' committed offsets and the translated commits written
/// on the side an app is not on (OffsetFetch and OffsetCommit: Read on the group); the
/// coordinator lookups of its own clients' group names (Describe, [`embedded_internal_groups`]);
/// DescribeAcls for preflight and ListGroups, which hides groups otherwise (Describe on the
/// cluster); the topics' configs (DescribeConfigs: on the source those of the topics it creates,
/// on both sides preflight's comparison of `max.message.bytes`). As a destination: Produce
/// (Write; the idempotent producer's InitProducerId is authorized by Write on a topic since Kafka
/// 2.8, KIP-679, so no IdempotentWrite). Topics are created on the target only (Create there),
/// never on the cluster being left.
pub fn embedded_replicator_requirements(
    topics: &[String],
    groups: &[String],
    side: Side,
    bidirectional: bool,
) -> Vec<Requirement> {
    use AclOperation::*;
    let destination = side == Side::Target || bidirectional;
    // DescribeConfigs: on the source, the configs of the topics it creates on the target;
    // on both, preflight's comparison of `max.message.bytes`.
    let mut topic_operations = vec![Read, DescribeConfigs];
    if destination {
        topic_operations.push(Write);
    }
    if side == Side::Target {
        topic_operations.push(Create);
    }
    let mut needed = requirements(topics, &topic_operations, groups, &[Read], &[Describe]);
    needed.extend(requirements(&[], &[], &embedded_internal_groups(side, bidirectional), &[Describe], &[]));
    needed
}

/// What one app's own identity needs on the cluster it runs on: Write on what it produces, Read on
/// what it consumes and on its groups (Read implies Describe; the idempotent producer's
/// InitProducerId is authorized by Write on a topic since Kafka 3.0, KIP-679), and Write on each of
/// its `transactional.id`s (InitProducerId, AddPartitionsToTxn, EndTxn; Write implies Describe).
pub fn app_requirements(
    produces: &[String],
    consumes: &[String],
    groups: &[String],
    transactional_ids: &[String],
) -> Vec<Requirement> {
    use AclOperation::*;
    let mut needed = requirements(produces, &[Write], groups, &[Read], &[]);
    needed.extend(requirements(consumes, &[Read], &[], &[], &[]));
    needed.extend(transactional_ids.iter().map(|id| Requirement {
        resource_type: ResourceType::TransactionalId,
        resource_name: id.clone(),
        operation: Write,
    }));
    needed.sort();
    needed.dedup();
    needed
}

fn requirements(
    topics: &[String],
    topic_operations: &[AclOperation],
    groups: &[String],
    group_operations: &[AclOperation],
    cluster_operations: &[AclOperation],
) -> Vec<Requirement> {
    let mut needed = Vec::new();
    for (resource_type, names, operations) in
        [(ResourceType::Topic, topics, topic_operations), (ResourceType::Group, groups, group_operations)]
    {
        for name in names {
            for operation in operations {
                needed.push(Requirement { resource_type, resource_name: name.clone(), operation: *operation });
            }
        }
    }
    for operation in cluster_operations {
        needed.push(Requirement {
            resource_type: ResourceType::Cluster,
            resource_name: CLUSTER_RESOURCE.into(),
            operation: *operation,
        });
    }
    needed
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Missing,
    Denied(AclBinding),
}

/// How a principal fares against one requirement.
pub fn evaluate(bindings: &[AclBinding], principal: &str, requirement: &Requirement) -> Verdict {
    let applicable = bindings.iter().filter(|binding| {
        binding.resource_type == requirement.resource_type
            && (binding.principal == principal || binding.principal == "User:*")
            && resource_matches(binding, &requirement.resource_name)
    });
    let mut allowed = false;
    for binding in applicable {
        match binding.permission {
            AclPermission::Deny if binding.operation.denies(requirement.operation) => {
                return Verdict::Denied(binding.clone());
            }
            AclPermission::Allow if binding.host == "*" && binding.operation.allows(requirement.operation) => {
                allowed = true
            }
            _ => {}
        }
    }
    if allowed { Verdict::Allowed } else { Verdict::Missing }
}

/// Whether any binding, for any principal, applies to the requirement's resource (on a cluster
/// with `allow.everyone.if.no.acl.found=true`, a resource no binding applies to is open to all).
pub fn governed(bindings: &[AclBinding], requirement: &Requirement) -> bool {
    bindings
        .iter()
        .any(|b| b.resource_type == requirement.resource_type && resource_matches(b, &requirement.resource_name))
}

fn resource_matches(binding: &AclBinding, name: &str) -> bool {
    match binding.pattern_type {
        PatternType::Literal => binding.resource_name == name || binding.resource_name == "*",
        PatternType::Prefixed => name.starts_with(&binding.resource_name),
        PatternType::Other => false,
    }
}

/// The outcome of checking one principal's ACLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclReport {
    /// The cluster reports no ACLs for anyone: it may have no authorizer, or allow everyone.
    CannotVerify,
    AllGranted {
        checked: usize,
    },
    Lacking {
        missing: Vec<Requirement>,
        denied: Vec<(Requirement, AclBinding)>,
    },
}

pub fn check(bindings: &[AclBinding], principal: &str, requirements: &[Requirement]) -> AclReport {
    if bindings.is_empty() {
        return AclReport::CannotVerify;
    }
    let mut missing = Vec::new();
    let mut denied = Vec::new();
    for requirement in requirements {
        match evaluate(bindings, principal, requirement) {
            Verdict::Allowed => {}
            Verdict::Missing => missing.push(requirement.clone()),
            Verdict::Denied(binding) => denied.push((requirement.clone(), binding)),
        }
    }
    if missing.is_empty() && denied.is_empty() {
        AclReport::AllGranted { checked: requirements.len() }
    } else {
        AclReport::Lacking { missing, denied }
    }
}

/// The `kafka-acls` commands that would grant `missing`, one per resource.
pub fn grant_commands(bootstrap: &str, principal: &str, missing: &[Requirement]) -> Vec<String> {
    let mut by_resource: Vec<(ResourceType, String, Vec<AclOperation>)> = Vec::new();
    for requirement in missing {
        match by_resource
            .iter_mut()
            .find(|(t, n, _)| *t == requirement.resource_type && *n == requirement.resource_name)
        {
            Some((_, _, operations)) => operations.push(requirement.operation),
            None => by_resource.push((
                requirement.resource_type,
                requirement.resource_name.clone(),
                vec![requirement.operation],
            )),
        }
    }
    by_resource
        .into_iter()
        .map(|(resource_type, name, operations)| {
            let quoted = shell_word(&name);
            let resource = match resource_type {
                ResourceType::Topic => format!("--topic {quoted}"),
                ResourceType::Group => format!("--group {quoted}"),
                ResourceType::Cluster => "--cluster".to_string(),
                ResourceType::TransactionalId => format!("--transactional-id {quoted}"),
                ResourceType::Other => quoted,
            };
            let operations: String = operations.iter().map(|op| format!(" --operation {op}")).collect();
            format!(
                "kafka-acls --bootstrap-server {bootstrap} --command-config admin.properties --add --allow-principal {principal}{operations} {resource}"
            )
        })
        .collect()
}

/// `word` as one shell word: unchanged when it is plain, else in single quotes (a name such as
/// `migrate-engine-source->target-resume` would otherwise redirect the command's output).
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@' | '+' | ','));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

/// A short human summary of what is missing, naming each permission.
pub fn describe_missing(missing: &[Requirement], denied: &[(Requirement, AclBinding)]) -> String {
    let mut parts: Vec<String> =
        missing.iter().map(|r| format!("{} on {:?} {}", r.operation, r.resource_type, r.resource_name)).collect();
    parts.extend(
        denied
            .iter()
            .map(|(r, b)| format!("{} on {:?} {} (denied by: {b})", r.operation, r.resource_type, r.resource_name)),
    );
    format!("missing {}: {}", parts.len(), parts.join("; "))
}
