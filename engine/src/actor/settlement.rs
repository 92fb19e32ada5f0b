//! What a gateway's answer means for a charge or refund, in the engine's terms. Shared by the
//! live flows (the answer to our call) and recovery (the answer to `retrieve`).

use std::time::Duration;

use kassa_gateways::{Attempt, ChargeOutcome, GatewayError, RefundOutcome};

use crate::domain::Failure;

pub(super) enum Settlement {
    /// Money moved; the gateway's reference for it.
    Succeeded { reference: String },
    /// The gateway answered and no money moved (a decline, a refusal).
    Failed(Failure),
    /// The gateway has no record of the attempt: it never reached it, so nothing moved and the
    /// client's Idempotency-Key is freed for a retry.
    NeverReached(Failure),
    /// No answer we can act on (timeout, 5xx): the object stays unsettled until asked again.
    Unknown(String),
}

fn failure(code: &str, message: impl Into<String>) -> Failure {
    Failure { code: code.to_owned(), message: message.into() }
}

fn gateway_error(error: GatewayError) -> Settlement {
    match error {
        GatewayError::NotAttempted(message) => {
            Settlement::Failed(failure("gateway_unavailable", message))
        }
        GatewayError::InvalidPaymentMethod(message) => {
            Settlement::Failed(failure("payment_method_invalid", message))
        }
        GatewayError::Ambiguous(message) | GatewayError::Storage(message) => {
            Settlement::Unknown(message)
        }
    }
}

pub(super) fn charge_answer(
    answer: Result<Result<ChargeOutcome, GatewayError>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Settlement {
    match answer {
        Err(_) => Settlement::Unknown(format!("no answer from the gateway within {timeout:?}")),
        Ok(Ok(outcome)) => charge_outcome(outcome),
        Ok(Err(error)) => gateway_error(error),
    }
}

fn charge_outcome(outcome: ChargeOutcome) -> Settlement {
    match outcome {
        ChargeOutcome::Succeeded { reference } => Settlement::Succeeded { reference },
        ChargeOutcome::Declined { decline, message } => {
            Settlement::Failed(failure(decline.as_str(), message))
        }
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
        RefundOutcome::Succeeded { reference } => Settlement::Succeeded { reference },
        RefundOutcome::Failed { message } => Settlement::Failed(failure("refund_failed", message)),
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
        Ok(Ok(Some(Attempt::Charge(outcome)))) => charge_outcome(outcome),
        Ok(Ok(Some(Attempt::Refund(outcome)))) => refund_outcome(outcome),
    }
}
