//! Breakdowns as earlier versions kept them: in a tree of their own, under the charge's key,
//! with the charge record and its completed idempotency record stored without it. An insert
//! into one more sled tree cost a priced charge more CPU than its rules do (~35 µs here), so a
//! breakdown now lives in its charge's record. At open, any left in that tree are moved there
//! once; every step can run again after a crash, and the tree is empty when it is done.

use std::collections::HashMap;

use super::{SledStore, TreeId, decode, encode};
use crate::domain::{Breakdown, Charge};
use crate::store::{IdempotencyRecord, IdempotencyState, Outcome, StoreError, keys};

impl SledStore {
    /// Moves the breakdowns of the old tree into their records; returns how many there were.
    pub(super) fn move_breakdowns_into_charges(&self) -> Result<usize, StoreError> {
        let separate = self.sled_tree(TreeId::Breakdowns);
        if separate.is_empty() {
            return Ok(0);
        }
        // Charge ids are unique across accounts: the id alone names a breakdown's charge.
        let mut by_charge: HashMap<String, (sled::IVec, Breakdown)> = HashMap::new();
        for entry in separate.iter() {
            let (key, bytes) = entry?;
            let (_, _, charge_id) = keys::split_owned(&key)
                .ok_or_else(|| StoreError::Corrupt(format!("breakdown key {key:?}")))?;
            by_charge.insert(charge_id.to_owned(), (key.clone(), decode(&bytes)?));
        }
        // The idempotency records first: they are found through the charges' breakdowns.
        let idempotency = self.sled_tree(TreeId::Idempotency);
        for entry in idempotency.iter() {
            let (key, bytes) = entry?;
            let mut record: IdempotencyRecord = decode(&bytes)?;
            if let IdempotencyState::Completed(outcome) = &mut record.state
                && let Outcome::Charge(charge) = outcome.as_mut()
                && join(charge, &by_charge)
            {
                idempotency.insert(key, encode(&record))?;
            }
        }
        let moved = by_charge.len();
        let charges = self.sled_tree(TreeId::Charges);
        for (key, breakdown) in by_charge.into_values() {
            if let Some(bytes) = charges.get(&key)? {
                let mut charge: Charge = decode(&bytes)?;
                if charge.breakdown.is_none() {
                    charge.breakdown = Some(Box::new(breakdown));
                    charges.insert(&key, encode(&charge))?;
                }
            }
            separate.remove(&key)?;
        }
        self.db.flush()?;
        Ok(moved)
    }
}

/// Gives `charge` its breakdown from the old tree, if it has one there and lacks it.
fn join(charge: &mut Charge, by_charge: &HashMap<String, (sled::IVec, Breakdown)>) -> bool {
    match by_charge.get(charge.id.as_str()) {
        Some((_, breakdown)) if charge.breakdown.is_none() => {
            charge.breakdown = Some(Box::new(breakdown.clone()));
            true
        }
        _ => false,
    }
}
