//! The sandbox's attempts still under way: taken between a call's start and its ledger record.
//! Without it, [`crate::Gateway::retrieve`] of a key whose call is still sleeping out its
//! configured latency answered "never made" — which the engine takes as final, failing the
//! charge and freeing the client's key while the call went on to charge, so the retry charged
//! twice. A real processor knows a request it is working on; so does the sandbox.
//!
//! In memory only, on purpose: a crash ends every call with it, and a call that never reached
//! the ledger never will, so after a restart "not found" is the truth again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::AttemptKind;

type Key = (bool, String);

#[derive(Clone, Default)]
pub(super) struct InFlight {
    /// (is a refund, idempotency key) → calls under way with it.
    calls: Arc<Mutex<HashMap<Key, usize>>>,
}

/// One call under way; dropping it (answered, failed or abandoned) ends it.
pub(super) struct Call {
    calls: Arc<Mutex<HashMap<Key, usize>>>,
    key: Key,
}

fn key(kind: AttemptKind, idempotency_key: &str) -> Key {
    (kind == AttemptKind::Refund, idempotency_key.to_owned())
}

impl InFlight {
    /// Marks a call under way until the returned guard is dropped. Take it before anything
    /// that may take time, and drop it only after the ledger holds the call's record.
    pub fn start(&self, kind: AttemptKind, idempotency_key: &str) -> Call {
        let key = key(kind, idempotency_key);
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *calls.entry(key.clone()).or_insert(0) += 1;
        Call { calls: Arc::clone(&self.calls), key }
    }

    pub fn contains(&self, kind: AttemptKind, idempotency_key: &str) -> bool {
        let calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        calls.contains_key(&key(kind, idempotency_key))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = calls.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                calls.remove(&self.key);
            }
        }
    }
}
