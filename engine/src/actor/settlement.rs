//! What a gateway's answer means for a charge or refund, in the engine's terms. Shared by the
//! live flows (the answer to our call) and recovery (the answer to `retrieve`).

use std::future::Future;
use std::time::Duration;

use kassa_gateways::{Attempt, ChargeOutcome, GatewayError, RefundOutcome};

use crate::domain::{ClientSecret, Conversion, Failure, NextAction};

#[derive(Clone)]
pub(crate) enum Settlement {
    /// Money moved; the gateway's reference for it, and what it kept of a charge as its fee
    /// (0 for refunds and payouts: processors keep none of those), or how it settled a charge
    /// into another currency.
    Succeeded { reference: String, fee_minor: i64, conversion: Option<Conversion> },
    /// The customer must authenticate before money moves (3-D Secure): the charge becomes
    /// `requires_action` and is settled later by the gateway (asked again, or its webhook).
    RequiresAction { reference: String, next_action: NextAction },
    /// Accepted, settled later by the gateway's callback or a lookup (M-Pesa STK Push): the
    /// charge stays `processing`, now with the gateway's reference.
    Pending { reference: String },
    /// The gateway answered and no money moved (a decline, a refusal).
    Failed(Failure),
    /// Provably nothing moved — the gateway refused before acting, or has no record of the
    /// attempt — so the object fails and the client's Idempotency-Key is freed for a retry.
    NeverReached(Failure),
    /// No answer we can act on (timeout, 5xx): the object stays unsettled until asked again.
    Unknown(String),
}

/// A gateway call on a task of its own, bounded by `timeout`: a panic in a gateway client becomes
/// an unknown outcome (settled later by asking the gateway) instead of taking the customer's
/// actor down with the message it was answering. (Each gateway times its own calls: see
/// `gateways::metered`.)
///
/// When `timeout` fires the engine stops waiting, but the call is NOT cancelled: it runs to its
/// end in the background. Cancelling it midway could lose what the gateway already did — an STK
/// Push that Daraja accepted but whose CheckoutRequestID the adapter had not written down yet,
/// so that Safaricom's callback would name a push nobody knows. The outcome stays unknown here
/// and is asked about later, as after any timeout.
pub(super) async fn contained<T: Send + 'static>(
    timeout: Duration,
    future: impl Future<Output = Result<T, GatewayError>> + Send + 'static,
) -> Result<Result<T, GatewayError>, tokio::time::error::Elapsed> {
    let task = tokio::spawn(future);
    // On timeout the JoinHandle is dropped, which detaches the task: it is not aborted.
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(failed)) => {
            Ok(Err(GatewayError::Ambiguous(format!("the gateway call failed: {failed}"))))
        }
        Err(elapsed) => Err(elapsed),
    }
}

fn failure(code: &str, message: impl Into<String>) -> Failure {
    Failure { code: code.to_owned(), message: message.into() }
}

fn gateway_error(error: GatewayError) -> Settlement {
    match error {
        // Nothing moved: the charge fails, and its Idempotency-Key is freed so that the
        // client's retry with it is carried out (at this or, later, another gateway).
        GatewayError::NotAttempted(message) => {
            Settlement::NeverReached(failure("gateway_unavailable", message))
        }
        GatewayError::InvalidPaymentMethod(message) => {
            Settlement::Failed(failure("payment_method_invalid", message))
        }
        GatewayError::InvalidRequest(message) => {
            Settlement::Failed(failure("validation_error", message))
        }
        GatewayError::Ambiguous(message) | GatewayError::Storage(message) => {
            Settlement::Unknown(message)
        }
    }
}

pub(crate) fn charge_answer(
    answer: Result<Result<ChargeOutcome, GatewayError>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Settlement {
    match answer {
        Err(_) => Settlement::Unknown(format!("no answer from the gateway within {timeout:?}")),
        Ok(Ok(outcome)) => charge_settlement(outcome),
        Ok(Err(error)) => gateway_error(error),
    }
}

/// A gateway's report of a payment settled into another currency, as the charge keeps it.
pub(crate) fn converted(conversion: kassa_gateways::Conversion) -> Conversion {
    let kassa_gateways::Conversion { currency, amount_minor, fee_minor } = conversion;
    Conversion { currency, amount_minor, fee_minor }
}

/// What a gateway's charge outcome means for the charge; also how a gateway's callback (M-Pesa)
/// settles one.
pub(crate) fn charge_settlement(outcome: ChargeOutcome) -> Settlement {
    match outcome {
        ChargeOutcome::Succeeded { reference, fee_minor, conversion } => {
            Settlement::Succeeded { reference, fee_minor, conversion: conversion.map(converted) }
        }
        ChargeOutcome::Declined { decline, message } => {
            Settlement::Failed(failure(decline.as_str(), message))
        }
        ChargeOutcome::RequiresAction { reference, next_action } => Settlement::RequiresAction {
            reference,
            next_action: NextAction {
                kind: next_action.kind,
                redirect_url: next_action.redirect_url,
                client_secret: next_action
                    .client_secret
                    .map(|secret| ClientSecret(secret.expose().to_owned())),
            },
        },
        ChargeOutcome::Pending { reference } => Settlement::Pending { reference },
    }
}

pub(super) fn refund_answer(
    answer: Result<Result<RefundOutcome, GatewayError>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Settlement {
    match answer {
        Err(_) => Settlement::Unknown(format!("no answer from the gateway within {timeout:?}")),
        Ok(Ok(outcome)) => refund_outcome(outcome),
        Ok(Err(error)) => gateway_error(error),
    }
}

fn refund_outcome(outcome: RefundOutcome) -> Settlement {
    match outcome {
        RefundOutcome::Succeeded { reference, conversion } => {
            Settlement::Succeeded { reference, fee_minor: 0, conversion: conversion.map(converted) }
        }
        RefundOutcome::Failed { message } => Settlement::Failed(failure("refund_failed", message)),
        RefundOutcome::Pending { reference } => {
            Settlement::Unknown(format!("refund {reference} is pending at the gateway"))
        }
    }
}

/// What `retrieve` tells about an attempt recorded before a crash or a timeout.
pub(super) fn retrieved(
    answer: Result<Result<Option<Attempt>, GatewayError>, tokio::time::error::Elapsed>,
) -> Settlement {
    match answer {
        Err(_) => Settlement::Unknown("the gateway did not answer the lookup in time".into()),
        Ok(Err(error)) => Settlement::Unknown(error.to_string()),
        Ok(Ok(None)) => Settlement::NeverReached(failure(
            "processing_error",
            "interrupted before it reached the gateway; nothing was charged or refunded",
        )),
        Ok(Ok(Some(Attempt::Charge(outcome)))) => charge_settlement(outcome),
        Ok(Ok(Some(Attempt::Refund(outcome)))) => refund_outcome(outcome),
    }
}
