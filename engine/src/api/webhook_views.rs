//! Webhook endpoints, outgoing events and their deliveries, as the API shows them.

use serde_json::{Value, json};

use crate::domain::{Attempt, Delivery, WebhookEndpoint};

/// An endpoint; `secret` only in the answer that made it or rotated its secret.
pub fn endpoint(endpoint: &WebhookEndpoint, secret: Option<&str>) -> Value {
    let mut view = json!({
        "id": endpoint.id.as_str(),
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "enabled_events": endpoint.enabled_events,
        "description": endpoint.description,
        "status": endpoint.status.as_str(),
        "failing_since": endpoint.failing_since,
        "created": endpoint.created,
    });
    if let Some(secret) = secret {
        view["secret"] = json!(secret);
    }
    view
}

pub fn delivery(delivery: &Delivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "endpoint": delivery.endpoint.as_str(),
        "event": delivery.event.as_str(),
        "event_type": delivery.kind,
        "event_object": delivery.object_id,
        "status": delivery.status.as_str(),
        "created": delivery.created,
        "next_attempt": (delivery.status == crate::domain::DeliveryStatus::Pending)
            .then_some(delivery.next_attempt_ms / 1000),
        "attempt_count": delivery.attempt_count,
        "attempts": delivery.attempts.iter().map(attempt).collect::<Vec<_>>(),
    })
}

fn attempt(attempt: &Attempt) -> Value {
    json!({
        "created": attempt.at,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
        "redelivery": attempt.redelivery,
    })
}
