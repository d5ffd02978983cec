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

use crate::plan::{App, Readiness, Side};

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

    /// The gate in one short line, for a waiting cutover and `status`: only what does not hold
    /// (value against threshold), how long the conditions still inside their window have held, and
    /// "N of M hold". Conditions that do not hold are named until the line would pass
    /// [`SUMMARY_BUDGET`] characters, then counted; the full table stays in `status`.
    pub fn summary(&self) -> String {
        let total = self.conditions.len();
        if self.open {
            return format!("open: {total} of {total} hold for the {} window", seconds(self.window_ms));
        }
        let not_holding: Vec<&Condition> = self.conditions.iter().filter(|c| !c.ok).collect();
        let in_window: Vec<&Condition> = self.conditions.iter().filter(|c| c.ok && !c.sustained).collect();
        let mut tail = format!("{} of {total} hold", total - not_holding.len());
        match in_window.as_slice() {
            [] => {}
            [only] => {
                tail.push_str(&format!(", {} for {} of {}", only.label(), self.held(only), seconds(self.window_ms)))
            }
            several => {
                let held: Vec<u64> = several.iter().map(|c| self.held_ms(c) / 1000).collect();
                let (shortest, longest) = (held.iter().min().unwrap_or(&0), held.iter().max().unwrap_or(&0));
                let range =
                    if shortest == longest { format!("{shortest} s") } else { format!("{shortest}–{longest} s") };
                tail.push_str(&format!(", {} of them for {range} of {}", several.len(), seconds(self.window_ms)));
            }
        }
        let mut named: Vec<String> = Vec::new();
        for (index, condition) in not_holding.iter().enumerate() {
            let item = condition.violation();
            let left = not_holding.len() - index - 1;
            let more = if left > 0 { format!(", +{left} more") } else { String::new() };
            let length = |items: &[String]| items.iter().map(|i| i.chars().count() + 2).sum::<usize>();
            let candidate = length(&named) + item.chars().count() + more.chars().count() + 2 + tail.chars().count();
            if !named.is_empty() && candidate > SUMMARY_BUDGET {
                named.push(format!("+{} more", not_holding.len() - index));
                break;
            }
            named.push(item);
        }
        if named.is_empty() { tail } else { format!("{}; {tail}", named.join(", ")) }
    }

    fn held_ms(&self, condition: &Condition) -> u64 {
        condition.holding_since_ms.map_or(0, |since| self.evaluated_at_ms.saturating_sub(since))
    }

    fn held(&self, condition: &Condition) -> String {
        seconds(self.held_ms(condition))
    }
}

/// The longest [`Gate::summary`] aims for: one line of a 160-column terminal.
pub const SUMMARY_BUDGET: usize = 160;

fn seconds(ms: u64) -> String {
    format!("{} s", ms / 1000)
}

/// `55621` → `55,621`: the lags an operator reads at a glance.
pub fn group_thousands(value: f64) -> String {
    if value.fract() != 0.0 || value.abs() < 1000.0 {
        return format_value(value);
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 { format!("-{grouped}") } else { grouped }
}

impl Condition {
    /// `MessageLag 55,621 > 100`: a condition that does not hold, its value against the threshold
    /// it misses (`unknown` when there is no value).
    pub fn violation(&self) -> String {
        let Some(value) = self.value else { return format!("{} unknown", self.label()) };
        let negated = [("<= ", "> "), (">= ", "< "), ("= ", "≠ ")]
            .iter()
            .find_map(|(holds, fails)| self.threshold.strip_prefix(holds).map(|rest| format!("{fails}{rest}")));
        match negated {
            Some(missed) => format!("{} {} {missed}", self.label(), group_thousands(value)),
            None => format!("{} {} (needs {})", self.label(), group_thousands(value), self.threshold),
        }
    }
}

/// Where the gate and the engine's acknowledgements come from.
pub trait ReadinessSource {
    fn gate(&self) -> Result<Gate, String>;
    /// The side the replication backend currently applies for `app`.
    fn applied_side(&self, app: &str) -> Result<Side, String>;
    /// The clusters' IDs, as the provenance header carries them.
    fn cluster_ids(&self) -> Result<BTreeMap<Side, String>, String>;
    /// Before `app` moves onto the target: why it must not, whatever the gate says. Asked twice
    /// (see [`GateStage`]): before the gate, for a fact of the past that waiting does not change
    /// (MSK: writes on MSK the reverse replicator never copied back); once the gate is open, just
    /// before the app is stopped, also for what the move relies on from now (MSK: the reverse
    /// replicator RUNNING). `None` when nothing stands in the way.
    fn refuses_move_to_target(&self, _app: &App, _stage: GateStage) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// When [`ReadinessSource::refuses_move_to_target`] is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateStage {
    /// Before the gate is asked: only what waiting cannot change refuses (a `--wait` may see a
    /// replicator still being created start).
    Before,
    /// The gate is open and nothing is touched yet: the last look before `stop`.
    Open,
}

#[cfg(test)]
mod summary_tests {
    use std::time::Duration;

    use super::tests::healthy;
    use super::*;

    /// The demo plan's thresholds (plans/local.yaml).
    fn demo_readiness() -> Readiness {
        Readiness {
            max_message_lag: 100,
            max_replication_latency: Duration::from_millis(2000),
            max_sum_offset_lag: 500,
            sustained_for: Duration::from_secs(10),
            expected_consumer_group_count: None,
        }
    }

    #[test]
    fn names_only_what_does_not_hold_and_counts_the_rest() {
        let mut sustain = Sustain::default();
        sustain.evaluate(&healthy(), &demo_readiness(), 0);
        let mut lagging = healthy();
        lagging.message_lag = Some(55_621);
        let gate = sustain.evaluate(&lagging, &demo_readiness(), 60_000);
        let total = gate.conditions.len();
        assert_eq!(gate.summary(), format!("MessageLag 55,621 > 100; {} of {total} hold", total - 1));
    }

    #[test]
    fn says_how_long_the_conditions_inside_their_window_have_held() {
        let mut sustain = Sustain::default();
        sustain.evaluate(&healthy(), &demo_readiness(), 0);
        let mut failing = healthy();
        failing.replicator_failure = Some(1);
        sustain.evaluate(&failing, &demo_readiness(), 5_000);
        let gate = sustain.evaluate(&healthy(), &demo_readiness(), 8_000);
        let total = gate.conditions.len();
        // Every condition holds; one restarted its window just now, the others 8 s ago.
        assert_eq!(gate.summary(), format!("{total} of {total} hold, {total} of them for 0–8 s of 10 s"));
        let gate = sustain.evaluate(&healthy(), &demo_readiness(), 12_000);
        assert_eq!(gate.summary(), format!("{total} of {total} hold, ReplicatorFailure for 4 s of 10 s"));
        let gate = sustain.evaluate(&healthy(), &demo_readiness(), 18_000);
        assert!(gate.open);
        assert_eq!(gate.summary(), format!("open: {total} of {total} hold for the 10 s window"));
    }

    #[test]
    fn unknown_values_and_every_threshold_kind_read_as_misses() {
        let mut sustain = Sustain::default();
        let mut inputs = healthy();
        inputs.ping.insert(Side::Target, None);
        inputs.replication_latency_ms = Some(2_500);
        inputs.sum_offset_lag.insert(Side::Source, Some(1_234_567));
        inputs.consumer_group_count_target = Some(1);
        let gate = sustain.evaluate(&inputs, &demo_readiness(), 0);
        let misses: Vec<String> = gate.conditions.iter().filter(|c| !c.ok).map(Condition::violation).collect();
        assert_eq!(
            misses,
            [
                "KafkaClusterPingSuccessCount (target) unknown",
                "ReplicationLatency 2,500 > 2000 ms",
                "SumOffsetLag (source) 1,234,567 > 500",
                "ConsumerGroupCount (target) 1 ≠ 2",
            ]
        );
        // Four misses do not fit one line beside the count: the last ones are counted instead.
        let summary = gate.summary();
        assert!(
            summary.starts_with(
                "KafkaClusterPingSuccessCount (target) unknown, ReplicationLatency 2,500 > 2000 ms, +2 more; "
            ),
            "{summary}"
        );
        assert!(summary.chars().count() <= SUMMARY_BUDGET, "{} chars: {summary}", summary.chars().count());
    }

    /// The measure: while a cutover waits on the demo plan, the line fits 160 columns, even
    /// when every condition fails at once (the longest labels, unknown values).
    #[test]
    fn the_line_fits_160_columns_for_the_demo_plan_even_when_everything_fails() {
        let mut sustain = Sustain::default();
        let nothing_known =
            GateInputs { expected_consumer_group_count: 2, split_brain_alarms: 3, ..Default::default() };
        let gate = sustain.evaluate(&nothing_known, &demo_readiness(), 0);
        let summary = gate.summary();
        assert!(summary.chars().count() <= SUMMARY_BUDGET, "{} chars: {summary}", summary.chars().count());
        assert!(
            summary.starts_with("ReplicatorFailure unknown, ConsumerGroupOffsetSyncFailure unknown, "),
            "{summary}"
        );
        assert!(summary.contains(" more; 0 of "), "what is left out is counted: {summary}");
        // The old sentence repeated every condition: the same gate took this many characters.
        let old: Vec<String> = gate.failing().map(|c| c.explain(gate.evaluated_at_ms, gate.window_ms)).collect();
        eprintln!(
            "summary {} chars, the old sentence {} chars",
            summary.chars().count(),
            old.join("; ").chars().count()
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1000.0), "1,000");
        assert_eq!(group_thousands(-55_621.0), "-55,621");
        assert_eq!(group_thousands(2.5), "2.5");
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

    /// Every condition met (also the summary tests' starting point).
    pub(super) fn healthy() -> GateInputs {
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
