//! What the log holds and sled does not yet: every change set's ops, from its append until the
//! applier ([`super::applier`]) has put them into sled, kept in memory in layers, so that a read
//! sees a write from the moment it is appended (read-your-writes) while sled is written later,
//! in batches, off the acknowledgement path.
//!
//! Writes go to the open layer, in the log's order (under the store's write lock). Before each
//! sync of the log the flusher seals the open layer ([`Overlay::seal`]): every op in it was
//! appended before that sync, so once the sync returns the layer is durable
//! ([`Overlay::mark_durable`]) and the applier may put it into sled. A layer leaves the overlay
//! only after sled holds it, so a read that does not find a key here finds it in sled.
//! Reads look at the open layer, then the sealed ones newest first, then sled; a removal is
//! kept as a tombstone (`None`) until applied, hiding what sled still holds.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use sled::IVec;

use super::ops::Op;

/// One tree's ops in a layer: the latest value per key, `None` for a removal.
pub(super) type TreeOps = BTreeMap<Vec<u8>, Option<IVec>>;

/// Ops of consecutive log records, the latest per key.
#[derive(Default)]
pub(super) struct Layer {
    /// By the tree's number in the log.
    pub trees: BTreeMap<u8, TreeOps>,
    /// The sequence number of the last record in it.
    pub last: u64,
    /// The flusher's number for it: the layers are numbered in the order they were sealed.
    number: u64,
}

impl Layer {
    fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

struct Layers {
    open: Layer,
    /// Oldest first.
    sealed: VecDeque<Arc<Layer>>,
    /// Sealed layers up to this number are durable.
    durable: u64,
    next_number: u64,
}

pub(super) struct Overlay {
    layers: RwLock<Layers>,
    /// Signalled when a layer becomes durable and when one leaves.
    changed: Condvar,
    changed_lock: Mutex<()>,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            layers: RwLock::new(Layers {
                open: Layer::default(),
                sealed: VecDeque::new(),
                durable: 0,
                next_number: 1,
            }),
            changed: Condvar::new(),
            changed_lock: Mutex::new(()),
        }
    }
}

impl Overlay {
    /// Puts the ops of the record `sequence` into the open layer. Call in the log's order.
    pub fn put(&self, sequence: u64, ops: &[Op]) {
        let mut layers = self.layers.write();
        let open = &mut layers.open;
        for op in ops {
            let value = op.value.as_deref().map(IVec::from);
            open.trees.entry(op.tree).or_default().insert(op.key.clone(), value);
        }
        open.last = sequence;
    }

    /// What the overlay says of `key` in `tree`: `None` when it does not hold it (sled
    /// decides), `Some(None)` when it is removed.
    pub fn get(&self, tree: u8, key: &[u8]) -> Option<Option<IVec>> {
        let layers = self.layers.read();
        std::iter::once(&layers.open)
            .chain(layers.sealed.iter().rev().map(|layer| &**layer))
            .find_map(|layer| layer.trees.get(&tree).and_then(|ops| ops.get(key)).cloned())
    }

    /// The overlay's entries of `tree` within the bounds, ascending, the newest per key.
    pub fn entries(
        &self,
        tree: u8,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> VecDeque<(Vec<u8>, Option<IVec>)> {
        let layers = self.layers.read();
        let mut merged: BTreeMap<Vec<u8>, Option<IVec>> = BTreeMap::new();
        let oldest_first =
            layers.sealed.iter().map(|layer| &**layer).chain(std::iter::once(&layers.open));
        for layer in oldest_first {
            if let Some(ops) = layer.trees.get(&tree) {
                for (key, value) in ops.range::<[u8], _>(bounds) {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        merged.into_iter().collect()
    }

    /// Seals the open layer, if it holds anything; returns the number of the newest sealed
    /// layer, to hand to [`Overlay::mark_durable`] once the log's sync that follows returns.
    pub fn seal(&self) -> u64 {
        let mut layers = self.layers.write();
        if !layers.open.is_empty() {
            let number = layers.next_number;
            layers.next_number += 1;
            let mut sealed = std::mem::take(&mut layers.open);
            sealed.number = number;
            layers.sealed.push_back(Arc::new(sealed));
        }
        layers.next_number - 1
    }

    /// The sealed layers up to `number` are durable: the applier may take them.
    pub fn mark_durable(&self, number: u64) {
        let mut layers = self.layers.write();
        layers.durable = layers.durable.max(number);
        drop(layers);
        self.notify();
    }

    /// The durable layers not applied yet, oldest first (none: an empty list).
    pub fn durable_layers(&self) -> Vec<Arc<Layer>> {
        let layers = self.layers.read();
        let durable = layers.durable;
        layers.sealed.iter().take_while(|layer| layer.number <= durable).cloned().collect()
    }

    /// Drops the `count` oldest sealed layers: sled holds them now.
    pub fn remove_applied(&self, count: usize) {
        self.layers.write().sealed.drain(..count);
        self.notify();
    }

    /// Sealed layers waiting to be applied.
    pub fn sealed_len(&self) -> usize {
        self.layers.read().sealed.len()
    }

    /// Waits until `done` holds or a layer becomes durable or leaves, whichever comes first,
    /// at most `timeout`.
    pub fn wait_for_change(&self, timeout: std::time::Duration, done: impl Fn() -> bool) {
        let mut guard = self.changed_lock.lock();
        if !done() {
            self.changed.wait_for(&mut guard, timeout);
        }
    }

    fn notify(&self) {
        let _guard = self.changed_lock.lock();
        self.changed.notify_all();
    }
}
