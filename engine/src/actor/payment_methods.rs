//! Attaching and detaching payment methods. The first one attached becomes the default; when
//! the default is detached, the newest remaining one takes its place.

use actix::{Context, Handler};

use super::messages::{AttachPaymentMethod, DetachPaymentMethod};
use super::{ActorError, CustomerActor, Durably};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    CardDisplay, Event, EventKind, PaymentMethod, PaymentMethodId, PaymentMethodKind,
};
use crate::limits::PAYMENT_METHODS_PER_CUSTOMER_MAX;
use crate::store::{Outcome, Write};

impl Handler<AttachPaymentMethod> for CustomerActor {
    type Result = Result<Durably<PaymentMethod>, ActorError>;

    fn handle(&mut self, message: AttachPaymentMethod, _: &mut Context<Self>) -> Self::Result {
        match self.earlier_outcome(message.idempotency.as_ref())? {
            None => {}
            Some(Outcome::PaymentMethod(method)) => return Ok(Box::pin(self.once_durable(method))),
            Some(_) => return Err(ActorError::IdempotencyReused),
        }
        let customer_id = self.key.customer.clone();
        let mut changes = self.changes();
        if message.kind == PaymentMethodKind::BankTransfer {
            self.bank_details()?;
            let state = self.living()?;
            let held = state.payment_methods.iter().find(|method| method.kind == message.kind);
            // A customer pays by bank transfer one way: asked again, it answers the one it has.
            if let Some(method) = held.cloned() {
                return Ok(Box::pin(self.once_durable(method)));
            }
            self.permanent_reference(&mut changes)?;
        }
        let state = self.living()?;
        if state.payment_methods.len() >= PAYMENT_METHODS_PER_CUSTOMER_MAX {
            return Err(ActorError::invalid(
                "validation_error",
                Some("token"),
                format!(
                    "a customer keeps at most {PAYMENT_METHODS_PER_CUSTOMER_MAX} payment methods"
                ),
            ));
        }
        let method = PaymentMethod {
            id: PaymentMethodId::generate(),
            customer: customer_id,
            gateway: message.gateway,
            token: message.token,
            card: message.details.card.map(|card| CardDisplay {
                brand: card.brand,
                last4: card.last4,
                exp_month: card.exp_month,
                exp_year: card.exp_year,
            }),
            created: now_unix_secs(),
            kind: message.kind,
            sealed: None,
        };
        let mut customer = state.customer.clone();
        if customer.default_payment_method.is_none() {
            customer.default_payment_method = Some(method.id.clone());
            changes.push(Write::Customer(customer.clone()));
        }
        changes.push(Write::PaymentMethod(method.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::PaymentMethodAttached,
            method.id.as_str(),
            &message.cause,
        )));
        if let Some(ticket) = &message.idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                Outcome::PaymentMethod(method.clone()),
            ));
        }
        let durable = self.commit(changes)?;
        let state = self.accepting()?;
        state.customer = customer;
        state.payment_methods.push(method.clone());
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(method)
        }))
    }
}

impl Handler<DetachPaymentMethod> for CustomerActor {
    type Result = Result<Durably<PaymentMethodId>, ActorError>;

    fn handle(&mut self, message: DetachPaymentMethod, _: &mut Context<Self>) -> Self::Result {
        let mut changes = self.changes();
        let state = self.accepting()?;
        let Some(position) =
            state.payment_methods.iter().position(|method| method.id == message.id)
        else {
            return Err(ActorError::NotFound {
                kind: "payment_method",
                id: message.id.to_string(),
            });
        };
        let mut remaining = state.payment_methods.clone();
        remaining.remove(position);
        let mut customer = state.customer.clone();
        if customer.default_payment_method.as_ref() == Some(&message.id) {
            customer.default_payment_method = remaining.last().map(|method| method.id.clone());
            changes.push(Write::Customer(customer.clone()));
        }
        changes.push(Write::RemovePaymentMethod(message.id.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::PaymentMethodDetached,
            message.id.as_str(),
            &message.cause,
        )));
        if let Some(ticket) = &message.idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                Outcome::PaymentMethodDeleted(message.id.clone()),
            ));
        }
        let durable = self.commit(changes)?;
        let state = self.accepting()?;
        state.customer = customer;
        state.payment_methods = remaining;
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(message.id)
        }))
    }
}
