//! The parts of a Stripe event Kassa reads. Parsed leniently: an event whose object Kassa does
//! not know (or knows in another shape) still yields its id, type and time, so it is stored and
//! acknowledged like any other, never refused.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The metadata key the adapter puts on every PaymentIntent and Refund it creates: the Kassa
/// charge or refund id.
use super::METADATA_IDEMPOTENCY_KEY as KASSA_ID_METADATA;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    /// When Stripe created the event (Unix seconds): orders events about the same object.
    pub created: i64,
    /// `None` when the object is not one Kassa reads.
    pub object: Option<StripeObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Stripe event: {0}")]
pub struct NotAnEvent(String);

#[derive(Deserialize)]
struct Envelope<T> {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: Data<T>,
}

#[derive(Deserialize)]
struct Data<T> {
    object: T,
}

/// The fields of the objects Kassa applies: PaymentIntents, Charges, Disputes. Each is absent
/// where the object does not have it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct StripeObject {
    /// `payment_intent`, `charge`, `dispute`, …
    pub object: String,
    pub id: String,
    pub metadata: HashMap<String, String>,
    /// A Charge's or Dispute's PaymentIntent.
    pub payment_intent: Option<String>,
    /// A Dispute's charge.
    pub charge: Option<String>,
    pub status: Option<String>,
    pub amount: Option<i64>,
    pub amount_refunded: Option<i64>,
    pub currency: Option<String>,
    /// A Dispute's reason.
    pub reason: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    pub cancellation_reason: Option<String>,
    pub next_action: Option<NextActionObject>,
    pub client_secret: Option<String>,
    /// A Charge's refunds (Stripe includes them in events of API versions before 2022-11-15).
    pub refunds: Option<RefundList>,
    /// A PaymentIntent's or a SetupIntent's payment method.
    pub payment_method: Option<String>,
    /// A Transfer's: whether all of it was reversed.
    pub reversed: Option<bool>,
    /// A Transfer's: how much of it was reversed so far, in Stripe's unit of its currency.
    pub amount_reversed: Option<i64>,
    /// A Dispute's movements of the platform's Stripe balance (the withdrawal and its fee, a
    /// reinstatement), whole in the object.
    pub balance_transactions: Option<Vec<BalanceTransactionSeen>>,
}

/// What Kassa reads of a Stripe balance transaction: what it moved (negative: taken from the
/// balance), the fee it charged, and in what currency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BalanceTransactionSeen {
    pub amount: i64,
    pub fee: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct PaymentError {
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct NextActionObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RedirectToUrl {
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RefundList {
    pub data: Vec<StripeRefund>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct StripeRefund {
    pub id: String,
    pub amount: i64,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub metadata: HashMap<String, String>,
}

impl StripeObject {
    /// The Kassa id the adapter tagged the object with, if it made it.
    pub fn kassa_id(&self) -> Option<&str> {
        self.metadata.get(KASSA_ID_METADATA).map(String::as_str)
    }
}

impl StripeEvent {
    /// Reads `body`: an event needs an id, a type and a time; its object is read when it is one
    /// Kassa knows.
    pub fn parse(body: &[u8]) -> Result<StripeEvent, NotAnEvent> {
        if let Ok(event) = serde_json::from_slice::<Envelope<StripeObject>>(body) {
            return Ok(StripeEvent {
                id: event.id,
                kind: event.kind,
                created: event.created,
                object: Some(event.data.object),
            });
        }
        let event = serde_json::from_slice::<Envelope<IgnoredAny>>(body)
            .map_err(|error| NotAnEvent(error.to_string()))?;
        Ok(StripeEvent { id: event.id, kind: event.kind, created: event.created, object: None })
    }

    /// The PaymentIntent the event is about, whatever its object.
    pub fn payment_intent(&self) -> Option<&str> {
        let object = self.object.as_ref()?;
        match object.object.as_str() {
            "payment_intent" => Some(object.id.as_str()),
            _ => object.payment_intent.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_payment_intent_event() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.payment_failed",
            "created":1700000000,"livemode":false,"data":{"object":{"id":"pi_1","object":"payment_intent",
            "amount":500,"currency":"usd","status":"requires_payment_method",
            "metadata":{"kassa_idempotency_key":"ch_01"},
            "last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}}}"#;
        let event = StripeEvent::parse(body).unwrap();
        assert_eq!(event.kind, "payment_intent.payment_failed");
        assert_eq!(event.payment_intent(), Some("pi_1"));
        let object = event.object.unwrap();
        assert_eq!(object.kassa_id(), Some("ch_01"));
        assert_eq!(
            object.last_payment_error.unwrap().decline_code.as_deref(),
            Some("insufficient_funds")
        );
    }

    #[test]
    fn an_object_of_another_shape_still_yields_the_event() {
        let body = br#"{"id":"evt_2","type":"invoice.paid","created":5,
            "data":{"object":{"id":"in_1","object":"invoice","status":{"odd":true},"lines":[]}}}"#;
        let event = StripeEvent::parse(body).unwrap();
        assert_eq!(
            (event.id.as_str(), event.kind.as_str(), event.created),
            ("evt_2", "invoice.paid", 5)
        );
        assert_eq!(event.object, None);
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        for body in [&b"not json"[..], b"{}", br#"{"id":"evt_3","type":"x"}"#, b"[1,2]"] {
            assert!(StripeEvent::parse(body).is_err());
        }
    }
}
