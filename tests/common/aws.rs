//! AWS for tests: a local moto server (STS, IAM, Secrets Manager, KMS, EC2) started once per test
//! binary and stopped with it, clients pointed at it with fixed test credentials, and
//! `aws-smithy-mocks` clients for what moto does not serve (MSK's GetBootstrapBrokers, the
//! replicator API, IAM's policy simulator). Each test creates its own resources, named uniquely.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use migrate::aws::Clients;

use super::{PLACEHOLDER_CA, free_port, spawn_watched, wait_for_port};

pub const REGION: &str = "eu-west-1";
/// The account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// moto's server, installed by `scripts/install.sh` into its own virtualenv.
pub fn moto_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let tools = std::env::var("MIGRATE_TOOLS").unwrap_or_else(|_| format!("{home}/.cache/migrate-tools"));
    PathBuf::from(tools).join("moto-venv/bin/moto_server")
}

pub struct Moto {
    pub url: String,
    _watchdog: std::process::Child,
}

/// The moto server of this test binary.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let binary = moto_server_binary();
        assert!(binary.exists(), "{} is missing: run scripts/install.sh", binary.display());
        let port = free_port();
        let log = std::env::temp_dir().join(format!("migrate-moto-{port}.log"));
        let args: Vec<String> = ["-H", "127.0.0.1", "-p", &port.to_string()].iter().map(|a| a.to_string()).collect();
        // AWS's managed policies (AWSMSKReplicatorExecutionRole among them) exist in moto only
        // when asked for.
        let watchdog = spawn_watched(&binary, &args, &log, &[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]);
        wait_for_port(port, Duration::from_secs(30));
        Moto { url: format!("http://127.0.0.1:{port}"), _watchdog: watchdog }
    })
}

/// Fixed credentials moto accepts; nothing here ever reaches AWS.
pub fn test_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new("testing", "testing", None, None, "migrate-tests"))
}

/// The project's own SDK configuration (region, retries, endpoint) pointed at moto.
pub async fn moto_config() -> SdkConfig {
    migrate::aws::load_config(REGION, Some(&moto().url))
        .await
        .to_builder()
        .credentials_provider(test_credentials())
        .build()
}

/// Every client on moto (the MSK one too; tests replace it with a mock where moto lacks the API).
pub async fn moto_clients() -> Clients {
    Clients::from_config(&moto_config().await)
}

/// A client of `aws_sdk_kafka` answering from `rules`, built on the project's own configuration
/// (so its retry settings are the ones under test).
pub async fn mock_kafka(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_kafka::Client {
    let mut interceptor =
        aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = migrate::aws::load_config(REGION, None).await;
    let conf = aws_sdk_kafka::config::Builder::from(&config)
        .credentials_provider(test_credentials())
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    aws_sdk_kafka::Client::from_conf(conf)
}

/// An IAM client answering from `rules` only (moto has no policy simulator). Other IAM calls get
/// the mock HTTP client's dummy answer (HTTP 418): a test using this asserts only on checks the
/// rules serve.
pub async fn mock_iam(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_iam::Client {
    let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
        .rule_mode(aws_smithy_mocks::RuleMode::MatchAny)
        .allow_passthrough();
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = migrate::aws::load_config(REGION, None).await;
    let conf = aws_sdk_iam::config::Builder::from(&config)
        .credentials_provider(test_credentials())
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// The variables `plans/msk.yaml` reads, with test values (the passwords are checked never to
/// appear in output).
pub const EXAMPLE_MSK_ENV: &[(&str, &str)] = &[
    ("MIGRATE_SOURCE_USERNAME", "replicator"),
    ("MIGRATE_SOURCE_PASSWORD", "source-secret-password"),
    ("MIGRATE_SOURCE_APP_USERNAME", "app"),
    ("MIGRATE_SOURCE_APP_PASSWORD", "app-secret-password"),
    ("MIGRATE_SOURCE_CA_FILE", PLACEHOLDER_CA),
];

/// `plans/msk.yaml`, its text changed by `edit`, validated with [`EXAMPLE_MSK_ENV`].
pub fn example_msk_plan(edit: impl Fn(String) -> String) -> migrate::plan::Plan {
    let lookup = |name: &str| EXAMPLE_MSK_ENV.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let path = super::project_root().join("plans/msk.yaml");
    let text = edit(std::fs::read_to_string(&path).unwrap());
    migrate::plan::parse(&path, &text, &lookup).unwrap_or_else(|e| panic!("{e}"))
}
