//! `migrate teardown`: refuses unless every app runs on the target (or `--force`), runs `verify`
//! first (unless `--no-verify`), then removes what the migration created and records that it did.

use std::time::Duration;

use anyhow::Context;
use migrate::aws::Clients;
use migrate::exit::{ExitCode, Failure};
use migrate::msk::secret;
use migrate::plan::Backend;
use migrate::settings;
use migrate::state::StateDir;
use migrate::teardown::{self, Replication, TeardownError, TeardownRecord};

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::{Output, Spinner};

const POLL: Duration = Duration::from_secs(15);

/// `teardown`'s flags.
#[derive(Debug, Clone)]
pub struct TeardownOptions {
    pub force: bool,
    pub run_verify: bool,
    pub wait: Duration,
    pub delete_secrets: bool,
    pub remove_synced_acls: bool,
}

pub async fn run(global: &GlobalArgs, output: &Output, options: &TeardownOptions) -> anyhow::Result<ExitCode> {
    let TeardownOptions { force, run_verify, wait, delete_secrets, remove_synced_acls } = options.clone();
    let plan = load_plan(&global.plan, output)?;
    let state_dir = settings::state_dir(global.state_dir.as_deref(), &plan);
    let files = StateDir::new(&state_dir);
    // Like cutover and rollback: one mutating command at a time, and never under an unfinished
    // move (its app may be stopped, waiting for replication this would remove).
    let _lock = teardown::refuse_while_moving(&state_dir).map_err(Failure::unexpected)?;
    if remove_synced_acls && !global.yes {
        refuse_while_synced_acls_needed(&plan, &state_dir, &files).await?;
    }
    if let Some(done) = teardown::torn_down(&state_dir).map_err(Failure::unexpected)? {
        output.print(&format!("{} was already torn down: {}", plan.name, done.removed.join(", ")));
        // The synced ACLs may be removed later than the replication: the apps may need a while
        // to get permissions of their own on the target.
        if remove_synced_acls {
            for item in remove_acls(&plan, &state_dir).await? {
                output.print(&format!("removed {item}"));
            }
        }
        return Ok(ExitCode::Success);
    }
    let on_source = teardown::apps_not_on_target(&plan, &files).map_err(Failure::unexpected)?;
    if !on_source.is_empty() {
        if !force {
            return Err(Failure::user(
                ExitCode::GateNotMet,
                format!("not every app runs on the target: {} still on the source", on_source.join(", ")),
            )
            .with_hint("cut them over first (`migrate cutover APP`), or `--force` to remove replication under them")
            .into());
        }
        output.warn(&format!(
            "--force: {} still run on the source; their data stops reaching the target now",
            on_source.join(", ")
        ));
    }
    if delete_secrets && plan.msk().is_some() {
        may_delete_secrets(output, &plan).await?;
    }
    if run_verify {
        require_replicated(output, &plan).await?;
    }
    let mut removed = remove_replication(output, &plan, &files, wait, delete_secrets).await?;
    if remove_synced_acls {
        removed.extend(remove_acls(&plan, &state_dir).await?);
    } else {
        let synced =
            migrate::permissions::SyncedAcls::load(&state_dir).map_err(|e| Failure::unexpected(e.to_string()))?;
        if !synced.created.is_empty() {
            output.status(&format!(
                "kept the {} ACL(s) `apply` created on the target (the apps use them): `migrate teardown --remove-synced-acls` deletes exactly those",
                synced.created.len()
            ));
        }
    }
    let record = TeardownRecord {
        at_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        backend: plan.backend.name().to_string(),
        removed: removed.clone(),
        forced_with_apps_on_source: on_source,
    };
    teardown::record(&state_dir, &record)
        .map_err(|e| Failure::unexpected(format!("cannot record the teardown: {e}")))?;
    report(output, &plan, &state_dir, &removed)?;
    Ok(ExitCode::Success)
}

/// `teardown`'s check that both clusters hold the same records (the backend's own proof, see
/// [`teardown::check_replicated`]): exit 6, nothing removed, when they do not.
async fn require_replicated(output: &Output, plan: &migrate::plan::Plan) -> anyhow::Result<()> {
    let checked = teardown::check_replicated(plan).await.map_err(Failure::unexpected)?;
    match checked {
        Replication::TailsReplicated => {
            output.status("replication: every partition's last record is on the other cluster")
        }
        Replication::RecordsMatch { partitions } => output.status(&format!("verify: {partitions} partition(s) match")),
        Replication::TailsMissing(pending) => {
            return Err(Failure::user(
                ExitCode::VerifyMismatch,
                format!(
                    "{} partition(s) are not fully replicated yet: nothing removed\n  {}",
                    pending.len(),
                    pending.join("\n  ")
                ),
            )
            .with_hint("let the replicators catch up (ReplicationLatency, MessageLag in `migrate status`), then teardown again")
            .into());
        }
        Replication::RecordsDiffer { report, differing, pending } => {
            output.print(&super::verify::table(&report));
            return Err(Failure::user(
                ExitCode::VerifyMismatch,
                format!(
                    "{differing} partition(s) differ between the clusters and {pending} record(s) are not replicated yet: nothing removed"
                ),
            )
            .with_hint("let replication catch up (`migrate apply` running), or find the cause, then teardown again")
            .into());
        }
    }
    Ok(())
}

/// Removes the backend's replication: the engine's state, or both replicators (and, with
/// `--delete-secrets`, the secrets migrate created). What was removed, for the record.
async fn remove_replication(
    output: &Output,
    plan: &migrate::plan::Plan,
    files: &StateDir,
    wait: Duration,
    delete_secrets: bool,
) -> anyhow::Result<Vec<String>> {
    Ok(match &plan.backend {
        Backend::Embedded => teardown::remove_engine_state(files).map_err(teardown_failure)?,
        Backend::Msk(msk) => {
            let clients = Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
            let spinner = Spinner::new(output);
            let names = [msk.external_to_msk_name.as_str(), msk.msk_to_external_name.as_str()];
            let deleted = teardown::delete_replicators(&clients.kafka, &plan.name, &names, POLL, wait, &spinner).await;
            spinner.finish();
            let mut removed = deleted.map_err(|error| teardown_failure(error.into()))?;
            // Only secrets migrate created for this plan (its tags) are offered, and only deleted
            // when asked; the cluster and the role are never touched.
            for arn in msk.secret_arns() {
                let ours = secret::created_by_migrate(&clients.secrets, arn, &plan.name).await;
                match ours {
                    Ok(true) if delete_secrets => {
                        secret::delete(&clients.secrets, arn).await.map_err(|error| teardown_failure(error.into()))?;
                        removed.push(format!("secret {arn} (recoverable for {} days)", secret::RECOVERY_DAYS));
                    }
                    Ok(true) => output.status(&format!(
                        "the secret {arn} was created by `migrate apply --create-secret`: `migrate teardown --delete-secrets` deletes it"
                    )),
                    Ok(false) => {}
                    Err(error) => output.warn(&format!("cannot tell who created the secret {arn}: {error}")),
                }
            }
            removed
        }
    })
}

/// What was removed: the JSON document, or a line each and what was kept.
fn report(
    output: &Output,
    plan: &migrate::plan::Plan,
    state_dir: &std::path::Path,
    removed: &[String],
) -> anyhow::Result<()> {
    if output.json() {
        output
            .print_json(&serde_json::json!({"ok": true, "removed": removed, "record": teardown::marker(state_dir)}))?;
    } else {
        if removed.is_empty() {
            output.print("nothing to remove");
        }
        for item in removed {
            output.print(&format!("removed {item}"));
        }
        output.print(&format!(
            "{} torn down; kept: the clusters, topics, groups, secrets and role, control.json and the audit log",
            plan.name
        ));
    }
    Ok(())
}

/// `--remove-synced-acls` must not take away what an app on the target runs on: refuses (exit 4,
/// before anything is removed) naming each app and binding, unless the app is rolled back, holds
/// the permission by a binding of its own, or `--yes` confirms.
async fn refuse_while_synced_acls_needed(
    plan: &migrate::plan::Plan,
    state_dir: &std::path::Path,
    files: &StateDir,
) -> anyhow::Result<()> {
    let control = migrate::state::Control::load(&files.control()).map_err(Failure::unexpected)?;
    let on_target: Vec<String> = plan
        .apps
        .iter()
        .filter(|app| control.side_of(&app.name) == migrate::plan::Side::Target)
        .map(|app| app.name.clone())
        .collect();
    let (plan, state_dir) = (plan.clone(), state_dir.to_path_buf());
    let needed = tokio::task::spawn_blocking(move || {
        migrate::permissions::synced_still_needed(&plan, &state_dir, &on_target, ACL_TIMEOUT)
    })
    .await
    .context("the ACL check's thread")?
    .map_err(|error| Failure::unexpected(error.to_string()))?;
    if needed.is_empty() {
        return Ok(());
    }
    Err(Failure::user(
        ExitCode::GateNotMet,
        format!(
            "--remove-synced-acls would take away permissions apps on the target run on: nothing removed\n  {}",
            needed.join("\n  ")
        ),
    )
    .with_hint("grant those apps ACLs of their own on the target (or roll them back: `migrate rollback APP`), then teardown again; or confirm with --yes")
    .into())
}

/// Deletes the ACLs `apply` created under `sync` (exactly those recorded); returns what it removed.
async fn remove_acls(plan: &migrate::plan::Plan, state_dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let (plan, state_dir) = (plan.clone(), state_dir.to_path_buf());
    let removed =
        tokio::task::spawn_blocking(move || migrate::permissions::remove_synced(&plan, &state_dir, ACL_TIMEOUT))
            .await
            .context("the ACL removal's thread")?
            .map_err(|error| Failure::unexpected(error.to_string()))?;
    Ok(removed.iter().map(|binding| format!("ACL {}", migrate::preflight::permissions::describe(binding))).collect())
}

const ACL_TIMEOUT: Duration = Duration::from_secs(10);

fn teardown_failure(error: TeardownError) -> anyhow::Error {
    match &error {
        TeardownError::EngineRunning(_) => Failure::user(ExitCode::InvalidInput, error.to_string())
            .with_hint("stop it with Ctrl-C or SIGTERM, then teardown again")
            .into(),
        TeardownError::Replicator(migrate::msk::ReplicatorError::NotOurs { name, .. }) => {
            Failure::user(ExitCode::PreflightFailed, error.to_string())
                .with_hint(format!(
                    "nothing was deleted; if {name} is this migration's, tag it (aws kafka tag-resource --tags {}=PLAN) or delete it by hand",
                    migrate::msk::render::CREATED_BY_TAG
                ))
                .into()
        }
        TeardownError::Replicator(migrate::msk::ReplicatorError::Aws(aws)) | TeardownError::Aws(aws) => {
            Failure::unexpected(aws.to_string()).with_hint(aws.hint()).into()
        }
        _ => Failure::unexpected(error.to_string()).into(),
    }
}

/// `--delete-secrets` on MSK: the caller's `secretsmanager:DeleteSecret` (and the DescribeSecret
/// that tells migrate's secrets apart), asked of IAM's simulator before anything is removed, so a
/// denial does not strike after the replicators are gone. Denied: exit 3, nothing removed; the
/// simulator unable to say: a warning.
async fn may_delete_secrets(output: &Output, plan: &migrate::plan::Plan) -> anyhow::Result<()> {
    let Some(msk) = plan.msk() else { return Ok(()) };
    let clients = Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await;
    let what = "what teardown --delete-secrets uses";
    let check =
        migrate::preflight::aws::caller_may(&clients, msk, migrate::msk::policy::delete_secrets_grants(msk), what)
            .await;
    match check.status {
        migrate::preflight::Status::Pass => Ok(()),
        migrate::preflight::Status::Warn => {
            output.warn(&check.detail);
            Ok(())
        }
        migrate::preflight::Status::Fail => Err(Failure::user(
            ExitCode::PreflightFailed,
            format!("--delete-secrets: {}: nothing removed", check.detail),
        )
        .with_hint(check.hint.unwrap_or_default())
        .into()),
    }
}
