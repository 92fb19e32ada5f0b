//! Billing in the customer's actor: subscriptions, their renewals, and invoices.
//!
//! - [`subscriptions`]: create, change, cancel, reactivate; [`proration`]: what a change of plan
//!   or seats costs; [`preview`]: the upcoming invoice;
//! - [`renewals`]: what falls due — trial ends, renewals, scheduled cancellations, expiry;
//! - [`invoices`]: making, finalizing, paying, voiding an invoice, settling it from the
//!   charge that paid it, and retrying a failed payment (dunning);
//! - [`entitlements`]: what the customer's subscriptions grant now.
//!
//! Every step is one atomic change set of the subscription, its invoice and the customer (its
//! invoice counter and balance), so a renewal is keyed by (subscription, period start): the
//! period moves only together with its invoice. An invoice is paid by an ordinary charge whose
//! Idempotency-Key derives from the invoice and the attempt, so no attempt is ever charged twice.

pub mod entitlements;
pub mod invoices;
pub mod messages;
pub mod preview;
pub mod proration;
pub mod renewals;
pub mod subscriptions;

use super::{ActorError, CustomerActor};
use crate::domain::{Plan, PlanId, Subscription, SubscriptionId};
use crate::store::{ChangeSet, Write};

impl CustomerActor {
    /// "Now" for this customer: its test clock's frozen time, or the real clock.
    pub(crate) fn billing_now(&self) -> Result<i64, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let Some(clock) = &state.customer.test_clock else {
            return Ok(crate::domain::time::now_unix_secs());
        };
        let clock = self.services.store.test_clock(&self.key.account, clock)?.ok_or_else(|| {
            ActorError::invalid(
                "test_clock_invalid",
                None,
                format!("the customer's test clock {clock} was deleted"),
            )
        })?;
        Ok(clock.frozen_time)
    }

    pub(super) fn subscription(&self, id: &SubscriptionId) -> Result<Subscription, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        state
            .subscriptions
            .iter()
            .find(|subscription| &subscription.id == id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound { kind: "subscription", id: id.to_string() })
    }

    pub(super) fn plan(&self, id: &PlanId) -> Result<Plan, ActorError> {
        self.services
            .store
            .plan(&self.key.account, id)?
            .ok_or_else(|| ActorError::NotFound { kind: "plan", id: id.to_string() })
    }

    /// Records `record` in memory and in `changes`, moving its schedule entry along.
    pub(super) fn put_subscription(
        &mut self,
        changes: &mut ChangeSet,
        record: Subscription,
    ) -> Result<(), ActorError> {
        let state = self.accepting()?;
        let due_before = match state.subscriptions.iter_mut().find(|old| old.id == record.id) {
            Some(old) => {
                let due_before = old.next_due();
                *old = record.clone();
                due_before
            }
            None => {
                state.subscriptions.push(record.clone());
                None
            }
        };
        changes.push(Write::Subscription { record, due_before });
        Ok(())
    }
}
