//! `POST /v1/customers/{id}`: the customer's own fields, changed by its actor (the default
//! payment method must be one of its own: renewals charge it).

use actix::{Context, Handler, ResponseActFuture, WrapFuture};

use super::billing::messages::UpdateCustomer;
use super::{ActorError, CustomerActor};
use crate::domain::{Event, EventKind};
use crate::store::{DurableTicket, Outcome, Write};

impl Handler<UpdateCustomer> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: UpdateCustomer, _: &mut Context<Self>) -> Self::Result {
        let updated = self.update_customer(message);
        Box::pin(
            async move {
                let (outcome, durable) = updated?;
                durable.wait().await?;
                Ok(outcome)
            }
            .into_actor(self),
        )
    }
}

impl CustomerActor {
    fn update_customer(
        &mut self,
        message: UpdateCustomer,
    ) -> Result<(Outcome, DurableTicket), ActorError> {
        if let Some(outcome) = self.earlier_outcome(message.idempotency.as_ref())? {
            return match outcome {
                Outcome::Customer(_) => Ok((outcome, self.services.store.sync())),
                _ => Err(ActorError::IdempotencyReused),
            };
        }
        let mut changes = self.changes();
        let state = self.accepting()?;
        let mut customer = state.customer.clone();
        if let Some(method) = &message.apply.default_payment_method {
            if !state.payment_methods.iter().any(|own| &own.id == method) {
                return Err(ActorError::invalid(
                    "payment_method_invalid",
                    Some("default_payment_method"),
                    format!("{method} is not a payment method of customer {}", customer.id),
                ));
            }
            customer.default_payment_method = Some(method.clone());
        }
        message.apply.apply_to(&mut customer);
        state.customer = customer.clone();
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::CustomerUpdated,
            customer.id.as_str(),
            &message.cause,
        )));
        let outcome = Outcome::Customer(customer);
        if let Some(ticket) = &message.idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                outcome.clone(),
            ));
        }
        Ok((outcome, self.commit(changes)?))
    }
}
