//! What the M-Pesa adapter remembers, in sled trees of its own beside the engine's:
//!
//! - `mpesa_attempts`: charge idempotency key → the push (amount, phone) and, once Daraja
//!   accepted it, its CheckoutRequestID. Written durably BEFORE the push: Daraja has no
//!   idempotency key, so this record is what stops a second push for the same charge, and what
//!   lets `retrieve` query the push's fate.
//! - `mpesa_checkouts`: CheckoutRequestID → charge idempotency key, for callbacks.
//!
//! Single-key sled operations only (sled's multi-key transactions stall the engine's writers);
//! durability through the engine's group commit.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Durability, GatewayError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MpesaAttemptRecord {
    pub amount_kes: u64,
    /// Normalised, `2547XXXXXXXX`.
    pub phone: String,
    pub created_unix_secs: i64,
    pub checkout_request_id: Option<String>,
}

/// Stored values carry their version so that later layouts can still read these.
#[derive(Serialize, Deserialize)]
enum Stored<T> {
    V1(T),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec(&Stored::V1(value)).expect("mpesa records always encode")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, GatewayError> {
    match rmp_serde::from_slice::<Stored<T>>(bytes) {
        Ok(Stored::V1(value)) => Ok(value),
        Err(error) => Err(GatewayError::Storage(format!("undecodable mpesa record: {error}"))),
    }
}

fn storage(error: sled::Error) -> GatewayError {
    GatewayError::Storage(format!("mpesa records: {error}"))
}

#[derive(Clone)]
pub(super) struct MpesaStore {
    attempts: sled::Tree,
    checkouts: sled::Tree,
    durability: Arc<dyn Durability>,
}

impl MpesaStore {
    pub fn open(
        db: &sled::Db,
        durability: Arc<dyn Durability>,
    ) -> Result<MpesaStore, GatewayError> {
        Ok(MpesaStore {
            attempts: db.open_tree("mpesa_attempts").map_err(storage)?,
            checkouts: db.open_tree("mpesa_checkouts").map_err(storage)?,
            durability,
        })
    }

    pub fn attempt(&self, key: &str) -> Result<Option<MpesaAttemptRecord>, GatewayError> {
        match self.attempts.get(key).map_err(storage)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records the attempt durably if the key has none yet: `Some(record)` to the one caller
    /// that recorded it (and so may push), `None` to everyone else.
    pub async fn record_first(
        &self,
        key: &str,
        record: MpesaAttemptRecord,
    ) -> Result<Option<MpesaAttemptRecord>, GatewayError> {
        let inserted = self
            .attempts
            .compare_and_swap(key, None::<&[u8]>, Some(encode(&record)))
            .map_err(storage)?;
        self.sync().await?;
        Ok(inserted.ok().map(|()| record))
    }

    /// Daraja refused the push before acting: the key never moved money and may be used again.
    pub async fn forget(&self, key: &str) -> Result<(), GatewayError> {
        self.attempts.remove(key).map_err(storage)?;
        self.sync().await
    }

    /// Daraja accepted the push: remember its CheckoutRequestID, durably, both ways.
    pub async fn note_checkout(
        &self,
        key: &str,
        checkout_request_id: &str,
    ) -> Result<(), GatewayError> {
        let Some(mut record) = self.attempt(key)? else {
            return Err(GatewayError::Storage("an mpesa attempt record vanished".into()));
        };
        record.checkout_request_id = Some(checkout_request_id.to_owned());
        // The reverse index first: a crash between the two leaves a pointer that names a record
        // without a checkout id, which `key_for_checkout` still answers correctly.
        self.checkouts.insert(checkout_request_id, encode(&key)).map_err(storage)?;
        self.attempts.insert(key, encode(&record)).map_err(storage)?;
        self.sync().await
    }

    pub fn key_for_checkout(
        &self,
        checkout_request_id: &str,
    ) -> Result<Option<String>, GatewayError> {
        match self.checkouts.get(checkout_request_id).map_err(storage)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        self.durability.sync().await.map_err(GatewayError::Storage)
    }
}
