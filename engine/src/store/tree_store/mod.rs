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
//! Gateway events are kept by [`gateway_events`], which finds those left unapplied through
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
    AuditFilter, ChangeSet, ChargeFilter, CreditNoteFilter, CustomerStore, DueEntry, Durable,
    DurableTicket, IdempotencyRecord, IdempotencyState, InboxStore, InsertedEvent, InvoiceFilter,
    Page, PluginStore, StoreError, Unsettled, Write, keys,
};
use crate::domain::{
    AccountId, Applied, BankLineRecord, Charge, ChargeId, CheckoutSession, CheckoutSessionId,
    CreditNote, CreditNoteId, Customer, CustomerId, Dispute, DisputeId, Event, EventId,
    GatewayEvent, Invoice, InvoiceId, NewGatewayEvent, PaymentMethod, PaymentMethodId, PaymentPlan,
    PaymentPlanId, Plan, PlanId, PluginHistory, PluginKind, ReferenceTarget, Refund, RefundId,
    Subscription, SubscriptionId, SubscriptionStatus, TestClock, TestClockId,
};
use crate::limits::STORE_CACHE_BYTES_DEFAULT;
use applier::Applier;
use archived::ARCHIVE_DIR;
use base::{Base, PostgresBase, SledBase};
use change_ops::{ops_of, take_outgoing};
use gateway_events::PAYLOAD_LOG_FILE;
use gateway_trees::GATEWAY_TREE_NAMES;
use logged::{WAL_DIR, WAL_SEGMENT_BYTES, apply};
use ops::Op;
use overlay::Overlay;
use postgres::PgTrees;
use tree_ids::{TREE_NAMES, TreeId};
use unapplied::UnappliedEvents;
use versions::keys_in_flight;

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

impl CustomerStore for TreeStore {
    fn commit(&self, changes: ChangeSet) -> Result<DurableTicket, StoreError> {
        let (mut changes, added, new_keys) = self.seal_change_set(changes)?;
        let forgets = changes.writes.iter().any(|write| matches!(write, Write::ForgetCustomerKey));
        let (account, customer) = (changes.account.clone(), changes.customer.clone());
        let decided_at = changes.decided_at;
        let keys_in_flight = keys_in_flight(&changes);
        let outgoing = take_outgoing(&mut changes);
        let postings = ledger::take_postings(&mut changes);
        let mut ops = ops_of(changes);
        ops.extend(added);
        let order = self.write_order()?;
        if self.is_shared() {
            // Under the write order, which on PostgreSQL every node's writers share.
            self.check_keys_in_flight(&account, &keys_in_flight)?;
            ops.push(self.next_version(&account, &customer, decided_at)?);
        }
        self.outgoing_ops(outgoing, &mut ops)?;
        self.posting_ops(postings, &mut ops)?;
        self.append_and_apply(&order, &ops)?;
        drop(order);
        let ticket = self.written();
        self.keep_new_keys(new_keys);
        if forgets && let Some(sealer) = &self.sealer {
            sealer.forget(&customer);
        }
        Ok(ticket)
    }

    fn customer_test_clock(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<TestClockId>, StoreError> {
        let stored: Option<Customer> =
            self.get(TreeId::Customers, &keys::customer(account, customer))?;
        Ok(stored.and_then(|customer| customer.test_clock))
    }

    fn customer_version(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<u64>, StoreError> {
        match &self.base {
            Base::Sled(_) => Ok(None),
            Base::Postgres(_) => self.stored_version(account, customer).map(Some),
        }
    }

    fn customer(
        &self,
        account: &AccountId,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let stored: Option<Customer> = self.get(TreeId::Customers, &keys::customer(account, id))?;
        stored.map(|customer| self.opened_customer(account, customer)).transpose()
    }

    fn payment_methods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentMethod>, StoreError> {
        let stored: Vec<PaymentMethod> =
            self.scan_customer(TreeId::PaymentMethods, account, customer)?;
        stored.into_iter().map(|method| self.opened_method(account, method)).collect()
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
        let found =
            self.live_or_archived(TreeId::ChargeOwners, TreeId::Charges, account, id.as_str())?;
        Ok(found.map(|(charge, archived)| Charge { archived, ..charge }))
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
            None => keys::prefix_end(&prefix),
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::Charges).range(prefix..upper).rev() {
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            let (_, bytes) = item?;
            items.push(decode(&bytes)?);
        }
        Ok(Page { items, has_more: false })
    }

    fn account_charges(
        &self,
        account: &AccountId,
        filter: &ChargeFilter,
        limit: usize,
        starting_after: Option<&ChargeId>,
    ) -> Result<Page<Charge>, StoreError> {
        self.list_account_charges(account, filter, limit, starting_after)
    }

    fn each_live_charge(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tree(TreeId::Charges).scan_prefix(keys::account_prefix(account)) {
            visit(decode(&item?.1)?)?;
        }
        Ok(())
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

    fn audit_events(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.list_audit_events(account, filter, limit, starting_after)
    }

    fn idempotency(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let stored: Option<IdempotencyRecord> =
            self.get(TreeId::Idempotency, &keys::idempotency(account, key))?;
        stored.map(|record| self.opened_record(account, record)).transpose()
    }

    fn put_idempotency(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<DurableTicket, StoreError> {
        self.commit_ops(vec![Op::put(
            TreeId::Idempotency,
            keys::idempotency(account, key),
            encode(record),
        )])
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
            if !finished || record.created >= created_before {
                continue;
            }
            // Compare-and-swap: a record rewritten since it was read is not the one that expired.
            let order = self.write_order()?;
            if tree.get(&key)?.as_deref() == Some(&bytes[..]) {
                self.append_and_apply(&order, &[Op::remove(TreeId::Idempotency, key.to_vec())])?;
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
                if let Some(charge) = self.get(TreeId::Charges, &key)? {
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

    fn customers_with_email(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<Vec<Customer>, StoreError> {
        self.find_by_email(account, email)
    }

    fn customers(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.list_customers(account, limit, starting_after)
    }

    fn put_plan(&self, account: &AccountId, plan: &Plan) -> Result<DurableTicket, StoreError> {
        self.insert_plan(account, plan)
    }

    fn plan(&self, account: &AccountId, id: &PlanId) -> Result<Option<Plan>, StoreError> {
        self.read_plan(account, id)
    }

    fn plans(
        &self,
        account: &AccountId,
        active: Option<bool>,
        limit: usize,
        starting_after: Option<&PlanId>,
    ) -> Result<Page<Plan>, StoreError> {
        self.list_plans(account, active, limit, starting_after)
    }

    fn put_test_clock(
        &self,
        account: &AccountId,
        clock: &TestClock,
    ) -> Result<DurableTicket, StoreError> {
        self.insert_test_clock(account, clock)
    }

    fn test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<Option<TestClock>, StoreError> {
        self.read_test_clock(account, id)
    }

    fn remove_test_clock(
        &self,
        account: &AccountId,
        id: &TestClockId,
    ) -> Result<DurableTicket, StoreError> {
        self.delete_test_clock(account, id)
    }

    fn advancing_test_clocks(&self) -> Result<Vec<(AccountId, TestClock)>, StoreError> {
        self.test_clocks_advancing()
    }

    fn subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.read_subscription(account, id)
    }

    fn subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.customer_subscriptions(account, customer)
    }

    fn payment_plan(
        &self,
        account: &AccountId,
        id: &PaymentPlanId,
    ) -> Result<Option<PaymentPlan>, StoreError> {
        self.read_payment_plan(account, id)
    }

    fn invoice_by_page(&self, token: &str) -> Result<Option<(AccountId, Invoice)>, StoreError> {
        let page: Option<(AccountId, InvoiceId)> =
            self.get(TreeId::InvoicePages, token.as_bytes())?;
        let Some((account, invoice)) = page else { return Ok(None) };
        Ok(self.invoice(&account, &invoice)?.map(|invoice| (account, invoice)))
    }

    fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        self.get(TreeId::CheckoutSessions, id.as_str().as_bytes())
    }

    fn payment_plans(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<PaymentPlan>, StoreError> {
        self.customer_payment_plans(account, customer)
    }

    fn bank_reference(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<ReferenceTarget>, StoreError> {
        self.read_bank_reference(account, reference)
    }

    fn bank_line(
        &self,
        account: &AccountId,
        identity: &str,
    ) -> Result<Option<BankLineRecord>, StoreError> {
        self.read_bank_line(account, identity)
    }

    fn bank_credits(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(String, BankLineRecord)>, StoreError> {
        self.customer_bank_credits(account, customer, limit)
    }

    fn each_subscription(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Subscription) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tree(TreeId::Subscriptions).scan_prefix(keys::account_prefix(account)) {
            visit(decode(&item?.1)?)?;
        }
        Ok(())
    }

    fn subscriptions_by_status(&self) -> Result<Vec<(SubscriptionStatus, u64)>, StoreError> {
        self.count_subscriptions_by_status()
    }

    fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Result<Option<Invoice>, StoreError> {
        self.read_invoice(account, id)
    }

    fn invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        limit: usize,
        starting_after: Option<&InvoiceId>,
    ) -> Result<Page<Invoice>, StoreError> {
        self.list_invoices(account, filter, limit, starting_after)
    }

    fn credit_note(
        &self,
        account: &AccountId,
        id: &CreditNoteId,
    ) -> Result<Option<CreditNote>, StoreError> {
        self.owned_by_id(TreeId::CreditNoteOwners, TreeId::CreditNotes, account, id.as_str())
    }

    fn credit_notes(
        &self,
        account: &AccountId,
        filter: &CreditNoteFilter,
        limit: usize,
        starting_after: Option<&CreditNoteId>,
    ) -> Result<Page<CreditNote>, StoreError> {
        self.list_credit_notes(account, filter, limit, starting_after)
    }

    fn invoice_credit_notes(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNote>, StoreError> {
        let notes: Vec<CreditNote> = self.scan_customer(TreeId::CreditNotes, account, customer)?;
        Ok(notes.into_iter().filter(|note| &note.invoice == invoice).collect())
    }

    fn due(&self, scope: &str, up_to: i64, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        self.due_entries(scope, up_to, limit)
    }

    fn remove_due(&self, scope: &str, entry: &DueEntry) -> Result<(), StoreError> {
        self.remove_due_entry(scope, entry)
    }

    fn object_version(&self, account: &AccountId, object_id: &str) -> Result<u64, StoreError> {
        self.stored_object_version(account, object_id)
    }

    fn collecting_invoices(&self) -> Result<Vec<(AccountId, CustomerId, InvoiceId)>, StoreError> {
        self.invoices_collecting()
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
