//! Group commit with ONE flusher thread.
//!
//! Writers apply their batch to sled, take a sequence number and wait until the flusher reports a
//! durable sequence at least as high. The flusher loops while there are unflushed writes: it
//! reads the newest sequence, calls sled's `flush()` and then `fdatasync`s sled's data file, and
//! publishes that sequence. Every writer whose batch was applied before the flush began is
//! covered by it, so concurrent writers share one fsync.
//!
//! Why this shape (measured on sled 0.34.7, see DESIGN.md): concurrent `flush_async` calls
//! deadlock, so there is exactly one flusher; and `flush()` ends in `sync_file_range`, which
//! survives `kill -9` but not a power cut, so the flusher adds the `fdatasync`.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{DurableTicket, StoreError};

/// After a failed flush, wait this long before trying again, so a full disk is not spun on.
const FLUSH_RETRY_DELAY: Duration = Duration::from_millis(100);

/// What the flusher has done, for metrics and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushStats {
    pub flushes: u64,
    pub last_flush: Duration,
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
    healthy: AtomicBool,
    stats: Mutex<FlushStats>,
    flusher: Mutex<Option<thread::JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupCommit {
    /// Starts the flusher thread for `db`, whose data file lives in `path`.
    pub fn start(db: sled::Db, path: &Path) -> Result<Arc<GroupCommit>, StoreError> {
        let data_file = File::open(path.join("db")).map_err(|error| {
            StoreError::Storage(format!("cannot open sled's data file: {error}"))
        })?;
        let (flushed, _) = watch::channel(0);
        let group = Arc::new(GroupCommit {
            written: AtomicU64::new(0),
            wake: Mutex::new(Wake::default()),
            wake_signal: Condvar::new(),
            flushed,
            healthy: AtomicBool::new(true),
            stats: Mutex::new(FlushStats::default()),
            flusher: Mutex::new(None),
        });
        let flusher = Arc::clone(&group);
        let handle = thread::Builder::new()
            .name("kassa-flusher".into())
            .spawn(move || flusher.run(db, data_file))
            .map_err(|error| StoreError::Storage(format!("cannot start the flusher: {error}")))?;
        *lock(&group.flusher) = Some(handle);
        Ok(group)
    }

    /// Call after a write has been applied: the returned ticket resolves once it is durable.
    /// While flushes fail (a full disk), tickets wait for the first one that succeeds: nothing
    /// is acknowledged that is not on disk.
    pub fn written(&self) -> DurableTicket {
        let sequence = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        self.request_flush();
        let mut flushed = self.flushed.subscribe();
        DurableTicket::new(Box::pin(async move {
            flushed
                .wait_for(|durable| *durable >= sequence)
                .await
                .map(drop)
                .map_err(|_| StoreError::Storage("the flusher has stopped".into()))
        }))
    }

    /// False while the last flush failed.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> FlushStats {
        *lock(&self.stats)
    }

    /// Flushes what is pending, then ends the flusher thread and waits for it, so the database
    /// is let go of (and can be opened again) when this returns.
    pub fn stop(&self) {
        lock(&self.wake).stopping = true;
        self.wake_signal.notify_one();
        if let Some(flusher) = lock(&self.flusher).take() {
            let _ = flusher.join();
        }
    }

    fn run(self: Arc<Self>, db: sled::Db, data_file: File) {
        while let Some(target) = self.next_target() {
            let started = Instant::now();
            let result = db.flush().map(drop).map_err(|error| error.to_string()).and_then(|()| {
                data_file.sync_data().map_err(|error| format!("fdatasync: {error}"))
            });
            match result {
                Ok(()) => {
                    self.healthy.store(true, Ordering::SeqCst);
                    let mut stats = lock(&self.stats);
                    stats.flushes += 1;
                    stats.last_flush = started.elapsed();
                    drop(stats);
                    self.flushed.send_replace(target);
                }
                Err(error) => {
                    tracing::error!(%error, "flush failed; acknowledgements wait for a retry");
                    self.healthy.store(false, Ordering::SeqCst);
                    thread::sleep(FLUSH_RETRY_DELAY);
                    self.request_flush();
                }
            }
        }
    }

    fn request_flush(&self) {
        lock(&self.wake).pending = true;
        self.wake_signal.notify_one();
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
