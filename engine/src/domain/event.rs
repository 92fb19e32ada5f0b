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
    InvoicePaid,
    /// Erased: its personal data is gone, its books stay.
    CustomerDeleted,
    /// The account's own changes, by the admin key or the account's keys.
    AccountCreated,
    AccountUpdated,
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyRevoked,
    /// Three days before a trial ends.
    SubscriptionTrialWillEnd,
    GrantCreated,
    GrantDeleted,
    PaymentPlanCreated,
    /// An instalment invoiced or paid, a retry planned, the plan paid in full.
    PaymentPlanUpdated,
    PaymentPlanCanceled,
    CheckoutSessionCreated,
    /// A promotion code applied on its page.
    CheckoutSessionUpdated,
    /// Its payment succeeded (or its subscription began).
    CheckoutSessionCompleted,
    CheckoutSessionExpired,
    SponsorshipCreated,
    /// A share taken or given back, or the sponsorship ended.
    SponsorshipUpdated,
}

impl EventKind {
    pub const ALL: [EventKind; 43] = [
        EventKind::CustomerCreated,
        EventKind::PaymentMethodAttached,
        EventKind::PaymentMethodDetached,
        EventKind::ChargeProcessing,
        EventKind::ChargeSucceeded,
        EventKind::ChargeFailed,
        EventKind::RefundPending,
        EventKind::RefundSucceeded,
        EventKind::RefundFailed,
        EventKind::ChargeRequiresAction,
        EventKind::ChargeRerouted,
        EventKind::DisputeOpened,
        EventKind::DisputeUpdated,
        EventKind::DisputeClosed,
        EventKind::CustomerUpdated,
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionUpdated,
        EventKind::SubscriptionRenewed,
        EventKind::SubscriptionCanceled,
        EventKind::InvoiceFinalized,
        EventKind::InvoiceVoided,
        EventKind::InvoiceMarkedUncollectible,
        EventKind::InvoiceOverdue,
        EventKind::ChargeHeldForReview,
        EventKind::InvoicePaid,
        EventKind::CustomerDeleted,
        EventKind::AccountCreated,
        EventKind::AccountUpdated,
        EventKind::ApiKeyCreated,
        EventKind::ApiKeyUpdated,
        EventKind::ApiKeyRevoked,
        EventKind::SubscriptionTrialWillEnd,
        EventKind::GrantCreated,
        EventKind::GrantDeleted,
        EventKind::PaymentPlanCreated,
        EventKind::PaymentPlanUpdated,
        EventKind::PaymentPlanCanceled,
        EventKind::CheckoutSessionCreated,
        EventKind::CheckoutSessionUpdated,
        EventKind::CheckoutSessionCompleted,
        EventKind::CheckoutSessionExpired,
        EventKind::SponsorshipCreated,
        EventKind::SponsorshipUpdated,
    ];

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

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
            EventKind::InvoicePaid => "invoice.paid",
            EventKind::CustomerDeleted => "customer.deleted",
            EventKind::AccountCreated => "account.created",
            EventKind::AccountUpdated => "account.updated",
            EventKind::ApiKeyCreated => "api_key.created",
            EventKind::ApiKeyUpdated => "api_key.updated",
            EventKind::ApiKeyRevoked => "api_key.revoked",
            EventKind::SubscriptionTrialWillEnd => "customer.subscription.trial_will_end",
            EventKind::GrantCreated => "grant.created",
            EventKind::GrantDeleted => "grant.deleted",
            EventKind::PaymentPlanCreated => "payment_plan.created",
            EventKind::PaymentPlanUpdated => "payment_plan.updated",
            EventKind::PaymentPlanCanceled => "payment_plan.canceled",
            EventKind::CheckoutSessionCreated => "checkout.session.created",
            EventKind::CheckoutSessionUpdated => "checkout.session.updated",
            EventKind::CheckoutSessionCompleted => "checkout.session.completed",
            EventKind::CheckoutSessionExpired => "checkout.session.expired",
            EventKind::SponsorshipCreated => "sponsorship.created",
            EventKind::SponsorshipUpdated => "sponsorship.updated",
        }
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The engine on its own: renewals, dunning, recovery, a gateway's event.
    System,
    /// A request that bore this API key: its id (`key_…`; see `api::auth` for configured keys).
    ApiKey(String),
}

/// Why a change is made, and by whom: a request (its id, and the key it bore) or a reason of
/// the engine's own (`recovery`, a gateway event's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub actor: Actor,
}

impl Cause {
    pub fn system(reason: impl Into<String>) -> Cause {
        Cause { reason: reason.into(), actor: Actor::System }
    }

    pub fn request(request_id: impl Into<String>, actor: Actor) -> Cause {
        Cause { reason: request_id.into(), actor }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
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
    /// Who made it; `None` in events written before it was recorded.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// The object's status before and after the change, where it has one.
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

impl Event {
    pub fn new(kind: EventKind, object_id: &str, cause: &Cause) -> Event {
        Event {
            id: EventId::generate(),
            kind,
            object_id: object_id.to_owned(),
            cause: cause.reason.clone(),
            created: super::time::now_unix_secs(),
            actor: Some(cause.actor.clone()),
            before: None,
            after: None,
        }
    }

    /// The object's status before the change (`None`: it did not exist) and after it.
    pub fn status(mut self, before: Option<&str>, after: &str) -> Event {
        self.before = before.map(str::to_owned);
        self.after = Some(after.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_parses_back() {
        let names: std::collections::BTreeSet<&str> =
            EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len());
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("charge.exploded"), None);
    }

    #[test]
    fn an_event_names_its_cause_and_actor() {
        let cause = Cause::request("req_1", Actor::ApiKey("key_1".into()));
        let event =
            Event::new(EventKind::ChargeProcessing, "ch_1", &cause).status(None, "processing");
        assert_eq!(event.cause, "req_1");
        assert_eq!(event.actor, Some(Actor::ApiKey("key_1".into())));
        assert_eq!((event.before, event.after.as_deref()), (None, Some("processing")));
    }
}
