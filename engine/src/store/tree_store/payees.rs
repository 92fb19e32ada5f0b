//! Payees in the tree store, `account/payee` in the `Payees` tree. Their name, email and
//! destination's details are sealed under the data key (as gateway payloads are) before they
//! are encoded, in the record and in the answer a retry of the request gets; reads open them.

use serde::{Deserialize, Serialize};

use super::billing::{newest_first, page};
use super::ops::Op;
use super::{TreeId, TreeStore};
use crate::domain::{AccountId, Destination, Payee, PayeeId};
use crate::store::codec::{decode, encode};
use crate::store::{
    DurableTicket, IdempotencyRecord, IdempotencyState, Outcome, Page, PayeeStore, StoreError, keys,
};

/// A payee's personal fields, as sealed.
#[derive(Serialize, Deserialize)]
struct PayeePersonal {
    name: String,
    email: Option<String>,
    destination: Destination,
}

impl TreeStore {
    /// The payee as the store keeps it: its personal fields sealed, blank in the clear but for
    /// the destination's kind.
    fn sealed_payee(&self, payee: &Payee) -> Payee {
        let Some(sealer) = self.sealer.as_ref().filter(|sealer| sealer.seals_writes()) else {
            return payee.clone();
        };
        let personal = PayeePersonal {
            name: payee.name.clone(),
            email: payee.email.clone(),
            destination: payee.destination.clone(),
        };
        let sealed = sealer.seal_payload(payee.id.as_str(), &encode(&personal));
        let blank = match &payee.destination {
            Destination::BankAccount { .. } => Destination::BankAccount {
                account_holder: String::new(),
                bank_code: String::new(),
                account_number: String::new(),
            },
            Destination::Mpesa { .. } => Destination::Mpesa { phone: String::new() },
            Destination::Stripe { .. } => Destination::Stripe { account: String::new() },
        };
        Payee {
            name: String::new(),
            email: None,
            destination: blank,
            sealed: Some(sealed),
            ..payee.clone()
        }
    }

    pub(super) fn opened_payee(&self, mut payee: Payee) -> Result<Payee, StoreError> {
        let Some(sealed) = payee.sealed.take() else { return Ok(payee) };
        let Some(sealer) = &self.sealer else {
            return Err(StoreError::Corrupt(format!("payee {} is sealed: no data key", payee.id)));
        };
        let personal: PayeePersonal = decode(&sealer.open_payload(payee.id.as_str(), sealed)?)?;
        payee.name = personal.name;
        payee.email = personal.email;
        payee.destination = personal.destination;
        Ok(payee)
    }
}

impl PayeeStore for TreeStore {
    fn payee(&self, account: &AccountId, id: &PayeeId) -> Result<Option<Payee>, StoreError> {
        let stored = self.payee_unopened(account, id)?;
        stored.map(|payee| self.opened_payee(payee)).transpose()
    }

    fn payee_unopened(
        &self,
        account: &AccountId,
        id: &PayeeId,
    ) -> Result<Option<Payee>, StoreError> {
        self.get(TreeId::Payees, &keys::by_id(account, id.as_str()))
    }

    fn payees(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&PayeeId>,
    ) -> Result<Page<Payee>, StoreError> {
        let after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let found = newest_first(self.tree(TreeId::Payees), keys::account_prefix(account), after)
            .map(|item| Ok(Some(self.opened_payee(decode(&item?.1)?)?)));
        page(found, limit)
    }

    fn put_payee(
        &self,
        payee: &Payee,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(&payee.account, payee.id.as_str());
        let mut ops = vec![Op::put(TreeId::Payees, key, encode(&self.sealed_payee(payee)))];
        if let Some((key, record)) = answered {
            let mut record = record.clone();
            if let IdempotencyState::Completed(outcome) = &mut record.state
                && let Outcome::Payee(answer) = outcome.as_mut()
            {
                **answer = self.sealed_payee(answer);
            }
            let key = keys::idempotency(&payee.account, key);
            ops.push(Op::put(TreeId::Idempotency, key, encode(&record)));
        }
        self.commit_ops(ops)
    }
}
