//! Promotional grants: the account gives the customer a feature without a payment, until a
//! time (the customer's now, its test clock's if it has one) or for good, and may withdraw it.
//! A grant lives in the customer's record; grants past their end are dropped when the next one
//! is given, so the record stays bounded while the audit trail keeps every one.

use actix::{Context, Handler, ResponseActFuture, WrapFuture};

use super::messages::{GrantFeature, WithdrawGrant};
use crate::actor::{ActorError, CustomerActor};
use crate::domain::{Event, EventKind, GrantId, PromotionalGrant};
use crate::limits::PROMOTIONAL_GRANTS_PER_CUSTOMER_MAX;
use crate::store::{DurableTicket, Outcome, Write};

impl Handler<GrantFeature> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: GrantFeature, _: &mut Context<Self>) -> Self::Result {
        let granted = self.grant_feature(message);
        Box::pin(
            async move {
                let (outcome, durable) = granted?;
                durable.wait().await?;
                Ok(outcome)
            }
            .into_actor(self),
        )
    }
}

impl Handler<WithdrawGrant> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: WithdrawGrant, _: &mut Context<Self>) -> Self::Result {
        let withdrawn = self.withdraw_grant(message);
        Box::pin(
            async move {
                let (outcome, durable) = withdrawn?;
                durable.wait().await?;
                Ok(outcome)
            }
            .into_actor(self),
        )
    }
}

impl CustomerActor {
    fn grant_feature(
        &mut self,
        message: GrantFeature,
    ) -> Result<(Outcome, DurableTicket), ActorError> {
        if let Some(outcome) = self.earlier_outcome(message.idempotency.as_ref())? {
            return match outcome {
                Outcome::Grant { .. } => Ok((outcome, self.written())),
                _ => Err(ActorError::IdempotencyReused),
            };
        }
        let now = self.billing_now()?;
        if let Some(end) = message.expires_at.filter(|end| *end <= now) {
            return Err(ActorError::invalid(
                "validation_error",
                Some("expires_at"),
                format!("`expires_at` {end} is not after the customer's now ({now})"),
            ));
        }
        let mut changes = self.changes();
        let state = self.living()?;
        let mut customer = state.customer.clone();
        customer.grants.retain(|grant| grant.is_current(now));
        if customer.grants.len() >= PROMOTIONAL_GRANTS_PER_CUSTOMER_MAX {
            return Err(ActorError::invalid(
                "validation_error",
                Some("feature"),
                format!(
                    "a customer holds at most {PROMOTIONAL_GRANTS_PER_CUSTOMER_MAX} promotional grants at once"
                ),
            ));
        }
        let grant = PromotionalGrant {
            id: GrantId::generate(),
            feature: message.feature,
            expires_at: message.expires_at,
            reason: message.reason,
            created: now,
            sealed: None,
        };
        customer.grants.push(grant.clone());
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::GrantCreated,
            grant.id.as_str(),
            &message.cause,
        )));
        let outcome = Outcome::Grant { customer: customer.id.clone(), grant };
        if let Some(ticket) = &message.idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                outcome.clone(),
            ));
        }
        let durable = self.commit(changes)?;
        self.accepting()?.customer = customer;
        self.publish_grant_sources();
        Ok((outcome, durable))
    }

    fn withdraw_grant(
        &mut self,
        message: WithdrawGrant,
    ) -> Result<(Outcome, DurableTicket), ActorError> {
        let mut changes = self.changes();
        let state = self.accepting()?;
        let mut customer = state.customer.clone();
        let before = customer.grants.len();
        customer.grants.retain(|grant| grant.id != message.id);
        if customer.grants.len() == before {
            return Err(ActorError::NotFound { kind: "grant", id: message.id.to_string() });
        }
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::GrantDeleted,
            message.id.as_str(),
            &message.cause,
        )));
        let durable = self.commit(changes)?;
        self.accepting()?.customer = customer;
        self.publish_grant_sources();
        Ok((Outcome::GrantDeleted(message.id), durable))
    }
}
