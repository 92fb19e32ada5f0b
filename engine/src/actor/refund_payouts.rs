//! Where a refund's money goes. A card payment's refund goes back through its gateway. A
//! charge with nothing to go back to — paid by bank transfer, or by M-Pesa (no reversals) —
//! is refunded by paying the money out to a destination the request names, through the payout
//! adapter that pays it (the same ones payees are paid by; the refund's id is the payment's
//! idempotency key), or is recorded as paid back by the platform itself (`settled_outside`).
//! Only the destination's kind and last four digits are kept on the refund.

use std::future::Future;
use std::sync::Arc;

use actix::{Context, Handler};
use kassa_gateways::payouts::{PayoutAdapter, PayoutDestination, PayoutOutcome, PayoutRequest};
use kassa_gateways::{Gateway, GatewayError, RefundRequest};

use super::messages::{RefundPaidOut, RefundPayOut};
use super::settlement::{Settlement, contained};
use super::{ActorError, CustomerActor, Durably, Services};
use crate::domain::{Cause, Charge, Failure, PaidOut, Refund};

/// The reference a refund settled outside Kassa is recorded with.
pub(super) const SETTLED_OUTSIDE: &str = "settled_outside";

/// How a refund is decided to be carried out, before its amount is known.
pub(super) enum RefundRoute {
    Gateway(Arc<dyn Gateway>),
    PayOut(PayoutDestination),
    Outside,
}

/// How a recorded refund is carried out.
pub(super) enum RefundChannel {
    Gateway { gateway: Arc<dyn Gateway>, request: RefundRequest },
    Payout { adapter: Arc<dyn PayoutAdapter>, request: PayoutRequest },
    Outside,
}

impl CustomerActor {
    /// The route of a refund of `charge`: back through its gateway when it took a card, else
    /// as `pay_out` says (required then, refused otherwise).
    pub(super) fn refund_route(
        &self,
        charge: &Charge,
        pay_out: Option<&RefundPayOut>,
        by_credit_note: bool,
    ) -> Result<RefundRoute, ActorError> {
        let gateway = match charge.bank_transfer {
            Some(_) => None,
            None => Some(
                self.services
                    .gateways
                    .by_name(&charge.gateway)
                    .map_err(|error| ActorError::Unavailable(error.to_string()))?
                    .clone(),
            ),
        };
        let paid_by = match &gateway {
            None => Some("bank transfer"),
            Some(gateway) if !gateway.refunds_to_the_payer() => Some("M-Pesa"),
            Some(_) => None,
        };
        match (gateway, paid_by, pay_out) {
            (Some(gateway), None, None) => Ok(RefundRoute::Gateway(gateway)),
            (_, None, Some(_)) => Err(ActorError::invalid(
                "validation_error",
                Some("destination"),
                format!(
                    "charge {} goes back to the card that paid it: `destination` and \
                     `settled_outside` are for charges paid by bank transfer or M-Pesa",
                    charge.id
                ),
            )),
            // A credit note names no destination: it records money given back outside.
            (_, Some(paid_by), None) if by_credit_note => Err(ActorError::invalid(
                "validation_error",
                Some("charge"),
                format!(
                    "charge {} was paid by {paid_by}: give it back with a refund naming a \
                     `destination`, or record what was paid back outside with the credit note's \
                     `out_of_band_amount`",
                    charge.id
                ),
            )),
            (_, Some(paid_by), None) => Err(ActorError::invalid(
                "validation_error",
                Some("destination"),
                format!(
                    "charge {} was paid by {paid_by}: there is no card to give it back to; \
                     name a `destination` to pay it out to, or `settled_outside: true` for a \
                     refund the platform paid back itself",
                    charge.id
                ),
            )),
            (_, Some(_), Some(RefundPayOut::To(destination))) => {
                Ok(RefundRoute::PayOut(destination.clone()))
            }
            (_, Some(_), Some(RefundPayOut::SettledOutside)) => Ok(RefundRoute::Outside),
            (None, None, None) => unreachable!("a charge without a gateway is a bank transfer"),
        }
    }

    /// The channel that carries out `refund` of `charge` by `route`; sets where the refund is
    /// paid out, and by which adapter (its `gateway`, whose clearing account it leaves).
    pub(super) fn refund_channel(
        &self,
        route: RefundRoute,
        charge: &Charge,
        refund: &mut Refund,
    ) -> Result<RefundChannel, ActorError> {
        match route {
            RefundRoute::Gateway(gateway) => {
                let charge_reference = charge.gateway_reference.clone().ok_or_else(|| {
                    ActorError::Store(crate::store::StoreError::Corrupt(format!(
                        "succeeded charge {} has no reference",
                        charge.id
                    )))
                })?;
                let request = RefundRequest {
                    idempotency_key: refund.gateway_idempotency_key().to_owned(),
                    account: self.key.account.as_str().to_owned(),
                    charge_reference,
                    amount_minor: refund.amount.amount_minor,
                    currency: refund.amount.currency,
                };
                gateway.check_refund(&request).map_err(refused_up_front("charge"))?;
                // Last, so that a half-open breaker's one probe goes to a refund that is really
                // sent (the call's answer is fed back to the breaker in the handler).
                if !self.services.gateways.breaker_allows(&charge.gateway) {
                    return Err(ActorError::Unavailable(format!(
                        "gateway {} is unavailable (its circuit breaker is open); try again later",
                        charge.gateway
                    )));
                }
                Ok(RefundChannel::Gateway { gateway, request })
            }
            RefundRoute::PayOut(destination) => {
                let description = format!("Refund {} of {}", refund.id, charge.id);
                self.payout_channel(destination, description, refund)
            }
            RefundRoute::Outside => {
                refund.paid_out = Some(PaidOut::Outside);
                Ok(RefundChannel::Outside)
            }
        }
    }

    /// The channel that pays `refund` out to `destination`; sets where it is paid out, and by
    /// which adapter (its `gateway`, whose clearing account it leaves).
    pub(super) fn payout_channel(
        &self,
        destination: PayoutDestination,
        description: String,
        refund: &mut Refund,
    ) -> Result<RefundChannel, ActorError> {
        let paid_out = paid_out(&destination).ok_or_else(|| {
            ActorError::invalid(
                "validation_error",
                Some("destination"),
                "a refund is paid to a bank account or an M-Pesa phone",
            )
        })?;
        let adapter = self.refund_adapter(&destination)?;
        let request = PayoutRequest {
            idempotency_key: refund.gateway_idempotency_key().to_owned(),
            account: self.key.account.as_str().to_owned(),
            amount_minor: refund.amount.amount_minor,
            currency: refund.amount.currency,
            destination,
            description,
        };
        check_payable(adapter.as_ref(), &request)?;
        refund.gateway = adapter.method().to_owned();
        refund.paid_out = Some(paid_out);
        Ok(RefundChannel::Payout { adapter, request })
    }

    /// The adapter that pays `destination`: a live one that does, else the sandbox.
    fn refund_adapter(
        &self,
        destination: &PayoutDestination,
    ) -> Result<Arc<dyn PayoutAdapter>, ActorError> {
        let adapters = &self.services.payout_adapters;
        let pays = |adapter: &&Arc<dyn PayoutAdapter>| adapter.pays_to(destination);
        let live = adapters
            .iter()
            .filter(|adapter| adapter.method() != kassa_gateways::sandbox::NAME)
            .find(pays);
        live.or_else(|| adapters.iter().find(pays)).cloned().ok_or_else(|| {
            ActorError::invalid(
                "validation_error",
                Some("destination"),
                "no payout adapter of this engine pays to such a destination",
            )
        })
    }
}

/// A refund is paid out whole, in one payment: one the adapter cannot carry as asked (a
/// currency the destination does not take, more than one payment carries, a part of a shilling
/// to M-Pesa) is refused before anything is recorded.
fn check_payable(adapter: &dyn PayoutAdapter, request: &PayoutRequest) -> Result<(), ActorError> {
    let (destination, currency, amount) =
        (&request.destination, request.currency, request.amount_minor);
    if let Some(max) = adapter.transaction_max(destination, currency)
        && amount > max
    {
        return Err(ActorError::invalid(
            "validation_error",
            Some("amount"),
            format!("one payment to this destination carries at most {max}; refund in parts"),
        ));
    }
    if adapter.payable(destination, currency, amount) != amount {
        return Err(ActorError::invalid(
            "validation_error",
            Some("amount"),
            format!("{} pays whole units of the currency only", adapter.method()),
        ));
    }
    adapter.check_payout(request).map_err(refused_up_front("destination"))
}

/// What the refund keeps of where it was paid; `None` for a destination refunds are not paid to.
fn paid_out(destination: &PayoutDestination) -> Option<PaidOut> {
    let last4 = |digits: &str| {
        let digits: Vec<char> = digits.chars().filter(char::is_ascii_digit).collect();
        digits[digits.len().saturating_sub(4)..].iter().collect()
    };
    match destination {
        PayoutDestination::BankAccount { account_number, .. } => {
            Some(PaidOut::BankAccount { last4: last4(account_number) })
        }
        PayoutDestination::Mpesa { phone } => Some(PaidOut::Mpesa { last4: last4(phone) }),
        PayoutDestination::Stripe { .. } => None,
    }
}

/// What a payout adapter said of a refund's payment, as a settlement: paid is succeeded, a
/// failure (or a return) is failed, anything not known leaves it pending for the adapter's
/// result or status query.
pub(super) fn paid_out_answer(
    answer: Result<Result<PayoutOutcome, GatewayError>, tokio::time::error::Elapsed>,
) -> Settlement {
    match answer {
        Err(_) => Settlement::Unknown("no answer from the payout adapter in time".into()),
        // A refund's payment is never to a Stripe transfer, the one kind that comes back in
        // part; had it, the refund was paid all the same.
        Ok(Ok(
            PayoutOutcome::Paid { reference } | PayoutOutcome::PartlyReturned { reference, .. },
        )) => Settlement::Succeeded { reference, fee_minor: 0, conversion: None },
        Ok(Ok(PayoutOutcome::InTransit { reference })) => {
            Settlement::Unknown(format!("paid out as {reference}, its result not yet known"))
        }
        Ok(Ok(
            PayoutOutcome::Failed { code, message } | PayoutOutcome::Returned { code, message },
        )) => Settlement::Failed(Failure { code, message }),
        Ok(Err(GatewayError::NotAttempted(message))) => {
            Settlement::NeverReached(Failure { code: "payout_not_sent".into(), message })
        }
        Ok(Err(GatewayError::InvalidRequest(message))) => {
            Settlement::Failed(Failure { code: "could_not_process".into(), message })
        }
        Ok(Err(error)) => Settlement::Unknown(error.to_string()),
    }
}

/// What became of a refund paid out whose answer was not known: the adapter that paid it is
/// asked by the refund's key (the status query reads nothing else of the request); one it never
/// received was never paid, and fails. One settled outside was settled when it was recorded.
pub(super) fn paid_out_status(
    services: &Services,
    refund: &Refund,
    paid_out: &PaidOut,
) -> impl Future<Output = Settlement> + use<> {
    let adapter =
        services.payout_adapters.iter().find(|adapter| adapter.method() == refund.gateway).cloned();
    let destination = match paid_out {
        PaidOut::BankAccount { last4 } => Some(PayoutDestination::BankAccount {
            account_holder: String::new(),
            bank_code: String::new(),
            account_number: last4.clone(),
        }),
        PaidOut::Mpesa { last4 } => Some(PayoutDestination::Mpesa { phone: last4.clone() }),
        PaidOut::Outside => None,
    };
    let request = destination.map(|destination| PayoutRequest {
        idempotency_key: refund.gateway_idempotency_key().to_owned(),
        account: String::new(),
        amount_minor: refund.amount.amount_minor,
        currency: refund.amount.currency,
        destination,
        description: String::new(),
    });
    let timeout = services.gateway_timeout;
    async move {
        let (Some(adapter), Some(request)) = (adapter, request) else {
            return Settlement::Succeeded {
                reference: SETTLED_OUTSIDE.to_owned(),
                fee_minor: 0,
                conversion: None,
            };
        };
        let asked = contained(timeout, async move { adapter.payout_status(&request).await });
        match asked.await {
            Ok(Ok(None)) => Settlement::NeverReached(Failure {
                code: "payout_not_sent".into(),
                message: "the refund's payout never reached its adapter".into(),
            }),
            Ok(Ok(Some(outcome))) => paid_out_answer(Ok(Ok(outcome))),
            Ok(Err(error)) => paid_out_answer(Ok(Err(error))),
            Err(elapsed) => paid_out_answer(Err(elapsed)),
        }
    }
}

/// A refusal before anything is recorded: a 400 naming `param`, or a 503 where the adapter or
/// gateway could not be asked.
fn refused_up_front(param: &'static str) -> impl Fn(GatewayError) -> ActorError {
    move |error| match error {
        GatewayError::InvalidRequest(message) | GatewayError::InvalidPaymentMethod(message) => {
            ActorError::invalid("validation_error", Some(param), message)
        }
        GatewayError::NotAttempted(message)
        | GatewayError::Ambiguous(message)
        | GatewayError::Storage(message) => ActorError::Unavailable(message),
    }
}

impl Handler<RefundPaidOut> for CustomerActor {
    type Result = Result<Durably<String>, ActorError>;

    /// A refund's payout result, posted back by its adapter (M-Pesa B2C's result callback):
    /// settles the refund if it is still pending; a repeated result changes nothing.
    fn handle(&mut self, message: RefundPaidOut, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let settlement = paid_out_answer(Ok(Ok(message.outcome)));
        let cause = Cause::system("payout_result");
        let (refund, durable) = self.settle_refund(&message.refund, settlement, &cause)?;
        let text = format!("applied: refund {} {}", refund.id, refund.status.as_str());
        Ok(Box::pin(async move {
            if let Some(durable) = durable {
                durable.wait().await?;
            }
            Ok(text)
        }))
    }
}
