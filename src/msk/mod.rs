//! The MSK backend's replicators: find them by name, create them from the rendered input, tell
//! where an existing one differs from the plan, update what the API can update, recreate (only when
//! asked) what it cannot, and wait until they run.
//!
//! Nothing here prints: progress goes through [`Progress`], outcomes are returned. The input is
//! [`render::ReplicatorInput`], the same model `migrate render` writes, so what `apply` creates is
//! exactly what an operator reviewed.

pub mod acl_translation;
pub mod metrics;
pub mod policy;
pub mod readiness;
pub mod render;
pub mod reverse;
pub mod secret;

use std::time::{Duration, Instant};

use aws_sdk_kafka::Client;
use aws_sdk_kafka::operation::describe_replicator::DescribeReplicatorOutput;

use crate::aws::{AwsError, classify};
use crate::msk::render::ReplicatorInput;

/// A replicator as `ListReplicators`/`DescribeReplicator` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replicator {
    pub name: String,
    pub arn: String,
    pub state: String,
    pub current_version: Option<String>,
}

/// One field where an existing replicator differs from the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub field: String,
    pub planned: String,
    pub actual: String,
    /// `UpdateReplicationInfo` can change it in place; otherwise only a recreate can.
    pub updatable: bool,
    /// Why the plan wants it so, when that is not obvious.
    pub reason: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicatorError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("replicator {name} differs from the plan in what AWS cannot update: {}", describe(.differences))]
    Drift { name: String, differences: Vec<Difference> },
    #[error("replicator {name} is FAILED: {code}: {message}")]
    Failed { name: String, code: String, message: String },
    #[error(
        "replicator {name} exists but was not created by plan {plan} (its tag {tag} is {found}): migrate neither updates, recreates nor deletes it",
        tag = crate::msk::render::CREATED_BY_TAG
    )]
    NotOurs { name: String, plan: String, found: String },
    #[error("replicator {name} is being deleted")]
    Deleting { name: String },
    #[error("replicator {name} is still {state} after {} min", .waited.as_secs() / 60)]
    TimedOut { name: String, state: String, waited: Duration },
}

fn describe(differences: &[Difference]) -> String {
    differences
        .iter()
        .filter(|d| !d.updatable)
        .map(|d| match d.reason {
            Some(reason) => format!("{} (plan: {}, replicator: {}; {reason})", d.field, d.planned, d.actual),
            None => format!("{} (plan: {}, replicator: {})", d.field, d.planned, d.actual),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How `ensure` treats an existing replicator that differs in what cannot be updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrift {
    /// Report it and change nothing.
    Refuse,
    /// Delete it and create it again from the plan (the operator confirmed).
    Recreate,
}

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Provisioned {
    Created(Replicator),
    /// It exists and matches the plan (it may still be creating).
    Exists(Replicator),
    /// It existed; these updatable fields were brought in line with the plan.
    Updated(Replicator, Vec<Difference>),
    Recreated(Replicator, Vec<Difference>),
}

impl Provisioned {
    pub fn replicator(&self) -> &Replicator {
        match self {
            Provisioned::Created(r)
            | Provisioned::Exists(r)
            | Provisioned::Updated(r, _)
            | Provisioned::Recreated(r, _) => r,
        }
    }
}

/// Progress of long waits (creation takes tens of minutes).
pub trait Progress: Send + Sync {
    fn state(&self, replicator: &str, state: &str, waited: Duration);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn state(&self, _: &str, _: &str, _: Duration) {}
}

/// The replicator named `name`, if any (names are unique per account and region).
pub async fn find(kafka: &Client, name: &str) -> Result<Option<Replicator>, AwsError> {
    let mut next = None;
    loop {
        let page = kafka
            .list_replicators()
            .replicator_name_filter(name)
            .set_next_token(next)
            .send()
            .await
            .map_err(|error| classify(&error, "kafka:ListReplicators", name))?;
        if let Some(found) = page.replicators().iter().find(|r| r.replicator_name() == Some(name)) {
            return Ok(Some(Replicator {
                name: name.to_string(),
                arn: found.replicator_arn().unwrap_or_default().to_string(),
                state: found.replicator_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                current_version: found.current_version().map(str::to_string),
            }));
        }
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(None);
        }
    }
}

pub async fn describe_replicator(
    kafka: &Client,
    replicator: &Replicator,
) -> Result<DescribeReplicatorOutput, AwsError> {
    kafka
        .describe_replicator()
        .replicator_arn(&replicator.arn)
        .send()
        .await
        .map_err(|error| classify(&error, "kafka:DescribeReplicator", &replicator.arn))
}

/// Where `actual` differs from `planned`. Clusters are compared by what identifies them (the
/// external cluster's ID and bootstrap, the MSK cluster's ARN), their auth and network.
pub fn differences(planned: &ReplicatorInput, actual: &DescribeReplicatorOutput) -> Vec<Difference> {
    let mut found = Differences::default();
    // A plan without log delivery has no opinion on it: the replicator's own is left as it is.
    if let Some(planned_log_delivery) = planned.log_delivery.as_ref().map(log_delivery_text) {
        let actual_log_delivery = actual.log_delivery().map(sdk_log_delivery_text).unwrap_or_else(|| "none".into());
        found.compare("LogDelivery", planned_log_delivery, actual_log_delivery, true);
    }
    found.compare(
        "ServiceExecutionRoleArn",
        planned.service_execution_role_arn.clone(),
        actual.service_execution_role_arn().unwrap_or_default().to_string(),
        false,
    );
    for cluster in &planned.kafka_clusters {
        found.cluster(cluster, actual.kafka_clusters());
    }
    let (Some(planned_info), Some(actual_info)) =
        (planned.replication_info_list.first(), actual.replication_info_list().first())
    else {
        found.compare("ReplicationInfoList", "1 entry".into(), "none".into(), false);
        return found.0;
    };
    found.compare(
        "TargetCompressionType",
        planned_info.target_compression_type.clone(),
        actual_info.target_compression_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        false,
    );
    if let Some(topics) = actual_info.topic_replication() {
        found.topic_replication(&planned_info.topic_replication, topics);
    }
    if let Some(groups) = actual_info.consumer_group_replication() {
        found.consumer_group_replication(&planned_info.consumer_group_replication, groups);
    }
    if let Some(topics) = actual_info.topic_replication() {
        found.starting_position(planned_info, topics);
    }
    found.0
}

/// The differences found so far, in the order they are reported.
#[derive(Default)]
struct Differences(Vec<Difference>);

impl Differences {
    fn compare(&mut self, field: &str, planned: String, actual: String, updatable: bool) {
        self.compare_with_reason(field, planned, actual, updatable, None);
    }

    fn compare_with_reason(
        &mut self,
        field: &str,
        planned: String,
        actual: String,
        updatable: bool,
        reason: Option<&'static str>,
    ) {
        if planned != actual {
            self.0.push(Difference { field: field.to_string(), planned, actual, updatable, reason });
        }
    }

    /// One planned cluster: whether the replicator has it, then its bootstrap, auth, TLS and network.
    fn cluster(
        &mut self,
        cluster: &crate::msk::render::KafkaCluster,
        actual: &[aws_sdk_kafka::types::KafkaClusterDescription],
    ) {
        let (label, existing) = matching_cluster(cluster, actual);
        let Some(existing) = existing else {
            self.compare(label, planned_cluster_id(cluster), "absent".into(), false);
            return;
        };
        if let (Some(apache), Some(existing)) = (&cluster.apache_kafka_cluster, existing.apache_kafka_cluster()) {
            self.compare(
                "ApacheKafkaCluster.BootstrapBrokerString",
                apache.bootstrap_broker_string.clone(),
                existing.bootstrap_broker_string().unwrap_or_default().to_string(),
                false,
            );
        }
        if let Some(auth) = &cluster.client_authentication {
            let scram = existing.client_authentication().and_then(|a| a.sasl_scram());
            self.compare(
                "ClientAuthentication.SaslScram",
                format!("{} {}", auth.sasl_scram.mechanism, auth.sasl_scram.secret_arn),
                scram
                    .map(|s| {
                        format!(
                            "{} {}",
                            s.mechanism().map(|m| m.as_str()).unwrap_or_default(),
                            s.secret_arn().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default(),
                false,
            );
        }
        if let Some(encryption) = &cluster.encryption_in_transit {
            self.compare(
                "EncryptionInTransit.RootCaCertificate",
                encryption.root_ca_certificate.clone().unwrap_or_else(|| "none".into()),
                existing.encryption_in_transit().and_then(|e| e.root_ca_certificate()).unwrap_or("none").to_string(),
                false,
            );
        }
        let vpc = existing.vpc_config();
        self.compare(
            &format!("{label}.VpcConfig"),
            format!(
                "{} {}",
                sorted_list(&cluster.vpc_config.subnet_ids),
                sorted_list(&cluster.vpc_config.security_group_ids)
            ),
            vpc.map(|v| format!("{} {}", sorted_list(v.subnet_ids()), sorted_list(v.security_group_ids())))
                .unwrap_or_default(),
            false,
        );
    }

    /// The topic replication settings, all but the starting position (reported last).
    fn topic_replication(
        &mut self,
        plan: &crate::msk::render::TopicReplication,
        topics: &aws_sdk_kafka::types::TopicReplication,
    ) {
        self.compare(
            "TopicReplication.TopicsToReplicate",
            sorted_list(&plan.topics_to_replicate),
            sorted_list(topics.topics_to_replicate()),
            true,
        );
        self.compare(
            "TopicReplication.TopicsToExclude",
            sorted_list(&plan.topics_to_exclude),
            sorted_list(topics.topics_to_exclude()),
            true,
        );
        self.compare(
            "TopicReplication.CopyTopicConfigurations",
            plan.copy_topic_configurations.to_string(),
            topics.copy_topic_configurations().unwrap_or(true).to_string(),
            true,
        );
        self.compare(
            "TopicReplication.DetectAndCopyNewTopics",
            plan.detect_and_copy_new_topics.to_string(),
            topics.detect_and_copy_new_topics().unwrap_or(true).to_string(),
            true,
        );
        self.compare(
            "TopicReplication.CopyAccessControlListsForTopics",
            plan.copy_access_control_lists_for_topics.to_string(),
            topics.copy_access_control_lists_for_topics().unwrap_or(true).to_string(),
            true,
        );
        self.compare(
            "TopicReplication.TopicNameConfiguration.Type",
            plan.topic_name_configuration.r#type.clone(),
            topics
                .topic_name_configuration()
                .and_then(|c| c.r#type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_else(|| "PREFIXED_WITH_SOURCE_CLUSTER_ALIAS".into()),
            false,
        );
    }

    fn consumer_group_replication(
        &mut self,
        plan: &crate::msk::render::ConsumerGroupReplication,
        groups: &aws_sdk_kafka::types::ConsumerGroupReplication,
    ) {
        self.compare(
            "ConsumerGroupReplication.ConsumerGroupsToReplicate",
            sorted_list(&plan.consumer_groups_to_replicate),
            sorted_list(groups.consumer_groups_to_replicate()),
            true,
        );
        self.compare(
            "ConsumerGroupReplication.SynchroniseConsumerGroupOffsets",
            plan.synchronise_consumer_group_offsets.to_string(),
            groups.synchronise_consumer_group_offsets().unwrap_or(true).to_string(),
            true,
        );
        self.compare(
            "ConsumerGroupReplication.ConsumerGroupOffsetSyncMode",
            plan.consumer_group_offset_sync_mode.clone(),
            groups.consumer_group_offset_sync_mode().map(|m| m.as_str().to_string()).unwrap_or_else(|| "LEGACY".into()),
            false,
        );
        self.compare(
            "ConsumerGroupReplication.DetectAndCopyNewConsumerGroups",
            plan.detect_and_copy_new_consumer_groups.to_string(),
            groups.detect_and_copy_new_consumer_groups().unwrap_or(true).to_string(),
            true,
        );
        // The plan excludes no group (CreateReplicator gets none): an exclusion set since is
        // drift, reported by name and undone by the update.
        self.compare(
            "ConsumerGroupReplication.ConsumerGroupsToExclude",
            String::new(),
            sorted_list(groups.consumer_groups_to_exclude()),
            true,
        );
    }

    fn starting_position(
        &mut self,
        plan: &crate::msk::render::ReplicationInfo,
        topics: &aws_sdk_kafka::types::TopicReplication,
    ) {
        let reason = if plan.source_kafka_cluster_arn.is_some() {
            "the reverse replicator starts at LATEST so that it does not re-read all of MSK's history; StartingPosition cannot be updated in place"
        } else {
            "StartingPosition cannot be updated in place"
        };
        let actual_start = topics
            .starting_position()
            .and_then(|p| p.r#type())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "LATEST".into());
        self.compare_with_reason(
            "TopicReplication.StartingPosition.Type",
            plan.topic_replication.starting_position.r#type.clone(),
            actual_start,
            false,
            Some(reason),
        );
    }
}

/// The replicator's cluster that is `cluster` (by the external cluster's ID or the MSK cluster's
/// ARN), with the label its differences are reported under.
fn matching_cluster<'a>(
    cluster: &crate::msk::render::KafkaCluster,
    actual: &'a [aws_sdk_kafka::types::KafkaClusterDescription],
) -> (&'static str, Option<&'a aws_sdk_kafka::types::KafkaClusterDescription>) {
    if let Some(apache) = &cluster.apache_kafka_cluster {
        let existing = actual.iter().find(|c| {
            c.apache_kafka_cluster().and_then(|a| a.apache_kafka_cluster_id()) == Some(&apache.apache_kafka_cluster_id)
        });
        ("ApacheKafkaCluster", existing)
    } else {
        let arn = cluster.amazon_msk_cluster.as_ref().map(|m| m.msk_cluster_arn.as_str()).unwrap_or_default();
        let existing = actual.iter().find(|c| c.amazon_msk_cluster().and_then(|m| m.msk_cluster_arn()) == Some(arn));
        ("AmazonMskCluster", existing)
    }
}

/// What identifies a planned cluster: the external cluster's ID, else the MSK cluster's ARN.
fn planned_cluster_id(cluster: &crate::msk::render::KafkaCluster) -> String {
    cluster
        .apache_kafka_cluster
        .as_ref()
        .map(|a| a.apache_kafka_cluster_id.clone())
        .or_else(|| cluster.amazon_msk_cluster.as_ref().map(|m| m.msk_cluster_arn.clone()))
        .unwrap_or_default()
}

/// A list as sorted, comma-separated text, so that order does not count as a difference.
fn sorted_list(items: &[String]) -> String {
    let mut items = items.to_vec();
    items.sort();
    items.join(",")
}

/// A log delivery setting as text, to compare the plan's with the replicator's.
fn log_delivery_text(input: &crate::msk::render::LogDeliveryInput) -> String {
    let logs = &input.replicator_log_delivery;
    let mut parts = Vec::new();
    if let Some(c) = &logs.cloud_watch_logs {
        parts.push(format!("CloudWatchLogs enabled={} {}", c.enabled, c.log_group));
    }
    if let Some(s3) = &logs.s3 {
        parts.push(format!("S3 enabled={} {} {}", s3.enabled, s3.bucket, s3.prefix.as_deref().unwrap_or("")));
    }
    if let Some(f) = &logs.firehose {
        parts.push(format!("Firehose enabled={} {}", f.enabled, f.delivery_stream));
    }
    if parts.is_empty() { "none".into() } else { parts.join("; ") }
}

fn sdk_log_delivery_text(delivery: &aws_sdk_kafka::types::LogDelivery) -> String {
    let Some(logs) = delivery.replicator_log_delivery() else { return "none".into() };
    let mut parts = Vec::new();
    // A destination that is present but disabled is the same as absent.
    if let Some(c) = logs.cloud_watch_logs().filter(|c| c.enabled() == Some(true)) {
        parts.push(format!("CloudWatchLogs enabled=true {}", c.log_group().unwrap_or_default()));
    }
    if let Some(s3) = logs.s3().filter(|s| s.enabled() == Some(true)) {
        parts.push(format!("S3 enabled=true {} {}", s3.bucket().unwrap_or_default(), s3.prefix().unwrap_or_default()));
    }
    if let Some(f) = logs.firehose().filter(|f| f.enabled() == Some(true)) {
        parts.push(format!("Firehose enabled=true {}", f.delivery_stream().unwrap_or_default()));
    }
    if parts.is_empty() { "none".into() } else { parts.join("; ") }
}

/// Whether `described` carries the tag `migrate` puts on the replicators of `plan`.
pub fn owned_by(described: &DescribeReplicatorOutput, plan: &str) -> bool {
    described.tags().and_then(|tags| tags.get(crate::msk::render::CREATED_BY_TAG)).is_some_and(|value| value == plan)
}

/// Refuses a replicator that is not the plan's (another plan's, or made by hand).
pub fn check_owner(name: &str, described: &DescribeReplicatorOutput, plan: &str) -> Result<(), ReplicatorError> {
    if owned_by(described, plan) {
        return Ok(());
    }
    let found = described
        .tags()
        .and_then(|tags| tags.get(crate::msk::render::CREATED_BY_TAG))
        .map(|value| format!("`{value}`"))
        .unwrap_or_else(|| "absent".into());
    Err(ReplicatorError::NotOurs { name: name.to_string(), plan: plan.to_string(), found })
}

async fn create(kafka: &Client, input: &ReplicatorInput) -> Result<Replicator, AwsError> {
    let created = input
        .request(kafka)
        .send()
        .await
        .map_err(|error| classify(&error, "kafka:CreateReplicator", &input.replicator_name))?;
    Ok(Replicator {
        name: input.replicator_name.clone(),
        arn: created.replicator_arn().unwrap_or_default().to_string(),
        state: created.replicator_state().map(|s| s.as_str().to_string()).unwrap_or_else(|| "CREATING".into()),
        current_version: None,
    })
}

/// `UpdateReplicationInfo` with the plan's topics, groups, flags and log delivery (what the API
/// can change).
async fn update(kafka: &Client, replicator: &Replicator, input: &ReplicatorInput) -> Result<(), AwsError> {
    use aws_sdk_kafka::types as sdk;
    let Some(info) = input.replication_info_list.first() else { return Ok(()) };
    let topics = &info.topic_replication;
    let groups = &info.consumer_group_replication;
    // The pair of clusters is named by the same IDs and ARNs the creation used.
    kafka
        .update_replication_info()
        .replicator_arn(&replicator.arn)
        .set_current_version(replicator.current_version.clone())
        .set_source_kafka_cluster_id(info.source_kafka_cluster_id.clone())
        .set_source_kafka_cluster_arn(info.source_kafka_cluster_arn.clone())
        .set_target_kafka_cluster_id(info.target_kafka_cluster_id.clone())
        .set_target_kafka_cluster_arn(info.target_kafka_cluster_arn.clone())
        .topic_replication(
            sdk::TopicReplicationUpdate::builder()
                .set_topics_to_replicate(Some(topics.topics_to_replicate.clone()))
                .set_topics_to_exclude(Some(topics.topics_to_exclude.clone()))
                .copy_topic_configurations(topics.copy_topic_configurations)
                .copy_access_control_lists_for_topics(topics.copy_access_control_lists_for_topics)
                .detect_and_copy_new_topics(topics.detect_and_copy_new_topics)
                .build(),
        )
        .consumer_group_replication(
            sdk::ConsumerGroupReplicationUpdate::builder()
                .set_consumer_groups_to_replicate(Some(groups.consumer_groups_to_replicate.clone()))
                .set_consumer_groups_to_exclude(Some(Vec::new()))
                .synchronise_consumer_group_offsets(groups.synchronise_consumer_group_offsets)
                .detect_and_copy_new_consumer_groups(groups.detect_and_copy_new_consumer_groups)
                .build(),
        )
        // Sent only when the plan sets it: a plan without log delivery leaves the replicator's.
        .set_log_delivery(input.log_delivery.as_ref().map(crate::msk::render::LogDeliveryInput::sdk))
        .send()
        .await
        .map_err(|error| classify(&error, "kafka:UpdateReplicationInfo", &replicator.arn))?;
    Ok(())
}

/// Deletes `replicator` and waits until `ListReplicators` no longer shows it.
pub async fn delete(
    kafka: &Client,
    replicator: &Replicator,
    poll: Duration,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<(), ReplicatorError> {
    kafka
        .delete_replicator()
        .replicator_arn(&replicator.arn)
        .set_current_version(replicator.current_version.clone())
        .send()
        .await
        .map_err(|error| classify(&error, "kafka:DeleteReplicator", &replicator.arn))?;
    wait_gone(kafka, &replicator.name, poll, timeout, progress).await
}

/// Waits until `ListReplicators` no longer shows the replicator `name`.
pub async fn wait_gone(
    kafka: &Client,
    name: &str,
    poll: Duration,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<(), ReplicatorError> {
    let started = Instant::now();
    loop {
        let Some(found) = find(kafka, name).await? else { return Ok(()) };
        progress.state(name, &found.state, started.elapsed());
        if started.elapsed() >= timeout {
            return Err(ReplicatorError::TimedOut {
                name: name.to_string(),
                state: found.state,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Makes the replicator of `input` exist as planned: creates it when absent, leaves it when it
/// matches, updates what can be updated, and recreates on drift (or when FAILED) only when
/// `on_drift` says so. An existing replicator without the plan's `migrate:plan` tag is refused
/// untouched ([`ReplicatorError::NotOurs`]); one UPDATING is waited for first.
pub async fn ensure(
    kafka: &Client,
    input: &ReplicatorInput,
    on_drift: OnDrift,
    poll: Duration,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<Provisioned, ReplicatorError> {
    let name = &input.replicator_name;
    let plan = input.tags.get(crate::msk::render::CREATED_BY_TAG).cloned().unwrap_or_default();
    let Some(mut existing) = find(kafka, name).await? else {
        return Ok(Provisioned::Created(create(kafka, input).await?));
    };
    if existing.state == "DELETING" {
        return Err(ReplicatorError::Deleting { name: name.clone() });
    }
    let mut actual = describe_replicator(kafka, &existing).await?;
    // Before anything else: a same-named replicator the plan did not create is never touched.
    check_owner(name, &actual, &plan)?;
    match existing.state.as_str() {
        "CREATING" => return Ok(Provisioned::Exists(existing)), // compared once it runs, on the next apply
        // An update in flight: compare with what it leads to, once it is done.
        "UPDATING" => {
            existing = wait_running(kafka, &existing, poll, timeout, progress).await?;
            actual = describe_replicator(kafka, &existing).await?;
        }
        "FAILED" => {
            let found = differences(input, &actual);
            if on_drift == OnDrift::Refuse {
                let info = actual.state_info();
                return Err(ReplicatorError::Failed {
                    name: name.clone(),
                    code: info.and_then(|i| i.code()).unwrap_or("unknown").to_string(),
                    message: info.and_then(|i| i.message()).unwrap_or("no state info").to_string(),
                });
            }
            // A FAILED replicator does not recover by itself: `--recreate` replaces it, whether
            // or not it matches the plan.
            delete(kafka, &existing, poll, timeout, progress).await?;
            return Ok(Provisioned::Recreated(create(kafka, input).await?, found));
        }
        _ => {}
    }
    existing.current_version = actual.current_version().map(str::to_string).or(existing.current_version);
    let found = differences(input, &actual);
    if found.is_empty() {
        return Ok(Provisioned::Exists(existing));
    }
    if found.iter().any(|d| !d.updatable) {
        if on_drift == OnDrift::Refuse {
            return Err(ReplicatorError::Drift { name: name.clone(), differences: found });
        }
        delete(kafka, &existing, poll, timeout, progress).await?;
        return Ok(Provisioned::Recreated(create(kafka, input).await?, found));
    }
    update(kafka, &existing, input).await?;
    Ok(Provisioned::Updated(existing, found))
}

/// Waits until `replicator` is RUNNING; FAILED comes back with AWS's state info.
pub async fn wait_running(
    kafka: &Client,
    replicator: &Replicator,
    poll: Duration,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<Replicator, ReplicatorError> {
    let started = Instant::now();
    loop {
        let described = describe_replicator(kafka, replicator).await?;
        let state = described.replicator_state().map(|s| s.as_str().to_string()).unwrap_or_default();
        progress.state(&replicator.name, &state, started.elapsed());
        match state.as_str() {
            "RUNNING" => {
                return Ok(Replicator {
                    state,
                    current_version: described.current_version().map(str::to_string),
                    ..replicator.clone()
                });
            }
            "FAILED" => {
                let info = described.state_info();
                return Err(ReplicatorError::Failed {
                    name: replicator.name.clone(),
                    code: info.and_then(|i| i.code()).unwrap_or("unknown").to_string(),
                    message: info.and_then(|i| i.message()).unwrap_or("no state info").to_string(),
                });
            }
            "DELETING" => return Err(ReplicatorError::Deleting { name: replicator.name.clone() }),
            _ => {}
        }
        if started.elapsed() >= timeout {
            return Err(ReplicatorError::TimedOut { name: replicator.name.clone(), state, waited: started.elapsed() });
        }
        tokio::time::sleep(poll).await;
    }
}
