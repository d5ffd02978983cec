//! `migrate render`: writes the exact inputs of `aws kafka create-replicator` for both directions,
//! the role's IAM policies and the caller's, the apps' policies and, given the source's ACL listing,
//! `acl-translation.md`, from an msk plan, offline. Nothing is written unless everything
//! can be (existing files need `--force`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use migrate::exit::{ExitCode, Failure};
use migrate::msk::{acl_translation, policy, render};
use migrate::state::write_atomically;

use super::load_plan;
use crate::cli::GlobalArgs;
use crate::output::Output;

pub fn run(
    global: &GlobalArgs,
    output: &Output,
    out: &Path,
    force: bool,
    caller_use: policy::CallerUse,
    source_acls: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&global.plan, output)?;
    let Some(msk) = plan.msk() else {
        return Err(Failure::user(
            ExitCode::InvalidInput,
            format!("{} uses the embedded backend: there is no MSK Replicator to render", plan.file.display()),
        )
        .with_hint("set `replication.backend: msk` and fill the `msk` section (see `plans/msk.yaml`)")
        .into());
    };
    let mut files = render::files_for(&plan, msk, caller_use);
    if let Some(listing) = source_acls {
        files.push(acl_translation_file(&plan, msk, listing)?);
    }
    let paths: Vec<PathBuf> = files.iter().map(|file| out.join(&file.name)).collect();
    if !force {
        let existing: Vec<String> = paths.iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
        if !existing.is_empty() {
            return Err(Failure::user(ExitCode::InvalidInput, format!("already there: {}", existing.join(", ")))
                .with_hint("pass --force to overwrite them, or --out DIR to write elsewhere")
                .into());
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (file, path) in files.iter().zip(&paths) {
        write_atomically(path, file.contents.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let role = migrate::aws::arn::role_name(&msk.service_execution_role_arn);
    let mut commands = Vec::new();
    for direction in render::directions(&plan) {
        commands.push(format!(
            "aws kafka create-replicator --region {} --cli-input-json file://{}",
            msk.region,
            out.join(format!("create-replicator-{}.json", direction.slug())).display()
        ));
    }
    commands.push(format!(
        "aws iam put-role-policy --role-name {role} --policy-name migrate-{} --policy-document file://{}",
        plan.name,
        out.join("replicator-role-policy.json").display()
    ));
    commands.push(format!(
        "aws iam attach-role-policy --role-name {role} --policy-arn {}",
        policy::managed_policy_arn(&msk.cluster().arn.partition)
    ));
    if output.json() {
        let written: Vec<serde_json::Value> = files
            .iter()
            .zip(&paths)
            .map(|(file, path)| serde_json::json!({ "file": path, "input": file.what }))
            .collect();
        output.print_json(&serde_json::json!({
            "ok": true,
            "written": written,
            "commands": commands,
        }))?;
    } else {
        let mut text = format!("wrote {} file(s) to {}:\n", files.len(), out.display());
        for file in &files {
            text.push_str(&format!("  {:<40} {}\n", file.name, file.what));
        }
        text.push_str("\nto create the replicators and grant the role by hand (`migrate apply` does the former):\n");
        for command in &commands {
            text.push_str(&format!("  {command}\n"));
        }
        output.print(text.trim_end());
    }
    Ok(ExitCode::Success)
}

/// `acl-translation.md` from the source's ACL listing: only for apps on an MSK IAM target.
fn acl_translation_file(
    plan: &migrate::plan::Plan,
    msk: &migrate::plan::MskSettings,
    listing: &Path,
) -> anyhow::Result<render::RenderedFile> {
    let on_iam = plan.apps.iter().any(|app| *app.auth_on(&plan.target) == migrate::plan::Auth::MskIam);
    if !on_iam {
        return Err(Failure::user(
            ExitCode::InvalidInput,
            format!(
                "--source-acls {}: no app of {} reaches the target over MSK IAM, so no ACL becomes an IAM statement",
                listing.display(),
                plan.file.display()
            ),
        )
        .with_hint("on a SCRAM target the ACLs themselves are compared and copied (`replication.acls`)")
        .into());
    }
    let text = std::fs::read_to_string(listing).with_context(|| format!("cannot read {}", listing.display()))?;
    let name = listing.display().to_string();
    let bindings = acl_translation::parse_listing(&name, &text).map_err(|error| {
        Failure::user(ExitCode::InvalidInput, error.to_string())
            .with_hint("give the output of `kafka-acls.sh --bootstrap-server … --list` (Kafka 2.x+ format)")
    })?;
    let cluster = msk.cluster();
    Ok(render::RenderedFile {
        name: "acl-translation.md".into(),
        contents: acl_translation::markdown(plan, &cluster, &msk.cluster_arn, &name, &bindings),
        what: format!("what each source ACL of the apps became in IAM ({} ACL(s) read)", bindings.len()),
    })
}
