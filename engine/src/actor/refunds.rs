//! The refund flow, shaped like the charge flow: record `pending` (reserving the amount against
//! the charge) → ask the gateway outside the actor's turn → settle back inside it.
//!
//! Reservations make concurrent refunds safe: each one counts against the charge from the moment
//! it is recorded, so no mix of answers can refund more than was captured.
//!
//! Before anything is recorded, the charge's gateway may refuse a refund it can never carry out
//! (M-Pesa has no reversals in Kassa: a 400), and an open circuit breaker refuses it as
//! unavailable (a 503): a refund that cannot be sent is not kept as `failed`.

use std::sync::Arc;

use actix::{Context, Handler, ResponseActFuture, WrapFuture, fut};
use kassa_gateways::GatewayError;

use super::customer::settle_after;
use super::messages::{CreateRefund, IdempotencyTicket};
use super::refund_payouts::{RefundChannel, SETTLED_OUTSIDE, paid_out_answer};
use super::settlement::{Settlement, contained, refund_answer};
use super::{ActorError, CustomerActor};
use crate::domain::time::now_unix_secs;
use crate::domain::{Cause, ChargeStatus, Event, EventKind, Money, Refund, RefundId, RefundStatus};
use crate::store::{ChangeSet, DurableTicket, InFlightObject, Outcome, Unsettled, Write};

pub(super) struct StartedRefund {
    pub(super) refund: Refund,
    pub(super) recorded: DurableTicket,
    pub(super) channel: RefundChannel,
}

impl CustomerActor {
    /// Records refund `id` as `message` asks, together with `changes` (a credit note the refund
    /// pays back, when one does), reserving its amount against the charge.
    pub(super) fn begin_refund(
        &mut self,
        message: CreateRefund,
        id: RefundId,
        changes: ChangeSet,
    ) -> Result<StartedRefund, ActorError> {
        let not_found = || ActorError::NotFound { kind: "charge", id: message.charge.to_string() };
        let charge = self
            .services
            .store
            .charge(&self.key.account, &message.charge)?
            .ok_or_else(not_found)?;
        if charge.customer != self.key.customer {
            return Err(not_found());
        }
        let refundable = match charge.status {
            ChargeStatus::Succeeded => charge.refundable_minor(),
            ChargeStatus::Processing | ChargeStatus::RequiresAction => {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("charge"),
                    format!(
                        "charge {} is still {}; refund it once it has succeeded",
                        charge.id,
                        charge.status.as_str()
                    ),
                ));
            }
            ChargeStatus::Failed => {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("charge"),
                    format!("charge {} failed; nothing was captured to refund", charge.id),
                ));
            }
        };
        let by_credit_note = message.credit_note.is_some();
        let route = self.refund_route(&charge, message.pay_out.as_ref(), by_credit_note)?;
        let state = self.accepting()?;
        let pending = state.refunds_pending.get(&charge.id).copied().unwrap_or(0);
        let left = refundable - pending;
        if left <= 0 {
            return Err(ActorError::AlreadyRefunded(charge.id.to_string()));
        }
        let amount_minor = message.amount_minor.unwrap_or(left);
        if amount_minor > left {
            return Err(ActorError::AmountTooLarge { left });
        }
        if let Some(invoice) = charge.invoice.as_ref().filter(|_| message.credit_note.is_none()) {
            // Credit notes may have given the invoice back already (to the balance, say):
            // money goes back once. Refunds under way count against it too.
            let creditable = self.invoice_left_to_credit(invoice)? - pending;
            if amount_minor > creditable {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("amount"),
                    format!(
                        "charge {} paid invoice {invoice}, of which {creditable} is left to give \
                         back: its credit notes gave back the rest",
                        charge.id
                    ),
                ));
            }
        }
        let mut refund = Refund {
            id,
            charge: Some(charge.id.clone()),
            customer: charge.customer.clone(),
            amount: Money { amount_minor, currency: charge.amount.currency },
            status: RefundStatus::Pending,
            reason: message.reason,
            gateway: charge.gateway.clone(),
            gateway_reference: None,
            failure_message: None,
            created: now_unix_secs(),
            idempotency_key: message.idempotency.as_ref().map(|ticket| ticket.key.clone()),
            credit_note: message.credit_note.clone(),
            reverse_transfer: message.reverse_transfer,
            transfer_reversed_minor: 0,
            paid_out: None,
            conversion: None,
        };
        let channel = self.refund_channel(route, &charge, &mut refund)?;
        let recorded =
            self.record_pending(changes, &refund, &message.cause, message.idempotency.as_ref())?;
        *self.accepting()?.refunds_pending.entry(charge.id.clone()).or_insert(0) += amount_minor;
        Ok(StartedRefund { refund, recorded, channel })
    }

    /// Commits `refund`, `pending`, with `changes`: its audit event and, for a request with an
    /// Idempotency-Key, the key's record of the refund under way.
    pub(super) fn record_pending(
        &self,
        mut changes: ChangeSet,
        refund: &Refund,
        cause: &Cause,
        idempotency: Option<&IdempotencyTicket>,
    ) -> Result<DurableTicket, ActorError> {
        changes.push(Write::Refund(refund.clone()));
        changes.push(Write::Event(
            Event::new(EventKind::RefundPending, refund.id.as_str(), cause)
                .status(None, refund.status.as_str()),
        ));
        if let Some(ticket) = idempotency {
            let in_flight = InFlightObject::Refund(refund.id.clone());
            changes.push(Write::idempotency_in_flight(&ticket.key, ticket.fingerprint, in_flight));
        }
        self.commit(changes)
    }

    /// The answer to a refund request that was made before under its Idempotency-Key (the same
    /// refund, once durable; a 422 for a key used for something else), or `None` for a new one.
    pub(super) fn earlier_refund(
        &mut self,
        idempotency: Option<&IdempotencyTicket>,
    ) -> Option<ResponseActFuture<Self, Result<Refund, ActorError>>> {
        match self.earlier_outcome(idempotency) {
            Ok(None) => None,
            Ok(Some(Outcome::Refund(refund))) => {
                Some(Box::pin(self.once_durable(refund).into_actor(self)))
            }
            Ok(Some(_)) => Some(Box::pin(fut::ready(Err(ActorError::IdempotencyReused)))),
            Err(error) => Some(Box::pin(fut::ready(Err(error)))),
        }
    }

    /// Applies what the gateway said to a `pending` refund; a succeeded refund is added to the
    /// charge's `amount_refunded` in the same atomic change.
    pub(super) fn settle_refund(
        &mut self,
        refund_id: &RefundId,
        settlement: Settlement,
        cause: &Cause,
    ) -> Result<(Refund, Option<DurableTicket>), ActorError> {
        let store = Arc::clone(&self.services.store);
        let account = self.key.account.clone();
        let mut refund = store
            .refund(&account, refund_id)?
            .ok_or_else(|| ActorError::NotFound { kind: "refund", id: refund_id.to_string() })?;
        if refund.status != RefundStatus::Pending {
            // Settled by another turn (a webhook's) whose commit may not be flushed yet.
            return Ok((refund, Some(self.written())));
        }
        let mut changes = self.changes();
        let mut freed_key = false;
        match settlement {
            Settlement::Unknown(reason) => {
                tracing::warn!(refund = %refund.id, %reason, "refund outcome unknown; it stays pending");
                return Ok((refund, None));
            }
            // Charge answers; no refund outcome maps to them.
            Settlement::RequiresAction { reference, .. } | Settlement::Pending { reference } => {
                tracing::error!(refund = %refund.id, %reference, "a charge's answer for a refund; it stays pending");
                return Ok((refund, None));
            }
            Settlement::Succeeded { reference, conversion, .. } => {
                refund.succeed(reference, conversion);
                if let Some(charge) = &refund.charge {
                    let mut charge = store.charge(&account, charge)?.ok_or_else(|| {
                        ActorError::NotFound { kind: "charge", id: charge.to_string() }
                    })?;
                    refund.transfer_reversed_minor =
                        charge.record_refund(refund.amount.amount_minor, refund.reverse_transfer);
                    if charge.is_fully_refunded() {
                        self.withdraw_access(&mut changes, &charge)?;
                    }
                    if refund.credit_note.is_none() {
                        let amount_minor = refund.amount.amount_minor;
                        refund.credit_note = self.credit_note_for_refund(
                            &mut changes,
                            &charge,
                            &refund.id,
                            amount_minor,
                        )?;
                    }
                    changes.push(Write::Charge(charge));
                }
            }
            Settlement::Failed(failure) => refund.fail(failure.message),
            Settlement::NeverReached(failure) => {
                refund.fail(failure.message);
                freed_key = true;
            }
        }
        if refund.of_balance() && refund.status == RefundStatus::Failed {
            self.return_to_balance(&mut changes, &refund)?;
        }
        let kind = match refund.status {
            RefundStatus::Succeeded => EventKind::RefundSucceeded,
            RefundStatus::Pending | RefundStatus::Failed => EventKind::RefundFailed,
        };
        changes.push(Write::Refund(refund.clone()));
        let event = Event::new(kind, refund.id.as_str(), cause)
            .status(Some(RefundStatus::Pending.as_str()), refund.status.as_str());
        changes.push(Write::Event(event));
        let in_flight = InFlightObject::Refund(refund.id.clone());
        let outcome = Outcome::Refund(refund.clone());
        if let Some(write) = self.idempotency_settlement(
            refund.idempotency_key.as_deref(),
            in_flight,
            freed_key,
            outcome,
        )? {
            changes.push(write);
        }
        let durable = self.commit(changes)?;
        if let Ok(state) = self.accepting() {
            release_reservation(&mut state.refunds_pending, &refund);
        }
        tracing::info!(refund = %refund.id, status = refund.status.as_str(), "refund settled");
        Ok((refund, Some(durable)))
    }
}

fn release_reservation(
    pending: &mut std::collections::HashMap<crate::domain::ChargeId, i64>,
    refund: &Refund,
) {
    let Some(charge) = &refund.charge else { return };
    if let Some(reserved) = pending.get_mut(charge) {
        *reserved -= refund.amount.amount_minor;
        assert!(*reserved >= 0, "refund reservations of {charge} went negative");
        if *reserved == 0 {
            pending.remove(charge);
        }
    }
}

impl Handler<CreateRefund> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Refund, ActorError>>;

    fn handle(&mut self, message: CreateRefund, _: &mut Context<Self>) -> Self::Result {
        if let Some(answer) = self.earlier_refund(message.idempotency.as_ref()) {
            return answer;
        }
        let changes = self.changes();
        self.refund_then_answer(message, RefundId::generate(), changes)
    }
}

impl CustomerActor {
    /// Records refund `id` with `changes` ([`CustomerActor::begin_refund`]), then carries it
    /// out ([`CustomerActor::carry_out_refund`]).
    fn refund_then_answer(
        &mut self,
        message: CreateRefund,
        id: RefundId,
        changes: ChangeSet,
    ) -> ResponseActFuture<Self, Result<Refund, ActorError>> {
        let cause = message.cause.clone();
        match self.begin_refund(message, id, changes) {
            Ok(started) => self.carry_out_refund(started, cause),
            Err(error) => Box::pin(fut::ready(Err(error))),
        }
    }

    /// Asks the gateway for a recorded refund outside the actor's turn, and answers the refund
    /// once its settlement is durable.
    pub(super) fn carry_out_refund(
        &mut self,
        started: StartedRefund,
        cause: Cause,
    ) -> ResponseActFuture<Self, Result<Refund, ActorError>> {
        let StartedRefund { refund, recorded, channel } = started;
        let timeout = self.services.gateway_timeout;
        let router = self.services.gateways.clone();
        let gateway_name = refund.gateway.clone();
        let call = async move {
            recorded.wait().await?;
            let (gateway, request) = match channel {
                RefundChannel::Gateway { gateway, request } => (gateway, request),
                RefundChannel::Payout { adapter, request } => {
                    let answer = contained(timeout, async move { adapter.pay(&request).await });
                    return Ok(paid_out_answer(answer.await));
                }
                RefundChannel::Outside => {
                    return Ok(Settlement::Succeeded {
                        reference: SETTLED_OUTSIDE.to_owned(),
                        fee_minor: 0,
                        conversion: None,
                    });
                }
            };
            let answer = contained(timeout, async move { gateway.refund(&request).await }).await;
            // The breaker let this refund through: it learns how the gateway answered.
            match &answer {
                Ok(result) => router.record(&gateway_name, result),
                Err(_) => router.record::<()>(
                    &gateway_name,
                    &Err(GatewayError::Ambiguous("no answer within the gateway timeout".into())),
                ),
            }
            Ok(refund_answer(answer, timeout))
        };
        settle_after(self, call, move |actor, settlement, ctx| {
            let settled = actor.settle_refund(&refund.id, settlement, &cause);
            // Unknown outcomes, and settlements that failed to commit, are asked about again.
            if !matches!(&settled, Ok((now, _)) if now.status != RefundStatus::Pending) {
                let account = actor.key.account.clone();
                let delay = actor.services.reconcile_after;
                actor.ask_again_later(ctx, Unsettled::Refund { account, refund }, delay);
            }
            settled
        })
    }
}
