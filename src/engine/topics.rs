//! Topic sync: the target gets every replicated topic of the source, with the same partition
//! count and the source's replicable configs; a partition-count mismatch is reported, never
//! silently skipped. Topics are created on the target only: a topic that appears first on the
//! target (an app that moved created it) is reported until someone creates it on the source, so
//! the replicator needs no Create on the cluster being left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::{CaptureContext, describe_topic_configs};
use crate::plan::{INTERNAL_TOPIC_PREFIX, Plan};

pub type Admin = crate::kafka::Served<AdminClient<CaptureContext>>;

/// Topic configs copied to the destination when it creates a topic.
pub const REPLICABLE_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "segment.bytes",
    "segment.ms",
    "compression.type",
    "message.timestamp.type",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
];

#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Topics to replicate in this direction, with their partition count.
    pub replicated: BTreeMap<String, i32>,
    /// Topics this sync created on the destination, with the configs it copied.
    pub created: Vec<(String, Vec<(String, String)>)>,
    /// Configs of created topics the destination refused, per topic (a config removed in a newer
    /// Kafka, such as `message.timestamp.difference.max.ms` in 4.0, or read-only on MSK Express):
    /// the topic was created without them.
    pub skipped: Vec<(String, Vec<(String, String)>)>,
    /// (topic, origin partitions, destination partitions): not replicated.
    pub mismatched: Vec<(String, i32, i32)>,
    /// Topics missing on a destination the engine does not create topics on (the source), with
    /// the origin's partition count: not replicated until created there.
    pub missing: Vec<(String, i32)>,
}

/// The topics of `admin`'s cluster the plan replicates, with partition counts.
pub fn planned_topics(admin: &Admin, plan: &Plan, timeout: Duration) -> Result<BTreeMap<String, i32>, String> {
    planned_topics_of(admin, &plan.replication, timeout)
}

fn planned_topics_of(
    admin: &Admin,
    replication: &crate::plan::Replication,
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, String> {
    let metadata = admin.inner().fetch_metadata(None, timeout).map_err(|e| format!("cannot list topics: {e}"))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with(INTERNAL_TOPIC_PREFIX))
        .filter(|t| replication.replicates_topic(t.name()))
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// `work` on a blocking thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| format!("a metadata request's task failed: {e}"))?
}

/// Makes every planned topic of the origin exist on the destination when `create` (the target),
/// else lists the missing ones.
///
/// The metadata requests block for up to `timeout` on a cluster that is away: they run on
/// blocking threads, so the engine's loop, which awaits this, goes on publishing its status
/// meanwhile (the gate showed open, stale, for 20 s and more of a cut link).
pub async fn sync(
    origin: &Arc<Admin>,
    dest: &Arc<Admin>,
    plan: &Plan,
    create: bool,
    timeout: Duration,
) -> Result<SyncOutcome, String> {
    let (origin_admin, replication) = (Arc::clone(origin), plan.replication.clone());
    let origin_topics = blocking(move || planned_topics_of(&origin_admin, &replication, timeout)).await?;
    let dest_admin = Arc::clone(dest);
    let dest_topics = blocking(move || all_topics(&dest_admin, timeout)).await?;
    let mut outcome = SyncOutcome::default();
    let mut to_create = Vec::new();
    for (topic, partitions) in &origin_topics {
        match dest_topics.get(topic) {
            Some(dest_partitions) if dest_partitions == partitions => {
                outcome.replicated.insert(topic.clone(), *partitions);
            }
            Some(dest_partitions) => outcome.mismatched.push((topic.clone(), *partitions, *dest_partitions)),
            None => to_create.push((topic.clone(), *partitions)),
        }
    }
    if !create {
        outcome.missing = to_create;
        return Ok(outcome);
    }
    if to_create.is_empty() {
        return Ok(outcome);
    }
    let mut configs = replicable_configs(origin, to_create.iter().map(|(t, _)| t.as_str()), timeout).await?;
    for (topic, partitions) in &to_create {
        let Some(wanted) = configs.remove(topic) else { continue };
        let (accepted, refused) = accepted_configs(dest, topic, *partitions, wanted, timeout).await?;
        if !refused.is_empty() {
            outcome.skipped.push((topic.clone(), refused));
        }
        configs.insert(topic.clone(), accepted);
    }
    let new_topics: Vec<NewTopic> = to_create
        .iter()
        .map(|(topic, partitions)| {
            let mut new = NewTopic::new(topic, *partitions, TopicReplication::Fixed(-1));
            for (key, value) in configs.get(topic).into_iter().flatten() {
                new = new.set(key, value);
            }
            new
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = dest.create_topics(&new_topics, &options).await.map_err(|e| format!("CreateTopics failed: {e}"))?;
    for (result, (topic, partitions)) in results.into_iter().zip(&to_create) {
        match result {
            Ok(_) => {
                outcome.created.push((topic.clone(), configs.get(topic).cloned().unwrap_or_default()));
                outcome.replicated.insert(topic.clone(), *partitions);
            }
            // Created meanwhile (by the other direction, or by hand): checked on the next sync.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(format!("cannot create topic `{topic}`: {code}")),
        }
    }
    Ok(outcome)
}

/// Splits `configs` into those the destination accepts for a new topic and those it refuses,
/// asking the destination itself (CreateTopics with `validate_only`, which creates nothing): all
/// at once first, then, when that is refused, one by one.
async fn accepted_configs(
    dest: &Admin,
    topic: &str,
    partitions: i32,
    configs: Vec<(String, String)>,
    timeout: Duration,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), String> {
    let validates = |configs: Vec<(String, String)>| async move {
        let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
        for (key, value) in &configs {
            new = new.set(key, value);
        }
        let options =
            AdminOptions::new().validate_only(true).operation_timeout(Some(timeout)).request_timeout(Some(timeout));
        let results = dest
            .create_topics(&[new], &options)
            .await
            .map_err(|e| format!("CreateTopics (validate only) failed: {e}"))?;
        Ok::<bool, String>(match results.into_iter().next() {
            Some(Err((_, RDKafkaErrorCode::InvalidConfig))) => false,
            // Anything else (accepted, already exists, not authorized) is not about the configs:
            // the real CreateTopics reports it.
            _ => true,
        })
    };
    if validates(configs.clone()).await? {
        return Ok((configs, Vec::new()));
    }
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for config in configs {
        if validates(vec![config.clone()]).await? { accepted.push(config) } else { refused.push(config) }
    }
    Ok((accepted, refused))
}

fn all_topics(admin: &Admin, timeout: Duration) -> Result<BTreeMap<String, i32>, String> {
    let metadata = admin.inner().fetch_metadata(None, timeout).map_err(|e| format!("cannot list topics: {e}"))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

async fn replicable_configs<'a>(
    admin: &Admin,
    topics: impl Iterator<Item = &'a str>,
    timeout: Duration,
) -> Result<BTreeMap<String, Vec<(String, String)>>, String> {
    let topics: Vec<&str> = topics.collect();
    let mut configs = BTreeMap::new();
    for (topic, result) in describe_topic_configs(admin, &topics, timeout).await? {
        let resource = result.map_err(|code| format!("DescribeConfigs of `{topic}` failed: {code}"))?;
        let copied: Vec<(String, String)> = resource
            .entries
            .iter()
            // Defaults included: the destination's broker defaults may differ (MSK's do), and the
            // topic should behave as it does on the origin.
            .filter(|entry| REPLICABLE_CONFIGS.contains(&entry.name.as_str()))
            .filter_map(|entry| entry.value.clone().map(|value| (entry.name.clone(), value)))
            .collect();
        configs.insert(topic, copied);
    }
    Ok(configs)
}
