//! What the API and the scheduler ask of a customer's actor about billing. State changes carry
//! the request's idempotency ticket, written in the same change as their effect.

use actix::Message;

use crate::actor::{ActorError, IdempotencyTicket};
use crate::billing::credit_notes::CreditAsk;
use crate::billing::periods::Interval;
use crate::domain::{
    Cause, CollectionMethod, CreditNote, Customer, CustomerId, Invoice, InvoiceId, Metadata, Money,
    OnDefault, PaymentMethodId, PaymentPlanId, Plan, SponsorShare, SponsorshipId, SubscriptionId,
    TestClockId,
};
use crate::store::{Outcome, Scheduled};

/// How a new subscription's trial is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialRequest {
    /// The plan's `trial_days`.
    PlanDefault,
    Days(u32),
    Until(i64),
}

/// Answers `Outcome::Subscription`, or `Outcome::SubscriptionDeclined` when the first payment
/// was declined.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct CreateSubscription {
    pub plan: Plan,
    pub quantity: u32,
    pub trial: TrialRequest,
    pub billing_cycle_anchor: Option<i64>,
    pub payment_method: Option<PaymentMethodId>,
    pub collection_method: Option<CollectionMethod>,
    pub days_until_due: Option<u32>,
    pub metadata: Metadata,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
    /// The coupon it is created with, resolved and checked by the API.
    pub coupon: Option<crate::coupons::Resolved>,
    /// The checkout session that starts it: refused unless the session may be paid now.
    pub checkout_session: Option<crate::domain::CheckoutSessionId>,
    /// The customer is not there (a processor's webhook starts it, with the card it saved for
    /// later): its first payment is made off-session, as a renewal's is.
    pub off_session: bool,
    /// The payee's share of each of its invoices' payments, checked by the API.
    pub transfer: Option<Box<crate::domain::TransferTerms>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProrationBehavior {
    /// Proration lines wait for the next invoice.
    CreateProrations,
    /// Proration lines are invoiced and charged now.
    AlwaysInvoice,
    None,
}

impl ProrationBehavior {
    pub fn parse(text: &str) -> Option<ProrationBehavior> {
        match text {
            "create_prorations" => Some(ProrationBehavior::CreateProrations),
            "always_invoice" => Some(ProrationBehavior::AlwaysInvoice),
            "none" => Some(ProrationBehavior::None),
            _ => None,
        }
    }
}

/// What a change that makes an invoice does while that invoice is unpaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentBehavior {
    /// The change applies at once; an unpaid invoice leaves the subscription behind.
    AllowIncomplete,
    /// The change waits for its invoice to be paid, and is dropped if it is not in time.
    PendingIfIncomplete,
}

impl PaymentBehavior {
    pub fn parse(text: &str) -> Option<PaymentBehavior> {
        match text {
            "allow_incomplete" => Some(PaymentBehavior::AllowIncomplete),
            "pending_if_incomplete" => Some(PaymentBehavior::PendingIfIncomplete),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialEnd {
    Now,
    At(i64),
}

/// A change of plan and/or quantity, as an update or a preview asks it.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub plan: Option<Plan>,
    pub quantity: Option<u32>,
    pub proration_behavior: ProrationBehavior,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct UpdateSubscription {
    pub id: SubscriptionId,
    pub change: PlanChange,
    pub payment_behavior: PaymentBehavior,
    pub trial_end: Option<TrialEnd>,
    pub cancel_at_period_end: Option<bool>,
    pub metadata: Option<Metadata>,
    /// The subscription's own payment method from now on: its open invoices in dunning are
    /// tried with it at once.
    pub payment_method: Option<PaymentMethodId>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct CancelSubscription {
    pub id: SubscriptionId,
    pub at_period_end: bool,
    /// Credit the unused rest of the period to the customer's balance.
    pub prorate: bool,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct ReactivateSubscription {
    pub id: SubscriptionId,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// No invoices and no features until resumed, by hand or at `resumes_at`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct PauseSubscription {
    pub id: SubscriptionId,
    pub resumes_at: Option<i64>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// A paused subscription starts a new period now, invoiced (and charged) at once.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct ResumeSubscription {
    pub id: SubscriptionId,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// The invoice the next renewal, or `change` at `at`, would make; computed, never stored.
#[derive(Clone, Message)]
#[rtype(result = "Result<Invoice, ActorError>")]
pub struct PreviewInvoice {
    pub id: SubscriptionId,
    pub change: Option<PlanChange>,
    /// The instant of the change (default: the customer's now).
    pub at: Option<i64>,
}

/// What the customer may use now, from its subscriptions (served from the actor's state).
#[derive(Clone, Message)]
#[rtype(result = "Result<Vec<crate::billing::entitlements::Grant>, ActorError>")]
pub struct CustomerEntitlements;

/// From the scheduler: run what falls due for the subscription or payment plan up to `at`.
/// Answers its next due instant afterwards.
#[derive(Clone, Message)]
#[rtype(result = "Result<Ran, ActorError>")]
pub struct RunDue {
    pub object: Scheduled,
    pub at: i64,
}

/// What a [`RunDue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Whether any step ran: each moved the object's schedule entry with its own write.
    pub steps: bool,
    /// The object's next due instant afterwards.
    pub next_due: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvoiceAction {
    Pay,
    Void,
    MarkUncollectible,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct ActOnInvoice {
    pub id: InvoiceId,
    pub action: InvoiceAction,
    pub payment_method: Option<PaymentMethodId>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// From start-up: an invoice whose payment attempt was decided before a stop, and whose
/// charge was never recorded; the attempt's key makes it happen once.
#[derive(Clone, Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct ResumeCollection {
    pub invoice: InvoiceId,
}

/// `POST /v1/customers/{id}`: the fields given replace the customer's.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct UpdateCustomer {
    pub apply: CustomerUpdate,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

#[derive(Clone, Default)]
pub struct CustomerUpdate {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<crate::domain::Address>>,
    pub metadata: Option<Metadata>,
    pub default_payment_method: Option<PaymentMethodId>,
}

impl CustomerUpdate {
    pub fn apply_to(self, customer: &mut Customer) {
        if let Some(email) = self.email {
            customer.email = email;
        }
        if let Some(name) = self.name {
            customer.name = name;
        }
        if let Some(phone) = self.phone {
            customer.phone = phone;
        }
        if let Some(address) = self.address {
            customer.address = address;
        }
        if let Some(metadata) = self.metadata {
            customer.metadata = metadata;
        }
    }
}

/// `POST /v1/credit_notes`: reverses all or part of one of the customer's finalized invoices.
#[derive(Clone, Message)]
#[rtype(result = "Result<CreditNote, ActorError>")]
pub struct CreateCreditNote {
    pub invoice: InvoiceId,
    pub ask: CreditAsk,
    /// How a paid invoice's credit goes back; none given: all of it to the customer's balance.
    pub refund_minor: Option<i64>,
    pub credit_minor: Option<i64>,
    pub out_of_band_minor: Option<i64>,
    pub reason: Option<String>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// Give the customer `feature` without a payment, until `expires_at` or until withdrawn.
/// Answers `Outcome::Grant`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct GrantFeature {
    pub feature: String,
    pub expires_at: Option<i64>,
    pub reason: Option<String>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// Withdraw a promotional grant. Answers `Outcome::GrantDeleted`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct WithdrawGrant {
    pub id: crate::domain::GrantId,
    pub cause: Cause,
}

/// `POST /v1/payment_plans`: `amount` split into `instalments`, one `interval` apart from
/// `start` (the customer's now when `None`). Answers `Outcome::PaymentPlan`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct CreatePaymentPlan {
    pub amount: Money,
    pub instalments: u32,
    pub interval: Interval,
    pub start: Option<i64>,
    pub description: Option<String>,
    pub payment_method: Option<PaymentMethodId>,
    pub grants: Vec<String>,
    pub metadata: Metadata,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
    /// The payee's share of each instalment's payment, checked by the API.
    pub transfer: Option<Box<crate::domain::TransferTerms>>,
}

/// `POST /v1/payment_plans/{id}/pay_remaining`: every unpaid instalment, charged now.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct PayRemaining {
    pub id: PaymentPlanId,
    pub payment_method: Option<PaymentMethodId>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// `POST /v1/payment_plans/{id}/cancel`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct CancelPaymentPlan {
    pub id: PaymentPlanId,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// `POST /v1/sponsorships`, to the beneficiary's actor. Answers `Outcome::Sponsorship`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct CreateSponsorship {
    pub sponsor: CustomerId,
    /// The sponsor's test clock: the beneficiary must be on the same one.
    pub sponsor_clock: Option<TestClockId>,
    pub subscription: Option<SubscriptionId>,
    pub share: SponsorShare,
    pub cap_minor: Option<i64>,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub on_default: OnDefault,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// `POST /v1/sponsorships/{id}/end`, to the beneficiary's actor.
#[derive(Clone, Message)]
#[rtype(result = "Result<Outcome, ActorError>")]
pub struct EndSponsorship {
    pub id: SponsorshipId,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}
