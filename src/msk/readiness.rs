//! The MSK backend as the source of a move's gate ([`crate::gate::ReadinessSource`]): the same
//! `cutover`/`rollback` code as on the embedded engine, fed from CloudWatch and from the clusters.
//!
//! - The gate: MSK Replicator's metrics and MSK's SumOffsetLag from CloudWatch, judged over whole
//!   minutes ([`super::metrics`]), plus what CloudWatch cannot show, measured on the clusters at
//!   the moment of asking: SumOffsetLag on the **source** (the external cluster has no CloudWatch)
//!   over the plan's groups. The copies themselves are proven by the move's drain, by content.
//! - The applied side: MSK Replicator's enhanced offset sync follows each group to where it has
//!   members, by itself; there is nothing to acknowledge, so the side is the one `control.json`
//!   records.
//! - Before a move onto MSK: whether an app producing to the same topics already ran on MSK
//!   before the reverse replicator was RUNNING ([`super::reverse`]).
//! - Cluster IDs: only used for the embedded engine's provenance header, which MSK copies do not
//!   carry; the source's is the plan's, the target's the MSK cluster's UUID.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::gate::{Condition, Gate};
use crate::gate::{GateStage, ReadinessSource};
use crate::offsets::{ClusterClients, planned_groups};
use crate::plan::{App, Plan, Side};
use crate::state::{Control, StateDir};

pub struct MskReadiness {
    pub plan: Plan,
    pub kafka: aws_sdk_kafka::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The runtime the AWS calls run on; the move runs on a thread outside it.
    pub runtime: tokio::runtime::Handle,
    pub control_path: PathBuf,
    /// The plan's state directory (the audit log, `replicators.json`).
    pub state_dir: PathBuf,
    /// How long CloudWatch's part of the gate is reused: its data changes once a minute, and a
    /// move waiting for the gate asks every second (GetMetricData is billed per metric asked).
    pub cloudwatch_every: Duration,
    source: Mutex<Option<ClusterClients>>,
    cloudwatch_gate: Mutex<Option<(Instant, Gate)>>,
}

/// What the source cluster shows now.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceGroups {
    /// The largest SumOffsetLag over the plan's groups and topics with a commit (0 when none has).
    pub sum_offset_lag: i64,
    /// The plan's groups with a committed offset on the source: what MSK should count.
    pub with_offsets: u64,
}

impl MskReadiness {
    pub fn new(
        plan: Plan,
        kafka: aws_sdk_kafka::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        runtime: tokio::runtime::Handle,
        state_dir: PathBuf,
    ) -> Self {
        Self {
            plan,
            kafka,
            cloudwatch,
            runtime,
            control_path: StateDir::new(&state_dir).control(),
            state_dir,
            cloudwatch_every: Duration::from_secs(30),
            source: Mutex::new(None),
            cloudwatch_gate: Mutex::new(None),
        }
    }

    /// SumOffsetLag and the groups with offsets, from the source cluster.
    pub fn source_groups(&self) -> Result<SourceGroups, String> {
        let mut guard = self.source.lock().map_err(|_| "the source's clients are poisoned".to_string())?;
        if guard.is_none() {
            let id = self.plan.source.expected_cluster_id.clone().unwrap_or_default();
            *guard = Some(ClusterClients::new(&self.plan.source, &id)?);
        }
        let Some(source) = guard.as_mut() else { return Err("unreachable: clients just created".into()) };
        let mut measured = SourceGroups { sum_offset_lag: 0, with_offsets: 0 };
        for planned in planned_groups(&self.plan) {
            let mut has_offsets = false;
            for topic in &planned.topics {
                let partitions = source.partitions(topic)?;
                let committed = source.committed(&planned.group, topic, partitions)?;
                if let Some(sum) = source.sum_offset_lag(topic, &committed)? {
                    has_offsets = true;
                    measured.sum_offset_lag = measured.sum_offset_lag.max(sum);
                }
            }
            measured.with_offsets += u64::from(has_offsets);
        }
        Ok(measured)
    }
}

impl ReadinessSource for MskReadiness {
    fn gate(&self) -> Result<Gate, String> {
        let msk = self.plan.msk().ok_or("the plan has no `msk` section")?;
        let source = self.source_groups()?;
        let expected = self.plan.readiness.expected_consumer_group_count.unwrap_or(source.with_offsets);
        let now = crate::state::now_ms();
        let mut cached = self.cloudwatch_gate.lock().map_err(|_| "the gate's cache is poisoned".to_string())?;
        let mut gate = match cached.as_ref() {
            Some((at, gate)) if at.elapsed() < self.cloudwatch_every => gate.clone(),
            _ => {
                let gate = self.runtime.block_on(super::metrics::gate_now(
                    &self.plan,
                    msk,
                    &self.kafka,
                    &self.cloudwatch,
                    expected,
                    (now / 1000) as i64,
                ))?;
                *cached = Some((Instant::now(), gate.clone()));
                gate
            }
        };
        drop(cached);
        let limit = self.plan.readiness.max_sum_offset_lag;
        let ok = source.sum_offset_lag <= i64::try_from(limit).unwrap_or(i64::MAX);
        gate.conditions.push(Condition {
            name: "SumOffsetLag".into(),
            cluster: Some(Side::Source),
            value: Some(source.sum_offset_lag as f64),
            threshold: format!("<= {limit} (measured now on the cluster)"),
            ok,
            holding_since_ms: ok.then_some(now),
            sustained: ok,
        });
        gate.open = gate.conditions.iter().all(|c| c.sustained);
        Ok(gate)
    }

    fn applied_side(&self, app: &str) -> Result<Side, String> {
        Ok(Control::load(&self.control_path)?.side_of(app))
    }

    /// The reverse replicator's first sighting RUNNING (now, recorded, when this is the first)
    /// against when each app producing to `app`'s topics first ran on MSK. Before the gate, a
    /// reverse replicator that does not run yet counts as running from now (it can only start
    /// later, and the gate waits for it); once the gate is open it must run, or `app`'s own
    /// first writes on MSK would never be copied back — and this look, just before `stop`,
    /// records its sighting before `app` can write there.
    fn refuses_move_to_target(&self, app: &App, stage: GateStage) -> Result<Option<String>, String> {
        let msk = self.plan.msk().ok_or("the plan has no `msk` section")?;
        if !self.plan.replication.bidirectional || app.produces.is_empty() {
            return Ok(None);
        }
        let name = &msk.msk_to_external_name;
        let now = crate::state::now_ms();
        let found = self.runtime.block_on(super::find(&self.kafka, name)).map_err(|e| e.to_string())?;
        let running_since_ms = match &found {
            Some(replicator) if replicator.state == "RUNNING" => super::reverse::observe_running(
                &StateDir::new(&self.state_dir).replicators(),
                name,
                &replicator.arn,
                now,
            )?,
            _ => now,
        };
        let reverse = super::reverse::Reverse {
            name: name.clone(),
            state: found.map(|replicator| replicator.state),
            running_since_ms,
        };
        if stage == GateStage::Open
            && let Some(refusal) = super::reverse::reverse_not_running(app, &reverse)
        {
            return Ok(Some(refusal.to_string()));
        }
        let audit = crate::state::audit::read(&StateDir::new(&self.state_dir))?;
        let control = Control::load(&self.control_path)?;
        Ok(super::reverse::writes_before_reverse(&self.plan, app, &audit, &control, &reverse)
            .map(|refusal| refusal.to_string()))
    }

    fn cluster_ids(&self) -> Result<BTreeMap<Side, String>, String> {
        let msk = self.plan.msk().ok_or("the plan has no `msk` section")?;
        Ok(BTreeMap::from([
            (Side::Source, self.plan.source.expected_cluster_id.clone().unwrap_or_default()),
            (Side::Target, msk.cluster().uuid),
        ]))
    }
}
