//! Kassa's write-ahead log: change sets appended to segment files, each record framed with its
//! length, checksum and sequence number ([`frame`]), made durable by one `fdatasync` per group of
//! appends.
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

pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    tail: Mutex<Tail>,
}

struct Tail {
    /// The segment appends go to; shared with the flusher's sync.
    file: Arc<File>,
    /// Bytes in it.
    len: u64,
    /// The sequence number the next record gets.
    next: u64,
    /// Every segment, oldest first: (its first sequence number, its path).
    segments: VecDeque<(u64, PathBuf)>,
    /// Reused for each append's record.
    buffer: Vec<u8>,
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
        let tail = Tail { file: Arc::new(file), len: tail_len, next, segments, buffer: Vec::new() };
        let wal = Wal { dir: dir.to_owned(), segment_bytes, tail: Mutex::new(tail) };
        Ok((wal, recovery))
    }

    /// Appends `payload` as the next record and returns its sequence number. It is in the file,
    /// not yet durable: [`Wal::sync`] makes it so.
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
        }
        let sequence = tail.next;
        let Tail { file, len, buffer, .. } = &mut *tail;
        buffer.clear();
        frame::encode(sequence, payload, buffer);
        if let Err(error) = (&**file).write_all(buffer) {
            // Part of the record may be in the file: cut it off, so that the next append does
            // not follow garbage. If even that fails the segment is unusable.
            file.set_len(*len).map_err(|error| storage("cutting a failed append", error))?;
            return Err(storage("appending to the log", error));
        }
        *len += buffer.len() as u64;
        tail.next += 1;
        Ok(sequence)
    }

    /// Makes every record appended so far durable; returns the last one's sequence number.
    pub fn sync(&self) -> Result<u64, StoreError> {
        let (file, last) = {
            let tail = self.lock();
            (Arc::clone(&tail.file), tail.next - 1)
        };
        // Earlier segments were synced when the next one was begun.
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

    fn begin_segment(&self, tail: &mut Tail) -> Result<(), StoreError> {
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
