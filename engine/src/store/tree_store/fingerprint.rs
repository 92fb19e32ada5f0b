//! Which data key a shared database is written with. Every node must seal and open with the
//! same key: a node started with another would seal what the others cannot open, and miss every
//! Idempotency-Key they hashed. sled keeps the fingerprint in a file of its data directory; a
//! database keeps it in a tree, checked by every node at start.

use super::ops::Op;
use super::{TreeId, TreeStore};
use crate::store::StoreError;

const CURRENT: &[u8] = b"current";

impl TreeStore {
    /// Records `current` (a data key's fingerprint) as the key the store is written with, the
    /// first time and when it replaces one of `previous` (a rotation). Answers the fingerprint
    /// the store is written with when it is neither: then nothing is changed.
    pub fn hold_data_key(
        &self,
        current: &str,
        previous: &[String],
    ) -> Result<Option<String>, StoreError> {
        let order = self.write_order()?;
        let held = self.tree(TreeId::DataKeyFingerprint).get(CURRENT)?;
        if let Some(held) = held {
            let held = String::from_utf8_lossy(&held).into_owned();
            if held == current {
                return Ok(None);
            }
            if !previous.contains(&held) {
                return Ok(Some(held));
            }
        }
        let op = Op::put(TreeId::DataKeyFingerprint, CURRENT.to_vec(), current.as_bytes().to_vec());
        self.append_and_apply(&order, &[op])?;
        Ok(None)
    }
}
