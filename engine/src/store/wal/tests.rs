//! The log on a real directory: records read back in order across a reopen, appends reach the
//! segment with the sync that covers them (or past a bound, or at the log's close), a torn tail
//! of every kind is cut back to the last whole record, damage before the tail refuses to open,
//! and segments below the checkpoint go.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::*;

const SEGMENT_BYTES: u64 = 1 << 20;

/// Opens the log in `dir` after `checkpoint`, returning it, what it replayed and the recovery.
fn open(dir: &Path, segment_bytes: u64, checkpoint: u64) -> (Wal, Vec<(u64, Vec<u8>)>, Recovery) {
    let mut replayed = Vec::new();
    let (wal, recovery) = Wal::open(dir, segment_bytes, checkpoint, |sequence, payload| {
        replayed.push((sequence, payload.to_vec()));
        Ok(())
    })
    .unwrap();
    (wal, replayed, recovery)
}

fn payload(n: u64) -> Vec<u8> {
    format!("change set {n}").into_bytes()
}

fn append_all(wal: &Wal, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        assert_eq!(wal.append(&payload(n)).unwrap(), n);
    }
}

fn appended_to_last_segment(wal: &Wal, bytes: &[u8]) {
    let last = wal.segments().pop().unwrap();
    OpenOptions::new().append(true).open(last).unwrap().write_all(bytes).unwrap();
}

#[test]
fn records_read_back_in_order_and_only_those_after_the_checkpoint_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, replayed, recovery) = open(dir.path(), SEGMENT_BYTES, 0);
        assert_eq!((replayed.len(), recovery.last), (0, 0));
        append_all(&wal, 1..=5);
        assert_eq!(wal.sync().unwrap(), 5);
    }
    let (wal, replayed, recovery) = open(dir.path(), SEGMENT_BYTES, 2);
    assert_eq!(replayed, (3..=5).map(|n| (n, payload(n))).collect::<Vec<_>>());
    assert_eq!(recovery, Recovery { replayed: 3, last: 5, dropped: None });
    assert_eq!(wal.append(b"after the reopen").unwrap(), 6, "numbering continues");
}

#[test]
fn a_torn_tail_is_cut_back_to_the_last_whole_record_whatever_it_holds() {
    let mut whole_then_cut = Vec::new();
    frame::encode(4, b"never acknowledged", &mut whole_then_cut);
    whole_then_cut.truncate(whole_then_cut.len() - 3);
    let tails: [(&str, Vec<u8>, &str); 4] = [
        ("cut mid-record", whole_then_cut, "a record cut short"),
        ("cut mid-header", vec![9, 0, 0, 0, 1, 2], "a header cut short"),
        ("zeroed", vec![0; 4096], "zeroed bytes"),
        (
            "garbage",
            b"\x13\x00\x00\x00 not a record at all, just bytes".to_vec(),
            "a checksum that does not match",
        ),
    ];
    for (what, tail, reason) in tails {
        let dir = tempfile::tempdir().unwrap();
        let segment_len = {
            let (wal, _, _) = open(dir.path(), SEGMENT_BYTES, 0);
            append_all(&wal, 1..=3);
            wal.sync().unwrap();
            let segment = wal.segments().pop().unwrap();
            appended_to_last_segment(&wal, &tail);
            std::fs::metadata(segment).unwrap().len() - tail.len() as u64
        };
        let (wal, replayed, recovery) = open(dir.path(), SEGMENT_BYTES, 0);
        assert_eq!(replayed.len(), 3, "{what}: every whole record replays");
        let dropped = recovery.dropped.expect(what);
        assert_eq!(
            (dropped.offset, dropped.bytes, dropped.reason),
            (segment_len, tail.len() as u64, reason),
            "{what}"
        );
        assert_eq!(wal.append(b"next").unwrap(), 4, "{what}: the torn record's number is reused");
        wal.sync().unwrap();
        drop(wal);
        let (_, replayed, recovery) = open(dir.path(), SEGMENT_BYTES, 0);
        assert_eq!(replayed.last().unwrap(), &(4, b"next".to_vec()), "{what}");
        assert_eq!(recovery.dropped, None, "{what}: the cut is durable");
    }
}

#[test]
fn damage_before_the_last_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let first_segment = {
        // Small segments: a new one every few records.
        let (wal, _, _) = open(dir.path(), 64, 0);
        append_all(&wal, 1..=10);
        wal.sync().unwrap();
        assert!(wal.segments().len() > 2, "{:?}", wal.segments());
        wal.segments()[0].clone()
    };
    let mut bytes = std::fs::read(&first_segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&first_segment, bytes).unwrap();
    let refused = Wal::open(dir.path(), 64, 0, |_, _| Ok(())).err().expect("refused");
    assert!(
        matches!(&refused, StoreError::Corrupt(message) if message.contains("not a torn tail")),
        "{refused:?}"
    );
}

#[test]
fn a_log_that_resumes_past_the_checkpoint_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = open(dir.path(), 64, 0);
        append_all(&wal, 1..=10);
        wal.sync().unwrap();
        // Segments deleted as if the checkpoint were 8; a store that says 2 lost them.
        wal.remove_below(8).unwrap();
    }
    let refused = Wal::open(dir.path(), 64, 2, |_, _| Ok(())).err().expect("refused");
    assert!(
        matches!(&refused, StoreError::Corrupt(message) if message.contains("missing")),
        "{refused:?}"
    );
}

#[test]
fn segments_wholly_below_the_checkpoint_are_removed_and_numbering_survives_them() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), 64, 0);
    append_all(&wal, 1..=12);
    wal.sync().unwrap();
    let before = wal.segments();
    let firsts: Vec<u64> = before
        .iter()
        .map(|path| path.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    // A segment goes only when the next one begins at or below checkpoint + 1.
    let checkpoint = firsts[2] - 1;
    assert_eq!(wal.remove_below(checkpoint).unwrap(), 2);
    assert_eq!(wal.segments(), before[2..]);
    assert!(!before[0].exists() && !before[1].exists() && before[2].exists());
    // Everything checkpointed: only the segment appends go to stays.
    assert_eq!(wal.remove_below(12).unwrap(), before.len() - 3);
    assert_eq!(wal.segments(), before[before.len() - 1..]);
    drop(wal);
    let (wal, replayed, recovery) = open(dir.path(), 64, 12);
    assert_eq!((replayed.len(), recovery.last), (0, 12));
    assert_eq!(wal.append(b"thirteen").unwrap(), 13);
}

#[test]
fn a_log_emptied_by_its_checkpoint_continues_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = open(dir.path(), 64, 0);
        append_all(&wal, 1..=3);
        wal.sync().unwrap();
    }
    // A store whose checkpoint (20) is past an empty segment left by a roll: numbering follows
    // the checkpoint, and the next record is found where its segment's name says.
    for path in list_segments(dir.path()).unwrap() {
        std::fs::remove_file(path.1).unwrap();
    }
    let (first, _) = create_segment(dir.path(), 4).unwrap();
    drop(first);
    {
        let (wal, replayed, _) = open(dir.path(), 64, 20);
        assert!(replayed.is_empty());
        assert_eq!(wal.append(b"twenty-one").unwrap(), 21);
        wal.sync().unwrap();
    }
    let (_, replayed, _) = open(dir.path(), 64, 20);
    assert_eq!(replayed, vec![(21, b"twenty-one".to_vec())]);
}

#[test]
fn an_empty_or_oversized_record_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), SEGMENT_BYTES, 0);
    assert!(wal.append(b"").is_err());
    assert!(wal.append(&vec![1; PAYLOAD_MAX + 1]).is_err());
    assert_eq!(wal.append(b"one").unwrap(), 1);
}

#[test]
fn appends_reach_the_segment_together_with_the_sync_that_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), SEGMENT_BYTES, 0);
    append_all(&wal, 1..=3);
    let segment = wal.segments().pop().unwrap();
    let length = || std::fs::metadata(&segment).unwrap().len();
    assert_eq!(length(), 0, "an append made a write of its own");
    assert_eq!(wal.sync().unwrap(), 3);
    let synced = length();
    assert!(synced > 0);
    append_all(&wal, 4..=4);
    assert_eq!(length(), synced);
    assert_eq!(wal.sync().unwrap(), 4);
    drop(wal);
    let (_, replayed, _) = open(dir.path(), SEGMENT_BYTES, 0);
    assert_eq!(replayed, (1..=4).map(|n| (n, payload(n))).collect::<Vec<_>>());
}

#[test]
fn a_group_past_its_bound_is_written_without_waiting_for_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), 64 << 20, 0);
    let record = vec![7; 64 << 10];
    let records = (UNWRITTEN_MAX / record.len()) as u64 + 1;
    for n in 1..=records {
        assert_eq!(wal.append(&record).unwrap(), n);
    }
    let segment = wal.segments().pop().unwrap();
    assert!(std::fs::metadata(&segment).unwrap().len() >= UNWRITTEN_MAX as u64);
    assert_eq!(wal.sync().unwrap(), records);
}

#[test]
fn records_appended_but_not_synced_are_in_the_log_after_it_is_let_go_of() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Small segments: appends roll over to new segments between syncs too.
        let (wal, _, _) = open(dir.path(), 64, 0);
        append_all(&wal, 1..=12);
        assert!(wal.segments().len() > 2);
    }
    let (_, replayed, recovery) = open(dir.path(), 64, 0);
    assert_eq!(replayed, (1..=12).map(|n| (n, payload(n))).collect::<Vec<_>>());
    assert_eq!(recovery.dropped, None);
}
