//! Gateway events' raw payloads, appended to one file beside sled's: a B-tree holds ~2 KB values
//! badly (each insert into the newest leaf copies and splits it, and every flush writes the
//! copies), while an append is one write. The store keeps a small record per event in sled that
//! points here.
//!
//! Durability: the group-commit flusher fdatasyncs this file alongside the log, and an event
//! is acknowledged only once both are done, so an acknowledged event's record never points past
//! what is on disk. A round in which nothing was appended skips the file: most rounds carry
//! charges, not gateway events. A record that a flush caught without its payload (never
//! acknowledged) may point at bytes a power cut lost: each entry carries its length and CRC-32,
//! and a bad one reads as absent.
//!
//! Entry: length (u32 LE), CRC-32 of the payload (u32 LE), payload.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::StoreError;

const HEADER_LEN: u64 = 8;

/// Where a payload is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    pub offset: u64,
    pub len: u32,
}

pub struct PayloadLog {
    /// Appends are serialised so that each one's offset is known.
    writer: Mutex<File>,
    /// The end of the file, moved only under `writer`; the flusher reads it to tell whether a
    /// round has anything to sync here.
    written_end: WrittenEnd,
    reader: File,
}

/// How far appends have written the payload log: the flusher syncs it only when this moved.
#[derive(Clone)]
pub struct WrittenEnd(Arc<AtomicU64>);

impl WrittenEnd {
    /// A payload appended before a write whose sequence the flusher has read is counted here:
    /// its writer appends it, then its log record.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl PayloadLog {
    pub fn open(path: &Path) -> Result<PayloadLog, StoreError> {
        let error = |error: std::io::Error| {
            StoreError::Storage(format!("cannot open {}: {error}", path.display()))
        };
        let writer = OpenOptions::new().create(true).append(true).open(path).map_err(error)?;
        let end = writer.metadata().map_err(error)?.len();
        let reader = File::open(path).map_err(error)?;
        let written_end = WrittenEnd(Arc::new(AtomicU64::new(end)));
        Ok(PayloadLog { writer: Mutex::new(writer), written_end, reader })
    }

    /// A handle for the flusher's fdatasync, and how far appends have written.
    pub fn sync_handle(&self) -> Result<(File, WrittenEnd), StoreError> {
        let file = self.reader.try_clone().map_err(|error| {
            StoreError::Storage(format!("cannot share the payload log: {error}"))
        })?;
        Ok((file, self.written_end.clone()))
    }

    pub fn append(&self, payload: &[u8]) -> Result<PayloadRef, StoreError> {
        let len = u32::try_from(payload.len())
            .map_err(|_| StoreError::Storage("a payload over 4 GiB".into()))?;
        let mut entry = Vec::with_capacity(HEADER_LEN as usize + payload.len());
        entry.extend_from_slice(&len.to_le_bytes());
        entry.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        entry.extend_from_slice(payload);
        let mut file = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let offset = self.written_end.get();
        let written = file.write_all(&entry);
        let end = match &written {
            // A partial entry may be in the file: find the end again rather than guess.
            Err(_) => file.metadata().map(|meta| meta.len()).unwrap_or(offset),
            Ok(()) => offset + entry.len() as u64,
        };
        // Moved on even after a failed write, whose partial entry the next sync must cover.
        self.written_end.0.store(end, Ordering::SeqCst);
        written.map_err(|error| StoreError::Storage(format!("appending a payload: {error}")))?;
        Ok(PayloadRef { offset, len })
    }

    /// The payload at `at`; `None` when the entry there is missing or damaged.
    pub fn read(&self, at: PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        let mut entry = vec![0; HEADER_LEN as usize + at.len as usize];
        match self.reader.read_exact_at(&mut entry, at.offset) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(StoreError::Storage(format!("reading a payload: {error}"))),
        }
        let len = u32::from_le_bytes(entry[0..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(entry[4..8].try_into().expect("4 bytes"));
        let payload = entry.split_off(HEADER_LEN as usize);
        Ok((len == at.len && crc32fast::hash(&payload) == crc).then_some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_payloads_read_back_across_a_reopen_and_damage_reads_as_absent() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("payloads");
        let (first, second) = {
            let log = PayloadLog::open(&path).unwrap();
            (log.append(b"{\"id\":1}").unwrap(), log.append(b"second").unwrap())
        };
        let log = PayloadLog::open(&path).unwrap();
        assert_eq!(log.read(first).unwrap().as_deref(), Some(&b"{\"id\":1}"[..]));
        assert_eq!(log.read(second).unwrap().as_deref(), Some(&b"second"[..]));
        let third = log.append(b"third").unwrap();
        assert_eq!(third.offset, second.offset + HEADER_LEN + 6, "appends go after the end");
        // Past the end (a torn tail), and a wrong length, read as absent.
        assert_eq!(log.read(PayloadRef { offset: third.offset + 100, len: 5 }).unwrap(), None);
        assert_eq!(log.read(PayloadRef { offset: first.offset, len: 3 }).unwrap(), None);
        // A flipped byte fails the CRC.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"X", second.offset + HEADER_LEN).unwrap();
        assert_eq!(log.read(second).unwrap(), None);
    }
}
