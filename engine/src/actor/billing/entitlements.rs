//! `GET /v1/customers/{id}/entitlements`: the grants of the customer's subscriptions and
//! purchases as they stand in the actor, at the customer's now (its test clock's, if it has
//! one), with the plans' features from memory.

use std::sync::Arc;

use actix::{Context, Handler};

use super::messages::CustomerEntitlements;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::entitlements::{Grant, grants};
use crate::domain::Subscription;

impl Handler<CustomerEntitlements> for CustomerActor {
    type Result = Result<Vec<Grant>, ActorError>;

    fn handle(&mut self, _: CustomerEntitlements, _: &mut Context<Self>) -> Self::Result {
        let now = self.billing_now()?;
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let (store, account) = (self.services.store.as_ref(), &self.key.account);
        // A plan that cannot be read grants nothing rather than failing the whole answer.
        let features_of = |subscription: &Subscription| match self.services.plan_features.get(
            store,
            account,
            &subscription.plan,
        ) {
            Ok(features) => features,
            Err(error) => {
                tracing::error!(subscription = %subscription.id, %error, "plan unreadable for entitlements");
                Arc::from([])
            }
        };
        let purchases = &state.customer.purchases;
        Ok(grants(&state.subscriptions, purchases, features_of, now, &self.services.billing))
    }
}
