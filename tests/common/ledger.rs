//! The exactly-once check of the tests' writer and reader apps. The writer produces `w-<n>` to
//! partition `n % partitions`, one record at a time, and counts a record once it is acknowledged;
//! the reader keeps a ledger of `(partition, value)` in the order it read them.

use std::collections::BTreeMap;

/// The ledger's values, per partition, in the order they were read.
pub fn by_partition(ledger: &[(i32, String)]) -> BTreeMap<i32, Vec<String>> {
    let mut partitions: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (partition, value) in ledger {
        partitions.entry(*partition).or_default().push(value.clone());
    }
    partitions
}

/// What the writer produced, per partition, in order: `w-0 .. w-<count - 1>`.
pub fn written_values(count: u64, partitions: i32) -> BTreeMap<i32, Vec<String>> {
    let mut written: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for n in 0..count {
        written.entry((n % partitions as u64) as i32).or_default().push(format!("w-{n}"));
    }
    written
}

/// Asserts each partition of the ledger is the writer's sequence, each value once, in order, with
/// nothing missing up to the last value read; returns how many were read.
///
/// `acknowledged` is the writer's count. The record it is sending is not counted yet, but it may
/// already be replicated and read: its acknowledgement reaches the writer after the broker has it.
/// So one record beyond the count may be read, never two.
pub fn assert_exactly_once_in_order(ledger: &[(i32, String)], acknowledged: u64, partitions: i32) -> usize {
    let expected = written_values(acknowledged + 1, partitions);
    for (partition, values) in &by_partition(ledger) {
        let want = expected.get(partition).map(Vec::as_slice).unwrap_or_default();
        let want = &want[..values.len().min(want.len())];
        assert_eq!(values.len(), want.len(), "partition {partition} read more than was produced: {values:?}");
        for (i, (got, want)) in values.iter().zip(want).enumerate() {
            assert_eq!(
                got, want,
                "partition {partition}, record {i}: read {got}, expected {want} (a gap or a duplicate)"
            );
        }
    }
    ledger.len()
}

/// What a ledger holds against what was written, counted rather than asserted (for the fault
/// tests' table).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Anomalies {
    /// Records read, duplicates included.
    pub read: usize,
    /// Written records never read, up to the last one read in their partition (`up_to_the_end`:
    /// up to the last one written).
    pub lost: usize,
    /// Reads of a value already read.
    pub duplicated: usize,
    /// First reads of a value after a later value of the same partition.
    pub out_of_order: usize,
}

/// The ledger's [`Anomalies`] against the writer's `acknowledged` records (plus the one it may
/// have in flight). With `up_to_the_end`, every acknowledged record should have been read.
pub fn anomalies(ledger: &[(i32, String)], acknowledged: u64, partitions: i32, up_to_the_end: bool) -> Anomalies {
    let mut counts = Anomalies { read: ledger.len(), ..Anomalies::default() };
    let mut seen = std::collections::BTreeSet::new();
    let mut highest: BTreeMap<i32, u64> = BTreeMap::new();
    for (partition, value) in ledger {
        let n: u64 = value.trim_start_matches("w-").parse().expect("a writer's value");
        if !seen.insert(n) {
            counts.duplicated += 1;
            continue;
        }
        match highest.get(partition) {
            Some(top) if *top > n => counts.out_of_order += 1,
            _ => {
                highest.insert(*partition, n);
            }
        }
    }
    for n in 0..=acknowledged {
        let partition = (n % partitions as u64) as i32;
        let expected = match highest.get(&partition) {
            _ if up_to_the_end => n < acknowledged,
            Some(top) => n <= *top,
            None => false,
        };
        if expected && !seen.contains(&n) {
            counts.lost += 1;
        }
    }
    counts
}
