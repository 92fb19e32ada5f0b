//! Payees as the store keeps them: account-wide records, their personal data (name, email, the
//! destination's details) sealed at rest, written with the answer of the request that made or
//! changed them.

use super::{Durable, IdempotencyRecord, Page, StoreError};
use crate::domain::{AccountId, Payee, PayeeId};
use crate::store::DurableTicket;

pub trait PayeeStore: Durable {
    fn payee(&self, account: &AccountId, id: &PayeeId) -> Result<Option<Payee>, StoreError>;
    /// The payee with its personal data left sealed: name, email and the destination's details
    /// blank where they are sealed, its destination's kind and the rest as they are. What a split
    /// charge checks of its payee needs nothing more, and opens no personal data per charge.
    fn payee_unopened(
        &self,
        account: &AccountId,
        id: &PayeeId,
    ) -> Result<Option<Payee>, StoreError>;
    /// The account's payees, newest first.
    fn payees(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&PayeeId>,
    ) -> Result<Page<Payee>, StoreError>;
    /// Writes a new or changed payee with the idempotency record of the request that did it,
    /// in one write; the record's answer is sealed as the payee is.
    fn put_payee(
        &self,
        payee: &Payee,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError>;
}
