//! The readiness gate on MSK, from CloudWatch: MSK Replicator's metrics and MSK's SumOffsetLag
//! (namespace `AWS/Kafka`), read with GetMetricData over the gate's window and judged minute by
//! minute.
//!
//! CloudWatch publishes per minute and late, so the window is in whole minutes and ends
//! [`LATE_MINUTES`] before now. A condition holds *sustained* when every minute of the window has
//! a value that meets it. Several series of one condition (one per replicator, or per group and
//! topic) count together: a minute is known only when every series has it, and its value is the
//! worst of them.
//!
//! Per metric, after AWS's metrics reference (how it is published) and its readiness list for
//! external migrations (what healthy is) — each a [`Series`] with its statistic, rule and the
//! meaning of a minute without a datapoint ([`Missing`]):
//! - `ReplicatorFailure`, `ReplicationFailures`, `ConsumerGroupOffsetSyncFailure`: counts of
//!   failures, read as `Sum` (every failure of the minute), `= 0`. A minute without a datapoint is
//!   0: a count is published when there is something to count. That is safe only because the ping
//!   condition below, for which a missing minute is unknown, proves the replicator was publishing
//!   in every minute of the window.
//! - `KafkaClusterPingSuccessCount` (per replicator and cluster alias): published as a Sum of
//!   successful pings, so a healthy minute can read more than 1: `Sum >= 1` in every minute; a
//!   minute without a datapoint is unknown (no proof of a ping).
//! - `ConsumerGroupCount`: the groups the replicator syncs, read as `Maximum` (the value of one
//!   publication: a `Sum` over a minute with two publications would count every group twice),
//!   `>= expected` (its patterns may match more groups than the plan names; fewer is a
//!   configuration or permission problem); missing is unknown.
//! - `MessageLag`, `ReplicationLatency`, `SumOffsetLag`: `Maximum` (the worst of the minute),
//!   `<=` the plan's limit; missing is unknown, never 0 (an idle replicator still publishes its
//!   lag; a minute without it proves nothing).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

use crate::aws::{AwsError, classify};
use crate::gate::{Condition, Gate};
use crate::plan::{MskSettings, Plan, Readiness, Side};

pub const NAMESPACE: &str = "AWS/Kafka";
/// CloudWatch's resolution for these metrics.
pub const PERIOD_SECONDS: i64 = 60;
/// Minutes a datapoint may take to appear: the window ends this long before now.
pub const LATE_MINUTES: i64 = 2;

/// How a condition's value is judged, and which of several values is the worst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Equals(f64),
    AtMost(f64),
    AtLeast(f64),
}

impl Rule {
    fn holds(self, value: f64) -> bool {
        match self {
            Rule::Equals(expected) => value == expected,
            Rule::AtMost(limit) => value <= limit,
            Rule::AtLeast(floor) => value >= floor,
        }
    }

    fn threshold(self) -> String {
        match self {
            Rule::Equals(expected) => format!("= {expected}"),
            Rule::AtMost(limit) => format!("<= {limit}"),
            Rule::AtLeast(floor) => format!(">= {floor} in every minute"),
        }
    }
}

/// One CloudWatch series the gate reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// GetMetricData's query ID.
    pub id: String,
    pub metric: &'static str,
    pub statistic: &'static str,
    pub dimensions: Vec<(String, String)>,
    /// The condition it feeds: name and cluster.
    pub condition: &'static str,
    pub cluster: Option<Side>,
    pub rule: Rule,
    /// Of several series of one condition, the worst is the smallest (pings) or the largest.
    pub worst_is_min: bool,
    /// What a minute without a datapoint means for this metric.
    pub missing: Missing,
}

/// What a minute without a datapoint means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Nothing is known: the condition does not hold that minute.
    Unknown,
    /// Nothing was counted: 0 (failure counts only).
    Zero,
}

/// The replicators' cluster aliases (DescribeReplicator's `KafkaClusterAlias`), which the ping
/// metric's `ClusterAlias` dimension uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aliases {
    /// Replicator name → (alias of the external cluster, alias of the MSK cluster).
    pub by_replicator: BTreeMap<String, (String, String)>,
}

/// Every series the gate needs for `plan`.
pub fn series(plan: &Plan, msk: &MskSettings, aliases: &Aliases, expected_groups: u64) -> Vec<Series> {
    let readiness = &plan.readiness;
    let mut list = Vec::new();
    let mut push = |metric, statistic, dimensions: Vec<(String, String)>, cluster, rule, worst_is_min, missing| {
        let id = format!("q{}", list.len());
        list.push(Series {
            id,
            metric,
            statistic,
            dimensions,
            condition: metric,
            cluster,
            rule,
            worst_is_min,
            missing,
        });
    };
    let names: Vec<&str> = crate::msk::render::directions(plan).into_iter().map(|d| d.replicator_name(msk)).collect();
    for name in &names {
        let by = |extra: &[(&str, &str)]| {
            let mut dimensions = vec![("ReplicatorName".to_string(), name.to_string())];
            dimensions.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            dimensions
        };
        for failures in ["ReplicatorFailure", "ReplicationFailures", "ConsumerGroupOffsetSyncFailure"] {
            push(failures, "Sum", by(&[]), None, Rule::Equals(0.0), false, Missing::Zero);
        }
        push(
            "MessageLag",
            "Maximum",
            by(&[]),
            None,
            Rule::AtMost(readiness.max_message_lag as f64),
            false,
            Missing::Unknown,
        );
        push(
            "ReplicationLatency",
            "Maximum",
            by(&[]),
            None,
            Rule::AtMost(readiness.max_replication_latency.as_millis() as f64),
            false,
            Missing::Unknown,
        );
        if let Some((external, msk_alias)) = aliases.by_replicator.get(*name) {
            for (alias, side) in [(external, Side::Source), (msk_alias, Side::Target)] {
                push(
                    "KafkaClusterPingSuccessCount",
                    "Sum",
                    by(&[("ClusterAlias", alias)]),
                    Some(side),
                    Rule::AtLeast(1.0),
                    true,
                    Missing::Unknown,
                );
            }
        }
    }
    if let Some(forward) = names.first() {
        push(
            "ConsumerGroupCount",
            "Maximum",
            vec![("ReplicatorName".to_string(), forward.to_string())],
            Some(Side::Target),
            Rule::AtLeast(expected_groups as f64),
            true,
            Missing::Unknown,
        );
    }
    // MSK's consumer-lag metric; its dimension names contain spaces.
    let cluster = msk.cluster().name;
    for app in &plan.apps {
        for consume in &app.consumes {
            for topic in &consume.topics {
                push(
                    "SumOffsetLag",
                    "Maximum",
                    vec![
                        ("Cluster Name".to_string(), cluster.clone()),
                        ("Consumer Group".to_string(), consume.group.clone()),
                        ("Topic".to_string(), topic.clone()),
                    ],
                    Some(Side::Target),
                    Rule::AtMost(readiness.max_sum_offset_lag as f64),
                    false,
                    Missing::Unknown,
                );
            }
        }
    }
    list
}

/// The window of whole minutes the gate judges, ending [`LATE_MINUTES`] before `now_seconds`:
/// (first minute's start, last minute's start), in seconds since the epoch.
pub fn window(readiness: &Readiness, now_seconds: i64) -> (i64, i64) {
    let minutes = (readiness.sustained_for.as_secs() as i64).div_euclid(PERIOD_SECONDS).max(1);
    let last = now_seconds.div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS - LATE_MINUTES * PERIOD_SECONDS;
    (last - (minutes - 1) * PERIOD_SECONDS, last)
}

/// Datapoints by query ID: (minute start in seconds, value).
pub type Datapoints = HashMap<String, Vec<(i64, f64)>>;

/// Reads every series over `[first, last + 1 minute)`, all pages.
pub async fn fetch(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    series: &[Series],
    first: i64,
    last: i64,
) -> Result<Datapoints, AwsError> {
    let mut found: Datapoints = HashMap::new();
    // GetMetricData takes at most 500 queries a call.
    for chunk in series.chunks(500) {
        let queries: Vec<MetricDataQuery> = chunk.iter().map(query).collect();
        let mut next = None;
        loop {
            let page = cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(first))
                .end_time(DateTime::from_secs(last + PERIOD_SECONDS))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next)
                .send()
                .await
                .map_err(|error| classify(&error, "cloudwatch:GetMetricData", NAMESPACE))?;
            for result in page.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let points = found.entry(id.to_string()).or_default();
                for (timestamp, value) in result.timestamps().iter().zip(result.values()) {
                    points.push((timestamp.secs().div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS, *value));
                }
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

fn query(series: &Series) -> MetricDataQuery {
    let dimensions =
        series.dimensions.iter().map(|(name, value)| Dimension::builder().name(name).value(value).build()).collect();
    MetricDataQuery::builder()
        .id(&series.id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(series.metric)
                        .set_dimensions(Some(dimensions))
                        .build(),
                )
                .period(PERIOD_SECONDS as i32)
                .stat(series.statistic)
                .build(),
        )
        .return_data(true)
        .build()
}

/// Judges every condition over the window `[first, last]` (minute starts) and builds the gate.
pub fn judge(series: &[Series], datapoints: &Datapoints, first: i64, last: i64, now_ms: u64) -> Gate {
    let mut groups: BTreeMap<(&str, Option<Side>), Vec<&Series>> = BTreeMap::new();
    for one in series {
        groups.entry((one.condition, one.cluster)).or_default().push(one);
    }
    let minutes: Vec<i64> = (0..).map(|i| first + i * PERIOD_SECONDS).take_while(|m| *m <= last).collect();
    let mut conditions = Vec::new();
    for ((name, cluster), members) in groups {
        let rule = members[0].rule;
        let worst_is_min = members[0].worst_is_min;
        // The condition's value per minute: known only when every series has that minute.
        let value_at = |minute: i64| -> Option<f64> {
            let mut worst: Option<f64> = None;
            for member in &members {
                let found = datapoints.get(&member.id).and_then(|points| points.iter().find(|(m, _)| *m == minute));
                let value = match (found, member.missing) {
                    (Some((_, value)), _) => *value,
                    (None, Missing::Zero) => 0.0,
                    (None, Missing::Unknown) => return None,
                };
                worst = Some(match worst {
                    None => value,
                    Some(w) if worst_is_min => w.min(value),
                    Some(w) => w.max(value),
                });
            }
            worst
        };
        let values: Vec<Option<f64>> = minutes.iter().map(|m| value_at(*m)).collect();
        let latest = values.last().copied().flatten();
        let ok = latest.is_some_and(|v| rule.holds(v));
        // Since when it holds without a gap, counting back from the latest minute.
        let mut holding_since = None;
        for (minute, value) in minutes.iter().zip(&values).rev() {
            if value.is_some_and(|v| rule.holds(v)) {
                holding_since = Some((*minute as u64) * 1000);
            } else {
                break;
            }
        }
        let sustained = values.iter().all(|v| v.is_some_and(|v| rule.holds(v)));
        conditions.push(Condition {
            name: name.to_string(),
            cluster,
            value: latest,
            threshold: rule.threshold(),
            ok,
            holding_since_ms: holding_since,
            sustained,
        });
    }
    let open = !conditions.is_empty() && conditions.iter().all(|c| c.sustained);
    let window_ms = ((last - first + PERIOD_SECONDS) * 1000) as u64;
    Gate { open, window_ms, evaluated_at_ms: now_ms, conditions }
}

/// The cluster aliases of each replicator, from DescribeReplicator.
pub fn aliases_of(
    replicator: &str,
    described: &aws_sdk_kafka::operation::describe_replicator::DescribeReplicatorOutput,
) -> Aliases {
    let mut external = None;
    let mut msk = None;
    for cluster in described.kafka_clusters() {
        let alias = cluster.kafka_cluster_alias().map(str::to_string);
        if cluster.apache_kafka_cluster().is_some() {
            external = alias;
        } else if cluster.amazon_msk_cluster().is_some() {
            msk = alias;
        }
    }
    let mut aliases = Aliases::default();
    if let (Some(external), Some(msk)) = (external, msk) {
        aliases.by_replicator.insert(replicator.to_string(), (external, msk));
    }
    aliases
}

/// The gate from CloudWatch now: both replicators must exist and run (their cluster aliases name
/// the ping series), then every series is read over the window ending [`LATE_MINUTES`] before
/// `now_seconds` and judged. A replicator that is missing or not RUNNING is an error naming it.
pub async fn gate_now(
    plan: &Plan,
    msk: &MskSettings,
    kafka: &aws_sdk_kafka::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    expected_groups: u64,
    now_seconds: i64,
) -> Result<Gate, String> {
    let mut aliases = Aliases::default();
    for direction in crate::msk::render::directions(plan) {
        let name = direction.replicator_name(msk);
        let replicator = crate::msk::find(kafka, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("MSK Replicator `{name}` does not exist: run `migrate apply`"))?;
        if replicator.state != "RUNNING" {
            return Err(format!("MSK Replicator `{name}` is {}, not RUNNING", replicator.state));
        }
        let described = crate::msk::describe_replicator(kafka, &replicator).await.map_err(|e| e.to_string())?;
        aliases.by_replicator.extend(aliases_of(name, &described).by_replicator);
    }
    let series = series(plan, msk, &aliases, expected_groups);
    let (first, last) = window(&plan.readiness, now_seconds);
    let datapoints = fetch(cloudwatch, &series, first, last).await.map_err(|e| e.to_string())?;
    Ok(judge(&series, &datapoints, first, last, (now_seconds * 1000) as u64))
}
