//! The audit trail's part of the sled store: each event is kept under its customer
//! (`account/customer/evt_…`, the customer's trail) and indexed `account/evt_…` → customer, so
//! the account-wide trail is a range scan newest first. The account's own events (its settings,
//! its keys) are kept `account/evt_…` and indexed with no customer.

use super::billing::{newest_first, page};
use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{AccountId, CustomerId, Event, EventId};
use crate::store::{AuditFilter, Page, StoreError, keys};

/// Index entries written per backfill write when an older data directory is opened.
const BACKFILL_BATCH: usize = 1_000;
/// Sorts after every `acct_…` key: marks the index as holding every event.
const INDEX_COMPLETE: &[u8] = b"\xff complete";

/// An event's record and its index entry.
pub(super) fn event_ops(
    ops: &mut Vec<Op>,
    account: &AccountId,
    customer: &CustomerId,
    event: &Event,
) {
    let id = event.id.as_str();
    ops.push(Op::put(TreeId::Events, keys::owned(account, customer, id), encode(event)));
    ops.push(Op::put(
        TreeId::AuditIndex,
        keys::by_id(account, id),
        customer.as_str().as_bytes().to_vec(),
    ));
}

/// An event of the account itself (its settings, its keys): kept `account/evt_…` in
/// `AccountEvents`, and indexed with no customer.
pub(super) fn account_event_ops(ops: &mut Vec<Op>, account: &AccountId, event: &Event) {
    let key = keys::by_id(account, event.id.as_str());
    ops.push(Op::put(TreeId::AccountEvents, key.clone(), encode(event)));
    ops.push(Op::put(TreeId::AuditIndex, key, Vec::new()));
}

impl TreeStore {
    pub(super) fn list_audit_events(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let starting_after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let index = self.tree(TreeId::AuditIndex);
        let found = newest_first(index, keys::account_prefix(account), starting_after)
            .map(|item| {
                let (key, customer) = item?;
                let id = &key[keys::account_prefix(account).len()..];
                let corrupt = || StoreError::Corrupt(format!("audit index entry {key:?}"));
                let id = std::str::from_utf8(id).map_err(|_| corrupt())?;
                // No customer: an event of the account itself.
                if customer.is_empty() {
                    let event: Option<Event> = self.get(TreeId::AccountEvents, &key)?;
                    return Ok::<_, StoreError>(event);
                }
                let customer = std::str::from_utf8(&customer).ok().and_then(CustomerId::parse);
                let customer = customer.ok_or_else(corrupt)?;
                let event: Option<Event> =
                    self.get(TreeId::Events, &keys::owned(account, &customer, id))?;
                Ok(event)
            })
            // Ids are time-ordered: past the lower bound, nothing older can match.
            .take_while(|event| !matches!(event, Ok(Some(event)) if filter.before_range(event)))
            .map(|event| Ok(event?.filter(|event| filter.keeps(event))));
        page(found, limit)
    }

    /// Indexes the events of a data directory written before the index existed, once. A new
    /// data directory (no events yet) is only marked, straight in sled and flushed: its events
    /// are indexed as they are written, and the mark costs no log record.
    pub(super) fn backfill_audit_index(&self) -> Result<(), StoreError> {
        if self.tree(TreeId::AuditIndex).get(INDEX_COMPLETE)?.is_some() {
            return Ok(());
        }
        let mut ops = Vec::with_capacity(BACKFILL_BATCH);
        let mut indexed = 0usize;
        for item in self.tree(TreeId::Events).iter() {
            let (key, value) = item?;
            let event: Event = decode(&value)?;
            let mut parts = key.split(|byte| *byte == keys::SEPARATOR);
            let (Some(account), Some(customer)) = (parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt(format!("event key {key:?}")));
            };
            let mut index_key = account.to_vec();
            index_key.push(keys::SEPARATOR);
            index_key.extend_from_slice(event.id.as_str().as_bytes());
            ops.push(Op::put(TreeId::AuditIndex, index_key, customer.to_vec()));
            if ops.len() == BACKFILL_BATCH {
                indexed += ops.len();
                self.commit_ops(std::mem::take(&mut ops))?;
            }
        }
        indexed += ops.len();
        if indexed == 0 {
            return self.mark_complete(TreeId::AuditIndex, INDEX_COMPLETE);
        }
        ops.push(Op::put(TreeId::AuditIndex, INDEX_COMPLETE.to_vec(), Vec::new()));
        self.commit_ops(ops)?;
        tracing::info!(indexed, "indexed the audit events of an older data directory");
        Ok(())
    }
}
