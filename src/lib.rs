//! `migrate`: moves Kafka workloads from an external cluster to Amazon MSK Express.
//!
//! The pipeline reads top to bottom: [`plan`] (what to move) → [`preflight`] (can it work?) →
//! replication → readiness → cutover/rollback, with the [`kafka`] adapter at the edge. The CLI in
//! `src/cli` is the only layer that prints.

pub mod aws;
pub mod cutover;
pub mod engine;
pub mod exit;
pub mod files;
pub mod gate;
pub mod interrupt;
pub mod kafka;
pub mod msk;
pub mod offsets;
pub mod permissions;
pub mod plan;
pub mod preflight;
pub mod provenance;
pub mod secret;
pub mod settings;
pub mod state;
pub mod teardown;
pub mod verify;
