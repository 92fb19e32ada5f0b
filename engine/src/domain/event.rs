//! The audit trail: one append-only event per state change, written in the same atomic batch as
//! the change itself, so the trail never disagrees with the records.

use serde::{Deserialize, Serialize};

use super::EventId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    CustomerCreated,
    PaymentMethodAttached,
    PaymentMethodDetached,
    ChargeProcessing,
    ChargeSucceeded,
    ChargeFailed,
    RefundPending,
    RefundSucceeded,
    RefundFailed,
    /// The charge waits for the customer to authenticate (3-D Secure).
    ChargeRequiresAction,
    /// The charge moved on to the next gateway of its route (the previous one charged nothing).
    ChargeRerouted,
    DisputeOpened,
    DisputeUpdated,
    DisputeClosed,
    CustomerUpdated,
    SubscriptionCreated,
    SubscriptionUpdated,
    SubscriptionRenewed,
    SubscriptionCanceled,
    InvoiceFinalized,
    InvoiceVoided,
    InvoiceMarkedUncollectible,
    /// A `send_invoice` invoice is past its due date and unpaid: a reminder.
    InvoiceOverdue,
    /// The gateway reported another amount than the charge's: held for an operator.
    ChargeHeldForReview,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CustomerCreated => "customer.created",
            EventKind::PaymentMethodAttached => "payment_method.attached",
            EventKind::PaymentMethodDetached => "payment_method.detached",
            EventKind::ChargeProcessing => "charge.processing",
            EventKind::ChargeSucceeded => "charge.succeeded",
            EventKind::ChargeFailed => "charge.failed",
            EventKind::RefundPending => "refund.pending",
            EventKind::RefundSucceeded => "refund.succeeded",
            EventKind::RefundFailed => "refund.failed",
            EventKind::ChargeRequiresAction => "charge.requires_action",
            EventKind::ChargeRerouted => "charge.rerouted",
            EventKind::DisputeOpened => "dispute.opened",
            EventKind::DisputeUpdated => "dispute.updated",
            EventKind::DisputeClosed => "dispute.closed",
            EventKind::CustomerUpdated => "customer.updated",
            EventKind::SubscriptionCreated => "customer.subscription.created",
            EventKind::SubscriptionUpdated => "customer.subscription.updated",
            EventKind::SubscriptionRenewed => "customer.subscription.renewed",
            EventKind::SubscriptionCanceled => "customer.subscription.deleted",
            EventKind::InvoiceFinalized => "invoice.finalized",
            EventKind::InvoiceVoided => "invoice.voided",
            EventKind::InvoiceMarkedUncollectible => "invoice.marked_uncollectible",
            EventKind::InvoiceOverdue => "invoice.overdue",
            EventKind::ChargeHeldForReview => "charge.held_for_review",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub kind: EventKind,
    /// The id of the object the event is about (`ch_…`, `re_…`, …).
    pub object_id: String,
    /// Which part of the engine made the change: a request id, or `recovery`.
    pub cause: String,
    pub created: i64,
}

impl Event {
    pub fn new(kind: EventKind, object_id: &str, cause: &str) -> Event {
        Event {
            id: EventId::generate(),
            kind,
            object_id: object_id.to_owned(),
            cause: cause.to_owned(),
            created: super::time::now_unix_secs(),
        }
    }
}
