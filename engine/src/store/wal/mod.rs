//! Kassa's write-ahead log: change sets appended to segment files, each record framed with its
//! length, checksum and sequence number ([`frame`]), made durable by one `fdatasync` per group of
//! appends.
//!
//! An append only frames its record in memory; the sync that covers it writes the whole group
//! to the segment with one `write` before its `fdatasync`, so a change set costs no system call
//! of its own (a group past [`UNWRITTEN_MAX`] is written by the next append). Either way a
//! record is durable, and its change set acknowledged, only once that sync has returned.
//!
//! Segments are named by the sequence number of their first record and hold consecutive
//! sequence numbers. A new segment is begun once the current one passes the size given at open;
//! the old one is synced first, so that syncing the current segment always covers every record
//! appended before it. The store records a checkpoint — the sequence number up to which its
//! store of record holds everything durably — and [`Wal::remove_below`] deletes the segments
//! wholly below it.
//!
//! At open, records after the checkpoint are handed back for replay, in order. A crash mid-append
//! leaves a torn record at the end of the last segment (cut short, zeroed, or garbage): it was
//! never synced, so never acknowledged, and recovery cuts the segment back to its last whole
//! record and says what it dropped. Damage anywhere else is not a torn tail but a damaged disk,
//! and the log refuses to open rather than lose acknowledged writes silently.

mod frame;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use frame::Decoded;

use super::StoreError;

pub use frame::PAYLOAD_MAX;

/// What a start found in the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records after the checkpoint, handed to the replay.
    pub replayed: u64,
    /// The sequence number of the last whole record (the checkpoint's when none is newer).
    pub last: u64,
    /// The torn tail cut from the last segment, if there was one.
    pub dropped: Option<Dropped>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Dropped {
    pub segment: PathBuf,
    /// Where the torn record began: the segment's length now.
    pub offset: u64,
    pub bytes: u64,
    pub reason: &'static str,
}

/// Bytes of appended records held in memory past which the next append writes them out first:
/// a sync that is slow to come (a slow disk) does not let the group grow without bound.
const UNWRITTEN_MAX: usize = 1 << 20;

pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    tail: Mutex<Tail>,
    /// Held while a group of records is written to its segment, taken with the tail's lock held
    /// (never the other way round): groups reach the file in the order they were taken.
    writer: Mutex<Writer>,
}

struct Tail {
    /// The segment appends go to; shared with the flusher's sync.
    file: Arc<File>,
    /// Bytes in it, with those not yet written.
    len: u64,
    /// The sequence number the next record gets.
    next: u64,
    /// Every segment, oldest first: (its first sequence number, its path).
    segments: VecDeque<(u64, PathBuf)>,
    /// Records appended and not yet written to `file`, whole and in order.
    unwritten: Vec<u8>,
}

struct Writer {
    /// The buffer the next group is gathered in once the current one is taken to be written.
    spare: Vec<u8>,
    /// A write failed: the records it held are lost, so nothing after them may reach the file
    /// (a gap in the sequence numbers would refuse to open) and no sync may say they are durable.
    failed: bool,
}

fn storage(what: impl std::fmt::Display, error: std::io::Error) -> StoreError {
    StoreError::Storage(format!("{what}: {error}"))
}

impl Wal {
    /// Opens the log in `dir` (created if missing), handing each record after `checkpoint` to
    /// `replay` in order; a new segment is begun past `segment_bytes`.
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        checkpoint: u64,
        mut replay: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(Wal, Recovery), StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| storage(dir.display(), error))?;
        let segments = list_segments(dir)?;
        let mut recovery = Recovery { last: checkpoint, ..Recovery::default() };
        // The sequence number the next record must carry; `None` until the first one is read.
        let mut expected: Option<u64> = None;
        let mut tail_len = 0;
        for (index, (first, path)) in segments.iter().enumerate() {
            let is_last = index + 1 == segments.len();
            let bytes = std::fs::read(path).map_err(|error| storage(path.display(), error))?;
            let mut offset = 0;
            let mut sequence = *first;
            loop {
                match frame::decode(&bytes[offset..]) {
                    Decoded::End => break,
                    Decoded::Record { sequence: found, payload, len } => {
                        if found != sequence || expected.is_some_and(|expected| expected != found) {
                            return Err(StoreError::Corrupt(format!(
                                "{} holds sequence number {found} where {sequence} belongs",
                                path.display()
                            )));
                        }
                        if found > checkpoint {
                            if recovery.replayed == 0 && found != checkpoint + 1 {
                                return Err(StoreError::Corrupt(format!(
                                    "the log resumes at {found}, the checkpoint is {checkpoint}: \
                                     the records between are missing"
                                )));
                            }
                            replay(found, payload)?;
                            recovery.replayed += 1;
                        }
                        recovery.last = recovery.last.max(found);
                        expected = Some(found + 1);
                        sequence = found + 1;
                        offset += len;
                    }
                    Decoded::Damaged(reason) if is_last => {
                        let dropped = Dropped {
                            segment: path.clone(),
                            offset: offset as u64,
                            bytes: (bytes.len() - offset) as u64,
                            reason,
                        };
                        cut_torn_tail(&dropped)?;
                        recovery.dropped = Some(dropped);
                        break;
                    }
                    Decoded::Damaged(reason) => {
                        return Err(StoreError::Corrupt(format!(
                            "{} is damaged at byte {offset} ({reason}) and later segments \
                             follow it: not a torn tail, refusing to lose what they hold",
                            path.display()
                        )));
                    }
                }
            }
            if is_last {
                tail_len = offset as u64;
            }
        }
        let next = recovery.last + 1;
        let mut segments: VecDeque<(u64, PathBuf)> = segments.into();
        if tail_len == 0
            && let Some((first, path)) = segments.back()
            && *first != next
        {
            // An empty segment named for records that never came (the checkpoint is past it):
            // begun afresh, so that the next record is where its name says.
            std::fs::remove_file(path).map_err(|error| storage(path.display(), error))?;
            segments.pop_back();
        }
        let file = match segments.back() {
            Some((_, path)) => OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| storage(path.display(), e))?,
            None => {
                let (file, path) = create_segment(dir, next)?;
                segments.push_back((next, path));
                file
            }
        };
        let tail =
            Tail { file: Arc::new(file), len: tail_len, next, segments, unwritten: Vec::new() };
        let writer = Writer { spare: Vec::new(), failed: false };
        let wal = Wal {
            dir: dir.to_owned(),
            segment_bytes,
            tail: Mutex::new(tail),
            writer: Mutex::new(writer),
        };
        Ok((wal, recovery))
    }

    /// Appends `payload` as the next record and returns its sequence number. It is durable once
    /// a [`Wal::sync`] that began after this returned has returned.
    pub fn append(&self, payload: &[u8]) -> Result<u64, StoreError> {
        if payload.is_empty() || payload.len() > PAYLOAD_MAX {
            return Err(StoreError::Storage(format!(
                "a log record of {} bytes (1 to {PAYLOAD_MAX})",
                payload.len()
            )));
        }
        let mut tail = self.lock();
        if tail.len >= self.segment_bytes {
            self.begin_segment(&mut tail)?;
        } else if tail.unwritten.len() >= UNWRITTEN_MAX {
            self.write_out(&mut tail)?;
        }
        let sequence = tail.next;
        let before = tail.unwritten.len();
        frame::encode(sequence, payload, &mut tail.unwritten);
        tail.len += (tail.unwritten.len() - before) as u64;
        tail.next += 1;
        Ok(sequence)
    }

    /// Makes every record appended so far durable; returns the last one's sequence number.
    pub fn sync(&self) -> Result<u64, StoreError> {
        let (file, last, group, mut writer) = {
            let mut tail = self.lock();
            let mut writer = self.writer();
            let spare = std::mem::take(&mut writer.spare);
            let group = std::mem::replace(&mut tail.unwritten, spare);
            (Arc::clone(&tail.file), tail.next - 1, group, writer)
        };
        // Appends go on meanwhile, into the spare buffer.
        let written = write_group(&file, &group, &mut writer);
        writer.spare = group;
        writer.spare.clear();
        drop(writer);
        written?;
        // Earlier segments were written and synced when the next one was begun.
        file.sync_data().map_err(|error| storage("fdatasync of the log", error))?;
        Ok(last)
    }

    /// The sequence number of the last record appended.
    pub fn last(&self) -> u64 {
        self.lock().next - 1
    }

    /// Deletes the segments whose every record is at or below `checkpoint` (never the one
    /// appends go to); returns how many.
    pub fn remove_below(&self, checkpoint: u64) -> Result<usize, StoreError> {
        let mut doomed = Vec::new();
        {
            let mut tail = self.lock();
            // A segment ends where the next begins.
            while tail.segments.len() > 1 && tail.segments[1].0 <= checkpoint + 1 {
                doomed.extend(tail.segments.pop_front().map(|(_, path)| path));
            }
        }
        for path in &doomed {
            std::fs::remove_file(path).map_err(|error| storage(path.display(), error))?;
        }
        Ok(doomed.len())
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> Vec<PathBuf> {
        self.lock().segments.iter().map(|(_, path)| path.clone()).collect()
    }

    /// Writes the tail's unwritten records to its segment now, after any group a sync took.
    fn write_out(&self, tail: &mut Tail) -> Result<(), StoreError> {
        let mut writer = self.writer();
        let written = write_group(&tail.file, &tail.unwritten, &mut writer);
        tail.unwritten.clear();
        written
    }

    fn begin_segment(&self, tail: &mut Tail) -> Result<(), StoreError> {
        self.write_out(tail)?;
        tail.file.sync_data().map_err(|error| storage("fdatasync of a full segment", error))?;
        let (file, path) = create_segment(&self.dir, tail.next)?;
        tail.segments.push_back((tail.next, path));
        tail.file = Arc::new(file);
        tail.len = 0;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Wal {
    /// A log let go of (a stop) leaves what was appended in its segment, synced or not, as a
    /// log writing each record at once did: the next start replays it.
    fn drop(&mut self) {
        let mut tail = self.lock();
        if let Err(error) = self.write_out(&mut tail) {
            tracing::warn!(%error, "the log's last records were not written at its close");
        }
    }
}

/// Writes `group` (whole records) to `file`, unless an earlier write failed.
fn write_group(file: &File, group: &[u8], writer: &mut Writer) -> Result<(), StoreError> {
    if writer.failed {
        return Err(StoreError::Storage("an earlier write to the log failed".into()));
    }
    if group.is_empty() {
        return Ok(());
    }
    let mut file = file;
    file.write_all(group).map_err(|error| {
        writer.failed = true;
        storage("writing to the log", error)
    })
}

/// A segment's file name: its first sequence number, zero-padded so that names sort as numbers.
fn segment_name(first: u64) -> String {
    format!("{first:020}.wal")
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|error| storage(dir.display(), error))?;
    let mut segments = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| storage(dir.display(), error))?.path();
        let first = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".wal"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(first) = first {
            segments.push((first, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Creates the segment beginning at `first`, and makes its name durable in the directory.
fn create_segment(dir: &Path, first: u64) -> Result<(File, PathBuf), StoreError> {
    let path = dir.join(segment_name(first));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|error| storage(path.display(), error))?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| storage(format!("fsync of {}", dir.display()), error))?;
    Ok((file, path))
}

fn cut_torn_tail(dropped: &Dropped) -> Result<(), StoreError> {
    tracing::warn!(
        segment = %dropped.segment.display(),
        offset = dropped.offset,
        bytes = dropped.bytes,
        reason = dropped.reason,
        "cut a torn record from the end of the log: it was never synced, so never acknowledged"
    );
    let path = &dropped.segment;
    let file = OpenOptions::new().write(true).open(path).map_err(|e| storage(path.display(), e))?;
    file.set_len(dropped.offset).map_err(|error| storage(path.display(), error))?;
    file.sync_all().map_err(|error| storage(path.display(), error))
}
