//! Data-key rotation, the store's part: every customer key wrapped with a data key rotated out
//! is wrapped again with the current one (the customer's key itself stays, so nothing sealed
//! under it is touched), and every email indexed under a rotated-out key's digest is indexed
//! again under the current one's. Run in the background while the engine serves; what is done
//! already is skipped, so a run cut short by a stop is finished by the next start.

use super::ops::Op;
use super::personal::email_key;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{AccountId, CustomerId};
use crate::store::sealing::WrappedKey;
use crate::store::{CustomerStore, DurableTicket, StoreError, keys};

/// Operations per log record of a rotation.
const ROTATION_BATCH: usize = 1_000;

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotated {
    pub keys_rewrapped: usize,
    pub emails_reindexed: usize,
}

impl TreeStore {
    /// Rotates what the configured previous data keys still hold; the ticket says when it is
    /// durable. A store without a sealer has nothing to rotate.
    pub fn rotate_data_key(&self) -> Result<(Rotated, Option<DurableTicket>), StoreError> {
        let Some(sealer) = self.sealer.clone() else { return Ok((Rotated::default(), None)) };
        let mut rotated = Rotated::default();
        let mut ops = Vec::new();
        let mut ticket = None;
        let mut flush = |ops: &mut Vec<Op>, force: bool| -> Result<(), StoreError> {
            if !ops.is_empty() && (force || ops.len() >= ROTATION_BATCH) {
                ticket = Some(self.commit_ops(std::mem::take(ops))?);
            }
            Ok(())
        };
        for item in self.tree(TreeId::CustomerKeys).iter() {
            let (key, value) = item?;
            let wrapped: WrappedKey = decode(&value)?;
            if !sealer.wrapped_before(&wrapped) {
                continue;
            }
            let customer = customer_of(&key)?;
            let rewrapped = sealer.rewrap(&customer, &wrapped)?;
            ops.push(Op::put(TreeId::CustomerKeys, key.to_vec(), encode(&rewrapped)));
            rotated.keys_rewrapped += 1;
            flush(&mut ops, false)?;
        }
        let index = self.tree(TreeId::CustomerEmails);
        for item in self.tree(TreeId::Customers).iter() {
            let (key, _) = item?;
            let account = account_of(&key)?;
            let customer = customer_of(&key)?;
            let Some(email) = self.customer(&account, &customer)?.and_then(|found| found.email)
            else {
                continue;
            };
            let digests = sealer.email_digests(&email);
            let (current, previous) = digests.split_first().expect("the current digest is first");
            let mut moved = false;
            for digest in previous {
                let place = email_key(&account, digest, customer.as_str());
                if index.get(&place)?.is_some() {
                    ops.push(Op::remove(TreeId::CustomerEmails, place));
                    moved = true;
                }
            }
            let place = email_key(&account, current, customer.as_str());
            if index.get(&place)?.is_none() {
                ops.push(Op::put(TreeId::CustomerEmails, place, Vec::new()));
                moved = true;
            }
            rotated.emails_reindexed += usize::from(moved);
            flush(&mut ops, false)?;
        }
        flush(&mut ops, true)?;
        Ok((rotated, ticket))
    }
}

/// The customer of a `account/customer` key.
fn customer_of(key: &[u8]) -> Result<CustomerId, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("customer key {key:?}"));
    let rest = &key[keys::account_prefix_of(key).len()..];
    std::str::from_utf8(rest).ok().and_then(CustomerId::parse).ok_or_else(corrupt)
}

fn account_of(key: &[u8]) -> Result<AccountId, StoreError> {
    let prefix = keys::account_prefix_of(key);
    let name = std::str::from_utf8(&prefix[..prefix.len().saturating_sub(1)]).ok();
    name.and_then(AccountId::parse)
        .ok_or_else(|| StoreError::Corrupt(format!("customer key {key:?}")))
}
