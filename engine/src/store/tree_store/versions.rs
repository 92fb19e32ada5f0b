//! What lets several nodes share customers (PostgreSQL): each customer's version, which every
//! commit for it moves on by one and a change decided on an older one may not pass; and the
//! Idempotency-Keys in flight, which a request on another node may not take over. Both are
//! checked under the write order, which every node's writers share there.

use super::{Op, TreeId, TreeStore};
use crate::domain::{AccountId, CustomerId};
use crate::store::{ChangeSet, IdempotencyRecord, IdempotencyState, StoreError, Write, keys};

impl TreeStore {
    /// How many change sets have been committed for the customer.
    pub(super) fn stored_version(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<u64, StoreError> {
        let stored = self.tree(TreeId::CustomerVersions).get(keys::customer(account, customer))?;
        match stored {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(format!("the version of customer {customer}"))),
        }
    }

    /// The write that moves the customer's version on, refused when the change was decided on
    /// a version another commit has moved past.
    pub(super) fn next_version(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        decided_at: Option<u64>,
    ) -> Result<Op, StoreError> {
        let stored = self.stored_version(account, customer)?;
        if let Some(decided_at) = decided_at
            && decided_at != stored
        {
            return Err(StoreError::Conflict(format!(
                "customer {customer} is at version {stored}, the change was decided at {decided_at}"
            )));
        }
        let next = (stored + 1).to_be_bytes().to_vec();
        Ok(Op::put(TreeId::CustomerVersions, keys::customer(account, customer), next))
    }

    /// Refuses a change that would put its in-flight record over another request's record of
    /// the same key: two requests with one key on two nodes at once carry out one.
    pub(super) fn check_keys_in_flight(
        &self,
        account: &AccountId,
        in_flight: &[(String, [u8; 32])],
    ) -> Result<(), StoreError> {
        for (key, fingerprint) in in_flight {
            let held: Option<IdempotencyRecord> =
                self.get(TreeId::Idempotency, &keys::idempotency(account, key))?;
            if let Some(held) = held
                && (&held.fingerprint != fingerprint
                    || matches!(held.state, IdempotencyState::Completed(_)))
            {
                return Err(StoreError::KeyInUse);
            }
        }
        Ok(())
    }
}

/// The Idempotency-Keys a change set takes in flight, with their requests' fingerprints.
pub(super) fn keys_in_flight(changes: &ChangeSet) -> Vec<(String, [u8; 32])> {
    changes
        .writes
        .iter()
        .filter_map(|write| match write {
            Write::Idempotency { key, record } => match record.state {
                IdempotencyState::InFlight(_) => Some((key.clone(), record.fingerprint)),
                IdempotencyState::Completed(_) => None,
            },
            _ => None,
        })
        .collect()
}
