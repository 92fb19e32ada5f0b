//! The checkpointer: sled, the store of record behind the write-ahead log, flushed on its own
//! thread and schedule — every [`CHECKPOINT_EVERY`] while change sets come, and once more at a
//! graceful stop — so that no acknowledgement waits for it. Each flush records a checkpoint
//! first: the sequence number up to which sled then holds every change set. The log's segments
//! wholly below it are deleted afterwards, and a start replays the log after it.
//!
//! This thread is the only one that flushes sled: concurrent `flush_async` calls deadlock
//! (measured on sled 0.34.7, see DESIGN.md). `flush()` ends in `sync_file_range`, which
//! survives `kill -9` but not a power cut, so the checkpointer adds the `fdatasync` — of the
//! data file, and of the files sled writes under `blobs/` for items too large for its log,
//! which sled never syncs itself.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::StoreError;
use super::wal::Wal;

/// How long sled may go unflushed while change sets come: bounds the log a start replays.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The key in sled's default tree holding the checkpoint (big-endian u64).
const CHECKPOINT_KEY: &[u8] = b"wal_checkpoint";

/// The write-ahead log and how far sled has applied it.
pub struct AppliedLog {
    pub wal: Wal,
    /// The sequence number of the last record applied to sled; every record before it is too
    /// (records are appended and applied in order, under the store's write lock).
    pub applied: AtomicU64,
}

/// The checkpoint sled holds: every change set up to it is in sled.
pub fn read_checkpoint(db: &sled::Db) -> Result<u64, StoreError> {
    match db.get(CHECKPOINT_KEY)? {
        None => Ok(0),
        Some(bytes) => bytes
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("the log checkpoint is not 8 bytes".into())),
    }
}

/// The checkpointer's thread and how to stop it.
pub struct Checkpointer {
    stopping: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Checkpointer {
    /// Starts checkpointing `db` (whose files live in `path`) behind `log`.
    pub fn start(
        db: sled::Db,
        path: &Path,
        log: Arc<AppliedLog>,
    ) -> Result<Arc<Checkpointer>, StoreError> {
        let checkpoint = read_checkpoint(&db)?;
        let sled = Sled { db, files: DurableFiles::open(path)?, checkpoint };
        let checkpointer = Arc::new(Checkpointer {
            stopping: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        });
        let running = Arc::clone(&checkpointer);
        let handle = thread::Builder::new()
            .name("kassa-checkpoint".into())
            .spawn(move || running.run(sled, &log))
            .map_err(|error| {
                StoreError::Storage(format!("cannot start the checkpointer: {error}"))
            })?;
        *lock(&checkpointer.thread) = Some(handle);
        Ok(checkpointer)
    }

    /// Makes the last checkpoint (sled then holds everything applied) and ends the thread.
    /// Call once nothing more is written.
    pub fn stop(&self) {
        *lock(&self.stopping) = true;
        self.wake.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }

    fn run(&self, mut sled: Sled, log: &AppliedLog) {
        loop {
            let stopping = {
                let stopping = lock(&self.stopping);
                let (stopping, _) = self
                    .wake
                    .wait_timeout_while(stopping, CHECKPOINT_EVERY, |stopping| !*stopping)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                *stopping
            };
            if stopping || log.applied.load(Ordering::SeqCst) != sled.checkpoint {
                if let Err(error) = sled.checkpoint(log) {
                    // After a failed fsync the kernel may drop the dirty pages and mark them
                    // clean ("fsyncgate"): a later flush could record a checkpoint over writes
                    // that are gone. Stop instead; the next start replays the log.
                    tracing::error!(%error, "checkpoint failed: stopping so that the log is replayed");
                    eprintln!("kassa: checkpoint failed ({error}): stopping");
                    std::process::abort();
                }
                sled.remove_checkpointed_segments(log);
            }
            if stopping {
                return;
            }
        }
    }
}

/// sled as the checkpointer sees it: the database and its files.
struct Sled {
    db: sled::Db,
    files: DurableFiles,
    /// The checkpoint last made durable.
    checkpoint: u64,
}

impl Sled {
    /// Records as the checkpoint the last record applied, then flushes sled: once the flush is
    /// done, sled holds every change set up to it. sled recovers a prefix of its own log, so a
    /// checkpoint that survives a crash means the writes before it did too.
    fn checkpoint(&mut self, log: &AppliedLog) -> Result<(), String> {
        let applied = log.applied.load(Ordering::SeqCst);
        let storage = |error: sled::Error| format!("sled: {error}");
        if applied != self.checkpoint {
            self.db.insert(CHECKPOINT_KEY, &applied.to_be_bytes()).map_err(storage)?;
        }
        self.db.flush().map_err(storage)?;
        self.files.sync()?;
        self.checkpoint = applied;
        Ok(())
    }

    /// Deletes the log's segments the checkpoint covers; a failure only leaves them to replay.
    fn remove_checkpointed_segments(&self, log: &AppliedLog) {
        if let Err(error) = log.wal.remove_below(self.checkpoint) {
            tracing::warn!(%error, "could not remove log segments below the checkpoint");
        }
    }
}

/// Sled's files that a flush must make durable, beyond what its `flush()` does.
struct DurableFiles {
    data: File,
    blobs: PathBuf,
    /// Blob files already synced; sled never rewrites one, it writes new ones.
    synced_blobs: HashSet<OsString>,
}

impl DurableFiles {
    fn open(path: &Path) -> Result<DurableFiles, StoreError> {
        let data = File::open(path.join("db")).map_err(|error| {
            StoreError::Storage(format!("cannot open sled's data file: {error}"))
        })?;
        Ok(DurableFiles { data, blobs: path.join("blobs"), synced_blobs: HashSet::new() })
    }

    /// New blobs first, then the data file whose log points at them.
    fn sync(&mut self) -> Result<(), String> {
        self.sync_new_blobs().map_err(|error| format!("syncing sled's blobs: {error}"))?;
        self.data.sync_data().map_err(|error| format!("fdatasync of sled's data file: {error}"))
    }

    fn sync_new_blobs(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut present = HashSet::new();
        let mut synced_any = false;
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced_blobs.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(blob) => blob.sync_all()?,
                    // sled removed a blob it no longer needs: nothing to make durable.
                    Err(error) if error.kind() == ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                }
                synced_any = true;
            }
            present.insert(name);
        }
        if synced_any {
            File::open(&self.blobs)?.sync_all()?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}
