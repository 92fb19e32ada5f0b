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
    /// `None` until applied.
    pub applied: Option<Applied>,
}

/// A delivery about to be stored: everything but the id, which the store gives it (see
/// `store::tree_store::unapplied` for why there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGatewayEvent {
    pub account: AccountId,
    pub gateway: String,
    pub gateway_event_id: String,
    pub kind: String,
    pub gateway_created: i64,
    pub received: i64,
    pub payload: String,
}

impl NewGatewayEvent {
    pub fn with_id(self, id: EventId) -> GatewayEvent {
        GatewayEvent {
            id,
            account: self.account,
            gateway: self.gateway,
            gateway_event_id: self.gateway_event_id,
            kind: self.kind,
            gateway_created: self.gateway_created,
            received: self.received,
            payload: self.payload,
            applied: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub at: i64,
    /// What applying it did, in a few words (`charge ch_… succeeded`, `no change: …`, `stored`).
    pub outcome: String,
}
