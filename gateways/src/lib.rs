//! Kassa's payment gateways.
//!
//! - [`Gateway`]: what the engine asks of a processor — describe a payment-method token, charge,
//!   refund, and retrieve an earlier attempt by the gateway idempotency key it was made with.
//! - [`sandbox`]: the built-in processor with its own durable ledger, for development and tests.
//!
//! This crate never imports the engine: it owns its request and outcome types (amounts in minor
//! units with the same ISO-4217 [`Currency`] the engine uses) and the engine converts at the edge.

pub mod router;
pub mod sandbox;

use std::fmt;

pub use iso_currency::Currency;
pub use router::Router;

/// A payment gateway. Every money-moving call carries an idempotency key: calling twice with the
/// same key must never move money twice, and [`Gateway::retrieve`] finds the attempt by that key.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    /// The name the engine stores on charges and routes by (`sandbox`, `stripe`, …).
    fn name(&self) -> &'static str;

    /// Checks a payment-method token and returns the display fields the engine may keep.
    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError>;

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError>;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded { reference: String },
    Declined { decline: DeclineCode, message: String },
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// Sent to the processor as its idempotency key; Kassa uses the refund id.
    pub idempotency_key: String,
    /// The processor's reference of the charge being refunded.
    pub charge_reference: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded { reference: String },
    Failed { message: String },
}

/// Why a processor declined a charge: Stripe's decline codes, which API clients already know.
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
/// do next: only [`GatewayError::NotAttempted`] proves that no money moved.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The processor refused the request before acting on it (bad token, connection refused,
    /// a 4xx that says so). Safe to fail the charge or try another gateway.
    #[error("the gateway refused the request: {0}")]
    NotAttempted(String),
    /// The request may or may not have been acted on (timeout, 5xx, broken connection). The
    /// charge stays `processing` until `retrieve` settles it.
    #[error("the gateway's answer is unknown: {0}")]
    Ambiguous(String),
    /// The payment-method token is not one this gateway knows.
    #[error("invalid payment method: {0}")]
    InvalidPaymentMethod(String),
    /// The gateway's own storage failed.
    #[error("gateway storage failed: {0}")]
    Storage(String),
}
