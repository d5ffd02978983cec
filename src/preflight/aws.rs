//! Preflight of the AWS side of an `msk` plan: each a named check in the same report as the Kafka
//! checks (cluster column `aws`, or `source` for the secret's login).
//!
//! Order: the caller's identity first (without credentials nothing else can answer); then the
//! secrets (their contents feed the login, the KMS check and the role's check); then everything
//! else concurrently. What no API can show from here — the replicator runs inside the VPC, this
//! machine does not — is returned as [`AwsReport::manual`], for a human to verify.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Check, Options, Reporter};
use crate::aws::arn::{Arn, MskClusterArn, principal_for_simulation, role_name};
use crate::aws::{AwsError, Clients, classify};
use crate::msk::policy::{self, Decision};
use crate::plan::{Auth, MskSettings, Plan, ScramCredentials, Tls};
use crate::secret::SecretString;

const AWS: &str = "aws";

/// The AWS checks and what remains for a human.
#[derive(Debug, Clone, Default)]
pub struct AwsReport {
    pub checks: Vec<Check>,
    pub manual: Vec<String>,
}

/// The caller, from STS.
#[derive(Debug, Clone)]
struct Caller {
    arn: String,
    account: String,
}

/// A secret as read: its keys' values (the password only as a [`SecretString`]).
#[derive(Debug, Clone, Default)]
struct SecretContents {
    arn: String,
    username: Option<String>,
    password: Option<SecretString>,
    certificate: Option<String>,
    /// `None`: the AWS managed key `aws/secretsmanager`.
    kms_key_id: Option<String>,
}

/// What the MSK cluster check learned, for the network checks.
#[derive(Debug, Clone, Default)]
struct MskFacts {
    security_groups: Vec<String>,
    /// Whether SASL/SCRAM client authentication is enabled on the cluster (apps may log in so);
    /// `None` when the cluster could not be described.
    scram: Option<bool>,
}

pub async fn run(
    plan: &Plan,
    msk: &MskSettings,
    clients: &Clients,
    options: &Options,
    reporter: &dyn Reporter,
) -> AwsReport {
    let mut report = AwsReport::default();
    let bound = options.timeout * 3;

    reporter.step(AWS, "identity");
    let caller = match bounded(bound, "aws-identity", identity(clients, msk)).await {
        Ok((check, caller)) => {
            report.checks.push(check);
            caller
        }
        Err(check) => {
            report.checks.push(check);
            report.checks.push(Check::fail(
                "aws-checks",
                AWS,
                "skipped: the AWS identity did not resolve, so no AWS API can answer",
                "fix `aws-identity` first",
            ));
            return report;
        }
    };

    reporter.step(AWS, "secrets");
    let mut secrets = Vec::new();
    for arn in msk.secret_arns() {
        match bounded(bound, "secret", read_secret(clients, msk, arn)).await {
            Ok((check, contents)) => {
                report.checks.push(check);
                secrets.push(contents);
            }
            Err(check) => report.checks.push(check),
        }
    }
    let scram = secrets.iter().find(|s| s.arn == msk.scram_secret_arn && s.username.is_some() && s.password.is_some());
    // What the replicator's TLS trusts: a private CA's chain from the secret, or (no
    // `source.tls.ca_file`: publicly trusted certificates) the system trust store, `Some(None)`.
    let trust: Option<Option<String>> = match msk.certificate_secret_arn.as_deref() {
        Some(arn) => {
            let certificate = secrets.iter().find(|s| s.arn == arn).and_then(|s| s.certificate.clone());
            let certificate_check = certificate.as_deref().map(|pem| certificate_chain(arn, pem));
            let certificate_ok = certificate_check.as_ref().is_some_and(|c| c.status != super::Status::Fail);
            report.checks.extend(certificate_check);
            certificate.filter(|_| certificate_ok).map(Some)
        }
        None => Some(None),
    };
    let key_ids: BTreeSet<Option<String>> = secrets.iter().map(|s| s.kms_key_id.clone()).collect();

    reporter.step(AWS, "role, cluster, network");
    let login = async {
        match (scram, trust.as_ref()) {
            (Some(scram), Some(pem)) => Some(secret_login(plan, msk, scram, pem.as_deref(), options.timeout).await),
            _ => Some(Check::fail(
                "secret-login",
                "source",
                "skipped: the secret's username, password and a valid certificate are needed to log in",
                "fix the `secret` checks first",
            )),
        }
    };
    let kms = async {
        let mut checks = Vec::new();
        let mut key_arns = Vec::new();
        for key in &key_ids {
            let (check, arn) = bounded(bound, "secret-kms", kms_key(clients, msk, key.as_deref()))
                .await
                .unwrap_or_else(|check| (check, None));
            checks.push(check);
            key_arns.extend(arn);
        }
        (checks, key_arns)
    };
    let role = bounded(bound, "service-role", service_role(clients, msk));
    let cluster = bounded(bound, "msk-cluster", msk_cluster(plan, clients, msk));
    let scram_apps = !plan.scram_apps_on_target().is_empty();
    let uses = policy::CallerUse { app_scram_secrets: scram_apps, ..options.caller_use };
    let permissions = bounded(bound, "aws-permissions", caller_permissions(clients, msk, &caller, uses));
    let (login, (kms_checks, key_arns), role, cluster, permissions) =
        tokio::join!(login, kms, role, cluster, permissions);
    report.checks.extend(login);
    report.checks.extend(kms_checks);
    let role_check = match role {
        Ok((check, documents)) => {
            report.checks.push(check);
            Some(role_policy(msk, &documents, &key_arns))
        }
        Err(check) => {
            report.checks.push(check);
            None
        }
    };
    report.checks.extend(role_check);
    report.checks.push(match permissions {
        Ok((check, ())) => check,
        Err(check) => check,
    });
    let msk_facts = match cluster {
        Ok((check, facts)) => {
            report.checks.push(check);
            facts
        }
        Err(check) => {
            report.checks.push(check);
            MskFacts::default()
        }
    };

    if scram_apps {
        let scram = async { Ok((app_scram_check(clients, msk, plan, msk_facts.scram).await, ())) };
        report
            .checks
            .push(bounded(bound, "app-scram-secrets", scram).await.map_or_else(|check| check, |(check, ())| check));
    }

    for app in plan.apps.iter().filter(|app| app.role_arn.is_some()) {
        report.checks.push(
            match bounded(bound, "app-role-policy", async { Ok((app_role_check(clients, msk, app).await, ())) }).await {
                Ok((check, ())) => check,
                Err(check) => check,
            },
        );
    }

    let (network_checks, manual) = network(plan, msk, clients, &msk_facts, bound).await;
    report.checks.extend(network_checks);
    report.manual = manual;
    report
}

/// Runs a check's future within `bound`, timing it; a timeout fails the check by name.
async fn bounded<T>(
    bound: Duration,
    name: &str,
    check: impl Future<Output = Result<(Check, T), Check>>,
) -> Result<(Check, T), Check> {
    let started = Instant::now();
    match tokio::time::timeout(bound, check).await {
        Ok(Ok((check, value))) => Ok((check.timed(started), value)),
        Ok(Err(check)) => Err(check.timed(started)),
        Err(_) => Err(Check::fail(
            name,
            AWS,
            format!("no answer from AWS within {} s", bound.as_secs()),
            "check this machine's network path to AWS and the region",
        )
        .timed(started)),
    }
}

fn aws_failure(name: &str, error: &AwsError) -> Check {
    Check::fail(name, AWS, error.to_string(), error.hint())
}

async fn identity(clients: &Clients, msk: &MskSettings) -> Result<(Check, Caller), Check> {
    let output = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| aws_failure("aws-identity", &classify(&error, "sts:GetCallerIdentity", "*")))?;
    let caller = Caller {
        arn: output.arn().unwrap_or_default().to_string(),
        account: output.account().unwrap_or_default().to_string(),
    };
    let cluster_account = msk.cluster().arn.account;
    let check = if cluster_account != caller.account {
        Check::warn(
            "aws-identity",
            AWS,
            format!("{} (account {}); the MSK cluster is in account {cluster_account}", caller.arn, caller.account),
            "run migrate with credentials of the MSK cluster's account (replicators are created there)",
        )
    } else {
        Check::pass("aws-identity", AWS, format!("{} (account {})", caller.arn, caller.account))
    };
    Ok((check, caller))
}

/// Asks IAM's policy simulator whether the caller may do every action of
/// [`policy::caller_grants`] on its resources (with the plan's optional flags).
async fn caller_permissions(
    clients: &Clients,
    msk: &MskSettings,
    caller: &Caller,
    uses: policy::CallerUse,
) -> Result<(Check, ()), Check> {
    let uses_text = match (uses.create_secret, uses.delete_secrets) {
        (false, false) => String::new(),
        (true, false) => " (with --create-secret)".into(),
        (false, true) => " (with --delete-secrets)".into(),
        (true, true) => " (with --create-secret and --delete-secrets)".into(),
    };
    let what = format!("every action apply, status and teardown use{uses_text}");
    simulate_caller(clients, caller, policy::caller_grants(msk, uses), &what).await
}

/// For a command that runs no preflight: whether the caller may do what `grants` grant (`what`,
/// for the message), as `aws-permissions` checks it. A warning when IAM's simulator cannot say.
pub async fn caller_may(clients: &Clients, msk: &MskSettings, grants: Vec<policy::Grant>, what: &str) -> Check {
    let caller = match identity(clients, msk).await {
        Ok((_, caller)) => caller,
        Err(check) => return check,
    };
    match simulate_caller(clients, &caller, grants, what).await {
        Ok((check, ())) | Err(check) => check,
    }
}

/// IAM's policy simulator on the caller for each action and resource of `grants`.
async fn simulate_caller(
    clients: &Clients,
    caller: &Caller,
    grants: Vec<policy::Grant>,
    what: &str,
) -> Result<(Check, ()), Check> {
    let cannot_verify = |why: String| {
        Ok((
            Check::warn(
                "aws-permissions",
                AWS,
                format!("cannot verify the caller's permissions: {why}"),
                "allow `iam:SimulatePrincipalPolicy` on the caller to have this checked, or review the actions in the README's MSK section",
            ),
            (),
        ))
    };
    let Some(principal) = principal_for_simulation(&caller.arn) else {
        return cannot_verify(format!("IAM's simulator takes users and roles, not {}", caller.arn));
    };
    let mut denied = Vec::new();
    let mut conditional = Vec::new();
    let mut checked = BTreeSet::new();
    for (actions, resource) in
        grants.into_iter().flat_map(|grant| grant.resources.into_iter().map(move |r| (grant.actions.clone(), r)))
    {
        let outcome = clients
            .iam
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .resource_arns(&resource)
            .send()
            .await;
        let output = match outcome {
            Ok(output) => output,
            // The simulator is a convenience: whatever keeps it from answering (no permission,
            // an emulator without it, a role path lost in the STS ARN) leaves this unverified,
            // it does not fail the plan.
            Err(error) => {
                return cannot_verify(classify(&error, "iam:SimulatePrincipalPolicy", &principal).to_string());
            }
        };
        for result in output.evaluation_results() {
            checked.insert(result.eval_action_name().to_string());
            let decision = result.eval_decision().as_str();
            let action = result.eval_action_name();
            let on = result.eval_resource_name().unwrap_or(&resource);
            if decision != "allowed" {
                denied.push(format!("{action} on {on} ({decision})"));
            } else if !result.missing_context_values().is_empty() {
                conditional.push(format!("{action} on {on}"));
            }
        }
    }
    if !denied.is_empty() {
        return Err(Check::fail(
            "aws-permissions",
            AWS,
            format!("{principal} may not: {}", denied.join("; ")),
            format!("grant these actions to {principal}"),
        ));
    }
    let mut detail = format!(
        "{principal} may do {what}, on the plan's resources: {}",
        checked.into_iter().collect::<Vec<_>>().join(", ")
    );
    if !conditional.is_empty() {
        detail.push_str(&format!(" (under conditions the simulator could not evaluate: {})", conditional.join("; ")));
    }
    Ok((Check::pass("aws-permissions", AWS, detail), ()))
}

async fn read_secret(clients: &Clients, msk: &MskSettings, arn: &str) -> Result<(Check, SecretContents), Check> {
    let described = clients
        .secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| aws_failure("secret", &classify(&error, "secretsmanager:DescribeSecret", arn)))?;
    if described.deleted_date().is_some() {
        return Err(Check::fail(
            "secret",
            AWS,
            format!("{arn} is scheduled for deletion"),
            format!("restore it: aws secretsmanager restore-secret --secret-id {arn}"),
        ));
    }
    let value = clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| aws_failure("secret", &classify(&error, "secretsmanager:GetSecretValue", arn)))?;
    let shape_hint = if msk.certificate_secret_arn.is_some() {
        "store JSON: {\"username\": \"…\", \"password\": \"…\", \"certificate\": \"-----BEGIN CERTIFICATE-----…\"}"
    } else {
        "store JSON: {\"username\": \"…\", \"password\": \"…\"} (no `certificate`: without `source.tls.ca_file` the source's certificates are publicly trusted)"
    };
    let Some(text) = value.secret_string() else {
        return Err(Check::fail("secret", AWS, format!("{arn} holds binary data, not a JSON string"), shape_hint));
    };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        // Never echo the text: it may be the bare password.
        return Err(Check::fail("secret", AWS, format!("{arn} is not a JSON object"), shape_hint));
    };
    let mut needed = Vec::new();
    if arn == msk.scram_secret_arn {
        needed.extend(["username", "password"]);
    }
    if msk.certificate_secret_arn.as_deref() == Some(arn) {
        needed.push("certificate");
    }
    let text_of = |key: &str| fields.get(key).and_then(Value::as_str).filter(|v| !v.trim().is_empty());
    let missing: Vec<&str> = needed.iter().copied().filter(|key| text_of(key).is_none()).collect();
    if !missing.is_empty() {
        let keys = missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        return Err(Check::fail(
            "secret",
            AWS,
            format!("{arn} lacks {keys} (MSK Replicator reads `username`, `password`, `certificate`)"),
            shape_hint,
        ));
    }
    let contents = SecretContents {
        arn: arn.to_string(),
        username: text_of("username").map(str::to_string),
        password: text_of("password").map(SecretString::new),
        certificate: text_of("certificate").map(str::to_string),
        kms_key_id: described.kms_key_id().map(str::to_string),
    };
    let key = contents.kms_key_id.as_deref().unwrap_or("the AWS managed key aws/secretsmanager");
    let check = Check::pass("secret", AWS, format!("{arn}: JSON with {}; encrypted with {key}", needed.join(", ")));
    Ok((check, contents))
}

/// The `certificate` must be a PEM CA chain that has not expired.
fn certificate_chain(arn: &str, pem: &str) -> Check {
    let hint =
        "put the PEM of the CA that signed the source brokers' certificates (root and intermediates) in `certificate`";
    let chain = match openssl::x509::X509::stack_from_pem(pem.as_bytes()) {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return Check::fail(
                "secret-certificate",
                AWS,
                format!("{arn}: `certificate` holds no PEM certificate"),
                hint,
            );
        }
        Err(error) => {
            return Check::fail(
                "secret-certificate",
                AWS,
                format!("{arn}: `certificate` does not parse as PEM certificates: {error}"),
                hint,
            );
        }
    };
    let now = openssl::asn1::Asn1Time::days_from_now(0).ok();
    let mut subjects = Vec::new();
    for certificate in &chain {
        let subject = crate::kafka::probe::name_text(certificate.subject_name());
        if let Some(now) = &now
            && certificate.not_after() < now
        {
            return Check::fail(
                "secret-certificate",
                AWS,
                format!("{arn}: `{subject}` expired on {}", certificate.not_after()),
                hint,
            );
        }
        subjects.push(subject);
    }
    Check::pass("secret-certificate", AWS, format!("{} PEM certificate(s): {}", chain.len(), subjects.join(" ← ")))
}

/// Logs in to the source as the replicator will: the secret's username and password, the
/// planned mechanism, on the replicator's listener, trusting only the secret's certificate (or,
/// with `None`, a publicly trusted certificate: the system trust store).
async fn secret_login(
    plan: &Plan,
    msk: &MskSettings,
    secret: &SecretContents,
    certificate: Option<&str>,
    timeout: Duration,
) -> Check {
    let ca_file = match certificate {
        Some(certificate) => {
            let ca_file =
                std::env::temp_dir().join(format!("migrate-secret-ca-{}-{}.pem", std::process::id(), unique()));
            if let Err(error) = std::fs::write(&ca_file, certificate) {
                return Check::fail(
                    "secret-login",
                    "source",
                    format!("cannot write {}: {error}", ca_file.display()),
                    "",
                );
            }
            Some(ca_file)
        }
        None => None,
    };
    let mut cluster = plan.source.clone();
    cluster.replicator_auth = Auth::Scram(ScramCredentials {
        mechanism: msk.scram_mechanism,
        username: secret.username.clone().unwrap_or_default(),
        password: secret.password.clone().unwrap_or_else(|| SecretString::new("")),
    });
    let verify_hostname = cluster.tls.as_ref().is_none_or(|tls| tls.verify_hostname);
    let apps = cluster.tls.as_ref().is_none_or(|tls| tls.apps);
    cluster.tls = Some(Tls { ca_file: ca_file.clone(), verify_hostname, apps });
    let mut check = super::cluster::replicator_login_check("secret-login", &cluster, timeout).await;
    let trusting = match ca_file {
        Some(ca_file) => {
            let _ = std::fs::remove_file(&ca_file);
            "credentials and certificate"
        }
        None => "credentials, trusting the system's CAs (publicly trusted certificate)",
    };
    check.detail = format!("the secret's {trusting} ({}): {}", secret.arn, check.detail);
    if check.status == super::Status::Fail {
        check.hint = Some(format!(
            "MSK Replicator will log in exactly like this: update the secret (`aws secretsmanager put-secret-value --secret-id {}`) with the replicator user's {} credentials and the CA chain of the source's TLS listener",
            secret.arn, msk.scram_mechanism
        ));
    }
    check
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

/// The secret's KMS key: enabled, the plan's (when named), and its key policy lets the role
/// decrypt (directly, or by delegating to IAM — then the role's policy must, see `role_policy`).
async fn kms_key(clients: &Clients, msk: &MskSettings, key_id: Option<&str>) -> Result<(Check, Option<String>), Check> {
    // The AWS managed key needs nothing of the role (AWS's SER page asks kms:Decrypt only for a
    // customer managed key).
    let Some(key_id) = key_id.filter(|id| !is_aws_managed_secrets_key(id)) else {
        return Ok((
            Check::pass(
                "secret-kms",
                AWS,
                "encrypted with the AWS managed key aws/secretsmanager: the role needs no KMS grant",
            ),
            None,
        ));
    };
    let described = clients
        .kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|error| aws_failure("secret-kms", &classify(&error, "kms:DescribeKey", key_id)))?;
    let Some(metadata) = described.key_metadata() else {
        return Err(Check::fail("secret-kms", AWS, format!("KMS returned no metadata for {key_id}"), ""));
    };
    let key_arn = metadata.arn().unwrap_or(key_id).to_string();
    if !metadata.enabled() {
        let state = metadata.key_state().map(|s| s.as_str().to_string()).unwrap_or_default();
        return Err(Check::fail(
            "secret-kms",
            AWS,
            format!("{key_arn} is not enabled ({state}): the secret cannot be decrypted"),
            format!("enable it: aws kms enable-key --key-id {key_arn}"),
        ));
    }
    if let Some(planned) = &msk.secret_kms_key_arn
        && planned != &key_arn
    {
        return Err(Check::fail(
            "secret-kms",
            AWS,
            format!("the secret is encrypted with {key_arn}, the plan names {planned}"),
            "set `msk.secret_kms_key_arn` to the secret's key (the rendered policy scopes kms:Decrypt to it)",
        ));
    }
    let key_policy = clients
        .kms
        .get_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .send()
        .await
        .map_err(|error| aws_failure("secret-kms", &classify(&error, "kms:GetKeyPolicy", &key_arn)))?;
    let document: Value = key_policy.policy().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null);
    let role = &msk.service_execution_role_arn;
    let account = Arn::parse(role).map(|a| a.account).unwrap_or_default();
    let check = match key_policy_access(&document, role, &account) {
        KeyAccess::Role => {
            Check::pass("secret-kms", AWS, format!("{key_arn}: enabled; its key policy lets {role} decrypt"))
        }
        KeyAccess::Account => Check::pass(
            "secret-kms",
            AWS,
            format!(
                "{key_arn}: enabled; its key policy delegates to IAM in account {account} (the role's policy must allow kms:Decrypt: see service-role-policy)"
            ),
        ),
        KeyAccess::None => {
            return Err(Check::fail(
                "secret-kms",
                AWS,
                format!("{key_arn}: its key policy does not let {role} (or account {account}) use kms:Decrypt"),
                format!("add a key policy statement allowing kms:Decrypt to {role}"),
            ));
        }
    };
    Ok((check, Some(key_arn)))
}

/// Whether a secret's `KmsKeyId` names the AWS managed key (`alias/aws/secretsmanager`, by alias
/// or alias ARN).
fn is_aws_managed_secrets_key(key_id: &str) -> bool {
    key_id == "alias/aws/secretsmanager" || key_id.ends_with(":alias/aws/secretsmanager")
}

enum KeyAccess {
    Role,
    Account,
    None,
}

fn key_policy_access(document: &Value, role: &str, account: &str) -> KeyAccess {
    let root = Arn::parse(role).map(|a| format!("arn:{}:iam::{account}:root", a.partition)).unwrap_or_default();
    let mut access = KeyAccess::None;
    for statement in policy::statements(document) {
        if !policy::allows_action(statement, "kms:Decrypt") {
            continue;
        }
        let principals: Vec<String> = match statement.get("Principal") {
            Some(principal @ Value::String(_)) => policy::strings(principal),
            Some(principal) => principal.get("AWS").map(policy::strings).unwrap_or_default(),
            None => Vec::new(),
        };
        if principals.iter().any(|p| p == role || p == "*") {
            return KeyAccess::Role;
        }
        if principals.iter().any(|p| p == &root || p == account) {
            access = KeyAccess::Account;
        }
    }
    access
}

/// The role exists and trusts `kafka.amazonaws.com`; returns its policy documents.
async fn service_role(clients: &Clients, msk: &MskSettings) -> Result<(Check, RoleDocuments), Check> {
    let arn = &msk.service_execution_role_arn;
    let name = role_name(arn);
    let role = clients
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|error| aws_failure("service-role", &classify(&error, "iam:GetRole", arn)))?;
    let trust = role.role().and_then(|r| r.assume_role_policy_document()).map(decode_policy).unwrap_or(Value::Null);
    if !policy::trusts_service(&trust, policy::SERVICE_PRINCIPAL) {
        return Err(Check::fail(
            "service-role",
            AWS,
            format!("{arn} does not trust {} to assume it", policy::SERVICE_PRINCIPAL),
            "set its trust policy to `replicator-role-trust.json` from `migrate render`",
        ));
    }
    let documents = role_documents(clients, name, arn).await?;
    Ok((Check::pass("service-role", AWS, format!("{arn} exists and trusts {}", policy::SERVICE_PRINCIPAL)), documents))
}

/// The role's policies: managed (by ARN) and inline, as documents.
#[derive(Debug, Clone, Default)]
struct RoleDocuments {
    managed: Vec<String>,
    documents: Vec<Value>,
}

async fn role_documents(clients: &Clients, name: &str, arn: &str) -> Result<RoleDocuments, Check> {
    let fail = |error: AwsError| aws_failure("service-role", &error);
    let mut found = RoleDocuments::default();
    // Every IAM list call is paged (`Marker`/`IsTruncated`): a role with many policies must not
    // look as if it lacked the ones on a later page.
    let mut attached_arns = Vec::new();
    let mut marker = None;
    loop {
        let page = clients
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| fail(classify(&error, "iam:ListAttachedRolePolicies", arn)))?;
        attached_arns.extend(page.attached_policies().iter().filter_map(|p| p.policy_arn()).map(str::to_string));
        marker = page.marker().filter(|_| page.is_truncated()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    for policy_arn in &attached_arns {
        found.managed.push(policy_arn.to_string());
        let policy = clients
            .iam
            .get_policy()
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(|error| fail(classify(&error, "iam:GetPolicy", policy_arn)))?;
        let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else { continue };
        let version = clients
            .iam
            .get_policy_version()
            .policy_arn(policy_arn)
            .version_id(version)
            .send()
            .await
            .map_err(|error| fail(classify(&error, "iam:GetPolicyVersion", policy_arn)))?;
        if let Some(document) = version.policy_version().and_then(|v| v.document()) {
            found.documents.push(decode_policy(document));
        }
    }
    let mut inline_names = Vec::new();
    let mut marker = None;
    loop {
        let page = clients
            .iam
            .list_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| fail(classify(&error, "iam:ListRolePolicies", arn)))?;
        inline_names.extend(page.policy_names().iter().cloned());
        marker = page.marker().filter(|_| page.is_truncated()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    for policy_name in &inline_names {
        let policy = clients
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|error| fail(classify(&error, "iam:GetRolePolicy", arn)))?;
        found.documents.push(decode_policy(policy.policy_document()));
    }
    Ok(found)
}

/// An app's `role_arn` against the least-privilege policy `render` writes for it
/// (`app-<name>-policy.json`): each `kafka-cluster:*` action on each ARN, decided over the
/// role's managed and inline policies as for the replicator's role.
pub async fn app_role_check(clients: &Clients, msk: &MskSettings, app: &crate::plan::App) -> Check {
    let name = "app-role-policy";
    let Some(arn) = app.role_arn.as_deref() else {
        return Check::pass(name, AWS, format!("app `{}` names no role_arn", app.name));
    };
    if !arn.contains(":role/") {
        return app_user_check(clients, msk, app, arn).await;
    }
    let documents = match role_documents(clients, role_name(arn), arn).await {
        Ok(documents) => documents,
        Err(mut check) => {
            check.name = name.into();
            check.detail = format!("app `{}`: {}", app.name, check.detail);
            return check;
        }
    };
    let mut missing = Vec::new();
    let mut checked = 0;
    for grant in policy::app_grants(app, msk) {
        for action in &grant.actions {
            for resource in &grant.resources {
                checked += 1;
                match policy::decide(&documents.documents, action, resource) {
                    Decision::Allowed { .. } => {}
                    Decision::ExplicitDeny => missing.push(format!("{action} on {resource} (explicitly denied)")),
                    Decision::NotGranted => missing.push(format!("{action} on {resource}")),
                }
            }
        }
    }
    if missing.is_empty() {
        return Check::pass(
            name,
            AWS,
            format!("app `{}`: {arn} may do all {checked} action/resource pairs its clients need", app.name),
        );
    }
    Check::fail(
        name,
        AWS,
        format!("app `{}`: {arn} lacks: {}", app.name, missing.join("; ")),
        format!(
            "put `app-{}-policy.json` from `migrate render` on the role: aws iam put-role-policy --role-name {} --policy-name migrate-app-{} --policy-document file://app-{}-policy.json",
            app.name,
            role_name(arn),
            app.name,
            app.name
        ),
    )
}

/// An app whose `role_arn` names an IAM user: IAM's policy simulator decides each action/resource
/// pair of its rendered policy, the user's groups, boundary and every policy kind included (reading
/// the user's own policies would miss its groups'). Whatever keeps the simulator from answering
/// leaves the check unverified (⚠), not failed.
async fn app_user_check(clients: &Clients, msk: &MskSettings, app: &crate::plan::App, arn: &str) -> Check {
    let name = "app-role-policy";
    let mut missing = Vec::new();
    let mut checked = 0;
    for grant in policy::app_grants(app, msk) {
        for resource in &grant.resources {
            let outcome = clients
                .iam
                .simulate_principal_policy()
                .policy_source_arn(arn)
                .set_action_names(Some(grant.actions.iter().map(|a| a.to_string()).collect()))
                .resource_arns(resource)
                .send()
                .await;
            let output = match outcome {
                Ok(output) => output,
                Err(error) => {
                    return Check::warn(
                        name,
                        AWS,
                        format!(
                            "app `{}`: cannot verify the IAM user {arn}: {}",
                            app.name,
                            classify(&error, "iam:SimulatePrincipalPolicy", arn)
                        ),
                        format!(
                            "allow `iam:SimulatePrincipalPolicy` on {arn} to have it checked, or attach `app-{}-policy.json` from `migrate render` to it",
                            app.name
                        ),
                    );
                }
            };
            for result in output.evaluation_results() {
                checked += 1;
                let action = result.eval_action_name();
                let on = result.eval_resource_name().unwrap_or(resource);
                match result.eval_decision().as_str() {
                    "allowed" => {}
                    "explicitDeny" => missing.push(format!("{action} on {on} (explicitly denied)")),
                    _ => missing.push(format!("{action} on {on}")),
                }
            }
        }
    }
    if missing.is_empty() {
        return Check::pass(
            name,
            AWS,
            format!(
                "app `{}`: the IAM user {arn} may do all {checked} action/resource pairs its clients need (IAM's policy simulator)",
                app.name
            ),
        );
    }
    let user = role_name(arn);
    Check::fail(
        name,
        AWS,
        format!("app `{}`: the IAM user {arn} lacks: {}", app.name, missing.join("; ")),
        format!(
            "put `app-{}-policy.json` from `migrate render` on the user: aws iam put-user-policy --user-name {user} --policy-name migrate-app-{} --policy-document file://app-{}-policy.json",
            app.name, app.name, app.name
        ),
    )
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(text: &str) -> Value {
    let decoded = urlencoding::decode(text).map(|d| d.into_owned()).unwrap_or_else(|_| text.to_string());
    serde_json::from_str(&decoded).unwrap_or(Value::Null)
}

/// The role has what AWS's Developer Guide documents for a SASL/SCRAM source: the managed policy
/// `AWSMSKReplicatorExecutionRole` attached, the four Secrets Manager actions on the SCRAM and CA
/// secrets, and `kms:Decrypt` on each customer managed key the secrets use (`key_arns`; none for
/// the AWS managed key). Anything else a role may carry is not asked for.
fn role_policy(msk: &MskSettings, role: &RoleDocuments, key_arns: &[String]) -> Check {
    let arn = &msk.service_execution_role_arn;
    let managed_arn = policy::managed_policy_arn(&msk.cluster().arn.partition);
    let mut missing = Vec::new();
    let mut denied = Vec::new();
    let mut conditional = 0;
    let mut checked = 0;
    if !role.managed.iter().any(|p| p == &managed_arn) {
        missing.push(format!(
            "the managed policy {} (MSK Replicator's cluster, topic and group permissions, its internal topics and groups included)",
            policy::MANAGED_POLICY_NAME
        ));
    }
    for grant in policy::role_grants(msk) {
        let resources = if grant.sid == policy::DECRYPT_SID { key_arns.to_vec() } else { grant.resources.clone() };
        for action in &grant.actions {
            for resource in &resources {
                checked += 1;
                match policy::decide(&role.documents, action, resource) {
                    Decision::Allowed { conditional: true } => conditional += 1,
                    Decision::Allowed { conditional: false } => {}
                    Decision::ExplicitDeny => denied.push(format!("{action} on {resource}")),
                    Decision::NotGranted => missing.push(format!("{action} on {resource}")),
                }
            }
        }
    }
    if !denied.is_empty() || !missing.is_empty() {
        let mut detail = String::new();
        if !missing.is_empty() {
            detail.push_str(&format!("{arn} lacks: {}", missing.join("; ")));
        }
        if !denied.is_empty() {
            if !detail.is_empty() {
                detail.push_str(". ");
            }
            detail.push_str(&format!("explicitly denied: {}", denied.join("; ")));
        }
        return Check::fail(
            "service-role-policy",
            AWS,
            detail,
            format!(
                "attach the managed policy (aws iam attach-role-policy --role-name {name} --policy-arn {managed_arn}) and put `replicator-role-policy.json` from `migrate render` as an inline policy (aws iam put-role-policy --role-name {name} …); remove the denies",
                name = role_name(arn)
            ),
        );
    }
    let keys = if key_arns.is_empty() {
        "no customer managed key to decrypt".to_string()
    } else {
        format!("kms:Decrypt on {}", key_arns.join(", "))
    };
    let mut detail = format!(
        "{arn}: {} attached; Secrets Manager's four actions on the secrets; {keys} ({checked} action/resource pairs)",
        policy::MANAGED_POLICY_NAME
    );
    if conditional > 0 {
        detail.push_str(&format!("; {conditional} under conditions not evaluated here"));
    }
    Check::pass("service-role-policy", AWS, detail)
}

/// The cluster exists, is ACTIVE, runs Express brokers with IAM auth, and its IAM bootstrap
/// string matches the plan's target.
async fn msk_cluster(plan: &Plan, clients: &Clients, msk: &MskSettings) -> Result<(Check, MskFacts), Check> {
    let arn = &msk.cluster_arn;
    let described = clients
        .kafka
        .describe_cluster_v2()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|error| aws_failure("msk-cluster", &classify(&error, "kafka:DescribeClusterV2", arn)))?;
    let Some(info) = described.cluster_info() else {
        return Err(Check::fail("msk-cluster", AWS, format!("{arn}: no cluster information returned"), ""));
    };
    let state = info.state().map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into());
    let mut problems = Vec::new();
    if state != "ACTIVE" {
        problems.push(format!("state {state}, not ACTIVE"));
    }
    let provisioned = info.provisioned();
    let broker = provisioned.and_then(|p| p.broker_node_group_info());
    let instance_type = broker.and_then(|b| b.instance_type()).unwrap_or("");
    // This tool targets Express brokers only: its readiness gate, capacity advice and README are
    // written for them (Express manages storage and partition placement itself), and AWS's
    // external-migration guide is written for Express. A Standard (kafka.*) or Serverless target
    // is refused by name rather than half supported.
    if !instance_type.starts_with("express.") {
        let kind = if provisioned.is_none() {
            let kind = info.cluster_type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "unknown type".into());
            format!("a {kind} cluster")
        } else {
            format!("an MSK Standard cluster (brokers {instance_type})")
        };
        problems.push(format!("{kind}: this tool migrates to MSK Express brokers only"));
    }
    let sasl = provisioned.and_then(|p| p.client_authentication()).and_then(|a| a.sasl());
    let iam = sasl.and_then(|s| s.iam()).and_then(|i| i.enabled()).unwrap_or(false);
    if !iam {
        problems.push("IAM access control is not enabled".into());
    }
    if !problems.is_empty() {
        return Err(Check::fail(
            "msk-cluster",
            AWS,
            format!("{arn}: {}", problems.join("; ")),
            "point `msk.cluster_arn` at an ACTIVE MSK Provisioned cluster with Express brokers (express.*) and IAM client authentication; for a Standard target, create the replicators by hand from `migrate render`'s files",
        ));
    }
    let brokers = clients
        .kafka
        .get_bootstrap_brokers()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|error| aws_failure("msk-cluster", &classify(&error, "kafka:GetBootstrapBrokers", arn)))?;
    let Some(bootstrap) = brokers.bootstrap_broker_string_sasl_iam().filter(|b| !b.is_empty()) else {
        return Err(Check::fail(
            "msk-cluster",
            AWS,
            format!("{arn}: GetBootstrapBrokers returned no IAM bootstrap string"),
            "enable IAM client authentication on the cluster",
        ));
    };
    let scram = sasl.and_then(|s| s.scram()).and_then(|s| s.enabled()).unwrap_or(false);
    let facts = MskFacts {
        security_groups: broker.map(|b| b.security_groups().to_vec()).unwrap_or_default(),
        scram: Some(scram),
    };
    let cluster = MskClusterArn::parse(arn).map(|c| c.name).unwrap_or_default();
    let detail = format!("{cluster}: ACTIVE, Express ({instance_type}), IAM auth; IAM bootstrap {bootstrap}");
    // `target.bootstrap_servers` is the apps' listener: the SCRAM one (9096) when they log in so.
    let (listener, apps_bootstrap) = if plan.scram_apps_on_target().is_empty() {
        ("IAM", bootstrap)
    } else {
        ("SASL/SCRAM", brokers.bootstrap_broker_string_sasl_scram().unwrap_or_default())
    };
    let expected: BTreeSet<&str> = apps_bootstrap.split(',').map(str::trim).collect();
    let planned: BTreeSet<&str> = plan.target.bootstrap_servers.iter().map(|s| s.trim()).collect();
    // Without a SCRAM listener there is nothing to compare with: `app-scram-secrets` says why.
    if !apps_bootstrap.is_empty() && expected != planned {
        return Ok((
            Check::warn(
                "msk-cluster",
                AWS,
                format!("{detail}; the plan's target.bootstrap_servers differ from the cluster's {listener} listener"),
                format!("set target.bootstrap_servers to {apps_bootstrap}"),
            ),
            facts,
        ));
    }
    Ok((Check::pass("msk-cluster", AWS, detail), facts))
}

/// Apps that log in to an MSK target with SASL/SCRAM: MSK knows a SCRAM user only as a Secrets
/// Manager secret associated with the cluster (named `AmazonMSK_…`, encrypted with a customer
/// managed KMS key), and accepts SCRAM-SHA-512 only. Each app's user must be in one of the
/// cluster's secrets (kafka:ListScramSecrets, then secretsmanager:GetSecretValue on each) with the
/// password the plan gives the app.
pub async fn app_scram_check(clients: &Clients, msk: &MskSettings, plan: &Plan, scram_enabled: Option<bool>) -> Check {
    const NAME: &str = "app-scram-secrets";
    let apps = plan.scram_apps_on_target();
    if apps.is_empty() {
        return Check::pass(NAME, AWS, "no app logs in to the target with SASL/SCRAM");
    }
    let arn = &msk.cluster_arn;
    let cluster = msk.cluster().name;
    let names = apps.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    let iam_apps: Vec<String> = plan
        .apps
        .iter()
        .filter(|app| !matches!(app.auth_on(&plan.target), Auth::Scram(_)))
        .map(|app| format!("`{}`", app.name))
        .collect();
    if !iam_apps.is_empty() {
        return Check::fail(
            NAME,
            AWS,
            format!(
                "apps {names} log in to the target with SASL/SCRAM and {} without it, but target.bootstrap_servers names one listener for all apps (MSK's SCRAM one is 9096, its IAM one 9098)",
                iam_apps.join(", ")
            ),
            "give every app the same mechanism on the target (target.app_auth, apps[].auth.target)",
        );
    }
    let Some(scram_enabled) = scram_enabled else {
        return Check::warn(
            NAME,
            AWS,
            format!("cannot verify the SCRAM users of apps {names}: the cluster could not be described"),
            "fix `msk-cluster` first",
        );
    };
    if !scram_enabled {
        return Check::fail(
            NAME,
            AWS,
            format!(
                "apps {names} log in to the target with SASL/SCRAM, but {cluster} has SASL/SCRAM client authentication off"
            ),
            format!(
                "turn it on (aws kafka update-security --cluster-arn {arn} --current-version … --client-authentication '{{\"Sasl\":{{\"Scram\":{{\"Enabled\":true}},\"Iam\":{{\"Enabled\":true}}}}}}'), or give the apps `mechanism: AWS_MSK_IAM` on the target"
            ),
        );
    }
    let mut secrets = Vec::new();
    let mut pages = clients.kafka.list_scram_secrets().cluster_arn(arn).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => secrets.extend(page.secret_arn_list().iter().cloned()),
            Err(error) => return aws_failure(NAME, &classify(&error, "kafka:ListScramSecrets", arn)),
        }
    }
    // username → (secret, password); what could not be read is named, never guessed.
    let mut users: BTreeMap<String, (String, Option<SecretString>)> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for secret in &secrets {
        let value = match clients.secrets.get_secret_value().secret_id(secret).send().await {
            Ok(value) => value,
            Err(error) => {
                unreadable.push(classify(&error, "secretsmanager:GetSecretValue", secret).to_string());
                continue;
            }
        };
        let fields = value.secret_string().and_then(|text| serde_json::from_str::<Value>(text).ok());
        let text_of = |key: &str| fields.as_ref().and_then(|f| f.get(key)).and_then(Value::as_str).map(str::to_string);
        match text_of("username") {
            Some(username) => {
                users.insert(username, (secret.clone(), text_of("password").map(SecretString::new)));
            }
            // Never echo the text: it may be a bare password.
            None => unreadable.push(format!("{secret} holds no JSON `username`")),
        }
    }
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for (app, credentials) in &apps {
        let user = &credentials.username;
        if credentials.mechanism != crate::plan::ScramMechanism::Sha512 {
            problems
                .push(format!("app `{app}` logs in with {}: MSK accepts SCRAM-SHA-512 only", credentials.mechanism));
        }
        match users.get(user) {
            None => missing.push(format!("app `{app}`: user `{user}` has no secret associated with {cluster}")),
            Some((secret, password))
                if password.as_ref().map(SecretString::expose) != Some(credentials.password.expose()) =>
            {
                problems
                    .push(format!("app `{app}`: the password the plan gives user `{user}` is not the one in {secret}"))
            }
            Some(_) => {}
        }
    }
    let associated = format!("{} secret(s) associated", secrets.len());
    if problems.is_empty() && missing.is_empty() {
        let users: Vec<&str> = apps.iter().map(|(_, c)| c.username.as_str()).collect();
        return Check::pass(
            NAME,
            AWS,
            format!(
                "apps {names}: users {} each in a secret associated with {cluster} ({associated})",
                users.join(", ")
            ),
        );
    }
    let hint = if missing.is_empty() {
        "give the apps the password in the secret (or update the secret: MSK reads it again within minutes)".to_string()
    } else {
        format!(
            "store {{\"username\": \"…\", \"password\": \"…\"}} in a secret named AmazonMSK_… encrypted with a customer managed KMS key (not aws/secretsmanager), then: aws kafka batch-associate-scram-secret --cluster-arn {arn} --secret-arn-list SECRET_ARN"
        )
    };
    // A user not found while some secrets could not be read may be in one of those: unverified.
    let unverified = problems.is_empty() && !unreadable.is_empty();
    problems.extend(missing);
    if !unreadable.is_empty() {
        problems.push(format!("{} of the {associated} could not be read: {}", unreadable.len(), unreadable.join("; ")));
    }
    let detail = problems.join("; ");
    if unverified {
        return Check::warn(NAME, AWS, format!("cannot verify: {detail}"), hint);
    }
    Check::fail(NAME, AWS, detail, hint)
}

fn source_endpoints(plan: &Plan) -> Vec<(String, u16)> {
    plan.source
        .replicator_bootstrap_servers
        .iter()
        .filter_map(|server| {
            let (host, port) = server.rsplit_once(':')?;
            Some((host.trim_matches(['[', ']']).to_string(), port.parse().ok()?))
        })
        .collect()
}

/// MSK's IAM listener port.
const MSK_IAM_PORT: u16 = 9098;
const HTTPS_PORT: u16 = 443;

async fn network(
    plan: &Plan,
    msk: &MskSettings,
    clients: &Clients,
    facts: &MskFacts,
    bound: Duration,
) -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    let endpoints = source_endpoints(plan);
    let groups = bounded(bound, "network-security-groups", security_groups(clients, msk, facts, &endpoints)).await;
    let vpc = match groups {
        Ok((check, vpc)) => {
            checks.push(check);
            Some(vpc)
        }
        Err(check) => {
            checks.push(check);
            None
        }
    };
    match bounded(bound, "network-subnets", subnets(clients, msk, vpc.as_deref())).await {
        Ok((check, ())) => checks.push(check),
        Err(check) => checks.push(check),
    }
    let vpc_text = vpc.unwrap_or_else(|| "the replicator's VPC".into());
    let hosts: Vec<String> = endpoints.iter().map(|(h, p)| format!("{h}:{p}")).collect();
    let mut manual = vec![
        format!(
            "routing from {vpc_text} to the source brokers {} (Direct Connect, Site-to-Site VPN, VPC peering or Transit Gateway); prove it by listing topics from an instance in subnets {}",
            hosts.join(", "),
            msk.subnet_ids.join(", ")
        ),
        format!(
            "the source brokers' firewalls and the subnets' network ACLs accept {vpc_text}'s addresses on {}",
            endpoints
                .iter()
                .map(|(_, p)| p.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    let names: Vec<&str> = endpoints.iter().map(|(h, _)| h.as_str()).filter(|h| h.parse::<IpAddr>().is_err()).collect();
    if !names.is_empty() {
        manual.push(format!(
            "the broker names {} resolve from inside {vpc_text} (Route 53 Resolver rules or private hosted zones), to the addresses the brokers advertise",
            names.join(", ")
        ));
    }
    if !facts.security_groups.is_empty() {
        manual.push(format!(
            "the MSK cluster's security groups {} accept {} on port {MSK_IAM_PORT}",
            facts.security_groups.join(", "),
            msk.security_group_ids.join(", ")
        ));
    }
    (checks, manual)
}

/// Whether an egress rule lets TCP to `port` out towards `destination` (an address, or any).
fn egress_allows(rules: &[aws_sdk_ec2::types::IpPermission], port: u16, destination: Egress<'_>) -> bool {
    rules.iter().any(|rule| {
        let protocol = rule.ip_protocol().unwrap_or("");
        let port_ok = protocol == "-1"
            || ((protocol == "tcp" || protocol == "6")
                && rule.from_port().unwrap_or(0) <= port as i32
                && port as i32 <= rule.to_port().unwrap_or(65535));
        if !port_ok {
            return false;
        }
        let cidrs = rule.ip_ranges().iter().filter_map(|r| r.cidr_ip());
        let cidrs6 = rule.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6());
        match destination {
            Egress::Address(address) => cidrs.chain(cidrs6).any(|cidr| cidr_contains(cidr, address)),
            Egress::Groups(groups) => {
                rule.user_id_group_pairs().iter().filter_map(|p| p.group_id()).any(|g| groups.iter().any(|x| x == g))
                    || cidrs.chain(cidrs6).next().is_some()
            }
            Egress::Anywhere => cidrs.chain(cidrs6).next().is_some() || !rule.prefix_list_ids().is_empty(),
        }
    })
}

#[derive(Clone, Copy)]
enum Egress<'a> {
    Address(IpAddr),
    Groups(&'a [String]),
    Anywhere,
}

fn cidr_contains(cidr: &str, address: IpAddr) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else { return false };
    let (Ok(network), Ok(bits)) = (network.parse::<IpAddr>(), bits.parse::<u32>()) else { return false };
    match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            (u32::from(n) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            (u128::from(n) & mask) == (u128::from(a) & mask)
        }
        _ => false,
    }
}

/// The security groups exist in one VPC and let the replicator out to the source brokers, to
/// MSK, and to HTTPS (Secrets Manager).
async fn security_groups(
    clients: &Clients,
    msk: &MskSettings,
    facts: &MskFacts,
    endpoints: &[(String, u16)],
) -> Result<(Check, String), Check> {
    let ids = msk.security_group_ids.join(", ");
    let described = clients
        .ec2
        .describe_security_groups()
        .set_group_ids(Some(msk.security_group_ids.clone()))
        .send()
        .await
        .map_err(|error| {
            aws_failure("network-security-groups", &classify(&error, "ec2:DescribeSecurityGroups", &ids))
        })?;
    let groups = described.security_groups();
    let found: BTreeSet<&str> = groups.iter().filter_map(|g| g.group_id()).collect();
    let absent: Vec<&String> = msk.security_group_ids.iter().filter(|id| !found.contains(id.as_str())).collect();
    if !absent.is_empty() {
        return Err(Check::fail(
            "network-security-groups",
            AWS,
            format!("not found: {}", absent.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            "check `msk.security_group_ids` and the region",
        ));
    }
    let vpcs: BTreeSet<&str> = groups.iter().filter_map(|g| g.vpc_id()).collect();
    if vpcs.len() != 1 {
        return Err(Check::fail(
            "network-security-groups",
            AWS,
            format!("the groups span VPCs {}", vpcs.into_iter().collect::<Vec<_>>().join(", ")),
            "use security groups of one VPC: the replicator's network interfaces live in one",
        ));
    }
    let vpc = vpcs.into_iter().next().unwrap_or_default().to_string();
    let rules: Vec<aws_sdk_ec2::types::IpPermission> =
        groups.iter().flat_map(|g| g.ip_permissions_egress().to_vec()).collect();
    let mut blocked = Vec::new();
    for (host, port) in endpoints {
        let destination = match host.parse::<IpAddr>() {
            Ok(address) => Egress::Address(address),
            Err(_) => Egress::Anywhere,
        };
        if !egress_allows(&rules, *port, destination) {
            blocked.push(format!("the source broker {host}:{port}"));
        }
    }
    let msk_destination =
        if facts.security_groups.is_empty() { Egress::Anywhere } else { Egress::Groups(&facts.security_groups) };
    if !egress_allows(&rules, MSK_IAM_PORT, msk_destination) {
        blocked.push(format!("MSK on port {MSK_IAM_PORT}"));
    }
    if !egress_allows(&rules, HTTPS_PORT, Egress::Anywhere) {
        blocked.push(format!("HTTPS ({HTTPS_PORT}) to Secrets Manager"));
    }
    if !blocked.is_empty() {
        return Err(Check::fail(
            "network-security-groups",
            AWS,
            format!("{ids} (in {vpc}) allow no egress to {}", blocked.join("; ")),
            "add outbound rules for TCP to those ports (source brokers' SASL/TLS port, MSK 9098, HTTPS 443)",
        ));
    }
    let ports: Vec<String> =
        endpoints.iter().map(|(_, p)| p.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
    Ok((
        Check::pass(
            "network-security-groups",
            AWS,
            format!(
                "{ids} in {vpc}: egress to the source ({}), MSK ({MSK_IAM_PORT}) and HTTPS ({HTTPS_PORT})",
                ports.join(", ")
            ),
        ),
        vpc,
    ))
}

/// The subnets exist, in the groups' VPC and distinct availability zones, and reach Secrets
/// Manager through a VPC endpoint or a NAT gateway.
async fn subnets(clients: &Clients, msk: &MskSettings, vpc: Option<&str>) -> Result<(Check, ()), Check> {
    let ids = msk.subnet_ids.join(", ");
    let fail = |error: AwsError| aws_failure("network-subnets", &error);
    let described = clients
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(msk.subnet_ids.clone()))
        .send()
        .await
        .map_err(|error| fail(classify(&error, "ec2:DescribeSubnets", &ids)))?;
    let subnets = described.subnets();
    let by_id: BTreeMap<&str, &aws_sdk_ec2::types::Subnet> =
        subnets.iter().filter_map(|s| Some((s.subnet_id()?, s))).collect();
    let absent: Vec<&str> = msk.subnet_ids.iter().map(String::as_str).filter(|id| !by_id.contains_key(id)).collect();
    if !absent.is_empty() {
        return Err(Check::fail(
            "network-subnets",
            AWS,
            format!("not found: {}", absent.join(", ")),
            "check `msk.subnet_ids` and the region",
        ));
    }
    let vpcs: BTreeSet<&str> = subnets.iter().filter_map(|s| s.vpc_id()).collect();
    let subnet_vpc = vpcs.iter().next().copied().unwrap_or_default().to_string();
    if vpcs.len() != 1 || vpc.is_some_and(|v| v != subnet_vpc) {
        let mut all: Vec<&str> = vpcs.into_iter().collect();
        all.extend(vpc);
        return Err(Check::fail(
            "network-subnets",
            AWS,
            format!("the subnets and security groups are not in one VPC ({})", all.join(", ")),
            "pick subnets of the security groups' VPC",
        ));
    }
    let zones: BTreeSet<&str> = subnets.iter().filter_map(|s| s.availability_zone()).collect();
    if zones.len() < subnets.len() {
        return Err(Check::fail(
            "network-subnets",
            AWS,
            format!("{ids} share availability zones ({})", zones.into_iter().collect::<Vec<_>>().join(", ")),
            "use subnets in distinct availability zones",
        ));
    }
    let service = format!("com.amazonaws.{}.secretsmanager", msk.region);
    let filter = |name: &str, value: &str| aws_sdk_ec2::types::Filter::builder().name(name).values(value).build();
    let endpoints = clients
        .ec2
        .describe_vpc_endpoints()
        .filters(filter("vpc-id", &subnet_vpc))
        .filters(filter("service-name", &service))
        .send()
        .await
        .map_err(|error| fail(classify(&error, "ec2:DescribeVpcEndpoints", &subnet_vpc)))?;
    let endpoint = endpoints
        .vpc_endpoints()
        .iter()
        .find(|e| e.state().is_some_and(|s| s.as_str().eq_ignore_ascii_case("available")));
    let zones_text = zones.into_iter().collect::<Vec<_>>().join(", ");
    if let Some(endpoint) = endpoint {
        let id = endpoint.vpc_endpoint_id().unwrap_or_default();
        return Ok((
            Check::pass(
                "network-subnets",
                AWS,
                format!("{ids} in {subnet_vpc} ({zones_text}); Secrets Manager through VPC endpoint {id}"),
            ),
            (),
        ));
    }
    // No endpoint: each subnet needs a default route through a NAT gateway (the replicator's
    // network interfaces have no public addresses, so an internet gateway alone does not do).
    let tables = clients
        .ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &subnet_vpc))
        .send()
        .await
        .map_err(|error| fail(classify(&error, "ec2:DescribeRouteTables", &subnet_vpc)))?;
    let tables = tables.route_tables();
    let main = tables.iter().find(|t| t.associations().iter().any(|a| a.main().unwrap_or(false)));
    let mut unreachable = Vec::new();
    let mut through = BTreeSet::new();
    for id in &msk.subnet_ids {
        let table =
            tables.iter().find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(id.as_str()))).or(main);
        let nat = table.and_then(|t| {
            t.routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .and_then(|r| r.nat_gateway_id().or(r.transit_gateway_id()))
        });
        match nat {
            Some(nat) => {
                through.insert(nat.to_string());
            }
            None => unreachable.push(id.as_str()),
        }
    }
    if !unreachable.is_empty() {
        return Err(Check::fail(
            "network-subnets",
            AWS,
            format!(
                "{} cannot reach Secrets Manager: {subnet_vpc} has no {service} VPC endpoint and their route table has no 0.0.0.0/0 route through a NAT gateway",
                unreachable.join(", ")
            ),
            format!(
                "create an interface VPC endpoint for {service} in {subnet_vpc}, or route the subnets through a NAT gateway"
            ),
        ));
    }
    Ok((
        Check::pass(
            "network-subnets",
            AWS,
            format!(
                "{ids} in {subnet_vpc} ({zones_text}); Secrets Manager through {}",
                through.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ),
        (),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses() {
        assert!(cidr_contains("10.0.0.0/8", "10.1.2.3".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/16", "10.1.2.3".parse().unwrap()));
        assert!(cidr_contains("0.0.0.0/0", "192.0.2.1".parse().unwrap()));
        assert!(cidr_contains("192.0.2.7/32", "192.0.2.7".parse().unwrap()));
        assert!(!cidr_contains("192.0.2.7/32", "192.0.2.8".parse().unwrap()));
        assert!(!cidr_contains("::/0", "192.0.2.8".parse().unwrap()));
    }

    #[test]
    fn key_policies_delegating_to_the_account_or_naming_the_role() {
        let role = "arn:aws:iam::111122223333:role/replicator";
        let root = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(matches!(key_policy_access(&root, role, "111122223333"), KeyAccess::Account));
        let named = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": [role]}, "Action": ["kms:Decrypt"], "Resource": "*"}]});
        assert!(matches!(key_policy_access(&named, role, "111122223333"), KeyAccess::Role));
        let other = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:Decrypt", "Resource": "*"}]});
        assert!(matches!(key_policy_access(&other, role, "111122223333"), KeyAccess::None));
        let encrypt_only = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Encrypt", "Resource": "*"}]});
        assert!(matches!(key_policy_access(&encrypt_only, role, "111122223333"), KeyAccess::None));
    }
}
