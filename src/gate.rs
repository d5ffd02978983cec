//! The readiness gate: when an app may move.
//!
//! The conditions are MSK Replicator's (see the README's "Readiness gate"), each compared with the
//! plan's `readiness` thresholds and each required to hold **continuously** for
//! `readiness.sustained_for`, plus no split-brain alarm. One implementation for both backends: the
//! embedded engine feeds [`GateInputs`] from its own health and from Kafka every second; the MSK
//! backend can feed the same struct from CloudWatch. A value that is unknown (a missing datapoint, a
//! group never measured) fails its condition: unknown is never 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Readiness, Side};

/// One evaluation's inputs. `None` means unknown.
#[derive(Debug, Clone, Default)]
pub struct GateInputs {
    /// ReplicatorFailure: failures since the previous evaluation.
    pub replicator_failure: Option<u64>,
    /// ConsumerGroupOffsetSyncFailure: failures since the previous evaluation.
    pub consumer_group_offset_sync_failure: Option<u64>,
    /// KafkaClusterPingSuccessCount per cluster.
    pub ping: BTreeMap<Side, Option<u8>>,
    /// MessageLag: the largest over the replication flows.
    pub message_lag: Option<i64>,
    /// ReplicationLatency (ms): the largest over the flows; 0 when nothing waits to be copied.
    pub replication_latency_ms: Option<i64>,
    /// SumOffsetLag per cluster: the largest over the groups and topics measured there.
    pub sum_offset_lag: BTreeMap<Side, Option<i64>>,
    /// ConsumerGroupCount on the target.
    pub consumer_group_count_target: Option<u64>,
    pub expected_consumer_group_count: u64,
    /// Split-brain alarms raised (they stay until the engine restarts after an operator's review).
    pub split_brain_alarms: u64,
}

/// One condition of the gate, as `status` shows it and `cutover` names it when it refuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// MSK's metric name (or `SplitBrainAlarm`).
    pub name: String,
    /// The cluster it is about, for per-cluster metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Side>,
    /// `None`: unknown.
    pub value: Option<f64>,
    /// Such as `= 0` or `<= 100`.
    pub threshold: String,
    /// Whether it holds now.
    pub ok: bool,
    /// Since when it holds without interruption (ms since the epoch).
    #[serde(default)]
    pub holding_since_ms: Option<u64>,
    /// Whether it held for the whole window.
    pub sustained: bool,
}

impl Condition {
    /// `ReplicatorFailure` or `SumOffsetLag (target)`.
    pub fn label(&self) -> String {
        match self.cluster {
            Some(side) => format!("{} ({side})", self.name),
            None => self.name.clone(),
        }
    }

    /// One line for a refusal: what it is, against what, and for how long it held.
    pub fn explain(&self, now_ms: u64, window_ms: u64) -> String {
        let value = self.value.map_or("unknown".to_string(), format_value);
        if !self.ok {
            format!("{} is {value}, needs {}", self.label(), self.threshold)
        } else {
            let held = self.holding_since_ms.map_or(0, |since| now_ms.saturating_sub(since));
            format!(
                "{} is {value} ({}) but has held for {:.0} s of the {:.0} s required",
                self.label(),
                self.threshold,
                held as f64 / 1000.0,
                window_ms as f64 / 1000.0
            )
        }
    }
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// The gate after one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Every condition held for the whole window.
    pub open: bool,
    pub window_ms: u64,
    pub evaluated_at_ms: u64,
    pub conditions: Vec<Condition>,
}

impl Gate {
    pub fn failing(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter().filter(|c| !c.sustained)
    }
}

/// Remembers since when each condition holds, across evaluations.
#[derive(Debug, Default)]
pub struct Sustain {
    since: BTreeMap<String, u64>,
}

impl Sustain {
    /// Evaluates `inputs` against `readiness` at `now_ms`.
    pub fn evaluate(&mut self, inputs: &GateInputs, readiness: &Readiness, now_ms: u64) -> Gate {
        let window_ms = readiness.sustained_for.as_millis() as u64;
        let mut conditions = Vec::new();
        let mut add = |name: &str, cluster: Option<Side>, value: Option<f64>, threshold: String, ok: bool| {
            conditions.push(Condition {
                name: name.into(),
                cluster,
                value,
                threshold,
                ok,
                holding_since_ms: None,
                sustained: false,
            })
        };
        let at_most = |value: Option<f64>, limit: f64| value.is_some_and(|v| v <= limit);
        let equals = |value: Option<f64>, expected: f64| value.is_some_and(|v| v == expected);

        let failures = inputs.replicator_failure.map(|v| v as f64);
        add("ReplicatorFailure", None, failures, "= 0".into(), equals(failures, 0.0));
        let sync_failures = inputs.consumer_group_offset_sync_failure.map(|v| v as f64);
        add("ConsumerGroupOffsetSyncFailure", None, sync_failures, "= 0".into(), equals(sync_failures, 0.0));
        for side in [Side::Source, Side::Target] {
            let ping = inputs.ping.get(&side).copied().flatten().map(f64::from);
            add("KafkaClusterPingSuccessCount", Some(side), ping, "= 1".into(), equals(ping, 1.0));
        }
        let lag = inputs.message_lag.map(|v| v as f64);
        let max_lag = readiness.max_message_lag as f64;
        add("MessageLag", None, lag, format!("<= {max_lag}"), at_most(lag, max_lag));
        let latency = inputs.replication_latency_ms.map(|v| v as f64);
        let max_latency = readiness.max_replication_latency.as_millis() as f64;
        add("ReplicationLatency", None, latency, format!("<= {max_latency} ms"), at_most(latency, max_latency));
        for side in [Side::Source, Side::Target] {
            let sum = inputs.sum_offset_lag.get(&side).copied().flatten().map(|v| v as f64);
            let max_sum = readiness.max_sum_offset_lag as f64;
            add("SumOffsetLag", Some(side), sum, format!("<= {max_sum}"), at_most(sum, max_sum));
        }
        let count = inputs.consumer_group_count_target.map(|v| v as f64);
        let expected = inputs.expected_consumer_group_count as f64;
        add("ConsumerGroupCount", Some(Side::Target), count, format!("= {expected}"), equals(count, expected));
        let alarms = inputs.split_brain_alarms as f64;
        add("SplitBrainAlarm", None, Some(alarms), "= 0".into(), alarms == 0.0);

        for condition in &mut conditions {
            let key = condition.label();
            if condition.ok {
                let since = *self.since.entry(key).or_insert(now_ms);
                condition.holding_since_ms = Some(since);
                condition.sustained = now_ms.saturating_sub(since) >= window_ms;
            } else {
                self.since.remove(&key);
            }
        }
        let open = conditions.iter().all(|c| c.sustained);
        Gate { open, window_ms, evaluated_at_ms: now_ms, conditions }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn readiness() -> Readiness {
        Readiness {
            max_message_lag: 100,
            max_replication_latency: Duration::from_millis(2000),
            max_sum_offset_lag: 50,
            sustained_for: Duration::from_secs(10),
            expected_consumer_group_count: None,
        }
    }

    fn healthy() -> GateInputs {
        GateInputs {
            replicator_failure: Some(0),
            consumer_group_offset_sync_failure: Some(0),
            ping: BTreeMap::from([(Side::Source, Some(1)), (Side::Target, Some(1))]),
            message_lag: Some(3),
            replication_latency_ms: Some(40),
            sum_offset_lag: BTreeMap::from([(Side::Source, Some(2)), (Side::Target, Some(5))]),
            consumer_group_count_target: Some(2),
            expected_consumer_group_count: 2,
            split_brain_alarms: 0,
        }
    }

    #[test]
    fn opens_only_after_every_condition_held_for_the_window() {
        let mut sustain = Sustain::default();
        assert!(!sustain.evaluate(&healthy(), &readiness(), 1_000).open);
        assert!(!sustain.evaluate(&healthy(), &readiness(), 10_999).open);
        let gate = sustain.evaluate(&healthy(), &readiness(), 11_000);
        assert!(gate.open, "{gate:#?}");
        assert_eq!(gate.conditions.len(), 10);
    }

    #[test]
    fn a_blip_restarts_the_window_of_that_condition() {
        let mut sustain = Sustain::default();
        sustain.evaluate(&healthy(), &readiness(), 0);
        let mut failing = healthy();
        failing.replicator_failure = Some(1);
        let gate = sustain.evaluate(&failing, &readiness(), 5_000);
        let not_ok: Vec<_> = gate.conditions.iter().filter(|c| !c.ok).map(Condition::label).collect();
        assert_eq!(not_ok, ["ReplicatorFailure"]);
        let gate = sustain.evaluate(&healthy(), &readiness(), 12_000);
        assert!(!gate.open);
        let waiting: Vec<_> = gate.failing().map(|c| c.explain(12_000, gate.window_ms)).collect();
        assert_eq!(waiting, ["ReplicatorFailure is 0 (= 0) but has held for 0 s of the 10 s required"]);
        assert!(sustain.evaluate(&healthy(), &readiness(), 22_000).open);
    }

    #[test]
    fn unknown_values_fail_and_thresholds_are_inclusive() {
        let mut sustain = Sustain::default();
        let mut inputs = healthy();
        inputs.ping.insert(Side::Target, None);
        inputs.message_lag = Some(100);
        inputs.sum_offset_lag.insert(Side::Target, Some(51));
        inputs.consumer_group_count_target = Some(1);
        inputs.split_brain_alarms = 1;
        sustain.evaluate(&inputs, &readiness(), 0);
        let gate = sustain.evaluate(&inputs, &readiness(), 60_000);
        let failing: Vec<_> = gate.failing().map(|c| c.explain(60_000, gate.window_ms)).collect();
        assert_eq!(
            failing,
            [
                "KafkaClusterPingSuccessCount (target) is unknown, needs = 1",
                "SumOffsetLag (target) is 51, needs <= 50",
                "ConsumerGroupCount (target) is 1, needs = 2",
                "SplitBrainAlarm is 1, needs = 0",
            ]
        );
    }
}
