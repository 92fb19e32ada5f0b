//! Where a platform wants its events sent, and what became of each event sent there.

use serde::{Deserialize, Serialize};

use super::{AccountId, EventId, WebhookEndpointId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub account: AccountId,
    pub url: String,
    /// Event types, or `*` for every type.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    /// The signing secret (`whsec_…`); sealed under the data key at rest.
    pub secret: String,
    /// The secret a rotation replaced, still signing beside the new one until `until`.
    pub previous_secret: Option<RetiringSecret>,
    /// When deliveries to it began failing with none succeeding since; `None` while healthy.
    pub failing_since: Option<i64>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: String,
    pub until: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointStatus {
    Enabled,
    /// By the platform, or by Kassa after the endpoint failed for the whole retry window.
    Disabled,
}

impl EndpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "enabled",
            EndpointStatus::Disabled => "disabled",
        }
    }
}

impl WebhookEndpoint {
    pub fn wants(&self, kind: &str) -> bool {
        self.status == EndpointStatus::Enabled
            && self.enabled_events.iter().any(|wanted| wanted == "*" || wanted == kind)
    }

    /// The secrets that sign a delivery made at `now`: the current one, and the one a rotation
    /// replaced while it has not expired.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some(previous) = &self.previous_secret
            && now < previous.until
        {
            secrets.push(previous.secret.as_str());
        }
        secrets
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub account: AccountId,
    pub endpoint: WebhookEndpointId,
    pub event: EventId,
    /// The event's type and object: deliveries about one object go out in order.
    pub kind: String,
    pub object_id: String,
    pub status: DeliveryStatus,
    /// When it was made (the event fanned out to the endpoint).
    pub created: i64,
    /// When the next attempt is due, while pending (Unix milliseconds).
    pub next_attempt_ms: i64,
    /// The latest attempts, at most [`ATTEMPTS_KEPT`].
    pub attempts: Vec<Attempt>,
    pub attempt_count: u32,
}

impl Delivery {
    pub fn record(&mut self, attempt: Attempt) {
        if self.attempts.len() == ATTEMPTS_KEPT {
            self.attempts.remove(0);
        }
        self.attempts.push(attempt);
        self.attempt_count += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Its retries ran out; the events behind it were released.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One POST of an event to an endpoint, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds.
    pub at: i64,
    /// The endpoint's status code; `None` when none came (refused, timed out, cut off).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// What went wrong, in words; `None` for a 2xx.
    pub error: Option<String>,
    /// Sent by `POST /v1/events/{id}/redeliver`.
    pub redelivery: bool,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|code| (200..300).contains(&code))
    }
}

/// Attempts kept per delivery; older ones are dropped (`attempt_count` still counts them).
pub const ATTEMPTS_KEPT: usize = 50;
