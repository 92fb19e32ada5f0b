//! What the Stripe adapter remembers on local disk, in sled trees of its own beside the engine's:
//!
//! - `stripe_customers`: Kassa customer id → Stripe customer id, so each Kassa customer gets one
//!   Stripe customer, created on first use.
//! - `stripe_attached_payment_methods`: (Stripe customer, PaymentMethod) pairs already attached
//!   at Stripe, so each PaymentMethod is attached to its customer once, before its first charge.
//! - `stripe_attempts`: idempotency key → the exact parameters sent with it, written durably
//!   BEFORE the request leaves. This is what makes [`crate::Gateway::retrieve`] honest: no record
//!   means the key was never sent (`Ok(None)` is final), and a record lets the adapter re-send the
//!   very same request under the same Idempotency-Key, which Stripe answers with the original
//!   outcome instead of charging again.
//!
//! Every write is a single-key sled operation (sled's multi-key transactions stall the engine's
//! writers); durability comes from the engine's group commit through [`Durability`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Currency, Durability, GatewayError};

/// The parameters of a money-moving request, exactly as they were (or will be) sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum AttemptParams {
    Charge {
        amount_minor: i64,
        currency: Currency,
        payment_method: String,
        /// The Stripe customer id, when the charge named a Kassa customer.
        customer: Option<String>,
        description: Option<String>,
        /// The `return_url` sent, kept so that a re-send is the same request even after the
        /// configured one changed (Stripe refuses a key re-sent with other parameters).
        #[serde(default)]
        return_url: ReturnUrl,
        /// Sent as `off_session=true` (a renewal); absent from records older than it.
        #[serde(default)]
        off_session: bool,
        /// The `amount` sent, in Stripe's unit for the currency (see `currencies`). `None` in
        /// records from before the conversion, which sent `amount_minor` as it was: a re-send
        /// must repeat what was sent, or Stripe refuses the key.
        #[serde(default)]
        stripe_amount: Option<i64>,
    },
    Refund {
        payment_intent: String,
        /// In Kassa's ISO 4217 minor units.
        amount_minor: i64,
        /// As for a charge: the `amount` sent in Stripe's unit, `None` in older records.
        #[serde(default)]
        stripe_amount: Option<i64>,
    },
}

impl AttemptParams {
    /// The `amount` the request carries: what was (or will be) sent.
    pub fn wire_amount(&self) -> i64 {
        match self {
            AttemptParams::Charge { amount_minor, stripe_amount, .. }
            | AttemptParams::Refund { amount_minor, stripe_amount, .. } => {
                stripe_amount.unwrap_or(*amount_minor)
            }
        }
    }
}

/// A charge's `return_url` as it was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum ReturnUrl {
    /// `None`: sent without one (3-D Secure then finishes through stripe.js).
    Sent(Option<String>),
    /// Records written before the return_url was kept. They were sent with the one configured
    /// at the time, so they are re-sent with the configured one, as they always were.
    #[default]
    Unrecorded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AttemptRecord {
    pub params: AttemptParams,
    pub created_unix_secs: i64,
    /// The PaymentIntent or Refund id, once an answer named it: lets `retrieve` ask for the
    /// object directly. Written without waiting for a flush — losing it only costs a re-send.
    pub reference: Option<String>,
}

/// Stored values carry their version so that later layouts can still read these.
#[derive(Serialize, Deserialize)]
enum Stored<T> {
    V1(T),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec(&Stored::V1(value)).expect("stripe records always encode")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, GatewayError> {
    match rmp_serde::from_slice::<Stored<T>>(bytes) {
        Ok(Stored::V1(value)) => Ok(value),
        Err(error) => Err(GatewayError::Storage(format!("undecodable stripe record: {error}"))),
    }
}

fn storage(error: sled::Error) -> GatewayError {
    GatewayError::Storage(format!("stripe records: {error}"))
}

#[derive(Clone)]
pub(super) struct StripeStore {
    customers: sled::Tree,
    attempts: sled::Tree,
    attached: sled::Tree,
    durability: Arc<dyn Durability>,
}

/// Stripe ids are letters, digits and `_`, so `/` cannot occur inside either part.
fn attached_key(stripe_customer: &str, payment_method: &str) -> String {
    format!("{stripe_customer}/{payment_method}")
}

impl StripeStore {
    pub fn open(
        db: &sled::Db,
        durability: Arc<dyn Durability>,
    ) -> Result<StripeStore, GatewayError> {
        Ok(StripeStore {
            customers: db.open_tree("stripe_customers").map_err(storage)?,
            attempts: db.open_tree("stripe_attempts").map_err(storage)?,
            attached: db.open_tree("stripe_attached_payment_methods").map_err(storage)?,
            durability,
        })
    }

    pub fn customer(&self, kassa_customer: &str) -> Result<Option<String>, GatewayError> {
        match self.customers.get(kassa_customer).map_err(storage)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub async fn remember_customer(
        &self,
        kassa_customer: &str,
        stripe_customer: &str,
    ) -> Result<(), GatewayError> {
        self.customers.insert(kassa_customer, encode(&stripe_customer)).map_err(storage)?;
        self.sync().await
    }

    pub fn is_attached(
        &self,
        stripe_customer: &str,
        payment_method: &str,
    ) -> Result<bool, GatewayError> {
        self.attached.contains_key(attached_key(stripe_customer, payment_method)).map_err(storage)
    }

    /// Notes that Stripe attached the PaymentMethod to the customer. Not waited on: a lost note
    /// only costs one more attach, which Stripe answers as done.
    pub fn remember_attached(&self, stripe_customer: &str, payment_method: &str) {
        let key = attached_key(stripe_customer, payment_method);
        if let Err(error) = self.attached.insert(key, encode(&true)) {
            tracing::warn!(%error, "could not note an attached payment method");
        }
    }

    pub fn attempt(&self, idempotency_key: &str) -> Result<Option<AttemptRecord>, GatewayError> {
        match self.attempts.get(idempotency_key).map_err(storage)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records the attempt durably unless the key already has one, and returns the record that
    /// the key now holds: a second call with the key re-sends the first call's parameters, so a
    /// caller can never make Stripe see one key with two bodies.
    pub async fn record_attempt(
        &self,
        idempotency_key: &str,
        record: AttemptRecord,
    ) -> Result<AttemptRecord, GatewayError> {
        let inserted = self
            .attempts
            .compare_and_swap(idempotency_key, None::<&[u8]>, Some(encode(&record)))
            .map_err(storage)?;
        self.sync().await?;
        match inserted {
            Ok(()) => Ok(record),
            Err(_) => self
                .attempt(idempotency_key)?
                .ok_or_else(|| GatewayError::Storage("a stripe attempt record vanished".into())),
        }
    }

    /// Notes the object an attempt created. Best effort: a lost note only costs a re-send.
    pub fn note_reference(&self, idempotency_key: &str, reference: &str) {
        let Ok(Some(mut record)) = self.attempt(idempotency_key) else {
            return;
        };
        if record.reference.as_deref() == Some(reference) {
            return;
        }
        record.reference = Some(reference.to_owned());
        if let Err(error) = self.attempts.insert(idempotency_key, encode(&record)) {
            tracing::warn!(%error, "could not note a stripe reference");
        }
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        self.durability.sync().await.map_err(GatewayError::Storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AttemptParams::Charge` as it was stored before `return_url` was kept.
    #[derive(Serialize)]
    enum AttemptParamsBeforeReturnUrl {
        Charge {
            amount_minor: i64,
            currency: Currency,
            payment_method: String,
            customer: Option<String>,
            description: Option<String>,
        },
    }

    #[derive(Serialize)]
    struct AttemptRecordBeforeReturnUrl {
        params: AttemptParamsBeforeReturnUrl,
        created_unix_secs: i64,
        reference: Option<String>,
    }

    #[test]
    fn records_from_before_the_return_url_was_kept_still_decode() {
        let old = AttemptRecordBeforeReturnUrl {
            params: AttemptParamsBeforeReturnUrl::Charge {
                amount_minor: 2500,
                currency: Currency::USD,
                payment_method: "pm_card_visa".into(),
                customer: Some("cus_1".into()),
                description: None,
            },
            created_unix_secs: 1_700_000_000,
            reference: None,
        };
        let record: AttemptRecord = decode(&encode(&old)).unwrap();
        let AttemptParams::Charge { amount_minor, customer, return_url, .. } = record.params else {
            panic!("a charge record");
        };
        assert_eq!((amount_minor, customer.as_deref()), (2500, Some("cus_1")));
        assert_eq!(return_url, ReturnUrl::Unrecorded);
    }

    #[test]
    fn a_sent_return_url_round_trips_including_none() {
        for return_url in [ReturnUrl::Sent(None), ReturnUrl::Sent(Some("https://a.example".into()))]
        {
            let params = AttemptParams::Charge {
                amount_minor: 1,
                currency: Currency::USD,
                payment_method: "pm_card_visa".into(),
                customer: None,
                description: None,
                return_url: return_url.clone(),
                off_session: false,
                stripe_amount: Some(100),
            };
            let decoded: AttemptParams = decode(&encode(&params)).unwrap();
            assert_eq!(decoded, params);
        }
    }
}
