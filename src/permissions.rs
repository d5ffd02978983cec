//! The apps' permissions on the clusters, where they touch the network: the ACLs `apply` creates
//! on the target under `replication.acls: sync` (each recorded in the state directory as soon as
//! it exists, so `teardown --remove-synced-acls` deletes exactly those and never another), and the
//! `app-permissions` condition a cutover checks before it touches the app.
//!
//! Every function blocks (librdkafka admin calls): call them from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use serde::{Deserialize, Serialize};

use crate::kafka::acl::AclBinding;
use crate::kafka::admin::{self, AdminError};
use crate::kafka::{CaptureContext, Identity, admin_client_config, client_config};
use crate::plan::{App, Auth, Plan, Side};
use crate::preflight::acl::{self, AclReport, Requirement};
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
    #[error(transparent)]
    Admin(#[from] crate::kafka::AdminConfigError),
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
                .filter(|b| b.permission == crate::kafka::acl::AclPermission::Allow && granted(std::slice::from_ref(b)))
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
/// (`allow.everyone.if.no.acl.found=true`, found by [`crate::preflight::openness::probe_open_to_everyone`]), is held today:
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
        match crate::preflight::openness::probe_open_to_everyone(cluster, &bindings, timeout) {
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
