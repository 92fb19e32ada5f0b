//! The applier: puts the overlay's durable layers into sled on its own thread
//! ([`super::overlay`]), so that no acknowledgement waits for sled. It takes every durable
//! layer there is at once and writes each key's latest value only, tree by tree: a charge
//! settled by the time its layers are applied writes its record once, and an index entry put
//! and removed in between is only removed. Then it records how far sled holds the log, for
//! the checkpointer, and lets the layers go.
//!
//! The flusher drives it ([`Follower`]): it seals the open layer before each sync of the log
//! and marks it durable after.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sled::IVec;

use super::logged::{APPLY_AT_ONCE_PAST, numbered_tree};
use super::overlay::{Layer, Overlay};
use crate::store::StoreError;
use crate::store::checkpointer::AppliedLog;
use crate::store::group_commit::Follower;

/// How long the applier sleeps when it is not woken: a bound, not the pace (a durable layer
/// wakes it).
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// The applier's pace: at most one round per this long, so that a round finds the layers of
/// many syncs and writes each key once however often they changed it (a charge's two change
/// sets are a sync apart). What waits meanwhile is in memory, read from the overlay.
const APPLY_EVERY: Duration = Duration::from_millis(20);

pub(super) struct Applier {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

struct Shared {
    overlay: Arc<Overlay>,
    trees: Vec<sled::Tree>,
    log: Arc<AppliedLog>,
    stopping: AtomicBool,
}

impl Applier {
    pub fn start(
        trees: Vec<sled::Tree>,
        overlay: Arc<Overlay>,
        log: Arc<AppliedLog>,
    ) -> Result<Arc<Applier>, StoreError> {
        let shared = Arc::new(Shared { overlay, trees, log, stopping: AtomicBool::new(false) });
        let running = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("kassa-applier".into())
            .spawn(move || running.run())
            .map_err(|error| StoreError::Storage(format!("cannot start the applier: {error}")))?;
        Ok(Arc::new(Applier { shared, thread: Mutex::new(Some(thread)) }))
    }
}

impl Follower for Applier {
    fn before_sync(&self) -> u64 {
        self.shared.overlay.seal()
    }

    fn synced(&self, mark: u64) {
        self.shared.overlay.mark_durable(mark);
    }

    fn finish(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.overlay.mark_durable(0);
        let thread = self.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn run(&self) {
        let mut round_began = Instant::now();
        loop {
            let layers = self.overlay.take_durable();
            if layers.is_empty() {
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                self.overlay.wait_for_change(IDLE_WAKE, || {
                    self.stopping.load(Ordering::SeqCst) || self.overlay.has_durable()
                });
                continue;
            }
            if let Err(error) = self.apply(&layers) {
                // The log holds these layers; sled may hold part of them. Stop: the next start
                // applies them again from the log, which sled's checkpoint has not passed.
                tracing::error!(%error, "applying the log to sled failed: stopping");
                eprintln!("kassa: applying the log to sled failed ({error}): stopping");
                std::process::abort();
            }
            let last = layers.last().map_or(0, |layer| layer.last);
            self.log.applied.fetch_max(last, Ordering::SeqCst);
            self.overlay.remove_applied(layers.len());
            let backlog = self.overlay.sealed_entries() >= APPLY_AT_ONCE_PAST;
            if let Some(left) = APPLY_EVERY.checked_sub(round_began.elapsed())
                && !backlog
                && !self.stopping.load(Ordering::SeqCst)
            {
                thread::sleep(left);
            }
            round_began = Instant::now();
        }
    }

    /// Writes the layers' latest value per key into sled, one batch per tree.
    fn apply(&self, layers: &[Arc<Layer>]) -> Result<(), StoreError> {
        // Borrowed from the layers, which outlive the round: nothing is copied to be merged.
        let mut latest: BTreeMap<u8, BTreeMap<&[u8], &Option<IVec>>> = BTreeMap::new();
        for layer in layers {
            for (number, ops) in &layer.trees {
                let tree = latest.entry(*number).or_default();
                for (key, value) in ops {
                    tree.insert(key, value);
                }
            }
        }
        for (number, ops) in latest {
            let tree = numbered_tree(&self.trees, number).ok_or_else(|| {
                StoreError::Corrupt(format!("the overlay names tree {number}, which is none"))
            })?;
            // One op at a time, not sled's `apply_batch`: a batch holds sled's global write
            // lock, which stops every read of every tree until it is done. The layers need no
            // atomicity here: the log has them, and a start applies them again after a crash.
            for (key, value) in ops {
                match value {
                    Some(value) => tree.insert(key, value.clone())?,
                    None => tree.remove(key)?,
                };
            }
        }
        Ok(())
    }
}
