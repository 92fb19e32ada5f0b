//! `POST /v1/customers/{id}`: the customer's own fields, changed by its actor (the default
//! payment method must be one of its own: renewals charge it).

use actix::{Context, Handler, ResponseActFuture, WrapFuture};

use super::billing::messages::UpdateCustomer;
use super::{ActorError, CustomerActor};
use crate::domain::{CollectionMethod, Event, EventKind};
use crate::store::{ChangeSet, DurableTicket, Outcome, Write};

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
    /// A new default payment method is tried at once on every invoice in dunning (whatever the
    /// earlier decline, `unpaid` included), oldest first: each subscription's and payment
    /// plan's retry is moved to now, and the schedule runs them in the order they fall due.
    fn retry_dunning_now(&mut self, changes: &mut ChangeSet) -> Result<(), ActorError> {
        let now = self.billing_now()?;
        let state = self.accepting()?;
        let mut waiting: Vec<_> = state
            .subscriptions
            .iter()
            // Invoices paid by hand are never charged: their dunning is reminders.
            .filter(|subscription| {
                subscription.dunning.is_some()
                    && subscription.collection_method == CollectionMethod::ChargeAutomatically
            })
            .cloned()
            .collect();
        waiting.sort_by_key(|subscription| {
            subscription.dunning.as_ref().map(|dunning| dunning.first_failed_at)
        });
        for mut subscription in waiting {
            if let Some(dunning) = subscription.dunning.as_mut() {
                dunning.next_retry_at = Some(now);
                self.show_next_retry(changes, dunning)?;
            }
            self.put_subscription(changes, subscription)?;
        }
        let state = self.accepting()?;
        let waiting: Vec<_> =
            state.payment_plans.iter().filter(|plan| plan.dunning.is_some()).cloned().collect();
        for mut plan in waiting {
            if let Some(dunning) = plan.dunning.as_mut() {
                dunning.next_retry_at = Some(now);
                self.show_next_retry(changes, dunning)?;
            }
            self.put_payment_plan(changes, plan)?;
        }
        Ok(())
    }

    fn update_customer(
        &mut self,
        message: UpdateCustomer,
    ) -> Result<(Outcome, DurableTicket), ActorError> {
        if let Some(outcome) = self.earlier_outcome(message.idempotency.as_ref())? {
            return match outcome {
                Outcome::Customer(_) => Ok((outcome, self.written())),
                _ => Err(ActorError::IdempotencyReused),
            };
        }
        let mut changes = self.changes();
        let state = self.living()?;
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
        let new_default = customer.default_payment_method != state.customer.default_payment_method;
        message.apply.apply_to(&mut customer);
        state.customer = customer.clone();
        if new_default {
            self.retry_dunning_now(&mut changes)?;
        }
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
