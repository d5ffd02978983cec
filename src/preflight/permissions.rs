//! The apps' permissions follow them: which of the source's ACLs for the plan's topics, groups
//! and transactional ids the target lacks, after `replication.principal_map`.
//!
//! Pure functions over the bindings both clusters reported. A source binding is in scope when it
//! names one of the plan's topics, groups or transactional ids (LITERAL by name or `*`, PREFIXED by
//! a prefix of one), or is an IdempotentWrite on the cluster; the replicator's own bindings are
//! not (its needs on the target are checked on their own). ALLOW and DENY alike: a DENY that
//! protects a topic on the source must protect it on the target. A binding is present on the
//! target when the target holds exactly the translated binding (same resource, pattern, host,
//! operation and permission): a broader grant the target may hold instead is not guessed at.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use crate::plan::Replication;

/// The names a binding must mention to be in scope.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub topics: Vec<String>,
    pub groups: Vec<String>,
    pub transactional_ids: Vec<String>,
    /// Principals whose bindings are never copied (the replicator's own user).
    pub excluded_principals: BTreeSet<String>,
}

impl Scope {
    fn names(&self, resource_type: ResourceType) -> &[String] {
        match resource_type {
            ResourceType::Topic => &self.topics,
            ResourceType::Group => &self.groups,
            ResourceType::TransactionalId => &self.transactional_ids,
            ResourceType::Cluster | ResourceType::Other => &[],
        }
    }

    /// Whether the source binding `binding` concerns the plan.
    pub fn covers(&self, binding: &AclBinding) -> bool {
        if self.excluded_principals.contains(&binding.principal) || binding.permission == AclPermission::Other {
            return false;
        }
        match binding.resource_type {
            ResourceType::Cluster => binding.operation == AclOperation::IdempotentWrite,
            ResourceType::Other => false,
            kind => self.names(kind).iter().any(|name| match binding.pattern_type {
                PatternType::Literal => binding.resource_name == *name || binding.resource_name == "*",
                PatternType::Prefixed => name.starts_with(&binding.resource_name),
                PatternType::Other => false,
            }),
        }
    }
}

impl Scope {
    /// The bindings in scope. A cluster IdempotentWrite counts only for a principal that has
    /// another binding in scope: the cluster is everyone's, and another app's is not the plan's.
    pub fn select<'a>(&self, bindings: &'a [AclBinding]) -> Vec<&'a AclBinding> {
        let principals: BTreeSet<&str> = bindings
            .iter()
            .filter(|b| b.resource_type != ResourceType::Cluster && self.covers(b))
            .map(|b| b.principal.as_str())
            .collect();
        bindings
            .iter()
            .filter(|b| {
                self.covers(b)
                    && (b.resource_type != ResourceType::Cluster || principals.contains(b.principal.as_str()))
            })
            .collect()
    }
}

/// A source binding the target lacks: the binding as it reads on the source, and as it must be
/// created on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingAcl {
    pub source: AclBinding,
    pub target: AclBinding,
}

/// `binding` with its principal mapped to the target's.
pub fn translate(binding: &AclBinding, replication: &Replication) -> AclBinding {
    AclBinding { principal: replication.target_principal(&binding.principal).to_string(), ..binding.clone() }
}

/// The in-scope source bindings with no equal binding on the target, in the source's order, each
/// once (two source principals mapped to one target principal give one binding to create).
pub fn missing_on_target(
    source: &[AclBinding],
    target: &[AclBinding],
    scope: &Scope,
    replication: &Replication,
) -> Vec<MissingAcl> {
    let mut missing: Vec<MissingAcl> = Vec::new();
    for binding in scope.select(source) {
        let translated = translate(binding, replication);
        if target.contains(&translated) || missing.iter().any(|m| m.target == translated) {
            continue;
        }
        missing.push(MissingAcl { source: binding.clone(), target: translated });
    }
    missing
}

/// The `kafka-acls` command that creates `binding`, in the syntax of the other grant hints.
pub fn add_command(bootstrap: &str, binding: &AclBinding) -> String {
    let who = match binding.permission {
        AclPermission::Deny => "--deny-principal",
        _ => "--allow-principal",
    };
    let host = match (binding.host.as_str(), binding.permission) {
        ("*", _) => String::new(),
        (host, AclPermission::Deny) => format!(" --deny-host {host}"),
        (host, _) => format!(" --allow-host {host}"),
    };
    let resource = match binding.resource_type {
        ResourceType::Topic => format!("--topic {}", super::acl::shell_word(&binding.resource_name)),
        ResourceType::Group => format!("--group {}", super::acl::shell_word(&binding.resource_name)),
        ResourceType::TransactionalId => {
            format!("--transactional-id {}", super::acl::shell_word(&binding.resource_name))
        }
        ResourceType::Cluster => "--cluster".to_string(),
        ResourceType::Other => super::acl::shell_word(&binding.resource_name),
    };
    let pattern = match binding.pattern_type {
        PatternType::Prefixed => " --resource-pattern-type prefixed",
        _ => "",
    };
    format!(
        "kafka-acls --bootstrap-server {bootstrap} --command-config admin.properties --add {who} {}{host} --operation {} {resource}{pattern}",
        super::acl::shell_word(&binding.principal),
        binding.operation
    )
}

/// A resource that has no ACL on the target yet, where the target allows everyone on resources
/// without ACLs (`allow.everyone.if.no.acl.found=true`): the first ALLOW created on it closes it
/// to every principal not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosingResource {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// The plan's identities that use the resource and that no binding (created or present) would
    /// grant: they lose access the moment it is created.
    pub losing: Vec<String>,
}

/// Who uses which resource on the target: `(principal, resource type, name)`.
pub type Use = (String, ResourceType, String);

/// The resources the bindings to create would close, on a target that allows everyone where no
/// ACL exists; `uses` are the plan's identities and the names they use.
pub fn closing_resources(target: &[AclBinding], to_create: &[AclBinding], uses: &[Use]) -> Vec<ClosingResource> {
    let mut closing: Vec<ClosingResource> = Vec::new();
    for binding in to_create.iter().filter(|b| b.resource_type != ResourceType::Cluster) {
        let already = closing.iter().any(|c| {
            c.resource_type == binding.resource_type
                && c.resource_name == binding.resource_name
                && c.pattern_type == binding.pattern_type
        });
        // A resource some target binding already applies to is already closed: nothing changes.
        let governed = target
            .iter()
            .any(|existing| existing.resource_type == binding.resource_type && overlaps(existing, binding));
        if already || governed {
            continue;
        }
        let mut after: Vec<AclBinding> = target.to_vec();
        after.extend(to_create.iter().cloned());
        let mut losing: Vec<String> = uses
            .iter()
            .filter(|(_, kind, name)| *kind == binding.resource_type && name_matches(binding, name))
            .filter(|(principal, kind, name)| {
                !after.iter().any(|b| {
                    b.resource_type == *kind
                        && b.permission == AclPermission::Allow
                        && (b.principal == *principal || b.principal == "User:*")
                        && name_matches(b, name)
                })
            })
            .map(|(principal, _, _)| principal.clone())
            .collect();
        losing.sort();
        losing.dedup();
        closing.push(ClosingResource {
            resource_type: binding.resource_type,
            resource_name: binding.resource_name.clone(),
            pattern_type: binding.pattern_type,
            losing,
        });
    }
    closing
}

fn name_matches(binding: &AclBinding, name: &str) -> bool {
    match binding.pattern_type {
        PatternType::Literal => binding.resource_name == name || binding.resource_name == "*",
        PatternType::Prefixed => name.starts_with(&binding.resource_name),
        PatternType::Other => false,
    }
}

/// Whether two bindings' resource patterns can name one resource in common.
fn overlaps(a: &AclBinding, b: &AclBinding) -> bool {
    use PatternType::*;
    match (a.pattern_type, b.pattern_type) {
        (Literal, _) if a.resource_name == "*" => true,
        (_, Literal) if b.resource_name == "*" => true,
        (Literal, Literal) => a.resource_name == b.resource_name,
        (Literal, Prefixed) => a.resource_name.starts_with(&b.resource_name),
        (Prefixed, Literal) => b.resource_name.starts_with(&a.resource_name),
        (Prefixed, Prefixed) => {
            a.resource_name.starts_with(&b.resource_name) || b.resource_name.starts_with(&a.resource_name)
        }
        _ => false,
    }
}

/// One line per binding: `ALLOW Write on topic orders. (PREFIXED) for User:orders-svc`.
pub fn describe(binding: &AclBinding) -> String {
    let permission = match binding.permission {
        AclPermission::Allow => "ALLOW",
        AclPermission::Deny => "DENY",
        AclPermission::Other => "UNKNOWN",
    };
    let kind = match binding.resource_type {
        ResourceType::Topic => "topic",
        ResourceType::Group => "group",
        ResourceType::TransactionalId => "transactional-id",
        ResourceType::Cluster => "cluster",
        ResourceType::Other => "resource",
    };
    let pattern = match binding.pattern_type {
        PatternType::Prefixed => " (PREFIXED)",
        _ => "",
    };
    let host = if binding.host == "*" { String::new() } else { format!(" from {}", binding.host) };
    format!(
        "{permission} {} on {kind} {}{pattern} for {}{host}",
        binding.operation, binding.resource_name, binding.principal
    )
}
