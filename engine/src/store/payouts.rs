//! Payouts as the store keeps them: each payout, a payee's list of them, the ones not yet
//! settled, and the instants of each payee's schedule that were acted on. A payout's every change
//! is one write with the postings that move its money and the events that announce it.

use super::{Durable, DurableTicket, IdempotencyRecord, Page, StoreError};
use crate::domain::{
    AccountId, DestinationFailure, LedgerBalance, NewOutgoingEvent, Payee, PayeeId, Payout,
    PayoutId, Posting,
};

/// One change of a payout, written at once.
#[derive(Debug, Clone)]
pub struct PayoutChange {
    pub payout: Payout,
    pub postings: Vec<Posting>,
    /// The payee's ledger totals in the payout's currency that a new payout's amount was
    /// decided on: the write is refused with [`StoreError::Conflict`] if a posting has moved
    /// them since, so two payouts never both spend one balance.
    pub decided_on: Option<LedgerBalance>,
    /// Why the payee's destination failed, where the change says so: written on the payee
    /// as it is stored when the change is.
    pub flag: Option<DestinationFailure>,
    /// The request's Idempotency-Key and its answer.
    pub answered: Option<(String, IdempotencyRecord)>,
    pub events: Vec<NewOutgoingEvent>,
}

impl PayoutChange {
    pub fn new(payout: Payout) -> PayoutChange {
        PayoutChange {
            payout,
            postings: Vec::new(),
            decided_on: None,
            flag: None,
            answered: None,
            events: Vec::new(),
        }
    }
}

pub trait PayoutStore: Durable {
    fn payout(&self, account: &AccountId, id: &PayoutId) -> Result<Option<Payout>, StoreError>;
    /// The account's payouts, newest first.
    fn account_payouts(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&PayoutId>,
    ) -> Result<Page<Payout>, StoreError>;
    /// A payee's payouts, newest first.
    fn payee_payouts(
        &self,
        account: &AccountId,
        payee: &PayeeId,
        limit: usize,
        starting_after: Option<&PayoutId>,
    ) -> Result<Page<Payout>, StoreError>;
    /// Every payout not yet settled, of every account.
    fn unsettled_payouts(&self) -> Result<Vec<Payout>, StoreError>;
    /// The latest instant of the payee's schedule that was acted on.
    fn last_payout_slot(
        &self,
        account: &AccountId,
        payee: &PayeeId,
    ) -> Result<Option<i64>, StoreError>;
    /// Marks the payee's schedule instant `at` acted on.
    fn mark_payout_slot(
        &self,
        account: &AccountId,
        payee: &PayeeId,
        at: i64,
    ) -> Result<DurableTicket, StoreError>;
    fn commit_payout(&self, change: PayoutChange) -> Result<DurableTicket, StoreError>;
    /// Every payee of every account on a payout schedule (not `manual`), as stored: its
    /// personal data (name, email, destination) not opened.
    fn scheduled_payees(&self) -> Result<Vec<Payee>, StoreError>;
}
