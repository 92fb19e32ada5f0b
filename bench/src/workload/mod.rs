//! What each scenario sends and what it expects back. A workload plans one request at a time
//! (on the scheduler, or on a closed-loop worker) and judges its answer; it never blocks.
//!
//! - `charge` and `charge-hot`: `POST /v1/charges` for random customers, each with a unique
//!   `Idempotency-Key` (the ceiling sends the same shape to its plain route).
//! - `mixed`: 60 % charges, 10 % refunds, 20 % `GET /v1/charges/{id}`, 10 %
//!   `GET /v1/customers/{id}/charges`.
//! - `replay`: re-sends earlier charges with their keys, expecting replays.
//! - `charge-priced`: `POST /v1/charges` with `line_items` and a coupon, priced by the account's
//!   rules; the same run measures plain-amount charges (a `charge` workload) beside it.
//! - `webhooks`: signed Stripe events to `POST /v1/webhooks/stripe`, with re-sends and
//!   out-of-order pairs, each answer checked for the `duplicate` flag it must carry.
//! - `entitlements`: `GET /v1/customers/{id}/entitlements` in turn over subscribed customers, a
//!   random sample of the answers checked against the plan's features and the subscription.
//! - `customers`: `GET /v1/customers/{id}` in turn over customers with personal data, which the
//!   engine keeps sealed.

mod charge;
mod customers;
mod entitlements;
mod keys;
mod mixed;
pub mod priced;
mod replay;
mod webhooks;

use rand::rngs::SmallRng;
use serde::Deserialize;

pub use charge::{AMOUNT_MINOR_RANGE, ChargeWorkload};
pub use customers::{CustomerReadWorkload, PERSONAL_CUSTOMER_BODY};
pub use entitlements::{
    ENTITLEMENTS_MISMATCH, EntitlementChecks, EntitlementsFleet, EntitlementsWorkload, Subscriber,
};
pub use keys::KeySource;
pub use mixed::{KnownCharges, MixedWorkload};
pub use priced::{CUSTOMER_COUNTRY, PricedChargeWorkload, taxable_customer_body};
pub use replay::{ReplayWorkload, ReplayedCharge};
pub use webhooks::{EventMix, EventSpec, WEBHOOK_PATH, WebhookWorkload};

use crate::client::Answer;
use crate::target::RequestSpec;

/// The label of what a request did, for per-kind counts.
pub type Kind = &'static str;

pub const KIND_CHARGE: Kind = "charge";
pub const KIND_PRICED_CHARGE: Kind = "priced_charge";
pub const KIND_REFUND: Kind = "refund";
pub const KIND_READ_CHARGE: Kind = "read_charge";
pub const KIND_LIST_CHARGES: Kind = "list_charges";
pub const KIND_READ_CUSTOMER: Kind = "read_customer";
pub const KIND_REPLAY: Kind = "replay";
/// A new Stripe event's first delivery.
pub const KIND_EVENT: Kind = "event";
/// A new `payment_intent.succeeded` whose older event about the same PaymentIntent follows.
pub const KIND_EVENT_PAIR_NEWER: Kind = "event_pair_newer";
/// The older event of a pair, sent after the newer one was acknowledged: out of order.
pub const KIND_EVENT_PAIR_OLDER: Kind = "event_pair_older";
/// A re-send of an acknowledged event, expected to be answered as a duplicate.
pub const KIND_EVENT_DUPLICATE: Kind = "event_duplicate";
/// A read of a customer's entitlements, judged on its status.
pub const KIND_ENTITLEMENTS: Kind = "entitlements";
/// A read of a customer's entitlements whose answer is checked in full.
pub const KIND_ENTITLEMENTS_CHECKED: Kind = "entitlements_checked";

/// One request to send, and what it is.
#[derive(Debug, Clone)]
pub struct Planned {
    pub kind: Kind,
    pub spec: RequestSpec,
    /// A webhook delivery's event, which its answer is judged against; `None` for API calls.
    pub event: Option<EventSpec>,
}

impl Planned {
    /// An API call: judged on its answer alone.
    pub fn call(kind: Kind, spec: RequestSpec) -> Self {
        Self { kind, spec, event: None }
    }
}

pub enum Workload {
    Charges(ChargeWorkload),
    PricedCharges(PricedChargeWorkload),
    Mixed(MixedWorkload),
    Replay(ReplayWorkload),
    Webhooks(WebhookWorkload),
    Entitlements(EntitlementsWorkload),
    Customers(CustomerReadWorkload),
}

impl Workload {
    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        match self {
            Workload::Charges(workload) => workload.plan(rng),
            Workload::PricedCharges(workload) => workload.plan(rng),
            Workload::Mixed(workload) => workload.plan(rng),
            Workload::Replay(workload) => workload.plan(rng),
            Workload::Webhooks(workload) => workload.plan(rng),
            Workload::Entitlements(workload) => workload.plan(rng),
            Workload::Customers(workload) => workload.plan(rng),
        }
    }

    /// `Ok` when the answer is what the scenario expects, else the error code to count it under.
    pub fn judge(&self, planned: &Planned, answer: &Answer) -> Result<(), String> {
        match self {
            Workload::Charges(_) | Workload::PricedCharges(_) | Workload::Customers(_) => {
                expect_success(answer)
            }
            Workload::Mixed(workload) => workload.judge(planned, answer),
            Workload::Replay(_) => replay::judge(answer),
            Workload::Webhooks(workload) => workload.judge(planned, answer),
            Workload::Entitlements(workload) => workload.judge(planned, answer),
        }
    }
}

/// A charge body of the shape both the engine and the ceiling route parse.
pub fn charge_body(customer: &str, amount_minor: u64) -> String {
    format!(r#"{{"customer":"{customer}","amount":{amount_minor},"currency":"usd"}}"#)
}

pub fn expect_success(answer: &Answer) -> Result<(), String> {
    match answer.status.is_success() {
        true => Ok(()),
        false => Err(error_code(answer)),
    }
}

/// `http_<status>_<error.code>` from Kassa's error body, or `http_<status>` when it has none.
pub fn error_code(answer: &Answer) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }
    #[derive(Deserialize)]
    struct ErrorDetail {
        code: String,
    }
    let status = answer.status.as_u16();
    match serde_json::from_slice::<ErrorBody>(&answer.body) {
        Ok(body) => format!("http_{status}_{}", body.error.code),
        Err(_) => format!("http_{status}"),
    }
}

/// The `id` of a created object, from its JSON.
pub fn created_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    serde_json::from_slice::<Created>(body).ok().map(|created| created.id)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hyper::StatusCode;

    use super::*;

    fn answer(status: u16, body: &'static str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            replayed: false,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn error_codes_name_the_status_and_the_engine_code() {
        let declined =
            answer(402, r#"{"error":{"type":"card_error","code":"card_declined","message":"no"}}"#);
        assert_eq!(error_code(&declined), "http_402_card_declined");
        assert_eq!(error_code(&answer(502, "Bad Gateway")), "http_502");
        assert_eq!(expect_success(&answer(200, "{}")), Ok(()));
    }

    #[test]
    fn charge_bodies_are_json() {
        let body: serde_json::Value = serde_json::from_str(&charge_body("cus_1", 1234)).unwrap();
        assert_eq!(body["amount"], 1234);
        assert_eq!(body["currency"], "usd");
        assert_eq!(created_id(br#"{"id":"ch_1","object":"charge"}"#).as_deref(), Some("ch_1"));
    }
}
