//! The charge flow: record `processing` (durably) → ask the gateway outside the actor's turn →
//! settle `succeeded` / `failed` back inside it (durably) → answer.
//!
//! The gateway is asked only after the `processing` record is on disk, with the charge id as its
//! idempotency key: whatever crashes when, recovery finds the charge and asks the gateway about
//! that key instead of charging again.

use std::sync::Arc;

use actix::{Context, Handler, ResponseActFuture, fut};
use kassa_gateways::{ChargeRequest, Gateway};

use super::customer::settle_after;
use super::messages::CreateCharge;
use super::settlement::{GatewayCall, Settlement, charge_answer, contained};
use super::{ActorError, CustomerActor};
use crate::domain::time::now_unix_secs;
use crate::domain::{Charge, ChargeId, ChargeStatus, Event, EventKind};
use crate::store::{DurableTicket, InFlightObject, Outcome, Unsettled, Write};

struct StartedCharge {
    charge: Charge,
    recorded: DurableTicket,
    gateway: Arc<dyn Gateway>,
    request: ChargeRequest,
}

impl CustomerActor {
    fn begin_charge(&mut self, message: CreateCharge) -> Result<StartedCharge, ActorError> {
        let customer_id = self.key.customer.clone();
        let mut changes = self.changes();
        let state = self.accepting()?;
        let method_id = message
            .payment_method
            .or_else(|| state.customer.default_payment_method.clone())
            .ok_or_else(|| {
                ActorError::invalid(
                    "payment_method_invalid",
                    Some("payment_method"),
                    "the customer has no payment method: attach one or pass `payment_method`",
                )
            })?;
        let method = state
            .payment_methods
            .iter()
            .find(|method| method.id == method_id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound {
                kind: "payment_method",
                id: method_id.to_string(),
            })?;
        let gateway = self
            .services
            .gateways
            .by_name(&method.gateway)
            .map_err(|error| ActorError::Unavailable(error.to_string()))?
            .clone();
        let charge = Charge {
            id: ChargeId::generate(),
            customer: customer_id,
            amount: message.amount,
            payment_method: method.id.clone(),
            gateway: method.gateway.clone(),
            gateway_reference: None,
            status: ChargeStatus::Processing,
            failure: None,
            amount_refunded_minor: 0,
            description: message.description,
            metadata: message.metadata,
            created: now_unix_secs(),
            idempotency_key: message.idempotency.as_ref().map(|ticket| ticket.key.clone()),
            breakdown: message.breakdown,
        };
        changes.push(Write::Charge(charge.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::ChargeProcessing,
            charge.id.as_str(),
            &message.cause,
        )));
        if let Some(ticket) = &message.idempotency {
            let in_flight = InFlightObject::Charge(charge.id.clone());
            changes.push(Write::idempotency_in_flight(&ticket.key, ticket.fingerprint, in_flight));
        }
        let recorded = self.commit(changes)?;
        let request = ChargeRequest {
            idempotency_key: charge.gateway_idempotency_key().to_owned(),
            amount_minor: charge.amount.amount_minor,
            currency: charge.amount.currency,
            payment_method_token: method.token,
            description: charge.description.clone(),
            customer: None,
        };
        Ok(StartedCharge { charge, recorded, gateway, request })
    }

    /// Applies what the gateway said to a `processing` charge. A charge that is already settled
    /// (recovery racing a late answer) is returned as it is: states only move forward.
    pub(super) fn settle_charge(
        &mut self,
        charge_id: &ChargeId,
        settlement: Settlement,
        cause: &str,
    ) -> Result<(Charge, Option<DurableTicket>), ActorError> {
        let mut charge =
            self.services.store.charge(&self.key.account, charge_id)?.ok_or_else(|| {
                ActorError::NotFound { kind: "charge", id: charge_id.to_string() }
            })?;
        if charge.status != ChargeStatus::Processing {
            return Ok((charge, None));
        }
        let mut changes = self.changes();
        let freed_key = match settlement {
            Settlement::Unknown(reason) => {
                tracing::warn!(charge = %charge.id, %reason, "charge outcome unknown; it stays processing");
                return Ok((charge, None));
            }
            Settlement::Succeeded { reference } => {
                charge.succeed(reference);
                false
            }
            Settlement::Failed(failure) => {
                charge.fail(failure);
                false
            }
            Settlement::NeverReached(failure) => {
                charge.fail(failure);
                true
            }
        };
        let kind = match charge.status {
            ChargeStatus::Succeeded => EventKind::ChargeSucceeded,
            ChargeStatus::Processing | ChargeStatus::Failed => EventKind::ChargeFailed,
        };
        changes.push(Write::Charge(charge.clone()));
        changes.push(Write::Event(Event::new(kind, charge.id.as_str(), cause)));
        let in_flight = InFlightObject::Charge(charge.id.clone());
        let outcome = Outcome::Charge(charge.clone());
        if let Some(write) = self.idempotency_settlement(
            charge.idempotency_key.as_deref(),
            in_flight,
            freed_key,
            outcome,
        )? {
            changes.push(write);
        }
        let durable = self.commit(changes)?;
        crate::metrics::global().count_charge(charge.status.as_str(), &charge.gateway);
        tracing::info!(charge = %charge.id, status = charge.status.as_str(), "charge settled");
        Ok((charge, Some(durable)))
    }
}

impl Handler<CreateCharge> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Charge, ActorError>>;

    fn handle(&mut self, message: CreateCharge, _: &mut Context<Self>) -> Self::Result {
        match self.earlier_outcome(message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(Outcome::Charge(charge))) => return Box::pin(fut::ready(Ok(charge))),
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        let cause = message.cause.clone();
        let StartedCharge { charge, recorded, gateway, request } = match self.begin_charge(message)
        {
            Ok(started) => started,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let timeout = self.services.gateway_timeout;
        let call = async move {
            recorded.wait().await?;
            let call = GatewayCall { gateway: gateway.name().to_owned(), operation: "charge" };
            let answer =
                contained(call, timeout, async move { gateway.charge(&request).await }).await;
            Ok(charge_answer(answer, timeout))
        };
        settle_after(self, call, move |actor, settlement, ctx| {
            let settled = actor.settle_charge(&charge.id, settlement, &cause);
            // Unknown outcomes, and settlements that failed to commit, are asked about again.
            if !matches!(&settled, Ok((now, _)) if now.status != ChargeStatus::Processing) {
                let account = actor.key.account.clone();
                let delay = actor.services.reconcile_after;
                actor.ask_again_later(ctx, Unsettled::Charge { account, charge }, delay);
            }
            settled
        })
    }
}
