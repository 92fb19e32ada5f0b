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
//!
//! A layer the applier has not taken yet is merged into the durable one before it as soon as
//! it is durable, so that while sled is slow (a flush of a full page cache) the sealed layers
//! stay a handful, not one per sync: a read looks at each of them.

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

    fn entries(&self) -> usize {
        self.trees.values().map(BTreeMap::len).sum()
    }

    /// Lays `newer` over this layer: its entries replace these under the same keys.
    fn absorb(&mut self, newer: Layer) {
        for (tree, ops) in newer.trees {
            self.trees.entry(tree).or_default().extend(ops);
        }
        self.last = newer.last;
        self.number = newer.number;
    }
}

struct Layers {
    open: Layer,
    /// Oldest first.
    sealed: VecDeque<Arc<Layer>>,
    /// Sealed layers up to this number are durable.
    durable: u64,
    /// The applier has taken the sealed layers up to this number: they are merged no more.
    taken: u64,
    next_number: u64,
    /// Entries in the sealed layers, for the writers' bound.
    sealed_entries: usize,
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
                taken: 0,
                next_number: 1,
                sealed_entries: 0,
            }),
            changed: Condvar::new(),
            changed_lock: Mutex::new(()),
        }
    }
}

impl Layers {
    /// Folds the durable layers the applier has not taken into the oldest of them. A layer
    /// not taken has no other holder, so it is changed in place.
    fn merge_untaken_durable(&mut self) {
        let (taken, durable) = (self.taken, self.durable);
        let first = self.sealed.iter().position(|layer| layer.number > taken);
        let Some(first) = first else { return };
        while self.sealed.len() > first + 1 && self.sealed[first + 1].number <= durable {
            let newer = self.sealed.remove(first + 1).expect("a layer after the first");
            let Ok(newer) = Arc::try_unwrap(newer) else {
                unreachable!("a layer the applier has not taken has no other holder")
            };
            let into =
                Arc::get_mut(&mut self.sealed[first]).expect("an untaken layer has one holder");
            let before = into.entries() + newer.entries();
            into.absorb(newer);
            self.sealed_entries = self.sealed_entries + into.entries() - before;
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
            layers.sealed_entries += sealed.entries();
            layers.sealed.push_back(Arc::new(sealed));
        }
        layers.next_number - 1
    }

    /// The sealed layers up to `number` are durable: the applier may take them. Those it has
    /// not taken are merged into one.
    pub fn mark_durable(&self, number: u64) {
        let mut layers = self.layers.write();
        layers.durable = layers.durable.max(number);
        layers.merge_untaken_durable();
        drop(layers);
        self.notify();
    }

    /// Takes the durable layers not applied yet, oldest first (none: an empty list); they are
    /// the applier's from here, merged no more.
    pub fn take_durable(&self) -> Vec<Arc<Layer>> {
        let mut layers = self.layers.write();
        let durable = layers.durable;
        let taken: Vec<Arc<Layer>> =
            layers.sealed.iter().take_while(|layer| layer.number <= durable).cloned().collect();
        if let Some(newest) = taken.last() {
            layers.taken = newest.number;
        }
        taken
    }

    /// Whether a durable layer waits to be taken.
    pub fn has_durable(&self) -> bool {
        let layers = self.layers.read();
        layers.sealed.front().is_some_and(|layer| layer.number <= layers.durable)
    }

    /// Drops the `count` oldest sealed layers: sled holds them now.
    pub fn remove_applied(&self, count: usize) {
        let mut layers = self.layers.write();
        let removed: usize = layers.sealed.drain(..count).map(|layer| layer.entries()).sum();
        layers.sealed_entries = layers.sealed_entries.saturating_sub(removed);
        drop(layers);
        self.notify();
    }

    /// Entries in the sealed layers, waiting to be applied.
    pub fn sealed_entries(&self) -> usize {
        self.layers.read().sealed_entries
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

#[cfg(test)]
mod tests {
    use super::*;

    fn put(overlay: &Overlay, sequence: u64, key: &str, value: &str) {
        let op = Op { tree: 1, key: key.into(), value: Some(value.into()) };
        overlay.put(sequence, &[op]);
    }

    fn sealed_durable(overlay: &Overlay) {
        let number = overlay.seal();
        overlay.mark_durable(number);
    }

    #[test]
    fn durable_layers_not_taken_merge_into_one_and_reads_see_the_newest() {
        let overlay = Overlay::default();
        put(&overlay, 1, "a", "a1");
        sealed_durable(&overlay);
        put(&overlay, 2, "a", "a2");
        put(&overlay, 3, "b", "b1");
        sealed_durable(&overlay);
        put(&overlay, 4, "c", "c1");
        sealed_durable(&overlay);
        assert_eq!(overlay.layers.read().sealed.len(), 1, "three syncs, one layer");
        assert_eq!(overlay.sealed_entries(), 3);
        assert_eq!(overlay.get(1, b"a"), Some(Some(IVec::from("a2"))));

        let taken = overlay.take_durable();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].last, 4);
        // Taken: what follows is not merged into it, but among itself.
        put(&overlay, 5, "a", "a3");
        sealed_durable(&overlay);
        put(&overlay, 6, "d", "d1");
        sealed_durable(&overlay);
        assert_eq!(overlay.layers.read().sealed.len(), 2);
        assert_eq!(overlay.get(1, b"a"), Some(Some(IVec::from("a3"))));
        overlay.remove_applied(taken.len());
        assert_eq!(overlay.sealed_entries(), 2);
        assert_eq!(overlay.get(1, b"b"), None, "sled holds it now");
        assert_eq!(overlay.take_durable()[0].last, 6);
    }
}
