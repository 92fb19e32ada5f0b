//! `GET /v1/customers/{id}/entitlements`: the grants of the customer's subscriptions as they
//! stand in the actor, at the customer's now (its test clock's, if it has one).

use actix::{Context, Handler};

use super::messages::CustomerEntitlements;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::entitlements::{Grant, grants};

impl Handler<CustomerEntitlements> for CustomerActor {
    type Result = Result<Vec<Grant>, ActorError>;

    fn handle(&mut self, _: CustomerEntitlements, _: &mut Context<Self>) -> Self::Result {
        let now = self.billing_now()?;
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        // A plan that cannot be read grants nothing rather than failing the whole answer.
        let features_of = |subscription: &crate::domain::Subscription| match self
            .plan(&subscription.plan)
        {
            Ok(plan) => plan.features,
            Err(error) => {
                tracing::error!(subscription = %subscription.id, %error, "plan unreadable for entitlements");
                Vec::new()
            }
        };
        Ok(grants(&state.subscriptions, features_of, now, &self.services.billing))
    }
}
