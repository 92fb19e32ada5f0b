//! The store's part for archival: which records may move to the archive files
//! ([`super::archive`]), moving them, and reading them back for reports and the books. Which
//! ones are old enough is the engine's decision (`crate::archival`); that a record moved is
//! exactly what the live store held is the store's.

use super::{Durable, DurableTicket, StoreError};
use crate::domain::{AccountId, Charge, CustomerId, Invoice, OutgoingEvent};

/// A record archival may move, as the live store holds it.
#[derive(Debug, Clone)]
pub struct Archivable {
    pub account: AccountId,
    pub record: ArchivedRecord,
    /// The record's bytes as read: it moves only if the store still holds exactly these.
    pub stored: Vec<u8>,
}

/// The kinds of record the archive holds.
// One per record archived or read back: a box would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ArchivedRecord {
    Invoice(Invoice),
    Charge(Charge),
    /// Its data as stored: sealed under its customer's key.
    Event(OutgoingEvent),
}

impl ArchivedRecord {
    pub fn id(&self) -> &str {
        match self {
            ArchivedRecord::Invoice(invoice) => invoice.id.as_str(),
            ArchivedRecord::Charge(charge) => charge.id.as_str(),
            ArchivedRecord::Event(event) => event.id.as_str(),
        }
    }

    /// The customer whose record it is; `None` for an account's own event.
    pub fn customer(&self) -> Option<&CustomerId> {
        match self {
            ArchivedRecord::Invoice(invoice) => Some(&invoice.customer),
            ArchivedRecord::Charge(charge) => Some(&charge.customer),
            ArchivedRecord::Event(event) => event.customer.as_ref(),
        }
    }
}

pub trait ArchiveStore: Durable {
    /// Every live invoice and charge, and every outgoing event off the delivery queue (but each
    /// account's latest, which its next event's number follows), one at a time.
    fn each_archivable(
        &self,
        visit: &mut dyn FnMut(Archivable) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Moves `records` to the archive: written in blocks and synced first, then, as one write
    /// under the write order, each one the live store still holds unchanged is taken out of the
    /// live trees and indexed where it now is (one that changed meanwhile stays live, for a
    /// later pass). Answers, for each record in order, whether it moved. A record read by id is
    /// found either way.
    fn archive(&self, records: &[Archivable]) -> Result<(Vec<bool>, DurableTicket), StoreError>;
    /// The account's archived invoices, one at a time (those written again since are live).
    fn each_archived_invoice(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Invoice) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// The account's archived charges, or only `customer`'s, one at a time (those written
    /// again since are live).
    fn each_archived_charge(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        visit: &mut dyn FnMut(Charge) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}
