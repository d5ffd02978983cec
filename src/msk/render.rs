//! The exact inputs of `aws kafka create-replicator` for both directions, from a plan.
//!
//! One model, two uses: serialized (the AWS CLI's member names, as `--generate-cli-skeleton`
//! prints them) into the files `migrate render` writes for review, change control or Terraform,
//! and turned into the SDK's `CreateReplicator` request ([`ReplicatorInput::request`]) for
//! `apply`. A test sends the SDK request to a capturing HTTP client and compares its body with
//! the rendered JSON, so the files carry the API's own field names.
//!
//! Both `KafkaClusters` entries carry the `VpcConfig`: the current API reference puts it on the
//! external (`ApacheKafkaCluster`) entry too — the subnets and security groups from which the
//! replicator reaches the external brokers — and on the MSK entry.

use serde::Serialize;

use crate::plan::{Compression, LogDelivery, MskSettings, Plan, ScramMechanism, Selector, StartingPosition};

/// Topics MSK Replicator must never copy: the clusters' own and its own internal topics, which
/// all start with `__` (the plan's patterns never match them either).
pub const TOPICS_TO_EXCLUDE: &[&str] = &["__.*"];

/// Which way a replicator copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ExternalToMsk,
    MskToExternal,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::ExternalToMsk, Direction::MskToExternal];

    pub fn replicator_name(self, msk: &MskSettings) -> &str {
        match self {
            Direction::ExternalToMsk => &msk.external_to_msk_name,
            Direction::MskToExternal => &msk.msk_to_external_name,
        }
    }

    /// The file-name tag of this direction.
    pub fn slug(self) -> &'static str {
        match self {
            Direction::ExternalToMsk => "external-to-msk",
            Direction::MskToExternal => "msk-to-external",
        }
    }
}

/// `CreateReplicator`'s whole input, as `--cli-input-json` takes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicatorInput {
    pub replicator_name: String,
    pub description: String,
    pub kafka_clusters: Vec<KafkaCluster>,
    pub replication_info_list: Vec<ReplicationInfo>,
    pub service_execution_role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_delivery: Option<LogDeliveryInput>,
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KafkaCluster {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apache_kafka_cluster: Option<ApacheKafkaCluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amazon_msk_cluster: Option<AmazonMskCluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_authentication: Option<ClientAuthentication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_in_transit: Option<EncryptionInTransit>,
    pub vpc_config: VpcConfig,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ApacheKafkaCluster {
    pub apache_kafka_cluster_id: String,
    pub bootstrap_broker_string: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AmazonMskCluster {
    pub msk_cluster_arn: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ClientAuthentication {
    pub sasl_scram: SaslScram,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SaslScram {
    /// `SHA512` or `SHA256`.
    pub mechanism: String,
    pub secret_arn: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionInTransit {
    pub encryption_type: String,
    /// The ARN of the secret holding the CA chain (its `certificate` key); absent for a publicly
    /// trusted certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_ca_certificate: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_kafka_cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_kafka_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_kafka_cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_kafka_cluster_arn: Option<String>,
    pub target_compression_type: String,
    pub topic_replication: TopicReplication,
    pub consumer_group_replication: ConsumerGroupReplication,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TopicReplication {
    pub topics_to_replicate: Vec<String>,
    pub topics_to_exclude: Vec<String>,
    pub copy_topic_configurations: bool,
    pub copy_access_control_lists_for_topics: bool,
    pub detect_and_copy_new_topics: bool,
    pub starting_position: TypeOnly,
    pub topic_name_configuration: TypeOnly,
}

/// `StartingPosition` and `TopicNameConfiguration`: `{"Type": …}` (the API's field; some AWS
/// articles write `Kind`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TypeOnly {
    pub r#type: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumerGroupReplication {
    pub consumer_groups_to_replicate: Vec<String>,
    pub synchronise_consumer_group_offsets: bool,
    pub detect_and_copy_new_consumer_groups: bool,
    pub consumer_group_offset_sync_mode: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LogDeliveryInput {
    pub replicator_log_delivery: ReplicatorLogDelivery,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicatorLogDelivery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogs>,
    #[serde(rename = "S3", skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Logs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firehose: Option<FirehoseLogs>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CloudWatchLogs {
    pub enabled: bool,
    pub log_group: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct S3Logs {
    pub enabled: bool,
    pub bucket: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FirehoseLogs {
    pub enabled: bool,
    pub delivery_stream: String,
}

/// The `KafkaClusters` list, the same for both directions.
pub fn kafka_clusters(plan: &Plan, msk: &MskSettings) -> Vec<KafkaCluster> {
    let vpc = VpcConfig { security_group_ids: msk.security_group_ids.clone(), subnet_ids: msk.subnet_ids.clone() };
    vec![
        KafkaCluster {
            apache_kafka_cluster: Some(ApacheKafkaCluster {
                apache_kafka_cluster_id: external_cluster_id(plan),
                bootstrap_broker_string: plan.source.replicator_bootstrap_servers.join(","),
            }),
            amazon_msk_cluster: None,
            client_authentication: Some(ClientAuthentication {
                sasl_scram: SaslScram {
                    mechanism: scram_mechanism(msk.scram_mechanism).into(),
                    secret_arn: msk.scram_secret_arn.clone(),
                },
            }),
            encryption_in_transit: Some(EncryptionInTransit {
                encryption_type: "TLS".into(),
                root_ca_certificate: msk.certificate_secret_arn.clone(),
            }),
            vpc_config: vpc.clone(),
        },
        KafkaCluster {
            apache_kafka_cluster: None,
            amazon_msk_cluster: Some(AmazonMskCluster { msk_cluster_arn: msk.cluster_arn.clone() }),
            client_authentication: None,
            encryption_in_transit: None,
            vpc_config: vpc,
        },
    ]
}

fn external_cluster_id(plan: &Plan) -> String {
    plan.source.expected_cluster_id.clone().unwrap_or_default()
}

fn scram_mechanism(mechanism: ScramMechanism) -> &'static str {
    match mechanism {
        ScramMechanism::Sha512 => "SHA512",
        ScramMechanism::Sha256 => "SHA256",
    }
}

fn compression(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "NONE",
        Compression::Gzip => "GZIP",
        Compression::Snappy => "SNAPPY",
        Compression::Lz4 => "LZ4",
        Compression::Zstd => "ZSTD",
    }
}

/// A selector as MSK Replicator's pattern (a regular expression over whole names). Exact names
/// escape only what is special outside a character class (a topic name's `.`): `order-status`
/// stays readable, where `regex::escape` would write `order\-status`.
fn pattern(selector: &Selector) -> String {
    match selector {
        Selector::Name(name) => {
            let mut escaped = String::with_capacity(name.len());
            for c in name.chars() {
                if ".^$*+?()[]{}|\\".contains(c) {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            escaped
        }
        Selector::Regex(_) => {
            let shown = selector.to_string();
            shown.trim_start_matches('/').trim_end_matches('/').to_string()
        }
    }
}

/// Where `direction`'s replicator starts reading. The forward one where the plan says (EARLIEST by
/// default: nothing is lost). The reverse one at LATEST, as AWS's bidirectional example does: it
/// is created before any app writes on MSK, so MSK holds nothing but the forward copies, which it
/// would otherwise re-read in full only to filter them out (keeping the gate waiting on its
/// MessageLag). StartingPosition cannot be updated in place: a reverse replicator created
/// otherwise is drift ([`crate::msk::differences`]).
pub fn starting_position(plan: &Plan, direction: Direction) -> &'static str {
    match (direction, plan.replication.starting_position) {
        (Direction::MskToExternal, _) | (Direction::ExternalToMsk, StartingPosition::Latest) => "LATEST",
        (Direction::ExternalToMsk, StartingPosition::Earliest) => "EARLIEST",
    }
}

/// The `ReplicationInfoList` (one entry) of `direction`.
pub fn replication_info(plan: &Plan, msk: &MskSettings, direction: Direction) -> Vec<ReplicationInfo> {
    let external = external_cluster_id(plan);
    let (source_id, source_arn, target_id, target_arn) = match direction {
        Direction::ExternalToMsk => (Some(external), None, None, Some(msk.cluster_arn.clone())),
        Direction::MskToExternal => (None, Some(msk.cluster_arn.clone()), Some(external), None),
    };
    let starting = starting_position(plan, direction);
    vec![ReplicationInfo {
        source_kafka_cluster_id: source_id,
        source_kafka_cluster_arn: source_arn,
        target_kafka_cluster_id: target_id,
        target_kafka_cluster_arn: target_arn,
        target_compression_type: compression(plan.replication.target_compression).into(),
        topic_replication: TopicReplication {
            topics_to_replicate: plan.replication.topics.iter().map(pattern).collect(),
            topics_to_exclude: TOPICS_TO_EXCLUDE.iter().map(|t| t.to_string()).collect(),
            copy_topic_configurations: true,
            copy_access_control_lists_for_topics: true,
            detect_and_copy_new_topics: true,
            starting_position: TypeOnly { r#type: starting.into() },
            topic_name_configuration: TypeOnly { r#type: "IDENTICAL".into() },
        },
        consumer_group_replication: ConsumerGroupReplication {
            consumer_groups_to_replicate: plan.replication.groups.iter().map(pattern).collect(),
            synchronise_consumer_group_offsets: !plan.replication.groups.is_empty(),
            detect_and_copy_new_consumer_groups: true,
            consumer_group_offset_sync_mode: msk.offset_sync_mode.as_str().into(),
        },
    }]
}

/// The `LogDelivery` input, `None` when the plan delivers logs nowhere.
pub fn log_delivery(delivery: &LogDelivery) -> Option<LogDeliveryInput> {
    let cloud_watch_logs =
        delivery.cloudwatch_logs_group.as_ref().map(|group| CloudWatchLogs { enabled: true, log_group: group.clone() });
    let s3 = delivery.s3_bucket.as_ref().map(|bucket| S3Logs {
        enabled: true,
        bucket: bucket.clone(),
        prefix: delivery.s3_prefix.clone(),
    });
    let firehose = delivery
        .firehose_delivery_stream
        .as_ref()
        .map(|stream| FirehoseLogs { enabled: true, delivery_stream: stream.clone() });
    if cloud_watch_logs.is_none() && s3.is_none() && firehose.is_none() {
        return None;
    }
    Some(LogDeliveryInput { replicator_log_delivery: ReplicatorLogDelivery { cloud_watch_logs, s3, firehose } })
}

/// The tag `migrate` puts on what it creates (teardown deletes only what carries it).
pub const CREATED_BY_TAG: &str = "migrate:plan";

/// The whole `CreateReplicator` input of `direction`.
pub fn replicator_input(plan: &Plan, msk: &MskSettings, direction: Direction) -> ReplicatorInput {
    let description = match direction {
        Direction::ExternalToMsk => format!("migrate plan {}: external cluster to MSK", plan.name),
        Direction::MskToExternal => format!("migrate plan {}: MSK back to the external cluster", plan.name),
    };
    ReplicatorInput {
        replicator_name: direction.replicator_name(msk).to_string(),
        description,
        kafka_clusters: kafka_clusters(plan, msk),
        replication_info_list: replication_info(plan, msk, direction),
        service_execution_role_arn: msk.service_execution_role_arn.clone(),
        log_delivery: log_delivery(&msk.log_delivery),
        tags: [(CREATED_BY_TAG.to_string(), plan.name.clone())].into_iter().collect(),
    }
}

/// The directions a plan creates: the reverse one only when replication is bidirectional.
pub fn directions(plan: &Plan) -> Vec<Direction> {
    if plan.replication.bidirectional { Direction::BOTH.to_vec() } else { vec![Direction::ExternalToMsk] }
}

/// One file `migrate render` writes.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    pub name: String,
    pub contents: String,
    /// What it is, for the listing.
    pub what: String,
}

fn json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Every file, pretty JSON with a trailing newline; the caller's policy for apply, status and
/// teardown without their optional flags.
pub fn files(plan: &Plan, msk: &MskSettings) -> Vec<RenderedFile> {
    files_for(plan, msk, crate::msk::policy::CallerUse::default())
}

/// [`files`], the caller's policy with what `caller_use`'s flags add.
pub fn files_for(plan: &Plan, msk: &MskSettings, caller_use: crate::msk::policy::CallerUse) -> Vec<RenderedFile> {
    let mut files = vec![RenderedFile {
        name: "kafka-clusters.json".into(),
        contents: json(&kafka_clusters(plan, msk)),
        what: "--kafka-clusters (both directions)".into(),
    }];
    for direction in directions(plan) {
        files.push(RenderedFile {
            name: format!("replication-info-{}.json", direction.slug()),
            contents: json(&replication_info(plan, msk, direction)),
            what: format!("--replication-info-list of {}", direction.replicator_name(msk)),
        });
    }
    if let Some(delivery) = log_delivery(&msk.log_delivery) {
        files.push(RenderedFile {
            name: "log-delivery.json".into(),
            contents: json(&delivery),
            what: "--log-delivery (both directions)".into(),
        });
    }
    for direction in directions(plan) {
        files.push(RenderedFile {
            name: format!("create-replicator-{}.json", direction.slug()),
            contents: json(&replicator_input(plan, msk, direction)),
            what: format!("--cli-input-json of {}", direction.replicator_name(msk)),
        });
    }
    files.push(RenderedFile {
        name: "replicator-role-policy.json".into(),
        contents: json(&crate::msk::policy::document(&crate::msk::policy::role_grants(msk))),
        what: format!("the role's inline policy (beside the managed {})", crate::msk::policy::MANAGED_POLICY_NAME),
    });
    files.push(RenderedFile {
        name: "caller-policy.json".into(),
        contents: json(&crate::msk::policy::document(&crate::msk::policy::caller_grants(
            msk,
            crate::msk::policy::CallerUse {
                app_scram_secrets: !plan.scram_apps_on_target().is_empty(),
                ..caller_use
            },
        ))),
        what: match (caller_use.create_secret, caller_use.delete_secrets) {
            (false, false) => "for whoever runs apply, status, teardown (render --create-secret, --delete-secrets add those flags' actions)",
            (true, false) => "for whoever runs apply (with --create-secret), status, teardown",
            (false, true) => "for whoever runs apply, status, teardown (with --delete-secrets)",
            (true, true) => "for whoever runs apply (with --create-secret), status, teardown (with --delete-secrets)",
        }
        .into(),
    });
    files.push(RenderedFile {
        name: "replicator-role-trust.json".into(),
        contents: json(&crate::msk::policy::trust_document()),
        what: "the role's trust policy".into(),
    });
    // One least-privilege policy per app that reaches the target over IAM.
    for app in plan.apps.iter().filter(|app| *app.auth_on(&plan.target) == crate::plan::Auth::MskIam) {
        files.push(RenderedFile {
            name: format!("app-{}-policy.json", app.name),
            contents: json(&crate::msk::policy::document(&crate::msk::policy::app_grants(app, msk))),
            what: match &app.role_arn {
                Some(role) => format!("app `{}`'s policy, for {role}", app.name),
                None => format!("app `{}`'s policy, for the role its clients run as", app.name),
            },
        });
    }
    files
}

impl LogDeliveryInput {
    /// The SDK's `LogDelivery` carrying exactly this setting (CreateReplicator and
    /// UpdateReplicationInfo take the same).
    pub fn sdk(&self) -> aws_sdk_kafka::types::LogDelivery {
        use aws_sdk_kafka::types as sdk;
        let logs = &self.replicator_log_delivery;
        let mut builder = sdk::ReplicatorLogDelivery::builder();
        if let Some(cloud_watch) = &logs.cloud_watch_logs {
            builder = builder.cloud_watch_logs(
                sdk::ReplicatorCloudWatchLogs::builder()
                    .enabled(cloud_watch.enabled)
                    .log_group(&cloud_watch.log_group)
                    .build(),
            );
        }
        if let Some(s3) = &logs.s3 {
            builder = builder.s3(sdk::ReplicatorS3::builder()
                .enabled(s3.enabled)
                .bucket(&s3.bucket)
                .set_prefix(s3.prefix.clone())
                .build());
        }
        if let Some(firehose) = &logs.firehose {
            builder = builder.firehose(
                sdk::ReplicatorFirehose::builder()
                    .enabled(firehose.enabled)
                    .delivery_stream(&firehose.delivery_stream)
                    .build(),
            );
        }
        sdk::LogDelivery::builder().replicator_log_delivery(builder.build()).build()
    }
}

impl ReplicatorInput {
    /// The SDK's `CreateReplicator` request carrying exactly this input.
    pub fn request(
        &self,
        client: &aws_sdk_kafka::Client,
    ) -> aws_sdk_kafka::operation::create_replicator::builders::CreateReplicatorFluentBuilder {
        use aws_sdk_kafka::types as sdk;
        let mut request = client
            .create_replicator()
            .replicator_name(&self.replicator_name)
            .description(&self.description)
            .service_execution_role_arn(&self.service_execution_role_arn);
        for cluster in &self.kafka_clusters {
            let vpc = sdk::KafkaClusterClientVpcConfig::builder()
                .set_security_group_ids(Some(cluster.vpc_config.security_group_ids.clone()))
                .set_subnet_ids(Some(cluster.vpc_config.subnet_ids.clone()))
                .build();
            let mut entry = sdk::KafkaCluster::builder().vpc_config(vpc);
            if let Some(apache) = &cluster.apache_kafka_cluster {
                entry = entry.apache_kafka_cluster(
                    sdk::ApacheKafkaCluster::builder()
                        .apache_kafka_cluster_id(&apache.apache_kafka_cluster_id)
                        .bootstrap_broker_string(&apache.bootstrap_broker_string)
                        .build(),
                );
            }
            if let Some(msk) = &cluster.amazon_msk_cluster {
                entry = entry
                    .amazon_msk_cluster(sdk::AmazonMskCluster::builder().msk_cluster_arn(&msk.msk_cluster_arn).build());
            }
            if let Some(auth) = &cluster.client_authentication {
                entry = entry.client_authentication(
                    sdk::KafkaClusterClientAuthentication::builder()
                        .sasl_scram(
                            sdk::KafkaClusterSaslScramAuthentication::builder()
                                .mechanism(sdk::KafkaClusterSaslScramMechanism::from(
                                    auth.sasl_scram.mechanism.as_str(),
                                ))
                                .secret_arn(&auth.sasl_scram.secret_arn)
                                .build(),
                        )
                        .build(),
                );
            }
            if let Some(encryption) = &cluster.encryption_in_transit {
                entry = entry.encryption_in_transit(
                    sdk::KafkaClusterEncryptionInTransit::builder()
                        .encryption_type(sdk::KafkaClusterEncryptionInTransitType::from(
                            encryption.encryption_type.as_str(),
                        ))
                        .set_root_ca_certificate(encryption.root_ca_certificate.clone())
                        .build(),
                );
            }
            request = request.kafka_clusters(entry.build());
        }
        for info in &self.replication_info_list {
            let topics = &info.topic_replication;
            let groups = &info.consumer_group_replication;
            request = request.replication_info_list(
                sdk::ReplicationInfo::builder()
                    .set_source_kafka_cluster_id(info.source_kafka_cluster_id.clone())
                    .set_source_kafka_cluster_arn(info.source_kafka_cluster_arn.clone())
                    .set_target_kafka_cluster_id(info.target_kafka_cluster_id.clone())
                    .set_target_kafka_cluster_arn(info.target_kafka_cluster_arn.clone())
                    .target_compression_type(sdk::TargetCompressionType::from(info.target_compression_type.as_str()))
                    .topic_replication(
                        sdk::TopicReplication::builder()
                            .set_topics_to_replicate(Some(topics.topics_to_replicate.clone()))
                            .set_topics_to_exclude(Some(topics.topics_to_exclude.clone()))
                            .copy_topic_configurations(topics.copy_topic_configurations)
                            .copy_access_control_lists_for_topics(topics.copy_access_control_lists_for_topics)
                            .detect_and_copy_new_topics(topics.detect_and_copy_new_topics)
                            .starting_position(
                                sdk::ReplicationStartingPosition::builder()
                                    .r#type(sdk::ReplicationStartingPositionType::from(
                                        topics.starting_position.r#type.as_str(),
                                    ))
                                    .build(),
                            )
                            .topic_name_configuration(
                                sdk::ReplicationTopicNameConfiguration::builder()
                                    .r#type(sdk::ReplicationTopicNameConfigurationType::from(
                                        topics.topic_name_configuration.r#type.as_str(),
                                    ))
                                    .build(),
                            )
                            .build(),
                    )
                    .consumer_group_replication(
                        sdk::ConsumerGroupReplication::builder()
                            .set_consumer_groups_to_replicate(Some(groups.consumer_groups_to_replicate.clone()))
                            .synchronise_consumer_group_offsets(groups.synchronise_consumer_group_offsets)
                            .detect_and_copy_new_consumer_groups(groups.detect_and_copy_new_consumer_groups)
                            .consumer_group_offset_sync_mode(sdk::ConsumerGroupOffsetSyncMode::from(
                                groups.consumer_group_offset_sync_mode.as_str(),
                            ))
                            .build(),
                    )
                    .build(),
            );
        }
        if let Some(delivery) = &self.log_delivery {
            request = request.log_delivery(delivery.sdk());
        }
        for (key, value) in &self.tags {
            request = request.tags(key, value);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_become_patterns_that_match_only_them() {
        assert_eq!(pattern(&Selector::Name("order-status".into())), "order-status");
        assert_eq!(pattern(&Selector::Name("shop.orders_v2".into())), r"shop\.orders_v2");
        let regex = regex::Regex::new(&format!("^(?:{})$", pattern(&Selector::Name("shop.orders".into())))).unwrap();
        assert!(regex.is_match("shop.orders") && !regex.is_match("shopXorders"));
        let written = Selector::Regex(regex::Regex::new(r"^(?:orders\..*)$").unwrap());
        assert_eq!(pattern(&written), r"orders\..*");
    }
}
