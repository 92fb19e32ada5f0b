//! What the M-Pesa adapter remembers, in trees of its own beside the engine's:
//!
//! - `mpesa_attempts`: charge idempotency key → the push (amount, phone) and, once Daraja
//!   accepted it, its CheckoutRequestID. Written durably BEFORE the push: Daraja has no
//!   idempotency key, so this record is what stops a second push for the same charge, and what
//!   lets `retrieve` query the push's fate.
//! - `mpesa_checkouts`: CheckoutRequestID → charge idempotency key, for callbacks.
//! - `mpesa_payouts`: payout key → the B2C request (see [`super::b2c`]).
//!
//! The trees are the engine's ([`Trees`]): every write goes through its write-ahead log.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::GatewayError;
use crate::trees::{Put, Trees};

const ATTEMPTS: &str = "mpesa_attempts";
const CHECKOUTS: &str = "mpesa_checkouts";

/// Every tree the adapter keeps.
pub const TREES: [&str; 3] = [ATTEMPTS, CHECKOUTS, super::b2c::PAYOUTS];

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

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec(&Stored::V1(value)).expect("mpesa records always encode")
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, GatewayError> {
    match rmp_serde::from_slice::<Stored<T>>(bytes) {
        Ok(Stored::V1(value)) => Ok(value),
        Err(error) => Err(GatewayError::Storage(format!("undecodable mpesa record: {error}"))),
    }
}

#[derive(Clone)]
pub(super) struct MpesaStore {
    trees: Arc<dyn Trees>,
}

impl MpesaStore {
    pub fn open(trees: Arc<dyn Trees>) -> MpesaStore {
        MpesaStore { trees }
    }

    /// The trees themselves, for the B2C records kept beside the pushes.
    pub fn trees(&self) -> &Arc<dyn Trees> {
        &self.trees
    }

    pub fn attempt(&self, key: &str) -> Result<Option<MpesaAttemptRecord>, GatewayError> {
        match self.trees.get(ATTEMPTS, key.as_bytes())? {
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
        let value = encode(&record);
        let put = Put { tree: ATTEMPTS, key: key.as_bytes(), value: &value };
        let present = self.trees.insert_unless_present(ATTEMPTS, key.as_bytes(), &[put])?;
        self.sync().await?;
        Ok(present.is_none().then_some(record))
    }

    /// Daraja refused the push before acting: the key never moved money and may be used again.
    pub async fn forget(&self, key: &str) -> Result<(), GatewayError> {
        self.trees.remove(ATTEMPTS, key.as_bytes())?;
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
        let (pointer, value) = (encode(&key), encode(&record));
        self.trees.insert(&[
            Put { tree: CHECKOUTS, key: checkout_request_id.as_bytes(), value: &pointer },
            Put { tree: ATTEMPTS, key: key.as_bytes(), value: &value },
        ])?;
        self.sync().await
    }

    pub fn key_for_checkout(
        &self,
        checkout_request_id: &str,
    ) -> Result<Option<String>, GatewayError> {
        match self.trees.get(CHECKOUTS, checkout_request_id.as_bytes())? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        self.trees.sync().await
    }
}
