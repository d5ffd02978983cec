//! `migrate plan` against real Apache Kafka brokers (SCRAM, the StandardAuthorizer): each failure
//! caught and named.

mod common;

use std::path::PathBuf;

use common::*;

/// What a test plan says; defaults describe a healthy migration of `topics`.
struct Spec {
    source_bootstrap: String,
    source_cluster_id: Option<String>,
    replicator_user: String,
    replicator_password: PathBuf,
    mechanism: String,
    topics: Vec<String>,
    group: String,
}

impl Spec {
    fn new(topics: &[&str]) -> Self {
        let clusters = clusters();
        Spec {
            source_bootstrap: clusters.source.bootstrap(),
            source_cluster_id: Some(clusters.source.cluster_id.clone()),
            replicator_user: REPLICATOR.into(),
            replicator_password: clusters.source.password_file(REPLICATOR),
            mechanism: "SCRAM-SHA-512".into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            group: unique("group"),
        }
    }

    fn write(&self) -> (tempfile::TempDir, PathBuf) {
        let clusters = clusters();
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "replication:\n  topics: [{topics}]\n  groups: [{group}]\napps:\n  - name: consumer\n    consumes:\n      - group: {group}\n        topics: [{first}]\n",
            topics = self.topics.join(", "),
            group = self.group,
            first = self.topics[0],
        );
        let mut plan = PlanYaml::new("preflight-test", &clusters.source, &clusters.target, body);
        plan.source_bootstrap = self.source_bootstrap.clone();
        plan.source_extra =
            self.source_cluster_id.as_ref().map(|id| format!("  cluster_id: {id}\n")).unwrap_or_default();
        plan.replicator_user = self.replicator_user.clone();
        plan.replicator_password = self.replicator_password.clone();
        plan.mechanism = self.mechanism.clone();
        let path = plan.write_to(dir.path(), "plan.yaml");
        (dir, path)
    }

    fn run(&self) -> Run {
        let (_dir, path) = self.write();
        let clusters = clusters();
        let secrets: Vec<&str> =
            clusters.source.passwords.iter().chain(&clusters.target.passwords).map(|(_, p)| p.as_str()).collect();
        let run =
            migrate(&["-p", path.to_str().unwrap(), "-o", "json", "-vv", "plan", "--timeout", "5"], &[], &secrets);
        // The human table reports the same failures, each on a ✗ row with its name and cause, and
        // no other. Every run's stdout is one JSON document with its checks: anything else fails
        // here rather than skipping the comparison.
        let table = migrate(&["-p", path.to_str().unwrap(), "plan", "--timeout", "5"], &[], &secrets);
        assert_eq!(table.code, run.code, "{}", table.stderr);
        let document = run.json();
        let checks = document["checks"].as_array().unwrap_or_else(|| panic!("no checks: {document}"));
        let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["status"] == "fail").collect();
        for check in &failed {
            let name = check["name"].as_str().unwrap();
            // librdkafka's "(after 39ms in state AUTH_REQ)" differs from run to run.
            let detail = check["detail"].as_str().unwrap().split(" (after ").next().unwrap();
            assert!(
                table.stdout.lines().any(|line| line.contains('✗') && line.contains(name) && line.contains(detail)),
                "no ✗ row for {name}: {detail}\n{}",
                table.stdout
            );
        }
        let crossed = table.stdout.lines().filter(|line| line.trim_start().starts_with("│ ✗")).count();
        assert_eq!(crossed, failed.len(), "a ✗ row for each failed check and no other:\n{}", table.stdout);
        run
    }
}

fn one_topic_on_source(partitions: i32) -> String {
    let topic = unique("orders");
    clusters().source.create_topics(&[(&topic, partitions, &[])]);
    topic
}

fn status_of<'a>(document: &'a serde_json::Value, name: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    checks_named(document, name)
        .into_iter()
        .map(|c| (c["cluster"].as_str().unwrap(), c["status"].as_str().unwrap(), c["detail"].as_str().unwrap()))
        .collect()
}

#[test]
fn healthy_clusters_pass_every_check_acls_included() {
    let topic = one_topic_on_source(3);
    let spec = Spec::new(&[&topic]);
    commit_group_offset(&clusters().source, &spec.group, &topic);
    let run = spec.run();
    let document = run.json();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(document["ok"], true);
    for check in document["checks"].as_array().unwrap() {
        let name = check["name"].as_str().unwrap();
        assert_eq!(check["status"], "pass", "{check}");
        if name == "source-acls" {
            // Not an identity's needs: the source's ACLs for the plan, compared with the target's.
            assert!(check["detail"].as_str().unwrap().contains("each present on the target"), "{check}");
        } else if name.ends_with("-acls") {
            assert!(check["detail"].as_str().unwrap().contains("holds all"), "{check}");
        }
    }
    // The authorizer's answer is read for the replicator on both sides and each app on both.
    assert_eq!(status_of(&document, "replicator-acls").len(), 1);
    assert_eq!(status_of(&document, "target-writer-acls").len(), 1);
    assert_eq!(status_of(&document, "app-acls").len(), 2, "the one app, on both sides");
    for name in ["dns", "tcp", "kafka-api", "broker-version", "replicator-login", "app-login", "cluster-id"] {
        assert_eq!(status_of(&document, name).len(), 2, "{name} on both clusters: {document}");
    }
    assert_eq!(status_of(&document, "distinct-clusters")[0].1, "pass");
    assert_eq!(status_of(&document, "groups"), vec![("source", "pass", format!("{} Empty", spec.group).as_str())]);
    let partitions = status_of(&document, "topic-partitions");
    assert!(partitions[0].2.contains(&format!("apply creates: {topic} (3)")), "{partitions:?}");
    let actions = document["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["kind"] == "create-topic"
                && a["detail"].as_str().unwrap().starts_with(&format!("{topic} with 3"))),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a["kind"] == "replicate" && a["cluster"] == "target→source"));
}

#[test]
fn a_wrong_password_fails_the_login_check() {
    let topic = one_topic_on_source(1);
    let mut spec = Spec::new(&[&topic]);
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-password").unwrap();
    spec.replicator_password = wrong.path().to_path_buf();
    let run = spec.run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let login = checks_named(&document, "replicator-login");
    let source = login.iter().find(|c| c["cluster"] == "source").unwrap();
    assert_eq!(source["status"], "fail");
    let detail = source["detail"].as_str().unwrap();
    // Regression: Apache Kafka's refusal ("… due to invalid credentials …") got only the generic
    // hint; Nisshi's "invalid-proof" was the only wording recognised.
    assert!(detail.contains("SASL authentication error") && detail.contains("invalid credentials"), "{detail}");
    assert!(source["hint"].as_str().unwrap().contains("the password of `replicator` is wrong"), "{source}");
    assert!(login.iter().any(|c| c["cluster"] == "target" && c["status"] == "pass"));
    assert!(!run.stdout.contains("not-the-password") && !run.stderr.contains("not-the-password"));
}

#[test]
fn a_user_without_the_planned_scram_mechanism_is_named() {
    let topic = one_topic_on_source(1);
    let mut spec = Spec::new(&[&topic]);
    spec.replicator_user = SHA256_ONLY.into();
    spec.replicator_password = clusters().source.password_file(SHA256_ONLY);
    let run = spec.run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let login = checks_named(&document, "replicator-login");
    assert_eq!(login[0]["status"], "fail");
    let detail = login[0]["detail"].as_str().unwrap();
    assert!(detail.contains("log in with SCRAM-SHA-256") && detail.contains("no SCRAM-SHA-512 credential"), "{detail}");
    assert!(login[0]["hint"].as_str().unwrap().contains("mechanism: SCRAM-SHA-256"));
}

#[test]
fn an_unreachable_address_fails_the_tcp_check() {
    let topic = one_topic_on_source(1);
    let mut spec = Spec::new(&[&topic]);
    let closed = free_port();
    spec.source_bootstrap = format!("127.0.0.1:{closed}");
    let run = spec.run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let tcp = status_of(&document, "tcp");
    let source = tcp.iter().find(|c| c.0 == "source").unwrap();
    assert_eq!(source.1, "fail");
    assert!(
        source.2.contains(&format!("127.0.0.1:{closed}")) && source.2.to_lowercase().contains("refused"),
        "{source:?}"
    );
    // The target is still checked.
    assert!(tcp.iter().any(|c| c.0 == "target" && c.1 == "pass"));
}

#[test]
fn a_wrong_expected_cluster_id_is_caught() {
    let topic = one_topic_on_source(1);
    let mut spec = Spec::new(&[&topic]);
    spec.source_cluster_id = Some("lkc-not-this-one".into());
    let run = spec.run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let id = status_of(&document, "cluster-id");
    let source = id.iter().find(|c| c.0 == "source").unwrap();
    assert_eq!(source.1, "fail");
    assert!(source.2.contains(&clusters().source.cluster_id) && source.2.contains("lkc-not-this-one"), "{source:?}");
}

#[test]
fn a_missing_topic_is_caught() {
    let present = one_topic_on_source(1);
    let missing = unique("missing");
    let run = Spec::new(&[&present, &missing]).run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let topics = status_of(&document, "topics");
    assert!(
        topics.iter().any(|c| c.1 == "fail"
            && c.2 == format!("topic `{missing}` does not exist on the source, or the replicator may not see it")),
        "{topics:?}"
    );
}

#[test]
fn a_partition_count_mismatch_is_caught() {
    let topic = one_topic_on_source(4);
    clusters().target.create_topics(&[(&topic, 2, &[])]);
    let run = Spec::new(&[&topic]).run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let partitions = status_of(&document, "topic-partitions");
    assert_eq!(
        partitions,
        vec![("target", "fail", format!("`{topic}` has 2 partition(s) on the target, 4 on the source").as_str())]
    );
}

#[test]
fn a_smaller_target_max_message_bytes_is_caught() {
    let topic = unique("big");
    clusters().source.create_topics(&[(&topic, 1, &[("max.message.bytes", "2097152")])]);
    clusters().target.create_topics(&[(&topic, 1, &[("max.message.bytes", "1048576")])]);
    let run = Spec::new(&[&topic]).run();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let document = run.json();
    let sizes = status_of(&document, "max-message-bytes");
    assert_eq!(
        sizes,
        vec![(
            "target",
            "fail",
            format!("`{topic}`: max.message.bytes is 1048576 on the target, 2097152 on the source").as_str()
        )]
    );
}

#[test]
fn acls_on_a_broker_without_authorizer_cannot_be_verified() {
    // Some self-managed sources run without an authorizer: Kafka then answers DescribeAcls with
    // SECURITY_DISABLED, and preflight must say "cannot verify", never pass.
    static OPEN: std::sync::OnceLock<Broker> = std::sync::OnceLock::new();
    let open = OPEN.get_or_init(|| {
        start_broker(BrokerOptions {
            version: Some(kafka_versions().source.clone()),
            no_authorizer: true,
            ..Default::default()
        })
    });
    let topic = unique("orders");
    open.create_topics(&[(&topic, 1, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: producer\n    produces: [{topic}]\n");
    let path = PlanYaml::new("no-authorizer", open, &clusters().target, body).write_to(dir.path(), "plan.yaml");
    let run = migrate(&["-p", path.to_str().unwrap(), "-o", "json", "plan", "--timeout", "5"], &[], &[]);
    let document = run.json();
    let acls = status_of(&document, "replicator-acls");
    assert_eq!(acls.len(), 1);
    assert_eq!(acls[0].0, "source");
    assert_eq!(acls[0].1, "warn", "never a pass: {acls:?}");
    assert!(acls[0].2.starts_with("cannot verify") && acls[0].2.contains("no authorizer"), "{acls:?}");
    // The target has its authorizer: checked there.
    assert_eq!(status_of(&document, "target-writer-acls")[0].1, "pass");
}

#[test]
fn strict_turns_warnings_into_a_failure() {
    let topic = one_topic_on_source(1);
    let (_dir, path) = Spec::new(&[&topic]).write();
    let run = migrate(&["-p", path.to_str().unwrap(), "--strict", "plan", "--timeout", "5"], &[], &[]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--strict"), "{}", run.stderr);
}

#[test]
fn a_group_unknown_on_the_source_is_a_warning() {
    let topic = one_topic_on_source(1);
    let spec = Spec::new(&[&topic]);
    let run = spec.run();
    assert_eq!(run.code, 0, "warnings keep exit 0: {}", run.stderr);
    let document = run.json();
    let groups = status_of(&document, "groups");
    assert_eq!(
        groups,
        vec![(
            "source",
            "warn",
            format!("group `{}` does not exist on the source, or the replicator may not see it", spec.group).as_str()
        )]
    );
}

#[test]
fn the_human_table_names_every_check() {
    let topic = one_topic_on_source(2);
    let spec = Spec::new(&[&topic]);
    commit_group_offset(&clusters().source, &spec.group, &topic);
    let (_dir, path) = spec.write();
    let run = migrate(&["-p", path.to_str().unwrap(), "plan"], &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let clusters = clusters();
    let text = run
        .stdout
        .replace(&clusters.source.cluster_id, "[SOURCE-ID]")
        .replace(&clusters.target.cluster_id, "[TARGET-ID]")
        .replace(&topic, "[TOPIC]")
        .replace(&spec.group, "[GROUP]");
    insta::with_settings!({filters => vec![
        (r"\d+(\.\d+)? (ms|s)\b", "[TIME]"),
        (r"127\.0\.0\.1:\d+", "[ADDR]"),
        // Other tests create topics on the shared brokers concurrently.
        (r"\d+ topic\(s\) visible", "[N] topic(s) visible"),
        (r"[ ]+", " "),
        (r"─+", "─"),
        (r"═+", "═"),
        (r"╌+", "╌"),
    ]}, {
        insta::assert_snapshot!("plan_table", text);
    });
}

/// Twenty topics and twenty groups: every one is checked (the duration is printed, not asserted:
/// speed is measured by benchmarks, not tests).
#[test]
fn twenty_topics_and_twenty_groups_are_all_checked() {
    let clusters = clusters();
    let topics: Vec<String> = (0..20).map(|_| unique("scale")).collect();
    let specs: Vec<TopicSpec<'_>> = topics.iter().map(|t| (t.as_str(), 2, &[][..])).collect();
    clusters.source.create_topics(&specs);
    let groups: Vec<String> = (0..20).map(|_| unique("scale-group")).collect();
    for (group, topic) in groups.iter().zip(&topics) {
        commit_group_offset(&clusters.source, group, topic);
    }
    let spec = Spec::new(&topics.iter().map(String::as_str).collect::<Vec<_>>());
    let (dir, path) = spec.write();
    // Sync all twenty groups: add them to the plan's group list.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&format!("groups: [{}]", spec.group), &format!("groups: [{}, {}]", spec.group, groups.join(", ")));
    std::fs::write(&path, text).unwrap();
    let started = std::time::Instant::now();
    let run = migrate(&["-p", path.to_str().unwrap(), "-o", "json", "plan"], &[], &[]);
    eprintln!(
        "preflight of 20 topics and 21 groups took {:?} (reported {} ms)",
        started.elapsed(),
        run.json()["duration_ms"]
    );
    drop(dir);
    let document = run.json();
    let topics_check = status_of(&document, "topics");
    assert!(
        topics_check.iter().any(|c| c.1 == "pass" && c.2.starts_with("20 topic(s) to replicate, 40 partition(s)")),
        "{topics_check:?}"
    );
    let group_states = status_of(&document, "groups");
    let listed = group_states.iter().find(|c| c.1 == "pass").expect("groups pass").2;
    for group in &groups {
        assert!(listed.contains(&format!("{group} Empty")), "{group} missing from {listed}");
    }
    let creates = document["actions"].as_array().unwrap().iter().filter(|a| a["kind"] == "create-topic").count();
    assert_eq!(creates, 20);
}

/// Even librdkafka's own debug output (every context) at trace level never shows a password.
#[test]
fn no_secret_reaches_any_output_even_with_librdkafka_debug_all() {
    let topic = one_topic_on_source(1);
    let (_dir, path) = Spec::new(&[&topic]).write();
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "  replicator_auth:",
        "  properties: { debug: all }\n  replicator_auth:",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let clusters = clusters();
    let secrets: Vec<&str> =
        clusters.source.passwords.iter().chain(&clusters.target.passwords).map(|(_, p)| p.as_str()).collect();
    let run = migrate(
        &["-p", path.to_str().unwrap(), "-o", "json", "plan", "--timeout", "5"],
        &[("RUST_LOG", "trace")],
        &secrets,
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("librdkafka") && run.stderr.lines().count() > 100,
        "librdkafka's debug output was not shown"
    );
}

/// Regression (harness): concurrent tests rewrote the shared password files, so a plan could be
/// read while another test had just truncated one (seen once in CI: exit 2 instead of 3).
#[test]
fn password_files_are_never_seen_empty_by_concurrent_tests() {
    let broker = &clusters().source;
    let expected = broker.password(APP).to_string();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    let path = broker.password_file(APP);
                    assert_eq!(std::fs::read_to_string(path).unwrap(), expected);
                }
            });
        }
    });
}
