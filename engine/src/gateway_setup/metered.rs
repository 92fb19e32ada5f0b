//! A gateway that times every call of the gateway it wraps, by gateway, operation and outcome
//! (`kassa_gateway_call_duration_seconds`). Wrapping the gateways themselves, rather than the
//! engine's call sites, counts each attempt of a failover and each call the router makes.

use std::sync::Arc;
use std::time::Instant;

use kassa_gateways::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Conversion, Gateway, GatewayError,
    HostedClosed, HostedPayment, HostedPaymentRequest, PaymentFee, PaymentMethodDetails,
    PaymentMethodType, RefundOutcome, RefundRequest,
};

pub struct Metered(Arc<dyn Gateway>);

impl Metered {
    pub fn new(gateway: Arc<dyn Gateway>) -> Metered {
        Metered(gateway)
    }
}

/// Records the call when dropped: a call that never finished (the process stopping mid-call) is
/// recorded too, as `abandoned`. A call the engine stopped waiting for is not dropped: it runs to
/// its end in the background and is recorded with its real outcome.
struct CallTimer {
    gateway: &'static str,
    operation: &'static str,
    started: Instant,
    outcome: &'static str,
}

impl CallTimer {
    fn start(gateway: &'static str, operation: &'static str) -> CallTimer {
        CallTimer { gateway, operation, started: Instant::now(), outcome: "abandoned" }
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        crate::metrics::global().observe_gateway_call(
            self.gateway,
            self.operation,
            self.outcome,
            self.started.elapsed(),
        );
    }
}

fn error_outcome(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::NotAttempted(_) => "refused",
        GatewayError::Ambiguous(_) => "unknown",
        GatewayError::InvalidPaymentMethod(_) | GatewayError::InvalidRequest(_) => "invalid",
        GatewayError::Storage(_) => "storage_error",
    }
}

fn charge_outcome_label(outcome: &ChargeOutcome) -> &'static str {
    match outcome {
        ChargeOutcome::Succeeded { .. } => "succeeded",
        ChargeOutcome::Declined { .. } => "declined",
        ChargeOutcome::RequiresAction { .. } => "requires_action",
        ChargeOutcome::Pending { .. } => "pending",
    }
}

fn refund_outcome_label(outcome: &RefundOutcome) -> &'static str {
    match outcome {
        RefundOutcome::Succeeded { .. } => "succeeded",
        RefundOutcome::Failed { .. } => "failed",
        RefundOutcome::Pending { .. } => "pending",
    }
}

fn retrieve_outcome(found: &Option<Attempt>) -> &'static str {
    match found {
        None => "not_found",
        Some(Attempt::Charge(outcome)) => charge_outcome_label(outcome),
        Some(Attempt::Refund(outcome)) => refund_outcome_label(outcome),
    }
}

fn record<T>(
    mut timer: CallTimer,
    answer: Result<T, GatewayError>,
    outcome: fn(&T) -> &'static str,
) -> Result<T, GatewayError> {
    timer.outcome = match &answer {
        Ok(value) => outcome(value),
        Err(error) => error_outcome(error),
    };
    answer
}

#[async_trait::async_trait]
impl Gateway for Metered {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn takes(&self, method: PaymentMethodType) -> bool {
        self.0.takes(method)
    }

    fn moves_real_money(&self) -> bool {
        self.0.moves_real_money()
    }

    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError> {
        let timer = CallTimer::start(self.name(), "describe");
        record(timer, self.0.describe_payment_method(token).await, |_| "described")
    }

    async fn forget_payment_method(&self, token: &str) -> Result<(), GatewayError> {
        let timer = CallTimer::start(self.name(), "forget");
        record(timer, self.0.forget_payment_method(token).await, |_| "forgotten")
    }

    fn check_charge(&self, request: &ChargeRequest) -> Result<(), GatewayError> {
        self.0.check_charge(request)
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let timer = CallTimer::start(self.name(), "charge");
        record(timer, self.0.charge(request).await, charge_outcome_label)
    }

    fn check_refund(&self, request: &RefundRequest) -> Result<(), GatewayError> {
        self.0.check_refund(request)
    }

    fn refunds_to_the_payer(&self) -> bool {
        self.0.refunds_to_the_payer()
    }

    fn reports_by_reference(&self) -> bool {
        self.0.reports_by_reference()
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        let timer = CallTimer::start(self.name(), "refund");
        record(timer, self.0.refund(request).await, refund_outcome_label)
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        let timer = CallTimer::start(self.name(), "retrieve");
        record(timer, self.0.retrieve(kind, idempotency_key).await, retrieve_outcome)
    }

    async fn charge_fee(&self, reference: &str) -> Result<Option<PaymentFee>, GatewayError> {
        let timer = CallTimer::start(self.name(), "charge_fee");
        record(timer, self.0.charge_fee(reference).await, |fee| match fee {
            Some(_) => "reported",
            None => "none",
        })
    }

    async fn refund_conversion(&self, reference: &str) -> Result<Option<Conversion>, GatewayError> {
        let timer = CallTimer::start(self.name(), "refund_conversion");
        record(timer, self.0.refund_conversion(reference).await, |conversion| match conversion {
            Some(_) => "converted",
            None => "none",
        })
    }

    async fn start_hosted_payment(
        &self,
        request: &HostedPaymentRequest,
    ) -> Result<HostedPayment, GatewayError> {
        let timer = CallTimer::start(self.name(), "hosted_payment");
        record(timer, self.0.start_hosted_payment(request).await, |_| "opened")
    }

    async fn close_hosted_payment(&self, reference: &str) -> Result<HostedClosed, GatewayError> {
        let timer = CallTimer::start(self.name(), "close_hosted_payment");
        record(timer, self.0.close_hosted_payment(reference).await, |closed| match closed {
            HostedClosed::Closed => "closed",
            HostedClosed::Paid => "paid",
        })
    }
}
