//! Preflight of an `msk` plan's AWS side, against a local moto server (STS, IAM, Secrets Manager,
//! KMS, EC2) with MSK's API and IAM's policy simulator from `aws-smithy-mocks` (moto lacks
//! GetBootstrapBrokers and SimulatePrincipalPolicy), and a real SASL_SSL Apache Kafka broker as the
//! external cluster, so the secret's own credentials and certificate log in for real.
//!
//! Each check is shown passing in one correct setup, then failing with its named cause.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_kafka::operation::describe_cluster_v2::DescribeClusterV2Output;
use aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersOutput;
use aws_sdk_kafka::types as msk_types;
use aws_smithy_mocks::{Rule, mock};
use common::aws::*;
use common::*;
use migrate::aws::Clients;
use migrate::msk::policy;
use migrate::plan::{self, Plan};
use migrate::preflight::{self, Options, PreflightReport, Silent, Status};

/// One SASL_SSL broker for the whole binary: tests only log in to it.
struct TlsSource {
    broker: Broker,
    ca_pem: String,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn tls_source() -> &'static TlsSource {
    static SOURCE: OnceLock<TlsSource> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let Certificates { ca: ca_file, cert, key } = certificates(dir.path(), "source");
        let broker = start_broker(BrokerOptions {
            version: None,
            tls: Some((cert, key)),
            ca: Some(ca_file.clone()),
            ..Default::default()
        });
        let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
        TlsSource { broker, ca_pem, ca_file, _dir: dir }
    })
}

/// What a test changes from the correct setup.
struct Setup {
    /// The secret's JSON; `None`: the replicator's real credentials and the source's CA.
    secret_json: Option<String>,
    trusts_kafka: bool,
    /// `AWSMSKReplicatorExecutionRole` attached to the role.
    managed_policy: bool,
    /// The role's inline policy.
    inline: Inline,
    /// The secret under a customer managed key (else the AWS managed aws/secretsmanager).
    customer_key: bool,
    egress: bool,
    secrets_endpoint: bool,
    key_disabled: bool,
    /// `source.tls` without `ca_file`: the plan says the source's certificates are publicly
    /// trusted.
    public_ca: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            secret_json: None,
            trusts_kafka: true,
            managed_policy: true,
            inline: Inline::Documented { without: None },
            customer_key: true,
            egress: true,
            secrets_endpoint: true,
            key_disabled: false,
            public_ca: false,
        }
    }
}

/// The role's inline policy, in the test's setup.
#[derive(Clone, Copy)]
enum Inline {
    /// AWS's documented snippets ("Additional SER permissions…"), written out here as the page
    /// shows them, not taken from `migrate`'s own policy; `without` drops one action.
    Documented {
        without: Option<&'static str>,
    },
    None,
}

/// AWS's SER snippet for a SASL/SCRAM secret and, with a customer managed key, its kms:Decrypt.
fn documented_inline(secret_arn: &str, key_arn: Option<&str>, without: Option<&str>) -> serde_json::Value {
    let keep = |actions: &[&str]| -> Vec<String> {
        actions.iter().filter(|a| Some(**a) != without).map(|a| a.to_string()).collect()
    };
    let mut statements = vec![serde_json::json!({
        "Sid": "SecretsManagerPermissions",
        "Effect": "Allow",
        "Action": keep(&[
            "secretsmanager:GetResourcePolicy",
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:ListSecretVersionIds",
        ]),
        "Resource": [secret_arn],
    })];
    if let Some(key) = key_arn {
        let actions = keep(&["kms:Decrypt"]);
        if !actions.is_empty() {
            statements.push(serde_json::json!({"Effect": "Allow", "Action": actions, "Resource": [key]}));
        }
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

fn correct_secret() -> String {
    let source = tls_source();
    serde_json::json!({
        "username": REPLICATOR,
        "password": source.broker.password(REPLICATOR),
        "certificate": source.ca_pem,
    })
    .to_string()
}

struct World {
    plan: Plan,
    clients: Clients,
    tag: String,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

fn cluster_arn(tag: &str) -> String {
    format!("arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{tag}/5a1b2c3d-1111-2222-3333-444455556666-3")
}

/// Creates the AWS resources of a correct (or, per `setup`, broken) migration in moto, and the
/// plan naming them.
async fn set_up(setup: Setup) -> World {
    let source = tls_source();
    let tag = unique("aws").replace('_', "-");
    // The operator is an IAM user with keys of its own, so STS names it as AWS does
    // (`arn:aws:iam::…:user/…`; moto's default identity is not a real IAM principal).
    let admin = moto_clients().await;
    admin.iam.create_user().user_name(&tag).send().await.unwrap();
    let keys = admin.iam.create_access_key().user_name(&tag).send().await.unwrap();
    let keys = keys.access_key().unwrap();
    let operator =
        aws_credential_types::Credentials::new(keys.access_key_id(), keys.secret_access_key(), None, None, "operator");
    let config = moto_config()
        .await
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(operator))
        .build();
    let clients = Clients::from_config(&config);
    let dir = tempfile::tempdir().unwrap();

    let key = clients.kms.create_key().description(&tag).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    if setup.key_disabled {
        // moto's DisableKey takes the key ID only (AWS takes either).
        let key_id = key.key_metadata().unwrap().key_id();
        clients.kms.disable_key().key_id(key_id).send().await.unwrap();
    }
    let secret = clients
        .secrets
        .create_secret()
        .name(&tag)
        .set_kms_key_id(setup.customer_key.then(|| key_arn.clone()))
        .secret_string(setup.secret_json.clone().unwrap_or_else(correct_secret))
        .send()
        .await
        .unwrap();
    let secret_arn = secret.arn().unwrap().to_string();

    let octet = 1 + (std::process::id() as u32 + tag.len() as u32 * 7 + rand_u8()) % 250;
    let vpc = clients.ec2.create_vpc().cidr_block(format!("10.{octet}.0.0/16")).send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let subnet = clients
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.{octet}.{}.0/24", i + 1))
            .availability_zone(format!("{REGION}{zone}"))
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let group = clients
        .ec2
        .create_security_group()
        .group_name(&tag)
        .description("replicator")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let group = group.group_id().unwrap().to_string();
    if !setup.egress {
        let rules = clients.ec2.describe_security_groups().group_ids(&group).send().await.unwrap();
        let egress = rules.security_groups()[0].ip_permissions_egress().to_vec();
        clients
            .ec2
            .revoke_security_group_egress()
            .group_id(&group)
            .set_ip_permissions(Some(egress))
            .send()
            .await
            .unwrap();
    }
    if setup.secrets_endpoint {
        clients
            .ec2
            .create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(format!("com.amazonaws.{REGION}.secretsmanager"))
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
            .set_subnet_ids(Some(subnets.clone()))
            .security_group_ids(&group)
            .send()
            .await
            .unwrap();
    }

    let bootstrap =
        format!("b-1.{tag}.c2.kafka.{REGION}.amazonaws.com:9098,b-2.{tag}.c2.kafka.{REGION}.amazonaws.com:9098");
    let yaml = format!(
        r#"name: {tag}
source:
  bootstrap_servers: {source_bootstrap}
  cluster_id: {cluster_id}
  tls: {source_tls}
  replicator_auth: {{ mechanism: SCRAM-SHA-512, username: {REPLICATOR}, password: {{ file: {replicator_password} }} }}
  app_auth: {{ mechanism: SCRAM-SHA-512, username: {APP}, password: {{ file: {app_password} }} }}
target:
  bootstrap_servers: {bootstrap}
  tls: {{}}
  replicator_auth: {{ mechanism: AWS_MSK_IAM }}
  app_auth: {{ mechanism: AWS_MSK_IAM }}
replication:
  backend: msk
  topics: [orders, order_status]
  groups: [order-status]
apps:
  - name: order_status
    produces: [order_status]
    consumes: [{{ group: order-status, topics: [orders] }}]
msk:
  region: {REGION}
  cluster_arn: {cluster_arn}
  service_execution_role_arn: arn:aws:iam::{ACCOUNT}:role/{tag}
  security_group_ids: [{group}]
  subnet_ids: [{subnets}]
  scram_secret_arn: {secret_arn}
{key_line}  log_delivery: {{ cloudwatch_logs_group: /msk/{tag} }}
"#,
        source_bootstrap = source.broker.bootstrap(),
        cluster_id = source.broker.cluster_id,
        source_tls =
            if setup.public_ca { "{}".to_string() } else { format!("{{ ca_file: {} }}", source.ca_file.display()) },
        replicator_password = source.broker.password_file(REPLICATOR).display(),
        app_password = source.broker.password_file(APP).display(),
        cluster_arn = cluster_arn(&tag),
        subnets = subnets.join(", "),
        key_line = if setup.customer_key { format!("  secret_kms_key_arn: {key_arn}\n") } else { String::new() },
    );
    let path = dir.path().join("plan.yaml");
    std::fs::write(&path, yaml).unwrap();
    let plan = plan::load(&path, &plan::process_env).unwrap_or_else(|e| panic!("{e}"));
    let msk = plan.msk().unwrap();

    let trust = if setup.trusts_kafka {
        policy::trust_document()
    } else {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    };
    clients.iam.create_role().role_name(&tag).assume_role_policy_document(trust.to_string()).send().await.unwrap();
    if setup.managed_policy {
        let managed = policy::managed_policy_arn("aws");
        clients.iam.attach_role_policy().role_name(&tag).policy_arn(managed).send().await.unwrap();
    }
    if let Inline::Documented { without } = setup.inline {
        let key = setup.customer_key.then_some(key_arn.as_str());
        let document = documented_inline(&msk.scram_secret_arn, key, without);
        clients
            .iam
            .put_role_policy()
            .role_name(&tag)
            .policy_name("migrate")
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
    }
    let mut clients = clients;
    clients.kafka =
        mock_kafka(&[&describe_cluster(&tag, "ACTIVE", "express.m7g.large", true), &bootstrap_brokers(&bootstrap)])
            .await;
    World { plan, clients, tag, bootstrap, _dir: dir }
}

fn rand_u8() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 251
}

fn describe_cluster(tag: &str, state: &str, instance_type: &str, iam: bool) -> Rule {
    let (arn, state, instance_type) = (cluster_arn(tag), state.to_string(), instance_type.to_string());
    mock!(aws_sdk_kafka::Client::describe_cluster_v2).then_output(move || {
        let broker = msk_types::BrokerNodeGroupInfo::builder()
            .instance_type(&instance_type)
            .client_subnets("subnet-x")
            .security_groups("sg-msk")
            .build();
        let auth = msk_types::ClientAuthentication::builder()
            .sasl(msk_types::Sasl::builder().iam(msk_types::Iam::builder().enabled(iam).build()).build())
            .build();
        let provisioned = msk_types::Provisioned::builder()
            .broker_node_group_info(broker)
            .client_authentication(auth)
            .number_of_broker_nodes(3)
            .build();
        DescribeClusterV2Output::builder()
            .cluster_info(
                msk_types::Cluster::builder()
                    .cluster_arn(&arn)
                    .state(msk_types::ClusterState::from(state.as_str()))
                    .cluster_type(msk_types::ClusterType::Provisioned)
                    .provisioned(provisioned)
                    .build(),
            )
            .build()
    })
}

fn bootstrap_brokers(bootstrap: &str) -> Rule {
    let bootstrap = bootstrap.to_string();
    mock!(aws_sdk_kafka::Client::get_bootstrap_brokers)
        .then_output(move || GetBootstrapBrokersOutput::builder().bootstrap_broker_string_sasl_iam(&bootstrap).build())
}

async fn preflight(world: &World) -> PreflightReport {
    preflight_using(world, policy::CallerUse::default()).await
}

async fn preflight_using(world: &World, caller_use: policy::CallerUse) -> PreflightReport {
    let options = Options { timeout: Duration::from_secs(10), caller_use };
    preflight::run_with(&world.plan, &options, &Silent, Some(&world.clients)).await
}

fn check<'a>(report: &'a PreflightReport, name: &str) -> &'a preflight::Check {
    let found: Vec<_> = report.checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "check {name}: {:#?}", report.checks);
    found[0]
}

fn assert_status(report: &PreflightReport, name: &str, status: Status, words: &[&str]) {
    let found = check(report, name);
    assert_eq!(found.status, status, "{name}: {found:#?}");
    for word in words {
        assert!(found.detail.contains(word), "{name}: `{word}` not in {found:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_aws_check_passes_for_a_correct_setup() {
    let world = set_up(Setup::default()).await;
    let report = preflight(&world).await;
    assert_status(&report, "aws-identity", Status::Pass, &[&format!("arn:aws:iam::{ACCOUNT}:user/{}", world.tag)]);
    assert_status(&report, "secret", Status::Pass, &["username, password, certificate", "arn:aws:kms"]);
    assert_status(&report, "secret-certificate", Status::Pass, &["1 PEM certificate(s)", "source test CA"]);
    assert_status(
        &report,
        "secret-login",
        Status::Pass,
        &["the secret's credentials", "SCRAM-SHA-512 as replicator over TLS: authenticated"],
    );
    assert_status(&report, "secret-kms", Status::Pass, &["enabled", "delegates to IAM"]);
    assert_status(&report, "service-role", Status::Pass, &["trusts kafka.amazonaws.com"]);
    assert_status(&report, "service-role-policy", Status::Pass, &["AWSMSKReplicatorExecutionRole attached"]);
    assert_status(
        &report,
        "msk-cluster",
        Status::Pass,
        &["ACTIVE, Express (express.m7g.large), IAM auth", &world.bootstrap],
    );
    assert_status(&report, "network-security-groups", Status::Pass, &["egress to the source"]);
    assert_status(&report, "network-subnets", Status::Pass, &["Secrets Manager through VPC endpoint vpce-"]);
    // moto has no policy simulator: the check says it cannot verify, it does not pretend.
    assert_status(&report, "aws-permissions", Status::Warn, &["cannot verify", "iam:SimulatePrincipalPolicy"]);
    let aws_failures: Vec<_> =
        report.checks.iter().filter(|c| c.cluster == "aws" && c.status == Status::Fail).collect();
    assert!(aws_failures.is_empty(), "{aws_failures:#?}");
    // What no API shows from here is listed for a human, naming the real brokers.
    let manual = report.manual.join("\n");
    assert!(manual.contains(&tls_source().broker.bootstrap()) && manual.contains("Site-to-Site VPN"), "{manual}");
    assert!(manual.contains("sg-msk") && manual.contains("9098"), "{manual}");
    // The password never leaks into the report.
    let text = format!("{report:?}");
    assert!(!text.contains(tls_source().broker.password(REPLICATOR)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_whose_password_does_not_log_in_fails_secret_login() {
    let secret =
        serde_json::json!({"username": REPLICATOR, "password": "not-the-password", "certificate": tls_source().ca_pem})
            .to_string();
    let world = set_up(Setup { secret_json: Some(secret), ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "secret", Status::Pass, &[]);
    assert_status(&report, "secret-login", Status::Fail, &["Authentication failed"]);
    assert!(check(&report, "secret-login").hint.as_deref().unwrap().contains("put-secret-value"), "{report:#?}");
    assert!(report.failed());
    // The plan's own replicator credentials (which are right) still pass on their own check.
    assert!(
        report.checks.iter().any(|c| c.name == "replicator-login" && c.cluster == "source" && c.status == Status::Pass)
    );
    assert!(!format!("{report:?}").contains("not-the-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_without_certificate_fails_naming_the_key() {
    let secret =
        serde_json::json!({"username": REPLICATOR, "password": tls_source().broker.password(REPLICATOR)}).to_string();
    let world = set_up(Setup { secret_json: Some(secret), ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "secret", Status::Fail, &["lacks `certificate`"]);
    assert_status(&report, "secret-login", Status::Fail, &["skipped"]);
    assert!(report.checks.iter().all(|c| c.name != "secret-certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publicly_trusted_source_needs_no_certificate_in_the_secret() {
    let secret =
        serde_json::json!({"username": REPLICATOR, "password": tls_source().broker.password(REPLICATOR)}).to_string();
    let world = set_up(Setup { secret_json: Some(secret), public_ca: true, ..Setup::default() }).await;
    assert_eq!(world.plan.msk().unwrap().certificate_secret_arn, None);
    let report = preflight(&world).await;
    assert_status(&report, "secret", Status::Pass, &["JSON with username, password;"]);
    assert!(!check(&report, "secret").detail.contains("certificate"), "{report:#?}");
    assert!(report.checks.iter().all(|c| c.name != "secret-certificate"), "{report:#?}");
    // The login is tried as MSK Replicator would, trusting the system's CAs — which this test's
    // broker, signed by a private CA, does not pass: the plan's claim is checked, not taken.
    assert_status(
        &report,
        "secret-login",
        Status::Fail,
        &["the secret's credentials, trusting the system's CAs (publicly trusted certificate)"],
    );
    assert!(!check(&report, "secret-login").detail.contains("skipped"), "{report:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_certificate_or_a_non_json_secret_fails() {
    let secret = serde_json::json!({
        "username": REPLICATOR,
        "password": tls_source().broker.password(REPLICATOR),
        "certificate": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    })
    .to_string();
    let world = set_up(Setup { secret_json: Some(secret), ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "secret", Status::Pass, &[]);
    assert_status(&report, "secret-certificate", Status::Fail, &["does not parse as PEM certificates"]);
    assert_status(&report, "secret-login", Status::Fail, &["skipped"]);

    let world = world_with_raw_secret("just-a-password").await;
    let report = preflight(&world).await;
    assert_status(&report, "secret", Status::Fail, &["is not a JSON object"]);
    assert!(!format!("{report:?}").contains("just-a-password"));
}

async fn world_with_raw_secret(text: &str) -> World {
    set_up(Setup { secret_json: Some(text.to_string()), ..Setup::default() }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_trusts_another_service_or_lacks_the_grants_fails() {
    let world = set_up(Setup { trusts_kafka: false, ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "service-role", Status::Fail, &["does not trust kafka.amazonaws.com"]);

    let world = set_up(Setup { inline: Inline::None, ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(
        &report,
        "service-role-policy",
        Status::Fail,
        &["secretsmanager:GetSecretValue on arn:aws:secretsmanager", "kms:Decrypt on arn:aws:kms"],
    );
    assert!(check(&report, "service-role-policy").hint.as_deref().unwrap().contains("replicator-role-policy.json"));
}

/// A role built exactly as AWS's Developer Guide documents passes, with no log or cluster-config
/// grant (the blog's extras) and none of migrate's own policy.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_built_as_aws_documents_passes() {
    let world = set_up(Setup::default()).await;
    let report = preflight(&world).await;
    assert_status(
        &report,
        "service-role-policy",
        Status::Pass,
        &["AWSMSKReplicatorExecutionRole attached", "Secrets Manager's four actions", "kms:Decrypt on arn:aws:kms"],
    );

    // Under the AWS managed key aws/secretsmanager: no KMS grant, and no warning about it.
    let world = set_up(Setup { customer_key: false, ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "secret-kms", Status::Pass, &["AWS managed key aws/secretsmanager", "no KMS grant"]);
    assert_status(&report, "service-role-policy", Status::Pass, &["no customer managed key to decrypt"]);
}

/// Each grant AWS documents, missing, fails the role's check naming it.
#[tokio::test(flavor = "multi_thread")]
async fn each_missing_documented_grant_fails_by_name() {
    for action in [
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecretVersionIds",
        "kms:Decrypt",
    ] {
        let world = set_up(Setup { inline: Inline::Documented { without: Some(action) }, ..Setup::default() }).await;
        let report = preflight(&world).await;
        let found = check(&report, "service-role-policy");
        assert_eq!(found.status, Status::Fail, "{action}: {found:#?}");
        assert!(found.detail.contains(&format!("lacks: {action} on arn:aws:")), "{action}: {found:#?}");
        assert_eq!(found.detail.matches(" on arn:aws:").count(), 1, "only {action} is missing: {found:#?}");
    }
    let world = set_up(Setup { managed_policy: false, ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(
        &report,
        "service-role-policy",
        Status::Fail,
        &["lacks: the managed policy AWSMSKReplicatorExecutionRole", "internal topics and groups"],
    );
    assert!(check(&report, "service-role-policy").hint.as_deref().unwrap().contains("attach-role-policy"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_kms_key_fails() {
    let world = set_up(Setup { key_disabled: true, ..Setup::default() }).await;
    let report = preflight(&world).await;
    assert_status(&report, "secret-kms", Status::Fail, &["is not enabled", "Disabled"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_egress_and_no_path_to_secrets_manager_fail_the_network_checks() {
    let world = set_up(Setup { egress: false, secrets_endpoint: false, ..Setup::default() }).await;
    let report = preflight(&world).await;
    let source = tls_source().broker.bootstrap();
    assert_status(
        &report,
        "network-security-groups",
        Status::Fail,
        &[&format!("the source broker {source}"), "MSK on port 9098", "HTTPS (443)"],
    );
    assert_status(
        &report,
        "network-subnets",
        Status::Fail,
        &["cannot reach Secrets Manager", "no com.amazonaws.eu-west-1.secretsmanager VPC endpoint"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_msk_cluster_must_be_active_express_with_iam_and_match_the_plan() {
    let mut world = set_up(Setup::default()).await;
    let tag = world.tag.clone();
    let cases = [
        (describe_cluster(&tag, "CREATING", "express.m7g.large", true), "state CREATING, not ACTIVE"),
        (
            describe_cluster(&tag, "ACTIVE", "kafka.m7g.large", true),
            "an MSK Standard cluster (brokers kafka.m7g.large): this tool migrates to MSK Express brokers only",
        ),
        (describe_cluster(&tag, "ACTIVE", "express.m7g.large", false), "IAM access control is not enabled"),
    ];
    for (rule, cause) in cases {
        world.clients.kafka = mock_kafka(&[&rule, &bootstrap_brokers(&world.bootstrap)]).await;
        let report = preflight(&world).await;
        assert_status(&report, "msk-cluster", Status::Fail, &[cause]);
    }
    world.clients.kafka = mock_kafka(&[
        &describe_cluster(&tag, "ACTIVE", "express.m7g.large", true),
        &bootstrap_brokers("b-1.other.kafka.eu-west-1.amazonaws.com:9098"),
    ])
    .await;
    let report = preflight(&world).await;
    assert_status(&report, "msk-cluster", Status::Warn, &["target.bootstrap_servers differ"]);
    assert!(check(&report, "msk-cluster").hint.as_deref().unwrap().contains("b-1.other.kafka"));
    assert!(report.checks.iter().all(|c| c.name != "app-scram-secrets"), "no app logs in with SCRAM");

    // Apps logging in with SCRAM on a cluster that has it off: preflight runs the SCRAM check.
    world.plan.target.app_auth = plan::Auth::Scram(plan::ScramCredentials {
        mechanism: plan::ScramMechanism::Sha512,
        username: "app".into(),
        password: migrate::secret::SecretString::new("app-password"),
    });
    world.clients.kafka = mock_kafka(&[
        &describe_cluster(&tag, "ACTIVE", "express.m7g.large", true),
        &bootstrap_brokers(&world.bootstrap),
    ])
    .await;
    let report = preflight(&world).await;
    assert_status(&report, "msk-cluster", Status::Pass, &[]);
    assert_status(&report, "app-scram-secrets", Status::Fail, &["SASL/SCRAM client authentication off"]);

    // A cluster that could not be described says nothing about SCRAM: unverified, not off.
    world.clients.kafka = mock_kafka(&[&describe_cluster(&tag, "CREATING", "express.m7g.large", true)]).await;
    let report = preflight(&world).await;
    assert_status(&report, "msk-cluster", Status::Fail, &["CREATING"]);
    assert_status(&report, "app-scram-secrets", Status::Warn, &["cannot verify", "could not be described"]);
}

fn access_denied() -> aws_sdk_kafka::operation::describe_cluster_v2::DescribeClusterV2Error {
    aws_sdk_kafka::operation::describe_cluster_v2::DescribeClusterV2Error::ForbiddenException(
        msk_types::error::ForbiddenException::builder()
            .message("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: kafka:DescribeClusterV2")
            .meta(aws_smithy_types::error::ErrorMetadata::builder().code("ForbiddenException").build())
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_names_the_action_and_the_resource() {
    let mut world = set_up(Setup::default()).await;
    let denied = mock!(aws_sdk_kafka::Client::describe_cluster_v2).then_error(access_denied);
    world.clients.kafka = mock_kafka(&[&denied]).await;
    let report = preflight(&world).await;
    let arn = cluster_arn(&world.tag);
    assert_status(&report, "msk-cluster", Status::Fail, &[&format!("not allowed to kafka:DescribeClusterV2 on {arn}")]);
    assert!(check(&report, "msk-cluster").hint.as_deref().unwrap().contains("grant `kafka:DescribeClusterV2`"));
    assert_eq!(denied.num_calls(), 1, "an access denial is not retried");
}

fn throttled() -> aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersError {
    // GetBootstrapBrokers models no throttling error: AWS answers with the code all the same.
    aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersError::generic(
        aws_smithy_types::error::ErrorMetadata::builder()
            .code("TooManyRequestsException")
            .message("Rate exceeded")
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_and_reported_when_it_persists() {
    let mut world = set_up(Setup::default()).await;
    let tag = world.tag.clone();
    // Two throttles, then an answer: the factory's retries absorb them.
    let flaky = mock!(aws_sdk_kafka::Client::get_bootstrap_brokers)
        .sequence()
        .error(throttled)
        .times(2)
        .output({
            let bootstrap = world.bootstrap.clone();
            move || GetBootstrapBrokersOutput::builder().bootstrap_broker_string_sasl_iam(&bootstrap).build()
        })
        .build();
    world.clients.kafka = mock_kafka(&[&describe_cluster(&tag, "ACTIVE", "express.m7g.large", true), &flaky]).await;
    let report = preflight(&world).await;
    assert_status(&report, "msk-cluster", Status::Pass, &[]);
    assert_eq!(flaky.num_calls(), 3);

    let stuck = mock!(aws_sdk_kafka::Client::get_bootstrap_brokers).sequence().error(throttled).repeatedly().build();
    world.clients.kafka = mock_kafka(&[&describe_cluster(&tag, "ACTIVE", "express.m7g.large", true), &stuck]).await;
    let report = preflight(&world).await;
    assert_status(
        &report,
        "msk-cluster",
        Status::Fail,
        &["kept throttling kafka:GetBootstrapBrokers", "after 5 attempts"],
    );
    assert_eq!(stuck.num_calls(), migrate::aws::MAX_ATTEMPTS as usize);
}

/// The simulator's answer: `iam:PassRole` on `role` with `decision`, and another action allowed.
fn simulation(role: &str, decision: &'static str) -> Rule {
    let role = role.to_string();
    // `repeatedly`: preflight asks once per resource.
    mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(|_| true)
        .sequence()
        .output(move || {
            let result = |action: &str, decision: &str| {
                aws_sdk_iam::types::EvaluationResult::builder()
                    .eval_action_name(action)
                    .eval_resource_name(&role)
                    .eval_decision(aws_sdk_iam::types::PolicyEvaluationDecisionType::from(decision))
                    .build()
                    .unwrap()
            };
            aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(result("kafka:CreateReplicator", "allowed"))
                .evaluation_results(result("iam:PassRole", decision))
                .build()
        })
        .repeatedly()
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_permissions_come_from_iams_policy_simulator() {
    let mut world = set_up(Setup::default()).await;
    let role = world.plan.msk().unwrap().service_execution_role_arn.clone();
    world.clients.iam = mock_iam(&[&simulation(&role, "allowed")]).await;
    let report = preflight(&world).await;
    assert_status(&report, "aws-permissions", Status::Pass, &[&format!("arn:aws:iam::{ACCOUNT}:user/{}", world.tag)]);

    world.clients.iam = mock_iam(&[&simulation(&role, "implicitDeny")]).await;
    let report = preflight(&world).await;
    assert_status(&report, "aws-permissions", Status::Fail, &[&format!("iam:PassRole on {role} (implicitDeny)")]);

    let refused = simulator_refused();
    world.clients.iam = mock_iam(&[&refused]).await;
    let report = preflight(&world).await;
    assert_status(&report, "aws-permissions", Status::Warn, &["cannot verify", "iam:SimulatePrincipalPolicy"]);
}

/// IAM's simulator answering for each action asked: allowed, except `denied`. Records what was
/// asked, action by action.
/// IAM's policy simulator refusing the caller itself (AccessDenied): preflight cannot tell.
fn simulator_refused() -> Rule {
    mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(|_| true)
        .sequence()
        .error(|| {
            aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized")
                    .build(),
            )
        })
        .repeatedly()
        .build()
}

fn simulator_denying(denied: &'static str, asked: Arc<Mutex<Vec<String>>>) -> Rule {
    mock!(aws_sdk_iam::Client::simulate_principal_policy).match_requests(|_| true).then_compute_output(move |request| {
        let mut output = aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput::builder();
        let resource = request.resource_arns().first().cloned().unwrap_or_default();
        for action in request.action_names() {
            asked.lock().unwrap().push(format!("{action} on {resource}"));
            let decision = if action == denied { "implicitDeny" } else { "allowed" };
            output = output.evaluation_results(
                aws_sdk_iam::types::EvaluationResult::builder()
                    .eval_action_name(action)
                    .eval_resource_name(&resource)
                    .eval_decision(aws_sdk_iam::types::PolicyEvaluationDecisionType::from(decision))
                    .build()
                    .unwrap(),
            );
        }
        output.build()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_caller_is_checked_for_every_action_aws_lists_and_fails_without_tag_resource() {
    let mut world = set_up(Setup::default()).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    world.clients.iam = mock_iam(&[&simulator_denying("none", asked.clone())]).await;
    let report = preflight(&world).await;
    let passed = check(&report, "aws-permissions");
    assert_eq!(passed.status, Status::Pass, "{passed:#?}");
    let cluster = world.plan.msk().unwrap().cluster();
    let asked_now = asked.lock().unwrap().clone();
    for expected in [
        format!("kafka:UpdateReplicationInfo on {}", cluster.replicator(&format!("{}-external-to-msk", world.tag))),
        format!("kafka:TagResource on {}", cluster.replicator(&format!("{}-msk-to-external", world.tag))),
        "kafka:ListTagsForResource on arn:aws:kafka".to_string(),
        format!(
            "iam:CreateServiceLinkedRole on arn:aws:iam::{ACCOUNT}:role/aws-service-role/kafka.amazonaws.com/AWSServiceRoleForKafka*"
        ),
        "ec2:DescribeSubnets on *".into(),
        "ec2:DescribeSecurityGroups on *".into(),
        "ec2:DescribeVpcs on *".into(),
        // The plan delivers logs to CloudWatch Logs: the caller's five actions.
        "logs:CreateLogDelivery on *".into(),
        "logs:PutResourcePolicy on *".into(),
        "logs:DescribeResourcePolicies on *".into(),
        "logs:DescribeLogGroups on *".into(),
        "logs:ListLogDeliveries on *".into(),
    ] {
        assert!(asked_now.iter().any(|a| a.starts_with(&expected)), "not asked: {expected}\n{asked_now:#?}");
    }
    assert!(!asked_now.iter().any(|a| a.starts_with("secretsmanager:CreateSecret")), "{asked_now:#?}");
    // It claims what it checked.
    for action in ["kafka:UpdateReplicationInfo", "iam:CreateServiceLinkedRole", "logs:CreateLogDelivery"] {
        assert!(passed.detail.contains(action), "{passed:#?}");
    }

    // With apply --create-secret, the actions it uses are asked too.
    asked.lock().unwrap().clear();
    let report =
        preflight_using(&world, policy::CallerUse { create_secret: true, delete_secrets: true, ..Default::default() })
            .await;
    assert_status(&report, "aws-permissions", Status::Pass, &["with --create-secret and --delete-secrets"]);
    let asked_now = asked.lock().unwrap().clone();
    for action in ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret"] {
        assert!(asked_now.iter().any(|a| a.starts_with(action)), "not asked: {action}\n{asked_now:#?}");
    }

    // A caller without kafka:TagResource fails: apply sends tags, so CreateReplicator would be denied.
    world.clients.iam = mock_iam(&[&simulator_denying("kafka:TagResource", Arc::new(Mutex::new(Vec::new())))]).await;
    let report = preflight(&world).await;
    assert_status(
        &report,
        "aws-permissions",
        Status::Fail,
        &[
            &format!("kafka:TagResource on {}", cluster.replicator(&format!("{}-external-to-msk", world.tag))),
            "implicitDeny",
        ],
    );
}

/// The CLI end to end, against moto only: a wrong password in the secret is exit 3 with the
/// secret-login check failing, and the report names what remains for a human.
#[test]
fn migrate_plan_exits_3_when_the_secrets_password_does_not_log_in() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let secret = serde_json::json!({"username": REPLICATOR, "password": "wrong-password-xyz", "certificate": tls_source().ca_pem}).to_string();
    let world = runtime.block_on(set_up(Setup { secret_json: Some(secret), ..Setup::default() }));
    let plan_path = world.plan.file.clone();
    let envs = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", moto().url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let run = migrate(
        &["-p", path_str(&plan_path), "-o", "json", "plan"],
        &envs,
        &[tls_source().broker.password(REPLICATOR), "wrong-password-xyz"],
    );
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let login = checks_named(&document, "secret-login");
    assert_eq!(login[0]["status"], "fail", "{document}");
    assert!(login[0]["detail"].as_str().unwrap().to_lowercase().contains("authentication failed"), "{}", login[0]);
    assert_eq!(checks_named(&document, "secret")[0]["status"], "pass");
    assert!(document["manual"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().contains("Site-to-Site VPN")));
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An app's `role_arn` on an IAM target: the role's policies are decided for exactly the actions
/// of its rendered policy; a role without `kafka-cluster:WriteData` fails naming it and the topic.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_role_missing_write_data_fails_naming_the_action_and_the_topic() {
    let clients = moto_clients().await;
    let tag = unique("app-role").replace('_', "-");
    let role = clients
        .iam
        .create_role()
        .role_name(&tag)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    let plan = example_msk_plan(|text| {
        text.replacen("  - name: orders\n", &format!("  - name: orders\n    role_arn: {role_arn}\n"), 1)
    });
    let msk = plan.msk().unwrap();
    let app = plan.apps.iter().find(|app| app.name == "orders").unwrap();
    let full = policy::document(&policy::app_grants(app, msk));
    let without_write: serde_json::Value =
        serde_json::from_str(&full.to_string().replace(r#","kafka-cluster:WriteData""#, "")).unwrap();
    assert_ne!(full, without_write, "the policy had WriteData to remove");
    let put = |document: &serde_json::Value| {
        clients.iam.put_role_policy().role_name(&tag).policy_name("app").policy_document(document.to_string()).send()
    };

    put(&without_write).await.unwrap();
    let check = migrate::preflight::aws::app_role_check(&clients, msk, app).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    let topic = msk.cluster().topic("orders");
    assert!(check.detail.contains(&format!("kafka-cluster:WriteData on {topic}")), "{check:#?}");
    assert!(!check.detail.contains("DescribeTopic"), "only the missing action is named: {check:#?}");
    assert!(check.hint.as_deref().unwrap().contains("app-orders-policy.json"), "{check:#?}");

    put(&full).await.unwrap();
    let check = migrate::preflight::aws::app_role_check(&clients, msk, app).await;
    assert_eq!(check.status, Status::Pass, "{check:#?}");
}

/// An app's `role_arn` naming an IAM *user*: IAM's simulator decides each action/resource pair of
/// its rendered policy (moto serves no SimulatePrincipalPolicy: `aws-smithy-mocks` answers for it,
/// as for the caller). A user without `kafka-cluster:WriteData` fails naming the action and topic;
/// a simulator that refuses leaves it unverified (⚠), not failed.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_iam_user_missing_write_data_is_simulated_and_fails_naming_the_action_and_the_topic() {
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/orders-app");
    let plan = example_msk_plan(|text| {
        text.replacen("  - name: orders\n", &format!("  - name: orders\n    role_arn: {user_arn}\n"), 1)
    });
    let msk = plan.msk().unwrap();
    let app = plan.apps.iter().find(|app| app.name == "orders").unwrap();
    let mut clients = moto_clients().await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    clients.iam = mock_iam(&[&simulator_denying("kafka-cluster:WriteData", asked.clone())]).await;
    let check = migrate::preflight::aws::app_role_check(&clients, msk, app).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    let topic = msk.cluster().topic("orders");
    assert_eq!(
        check.detail,
        format!("app `orders`: the IAM user {user_arn} lacks: kafka-cluster:WriteData on {topic}")
    );
    let hint = check.hint.as_deref().unwrap();
    assert!(hint.contains("aws iam put-user-policy --user-name orders-app") && hint.contains("app-orders-policy.json"));
    // Exactly the pairs of the app's rendered policy were asked, each once.
    let mut expected: Vec<String> = policy::app_grants(app, msk)
        .iter()
        .flat_map(|grant| {
            grant.resources.iter().flat_map(move |r| grant.actions.iter().map(move |a| format!("{a} on {r}")))
        })
        .collect();
    let mut asked_now = asked.lock().unwrap().clone();
    expected.sort();
    asked_now.sort();
    assert_eq!(asked_now, expected);
    assert_eq!(asked_now.len(), 4, "Connect, WriteDataIdempotently, DescribeTopic and WriteData on orders");

    clients.iam = mock_iam(&[&simulator_denying("none", Arc::new(Mutex::new(Vec::new())))]).await;
    let check = migrate::preflight::aws::app_role_check(&clients, msk, app).await;
    assert_eq!(check.status, Status::Pass, "{check:#?}");
    assert!(check.detail.contains("may do all 4 action/resource pairs"), "{check:#?}");

    let refused = simulator_refused();
    clients.iam = mock_iam(&[&refused]).await;
    let check = migrate::preflight::aws::app_role_check(&clients, msk, app).await;
    assert_eq!(check.status, Status::Warn, "{check:#?}");
    assert!(
        check.detail.contains("cannot verify the IAM user") && check.detail.contains("iam:SimulatePrincipalPolicy")
    );
}

/// `teardown --delete-secrets` runs no preflight: it asks IAM's simulator itself, before removing
/// anything, whether the caller may delete the secrets (and read their tags, which tell
/// migrate's secrets apart). A caller without `secretsmanager:DeleteSecret` is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn teardown_delete_secrets_checks_the_callers_delete_secret() {
    let mut world = set_up(Setup::default()).await;
    let msk = world.plan.msk().cloned().unwrap();
    let what = "what teardown --delete-secrets uses";
    let asked = Arc::new(Mutex::new(Vec::new()));
    world.clients.iam = mock_iam(&[&simulator_denying("none", asked.clone())]).await;
    let check =
        migrate::preflight::aws::caller_may(&world.clients, &msk, policy::delete_secrets_grants(&msk), what).await;
    assert_eq!(check.status, Status::Pass, "{check:#?}");
    assert!(check.detail.contains("may do what teardown --delete-secrets uses"), "{check:#?}");
    let asked_now = asked.lock().unwrap().clone();
    assert_eq!(
        asked_now,
        vec![
            format!("secretsmanager:DescribeSecret on {}", msk.scram_secret_arn),
            format!("secretsmanager:DeleteSecret on {}", msk.scram_secret_arn),
        ]
    );

    world.clients.iam =
        mock_iam(&[&simulator_denying("secretsmanager:DeleteSecret", Arc::new(Mutex::new(Vec::new())))]).await;
    let check =
        migrate::preflight::aws::caller_may(&world.clients, &msk, policy::delete_secrets_grants(&msk), what).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    assert!(
        check.detail.contains(&format!("secretsmanager:DeleteSecret on {} (implicitDeny)", msk.scram_secret_arn)),
        "{check:#?}"
    );
    assert!(check.detail.contains(&format!("arn:aws:iam::{ACCOUNT}:user/{}", world.tag)), "{check:#?}");

    // Without IAM's simulator (moto has none) it cannot say: a warning, not a pass.
    world.clients.iam = moto_clients().await.iam;
    let check =
        migrate::preflight::aws::caller_may(&world.clients, &msk, policy::delete_secrets_grants(&msk), what).await;
    assert_eq!(check.status, Status::Warn, "{check:#?}");
    assert!(check.detail.contains("cannot verify"), "{check:#?}");
}

fn scram_secrets_listed(arns: Vec<String>) -> Rule {
    mock!(aws_sdk_kafka::Client::list_scram_secrets).then_output(move || {
        aws_sdk_kafka::operation::list_scram_secrets::ListScramSecretsOutput::builder()
            .set_secret_arn_list(Some(arns.clone()))
            .build()
    })
}

/// Apps that log in to an MSK target with SASL/SCRAM (issue 21): MSK knows a SCRAM user only as a
/// secret associated with the cluster. Each app's user is looked up among the cluster's associated
/// secrets (ListScramSecrets from `aws-smithy-mocks`, the secrets themselves in moto): a user
/// without one, a password that differs and SCRAM switched off on the cluster each fail by name,
/// and no password is ever printed.
#[tokio::test(flavor = "multi_thread")]
async fn each_apps_scram_user_on_an_msk_target_must_be_in_a_secret_associated_with_the_cluster() {
    const STALE: &str = "an-old-password";
    let plan = example_msk_plan(|text| {
        // The apps' default on the target: SCRAM as `app`; notification as its own user.
        let (head, tail) = text.split_once("target:\n").unwrap();
        let tail = tail.replacen(
            "  app_auth:\n    mechanism: AWS_MSK_IAM\n",
            "  app_auth:\n    mechanism: SCRAM-SHA-512\n    username: {env: MIGRATE_SOURCE_APP_USERNAME}\n    password: {env: MIGRATE_SOURCE_APP_PASSWORD}\n",
            1,
        );
        let tail = tail.replacen(
            "  - name: notification\n",
            "  - name: notification\n    auth:\n      target:\n        mechanism: SCRAM-SHA-512\n        username: notification\n        password: {env: MIGRATE_SOURCE_PASSWORD}\n",
            1,
        );
        format!("{head}target:\n{tail}")
    });
    let msk = plan.msk().unwrap();
    let mut clients = moto_clients().await;
    let tag = unique("scram-users").replace('_', "-");
    let secret = async |user: &str, password: &str| {
        let created = clients
            .secrets
            .create_secret()
            .name(format!("AmazonMSK_{tag}_{user}"))
            .secret_string(serde_json::json!({"username": user, "password": password}).to_string())
            .send()
            .await
            .unwrap();
        created.arn().unwrap().to_string()
    };
    let app_secret = secret("app", "app-secret-password").await;
    let notification_secret = secret("notification", STALE).await;
    let never_printed = |check: &preflight::Check| {
        let text = format!("{check:?}");
        for password in [STALE, "app-secret-password", "source-secret-password"] {
            assert!(!text.contains(password), "a password was printed: {text}");
        }
    };

    // Both users associated, notification's secret holding another password.
    clients.kafka = mock_kafka(&[&scram_secrets_listed(vec![app_secret.clone(), notification_secret.clone()])]).await;
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &plan, Some(true)).await;
    never_printed(&check);
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    assert_eq!(
        check.detail,
        format!(
            "app `notification`: the password the plan gives user `notification` is not the one in {notification_secret}"
        )
    );

    // Only `app`'s secret associated: notification's user is missing, named with the command.
    clients.kafka = mock_kafka(&[&scram_secrets_listed(vec![app_secret.clone()])]).await;
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &plan, Some(true)).await;
    never_printed(&check);
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    let cluster = msk.cluster().name;
    assert_eq!(
        check.detail,
        format!("app `notification`: user `notification` has no secret associated with {cluster}")
    );
    let hint = check.hint.as_deref().unwrap();
    assert!(
        hint.contains(&format!("aws kafka batch-associate-scram-secret --cluster-arn {}", msk.cluster_arn))
            && hint.contains("AmazonMSK_")
            && hint.contains("customer managed KMS key"),
        "{hint}"
    );

    // The secret brought up to date: every app's user is there with its password.
    clients
        .secrets
        .put_secret_value()
        .secret_id(&notification_secret)
        .secret_string(
            serde_json::json!({"username": "notification", "password": "source-secret-password"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    clients.kafka = mock_kafka(&[&scram_secrets_listed(vec![app_secret.clone(), notification_secret.clone()])]).await;
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &plan, Some(true)).await;
    assert_eq!(check.status, Status::Pass, "{check:#?}");
    assert!(check.detail.contains("`orders`, `order_status`, `notification`") && check.detail.contains("2 secret(s)"));

    // SCRAM-SHA-256 for one app: MSK accepts SCRAM-SHA-512 only.
    let mut sha256 = plan.clone();
    let notification = sha256.apps.iter_mut().find(|app| app.name == "notification").unwrap();
    if let Some(plan::Auth::Scram(credentials)) = notification.target_auth.as_mut() {
        credentials.mechanism = plan::ScramMechanism::Sha256;
    }
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &sha256, Some(true)).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    assert_eq!(check.detail, "app `notification` logs in with SCRAM-SHA-256: MSK accepts SCRAM-SHA-512 only");

    // One app on IAM beside the SCRAM ones: the apps share one listener, so that cannot work.
    let mut mixed = plan.clone();
    mixed.apps.iter_mut().find(|app| app.name == "orders").unwrap().target_auth = Some(plan::Auth::MskIam);
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &mixed, Some(true)).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    assert!(check.detail.contains("without it") && check.detail.contains("`orders`"), "{check:#?}");

    // A secret that cannot be read: a user not found may be in it, so unverified (⚠), not failed.
    clients.kafka = mock_kafka(&[&scram_secrets_listed(vec![
        app_secret.clone(),
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:AmazonMSK_{tag}_gone-AbCdEf"),
    ])])
    .await;
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &plan, Some(true)).await;
    assert_eq!(check.status, Status::Warn, "{check:#?}");
    assert!(
        check.detail.starts_with("cannot verify: app `notification`") && check.detail.contains("could not be read")
    );

    // SCRAM switched off on the cluster: nothing else can hold.
    let check = migrate::preflight::aws::app_scram_check(&clients, msk, &plan, Some(false)).await;
    assert_eq!(check.status, Status::Fail, "{check:#?}");
    assert!(check.detail.contains("SASL/SCRAM client authentication off"), "{check:#?}");
}
