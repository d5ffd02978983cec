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
    let _engine =
        migrate::engine::checkpoints::EngineLock::acquire(&world.plan.state.join("engine/engine.lock")).unwrap();
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
                described = described.tags(migrate::msk::render::CREATED_BY_TAG, plan);
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

/// IAM's policy simulator in front of moto (which has none): a local HTTP endpoint that answers
/// `SimulatePrincipalPolicy` itself — `implicitDeny` for `denied`, `allowed` for every other
/// action — and passes every other request to moto, keeping a line per request
/// (`<method> <path> <X-Amz-Target or Action>`) so a test can tell what reached AWS.
mod simulator_before_moto {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    pub struct Endpoint {
        pub url: String,
        pub requests: Arc<Mutex<Vec<String>>>,
    }

    pub fn start(moto: &str, denied: &'static str) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let moto = moto.trim_start_matches("http://").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (moto, seen) = (moto.clone(), seen.clone());
                std::thread::spawn(move || serve(client, &moto, denied, &seen));
            }
        });
        Endpoint { url, requests }
    }

    fn serve(mut client: TcpStream, moto: &str, denied: &str, seen: &Mutex<Vec<String>>) {
        let Some((head, body)) = read_request(&mut client) else { return };
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.split_once(':').filter(|(key, _)| key.eq_ignore_ascii_case(name)))
                .map(|(_, value)| value.trim().to_string())
        };
        let form = decode_form(&String::from_utf8_lossy(&body));
        let action = form.iter().find(|(key, _)| key == "Action").map(|(_, value)| value.clone());
        let request_line = head.lines().next().unwrap_or_default().to_string();
        let mut parts = request_line.split(' ');
        let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let operation = header("x-amz-target").or(action.clone()).unwrap_or_default();
        seen.lock().unwrap().push(format!("{method} {path} {operation}"));
        if action.as_deref() == Some("SimulatePrincipalPolicy") {
            let resource = form.iter().find(|(key, _)| key == "ResourceArns.member.1").map_or("*", |(_, v)| v.as_str());
            let results: String = form
                .iter()
                .filter(|(key, _)| key.starts_with("ActionNames.member."))
                .map(|(_, action)| {
                    let decision = if action == denied { "implicitDeny" } else { "allowed" };
                    format!(
                        "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName><EvalDecision>{decision}</EvalDecision></member>"
                    )
                })
                .collect();
            let xml = format!(
                "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>simulated</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
            );
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            );
            return;
        }
        // Everything else goes to moto, one request per connection.
        let Ok(mut upstream) = TcpStream::connect(moto) else { return };
        let head: String = head
            .lines()
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .map(|line| format!("{line}\r\n"))
            .collect();
        let _ = upstream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
        let _ = upstream.write_all(&body);
        let mut answer = Vec::new();
        let _ = upstream.read_to_end(&mut answer);
        let _ = client.write_all(&answer);
    }

    /// The request's head (without the blank line) and its body (by Content-Length).
    fn read_request(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 8192];
        let end = loop {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let read = client.read(&mut buffer).ok().filter(|&n| n > 0)?;
            bytes.extend_from_slice(&buffer[..read]);
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|line| line.split_once(':').filter(|(key, _)| key.eq_ignore_ascii_case("content-length")))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = bytes[end + 4..].to_vec();
        while body.len() < length {
            let read = client.read(&mut buffer).ok().filter(|&n| n > 0)?;
            body.extend_from_slice(&buffer[..read]);
        }
        Some((head, body))
    }

    fn decode_form(body: &str) -> Vec<(String, String)> {
        body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
    }

    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `teardown --delete-secrets` (msk) asks IAM's simulator whether the caller may
/// `secretsmanager:DeleteSecret` the plan's secret before it removes anything: denied, it exits 3
/// naming the action and the secret, and no request that changes anything (nor even the
/// replicators' listing) reaches AWS — the secret, made by `apply --create-secret` for this plan,
/// is still there. Allowed, the same teardown goes on to the replicators (which moto cannot list:
/// exit 1 naming the call), so it was the simulator's answer that stopped it. Against moto, with
/// the simulator (which moto lacks) answered in front of it.
#[test]
fn msk_teardown_delete_secrets_refuses_before_removing_anything_when_the_caller_may_not_delete_the_secret() {
    use common::aws::{moto, moto_clients};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let user = unique("teardown-caller").replace('_', "-");
    let name = unique("migrate/teardown-replicator");
    let (keys, arn) = runtime.block_on(async {
        let clients = moto_clients().await;
        clients.iam.create_user().user_name(&user).send().await.unwrap();
        let keys = clients.iam.create_access_key().user_name(&user).send().await.unwrap();
        let keys = keys.access_key().unwrap();
        let created = clients
            .secrets
            .create_secret()
            .name(&name)
            .secret_string(r#"{"username": "replicator", "password": "teardown-secret-password"}"#)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(migrate::msk::secret::TAG_CREATED_BY)
                    .value("migrate")
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(migrate::msk::secret::TAG_PLAN)
                    .value("shop-migration")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ((keys.access_key_id().to_string(), keys.secret_access_key().to_string()), created.arn().unwrap().to_string())
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("control.json"),
        r#"{"apps": {"orders": "target", "order_status": "target", "notification": "target"}}"#,
    )
    .unwrap();
    let plan = project_root().join("plans/msk.yaml");
    let run_with = |endpoint: &str| {
        let mut envs: Vec<(&str, &str)> = common::aws::EXAMPLE_MSK_ENV.to_vec();
        envs.extend([
            ("MIGRATE_MSK_SECRET_ARN", arn.as_str()),
            ("AWS_ACCESS_KEY_ID", keys.0.as_str()),
            ("AWS_SECRET_ACCESS_KEY", keys.1.as_str()),
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        migrate(
            &[
                "-p",
                plan.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
                "teardown",
                "--no-verify",
                "--delete-secrets",
            ],
            &envs,
            &["source-secret-password", "teardown-secret-password"],
        )
    };

    let denying = simulator_before_moto::start(&moto().url, "secretsmanager:DeleteSecret");
    let run = run_with(&denying.url);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("secretsmanager:DeleteSecret on {arn} (implicitDeny)"))
            && run.stderr.contains(&format!("arn:aws:iam::{}:user/{user}", common::aws::ACCOUNT))
            && run.stderr.contains("nothing removed"),
        "{}",
        run.stderr
    );
    let requests = denying.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.ends_with(" SimulatePrincipalPolicy")), "{requests:?}");
    assert!(
        requests.iter().all(|r| r.ends_with(" GetCallerIdentity") || r.ends_with(" SimulatePrincipalPolicy")),
        "teardown reached AWS beyond asking the simulator: {requests:?}"
    );
    assert!(!state.join("teardown.json").exists());
    let described = runtime
        .block_on(async { moto_clients().await.secrets.describe_secret().secret_id(&arn).send().await.unwrap() });
    assert!(described.deleted_date().is_none(), "the secret was scheduled for deletion: {described:?}");

    let allowing = simulator_before_moto::start(&moto().url, "none");
    let run = run_with(&allowing.url);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("kafka:ListReplicators"), "{}", run.stderr);
    let requests = allowing.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.contains("/replication/v1/replicators")), "{requests:?}");
}
