//! The apps' permissions on the clusters, where they touch the network: the ACLs `apply` creates
//! on the target under `replication.acls: sync` (each recorded in the state directory as soon as
//! it exists, so `teardown --remove-synced-acls` deletes exactly those and never another), and the
//! `app-permissions` condition a cutover checks before it touches the app.
//!
//! Every function blocks (librdkafka admin calls): call them from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

use crate::kafka::admin::{self, AdminError};
use crate::kafka::{CaptureContext, Identity, client_config, client_config_for};
use crate::plan::{App, Auth, Cluster, Plan, Side};
use crate::preflight::acl::{self, AclBinding, AclOperation, AclReport, Requirement, ResourceType};
use crate::preflight::permissions::describe;
use crate::state::{read_json, write_atomically};

/// The record of the ACLs `sync` created, in the state directory.
pub fn synced_acls_file(state_dir: &Path) -> PathBuf {
    crate::state::StateDir::new(state_dir).synced_acls()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncedAcls {
    /// The target's bindings this migration created and has not removed yet.
    pub created: Vec<AclBinding>,
}

impl SyncedAcls {
    pub fn load(state_dir: &Path) -> Result<SyncedAcls, PermissionError> {
        let path = synced_acls_file(state_dir);
        read_json(&path)
            .map(Option::unwrap_or_default)
            .map_err(|cause| PermissionError::State { path: path.display().to_string(), cause })
    }

    fn save(&self, state_dir: &Path) -> Result<(), PermissionError> {
        let path = synced_acls_file(state_dir);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|error| PermissionError::State { path: path.display().to_string(), cause: error.to_string() })?;
        std::fs::create_dir_all(state_dir)
            .and_then(|()| write_atomically(&path, &text))
            .map_err(|error| PermissionError::State { path: path.display().to_string(), cause: error.to_string() })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    #[error("the plan names no `target.admin_auth`: ACLs cannot be created or removed on the target")]
    NoAdmin,
    #[error("target: cannot create an admin client as {who}: {cause}")]
    Client { who: String, cause: String },
    #[error("target: creating {binding} as {who}: {source}")]
    Create { binding: String, who: String, source: AdminError },
    #[error("target: deleting {binding} as {who}: {source}")]
    Delete { binding: String, who: String, source: AdminError },
    #[error("cannot write {path}: {cause}")]
    State { path: String, cause: String },
    #[error("target: reading the ACLs as {who}: {source}")]
    Describe { who: String, source: AdminError },
}

type Admin = AdminClient<CaptureContext>;

/// The listener `target.admin_auth` (always SCRAM) logs in on, with its TLS settings: the
/// replicator's when the replicator logs in with SCRAM there, else the apps' when they do. An MSK
/// IAM listener (9098) takes no SCRAM login: with an IAM replicator the admin goes to the apps'
/// SCRAM listener (9096), never to the replicator's port. `None` when neither listener is SCRAM.
pub fn admin_endpoint(cluster: &Cluster) -> Option<(&[String], Option<&crate::plan::Tls>)> {
    if matches!(cluster.replicator_auth, Auth::Scram(_)) {
        Some((&cluster.replicator_bootstrap_servers, Identity::Replicator.tls(cluster)))
    } else if matches!(cluster.app_auth, Auth::Scram(_)) {
        Some((&cluster.bootstrap_servers, Identity::App(&cluster.app_auth).tls(cluster)))
    } else {
        None
    }
}

/// The client configuration for `target.admin_auth` on [`admin_endpoint`]'s listener, and who it
/// is (`SCRAM-SHA-512 user admin on b-1:9096`, for messages).
pub fn admin_client_config(cluster: &Cluster) -> Result<(rdkafka::ClientConfig, String), PermissionError> {
    let auth = cluster.admin_auth.as_ref().ok_or(PermissionError::NoAdmin)?;
    let Some((servers, tls)) = admin_endpoint(cluster) else {
        return Err(PermissionError::Client {
            who: auth.describe(),
            cause: "neither the replicator's nor the apps' listener of the target takes a SCRAM login".into(),
        });
    };
    let who = format!("{} on {}", auth.describe(), servers.join(","));
    let config = client_config_for(cluster, servers, auth, tls)
        .map_err(|error| PermissionError::Client { who: who.clone(), cause: error.to_string() })?;
    Ok((config, who))
}

/// An admin client on the target as `target.admin_auth` ([`admin_client_config`]).
fn target_admin(plan: &Plan) -> Result<(Admin, String), PermissionError> {
    let target = &plan.target;
    let (config, who) = admin_client_config(target)?;
    let client = config
        .create_with_context(CaptureContext::for_cluster(target))
        .map_err(|error| PermissionError::Client { who: who.clone(), cause: error.to_string() })?;
    Ok((client, who))
}

/// What [`sync`] did with the bindings it was given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncOutcome {
    /// Created by this call, and recorded.
    pub created: Vec<AclBinding>,
    /// Already on the target when it looked, just before creating: not created, not recorded
    /// (someone else's, so `teardown --remove-synced-acls` never deletes them).
    pub already_present: Vec<AclBinding>,
}

/// Creates `bindings` on the target as `target.admin_auth`, one at a time, recording each in the
/// state directory once the cluster accepted it.
///
/// CreateAcls succeeds for a binding that already exists, so its answer cannot tell "created"
/// from "was there": the target's ACLs are read again just before creating (preflight's reading
/// may be minutes old), and a binding found there is left alone and not recorded. A binding
/// created by someone else in the instant between that reading and the creation would still be
/// recorded; nothing narrower is offered by the protocol.
pub fn sync(
    plan: &Plan,
    state_dir: &Path,
    bindings: &[AclBinding],
    timeout: Duration,
) -> Result<SyncOutcome, PermissionError> {
    let mut outcome = SyncOutcome::default();
    if bindings.is_empty() {
        return Ok(outcome);
    }
    let (client, who) = target_admin(plan)?;
    let mut record = SyncedAcls::load(state_dir)?;
    let present = admin::describe_acls(client.inner(), timeout)
        .map_err(|source| PermissionError::Describe { who: who.clone(), source })?;
    for binding in bindings {
        if present.contains(binding) && !record.created.contains(binding) {
            outcome.already_present.push(binding.clone());
            continue;
        }
        admin::create_acls(client.inner(), std::slice::from_ref(binding), timeout)
            .map_err(|source| PermissionError::Create { binding: describe(binding), who: who.clone(), source })?;
        if !record.created.contains(binding) {
            record.created.push(binding.clone());
        }
        record.save(state_dir)?;
        outcome.created.push(binding.clone());
    }
    Ok(outcome)
}

/// Deletes every binding the record names (an exact-match filter each: never another binding),
/// and forgets each once deleted or found gone. Returns the ones the cluster deleted.
pub fn remove_synced(plan: &Plan, state_dir: &Path, timeout: Duration) -> Result<Vec<AclBinding>, PermissionError> {
    let mut record = SyncedAcls::load(state_dir)?;
    if record.created.is_empty() {
        return Ok(Vec::new());
    }
    let (client, who) = target_admin(plan)?;
    let mut removed = Vec::new();
    while let Some(binding) = record.created.first().cloned() {
        let deleted = admin::delete_acl(client.inner(), &binding, timeout)
            .map_err(|source| PermissionError::Delete { binding: describe(&binding), who: who.clone(), source })?;
        record.created.remove(0);
        record.save(state_dir)?;
        if deleted > 0 {
            removed.push(binding);
        }
    }
    Ok(removed)
}

/// What the `app-permissions` condition found for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPermissions {
    /// What the app's identity is known to lack (the gate refuses the move).
    pub missing: Vec<String>,
    /// What it holds only because the cluster allows everyone on resources without ACLs: the
    /// move works, and the first ACL on such a resource would close it to the app.
    pub open_only: Vec<String>,
}

/// The synced ACLs an app that runs on the target still holds its access by: for each app of
/// `apps_on_target`, each permission it needs there (its target identity's produced and consumed
/// topics, groups, transactional ids) that `current` (the target's ACLs) grants and would no
/// longer grant without `synced`, with the synced binding(s) granting it. ALLOWs only: removing a
/// DENY takes no access away. Empty when every app holds its needs by bindings of its own.
pub fn still_needed(
    plan: &Plan,
    apps_on_target: &[String],
    current: &[AclBinding],
    synced: &[AclBinding],
) -> Vec<String> {
    let without: Vec<AclBinding> = current.iter().filter(|b| !synced.contains(b)).cloned().collect();
    let mut lines = Vec::new();
    for app in plan.apps.iter().filter(|app| apps_on_target.contains(&app.name)) {
        let Auth::Scram(scram) = app.auth_on(&plan.target) else { continue };
        let principal = format!("User:{}", scram.username);
        let consumed: Vec<String> = app.consumes.iter().flat_map(|c| c.topics.iter().cloned()).collect();
        let groups: Vec<String> = app.consumes.iter().map(|c| c.group.clone()).collect();
        for requirement in acl::app_requirements(&app.produces, &consumed, &groups, &app.transactional_ids) {
            let granted =
                |bindings: &[AclBinding]| acl::evaluate(bindings, &principal, &requirement) == acl::Verdict::Allowed;
            if !granted(current) || granted(&without) {
                continue;
            }
            let by: Vec<String> = synced
                .iter()
                .filter(|b| b.permission == acl::AclPermission::Allow && granted(std::slice::from_ref(b)))
                .map(describe)
                .collect();
            lines.push(format!(
                "app `{}` ({principal}) needs {} on {:?} {}, granted only by {}",
                app.name,
                requirement.operation,
                requirement.resource_type,
                requirement.resource_name,
                by.join(" and ")
            ));
        }
    }
    lines
}

/// [`still_needed`] against the target's ACLs as they are now, read as `target.admin_auth`.
/// Empty when nothing was synced (nothing read).
pub fn synced_still_needed(
    plan: &Plan,
    state_dir: &Path,
    apps_on_target: &[String],
    timeout: Duration,
) -> Result<Vec<String>, PermissionError> {
    let record = SyncedAcls::load(state_dir)?;
    if record.created.is_empty() || apps_on_target.is_empty() {
        return Ok(Vec::new());
    }
    let (client, who) = target_admin(plan)?;
    let current =
        admin::describe_acls(client.inner(), timeout).map_err(|source| PermissionError::Describe { who, source })?;
    Ok(still_needed(plan, apps_on_target, &current, &record.created))
}

/// The `app-permissions` condition: what `app`'s identity on `side` is known to lack there (its
/// produced and consumed topics, groups and transactional ids, read from the cluster's ACLs).
/// Nothing is missing when nothing is known: no authorizer, no ACLs visible, an IAM identity.
/// A permission on a resource no ACL governs, on a cluster that allows everyone there
/// (`allow.everyone.if.no.acl.found=true`, found by [`probe_open_to_everyone`]), is held today:
/// reported as `open_only`, not as missing. `Err` when the ACLs could not be read.
pub fn missing_app_permissions(
    plan: &Plan,
    app: &App,
    side: Side,
    timeout: Duration,
) -> Result<AppPermissions, String> {
    let cluster = plan.cluster(side);
    let Auth::Scram(scram) = app.auth_on(cluster) else { return Ok(AppPermissions::default()) };
    if cluster.replicator_auth == Auth::MskIam {
        return Ok(AppPermissions::default());
    }
    let principal = format!("User:{}", scram.username);
    let config = client_config(cluster, Identity::Replicator).map_err(|error| error.to_string())?;
    let client: Admin =
        config.create_with_context(CaptureContext::for_cluster(cluster)).map_err(|error| error.to_string())?;
    let bindings = match admin::describe_acls(client.inner(), timeout) {
        Ok(bindings) => bindings,
        Err(AdminError::NoAuthorizer(_)) => return Ok(AppPermissions::default()),
        Err(error) => return Err(format!("{side}: {error}")),
    };
    let consumed: Vec<String> = app.consumes.iter().flat_map(|c| c.topics.iter().cloned()).collect();
    let groups: Vec<String> = app.consumes.iter().map(|c| c.group.clone()).collect();
    let needed = acl::app_requirements(&app.produces, &consumed, &groups, &app.transactional_ids);
    let AclReport::Lacking { mut missing, denied } = acl::check(&bindings, &principal, &needed) else {
        return Ok(AppPermissions::default());
    };
    let describe_requirement =
        |r: &Requirement| format!("{principal} lacks {} on {:?} {}", r.operation, r.resource_type, r.resource_name);
    let mut found = AppPermissions::default();
    let (governed, ungoverned): (Vec<Requirement>, Vec<Requirement>) =
        missing.into_iter().partition(|r| acl::governed(&bindings, r));
    missing = governed;
    if !ungoverned.is_empty() {
        match probe_open_to_everyone(cluster, &bindings, timeout) {
            Ok(true) => {
                found.open_only = ungoverned
                    .iter()
                    .map(|r| {
                        format!(
                            "{principal} may {} on {:?} {} only because no ACL governs it and the {side} allows everyone there: the first ACL on it closes it",
                            r.operation, r.resource_type, r.resource_name
                        )
                    })
                    .collect();
            }
            Ok(false) => missing.extend(ungoverned),
            Err(why) => found.missing.extend(ungoverned.iter().map(|r| {
                format!(
                    "{} (no ACL governs it; whether the {side} allows everyone there is unknown: {why})",
                    describe_requirement(r)
                )
            })),
        }
    }
    found.missing.extend(missing.iter().map(describe_requirement));
    found.missing.extend(denied.iter().map(|(r, binding)| {
        format!(
            "{principal} is denied {} on {:?} {} by {}",
            r.operation,
            r.resource_type,
            r.resource_name,
            describe(binding)
        )
    }));
    Ok(found)
}

/// The prefix of the topic the openness probe asks about: a name nobody uses.
pub const OPENNESS_PROBE_TOPIC_PREFIX: &str = "migrate-openness-probe-";

/// Whether `cluster` lets everyone use a resource no ACL applies to
/// (`allow.everyone.if.no.acl.found`), found by behaviour: Apache Kafka keeps that setting with
/// its authorizer, and DescribeConfigs of a broker does not return it.
///
/// The replicator (logged in with SCRAM: over MSK IAM, IAM policies decide, not ACLs) asks for the
/// metadata of a topic that does not exist and that no binding of `bindings` (the cluster's ACLs,
/// for every principal) applies to: the authorizer then answers with its no-ACL rule alone.
/// TOPIC_AUTHORIZATION_FAILED is closed; UNKNOWN_TOPIC_OR_PART is open. The request forbids
/// auto-creation (`allow.auto.create.topics=false` on a consumer-type client), so nothing is
/// created. A replicator that is a super user reads as open, which errs on the side of the
/// warning. (Describing an unknown group instead needs the group coordinator, which a fresh
/// cluster has yet to create: measured timing out on Kafka 3.9.1.)
pub fn probe_open_to_everyone(cluster: &Cluster, bindings: &[AclBinding], timeout: Duration) -> Result<bool, String> {
    if !matches!(cluster.replicator_auth, Auth::Scram(_)) {
        return Err("not probed: the replicator does not log in with SCRAM, so ACLs do not govern it".into());
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let topic = format!("{OPENNESS_PROBE_TOPIC_PREFIX}{}-{nanos}", std::process::id());
    let probe = Requirement {
        resource_type: ResourceType::Topic,
        resource_name: topic.clone(),
        operation: AclOperation::Describe,
    };
    if let Some(binding) = bindings.iter().find(|b| acl::governed(std::slice::from_ref(b), &probe)) {
        return Err(format!("not probed: every topic name is governed by an ACL ({})", describe(binding)));
    }
    let mut config = client_config(cluster, Identity::Replicator).map_err(|error| error.to_string())?;
    config.set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer<CaptureContext> =
        config.create_with_context(CaptureContext::for_cluster(cluster)).map_err(|error| error.to_string())?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), timeout)
        .map_err(|error| format!("probe (metadata of topic `{topic}`, which no ACL governs): {error}"))?;
    match metadata.topics().first().and_then(|t| t.error()).map(RDKafkaErrorCode::from) {
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => Ok(false),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) | None => Ok(true),
        Some(other) => Err(format!("probe (metadata of topic `{topic}`, which no ACL governs): {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(replicator: &str, apps: &str) -> Cluster {
        let scram = "{ mechanism: SCRAM-SHA-512, username: u, password: { env: PW } }";
        let auth = |mechanism: &str| if mechanism == "iam" { "{ mechanism: AWS_MSK_IAM }" } else { scram };
        let text = format!(
            "name: t\nsource:\n  bootstrap_servers: s:9092\n  replicator_auth: {scram}\n  app_auth: {scram}\ntarget:\n  bootstrap_servers: b-1.shop.kafka.eu-west-1.amazonaws.com:9096\n  replicator_bootstrap_servers: b-1.shop.kafka.eu-west-1.amazonaws.com:9098\n  tls: {{}}\n  replicator_auth: {}\n  app_auth: {}\n  admin_auth: {scram}\nreplication:\n  topics: [orders]\n  acls: sync\napps:\n  - name: orders\n    produces: [orders]\n",
            auth(replicator),
            auth(apps)
        );
        let lookup = |_: &str| Some("pw".to_string());
        crate::plan::parse(Path::new("plan.yaml"), &text, &lookup).expect("valid plan").target
    }

    /// Regression: with an MSK IAM replicator listener, `sync` logged the SCRAM admin in on the
    /// replicator's IAM port (9098), which takes no SCRAM login, and said so in its messages.
    #[test]
    fn the_scram_admin_never_goes_to_an_iam_replicator_listener() {
        let iam_replicator = target("iam", "scram");
        let (servers, tls) = admin_endpoint(&iam_replicator).unwrap();
        assert_eq!(servers, ["b-1.shop.kafka.eu-west-1.amazonaws.com:9096"]);
        assert!(tls.is_some());
        let (config, who) = admin_client_config(&iam_replicator).unwrap();
        assert_eq!(config.get("bootstrap.servers"), Some("b-1.shop.kafka.eu-west-1.amazonaws.com:9096"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert!(who.ends_with(" on b-1.shop.kafka.eu-west-1.amazonaws.com:9096"), "{who}");

        let scram_replicator = target("scram", "scram");
        let (servers, _) = admin_endpoint(&scram_replicator).unwrap();
        assert_eq!(servers, ["b-1.shop.kafka.eu-west-1.amazonaws.com:9098"], "the replicator's SCRAM listener");

        let all_iam = target("iam", "iam");
        assert!(admin_endpoint(&all_iam).is_none());
        let error = admin_client_config(&all_iam).unwrap_err().to_string();
        assert!(error.contains("neither the replicator's nor the apps' listener"), "{error}");
    }
}
