//! Dunning for invoices the customer pays by hand (`send_invoice`: M-Pesa paybill, EFT). They
//! are never charged: once past its due date, an unpaid one makes its subscription `past_due`,
//! and every due instant of its dunning is a reminder (an `invoice.overdue` event) instead of a
//! retry — on the same days after the due date as `billing.dunning.retry_days`, with the same
//! grace period and, after the last reminder, the same final action.

use super::renewals::Step;
use crate::actor::{ActorError, CustomerActor};
use crate::domain::{
    Cause, CollectionMethod, Dunning, Event, EventKind, Invoice, InvoiceStatus, Subscription,
    SubscriptionStatus,
};
use crate::store::Write;

const SECS_PER_DAY: i64 = 86_400;

/// The dunning an open invoice starts: a charged one is tried again at once; one paid by hand
/// is looked at on its due date (at once, if that has passed).
pub(crate) fn dunning_for(invoice: &Invoice, now: i64) -> Dunning {
    match (invoice.collection_method, invoice.due_date) {
        (CollectionMethod::SendInvoice, Some(due)) => Dunning {
            invoice: invoice.id.clone(),
            first_failed_at: due,
            retries: 0,
            next_retry_at: Some(due.max(now)),
        },
        _ => Dunning {
            invoice: invoice.id.clone(),
            first_failed_at: now,
            retries: 0,
            next_retry_at: Some(now),
        },
    }
}

/// Whether `invoice` is overdue at `now`: a charged one that is open has failed (or waits for
/// its retry); one paid by hand is overdue once its due date has passed.
pub(crate) fn is_overdue(invoice: &Invoice, now: i64) -> bool {
    invoice.status == InvoiceStatus::Open
        && match invoice.collection_method {
            CollectionMethod::ChargeAutomatically => true,
            CollectionMethod::SendInvoice => invoice.due_date.is_some_and(|due| due <= now),
        }
}

impl CustomerActor {
    /// A `send_invoice` invoice just finalized with something due: its due date is watched
    /// (unless another invoice of the subscription is in dunning already; that one's payment
    /// hands the dunning on, oldest first). Answers whether it is watched.
    pub(crate) fn watch_due_date(
        &self,
        subscription: &mut Subscription,
        invoice: &Invoice,
    ) -> bool {
        let watched = invoice.collection_method == CollectionMethod::SendInvoice
            && invoice.status == InvoiceStatus::Open
            && invoice.due_date.is_some()
            && subscription.dunning.is_none()
            && !subscription.status.is_terminal();
        if watched {
            subscription.dunning = Some(dunning_for(invoice, invoice.created));
        }
        watched
    }

    /// A due instant of the dunning of a `send_invoice` invoice, still open: the first makes
    /// the subscription `past_due`; each sends a reminder and plans the next; after the last,
    /// `billing.dunning.final_action`.
    pub(super) fn remind_overdue(
        &mut self,
        mut subscription: Subscription,
        mut invoice: Invoice,
    ) -> Result<Step, ActorError> {
        let mut changes = self.changes();
        let Some(dunning) = subscription.dunning.as_mut() else { return Ok(Step::Nothing) };
        let at = dunning.next_retry_at.unwrap_or(dunning.first_failed_at);
        let offsets = &self.services.billing.dunning.retry_days;
        let next = offsets
            .get(dunning.retries as usize)
            .map(|days| dunning.first_failed_at + i64::from(*days) * SECS_PER_DAY);
        dunning.retries += 1;
        dunning.next_retry_at = next;
        invoice.reminders_sent += 1;
        invoice.next_reminder_at = next;
        if matches!(subscription.status, SubscriptionStatus::Active | SubscriptionStatus::Trialing)
        {
            subscription.status = SubscriptionStatus::PastDue;
        }
        changes.push(Write::Event(Event::new(
            EventKind::InvoiceOverdue,
            invoice.id.as_str(),
            &Cause::system("billing"),
        )));
        if next.is_none() {
            self.final_action(&mut subscription, &mut invoice, at);
        }
        tracing::info!(invoice = %invoice.id, reminder = invoice.reminders_sent, next = ?next, "overdue invoice reminded");
        changes.push(Write::Invoice(invoice));
        self.put_subscription(&mut changes, subscription)?;
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }
}
