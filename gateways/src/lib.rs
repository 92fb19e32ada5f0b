//! Kassa's payment gateways.
//!
//! - [`Gateway`]: what the engine asks of a processor — describe a payment-method token, charge,
//!   refund, and retrieve an earlier attempt by the gateway idempotency key it was made with.
//! - [`sandbox`]: the built-in processor with its own durable ledger, for development and tests.
//! - [`stripe`]: cards through Stripe PaymentIntents (async-stripe), 3-D Secure as
//!   [`ChargeOutcome::RequiresAction`].
//! - [`mpesa`]: Safaricom Daraja STK Push; a charge is [`ChargeOutcome::Pending`] until the
//!   callback ([`mpesa::parse_callback`]) or the STK query settles it.
//! - [`router`]: routing rules, a circuit breaker per gateway (opened by unavailability, never by
//!   a refusal of the request), failover only where nothing moved
//!   ([`GatewayError::NotAttempted`], [`GatewayError::InvalidRequest`]).
//! - [`payouts`]: money out to payees behind [`payouts::PayoutAdapter`] (the sandbox pays any
//!   destination).
//! - [`webhooks`]: the processors' events after the fact, read by each adapter into Kassa's
//!   gateway-neutral [`webhooks::IncomingEvent`] behind [`webhooks::WebhookSource`].
//! - [`limits`]: the fixed bounds, each with its reason.
//! - [`Secret`]: keys and client secrets that never reach a log line or `Debug` output.
//!
//! This crate never imports the engine: it owns its request and outcome types (amounts in minor
//! units with the same ISO-4217 [`Currency`] the engine uses) and the engine converts at the edge.

pub mod limits;
pub mod mpesa;
pub mod payouts;
pub mod router;
pub mod sandbox;
mod secret;
pub mod stripe;
pub mod time;
pub mod trees;
pub mod webhooks;

use std::fmt;

pub use iso_currency::Currency;
pub use router::{PaymentMethodType, Router};
pub use secret::Secret;

/// A payment gateway. Every money-moving call carries an idempotency key: calling twice with the
/// same key must never move money twice, and [`Gateway::retrieve`] finds the attempt by that key.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    /// The name the engine stores on charges and routes by (`sandbox`, `stripe`, …).
    fn name(&self) -> &'static str;

    /// Whether this gateway charges payment methods of this type (cards, unless it says
    /// otherwise).
    fn takes(&self, method: PaymentMethodType) -> bool {
        method == PaymentMethodType::Card
    }

    /// Whether money really moves: `false` for a test processor such as the sandbox, which the
    /// engine picks for a new payment method only when no live gateway takes it.
    fn moves_real_money(&self) -> bool {
        true
    }

    /// Checks a payment-method token and returns the display fields the engine may keep.
    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError>;

    /// Forgets a payment method at the gateway, when its customer is erased, so that it can no
    /// longer be charged there (Stripe: detached from its customer). Gateways that keep nothing
    /// of it (the sandbox, M-Pesa) have nothing to do. One the gateway no longer knows is
    /// forgotten already.
    async fn forget_payment_method(&self, token: &str) -> Result<(), GatewayError> {
        let _ = token;
        Ok(())
    }

    /// Refuses, before anything is recorded or sent, a charge this gateway can never carry out
    /// as asked (M-Pesa: not KES, not whole shillings, not a Kenyan mobile number). The engine
    /// calls it while validating the request, so the client gets a 400 and no charge is kept.
    /// Answers [`GatewayError::InvalidRequest`] or [`GatewayError::InvalidPaymentMethod`].
    fn check_charge(&self, request: &ChargeRequest) -> Result<(), GatewayError> {
        let _ = request;
        Ok(())
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;

    /// Refuses, before anything is recorded or sent, a refund this gateway can never carry out
    /// (M-Pesa: Kassa has no Daraja reversals). The engine calls it while validating the
    /// request, so the client gets a 400 and no refund is kept. Answers
    /// [`GatewayError::InvalidRequest`].
    fn check_refund(&self, request: &RefundRequest) -> Result<(), GatewayError> {
        let _ = request;
        Ok(())
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError>;

    /// Whether a refund goes back to what paid (a card): M-Pesa has no reversals, so its
    /// charges are refunded by paying out to a destination instead.
    fn refunds_to_the_payer(&self) -> bool {
        true
    }

    /// Whether the gateway tells of a payment later by its reference alone (webhooks, callbacks,
    /// a hosted page's return): the engine indexes a charge's reference only for such a gateway.
    /// The sandbox answers every call at once and tells of nothing later.
    fn reports_by_reference(&self) -> bool {
        true
    }

    /// What became of an earlier attempt, looked up by the idempotency key it was made with.
    /// `Ok(None)` must be final — the attempt never moved money and never will — because the
    /// engine then fails it and frees the client's key for a retry. A remote gateway whose
    /// dropped request could still land later must answer `Err(Ambiguous)` until it can be
    /// sure (for example by re-sending the request with the same idempotency key).
    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError>;

    /// The fee the processor kept of the payment it made under `reference` (a charge's
    /// [`ChargeOutcome::Succeeded`] reference), for a payment settled by the processor's
    /// webhook (after 3-D Secure, or made on the processor's hosted page), whose event reports
    /// none: `Ok(None)` where the processor does not say (the
    /// default). Only reads: never sends or re-sends a payment.
    async fn charge_fee(&self, reference: &str) -> Result<Option<PaymentFee>, GatewayError> {
        let _ = reference;
        Ok(None)
    }

    /// What a refund the processor made on its own (`reference`: one made in its dashboard,
    /// reported by its webhook) took from a balance in another currency than the refund's,
    /// where the processor says: `Ok(None)` where it took it in the refund's currency or does
    /// not say (the default). Only reads.
    async fn refund_conversion(&self, reference: &str) -> Result<Option<Conversion>, GatewayError> {
        let _ = reference;
        Ok(None)
    }

    /// A page at the processor where a buyer pays by card, or saves one (Stripe Checkout), for
    /// the gateways that have one. Nothing is charged by the call: the processor's webhook says
    /// when the buyer paid ([`webhooks::EventEffect::HostedPayment`]) or saved the card
    /// ([`webhooks::EventEffect::HostedSetup`]).
    async fn start_hosted_payment(
        &self,
        request: &HostedPaymentRequest,
    ) -> Result<HostedPayment, GatewayError> {
        let _ = request;
        Err(GatewayError::NotAttempted(format!("{} has no hosted payment page", self.name())))
    }

    /// Closes a hosted page opened by [`Gateway::start_hosted_payment`] (`reference` is its
    /// [`HostedPayment::reference`]) before the buyer pays another way, so it can take nothing
    /// more; answers [`HostedClosed::Paid`] when the buyer paid on it first.
    async fn close_hosted_payment(&self, reference: &str) -> Result<HostedClosed, GatewayError> {
        let _ = reference;
        Err(GatewayError::NotAttempted(format!("{} has no hosted payment page", self.name())))
    }
}

/// What closing a hosted page found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostedClosed {
    /// It takes nothing now (closed by this call, or expired before).
    Closed,
    /// The buyer paid (or saved the card) on it: its webhook is on the way.
    Paid,
}

/// What a hosted payment pays, as the processor's webhook names it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostedFor {
    /// A Kassa checkout session (`cs_…`).
    CheckoutSession(String),
    /// A Kassa invoice (`in_…`), paid on its page.
    Invoice(String),
}

/// What a hosted payment page is to take.
#[derive(Debug, Clone)]
pub struct HostedPaymentRequest {
    /// What it pays: the webhook names it.
    pub pays: HostedFor,
    /// The same page for every request with this key (two tabs get one page).
    pub idempotency_key: String,
    pub customer: CustomerRef,
    pub take: HostedTake,
    pub currency: Currency,
    /// What the processor's page names the payment.
    pub description: String,
    /// Where the buyer returns after paying, or giving up.
    pub return_url: String,
    /// When the page stops taking payments (Unix seconds).
    pub expires_at: i64,
}

/// What a hosted page takes from the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostedTake {
    /// A payment of this amount, the card saved for later off-session payments.
    Payment { amount_minor: i64 },
    /// The card alone, saved for off-session payments: what a subscription needs whose first
    /// payment Kassa makes itself (after a trial, or on its first invoice).
    Setup,
}

/// A hosted payment page to send the buyer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedPayment {
    /// The processor's id of the page (a Checkout Session's `cs_…`).
    pub reference: String,
    pub url: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    Charge,
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Charge(ChargeOutcome),
    Refund(RefundOutcome),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodDetails {
    pub card: Option<CardDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDetails {
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Sent to the processor as its idempotency key; Kassa uses the charge id.
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub payment_method_token: String,
    pub description: Option<String>,
    /// The Kassa customer being charged, where the gateway keeps customers of its own (Stripe:
    /// one Stripe customer per Kassa customer, created on the first charge and remembered).
    pub customer: Option<CustomerRef>,
    /// Made by the engine without the customer present (a subscription renewal): the gateway
    /// is told so (Stripe: `off_session`), and the issuer may decline what needs the customer.
    pub off_session: bool,
}

/// Who a charge is for, as the gateway may see it. No payment data: that is the token's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRef {
    /// Unique across the engine (the engine passes `account/customer`): the key under which the
    /// gateway remembers its own customer, and the idempotency key that creates it.
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl CustomerRef {
    /// The engine account in [`CustomerRef::id`] (empty when the id names none): the merchant,
    /// for a processor that keeps merchants apart (the sandbox's ledger).
    pub fn account(&self) -> &str {
        self.id.split_once('/').map_or("", |(account, _)| account)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
        /// What the processor kept of the amount as its fee, in the charge's currency, as it
        /// reported it with the payment: 0 where it reports none (M-Pesa's callback, a
        /// Stripe payment settled by webhook) or reports it in another currency.
        fee_minor: i64,
        /// Set when the processor settled the payment in another currency than it was charged
        /// in: what reached the platform's balance there, and the fee there.
        conversion: Option<Conversion>,
    },
    Declined {
        decline: DeclineCode,
        message: String,
    },
    /// The customer must act before money moves (3-D Secure). The charge becomes
    /// `requires_action`; the front end finishes it with `next_action`, and the gateway's webhook
    /// or a later [`Gateway::retrieve`] tells how it ended.
    RequiresAction {
        reference: String,
        next_action: NextAction,
    },
    /// Accepted by the processor and settled later, by its callback or by [`Gateway::retrieve`]
    /// (M-Pesa STK Push: the reference is the CheckoutRequestID). The charge stays `processing`.
    Pending {
        reference: String,
    },
}

/// A payment the processor settled into another currency than the one it was charged in
/// (shillings taken from a card, credited to the platform's balance in dollars), as its
/// balance transaction reports it: both amounts in `currency`'s minor units, as Kassa counts
/// them. The rate is theirs: `amount_minor` over the charge's amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// What the processor kept of a payment, as it reports it afterwards (see
/// [`Gateway::charge_fee`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentFee {
    /// In the charge's currency; 0 when the payment was settled in another.
    pub fee_minor: i64,
    pub conversion: Option<Conversion>,
}

/// What the platform's front end needs to finish a charge that requires action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextAction {
    /// Stripe's `next_action.type`: `use_stripe_sdk` (finish with stripe.js and the client
    /// secret) or `redirect_to_url` (send the customer to `redirect_url`).
    pub kind: String,
    /// Stripe's PaymentIntent client secret, for stripe.js. Shown to the paying customer's
    /// browser only: never logged, hence [`Secret`].
    pub client_secret: Option<Secret>,
    pub redirect_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// Sent to the processor as its idempotency key; Kassa uses the refund id.
    pub idempotency_key: String,
    /// The engine account refunding: the merchant, for a processor that keeps merchants apart
    /// (the sandbox's ledger finds the charge among the account's own).
    pub account: String,
    /// The processor's reference of the charge being refunded.
    pub charge_reference: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        reference: String,
        /// Set when the processor took the refund from the platform's balance in another
        /// currency than the refund's (its charge was settled into that one): what left the
        /// balance there, at the processor's rate on the day.
        conversion: Option<Conversion>,
    },
    Failed {
        message: String,
    },
    /// Accepted, not yet final (Stripe refunds to some methods stay `pending` for days); the
    /// gateway's webhook or a later [`Gateway::retrieve`] tells how it ended.
    Pending {
        reference: String,
    },
}

/// Why a processor declined a charge: Stripe's decline codes, which API clients already know,
/// and the mobile-money outcomes that cards do not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclineCode {
    GenericDecline,
    InsufficientFunds,
    ExpiredCard,
    IncorrectCvc,
    LostCard,
    StolenCard,
    ProcessingError,
    Fraudulent,
    /// Stripe's `incorrect_pin`; M-Pesa result 2001 (wrong M-Pesa PIN).
    IncorrectPin,
    /// M-Pesa result 1032: the customer dismissed the STK prompt.
    CustomerCancelled,
    /// M-Pesa result 1037: the phone could not be reached, or the prompt timed out.
    CustomerUnreachable,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::GenericDecline => "generic_decline",
            DeclineCode::InsufficientFunds => "insufficient_funds",
            DeclineCode::ExpiredCard => "expired_card",
            DeclineCode::IncorrectCvc => "incorrect_cvc",
            DeclineCode::LostCard => "lost_card",
            DeclineCode::StolenCard => "stolen_card",
            DeclineCode::ProcessingError => "processing_error",
            DeclineCode::Fraudulent => "fraudulent",
            DeclineCode::IncorrectPin => "incorrect_pin",
            DeclineCode::CustomerCancelled => "customer_cancelled",
            DeclineCode::CustomerUnreachable => "customer_unreachable",
        }
    }

    pub fn parse(code: &str) -> Option<DeclineCode> {
        [
            DeclineCode::GenericDecline,
            DeclineCode::InsufficientFunds,
            DeclineCode::ExpiredCard,
            DeclineCode::IncorrectCvc,
            DeclineCode::LostCard,
            DeclineCode::StolenCard,
            DeclineCode::ProcessingError,
            DeclineCode::Fraudulent,
            DeclineCode::IncorrectPin,
            DeclineCode::CustomerCancelled,
            DeclineCode::CustomerUnreachable,
        ]
        .into_iter()
        .find(|decline| decline.as_str() == code)
    }
}

impl fmt::Display for DeclineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gateway call that did not produce an outcome. Which variant it is decides what the engine may
/// do next: [`GatewayError::NotAttempted`] and [`GatewayError::InvalidRequest`] prove that no
/// money moved, and only `NotAttempted` (with `Ambiguous`) says the gateway is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request never reached the processor, or the processor could not take it: connection
    /// refused, DNS, rate limited past the retries. Nothing moved: safe to fail the charge or try
    /// another gateway, and it counts against the gateway's circuit breaker.
    #[error("the gateway refused the request: {0}")]
    NotAttempted(String),
    /// The request may or may not have been acted on (timeout, 5xx, broken connection). The
    /// charge stays `processing` until `retrieve` settles it.
    #[error("the gateway's answer is unknown: {0}")]
    Ambiguous(String),
    /// The payment-method token is not one this gateway knows.
    #[error("invalid payment method: {0}")]
    InvalidPaymentMethod(String),
    /// The request can never be carried out by this gateway as asked: refused before it was
    /// sent (an amount it cannot express, a currency it does not take: a 400 for the client),
    /// or answered by the processor with a refusal before acting on it (Stripe's 4xx
    /// `invalid_request_error`, Daraja's 400 for a number it will not prompt). Nothing moved, so
    /// the router may try another gateway; the gateway itself is working, so it never counts
    /// against its circuit breaker.
    #[error("invalid request for this gateway: {0}")]
    InvalidRequest(String),
    /// The gateway's own storage failed.
    #[error("gateway storage failed: {0}")]
    Storage(String),
}
