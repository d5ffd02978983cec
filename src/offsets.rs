//! Consumer-group positions across the two clusters: exact translation through the engine's
//! provenance header, group states, committed offsets, and writing them.
//!
//! # Translation
//! A committed offset `c` on cluster A means "the group processed every record before `c`". Its
//! equivalent on cluster B is the position right after the B-record equivalent to the **last data
//! record before `c`** on A (control markers, compaction gaps and deleted records are skipped by
//! looking for records, not offsets). A record's equivalent is found through provenance: a record on
//! A that is itself a copy from B names its original's offset in `migrate.offset`; a native A record
//! is found on B as the copy whose `migrate.origin`/`migrate.offset` name it. When no data record
//! precedes `c` (the commit is at or before A's log start), the equivalent position is *at* the
//! equivalent of the first record from `c` on; when A holds no data at all from there, B's end.
//!
//! This is exact under the engine's one-writer invariant (each partition written on one side at a
//! time, the writer switching only once the old side is fully replicated): both partitions then hold
//! the same records in the same order.
//!
//! Copies are searched from B's tail in growing windows: at a cutover the group is near the end.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::kafka::{CaptureContext, ErrorClass, Identity, classify, client_config};
use crate::plan::{Cluster, Plan, Side};

/// Bound on each request of this module.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The first window searched backwards (records); multiplied by 4 each time until the partition's start.
const FIRST_WINDOW: i64 = 256;

type Reader = crate::kafka::Served<BaseConsumer<CaptureContext>>;

/// A record's offset and, when it is a copy, where its original is.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRef {
    pub offset: i64,
    /// `(origin cluster ID, origin offset)` for a copy made by the engine.
    pub copy_of: Option<(String, i64)>,
    /// A hash of the key, the value and the timestamp: what a copy keeps whichever replicator made
    /// it (headers are left out: replicators add their own).
    pub fingerprint: u64,
}

/// How a record's equivalent on the other cluster is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Through the embedded engine's provenance header: exact.
    Provenance,
    /// By content (key, value, timestamp), for copies made by MSK Replicator, which carry no
    /// provenance of ours; the latest record with the same content is taken.
    Content,
}

/// How far back from a partition's end a record is looked for by content.
pub const CONTENT_SEARCH_LIMIT: i64 = 1_000_000;

/// Where a group's position on one cluster lands on the other.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// The exact offset on the other cluster.
    At(i64),
    /// Not yet possible (the record's copy has not arrived); why.
    Pending(String),
}

/// A consumer group's state on one cluster, as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupState {
    /// No members: offsets may be written from outside.
    Empty,
    /// The group does not exist (yet), or has no state.
    Dead,
    /// Members are (or are becoming) active: `Stable`, `PreparingRebalance`, …, with each
    /// member as `client.id@host (member id)`, as DescribeConsumerGroups names them.
    Active { state: String, members: Vec<String> },
}

impl GroupState {
    /// Whether no member is in the group: its offsets may be written from outside.
    pub fn is_inactive(&self) -> bool {
        matches!(self, GroupState::Empty | GroupState::Dead)
    }

    /// Whether a member is in the group (the app runs there).
    pub fn is_active(&self) -> bool {
        !self.is_inactive()
    }

    pub fn name(&self) -> &str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Dead => "Dead",
            GroupState::Active { state, .. } => state,
        }
    }
}

/// Why an offset operation failed, naming the side, topic, partition and group it was about.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error("{side}: cannot create {what}: {cause}")]
    Client { side: Side, what: String, cause: String },
    #[error("{side}: cannot read the {which} of {topic}/{partition}: {cause}")]
    Watermarks { side: Side, which: &'static str, topic: String, partition: i32, cause: KafkaError },
    #[error("{side}: cannot list the topics: {cause}")]
    ListTopics { side: Side, cause: KafkaError },
    #[error("{side}: cannot read metadata of `{topic}`: {cause}")]
    TopicMetadata { side: Side, topic: String, cause: KafkaError },
    #[error("{side}: topic `{topic}` does not exist")]
    NoTopic { side: Side, topic: String },
    #[error("{side}: cannot read {topic}/{partition}: {cause}")]
    Assign { side: Side, topic: String, partition: i32, cause: KafkaError },
    #[error("{side}: reading {topic}/{partition} {from}..{to}: {cause}")]
    Read { side: Side, topic: String, partition: i32, from: i64, to: i64, cause: String },
    #[error("{side}: cannot {action} `{group}`: {cause}")]
    Group { side: Side, action: &'static str, group: String, cause: String },
    #[error("{side}: cannot commit the offsets of group `{group}` on `{topic}`: {cause}")]
    Commit { side: Side, group: String, topic: String, cause: String },
    #[error(transparent)]
    Config(#[from] crate::kafka::ClientConfigError),
    /// A partition list librdkafka refused to build (an offset it cannot represent).
    #[error("{0}")]
    PartitionList(KafkaError),
}

impl OffsetsError {
    /// Whether asking again may succeed ([`crate::kafka::classify`] on the Kafka error when there
    /// is one). A client that cannot be made is fatal; a topic not there yet, and the failures
    /// that carry only a message, are retriable.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Client { .. } | Self::Config(_) => ErrorClass::Fatal,
            Self::Watermarks { cause, .. }
            | Self::ListTopics { cause, .. }
            | Self::TopicMetadata { cause, .. }
            | Self::Assign { cause, .. }
            | Self::PartitionList(cause) => classify(cause),
            Self::NoTopic { .. } | Self::Read { .. } | Self::Group { .. } | Self::Commit { .. } => {
                ErrorClass::Retriable
            }
        }
    }
}

/// Callers that still speak in messages (the cutover's steps) take the error's.
impl From<OffsetsError> for String {
    fn from(error: OffsetsError) -> Self {
        error.to_string()
    }
}

/// One cluster's clients for offset work, under the replicator's identity.
pub struct ClusterClients {
    pub side: Side,
    /// The cluster's ID, as the provenance header carries it.
    pub cluster_id: String,
    cluster: Cluster,
    reader: Reader,
    /// A `read_uncommitted` consumer, made when first needed: its end offset is the high
    /// watermark, where [`Self::reader`]'s (`read_committed`) is the last stable offset.
    uncommitted: Option<Reader>,
    /// One consumer per group, for OffsetFetch and OffsetCommit (never joins the group).
    groups: HashMap<String, Reader>,
}

impl ClusterClients {
    pub fn new(cluster: &Cluster, cluster_id: &str) -> Result<Self, OffsetsError> {
        let reader = make_reader(cluster, ("group.id", "migrate-offset-reader"), "a consumer")?;
        Ok(Self {
            side: cluster.side,
            cluster_id: cluster_id.into(),
            cluster: cluster.clone(),
            reader,
            uncommitted: None,
            groups: HashMap::new(),
        })
    }

    /// The high watermark of `topic/partition`: the end of its log, undecided transactional
    /// records included (where [`Self::watermarks`], `read_committed`, ends at the last stable
    /// offset). What a fence compares: a producer writing inside a transaction moves it.
    pub fn high_watermark(&mut self, topic: &str, partition: i32) -> Result<i64, OffsetsError> {
        let reader = match &self.uncommitted {
            Some(reader) => reader,
            None => self.uncommitted.insert(make_reader(
                &self.cluster,
                ("isolation.level", "read_uncommitted"),
                "a consumer",
            )?),
        };
        let (_, high) = reader.fetch_watermarks(topic, partition, TIMEOUT).map_err(|cause| {
            OffsetsError::Watermarks { side: self.side, which: "high watermark", topic: topic.into(), partition, cause }
        })?;
        Ok(high)
    }

    /// Where a transaction is open on `topic/partition`: `(last stable offset, high watermark)`
    /// when records past the last stable offset are neither committed nor aborted yet (a
    /// producer stopped or killed mid-transaction: the broker aborts it once the producer's
    /// `transaction.timeout.ms` runs out). `None` when every record is decided. The high
    /// watermark is read first: a record appended between the two reads then cannot pass for an
    /// open transaction.
    pub fn open_transaction(&mut self, topic: &str, partition: i32) -> Result<Option<(i64, i64)>, OffsetsError> {
        let high = self.high_watermark(topic, partition)?;
        let (_, stable) = self.watermarks(topic, partition)?;
        Ok((stable < high).then_some((stable, high)))
    }

    /// Every topic of the cluster.
    pub fn topics(&self) -> Result<Vec<String>, OffsetsError> {
        let metadata = self
            .reader
            .fetch_metadata(None, TIMEOUT)
            .map_err(|cause| OffsetsError::ListTopics { side: self.side, cause })?;
        Ok(metadata.topics().iter().map(|t| t.name().to_string()).collect())
    }

    pub fn partitions(&self, topic: &str) -> Result<i32, OffsetsError> {
        let metadata = self
            .reader
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|cause| OffsetsError::TopicMetadata { side: self.side, topic: topic.into(), cause })?;
        let Some(found) = metadata.topics().first() else {
            return Err(OffsetsError::NoTopic { side: self.side, topic: topic.into() });
        };
        // The topic's own error: "unknown" is a topic not there (yet); any other (a refused
        // Describe) is said as it is, not as a missing topic, and classified by its code.
        match found.error().map(RDKafkaErrorCode::from) {
            None => Ok(found.partitions().len() as i32),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                Err(OffsetsError::NoTopic { side: self.side, topic: topic.into() })
            }
            Some(code) => Err(OffsetsError::TopicMetadata {
                side: self.side,
                topic: topic.into(),
                cause: KafkaError::MetadataFetch(code),
            }),
        }
    }

    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), OffsetsError> {
        self.reader.fetch_watermarks(topic, partition, TIMEOUT).map_err(|cause| OffsetsError::Watermarks {
            side: self.side,
            which: "watermarks",
            topic: topic.into(),
            partition,
            cause,
        })
    }

    /// MSK's SumOffsetLag for one topic: high watermark minus committed offset, summed over the
    /// partitions with a commit; `None` when nothing is committed.
    pub fn sum_offset_lag(
        &self,
        topic: &str,
        committed: &BTreeMap<i32, Option<i64>>,
    ) -> Result<Option<i64>, OffsetsError> {
        let mut sum = None;
        for (partition, offset) in committed {
            if let Some(offset) = offset {
                let (_, high) = self.watermarks(topic, *partition)?;
                *sum.get_or_insert(0) += (high - offset).max(0);
            }
        }
        Ok(sum)
    }

    /// The data records at offsets `from..to` (markers and gaps have none).
    pub fn read(&self, topic: &str, partition: i32, from: i64, to: i64) -> Result<Vec<RecordRef>, OffsetsError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(from)).map_err(OffsetsError::PartitionList)?;
        self.reader.assign(&list).map_err(|cause| OffsetsError::Assign {
            side: self.side,
            topic: topic.into(),
            partition,
            cause,
        })?;
        let read = self.read_assigned(topic, partition, from, to);
        let _ = self.reader.unassign();
        read
    }

    /// [`Self::read`] once the partition is assigned. An error the consumer reports is not the
    /// end: librdkafka queues one for each failed connection while a broker is away (a restart),
    /// and they are drained here, the last one named if the records do not come within
    /// [`TIMEOUT`]. Taking the first as fatal left a reader answering from that backlog, one
    /// stale error per call, for up to two minutes after its broker was back (`kill -9` test).
    fn read_assigned(&self, topic: &str, partition: i32, from: i64, to: i64) -> Result<Vec<RecordRef>, OffsetsError> {
        let mut records = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        let mut last_error = None;
        loop {
            if Instant::now() >= deadline {
                let why = last_error.map_or("timed out".to_string(), |e: KafkaError| e.to_string());
                return Err(OffsetsError::Read {
                    side: self.side,
                    topic: topic.into(),
                    partition,
                    from,
                    to,
                    cause: why,
                });
            }
            match self.reader.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => break,
                Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Err(error)) => last_error = Some(error),
                Some(Ok(message)) => {
                    if message.topic() != topic || message.partition() != partition || message.offset() < from {
                        continue;
                    }
                    if message.offset() >= to {
                        break;
                    }
                    records.push(RecordRef {
                        offset: message.offset(),
                        copy_of: crate::provenance::provenance(&message),
                        fingerprint: fingerprint(&message),
                    });
                    if message.offset() >= to - 1 {
                        break;
                    }
                }
            }
        }
        Ok(records)
    }

    /// The group's state, and its members where the classic protocol names them. A state with no
    /// name, or any member, counts as active: unknown is never taken for stopped.
    ///
    /// The classic DescribeGroups first (librdkafka's group list, sent to the brokers directly):
    /// it names a classic group's members. It answers a group on the consumer protocol (KIP-848)
    /// as `Dead` with no member, so a `Dead` group is looked up in ListConsumerGroups (every
    /// broker, no coordinator lookup); a group that listing does not show either is `Dead`. Its
    /// members are not named here: DescribeConsumerGroups goes through librdkafka's coordinator
    /// lookup, which can abort the process when the coordinator's connection drops
    /// ([`crate::kafka::admin::list_consumer_groups`]); [`Self::consumer_group_members`] asks it,
    /// once, when a message needs the names.
    ///
    /// While a group's coordinator moves (a broker restarting) the group can be missing from one
    /// listing: where a wrong `Dead` would be unsafe, ask [`Self::group_state_confirmed`].
    pub fn group_state(&self, group: &str) -> Result<GroupState, OffsetsError> {
        self.group_state_listed(group, false)
    }

    /// [`Self::group_state`] for a decision a wrong `Dead` would make unsafe (the fence, which
    /// takes a stopped group for a stopped app): `Dead` only if a second listing a second later
    /// does not show the group either. The offset sync asks [`Self::group_state`]: a group that is
    /// really absent (a group not yet on the passive side) would cost it a second every round,
    /// and the broker itself refuses an offset commit to a group with members.
    pub fn group_state_confirmed(&self, group: &str) -> Result<GroupState, OffsetsError> {
        self.group_state_listed(group, true)
    }

    fn group_state_listed(&self, group: &str, confirm_dead: bool) -> Result<GroupState, OffsetsError> {
        let classic = self.reader.fetch_group_list(Some(group), TIMEOUT).map_err(|cause| OffsetsError::Group {
            side: self.side,
            action: "describe group",
            group: group.into(),
            cause: cause.to_string(),
        })?;
        if let Some(info) = classic.groups().iter().find(|info| info.name() == group) {
            let members: Vec<String> = info
                .members()
                .iter()
                .map(|m| format!("{}@{} ({})", m.client_id(), m.client_host().trim_start_matches('/'), m.id()))
                .collect();
            match info.state() {
                "Empty" if members.is_empty() => return Ok(GroupState::Empty),
                "Dead" | "" if members.is_empty() => {}
                state => return Ok(GroupState::Active { state: state.to_string(), members }),
            }
        }
        let listed = |side: Side| -> Result<Option<crate::kafka::admin::GroupListing>, OffsetsError> {
            Ok(crate::kafka::admin::list_consumer_groups(self.reader.client(), TIMEOUT)
                .map_err(|cause| OffsetsError::Group {
                    side,
                    action: "list the groups to find",
                    group: group.into(),
                    cause: cause.to_string(),
                })?
                .into_iter()
                .find(|listing| listing.group == group))
        };
        let listing = match listed(self.side)? {
            Some(listing) => listing,
            None if !confirm_dead => return Ok(GroupState::Dead),
            None => {
                std::thread::sleep(Duration::from_secs(1));
                match listed(self.side)? {
                    Some(listing) => listing,
                    None => return Ok(GroupState::Dead),
                }
            }
        };
        Ok(match listing.state.as_str() {
            "Empty" => GroupState::Empty,
            "Dead" => GroupState::Dead,
            _ => GroupState::Active { state: listing.state, members: Vec::new() },
        })
    }

    /// The members of a group on the consumer protocol, as DescribeConsumerGroups names them, for
    /// a message (empty when it cannot tell). Through librdkafka's coordinator lookup: ask it once
    /// when the names are needed, never in a loop (see [`Self::group_state`]).
    pub fn consumer_group_members(&self, group: &str) -> Vec<String> {
        crate::kafka::admin::describe_group(self.reader.client(), group, TIMEOUT)
            .ok()
            .flatten()
            .map(|description| description.members)
            .unwrap_or_default()
    }

    fn group_client(&mut self, group: &str) -> Result<&Reader, OffsetsError> {
        if !self.groups.contains_key(group) {
            let client = make_reader(&self.cluster, ("group.id", group), &format!("a client for group `{group}`"))?;
            self.groups.insert(group.to_string(), client);
        }
        Ok(&self.groups[group])
    }

    /// The group's committed offset for each partition of `topic` (`None`: nothing committed).
    pub fn committed(
        &mut self,
        group: &str,
        topic: &str,
        partitions: i32,
    ) -> Result<BTreeMap<i32, Option<i64>>, OffsetsError> {
        let side = self.side;
        let client = self.group_client(group)?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = client.committed_offsets(list, TIMEOUT).map_err(|cause| OffsetsError::Group {
            side,
            action: "read the offsets of group",
            group: group.into(),
            cause: cause.to_string(),
        })?;
        Ok(committed
            .elements_for_topic(topic)
            .iter()
            .map(|element| {
                let offset = match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                };
                (element.partition(), offset)
            })
            .collect())
    }

    /// Commits `offsets` for the group, from outside it (the caller checked that it is inactive).
    pub fn commit(&mut self, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), OffsetsError> {
        let side = self.side;
        let client = self.group_client(group)?;
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(OffsetsError::PartitionList)?;
        }
        client.commit(&list, CommitMode::Sync).map_err(|cause| OffsetsError::Commit {
            side,
            group: group.into(),
            topic: topic.into(),
            cause: cause.to_string(),
        })
    }

    /// The last data record before `before` (offsets `low..before`), searched in growing windows.
    fn last_record_before(
        &self,
        topic: &str,
        partition: i32,
        low: i64,
        before: i64,
    ) -> Result<Option<RecordRef>, OffsetsError> {
        let mut window = FIRST_WINDOW;
        let mut end = before;
        while end > low {
            let start = (end - window).max(low);
            if let Some(last) = self.read(topic, partition, start, end)?.pop() {
                return Ok(Some(last));
            }
            end = start;
            window = window.saturating_mul(4);
        }
        Ok(None)
    }

    /// The offset of the copy of `(origin_id, origin_offset)` in this partition, searched from the
    /// tail; `None` when it is not (yet) there.
    fn find_copy(
        &self,
        topic: &str,
        partition: i32,
        origin_id: &str,
        origin_offset: i64,
    ) -> Result<Option<i64>, OffsetsError> {
        let (low, high) = self.watermarks(topic, partition)?;
        let mut window = FIRST_WINDOW;
        let mut end = high;
        while end > low {
            let start = (end - window).max(low);
            let records = self.read(topic, partition, start, end)?;
            let mut oldest_copy: Option<i64> = None;
            for record in &records {
                if let Some((id, offset)) = &record.copy_of
                    && id == origin_id
                {
                    if *offset == origin_offset {
                        return Ok(Some(record.offset));
                    }
                    oldest_copy = Some(oldest_copy.map_or(*offset, |o: i64| o.min(*offset)));
                }
            }
            // Copies are in origin order: once a copy older than the one sought is seen, it is not
            // further back either.
            if oldest_copy.is_some_and(|oldest| oldest < origin_offset) {
                return Ok(None);
            }
            end = start;
            window = window.saturating_mul(4);
        }
        Ok(None)
    }

    /// The offset of the latest record with `fingerprint` in this partition, searched from the
    /// tail in growing windows, at most [`CONTENT_SEARCH_LIMIT`] records back; `None` when it is
    /// not (yet) there.
    fn find_same(&self, topic: &str, partition: i32, fingerprint: u64) -> Result<Option<i64>, OffsetsError> {
        let (low, high) = self.watermarks(topic, partition)?;
        let low = low.max(high - CONTENT_SEARCH_LIMIT);
        let mut window = FIRST_WINDOW;
        let mut end = high;
        while end > low {
            let start = (end - window).max(low);
            let records = self.read(topic, partition, start, end)?;
            if let Some(found) = records.iter().rev().find(|r| r.fingerprint == fingerprint) {
                return Ok(Some(found.offset));
            }
            end = start;
            window = window.saturating_mul(4);
        }
        Ok(None)
    }

    /// Where the record `record` of this cluster is on `other`: the offset of its equivalent.
    fn equivalent_on(
        &self,
        other: &ClusterClients,
        topic: &str,
        partition: i32,
        record: &RecordRef,
        matching: Matching,
    ) -> Result<Option<i64>, OffsetsError> {
        match (matching, &record.copy_of) {
            (Matching::Content, _) => other.find_same(topic, partition, record.fingerprint),
            (Matching::Provenance, Some((id, offset))) if *id == other.cluster_id => Ok(Some(*offset)),
            (Matching::Provenance, _) => other.find_copy(topic, partition, &self.cluster_id, record.offset),
        }
    }
}

/// Translates the position `committed` of `topic/partition` on `from` to `to` (see the module doc).
pub fn translate(
    from: &ClusterClients,
    to: &ClusterClients,
    topic: &str,
    partition: i32,
    committed: i64,
) -> Result<Translation, OffsetsError> {
    translate_with(Matching::Provenance, from, to, topic, partition, committed)
}

/// [`translate`], finding equivalents by `matching`.
pub fn translate_with(
    matching: Matching,
    from: &ClusterClients,
    to: &ClusterClients,
    topic: &str,
    partition: i32,
    committed: i64,
) -> Result<Translation, OffsetsError> {
    let (low, high) = from.watermarks(topic, partition)?;
    // `record`'s equivalent on `to`, plus `after` (1: the position after it; 0: at it).
    let equivalent = |record: &RecordRef, after: i64| -> Result<Translation, OffsetsError> {
        Ok(match from.equivalent_on(to, topic, partition, record, matching)? {
            Some(offset) => Translation::At(offset + after),
            None => Translation::Pending(format!(
                "{topic}/{partition}: the copy of {} offset {} is not on the {} yet",
                from.side, record.offset, to.side
            )),
        })
    };
    if let Some(last) = from.last_record_before(topic, partition, low, committed.min(high))? {
        return equivalent(&last, 1);
    }
    // Nothing consumed that still exists: position at the first record from `committed` on.
    match from.read(topic, partition, committed.max(low), high)?.into_iter().next() {
        Some(first) => equivalent(&first, 0),
        None => Ok(Translation::At(to.watermarks(topic, partition)?.1)),
    }
}

/// Whether every data record of `topic/partition` on `from` has its equivalent on `to`: the
/// drain condition of a cutover (the source-to-target lag is 0, whatever MessageLag says).
pub fn fully_replicated(
    matching: Matching,
    from: &ClusterClients,
    to: &ClusterClients,
    topic: &str,
    partition: i32,
) -> Result<Translation, OffsetsError> {
    let (_, high) = from.watermarks(topic, partition)?;
    translate_with(matching, from, to, topic, partition, high)
}

/// For the MSK backend, where copies carry no provenance: every replicated partition, in each
/// direction the plan replicates, whose last record is not (yet) on the other cluster, found by
/// content — what `teardown` must not leave behind. Internal topics (`__…`) are not replicated.
pub fn unreplicated_tails(plan: &Plan) -> Result<Vec<String>, OffsetsError> {
    let source = ClusterClients::new(&plan.source, "")?;
    let target = ClusterClients::new(&plan.target, "")?;
    let mut directions = vec![(&source, &target)];
    if plan.replication.bidirectional {
        directions.push((&target, &source));
    }
    let mut pending = Vec::new();
    for (from, to) in directions {
        let topics: Vec<String> = from
            .topics()?
            .into_iter()
            .filter(|topic| !topic.starts_with("__") && plan.replication.replicates_topic(topic))
            .collect();
        pending.extend(unreplicated(Matching::Content, from, to, &topics, usize::MAX)?);
    }
    Ok(pending)
}

/// Why each partition of `topics` is not fully replicated from `from` to `to`, at most `limit` of
/// them (a waiting step needs only the first).
pub fn unreplicated(
    matching: Matching,
    from: &ClusterClients,
    to: &ClusterClients,
    topics: &[String],
    limit: usize,
) -> Result<Vec<String>, OffsetsError> {
    let mut pending = Vec::new();
    for topic in topics {
        for partition in 0..from.partitions(topic)? {
            if let Translation::Pending(why) = fully_replicated(matching, from, to, topic, partition)? {
                pending.push(why);
                if pending.len() >= limit {
                    return Ok(pending);
                }
            }
        }
    }
    Ok(pending)
}

/// Where a group resumes on the other cluster after a translation that may lag (MSK Replicator's
/// at-least-once offset sync), compared with the exact position, in offsets (an estimate: the
/// transaction markers and compaction gaps between are counted as records).
#[derive(Debug, Clone, PartialEq)]
pub enum Resumption {
    /// The translated offset is `behind` records before the exact position: the group re-reads
    /// them (0: exactly where it stopped).
    Rereads { behind: i64 },
    /// The translated offset is past the exact position: the group would skip `ahead` records.
    Skips { ahead: i64 },
}

/// Compares the offset `translated` (committed on `to` by the replicator) with the exact
/// equivalent of `committed` on `from`, found by content.
pub fn resumption(
    from: &ClusterClients,
    to: &ClusterClients,
    topic: &str,
    partition: i32,
    committed: i64,
    translated: i64,
) -> Result<Result<Resumption, String>, OffsetsError> {
    Ok(match translate_with(Matching::Content, from, to, topic, partition, committed)? {
        // In offsets: an estimate, counting the markers and gaps between (never fewer records).
        Translation::At(exact) if translated <= exact => Ok(Resumption::Rereads { behind: exact - translated }),
        Translation::At(exact) => Ok(Resumption::Skips { ahead: translated - exact }),
        Translation::Pending(why) => Err(why),
    })
}

fn fingerprint<M: Message>(message: &M) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.key().hash(&mut hasher);
    message.payload().hash(&mut hasher);
    message.timestamp().to_millis().hash(&mut hasher);
    hasher.finish()
}

/// A reader of this module ([`base_config`] plus one `setting`), its IAM tokens served; `what` names
/// it in the error.
fn make_reader(cluster: &Cluster, setting: (&str, &str), what: &str) -> Result<Reader, OffsetsError> {
    let mut config = base_config(cluster)?;
    config.set(setting.0, setting.1);
    CaptureContext::for_cluster(cluster).create(&config).map_err(|cause| OffsetsError::Client {
        side: cluster.side,
        what: what.into(),
        cause: cause.to_string(),
    })
}

fn base_config(cluster: &Cluster) -> Result<ClientConfig, OffsetsError> {
    let mut config = client_config(cluster, Identity::Replicator)?;
    config.set("enable.auto.commit", "false");
    config.set("enable.auto.offset.store", "false");
    config.set("enable.partition.eof", "true");
    config.set("isolation.level", "read_committed");
    config.set("fetch.wait.max.ms", "10");
    config.set("socket.timeout.ms", TIMEOUT.as_millis().to_string());
    Ok(config)
}

/// A consumer group the plan moves with an app: which app, which topics.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedGroup {
    pub app: String,
    pub group: String,
    pub topics: Vec<String>,
}

/// The plan's groups whose offsets are synchronised (consumed by an app, matched by
/// `replication.groups`).
pub fn planned_groups(plan: &Plan) -> Vec<PlannedGroup> {
    let mut groups = Vec::new();
    for app in &plan.apps {
        for consume in &app.consumes {
            if plan.replication.syncs_group(&consume.group) {
                groups.push(PlannedGroup {
                    app: app.name.clone(),
                    group: consume.group.clone(),
                    topics: consume.topics.iter().filter(|t| plan.replication.replicates_topic(t)).cloned().collect(),
                });
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offsets_error_has_the_class_of_its_kafka_cause() {
        let refused = OffsetsError::TopicMetadata {
            side: Side::Source,
            topic: "orders".into(),
            cause: KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed),
        };
        assert_eq!(refused.class(), ErrorClass::Fatal);
        let timed_out = OffsetsError::Watermarks {
            side: Side::Target,
            which: "high watermark",
            topic: "orders".into(),
            partition: 0,
            cause: KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
        };
        assert_eq!(timed_out.class(), ErrorClass::Retriable);
        assert_eq!(OffsetsError::NoTopic { side: Side::Target, topic: "orders".into() }.class(), ErrorClass::Retriable);
        let no_client = OffsetsError::Client { side: Side::Source, what: "a consumer".into(), cause: "bad".into() };
        assert_eq!(no_client.class(), ErrorClass::Fatal);
    }
}
