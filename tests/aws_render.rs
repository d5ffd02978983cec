//! `migrate render`: the exact `aws kafka create-replicator` inputs, both directions, and the
//! role's policy. Golden files pin the output; the SDK's own serializer proves the field names: the
//! request the SDK builds from the same model, captured on the wire, carries the same document.

mod common;

use std::path::Path;

use aws_smithy_http_client::test_util::capture_request;
use common::*;
use migrate::aws::render::{self, Direction};
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
    let msk = plan.msk.as_ref().unwrap();
    let forward = serde_json::to_value(render::replication_info(&plan, msk, Direction::ExternalToMsk)).unwrap();
    let reverse = serde_json::to_value(render::replication_info(&plan, msk, Direction::MskToExternal)).unwrap();
    assert_eq!(forward[0]["SourceKafkaClusterId"], "lkc-abc123");
    assert_eq!(forward[0]["TargetKafkaClusterArn"], msk.cluster_arn.as_str());
    assert!(forward[0].get("SourceKafkaClusterArn").is_none() && forward[0].get("TargetKafkaClusterId").is_none());
    assert_eq!(reverse[0]["SourceKafkaClusterArn"], msk.cluster_arn.as_str());
    assert_eq!(reverse[0]["TargetKafkaClusterId"], "lkc-abc123");
    for info in [&forward, &reverse] {
        let topics = &info[0]["TopicReplication"];
        assert_eq!(topics["StartingPosition"], serde_json::json!({"Type": "EARLIEST"}));
        assert_eq!(topics["TopicNameConfiguration"], serde_json::json!({"Type": "IDENTICAL"}));
        assert_eq!(topics["TopicsToExclude"], serde_json::json!(["__.*"]));
        assert_eq!(info[0]["ConsumerGroupReplication"]["ConsumerGroupOffsetSyncMode"], "ENHANCED");
        assert!(!info.to_string().contains("\"Kind\""), "{info}");
    }
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
    let msk = plan.msk.as_ref().unwrap();
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
