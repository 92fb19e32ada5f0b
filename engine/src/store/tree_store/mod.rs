//! The implementation of [`Store`] as trees of keys and values: on sled 0.34 behind Kassa's
//! write-ahead log (one node), or on PostgreSQL (several nodes on one database), the two bases
//! of [`base`]. Everything else here is the same code on both.
//!
//! Trees by record kind; keys from [`keys`]; values from [`codec`]; index entries are derived
//! from the records in [`change_ops`], so callers cannot forget one.
//!
//! A change set becomes its puts and removals ([`Op`]s). On PostgreSQL they are one transaction
//! ([`postgres`]). On sled they are encoded once and appended to the log as one record, and laid in the [`overlay`] under one lock, so that both receive change sets in
//! the log's order. The log is what makes a change set atomic and durable: the flusher syncs
//! it. sled is written later, off the acknowledgement path: the [`applier`] puts each durable
//! layer of the overlay into sled, every key's latest value once, and reads see the overlay laid
//! over sled ([`view`]) until it has. sled is flushed on its own schedule
//! ([`super::checkpointer`]). At open, records after sled's checkpoint are applied again, in
//! order; puts and removals are idempotent, so a record sled already held changes nothing. Every
//! write goes through the log — the gateways' own trees' too ([`gateway_trees`]) — or a replay
//! could put an older value over a newer one.
//!
//! Customers' change sets and the reads of what customers own are in [`customer_store`]; gateway
//! events are kept by [`gateway_events`], which finds those left unapplied through
//! [`unapplied`]; the tests are in `tests.rs`.

mod accounts;
mod applier;
mod archived;
mod audit;
mod bank;
mod base;
mod billing;
mod change_ops;
mod coupons;
mod customer_store;
mod fingerprint;
mod gateway_events;
mod gateway_trees;
mod ledger;
mod logged;
mod ops;
mod outbox;
mod overlay;
mod payees;
mod payouts;
mod personal;
mod postgres;
mod rotation;
mod sponsors;
#[cfg(test)]
mod tests;
mod transfer;
mod tree_ids;
mod unapplied;
mod versions;
mod view;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::archive::ArchiveFiles;
use super::checkpointer::{AppliedLog, read_checkpoint};
use super::codec::{decode, encode};
use super::group_commit::GroupCommit;
use super::payloads::PayloadLog;
use super::sealing::Sealer;
use super::wal::Wal;
use super::{
    Durable, DurableTicket, IdempotencyRecord, InboxStore, InsertedEvent, Page, PluginStore,
    StoreError, keys,
};
use crate::domain::{
    AccountId, Applied, CustomerId, EventId, GatewayEvent, NewGatewayEvent, PluginHistory,
    PluginKind,
};
use crate::limits::STORE_CACHE_BYTES_DEFAULT;
use applier::Applier;
use archived::ARCHIVE_DIR;
use base::{Base, PostgresBase, SledBase};
use gateway_events::PAYLOAD_LOG_FILE;
use gateway_trees::GATEWAY_TREE_NAMES;
use logged::{WAL_DIR, WAL_SEGMENT_BYTES, apply};
use ops::Op;
use overlay::Overlay;
use postgres::PgTrees;
use tree_ids::{TREE_NAMES, TreeId};
use unapplied::UnappliedEvents;

pub use rotation::Rotated;
pub use transfer::DumpSummary;

pub struct TreeStore {
    /// For tests to read the checkpoint; the store itself reaches sled through its trees.
    #[cfg(test)]
    db: Option<sled::Db>,
    /// The data directory: node-local files live here whichever base holds the trees.
    path: PathBuf,
    base: Base,
    /// On sled, what the log holds and sled not yet, read before sled; always empty on
    /// PostgreSQL, where a write is readable once committed.
    overlay: Arc<Overlay>,
    unapplied: UnappliedEvents,
    /// Seals personal data on write and opens it on read; `None`: kept as written (a store
    /// opened without a data key, as in unit tests).
    sealer: Option<Arc<Sealer>>,
    /// Each account's latest outgoing event's sequence number.
    sequences: outbox::Sequences,
    /// The accounts whose events are queued for delivery.
    listening: outbox::Listening,
    /// The books' running totals as last written (see [`ledger::RunningTotals`]).
    running: ledger::RunningTotals,
}

impl TreeStore {
    /// The store, sealing personal data with `sealer` from now on (and its customers' emails
    /// indexed by their keyed hash, the first time).
    pub fn sealed_by(mut self, sealer: Sealer) -> Result<TreeStore, StoreError> {
        self.sealer = Some(Arc::new(sealer));
        self.backfill_email_index()?;
        Ok(self)
    }

    /// Opens (or creates) the store in `path` with sled's page cache at its default size.
    pub fn open(path: &Path) -> Result<TreeStore, StoreError> {
        TreeStore::open_with_cache(path, STORE_CACHE_BYTES_DEFAULT)
    }

    /// Opens the store with a page cache of at most `cache_bytes` (`storage.cache_mib`).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<TreeStore, StoreError> {
        std::fs::create_dir_all(path).map_err(|error| {
            StoreError::Storage(format!("cannot create {}: {error}", path.display()))
        })?;
        // sled's own periodic flusher is off: the group commit flushes sled on Kassa's schedule
        // (see `super::group_commit`), and without that thread a dropped store lets go of its
        // files as soon as its last handle goes.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .open()?;
        // The engine's trees, then the gateways': the log names a tree by its place here.
        let trees: Vec<sled::Tree> = TREE_NAMES
            .iter()
            .chain(&GATEWAY_TREE_NAMES)
            .map(|name| db.open_tree(name))
            .collect::<Result<_, _>>()?;
        let checkpoint = read_checkpoint(&db)?;
        let (wal, recovery) =
            Wal::open(&path.join(WAL_DIR), WAL_SEGMENT_BYTES, checkpoint, |_, record| {
                apply(&trees, &ops::decode(record)?)
            })?;
        if recovery.replayed > 0 {
            tracing::info!(
                replayed = recovery.replayed,
                checkpoint,
                "applied the log's records after sled's checkpoint"
            );
        }
        let log = Arc::new(AppliedLog { wal, applied: AtomicU64::new(recovery.last) });
        let payloads = PayloadLog::open(&path.join(PAYLOAD_LOG_FILE))?;
        let archive = ArchiveFiles::open(&path.join(ARCHIVE_DIR))?;
        let overlay = Arc::new(Overlay::default());
        let applier = Applier::start(trees.clone(), Arc::clone(&overlay), Arc::clone(&log))?;
        let group_commit = GroupCommit::start(
            db.clone(),
            path,
            Arc::clone(&log),
            applier,
            payloads.sync_handle()?,
        )?;
        let base = Base::Sled(SledBase {
            trees,
            log,
            write_order: Mutex::new(()),
            group_commit,
            payloads,
            archive,
        });
        #[cfg(test)]
        let store = TreeStore::on(base, overlay, path, Some(db));
        #[cfg(not(test))]
        let store = TreeStore::on(base, overlay, path);
        store.ready()
    }

    /// Opens the store on the PostgreSQL database at `url`, creating or migrating its schema;
    /// `path` keeps the node's own files (none of the store's records).
    pub fn open_postgres(url: &str, path: &Path) -> Result<TreeStore, StoreError> {
        let trees = PgTrees::open(url)?;
        let base = Base::Postgres(Box::new(PostgresBase { trees, committed: AtomicU64::new(0) }));
        let overlay = Arc::new(Overlay::default());
        #[cfg(test)]
        let store = TreeStore::on(base, overlay, path, None);
        #[cfg(not(test))]
        let store = TreeStore::on(base, overlay, path);
        store.ready()
    }

    fn on(
        base: Base,
        overlay: Arc<Overlay>,
        path: &Path,
        #[cfg(test)] db: Option<sled::Db>,
    ) -> TreeStore {
        TreeStore {
            #[cfg(test)]
            db,
            path: path.to_owned(),
            base,
            overlay,
            unapplied: UnappliedEvents::default(),
            sealer: None,
            sequences: outbox::Sequences::default(),
            listening: outbox::Listening::default(),
            running: ledger::RunningTotals::default(),
        }
    }

    /// Backfills what an older store lacks and notes where events are listened for.
    fn ready(self) -> Result<TreeStore, StoreError> {
        self.backfill_audit_index()?;
        self.note_listening(None)?;
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes completed since the store opened (commits, on PostgreSQL).
    pub fn flushes(&self) -> u64 {
        match &self.base {
            Base::Sled(sled) => sled.group_commit.flushes(),
            Base::Postgres(postgres) => postgres.committed.load(Ordering::SeqCst),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        tree: TreeId,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.tree(tree).get(key)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Finds an object through its `account/id → customer` index.
    fn owned_by_id<T: serde::de::DeserializeOwned>(
        &self,
        owners: TreeId,
        records: TreeId,
        account: &AccountId,
        object_id: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.owner(owners, account, object_id)? {
            Some(owner) => self.get(records, &keys::owned(account, &owner, object_id)),
            None => Ok(None),
        }
    }

    /// The customer owning `object_id`, from the `account/id → customer` index `owners`.
    fn owner(
        &self,
        owners: TreeId,
        account: &AccountId,
        object_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let Some(owner) = self.tree(owners).get(keys::by_id(account, object_id))? else {
            return Ok(None);
        };
        std::str::from_utf8(&owner)
            .ok()
            .and_then(CustomerId::parse)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("owner index of {object_id}")))
    }

    fn scan_customer<T: serde::de::DeserializeOwned>(
        &self,
        tree: TreeId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<T>, StoreError> {
        self.tree(tree)
            .scan_prefix(keys::customer_prefix(account, customer))
            .map(|item| decode(&item?.1))
            .collect()
    }
}

impl TreeStore {
    /// Ends the store at a graceful stop: flushes what is pending, lets sled take everything
    /// durable and makes the last checkpoint, so the next start has nothing to replay. Other
    /// handles on the store may outlive this (threads that end with the process), so the stop
    /// cannot wait for the last one to be dropped. Nothing written after it is acknowledged.
    pub fn close(&self) {
        if let Base::Sled(sled) = &self.base {
            sled.group_commit.stop();
        }
    }
}

impl Drop for TreeStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Durable for TreeStore {
    fn sync(&self) -> DurableTicket {
        self.written()
    }

    fn reachable(&self) -> Result<(), StoreError> {
        match &self.base {
            Base::Sled(_) => Ok(()),
            Base::Postgres(postgres) => postgres.trees.ping(),
        }
    }

    fn shared(&self) -> bool {
        self.is_shared()
    }

    fn claim(&self, work: &str, node: &str, lease: Duration) -> Result<bool, StoreError> {
        match &self.base {
            Base::Sled(_) => Ok(true),
            Base::Postgres(postgres) => postgres.trees.claim(work, node, lease),
        }
    }

    fn release_claims(&self, node: &str) -> Result<(), StoreError> {
        match &self.base {
            Base::Sled(_) => Ok(()),
            Base::Postgres(postgres) => postgres.trees.release_claims(node),
        }
    }
}

impl InboxStore for TreeStore {
    fn insert_gateway_event(&self, event: NewGatewayEvent) -> Result<InsertedEvent, StoreError> {
        self.insert_event(event)
    }

    fn gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        self.event(account, id)
    }

    fn unapplied_gateway_events(&self) -> Result<Vec<GatewayEvent>, StoreError> {
        self.unapplied_events()
    }

    fn gateway_events_left(
        &self,
        received_before: i64,
        limit: usize,
    ) -> Result<Vec<GatewayEvent>, StoreError> {
        self.events_left(received_before, limit)
    }

    fn complete_gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
        applied: &Applied,
        owner: &AccountId,
    ) -> Result<DurableTicket, StoreError> {
        self.complete_event(account, id, applied, owner)
    }

    fn gateway_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<GatewayEvent>, StoreError> {
        self.list_events(account, kind, limit, starting_after)
    }
}

impl PluginStore for TreeStore {
    fn plugin_history(
        &self,
        account: &AccountId,
        kind: PluginKind,
    ) -> Result<Option<PluginHistory>, StoreError> {
        match self.tree(TreeId::Plugins).get(keys::plugin(account, kind.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn plugin_histories(&self) -> Result<Vec<(AccountId, PluginKind, PluginHistory)>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree(TreeId::Plugins).iter() {
            let (key, value) = item?;
            let corrupt = || StoreError::Corrupt(format!("plugin history key {key:?}"));
            let (account, kind) = keys::split_plugin(&key).ok_or_else(corrupt)?;
            let account = AccountId::parse(account).ok_or_else(corrupt)?;
            let kind = PluginKind::parse(kind).ok_or_else(corrupt)?;
            found.push((account, kind, decode(&value)?));
        }
        Ok(found)
    }

    fn put_plugin_history(
        &self,
        account: &AccountId,
        kind: PluginKind,
        history: &PluginHistory,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError> {
        let mut ops =
            vec![Op::put(TreeId::Plugins, keys::plugin(account, kind.as_str()), encode(history))];
        if let Some((key, record)) = answered {
            ops.push(Op::put(TreeId::Idempotency, keys::idempotency(account, key), encode(record)));
        }
        self.commit_ops(ops)
    }
}
