//! What the Stripe adapter remembers on local disk, in trees of its own beside the engine's:
//!
//! - `stripe_customers`: Kassa customer id → Stripe customer id, so each Kassa customer gets one
//!   Stripe customer, created on first use.
//! - `stripe_attached_payment_methods`: (Stripe customer, PaymentMethod) pairs already attached
//!   at Stripe, so each PaymentMethod is attached to its customer once, before its first charge.
//! - `stripe_attempts`: idempotency key → the exact parameters sent with it, written durably
//!   BEFORE the request leaves. This is what makes [`crate::Gateway::retrieve`] honest: no record
//!   means the key was never sent (`Ok(None)` is final), and a record lets the adapter re-send the
//!   very same request under the same Idempotency-Key, which Stripe answers with the original
//!   outcome instead of charging again (or, for a payout's Transfer, paying again).
//!
//! The trees are the engine's ([`Trees`]): every write goes through its write-ahead log.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::trees::{Put, Trees};
use crate::{Currency, GatewayError};

const CUSTOMERS: &str = "stripe_customers";
const ATTEMPTS: &str = "stripe_attempts";
const ATTACHED: &str = "stripe_attached_payment_methods";

/// Every tree the adapter keeps.
pub const TREES: [&str; 3] = [CUSTOMERS, ATTEMPTS, ATTACHED];

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
    /// A payout to a connected account.
    Transfer {
        destination: String,
        amount_minor: i64,
        currency: Currency,
        /// The `amount` sent, in Stripe's unit for the currency.
        stripe_amount: i64,
        description: String,
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
            AttemptParams::Transfer { stripe_amount, .. } => *stripe_amount,
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

#[derive(Clone)]
pub(super) struct StripeStore {
    trees: Arc<dyn Trees>,
}

/// Stripe ids are letters, digits and `_`, so `/` cannot occur inside either part.
fn attached_key(stripe_customer: &str, payment_method: &str) -> String {
    format!("{stripe_customer}/{payment_method}")
}

impl StripeStore {
    pub fn open(trees: Arc<dyn Trees>) -> StripeStore {
        StripeStore { trees }
    }

    pub fn customer(&self, kassa_customer: &str) -> Result<Option<String>, GatewayError> {
        match self.trees.get(CUSTOMERS, kassa_customer.as_bytes())? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub async fn remember_customer(
        &self,
        kassa_customer: &str,
        stripe_customer: &str,
    ) -> Result<(), GatewayError> {
        let value = encode(&stripe_customer);
        self.trees.insert(&[Put {
            tree: CUSTOMERS,
            key: kassa_customer.as_bytes(),
            value: &value,
        }])?;
        self.sync().await
    }

    pub fn is_attached(
        &self,
        stripe_customer: &str,
        payment_method: &str,
    ) -> Result<bool, GatewayError> {
        let key = attached_key(stripe_customer, payment_method);
        Ok(self.trees.get(ATTACHED, key.as_bytes())?.is_some())
    }

    /// Notes that Stripe attached the PaymentMethod to the customer. Not waited on: a lost note
    /// only costs one more attach, which Stripe answers as done.
    pub fn remember_attached(&self, stripe_customer: &str, payment_method: &str) {
        let key = attached_key(stripe_customer, payment_method);
        let value = encode(&true);
        if let Err(error) =
            self.trees.insert(&[Put { tree: ATTACHED, key: key.as_bytes(), value: &value }])
        {
            tracing::warn!(%error, "could not note an attached payment method");
        }
    }

    pub fn attempt(&self, idempotency_key: &str) -> Result<Option<AttemptRecord>, GatewayError> {
        match self.trees.get(ATTEMPTS, idempotency_key.as_bytes())? {
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
        let key = idempotency_key.as_bytes();
        let value = encode(&record);
        let present = self.trees.insert_unless_present(
            ATTEMPTS,
            key,
            &[Put { tree: ATTEMPTS, key, value: &value }],
        )?;
        self.sync().await?;
        match present {
            None => Ok(record),
            Some(bytes) => decode(&bytes),
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
        let value = encode(&record);
        let put = Put { tree: ATTEMPTS, key: idempotency_key.as_bytes(), value: &value };
        if let Err(error) = self.trees.insert(&[put]) {
            tracing::warn!(%error, "could not note a stripe reference");
        }
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        self.trees.sync().await
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
