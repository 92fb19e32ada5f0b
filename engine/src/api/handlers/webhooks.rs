//! `POST /v1/webhooks/{gateway}` and `POST /v1/webhooks/{gateway}/{token}`: a gateway's events,
//! verified and read by that gateway's adapter (`kassa_gateways::webhooks::WebhookSource`).
//! Admission has already found the gateway and checked the path's token, if it has one
//! ([`crate::api::admission`]).
//!
//! A delivery the adapter does not verify (Stripe: not signed by the endpoint's secret within
//! the tolerance) is a 400 and nothing is stored; a verified one is persisted, durable and
//! deduplicated by the gateway's event id before the 200, and applied after (see
//! [`crate::webhooks`]). A verified delivery the adapter cannot read is a 400, or a 200 where the
//! gateway retries anything else forever (Safaricom); only a failure of Kassa's own (storage)
//! answers 5xx, so that the gateway sends it again.

use kassa_gateways::webhooks::{Delivery, Received, WhenUnreadable};

use super::Reply;
use crate::api::App;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::domain::time::now_unix_secs;
use crate::webhooks::{IngestError, Ingested};

pub async fn receive(app: &App, request: &ApiRequest, gateway: &str) -> Result<Reply, ApiError> {
    let source = app.webhooks.get(gateway).ok_or_else(ApiError::webhook_not_found)?;
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let delivery = Delivery { headers: &headers, body: &request.body, now: now_unix_secs() };
    source.verify(&delivery).map_err(|refusal| {
        tracing::warn!(gateway, error = %refusal.message, "webhook refused");
        ApiError::invalid("signature_invalid", refusal.message).with_param(refusal.header)
    })?;
    match app.inbox.ingest(source.as_ref(), &request.body).await {
        Ok(ingested) => {
            let (event, duplicate) = match &ingested {
                Ingested::Stored(event) => (event, false),
                Ingested::Duplicate(event) => (event, true),
            };
            let received = Received { event_id: event.id.as_str(), duplicate };
            Ok(Reply::ok(source.acknowledgement(Some(&received))))
        }
        Err(IngestError::Unreadable(error)) => match source.when_unreadable() {
            WhenUnreadable::Refuse => Err(ApiError::validation("body", error.to_string())),
            WhenUnreadable::Acknowledge => {
                tracing::warn!(gateway, %error, "webhook ignored: unreadable");
                Ok(Reply::ok(source.acknowledgement(None)))
            }
        },
        Err(IngestError::Store(error)) => Err(ApiError::from(error)),
    }
}
