//! Billing in the customer's actor: subscriptions, their renewals, and invoices.
//!
//! - [`subscriptions`]: create, change, cancel, reactivate; [`proration`]: what a change of plan
//!   or seats costs; [`preview`]: the upcoming invoice;
//! - [`renewals`]: what falls due — trial ends, renewals, scheduled cancellations, expiry;
//! - [`invoices`]: making, finalizing, paying, voiding an invoice, settling it from the
//!   charge that paid it; [`dunning`]: what a payment attempt does to the subscription or
//!   plan it bills, and retrying a failed one;
//! - [`credit_notes`]: invoices reversed in whole or in part, and refunds of invoice charges
//!   booked against their invoice;
//! - [`overdue`]: dunning by reminders for invoices paid by hand;
//! - [`payment_plans`]: a total paid in instalments; [`instalments`]: each an invoice charged
//!   when due, retried, and settled;
//! - [`entitlements`]: what the customer's subscriptions, purchases and promotional grants
//!   grant now; [`grants`]: the promotional grants given and withdrawn;
//! - [`sponsorships`]: a sponsor's share of a beneficiary's invoices, counted against its cap;
//!   [`sponsor_invoices`]: the sponsor's one invoice a month for all of them;
//! - [`rule_rounds`]: turns run again after a rule call too long for the actor's thread.
//!
//! Every step is one atomic change set of the subscription, its invoice and the customer (its
//! invoice counter and balance), so a renewal is keyed by (subscription, period start): the
//! period moves only together with its invoice. An invoice is paid by an ordinary charge whose
//! Idempotency-Key derives from the invoice and the attempt, so no attempt is ever charged twice.

pub mod credit_notes;
pub mod dunning;
pub mod entitlements;
pub mod grants;
pub mod instalments;
pub mod invoices;
pub mod messages;
pub mod overdue;
pub mod payment_plans;
pub mod preview;
pub mod proration;
pub mod recognition;
pub mod renewals;
pub mod rule_rounds;
pub mod sponsor_invoices;
pub mod sponsorships;
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

    /// "Now" for a record made while settling what a gateway already did, which must never
    /// fail: the customer's clock, or the real one when that test clock was deleted.
    pub(crate) fn settlement_now(&self) -> i64 {
        self.billing_now().unwrap_or_else(|_| crate::domain::time::now_unix_secs())
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
        // Whether a change may start was decided at the start of the turn (`accepting`); a
        // settlement carries on while the actor stops.
        let state = self.settling()?;
        let (due_before, status_before) =
            match state.subscriptions.iter_mut().find(|old| old.id == record.id) {
                Some(old) => {
                    let before = (old.next_due(), Some(old.status.as_str()));
                    *old = record.clone();
                    before
                }
                None => {
                    state.subscriptions.push(record.clone());
                    (None, None)
                }
            };
        crate::metrics::global().move_subscription(status_before, record.status.as_str());
        self.publish_grant_sources();
        changes.push(Write::Subscription { record, due_before });
        Ok(())
    }
}
