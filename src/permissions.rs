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

use crate::engine::state::{read_json, write_atomically};
use crate::kafka::admin::{self, AdminError};
use crate::kafka::{CaptureContext, Identity, client_config, client_config_for};
use crate::plan::{App, Auth, Plan, Side};
use crate::preflight::acl::{self, AclBinding, AclReport};
use crate::preflight::permissions::describe;

/// The record of the ACLs `sync` created, in the state directory.
pub fn synced_acls_file(state_dir: &Path) -> PathBuf {
    state_dir.join("synced-acls.json")
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
}

type Admin = AdminClient<CaptureContext>;

/// An admin client on the target's replicator listener as `target.admin_auth`.
fn target_admin(plan: &Plan) -> Result<(Admin, String), PermissionError> {
    let target = &plan.target;
    let auth = target.admin_auth.as_ref().ok_or(PermissionError::NoAdmin)?;
    let who = auth.describe();
    let config = client_config_for(target, &target.replicator_bootstrap_servers, auth, target.tls.as_ref())
        .map_err(|error| PermissionError::Client { who: who.clone(), cause: error.to_string() })?;
    let client = config
        .create_with_context(CaptureContext::for_cluster(target))
        .map_err(|error| PermissionError::Client { who: who.clone(), cause: error.to_string() })?;
    Ok((client, who))
}

/// Creates `bindings` on the target as `target.admin_auth`, one at a time, recording each in the
/// state directory once the cluster accepted it. Returns those created by this call.
pub fn sync(
    plan: &Plan,
    state_dir: &Path,
    bindings: &[AclBinding],
    timeout: Duration,
) -> Result<Vec<AclBinding>, PermissionError> {
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    let (client, who) = target_admin(plan)?;
    let mut record = SyncedAcls::load(state_dir)?;
    let mut created = Vec::new();
    for binding in bindings {
        admin::create_acls(client.inner(), std::slice::from_ref(binding), timeout)
            .map_err(|source| PermissionError::Create { binding: describe(binding), who: who.clone(), source })?;
        if !record.created.contains(binding) {
            record.created.push(binding.clone());
        }
        record.save(state_dir)?;
        created.push(binding.clone());
    }
    Ok(created)
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

/// The `app-permissions` condition: what `app`'s identity on `side` is known to lack there (its
/// produced and consumed topics, groups and transactional ids, read from the cluster's ACLs).
/// Empty when nothing is known to be missing: no authorizer, no ACLs visible, an IAM identity.
/// `Err` when the ACLs could not be read.
pub fn missing_app_permissions(plan: &Plan, app: &App, side: Side, timeout: Duration) -> Result<Vec<String>, String> {
    let cluster = plan.cluster(side);
    let Auth::Scram(scram) = app.auth_on(cluster) else { return Ok(Vec::new()) };
    if cluster.replicator_auth == Auth::MskIam {
        return Ok(Vec::new());
    }
    let principal = format!("User:{}", scram.username);
    let config = client_config(cluster, Identity::Replicator).map_err(|error| error.to_string())?;
    let client: Admin =
        config.create_with_context(CaptureContext::for_cluster(cluster)).map_err(|error| error.to_string())?;
    let bindings = match admin::describe_acls(client.inner(), timeout) {
        Ok(bindings) => bindings,
        Err(AdminError::NoAuthorizer(_)) => return Ok(Vec::new()),
        Err(error) => return Err(format!("{side}: {error}")),
    };
    let consumed: Vec<String> = app.consumes.iter().flat_map(|c| c.topics.iter().cloned()).collect();
    let groups: Vec<String> = app.consumes.iter().map(|c| c.group.clone()).collect();
    let needed = acl::app_requirements(&app.produces, &consumed, &groups, &app.transactional_ids);
    Ok(match acl::check(&bindings, &principal, &needed) {
        AclReport::Lacking { missing, denied } => {
            let mut lines: Vec<String> = missing
                .iter()
                .map(|r| format!("{principal} lacks {} on {:?} {}", r.operation, r.resource_type, r.resource_name))
                .collect();
            lines.extend(denied.iter().map(|(r, binding)| {
                format!(
                    "{principal} is denied {} on {:?} {} by {}",
                    r.operation,
                    r.resource_type,
                    r.resource_name,
                    describe(binding)
                )
            }));
            lines
        }
        AclReport::CannotVerify | AclReport::AllGranted { .. } => Vec::new(),
    })
}
