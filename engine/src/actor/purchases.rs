//! What a charge grants, and what taking its money back withdraws: a one-time purchase's
//! features are granted when its charge succeeds and withdrawn when the charge is refunded in
//! full or a dispute on it is lost; a subscription period's features go the same way when the
//! charge that paid the period's invoice does (`billing.refund_revokes_access`).

use super::{ActorError, CustomerActor};
use crate::domain::{BillingReason, Charge, Purchase};
use crate::store::{ChangeSet, Write};

impl CustomerActor {
    /// Grants what `charge` (just succeeded) was bought for, from the customer's now.
    pub(super) fn grant_purchases(
        &mut self,
        changes: &mut ChangeSet,
        charge: &Charge,
    ) -> Result<(), ActorError> {
        if charge.grants.is_empty() {
            return Ok(());
        }
        let now = self.settlement_now();
        let customer = &mut self.settling()?.customer;
        customer.purchases.retain(|purchase| purchase.is_current(now));
        customer.purchases.extend(Purchase::granted(&charge.id, &charge.grants, now));
        changes.push(Write::Customer(customer.clone()));
        self.publish_grant_sources();
        tracing::info!(charge = %charge.id, features = charge.grants.len(), "purchase granted");
        Ok(())
    }

    /// Withdraws what `charge` paid for: its money was refunded in full, or a dispute on it
    /// lost. Idempotent: a second call finds nothing left to withdraw.
    pub(super) fn withdraw_access(
        &mut self,
        changes: &mut ChangeSet,
        charge: &Charge,
    ) -> Result<(), ActorError> {
        let customer = &mut self.settling()?.customer;
        let held = customer.purchases.len();
        customer.purchases.retain(|purchase| purchase.charge != charge.id);
        if customer.purchases.len() != held {
            changes.push(Write::Customer(customer.clone()));
            self.publish_grant_sources();
            tracing::info!(charge = %charge.id, "purchase withdrawn");
        }
        if self.services.billing.refund_revokes_access {
            self.withdraw_paid_period(changes, charge)?;
        }
        Ok(())
    }

    /// Ends the features of the period that `charge` paid, if that period is the current one:
    /// they come back with the next paid period.
    fn withdraw_paid_period(
        &mut self,
        changes: &mut ChangeSet,
        charge: &Charge,
    ) -> Result<(), ActorError> {
        let Some(invoice) = &charge.invoice else { return Ok(()) };
        let Some(invoice) = self.services.store.invoice(&self.key.account, invoice)? else {
            return Ok(());
        };
        let pays_a_period = matches!(
            invoice.billing_reason,
            BillingReason::SubscriptionCreate | BillingReason::SubscriptionCycle
        );
        let Some(subscription) = invoice.subscription.as_ref().filter(|_| pays_a_period) else {
            return Ok(());
        };
        let mut subscription = self.subscription(subscription)?;
        if subscription.current_period_start != invoice.period_start {
            return Ok(());
        }
        if subscription.access_withdrawn_until == Some(invoice.period_end) {
            return Ok(());
        }
        subscription.access_withdrawn_until = Some(invoice.period_end);
        tracing::info!(subscription = %subscription.id, charge = %charge.id, until = invoice.period_end, "period's features withdrawn");
        self.put_subscription(changes, subscription)
    }
}
