//! The sled store's side of sealing (`store::sealing`): a change set's customers, payment
//! methods and idempotency answers are sealed before they are encoded, so the log and sled
//! only ever hold ciphertext of them; reads open them again. A customer's key is made with its
//! first sealed write and stored (wrapped) in the same change set, `account/customer` in the
//! `CustomerKeys` tree; it is cached only once that change set is in the log.

use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use serde::{Deserialize, Serialize};

use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{
    AccountId, Address, CardDisplay, Customer, CustomerId, Metadata, PaymentMethod,
    PromotionalGrant,
};
use crate::store::sealing::{self, CustomerKey, Sealer, WrappedKey};
use crate::store::{
    ChangeSet, CustomerStore, IdempotencyRecord, IdempotencyState, Outcome, StoreError, Write, keys,
};

/// A customer's personal fields, as sealed.
#[derive(Serialize, Deserialize)]
struct CustomerPersonal {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    address: Option<Address>,
    metadata: Metadata,
}

/// A payment method's token and display fields, as sealed.
#[derive(Serialize, Deserialize)]
struct MethodPersonal {
    token: String,
    card: Option<CardDisplay>,
}

/// Keys made while sealing a change set, cached once it is committed.
pub(super) type NewKeys = Vec<(CustomerId, Arc<Aes256Gcm>)>;

impl TreeStore {
    /// The change set with its personal data sealed, the operations it adds (the keys it
    /// made, the moves of its email index entries), and the keys it made. Without a sealer it
    /// is returned as it is; with sealing off only its emails are indexed.
    pub(super) fn seal_change_set(
        &self,
        mut changes: ChangeSet,
    ) -> Result<(ChangeSet, Vec<Op>, NewKeys), StoreError> {
        let mut added = Vec::new();
        let mut new_keys = Vec::new();
        let Some(sealer) = &self.sealer else { return Ok((changes, added, new_keys)) };
        self.index_emails(sealer, &changes, &mut added)?;
        if !sealer.seals_writes() {
            return Ok((changes, added, new_keys));
        }
        let account = changes.account.clone();
        let customer = changes.customer.clone();
        // An erasure's own events show the customer as erased, and go out after its key is
        // gone: they hold nothing to seal.
        let erases = changes.writes.iter().any(|write| matches!(write, Write::ForgetCustomerKey));
        let mut key: Option<CustomerKey> = None;
        for write in &mut changes.writes {
            if !holds_personal_data(write) || (erases && matches!(write, Write::Outgoing(_))) {
                continue;
            }
            let key = match &key {
                Some(key) => key,
                None => key.insert(match self.customer_key(&account, &customer)? {
                    Some(key) => key,
                    None => {
                        let (made, wrapped) = sealer.new_key(&customer);
                        let place = keys::customer(&account, &customer);
                        added.push(Op::put(TreeId::CustomerKeys, place, encode(&wrapped)));
                        new_keys.push((customer.clone(), Arc::clone(&made)));
                        Some(made)
                    }
                }),
            };
            // An erased customer has no key: its record, emptied of personal data, is written
            // as it is.
            if let Some(key) = key {
                seal_write(write, key, &customer);
            }
        }
        Ok((changes, added, new_keys))
    }

    /// Moves the `email=` index entry of each customer the set writes whose email changes.
    fn index_emails(
        &self,
        sealer: &Sealer,
        changes: &ChangeSet,
        ops: &mut Vec<Op>,
    ) -> Result<(), StoreError> {
        for write in &changes.writes {
            let Write::Customer(record) = write else { continue };
            let stored = self.customer(&changes.account, &record.id)?;
            let before = stored.and_then(|customer| customer.email);
            if before == record.email {
                continue;
            }
            let place = |email: &str| {
                email_key(&changes.account, &sealer.email_digest(email), record.id.as_str())
            };
            if let Some(before) = &before {
                ops.push(Op::remove(TreeId::CustomerEmails, place(before)));
            }
            if let Some(email) = &record.email {
                ops.push(Op::put(TreeId::CustomerEmails, place(email), Vec::new()));
            }
        }
        Ok(())
    }

    /// The account's customers with exactly this email, newest first: through the index, or
    /// (a store without a sealer) by reading them all.
    pub(super) fn find_by_email(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<Vec<Customer>, StoreError> {
        let candidates: Vec<CustomerId> = match &self.sealer {
            // Under every configured data key's digest: a rotation may not have re-indexed it.
            Some(sealer) => {
                let mut ids = Vec::new();
                for digest in sealer.email_digests(email) {
                    let prefix = email_key(account, &digest, "");
                    for item in self.tree(TreeId::CustomerEmails).scan_prefix(&prefix) {
                        let (key, _) = item?;
                        let id = std::str::from_utf8(&key[prefix.len()..])
                            .ok()
                            .and_then(CustomerId::parse);
                        let corrupt = || StoreError::Corrupt(format!("email index key {key:?}"));
                        ids.push(id.ok_or_else(corrupt)?);
                    }
                }
                ids.sort();
                ids.dedup();
                ids
            }
            None => {
                let all = self.tree(TreeId::Customers).scan_prefix(keys::account_prefix(account));
                let mut ids = Vec::new();
                for item in all {
                    let customer: Customer = decode(&item?.1)?;
                    ids.push(customer.id);
                }
                ids
            }
        };
        let mut found = Vec::new();
        for id in candidates {
            // The index names candidates; the record says whether the email is still theirs.
            if let Some(customer) = self.customer(account, &id)?
                && customer.email.as_deref() == Some(email)
            {
                found.push(customer);
            }
        }
        found.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(found)
    }

    /// Indexes the emails of the customers of a data directory written before the index, once,
    /// when the store gets its sealer. A directory with no customers yet is only marked.
    pub(super) fn backfill_email_index(&self) -> Result<(), StoreError> {
        let Some(sealer) = &self.sealer else { return Ok(()) };
        if self.tree(TreeId::CustomerEmails).get(EMAIL_INDEX_COMPLETE)?.is_some() {
            return Ok(());
        }
        let mut ops = Vec::new();
        for item in self.tree(TreeId::Customers).iter() {
            let (key, value) = item?;
            let account = keys::account_prefix_of(&key);
            let account = std::str::from_utf8(&account[..account.len().saturating_sub(1)])
                .ok()
                .and_then(AccountId::parse)
                .ok_or_else(|| StoreError::Corrupt(format!("customer key {key:?}")))?;
            let customer = self.opened_customer(&account, decode(&value)?)?;
            if let Some(email) = &customer.email {
                let place = email_key(&account, &sealer.email_digest(email), customer.id.as_str());
                ops.push(Op::put(TreeId::CustomerEmails, place, Vec::new()));
            }
        }
        if ops.is_empty() {
            return self.mark_complete(TreeId::CustomerEmails, EMAIL_INDEX_COMPLETE);
        }
        let indexed = ops.len();
        ops.push(Op::put(TreeId::CustomerEmails, EMAIL_INDEX_COMPLETE.to_vec(), Vec::new()));
        self.commit_ops(ops)?;
        tracing::info!(indexed, "indexed the customers' emails of an older data directory");
        Ok(())
    }

    /// Caches the keys a committed change set made.
    pub(super) fn keep_new_keys(&self, new_keys: NewKeys) {
        if let Some(sealer) = &self.sealer {
            for (customer, key) in new_keys {
                sealer.remember(&customer, Some(key));
            }
        }
    }

    /// The customer's key: `None` if it has none yet, `Some(None)` if it was erased.
    pub(super) fn customer_key(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<CustomerKey>, StoreError> {
        let Some(sealer) = &self.sealer else { return Ok(Some(None)) };
        // Where nodes share the store, another node may have erased the customer (and its key)
        // since this one cached it: the key is read from the store every time.
        let shared = self.is_shared();
        if !shared && let Some(key) = sealer.cached(customer) {
            return Ok(Some(key));
        }
        let wrapped: Option<WrappedKey> =
            self.get(TreeId::CustomerKeys, &keys::customer(account, customer))?;
        let key = match wrapped {
            Some(wrapped) => Some(Arc::new(sealer.unwrap(customer, &wrapped)?)),
            None if self.customer_erased(account, customer)? => None,
            None => return Ok(None),
        };
        sealer.remember(customer, key.clone());
        Ok(Some(key))
    }

    /// Whether the customer's record says it was erased (its key is then gone for good).
    fn customer_erased(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<bool, StoreError> {
        let record: Option<Customer> =
            self.get(TreeId::Customers, &keys::customer(account, customer))?;
        Ok(record.is_some_and(|record| record.deleted))
    }

    /// A stored customer as the engine works with it: its personal fields opened, or left
    /// empty when the customer was erased.
    pub(super) fn opened_customer(
        &self,
        account: &AccountId,
        mut customer: Customer,
    ) -> Result<Customer, StoreError> {
        let Some(sealed) = customer.sealed.take() else { return Ok(customer) };
        let Some(Some(key)) = self.customer_key(account, &customer.id)? else {
            return Ok(customer);
        };
        let personal: CustomerPersonal =
            rmp_serde::from_slice(&sealing::open(&key, &customer.id, &sealed)?)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        customer.email = personal.email;
        customer.name = personal.name;
        customer.phone = personal.phone;
        customer.address = personal.address;
        customer.metadata = personal.metadata;
        for grant in &mut customer.grants {
            open_grant(grant, &key, &customer.id)?;
        }
        Ok(customer)
    }

    pub(super) fn opened_method(
        &self,
        account: &AccountId,
        mut method: PaymentMethod,
    ) -> Result<PaymentMethod, StoreError> {
        let Some(sealed) = method.sealed.take() else { return Ok(method) };
        let Some(Some(key)) = self.customer_key(account, &method.customer)? else {
            return Ok(method);
        };
        let personal: MethodPersonal =
            rmp_serde::from_slice(&sealing::open(&key, &method.customer, &sealed)?)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        method.token = personal.token;
        method.card = personal.card;
        Ok(method)
    }

    /// An idempotency record whose answer is a customer or a payment method, opened.
    pub(super) fn opened_record(
        &self,
        account: &AccountId,
        mut record: IdempotencyRecord,
    ) -> Result<IdempotencyRecord, StoreError> {
        if let IdempotencyState::Completed(outcome) = &mut record.state {
            match outcome.as_mut() {
                Outcome::Customer(customer) => {
                    *customer = self.opened_customer(account, customer.clone())?;
                }
                Outcome::PaymentMethod(method) => {
                    *method = self.opened_method(account, method.clone())?;
                }
                Outcome::Payee(payee) => **payee = self.opened_payee((**payee).clone())?,
                Outcome::Grant { customer, grant } if grant.sealed.is_some() => {
                    if let Some(Some(key)) = self.customer_key(account, customer)? {
                        open_grant(grant, &key, customer)?;
                    }
                }
                _ => {}
            }
        }
        Ok(record)
    }
}

/// Sorts after every `acct_…` key: marks the email index as holding every customer.
const EMAIL_INDEX_COMPLETE: &[u8] = b"\xff complete";

/// `account/<email digest>/customer`.
pub(super) fn email_key(account: &AccountId, digest: &str, customer: &str) -> Vec<u8> {
    keys::by_id(account, &format!("{digest}/{customer}"))
}

fn holds_personal_data(write: &Write) -> bool {
    match write {
        Write::Customer(_) | Write::PaymentMethod(_) => true,
        Write::Outgoing(event) => event.customer.is_some(),
        Write::Idempotency { record, .. } => matches!(
            &record.state,
            IdempotencyState::Completed(outcome) if matches!(
                outcome.as_ref(),
                Outcome::Customer(_) | Outcome::PaymentMethod(_) | Outcome::Grant { .. }
            )
        ),
        _ => false,
    }
}

fn seal_write(write: &mut Write, key: &Aes256Gcm, customer: &CustomerId) {
    match write {
        Write::Customer(record) => seal_customer(record, key),
        Write::PaymentMethod(method) => seal_method(method, key, customer),
        Write::Outgoing(event) => {
            if let Some(data) = event.data.take() {
                event.sealed = Some(sealing::seal(key, customer, &data));
            }
        }
        Write::Idempotency { record, .. } => {
            if let IdempotencyState::Completed(outcome) = &mut record.state {
                match outcome.as_mut() {
                    Outcome::Customer(record) => seal_customer(record, key),
                    Outcome::PaymentMethod(method) => seal_method(method, key, customer),
                    Outcome::Grant { grant, .. } => seal_grant(grant, key, customer),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn seal_customer(customer: &mut Customer, key: &Aes256Gcm) {
    let personal = CustomerPersonal {
        email: customer.email.take(),
        name: customer.name.take(),
        phone: customer.phone.take(),
        address: customer.address.take(),
        metadata: std::mem::take(&mut customer.metadata),
    };
    let plaintext = rmp_serde::to_vec(&personal).expect("personal fields always encode");
    customer.sealed = Some(sealing::seal(key, &customer.id, &plaintext));
    for grant in &mut customer.grants {
        seal_grant(grant, key, &customer.id);
    }
}

fn seal_grant(grant: &mut PromotionalGrant, key: &Aes256Gcm, customer: &CustomerId) {
    if let Some(reason) = grant.reason.take() {
        grant.sealed = Some(sealing::seal(key, customer, reason.as_bytes()));
    }
}

fn open_grant(
    grant: &mut PromotionalGrant,
    key: &Aes256Gcm,
    customer: &CustomerId,
) -> Result<(), StoreError> {
    let Some(sealed) = grant.sealed.take() else { return Ok(()) };
    let reason = String::from_utf8(sealing::open(key, customer, &sealed)?)
        .map_err(|error| StoreError::Corrupt(format!("grant {}'s reason: {error}", grant.id)))?;
    grant.reason = Some(reason);
    Ok(())
}

fn seal_method(method: &mut PaymentMethod, key: &Aes256Gcm, customer: &CustomerId) {
    let personal =
        MethodPersonal { token: std::mem::take(&mut method.token), card: method.card.take() };
    let plaintext = rmp_serde::to_vec(&personal).expect("display fields always encode");
    method.sealed = Some(sealing::seal(key, customer, &plaintext));
}
