//! What an attempt to pay an invoice does to the subscription or payment plan it bills: paid
//! ends a dunning and brings it back to `active`; a failure makes it `past_due` and plans the
//! retries of `billing.dunning`, and after the last, its final action.

use super::overdue::{dunning_for, is_overdue};
use crate::actor::{ActorError, CustomerActor};
use crate::config::FinalAction;
use crate::domain::{
    Charge, CollectionMethod, Dunning, Invoice, InvoiceId, InvoiceStatus, Subscription,
    SubscriptionStatus,
};
use crate::limits::UNPAID_SCAN_MAX;
use crate::store::{ChangeSet, InvoiceFilter, Write};

impl CustomerActor {
    /// What an attempt to pay `invoice` does to the subscription or payment plan it bills.
    pub(super) fn after_payment(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        payment: Payment,
    ) -> Result<(), ActorError> {
        self.subscription_after_payment(changes, invoice, payment)?;
        self.payment_plan_after_payment(changes, invoice, payment)?;
        self.sponsor_invoice_after_payment(changes, invoice, payment);
        Ok(())
    }

    /// The subscription of `invoice` after an attempt to pay it: paid brings it back to
    /// `active` and ends its dunning; a failure leaves a first invoice's subscription
    /// `incomplete`, and moves a running one to `past_due` with its retries planned
    /// ([`CustomerActor::plan_retry`]).
    fn subscription_after_payment(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        payment: Payment,
    ) -> Result<(), ActorError> {
        let Some(id) = &invoice.subscription else { return Ok(()) };
        let mut subscription = self.subscription(id)?;
        let waiting = subscription.pending_update.as_ref();
        if waiting.is_some_and(|pending| pending.invoice == invoice.id) {
            // A change waiting for this invoice: paid, it applies; unpaid, it keeps waiting
            // (until it expires) and the subscription stays as it was.
            if payment == Payment::Paid
                && let Some(pending) = subscription.pending_update.take()
            {
                pending.apply_to(&mut subscription);
                self.put_subscription(changes, subscription)?;
            }
            return Ok(());
        }
        let before = subscription.clone();
        let dunned =
            subscription.dunning.as_ref().is_some_and(|dunning| dunning.invoice == invoice.id);
        match payment {
            Payment::Paid => {
                invoice.next_payment_attempt = None;
                invoice.next_reminder_at = None;
                self.discount_paid(changes, &mut subscription);
                let mut still_overdue = false;
                if dunned {
                    // Invoices made meanwhile (an `unpaid` subscription's are not charged) are
                    // tried next, oldest first, at once; one paid by hand on its due date.
                    let now = self.settlement_now();
                    let next = self.oldest_unpaid_invoice(&subscription, &invoice.id)?;
                    still_overdue = next.as_ref().is_some_and(|next| is_overdue(next, now));
                    subscription.dunning = next.map(|next| dunning_for(&next, now));
                    if let Some(next) = &subscription.dunning {
                        self.show_next_retry(changes, next)?;
                    }
                }
                // Active only when none of its invoices is overdue.
                let behind = matches!(
                    subscription.status,
                    SubscriptionStatus::Incomplete
                        | SubscriptionStatus::PastDue
                        | SubscriptionStatus::Unpaid
                );
                if behind {
                    subscription.status = match still_overdue {
                        true => SubscriptionStatus::PastDue,
                        false => SubscriptionStatus::Active,
                    };
                }
            }
            Payment::Failed { hard } => {
                let running = matches!(
                    subscription.status,
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing
                );
                let latest = subscription.latest_invoice.as_ref() == Some(&invoice.id);
                if running && latest {
                    subscription.status = SubscriptionStatus::PastDue;
                }
                let automatic = invoice.collection_method == CollectionMethod::ChargeAutomatically;
                let behind = matches!(
                    subscription.status,
                    SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
                );
                if automatic && behind && (dunned || subscription.dunning.is_none()) {
                    let now = self.settlement_now();
                    self.plan_retry(&mut subscription, invoice, hard, now);
                }
            }
        }
        if subscription != before {
            self.put_subscription(changes, subscription)?;
        }
        Ok(())
    }

    /// Shows a dunning's next retry on its invoice (`next_payment_attempt`), for a caller that
    /// moved it without holding that invoice.
    pub(crate) fn show_next_retry(
        &self,
        changes: &mut ChangeSet,
        dunning: &Dunning,
    ) -> Result<(), ActorError> {
        if let Some(mut invoice) =
            self.services.store.invoice(&self.key.account, &dunning.invoice)?
        {
            match invoice.collection_method {
                CollectionMethod::ChargeAutomatically => {
                    invoice.next_payment_attempt = dunning.next_retry_at;
                }
                CollectionMethod::SendInvoice => invoice.next_reminder_at = dunning.next_retry_at,
            }
            changes.push(Write::Invoice(invoice));
        }
        Ok(())
    }

    /// The subscription's oldest open invoice with no payment under way, `paid` aside.
    fn oldest_unpaid_invoice(
        &self,
        subscription: &Subscription,
        paid: &InvoiceId,
    ) -> Result<Option<Invoice>, ActorError> {
        let filter = InvoiceFilter {
            customer: Some(subscription.customer.clone()),
            subscription: Some(subscription.id.clone()),
            status: Some(InvoiceStatus::Open),
        };
        let page =
            self.services.store.invoices(&self.key.account, &filter, UNPAID_SCAN_MAX, None)?;
        let oldest = page.items.into_iter().rev().find(|invoice| {
            &invoice.id != paid
                && !self.paid_together.contains(&invoice.id)
                && !invoice.payment_pending
                && !invoice.collecting
        });
        Ok(oldest)
    }

    /// After a failed payment of `invoice` (its first, or a retry): the next retry at the
    /// configured day after the first failure (by M-Pesa: within the local hours); none after
    /// a hard decline (until the payment method changes); after the last,
    /// `billing.dunning.final_action`.
    fn plan_retry(
        &self,
        subscription: &mut Subscription,
        invoice: &mut Invoice,
        hard: bool,
        now: i64,
    ) {
        let by_mpesa = self.pays_by_mpesa(subscription.payment_method.as_ref());
        let dunning =
            subscription.dunning.get_or_insert_with(|| Dunning::first_failure(&invoice.id, now));
        let next = self.next_retry_at(dunning, by_mpesa);
        dunning.next_retry_at = if hard { None } else { next };
        invoice.next_payment_attempt = dunning.next_retry_at;
        if hard || next.is_some() {
            return;
        }
        self.final_action(subscription, invoice, now);
    }

    /// The configured day after the first failure for the dunning's next retry (by M-Pesa:
    /// within the local hours); `None` after the last.
    pub(super) fn next_retry_at(&self, dunning: &Dunning, by_mpesa: bool) -> Option<i64> {
        let policy = &self.services.billing.dunning;
        let offset = policy.retry_days.get(dunning.retries as usize);
        let next = offset.map(|days| dunning.first_failed_at + i64::from(*days) * SECS_PER_DAY);
        match by_mpesa {
            // An STK Push rings the payer's phone: never at night in the account's time zone.
            true => next.map(|at| self.services.prompt_hours.next_within(at)),
            false => next,
        }
    }

    /// After the last retry (or reminder) of `invoice` failed: `billing.dunning.final_action`.
    pub(super) fn final_action(
        &self,
        subscription: &mut Subscription,
        invoice: &mut Invoice,
        now: i64,
    ) {
        match self.services.billing.dunning.final_action {
            FinalAction::Unpaid => subscription.status = SubscriptionStatus::Unpaid,
            FinalAction::PastDue => {}
            FinalAction::Cancel => {
                subscription.status = SubscriptionStatus::Canceled;
                subscription.canceled_at = Some(now);
                subscription.ended_at = Some(now);
                subscription.dunning = None;
                invoice.status = InvoiceStatus::Uncollectible;
            }
        }
    }
}

/// What an attempt to pay an invoice came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Payment {
    Paid,
    /// `hard`: not worth trying again with the same payment method.
    Failed {
        hard: bool,
    },
}

/// Declines that no retry with the same payment method can turn (a lost, stolen or expired
/// card, a suspected fraud): retried only once the payment method changes.
pub(super) fn is_hard_decline(charge: &Charge) -> bool {
    const HARD: [&str; 4] = ["lost_card", "stolen_card", "expired_card", "fraudulent"];
    charge.failure.as_ref().is_some_and(|failure| HARD.contains(&failure.code.as_str()))
}

const SECS_PER_DAY: i64 = 86_400;
