//! Against moto (Secrets Manager, KMS; it has no replicator API): `apply --create-secret` puts the
//! plan's own credentials and CA in the secret, encrypted with the plan's key and tagged as
//! migrate's, and never replaces an existing one; only migrate's secrets for this plan are ever
//! deleted; `status` on msk names the replicator call AWS could not answer.

mod common;

use common::aws::{EXAMPLE_MSK_ENV, example_msk_plan, moto, moto_clients};
use common::*;
use migrate::msk::secret::{self, SecretOutcome};

fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:{}:{}:secret:{name}", common::aws::REGION, common::aws::ACCOUNT)
}

#[tokio::test]
async fn the_secret_is_created_once_from_the_plan_and_only_migrates_are_deleted() {
    let clients = moto_clients().await;
    let key = clients.kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path(), "secret").ca;
    let name = unique("migrate/shop-replicator");
    let mut plan = example_msk_plan(|text| text);
    {
        let msk = plan.msk_mut().unwrap();
        msk.scram_secret_arn = secret_arn(&name);
        msk.certificate_secret_arn = Some(msk.scram_secret_arn.clone());
        msk.secret_kms_key_arn = Some(key.clone());
    }
    plan.source.tls.as_mut().unwrap().ca_file = Some(ca.clone());

    let SecretOutcome::Created { arn } = secret::ensure(&clients.secrets, &plan).await.unwrap() else {
        panic!("nothing created")
    };
    assert!(arn.starts_with(&format!("{}-", secret_arn(&name))), "{arn}");
    let value = clients.secrets.get_secret_value().secret_id(&arn).send().await.unwrap();
    let stored: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(stored["username"], "replicator");
    assert_eq!(stored["password"], "source-secret-password");
    assert_eq!(stored["certificate"], std::fs::read_to_string(&ca).unwrap());
    let described = clients.secrets.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(described.kms_key_id(), Some(key.as_str()));

    // The plan now names the created ARN: it exists, nothing is created or changed.
    plan.msk_mut().unwrap().scram_secret_arn = arn.clone();
    plan.msk_mut().unwrap().certificate_secret_arn = Some(arn.clone());
    assert_eq!(secret::ensure(&clients.secrets, &plan).await.unwrap(), SecretOutcome::Exists);
    let listed = clients.secrets.list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().iter().filter(|s| s.name() == Some(name.as_str())).count(), 1);

    // Only migrate's secret for this plan counts as migrate's.
    assert!(secret::created_by_migrate(&clients.secrets, &arn, &plan.name).await.unwrap());
    assert!(!secret::created_by_migrate(&clients.secrets, &arn, "another-plan").await.unwrap());
    let theirs =
        clients.secrets.create_secret().name(unique("theirs")).secret_string("{}").send().await.unwrap().arn.unwrap();
    assert!(!secret::created_by_migrate(&clients.secrets, &theirs, &plan.name).await.unwrap());
    secret::delete(&clients.secrets, &arn).await.unwrap();
    let deleted = clients.secrets.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(deleted.deleted_date().is_some(), "scheduled for deletion");
}

/// The CLI: `apply --create-secret` creates the secret, then stops with exit 2 naming the ARN the
/// plan must now hold (Secrets Manager added its suffix), without printing the password (even at
/// `-vv`).
#[test]
fn apply_create_secret_stops_with_the_arn_to_write_into_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path(), "cli").ca;
    let name = unique("migrate/cli-replicator");
    let plan = project_root().join("plans/msk.yaml");
    let arn = secret_arn(&name);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = runtime.block_on(async {
        moto_clients().await.kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap()
    });
    let mut envs: Vec<(&str, &str)> =
        EXAMPLE_MSK_ENV.iter().copied().filter(|(k, _)| *k != "MIGRATE_SOURCE_CA_FILE").collect();
    envs.extend([
        ("MIGRATE_SOURCE_CA_FILE", ca.to_str().unwrap()),
        ("MIGRATE_MSK_SECRET_ARN", arn.as_str()),
        ("MIGRATE_MSK_SECRET_KEY_ARN", key.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", moto().url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let run =
        migrate(&["-vv", "-p", plan.to_str().unwrap(), "apply", "--create-secret"], &envs, &["source-secret-password"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("created the secret {arn}-")), "{}", run.stderr);
    assert!(run.stderr.contains("scram_secret_arn:"), "{}", run.stderr);
}

/// `status` on an msk plan asks AWS for both replicators: where AWS cannot answer (moto has no
/// replicator API), it exits 1 naming the call and the replicator, without printing a secret.
#[test]
fn status_on_msk_names_the_replicator_call_aws_could_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path(), "status").ca;
    let plan = project_root().join("plans/msk.yaml");
    let mut envs: Vec<(&str, &str)> =
        EXAMPLE_MSK_ENV.iter().copied().filter(|(k, _)| *k != "MIGRATE_SOURCE_CA_FILE").collect();
    envs.extend([
        ("MIGRATE_SOURCE_CA_FILE", ca.to_str().unwrap()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", moto().url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let state = dir.path().join("state");
    let run = migrate(
        &["-p", plan.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "status"],
        &envs,
        &["source-secret-password"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot read MSK Replicator `shop-migration-external-to-msk`")
            && run.stderr.contains("kafka:ListReplicators"),
        "{}",
        run.stderr
    );
}

/// A plan whose source's certificates are publicly trusted (no `source.tls.ca_file`): the created
/// secret holds the login only, as AWS documents (`certificate` is for private or self-signed
/// CAs).
#[tokio::test]
async fn a_secret_for_a_publicly_trusted_source_holds_no_certificate() {
    let clients = moto_clients().await;
    let name = unique("migrate/public-ca-replicator");
    let mut plan = example_msk_plan(|text| text);
    {
        let msk = plan.msk_mut().unwrap();
        msk.scram_secret_arn = secret_arn(&name);
        msk.certificate_secret_arn = None;
        msk.secret_kms_key_arn = None;
    }
    plan.source.tls.as_mut().unwrap().ca_file = None;

    let SecretOutcome::Created { arn } = secret::ensure(&clients.secrets, &plan).await.unwrap() else {
        panic!("nothing created")
    };
    let value = clients.secrets.get_secret_value().secret_id(&arn).send().await.unwrap();
    let stored: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(stored, serde_json::json!({"username": "replicator", "password": "source-secret-password"}));
}
