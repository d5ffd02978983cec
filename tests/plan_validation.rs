//! Broken plans: every problem reported at once, each with its line, column and message.

mod common;

use std::path::Path;

use migrate::plan::{self, Problem};

fn env(name: &str) -> Option<String> {
    match name {
        "SRC_PASSWORD" | "TGT_PASSWORD" => Some("s3cret-value".into()),
        "HOST" => Some("kafka.example.com".into()),
        _ => None,
    }
}

const VALID: &str = r#"name: demo
source:
  bootstrap_servers: ${HOST}:9092
  replicator_auth:
    mechanism: SCRAM-SHA-512
    username: replicator
    password: { env: SRC_PASSWORD }
  app_auth:
    mechanism: SCRAM-SHA-512
    username: app
    password: ${SRC_PASSWORD}
target:
  bootstrap_servers: target.example.com:9092
  replicator_auth:
    mechanism: SCRAM-SHA-512
    username: replicator
    password: { env: TGT_PASSWORD }
  app_auth:
    mechanism: SCRAM-SHA-512
    username: app
    password: { env: TGT_PASSWORD }
replication:
  topics: [orders, order_status]
  groups: [order-status]
apps:
  - name: orders
    produces: [orders]
  - name: order_status
    produces: [order_status]
    consumes:
      - group: order-status
        topics: [orders]
"#;

fn problems(text: &str) -> Vec<Problem> {
    match plan::parse(Path::new("plan.yaml"), text, &env) {
        Ok(_) => panic!("the plan was accepted:\n{text}"),
        Err(error) => error.problems,
    }
}

/// Replaces the first occurrence of `from` (which must exist) in the valid plan.
fn broken(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from:?} not in the valid plan");
    VALID.replacen(from, to, 1)
}

fn assert_one(text: &str, line: usize, column: usize, message: &str) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    let problem = &found[0];
    assert_eq!((problem.line, problem.column), (line, column), "{problem:#?}");
    assert!(problem.message.contains(message), "{:?} does not contain {message:?}", problem.message);
    assert!(problem.hint.is_some(), "every problem has a hint: {problem:#?}");
}

#[test]
fn the_valid_plan_is_valid() {
    let plan = plan::parse(Path::new("plan.yaml"), VALID, &env).unwrap();
    assert_eq!(plan.source.bootstrap_servers, vec!["kafka.example.com:9092"]);
    assert_eq!(plan.apps.len(), 2);
    assert!(plan.replication.bidirectional);
}

#[test]
fn malformed_yaml() {
    assert_one(
        &broken("  groups: [order-status]", "  groups: [order-status"),
        25,
        5,
        "malformed YAML: did not find expected ',' or ']', while parsing a flow sequence at line 24 column 11",
    );
}

#[test]
fn unknown_field_with_a_suggestion() {
    let text = broken("  bootstrap_servers: target", "  bootstrap_server: target");
    let found = problems(&text);
    let unknown =
        found.iter().find(|p| p.message == "unknown field `bootstrap_server`").expect("unknown field reported");
    assert_eq!((unknown.line, unknown.column), (13, 3));
    assert!(unknown.hint.as_deref().unwrap().contains("did you mean `bootstrap_servers`"));
    // ...and the field it should have been is missing, reported in the same pass.
    assert!(
        found.iter().any(|p| p.message == "missing field `bootstrap_servers`" && p.path == "target.bootstrap_servers"),
        "{found:#?}"
    );
}

#[test]
fn missing_field() {
    assert_one(&broken("name: demo\n", ""), 1, 1, "missing field `name`");
}

#[test]
fn consumed_topic_nobody_replicates() {
    assert_one(
        &broken("        topics: [orders]", "        topics: [payments]"),
        32,
        18,
        "topic `payments` is consumed but nobody replicates it",
    );
}

#[test]
fn group_not_synced() {
    assert_one(
        &broken("      - group: order-status", "      - group: billing"),
        31,
        16,
        "group `billing` is consumed by this app but its offsets are not synced",
    );
}

#[test]
fn duplicate_app_name() {
    assert_one(&broken("  - name: order_status", "  - name: orders"), 28, 11, "duplicate app name `orders`");
}

#[test]
fn duplicate_topic() {
    assert_one(
        &broken("topics: [orders, order_status]", "topics: [orders, orders, order_status]"),
        23,
        20,
        "duplicate topic `orders`",
    );
}

#[test]
fn bad_regex() {
    assert_one(
        &broken("topics: [orders, order_status]", "topics: [orders, order_status, { regex: \"pay(ments\" }]"),
        23,
        43,
        "invalid regex `pay(ments`",
    );
}

#[test]
fn threshold_out_of_range() {
    let text = format!("{VALID}readiness:\n  max_replication_latency_ms: 0\n  sustained_for: 2d\n");
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!((found[0].line, found[0].column, found[0].message.as_str()), (34, 31, "0 is out of range"));
    assert_eq!((found[1].line, found[1].column), (35, 18));
    assert!(found[1].message.contains("unknown unit `d`"), "{found:#?}");
}

#[test]
fn literal_password() {
    assert_one(
        &broken("password: { env: SRC_PASSWORD }", "password: hunter2"),
        7,
        15,
        "a literal password is not allowed",
    );
}

#[test]
fn literal_password_hidden_in_a_default() {
    assert_one(
        &broken("password: ${SRC_PASSWORD}", "password: ${SRC_PASSWORD:-hunter2}"),
        11,
        15,
        "a literal password is not allowed",
    );
}

#[test]
fn unset_environment_variable() {
    assert_one(&broken("${HOST}", "${NOT_SET}"), 3, 22, "environment variable `NOT_SET` is not set");
}

#[test]
fn wrong_type() {
    assert_one(
        &broken("  topics: [orders, order_status]", "  topics: [orders, order_status]\n  bidirectional: sometimes"),
        24,
        18,
        "invalid type",
    );
}

#[test]
fn unknown_mechanism() {
    assert_one(&broken("mechanism: SCRAM-SHA-512", "mechanism: SCRAM-SHA-1"), 5, 16, "unknown mechanism `SCRAM-SHA-1`");
}

#[test]
fn bad_bootstrap_address() {
    assert_one(
        &broken("target.example.com:9092", "target.example.com"),
        13,
        22,
        "`target.example.com` is not host:port",
    );
}

#[test]
fn source_and_target_the_same() {
    assert_one(
        &broken("target.example.com:9092", "kafka.example.com:9092"),
        13,
        22,
        "the target lists a bootstrap server of the source",
    );
}

#[test]
fn every_problem_at_once() {
    let text = VALID
        .replacen("name: demo", "name: demo plan", 1)
        .replacen("password: { env: SRC_PASSWORD }", "password: hunter2", 1)
        .replacen("        topics: [orders]", "        topics: [payments]", 1)
        .replacen("  - name: order_status", "  - name: orders", 1)
        .replacen("replication:", "replication:\n  colour: blue", 1);
    let found = problems(&text);
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(found.len(), 5, "{messages:#?}");
    for expected in [
        "not a valid plan name",
        "literal password",
        "unknown field `colour`",
        "nobody replicates",
        "duplicate app name",
    ] {
        assert!(messages.iter().any(|m| m.contains(expected)), "{expected} missing from {messages:#?}");
    }
    let lines: Vec<usize> = found.iter().map(|p| p.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "problems are listed in file order");
}

#[test]
fn the_cli_exits_2_and_reports_positions_without_leaking_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken("password: { env: SRC_PASSWORD }", "password: hunter2-literal")).unwrap();
    let run = common::migrate(
        &["-p", path.to_str().unwrap(), "validate"],
        &[("SRC_PASSWORD", "x"), ("TGT_PASSWORD", "y"), ("HOST", "h")],
        &["hunter2-literal"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}:7:15: source.replicator_auth.password: a literal password is not allowed",
            path.display()
        )),
        "{}",
        run.stderr
    );

    let json = common::migrate(
        &["-p", path.to_str().unwrap(), "-o", "json", "plan"],
        &[("SRC_PASSWORD", "x"), ("TGT_PASSWORD", "y"), ("HOST", "h")],
        &["hunter2-literal"],
    );
    assert_eq!(json.code, 2);
    let document = json.json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["problems"][0]["line"], 7);
    assert_eq!(document["problems"][0]["column"], 15);
}

#[test]
fn the_shipped_plans_validate() {
    let root = common::project_root();
    let secrets = [
        ("MIGRATE_SOURCE_USERNAME", "u"),
        ("MIGRATE_SOURCE_PASSWORD", "p"),
        ("MIGRATE_TARGET_USERNAME", "u"),
        ("MIGRATE_TARGET_PASSWORD", "p"),
        ("MIGRATE_SOURCE_APP_USERNAME", "u"),
        ("MIGRATE_SOURCE_APP_PASSWORD", "p"),
        ("MIGRATE_TARGET_APP_USERNAME", "u"),
        ("MIGRATE_TARGET_APP_PASSWORD", "p"),
        ("MIGRATE_SOURCE_CA_FILE", common::PLACEHOLDER_CA),
    ];
    // plans/local.yaml names each local cluster's CA, which `scripts/local-clusters.sh up` makes.
    let local = tempfile::tempdir().unwrap();
    for side in ["source", "target"] {
        std::fs::create_dir_all(local.path().join(side)).unwrap();
        std::fs::write(local.path().join(side).join("ca.pem"), "").unwrap();
    }
    let local_dir = local.path().display().to_string();
    let lookup = |name: &str| {
        if name == "MIGRATE_LOCAL_DIR" {
            return Some(local_dir.clone());
        }
        secrets.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    for file in ["plans/local.yaml", "plans/local-iam.yaml", "plans/msk.yaml"] {
        let path = root.join(file);
        if let Err(error) = plan::load(&path, &lookup) {
            panic!("{error}");
        }
    }
    // The IAM demo's target: no SCRAM identity left, the IAM listener for the apps too.
    let iam = plan::load(&root.join("plans/local-iam.yaml"), &lookup).unwrap();
    assert_eq!(iam.target.replicator_auth, plan::Auth::MskIam);
    assert_eq!(iam.target.app_auth, plan::Auth::MskIam);
    assert_eq!(iam.target.bootstrap_servers, iam.target.replicator_bootstrap_servers);
    // `migrate` runs the hooks with the replicator's access key: each app must load its own.
    for app in &iam.apps {
        let start = app.start.as_deref().unwrap_or_default();
        assert!(start.contains("/target/app.iam.env\" && "), "{}: {start}", app.name);
    }
    let msk = plan::load(&root.join("plans/msk.yaml"), &lookup).unwrap();
    let settings = msk.msk().cloned().expect("msk settings");
    assert_eq!(settings.external_to_msk_name, "shop-migration-external-to-msk");
    assert_eq!(settings.msk_to_external_name, "shop-migration-msk-to-external");
    assert_eq!(settings.certificate_secret_arn.as_ref(), Some(&settings.scram_secret_arn));
}

/// An msk plan with every MSK-specific mistake at once: each reported at its field.
#[test]
fn msk_plans_need_the_external_cluster_id_tls_and_a_consistent_aws_section() {
    let text = VALID
        .replace(
            "target:\n  bootstrap_servers: target.example.com:9092\n  replicator_auth:\n    mechanism: SCRAM-SHA-512\n    username: replicator\n    password: { env: TGT_PASSWORD }\n  app_auth:\n    mechanism: SCRAM-SHA-512\n    username: app\n    password: { env: TGT_PASSWORD }\n",
            "target:\n  bootstrap_servers: b-1.shop.kafka.eu-west-1.amazonaws.com:9098\n  tls: {}\n  replicator_auth: { mechanism: AWS_MSK_IAM }\n  app_auth: { mechanism: AWS_MSK_IAM }\n",
        )
        .replace("replication:\n", "replication:\n  backend: msk\n  bidirectional: false\n")
        + r#"msk:
  region: us-east-1
  cluster_arn: arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b2c3d4e-1111-2222-3333-444455556666-2
  service_execution_role_arn: arn:aws:iam::123456789012:role/replicator
  security_group_ids: [sg-1]
  subnet_ids: [subnet-1]
  scram_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-AbCdEf
  scram_mechanism: PLAIN
  log_delivery: { s3_prefix: logs/ }
"#;
    assert!(text.contains("AWS_MSK_IAM") && text.contains("backend: msk"), "{text}");
    let found = problems(&text);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "source.cluster_id",
        "source.tls",
        "msk.cluster_arn",
        "msk.subnet_ids",
        "msk.scram_mechanism",
        "msk.consumer_group_offset_sync_mode",
        "msk.log_delivery.s3_prefix",
    ] {
        assert!(paths.contains(&expected), "{expected} not reported: {found:#?}");
    }
    let message = |path: &str| found.iter().find(|p| p.path == path).unwrap().message.clone();
    assert!(message("msk.cluster_arn").contains("the cluster is in eu-west-1, but `msk.region` is us-east-1"));
    assert!(message("msk.subnet_ids").contains("2 to 3"));
    assert!(message("msk.consumer_group_offset_sync_mode").contains("reverse replicator"));
    assert!(message("source.tls").contains("EncryptionInTransit"));
}

// Issue 20, item 10: plans that trapped the operator.

fn problems_with(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
    match plan::parse(Path::new("plan.yaml"), text, lookup) {
        Ok(_) => panic!("the plan was accepted:\n{text}"),
        Err(error) => error.problems,
    }
}

#[test]
fn password_with_a_line_break_is_accepted() {
    let lookup = |name: &str| match name {
        "SRC_PASSWORD" => Some("first\nsecond".to_string()),
        other => env(other),
    };
    let found = problems_with(VALID, &lookup);
    assert_eq!(found.len(), 2, "replicator_auth and app_auth both read it: {found:#?}");
    assert!(found.iter().all(|p| p.message == "the password contains a line break"), "{found:#?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "one\ntwo\n").unwrap();
    let text = broken("password: { env: TGT_PASSWORD }", &format!("password: {{ file: {} }}", file.display()));
    assert_one(&text, 17, 23, "the password contains a line break");
}

#[test]
fn secret_echoed_when_written_as_env_name_or_file_path() {
    for written in ["{ env: Sup3rS3cret! }", "{ file: Sup3rS3cret! }", "{ env: hunter2 }"] {
        let text = broken("password: { env: TGT_PASSWORD }", &format!("password: {written}"));
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        let shown = format!("{found:?}");
        assert!(!shown.contains("Sup3rS3cret") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("not shown") || shown.contains("cannot read the password: no such file"), "{shown}");
    }
    // A name that looks like a variable's is still named: it helps, and is no password.
    let text = broken("password: { env: TGT_PASSWORD }", "password: { env: MIGRATE_UNSET_PASSWORD }");
    assert_one(&text, 17, 22, "environment variable `MIGRATE_UNSET_PASSWORD` is not set");
}

#[test]
fn directory_as_ca_file_passes_validate() {
    let dir = tempfile::tempdir().unwrap();
    let text = broken(
        "target:\n  bootstrap_servers: target.example.com:9092\n",
        &format!(
            "target:\n  bootstrap_servers: target.example.com:9092\n  tls: {{ ca_file: {} }}\n",
            dir.path().display()
        ),
    );
    assert_one(&text, 14, 19, "is a directory, not a regular file");
}

/// The embedded engine reaches an IAM target (it used to be refused: its admin client could not
/// answer token requests; `tests/iam.rs` runs it against a broker that checks the tokens).
#[test]
fn embedded_engine_with_an_iam_target_is_a_valid_plan() {
    let text = broken(
        "  replicator_auth:\n    mechanism: SCRAM-SHA-512\n    username: replicator\n    password: { env: TGT_PASSWORD }\n",
        "  replicator_auth:\n    mechanism: AWS_MSK_IAM\n",
    );
    let plan = plan::parse(Path::new("plan.yaml"), &text, &env).unwrap();
    assert!(matches!(plan.backend, plan::Backend::Embedded));
    assert_eq!(plan.target.replicator_auth, plan::Auth::MskIam);
}

#[test]
fn hooks_using_migrate_app_fail_validate_and_lose_their_dollars() {
    let text = broken(
        "  - name: orders\n    produces: [orders]\n",
        "  - name: orders\n    produces: [orders]\n    stop: 'systemctl stop ${MIGRATE_APP}; kill $$; echo $${HOME:-x}'\n",
    );
    let plan = plan::parse(Path::new("plan.yaml"), &text, &env).unwrap();
    assert_eq!(plan.apps[0].stop.as_deref(), Some("systemctl stop ${MIGRATE_APP}; kill $$; echo $${HOME:-x}"));
}

#[test]
fn one_type_error_hides_every_other_problem() {
    let text = broken("  topics: [orders, order_status]", "  topics: [orders, order_status]\n  bidirectional: maybe")
        .replacen("name: demo", "name: 'not a name!'", 1)
        .replacen(
            "  - name: orders\n    produces: [orders]\n",
            "  - name: orders\n    produces: [orders]\n  - name: orders\n    produces: [orders]\n",
            1,
        );
    let found = problems(&text);
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(messages[0].contains("not a valid plan name"), "{messages:?}");
    assert!(messages[1].contains("invalid type") && found[1].line == 24, "{found:#?}");
    assert!(messages[2].contains("duplicate"), "{messages:?}");
}

#[test]
fn the_permission_fields_default_to_check_and_parse() {
    let plan = plan::parse(Path::new("plan.yaml"), VALID, &env).unwrap();
    assert_eq!(plan.replication.acls, plan::AclMode::Check);
    assert!(plan.replication.principal_map.is_empty());
    assert!(plan.target.admin_auth.is_none());

    let text = broken(
        "  groups: [order-status]\n",
        "  groups: [order-status]\n  acls: sync\n  principal_map:\n    \"User:app\": \"User:app-msk\"\n",
    )
    .replacen(
        "target:\n",
        "target:\n  admin_auth: { mechanism: SCRAM-SHA-512, username: admin, password: { env: TGT_PASSWORD } }\n",
        1,
    );
    let plan = plan::parse(Path::new("plan.yaml"), &text, &env).unwrap();
    assert_eq!(plan.replication.acls, plan::AclMode::Sync);
    assert_eq!(plan.replication.target_principal("User:app"), "User:app-msk");
    assert_eq!(plan.replication.target_principal("User:other"), "User:other");
    assert!(matches!(plan.target.admin_auth, Some(plan::Auth::Scram(_))));
}

#[test]
fn sync_without_an_admin_identity_is_located_at_the_mode() {
    assert_one(
        &broken("  groups: [order-status]\n", "  groups: [order-status]\n  acls: sync\n"),
        25,
        9,
        "`sync` creates ACLs on the target, and the plan names no identity allowed to",
    );
}

#[test]
fn an_unknown_acl_mode_a_bad_principal_and_a_bad_role_are_each_located() {
    let text = broken(
        "  groups: [order-status]\n",
        "  groups: [order-status]\n  acls: copy\n  principal_map:\n    \"orders-svc\": \"User:orders\"\n",
    )
    .replacen("    produces: [orders]\n", "    produces: [orders]\n    role_arn: arn:aws:s3:::bucket\n", 1);
    let found = problems(&text);
    let messages: Vec<(&str, usize, &str)> =
        found.iter().map(|p| (p.path.as_str(), p.line, p.message.as_str())).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        messages
            .iter()
            .any(|(path, line, m)| *path == "replication.acls" && *line == 25 && m.contains("unknown ACL mode `copy`")),
        "{messages:#?}"
    );
    assert!(
        messages.iter().any(|(path, _, m)| path.starts_with("replication.principal_map")
            && m.contains("`orders-svc` is not a Kafka principal")),
        "{messages:#?}"
    );
    assert!(
        messages.iter().any(|(path, line, m)| *path == "apps[0].role_arn"
            && *line == 31
            && m.contains("not the ARN of an IAM role or user")),
        "{messages:#?}"
    );
    assert!(found.iter().all(|p| p.hint.is_some()), "{found:#?}");
}

#[test]
fn admin_auth_on_the_source_is_refused() {
    let text = VALID.replacen(
        "source:\n",
        "source:\n  admin_auth: { mechanism: SCRAM-SHA-512, username: admin, password: { env: SRC_PASSWORD } }\n",
        1,
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "source.admin_auth");
    assert!(found[0].message.contains("only read on the target"), "{found:#?}");
}
