//! `apply` on the MSK backend: the replicator API through `aws-smithy-mocks` (moto has none).
//! Create, already exists, drift (refused; recreated only when asked), in-place update, FAILED
//! (replaced with `--recreate`), UPDATING waited out, a same-named replicator without the plan's
//! tag never touched, AccessDenied and throttling, each with the calls counted.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_kafka::operation::create_replicator::CreateReplicatorOutput;
use aws_sdk_kafka::operation::delete_replicator::DeleteReplicatorOutput;
use aws_sdk_kafka::operation::describe_replicator::DescribeReplicatorOutput;
use aws_sdk_kafka::operation::list_replicators::ListReplicatorsOutput;
use aws_sdk_kafka::operation::update_replication_info::UpdateReplicationInfoOutput;
use aws_sdk_kafka::types as sdk;
use aws_smithy_mocks::{Rule, mock};
use common::aws::mock_kafka;
use migrate::aws::AwsError;
use migrate::msk::render::{self, Direction, ReplicatorInput};
use migrate::msk::{self, OnDrift, Progress, Provisioned, ReplicatorError};

const ARN: &str = "arn:aws:kafka:eu-west-1:123456789012:replicator/shop-migration-external-to-msk/0b2c3d4e-aaaa";
const POLL: Duration = Duration::from_millis(1);
const WAIT: Duration = Duration::from_secs(5);

fn input() -> ReplicatorInput {
    let plan = common::aws::example_msk_plan(|text| text);
    render::replicator_input(&plan, plan.msk().unwrap(), Direction::ExternalToMsk)
}

/// What DescribeReplicator returns for a replicator created from `input`, in `state`.
fn described(input: &ReplicatorInput, state: &str) -> DescribeReplicatorOutput {
    let clusters = input.kafka_clusters.iter().enumerate().map(|(i, cluster)| {
        let vpc = sdk::KafkaClusterClientVpcConfig::builder()
            .set_subnet_ids(Some(cluster.vpc_config.subnet_ids.clone()))
            .set_security_group_ids(Some(cluster.vpc_config.security_group_ids.clone()))
            .build();
        let mut description =
            sdk::KafkaClusterDescription::builder().kafka_cluster_alias(format!("alias-{i}")).vpc_config(vpc);
        if let Some(apache) = &cluster.apache_kafka_cluster {
            description = description.apache_kafka_cluster(
                sdk::ApacheKafkaCluster::builder()
                    .apache_kafka_cluster_id(&apache.apache_kafka_cluster_id)
                    .bootstrap_broker_string(&apache.bootstrap_broker_string)
                    .build(),
            );
        }
        if let Some(msk) = &cluster.amazon_msk_cluster {
            description = description
                .amazon_msk_cluster(sdk::AmazonMskCluster::builder().msk_cluster_arn(&msk.msk_cluster_arn).build());
        }
        if let Some(auth) = &cluster.client_authentication {
            description = description.client_authentication(
                sdk::KafkaClusterClientAuthentication::builder()
                    .sasl_scram(
                        sdk::KafkaClusterSaslScramAuthentication::builder()
                            .mechanism(sdk::KafkaClusterSaslScramMechanism::from(auth.sasl_scram.mechanism.as_str()))
                            .secret_arn(&auth.sasl_scram.secret_arn)
                            .build(),
                    )
                    .build(),
            );
        }
        if let Some(encryption) = &cluster.encryption_in_transit {
            description = description.encryption_in_transit(
                sdk::KafkaClusterEncryptionInTransit::builder()
                    .encryption_type(sdk::KafkaClusterEncryptionInTransitType::Tls)
                    .set_root_ca_certificate(encryption.root_ca_certificate.clone())
                    .build(),
            );
        }
        description.build()
    });
    let info = &input.replication_info_list[0];
    let topics = &info.topic_replication;
    let groups = &info.consumer_group_replication;
    let replication = sdk::ReplicationInfoDescription::builder()
        .source_kafka_cluster_alias("alias-0")
        .target_kafka_cluster_alias("alias-1")
        .target_compression_type(sdk::TargetCompressionType::from(info.target_compression_type.as_str()))
        .topic_replication(
            sdk::TopicReplication::builder()
                .set_topics_to_replicate(Some(topics.topics_to_replicate.clone()))
                .set_topics_to_exclude(Some(topics.topics_to_exclude.clone()))
                .copy_topic_configurations(true)
                .copy_access_control_lists_for_topics(true)
                .detect_and_copy_new_topics(true)
                .starting_position(
                    sdk::ReplicationStartingPosition::builder()
                        .r#type(sdk::ReplicationStartingPositionType::from(topics.starting_position.r#type.as_str()))
                        .build(),
                )
                .topic_name_configuration(
                    sdk::ReplicationTopicNameConfiguration::builder()
                        .r#type(sdk::ReplicationTopicNameConfigurationType::Identical)
                        .build(),
                )
                .build(),
        )
        .consumer_group_replication(
            sdk::ConsumerGroupReplication::builder()
                .set_consumer_groups_to_replicate(Some(groups.consumer_groups_to_replicate.clone()))
                .synchronise_consumer_group_offsets(true)
                .detect_and_copy_new_consumer_groups(true)
                .consumer_group_offset_sync_mode(sdk::ConsumerGroupOffsetSyncMode::from(
                    groups.consumer_group_offset_sync_mode.as_str(),
                ))
                .build(),
        )
        .build();
    DescribeReplicatorOutput::builder()
        .replicator_arn(ARN)
        .replicator_name(&input.replicator_name)
        .replicator_state(sdk::ReplicatorState::from(state))
        .current_version("K1")
        .service_execution_role_arn(&input.service_execution_role_arn)
        .set_kafka_clusters(Some(clusters.collect()))
        .replication_info_list(replication)
        .set_log_delivery(input.log_delivery.as_ref().map(|delivery| delivery.sdk()))
        .set_tags(Some(input.tags.clone().into_iter().collect()))
        .build()
}

fn listed(name: &str, state: &str) -> ListReplicatorsOutput {
    ListReplicatorsOutput::builder()
        .replicators(
            sdk::ReplicatorSummary::builder()
                .replicator_name(name)
                .replicator_arn(ARN)
                .replicator_state(sdk::ReplicatorState::from(state))
                .current_version("K1")
                .build(),
        )
        .build()
}

fn list_empty() -> Rule {
    mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output(|| ListReplicatorsOutput::builder().build())
        .repeatedly()
        .build()
}

fn list_found(name: &str, state: &str) -> Rule {
    let (name, state) = (name.to_string(), state.to_string());
    mock!(aws_sdk_kafka::Client::list_replicators).sequence().output(move || listed(&name, &state)).repeatedly().build()
}

fn create_rule(expected_name: &str) -> Rule {
    let expected = expected_name.to_string();
    mock!(aws_sdk_kafka::Client::create_replicator)
        .match_requests(move |request| {
            request.replicator_name() == Some(expected.as_str())
                && request.kafka_clusters().len() == 2
                && request.replication_info_list().len() == 1
        })
        .sequence()
        .output(|| {
            CreateReplicatorOutput::builder()
                .replicator_arn(ARN)
                .replicator_state(sdk::ReplicatorState::Creating)
                .build()
        })
        .repeatedly()
        .build()
}

fn describe_sequence(input: &ReplicatorInput, states: &[&'static str]) -> Rule {
    let mut builder = mock!(aws_sdk_kafka::Client::describe_replicator).sequence();
    for state in states {
        let output = described(input, state);
        builder = builder.output(move || output.clone());
    }
    builder.build()
}

#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

impl Progress for Recorded {
    fn state(&self, replicator: &str, state: &str, _: Duration) {
        self.0.lock().unwrap().push(format!("{replicator} {state}"));
    }
}

#[tokio::test]
async fn an_absent_replicator_is_created_and_waited_for_until_it_runs() {
    let input = input();
    let list = list_empty();
    let create = create_rule(&input.replicator_name);
    let describe = describe_sequence(&input, &["CREATING", "CREATING", "RUNNING"]);
    let kafka = mock_kafka(&[&list, &create, &describe]).await;
    let progress = Recorded::default();

    let provisioned = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &progress).await.unwrap();
    let Provisioned::Created(replicator) = provisioned else { panic!("{provisioned:?}") };
    assert_eq!((replicator.arn.as_str(), replicator.state.as_str()), (ARN, "CREATING"));
    assert_eq!(create.num_calls(), 1);

    let running = msk::wait_running(&kafka, &replicator, POLL, WAIT, &progress).await.unwrap();
    assert_eq!(running.state, "RUNNING");
    assert_eq!(running.current_version.as_deref(), Some("K1"));
    let name = &input.replicator_name;
    assert_eq!(
        *progress.0.lock().unwrap(),
        [format!("{name} CREATING"), format!("{name} CREATING"), format!("{name} RUNNING")]
    );
}

#[tokio::test]
async fn an_existing_replicator_that_matches_the_plan_is_left_alone() {
    let input = input();
    let list = list_found(&input.replicator_name, "RUNNING");
    let create = create_rule(&input.replicator_name);
    let describe = describe_sequence(&input, &["RUNNING"]);
    let kafka = mock_kafka(&[&list, &create, &describe]).await;
    let provisioned = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap();
    assert!(matches!(provisioned, Provisioned::Exists(ref r) if r.arn == ARN), "{provisioned:?}");
    assert_eq!(create.num_calls(), 0, "nothing is created twice");
    // A rerun while it is still creating just resumes waiting (once its tag says it is ours).
    let creating = list_found(&input.replicator_name, "CREATING");
    let describe = describe_sequence(&input, &["CREATING"]);
    let kafka = mock_kafka(&[&creating, &create, &describe]).await;
    let provisioned = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap();
    assert!(matches!(provisioned, Provisioned::Exists(ref r) if r.state == "CREATING"), "{provisioned:?}");
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn drift_aws_cannot_update_is_refused_and_recreated_only_when_asked() {
    let input = input();
    let mut legacy = described(&input, "RUNNING");
    let info = legacy.replication_info_list.as_mut().unwrap();
    info[0].consumer_group_replication.as_mut().unwrap().consumer_group_offset_sync_mode =
        Some(sdk::ConsumerGroupOffsetSyncMode::Legacy);
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || legacy.clone())
        .repeatedly()
        .build();
    let delete = mock!(aws_sdk_kafka::Client::delete_replicator)
        .match_requests(|request| request.replicator_arn() == Some(ARN) && request.current_version() == Some("K1"))
        .then_output(|| DeleteReplicatorOutput::builder().replicator_arn(ARN).build());
    let create = create_rule(&input.replicator_name);

    let list = list_found(&input.replicator_name, "RUNNING");
    let kafka = mock_kafka(&[&list, &describe, &delete, &create]).await;
    let refused = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
    let ReplicatorError::Drift { differences, .. } = &refused else { panic!("{refused:?}") };
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].field, "ConsumerGroupReplication.ConsumerGroupOffsetSyncMode");
    assert_eq!((differences[0].planned.as_str(), differences[0].actual.as_str()), ("ENHANCED", "LEGACY"));
    assert!(refused.to_string().contains("plan: ENHANCED, replicator: LEGACY"), "{refused}");
    assert_eq!((delete.num_calls(), create.num_calls()), (0, 0), "a refusal changes nothing");

    // Recreate: delete, wait until ListReplicators no longer shows it, create from the plan.
    let list = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output({
            let name = input.replicator_name.clone();
            move || listed(&name, "RUNNING")
        })
        .output({
            let name = input.replicator_name.clone();
            move || listed(&name, "DELETING")
        })
        .output(|| ListReplicatorsOutput::builder().build())
        .build();
    let kafka = mock_kafka(&[&list, &describe, &delete, &create]).await;
    let recreated = msk::ensure(&kafka, &input, OnDrift::Recreate, POLL, WAIT, &msk::NoProgress).await.unwrap();
    assert!(matches!(recreated, Provisioned::Recreated(_, ref d) if d.len() == 1), "{recreated:?}");
    assert_eq!((delete.num_calls(), create.num_calls(), list.num_calls()), (1, 1, 3));
}

#[tokio::test]
async fn drift_in_topics_is_updated_in_place() {
    let input = input();
    let mut fewer = described(&input, "RUNNING");
    fewer.replication_info_list.as_mut().unwrap()[0].topic_replication.as_mut().unwrap().topics_to_replicate =
        Some(vec!["orders".into()]);
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator).then_output(move || fewer.clone());
    let update = mock!(aws_sdk_kafka::Client::update_replication_info)
        .match_requests(|request| {
            request.current_version() == Some("K1")
                && request.topic_replication().map(|t| t.topics_to_replicate().len()) == Some(2)
                && request.source_kafka_cluster_id() == Some("lkc-abc123")
        })
        .then_output(|| UpdateReplicationInfoOutput::builder().replicator_arn(ARN).build());
    let create = create_rule(&input.replicator_name);
    let list = list_found(&input.replicator_name, "RUNNING");
    let kafka = mock_kafka(&[&list, &describe, &update, &create]).await;
    let updated = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap();
    let Provisioned::Updated(_, changed) = &updated else { panic!("{updated:?}") };
    assert_eq!(changed[0].field, "TopicReplication.TopicsToReplicate");
    assert_eq!((update.num_calls(), create.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_failed_replicator_comes_back_with_its_state_info() {
    let input = input();
    let mut failed = described(&input, "FAILED");
    failed.state_info = Some(
        sdk::ReplicationStateInfo::builder()
            .code("SECRET_ACCESS_DENIED")
            .message(
                "The service execution role cannot read secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            )
            .build(),
    );
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator).then_output(move || failed.clone());
    let kafka = mock_kafka(&[&describe]).await;
    let replicator = msk::Replicator {
        name: input.replicator_name.clone(),
        arn: ARN.into(),
        state: "CREATING".into(),
        current_version: None,
    };
    let error = msk::wait_running(&kafka, &replicator, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
    assert!(matches!(error, ReplicatorError::Failed { ref code, .. } if code == "SECRET_ACCESS_DENIED"), "{error:?}");
    assert!(error.to_string().contains("cannot read secret"), "{error}");
}

#[tokio::test]
async fn access_denied_on_create_names_the_action_and_throttling_is_retried() {
    let input = input();
    let throttled_then_empty = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .error(|| {
            aws_sdk_kafka::operation::list_replicators::ListReplicatorsError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("TooManyRequestsException")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(2)
        .output(|| ListReplicatorsOutput::builder().build())
        .build();
    let denied = mock!(aws_sdk_kafka::Client::create_replicator).then_error(|| {
        aws_sdk_kafka::operation::create_replicator::CreateReplicatorError::ForbiddenException(
            sdk::error::ForbiddenException::builder()
                .message("User is not authorized to perform: kafka:CreateReplicator")
                .meta(aws_smithy_types::error::ErrorMetadata::builder().code("ForbiddenException").build())
                .build(),
        )
    });
    let kafka = mock_kafka(&[&throttled_then_empty, &denied]).await;
    let error = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
    assert_eq!(throttled_then_empty.num_calls(), 3, "two throttles absorbed by the retries");
    let ReplicatorError::Aws(AwsError::AccessDenied { action, resource, .. }) = &error else { panic!("{error:?}") };
    assert_eq!((action.as_str(), resource.as_str()), ("kafka:CreateReplicator", input.replicator_name.as_str()));
    assert_eq!(denied.num_calls(), 1, "a denial is not retried");
}

/// Rules that count every call that would change a replicator: none may be made.
fn mutations() -> [Rule; 3] {
    [
        mock!(aws_sdk_kafka::Client::update_replication_info)
            .then_output(|| UpdateReplicationInfoOutput::builder().build()),
        mock!(aws_sdk_kafka::Client::delete_replicator).then_output(|| DeleteReplicatorOutput::builder().build()),
        mock!(aws_sdk_kafka::Client::create_replicator).then_output(|| CreateReplicatorOutput::builder().build()),
    ]
}

#[tokio::test]
async fn a_same_named_replicator_without_the_plans_tag_is_never_touched() {
    let input = input();
    for (tags, shown) in [(vec![], "absent"), (vec![("migrate:plan", "another-plan")], "`another-plan`")] {
        // Even drifted and FAILED, with --recreate: refused before anything is compared.
        let mut foreign = described(&input, "FAILED");
        foreign.tags = Some(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        foreign.service_execution_role_arn = Some("arn:aws:iam::123456789012:role/someone-elses".into());
        let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
            .sequence()
            .output(move || foreign.clone())
            .repeatedly()
            .build();
        let list = list_found(&input.replicator_name, "FAILED");
        let [update, delete, create] = mutations();
        let kafka = mock_kafka(&[&list, &describe, &update, &delete, &create]).await;
        for on_drift in [OnDrift::Refuse, OnDrift::Recreate] {
            let error = msk::ensure(&kafka, &input, on_drift, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
            let ReplicatorError::NotOurs { name, found, .. } = &error else { panic!("{error:?}") };
            assert_eq!((name.as_str(), found.as_str()), (input.replicator_name.as_str(), shown));
            assert!(error.to_string().contains("was not created by plan shop-migration"), "{error}");
        }
        assert_eq!((update.num_calls(), delete.num_calls(), create.num_calls()), (0, 0, 0));
    }
}

#[tokio::test]
async fn a_failed_replicator_matching_the_plan_is_refused_and_replaced_with_recreate() {
    let input = input();
    let mut failed = described(&input, "FAILED");
    failed.state_info =
        Some(sdk::ReplicationStateInfo::builder().code("CONNECTIVITY_ERROR").message("no route to broker").build());
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || failed.clone())
        .repeatedly()
        .build();
    let list = list_found(&input.replicator_name, "FAILED");
    let [update, delete, create] = mutations();
    let kafka = mock_kafka(&[&list, &describe, &update, &delete, &create]).await;
    let error = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
    assert!(matches!(error, ReplicatorError::Failed { ref code, .. } if code == "CONNECTIVITY_ERROR"), "{error:?}");
    assert_eq!((update.num_calls(), delete.num_calls(), create.num_calls()), (0, 0, 0));

    let list = mock!(aws_sdk_kafka::Client::list_replicators)
        .sequence()
        .output({
            let name = input.replicator_name.clone();
            move || listed(&name, "FAILED")
        })
        .output(|| ListReplicatorsOutput::builder().build())
        .build();
    let delete = mock!(aws_sdk_kafka::Client::delete_replicator)
        .match_requests(|request| request.replicator_arn() == Some(ARN))
        .then_output(|| DeleteReplicatorOutput::builder().replicator_arn(ARN).build());
    let create = create_rule(&input.replicator_name);
    let kafka = mock_kafka(&[&list, &describe, &delete, &create]).await;
    let replaced = msk::ensure(&kafka, &input, OnDrift::Recreate, POLL, WAIT, &msk::NoProgress).await.unwrap();
    assert!(matches!(replaced, Provisioned::Recreated(_, ref d) if d.is_empty()), "{replaced:?}");
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_updating_replicator_is_waited_for_before_it_is_compared() {
    let input = input();
    let describe = describe_sequence(&input, &["UPDATING", "UPDATING", "RUNNING", "RUNNING"]);
    let list = list_found(&input.replicator_name, "UPDATING");
    let [update, delete, create] = mutations();
    let kafka = mock_kafka(&[&list, &describe, &update, &delete, &create]).await;
    let progress = Recorded::default();
    let outcome = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &progress).await.unwrap();
    assert!(matches!(outcome, Provisioned::Exists(ref r) if r.state == "RUNNING"), "{outcome:?}");
    assert_eq!(describe.num_calls(), 4);
    assert!(progress.0.lock().unwrap().iter().any(|line| line.ends_with("UPDATING")));
    assert_eq!((update.num_calls(), delete.num_calls(), create.num_calls()), (0, 0, 0));
}

#[tokio::test]
async fn a_reverse_replicator_created_at_earliest_is_drift_with_its_reason() {
    let plan = common::aws::example_msk_plan(|text| text);
    let reverse = render::replicator_input(&plan, plan.msk().unwrap(), Direction::MskToExternal);
    let mut earliest = described(&reverse, "RUNNING");
    earliest.replication_info_list.as_mut().unwrap()[0].topic_replication.as_mut().unwrap().starting_position = Some(
        sdk::ReplicationStartingPosition::builder().r#type(sdk::ReplicationStartingPositionType::Earliest).build(),
    );
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || earliest.clone())
        .repeatedly()
        .build();
    let list = list_found(&reverse.replicator_name, "RUNNING");
    let [update, delete, create] = mutations();
    let kafka = mock_kafka(&[&list, &describe, &update, &delete, &create]).await;
    let error = msk::ensure(&kafka, &reverse, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap_err();
    let ReplicatorError::Drift { differences, .. } = &error else { panic!("{error:?}") };
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].field, "TopicReplication.StartingPosition.Type");
    assert_eq!((differences[0].planned.as_str(), differences[0].actual.as_str()), ("LATEST", "EARLIEST"));
    assert!(error.to_string().contains("does not re-read all of MSK's history"), "{error}");
    assert_eq!((update.num_calls(), delete.num_calls(), create.num_calls()), (0, 0, 0));
}

#[tokio::test]
async fn group_exclusions_acl_copy_new_group_detection_and_log_delivery_are_updated() {
    let input = input();
    let mut changed = described(&input, "RUNNING");
    let info = &mut changed.replication_info_list.as_mut().unwrap()[0];
    let topics = info.topic_replication.as_mut().unwrap();
    topics.copy_access_control_lists_for_topics = Some(false);
    let groups = info.consumer_group_replication.as_mut().unwrap();
    groups.detect_and_copy_new_consumer_groups = Some(false);
    groups.consumer_groups_to_exclude = Some(vec!["order-status".into()]);
    changed.log_delivery = None;
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || changed.clone())
        .repeatedly()
        .build();
    let group = input
        .log_delivery
        .as_ref()
        .unwrap()
        .replicator_log_delivery
        .cloud_watch_logs
        .as_ref()
        .unwrap()
        .log_group
        .clone();
    let update = mock!(aws_sdk_kafka::Client::update_replication_info)
        .match_requests(move |request| {
            let topics = request.topic_replication();
            let groups = request.consumer_group_replication();
            topics.and_then(|t| t.copy_access_control_lists_for_topics()) == Some(true)
                && groups.and_then(|g| g.detect_and_copy_new_consumer_groups()) == Some(true)
                && groups.map(|g| g.consumer_groups_to_exclude().is_empty()) == Some(true)
                && request
                    .log_delivery()
                    .and_then(|l| l.replicator_log_delivery())
                    .and_then(|r| r.cloud_watch_logs())
                    .and_then(|c| c.log_group())
                    == Some(group.as_str())
        })
        .then_output(|| UpdateReplicationInfoOutput::builder().replicator_arn(ARN).build());
    let list = list_found(&input.replicator_name, "RUNNING");
    let kafka = mock_kafka(&[&list, &describe, &update]).await;
    let updated = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap();
    let Provisioned::Updated(_, differences) = &updated else { panic!("{updated:?}") };
    let mut fields: Vec<&str> = differences.iter().map(|d| d.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "ConsumerGroupReplication.ConsumerGroupsToExclude",
            "ConsumerGroupReplication.DetectAndCopyNewConsumerGroups",
            "LogDelivery",
            "TopicReplication.CopyAccessControlListsForTopics",
        ]
    );
    assert_eq!(update.num_calls(), 1, "the update carries all four");
}

#[tokio::test]
async fn a_plan_without_log_delivery_never_clears_the_replicators() {
    let plan = common::aws::example_msk_plan(|text| text);
    let mut input = render::replicator_input(&plan, plan.msk().unwrap(), Direction::ExternalToMsk);
    let mut existing = described(&input, "RUNNING");
    input.log_delivery = None;
    // Something else to update, so that an update is sent.
    existing.replication_info_list.as_mut().unwrap()[0].topic_replication.as_mut().unwrap().topics_to_replicate =
        Some(vec!["orders".into()]);
    assert!(existing.log_delivery.is_some());
    let describe = mock!(aws_sdk_kafka::Client::describe_replicator)
        .sequence()
        .output(move || existing.clone())
        .repeatedly()
        .build();
    let update = mock!(aws_sdk_kafka::Client::update_replication_info)
        .match_requests(|request| request.log_delivery().is_none())
        .then_output(|| UpdateReplicationInfoOutput::builder().replicator_arn(ARN).build());
    let list = list_found(&input.replicator_name, "RUNNING");
    let kafka = mock_kafka(&[&list, &describe, &update]).await;
    let updated = msk::ensure(&kafka, &input, OnDrift::Refuse, POLL, WAIT, &msk::NoProgress).await.unwrap();
    let Provisioned::Updated(_, differences) = &updated else { panic!("{updated:?}") };
    assert!(differences.iter().all(|d| d.field != "LogDelivery"), "{differences:?}");
    assert_eq!(update.num_calls(), 1);
}

/// The reverse replicator starts at LATEST: what an app wrote on MSK before it ran is never
/// copied back. `cutover` reads when each app first ran on MSK (the audit log) and when the
/// reverse replicator was first seen RUNNING (`replicators.json`).
mod reverse_replication {
    use std::path::Path;
    use std::time::Duration;

    use aws_sdk_kafka::operation::list_replicators::ListReplicatorsOutput;
    use aws_sdk_kafka::types as sdk;
    use aws_smithy_mocks::{Rule, mock};
    use migrate::cutover::{MoveError, MoveEvent, MoveOptions, MoveReporter, execute};
    use migrate::gate::{GateStage, ReadinessSource};
    use migrate::msk::readiness::MskReadiness;
    use migrate::msk::reverse::RunningSeen;
    use migrate::plan::{Plan, Side};
    use migrate::state::StateDir;
    use migrate::state::audit::{self, AuditEntry, MoveCommand};

    use super::common;

    const REVERSE: &str = "shop-migration-msk-to-external";
    const HOUR_MS: u64 = 3_600_000;

    fn reverse_arn(id: &str) -> String {
        format!("arn:aws:kafka:eu-west-1:123456789012:replicator/{REVERSE}/{id}")
    }

    /// ListReplicators showing the reverse replicator `arn` in `state`.
    fn listed(arn: &str, state: &'static str) -> Rule {
        let arn = arn.to_string();
        mock!(aws_sdk_kafka::Client::list_replicators).then_compute_output(move |request| {
            let name = request.replicator_name_filter().unwrap_or_default();
            ListReplicatorsOutput::builder()
                .replicators(
                    sdk::ReplicatorSummary::builder()
                        .replicator_name(name)
                        .replicator_arn(&arn)
                        .replicator_state(sdk::ReplicatorState::from(state))
                        .build(),
                )
                .build()
        })
    }

    struct World {
        plan: Plan,
        state: tempfile::TempDir,
        runtime: tokio::runtime::Runtime,
        list: Rule,
    }

    /// ListReplicators showing the reverse replicator `arn` in each of `states` in turn (the
    /// last one from then on); `None`: absent.
    fn listed_in_turn(arn: &str, states: &[Option<&'static str>]) -> Rule {
        let mut rule = mock!(aws_sdk_kafka::Client::list_replicators).sequence();
        for state in states {
            let (arn, state) = (arn.to_string(), *state);
            rule = rule.output(move || {
                let mut output = ListReplicatorsOutput::builder();
                if let Some(state) = state {
                    output = output.replicators(
                        sdk::ReplicatorSummary::builder()
                            .replicator_name(REVERSE)
                            .replicator_arn(&arn)
                            .replicator_state(sdk::ReplicatorState::from(state))
                            .build(),
                    );
                }
                output.build()
            });
        }
        rule.repeatedly().build()
    }

    impl World {
        fn new(arn: &str, state: &'static str) -> Self {
            Self::listing(listed(arn, state))
        }

        fn listing(list: Rule) -> Self {
            let plan = common::aws::example_msk_plan(|text| text);
            assert_eq!(plan.msk().unwrap().msk_to_external_name, REVERSE);
            assert!(plan.replication.bidirectional);
            Self { plan, state: tempfile::tempdir().unwrap(), runtime: tokio::runtime::Runtime::new().unwrap(), list }
        }

        fn readiness(&self) -> MskReadiness {
            let (kafka, cloudwatch) = self.runtime.block_on(async {
                let kafka = common::aws::mock_kafka(&[&self.list]).await;
                // Nothing listens there: the refusal comes before any metric is asked.
                let cloudwatch = aws_sdk_cloudwatch::Client::new(
                    &migrate::aws::load_config("eu-west-1", Some("http://127.0.0.1:9")).await,
                );
                (kafka, cloudwatch)
            });
            MskReadiness::new(
                self.plan.clone(),
                kafka,
                cloudwatch,
                self.runtime.handle().clone(),
                self.state.path().to_path_buf(),
            )
        }

        /// `app` moved onto the target `ago_ms` ago: its steps there, as a cutover logs them.
        fn moved_to_target(&self, app: &str, at_ms: u64) {
            let dir = StateDir::new(self.state.path());
            for (offset, step) in ["switch", "configure", "start", "verify"].iter().enumerate() {
                audit::append(
                    &dir,
                    &AuditEntry {
                        time_ms: at_ms + offset as u64 * 1000,
                        user: "test".into(),
                        command: MoveCommand::Cutover,
                        app: app.into(),
                        from: Side::Source,
                        to: Side::Target,
                        step: (*step).into(),
                        side: Some(Side::Target),
                        result: "done".into(),
                        downtime_ms: None,
                    },
                )
                .unwrap();
            }
        }

        fn seen(&self, arn: &str, at_ms: u64) {
            let seen = RunningSeen {
                replicators: [(
                    arn.to_string(),
                    migrate::msk::reverse::FirstSeen { name: REVERSE.into(), first_seen_running_ms: at_ms },
                )]
                .into(),
            };
            std::fs::write(self.replicators_file(), serde_json::to_vec(&seen).unwrap()).unwrap();
        }

        fn replicators_file(&self) -> std::path::PathBuf {
            self.state.path().join("replicators.json")
        }

        fn recorded(&self) -> RunningSeen {
            serde_json::from_slice(&std::fs::read(self.replicators_file()).unwrap()).unwrap()
        }

        fn app(&self, name: &str) -> &migrate::plan::App {
            self.plan.apps.iter().find(|a| a.name == name).unwrap()
        }
    }

    fn now_ms() -> u64 {
        migrate::state::now_ms()
    }

    #[derive(Default)]
    struct Notes(std::sync::Mutex<Vec<String>>);

    impl MoveReporter for Notes {
        fn event(&self, _: &str, event: MoveEvent) {
            if let MoveEvent::Note(note) = event {
                self.0.lock().unwrap().push(note);
            }
        }
    }

    fn cutover(
        world: &World,
        readiness: &dyn ReadinessSource,
        app: &str,
        options: &MoveOptions,
        notes: &Notes,
    ) -> Result<migrate::cutover::MoveOutcome, MoveError> {
        execute(&world.plan, world.state.path(), app, MoveCommand::Cutover, options, readiness, notes)
    }

    fn untouched(state: &Path) {
        assert!(!state.join("control.json").exists(), "control.json was written");
        assert!(!state.join("move.json").exists(), "move.json was left behind");
    }

    #[test]
    fn a_cutover_is_refused_when_its_topics_were_written_on_msk_before_the_reverse_replicator_ran() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "RUNNING");
        let moved_at = now_ms() - 2 * HOUR_MS;
        // `orders` ran on MSK (then came back: the audit log keeps it), and the reverse
        // replicator was first seen RUNNING ten minutes after it started there.
        world.moved_to_target("orders", moved_at);
        world.seen(&arn, moved_at + 600_000);
        let readiness = world.readiness();

        let refused = cutover(&world, &readiness, "orders", &MoveOptions::default(), &Notes::default());
        let Err(MoveError::ReverseReplication(reason)) = refused else {
            panic!("expected exit 4's refusal: {refused:?}")
        };
        assert!(
            reason.starts_with("reverse-replication: app `orders` produced to orders and ran on MSK from "),
            "{reason}"
        );
        assert!(reason.contains(&format!("before the reverse replicator {REVERSE} was RUNNING")), "{reason}");
        assert!(reason.ends_with("not moving `orders`"), "{reason}");
        untouched(world.state.path());
        assert_eq!(world.list.num_calls(), 1);
        // The first sighting on record stays the first.
        assert_eq!(world.recorded().replicators[&arn].first_seen_running_ms, moved_at + 600_000);

        // An app producing to other topics, and one producing nothing, may move.
        assert_eq!(readiness.refuses_move_to_target(world.app("order_status"), GateStage::Before).unwrap(), None);
        assert_eq!(readiness.refuses_move_to_target(world.app("notification"), GateStage::Before).unwrap(), None);
    }

    #[test]
    fn a_reverse_replicator_running_before_the_first_write_on_msk_lets_the_app_move() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "RUNNING");
        let moved_at = now_ms() - HOUR_MS;
        world.moved_to_target("orders", moved_at);
        world.seen(&arn, moved_at - 1);
        let readiness = world.readiness();
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);
    }

    #[test]
    fn a_recreated_reverse_replicator_is_first_seen_now_and_refuses_apps_that_ran_on_msk_before() {
        let (old, new) = (reverse_arn("r-1"), reverse_arn("r-2"));
        let world = World::new(&new, "RUNNING");
        let moved_at = now_ms() - HOUR_MS;
        // The old replicator covered `orders`' time on MSK; `apply --recreate` replaced it, at
        // LATEST, while `orders` ran there.
        world.seen(&old, moved_at - HOUR_MS);
        world.moved_to_target("orders", moved_at);
        let readiness = world.readiness();
        let before = now_ms();
        let reason =
            readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap().expect("refused");
        assert!(reason.contains("app `orders` produced to orders and ran on MSK from"), "{reason}");
        let recorded = world.recorded();
        assert_eq!(recorded.replicators.len(), 2);
        assert!(recorded.replicators[&new].first_seen_running_ms >= before);
        assert_eq!(recorded.replicators[&old].first_seen_running_ms, moved_at - HOUR_MS);
    }

    #[test]
    fn an_app_placed_on_msk_without_a_move_in_the_audit_log_refuses_its_topics_producers() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "RUNNING");
        world.seen(&arn, now_ms() - HOUR_MS);
        std::fs::write(world.state.path().join("control.json"), r#"{"apps": {"orders": "target"}}"#).unwrap();
        let readiness = world.readiness();
        let reason =
            readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap().expect("refused");
        assert!(
            reason.contains("runs on MSK (control.json) with no move there in audit.jsonl, since an unknown time"),
            "{reason}"
        );
    }

    #[test]
    fn a_reverse_replicator_not_running_yet_is_not_recorded_and_counts_as_running_from_now_on() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "CREATING");
        let readiness = world.readiness();
        // Nobody ran on MSK yet: nothing to miss, and nothing recorded for a replicator that does
        // not run.
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);
        assert!(!world.replicators_file().exists());
        world.moved_to_target("orders", now_ms() - 1000);
        let reason =
            readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap().expect("refused");
        assert!(
            reason.contains(&format!("before the reverse replicator {REVERSE} was RUNNING (it is CREATING now)")),
            "{reason}"
        );
    }

    #[test]
    fn a_first_sighting_is_recorded_once_and_a_corrupt_audit_log_is_named() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "RUNNING");
        let readiness = world.readiness();
        let before = now_ms();
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);
        let first = world.recorded().replicators[&arn].first_seen_running_ms;
        assert!(first >= before);
        // Deliberately 5 ms: a second sighting recorded anew would carry a later time.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);
        assert_eq!(world.recorded().replicators[&arn].first_seen_running_ms, first);

        std::fs::write(world.state.path().join("audit.jsonl"), "{not json\n").unwrap();
        let error = readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap_err();
        assert!(error.contains("audit.jsonl line 1 is not an audit entry"), "{error}");
        let refused = cutover(&world, &readiness, "orders", &MoveOptions::default(), &Notes::default());
        let Err(MoveError::ReverseReplication(reason)) = refused else { panic!("{refused:?}") };
        assert!(
            reason.starts_with(
                "reverse-replication: cannot tell whether the reverse replicator saw every write on MSK: "
            ),
            "{reason}"
        );
    }

    #[test]
    fn accept_uncopied_writes_moves_past_the_refusal_with_a_note() {
        let arn = reverse_arn("r-1");
        let world = World::new(&arn, "RUNNING");
        world.moved_to_target("orders", now_ms() - HOUR_MS);
        let readiness = world.readiness();
        let notes = Notes::default();
        let options = MoveOptions { accept_uncopied_writes: true, ..MoveOptions::default() };
        // Past the refusal the gate asks the clusters, which this test does not have: the move
        // stops at the gate for that reason, not for the writes.
        let refused = cutover(&world, &readiness, "orders", &options, &notes);
        let Err(MoveError::GateClosed(reason)) = refused else { panic!("{refused:?}") };
        assert!(!reason.contains("reverse-replication"), "{reason}");
        let notes = notes.0.lock().unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("--accept-uncopied-writes: moving anyway; reverse-replication: app `orders`")),
            "{notes:?}"
        );
        untouched(world.state.path());
    }

    /// A gate that is open: what the clusters and CloudWatch would say, which these tests do not
    /// have; the refusal under test is MSK's own.
    struct OpenGate<'a>(&'a MskReadiness);

    impl ReadinessSource for OpenGate<'_> {
        fn gate(&self) -> Result<migrate::gate::Gate, String> {
            Ok(migrate::gate::Gate { open: true, window_ms: 0, evaluated_at_ms: now_ms(), conditions: Vec::new() })
        }

        fn applied_side(&self, app: &str) -> Result<Side, String> {
            self.0.applied_side(app)
        }

        fn cluster_ids(&self) -> Result<std::collections::BTreeMap<Side, String>, String> {
            self.0.cluster_ids()
        }

        fn refuses_move_to_target(&self, app: &migrate::plan::App, stage: GateStage) -> Result<Option<String>, String> {
            self.0.refuses_move_to_target(app, stage)
        }
    }

    /// Once the gate is open, the last look before `stop`: a reverse replicator that does not run
    /// (absent, still creating, updating, failed) refuses an app that produces, naming the app, its
    /// topics and the replicator's state; an app that produces nothing may move.
    #[test]
    fn once_the_gate_is_open_a_reverse_replicator_not_running_refuses_an_app_that_produces() {
        let arn = reverse_arn("r-1");
        for (state, said) in [
            (Some("CREATING"), "is CREATING, not RUNNING"),
            (Some("UPDATING"), "is UPDATING, not RUNNING"),
            (Some("FAILED"), "is FAILED, not RUNNING"),
            (None, "does not exist"),
        ] {
            let world = World::listing(listed_in_turn(&arn, &[state]));
            let readiness = world.readiness();
            // Before the gate it only counts from now: nothing ran on MSK, nothing refused.
            assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);

            let refused = cutover(&world, &OpenGate(&readiness), "orders", &MoveOptions::default(), &Notes::default());
            let Err(MoveError::ReverseReplication(reason)) = refused else {
                panic!("expected exit 4's refusal: {refused:?}")
            };
            assert_eq!(
                reason,
                format!(
                    "reverse-replication: app `orders` produces to orders, and the reverse replicator {REVERSE} {said}; it starts at LATEST, so what `orders` would write on MSK before it runs would never reach the source and a rollback would not bring it back: not moving `orders` (`migrate apply` waits until it runs)"
                )
            );
            untouched(world.state.path());
            assert!(!world.replicators_file().exists(), "a replicator that does not run was recorded as running");
            assert_eq!(
                readiness.refuses_move_to_target(world.app("notification"), GateStage::Open).unwrap(),
                None,
                "an app that produces nothing has nothing to lose"
            );
        }
    }

    /// Regression: `cutover --wait` that waited across the reverse replicator's creation let the
    /// app move with no sighting recorded (the gate recorded none), so the next sighting, after
    /// the app ran on MSK, refused its next cutover although the replicator had copied everything.
    /// The look once the gate is open records it before the app can write on MSK.
    #[test]
    fn a_gate_waited_across_the_reverse_replicators_creation_records_its_sighting_before_the_app_moves() {
        let arn = reverse_arn("r-1");
        let world = World::listing(listed_in_turn(&arn, &[Some("CREATING"), Some("RUNNING")]));
        let readiness = world.readiness();
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Before).unwrap(), None);
        assert!(!world.replicators_file().exists());

        let before = now_ms();
        assert_eq!(readiness.refuses_move_to_target(world.app("orders"), GateStage::Open).unwrap(), None);
        let first_seen = world.recorded().replicators[&arn].first_seen_running_ms;
        assert!(first_seen >= before && first_seen <= now_ms(), "{first_seen}");

        // `orders` then runs on MSK (its first step there comes after the look), and comes back:
        // its next cutover is not refused.
        world.moved_to_target("orders", now_ms() + 1);
        for stage in [GateStage::Before, GateStage::Open] {
            assert_eq!(readiness.refuses_move_to_target(world.app("orders"), stage).unwrap(), None);
        }
        assert_eq!(world.recorded().replicators[&arn].first_seen_running_ms, first_seen);
    }

    /// The refusal once the gate is open passes with `--accept-uncopied-writes`, saying so.
    #[test]
    fn accept_uncopied_writes_passes_a_reverse_replicator_not_running_with_a_note() {
        let mut world = World::listing(listed_in_turn(&reverse_arn("r-1"), &[Some("CREATING")]));
        // Past the gate comes `stop`: a hook that fails at once, and the move left where it
        // failed, show that the refusal was passed without touching anything real.
        let orders = world.plan.apps.iter_mut().find(|a| a.name == "orders").unwrap();
        orders.stop = Some("echo stopping orders >&2; exit 3".into());
        let readiness = world.readiness();
        let notes = Notes::default();
        let options = MoveOptions { accept_uncopied_writes: true, auto_revert: false, ..MoveOptions::default() };
        let moved = cutover(&world, &OpenGate(&readiness), "orders", &options, &notes);
        let Err(MoveError::Failed(outcome)) = moved else { panic!("expected the stop hook's failure: {moved:?}") };
        assert!(outcome.failure.as_deref().unwrap_or_default().starts_with("stop hook"), "{outcome:?}");
        let notes = notes.0.lock().unwrap();
        assert!(
            notes.iter().any(|n| n.starts_with(&format!(
                "--accept-uncopied-writes: moving anyway; reverse-replication: app `orders` produces to orders, and the reverse replicator {REVERSE} is CREATING"
            ))),
            "{notes:?}"
        );
    }
}
