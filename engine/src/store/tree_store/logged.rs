//! Committing ops under the write order (see [`super::base`]), the pace sled's writers keep with
//! the applier, and how a log record's tree numbers find their trees.

use std::time::Duration;

use super::gateway_trees::{GATEWAY_TREE_NAMES, GATEWAY_TREES_FIRST};
use super::ops::Op;
use super::{TREE_NAMES, TreeStore};
use crate::store::{DurableTicket, StoreError};

impl TreeStore {
    /// Appends `ops` to the log as one record and applies them (see the module's comment); the
    /// ticket says when they are durable.
    pub(super) fn commit_ops(&self, ops: Vec<Op>) -> Result<DurableTicket, StoreError> {
        let order = self.write_order()?;
        self.append_and_apply(&order, &ops)?;
        drop(order);
        Ok(self.written())
    }

    /// Waits while the applier is far behind the log: the overlay holds in memory what sled
    /// does not yet, and must not grow without bound when sled is slower than the log.
    pub(super) fn wait_for_the_applier(&self) {
        while self.overlay.sealed_entries() >= OVERLAY_ENTRIES_MAX {
            self.overlay.wait_for_change(Duration::from_millis(10), || {
                self.overlay.sealed_entries() < OVERLAY_ENTRIES_MAX
            });
        }
    }
}

/// Entries (a key's latest value) the overlay's sealed layers may hold before writers wait for
/// the applier: several seconds of writes at the heaviest load, a few hundred MiB at most.
const OVERLAY_ENTRIES_MAX: usize = 1_000_000;

/// Sealed entries past which the applier no longer keeps its pace but applies at once.
pub(super) const APPLY_AT_ONCE_PAST: usize = OVERLAY_ENTRIES_MAX / 4;

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
pub(super) fn numbered_tree(trees: &[sled::Tree], number: u8) -> Option<&sled::Tree> {
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
