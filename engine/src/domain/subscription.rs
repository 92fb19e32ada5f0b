//! A subscription: a customer billed for a plan every period, owned by the customer's actor.
//!
//! Its periods follow its `billing_cycle_anchor` (see [`crate::billing::periods`]); the one
//! instant at which something next falls due for it — trial end, renewal, scheduled
//! cancellation, the expiry of an unpaid first invoice — is [`Subscription::next_due`], and the
//! store keeps it in the durable schedule, written with the subscription itself.

use serde::{Deserialize, Serialize};

use super::{
    CheckoutSessionId, CustomerId, InvoiceId, LineDiscount, Metadata, PaymentMethodId, PlanId,
    PluginRef, SubscriptionDiscount, SubscriptionId, TestClockId,
};
use crate::billing::periods::Interval;
use crate::limits::INCOMPLETE_EXPIRY_SECS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriptionStatus {
    /// The first invoice is not paid (declined, or still pending): no period is granted.
    Incomplete,
    /// The first invoice stayed unpaid for 23 hours: terminal, its invoice void.
    IncompleteExpired,
    Trialing,
    Active,
    /// A renewal's invoice is open and unpaid.
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Paused => "paused",
        }
    }

    /// Nothing happens to it any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectionMethod {
    /// Renewals charge the payment method off-session.
    ChargeAutomatically,
    /// The invoice is finalized with a due date and waits for the customer to pay it (M-Pesa,
    /// bank transfers): the scheduler never charges it.
    SendInvoice,
}

impl CollectionMethod {
    pub fn parse(text: &str) -> Option<CollectionMethod> {
        match text {
            "charge_automatically" => Some(CollectionMethod::ChargeAutomatically),
            "send_invoice" => Some(CollectionMethod::SendInvoice),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CollectionMethod::ChargeAutomatically => "charge_automatically",
            CollectionMethod::SendInvoice => "send_invoice",
        }
    }
}

/// A line waiting for the subscription's next invoice (a proration of a change made with
/// `create_prorations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLine {
    pub description: String,
    pub plan: PlanId,
    /// The plan's sku, as the tax rule sees the line.
    pub sku: String,
    pub quantity: u32,
    /// Negative for a credit.
    pub amount_minor: i64,
    pub period_start: i64,
    pub period_end: i64,
    /// The proration rule that computed the amount.
    #[serde(default)]
    pub rule: Option<PluginRef>,
    /// The subscription's coupon's share of the amount, prorated as the amount is.
    #[serde(default)]
    pub discount: Option<LineDiscount>,
}

/// How long before a trial ends it is announced.
pub const TRIAL_WILL_END_NOTICE_SECS: i64 = 3 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer: CustomerId,
    pub plan: PlanId,
    pub quantity: u32,
    pub status: SubscriptionStatus,
    pub collection_method: CollectionMethod,
    pub days_until_due: u32,
    /// The plan's interval, copied: periods never depend on a later read of the plan.
    pub interval: Interval,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub billing_cycle_anchor: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub latest_invoice: Option<InvoiceId>,
    /// Renewals charge it if set, else the customer's default at that moment.
    pub payment_method: Option<PaymentMethodId>,
    pub pending_lines: Vec<PendingLine>,
    /// What the current period's plan line comes to for a whole period, after discounts and
    /// before tax: what a change's credit is the unused share of (0 while trialing, or when
    /// the period's invoice was voided or written off).
    pub period_invoiced_minor: i64,
    pub metadata: Metadata,
    pub created: i64,
    /// The customer's test clock: which schedule the subscription's due instants go to.
    pub test_clock: Option<TestClockId>,
    /// A change made with `pending_if_incomplete`, waiting for its invoice to be paid.
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
    /// The invoice that billed the current period: while it is open, a credit for the period
    /// lowers it instead of becoming a credit line.
    #[serde(default)]
    pub period_invoice: Option<InvoiceId>,
    /// The failed invoice being retried, while one is.
    #[serde(default)]
    pub dunning: Option<Dunning>,
    /// While `paused`: when it resumes by itself, if it does.
    #[serde(default)]
    pub resumes_at: Option<i64>,
    /// Until then the subscription grants nothing: the charge that paid this period was
    /// refunded in full or lost in a dispute (`billing.refund_revokes_access`).
    #[serde(default)]
    pub access_withdrawn_until: Option<i64>,
    /// Whether `customer.subscription.trial_will_end` went out for this trial.
    #[serde(default)]
    pub trial_will_end_sent: bool,
    /// The coupon attached to it, and which of its invoices it discounts.
    #[serde(default)]
    pub discount: Option<Box<SubscriptionDiscount>>,
    /// The checkout session that started it: the session completes when it first pays (or its
    /// trial begins).
    #[serde(default)]
    pub checkout_session: Option<CheckoutSessionId>,
    /// The payee's share of each of its invoices' payments.
    #[serde(default)]
    pub transfer: Option<Box<super::TransferTerms>>,
}

/// The retries of a subscription's invoice whose automatic payment failed
/// (`billing.dunning`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dunning {
    pub invoice: InvoiceId,
    pub first_failed_at: i64,
    /// Retries made so far (the attempt that first failed is not one).
    pub retries: u32,
    /// When the next retry is made; `None` while none is planned: a hard decline waits for a
    /// new payment method, and so does an `unpaid` subscription after its last retry.
    pub next_retry_at: Option<i64>,
}

impl Dunning {
    /// The dunning of `invoice`, whose payment first failed at `now`; its retry still to plan.
    pub fn first_failure(invoice: &InvoiceId, now: i64) -> Dunning {
        Dunning { invoice: invoice.clone(), first_failed_at: now, retries: 0, next_retry_at: None }
    }
}

/// A change of plan or seats that applies only once its invoice is paid, and is dropped (its
/// invoice voided) at `expires_at` if it is not: the terms the subscription will have then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub invoice: InvoiceId,
    pub expires_at: i64,
    pub plan: PlanId,
    pub quantity: u32,
    pub interval: Interval,
    pub billing_cycle_anchor: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub period_invoiced_minor: i64,
    pub period_invoice: Option<InvoiceId>,
    pub pending_lines: Vec<PendingLine>,
}

impl PendingUpdate {
    /// The terms of `changed` (the subscription as the change left it), waiting for `invoice`.
    pub fn of(changed: &Subscription, invoice: InvoiceId, expires_at: i64) -> PendingUpdate {
        PendingUpdate {
            invoice,
            expires_at,
            plan: changed.plan.clone(),
            quantity: changed.quantity,
            interval: changed.interval,
            billing_cycle_anchor: changed.billing_cycle_anchor,
            current_period_start: changed.current_period_start,
            current_period_end: changed.current_period_end,
            period_invoiced_minor: changed.period_invoiced_minor,
            period_invoice: changed.period_invoice.clone(),
            pending_lines: changed.pending_lines.clone(),
        }
    }

    /// Gives `subscription` the waiting terms: its invoice was paid.
    pub fn apply_to(self, subscription: &mut Subscription) {
        subscription.plan = self.plan;
        subscription.quantity = self.quantity;
        subscription.interval = self.interval;
        subscription.billing_cycle_anchor = self.billing_cycle_anchor;
        subscription.current_period_start = self.current_period_start;
        subscription.current_period_end = self.current_period_end;
        subscription.period_invoiced_minor = self.period_invoiced_minor;
        subscription.period_invoice = self.period_invoice;
        subscription.pending_lines = self.pending_lines;
        subscription.pending_update = None;
    }
}

impl Subscription {
    /// The schedule its due instants are kept in: its test clock's, or real time's.
    pub fn schedule_scope(&self) -> &str {
        crate::store::keys::scope_of(self.test_clock.as_ref())
    }

    /// Whether the current period is shorter than its interval: a first period, or the one
    /// after a trial, cut short by a later `billing_cycle_anchor`. Such a period is invoiced as a
    /// share of the whole interval that ends at its end. (A period between two boundaries of the
    /// anchor is never shorter: a month-end anchor's clamped boundary only brings the next one
    /// closer to a whole month, not past it.)
    pub fn is_stub(start: i64, end: i64, interval: Interval) -> bool {
        end < interval.boundary(start, 1)
    }

    /// The start of the whole period a change in the current one is prorated over: the current
    /// period's, or for a stub (see [`Subscription::is_stub`]) the start of the whole interval
    /// it is a share of.
    pub fn proration_start(&self) -> i64 {
        let (start, end) = (self.current_period_start, self.current_period_end);
        match Subscription::is_stub(start, end, self.interval) {
            true => self.interval.boundary(end, -1),
            false => start,
        }
    }

    /// When something next falls due for it, if anything ever does.
    pub fn next_due(&self) -> Option<i64> {
        match self.status {
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => None,
            SubscriptionStatus::Paused => self.resumes_at,
            SubscriptionStatus::Incomplete => Some(self.created + INCOMPLETE_EXPIRY_SECS),
            SubscriptionStatus::Trialing => match self.trial_will_end_sent {
                true => self.trial_end,
                false => self.trial_will_end_at(),
            },
            SubscriptionStatus::Active
            | SubscriptionStatus::PastDue
            | SubscriptionStatus::Unpaid => {
                let expiry = self.pending_update.as_ref().map(|pending| pending.expires_at);
                let retry = self.dunning.as_ref().and_then(|dunning| dunning.next_retry_at);
                let due = [Some(self.current_period_end), expiry, retry];
                due.into_iter().flatten().min()
            }
        }
    }

    /// When the trial's end is announced (`customer.subscription.trial_will_end`): three days
    /// before it, as Stripe does, or at its start when it is shorter.
    pub fn trial_will_end_at(&self) -> Option<i64> {
        let end = self.trial_end?;
        let start = self.trial_start.unwrap_or(self.created);
        Some((end - TRIAL_WILL_END_NOTICE_SECS).max(start))
    }

    /// The boundary after the current period's end.
    pub fn following_period_end(&self) -> i64 {
        self.interval.next_boundary_after(self.billing_cycle_anchor, self.current_period_end)
    }
}
