//! `GET /v1/customers/{id}/entitlements`: the grants of the customer's subscriptions,
//! payment plans, purchases and promotional grants as they stand in the actor, at the customer's now (its test clock's, if it has
//! one), with the plans' features from memory. The API answers from what the actor publishes
//! ([`EntitlementIndex`]) and asks the actor only when nothing is published.
//!
//! [`EntitlementIndex`]: crate::billing::entitlement_index::EntitlementIndex

use actix::{Context, Handler};

use super::messages::CustomerEntitlements;
use crate::actor::customer::CustomerState;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::entitlements::{Grant, GrantSources};

impl CustomerActor {
    /// Publishes what the customer's grants are computed from, after a change of them. A
    /// customer on a test clock is not published: its "now" is its clock's, which the actor
    /// reads.
    pub(crate) fn publish_grant_sources(&self) {
        let Ok(state) = &self.state else { return };
        if state.customer.test_clock.is_some() {
            return;
        }
        self.services.entitlements.publish(&self.key, self.generation, grant_sources(state));
    }
}

fn grant_sources(state: &CustomerState) -> GrantSources {
    GrantSources {
        subscriptions: state.subscriptions.clone(),
        payment_plans: state.payment_plans.clone(),
        purchases: state.customer.purchases.clone(),
        promotional: state.customer.grants.clone(),
    }
}

impl Handler<CustomerEntitlements> for CustomerActor {
    type Result = Result<Vec<Grant>, ActorError>;

    fn handle(&mut self, _: CustomerEntitlements, _: &mut Context<Self>) -> Self::Result {
        let now = self.billing_now()?;
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let store = self.services.store.as_ref();
        Ok(self.services.entitlements.compute(store, &self.key, &grant_sources(state), now))
    }
}
