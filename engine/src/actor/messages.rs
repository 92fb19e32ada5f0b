//! Messages a customer's actor answers. State changes carry the request's idempotency ticket so
//! the actor writes the idempotency record in the same atomic change as the state it records.

use actix::Message;
use kassa_gateways::PaymentMethodDetails;

use super::settlement::Settlement;
use super::{ActorError, Durably};
use crate::domain::{Breakdown, Cause, Charge, ChargeStatus, FeatureGrant};
use crate::domain::{
    ChargeId, CheckoutSessionId, CreditNoteId, Currency, InvoiceId, Metadata, Money, PaymentMethod,
    PaymentMethodId, PaymentMethodKind, Refund, RefundId, RefundReason,
};
use crate::store::Unsettled;

/// The Idempotency-Key of the request and the fingerprint of its method, path and body.
#[derive(Debug, Clone)]
pub struct IdempotencyTicket {
    /// A client's key only as its keyed hash (`api::idempotency_keys`), never as sent; or a key
    /// the engine made itself (an invoice's attempt).
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// Attach a payment method the gateway has already described.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<PaymentMethod>, ActorError>")]
pub struct AttachPaymentMethod {
    pub kind: PaymentMethodKind,
    pub gateway: String,
    pub token: String,
    pub details: PaymentMethodDetails,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<PaymentMethodId>, ActorError>")]
pub struct DetachPaymentMethod {
    pub id: PaymentMethodId,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// Charge the customer. Answers with the charge as it stands when the gateway has answered (or
/// timed out): `succeeded`, `failed` (declined) or `processing` (outcome unknown).
#[derive(Clone, Message)]
#[rtype(result = "Result<Charge, ActorError>")]
pub struct CreateCharge {
    pub amount: Money,
    /// How `amount` was priced, when the client sent line items.
    pub breakdown: Option<Box<Breakdown>>,
    pub payment_method: Option<PaymentMethodId>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
    /// The invoice the charge pays: its settlement settles the invoice in the same change.
    pub invoice: Option<InvoiceId>,
    /// Made by the engine without the customer (a renewal): paced to the gateway's renewal
    /// rate, and sent as off-session.
    pub off_session: bool,
    /// Features granted once the charge succeeds (a one-time purchase).
    pub grants: Vec<FeatureGrant>,
    /// The coupon it was priced with: reserved against its limits with the charge.
    pub coupon: Option<crate::coupons::Resolved>,
    /// The checkout session it pays: recorded on the session with the charge, refused if the
    /// session is not open or has a payment under way.
    pub checkout_session: Option<CheckoutSessionId>,
    /// The payee's share of it, when the charge is split.
    pub transfer: Option<Box<crate::domain::ChargeTransfer>>,
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Refund, ActorError>")]
pub struct CreateRefund {
    pub charge: ChargeId,
    /// What is left of the charge when not given.
    pub amount_minor: Option<i64>,
    pub reason: Option<RefundReason>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
    /// The credit note this refund pays back, when a credit note asked for it.
    pub credit_note: Option<CreditNoteId>,
    /// Whether it reverses its charge's transfer in proportion.
    pub reverse_transfer: bool,
    /// For a charge with no card to go back to: where to pay the money out, or that the
    /// platform paid it back itself.
    pub pay_out: Option<RefundPayOut>,
}

/// Pays the customer's credit balance back out to them: all of it unless `amount_minor` says
/// less, in the currency the customer bills in (`currency`, when given, must be it).
#[derive(Clone, Message)]
#[rtype(result = "Result<Refund, ActorError>")]
pub struct RefundBalance {
    pub amount_minor: Option<i64>,
    pub currency: Option<Currency>,
    pub reason: Option<RefundReason>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
    /// Where the money goes: a credit balance has no card to go back to.
    pub pay_out: RefundPayOut,
}

/// What a payout adapter reported (later, by its own callback) of a refund it paid out.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<String>, ActorError>")]
pub struct RefundPaidOut {
    pub refund: RefundId,
    pub outcome: kassa_gateways::payouts::PayoutOutcome,
}

/// How a refund with no card to go back to (of a bank transfer, M-Pesa, a credit balance) is
/// made.
#[derive(Debug, Clone)]
pub enum RefundPayOut {
    /// Paid out to this destination by the adapter that pays it.
    To(kassa_gateways::payouts::PayoutDestination),
    /// Already paid back by the platform itself: recorded as succeeded.
    SettledOutside,
}

/// Before the next gateway of a charge's route is called: record it on the `processing` charge
/// (durably, answered with the wait), so that recovery asks that gateway.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<()>, ActorError>")]
pub struct RecordAttempt {
    pub charge: ChargeId,
    pub gateway: &'static str,
    /// The gateway's position in the route, from 1.
    pub attempt: u32,
    pub cause: Cause,
}

/// A gateway's own word on a charge, from its webhook or callback: applied forward-only, so a
/// duplicate or late one changes nothing. Answers the charge as it then stands.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<SettledCharge>, ActorError>")]
pub(crate) struct SettleCharge {
    pub charge: ChargeId,
    pub settlement: Settlement,
    pub cause: Cause,
}

pub(crate) struct SettledCharge {
    pub charge: Charge,
    /// The status before, read in the same turn of the actor as the settlement.
    pub status_before: ChargeStatus,
}

/// Settle these unsettled charges and refunds of this customer by asking their gateway, never
/// by charging again (recovery at start-up). Answers how many were settled.
#[derive(Clone, Message)]
#[rtype(result = "Result<usize, ActorError>")]
pub struct Reconcile {
    pub items: Vec<Unsettled>,
}

/// From the registry's sweep: stop if nothing is under way.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopIfIdle;
