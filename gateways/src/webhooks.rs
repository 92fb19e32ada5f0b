//! Events a processor sends after the fact (Stripe's webhooks, Safaricom's STK Push results),
//! read by the adapter that speaks the processor's wire format and handed to the engine in
//! Kassa's gateway-neutral terms.
//!
//! The engine serves every source at `POST /v1/webhooks/{gateway}` (or `…/{gateway}/{token}`
//! where the processor authenticates by a secret path, as Safaricom does): it asks the source
//! whether the path admits the delivery before reading the body, whether the body is the
//! processor's once read, and then what the body says — at once to store and acknowledge it, and
//! again when it is applied, which may be after a restart. Reading is pure: the same payload
//! always reads the same.

use crate::{ChargeOutcome, Currency, GatewayError};

/// A gateway's incoming webhooks, as the engine receives them.
pub trait WebhookSource: Send + Sync {
    /// The gateway's name: the path segment it is served at and the name its charges carry.
    fn gateway(&self) -> &'static str;

    /// Whether a delivery to this path may go on to have its body read: the path's token is the
    /// one the processor was given, where it authenticates that way, and absent where it does
    /// not. A refusal is a 404, as for a path that does not exist.
    fn admits(&self, path_token: Option<&str>) -> bool;

    /// Whether the delivery comes from the processor (a signature over the body, for one).
    fn verify(&self, delivery: &Delivery<'_>) -> Result<(), WebhookRefusal>;

    /// What a payload says, in Kassa's terms.
    fn read(&self, payload: &[u8]) -> Result<IncomingEvent, UnreadableEvent>;

    /// What to answer an authentic delivery that [`WebhookSource::read`] cannot read.
    fn when_unreadable(&self) -> WhenUnreadable {
        WhenUnreadable::Refuse
    }

    /// The body of the 200 that tells the processor the delivery is kept (durably) and need not
    /// be sent again. `received` is `None` for one acknowledged without being kept (see
    /// [`WhenUnreadable::Acknowledge`]).
    fn acknowledgement(&self, received: Option<&Received<'_>>) -> serde_json::Value;

    /// An amount the processor reports, in Kassa's minor units of `currency` (the charge's).
    /// An amount Kassa cannot hold exactly is an error, never rounded.
    fn amount_in_minor_units(&self, amount: i64, currency: Currency) -> Result<i64, String> {
        let _ = currency;
        Ok(amount)
    }

    /// The Kassa charge id an attempt with this gateway reference was made for, when the
    /// adapter remembers it itself: an event can arrive before Kassa has recorded the reference
    /// on the charge.
    fn charge_id_for(&self, reference: &str) -> Result<Option<String>, GatewayError> {
        let _ = reference;
        Ok(None)
    }

    /// How long an event about a charge Kassa cannot find yet is tried again, in seconds: the
    /// answer that names its reference may still be on its way (Safaricom's callback can beat
    /// Daraja's answer to the push). Zero: at once it is about nothing Kassa knows.
    fn early_event_wait_secs(&self) -> i64 {
        0
    }
}

/// A delivery as it reached the engine.
pub struct Delivery<'a> {
    /// The request's headers, by lower-case name.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// The engine's clock, Unix seconds.
    pub now: i64,
}

impl Delivery<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
    }
}

/// Why a delivery is not the processor's: a 400 naming `header`, and nothing is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRefusal {
    pub header: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableEvent(pub String);

/// What happens to an authentic delivery that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreadable {
    /// A 400, so the sender sees it (Stripe shows failed deliveries on its dashboard).
    Refuse,
    /// A 200, logged and dropped: the sender retries anything else forever (Safaricom).
    Acknowledge,
}

/// A kept delivery, for its acknowledgement.
pub struct Received<'a> {
    /// Kassa's id of the kept event (the earlier delivery's, for a duplicate).
    pub event_id: &'a str,
    /// Kept before, by an earlier delivery of the same event.
    pub duplicate: bool,
}

/// What an event says, in Kassa's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingEvent {
    /// The processor's id for the event: deliveries with the same id are one event.
    pub id: String,
    /// The processor's type for it (`payment_intent.succeeded`, `mpesa.stk_push.result`).
    pub kind: String,
    /// When the processor made it (Unix seconds); `None`: when it was received.
    pub created: Option<i64>,
    /// The charge it is about, where it names one.
    pub charge: Option<ChargeRef>,
    /// What it does to that charge; `None`: kept and listed, not applied.
    pub effect: Option<EventEffect>,
}

/// How an event names a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRef {
    /// The gateway's reference of the attempt (a PaymentIntent, a CheckoutRequestID).
    pub reference: Option<String>,
    /// The Kassa charge id the attempt was tagged with.
    pub charge_id: Option<String>,
}

/// What a dispute moved in the processor's balance so far, as its event lists it: in the
/// processor's unit of `currency`, the currency of the balance it moved (the dispute's own, or
/// the one the processor settled its charge into).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeMoves {
    pub currency: String,
    /// Taken from the balance for the disputed payment (0 while the event lists none).
    pub withdrawn: i64,
    /// Put back into it, for a dispute won (0 while none).
    pub reinstated: i64,
    /// What the processor charges for the dispute (less a fee it gave back).
    pub fee: i64,
}

/// What an event does to the charge it is about. Amounts are in the processor's unit
/// ([`WebhookSource::amount_in_minor_units`] gives Kassa's), but for a payout's outcome, which
/// the adapter states in Kassa's (see [`crate::payouts::PayoutOutcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventEffect {
    /// What became of a payout's payment (M-Pesa B2C's result), by the key it was sent with;
    /// `account`: the merchant account that sent it, where the adapter knows the key.
    Payout { account: Option<String>, key: String, outcome: crate::payouts::PayoutOutcome },
    /// How the charge ended, or where it now stands.
    Charge {
        outcome: ChargeOutcome,
        /// What the processor says moved, where it says so: a different amount than the
        /// charge's is held for an operator instead of settling the charge.
        reported: Option<ReportedAmount>,
    },
    /// The charge failed with a code outside [`crate::DeclineCode`]'s (`canceled`,
    /// `authentication_required`, …).
    ChargeFailed { code: String, message: String },
    /// The charge's refunds as the processor now counts them.
    Refunds {
        /// Each succeeded refund, where the event lists them.
        refunds: Option<Vec<RefundSeen>>,
        amount_refunded: i64,
        currency: Option<String>,
    },
    /// A dispute of the charge opened, changed or closed.
    Dispute {
        reference: String,
        amount: i64,
        currency: Option<String>,
        reason: String,
        status: String,
        /// What the dispute moved in the processor's balance, where the event says.
        moved: Option<DisputeMoves>,
        /// When the processor made the event: orders events about the same dispute.
        at: i64,
    },
    /// A buyer paid on the processor's hosted page for a Kassa checkout session or invoice
    /// (about no charge Kassa has yet: the payment makes one).
    HostedPayment {
        /// What it pays, as the page was asked to carry it.
        pays: crate::HostedFor,
        /// The processor's reference of the payment (a PaymentIntent).
        reference: String,
        /// The payment method it saved for later payments, where it names one.
        payment_method: Option<String>,
        amount: i64,
        currency: Option<String>,
    },
    /// A buyer saved a card on the processor's hosted page for a Kassa checkout session whose
    /// payments Kassa makes itself (a subscription).
    HostedSetup {
        pays: crate::HostedFor,
        /// The processor's reference of the setup (a SetupIntent).
        reference: String,
        /// The payment method saved.
        payment_method: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAmount {
    pub amount: i64,
    /// The processor's receipt for it (an M-Pesa receipt number).
    pub reference: Option<String>,
}

/// A refund as the processor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSeen {
    pub reference: String,
    pub amount: i64,
    /// The Kassa refund id the refund was tagged with, when Kassa made it.
    pub refund_id: Option<String>,
    /// Stripe's refund reasons (`duplicate`, `fraudulent`, `requested_by_customer`).
    pub reason: Option<String>,
}

/// Compares without an early exit, so the time taken says nothing about where they differ
/// (only whether the lengths do).
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected.iter().zip(given).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}
