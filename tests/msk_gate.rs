//! The readiness gate on MSK, from CloudWatch through `aws-smithy-mocks` (moto cannot read
//! CloudWatch's current protocol): the exact metric names, dimensions (SumOffsetLag's contain
//! spaces) and statistics asked for; a minute without a datapoint is unknown (never 0) for lags,
//! latency, pings and the group count and keeps the gate closed, and 0 for failure counts (the
//! pings prove the replicator published); a ping Sum above 1 is healthy; a value over its
//! threshold, or one ReplicationFailure, closes it.

mod common;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use migrate::msk::metrics::{self, Aliases, Series};
use migrate::plan::{Plan, Side};

fn example_plan(sustained: &str) -> Plan {
    common::aws::example_msk_plan(|text| text.replace("sustained_for: 15m", &format!("sustained_for: {sustained}")))
}

fn aliases() -> Aliases {
    let mut aliases = Aliases::default();
    aliases.by_replicator.insert("shop-migration-external-to-msk".into(), ("ext-1a2b".into(), "msk-3c4d".into()));
    aliases.by_replicator.insert("shop-migration-msk-to-external".into(), ("ext-5e6f".into(), "msk-7a8b".into()));
    aliases
}

/// A healthy value for each series.
fn healthy(series: &Series) -> f64 {
    match series.metric {
        "KafkaClusterPingSuccessCount" => 1.0,
        "ConsumerGroupCount" => 2.0,
        "MessageLag" => 12.0,
        "ReplicationLatency" => 850.0,
        "SumOffsetLag" => 40.0,
        _ => 0.0,
    }
}

/// GetMetricData's answer: for each series, one datapoint per minute of `minutes`, except where
/// `skip` says so, with `value` deciding each.
fn answer(series: &[Series], minutes: &[i64], value: impl Fn(&Series, i64) -> Option<f64>) -> GetMetricDataOutput {
    let results = series.iter().map(|one| {
        let points: Vec<(i64, f64)> = minutes.iter().filter_map(|m| value(one, *m).map(|v| (*m, v))).collect();
        MetricDataResult::builder()
            .id(&one.id)
            .set_timestamps(Some(points.iter().map(|(m, _)| DateTime::from_secs(*m)).collect()))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .build()
    });
    GetMetricDataOutput::builder().set_metric_data_results(Some(results.collect())).build()
}

async fn gate_with(
    plan: &Plan,
    now: i64,
    value: impl Fn(&Series, i64) -> Option<f64>,
) -> (migrate::gate::Gate, Vec<Series>) {
    let msk = plan.msk().unwrap();
    let series = metrics::series(plan, msk, &aliases(), 2);
    let (first, last) = metrics::window(&plan.readiness, now);
    let minutes: Vec<i64> = (first..=last).step_by(60).collect();
    let output = answer(&series, &minutes, value);
    let expected_queries = series.len();
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |request| request.metric_data_queries().len() == expected_queries)
        .then_output(move || output.clone());
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&rule]);
    let datapoints = metrics::fetch(&cloudwatch, &series, first, last).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
    (metrics::judge(&series, &datapoints, first, last, (now * 1000) as u64), series)
}

#[test]
fn the_gate_asks_for_the_exact_metrics_dimensions_and_statistics() {
    let plan = example_plan("15m");
    let msk = plan.msk().unwrap();
    let series = metrics::series(&plan, msk, &aliases(), 2);
    let find = |metric: &str, dimension: (&str, &str)| {
        series
            .iter()
            .find(|s| s.metric == metric && s.dimensions.iter().any(|(k, v)| k == dimension.0 && v == dimension.1))
            .unwrap_or_else(|| panic!("{metric} {dimension:?} in {series:#?}"))
    };
    let forward = ("ReplicatorName", "shop-migration-external-to-msk");
    let reverse = ("ReplicatorName", "shop-migration-msk-to-external");
    for (metric, statistic) in [
        ("ReplicatorFailure", "Sum"),
        ("ReplicationFailures", "Sum"),
        ("ConsumerGroupOffsetSyncFailure", "Sum"),
        ("MessageLag", "Maximum"),
        ("ReplicationLatency", "Maximum"),
    ] {
        assert_eq!(find(metric, forward).statistic, statistic);
        assert_eq!(find(metric, reverse).statistic, statistic);
    }
    let ping = find("KafkaClusterPingSuccessCount", ("ClusterAlias", "msk-3c4d"));
    assert_eq!((ping.statistic, ping.cluster), ("Sum", Some(Side::Target)));
    assert_eq!((ping.rule, ping.missing), (metrics::Rule::AtLeast(1.0), metrics::Missing::Unknown));
    let failures = find("ReplicationFailures", forward);
    assert_eq!((failures.rule, failures.missing), (metrics::Rule::Equals(0.0), metrics::Missing::Zero));
    assert!(ping.dimensions.contains(&("ReplicatorName".into(), "shop-migration-external-to-msk".into())));
    assert_eq!(find("KafkaClusterPingSuccessCount", ("ClusterAlias", "ext-1a2b")).cluster, Some(Side::Source));
    let groups = find("ConsumerGroupCount", forward);
    assert_eq!((groups.statistic, groups.rule), ("Maximum", metrics::Rule::AtLeast(2.0)));
    assert_eq!(find("MessageLag", forward).missing, metrics::Missing::Unknown);
    let lag = find("SumOffsetLag", ("Consumer Group", "order-status"));
    assert_eq!(
        lag.dimensions,
        [
            ("Cluster Name".to_string(), "shop".to_string()),
            ("Consumer Group".to_string(), "order-status".to_string()),
            ("Topic".to_string(), "orders".to_string()),
        ]
    );
    assert_eq!(lag.statistic, "Maximum");
    // IDs are what GetMetricData accepts: a lowercase letter, then letters, digits, `_`.
    assert!(series.iter().all(|s| s.id.starts_with('q') && s.id[1..].chars().all(|c| c.is_ascii_digit())));

    // The window is whole minutes, ending two minutes before now (CloudWatch is late).
    let now = 1_800_000_000 + 37; // 37 s into a minute
    let (first, last) = metrics::window(&plan.readiness, now);
    assert_eq!(last, 1_800_000_000 - 120);
    assert_eq!((last - first) / 60 + 1, 15);
}

#[tokio::test]
async fn a_healthy_window_opens_the_gate() {
    let plan = example_plan("5m");
    let now = 1_800_000_000;
    let (gate, series) = gate_with(&plan, now, |s, _| Some(healthy(s))).await;
    assert!(gate.open, "{gate:#?}");
    assert_eq!(gate.window_ms, 5 * 60 * 1000);
    let lag = gate.conditions.iter().find(|c| c.name == "MessageLag").unwrap();
    assert_eq!((lag.value, lag.threshold.as_str()), (Some(12.0), "<= 1000"));
    // One condition per metric and cluster, however many series feed it.
    assert!(gate.conditions.len() < series.len());
    let pings: Vec<_> = gate.conditions.iter().filter(|c| c.name == "KafkaClusterPingSuccessCount").collect();
    assert_eq!(pings.len(), 2);
}

#[tokio::test]
async fn a_missing_minute_is_unknown_never_zero_and_keeps_the_gate_closed() {
    let plan = example_plan("5m");
    let now = 1_800_000_000;
    let (first, _) = metrics::window(&plan.readiness, now);
    // The reverse replicator's MessageLag has no datapoint in the window's second minute.
    let (gate, _) = gate_with(&plan, now, |s, minute| {
        let gap = s.metric == "MessageLag"
            && s.dimensions.iter().any(|(_, v)| v == "shop-migration-msk-to-external")
            && minute == first + 60;
        (!gap).then(|| healthy(s))
    })
    .await;
    assert!(!gate.open);
    let failing: Vec<&str> = gate.failing().map(|c| c.name.as_str()).collect();
    assert_eq!(failing, ["MessageLag"], "{gate:#?}");
    let lag = gate.conditions.iter().find(|c| c.name == "MessageLag").unwrap();
    assert!(lag.ok, "the latest minute is known and fine");
    assert_eq!(lag.holding_since_ms, Some(((first + 120) * 1000) as u64), "held since the minute after the gap");

    // The latest minute missing: the value itself is unknown.
    let (gate, _) = gate_with(&plan, now, |s, minute| {
        let (_, last) = metrics::window(&plan.readiness, now);
        (!(s.metric == "KafkaClusterPingSuccessCount" && s.cluster == Some(Side::Target) && minute == last))
            .then(|| healthy(s))
    })
    .await;
    let ping = gate
        .conditions
        .iter()
        .find(|c| c.name == "KafkaClusterPingSuccessCount" && c.cluster == Some(Side::Target))
        .unwrap();
    assert_eq!((ping.value, ping.ok, ping.sustained), (None, false, false));
    assert!(!gate.open);
}

#[tokio::test]
async fn a_failure_count_without_a_datapoint_is_zero_while_the_pings_prove_the_replicator_publishes() {
    let plan = example_plan("5m");
    let now = 1_800_000_000;
    // No failure count is ever published (nothing failed); every other metric is.
    let failures = ["ReplicatorFailure", "ReplicationFailures", "ConsumerGroupOffsetSyncFailure"];
    let (gate, _) = gate_with(&plan, now, |s, _| (!failures.contains(&s.metric)).then(|| healthy(s))).await;
    assert!(gate.open, "{gate:#?}");
    for name in failures {
        let condition = gate.conditions.iter().find(|c| c.name == name).unwrap();
        assert_eq!((condition.value, condition.sustained), (Some(0.0), true), "{condition:#?}");
    }
    // The same silence with no ping either: nothing proves the replicator ran; closed.
    let (gate, _) = gate_with(&plan, now, |s, _| {
        (!failures.contains(&s.metric) && s.metric != "KafkaClusterPingSuccessCount").then(|| healthy(s))
    })
    .await;
    assert!(!gate.open);
    let failing: Vec<&str> = gate.failing().map(|c| c.name.as_str()).collect();
    assert_eq!(failing, ["KafkaClusterPingSuccessCount", "KafkaClusterPingSuccessCount"], "{gate:#?}");
}

#[tokio::test]
async fn several_pings_in_a_minute_are_healthy_and_one_replication_failure_closes_the_gate() {
    let plan = example_plan("3m");
    let now = 1_800_000_000;
    let (_, last) = metrics::window(&plan.readiness, now);
    // The ping metric is a Sum: two successful pings in a minute read 2.
    let (gate, _) =
        gate_with(&plan, now, |s, _| Some(if s.metric == "KafkaClusterPingSuccessCount" { 2.0 } else { healthy(s) }))
            .await;
    assert!(gate.open, "{gate:#?}");
    let ping = gate.conditions.iter().find(|c| c.name == "KafkaClusterPingSuccessCount").unwrap();
    assert_eq!(ping.threshold, ">= 1 in every minute");

    let (gate, _) = gate_with(&plan, now, |s, minute| {
        Some(if s.metric == "ReplicationFailures" && minute == last { 1.0 } else { healthy(s) })
    })
    .await;
    let failing: Vec<&str> = gate.failing().map(|c| c.name.as_str()).collect();
    assert_eq!(failing, ["ReplicationFailures"], "{gate:#?}");

    // Fewer groups than expected on MSK is a problem; more is not.
    let (gate, _) =
        gate_with(&plan, now, |s, _| Some(if s.metric == "ConsumerGroupCount" { 1.0 } else { healthy(s) })).await;
    let failing: Vec<&str> = gate.failing().map(|c| c.name.as_str()).collect();
    assert_eq!(failing, ["ConsumerGroupCount"], "{gate:#?}");
    let (gate, _) =
        gate_with(&plan, now, |s, _| Some(if s.metric == "ConsumerGroupCount" { 3.0 } else { healthy(s) })).await;
    assert!(gate.open, "{gate:#?}");
}

#[tokio::test]
async fn a_value_over_its_threshold_or_a_failed_ping_closes_the_gate() {
    let plan = example_plan("3m");
    let now = 1_800_000_000;
    let (_, last) = metrics::window(&plan.readiness, now);
    let (gate, _) = gate_with(&plan, now, |s, minute| {
        Some(match s.metric {
            "SumOffsetLag" if minute == last => 5000.0,
            "KafkaClusterPingSuccessCount" if s.cluster == Some(Side::Source) && minute == last => 0.0,
            _ => healthy(s),
        })
    })
    .await;
    let failing: Vec<(String, Option<Side>)> = gate.failing().map(|c| (c.name.clone(), c.cluster)).collect();
    assert_eq!(
        failing,
        [
            ("KafkaClusterPingSuccessCount".to_string(), Some(Side::Source)),
            ("SumOffsetLag".to_string(), Some(Side::Target))
        ]
    );
    let lag = gate.conditions.iter().find(|c| c.name == "SumOffsetLag").unwrap();
    assert_eq!((lag.value, lag.ok), (Some(5000.0), false));
}
