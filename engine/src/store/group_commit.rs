//! Group commit with ONE flusher thread.
//!
//! Writers append their change set to the write-ahead log ([`super::wal`]), take a sequence
//! number and wait until the flusher reports a durable sequence at least as high. The flusher
//! loops while there are unflushed writes: it reads the newest sequence; tells the store of
//! record's [`Follower`] that a sync begins; has its helper thread `fdatasync` the gateway
//! events' payload log while it `fdatasync`s the log; and publishes that sequence, and tells the
//! follower, once both are done. Every writer whose write was made before the flush began is
//! covered by it, so concurrent writers share one fsync. sled is written by the follower and
//! flushed apart, by the [`super::checkpointer`].
//!
//! The two files of a round are synced side by side, not one after the other, because nothing
//! acknowledged depends on their order: an acknowledgement waits for both. A round with no
//! payload appended since the last sync of that file syncs the log alone. A record that reached
//! the disk without its payload belongs to a delivery never acknowledged, and its payload's CRC
//! makes it read as absent (see [`super::payloads`]).

use std::cell::Cell;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::checkpointer::{AppliedLog, Checkpointer};
use super::flush_hold::FlushHold;
use super::payloads::WrittenEnd;
use super::{DurableTicket, StoreError};

/// Under heavy load — the last flush covered at least [`HEAVY_BATCH`] writes and ended less than
/// [`HEAVY_WITHIN`] ago — a flush that would cover fewer than [`GATHER_WRITES`] waits
/// [`GATHER_FOR`] first, so that more writes share its fsyncs: a flush costs the same few I/Os
/// however many writes it covers, and at such rates those I/Os are what the machine runs out of.
/// Lighter load pays no wait: its latency is the fsync's alone.
const HEAVY_BATCH: u64 = 8;
const HEAVY_WITHIN: Duration = Duration::from_millis(2);
const GATHER_WRITES: u64 = 32;
const GATHER_FOR: Duration = Duration::from_micros(300);

/// The store of record behind the log, told around each of the log's syncs: what was appended
/// before a sync began is durable once it returns.
pub trait Follower: Send + Sync {
    /// A sync of the log begins; the mark returned covers every write appended so far.
    fn before_sync(&self) -> u64;
    /// The sync begun at `mark` returned: what the mark covers is durable.
    fn synced(&self, mark: u64);
    /// The flusher has ended: put what is durable into the store of record, then return.
    fn finish(&self);
}

#[derive(Default)]
struct Wake {
    pending: bool,
    stopping: bool,
}

pub struct GroupCommit {
    written: AtomicU64,
    wake: Mutex<Wake>,
    wake_signal: Condvar,
    /// The highest sequence known durable.
    flushed: watch::Sender<u64>,
    /// Flushes completed, for tests; metrics carry their duration and size.
    flushes: AtomicU64,
    flusher: Mutex<Option<thread::JoinHandle<()>>>,
    follower: Arc<dyn Follower>,
    checkpointer: Arc<Checkpointer>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupCommit {
    /// Starts the flusher thread for `db`, whose data file lives in `path`, in front of which
    /// `log` is the write-ahead log, and which `follower` writes. `payloads` is the gateway
    /// events' payload log, synced beside the log in every round.
    pub fn start(
        db: sled::Db,
        path: &Path,
        log: Arc<AppliedLog>,
        follower: Arc<dyn Follower>,
        (payloads, payloads_end): (File, WrittenEnd),
    ) -> Result<Arc<GroupCommit>, StoreError> {
        let checkpointer = Checkpointer::start(db, path, Arc::clone(&log))?;
        let payloads = PayloadSyncer::start(payloads, payloads_end)?;
        let (flushed, _) = watch::channel(0);
        let group = Arc::new(GroupCommit {
            written: AtomicU64::new(0),
            wake: Mutex::new(Wake::default()),
            wake_signal: Condvar::new(),
            flushed,
            flushes: AtomicU64::new(0),
            flusher: Mutex::new(None),
            follower,
            checkpointer,
        });
        let flusher = Arc::clone(&group);
        let handle = thread::Builder::new()
            .name("kassa-flusher".into())
            .spawn(move || flusher.run(&log, payloads))
            .map_err(|error| StoreError::Storage(format!("cannot start the flusher: {error}")))?;
        *lock(&group.flusher) = Some(handle);
        Ok(group)
    }

    /// Call after a write has been applied: the returned ticket resolves once it is durable.
    pub fn written(&self) -> DurableTicket {
        self.written_as().1
    }

    /// [`Self::written`], with the write's sequence: durable once [`Self::durable`] reaches it.
    pub fn written_as(&self) -> (u64, DurableTicket) {
        let sequence = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        self.request_flush();
        let mut flushed = self.flushed.subscribe();
        let ticket = DurableTicket::new(Box::pin(async move {
            flushed
                .wait_for(|durable| *durable >= sequence)
                .await
                .map(drop)
                .map_err(|_| StoreError::Storage("the flusher has stopped".into()))
        }));
        (sequence, ticket)
    }

    /// The highest sequence known durable.
    pub fn durable(&self) -> u64 {
        *self.flushed.borrow()
    }

    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Flushes what is pending, then ends the flusher thread and waits for it, then for the
    /// follower to write what is durable, then makes the last checkpoint, so the database is
    /// let go of (and can be opened again, with nothing to replay) when this returns.
    pub fn stop(&self) {
        lock(&self.wake).stopping = true;
        self.wake_signal.notify_one();
        if let Some(flusher) = lock(&self.flusher).take() {
            let _ = flusher.join();
        }
        self.follower.finish();
        self.checkpointer.stop();
    }

    fn run(self: Arc<Self>, log: &AppliedLog, payloads: PayloadSyncer) {
        let metrics = crate::metrics::global();
        let mut flushed_before = 0;
        let mut heavy_until: Option<Instant> = None;
        let hold = FlushHold::from_env();
        while let Some(mut target) = self.next_target() {
            hold.wait(|| lock(&self.wake).stopping);
            if target - flushed_before < GATHER_WRITES
                && heavy_until.is_some_and(|until| Instant::now() < until)
            {
                thread::sleep(GATHER_FOR);
                target = self.written.load(Ordering::SeqCst);
            }
            if target == flushed_before {
                // Writes the previous flush gathered already; nothing new to make durable.
                continue;
            }
            let started = Instant::now();
            let mark = self.follower.before_sync();
            let payloads_synced = payloads.start_sync();
            let synced = log.wal.sync().map(drop).map_err(|error| error.to_string());
            if let Err(error) = payloads_synced.wait().and(synced) {
                // After a failed fsync the kernel may drop the dirty pages and mark them clean
                // ("fsyncgate"): a later flush could succeed and acknowledge writes that are
                // gone. Stop instead; recovery at the next start settles what was under way.
                tracing::error!(%error, "flush failed: stopping so that nothing lost is acknowledged");
                eprintln!("kassa: flush failed ({error}): stopping");
                std::process::abort();
            }
            let elapsed = started.elapsed();
            let batch = target - flushed_before;
            metrics.flush_duration.observe(elapsed.as_secs_f64());
            metrics.flush_batch.observe(batch as f64);
            flushed_before = target;
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.flushed.send_replace(target);
            self.follower.synced(mark);
            heavy_until = (batch >= HEAVY_BATCH).then(|| Instant::now() + HEAVY_WITHIN);
        }
    }

    /// Only the write that sets `pending` wakes the flusher: the flusher reads `written` after it
    /// clears `pending`, so a write that finds it set is covered by the round already asked for,
    /// and under load most writes skip the futex wake (a system call even with no one waiting).
    fn request_flush(&self) {
        let mut wake = lock(&self.wake);
        if !wake.pending {
            wake.pending = true;
            drop(wake);
            self.wake_signal.notify_one();
        }
    }

    /// Waits until there is something to flush and returns the sequence a flush now would cover;
    /// `None` once stopping and nothing is left.
    fn next_target(&self) -> Option<u64> {
        let mut wake = lock(&self.wake);
        while !wake.pending && !wake.stopping {
            wake = self.wake_signal.wait(wake).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if !wake.pending {
            return None;
        }
        wake.pending = false;
        Some(self.written.load(Ordering::SeqCst))
    }
}

/// The flusher's helper: `fdatasync`s the payload log on its own thread, so that it overlaps
/// the log's. It ends when the flusher drops it.
struct PayloadSyncer {
    requests: SyncSender<()>,
    results: Receiver<Result<(), String>>,
    written_end: WrittenEnd,
    /// Where the file was written up to when its last sync began; `None` before the first.
    synced_end: Cell<Option<u64>>,
}

/// A payload sync under way; [`PendingSync::wait`] must be called before the next one starts.
#[must_use = "a flush is durable only once its payload sync is waited for"]
struct PendingSync<'a> {
    syncer: &'a PayloadSyncer,
    state: SyncState,
}

enum SyncState {
    /// Nothing was appended since the last sync.
    Unneeded,
    /// The syncer was asked to sync the file, written up to `end`.
    Started { end: u64 },
    /// The syncer has stopped.
    Stopped,
}

impl PayloadSyncer {
    fn start(payloads: File, written_end: WrittenEnd) -> Result<PayloadSyncer, StoreError> {
        let (requests, requested) = sync_channel::<()>(1);
        let (answer, results) = sync_channel(1);
        thread::Builder::new()
            .name("kassa-payload-sync".into())
            .spawn(move || {
                for () in requested {
                    let synced = payloads
                        .sync_data()
                        .map_err(|error| format!("fdatasync of the payload log: {error}"));
                    if answer.send(synced).is_err() {
                        return;
                    }
                }
            })
            .map_err(|error| {
                StoreError::Storage(format!("cannot start the payload log's syncer: {error}"))
            })?;
        Ok(PayloadSyncer { requests, results, written_end, synced_end: Cell::new(None) })
    }

    /// Call after the round's target sequence was read: every payload of a write up to it is
    /// counted in the end read here.
    fn start_sync(&self) -> PendingSync<'_> {
        let end = self.written_end.get();
        let state = match self.synced_end.get() == Some(end) {
            true => SyncState::Unneeded,
            false if self.requests.send(()).is_ok() => SyncState::Started { end },
            false => SyncState::Stopped,
        };
        PendingSync { syncer: self, state }
    }
}

impl PendingSync<'_> {
    fn wait(self) -> Result<(), String> {
        let stopped = || "the payload log's syncer has stopped".to_owned();
        match self.state {
            SyncState::Unneeded => Ok(()),
            SyncState::Stopped => Err(stopped()),
            SyncState::Started { end } => {
                self.syncer.results.recv().unwrap_or_else(|_| Err(stopped()))?;
                self.syncer.synced_end.set(Some(end));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::payloads::PayloadLog;

    #[test]
    fn the_payload_log_is_synced_only_after_an_append() {
        let directory = tempfile::tempdir().unwrap();
        let log = PayloadLog::open(&directory.path().join("payloads")).unwrap();
        let (file, end) = log.sync_handle().unwrap();
        let syncer = PayloadSyncer::start(file, end).unwrap();
        let started = |sync: &PendingSync<'_>| matches!(sync.state, SyncState::Started { .. });

        let first = syncer.start_sync();
        assert!(started(&first), "the first round syncs what an earlier run left unsynced");
        first.wait().unwrap();
        let idle = syncer.start_sync();
        assert!(!started(&idle), "nothing appended since: no sync");
        idle.wait().unwrap();

        log.append(b"{\"id\":1}").unwrap();
        let after_append = syncer.start_sync();
        assert!(started(&after_append), "an append is synced in the next round");
        after_append.wait().unwrap();
        assert!(!started(&syncer.start_sync()), "and only once");
    }
}
