//! `migrate render`: the exact `aws kafka create-replicator` inputs, both directions, and the
//! role's policy. Golden files pin the output; the SDK's own serializer proves the field names: the
//! request the SDK builds from the same model, captured on the wire, carries the same document.
//! `acl-translation.md` is read back row by row, once from a listing `kafka-acls --list` printed on
//! a real broker.

mod common;

use std::path::Path;

use aws_smithy_http_client::test_util::capture_request;
use common::*;
use migrate::msk::render::{self, Direction};
use migrate::plan;
use serde_json::Value;

fn example_plan() -> plan::Plan {
    common::aws::example_msk_plan(|text| text)
}

fn render_into(dir: &Path, extra: &[&str]) -> Run {
    let plan = project_root().join("plans/msk.yaml");
    let out = dir.join("inputs");
    let mut args = vec!["-p", plan.to_str().unwrap(), "render", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    migrate(&args, common::aws::EXAMPLE_MSK_ENV, &["source-secret-password", "app-secret-password"])
}

#[test]
fn render_writes_the_inputs_of_both_replicators_and_the_policies() {
    let dir = tempfile::tempdir().unwrap();
    let run = render_into(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = dir.path().join("inputs");
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app-notification-policy.json",
            "app-order_status-policy.json",
            "app-orders-policy.json",
            "caller-policy.json",
            "create-replicator-external-to-msk.json",
            "create-replicator-msk-to-external.json",
            "kafka-clusters.json",
            "log-delivery.json",
            "replication-info-external-to-msk.json",
            "replication-info-msk-to-external.json",
            "replicator-role-policy.json",
            "replicator-role-trust.json",
        ]
    );
    for name in &names {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        insta::assert_snapshot!(name.as_str(), text);
    }
    // The commands to run them, with the real files.
    assert!(
        run.stdout.contains("aws kafka create-replicator --region eu-west-1 --cli-input-json file://"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("create-replicator-msk-to-external.json"), "{}", run.stdout);

    // Nothing is overwritten without --force, and nothing half-written.
    let again = render_into(dir.path(), &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already there") && again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(render_into(dir.path(), &["--force"]).code, 0);
}

#[test]
fn the_reverse_replicator_swaps_source_and_target_and_both_use_the_api_field_type() {
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let forward = serde_json::to_value(render::replication_info(&plan, msk, Direction::ExternalToMsk)).unwrap();
    let reverse = serde_json::to_value(render::replication_info(&plan, msk, Direction::MskToExternal)).unwrap();
    assert_eq!(forward[0]["SourceKafkaClusterId"], "lkc-abc123");
    assert_eq!(forward[0]["TargetKafkaClusterArn"], msk.cluster_arn.as_str());
    assert!(forward[0].get("SourceKafkaClusterArn").is_none() && forward[0].get("TargetKafkaClusterId").is_none());
    assert_eq!(reverse[0]["SourceKafkaClusterArn"], msk.cluster_arn.as_str());
    assert_eq!(reverse[0]["TargetKafkaClusterId"], "lkc-abc123");
    // The forward replicator starts where the plan says (EARLIEST by default), the reverse one at
    // LATEST, as AWS's bidirectional example does.
    assert_eq!(forward[0]["TopicReplication"]["StartingPosition"], serde_json::json!({"Type": "EARLIEST"}));
    assert_eq!(reverse[0]["TopicReplication"]["StartingPosition"], serde_json::json!({"Type": "LATEST"}));
    for info in [&forward, &reverse] {
        let topics = &info[0]["TopicReplication"];
        assert_eq!(topics["TopicNameConfiguration"], serde_json::json!({"Type": "IDENTICAL"}));
        assert_eq!(topics["TopicsToExclude"], serde_json::json!(["__.*"]));
        assert_eq!(info[0]["ConsumerGroupReplication"]["ConsumerGroupOffsetSyncMode"], "ENHANCED");
        assert!(!info.to_string().contains("\"Kind\""), "{info}");
    }
}

#[test]
fn the_reverse_replicator_starts_at_latest_whatever_the_forward_one_does() {
    let plan = common::aws::example_msk_plan(|text| {
        assert!(text.contains("starting_position: earliest"), "plans/msk.yaml changed shape");
        text.replacen("starting_position: earliest", "starting_position: latest", 1)
    });
    let msk = plan.msk().unwrap();
    for direction in Direction::BOTH {
        let input = serde_json::to_value(render::replicator_input(&plan, msk, direction)).unwrap();
        assert_eq!(
            input["ReplicationInfoList"][0]["TopicReplication"]["StartingPosition"]["Type"], "LATEST",
            "{direction:?}"
        );
    }
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let reverse = serde_json::to_value(render::replicator_input(&plan, msk, Direction::MskToExternal)).unwrap();
    assert_eq!(reverse["ReplicationInfoList"][0]["TopicReplication"]["StartingPosition"]["Type"], "LATEST");
}

/// The statements of a rendered policy file: SID → (actions, resources).
fn statements(path: &Path) -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_string(), (strings(&s["Action"]), strings(&s["Resource"]))))
        .collect()
}

#[test]
fn the_role_gets_what_the_developer_guide_documents_and_the_caller_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let run = render_into(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = example_plan();
    let msk = plan.msk().unwrap();

    // The role: the SER page's four Secrets Manager actions on the secrets, kms:Decrypt; no
    // cluster, topic, group or log actions (the managed policy and the caller have those).
    let role = statements(&dir.path().join("inputs/replicator-role-policy.json"));
    let (actions, resources) = &role["SecretsManagerPermissions"];
    assert_eq!(
        actions,
        &[
            "secretsmanager:GetResourcePolicy",
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:ListSecretVersionIds"
        ]
    );
    assert!(
        resources.contains(&msk.scram_secret_arn) && resources.contains(msk.certificate_secret_arn.as_ref().unwrap())
    );
    let role_text = std::fs::read_to_string(dir.path().join("inputs/replicator-role-policy.json")).unwrap();
    for absent in ["kafka-cluster:", "logs:", "ClusterDynamicConfiguration"] {
        assert!(!role_text.contains(absent), "the role's policy grants {absent}: {role_text}");
    }
    assert!(run.stdout.contains("--policy-arn arn:aws:iam::aws:policy/service-role/AWSMSKReplicatorExecutionRole"));

    // The caller: every action AWS lists for whoever calls CreateReplicator, and log delivery.
    let caller = statements(&dir.path().join("inputs/caller-policy.json"));
    let all: Vec<&String> = caller.values().flat_map(|(actions, _)| actions).collect();
    for action in [
        "kafka:CreateReplicator",
        "kafka:DescribeReplicator",
        "kafka:UpdateReplicationInfo",
        "kafka:DeleteReplicator",
        "kafka:ListReplicators",
        "kafka:TagResource",
        "kafka:ListTagsForResource",
        "kafka:GetBootstrapBrokers",
        "kafka:DescribeClusterV2",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "logs:ListLogDeliveries",
    ] {
        assert!(all.iter().any(|a| a.as_str() == action), "caller-policy.json lacks {action}: {caller:?}");
    }
    assert_eq!(
        caller["MSKReplicatorServiceLinkedRole"].1,
        ["arn:aws:iam::123456789012:role/aws-service-role/kafka.amazonaws.com/AWSServiceRoleForKafka*"]
    );
    assert_eq!(caller["MSKReplicatorIAMPassRole"].1, std::slice::from_ref(&msk.service_execution_role_arn));
}

#[test]
fn in_china_the_kms_via_service_host_ends_in_amazonaws_com_cn() {
    let plan = common::aws::example_msk_plan(|text| {
        let text = text.replace("arn:aws:", "arn:aws-cn:").replace("eu-west-1", "cn-north-1");
        // The example names its key; without one the grant is conditioned on kms:ViaService.
        text.lines().filter(|line| !line.contains("secret_kms_key_arn")).collect::<Vec<_>>().join("\n")
    });
    let msk = plan.msk().unwrap();
    assert!(msk.secret_kms_key_arn.is_none() && msk.cluster_arn.starts_with("arn:aws-cn:"), "{msk:?}");
    let document = migrate::msk::policy::document(&migrate::msk::policy::role_grants(msk)).to_string();
    assert!(document.contains(r#""kms:ViaService":"secretsmanager.cn-north-1.amazonaws.com.cn""#), "{document}");
    assert!(document.contains("arn:aws-cn:kms:cn-north-1:"), "{document}");
}

/// The AWS CLI `scripts/install.sh` installs from PyPI into the tools cache.
fn aws_cli() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let tools = std::env::var("MIGRATE_TOOLS").unwrap_or_else(|_| format!("{home}/.cache/migrate-tools"));
    let cli = std::path::PathBuf::from(tools).join("awscli-venv/bin/aws");
    assert!(cli.exists(), "{} is missing: run scripts/install.sh", cli.display());
    cli
}

/// Runs `aws kafka create-replicator` with `args` against an endpoint nothing listens on: the CLI
/// validates the input against the service model before it connects. Returns stderr.
fn create_replicator_offline(args: &[&str]) -> String {
    let port = free_port(); // bound and released: nothing listens there
    let output = std::process::Command::new(aws_cli())
        .args(["kafka", "create-replicator", "--region", "eu-west-1"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!output.status.success(), "nothing listens there, yet the CLI succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_aws_cli_accepts_every_rendered_input_and_fails_only_on_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(render_into(dir.path(), &[]).code, 0);
    let out = dir.path().join("inputs");
    let file = |name: &str| format!("file://{}", out.join(name).display());
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let mut runs = Vec::new();
    for direction in Direction::BOTH {
        runs.push(create_replicator_offline(&[
            "--cli-input-json",
            &file(&format!("create-replicator-{}.json", direction.slug())),
        ]));
        runs.push(create_replicator_offline(&[
            "--replicator-name",
            direction.replicator_name(msk),
            "--service-execution-role-arn",
            &msk.service_execution_role_arn,
            "--kafka-clusters",
            &file("kafka-clusters.json"),
            "--replication-info-list",
            &file(&format!("replication-info-{}.json", direction.slug())),
            "--log-delivery",
            &file("log-delivery.json"),
        ]));
    }
    for stderr in &runs {
        assert!(!stderr.contains("Parameter validation failed"), "{stderr}");
        assert!(stderr.contains("Could not connect to the endpoint URL"), "{stderr}");
    }

    // The check can fail: the article's `Kind` instead of the API's `Type` is refused.
    let text = std::fs::read_to_string(out.join("create-replicator-external-to-msk.json")).unwrap();
    let broken = text.replacen("\"Type\": \"EARLIEST\"", "\"Kind\": \"EARLIEST\"", 1);
    assert_ne!(broken, text);
    std::fs::write(out.join("broken.json"), broken).unwrap();
    let stderr = create_replicator_offline(&["--cli-input-json", &file("broken.json")]);
    assert!(stderr.contains("Parameter validation failed") && stderr.contains("Kind"), "{stderr}");
}

/// `Foo` → `foo`, recursively, except inside `Tags` (whose keys are the user's).
fn to_wire_names(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| {
                    let mut chars = key.chars();
                    let wire =
                        chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default();
                    let inner = if key == "Tags" { inner.clone() } else { to_wire_names(inner) };
                    (wire, inner)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(to_wire_names).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_sdk_sends_exactly_the_rendered_input() {
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    for direction in Direction::BOTH {
        let input = render::replicator_input(&plan, msk, direction);
        let (http, requests) = capture_request(None);
        let config = aws_sdk_kafka::Config::builder()
            .behavior_version(aws_sdk_kafka::config::BehaviorVersion::latest())
            .region(aws_sdk_kafka::config::Region::new("eu-west-1"))
            .credentials_provider(common::aws::test_credentials())
            .http_client(http)
            .build();
        let client = aws_sdk_kafka::Client::from_conf(config);
        // The capturing client answers 200 with an empty body; only the request matters.
        let _ = input.request(&client).send().await;
        let request = requests.expect_request();
        assert!(request.uri().ends_with("/replication/v1/replicators"), "{}", request.uri());
        let sent: Value = serde_json::from_slice(request.body().bytes().expect("a JSON body")).unwrap();
        let rendered = to_wire_names(&serde_json::to_value(&input).unwrap());
        assert_eq!(sent, rendered, "{direction:?}: the SDK's serialization differs from the rendered file");
    }
}

#[test]
fn render_refuses_an_embedded_plan() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    let identity = "{ mechanism: SCRAM-SHA-512, username: u, password: { env: RENDER_TEST_PASSWORD } }";
    std::fs::write(
        &plan,
        format!(
            "name: embedded\nsource:\n  bootstrap_servers: 127.0.0.1:1\n  replicator_auth: {identity}\n  app_auth: {identity}\ntarget:\n  bootstrap_servers: 127.0.0.1:2\n  replicator_auth: {identity}\n  app_auth: {identity}\nreplication:\n  topics: [t]\napps:\n  - name: a\n    produces: [t]\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("x");
    let run = migrate(
        &["-p", plan.to_str().unwrap(), "render", "--out", out.to_str().unwrap()],
        &[("RENDER_TEST_PASSWORD", "pw-render-test")],
        &["pw-render-test"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("embedded backend"), "{}", run.stderr);
    assert!(!out.exists());
}

/// Duo Labs' IAM linter, which `scripts/install.sh` installs from PyPI into the tools cache.
fn parliament() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let tools = std::env::var("MIGRATE_TOOLS").unwrap_or_else(|_| format!("{home}/.cache/migrate-tools"));
    let linter = std::path::PathBuf::from(tools).join("parliament-venv/bin/parliament");
    assert!(linter.exists(), "{} is missing: run scripts/install.sh", linter.display());
    linter
}

/// Parliament's findings on one policy document (`--string`: with `--file`, parliament refuses a
/// standard input that is not a terminal).
fn lint(document: &str) -> std::process::Output {
    std::process::Command::new(parliament()).args(["--string", document, "--json"]).output().unwrap()
}

#[test]
fn each_app_gets_a_least_privilege_policy_with_the_real_arns() {
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let cluster = msk.cluster();
    let app = plan.apps.iter().find(|app| app.name == "order_status").unwrap();
    let document = migrate::msk::policy::document(&migrate::msk::policy::app_grants(app, msk));
    let by_sid = |sid: &str| {
        document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("{sid} in {document:#}"))
    };
    assert_eq!(by_sid("Connect")["Action"], serde_json::json!(["kafka-cluster:Connect"]));
    assert_eq!(by_sid("Connect")["Resource"], serde_json::json!([msk.cluster_arn]));
    assert_eq!(by_sid("ProducedTopics")["Resource"], serde_json::json!([cluster.topic("order_status")]));
    assert_eq!(
        by_sid("ProducedTopics")["Action"],
        serde_json::json!(["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"])
    );
    assert_eq!(by_sid("ConsumedTopics")["Resource"], serde_json::json!([cluster.topic("orders")]));
    assert_eq!(by_sid("Groups")["Resource"], serde_json::json!([cluster.group("order-status")]));
    assert!(!document.to_string().contains("TransactionalId"), "no transactional id in the plan: {document:#}");
    assert!(!document.to_string().contains('*'), "exact ARNs only: {document:#}");
}

#[test]
fn the_app_role_and_caller_policies_pass_the_parliament_linter() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(render_into(dir.path(), &[]).code, 0);
    let out = dir.path().join("inputs");
    let mut linted = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The identity policies (a trust policy is a resource policy).
        if !(name.starts_with("app-") || name == "replicator-role-policy.json" || name == "caller-policy.json") {
            continue;
        }
        let output = lint(&std::fs::read_to_string(&path).unwrap());
        let findings = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && findings.trim().is_empty(),
            "parliament on {name}: {findings}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        linted += 1;
    }
    assert_eq!(linted, 5, "three app policies, the role's and the caller's");

    // The linter does look at the actions: one that does not exist is reported.
    let wrong = out.join("wrong.json");
    let text = std::fs::read_to_string(out.join("app-orders-policy.json"))
        .unwrap()
        .replace("kafka-cluster:WriteData\"", "kafka-cluster:WriteDatum\"");
    assert!(text.contains("WriteDatum"), "{text}");
    std::fs::write(&wrong, text).unwrap();
    let output = lint(&std::fs::read_to_string(&wrong).unwrap());
    let findings = String::from_utf8_lossy(&output.stdout);
    assert!(findings.contains("UNKNOWN_ACTION") && findings.contains("WriteDatum"), "{findings}");
}

/// `plans/msk.yaml` with `source.tls` naming no CA file: the source's certificates are publicly
/// trusted.
fn public_ca_plan_text() -> String {
    let text = std::fs::read_to_string(project_root().join("plans/msk.yaml")).unwrap();
    let public =
        text.replacen("  tls:\n    ca_file: ${MIGRATE_SOURCE_CA_FILE:-/etc/kafka/ca-chain.pem}\n", "  tls: {}\n", 1);
    assert_ne!(public, text, "plans/msk.yaml's source.tls changed: update this test");
    public
}

#[test]
fn a_publicly_trusted_source_is_rendered_without_root_ca_certificate_and_the_aws_cli_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("public-ca.yaml");
    std::fs::write(&plan, public_ca_plan_text()).unwrap();
    let out = dir.path().join("inputs");
    let run = migrate(
        &["-p", plan.to_str().unwrap(), "render", "--out", out.to_str().unwrap()],
        common::aws::EXAMPLE_MSK_ENV,
        &["source-secret-password", "app-secret-password"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let read =
        |name: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap() };
    let external = |clusters: &Value| -> Value {
        clusters.as_array().unwrap().iter().find(|c| c.get("ApacheKafkaCluster").is_some()).unwrap().clone()
    };
    // TLS still, with no CA secret: AWS trusts a public CA by itself.
    let expected = serde_json::json!({"EncryptionType": "TLS"});
    assert_eq!(external(&read("kafka-clusters.json"))["EncryptionInTransit"], expected);
    let file = |name: &str| format!("file://{}", out.join(name).display());
    for direction in Direction::BOTH {
        let name = format!("create-replicator-{}.json", direction.slug());
        assert_eq!(external(&read(&name)["KafkaClusters"])["EncryptionInTransit"], expected);
        let stderr = create_replicator_offline(&["--cli-input-json", &file(&name)]);
        assert!(!stderr.contains("Parameter validation failed"), "{stderr}");
        assert!(stderr.contains("Could not connect to the endpoint URL"), "{stderr}");
    }
    // The role reads the one secret, as before.
    let (_, resources) = &statements(&out.join("replicator-role-policy.json"))["SecretsManagerPermissions"];
    let plan = common::aws::example_msk_plan(|_| public_ca_plan_text());
    let msk = plan.msk().unwrap();
    assert_eq!(msk.certificate_secret_arn, None);
    assert_eq!(resources, &vec![msk.scram_secret_arn.clone()]);

    // With the plan's CA file (a private CA) the secret is named, as AWS requires.
    let private = example_plan();
    let input = render::replicator_input(&private, private.msk().unwrap(), Direction::ExternalToMsk);
    let encryption = input.kafka_clusters.iter().find_map(|c| c.encryption_in_transit.clone()).unwrap();
    assert_eq!(encryption.root_ca_certificate.as_deref(), Some(private.msk().unwrap().scram_secret_arn.as_str()));
}

#[test]
fn a_ca_secret_without_a_ca_file_is_a_plan_problem_at_its_field() {
    let text = public_ca_plan_text().replacen(
        "  scram_mechanism:",
        "  certificate_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-ca-AbCdEf\n  scram_mechanism:",
        1,
    );
    let lookup = |name: &str| common::aws::EXAMPLE_MSK_ENV.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let problems =
        migrate::plan::parse(&project_root().join("plans/msk.yaml"), &text, &lookup).unwrap_err().to_string();
    assert!(problems.contains("msk.certificate_secret_arn"), "{problems}");
    assert!(
        problems.contains("a CA secret is for a private or self-signed CA, but `source.tls` names no `ca_file`"),
        "{problems}"
    );
}

/// `render --create-secret --delete-secrets`: the caller's policy grants what those flags of
/// `apply` and `teardown` do to the secret, and only then.
#[test]
fn the_callers_policy_grants_the_secret_flags_actions_only_when_rendered_with_them() {
    let secret_actions = |extra: &[&str]| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let run = render_into(dir.path(), extra);
        assert_eq!(run.code, 0, "{}", run.stderr);
        statements(&dir.path().join("inputs/caller-policy.json"))["ReplicatorSecrets"].0.clone()
    };
    let plain = secret_actions(&[]);
    assert_eq!(plain, ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]);
    let deleting = secret_actions(&["--delete-secrets"]);
    assert_eq!(
        deleting,
        ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"]
    );
    let both = secret_actions(&["--create-secret", "--delete-secrets"]);
    for action in ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret"] {
        assert!(both.iter().any(|a| a == action), "{action} not in {both:?}");
    }
}

/// A `kafka-acls.sh --list` listing as Kafka 3.x prints it (tabs, trailing spaces and all): the
/// example plan's apps log in to the source as `User:app`.
const SOURCE_ACL_LISTING: &str = "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n \t(principal=User:app, host=*, operation=WRITE, permissionType=ALLOW)\n\t(principal=User:app, host=10.0.0.5, operation=READ, permissionType=ALLOW)\n\t(principal=User:replicator, host=*, operation=READ, permissionType=ALLOW) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=order_, patternType=PREFIXED)`: \n \t(principal=User:app, host=*, operation=WRITE, permissionType=ALLOW) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=payments, patternType=LITERAL)`: \n \t(principal=User:app, host=*, operation=READ, permissionType=DENY) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=public, patternType=LITERAL)`: \n \t(principal=User:*, host=*, operation=READ, permissionType=ALLOW) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=order-status, patternType=LITERAL)`: \n \t(principal=User:app, host=*, operation=READ, permissionType=ALLOW) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=TRANSACTIONAL_ID, name=orders-tx, patternType=LITERAL)`: \n \t(principal=User:app, host=*, operation=WRITE, permissionType=ALLOW) \n\n\
Current ACLs for resource `ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)`: \n \t(principal=User:app, host=*, operation=IDEMPOTENT_WRITE, permissionType=ALLOW)\n\t(principal=User:app, host=*, operation=ALL, permissionType=ALLOW) \n\n";

/// The table rows of `acl-translation.md`: (source ACL, apps, statement).
fn translation_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| source ACL"))
        .map(|line| {
            let cells: Vec<String> = line.trim_matches('|').split(" | ").map(|cell| cell.trim().to_string()).collect();
            assert_eq!(cells.len(), 3, "{line}");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[test]
fn acl_translation_lists_each_source_acl_of_the_apps_and_the_iam_statement_it_became() {
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("source-acls.txt");
    std::fs::write(&listing, SOURCE_ACL_LISTING).unwrap();
    let run = render_into(dir.path(), &["--source-acls", listing.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("acl-translation.md"), "{}", run.stdout);
    let text = std::fs::read_to_string(dir.path().join("inputs/acl-translation.md")).unwrap();

    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let cluster = msk.cluster();
    let apps = "orders, order_status, notification";
    let row = |acl: &str, became: String| (acl.to_string(), apps.to_string(), became);
    let expected = vec![
        row(
            "ALLOW Write on Topic `orders` (Literal) for `User:app` from `*`",
            format!("Allow `kafka-cluster:DescribeTopic`, `kafka-cluster:WriteData` on `{}`", cluster.topic("orders")),
        ),
        row(
            "ALLOW Read on Topic `orders` (Literal) for `User:app` from `10.0.0.5`",
            "not translated: limited to the client host 10.0.0.5: `kafka-cluster` actions carry no client-host restriction migrate can vouch for".into(),
        ),
        row(
            "ALLOW Write on Topic `order_` (Prefixed) for `User:app` from `*`",
            format!(
                "Allow `kafka-cluster:DescribeTopic`, `kafka-cluster:WriteData` on `{}`",
                cluster.topic("order_*")
            ),
        ),
        row(
            "DENY Read on Topic `payments` (Literal) for `User:app` from `*`",
            format!("Deny `kafka-cluster:DescribeTopic`, `kafka-cluster:ReadData` on `{}`", cluster.topic("payments")),
        ),
        row(
            "ALLOW Read on Topic `public` (Literal) for `User:*` from `*`",
            "not translated: a rule for every principal (`User:*`): an IAM policy belongs to one role or user; attach the statement to each app's role instead".into(),
        ),
        row(
            "ALLOW Read on Group `order-status` (Literal) for `User:app` from `*`",
            format!(
                "Allow `kafka-cluster:DescribeGroup`, `kafka-cluster:AlterGroup` on `{}`",
                cluster.group("order-status")
            ),
        ),
        row(
            "ALLOW Write on TransactionalId `orders-tx` (Literal) for `User:app` from `*`",
            format!(
                "Allow `kafka-cluster:DescribeTransactionalId`, `kafka-cluster:AlterTransactionalId` on `{}`",
                cluster.transactional_id("orders-tx")
            ),
        ),
        row(
            "ALLOW IdempotentWrite on Cluster `kafka-cluster` (Literal) for `User:app` from `*`",
            format!("Allow `kafka-cluster:WriteDataIdempotently` on `{}`", msk.cluster_arn),
        ),
        row(
            "ALLOW All on Cluster `kafka-cluster` (Literal) for `User:app` from `*`",
            "not translated: ALL on the cluster: its IAM equivalent would be every cluster action (kafka-cluster:*); grant what the app does instead (its app-<name>-policy.json)".into(),
        ),
    ];
    assert_eq!(translation_rows(&text), expected, "{text}");
    // The replicator's READ on `orders` is another principal's: counted, not listed.
    assert!(text.contains("6 translated, 3 not translated; 1 ACL(s) of other principals left out."), "{text}");
    assert!(!text.contains("User:replicator"), "{text}");

    // Without --source-acls no translation is written (render stays offline and needs the listing).
    let plain = tempfile::tempdir().unwrap();
    assert_eq!(render_into(plain.path(), &[]).code, 0);
    assert!(!plain.path().join("inputs/acl-translation.md").exists());
}

#[test]
fn a_source_acl_listing_that_does_not_parse_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("acls.txt");
    // Kafka 2.x's old format (`Topic:LITERAL:orders`) is not the one `--list` prints since 2.0.
    std::fs::write(
        &listing,
        "\nCurrent ACLs for resource `Topic:LITERAL:orders`: \n \tUser:app has Allow permission for operations: Write from hosts: *\n",
    )
    .unwrap();
    let run = render_into(dir.path(), &["--source-acls", listing.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("{}: line 2: not a ResourcePattern", listing.display())), "{}", run.stderr);
    assert!(!dir.path().join("inputs").exists(), "nothing is written unless everything can be");
}

/// The listing comes from Kafka's own `kafka-acls --list` on a real broker (StandardAuthorizer):
/// every ACL created for the app's principal is found in `acl-translation.md` with its statement.
#[test]
fn acl_translation_reads_what_kafka_acls_list_prints_on_a_real_broker() {
    use migrate::kafka::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
    let broker = start_broker(BrokerOptions::default());
    let principal = "User:orders_svc";
    let binding = |resource_type, name: &str, pattern_type, operation, permission, host: &str| AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    };
    use AclOperation::*;
    use AclPermission::*;
    broker.create_acls(&[
        binding(ResourceType::Topic, "orders", PatternType::Literal, Write, Allow, "*"),
        binding(ResourceType::Topic, "order_", PatternType::Prefixed, Write, Allow, "*"),
        binding(ResourceType::Topic, "payments", PatternType::Literal, Read, Deny, "*"),
        binding(ResourceType::Topic, "orders", PatternType::Literal, Read, Allow, "10.0.0.5"),
        binding(ResourceType::Group, "order-status", PatternType::Literal, Read, Allow, "*"),
        binding(ResourceType::TransactionalId, "orders-tx", PatternType::Literal, Write, Allow, "*"),
        binding(ResourceType::Cluster, "kafka-cluster", PatternType::Literal, IdempotentWrite, Allow, "*"),
    ]);
    let listed = broker.kafka_tool(&format!(
        "kafka-acls --bootstrap-server {} --command-config admin.properties --list",
        broker.bootstrap()
    ));
    assert!(listed.status.success(), "kafka-acls: {}", String::from_utf8_lossy(&listed.stderr));
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("source-acls.txt");
    std::fs::write(&listing, &listed.stdout).unwrap();

    let plan = project_root().join("plans/msk.yaml");
    let out = dir.path().join("inputs");
    let mut env: Vec<(&str, &str)> = common::aws::EXAMPLE_MSK_ENV.to_vec();
    env.retain(|(name, _)| *name != "MIGRATE_SOURCE_APP_USERNAME");
    env.push(("MIGRATE_SOURCE_APP_USERNAME", "orders_svc"));
    let run = migrate(
        &[
            "-p",
            plan.to_str().unwrap(),
            "render",
            "--out",
            out.to_str().unwrap(),
            "--source-acls",
            listing.to_str().unwrap(),
        ],
        &env,
        &["source-secret-password", "app-secret-password"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let text = std::fs::read_to_string(out.join("acl-translation.md")).unwrap();

    let example = example_plan();
    let msk = example.msk().unwrap();
    let cluster = msk.cluster();
    let mut rows: Vec<(String, String)> = translation_rows(&text)
        .into_iter()
        .filter(|(acl, _, _)| acl.contains(&format!("for `{principal}`")))
        .map(|(acl, apps, became)| {
            assert_eq!(apps, "orders, order_status, notification");
            (acl, became)
        })
        .collect();
    rows.sort();
    let mut expected = vec![
        (
            "ALLOW Write on Topic `orders` (Literal) for `User:orders_svc` from `*`".to_string(),
            format!("Allow `kafka-cluster:DescribeTopic`, `kafka-cluster:WriteData` on `{}`", cluster.topic("orders")),
        ),
        (
            "ALLOW Write on Topic `order_` (Prefixed) for `User:orders_svc` from `*`".into(),
            format!("Allow `kafka-cluster:DescribeTopic`, `kafka-cluster:WriteData` on `{}`", cluster.topic("order_*")),
        ),
        (
            "DENY Read on Topic `payments` (Literal) for `User:orders_svc` from `*`".into(),
            format!("Deny `kafka-cluster:DescribeTopic`, `kafka-cluster:ReadData` on `{}`", cluster.topic("payments")),
        ),
        (
            "ALLOW Read on Topic `orders` (Literal) for `User:orders_svc` from `10.0.0.5`".into(),
            "not translated: limited to the client host 10.0.0.5: `kafka-cluster` actions carry no client-host restriction migrate can vouch for".into(),
        ),
        (
            "ALLOW Read on Group `order-status` (Literal) for `User:orders_svc` from `*`".into(),
            format!("Allow `kafka-cluster:DescribeGroup`, `kafka-cluster:AlterGroup` on `{}`", cluster.group("order-status")),
        ),
        (
            "ALLOW Write on TransactionalId `orders-tx` (Literal) for `User:orders_svc` from `*`".into(),
            format!(
                "Allow `kafka-cluster:DescribeTransactionalId`, `kafka-cluster:AlterTransactionalId` on `{}`",
                cluster.transactional_id("orders-tx")
            ),
        ),
        (
            "ALLOW IdempotentWrite on Cluster `kafka-cluster` (Literal) for `User:orders_svc` from `*`".into(),
            format!("Allow `kafka-cluster:WriteDataIdempotently` on `{}`", msk.cluster_arn),
        ),
    ];
    expected.sort();
    assert_eq!(rows, expected, "{text}\n--- listing:\n{}", String::from_utf8_lossy(&listed.stdout));
    // The broker's other principals (admin, replicator, app) are counted as left out, not listed.
    assert!(!text.contains("for `User:replicator`"), "{text}");
    broker.stop();
}

/// Apps logging in to the target with SASL/SCRAM: whoever runs preflight also lists the cluster's
/// SCRAM secrets and reads them (`app-scram-secrets`), their key only through Secrets Manager;
/// without such apps the caller's policy has none of it. Parliament finds nothing in either.
#[test]
fn the_caller_policy_lists_and_reads_the_clusters_scram_secrets_only_for_scram_apps() {
    use migrate::msk::policy;
    let plan = example_plan();
    let msk = plan.msk().unwrap();
    let with = policy::document(&policy::caller_grants(
        msk,
        policy::CallerUse { app_scram_secrets: true, ..Default::default() },
    ))
    .to_string();
    let without = policy::document(&policy::caller_grants(msk, Default::default())).to_string();
    for text in [&with, &without] {
        let output = lint(text);
        let findings = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && findings.trim().is_empty(), "parliament: {findings}");
    }
    assert!(with.contains("\"kafka:ListScramSecrets\"") && with.contains(&msk.cluster_arn), "{with}");
    assert!(with.contains(":secret:AmazonMSK_*") && with.contains("secretsmanager.eu-west-1.amazonaws.com"), "{with}");
    assert!(!without.contains("ListScramSecrets") && !without.contains("AmazonMSK_*"), "{without}");
}
