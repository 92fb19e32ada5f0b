//! FakePay: a complete gateway adapter for a processor that lives in memory, written against
//! `kassa_gateways` only, as an adapter for a new processor would be. It shows what adding a
//! gateway takes: this file, a routing rule that names it, and one registration where the
//! engine is started (`kassa::gateway_setup::Registration`).
//!
//! The processor decides by amount, as test processors do: an amount ending in `99` is
//! declined (`insufficient_funds`), one ending in `77` is accepted and settled later by the
//! processor's webhook (`charge.succeeded` / `charge.failed`), any other succeeds at once.
//! Every money-moving call is idempotent by Kassa's key. Its webhooks are signed:
//! `FakePay-Signature: <hex HMAC-SHA256 of the body under the endpoint secret>`.
//!
//! The processor keeps its books in memory, so it forgets every charge when the process ends,
//! money included: it is a test double, and [`FakePay::retrieve`] answers for what it still
//! remembers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use kassa_gateways::webhooks::{
    ChargeRef, Delivery, EventEffect, IncomingEvent, Received, UnreadableEvent, WebhookRefusal,
    WebhookSource, constant_time_eq,
};
use kassa_gateways::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, DeclineCode, Gateway, GatewayError,
    PaymentMethodDetails, RefundOutcome, RefundRequest,
};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

/// The name charges made through FakePay carry, and its webhook path segment.
pub const NAME: &str = "fakepay";
/// The header FakePay signs its deliveries in.
pub const SIGNATURE_HEADER: &str = "fakepay-signature";

/// The processor: what it charged and refunded, by Kassa's idempotency key.
#[derive(Clone, Default)]
pub struct FakePay {
    books: Arc<Mutex<Books>>,
}

#[derive(Default)]
struct Books {
    charges: HashMap<String, ChargeOutcome>,
    refunds: HashMap<String, RefundOutcome>,
    /// A charge's reference → its key, for the webhook that settles it.
    keys_by_reference: HashMap<String, String>,
}

impl FakePay {
    pub fn new() -> FakePay {
        FakePay::default()
    }

    /// The webhook endpoint of this processor, verified with `secret`.
    pub fn webhooks(&self, secret: &str) -> FakePayWebhooks {
        FakePayWebhooks { books: Arc::clone(&self.books), secret: secret.as_bytes().to_vec() }
    }

    /// Settles a charge left pending, as the processor would once the customer paid (or not),
    /// and answers the webhook body it sends Kassa about it.
    pub fn settle(&self, reference: &str, paid: bool, event_id: &str, created: i64) -> String {
        let mut books = self.books.lock().expect("the books");
        let key = books.keys_by_reference.get(reference).cloned().expect("a pending charge");
        let outcome = match paid {
            true => ChargeOutcome::Succeeded {
                reference: reference.to_owned(),
                fee_minor: 0,
                conversion: None,
            },
            false => ChargeOutcome::Declined {
                decline: DeclineCode::InsufficientFunds,
                message: "the customer's balance did not cover it".to_owned(),
            },
        };
        books.charges.insert(key, outcome);
        let kind = if paid { "charge.succeeded" } else { "charge.failed" };
        json!({ "id": event_id, "type": kind, "created": created, "charge": reference }).to_string()
    }
}

/// The `FakePay-Signature` of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), body))
}

fn mac(secret: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[async_trait::async_trait]
impl Gateway for FakePay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn moves_real_money(&self) -> bool {
        false
    }

    /// Any token is a FakePay wallet: the processor decides by amount.
    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError> {
        match token.is_empty() {
            true => Err(GatewayError::InvalidPaymentMethod("an empty token".to_owned())),
            false => Ok(PaymentMethodDetails { card: None }),
        }
    }

    fn check_charge(&self, request: &ChargeRequest) -> Result<(), GatewayError> {
        match request.amount_minor > 0 {
            true => Ok(()),
            false => Err(GatewayError::InvalidRequest("FakePay charges from 1".to_owned())),
        }
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let mut books = self.books.lock().expect("the books");
        if let Some(earlier) = books.charges.get(&request.idempotency_key) {
            return Ok(earlier.clone());
        }
        let reference = format!("fp_ch_{}", request.idempotency_key);
        let outcome = match request.amount_minor % 100 {
            99 => ChargeOutcome::Declined {
                decline: DeclineCode::InsufficientFunds,
                message: "the FakePay wallet is short".to_owned(),
            },
            77 => ChargeOutcome::Pending { reference: reference.clone() },
            _ => ChargeOutcome::Succeeded {
                reference: reference.clone(),
                fee_minor: 0,
                conversion: None,
            },
        };
        books.keys_by_reference.insert(reference, request.idempotency_key.clone());
        books.charges.insert(request.idempotency_key.clone(), outcome.clone());
        Ok(outcome)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        let mut books = self.books.lock().expect("the books");
        let outcome = books.refunds.entry(request.idempotency_key.clone()).or_insert_with(|| {
            RefundOutcome::Succeeded {
                reference: format!("fp_re_{}", request.idempotency_key),
                conversion: None,
            }
        });
        Ok(outcome.clone())
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        let books = self.books.lock().expect("the books");
        Ok(match kind {
            AttemptKind::Charge => books.charges.get(idempotency_key).cloned().map(Attempt::Charge),
            AttemptKind::Refund => books.refunds.get(idempotency_key).cloned().map(Attempt::Refund),
        })
    }
}

/// FakePay's webhook endpoint, at `POST /v1/webhooks/fakepay`.
pub struct FakePayWebhooks {
    books: Arc<Mutex<Books>>,
    secret: Vec<u8>,
}

#[derive(Deserialize)]
struct FakePayEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    charge: String,
}

impl WebhookSource for FakePayWebhooks {
    fn gateway(&self) -> &'static str {
        NAME
    }

    fn admits(&self, path_token: Option<&str>) -> bool {
        path_token.is_none()
    }

    fn verify(&self, delivery: &Delivery<'_>) -> Result<(), WebhookRefusal> {
        let refusal = |message: &str| WebhookRefusal {
            header: "FakePay-Signature",
            message: message.to_owned(),
        };
        let given = delivery.header(SIGNATURE_HEADER).ok_or_else(|| refusal("missing"))?;
        let given = hex::decode(given).map_err(|_| refusal("not hex"))?;
        match constant_time_eq(&mac(&self.secret, delivery.body), &given) {
            true => Ok(()),
            false => Err(refusal("does not match this endpoint's secret")),
        }
    }

    fn read(&self, payload: &[u8]) -> Result<IncomingEvent, UnreadableEvent> {
        let event: FakePayEvent = serde_json::from_slice(payload)
            .map_err(|error| UnreadableEvent(format!("not a FakePay event: {error}")))?;
        let reference = event.charge.clone();
        let effect = match event.kind.as_str() {
            "charge.succeeded" => Some(EventEffect::Charge {
                outcome: ChargeOutcome::Succeeded { reference, fee_minor: 0, conversion: None },
                reported: None,
            }),
            "charge.failed" => Some(EventEffect::Charge {
                outcome: ChargeOutcome::Declined {
                    decline: DeclineCode::InsufficientFunds,
                    message: "FakePay: the charge failed".to_owned(),
                },
                reported: None,
            }),
            _ => None,
        };
        Ok(IncomingEvent {
            id: event.id,
            kind: event.kind,
            created: Some(event.created),
            charge: Some(ChargeRef { reference: Some(event.charge), charge_id: None }),
            effect,
        })
    }

    fn acknowledgement(&self, received: Option<&Received<'_>>) -> serde_json::Value {
        match received {
            Some(received) => json!({ "ok": true, "id": received.event_id }),
            None => json!({ "ok": true }),
        }
    }

    /// The charge a reference was made for, from the processor's books: its webhook can beat
    /// Kassa's own record of the reference.
    fn charge_id_for(&self, reference: &str) -> Result<Option<String>, GatewayError> {
        Ok(self.books.lock().expect("the books").keys_by_reference.get(reference).cloned())
    }
}
