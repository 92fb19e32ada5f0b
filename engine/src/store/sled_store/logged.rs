//! Writing through the log: each write's ops appended as one record, then applied to sled, in
//! the log's order; and how a record's tree numbers find their trees.

use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::gateway_trees::{GATEWAY_TREE_NAMES, GATEWAY_TREES_FIRST};
use super::ops::{self, Op};
use super::{SledStore, TREE_NAMES};
use crate::store::{DurableTicket, StoreError};

impl SledStore {
    /// Appends `ops` to the log as one record and applies them (see the module's comment); the
    /// ticket says when they are durable.
    pub(super) fn commit_ops(&self, ops: Vec<Op>) -> Result<DurableTicket, StoreError> {
        let order = self.write_order();
        self.append_and_apply(&order, &ops)?;
        drop(order);
        Ok(self.group_commit.written())
    }

    /// Held while deciding a write from what sled holds (a compare-and-swap) and making it.
    pub(super) fn write_order(&self) -> MutexGuard<'_, ()> {
        self.write_order.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn append_and_apply(
        &self,
        _order: &MutexGuard<'_, ()>,
        ops: &[Op],
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            // A change set that changes nothing (a state change decided to be none): no record.
            return Ok(());
        }
        // An append that fails leaves nothing behind (the log cuts a partial record off).
        let sequence = self.log.wal.append(&ops::encode(ops))?;
        if let Err(error) = apply(&self.trees, ops) {
            // The record is in the log; applying newer ones over a half-applied one would leave
            // sled in no state the log describes. Stop now: the next start applies it again.
            tracing::error!(%error, "a change set failed half-way: stopping to apply it at start");
            eprintln!("kassa: a change set failed half-way ({error}): stopping");
            std::process::abort();
        }
        self.log.applied.store(sequence, Ordering::SeqCst);
        Ok(())
    }
}

/// Where the log's segments live, inside the data directory.
pub(super) const WAL_DIR: &str = "wal";

/// A new log segment begins past this size; a checkpoint deletes whole segments only.
pub(super) const WAL_SEGMENT_BYTES: u64 = 64 << 20;

/// Applies a log record's ops to `trees` (the engine's, then the gateways').
pub(super) fn apply(trees: &[sled::Tree], ops: &[Op]) -> Result<(), StoreError> {
    for op in ops {
        let tree = numbered_tree(trees, op.tree).ok_or_else(|| {
            StoreError::Corrupt(format!("a log record names tree {}, which is none", op.tree))
        })?;
        match &op.value {
            Some(value) => tree.insert(&op.key, value.as_slice())?,
            None => tree.remove(&op.key)?,
        };
    }
    Ok(())
}

/// The tree a log record numbers `number`: the engine's trees from 0 in [`TREE_NAMES`]' order,
/// the gateways' from [`GATEWAY_TREES_FIRST`] on, so that a tree added to either list never
/// renumbers the other's.
fn numbered_tree(trees: &[sled::Tree], number: u8) -> Option<&sled::Tree> {
    let index = match number.checked_sub(GATEWAY_TREES_FIRST) {
        Some(gateway) if usize::from(gateway) < GATEWAY_TREE_NAMES.len() => {
            TREE_NAMES.len() + usize::from(gateway)
        }
        Some(_) => return None,
        None if usize::from(number) < TREE_NAMES.len() => usize::from(number),
        None => return None,
    };
    trees.get(index)
}
