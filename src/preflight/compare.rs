//! Phase two of preflight: the plan against both clusters' facts. Pure: no I/O.

use super::acl::{self, AclReport, Requirement};
use super::cluster::ClusterFacts;
use super::{Action, Check};
use crate::kafka::admin::AdminError;
use crate::plan::{Auth, Backend, Plan, Selector, Side, StartingPosition};

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
    let source_requirements = match plan.replication.backend {
        Backend::Msk => acl::replicator_requirements(&topics, &groups),
        Backend::Embedded => {
            acl::embedded_replicator_requirements(&topics, &groups, Side::Source, plan.replication.bidirectional)
        }
    };
    checks.push(acl_check("replicator-acls", source, &source_requirements, "the replicator user"));
    if plan.replication.backend == Backend::Embedded && target.readable {
        checks.push(acl_check(
            "target-writer-acls",
            target,
            &acl::embedded_replicator_requirements(&topics, &groups, Side::Target, plan.replication.bidirectional),
            "the identity that writes to the target",
        ));
    }
    checks.extend(app_acl_checks(plan, Side::Source, source));
    if target.readable {
        checks.extend(app_acl_checks(plan, Side::Target, target));
    }
    checks
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
    principal_acl_check(name, facts, principal, requirements, who)
}

/// Each app's own identity on each cluster against what the app does there (produces, consumes,
/// commits for its groups): an app that moves must find its permissions on the other side.
fn app_acl_checks(plan: &Plan, side: Side, facts: &ClusterFacts) -> Vec<Check> {
    let cluster = plan.cluster(side);
    plan.apps
        .iter()
        .filter_map(|app| {
            let Auth::Scram(scram) = app.auth_on(cluster) else { return None };
            let consumed: Vec<String> = app.consumes.iter().flat_map(|c| c.topics.iter().cloned()).collect();
            let groups: Vec<String> = app.consumes.iter().map(|c| c.group.clone()).collect();
            let requirements = acl::app_requirements(&app.produces, &consumed, &groups, &app.transactional_ids);
            let principal = format!("User:{}", scram.username);
            Some(principal_acl_check("app-acls", facts, &principal, &requirements, &format!("app `{}`", app.name)))
        })
        .collect()
}

fn principal_acl_check(
    name: &str,
    facts: &ClusterFacts,
    principal: &str,
    requirements: &[Requirement],
    who: &str,
) -> Check {
    let side = facts.side.as_str();
    let bindings = match &facts.acls {
        Some(Ok(bindings)) => bindings,
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
    match acl::check(bindings, principal, requirements) {
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
    requirement.resource_type == acl::ResourceType::Cluster && requirement.operation == acl::AclOperation::Describe
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

/// What `apply` would do.
pub fn actions(plan: &Plan, source: &ClusterFacts, target: &ClusterFacts) -> Vec<Action> {
    let mut actions = Vec::new();
    let topics = planned_topics(plan, source);
    let groups = planned_groups(plan, source);
    let position = match plan.replication.starting_position {
        StartingPosition::Earliest => "earliest",
        StartingPosition::Latest => "latest",
    };
    match plan.replication.backend {
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
        Backend::Msk => {
            if let Some(msk) = &plan.msk {
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
    }
    actions
}
