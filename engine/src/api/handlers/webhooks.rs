//! `POST /v1/webhooks/stripe`: Stripe's events, authenticated by `Stripe-Signature` (see
//! [`crate::webhooks`]): a delivery that is not signed by this endpoint's secret within the
//! tolerance is a 400 and nothing is stored; a signed one is persisted, durable and deduplicated
//! by its event id before the 200, and applied after.
//!
//! `POST /v1/webhooks/mpesa/{token}`: Safaricom's STK Push results. Daraja callbacks carry no
//! signature, so the secret path token is what authenticates them: a wrong one is a 404, as for
//! any unknown path, and nothing is read.
//!
//! A callback goes through the same inbox as Stripe's events: persisted (one per CheckoutRequestID
//! and result code) before the 200, then applied: the M-Pesa adapter maps the CheckoutRequestID
//! back to the charge it was pushed for, and the charge's actor settles it forward-only (a
//! duplicate or late callback changes nothing). Safaricom retries whatever is not answered 200, so
//! a callback that cannot be used (unparsable, an unknown CheckoutRequestID, a charge already
//! settled) is still answered 200; only a failure of Kassa's own (storage) answers 5xx, so that
//! Safaricom sends it again.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Reply;
use crate::api::App;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::domain::time::now_unix_secs;
use crate::webhooks::{IngestError, Ingested, signature};
use kassa_gateways::mpesa::parse_callback;

pub async fn stripe(app: &App, request: &ApiRequest) -> Result<Reply, ApiError> {
    let secret = app.stripe_webhook_secret.as_ref().ok_or_else(ApiError::webhook_not_found)?;
    signature::verify(
        secret.expose().as_bytes(),
        request.header("stripe-signature"),
        &request.body,
        now_unix_secs(),
    )
    .map_err(|error| {
        tracing::warn!(%error, "Stripe webhook refused");
        ApiError::invalid("signature_invalid", error.to_string()).with_param("Stripe-Signature")
    })?;
    let ingested = app.inbox.ingest_stripe(&request.body).await.map_err(|error| match error {
        IngestError::NotAnEvent(error) => ApiError::validation("body", error.to_string()),
        IngestError::Store(error) => ApiError::from(error),
    })?;
    let (event, duplicate) = match &ingested {
        Ingested::Stored(event) => (event, false),
        Ingested::Duplicate(event) => (event, true),
    };
    Ok(Reply::ok(json!({
        "received": true,
        "id": event.id.as_str(),
        "duplicate": duplicate,
    })))
}

/// The acknowledgement Daraja expects.
fn accepted() -> Reply {
    Reply::ok(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}

/// Compares digests, so the time taken says nothing about how much of the token was right.
pub fn token_matches(expected: &str, given: &str) -> bool {
    signature::constant_time_eq(&Sha256::digest(expected), &Sha256::digest(given))
}

pub async fn mpesa(app: &App, request: &ApiRequest, token: &str) -> Result<Reply, ApiError> {
    app.mpesa
        .as_ref()
        .filter(|callbacks| token_matches(callbacks.token.expose(), token))
        .ok_or_else(ApiError::webhook_not_found)?;
    let result = match parse_callback(&request.body) {
        Ok(result) => result,
        Err(error) => {
            tracing::warn!(%error, "M-Pesa callback ignored: not an STK Push result");
            return Ok(accepted());
        }
    };
    match app.inbox.ingest_mpesa(&result, &request.body).await {
        Ok(_) => Ok(accepted()),
        Err(IngestError::NotAnEvent(error)) => {
            tracing::warn!(%error, "M-Pesa callback ignored");
            Ok(accepted())
        }
        // Safaricom sends it again.
        Err(IngestError::Store(error)) => Err(ApiError::from(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches("token-0123456789abcdefghij", "token-0123456789abcdefghij"));
        assert!(!token_matches("token-0123456789abcdefghij", "token-0123456789abcdefghik"));
        assert!(!token_matches("token-0123456789abcdefghij", "token"));
        assert!(!token_matches("token-0123456789abcdefghij", ""));
    }
}
