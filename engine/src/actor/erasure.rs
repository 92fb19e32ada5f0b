//! Erasure (`DELETE /v1/customers/{id}`): the customer's personal data goes, its books stay.
//! Its running subscriptions and payment plans are canceled at once (each its own change set,
//! as a cancellation is), then one change set removes its payment methods, empties its record of personal data,
//! marks it `deleted` and destroys its key, so every copy sealed under it (the log, idempotency
//! answers, sled's older pages) can no longer be read; once that is durable, each payment
//! method's gateway is asked to forget it. Charges, refunds, invoices and their
//! amounts stay. Erasing an erased customer changes nothing; a crash half-way is finished by
//! the next request to erase it.

use actix::{Context, Handler, Message};
use kassa_gateways::Router;

use super::{ActorError, CustomerActor, Durably};
use crate::domain::{Cause, Customer, Event, EventKind, PaymentMethod, SubscriptionId};
use crate::store::Write;

#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<Customer>, ActorError>")]
pub struct EraseCustomer {
    pub cause: Cause,
}

impl Handler<EraseCustomer> for CustomerActor {
    type Result = Result<Durably<Customer>, ActorError>;

    fn handle(&mut self, message: EraseCustomer, _: &mut Context<Self>) -> Self::Result {
        let state = self.accepting()?;
        if state.customer.deleted {
            let (customer, durable) = (state.customer.clone(), self.written());
            return Ok(Box::pin(async move {
                durable.wait().await?;
                Ok(customer)
            }));
        }
        let running: Vec<SubscriptionId> = state
            .subscriptions
            .iter()
            .filter(|subscription| !subscription.status.is_terminal())
            .map(|subscription| subscription.id.clone())
            .collect();
        for id in &running {
            self.cancel_for_erasure(id, &message.cause)?;
        }
        self.cancel_payment_plans_for_erasure(&message.cause)?;

        let mut changes = self.changes();
        let state = self.accepting()?;
        for method in &state.payment_methods {
            changes.push(Write::RemovePaymentMethod(method.id.clone()));
            let detached =
                Event::new(EventKind::PaymentMethodDetached, method.id.as_str(), &message.cause);
            changes.push(Write::Event(detached));
        }
        let mut customer = state.customer.clone();
        customer.email = None;
        customer.name = None;
        customer.phone = None;
        customer.address = None;
        customer.metadata.clear();
        customer.tax_ids.clear();
        // The grants stay (the books keep what was given); why they were given is the
        // platform's free text about the person, and goes.
        for grant in &mut customer.grants {
            grant.reason = None;
        }
        customer.default_payment_method = None;
        customer.deleted = true;
        self.forget_payment_plan_texts(&mut changes)?;
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::ForgetCustomerKey);
        let erased = Event::new(EventKind::CustomerDeleted, customer.id.as_str(), &message.cause);
        changes.push(Write::Event(erased));
        let durable = self.commit(changes)?;
        let state = self.accepting()?;
        let methods = std::mem::take(&mut state.payment_methods);
        state.customer = customer.clone();
        tracing::info!(customer = %customer.id, canceled = running.len(), "customer erased");
        let router = self.services.gateways.clone();
        Ok(Box::pin(async move {
            durable.wait().await?;
            forget_at_gateways(&router, &customer, methods).await;
            Ok(customer)
        }))
    }
}

/// Asks each payment method's gateway to forget it (Stripe detaches it from its customer), once
/// the erasure is durable. A gateway that fails is logged, not retried: the payment method is
/// gone from Kassa, and nothing of Kassa charges it again.
async fn forget_at_gateways(router: &Router, customer: &Customer, methods: Vec<PaymentMethod>) {
    for method in methods {
        let Ok(gateway) = router.by_name(&method.gateway) else { continue };
        if let Err(error) = gateway.forget_payment_method(&method.token).await {
            tracing::warn!(customer = %customer.id, payment_method = %method.id, gateway = %method.gateway, %error, "the gateway did not forget an erased customer's payment method");
        }
    }
}
