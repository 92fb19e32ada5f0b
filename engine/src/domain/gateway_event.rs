//! An event a gateway sent Kassa (a Stripe webhook delivery), kept as it arrived: persisted
//! before it is acknowledged, applied after, and listed for the account it concerns.

use serde::{Deserialize, Serialize};

use super::{AccountId, EventId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEvent {
    /// Kassa's own id (`evt_…`, time-ordered): the account's list is sorted by it.
    pub id: EventId,
    /// The account whose object the event is about; the deployment's default account when it
    /// names nothing Kassa knows.
    pub account: AccountId,
    pub gateway: String,
    /// The gateway's id for the event (`evt_…` at Stripe): deliveries are deduplicated by it.
    pub gateway_event_id: String,
    /// The gateway's event type (`payment_intent.succeeded`, …).
    pub kind: String,
    /// When the gateway created the event (Unix seconds).
    pub gateway_created: i64,
    /// When Kassa received it (Unix seconds).
    pub received: i64,
    /// The body exactly as signed, so the event can be applied again after a crash and audited.
    pub payload: String,
    /// `None` until applied. Stored apart from the event (its payload is written once) and
    /// joined to it on reads.
    pub applied: Option<Applied>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub at: i64,
    /// What applying it did, in a few words (`charge ch_… succeeded`, `no change: …`, `stored`).
    pub outcome: String,
}
