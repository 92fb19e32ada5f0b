//! Safaricom's STK Push results and B2C payout results, at `POST /v1/webhooks/mpesa/{token}`. Daraja callbacks carry no
//! signature, so the secret path token is what authenticates them: a wrong one is a 404, as for
//! any unknown path, and nothing is read.
//!
//! One event per push and result code (`{CheckoutRequestID}:{ResultCode}`): Safaricom's retries
//! are duplicates, and a contradicting later result is kept (and changes nothing when applied,
//! as a settled charge stays settled). Safaricom retries whatever is not answered 200, so a
//! callback that cannot be read is acknowledged and dropped, never refused.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{B2C_RESULT_EVENT, MpesaGateway, NAME, parse_b2c_result, parse_callback};
use crate::webhooks::{
    ChargeRef, Delivery, EventEffect, IncomingEvent, Received, ReportedAmount, UnreadableEvent,
    WebhookRefusal, WebhookSource, WhenUnreadable, constant_time_eq,
};
use crate::{GatewayError, Secret};

/// The type an STK Push result is listed as.
pub const STK_RESULT_EVENT: &str = "mpesa.stk_push.result";

/// How long a result for a CheckoutRequestID no push has named yet is tried again: Daraja's
/// answer to the push can arrive after Safaricom's callback, but not minutes after.
const UNKNOWN_CHECKOUT_WAIT_SECS: i64 = 300;

/// Where Safaricom sends STK Push results: the adapter (which remembers the charge each
/// CheckoutRequestID was pushed for) and the secret path token.
#[derive(Clone)]
pub struct MpesaCallbacks {
    gateway: MpesaGateway,
    token: Secret,
}

impl MpesaCallbacks {
    pub fn new(gateway: MpesaGateway, token: Secret) -> MpesaCallbacks {
        MpesaCallbacks { gateway, token }
    }
}

impl WebhookSource for MpesaCallbacks {
    fn gateway(&self) -> &'static str {
        NAME
    }

    /// Digests are compared, so the time taken says nothing about how much of the token was
    /// right.
    fn admits(&self, path_token: Option<&str>) -> bool {
        path_token.is_some_and(|given| {
            constant_time_eq(&Sha256::digest(self.token.expose()), &Sha256::digest(given))
        })
    }

    fn verify(&self, _delivery: &Delivery<'_>) -> Result<(), WebhookRefusal> {
        Ok(())
    }

    fn read(&self, payload: &[u8]) -> Result<IncomingEvent, UnreadableEvent> {
        if let Some(result) = parse_b2c_result(payload) {
            let account = self
                .gateway
                .payout_account(&result.key)
                .map_err(|error| UnreadableEvent(error.to_string()))?;
            return Ok(IncomingEvent {
                id: format!("b2c:{}:{}", result.key, result.result_code),
                kind: B2C_RESULT_EVENT.to_owned(),
                created: None,
                charge: None,
                effect: Some(EventEffect::Payout {
                    account,
                    key: result.key.clone(),
                    outcome: result.outcome(),
                }),
            });
        }
        let result = parse_callback(payload).map_err(|error| UnreadableEvent(error.to_string()))?;
        let reported = result
            .amount_minor
            .map(|amount| ReportedAmount { amount, reference: result.receipt_number.clone() });
        Ok(IncomingEvent {
            id: format!("{}:{}", result.checkout_request_id, result.result_code),
            kind: STK_RESULT_EVENT.to_owned(),
            created: None,
            charge: Some(ChargeRef {
                reference: Some(result.checkout_request_id.clone()),
                charge_id: None,
            }),
            effect: Some(EventEffect::Charge { outcome: result.outcome(), reported }),
        })
    }

    fn when_unreadable(&self) -> WhenUnreadable {
        WhenUnreadable::Acknowledge
    }

    /// What Daraja expects, whatever became of the callback.
    fn acknowledgement(&self, _received: Option<&Received<'_>>) -> serde_json::Value {
        json!({ "ResultCode": 0, "ResultDesc": "Accepted" })
    }

    fn charge_id_for(&self, reference: &str) -> Result<Option<String>, GatewayError> {
        self.gateway.idempotency_key_for(reference)
    }

    fn early_event_wait_secs(&self) -> i64 {
        UNKNOWN_CHECKOUT_WAIT_SECS
    }
}
