//! Subscriptions as the API changes them: created (with a trial, or with its first invoice
//! charged before the answer), changed in plan or seats with proration, cancelled now or at
//! the period's end, reactivated, and previewed.
//!
//! Proration asks the account's proration rule for the unused share (to the second) of what
//! the period was actually invoiced for the current plan, and for the new plan's share of the
//! same rest of the period; a preview runs the same code on a copy, so it shows what the change
//! then makes.

use actix::{ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::InvoiceSpec;
use super::messages::{
    CancelSubscription, CreateSubscription, PlanChange, PreviewInvoice, ProrationBehavior,
    ReactivateSubscription, TrialEnd, TrialRequest, UpdateCustomer, UpdateSubscription,
};
use super::renewals::Step;
use crate::actor::{ActorError, CustomerActor, IdempotencyTicket};
use crate::billing::invoicing::{InvoiceInput, ProrationInput, price_invoice, prorate};
use crate::billing::lines::{pending_line, plan_line, remaining_time, unused_time};
use crate::domain::{
    BillingReason, Charge, ChargeStatus, CollectionMethod, Event, EventKind, Invoice,
    InvoiceStatus, PaymentMethodKind, PendingLine, Plan, Subscription, SubscriptionId,
    SubscriptionStatus,
};
use crate::limits::DAYS_UNTIL_DUE_MAX;
use crate::store::{ChangeSet, DurableTicket, InFlightObject, Outcome, Write};

const SECS_PER_DAY: i64 = 86_400;
/// `send_invoice`'s default `days_until_due` (API contract).
const DAYS_UNTIL_DUE_DEFAULT: u32 = 7;

/// What a state change decided: what to answer with, and an invoice to charge first if any.
struct Decided {
    subscription: Subscription,
    durable: DurableTicket,
    collect: Option<Invoice>,
}

fn canceled(subscription: &Subscription) -> ActorError {
    ActorError::invalid(
        "subscription_canceled",
        Some("subscription"),
        format!(
            "subscription {} is {}: it can no longer be changed",
            subscription.id,
            subscription.status.as_str()
        ),
    )
}

impl CustomerActor {
    fn begin_subscription(&mut self, message: &CreateSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let plan = &message.plan;
        let state = self.accepting()?;
        if let Some(currency) = state.customer.currency
            && currency != plan.currency
        {
            return Err(ActorError::invalid(
                "currency_mismatch",
                Some("plan"),
                format!(
                    "customer {} bills in {}; plan {} is in {}",
                    state.customer.id,
                    currency.code().to_ascii_lowercase(),
                    plan.id,
                    plan.currency.code().to_ascii_lowercase()
                ),
            ));
        }
        let method_id = message
            .payment_method
            .clone()
            .or_else(|| state.customer.default_payment_method.clone());
        let method = match &method_id {
            Some(id) => Some(
                state.payment_methods.iter().find(|method| &method.id == id).cloned().ok_or_else(
                    || ActorError::NotFound { kind: "payment_method", id: id.to_string() },
                )?,
            ),
            None => None,
        };
        let collection_method = message.collection_method.unwrap_or(match &method {
            Some(method) if method.kind == PaymentMethodKind::Mpesa => {
                CollectionMethod::SendInvoice
            }
            _ => CollectionMethod::ChargeAutomatically,
        });
        let trial_end = match message.trial {
            TrialRequest::PlanDefault if plan.trial_days > 0 => {
                Some(now + i64::from(plan.trial_days) * SECS_PER_DAY)
            }
            TrialRequest::PlanDefault | TrialRequest::Days(0) => None,
            TrialRequest::Days(days) => Some(now + i64::from(days) * SECS_PER_DAY),
            TrialRequest::Until(end) if end <= now => {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("trial_end"),
                    format!("`trial_end` {end} is not after the customer's now ({now})"),
                ));
            }
            TrialRequest::Until(end) => Some(end),
        };
        if let Some(anchor) = message.billing_cycle_anchor
            && anchor < now
        {
            return Err(ActorError::invalid(
                "validation_error",
                Some("billing_cycle_anchor"),
                format!("`billing_cycle_anchor` {anchor} is before the customer's now ({now})"),
            ));
        }
        if let Some(anchor) = message.billing_cycle_anchor
            && trial_end.is_none()
            && anchor > plan.interval.boundary(now, 1)
        {
            return Err(ActorError::invalid(
                "validation_error",
                Some("billing_cycle_anchor"),
                "`billing_cycle_anchor` must fall within the first period: at most one interval \
                 of the plan from now",
            ));
        }
        let needs_method = collection_method == CollectionMethod::ChargeAutomatically
            && trial_end.is_none()
            && plan.amount_minor > 0;
        if needs_method && method.is_none() {
            return Err(ActorError::invalid(
                "payment_method_invalid",
                Some("payment_method"),
                "the customer has no payment method to charge: attach one, pass \
                 `payment_method`, or use `collection_method: send_invoice`",
            ));
        }
        let days_until_due = message.days_until_due.unwrap_or(DAYS_UNTIL_DUE_DEFAULT);
        if days_until_due > DAYS_UNTIL_DUE_MAX {
            return Err(ActorError::invalid(
                "validation_error",
                Some("days_until_due"),
                format!("`days_until_due` is at most {DAYS_UNTIL_DUE_MAX}"),
            ));
        }
        state.customer.currency = Some(plan.currency);
        let customer = state.customer.clone();
        let anchor = message.billing_cycle_anchor.or(trial_end).unwrap_or(now);
        let period_end = match trial_end {
            Some(end) => end,
            None if anchor > now => anchor,
            None => plan.interval.boundary(now, 1),
        };
        let mut subscription = Subscription {
            id: SubscriptionId::generate(),
            customer: customer.id.clone(),
            plan: plan.id.clone(),
            quantity: message.quantity,
            status: match trial_end {
                Some(_) => SubscriptionStatus::Trialing,
                None => SubscriptionStatus::Incomplete,
            },
            collection_method,
            days_until_due,
            interval: plan.interval,
            current_period_start: now,
            current_period_end: period_end,
            billing_cycle_anchor: anchor,
            trial_start: trial_end.map(|_| now),
            trial_end,
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            latest_invoice: None,
            payment_method: message.payment_method.clone(),
            pending_lines: Vec::new(),
            period_invoiced_minor: 0,
            metadata: message.metadata.clone(),
            created: now,
            test_clock: customer.test_clock.clone(),
        };
        let mut changes = self.changes().with(Write::Customer(customer));
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionCreated,
            subscription.id.as_str(),
            &message.cause,
        )));
        let mut collect = None;
        if trial_end.is_none() {
            let line = if anchor > now {
                self.partial_period_line(plan, message.quantity, now, anchor)?
            } else {
                plan_line(plan, message.quantity, now, period_end)
            };
            let spec = InvoiceSpec {
                reason: BillingReason::SubscriptionCreate,
                tax_behavior: plan.tax_behavior,
                lines: vec![line],
                period_start: now,
                period_end,
                now,
            };
            let invoice = self.issue_invoice(&mut changes, &subscription, spec)?;
            let line = &invoice.lines[0];
            subscription.period_invoiced_minor = line.amount_minor - line.discount_minor;
            subscription.latest_invoice = Some(invoice.id.clone());
            subscription.status = match (invoice.status, collection_method) {
                (InvoiceStatus::Paid, _) | (_, CollectionMethod::SendInvoice) => {
                    SubscriptionStatus::Active
                }
                _ => SubscriptionStatus::Incomplete,
            };
            collect = invoice.collecting.then_some(invoice);
        }
        self.record_answer(&mut changes, &message.idempotency, &subscription, collect.is_some());
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(subscription = %subscription.id, status = subscription.status.as_str(), "subscription created");
        Ok(Decided { subscription, durable, collect })
    }

    /// The line of a first period cut short by a later `billing_cycle_anchor`: the plan's price
    /// prorated over the part of a whole period that is billed.
    fn partial_period_line(
        &self,
        plan: &Plan,
        quantity: u32,
        now: i64,
        anchor: i64,
    ) -> Result<crate::billing::invoicing::DraftLine, ActorError> {
        let full_start = plan.interval.boundary(anchor, -1);
        let full = self.full_period_price(plan, quantity, now)?;
        let proration = prorate(
            &self.services.rules,
            ProrationInput {
                account: &self.key.account,
                currency: plan.currency,
                credited_minor: 0,
                new_full_minor: full,
                period_start: full_start,
                period_end: anchor,
                changed_at: now.max(full_start),
            },
        )?;
        Ok(pending_line(&remaining_time(plan, quantity, proration.charge_minor, now, anchor)))
    }

    /// What `quantity` of `plan` costs for a whole period, after discounts, as the pricing
    /// rule prices it at `now` (tax-inclusive when the plan is).
    fn full_period_price(&self, plan: &Plan, quantity: u32, now: i64) -> Result<i64, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let totals = price_invoice(
            &self.services.rules,
            InvoiceInput {
                account: &self.key.account,
                customer: &state.customer,
                currency: plan.currency,
                tax_behavior: plan.tax_behavior,
                lines: vec![plan_line(plan, quantity, now, now)],
                now,
            },
        )?;
        let line = &totals.lines[0];
        Ok(line.amount_minor - line.discount_minor)
    }

    /// The idempotency record of a subscription request: in flight while a payment is under
    /// way (a replay shows the subscription as it then stands), else the answer itself.
    fn record_answer(
        &self,
        changes: &mut ChangeSet,
        ticket: &Option<IdempotencyTicket>,
        subscription: &Subscription,
        paying: bool,
    ) {
        let Some(ticket) = ticket else { return };
        changes.push(match paying {
            true => Write::idempotency_in_flight(
                &ticket.key,
                ticket.fingerprint,
                InFlightObject::Subscription(subscription.id.clone()),
            ),
            false => Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                Outcome::Subscription(subscription.clone()),
            ),
        });
    }

    /// Answers a decided change: at once, or after charging its invoice, with the subscription
    /// as it then stands (a declined first payment answers as a decline, naming it).
    fn answer(
        &mut self,
        ctx: &mut Context<Self>,
        decided: Decided,
        ticket: Option<IdempotencyTicket>,
        cause: &str,
    ) -> ResponseActFuture<Self, Result<Outcome, ActorError>> {
        let Decided { subscription, durable, collect } = decided;
        let Some(invoice) = collect else {
            return Box::pin(
                async move {
                    durable.wait().await?;
                    Ok(Outcome::Subscription(subscription))
                }
                .into_actor(self),
            );
        };
        let payment_method = subscription.payment_method.clone();
        let id = subscription.id.clone();
        Box::pin(self.collect_then_answer(ctx, invoice, payment_method, durable, cause).then(
            move |paid, actor, _| {
                let answered = paid.and_then(|invoice| actor.paid_outcome(&id, &invoice, ticket));
                async move {
                    let (outcome, durable) = answered?;
                    if let Some(durable) = durable {
                        durable.wait().await?;
                    }
                    Ok(outcome)
                }
                .into_actor(actor)
            },
        ))
    }

    fn paid_outcome(
        &mut self,
        id: &SubscriptionId,
        invoice: &Invoice,
        ticket: Option<IdempotencyTicket>,
    ) -> Result<(Outcome, Option<DurableTicket>), ActorError> {
        let subscription = self.subscription(id)?;
        let charge: Option<Charge> = match &invoice.charge {
            Some(charge) => self.services.store.charge(&self.key.account, charge)?,
            None => None,
        };
        let outcome = match charge {
            Some(charge)
                if charge.status == ChargeStatus::Failed
                    && subscription.status == SubscriptionStatus::Incomplete =>
            {
                Outcome::SubscriptionDeclined {
                    subscription: Box::new(subscription),
                    charge: Box::new(charge),
                }
            }
            _ => Outcome::Subscription(subscription),
        };
        let Some(ticket) = ticket else { return Ok((outcome, None)) };
        let write = Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome.clone());
        Ok((outcome, Some(self.commit(self.changes().with(write))?)))
    }

    fn change_subscription(&mut self, message: &UpdateSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut subscription = self.subscription(&message.id)?;
        if subscription.status.is_terminal() {
            return Err(canceled(&subscription));
        }
        let mut changes = self.changes();
        let mut collect = None;
        if let Some(metadata) = &message.metadata {
            subscription.metadata = metadata.clone();
        }
        if let Some(cancel) = message.cancel_at_period_end {
            subscription.cancel_at_period_end = cancel;
            subscription.canceled_at = cancel.then_some(now);
        }
        if message.change.plan.is_some() || message.change.quantity.is_some() {
            collect = self.change_plan(&mut changes, &mut subscription, &message.change, now)?;
        }
        match message.trial_end {
            Some(TrialEnd::At(end)) if subscription.status == SubscriptionStatus::Trialing => {
                if end <= now {
                    return Err(ActorError::invalid(
                        "validation_error",
                        Some("trial_end"),
                        format!("`trial_end` {end} is not after the customer's now ({now})"),
                    ));
                }
                subscription.trial_end = Some(end);
                subscription.current_period_end = end;
                subscription.billing_cycle_anchor = end;
            }
            Some(TrialEnd::Now) if subscription.status == SubscriptionStatus::Trialing => {
                // The paid period starts now, through the same step as a trial that ran out.
                self.put_subscription(&mut changes, subscription.clone())?;
                self.record_answer(&mut changes, &message.idempotency, &subscription, true);
                self.commit(changes)?;
                subscription.billing_cycle_anchor = now;
                let Step::Done { durable, collect } =
                    self.start_paid_period(subscription.clone(), now)?
                else {
                    unreachable!("a trial ended now always starts a period");
                };
                let subscription = self.subscription(&subscription.id)?;
                let collect = collect.map(|collection| collection.invoice);
                return Ok(Decided { subscription, durable, collect });
            }
            Some(_) => {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("trial_end"),
                    format!("subscription {} is not trialing", subscription.id),
                ));
            }
            None => {}
        }
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionUpdated,
            subscription.id.as_str(),
            &message.cause,
        )));
        self.record_answer(&mut changes, &message.idempotency, &subscription, collect.is_some());
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        Ok(Decided { subscription, durable, collect })
    }

    /// Applies a change of plan and/or seats to `subscription` at `now`; answers the invoice
    /// to charge now, if the change makes one.
    fn change_plan(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        change: &PlanChange,
        now: i64,
    ) -> Result<Option<Invoice>, ActorError> {
        let old_plan = self.plan(&subscription.plan)?;
        let new_plan = change.plan.clone().unwrap_or_else(|| old_plan.clone());
        let quantity = change.quantity.unwrap_or(subscription.quantity);
        self.check_plan_for(subscription, &new_plan)?;
        if subscription.status == SubscriptionStatus::Trialing {
            subscription.plan = new_plan.id.clone();
            subscription.quantity = quantity;
            subscription.interval = new_plan.interval;
            return Ok(None);
        }
        if new_plan.interval != subscription.interval {
            return self.change_interval(
                changes,
                subscription,
                &old_plan,
                &new_plan,
                quantity,
                now,
            );
        }
        let lines = self.proration_lines(subscription, &old_plan, &new_plan, quantity, now)?;
        if change.proration_behavior != ProrationBehavior::None {
            // From now on the period counts as invoiced at the new plan's price: a later
            // change credits the unused share of that.
            subscription.period_invoiced_minor =
                self.full_period_price(&new_plan, quantity, now)?;
        }
        subscription.plan = new_plan.id.clone();
        subscription.quantity = quantity;
        match change.proration_behavior {
            ProrationBehavior::None => Ok(None),
            ProrationBehavior::CreateProrations => {
                subscription.pending_lines.extend(lines);
                Ok(None)
            }
            ProrationBehavior::AlwaysInvoice => {
                subscription.pending_lines.extend(lines);
                if subscription.pending_lines.is_empty() {
                    return Ok(None);
                }
                let spec = InvoiceSpec {
                    reason: BillingReason::SubscriptionUpdate,
                    tax_behavior: new_plan.tax_behavior,
                    lines: subscription.pending_lines.iter().map(pending_line).collect(),
                    period_start: now,
                    period_end: subscription.current_period_end,
                    now,
                };
                subscription.pending_lines.clear();
                let invoice = self.issue_invoice(changes, subscription, spec)?;
                subscription.latest_invoice = Some(invoice.id.clone());
                Ok(invoice.collecting.then_some(invoice))
            }
        }
    }

    /// A new interval (monthly → annual) starts a new period now: the unused old period is
    /// credited and the new one invoiced at once, with the anchor moved to now.
    fn change_interval(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        old_plan: &Plan,
        new_plan: &Plan,
        quantity: u32,
        now: i64,
    ) -> Result<Option<Invoice>, ActorError> {
        let (lines, end) =
            self.interval_change_lines(subscription, old_plan, new_plan, quantity, now)?;
        let spec = InvoiceSpec {
            reason: BillingReason::SubscriptionUpdate,
            tax_behavior: new_plan.tax_behavior,
            lines,
            period_start: now,
            period_end: end,
            now,
        };
        let invoice = self.issue_invoice(changes, subscription, spec)?;
        let plan_line = invoice.lines.last().expect("the new period's line is last");
        subscription.period_invoiced_minor = plan_line.amount_minor - plan_line.discount_minor;
        subscription.latest_invoice = Some(invoice.id.clone());
        Ok(invoice.collecting.then_some(invoice))
    }

    /// The lines of a change to another interval at `now` — what was waiting, the credit for
    /// the unused old period, the new plan's first whole period — with `subscription` moved to
    /// that period; answers the lines and the period's end.
    fn interval_change_lines(
        &self,
        subscription: &mut Subscription,
        old_plan: &Plan,
        new_plan: &Plan,
        quantity: u32,
        now: i64,
    ) -> Result<(Vec<crate::billing::invoicing::DraftLine>, i64), ActorError> {
        let credit = self.unused_credit(subscription, now)?;
        let end = new_plan.interval.boundary(now, 1);
        let mut lines: Vec<_> = subscription.pending_lines.iter().map(pending_line).collect();
        if credit > 0 {
            let old_end = subscription.current_period_end;
            let unused = unused_time(old_plan, subscription.quantity, credit, now, old_end);
            lines.push(pending_line(&unused));
        }
        lines.push(plan_line(new_plan, quantity, now, end));
        subscription.plan = new_plan.id.clone();
        subscription.quantity = quantity;
        subscription.interval = new_plan.interval;
        subscription.billing_cycle_anchor = now;
        subscription.current_period_start = now;
        subscription.current_period_end = end;
        subscription.pending_lines.clear();
        Ok((lines, end))
    }

    /// The unused share at `at` of what the current period was invoiced for the current plan.
    fn unused_credit(&self, subscription: &Subscription, at: i64) -> Result<i64, ActorError> {
        if subscription.period_invoiced_minor <= 0 {
            return Ok(0);
        }
        let plan = self.plan(&subscription.plan)?;
        let proration = prorate(
            &self.services.rules,
            ProrationInput {
                account: &self.key.account,
                currency: plan.currency,
                credited_minor: subscription.period_invoiced_minor,
                new_full_minor: 0,
                period_start: subscription.current_period_start,
                period_end: subscription.current_period_end,
                changed_at: at,
            },
        )?;
        Ok(proration.credit_minor)
    }

    /// The credit for the unused old plan and the charge for the new one, from `at` to the
    /// period's end.
    fn proration_lines(
        &self,
        subscription: &Subscription,
        old_plan: &Plan,
        new_plan: &Plan,
        quantity: u32,
        at: i64,
    ) -> Result<Vec<PendingLine>, ActorError> {
        let new_full = self.full_period_price(new_plan, quantity, at)?;
        let proration = prorate(
            &self.services.rules,
            ProrationInput {
                account: &self.key.account,
                currency: new_plan.currency,
                credited_minor: subscription.period_invoiced_minor,
                new_full_minor: new_full,
                period_start: subscription.current_period_start,
                period_end: subscription.current_period_end,
                changed_at: at,
            },
        )?;
        let end = subscription.current_period_end;
        let mut lines = Vec::new();
        if proration.credit_minor > 0 {
            let quantity_before = subscription.quantity;
            lines.push(unused_time(old_plan, quantity_before, proration.credit_minor, at, end));
        }
        if proration.charge_minor > 0 {
            lines.push(remaining_time(new_plan, quantity, proration.charge_minor, at, end));
        }
        Ok(lines)
    }

    fn check_plan_for(&self, subscription: &Subscription, plan: &Plan) -> Result<(), ActorError> {
        if plan.id != subscription.plan && !plan.active {
            return Err(ActorError::invalid(
                "plan_inactive",
                Some("plan"),
                format!("plan {} is inactive: it takes no new subscriptions", plan.id),
            ));
        }
        let current = self.plan(&subscription.plan)?;
        if plan.currency != current.currency {
            return Err(ActorError::invalid(
                "currency_mismatch",
                Some("plan"),
                format!(
                    "subscription {} bills in {}; plan {} is in {}",
                    subscription.id,
                    current.currency.code().to_ascii_lowercase(),
                    plan.id,
                    plan.currency.code().to_ascii_lowercase()
                ),
            ));
        }
        Ok(())
    }

    fn cancel(&mut self, message: &CancelSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut subscription = self.subscription(&message.id)?;
        if subscription.status.is_terminal() {
            return Err(canceled(&subscription));
        }
        let mut changes = self.changes();
        let mut collect = None;
        if message.at_period_end {
            subscription.cancel_at_period_end = true;
            subscription.canceled_at = Some(now);
            changes.push(Write::Event(Event::new(
                EventKind::SubscriptionUpdated,
                subscription.id.as_str(),
                &message.cause,
            )));
        } else {
            if message.prorate && subscription.status != SubscriptionStatus::Trialing {
                let credit = self.unused_credit(&subscription, now)?;
                let state = self.accepting()?;
                state.customer.balance_minor -= credit;
                changes.push(Write::Customer(state.customer.clone()));
            }
            subscription.status = SubscriptionStatus::Canceled;
            subscription.canceled_at = Some(now);
            subscription.ended_at = Some(now);
            collect = self.settle_pending_lines(&mut changes, &mut subscription, now)?;
            changes.push(Write::Event(Event::new(
                EventKind::SubscriptionCanceled,
                subscription.id.as_str(),
                &message.cause,
            )));
        }
        let collect = collect.filter(|invoice| invoice.collecting);
        self.record_answer(&mut changes, &message.idempotency, &subscription, collect.is_some());
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        Ok(Decided { subscription, durable, collect })
    }

    fn reactivate(&mut self, message: &ReactivateSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut subscription = self.subscription(&message.id)?;
        if !subscription.cancel_at_period_end
            || subscription.status.is_terminal()
            || now >= subscription.current_period_end
        {
            return Err(ActorError::invalid(
                "subscription_not_reactivatable",
                Some("subscription"),
                format!(
                    "subscription {} is not set to cancel at the end of a period still running",
                    subscription.id
                ),
            ));
        }
        subscription.cancel_at_period_end = false;
        subscription.canceled_at = None;
        let mut changes = self.changes();
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionUpdated,
            subscription.id.as_str(),
            &message.cause,
        )));
        self.record_answer(&mut changes, &message.idempotency, &subscription, false);
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        Ok(Decided { subscription, durable, collect: None })
    }

    fn preview(&self, message: &PreviewInvoice) -> Result<Invoice, ActorError> {
        let now = match message.at {
            Some(at) => at,
            None => self.billing_now()?,
        };
        let mut subscription = self.subscription(&message.id)?;
        if subscription.status.is_terminal() {
            return Err(canceled(&subscription));
        }
        if let Some(change) = &message.change {
            if now < subscription.current_period_start || now > subscription.current_period_end {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("proration_date"),
                    "`proration_date` must fall within the current period",
                ));
            }
            let old_plan = self.plan(&subscription.plan)?;
            let new_plan = change.plan.clone().unwrap_or_else(|| old_plan.clone());
            let quantity = change.quantity.unwrap_or(subscription.quantity);
            self.check_plan_for(&subscription, &new_plan)?;
            if subscription.status != SubscriptionStatus::Trialing
                && new_plan.interval != subscription.interval
            {
                // A new interval is invoiced at once: that invoice is what the change makes.
                let mut copy = subscription.clone();
                let old = &old_plan;
                let (lines, end) =
                    self.interval_change_lines(&mut copy, old, &new_plan, quantity, now)?;
                return self.draft_invoice(
                    &copy,
                    InvoiceSpec {
                        reason: BillingReason::SubscriptionUpdate,
                        tax_behavior: new_plan.tax_behavior,
                        lines,
                        period_start: now,
                        period_end: end,
                        now,
                    },
                );
            }
            if subscription.status != SubscriptionStatus::Trialing {
                let lines =
                    self.proration_lines(&subscription, &old_plan, &new_plan, quantity, now)?;
                match change.proration_behavior {
                    ProrationBehavior::None => {}
                    ProrationBehavior::CreateProrations => subscription.pending_lines.extend(lines),
                    ProrationBehavior::AlwaysInvoice => {
                        let mut pending = subscription.pending_lines.clone();
                        pending.extend(lines);
                        subscription.plan = new_plan.id.clone();
                        return self.draft_invoice(
                            &subscription,
                            InvoiceSpec {
                                reason: BillingReason::SubscriptionUpdate,
                                tax_behavior: new_plan.tax_behavior,
                                lines: pending.iter().map(pending_line).collect(),
                                period_start: now,
                                period_end: subscription.current_period_end,
                                now,
                            },
                        );
                    }
                }
            }
            subscription.plan = new_plan.id.clone();
            subscription.quantity = quantity;
        }
        let plan = self.plan(&subscription.plan)?;
        let (start, end) = match subscription.status {
            SubscriptionStatus::Trialing => {
                let start = subscription.trial_end.unwrap_or(subscription.current_period_end);
                let anchor = subscription.billing_cycle_anchor;
                (start, subscription.interval.next_boundary_after(anchor, start))
            }
            _ => (subscription.current_period_end, subscription.following_period_end()),
        };
        let mut lines: Vec<_> = subscription.pending_lines.iter().map(pending_line).collect();
        lines.push(plan_line(&plan, subscription.quantity, start, end));
        self.draft_invoice(
            &subscription,
            InvoiceSpec {
                reason: BillingReason::SubscriptionCycle,
                tax_behavior: plan.tax_behavior,
                lines,
                period_start: start,
                period_end: end,
                now: start,
            },
        )
    }
}

/// Runs `decide` unless the request's key answered before, then answers as decided.
macro_rules! keyed {
    ($actor:expr, $ctx:expr, $message:expr, $decide:ident) => {{
        match $actor.earlier_outcome($message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(
                outcome @ (Outcome::Subscription(_) | Outcome::SubscriptionDeclined { .. }),
            )) => return Box::pin(fut::ready(Ok(outcome))),
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        match $actor.$decide(&$message) {
            Ok(decided) => {
                $actor.answer($ctx, decided, $message.idempotency.clone(), &$message.cause)
            }
            Err(error) => Box::pin(fut::ready(Err(error))),
        }
    }};
}

impl Handler<CreateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CreateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        keyed!(self, ctx, message, begin_subscription)
    }
}

impl Handler<UpdateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: UpdateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        keyed!(self, ctx, message, change_subscription)
    }
}

impl Handler<CancelSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CancelSubscription, ctx: &mut Context<Self>) -> Self::Result {
        keyed!(self, ctx, message, cancel)
    }
}

impl Handler<ReactivateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: ReactivateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        keyed!(self, ctx, message, reactivate)
    }
}

impl Handler<PreviewInvoice> for CustomerActor {
    type Result = Result<Invoice, ActorError>;

    fn handle(&mut self, message: PreviewInvoice, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        self.preview(&message)
    }
}

impl Handler<UpdateCustomer> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: UpdateCustomer, _: &mut Context<Self>) -> Self::Result {
        let updated = self.update_customer(message);
        Box::pin(
            async move {
                let (outcome, durable) = updated?;
                durable.wait().await?;
                Ok(outcome)
            }
            .into_actor(self),
        )
    }
}

impl CustomerActor {
    fn update_customer(
        &mut self,
        message: UpdateCustomer,
    ) -> Result<(Outcome, DurableTicket), ActorError> {
        if let Some(outcome) = self.earlier_outcome(message.idempotency.as_ref())? {
            return match outcome {
                Outcome::Customer(_) => Ok((outcome, self.services.store.sync())),
                _ => Err(ActorError::IdempotencyReused),
            };
        }
        let mut changes = self.changes();
        let state = self.accepting()?;
        let mut customer = state.customer.clone();
        if let Some(method) = &message.apply.default_payment_method {
            if !state.payment_methods.iter().any(|own| &own.id == method) {
                return Err(ActorError::invalid(
                    "payment_method_invalid",
                    Some("default_payment_method"),
                    format!("{method} is not a payment method of customer {}", customer.id),
                ));
            }
            customer.default_payment_method = Some(method.clone());
        }
        message.apply.apply_to(&mut customer);
        state.customer = customer.clone();
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::CustomerUpdated,
            customer.id.as_str(),
            &message.cause,
        )));
        let outcome = Outcome::Customer(customer);
        if let Some(ticket) = &message.idempotency {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                outcome.clone(),
            ));
        }
        Ok((outcome, self.commit(changes)?))
    }
}
