//! The sled 0.34 implementation of [`Store`].
//!
//! Trees by record kind; keys from [`keys`]; values from [`codec`]; index entries are derived
//! from the records here, so callers cannot forget one.
//!
//! Atomicity without sled's batches: sled 0.34's transactions and batches cost ~16 µs per tree
//! or key they touch (measured here), several times a plain insert. So a change set is first
//! written as ONE journal entry (a single insert, atomic), then applied with plain puts, then its
//! entry is removed. sled recovers a prefix of its log, so a surviving removal means the puts
//! before it survived too; an entry that survives a crash is re-applied at open, in commit order,
//! before anything reads the store. Puts and removals are idempotent, so replaying is safe.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::{decode, encode};
use super::group_commit::GroupCommit;
use super::payloads::{PayloadLog, PayloadRef};
use super::{
    ChangeSet, DurableTicket, IdempotencyRecord, IdempotencyState, Outcome, Page, Store,
    StoreError, Unsettled, Write, keys,
};
use crate::domain::{
    AccountId, Applied, Charge, ChargeId, Customer, CustomerId, Dispute, DisputeId, Event, EventId,
    GatewayEvent, PaymentMethod, PaymentMethodId, PluginHistory, PluginKind, Refund, RefundId,
    RefundStatus,
};
use crate::limits::STORE_CACHE_BYTES_DEFAULT;

/// The trees, in the order of the transaction's view.
#[derive(Clone, Copy)]
enum TreeId {
    Customers,
    PaymentMethods,
    PaymentMethodOwners,
    Charges,
    ChargeOwners,
    Refunds,
    RefundOwners,
    Events,
    Idempotency,
    /// Charges still `processing` and refunds still `pending`, for recovery to find quickly.
    Unsettled,
    /// A priced charge's breakdown, under the charge's own key: written once, when the charge
    /// is created, and joined to the charge on every read.
    Breakdowns,
    /// `gateway/reference` → `account/customer/charge`.
    ChargeReferences,
    Disputes,
    DisputeOwners,
    /// Gateway events under `account/evt_…` (Kassa's id): the account's list is a range scan.
    GatewayEvents,
    /// `gateway/gateway event id` → `account/evt_…`: what deduplicates deliveries.
    GatewayEventIds,
    /// `account/evt_…` of every event persisted and not yet applied.
    EventInbox,
    /// `account/evt_…` → what applying the event did: written apart from the event, so its
    /// payload is written once.
    EventOutcomes,
}

const TREE_NAMES: [&str; 18] = [
    "customers",
    "payment_methods",
    "payment_method_owners",
    "charges",
    "charge_owners",
    "refunds",
    "refund_owners",
    "events",
    "idempotency",
    "unsettled",
    "breakdowns",
    "charge_references",
    "disputes",
    "dispute_owners",
    "gateway_events",
    "gateway_event_ids",
    "event_inbox",
    "event_outcomes",
];

pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    trees: Vec<sled::Tree>,
    /// API key hashes: sha256 → account (only generated keys; configured ones live in config).
    api_keys: sled::Tree,
    /// Rule plugin histories: one single-key write each, so outside the journal.
    plugins: sled::Tree,
    /// Change sets being applied, each one sled insert: what makes a change set atomic.
    journal: sled::Tree,
    journal_sequence: AtomicU64,
    group_commit: Arc<GroupCommit>,
    /// Gateway events' raw payloads (see [`super::payloads`]).
    payloads: PayloadLog,
}

impl SledStore {
    /// Opens (or creates) the store in `path` with sled's page cache at its default size.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(path, STORE_CACHE_BYTES_DEFAULT)
    }

    /// Opens the store with a page cache of at most `cache_bytes`: sled's own default (1 GiB)
    /// would let an idle engine with many customers grow far past what it needs.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        std::fs::create_dir_all(path).map_err(|error| {
            StoreError::Storage(format!("cannot create {}: {error}", path.display()))
        })?;
        let db = sled::Config::new().path(path).cache_capacity(cache_bytes).open()?;
        let trees = TREE_NAMES.iter().map(|name| db.open_tree(name)).collect::<Result<_, _>>()?;
        let api_keys = db.open_tree("api_keys")?;
        let plugins = db.open_tree("plugins")?;
        let journal = db.open_tree("journal")?;
        let payloads = PayloadLog::open(&path.join(PAYLOAD_LOG_FILE))?;
        let group_commit = GroupCommit::start(db.clone(), path, payloads.sync_handle()?)?;
        let store = SledStore {
            db,
            path: path.to_owned(),
            trees,
            api_keys,
            plugins,
            journal,
            journal_sequence: AtomicU64::new(0),
            group_commit,
            payloads,
        };
        let replayed = store.replay_journal()?;
        if replayed > 0 {
            tracing::info!(replayed, "completed change sets a crash interrupted");
        }
        Ok(store)
    }

    /// The database, for the sandbox gateway's ledger trees (kept apart from the engine's).
    pub fn database(&self) -> &sled::Db {
        &self.db
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes completed since the store opened.
    pub fn flushes(&self) -> u64 {
        self.group_commit.flushes()
    }

    fn tree(&self, id: TreeId) -> &sled::Tree {
        &self.trees[id as usize]
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

    /// The gateway event stored under `key`, with its outcome once applied.
    fn gateway_event_at(&self, key: &[u8]) -> Result<Option<GatewayEvent>, StoreError> {
        match self.tree(TreeId::GatewayEvents).get(key)? {
            Some(bytes) => self.decode_gateway_event(key, &bytes),
            None => Ok(None),
        }
    }

    /// The event a record describes, its payload read back; `None` when the payload is lost
    /// (a record a power cut kept without its never-acknowledged payload).
    fn decode_gateway_event(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<Option<GatewayEvent>, StoreError> {
        let stored: StoredGatewayEvent = decode(bytes)?;
        let Some(payload) = self.payloads.read(stored.payload)? else {
            tracing::warn!(event = %stored.id, "a gateway event's payload is missing: treated as never stored");
            return Ok(None);
        };
        let payload = String::from_utf8(payload)
            .map_err(|_| StoreError::Corrupt(format!("payload of {} is not UTF-8", stored.id)))?;
        self.with_outcome(key, stored.into_event(payload)).map(Some)
    }

    fn with_outcome(
        &self,
        key: &[u8],
        mut event: GatewayEvent,
    ) -> Result<GatewayEvent, StoreError> {
        event.applied = self.get(TreeId::EventOutcomes, key)?;
        Ok(event)
    }

    /// The charge stored under `key`, with its breakdown.
    fn charge_at(&self, key: &[u8]) -> Result<Option<Charge>, StoreError> {
        match self.tree(TreeId::Charges).get(key)? {
            Some(bytes) => {
                let mut charge = decode(&bytes)?;
                self.join_breakdown(key, &mut charge)?;
                Ok(Some(charge))
            }
            None => Ok(None),
        }
    }

    /// Joins a charge read from its tree with the breakdown stored beside it. A charge
    /// written before breakdowns had their own tree carries it inline and keeps it.
    fn join_breakdown(&self, key: &[u8], charge: &mut Charge) -> Result<(), StoreError> {
        if charge.breakdown.is_none() {
            charge.breakdown = self.get(TreeId::Breakdowns, key)?;
        }
        Ok(())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.group_commit.stop();
    }
}

/// The gateway events' payload file, in the store's directory.
const PAYLOAD_LOG_FILE: &str = "gateway-payloads.log";

/// A gateway event as sled keeps it: everything but the payload, which is in the payload log.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredGatewayEvent {
    id: EventId,
    account: AccountId,
    gateway: String,
    gateway_event_id: String,
    kind: String,
    gateway_created: i64,
    received: i64,
    payload: PayloadRef,
}

impl StoredGatewayEvent {
    fn of(event: &GatewayEvent, payload: PayloadRef) -> StoredGatewayEvent {
        StoredGatewayEvent {
            id: event.id.clone(),
            account: event.account.clone(),
            gateway: event.gateway.clone(),
            gateway_event_id: event.gateway_event_id.clone(),
            kind: event.kind.clone(),
            gateway_created: event.gateway_created,
            received: event.received,
            payload,
        }
    }

    fn into_event(self, payload: String) -> GatewayEvent {
        GatewayEvent {
            id: self.id,
            account: self.account,
            gateway: self.gateway,
            gateway_event_id: self.gateway_event_id,
            kind: self.kind,
            gateway_created: self.gateway_created,
            received: self.received,
            payload,
            applied: None,
        }
    }
}

/// One low-level write of a change set: a put or a removal in one tree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Op {
    tree: u8,
    key: Vec<u8>,
    /// `None` removes the key.
    value: Option<Vec<u8>>,
}

impl Op {
    fn put(tree: TreeId, key: Vec<u8>, value: Vec<u8>) -> Op {
        Op { tree: tree as u8, key, value: Some(value) }
    }

    fn remove(tree: TreeId, key: Vec<u8>) -> Op {
        Op { tree: tree as u8, key, value: None }
    }
}

/// The puts and removals a change set makes: its records and the indexes derived from them, so
/// callers cannot forget an index.
fn ops_of(changes: ChangeSet) -> Vec<Op> {
    let ChangeSet { account, customer, writes } = changes;
    let (account, customer) = (&account, &customer);
    let owner = || customer.as_str().as_bytes().to_vec();
    let mut ops = Vec::with_capacity(writes.len() * 2);
    for write in writes {
        match write {
            Write::Customer(record) => {
                debug_assert_eq!(&record.id, customer);
                ops.push(Op::put(
                    TreeId::Customers,
                    keys::customer(account, customer),
                    encode(&record),
                ));
            }
            Write::PaymentMethod(method) => {
                let id = method.id.as_str();
                ops.push(Op::put(
                    TreeId::PaymentMethods,
                    keys::owned(account, customer, id),
                    encode(&method),
                ));
                ops.push(Op::put(TreeId::PaymentMethodOwners, keys::by_id(account, id), owner()));
            }
            Write::RemovePaymentMethod(id) => {
                ops.push(Op::remove(
                    TreeId::PaymentMethods,
                    keys::owned(account, customer, id.as_str()),
                ));
                ops.push(Op::remove(
                    TreeId::PaymentMethodOwners,
                    keys::by_id(account, id.as_str()),
                ));
            }
            Write::NewCharge(mut charge) => {
                let key = keys::owned(account, customer, charge.id.as_str());
                if let Some(breakdown) = charge.breakdown.take() {
                    ops.push(Op::put(TreeId::Breakdowns, key.clone(), encode(&breakdown)));
                }
                ops.push(Op::put(
                    TreeId::ChargeOwners,
                    keys::by_id(account, charge.id.as_str()),
                    owner(),
                ));
                charge_ops(&mut ops, key, &charge);
            }
            Write::Charge(mut charge) => {
                charge.breakdown = None;
                charge_ops(&mut ops, keys::owned(account, customer, charge.id.as_str()), &charge);
            }
            Write::Refund(refund) => {
                let key = keys::owned(account, customer, refund.id.as_str());
                ops.push(Op::put(TreeId::Refunds, key.clone(), encode(&refund)));
                ops.push(Op::put(
                    TreeId::RefundOwners,
                    keys::by_id(account, refund.id.as_str()),
                    owner(),
                ));
                ops.push(unsettled(key, refund.status == RefundStatus::Pending));
            }
            Write::ChargeReference { gateway, reference, charge } => {
                ops.push(Op::put(
                    TreeId::ChargeReferences,
                    keys::gateway_object(&gateway, &reference),
                    keys::owned(account, customer, charge.as_str()),
                ));
            }
            Write::Dispute(dispute) => {
                let id = dispute.id.as_str();
                ops.push(Op::put(
                    TreeId::Disputes,
                    keys::owned(account, customer, id),
                    encode(&dispute),
                ));
                ops.push(Op::put(TreeId::DisputeOwners, keys::by_id(account, id), owner()));
            }
            Write::Event(event) => {
                let key = keys::owned(account, customer, event.id.as_str());
                ops.push(Op::put(TreeId::Events, key, encode(&event)));
            }
            Write::Idempotency { key, mut record } => {
                if let IdempotencyState::Completed(outcome) = &mut record.state
                    && let Outcome::Charge(charge) = outcome.as_mut()
                {
                    // Joined back from the charge's own breakdown when read.
                    charge.breakdown = None;
                }
                ops.push(Op::put(
                    TreeId::Idempotency,
                    keys::idempotency(account, &key),
                    encode(&record),
                ));
            }
            Write::RemoveIdempotency { key } => {
                ops.push(Op::remove(TreeId::Idempotency, keys::idempotency(account, &key)));
            }
        }
    }
    ops
}

/// A charge's record (stored without its breakdown) and its place in the unsettled index.
fn charge_ops(ops: &mut Vec<Op>, key: Vec<u8>, charge: &Charge) {
    debug_assert!(charge.breakdown.is_none(), "a breakdown is stored beside its charge");
    ops.push(Op::put(TreeId::Charges, key.clone(), encode(charge)));
    // `requires_action` too: recovery asks whether the customer finished it.
    ops.push(unsettled(key, !charge.status.is_final()));
}

fn unsettled(key: Vec<u8>, is_unsettled: bool) -> Op {
    match is_unsettled {
        true => Op::put(TreeId::Unsettled, key, Vec::new()),
        false => Op::remove(TreeId::Unsettled, key),
    }
}

impl SledStore {
    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        for op in ops {
            let tree = self.trees.get(usize::from(op.tree)).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "journal names tree {} of {}",
                    op.tree,
                    self.trees.len()
                ))
            })?;
            match &op.value {
                Some(value) => tree.insert(&op.key, value.as_slice())?,
                None => tree.remove(&op.key)?,
            };
        }
        Ok(())
    }

    /// Completes every change set a crash interrupted: its journal entry survived, so some of
    /// its puts may not have. Replayed in commit order; puts and removals are idempotent.
    fn replay_journal(&self) -> Result<usize, StoreError> {
        let mut replayed = 0;
        for entry in self.journal.iter() {
            let (key, bytes) = entry?;
            let ops: Vec<Op> = decode(&bytes)?;
            self.apply(&ops)?;
            self.journal.remove(key)?;
            replayed += 1;
        }
        if replayed > 0 {
            self.db.flush()?;
        }
        Ok(replayed)
    }
}

impl Store for SledStore {
    fn commit(&self, changes: ChangeSet) -> Result<DurableTicket, StoreError> {
        let ops = ops_of(changes);
        let sequence = self.journal_sequence.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        self.journal.insert(sequence, encode(&ops))?;
        if let Err(error) = self.apply(&ops).and_then(|()| Ok(self.journal.remove(sequence)?)) {
            // The entry stays in the journal; replayed after newer change sets it would write
            // stale values over them. Stop now: the next start replays it before anything else.
            tracing::error!(%error, "a change set failed half-way: stopping to replay it at start");
            eprintln!("kassa: a change set failed half-way ({error}): stopping");
            std::process::abort();
        }
        Ok(self.group_commit.written())
    }

    fn sync(&self) -> DurableTicket {
        self.group_commit.written()
    }

    fn customer(
        &self,
        account: &AccountId,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        self.get(TreeId::Customers, &keys::customer(account, id))
    }

    fn payment_methods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentMethod>, StoreError> {
        self.scan_customer(TreeId::PaymentMethods, account, customer)
    }

    fn payment_method_owner(
        &self,
        account: &AccountId,
        id: &PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError> {
        let owner =
            self.tree(TreeId::PaymentMethodOwners).get(keys::by_id(account, id.as_str()))?;
        Ok(owner.and_then(|bytes| std::str::from_utf8(&bytes).ok().and_then(CustomerId::parse)))
    }

    fn charge(&self, account: &AccountId, id: &ChargeId) -> Result<Option<Charge>, StoreError> {
        match self.owner(TreeId::ChargeOwners, account, id.as_str())? {
            Some(owner) => self.charge_at(&keys::owned(account, &owner, id.as_str())),
            None => Ok(None),
        }
    }

    fn charges(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError> {
        let prefix = keys::customer_prefix(account, customer);
        let upper = match starting_after {
            Some(id) => keys::owned(account, customer, id.as_str()),
            None => {
                let mut end = prefix.clone();
                end.push(0xff);
                end
            }
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::Charges).range(prefix..upper).rev() {
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            let (key, bytes) = item?;
            let mut charge = decode(&bytes)?;
            self.join_breakdown(&key, &mut charge)?;
            items.push(charge);
        }
        Ok(Page { items, has_more: false })
    }

    fn refund(&self, account: &AccountId, id: &RefundId) -> Result<Option<Refund>, StoreError> {
        self.owned_by_id(TreeId::RefundOwners, TreeId::Refunds, account, id.as_str())
    }

    fn refunds(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Refund>, StoreError> {
        self.scan_customer(TreeId::Refunds, account, customer)
    }

    fn events(&self, account: &AccountId, customer: &CustomerId) -> Result<Vec<Event>, StoreError> {
        self.scan_customer(TreeId::Events, account, customer)
    }

    fn idempotency(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let record: Option<IdempotencyRecord> =
            self.get(TreeId::Idempotency, &keys::idempotency(account, key))?;
        let Some(mut record) = record else { return Ok(None) };
        if let IdempotencyState::Completed(outcome) = &mut record.state
            && let Outcome::Charge(charge) = outcome.as_mut()
        {
            let key = keys::owned(account, &charge.customer, charge.id.as_str());
            self.join_breakdown(&key, charge)?;
        }
        Ok(Some(record))
    }

    fn expire_idempotency(&self, created_before: i64) -> Result<usize, StoreError> {
        let tree = self.tree(TreeId::Idempotency);
        let mut expired = 0;
        for item in tree.iter() {
            let (key, bytes) = item?;
            let record: IdempotencyRecord = match decode(&bytes) {
                Ok(record) => record,
                Err(error) => {
                    // One bad record must not stop retention for all the others.
                    tracing::error!(%error, "skipping an undecodable idempotency record");
                    continue;
                }
            };
            let finished = matches!(record.state, IdempotencyState::Completed(_));
            // Compare-and-swap: a record rewritten since it was read is not the one that expired.
            if finished
                && record.created < created_before
                && tree.compare_and_swap(&key, Some(&bytes), None as Option<&[u8]>)?.is_ok()
            {
                expired += 1;
            }
        }
        Ok(expired)
    }

    fn unsettled(&self) -> Result<Vec<Unsettled>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree(TreeId::Unsettled).iter() {
            let (key, _) = item?;
            let corrupt = || StoreError::Corrupt("unsettled index key".into());
            let (account, _, object_id) = keys::split_owned(&key).ok_or_else(corrupt)?;
            let account = AccountId::parse(account).ok_or_else(corrupt)?;
            if ChargeId::parse(object_id).is_some() {
                if let Some(charge) = self.charge_at(&key)? {
                    found.push(Unsettled::Charge { account, charge });
                }
            } else if RefundId::parse(object_id).is_some() {
                if let Some(refund) = self.get(TreeId::Refunds, &key)? {
                    found.push(Unsettled::Refund { account, refund });
                }
            } else {
                return Err(corrupt());
            }
        }
        Ok(found)
    }

    /// Deduplicated by a compare-and-swap on the gateway's event id, so of concurrent deliveries
    /// of one event exactly one is stored. The inbox entry is written before the record: a crash
    /// between them leaves an entry without a record, which [`Self::unapplied_gateway_events`]
    /// drops (that delivery was never acknowledged, so the gateway sends it again).
    fn insert_gateway_event(
        &self,
        event: &GatewayEvent,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        let ids = self.tree(TreeId::GatewayEventIds);
        let id_key = keys::gateway_object(&event.gateway, &event.gateway_event_id);
        let key = keys::by_id(&event.account, event.id.as_str());
        let claimed = ids.compare_and_swap(&id_key, None as Option<&[u8]>, Some(key.as_slice()))?;
        if let Err(taken) = claimed {
            let stored_key = taken.current.unwrap_or_default();
            if let Some(stored) = self.gateway_event_at(&stored_key)? {
                return Ok(Some(stored));
            }
            // The first delivery's id entry outlived a crash that its record did not: this
            // delivery takes its place.
            ids.insert(&id_key, key.as_slice())?;
        }
        let payload = self.payloads.append(event.payload.as_bytes())?;
        self.tree(TreeId::EventInbox).insert(&key, &[])?;
        let stored = StoredGatewayEvent::of(event, payload);
        self.tree(TreeId::GatewayEvents).insert(&key, encode(&stored))?;
        Ok(None)
    }

    fn gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        self.gateway_event_at(&keys::by_id(account, id.as_str()))
    }

    fn unapplied_gateway_events(&self) -> Result<Vec<GatewayEvent>, StoreError> {
        let inbox = self.tree(TreeId::EventInbox);
        let mut events = Vec::new();
        for entry in inbox.iter().keys() {
            let key = entry?;
            match self.gateway_event_at(&key)? {
                Some(event) if event.applied.is_none() => events.push(event),
                // Applied, or never stored: nothing left to do for it.
                _ => {
                    inbox.remove(&key)?;
                }
            }
        }
        // Keys are `account/evt_…`: order across accounts by Kassa's time-ordered id.
        events.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(events)
    }

    fn complete_gateway_event(
        &self,
        account: &AccountId,
        id: &EventId,
        applied: &Applied,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, id.as_str());
        self.tree(TreeId::EventOutcomes).insert(&key, encode(applied))?;
        // After the outcome: a crash between the two leaves an inbox entry for an applied
        // event, which the next start drops.
        self.tree(TreeId::EventInbox).remove(&key)?;
        Ok(self.group_commit.written())
    }

    fn gateway_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<GatewayEvent>, StoreError> {
        let mut prefix = account.as_str().as_bytes().to_vec();
        prefix.push(b'/');
        let upper = match starting_after {
            Some(id) => keys::by_id(account, id.as_str()),
            None => {
                let mut end = prefix.clone();
                end.push(0xff);
                end
            }
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::GatewayEvents).range(prefix..upper).rev() {
            let (key, bytes) = item?;
            let Some(event) = self.decode_gateway_event(&key, &bytes)? else { continue };
            if kind.is_some_and(|kind| kind != event.kind) {
                continue;
            }
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            items.push(event);
        }
        Ok(Page { items, has_more: false })
    }

    fn charge_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<(AccountId, CustomerId, ChargeId)>, StoreError> {
        let Some(key) =
            self.tree(TreeId::ChargeReferences).get(keys::gateway_object(gateway, reference))?
        else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("charge reference index of {reference}"));
        let (account, customer, charge) = keys::split_owned(&key).ok_or_else(corrupt)?;
        Ok(Some((
            AccountId::parse(account).ok_or_else(corrupt)?,
            CustomerId::parse(customer).ok_or_else(corrupt)?,
            ChargeId::parse(charge).ok_or_else(corrupt)?,
        )))
    }

    fn dispute(&self, account: &AccountId, id: &DisputeId) -> Result<Option<Dispute>, StoreError> {
        self.owned_by_id(TreeId::DisputeOwners, TreeId::Disputes, account, id.as_str())
    }

    fn api_key_account(&self, key_sha256: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        let account = self.api_keys.get(key_sha256)?;
        Ok(account.and_then(|bytes| std::str::from_utf8(&bytes).ok().and_then(AccountId::parse)))
    }

    fn put_generated_api_key(
        &self,
        account: &AccountId,
        key_sha256: &[u8; 32],
    ) -> Result<DurableTicket, StoreError> {
        self.api_keys.insert(key_sha256, account.as_str().as_bytes())?;
        Ok(self.group_commit.written())
    }

    fn has_generated_api_key(&self, account: &AccountId) -> Result<bool, StoreError> {
        for item in self.api_keys.iter() {
            if item?.1 == account.as_str().as_bytes() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn plugin_history(
        &self,
        account: &AccountId,
        kind: PluginKind,
    ) -> Result<Option<PluginHistory>, StoreError> {
        match self.plugins.get(keys::plugin(account, kind.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn plugin_histories(&self) -> Result<Vec<(AccountId, PluginKind, PluginHistory)>, StoreError> {
        let mut found = Vec::new();
        for item in self.plugins.iter() {
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
    ) -> Result<DurableTicket, StoreError> {
        self.plugins.insert(keys::plugin(account, kind.as_str()), encode(history))?;
        Ok(self.group_commit.written())
    }
}

#[cfg(test)]
mod tests {
    //! Against a real sled directory: change sets are atomic and durable across a reopen, indexes
    //! follow the records, and a customer's charges page newest first.

    use super::*;
    use crate::domain::{
        Breakdown, ChargeStatus, EventKind, Failure, Money, PluginKind, PluginRef, PluginSource,
        PricedLine, RuleEvaluation,
    };
    use crate::store::{IdempotencyState, InFlightObject};

    fn account() -> AccountId {
        AccountId::parse("acct_test").unwrap()
    }

    fn customer() -> Customer {
        Customer {
            id: CustomerId::generate(),
            email: None,
            name: Some("Ada".into()),
            phone: None,
            address: None,
            metadata: Default::default(),
            created: 1,
            default_payment_method: None,
            tax_ids: Vec::new(),
        }
    }

    fn charge(customer: &CustomerId) -> Charge {
        Charge {
            id: ChargeId::generate(),
            customer: customer.clone(),
            amount: Money::new(500, crate::domain::money::parse_currency("usd").unwrap()).unwrap(),
            payment_method: PaymentMethodId::generate(),
            gateway: "sandbox".into(),
            gateway_reference: None,
            status: ChargeStatus::Processing,
            failure: None,
            amount_refunded_minor: 0,
            description: None,
            metadata: Default::default(),
            created: 1,
            idempotency_key: Some("key-1".into()),
            breakdown: None,
            attempt: 1,
            next_action: None,
            dispute: None,
        }
    }

    async fn commit(store: &SledStore, changes: ChangeSet) {
        store.commit(changes).unwrap().wait().await.unwrap();
    }

    #[tokio::test]
    async fn a_change_set_is_durable_across_a_reopen() {
        let directory = tempfile::tempdir().unwrap();
        let customer = customer();
        let charge = charge(&customer.id);
        {
            let store = SledStore::open(directory.path()).unwrap();
            let changes = ChangeSet::new(&account(), &customer.id)
                .with(Write::Customer(customer.clone()))
                .with(Write::NewCharge(charge.clone()))
                .with(Write::Event(Event::new(
                    EventKind::ChargeProcessing,
                    charge.id.as_str(),
                    "test",
                )))
                .with(Write::idempotency_in_flight(
                    "key-1",
                    [7; 32],
                    InFlightObject::Charge(charge.id.clone()),
                ));
            commit(&store, changes).await;
        }
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.customer(&account(), &customer.id).unwrap(), Some(customer.clone()));
        assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
        assert_eq!(store.events(&account(), &customer.id).unwrap().len(), 1);
        let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
        assert_eq!(record.fingerprint, [7; 32]);
        assert_eq!(
            record.state,
            IdempotencyState::InFlight(InFlightObject::Charge(charge.id.clone()))
        );
        assert_eq!(
            store.unsettled().unwrap(),
            vec![Unsettled::Charge { account: account(), charge }]
        );
    }

    #[tokio::test]
    async fn a_change_set_interrupted_after_its_journal_entry_is_completed_at_open() {
        let directory = tempfile::tempdir().unwrap();
        let customer = customer();
        let charge = charge(&customer.id);
        {
            let store = SledStore::open(directory.path()).unwrap();
            let changes = ChangeSet::new(&account(), &customer.id)
                .with(Write::Customer(customer.clone()))
                .with(Write::NewCharge(charge.clone()));
            // The crash point: the journal entry is on disk, none of its puts are.
            store.journal.insert(7u64.to_be_bytes(), encode(&ops_of(changes.clone()))).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.customer(&account(), &customer.id).unwrap(), Some(customer));
        assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
        assert_eq!(
            store.unsettled().unwrap(),
            vec![Unsettled::Charge { account: account(), charge }]
        );
        assert!(store.journal.is_empty(), "replayed entries are removed");
    }

    #[tokio::test]
    async fn settling_a_charge_leaves_the_unsettled_index() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let mut charge = charge(&customer.id);
        commit(
            &store,
            ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge.clone())),
        )
        .await;
        assert_eq!(store.unsettled().unwrap().len(), 1);
        charge.fail(Failure { code: "generic_decline".into(), message: "declined".into() });
        let outcome = Outcome::Charge(charge.clone());
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Charge(charge.clone()))
            .with(Write::idempotency_completed("key-1", [7; 32], outcome.clone()));
        commit(&store, changes).await;
        assert!(store.unsettled().unwrap().is_empty());
        let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
        assert_eq!(record.state, IdempotencyState::Completed(Box::new(outcome)));
    }

    fn breakdown() -> Box<Breakdown> {
        let rule = |kind| PluginRef {
            kind,
            version: 0,
            source: PluginSource::Bundled,
            sha256: "ab".repeat(32),
        };
        Box::new(Breakdown {
            lines: vec![PricedLine { sku: "seat".into(), quantity: 2, amount_minor: 500 }],
            subtotal_minor: 500,
            discounts: Vec::new(),
            tax: Vec::new(),
            reverse_charge: false,
            total_minor: 500,
            evaluation: RuleEvaluation {
                pricing: rule(PluginKind::Pricing),
                tax: rule(PluginKind::Tax),
                evaluated_at: 1,
            },
        })
    }

    #[tokio::test]
    async fn a_breakdown_is_stored_once_and_read_with_its_charge_everywhere() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let mut charge = charge(&customer.id);
        charge.breakdown = Some(breakdown());
        let created =
            ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge.clone()));
        commit(&store, created).await;
        assert_eq!(
            store.unsettled().unwrap(),
            vec![Unsettled::Charge { account: account(), charge: charge.clone() }]
        );
        let breakdowns = store.tree(TreeId::Breakdowns).len();

        charge.succeed("sandbox_1".into());
        let outcome = Outcome::Charge(charge.clone());
        let settled = ChangeSet::new(&account(), &customer.id)
            .with(Write::Charge(charge.clone()))
            .with(Write::idempotency_completed("key-1", [7; 32], outcome.clone()));
        let ops = ops_of(settled.clone());
        assert!(
            ops.iter().all(|op| op.tree != TreeId::Breakdowns as u8),
            "settling does not write the breakdown again"
        );
        let written: usize = ops.iter().filter_map(|op| op.value.as_ref()).map(Vec::len).sum();
        let inline: usize = encode(&charge).len() + encode(&outcome).len();
        assert!(written < inline, "{written} bytes written, {inline} with the breakdown inline");
        commit(&store, settled).await;

        assert_eq!(store.tree(TreeId::Breakdowns).len(), breakdowns);
        assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge.clone()));
        let page = store.charges(&account(), &customer.id, 10, None).unwrap();
        assert_eq!(page.items, vec![charge.clone()]);
        let record = store.idempotency(&account(), "key-1").unwrap().unwrap();
        assert_eq!(record.state, IdempotencyState::Completed(Box::new(outcome)));
    }

    #[tokio::test]
    async fn a_charge_stored_with_its_breakdown_inline_keeps_it() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let mut charge = charge(&customer.id);
        charge.breakdown = Some(breakdown());
        commit(
            &store,
            ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge.clone())),
        )
        .await;
        // The layout before breakdowns had their own tree.
        let key = keys::owned(&account(), &customer.id, charge.id.as_str());
        store.tree(TreeId::Breakdowns).remove(&key).unwrap();
        store.tree(TreeId::Charges).insert(&key, encode(&charge)).unwrap();
        assert_eq!(store.charge(&account(), &charge.id).unwrap(), Some(charge));
    }

    fn gateway_event(gateway_event_id: &str) -> GatewayEvent {
        GatewayEvent {
            id: EventId::generate(),
            account: account(),
            gateway: "stripe".into(),
            gateway_event_id: gateway_event_id.into(),
            kind: "payment_intent.succeeded".into(),
            gateway_created: 1,
            received: 2,
            payload: r#"{"id":"evt_1"}"#.into(),
            applied: None,
        }
    }

    #[tokio::test]
    async fn a_gateway_event_is_stored_once_and_stays_in_the_inbox_until_applied() {
        let directory = tempfile::tempdir().unwrap();
        let first = gateway_event("evt_1");
        {
            let store = SledStore::open(directory.path()).unwrap();
            assert_eq!(store.insert_gateway_event(&first).unwrap(), None);
            let again = gateway_event("evt_1");
            assert_eq!(store.insert_gateway_event(&again).unwrap(), Some(first.clone()));
            // The crash window of an insert: an inbox entry whose record never made it.
            let lost = keys::by_id(&account(), EventId::generate().as_str());
            store.tree(TreeId::EventInbox).insert(lost, &[]).unwrap();
            store.sync().wait().await.unwrap();
        }
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.unapplied_gateway_events().unwrap(), vec![first.clone()]);
        assert_eq!(
            store.tree(TreeId::EventInbox).len(),
            1,
            "the entry without a record is dropped"
        );

        let applied = Applied { at: 3, outcome: "charge ch_1 succeeded".into() };
        store
            .complete_gateway_event(&account(), &first.id, &applied)
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert!(store.unapplied_gateway_events().unwrap().is_empty());
        let stored = store.gateway_event(&account(), &first.id).unwrap().unwrap();
        assert_eq!(stored.applied, Some(applied));
        let listed = store.gateway_events(&account(), Some("payment_intent.succeeded"), 10, None);
        assert_eq!(listed.unwrap().items, vec![stored]);
        assert!(
            store
                .gateway_events(&account(), Some("charge.refunded"), 10, None)
                .unwrap()
                .items
                .is_empty()
        );
        let other = AccountId::parse("acct_test_other").unwrap();
        assert!(store.gateway_events(&other, None, 10, None).unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn a_gateway_event_whose_payload_was_lost_reads_as_never_stored() {
        let directory = tempfile::tempdir().unwrap();
        let event = gateway_event("evt_lost");
        {
            let store = SledStore::open(directory.path()).unwrap();
            assert_eq!(store.insert_gateway_event(&event).unwrap(), None);
            store.sync().wait().await.unwrap();
        }
        // A power cut kept sled's record but not the (never acknowledged) payload.
        let log = std::fs::OpenOptions::new()
            .write(true)
            .open(directory.path().join(PAYLOAD_LOG_FILE))
            .unwrap();
        log.set_len(0).unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        assert_eq!(store.gateway_event(&account(), &event.id).unwrap(), None);
        assert!(store.unapplied_gateway_events().unwrap().is_empty());
        // Stripe sends it again: stored anew, not answered as a duplicate.
        let again = gateway_event("evt_lost");
        assert_eq!(store.insert_gateway_event(&again).unwrap(), None);
        assert_eq!(store.unapplied_gateway_events().unwrap(), vec![again]);
    }

    #[tokio::test]
    async fn only_finished_idempotency_records_past_retention_expire() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let charge = charge(&customer.id);
        let record = |created, state| IdempotencyRecord { fingerprint: [1; 32], created, state };
        let done = IdempotencyState::Completed(Box::new(Outcome::Charge(charge.clone())));
        let running = IdempotencyState::InFlight(InFlightObject::Charge(charge.id.clone()));
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Idempotency { key: "old-done".into(), record: record(100, done.clone()) })
            .with(Write::Idempotency { key: "old-running".into(), record: record(100, running) })
            .with(Write::Idempotency { key: "new-done".into(), record: record(900, done) });
        commit(&store, changes).await;
        assert_eq!(store.expire_idempotency(500).unwrap(), 1);
        assert!(store.idempotency(&account(), "old-done").unwrap().is_none());
        assert!(store.idempotency(&account(), "old-running").unwrap().is_some());
        assert!(store.idempotency(&account(), "new-done").unwrap().is_some());
    }

    #[tokio::test]
    async fn accounts_do_not_see_each_other() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let charge = charge(&customer.id);
        let changes = ChangeSet::new(&account(), &customer.id)
            .with(Write::Customer(customer.clone()))
            .with(Write::NewCharge(charge.clone()));
        commit(&store, changes).await;
        let other = AccountId::parse("acct_test_other").unwrap();
        assert_eq!(store.customer(&other, &customer.id).unwrap(), None);
        assert_eq!(store.charge(&other, &charge.id).unwrap(), None);
        assert!(store.charges(&other, &customer.id, 10, None).unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn charges_page_newest_first() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let customer = customer();
        let mut ids = Vec::new();
        for _ in 0..25 {
            let charge = charge(&customer.id);
            ids.push(charge.id.clone());
            commit(&store, ChangeSet::new(&account(), &customer.id).with(Write::NewCharge(charge)))
                .await;
        }
        ids.reverse();
        let first = store.charges(&account(), &customer.id, 10, None).unwrap();
        assert!(first.has_more);
        assert_eq!(
            first.items.iter().map(|charge| charge.id.clone()).collect::<Vec<_>>(),
            ids[..10]
        );
        let last = store.charges(&account(), &customer.id, 10, Some(&ids[19])).unwrap();
        assert!(!last.has_more);
        assert_eq!(
            last.items.iter().map(|charge| charge.id.clone()).collect::<Vec<_>>(),
            ids[20..]
        );
    }

    #[tokio::test]
    async fn concurrent_writers_share_flushes() {
        let directory = tempfile::tempdir().unwrap();
        let store = SledStore::open(directory.path()).unwrap();
        let tickets: Vec<_> = (0..200)
            .map(|_| {
                let customer = customer();
                store
                    .commit(
                        ChangeSet::new(&account(), &customer.id).with(Write::Customer(customer)),
                    )
                    .unwrap()
            })
            .collect();
        for ticket in tickets {
            ticket.wait().await.unwrap();
        }
        let flushes = store.flushes();
        assert!(flushes >= 1, "at least one flush covered the writes");
        assert!(flushes < 200, "200 concurrent commits took {flushes} flushes: no grouping");
    }
}
