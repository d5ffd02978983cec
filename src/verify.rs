//! `migrate verify`'s core: for every replicated partition, in both directions, proves that the
//! destination holds exactly the origin's records up to a consistent point.
//!
//! The consistent point of a partition is the last copy the destination holds (its provenance
//! names the origin offset): everything on the origin up to there must be on the destination,
//! once, in order, with the same key, value, headers (without provenance) and timestamp; what the
//! origin has after it is reported as not yet replicated, not as a difference. Both sides are
//! streamed in lockstep, one record at a time, so memory stays flat however large the topic; each
//! side also gets a checksum (FNV-1a over the compared fields) for the report.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::engine::topics::{Admin, planned_topics};
use crate::kafka::{CaptureContext, Identity, Served, admin as kafka_admin, client_config};
use crate::plan::{Plan, Side};
use crate::provenance::{HEADER_OFFSET, HEADER_ORIGIN, provenance};

const TIMEOUT: Duration = Duration::from_secs(10);

/// How a partition's copy first differs from its original.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MismatchKind {
    /// An original has no copy on the destination (in order).
    Missing,
    /// A copy has no original left to match (in order).
    Extra,
    /// The copy's key, value, headers or timestamp differ from the original's.
    Different,
}

impl std::fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MismatchKind::Missing => "missing",
            MismatchKind::Extra => "extra",
            MismatchKind::Different => "different",
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub origin_offset: Option<i64>,
    pub dest_offset: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// `source->target` or `target->source`.
    pub direction: String,
    pub topic: String,
    pub partition: i32,
    /// Origin records compared (natives up to the consistent point).
    pub origin_records: u64,
    /// Destination copies compared.
    pub dest_records: u64,
    pub origin_checksum: String,
    pub dest_checksum: String,
    /// The consistent point: the origin offset of the destination's last copy.
    pub compared_up_to: Option<i64>,
    /// Origin records after the consistent point (not yet replicated).
    pub pending: u64,
    pub mismatch: Option<Mismatch>,
}

impl PartitionReport {
    pub fn matches(&self) -> bool {
        self.mismatch.is_none()
            && self.origin_records == self.dest_records
            && self.origin_checksum == self.dest_checksum
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub partitions: Vec<PartitionReport>,
}

/// Progress, for a bar on a terminal.
pub trait Progress: Send + Sync {
    fn start(&self, partitions: u64);
    fn done(&self, direction: &str, topic: &str, partition: i32);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn done(&self, _: &str, _: &str, _: i32) {}
}

/// Why `verify` could not compare, naming the side, topic and partition.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "`verify` compares records by the provenance header the embedded engine writes, which MSK Replicator's copies do not carry: on an msk plan, `teardown` checks instead that each partition's last record reached the other cluster"
    )]
    MskBackend,
    #[error(
        "the {side} ({servers}) did not answer within {seconds} s: it is unreachable, or refuses the replicator's credentials"
    )]
    Unreachable { side: Side, servers: String, seconds: u64 },
    #[error(transparent)]
    Config(#[from] crate::kafka::ClientConfigError),
    #[error("{side}: cannot create {what}: {cause}")]
    Client { side: Side, what: &'static str, cause: KafkaError },
    #[error("{side}: cannot read the watermarks of {topic}/{partition}: {cause}")]
    Watermarks { side: Side, topic: String, partition: i32, cause: KafkaError },
    #[error("{side}: cannot read {topic}/{partition}: {cause}")]
    Read { side: Side, topic: String, partition: i32, cause: KafkaError },
    #[error("{side}: {topic}/{partition}: no progress reading up to offset {end} for {seconds} s")]
    Stalled { side: Side, topic: String, partition: i32, end: i64, seconds: u64 },
    /// Listing the plan's topics on a cluster failed (the message names the cluster).
    #[error("{0}")]
    Topics(String),
    #[error("the comparison's thread: {0}")]
    Task(String),
    /// A partition list librdkafka refused to build.
    #[error("{0}")]
    PartitionList(KafkaError),
}

impl From<VerifyError> for String {
    fn from(error: VerifyError) -> Self {
        error.to_string()
    }
}

/// Verifies every partition of every topic the plan replicates that exists on both clusters.
pub async fn verify(plan: &Plan, progress: &dyn Progress) -> Result<VerifyReport, VerifyError> {
    if plan.msk().is_some() {
        return Err(VerifyError::MskBackend);
    }
    let source_admin = admin(plan, Side::Source)?;
    let target_admin = admin(plan, Side::Target)?;
    let (source_id, target_id) = tokio::task::block_in_place(|| {
        (kafka_admin::cluster_id(source_admin.inner(), TIMEOUT), kafka_admin::cluster_id(target_admin.inner(), TIMEOUT))
    });
    let (source_id, target_id) = match (source_id, target_id) {
        (Some(source), Some(target)) => (source, target),
        (source, _) => {
            let side = if source.is_none() { Side::Source } else { Side::Target };
            return Err(VerifyError::Unreachable {
                side,
                servers: plan.cluster(side).bootstrap_servers.join(","),
                seconds: TIMEOUT.as_secs(),
            });
        }
    };
    let source_topics =
        tokio::task::block_in_place(|| planned_topics(&source_admin, plan, TIMEOUT)).map_err(VerifyError::Topics)?;
    let target_topics =
        tokio::task::block_in_place(|| planned_topics(&target_admin, plan, TIMEOUT)).map_err(VerifyError::Topics)?;
    let mut work = Vec::new();
    let mut directions = vec![(Side::Source, source_id.clone(), target_id.clone())];
    if plan.replication.bidirectional {
        directions.push((Side::Target, target_id, source_id));
    }
    for (topic, partitions) in &source_topics {
        if target_topics.get(topic) != Some(partitions) {
            continue;
        }
        for (origin, origin_id, dest_id) in &directions {
            for partition in 0..*partitions {
                work.push((*origin, origin_id.clone(), dest_id.clone(), topic.clone(), partition));
            }
        }
    }
    progress.start(work.len() as u64);
    let mut reports = Vec::with_capacity(work.len());
    for (origin, origin_id, dest_id, topic, partition) in work {
        let plan = plan.clone();
        let report = tokio::task::spawn_blocking(move || {
            verify_partition(&plan, origin, &origin_id, &dest_id, &topic, partition)
        })
        .await
        .map_err(|e| VerifyError::Task(e.to_string()))??;
        progress.done(&report.direction, &report.topic, report.partition);
        reports.push(report);
    }
    Ok(VerifyReport { ok: reports.iter().all(PartitionReport::matches), partitions: reports })
}

fn admin(plan: &Plan, side: Side) -> Result<Admin, VerifyError> {
    let config = client_config(plan.cluster(side), Identity::Replicator)?;
    CaptureContext::for_cluster(plan.cluster(side)).create(&config).map_err(|cause| VerifyError::Client {
        side,
        what: "an admin client",
        cause,
    })
}

/// One record's compared fields.
#[derive(Debug, PartialEq)]
struct Fields {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

impl Fields {
    fn of(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .filter(|h| h.key != HEADER_ORIGIN && h.key != HEADER_OFFSET)
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Fields {
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp().to_millis(),
        }
    }

    fn difference(&self, other: &Fields) -> String {
        let mut parts = Vec::new();
        if self.key != other.key {
            parts.push("key");
        }
        if self.value != other.value {
            parts.push("value");
        }
        if self.headers != other.headers {
            parts.push("headers");
        }
        if self.timestamp != other.timestamp {
            parts.push("timestamp");
        }
        let verb = if parts.len() == 1 { "differs" } else { "differ" };
        format!("{} {verb}", parts.join(", "))
    }
}

/// FNV-1a, 64 bits, over length-prefixed fields: stable across runs and platforms.
#[derive(Clone, Copy)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn field(&mut self, field: Option<&[u8]>) {
        match field {
            None => self.bytes(&(-1i64).to_be_bytes()),
            Some(bytes) => {
                self.bytes(&(bytes.len() as i64).to_be_bytes());
                self.bytes(bytes);
            }
        }
    }

    fn record(&mut self, fields: &Fields) {
        self.field(fields.key.as_deref());
        self.field(fields.value.as_deref());
        self.bytes(&(fields.headers.len() as i64).to_be_bytes());
        for (key, value) in &fields.headers {
            self.field(Some(key.as_bytes()));
            self.field(value.as_deref());
        }
        self.bytes(&fields.timestamp.unwrap_or(-1).to_be_bytes());
    }

    fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Reads one partition from `start` up to (not including) `end`, one record at a time.
struct Cursor {
    consumer: Served<BaseConsumer<CaptureContext>>,
    side: Side,
    topic: String,
    partition: i32,
    end: i64,
    next: i64,
}

impl Cursor {
    fn open(plan: &Plan, side: Side, topic: &str, partition: i32) -> Result<(Self, i64), VerifyError> {
        // CaptureContext: librdkafka's complaints go to tracing at debug, not to the user's terminal.
        let mut config = client_config(plan.cluster(side), Identity::Replicator)?;
        config
            .set("group.id", "migrate-verify")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("queued.max.messages.kbytes", "16384");
        let consumer: Served<BaseConsumer<CaptureContext>> = CaptureContext::for_cluster(plan.cluster(side))
            .create(&config)
            .map_err(|cause| VerifyError::Client { side, what: "a consumer", cause })?;
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .map_err(|cause| VerifyError::Watermarks { side, topic: topic.into(), partition, cause })?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(low)).map_err(VerifyError::PartitionList)?;
        consumer.assign(&list).map_err(|cause| VerifyError::Read { side, topic: topic.into(), partition, cause })?;
        Ok((Cursor { consumer, side, topic: topic.into(), partition, end: high, next: low }, low))
    }

    /// The next record, or `None` at the end.
    fn next(&mut self) -> Result<Option<BorrowedMessage<'_>>, VerifyError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    self.next = message.offset() + 1;
                    // A transaction marker or a compacted gap can sit at the end: stop there.
                    if message.offset() >= self.end {
                        self.next = self.end;
                        return Ok(None);
                    }
                    return Ok(Some(message));
                }
                Some(Err(cause)) => {
                    return Err(VerifyError::Read {
                        side: self.side,
                        topic: self.topic.clone(),
                        partition: self.partition,
                        cause,
                    });
                }
                None if Instant::now() > deadline => {
                    // Markers or compaction may leave the last offsets without records.
                    let position = self.consumer.position().ok().and_then(|p| p.elements().first().map(|e| e.offset()));
                    if matches!(position, Some(Offset::Offset(p)) if p >= self.end) {
                        return Ok(None);
                    }
                    return Err(VerifyError::Stalled {
                        side: self.side,
                        topic: self.topic.clone(),
                        partition: self.partition,
                        end: self.end,
                        seconds: TIMEOUT.as_secs(),
                    });
                }
                None => {}
            }
        }
    }
}

fn verify_partition(
    plan: &Plan,
    origin: Side,
    origin_id: &str,
    dest_id: &str,
    topic: &str,
    partition: i32,
) -> Result<PartitionReport, VerifyError> {
    let bound = consistent_point(plan, origin, origin_id, topic, partition)?;
    let mut originals =
        Originals { cursor: Cursor::open(plan, origin, topic, partition)?.0, dest_id, bound, pending: 0 };
    let mut copies =
        Copies { cursor: Cursor::open(plan, origin.other(), topic, partition)?.0, origin_id, bound, done: false };
    let (mut origin_sum, mut dest_sum) = (Checksum::new(), Checksum::new());
    let (mut origin_records, mut dest_records) = (0u64, 0u64);
    let mut mismatch = None;
    loop {
        let (original, copy) = (originals.next()?, copies.next()?);
        if let Some((_, fields)) = &original {
            origin_records += 1;
            origin_sum.record(fields);
        }
        if let Some((_, _, copied)) = &copy {
            dest_records += 1;
            dest_sum.record(copied);
        }
        if original.is_none() && copy.is_none() {
            break;
        }
        if mismatch.is_none() {
            mismatch = compare(original.as_ref(), copy.as_ref());
        }
    }
    Ok(PartitionReport {
        direction: format!("{origin}->{}", origin.other()),
        topic: topic.to_string(),
        partition,
        origin_records,
        dest_records,
        origin_checksum: origin_sum.hex(),
        dest_checksum: dest_sum.hex(),
        compared_up_to: bound,
        pending: originals.pending,
        mismatch,
    })
}

/// The consistent point: the origin offset of the destination's last copy from `origin_id`.
fn consistent_point(
    plan: &Plan,
    origin: Side,
    origin_id: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, VerifyError> {
    let (mut cursor, _) = Cursor::open(plan, origin.other(), topic, partition)?;
    let mut last = None;
    while let Some(message) = cursor.next()? {
        if let Some((from, offset)) = provenance(&message)
            && from == origin_id
        {
            last = Some(offset);
        }
    }
    Ok(last)
}

/// The origin's native records (copies from the destination are not its own) up to the
/// consistent point; those past it are counted as pending.
struct Originals<'a> {
    cursor: Cursor,
    dest_id: &'a str,
    bound: Option<i64>,
    pending: u64,
}

impl Originals<'_> {
    fn next(&mut self) -> Result<Option<(i64, Fields)>, VerifyError> {
        while let Some(message) = self.cursor.next()? {
            if provenance(&message).is_some_and(|(from, _)| from == self.dest_id) {
                continue;
            }
            if self.bound.is_none_or(|b| message.offset() > b) {
                self.pending += 1;
                continue;
            }
            return Ok(Some((message.offset(), Fields::of(&message))));
        }
        Ok(None)
    }
}

/// The destination's copies from the origin, up to the consistent point: copies the engine made
/// after it was measured are beyond it, like the origin's pending records.
struct Copies<'a> {
    cursor: Cursor,
    origin_id: &'a str,
    bound: Option<i64>,
    done: bool,
}

impl Copies<'_> {
    /// `(destination offset, origin offset it copies, its fields)`.
    fn next(&mut self) -> Result<Option<(i64, i64, Fields)>, VerifyError> {
        while !self.done {
            let Some(message) = self.cursor.next()? else { return Ok(None) };
            if let Some((from, offset)) = provenance(&message)
                && from == self.origin_id
            {
                if self.bound.is_none_or(|b| offset > b) {
                    self.done = true;
                    return Ok(None);
                }
                return Ok(Some((message.offset(), offset, Fields::of(&message))));
            }
        }
        Ok(None)
    }
}

/// How the next original and the next copy differ, if they do.
fn compare(original: Option<&(i64, Fields)>, copy: Option<&(i64, i64, Fields)>) -> Option<Mismatch> {
    match (original, copy) {
        (None, None) => None,
        (Some((origin_offset, fields)), Some((dest_offset, copied_from, copied))) => {
            if copied_from != origin_offset {
                Some(Mismatch {
                    kind: if copied_from > origin_offset { MismatchKind::Missing } else { MismatchKind::Extra },
                    origin_offset: Some(*origin_offset),
                    dest_offset: Some(*dest_offset),
                    detail: format!(
                        "origin offset {origin_offset} is next, but the destination's copy at offset {dest_offset} is of origin offset {copied_from}"
                    ),
                })
            } else if fields != copied {
                Some(Mismatch {
                    kind: MismatchKind::Different,
                    origin_offset: Some(*origin_offset),
                    dest_offset: Some(*dest_offset),
                    detail: fields.difference(copied),
                })
            } else {
                None
            }
        }
        (Some((origin_offset, _)), None) => Some(Mismatch {
            kind: MismatchKind::Missing,
            origin_offset: Some(*origin_offset),
            dest_offset: None,
            detail: format!("origin offset {origin_offset} has no copy on the destination"),
        }),
        (None, Some((dest_offset, copied_from, _))) => Some(Mismatch {
            kind: MismatchKind::Extra,
            origin_offset: Some(*copied_from),
            dest_offset: Some(*dest_offset),
            detail: format!(
                "the copy at destination offset {dest_offset} (of origin offset {copied_from}) has no original left to match"
            ),
        }),
    }
}
