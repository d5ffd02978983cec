//! The replicator's secret, when `migrate` is asked to create it (`apply --create-secret`), and its
//! removal at `teardown --delete-secrets`, only when `migrate` created it.
//!
//! The secret holds what MSK Replicator reads (`username`, `password`, `certificate`) from the
//! plan's own credentials: `source.replicator_auth` (given through the environment or files) and
//! the CA chain of `source.tls.ca_file` (no `certificate` without one: a publicly trusted
//! certificate needs no CA), encrypted with `msk.secret_kms_key_arn` when the plan names
//! it. Its name is the one in `msk.scram_secret_arn`; Secrets Manager appends a random suffix to
//! every ARN, so a plan written before the secret existed names it without one
//! (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`), and the created ARN must then be
//! written into the plan (the replicators and the role's policy name the exact ARN). Tags mark it as `migrate`'s, for this plan: teardown deletes nothing else.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;

use crate::aws::{AwsError, classify};
use crate::plan::{Auth, Plan};

pub const TAG_CREATED_BY: &str = "migrate:created-by";
pub const TAG_PLAN: &str = "migrate:plan";
/// Days Secrets Manager keeps a deleted secret recoverable.
pub const RECOVERY_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq)]
pub enum SecretOutcome {
    /// The plan's secret exists already: nothing created.
    Exists,
    Created {
        arn: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The secret's name in `arn` (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`): all of
/// it. A suffix is not guessed away (`shop-secret` ends in six letters too): a plan naming a secret
/// to create writes the ARN without one.
pub fn name_in_arn(arn: &str) -> String {
    arn.split_once(":secret:").map_or(arn, |(_, name)| name).to_string()
}

/// The secret's JSON from the plan: the replicator's SCRAM login on the source and, for a
/// private or self-signed CA (`source.tls.ca_file`), its CA chain.
pub fn document(plan: &Plan) -> Result<String, SecretError> {
    let Auth::Scram(scram) = &plan.source.replicator_auth else {
        return Err(SecretError::Plan("source.replicator_auth must be SCRAM to create the replicator's secret".into()));
    };
    let mut document = serde_json::json!({
        "username": scram.username,
        "password": scram.password.expose(),
    });
    if let Some(ca) = plan.source.tls.as_ref().and_then(|tls| tls.ca_file.as_ref()) {
        let certificate = crate::files::read_text_bounded(ca, crate::files::MAX_CA_BYTES, "a CA file")
            .map_err(|e| SecretError::Plan(format!("source.tls.ca_file: {e}")))?;
        if !certificate.contains("-----BEGIN CERTIFICATE-----") {
            return Err(SecretError::Plan(format!("{} holds no PEM certificate", ca.display())));
        }
        document["certificate"] = certificate.into();
    }
    Ok(document.to_string())
}

/// Creates the plan's secret unless it exists (DescribeSecret on the plan's ARN).
pub async fn ensure(secrets: &Client, plan: &Plan) -> Result<SecretOutcome, SecretError> {
    let msk = plan.msk().ok_or_else(|| SecretError::Plan("the plan has no `msk` section".into()))?;
    if msk.certificate_secret_arn.as_deref().is_some_and(|certificate| certificate != msk.scram_secret_arn) {
        return Err(SecretError::Plan(
            "--create-secret creates one secret with the credentials and the certificate; the plan names two (msk.certificate_secret_arn)"
                .into(),
        ));
    }
    let arn = &msk.scram_secret_arn;
    match secrets.describe_secret().secret_id(arn).send().await {
        Ok(_) => return Ok(SecretOutcome::Exists),
        Err(error) => match classify(&error, "secretsmanager:DescribeSecret", arn) {
            AwsError::NotFound { .. } => {}
            other => return Err(other.into()),
        },
    }
    let name = name_in_arn(arn);
    let tags = [
        Tag::builder().key(TAG_CREATED_BY).value("migrate").build(),
        Tag::builder().key(TAG_PLAN).value(&plan.name).build(),
    ];
    let created = secrets
        .create_secret()
        .name(&name)
        .description(format!("MSK Replicator's login to the external cluster, for migrate plan `{}`", plan.name))
        .set_kms_key_id(msk.secret_kms_key_arn.clone())
        .secret_string(document(plan)?)
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .map_err(|error| classify(&error, "secretsmanager:CreateSecret", &name))?;
    Ok(SecretOutcome::Created { arn: created.arn().unwrap_or_default().to_string() })
}

/// Whether the secret `arn` was created by `migrate` for the plan `plan_name` (its tags).
pub async fn created_by_migrate(secrets: &Client, arn: &str, plan_name: &str) -> Result<bool, AwsError> {
    let described = secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| classify(&error, "secretsmanager:DescribeSecret", arn))?;
    let tag = |key: &str| described.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value());
    Ok(tag(TAG_CREATED_BY) == Some("migrate") && tag(TAG_PLAN) == Some(plan_name))
}

/// Schedules the deletion of `arn` ([`RECOVERY_DAYS`] recoverable).
pub async fn delete(secrets: &Client, arn: &str) -> Result<(), AwsError> {
    secrets
        .delete_secret()
        .secret_id(arn)
        .recovery_window_in_days(RECOVERY_DAYS)
        .send()
        .await
        .map_err(|error| classify(&error, "secretsmanager:DeleteSecret", arn))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_everything_after_secret() {
        let arn = |name: &str| format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}");
        assert_eq!(name_in_arn(&arn("migrate/shop")), "migrate/shop");
        assert_eq!(name_in_arn(&arn("shop-secret")), "shop-secret");
    }
}
