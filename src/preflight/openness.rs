//! Whether a cluster lets everyone use a resource no ACL applies to, found by behaviour: preflight
//! warns about it, and `apply`'s ACL sync refuses to close such a target without `--yes`.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::acl::{self, Requirement};
use super::permissions::describe;
use crate::kafka::acl::{AclBinding, AclOperation, ResourceType};
use crate::kafka::{CaptureContext, Identity, client_config};
use crate::plan::{Auth, Cluster};

/// The prefix of the topic the openness probe asks about: a name nobody uses.
pub const OPENNESS_PROBE_TOPIC_PREFIX: &str = "migrate-openness-probe-";

/// Whether `cluster` lets everyone use a resource no ACL applies to
/// (`allow.everyone.if.no.acl.found`), found by behaviour: Apache Kafka keeps that setting with
/// its authorizer, and DescribeConfigs of a broker does not return it.
///
/// The replicator (logged in with SCRAM: over MSK IAM, IAM policies decide, not ACLs) asks for the
/// metadata of a topic that does not exist and that no binding of `bindings` (the cluster's ACLs,
/// for every principal) applies to: the authorizer then answers with its no-ACL rule alone.
/// TOPIC_AUTHORIZATION_FAILED is closed; UNKNOWN_TOPIC_OR_PART is open. The request forbids
/// auto-creation (`allow.auto.create.topics=false` on a consumer-type client), so nothing is
/// created. A replicator that is a super user reads as open, which errs on the side of the
/// warning. (Describing an unknown group instead needs the group coordinator, which a fresh
/// cluster has yet to create: measured timing out on Kafka 3.9.1.)
pub fn probe_open_to_everyone(cluster: &Cluster, bindings: &[AclBinding], timeout: Duration) -> Result<bool, String> {
    if !matches!(cluster.replicator_auth, Auth::Scram(_)) {
        return Err("not probed: the replicator does not log in with SCRAM, so ACLs do not govern it".into());
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let topic = format!("{OPENNESS_PROBE_TOPIC_PREFIX}{}-{nanos}", std::process::id());
    let probe = Requirement {
        resource_type: ResourceType::Topic,
        resource_name: topic.clone(),
        operation: AclOperation::Describe,
    };
    if let Some(binding) = bindings.iter().find(|b| acl::governed(std::slice::from_ref(b), &probe)) {
        return Err(format!("not probed: every topic name is governed by an ACL ({})", describe(binding)));
    }
    let mut config = client_config(cluster, Identity::Replicator).map_err(|error| error.to_string())?;
    config.set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer<CaptureContext> =
        config.create_with_context(CaptureContext::for_cluster(cluster)).map_err(|error| error.to_string())?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), timeout)
        .map_err(|error| format!("probe (metadata of topic `{topic}`, which no ACL governs): {error}"))?;
    match metadata.topics().first().and_then(|t| t.error()).map(RDKafkaErrorCode::from) {
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => Ok(false),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) | None => Ok(true),
        Some(other) => Err(format!("probe (metadata of topic `{topic}`, which no ACL governs): {other}")),
    }
}
