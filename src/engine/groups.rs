//! Consumer-group offset synchronisation, both directions (MSK's "enhanced" mode), exact.
//!
//! Every second, for each group the plan moves with an app: the app's side (from `control.json`)
//! is the group's **active** side; while the group has no member on the other (**passive**) side,
//! the engine commits there the exact translation ([`crate::offsets::translate`]) of every offset
//! committed on the active side. A group with members on the passive side is never written (its
//! state and members from DescribeGroups). A translation whose
//! copy has not arrived yet is pending, not a failure; it is retried the next second.
//!
//! The same pass measures, from Kafka itself, what the readiness gate needs per group and cluster:
//! the state, SumOffsetLag per topic (high watermark minus committed offset, over partitions with a
//! commit) and whether the passive side matches. After each pass the thread publishes the control
//! it applied, so cutover knows the engine will no longer write a group's old passive side.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Shared;
use crate::offsets::{ClusterClients, PlannedGroup, Translation, planned_groups, translate};
use crate::plan::{Plan, Side};
use crate::state::Control;

/// How often the groups are synchronised and measured.
const INTERVAL: Duration = Duration::from_secs(1);

/// One group on one cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupSideReport {
    pub state: String,
    /// Whether the group has a committed offset on this cluster for any of its topics.
    pub has_offsets: bool,
    /// MSK's SumOffsetLag, per topic: `None` when nothing is committed for the topic.
    pub sum_offset_lag: BTreeMap<String, Option<i64>>,
}

/// One group: where it is active, and whether the passive side holds the translated offsets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupReport {
    pub app: String,
    pub active_side: Option<Side>,
    pub sides: BTreeMap<Side, GroupSideReport>,
    /// Every offset committed on the active side has its exact translation on the passive side.
    pub in_sync: bool,
    /// Why not, when not: waits, and each failure as `failed: …`.
    pub pending: Vec<String>,
    /// This pass's failures (a subset of `pending`, without its prefix): counted as
    /// ConsumerGroupOffsetSyncFailure and recorded as problems.
    #[serde(default)]
    pub failures: Vec<String>,
}

/// The offset sync's last pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupsReport {
    pub groups: BTreeMap<String, GroupReport>,
    /// MSK's ConsumerGroupCount per cluster: the synchronised groups with offsets there.
    pub consumer_group_count: BTreeMap<Side, u64>,
    /// MSK's ConsumerGroupOffsetSyncFailure: failed group passes since the engine started.
    pub consumer_group_offset_sync_failure: u64,
    /// The control (app → side) this pass applied; cutover waits for it before starting an app.
    pub applied_control: Control,
    pub passes: u64,
}

/// Runs until the engine stops.
pub fn run(plan: Plan, cluster_ids: BTreeMap<Side, String>, shared: Arc<Shared>) {
    let groups = planned_groups(&plan);
    let mut clients: Option<(ClusterClients, ClusterClients)> = None;
    let mut report = GroupsReport::default();
    let mut translations = Translations::default();
    while !shared.stopping() {
        let control = shared.control();
        if clients.is_none() {
            clients = connect(&plan, &cluster_ids)
                .map_err(|e| {
                    // Counted: a sync that cannot even start must close the gate, not pass for idle.
                    report.consumer_group_offset_sync_failure += 1;
                    shared.record_problem("offset sync", &e);
                })
                .ok();
        }
        report.groups.clear();
        if let Some((source, target)) = clients.as_mut() {
            for planned in &groups {
                let active = control.side_of(&planned.app);
                let (from, to) = match active {
                    Side::Source => (&mut *source, &mut *target),
                    Side::Target => (&mut *target, &mut *source),
                };
                let group = sync_group(planned, from, to, &mut translations);
                if !group.failures.is_empty() {
                    report.consumer_group_offset_sync_failure += 1;
                    for problem in &group.failures {
                        tracing::warn!(group = %planned.group, "offset sync: {problem}");
                        shared.record_problem("offset sync", problem);
                    }
                }
                report.groups.insert(planned.group.clone(), group);
            }
        }
        report.consumer_group_count = [Side::Source, Side::Target]
            .into_iter()
            .map(|side| {
                let count =
                    report.groups.values().filter(|g| g.sides.get(&side).is_some_and(|s| s.has_offsets)).count();
                (side, count as u64)
            })
            .collect();
        report.applied_control = control;
        report.passes += 1;
        shared.set_groups(report.clone());
        let mut slept = Duration::ZERO;
        while slept < INTERVAL && !shared.stopping() {
            std::thread::sleep(Duration::from_millis(100));
            slept += Duration::from_millis(100);
            // No pass is running now: a new control can be acknowledged at once (a cutover waits
            // for it while its app is down), and the next pass uses it.
            let latest = shared.control();
            if latest != report.applied_control {
                report.applied_control = latest;
                shared.set_groups(report.clone());
                break;
            }
        }
    }
}

fn connect(plan: &Plan, ids: &BTreeMap<Side, String>) -> Result<(ClusterClients, ClusterClients), String> {
    let id = |side: Side| ids.get(&side).cloned().unwrap_or_default();
    Ok((ClusterClients::new(&plan.source, &id(Side::Source))?, ClusterClients::new(&plan.target, &id(Side::Target))?))
}

/// Translations already found, so a commit that has not moved is not translated again every
/// second (each translation reads records on both clusters). A found translation never changes:
/// the record before the commit and its copy stay where they are. Keyed by the active side too,
/// so the other direction after a move is translated afresh.
type Translations = HashMap<(Side, String, String, i32), (i64, i64)>;

/// One group: measure both sides, then bring the passive side to the translated offsets.
fn sync_group(
    planned: &PlannedGroup,
    active: &mut ClusterClients,
    passive: &mut ClusterClients,
    translations: &mut Translations,
) -> GroupReport {
    let mut report = GroupReport { app: planned.app.clone(), active_side: Some(active.side), ..Default::default() };
    let outcome = (|| -> Result<(), String> {
        let active_state = active.group_state(&planned.group)?;
        let passive_state = passive.group_state(&planned.group)?;
        let mut active_report = GroupSideReport { state: active_state.name().into(), ..Default::default() };
        let mut passive_report = GroupSideReport { state: passive_state.name().into(), ..Default::default() };
        for topic in &planned.topics {
            let partitions = active.partitions(topic)?;
            let committed_active = active.committed(&planned.group, topic, partitions)?;
            let committed_passive = passive.committed(&planned.group, topic, partitions)?;
            active_report.sum_offset_lag.insert(topic.clone(), active.sum_offset_lag(topic, &committed_active)?);
            passive_report.sum_offset_lag.insert(topic.clone(), passive.sum_offset_lag(topic, &committed_passive)?);
            active_report.has_offsets |= committed_active.values().any(Option::is_some);
            passive_report.has_offsets |= committed_passive.values().any(Option::is_some);

            let mut to_commit = BTreeMap::new();
            for (partition, committed) in &committed_active {
                let Some(committed) = committed else { continue };
                let key = (active.side, planned.group.clone(), topic.clone(), *partition);
                let translation = match translations.get(&key) {
                    Some((from, to)) if from == committed => Translation::At(*to),
                    _ => translate(active, passive, topic, *partition, *committed)?,
                };
                match translation {
                    Translation::At(offset) => {
                        translations.insert(key, (*committed, offset));
                        if committed_passive.get(partition).copied().flatten() != Some(offset) {
                            to_commit.insert(*partition, offset);
                        }
                    }
                    Translation::Pending(why) => report.pending.push(why),
                }
            }
            if to_commit.is_empty() {
                continue;
            }
            if !passive_state.is_inactive() {
                // Never write a group that has members: its own commits are the truth there.
                report.pending.push(format!(
                    "group `{}` is {} on the {}: its offsets there are not written",
                    planned.group,
                    passive_state.name(),
                    passive.side
                ));
                continue;
            }
            passive.commit(&planned.group, topic, &to_commit)?;
            tracing::debug!(group = %planned.group, topic, side = %passive.side, "offsets synced: {to_commit:?}");
            passive_report.has_offsets = true;
        }
        report.sides.insert(active.side, active_report);
        report.sides.insert(passive.side, passive_report);
        Ok(())
    })();
    if let Err(error) = outcome {
        report.pending.push(format!("failed: {error}"));
        report.failures.push(error);
    }
    report.in_sync = report.pending.is_empty();
    report
}
