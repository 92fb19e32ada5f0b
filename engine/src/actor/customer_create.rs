//! A new customer. No actor can hold its state before it exists, so the registry writes it: one
//! atomic change set with its `customer.created` event and the idempotency record of the request
//! that made it. Its actor starts on its first message, from what this wrote.

use super::{ActorError, IdempotencyTicket, Registry};
use crate::domain::{AccountId, Cause, Customer, Event, EventKind};
use crate::store::{ChangeSet, Outcome, Write};

impl Registry {
    /// Writes `customer` (its id fresh, so nothing else can write it meanwhile) and answers once
    /// that is durable.
    pub async fn create_customer(
        &self,
        account: &AccountId,
        customer: Customer,
        idempotency: Option<IdempotencyTicket>,
        cause: &Cause,
    ) -> Result<Customer, ActorError> {
        let id = customer.id.clone();
        let mut changes = ChangeSet::new(account, &id)
            .with(Write::Customer(customer.clone()))
            .with(Write::Event(Event::new(EventKind::CustomerCreated, id.as_str(), cause)));
        if let Some(ticket) = idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                Outcome::Customer(customer.clone()),
            ));
        }
        super::customer::commit(self.services(), changes)?.wait().await?;
        tracing::info!(customer = %id, "customer created");
        Ok(customer)
    }
}
