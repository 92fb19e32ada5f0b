//! What falls due for a subscription, run when the scheduler says so: the notice of a trial's
//! end three days before it, the end of a trial, a renewal, a cancellation scheduled for the
//! period's end, the expiry of an unpaid first invoice. Each is one atomic change set; a renewal moves the period only together with the
//! period's invoice, so it happens once per (subscription, period start) however often it is
//! asked, and a renewal due while the engine was down happens when it next runs.

use actix::{ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::{InvoiceSpec, Presence};
use super::messages::{Ran, RunDue};
use crate::actor::{ActorError, CustomerActor};
use crate::billing::lines::{pending_line, plan_line};
use crate::domain::{
    BillingReason, Cause, CollectionMethod, Event, EventKind, Invoice, InvoiceId, PaymentMethodId,
    Subscription, SubscriptionId, SubscriptionStatus,
};
use crate::limits::RENEWALS_PER_STEP_MAX;
use crate::store::{ChangeSet, DurableTicket, Scheduled, Write};

/// An invoice to charge now, with the payment method to use (the customer's default when
/// `None`).
pub(crate) struct Collection {
    pub invoice: Invoice,
    pub payment_method: Option<PaymentMethodId>,
}

/// What one due step did.
pub(crate) enum Step {
    /// Nothing was due at or before the instant.
    Nothing,
    Done {
        durable: DurableTicket,
        collect: Option<Box<Collection>>,
    },
}

pub(super) fn collection(
    invoice: Option<Invoice>,
    payment_method: Option<PaymentMethodId>,
) -> Option<Box<Collection>> {
    invoice
        .filter(|invoice| invoice.collecting)
        .map(|invoice| Box::new(Collection { invoice, payment_method }))
}

impl CustomerActor {
    /// Runs the earliest thing due for the subscription at or before `at`, if any.
    pub(crate) fn due_step(&mut self, id: &SubscriptionId, at: i64) -> Result<Step, ActorError> {
        let subscription = self.subscription(id)?;
        let Some(due) = subscription.next_due() else { return Ok(Step::Nothing) };
        if due > at {
            return Ok(Step::Nothing);
        }
        if let Some(pending) = &subscription.pending_update
            && pending.expires_at <= at
        {
            return self.expire_pending_update(subscription);
        }
        let retry_at = subscription.dunning.as_ref().and_then(|dunning| dunning.next_retry_at);
        if let Some(retry_at) = retry_at
            && retry_at <= at
            && retry_at <= subscription.current_period_end
        {
            return self.retry_payment(subscription);
        }
        match subscription.status {
            SubscriptionStatus::Incomplete => self.expire_incomplete(subscription, due),
            SubscriptionStatus::Trialing if !subscription.trial_will_end_sent => {
                self.announce_trial_end(subscription)
            }
            SubscriptionStatus::Trialing => {
                self.start_paid_period(self.changes(), subscription, due)
            }
            SubscriptionStatus::Active
            | SubscriptionStatus::PastDue
            | SubscriptionStatus::Unpaid
                if subscription.cancel_at_period_end =>
            {
                self.end_at_period_end(subscription)
            }
            SubscriptionStatus::Active
            | SubscriptionStatus::PastDue
            | SubscriptionStatus::Unpaid => self.renew(subscription),
            SubscriptionStatus::Paused => self.resume_period(self.changes(), subscription, due),
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired => {
                Ok(Step::Nothing)
            }
        }
    }

    /// Three days before the trial ends: `customer.subscription.trial_will_end`, once.
    fn announce_trial_end(&mut self, mut subscription: Subscription) -> Result<Step, ActorError> {
        let mut changes = self.changes();
        subscription.trial_will_end_sent = true;
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionTrialWillEnd,
            subscription.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_subscription(&mut changes, subscription)?;
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// The next period: its invoice (the plan's line and every proration waiting for it),
    /// finalized and, when collected automatically, charged.
    fn renew(&mut self, mut subscription: Subscription) -> Result<Step, ActorError> {
        let start = subscription.current_period_end;
        let end = subscription.following_period_end();
        let collection = subscription.collection_method.as_str();
        let renewed = EventKind::SubscriptionRenewed;
        let step = self.invoice_period(self.changes(), &mut subscription, start, end, renewed)?;
        crate::metrics::global().count_renewal(collection);
        Ok(step)
    }

    /// The trial is over (at its end, or now when asked): the first paid period starts, in
    /// one change set with `changes`.
    pub(crate) fn start_paid_period(
        &mut self,
        changes: ChangeSet,
        mut subscription: Subscription,
        at: i64,
    ) -> Result<Step, ActorError> {
        subscription.trial_end = Some(at);
        subscription.status = SubscriptionStatus::Active;
        let end = subscription.interval.next_boundary_after(subscription.billing_cycle_anchor, at);
        self.invoice_period(changes, &mut subscription, at, end, EventKind::SubscriptionUpdated)
    }

    /// A paused subscription resumes at `at`: a new period starts there (anchored there, so
    /// the paused time is never charged), invoiced and, when collected automatically, charged;
    /// in one change set with `changes`.
    pub(crate) fn resume_period(
        &mut self,
        changes: ChangeSet,
        mut subscription: Subscription,
        at: i64,
    ) -> Result<Step, ActorError> {
        subscription.status = SubscriptionStatus::Active;
        subscription.resumes_at = None;
        subscription.billing_cycle_anchor = at;
        let end = subscription.interval.boundary(at, 1);
        self.invoice_period(changes, &mut subscription, at, end, EventKind::SubscriptionUpdated)
    }

    fn invoice_period(
        &mut self,
        mut changes: ChangeSet,
        subscription: &mut Subscription,
        start: i64,
        end: i64,
        event: EventKind,
    ) -> Result<Step, ActorError> {
        let plan = self.plan(&subscription.plan)?;
        let mut lines: Vec<_> = subscription.pending_lines.iter().map(pending_line).collect();
        let quantity = subscription.quantity;
        // The stub after a trial, up to a later anchor, is billed its share of a whole period.
        let whole_period = match Subscription::is_stub(start, end, subscription.interval) {
            true => {
                let discount = subscription.discount.as_deref();
                let discount = discount.filter(|discount| discount.applies(start, &plan.id));
                let (line, whole) =
                    self.partial_period_line(&plan, quantity, discount, (start, end))?;
                lines.push(line);
                Some(whole.net_minor)
            }
            false => {
                lines.push(plan_line(&plan, quantity, start, end));
                None
            }
        };
        let spec = InvoiceSpec {
            reason: BillingReason::SubscriptionCycle,
            tax_behavior: plan.tax_behavior,
            lines,
            period_start: start,
            period_end: end,
            now: start,
        };
        let invoice = self.issue_invoice(&mut changes, subscription, spec)?;
        subscription.period_invoiced_minor =
            whole_period.unwrap_or_else(|| invoice.period_line_amount());
        subscription.period_invoice = Some(invoice.id.clone());
        subscription.current_period_start = start;
        subscription.current_period_end = end;
        subscription.pending_lines.clear();
        subscription.latest_invoice = Some(invoice.id.clone());
        changes.push(Write::Event(Event::new(
            event,
            subscription.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(subscription = %subscription.id, invoice = %invoice.id, period_start = start, "period invoiced");
        let collect = collection(Some(invoice), subscription.payment_method.clone());
        Ok(Step::Done { durable, collect })
    }

    fn end_at_period_end(&mut self, mut subscription: Subscription) -> Result<Step, ActorError> {
        let end = subscription.current_period_end;
        subscription.status = SubscriptionStatus::Canceled;
        subscription.ended_at = Some(end);
        let mut changes = self.changes();
        let invoice = self.settle_pending_lines(&mut changes, &mut subscription, end)?;
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionCanceled,
            subscription.id.as_str(),
            &Cause::system("billing"),
        )));
        let payment_method = subscription.payment_method.clone();
        self.put_subscription(&mut changes, subscription)?;
        let collect = collection(invoice, payment_method);
        Ok(Step::Done { durable: self.commit(changes)?, collect })
    }

    /// Prorations still waiting when a subscription ends are invoiced then, not dropped: a
    /// credit goes to the customer's balance, a charge is collected.
    pub(crate) fn settle_pending_lines(
        &mut self,
        changes: &mut crate::store::ChangeSet,
        subscription: &mut Subscription,
        at: i64,
    ) -> Result<Option<Invoice>, ActorError> {
        if subscription.pending_lines.is_empty() {
            return Ok(None);
        }
        let plan = self.plan(&subscription.plan)?;
        let spec = InvoiceSpec {
            reason: BillingReason::SubscriptionUpdate,
            tax_behavior: plan.tax_behavior,
            lines: subscription.pending_lines.iter().map(pending_line).collect(),
            period_start: subscription.current_period_start,
            period_end: at,
            now: at,
        };
        subscription.pending_lines.clear();
        let invoice = self.issue_invoice(changes, subscription, spec)?;
        subscription.latest_invoice = Some(invoice.id.clone());
        Ok(Some(invoice))
    }

    /// A first invoice unpaid for 23 hours: the subscription ends and its invoice is voided.
    fn expire_incomplete(
        &mut self,
        mut subscription: Subscription,
        at: i64,
    ) -> Result<Step, ActorError> {
        let mut changes = self.changes();
        if let Some(id) = &subscription.latest_invoice
            && !self.give_up_invoice(&mut changes, id, at)?
        {
            return Ok(Step::Nothing);
        }
        subscription.status = SubscriptionStatus::IncompleteExpired;
        subscription.ended_at = Some(at);
        self.discount_released(&mut changes, &subscription)?;
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionCanceled,
            subscription.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_subscription(&mut changes, subscription)?;
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// A `pending_if_incomplete` change whose invoice was not paid in time is dropped and its
    /// invoice voided; a payment still under way is waited for, as for a first invoice.
    fn expire_pending_update(
        &mut self,
        mut subscription: Subscription,
    ) -> Result<Step, ActorError> {
        let Some(pending) = subscription.pending_update.take() else { return Ok(Step::Nothing) };
        let mut changes = self.changes();
        if !self.give_up_invoice(&mut changes, &pending.invoice, pending.expires_at)? {
            return Ok(Step::Nothing);
        }
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionUpdated,
            subscription.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_subscription(&mut changes, subscription)?;
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// The next retry of the invoice in dunning: a new attempt, decided and recorded here,
    /// charged (off-session) by the caller. An invoice no longer open (paid by hand, voided)
    /// ends the dunning instead.
    fn retry_payment(&mut self, mut subscription: Subscription) -> Result<Step, ActorError> {
        let Some(dunning) = subscription.dunning.as_mut() else { return Ok(Step::Nothing) };
        let mut changes = self.changes();
        let found = self.services.store.invoice(&self.key.account, &dunning.invoice)?;
        let Some(mut invoice) = found.filter(|invoice| invoice.status.is_collectible()) else {
            subscription.dunning = None;
            self.put_subscription(&mut changes, subscription)?;
            return Ok(Step::Done { durable: self.commit(changes)?, collect: None });
        };
        if invoice.collection_method == CollectionMethod::SendInvoice {
            return self.remind_overdue(subscription, invoice);
        }
        if invoice.payment_pending || invoice.collecting {
            // An attempt is under way (a payment by hand): its outcome plans what follows.
            dunning.next_retry_at = None;
            self.put_subscription(&mut changes, subscription)?;
            return Ok(Step::Done { durable: self.commit(changes)?, collect: None });
        }
        dunning.retries += 1;
        dunning.next_retry_at = None;
        invoice.attempt_count += 1;
        invoice.collecting = true;
        invoice.next_payment_attempt = None;
        changes.push(Write::Invoice(invoice.clone()));
        let payment_method = subscription.payment_method.clone();
        self.put_subscription(&mut changes, subscription)?;
        let durable = self.commit(changes)?;
        Ok(Step::Done { durable, collect: collection(Some(invoice), payment_method) })
    }

    /// Voids an invoice given up on at `at`, returning the balance it applied. Answers `false`,
    /// changing nothing, while a payment of it is under way: a payment is never abandoned under
    /// the customer; its settlement decides, and the expiry is looked at again after it.
    fn give_up_invoice(
        &mut self,
        changes: &mut ChangeSet,
        id: &InvoiceId,
        at: i64,
    ) -> Result<bool, ActorError> {
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, id)? else {
            return Ok(true);
        };
        if invoice.payment_pending {
            return Ok(false);
        }
        if invoice.status.is_collectible() {
            self.void_invoice(changes, &mut invoice, at)?;
            changes.push(Write::Invoice(invoice));
        }
        Ok(true)
    }

    /// Runs the subscription's or payment plan's next due step at or before `at`, if any.
    fn object_due_step(&mut self, object: &Scheduled, at: i64) -> Result<Step, ActorError> {
        match object {
            Scheduled::Subscription(id) => self.due_step(id, at),
            Scheduled::PaymentPlan(id) => self.payment_plan_due_step(id, at),
            Scheduled::Charge(id) => self.bank_transfer_due_step(id, at),
            Scheduled::CheckoutSession(id) => self.checkout_due_step(id, at),
            Scheduled::Sponsor(_) => self.sponsorship_due_step(at),
            Scheduled::Invoice(id) => self.recognition_due_step(id, at),
        }
    }

    fn object_next_due(&self, object: &Scheduled) -> Result<Option<i64>, ActorError> {
        match object {
            Scheduled::Subscription(id) => Ok(self.subscription(id)?.next_due()),
            Scheduled::PaymentPlan(id) => Ok(self.payment_plan(id)?.next_due()),
            Scheduled::Charge(id) => {
                let charge = self.services.store.charge(&self.key.account, id)?;
                Ok(charge.as_ref().and_then(crate::actor::bank_transfers::bank_transfer_due))
            }
            Scheduled::CheckoutSession(id) => self.checkout_next_due(id),
            Scheduled::Sponsor(_) => self.sponsorship_next_due(),
            Scheduled::Invoice(id) => self.recognition_next_due(id),
        }
    }

    /// Runs due steps up to `at` until one needs a charge; answers what was done.
    fn run_due_steps(
        &mut self,
        object: &Scheduled,
        at: i64,
    ) -> Result<(Vec<DurableTicket>, Option<Box<Collection>>), ActorError> {
        let mut durables = Vec::new();
        for _ in 0..RENEWALS_PER_STEP_MAX {
            let step = match self.object_due_step(object, at) {
                // What is done is answered; the scheduler asks again for the rest, and that
                // turn makes the rule call on the rule threads.
                Err(ActorError::NeedsRuleThreads(_)) if !durables.is_empty() => break,
                step => step?,
            };
            match step {
                Step::Nothing => break,
                Step::Done { durable, collect } => {
                    durables.push(durable);
                    if collect.is_some() {
                        return Ok((durables, collect));
                    }
                }
            }
        }
        Ok((durables, None))
    }
}

impl Handler<RunDue> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Ran, ActorError>>;

    fn handle(&mut self, message: RunDue, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, CustomerActor::run_due)
    }
}

impl CustomerActor {
    fn run_due(
        &mut self,
        message: RunDue,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<Ran, ActorError>> {
        let ran = self
            .accepting()
            .map(|_| ())
            .and_then(|()| self.run_due_steps(&message.object, message.at));
        let (mut durables, collect) = match ran {
            Ok(ran) => ran,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let Some(collection) = collect else {
            let steps = !durables.is_empty();
            let next_due = self.object_next_due(&message.object);
            return Box::pin(
                async move {
                    for durable in durables {
                        durable.wait().await?;
                    }
                    Ok(Ran { steps, next_due: next_due? })
                }
                .into_actor(self),
            );
        };
        let Collection { invoice, payment_method } = *collection;
        debug_assert_eq!(invoice.collection_method, CollectionMethod::ChargeAutomatically);
        let recorded = durables.pop().expect("a step that charges committed");
        // Later writes are flushed with the last one: waiting on it waits on them all.
        let address = ctx.address();
        let again = message.clone();
        Box::pin(
            self.collect_then_answer(
                ctx,
                invoice,
                payment_method,
                recorded,
                &Cause::system("renewal"),
                Presence::OffSession,
            )
            .then(move |_charged, actor, _| {
                // A declined renewal or instalment is its object's news (past_due), not a
                // failure of the schedule: what else is due runs next.
                async move {
                    let rest = address
                        .send(again)
                        .await
                        .map_err(|error| ActorError::Unavailable(error.to_string()))??;
                    Ok(Ran { steps: true, ..rest })
                }
                .into_actor(actor)
            }),
        )
    }
}
