//! The engine's health, under the names MSK Replicator uses (`MessageLag`, `ReplicationLatency`,
//! `ReplicatorThroughput`, `ReplicatorFailure`, `KafkaClusterPingSuccessCount`, `AuthError`,
//! `ThrottleTime`), plus what the cutover needs and MessageLag is not: the per-partition lag
//! between origin and destination (records on the origin whose copy the destination has not yet
//! acknowledged).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Alarm;
use super::groups::GroupsReport;
use crate::gate::Gate;
use crate::plan::Side;

/// What one partition of one flow looks like.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionHealth {
    /// The origin's high watermark (from librdkafka's statistics, refreshed every second).
    pub origin_high: i64,
    /// The next origin offset the flow will read.
    pub position: i64,
    /// The next origin offset whose copy is not yet acknowledged by the destination (everything
    /// before it is copied or was a copy from the destination, skipped).
    pub replicated_to: i64,
    /// `origin_high - position`: the flow's consumer lag (MSK's MessageLag).
    pub message_lag: i64,
    /// `origin_high - replicated_to`: records not yet on the destination.
    pub replication_lag: i64,
}

/// One flow's health over the last measurement window.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlowHealth {
    /// Sum of the partitions' consumer lag (records).
    pub message_lag: i64,
    /// Sum of the partitions' origin-to-destination lag (records).
    pub replication_lag: i64,
    /// Mean and maximum, over the last window, of the time from a record's timestamp on the
    /// origin to the destination's acknowledgement of its copy (ms); `None` when nothing was
    /// copied in the window.
    pub replication_latency_ms: Option<LatencyWindow>,
    /// Bytes (key + value) acknowledged per second over the last window.
    pub replicator_throughput: f64,
    /// Records acknowledged per second over the last window.
    pub records_per_second: f64,
    /// Records copied and acknowledged since the engine started.
    pub records_copied: u64,
    /// Copies from the destination seen on the origin and not copied back (loop prevention).
    pub records_skipped: u64,
    /// Failures since the engine started: failed replication sessions (each resumed from the
    /// destination's tail) and outages of a whole cluster seen by the flow's clients.
    pub replicator_failure: u64,
    /// Authentication failures reported by the flow's clients.
    pub auth_error: u64,
    /// The largest broker throttle time reported in the last statistics (ms).
    pub throttle_time_ms: i64,
    pub partitions: BTreeMap<String, PartitionHealth>,
}

/// How long a flow needs to copy what it lags by, at its current rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CatchUp {
    CaughtUp,
    /// At `rate` records/s, about `seconds`.
    In {
        seconds: f64,
        rate: f64,
    },
    /// Behind, with no progress in the last window.
    Unknown,
}

impl FlowHealth {
    pub fn catch_up(&self) -> CatchUp {
        match (self.replication_lag, self.records_per_second) {
            (0, _) => CatchUp::CaughtUp,
            (lag, rate) if rate > 0.0 => CatchUp::In { seconds: lag as f64 / rate, rate },
            _ => CatchUp::Unknown,
        }
    }

    /// Whether the lag grew since `previous` (from a non-zero lag): replication slower than
    /// production.
    pub fn lag_grew_since(&self, previous: &FlowHealth) -> bool {
        self.replication_lag > previous.replication_lag && previous.replication_lag > 0
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LatencyWindow {
    pub avg: f64,
    pub max: i64,
    pub count: u64,
}

/// Accumulates acknowledged copies over a window and turns them into rates.
#[derive(Debug)]
pub struct Window {
    started: Instant,
    records: u64,
    bytes: u64,
    latency_sum: i64,
    latency_max: i64,
}

impl Default for Window {
    fn default() -> Self {
        Self { started: Instant::now(), records: 0, bytes: 0, latency_sum: 0, latency_max: 0 }
    }
}

impl Window {
    pub fn add(&mut self, bytes: u64, latency_ms: i64) {
        self.records += 1;
        self.bytes += bytes;
        self.latency_sum += latency_ms.max(0);
        self.latency_max = self.latency_max.max(latency_ms);
    }

    /// Rates and latency for the window so far, then starts a new window when it is older than
    /// `length`.
    pub fn roll(&mut self, length: Duration) -> (f64, f64, Option<LatencyWindow>) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let latency = (self.records > 0).then(|| LatencyWindow {
            avg: self.latency_sum as f64 / self.records as f64,
            max: self.latency_max,
            count: self.records,
        });
        let rates = (self.bytes as f64 / seconds, self.records as f64 / seconds, latency);
        if self.started.elapsed() >= length {
            *self = Window::default();
        }
        rates
    }
}

/// The whole engine's health, as `/status` serves it and `migrate status` prints it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Health {
    pub flows: BTreeMap<String, FlowHealth>,
    /// Per cluster: 1 when the last metadata request succeeded, 0 when it failed.
    pub kafka_cluster_ping_success_count: BTreeMap<String, u8>,
    pub alarms: Vec<Alarm>,
}

/// `name{labels} value` lines in the Prometheus text format (0.0.4).
///
/// Beyond MSK's names: `ReadinessGateOpen`, each gate condition (`ReadinessGateCondition`: 1 when
/// it held for the window) and where each app runs (`AppSide`: 1 on its side, 0 on the other), so
/// a dashboard shows the gate's parts and the moves over time.
pub fn prometheus(
    plan: &str,
    health: &Health,
    groups: &GroupsReport,
    gate: &Gate,
    apps: &BTreeMap<String, Side>,
) -> String {
    let plan_label = format!("plan=\"{}\"", escape(plan));
    let mut gauges = Gauges::default();
    gauges.flows(plan, health);
    gauges.cluster_pings(&plan_label, health);
    gauges.partitions(plan, health);
    gauges.split_brain_alarms(&plan_label, health);
    gauges.groups(&plan_label, groups);
    gauges.gate(&plan_label, gate);
    gauges.app_sides(&plan_label, apps);
    gauges.text
}

/// The Prometheus text written so far, one gauge after another.
#[derive(Default)]
struct Gauges {
    text: String,
}

impl Gauges {
    /// One gauge: its help, its type and a line per sample (labels, value).
    fn gauge(&mut self, name: &str, help: &str, samples: Vec<(String, String)>) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
        }
    }

    /// MSK's per-replicator metrics, one sample per flow.
    fn flows(&mut self, plan: &str, health: &Health) {
        let per_flow = |value: &dyn Fn(&FlowHealth) -> String| -> Vec<(String, String)> {
            health.flows.iter().map(|(flow, f)| (flow_labels(plan, flow), value(f))).collect()
        };
        self.gauge(
            "MessageLag",
            "Records the engine's consumer is behind the origin (sum over partitions).",
            per_flow(&|f| f.message_lag.to_string()),
        );
        self.gauge(
            "ReplicationLatency",
            "Mean time from a record's timestamp on the origin to the destination's acknowledgement of its copy, last window (ms).",
            per_flow(&|f| f.replication_latency_ms.map_or("NaN".into(), |l| format!("{:.1}", l.avg))),
        );
        self.gauge(
            "ReplicatorThroughput",
            "Bytes acknowledged by the destination per second, last window.",
            per_flow(&|f| format!("{:.1}", f.replicator_throughput)),
        );
        self.gauge(
            "ReplicatorFailure",
            "Failed replication sessions and whole-cluster outages since start.",
            per_flow(&|f| f.replicator_failure.to_string()),
        );
        self.gauge(
            "AuthError",
            "Authentication failures reported by the flow's clients.",
            per_flow(&|f| f.auth_error.to_string()),
        );
        self.gauge(
            "ThrottleTime",
            "Largest broker throttle time in the last statistics (ms).",
            per_flow(&|f| f.throttle_time_ms.to_string()),
        );
    }

    fn cluster_pings(&mut self, plan_label: &str, health: &Health) {
        self.gauge(
            "KafkaClusterPingSuccessCount",
            "1 when the cluster answered the engine's last metadata request, else 0.",
            health
                .kafka_cluster_ping_success_count
                .iter()
                .map(|(cluster, ok)| (format!("{plan_label},ClusterAlias=\"{}\"", escape(cluster)), ok.to_string()))
                .collect(),
        );
    }

    /// Each partition's lag between origin and destination.
    fn partitions(&mut self, plan: &str, health: &Health) {
        let mut partitions = Vec::new();
        for (flow, f) in &health.flows {
            for (key, p) in &f.partitions {
                let (topic, partition) = key.rsplit_once('/').unwrap_or((key, ""));
                partitions.push((
                    format!("{},Topic=\"{}\",Partition=\"{partition}\"", flow_labels(plan, flow), escape(topic)),
                    p.replication_lag.to_string(),
                ));
            }
        }
        self.gauge(
            "ReplicationLag",
            "Records on the origin whose copy the destination has not acknowledged, per partition.",
            partitions,
        );
    }

    fn split_brain_alarms(&mut self, plan_label: &str, health: &Health) {
        self.gauge(
            "SplitBrainAlarm",
            "Split-brain alarms raised (native writes on a side that is not the partition's writer).",
            vec![(plan_label.to_string(), health.alarms.len().to_string())],
        );
    }

    /// The offset sync's last pass: groups per cluster, failures, and each group's lag per topic.
    fn groups(&mut self, plan_label: &str, groups: &GroupsReport) {
        self.gauge(
            "ConsumerGroupCount",
            "Synchronised consumer groups with committed offsets on the cluster.",
            groups
                .consumer_group_count
                .iter()
                .map(|(side, count)| (format!("{plan_label},ClusterAlias=\"{side}\""), count.to_string()))
                .collect(),
        );
        self.gauge(
            "ConsumerGroupOffsetSyncFailure",
            "Failed offset synchronisation passes since start.",
            vec![(plan_label.to_string(), groups.consumer_group_offset_sync_failure.to_string())],
        );
        let mut lags = Vec::new();
        for (group, report) in &groups.groups {
            for (side, side_report) in &report.sides {
                for (topic, lag) in &side_report.sum_offset_lag {
                    if let Some(lag) = lag {
                        lags.push((
                            format!(
                                "{plan_label},ClusterAlias=\"{side}\",ConsumerGroup=\"{}\",Topic=\"{}\"",
                                escape(group),
                                escape(topic)
                            ),
                            lag.to_string(),
                        ));
                    }
                }
            }
        }
        self.gauge("SumOffsetLag", "High watermark minus committed offset, summed over the topic's partitions.", lags);
    }

    /// The readiness gate and each of its conditions.
    fn gate(&mut self, plan_label: &str, gate: &Gate) {
        self.gauge(
            "ReadinessGateOpen",
            "1 when every readiness condition held for the plan's window, else 0.",
            vec![(plan_label.to_string(), u8::from(gate.open).to_string())],
        );
        self.gauge(
            "ReadinessGateCondition",
            "1 when the readiness condition held for the plan's window, else 0.",
            gate.conditions
                .iter()
                .map(|condition| {
                    let cluster = condition.cluster.map_or(String::new(), |side| format!(",ClusterAlias=\"{side}\""));
                    (
                        format!("{plan_label},Condition=\"{}\"{cluster}", escape(&condition.name)),
                        u8::from(condition.sustained).to_string(),
                    )
                })
                .collect(),
        );
    }

    /// Where each app runs: a sample per app and cluster.
    fn app_sides(&mut self, plan_label: &str, apps: &BTreeMap<String, Side>) {
        let mut sides = Vec::new();
        for (app, active) in apps {
            for side in [Side::Source, Side::Target] {
                sides.push((
                    format!("{plan_label},App=\"{}\",ClusterAlias=\"{side}\"", escape(app)),
                    u8::from(*active == side).to_string(),
                ));
            }
        }
        self.gauge("AppSide", "1 on the cluster the app runs on (control.json), 0 on the other.", sides);
    }
}

/// The labels of a flow's samples: the plan and MSK's name for the flow's replicator.
fn flow_labels(plan: &str, flow: &str) -> String {
    format!("plan=\"{}\",ReplicatorName=\"{}\"", escape(plan), escape(&replicator_name(plan, flow)))
}

/// MSK's replicator names for the plan's two directions.
pub fn replicator_name(plan: &str, flow: &str) -> String {
    match flow {
        "source->target" => format!("{plan}-external-to-msk"),
        "target->source" => format!("{plan}-msk-to-external"),
        other => format!("{plan}-{other}"),
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_msk_names_with_labels() {
        let mut health = Health::default();
        let mut flow = FlowHealth { message_lag: 7, replicator_failure: 2, ..Default::default() };
        flow.partitions.insert("orders/3".into(), PartitionHealth { replication_lag: 5, ..Default::default() });
        health.flows.insert("source->target".into(), flow);
        health.kafka_cluster_ping_success_count.insert("target".into(), 0);
        let apps = BTreeMap::from([("orders".to_string(), Side::Target)]);
        let text = prometheus("shop", &health, &GroupsReport::default(), &Gate::default(), &apps);
        assert!(text.contains("AppSide{plan=\"shop\",App=\"orders\",ClusterAlias=\"source\"} 0\n"), "{text}");
        assert!(text.contains("AppSide{plan=\"shop\",App=\"orders\",ClusterAlias=\"target\"} 1\n"), "{text}");
        assert!(text.contains("MessageLag{plan=\"shop\",ReplicatorName=\"shop-external-to-msk\"} 7\n"), "{text}");
        assert!(text.contains("ReplicatorFailure{plan=\"shop\",ReplicatorName=\"shop-external-to-msk\"} 2\n"));
        assert!(text.contains("KafkaClusterPingSuccessCount{plan=\"shop\",ClusterAlias=\"target\"} 0\n"));
        assert!(text.contains(
            "ReplicationLag{plan=\"shop\",ReplicatorName=\"shop-external-to-msk\",Topic=\"orders\",Partition=\"3\"} 5\n"
        ));
        assert!(
            text.contains("ReplicationLatency{plan=\"shop\",ReplicatorName=\"shop-external-to-msk\"} NaN\n"),
            "no datapoint is NaN, never 0"
        );
    }

    #[test]
    fn a_window_reports_rates_then_restarts() {
        let mut window = Window::default();
        window.add(100, 5);
        window.add(300, 15);
        let (bytes, records, latency) = window.roll(Duration::ZERO);
        assert!(bytes > 0.0 && records > 0.0);
        assert_eq!(latency, Some(LatencyWindow { avg: 10.0, max: 15, count: 2 }));
        assert_eq!(window.roll(Duration::ZERO).2, None, "a new window starts empty");
    }

    #[test]
    fn the_catch_up_estimate_and_the_growing_lag_are_judged_from_the_flow() {
        let flow = |lag, rate| FlowHealth { replication_lag: lag, records_per_second: rate, ..Default::default() };
        assert_eq!(flow(0, 0.0).catch_up(), CatchUp::CaughtUp);
        assert_eq!(flow(2_000, 100.0).catch_up(), CatchUp::In { seconds: 20.0, rate: 100.0 });
        assert_eq!(flow(2_000, 0.0).catch_up(), CatchUp::Unknown);
        assert!(flow(3_000, 1.0).lag_grew_since(&flow(2_000, 1.0)));
        assert!(!flow(2_000, 1.0).lag_grew_since(&flow(3_000, 1.0)));
        assert!(!flow(3_000, 1.0).lag_grew_since(&flow(0, 1.0)), "from nothing is a start, not a trend");
    }
}
