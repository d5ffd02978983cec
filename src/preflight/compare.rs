//! Phase two of preflight: the plan against both clusters' facts. Pure: no I/O.

use std::collections::BTreeSet;

use crate::kafka::acl::{AclBinding, AclOperation, ResourceType};

use super::acl::{self, AclReport, Requirement};
use super::cluster::ClusterFacts;
use super::permissions::{self, ClosingResource, MissingAcl, Scope, Use};
use super::{Action, Check};
use crate::kafka::admin::AdminError;
use crate::plan::{AclMode, Auth, Backend, Plan, Selector, Side, StartingPosition};

pub fn compare(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts) -> Vec<Check> {
    let mut checks = Vec::new();
    if let (Some(source_id), Some(target_id)) = (&source.cluster_id, &target.cluster_id) {
        checks.push(if source_id == target_id {
            Check::fail(
                "distinct-clusters",
                "plan",
                format!("source and target are the same cluster `{source_id}`"),
                "point `target.bootstrap_servers` at the MSK (or other target) cluster",
            )
        } else {
            Check::pass("distinct-clusters", "plan", format!("source {source_id} ≠ target {target_id}"))
        });
    }
    if !source.readable {
        return checks;
    }
    let topics = planned_topics(plan, source);
    checks.extend(topic_checks(plan, source, target, &topics));
    let groups = planned_groups(plan, source);
    checks.extend(group_checks(source, target, &groups));
    // MSK Replicator's source-side list is AWS's; the embedded engine's is what it does.
    let source_requirements = match plan.backend {
        Backend::Msk(_) => acl::replicator_requirements(&topics, &groups),
        Backend::Embedded => {
            acl::embedded_replicator_requirements(&topics, &groups, Side::Source, plan.replication.bidirectional)
        }
    };
    checks.push(acl_check("replicator-acls", source, &source_requirements, "the replicator user"));
    // Under `sync`, the apps' identities on the target are judged with the ACLs apply creates.
    let synced: Vec<AclBinding> = match plan.replication.acls {
        AclMode::Sync => permission_diff(plan, source, target)
            .ok()
            .flatten()
            .map(|diff| diff.missing.into_iter().map(|missing| missing.target).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    if matches!(plan.backend, Backend::Embedded) && target.readable {
        checks.push(acl_check(
            "target-writer-acls",
            target,
            &acl::embedded_replicator_requirements(&topics, &groups, Side::Target, plan.replication.bidirectional),
            "the identity that writes to the target",
        ));
    }
    checks.extend(app_acl_checks(plan, Side::Source, source, &[]));
    if target.readable {
        checks.extend(app_acl_checks(plan, Side::Target, target, &synced));
        checks.extend(permission_checks(plan, source, target));
    }
    checks
}

/// The source's ACLs for the plan compared with the target's: what `sync` creates, or what
/// `check` fails on.
#[derive(Debug, Clone, Default)]
pub struct PermissionDiff {
    /// Every in-scope source binding (principal as on the source).
    pub in_scope: Vec<AclBinding>,
    pub missing: Vec<MissingAcl>,
    /// Resources the missing ALLOWs would close on a target open to everyone (empty otherwise).
    pub closing: Vec<ClosingResource>,
    /// Why it is not known whether the target is open to everyone, when ALLOWs are to be created
    /// (`apply` under `sync` then wants --yes, as for a target known to be open).
    pub openness_unknown: Option<String>,
}

/// `Ok(None)` when there is nothing to compare (`acls: off`, or an authorizer is absent on a
/// side); `Err` when the ACLs could not be read.
pub fn permission_diff(
    plan: &Plan,
    source: &ClusterFacts,
    target: &ClusterFacts,
) -> Result<Option<PermissionDiff>, String> {
    if plan.replication.acls == AclMode::Off || !source.readable || !target.readable {
        return Ok(None);
    }
    // Apps that reach the target over MSK IAM get their rights from IAM policies, not from the
    // target's ACLs (`render` writes their policies): nothing to compare or to create.
    if plan.target.app_auth == Auth::MskIam {
        return Ok(None);
    }
    let source_acls = match &source.acls {
        Some(Ok(bindings)) => bindings,
        Some(Err(AdminError::NoAuthorizer(_))) => return Ok(None),
        Some(Err(error)) => return Err(format!("the source's ACLs: {error}")),
        None => return Err("the source's ACLs were not read".into()),
    };
    let target_acls = match &target.acls {
        Some(Ok(bindings)) => bindings,
        Some(Err(AdminError::NoAuthorizer(_))) => return Ok(None),
        Some(Err(error)) => return Err(format!("the target's ACLs: {error}")),
        None => return Err("the target's ACLs were not read".into()),
    };
    let scope = permission_scope(plan, source);
    let in_scope: Vec<AclBinding> = scope.select(source_acls).into_iter().cloned().collect();
    let missing = permissions::missing_on_target(source_acls, target_acls, &scope, &plan.replication);
    let creates_allows = missing.iter().any(|m| m.target.permission == crate::kafka::acl::AclPermission::Allow);
    let openness_unknown = match &target.open_to_everyone {
        Some(Ok(_)) => None,
        Some(Err(error)) => creates_allows.then(|| error.clone()),
        None => creates_allows.then(|| "not read".to_string()),
    };
    let closing = match &target.open_to_everyone {
        Some(Ok(true)) => {
            let to_create: Vec<AclBinding> = missing
                .iter()
                .filter(|m| m.target.permission == crate::kafka::acl::AclPermission::Allow)
                .map(|m| m.target.clone())
                .collect();
            permissions::closing_resources(target_acls, &to_create, &target_uses(plan, source, target))
        }
        _ => Vec::new(),
    };
    Ok(Some(PermissionDiff { in_scope, missing, closing, openness_unknown }))
}

/// The plan's topics (replicated and the apps'), groups and transactional ids; the replicator's
/// own bindings are left out.
fn permission_scope(plan: &Plan, source: &ClusterFacts) -> Scope {
    let mut topics = planned_topics(plan, source);
    for app in &plan.apps {
        topics.extend(app.produces.iter().cloned());
        topics.extend(app.consumes.iter().flat_map(|c| c.topics.iter().cloned()));
    }
    topics.sort();
    topics.dedup();
    let mut transactional_ids: Vec<String> =
        plan.apps.iter().flat_map(|app| app.transactional_ids.iter().cloned()).collect();
    transactional_ids.sort();
    transactional_ids.dedup();
    Scope {
        topics,
        groups: planned_groups(plan, source),
        transactional_ids,
        excluded_principals: source.replicator_principal.iter().cloned().collect(),
    }
}

/// Who uses what on the target: each app's identity and the replicator's.
fn target_uses(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts) -> Vec<Use> {
    let mut uses = Vec::new();
    for app in &plan.apps {
        let Auth::Scram(scram) = app.auth_on(&plan.target) else { continue };
        let principal = format!("User:{}", scram.username);
        let consumed = app.consumes.iter().flat_map(|c| c.topics.iter());
        for topic in app.produces.iter().chain(consumed) {
            uses.push((principal.clone(), ResourceType::Topic, topic.clone()));
        }
        for consume in &app.consumes {
            uses.push((principal.clone(), ResourceType::Group, consume.group.clone()));
        }
        for id in &app.transactional_ids {
            uses.push((principal.clone(), ResourceType::TransactionalId, id.clone()));
        }
    }
    if let Some(replicator) = &target.replicator_principal {
        for topic in planned_topics(plan, source) {
            uses.push((replicator.clone(), ResourceType::Topic, topic));
        }
        for group in planned_groups(plan, source) {
            uses.push((replicator.clone(), ResourceType::Group, group));
        }
    }
    uses
}

/// `source-acls`, `scram-users`, `open-target` and, under `sync`, `acl-admin`.
fn permission_checks(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts) -> Vec<Check> {
    let mut checks = Vec::new();
    let mode = plan.replication.acls;
    if mode == AclMode::Off {
        return checks;
    }
    let diff = match permission_diff(plan, source, target) {
        Ok(Some(diff)) => diff,
        Ok(None) => {
            checks.push(Check::pass(
                "source-acls",
                "target",
                "a cluster has no authorizer: there are no ACLs to compare or copy",
            ));
            return checks;
        }
        Err(cause) => {
            checks.push(Check::warn(
                "source-acls",
                "target",
                format!("cannot compare the apps' ACLs: {cause}"),
                "the replicator users read the ACLs: they need Describe on each cluster",
            ));
            return checks;
        }
    };
    // The grant commands run as the admin (`--command-config admin.properties`): on its listener.
    let bootstrap = &admin_bootstrap(plan, target);
    if diff.missing.is_empty() {
        checks.push(Check::pass(
            "source-acls",
            "target",
            format!(
                "{} source ACL(s) of the plan's topics, groups and transactional ids, each present on the target",
                diff.in_scope.len()
            ),
        ));
    } else {
        let listed: Vec<String> = diff.missing.iter().map(describe_missing_acl).collect();
        let commands: Vec<String> =
            diff.missing.iter().map(|m| permissions::add_command(bootstrap, &m.target)).collect();
        match mode {
            AclMode::Sync => checks.push(Check::pass(
                "source-acls",
                "target",
                format!(
                    "{} of {} source ACL(s) missing on the target; apply creates them (`replication.acls: sync`): {}",
                    diff.missing.len(),
                    diff.in_scope.len(),
                    listed.join("; ")
                ),
            )),
            _ => checks.push(Check::fail(
                "source-acls",
                "target",
                format!(
                    "{} of {} source ACL(s) of the plan's apps are missing on the target: {}",
                    diff.missing.len(),
                    diff.in_scope.len(),
                    listed.join("; ")
                ),
                format!(
                    "grant them (or set `replication.acls: sync` and `target.admin_auth`, and apply creates them):\n{}",
                    commands.join("\n")
                ),
            )),
        }
    }
    if let Some(check) = scram_users_check(plan, &diff, target) {
        checks.push(check);
    }
    if !diff.closing.is_empty() {
        let resources: Vec<String> = diff
            .closing
            .iter()
            .map(|c| {
                let pattern =
                    if c.pattern_type == crate::kafka::acl::PatternType::Prefixed { " (PREFIXED)" } else { "" };
                let losing = if c.losing.is_empty() {
                    "every client not granted".to_string()
                } else {
                    format!("{} and every other client not granted", c.losing.join(", "))
                };
                format!("{:?} {}{pattern}: {losing} would lose access", c.resource_type, c.resource_name)
            })
            .collect();
        checks.push(Check::warn(
            "open-target",
            "target",
            format!(
                "the target allows everyone on resources without ACLs (allow.everyone.if.no.acl.found=true): the first ACL on a resource closes it to everyone else: {}",
                resources.join("; ")
            ),
            "grant the identities named their ACLs first (or in the same change); `apply` under `sync` creates these only with --yes",
        ));
    }
    if mode == AclMode::Sync
        && let Some(why) = &diff.openness_unknown
    {
        checks.push(Check::warn(
            "open-target",
            "target",
            format!("cannot tell whether the target allows everyone on resources without ACLs ({why})"),
            "if it does, the first ACL on a resource closes it to every client not granted: check allow.everyone.if.no.acl.found; `apply` creates the synced ACLs only with --yes",
        ));
    }
    if mode == AclMode::Sync {
        checks.push(admin_check(target, plan));
    }
    checks
}

fn describe_missing_acl(missing: &MissingAcl) -> String {
    if missing.source.principal == missing.target.principal {
        permissions::describe(&missing.target)
    } else {
        format!("{} (on the source for {})", permissions::describe(&missing.target), missing.source.principal)
    }
}

/// Principals with ACLs on the source for the plan but no SCRAM credential on the target.
fn scram_users_check(plan: &Plan, diff: &PermissionDiff, target: &ClusterFacts) -> Option<Check> {
    let scram_target =
        matches!(plan.target.app_auth, Auth::Scram(_)) || matches!(plan.target.replicator_auth, Auth::Scram(_));
    if !scram_target {
        return None;
    }
    // A principal the source only denies needs no credential on the target.
    let principals: BTreeSet<String> = diff
        .in_scope
        .iter()
        .filter(|b| b.permission == crate::kafka::acl::AclPermission::Allow)
        .map(|b| plan.replication.target_principal(&b.principal).to_string())
        .filter(|p| p.starts_with("User:") && p != "User:*")
        .collect();
    if principals.is_empty() {
        return None;
    }
    let users = match &target.scram_users {
        Some(Ok(users)) => users,
        Some(Err(error)) => {
            return Some(Check::warn(
                "scram-users",
                "target",
                format!("cannot list the target's SCRAM users: {error}"),
                "the replicator user lists them: it needs Describe on the target cluster",
            ));
        }
        None => return None,
    };
    let lacking: Vec<&String> =
        principals.iter().filter(|p| p.strip_prefix("User:").is_some_and(|name| !users.contains(name))).collect();
    if lacking.is_empty() {
        return Some(Check::pass(
            "scram-users",
            "target",
            format!("each of the {} principal(s) with ACLs for the plan has a SCRAM credential", principals.len()),
        ));
    }
    let mut commands: Vec<String> = lacking
        .iter()
        .map(|p| {
            format!(
                "kafka-configs --bootstrap-server {} --command-config admin.properties --alter --entity-type users --entity-name {} --add-config 'SCRAM-SHA-512=[password=...]'",
                admin_bootstrap(plan, target),
                acl::shell_word(p.trim_start_matches("User:"))
            )
        })
        .collect();
    if plan.msk().is_some() {
        commands.push(
            "on MSK: a Secrets Manager secret `AmazonMSK_<name>` per user, associated with the cluster (aws kafka batch-associate-scram-secret)".into(),
        );
    }
    Some(Check::warn(
        "scram-users",
        "target",
        format!(
            "{} principal(s) with ACLs on the source have no SCRAM credential on the target: {}",
            lacking.len(),
            lacking.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "passwords cannot be copied (Kafka keeps only salted hashes): create each user on the target with the password its app uses:\n{}",
            commands.join("\n")
        ),
    ))
}

/// The servers an admin's `kafka-acls` command goes to: the SCRAM listener
/// ([`crate::kafka::admin_endpoint`]), else the replicator's.
fn admin_bootstrap(plan: &Plan, target: &ClusterFacts) -> String {
    crate::kafka::admin_endpoint(&plan.target)
        .map(|(servers, _)| servers.join(","))
        .unwrap_or_else(|| target.bootstrap.clone())
}

/// `target.admin_auth` logged in and may Alter the cluster (CreateAcls, DeleteAcls).
fn admin_check(target: &ClusterFacts, plan: &Plan) -> Check {
    let who = plan.target.admin_auth.as_ref().map(Auth::describe).unwrap_or_else(|| "no admin_auth".into());
    match &target.admin_operations {
        Some(Ok(operations)) if operations.iter().any(|op| matches!(op, AclOperation::Alter | AclOperation::All)) => {
            Check::pass("acl-admin", "target", format!("{who} may Alter the cluster (create and delete ACLs)"))
        }
        Some(Ok(operations)) => {
            let user = match &plan.target.admin_auth {
                Some(Auth::Scram(scram)) => format!("User:{}", scram.username),
                _ => "User:ADMIN".into(),
            };
            Check::fail(
                "acl-admin",
                "target",
                format!(
                    "{who} may not Alter the cluster, so it cannot create ACLs (its operations there: {})",
                    operations.iter().map(|op| op.as_str()).collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "grant it, or name another identity in `target.admin_auth`:\nkafka-acls --bootstrap-server {} --command-config admin.properties --add --allow-principal {user} --operation Alter --cluster",
                    admin_bootstrap(plan, target)
                ),
            )
        }
        Some(Err(cause)) => Check::fail(
            "acl-admin",
            "target",
            format!("target.admin_auth: {cause}"),
            "check `target.admin_auth`: it creates the synced ACLs",
        ),
        None => Check::fail(
            "acl-admin",
            "target",
            "the admin identity was not checked",
            "set `target.admin_auth` for `replication.acls: sync`",
        ),
    }
}

/// The source topics the plan replicates: exact names (present or not) and pattern matches.
fn planned_topics(plan: &Plan, source: &ClusterFacts) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for selector in &plan.replication.topics {
        match selector {
            Selector::Name(name) => topics.push(name.clone()),
            Selector::Regex(_) => topics.extend(source.topics.keys().filter(|t| selector.matches(t)).cloned()),
        }
    }
    topics.sort();
    topics.dedup();
    topics
}

/// The groups the plan syncs: exact names, apps' groups, and pattern matches on the source.
fn planned_groups(plan: &Plan, source: &ClusterFacts) -> Vec<String> {
    let mut groups: Vec<String> =
        plan.apps.iter().flat_map(|app| app.consumes.iter().map(|c| c.group.clone())).collect();
    for selector in &plan.replication.groups {
        match selector {
            Selector::Name(name) => groups.push(name.clone()),
            Selector::Regex(_) => {
                if let Some(Ok(found)) = &source.groups {
                    groups.extend(found.keys().filter(|g| selector.matches(g)).cloned());
                }
            }
        }
    }
    groups.sort();
    groups.dedup();
    groups
}

fn topic_checks(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts, topics: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    // With both directions, a topic apps already write on the target is created on the source.
    let target_only: Vec<&String> = topics
        .iter()
        .filter(|t| plan.replication.bidirectional && !source.topics.contains_key(*t) && target.topics.contains_key(*t))
        .collect();
    if !target_only.is_empty() {
        checks.push(Check::pass(
            "topics",
            "target",
            format!("on the target only, apply creates on the source: {}", preview(target_only.iter().copied())),
        ));
    }
    let missing: Vec<&String> =
        topics.iter().filter(|t| !source.topics.contains_key(*t) && !target_only.contains(t)).collect();
    for topic in &missing {
        checks.push(Check::fail(
            "topics",
            "source",
            format!("topic `{topic}` does not exist on the source, or the replicator may not see it"),
            format!(
                "create it on the source, grant the replicator Read on it (Kafka hides the topics a principal may not describe), or remove it from `replication.topics` (visible: {})",
                preview(source.topics.keys())
            ),
        ));
    }
    for selector in plan.replication.topics.iter().filter(|s| matches!(s, Selector::Regex(_))) {
        if !source.topics.keys().any(|t| selector.matches(t)) {
            checks.push(Check::warn(
                "topics",
                "source",
                format!("pattern {selector} matches no topic on the source yet"),
                "topics created later are picked up while replication runs; check the pattern if that is not expected",
            ));
        }
    }
    let present: Vec<&String> = topics.iter().filter(|t| source.topics.contains_key(*t)).collect();
    if missing.is_empty() && !present.is_empty() {
        let partitions: usize = present.iter().map(|t| source.topics[*t]).sum();
        checks.push(Check::pass(
            "topics",
            "source",
            format!(
                "{} topic(s) to replicate, {partitions} partition(s): {}",
                present.len(),
                preview(present.iter().copied())
            ),
        ));
    }
    if !target.readable {
        return checks;
    }

    let mut to_create = Vec::new();
    let mut matching = Vec::new();
    for topic in &present {
        let source_partitions = source.topics[*topic];
        match target.topics.get(*topic) {
            None => to_create.push(format!("{topic} ({source_partitions})")),
            Some(&target_partitions) if target_partitions == source_partitions => matching.push(topic.to_string()),
            Some(&target_partitions) => checks.push(Check::fail(
                "topic-partitions",
                "target",
                format!("`{topic}` has {target_partitions} partition(s) on the target, {source_partitions} on the source"),
                "records keep their partition number: delete the target topic (if it holds nothing) or align partition counts before applying",
            )),
        }
    }
    if checks.iter().all(|c| c.name != "topic-partitions") && !present.is_empty() {
        let mut parts = Vec::new();
        if !matching.is_empty() {
            parts.push(format!("same partition count: {}", preview(matching.iter())));
        }
        if !to_create.is_empty() {
            parts.push(format!("absent, apply creates: {}", preview(to_create.iter())));
        }
        checks.push(Check::pass("topic-partitions", "target", parts.join("; ")));
    }

    let comparable: Vec<&String> = present.iter().copied().filter(|t| target.topics.contains_key(*t)).collect();
    if comparable.is_empty() {
        return checks;
    }
    for (facts, side) in [(source, "source"), (target, "target")] {
        if let Some(error) = &facts.config_error {
            checks.push(Check::warn(
                "max-message-bytes",
                side,
                format!("cannot read topic configs: {error}"),
                "the replicator needs DescribeConfigs on the topics; compare max.message.bytes by hand",
            ));
            return checks;
        }
    }
    let mut smaller = false;
    let mut unreported = Vec::new();
    for topic in &comparable {
        let (Some(source_size), Some(target_size)) =
            (source.max_message_bytes.get(*topic), target.max_message_bytes.get(*topic))
        else {
            unreported.push(topic.to_string());
            continue;
        };
        if target_size < source_size {
            smaller = true;
            checks.push(Check::fail(
                "max-message-bytes",
                "target",
                format!("`{topic}`: max.message.bytes is {target_size} on the target, {source_size} on the source"),
                format!("records up to {source_size} bytes would be rejected: kafka-configs --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes={source_size}"),
            ));
        }
    }
    if !unreported.is_empty() {
        // Kafka reports every config, defaults included; some compatible brokers report only the
        // ones set explicitly. Unknown is not equal: say so.
        checks.push(Check::warn(
            "max-message-bytes",
            "target",
            format!("max.message.bytes not reported on both clusters for: {}", preview(unreported.iter())),
            "the broker omits configs left at their default; compare the brokers' message.max.bytes by hand",
        ));
    } else if !smaller {
        checks.push(Check::pass(
            "max-message-bytes",
            "target",
            format!("target ≥ source for {} existing topic(s)", comparable.len()),
        ));
    }
    checks
}

fn group_checks(source: &ClusterFacts, target: &ClusterFacts, groups: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    if groups.is_empty() {
        return checks;
    }
    match &source.groups {
        Some(Ok(found)) => {
            let mut states = Vec::new();
            for group in groups {
                match found.get(group).map(String::as_str) {
                    None | Some("Dead") => checks.push(Check::warn(
                        "groups",
                        "source",
                        format!("group `{group}` does not exist on the source, or the replicator may not see it"),
                        "it has no committed offsets to sync yet (start its app once), the group id in the plan is wrong, or the replicator lacks Describe on the cluster or Read on the group (Kafka lists only the groups a principal may describe)",
                    )),
                    Some(state) => states.push(format!("{group} {state}")),
                }
            }
            if !states.is_empty() {
                checks.push(Check::pass("groups", "source", states.join(", ")));
            }
        }
        Some(Err(error)) => checks.push(Check::warn(
            "groups",
            "source",
            format!("cannot list groups: {error}"),
            "the replicator needs Describe on the groups",
        )),
        None => {}
    }
    if let Some(Ok(found)) = &target.groups {
        let active: Vec<String> = groups
            .iter()
            .filter_map(|g| {
                found
                    .get(g)
                    .filter(|state| !matches!(state.as_str(), "Empty" | "Dead"))
                    .map(|state| format!("{g} ({state})"))
            })
            .collect();
        if !active.is_empty() {
            checks.push(Check::warn(
                "groups",
                "target",
                format!("already active on the target: {}", active.join(", ")),
                "an app consuming on both clusters at once processes records twice: stop it on one side",
            ));
        }
    }
    checks
}

fn acl_check(name: &str, facts: &ClusterFacts, requirements: &[Requirement], who: &str) -> Check {
    let Some(principal) = &facts.replicator_principal else {
        return Check::warn(
            name,
            facts.side.as_str(),
            format!("{who} has no SCRAM user (AWS_MSK_IAM or none): its ACLs cannot be checked"),
            "over AWS_MSK_IAM the identity's rights are IAM policies (kafka-cluster:* actions), which preflight does not read: grant the operations of README's ACL table as those actions",
        );
    };
    principal_acl_check(name, facts, principal, requirements, who, &[])
}

/// Each app's own identity on each cluster against what the app does there (produces, consumes,
/// commits for its groups): an app that moves must find its permissions on the other side.
fn app_acl_checks(plan: &Plan, side: Side, facts: &ClusterFacts, synced: &[AclBinding]) -> Vec<Check> {
    let cluster = plan.cluster(side);
    plan.apps
        .iter()
        .filter_map(|app| {
            let Auth::Scram(scram) = app.auth_on(cluster) else { return None };
            let consumed: Vec<String> = app.consumes.iter().flat_map(|c| c.topics.iter().cloned()).collect();
            let groups: Vec<String> = app.consumes.iter().map(|c| c.group.clone()).collect();
            let requirements = acl::app_requirements(&app.produces, &consumed, &groups, &app.transactional_ids);
            let principal = format!("User:{}", scram.username);
            Some(principal_acl_check(
                "app-acls",
                facts,
                &principal,
                &requirements,
                &format!("app `{}`", app.name),
                synced,
            ))
        })
        .collect()
}

fn principal_acl_check(
    name: &str,
    facts: &ClusterFacts,
    principal: &str,
    requirements: &[Requirement],
    who: &str,
    synced: &[AclBinding],
) -> Check {
    let side = facts.side.as_str();
    let with_synced: Vec<AclBinding>;
    let bindings = match &facts.acls {
        Some(Ok(bindings)) if synced.is_empty() => bindings,
        Some(Ok(bindings)) => {
            with_synced = bindings.iter().chain(synced).cloned().collect();
            &with_synced
        }
        Some(Err(AdminError::NoAuthorizer(message))) => {
            return Check::warn(
                name,
                side,
                format!("cannot verify: the cluster has no authorizer ({message})"),
                cannot_verify_hint(requirements.len()),
            );
        }
        // Kafka refuses DescribeAcls without Describe on the cluster, which the list demands too:
        // that one is known to be missing; the rest cannot be read until it is granted.
        Some(Err(denied @ AdminError::ClusterDescribeDenied { .. }))
            if requirements.iter().any(is_cluster_describe) =>
        {
            let missing: Vec<Requirement> = requirements.iter().filter(|r| is_cluster_describe(r)).cloned().collect();
            let commands = acl::grant_commands(&facts.bootstrap, principal, &missing);
            return Check::fail(
                name,
                side,
                format!("{who}: {principal} {} (DescribeAcls: {denied})", acl::describe_missing(&missing, &[])),
                format!("grant it, then run `migrate plan` again to check the others:\n{}", commands.join("\n")),
            );
        }
        Some(Err(error)) => {
            return Check::warn(
                name,
                side,
                format!("cannot verify: {error}"),
                format!(
                    "the replicator user, who reads the ACLs, needs Describe on the cluster; {}",
                    cannot_verify_hint(requirements.len())
                ),
            );
        }
        None => {
            return Check::warn(
                name,
                side,
                "cannot verify: ACLs were not read",
                cannot_verify_hint(requirements.len()),
            );
        }
    };
    let mut report = acl::check(bindings, principal, requirements);
    // On a cluster that allows everyone where no ACL exists, a resource no binding matches at
    // all is open: not missing.
    if matches!(facts.open_to_everyone, Some(Ok(true)))
        && let AclReport::Lacking { missing, denied } = &mut report
    {
        missing.retain(|requirement| acl::governed(bindings, requirement));
        if missing.is_empty() && denied.is_empty() {
            report = AclReport::AllGranted { checked: requirements.len() };
        }
    }
    match report {
        AclReport::CannotVerify => Check::warn(
            name,
            side,
            "cannot verify: the cluster reports no ACLs for anyone (no authorizer, or ACLs not visible to this user)",
            cannot_verify_hint(requirements.len()),
        ),
        AclReport::AllGranted { checked } => {
            Check::pass(name, side, format!("{who}: {principal} holds all {checked} required permissions"))
        }
        AclReport::Lacking { missing, denied } => {
            let mut grant: Vec<Requirement> = missing.clone();
            grant.extend(denied.iter().map(|(r, _)| r.clone()));
            let commands = acl::grant_commands(&facts.bootstrap, principal, &grant);
            let mut hint = format!("grant them:\n{}", commands.join("\n"));
            if !denied.is_empty() {
                hint.push_str("\nand remove the DENY rules listed, which override any ALLOW");
            }
            Check::fail(name, side, format!("{who}: {principal} {}", acl::describe_missing(&missing, &denied)), hint)
        }
    }
}

fn is_cluster_describe(requirement: &Requirement) -> bool {
    requirement.resource_type == crate::kafka::acl::ResourceType::Cluster
        && requirement.operation == crate::kafka::acl::AclOperation::Describe
}

fn cannot_verify_hint(count: usize) -> String {
    format!("confirm by hand that the principal holds the {count} permissions listed in README.md (Preflight → ACLs)")
}

fn preview<'a>(names: impl Iterator<Item = &'a String>) -> String {
    const SHOWN: usize = 8;
    let names: Vec<&String> = names.collect();
    let mut text = names.iter().take(SHOWN).map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// What `apply` would do: under `sync`, the ACLs it creates on the target first.
pub fn actions(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts) -> Vec<Action> {
    let mut actions = Vec::new();
    if plan.replication.acls == AclMode::Sync
        && let Ok(Some(diff)) = permission_diff(plan, source, target)
    {
        actions.extend(diff.missing.iter().map(|missing| Action {
            kind: "create-acl".into(),
            cluster: "target".into(),
            detail: describe_missing_acl(missing),
        }));
    }
    let topics = planned_topics(plan, source);
    let groups = planned_groups(plan, source);
    let position = match plan.replication.starting_position {
        StartingPosition::Earliest => "earliest",
        StartingPosition::Latest => "latest",
    };
    match &plan.backend {
        Backend::Embedded => {
            for topic in &topics {
                if let Some(partitions) = target.topics.get(topic)
                    && plan.replication.bidirectional
                    && !source.topics.contains_key(topic)
                {
                    actions.push(Action {
                        kind: "create-topic".into(),
                        cluster: "source".into(),
                        detail: format!("{topic} with {partitions} partition(s) and the target's replicable configs"),
                    });
                }
                if let Some(partitions) = source.topics.get(topic)
                    && target.readable
                    && !target.topics.contains_key(topic)
                {
                    actions.push(Action {
                        kind: "create-topic".into(),
                        cluster: "target".into(),
                        detail: format!("{topic} with {partitions} partition(s) and the source's replicable configs"),
                    });
                }
            }
            actions.push(Action {
                kind: "replicate".into(),
                cluster: "source→target".into(),
                detail: format!("{} topic(s) from {position}, same names: {}", topics.len(), topics.join(", ")),
            });
            if plan.replication.bidirectional {
                actions.push(Action {
                    kind: "replicate".into(),
                    cluster: "target→source".into(),
                    detail: "records produced natively on the target, loop-free".into(),
                });
            }
            if !groups.is_empty() {
                actions.push(Action {
                    kind: "sync-offsets".into(),
                    cluster: "both".into(),
                    detail: format!("consumer groups {}", groups.join(", ")),
                });
            }
        }
        Backend::Msk(msk) => {
            actions.push(Action {
                kind: "create-replicator".into(),
                cluster: "source→target".into(),
                detail: format!(
                    "{} (starting position {}, offset sync {})",
                    msk.external_to_msk_name,
                    position.to_uppercase(),
                    msk.offset_sync_mode.as_str()
                ),
            });
            if plan.replication.bidirectional {
                actions.push(Action {
                    kind: "create-replicator".into(),
                    cluster: "target→source".into(),
                    detail: msk.msk_to_external_name.clone(),
                });
            }
            actions.push(Action {
                kind: "guarantee".into(),
                cluster: "both".into(),
                detail: "MSK Replicator's offset sync is at-least-once: an app that moves may re-read records \
                         (a lagging group more); the embedded backend translates offsets exactly"
                    .into(),
            });
        }
    }
    actions
}
