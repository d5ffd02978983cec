//! Where each partition resumes: read from the destination's tail, not from a commit.
//!
//! Every copy carries the origin's cluster ID and offset in its headers, and a session's producer
//! writes each partition in order without gaps. So the last copy from this origin in a destination
//! partition names the last origin record that is certainly there; the next one to copy follows
//! it. The checkpoint file only says where to start reading the destination (its last known copy),
//! which bounds the scan to what was written after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::Shared;
use super::checkpoints::Checkpoint;
use super::flow::FlowSpec;
use crate::kafka::{CaptureContext, Identity, client_config};
use crate::plan::StartingPosition;
use crate::provenance::provenance;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The origin offset each partition of `topics` resumes from.
pub fn resume_offsets(
    spec: &FlowSpec,
    shared: &Shared,
    topics: &BTreeMap<String, i32>,
) -> Result<BTreeMap<(String, i32), Offset>, String> {
    let dest = dest_reader(spec)?;
    // Only `latest` at the first start reads the origin here: connect to it only then.
    let mut origin: Option<Reader> = None;
    let mut scans: HashMap<(String, i32), Scan> = HashMap::new();
    for (topic, partitions) in topics {
        for partition in 0..*partitions {
            let (low, high) = dest
                .fetch_watermarks(topic, partition, TIMEOUT)
                .map_err(|e| format!("{}: cannot read watermarks of {topic}/{partition}: {e}", spec.dest.side))?;
            let checkpoint = shared.checkpoint(&spec.name, topic, partition);
            let start = match checkpoint.and_then(|c| c.dest_offset) {
                Some(offset) if offset >= low && offset < high => offset,
                _ => low,
            };
            scans.insert(
                (topic.clone(), partition),
                Scan { low, start, high, checkpoint, last_copy: None, verified: None },
            );
        }
    }
    scan_destination(spec, &dest, &mut scans)?;
    // A checkpoint that does not match the destination (a recreated topic, a state directory from
    // another migration) is ignored: read those partitions from their beginning.
    let mut rescans: HashMap<(String, i32), Scan> = scans
        .iter()
        .filter(|(_, scan)| scan.verified == Some(false))
        .map(|(key, scan)| {
            (key.clone(), Scan { start: scan.low, checkpoint: None, last_copy: None, verified: None, ..*scan })
        })
        .collect();
    if !rescans.is_empty() {
        tracing::warn!(flow = %spec.name, partitions = rescans.len(), "checkpoints do not match the destination; scanning from the beginning");
        scan_destination(spec, &dest, &mut rescans)?;
        scans.extend(rescans);
    }

    let mut offsets = BTreeMap::new();
    for ((topic, partition), scan) in scans {
        let offset = match (scan.last_copy, scan.checkpoint) {
            (Some(origin_offset), _) => Offset::Offset(origin_offset + 1),
            (None, Some(checkpoint)) => Offset::Offset(checkpoint.origin_offset + 1),
            (None, None) if spec.first_start && spec.starting_position == StartingPosition::Latest => {
                let origin = match &mut origin {
                    Some(origin) => origin,
                    None => origin.insert(origin_reader(spec)?),
                };
                let (_, high) = origin
                    .fetch_watermarks(&topic, partition, TIMEOUT)
                    .map_err(|e| format!("{}: cannot read watermarks of {topic}/{partition}: {e}", spec.origin.side))?;
                // Fix the start now, so a restart does not move it to a later "latest".
                shared.set_checkpoint(
                    &spec.name,
                    &topic,
                    partition,
                    Checkpoint { dest_offset: None, origin_offset: high - 1 },
                );
                Offset::Offset(high)
            }
            (None, None) => Offset::Beginning,
        };
        offsets.insert((topic, partition), offset);
    }
    Ok(offsets)
}

#[derive(Clone, Copy)]
struct Scan {
    low: i64,
    start: i64,
    high: i64,
    checkpoint: Option<Checkpoint>,
    /// Origin offset of the last copy from this origin found in the scanned range.
    last_copy: Option<i64>,
    /// Whether the record at the checkpoint's destination offset is the copy it claims.
    verified: Option<bool>,
}

/// Reads every partition from its start to its high watermark, keeping the last copy from the
/// origin. Partitions are read concurrently by one consumer.
///
/// A partition is read once a record at or past its last offset arrives, or once the consumer's
/// position reaches the high watermark: the last offsets may hold no record a consumer is given
/// (a transaction's commit or abort marker, which a transactional app on the destination leaves
/// at the end of every partition it wrote). Only records below the high watermark count as
/// progress: an origin app still writing to another scanned partition must not keep a stuck scan
/// alive.
fn scan_destination(spec: &FlowSpec, dest: &Reader, scans: &mut HashMap<(String, i32), Scan>) -> Result<(), String> {
    let mut list = TopicPartitionList::new();
    let mut pending: HashSet<(String, i32)> = HashSet::new();
    for ((topic, partition), scan) in scans.iter() {
        if scan.start < scan.high {
            list.add_partition_offset(topic, *partition, Offset::Offset(scan.start)).map_err(|e| e.to_string())?;
            pending.insert((topic.clone(), *partition));
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    dest.assign(&list).map_err(|e| format!("cannot assign the destination scan: {e}"))?;
    let mut last_progress = Instant::now();
    let mut last_check = Instant::now();
    while !pending.is_empty() {
        match dest.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if note_record(spec, scans, &mut pending, &message) => last_progress = Instant::now(),
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                return Err(format!("{}: reading the destination's tail failed: {error}", spec.dest.side));
            }
            None => {}
        }
        // Reached on every pass, also while records past the high watermarks keep arriving (the
        // poll then never returns `None`): an early `continue` for such records once skipped this
        // check, and a partition ending in a marker was never seen read while an app kept writing
        // to another scanned partition; the flow never started, with nothing logged.
        if last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            remove_read_to_the_end(dest, scans, &mut pending);
            if !pending.is_empty() && last_progress.elapsed() > TIMEOUT {
                let mut stuck: Vec<String> = pending.iter().map(|(t, p)| format!("{t}/{p}")).collect();
                stuck.sort();
                return Err(format!(
                    "{}: reading the destination's tail made no progress for {} s ({} not read to its end)",
                    spec.dest.side,
                    TIMEOUT.as_secs(),
                    stuck.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// Takes one record of the destination's scan into its partition's [`Scan`]; whether it was
/// progress (a record below the partition's high watermark). A record at or past the last offset
/// ends its partition's scan.
fn note_record(
    spec: &FlowSpec,
    scans: &mut HashMap<(String, i32), Scan>,
    pending: &mut HashSet<(String, i32)>,
    message: &rdkafka::message::BorrowedMessage<'_>,
) -> bool {
    let key = (message.topic().to_string(), message.partition());
    let Some(scan) = scans.get_mut(&key) else { return false };
    if message.offset() >= scan.high - 1 {
        pending.remove(&key);
    }
    if message.offset() >= scan.high {
        return false;
    }
    let provenance = provenance(message);
    if let Some(checkpoint) = scan.checkpoint
        && checkpoint.dest_offset == Some(message.offset())
    {
        scan.verified = Some(
            provenance
                .as_ref()
                .is_some_and(|(origin, offset)| origin == &spec.origin_id && *offset == checkpoint.origin_offset),
        );
    }
    if let Some((origin, offset)) = provenance
        && origin == spec.origin_id
    {
        scan.last_copy = Some(offset);
    }
    true
}

/// Removes from `pending` the partitions whose position reached their high watermark: what is
/// left below it holds no record a consumer is given (transaction markers).
fn remove_read_to_the_end(dest: &Reader, scans: &HashMap<(String, i32), Scan>, pending: &mut HashSet<(String, i32)>) {
    let Ok(positions) = dest.position() else { return };
    for element in positions.elements() {
        let key = (element.topic().to_string(), element.partition());
        if let (Offset::Offset(position), Some(scan)) = (element.offset(), scans.get(&key))
            && position >= scan.high
        {
            pending.remove(&key);
        }
    }
}

/// The scan's consumers report through `CaptureContext`: librdkafka's complaints go to tracing,
/// not to rdkafka's default error log.
type Reader = crate::kafka::Served<BaseConsumer<CaptureContext>>;

fn dest_reader(spec: &FlowSpec) -> Result<Reader, String> {
    let mut config = client_config(&spec.dest, Identity::Replicator).map_err(|e| e.to_string())?;
    config
        // librdkafka needs a group id even for manual assignment; it is never joined or committed.
        .set("group.id", format!("migrate-engine-{}-resume", spec.name))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .set("client.id", format!("migrate-{}-resume", spec.name));
    CaptureContext::for_cluster(&spec.dest)
        .create(&config)
        .map_err(|e| format!("cannot create a consumer on the {}: {e}", spec.dest.side))
}

fn origin_reader(spec: &FlowSpec) -> Result<Reader, String> {
    CaptureContext::for_cluster(&spec.origin)
        .create(&super::flow::origin_consumer_config(spec).map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot create a consumer on the {}: {e}", spec.origin.side))
}
