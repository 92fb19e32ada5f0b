//! Where the trees live: sled behind Kassa's write-ahead log (one process), or PostgreSQL (one
//! database that several nodes share). Everything above this reads a tree through a
//! [`TreeView`] and writes ops through [`TreeStore::append_and_apply`], whichever it is.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::IVec;

use super::ops::{self, Op};
use super::postgres::{PgRange, PgTrees, Serialized};
use super::view::TreeView;
use super::{TreeId, TreeStore};
use crate::store::archive::{ArchiveFiles, ArchiveRef};
use crate::store::checkpointer::AppliedLog;
use crate::store::group_commit::GroupCommit;
use crate::store::payloads::{PayloadLog, PayloadRef};
use crate::store::{DurableTicket, StoreError};

pub(super) enum Base {
    Sled(SledBase),
    Postgres(Box<PostgresBase>),
}

pub(super) struct SledBase {
    /// The engine's trees, then the gateways' (see [`super::logged::numbered_tree`]).
    pub trees: Vec<sled::Tree>,
    /// The write-ahead log, and how far sled has applied it.
    pub log: Arc<AppliedLog>,
    /// Held from a record's append to its place in the overlay: the overlay, and so sled,
    /// receives records in the log's order.
    pub write_order: Mutex<()>,
    pub group_commit: Arc<GroupCommit>,
    /// Gateway events' raw payloads (see [`crate::store::payloads`]).
    pub payloads: PayloadLog,
    /// Archived records' blocks (see [`crate::store::archive`]).
    pub archive: ArchiveFiles,
}

pub(super) struct PostgresBase {
    pub trees: PgTrees,
    /// Transactions committed by this store: every one is durable once committed.
    pub committed: AtomicU64,
}

/// One tree of the base, as a [`TreeView`] reads it.
#[derive(Clone, Copy)]
pub(super) enum BaseTree<'a> {
    Sled(&'a sled::Tree),
    Postgres(&'a PgTrees),
}

impl<'a> BaseTree<'a> {
    pub fn get(&self, number: u8, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        match self {
            BaseTree::Sled(tree) => Ok(tree.get(key)?),
            BaseTree::Postgres(trees) => trees.get(number, key),
        }
    }

    pub fn range(&self, number: u8, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> BaseRange<'a> {
        match self {
            BaseTree::Sled(tree) => BaseRange::Sled(tree.range::<Vec<u8>, _>((lower, upper))),
            BaseTree::Postgres(trees) => BaseRange::Postgres(trees.range(number, lower, upper)),
        }
    }
}

pub(super) enum BaseRange<'a> {
    Sled(sled::Iter),
    Postgres(PgRange<'a>),
}

type Item = Result<(IVec, IVec), StoreError>;

impl Iterator for BaseRange<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match self {
            BaseRange::Sled(iter) => iter.next().map(|item| item.map_err(StoreError::from)),
            BaseRange::Postgres(range) => range.next(),
        }
    }
}

impl DoubleEndedIterator for BaseRange<'_> {
    fn next_back(&mut self) -> Option<Item> {
        match self {
            BaseRange::Sled(iter) => iter.next_back().map(|item| item.map_err(StoreError::from)),
            BaseRange::Postgres(range) => range.next_back(),
        }
    }
}

/// Held while deciding a write from what the store holds (a compare-and-swap) and making it.
pub(super) enum WriteOrder<'a> {
    Sled { _held: MutexGuard<'a, ()> },
    Postgres(Serialized<'a>),
}

impl TreeStore {
    pub(super) fn tree(&self, id: TreeId) -> TreeView<'_> {
        self.numbered(id.number())
    }

    /// The tree a log record numbers `number` (see [`super::logged::numbered_tree`]).
    pub(super) fn numbered(&self, number: u8) -> TreeView<'_> {
        let base = match &self.base {
            Base::Sled(sled) => BaseTree::Sled(
                super::logged::numbered_tree(&sled.trees, number)
                    .expect("the store's own numbers name its trees"),
            ),
            Base::Postgres(postgres) => BaseTree::Postgres(&postgres.trees),
        };
        TreeView { base, number, overlay: &self.overlay }
    }

    /// Held while deciding a write from what the store holds and making it. Every writer takes
    /// it: on sled, every writer waits here while the applier is far behind; on PostgreSQL it
    /// is a transaction holding the database's write lock.
    pub(super) fn write_order(&self) -> Result<WriteOrder<'_>, StoreError> {
        match &self.base {
            Base::Sled(sled) => {
                self.wait_for_the_applier();
                let held = sled.write_order.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Ok(WriteOrder::Sled { _held: held })
            }
            Base::Postgres(postgres) => postgres.trees.serialize().map(WriteOrder::Postgres),
        }
    }

    /// Makes `ops` under `order`: on sled, appended to the log as one record and laid in the
    /// overlay that the applier empties into sled, in the log's order; on PostgreSQL, the
    /// transaction's writes and its commit.
    pub(super) fn append_and_apply(
        &self,
        order: &WriteOrder<'_>,
        ops: &[Op],
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            // A change set that changes nothing (a state change decided to be none): no record.
            return Ok(());
        }
        match (&self.base, order) {
            (Base::Sled(sled), WriteOrder::Sled { .. }) => {
                // An append that fails leaves nothing behind (the log cuts a partial record off).
                let sequence = sled.log.wal.append(&ops::encode(ops))?;
                // Readable from here on; the applier puts it into sled once the log's sync
                // covers it.
                self.overlay.put(sequence, ops);
            }
            (Base::Postgres(postgres), WriteOrder::Postgres(serialized)) => {
                serialized.commit(ops)?;
                postgres.committed.fetch_add(1, Ordering::SeqCst);
            }
            _ => unreachable!("a write order is taken from its own store"),
        }
        Ok(())
    }

    /// Whether other nodes share the base (PostgreSQL): what one node keeps in memory of the
    /// store may then be out of date.
    pub(super) fn is_shared(&self) -> bool {
        matches!(self.base, Base::Postgres(_))
    }

    /// A ticket for everything written so far.
    pub(super) fn written(&self) -> DurableTicket {
        self.written_as().1
    }

    /// [`TreeStore::written`], with the sequence its writes are durable at (see
    /// [`TreeStore::durable`]).
    pub(super) fn written_as(&self) -> (u64, DurableTicket) {
        match &self.base {
            Base::Sled(sled) => sled.group_commit.written_as(),
            Base::Postgres(postgres) => {
                (postgres.committed.load(Ordering::SeqCst), DurableTicket::ready())
            }
        }
    }

    /// The sequence up to which writes are durable.
    pub(super) fn durable(&self) -> u64 {
        match &self.base {
            Base::Sled(sled) => sled.group_commit.durable(),
            Base::Postgres(postgres) => postgres.committed.load(Ordering::SeqCst),
        }
    }

    pub(super) fn append_payload(&self, payload: &[u8]) -> Result<PayloadRef, StoreError> {
        match &self.base {
            Base::Sled(sled) => sled.payloads.append(payload),
            Base::Postgres(postgres) => {
                let len = u32::try_from(payload.len())
                    .map_err(|_| StoreError::Storage("a payload over 4 GiB".into()))?;
                Ok(PayloadRef { offset: postgres.trees.append_payload(payload)?, len })
            }
        }
    }

    pub(super) fn read_payload(&self, at: PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.base {
            Base::Sled(sled) => sled.payloads.read(at),
            Base::Postgres(postgres) => postgres.trees.read_payload(at.offset),
        }
    }

    /// Appends an archive block, durably: an index entry may point into it once this returns.
    pub(super) fn append_archive(&self, block: &[u8]) -> Result<ArchiveRef, StoreError> {
        match &self.base {
            Base::Sled(sled) => sled.archive.append(block),
            Base::Postgres(postgres) => {
                let len = u32::try_from(block.len())
                    .map_err(|_| StoreError::Storage("an archive block over 4 GiB".into()))?;
                Ok(ArchiveRef { file: 0, offset: postgres.trees.append_payload(block)?, len })
            }
        }
    }

    pub(super) fn read_archive(&self, at: ArchiveRef) -> Result<Vec<u8>, StoreError> {
        let block = match &self.base {
            Base::Sled(sled) => Some(sled.archive.read(at)?),
            Base::Postgres(postgres) => postgres.trees.read_payload(at.offset)?,
        };
        block.ok_or_else(|| StoreError::Corrupt(format!("archive block {at:?} is missing")))
    }

    /// Writes a marker an index's backfill leaves when it finds nothing to index: on sled
    /// straight into the tree, durably, without a log record at every start of a new store.
    pub(super) fn mark_complete(&self, tree: TreeId, key: &[u8]) -> Result<(), StoreError> {
        match &self.base {
            Base::Sled(sled) => {
                let tree = &sled.trees[tree as usize];
                tree.insert(key, Vec::new())?;
                tree.flush()?;
                Ok(())
            }
            Base::Postgres(_) => self
                .append_and_apply(&self.write_order()?, &[Op::put(tree, key.to_vec(), Vec::new())]),
        }
    }
}
