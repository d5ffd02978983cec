//! Preflight: proves, before anything changes, that the plan can work.
//!
//! Phase one gathers facts from each cluster concurrently ([`cluster::gather`]): reachability, TLS,
//! the API handshake, each identity's login, the cluster ID, ACLs, topics, configs and groups,
//! each step named, timed and bounded by a timeout. Phase two ([`compare`]) is pure: it compares the
//! two clusters' facts with the plan (topics, partition counts, `max.message.bytes`, ACLs) and lists
//! the actions `apply` would take. The core never prints; it reports through [`Reporter`].

pub mod acl;
pub mod aws;
mod cluster;
mod compare;
pub mod openness;
pub mod permissions;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aws::Clients;
use crate::plan::Plan;

pub use cluster::{ClusterFacts, logs_in};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// One named check: its outcome, the exact cause and, when not a pass, the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    /// `source`, `target`, or `plan` for checks across both.
    pub cluster: String,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
    pub duration_ms: u64,
}

impl Check {
    pub fn new(name: &str, cluster: &str, status: Status, detail: impl Into<String>) -> Self {
        Self { name: name.into(), cluster: cluster.into(), status, detail: detail.into(), hint: None, duration_ms: 0 }
    }

    pub fn pass(name: &str, cluster: &str, detail: impl Into<String>) -> Self {
        Self::new(name, cluster, Status::Pass, detail)
    }

    pub fn warn(name: &str, cluster: &str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(name, cluster, Status::Warn, detail).with_hint(hint)
    }

    pub fn fail(name: &str, cluster: &str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(name, cluster, Status::Fail, detail).with_hint(hint)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn timed(mut self, started: Instant) -> Self {
        self.duration_ms = started.elapsed().as_millis() as u64;
        self
    }
}

/// What `apply` would do, for the chosen backend.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub kind: String,
    pub cluster: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreflightReport {
    pub checks: Vec<Check>,
    pub actions: Vec<Action>,
    /// What no check can prove from this machine, for a human to verify (MSK's network path).
    pub manual: Vec<String>,
    pub duration_ms: u64,
    /// Under `replication.acls: sync`: the bindings `apply` creates on the target.
    pub acls_to_create: Vec<crate::kafka::acl::AclBinding>,
    /// Resources those bindings would close on a target open to everyone (`apply` wants --yes).
    pub closing: Vec<permissions::ClosingResource>,
    /// Why it is not known whether the target is open to everyone (`apply` wants --yes too).
    pub openness_unknown: Option<String>,
}

impl PreflightReport {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|check| check.status == Status::Fail)
    }

    pub fn warned(&self) -> bool {
        self.checks.iter().any(|check| check.status == Status::Warn)
    }
}

/// How preflight reports progress; the CLI implements it with a spinner.
pub trait Reporter: Send + Sync {
    fn step(&self, cluster: &str, step: &str);
}

/// A reporter that shows nothing.
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _cluster: &str, _step: &str) {}
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Bound on each network step (connect, handshake, login, each admin request).
    pub timeout: Duration,
    /// The optional flags the caller will use (`apply --create-secret`, `teardown
    /// --delete-secrets`), whose AWS actions the caller's check then includes.
    pub caller_use: crate::msk::policy::CallerUse,
}

impl Default for Options {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), caller_use: Default::default() }
    }
}

/// Runs every check of the plan against both clusters, and against AWS for an `msk` plan.
pub async fn run(plan: &Plan, options: &Options, reporter: &dyn Reporter) -> PreflightReport {
    let clients = match plan.msk() {
        Some(msk) => Some(Clients::connect(&msk.region, msk.endpoint_url.as_deref()).await),
        None => None,
    };
    run_with(plan, options, reporter, clients.as_ref()).await
}

/// [`run`] with the AWS clients given (tests point them at emulators and mocks).
pub async fn run_with(
    plan: &Plan,
    options: &Options,
    reporter: &dyn Reporter,
    clients: Option<&Clients>,
) -> PreflightReport {
    let started = Instant::now();
    let aws = async {
        match (plan.msk(), clients) {
            (Some(msk), Some(clients)) => aws::run(plan, msk, clients, options, reporter).await,
            _ => aws::AwsReport::default(),
        }
    };
    let (source, target, aws) = tokio::join!(
        cluster::gather(plan, &plan.source, options, reporter),
        cluster::gather(plan, &plan.target, options, reporter),
        aws,
    );
    let mut checks = Vec::new();
    checks.extend(source.checks.iter().cloned());
    checks.extend(target.checks.iter().cloned());
    checks.extend(compare::compare(plan, &source, &target));
    checks.extend(aws.checks);
    let actions = compare::actions(plan, &source, &target);
    let diff = match plan.replication.acls {
        crate::plan::AclMode::Sync => compare::permission_diff(plan, &source, &target).ok().flatten(),
        _ => None,
    }
    .unwrap_or_default();
    PreflightReport {
        checks,
        actions,
        manual: aws.manual,
        duration_ms: started.elapsed().as_millis() as u64,
        acls_to_create: diff.missing.into_iter().map(|missing| missing.target).collect(),
        closing: diff.closing,
        openness_unknown: diff.openness_unknown,
    }
}
