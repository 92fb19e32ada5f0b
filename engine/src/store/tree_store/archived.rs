//! Archival in the tree store. An archived record keeps its key: the live tree's entry is
//! removed and the `Archived` tree holds, under the same key, where the record is in the archive
//! ([`ArchiveEntry`]). The owner indexes stay, so a read by id finds the key as before and looks
//! in the archive when the live tree has nothing; lists, which read the live trees, no longer
//! show it.

use super::ops::Op;
use super::{TreeId, TreeStore, keys};
use crate::domain::{AccountId, Charge, ChargeId, CustomerId, Invoice, InvoiceId, OutgoingEvent};
use crate::limits::ARCHIVE_BLOCK_RECORDS;
use crate::store::archive::{ArchiveEntry, ArchiveRef, decode_block, encode_block};
use crate::store::archived::{Archivable, ArchiveStore, ArchivedRecord};
use crate::store::codec::{decode, encode};
use crate::store::{DurableTicket, StoreError};

/// Visits an archived record's stored bytes.
type RecordVisit<'a> = dyn FnMut(&[u8]) -> Result<(), StoreError> + 'a;

/// Where a store's archive files are, beside its own.
pub(super) const ARCHIVE_DIR: &str = "archive";

impl TreeStore {
    /// The record archived under `key`, if one is.
    pub(super) fn archived<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.tree(TreeId::Archived).get(key)? {
            Some(entry) => decode(&self.archived_bytes(&entry)?).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes of the record an `Archived` entry points at.
    pub(super) fn archived_bytes(&self, entry: &[u8]) -> Result<Vec<u8>, StoreError> {
        let entry: ArchiveEntry = decode(entry)?;
        let mut records = decode_block(&self.read_archive(entry.at)?)?;
        if records.len() <= entry.index as usize {
            return Err(StoreError::Corrupt(format!(
                "archive block {:?} has no record {}",
                entry.at, entry.index
            )));
        }
        Ok(records.swap_remove(entry.index as usize))
    }

    /// Writes `records` (each a key and its record's bytes) into archive blocks, and answers
    /// the `Archived` entries that point at them, to be written once the blocks are synced.
    pub(super) fn archive_blocks<R: AsRef<[u8]>>(
        &self,
        records: &[(Vec<u8>, R)],
    ) -> Result<Vec<Op>, StoreError> {
        let mut ops = Vec::with_capacity(records.len());
        for chunk in records.chunks(ARCHIVE_BLOCK_RECORDS) {
            let stored: Vec<&[u8]> = chunk.iter().map(|(_, record)| record.as_ref()).collect();
            let at = self.append_archive(&encode_block(&stored)?)?;
            for (index, (key, _)) in chunk.iter().enumerate() {
                let index = u32::try_from(index).expect("a block holds few records");
                ops.push(Op::put(
                    TreeId::Archived,
                    key.clone(),
                    encode(&ArchiveEntry { at, index }),
                ));
            }
        }
        Ok(ops)
    }

    /// A customer's record through its `account/id → customer` index: the live one, else the
    /// archived one (`true`).
    pub(super) fn live_or_archived<T: serde::de::DeserializeOwned>(
        &self,
        owners: TreeId,
        records: TreeId,
        account: &AccountId,
        object_id: &str,
    ) -> Result<Option<(T, bool)>, StoreError> {
        let Some(owner) = self.owner(owners, account, object_id)? else { return Ok(None) };
        let key = keys::owned(account, &owner, object_id);
        if let Some(live) = self.get(records, &key)? {
            return Ok(Some((live, false)));
        }
        Ok(self.archived(&key)?.map(|archived| (archived, true)))
    }

    /// The archived records under `prefix` whose id `wanted` keeps and that were not written
    /// live again since (their live tree is `live`); blocks are read only
    /// for the records kept, one block at a time.
    fn each_archived_under(
        &self,
        prefix: Vec<u8>,
        (live, wanted): (TreeId, fn(&str) -> bool),
        visit: &mut RecordVisit<'_>,
    ) -> Result<(), StoreError> {
        let mut block: Option<(ArchiveRef, Vec<Vec<u8>>)> = None;
        for item in self.tree(TreeId::Archived).scan_prefix(prefix) {
            let (key, value) = item?;
            if !wanted(object_id(&key)) || self.tree(live).get(&key)?.is_some() {
                continue;
            }
            let entry: ArchiveEntry = decode(&value)?;
            if block.as_ref().is_none_or(|(at, _)| *at != entry.at) {
                block = Some((entry.at, decode_block(&self.read_archive(entry.at)?)?));
            }
            let records = &block.as_ref().expect("read above").1;
            let record = records.get(entry.index as usize).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "archive block {:?} has no record {}",
                    entry.at, entry.index
                ))
            })?;
            visit(record)?;
        }
        Ok(())
    }
}

fn is_invoice(id: &str) -> bool {
    InvoiceId::parse(id).is_some()
}

fn is_charge(id: &str) -> bool {
    ChargeId::parse(id).is_some()
}

/// The id a key ends with.
fn object_id(key: &[u8]) -> &str {
    let id = key.rsplit(|byte| *byte == b'/').next().unwrap_or_default();
    std::str::from_utf8(id).unwrap_or_default()
}

/// The live tree a record's key is in.
fn live_tree(record: &ArchivedRecord) -> TreeId {
    match record {
        ArchivedRecord::Invoice(_) => TreeId::Invoices,
        ArchivedRecord::Charge(_) => TreeId::Charges,
        ArchivedRecord::Event(_) => TreeId::OutgoingEvents,
    }
}

fn key_of(account: &AccountId, record: &ArchivedRecord) -> Vec<u8> {
    match record.customer() {
        Some(customer) if !matches!(record, ArchivedRecord::Event(_)) => {
            keys::owned(account, customer, record.id())
        }
        _ => keys::by_id(account, record.id()),
    }
}

impl ArchiveStore for TreeStore {
    fn each_archivable(
        &self,
        visit: &mut dyn FnMut(Archivable) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let account_of = |key: &[u8]| {
            let prefix = keys::account_prefix_of(key);
            let text = std::str::from_utf8(&prefix[..prefix.len().saturating_sub(1)]).ok();
            text.and_then(AccountId::parse)
                .ok_or_else(|| StoreError::Corrupt("a record's key names no account".into()))
        };
        for item in self.tree(TreeId::Invoices).iter() {
            let (key, stored) = item?;
            let record = ArchivedRecord::Invoice(decode(&stored)?);
            visit(Archivable { account: account_of(&key)?, record, stored: stored.to_vec() })?;
        }
        for item in self.tree(TreeId::Charges).iter() {
            let (key, stored) = item?;
            let record = ArchivedRecord::Charge(decode(&stored)?);
            visit(Archivable { account: account_of(&key)?, record, stored: stored.to_vec() })?;
        }
        // Held back until the next event shows it is not its account's latest.
        let mut held: Option<Archivable> = None;
        let queue = self.tree(TreeId::OutboxQueue);
        for item in self.tree(TreeId::OutgoingEvents).iter() {
            let (_, stored) = item?;
            let event: OutgoingEvent = decode(&stored)?;
            let account = event.account.clone();
            if let Some(previous) = held.take()
                && previous.account == account
                && queue.get(previous.record.id().as_bytes())?.is_none()
            {
                visit(previous)?;
            }
            let record = ArchivedRecord::Event(event);
            held = Some(Archivable { account, record, stored: stored.to_vec() });
        }
        Ok(())
    }

    fn archive(&self, records: &[Archivable]) -> Result<(Vec<bool>, DurableTicket), StoreError> {
        let keyed: Vec<(Vec<u8>, &[u8])> = records
            .iter()
            .map(|record| (key_of(&record.account, &record.record), record.stored.as_slice()))
            .collect();
        let placed = self.archive_blocks(&keyed)?;
        let order = self.write_order()?;
        let (mut ops, mut moved) = (Vec::new(), Vec::with_capacity(records.len()));
        for ((record, (key, _)), index_op) in records.iter().zip(&keyed).zip(placed) {
            let tree = live_tree(&record.record);
            // Read under the write order: nothing can change the record between this check
            // and its removal.
            let unchanged = self.tree(tree).get(key)?.is_some_and(|live| live == record.stored[..]);
            if unchanged {
                ops.push(Op::remove(tree, key.clone()));
                ops.push(index_op);
            }
            moved.push(unchanged);
        }
        self.append_and_apply(&order, &ops)?;
        drop(order);
        Ok((moved, self.written()))
    }

    fn each_archived_invoice(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Invoice) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let kind = (TreeId::Invoices, is_invoice as fn(&str) -> bool);
        self.each_archived_under(keys::account_prefix(account), kind, &mut |record| {
            visit(Invoice { archived: true, ..decode(record)? })
        })
    }

    fn each_archived_charge(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let prefix = match customer {
            Some(customer) => keys::customer_prefix(account, customer),
            None => keys::account_prefix(account),
        };
        let kind = (TreeId::Charges, is_charge as fn(&str) -> bool);
        self.each_archived_under(prefix, kind, &mut |record| {
            visit(Charge { archived: true, ..decode(record)? })
        })
    }
}
