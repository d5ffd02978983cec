//! `migrate teardown`: refused while an app runs on the source (unless --force), refused while
//! the engine runs, runs verify first, removes only the engine's state (embedded) or the two
//! replicators (msk, through `aws-smithy-mocks`), and a later `apply` refuses to start over.

mod common;

use std::time::Duration;

use aws_sdk_kafka::operation::delete_replicator::DeleteReplicatorOutput;
use aws_sdk_kafka::operation::list_replicators::ListReplicatorsOutput;
use aws_sdk_kafka::types as sdk;
use aws_smithy_mocks::mock;
use common::aws::mock_kafka;
use common::*;

struct World {
    plan: TestPlan,
    topic: String,
}

/// A plan with one app and one topic that exists, empty, on both clusters.
fn world(name: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("teardown");
    clusters().source.create_topics(&[(&topic, 2, &[])]);
    clusters().target.create_topics(&[(&topic, 2, &[])]);
    let body = format!("replication:\n  topics: [{topic}]\napps:\n  - name: writer\n    produces: [{topic}]\n");
    let path = PlanYaml::new(name, &clusters().source, &clusters().target, body).write_to(dir.path(), "plan.yaml");
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("engine")).unwrap();
    std::fs::write(state.join("engine/checkpoints.json"), "{}").unwrap();
    World { plan: TestPlan { path, state, _dir: dir }, topic }
}

fn teardown(world: &World, extra: &[&str]) -> Run {
    let mut args =
        vec!["-p", world.plan.path.to_str().unwrap(), "--state-dir", world.plan.state.to_str().unwrap(), "teardown"];
    args.extend_from_slice(extra);
    migrate(&args, &[], &[])
}

fn place(world: &World, side: &str) {
    std::fs::write(world.plan.state.join("control.json"), format!("{{\"apps\": {{\"writer\": \"{side}\"}}}}")).unwrap();
}

#[test]
fn teardown_refuses_while_an_app_runs_on_the_source_and_removes_nothing() {
    let world = world("teardown-refused");
    let run = teardown(&world, &[]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("writer still on the source") && run.stderr.contains("--force"), "{}", run.stderr);
    assert!(world.plan.state.join("engine/checkpoints.json").exists());
    assert!(!world.plan.state.join("teardown.json").exists());

    // --force goes on, says so, and records who was left behind.
    let run = teardown(&world, &["--force", "--no-verify"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("warning: --force: writer still run on the source"), "{}", run.stderr);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world.plan.state.join("teardown.json")).unwrap()).unwrap();
    assert_eq!(record["forced_with_apps_on_source"], serde_json::json!(["writer"]));
}

#[test]
fn teardown_verifies_then_removes_the_engine_state_and_apply_refuses_afterwards() {
    let world = world("teardown-done");
    place(&world, "target");
    let run = teardown(&world, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("verify: 4 partition(s) match"), "{}", run.stderr);
    assert!(!world.plan.state.join("engine").exists(), "the engine's state is gone");
    assert!(world.plan.state.join("control.json").exists(), "where the apps run is kept");
    assert!(run.stdout.contains("removed") && run.stdout.contains("checkpoints.json"), "{}", run.stdout);

    // Running again is a no-op; apply refuses to replicate everything a second time.
    let again = teardown(&world, &[]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("already torn down"), "{}", again.stdout);
    let apply = migrate(
        &["-p", world.plan.path.to_str().unwrap(), "--state-dir", world.plan.state.to_str().unwrap(), "apply"],
        &[],
        &[],
    );
    assert_eq!(apply.code, 2, "{}", apply.stderr);
    assert!(apply.stderr.contains("was torn down"), "{}", apply.stderr);
    let _ = &world.topic;
}

/// Regression: teardown counted only `verify`'s mismatches, and `verify` (made for running
/// replication) reports records not yet copied as pending, not as a difference; a record that
/// never reached the target let teardown remove the replication that would have copied it.
#[test]
fn teardown_refuses_while_records_are_not_yet_replicated() {
    let world = world("teardown-pending");
    place(&world, "target");
    // A record on the source that never reached the target.
    let producer: rdkafka::producer::BaseProducer = clusters().source.client_config(ADMIN).create().unwrap();
    producer.send(rdkafka::producer::BaseRecord::<str, str>::to(&world.topic).payload("lost?").partition(0)).unwrap();
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10)).unwrap();
    let run = teardown(&world, &[]);
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("1 record(s) are not replicated yet: nothing removed"), "{}", run.stderr);
    assert!(world.plan.state.join("engine/checkpoints.json").exists());
}

#[test]
fn teardown_refuses_while_the_engine_runs() {
    let world = world("teardown-engine");
    place(&world, "target");
    let _engine = migrate::engine::state::EngineLock::acquire(&world.plan.state.join("engine/engine.lock")).unwrap();
    let run = teardown(&world, &["--no-verify"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("stop `migrate apply` first"), "{}", run.stderr);
    assert!(world.plan.state.join("engine/checkpoints.json").exists());
}

#[tokio::test]
async fn msk_teardown_deletes_both_replicators_and_waits_until_they_are_gone() {
    let names = ["shop-external-to-msk", "shop-msk-to-external"];
    let summary = |name: &str, state: sdk::ReplicatorState| {
        ListReplicatorsOutput::builder()
            .replicators(
                sdk::ReplicatorSummary::builder()
                    .replicator_name(name)
                    .replicator_arn(format!("arn:aws:kafka:eu-west-1:123456789012:replicator/{name}/x"))
                    .replicator_state(state)
                    .current_version("V1")
                    .build(),
            )
            .build()
    };
    // Both found RUNNING (and their tags read) before anything is deleted; then the first is
    // DELETING once and gone, the second gone.
    let list = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output(move || summary(names[0], sdk::ReplicatorState::Running))
        .output(move || summary(names[1], sdk::ReplicatorState::Running))
        .output(move || summary(names[0], sdk::ReplicatorState::Deleting))
        .output(|| ListReplicatorsOutput::builder().build())
        .output(|| ListReplicatorsOutput::builder().build())
        .build();
    let delete = mock!(aws_sdk_kafka::Client::delete_replicator)
        .sequence()
        .output(|| DeleteReplicatorOutput::builder().build())
        .repeatedly()
        .build();
    let tagged = described_with_tag(Some("shop"));
    let deleted = delete_with(&[&list, &tagged, &delete], &names).await.unwrap();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted[0].contains("shop-external-to-msk") && deleted[1].contains("shop-msk-to-external"));
    assert_eq!((delete.num_calls(), list.num_calls()), (2, 5));

    // Nothing there: nothing deleted, no DeleteReplicator call.
    let none = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output(|| ListReplicatorsOutput::builder().build())
        .repeatedly()
        .build();
    let untouched =
        mock!(aws_sdk_kafka::Client::delete_replicator).then_output(|| DeleteReplicatorOutput::builder().build());
    let deleted = delete_with(&[&none, &untouched], &names).await.unwrap();
    assert!(deleted.is_empty());
    assert_eq!(untouched.num_calls(), 0);
}

/// DescribeReplicator's answer, with the `migrate:plan` tag `plan` (or none).
fn described_with_tag(plan: Option<&'static str>) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || {
            let mut described = aws_sdk_kafka::operation::describe_replicator::DescribeReplicatorOutput::builder()
                .replicator_state(sdk::ReplicatorState::Running)
                .tags("team", "payments");
            if let Some(plan) = plan {
                described = described.tags(migrate::aws::render::CREATED_BY_TAG, plan);
            }
            described.build()
        })
        .repeatedly()
        .build()
}

#[tokio::test]
async fn msk_teardown_never_deletes_a_same_named_replicator_without_the_plans_tag() {
    let names = ["shop-external-to-msk", "shop-msk-to-external"];
    let found = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output(move || {
            ListReplicatorsOutput::builder()
                .replicators(
                    sdk::ReplicatorSummary::builder()
                        .replicator_name(names[0])
                        .replicator_arn(format!("arn:aws:kafka:eu-west-1:123456789012:replicator/{}/x", names[0]))
                        .replicator_state(sdk::ReplicatorState::Running)
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    for tag in [None, Some("another-plan")] {
        let untouched =
            mock!(aws_sdk_kafka::Client::delete_replicator).then_output(|| DeleteReplicatorOutput::builder().build());
        let error = delete_with(&[&found, &described_with_tag(tag), &untouched], &names[..1]).await.unwrap_err();
        let expected = match tag {
            None => "its tag migrate:plan is absent".to_string(),
            Some(other) => format!("its tag migrate:plan is `{other}`"),
        };
        let text = error.to_string();
        assert!(text.contains("shop-external-to-msk") && text.contains(&expected), "{text}");
        assert!(matches!(error, migrate::msk::ReplicatorError::NotOurs { .. }), "{error:?}");
        assert_eq!(untouched.num_calls(), 0, "an untagged replicator must never be deleted");
    }
}

async fn delete_with(
    rules: &[&aws_smithy_mocks::Rule],
    names: &[&str],
) -> Result<Vec<String>, migrate::msk::ReplicatorError> {
    let kafka = mock_kafka(rules).await;
    let poll = Duration::from_millis(1);
    migrate::teardown::delete_replicators(
        &kafka,
        "shop",
        names,
        poll,
        Duration::from_secs(5),
        &migrate::msk::NoProgress,
    )
    .await
}
