//! Changes of plan and seats, and what they cost: the unused share of what the period was
//! invoiced for, to the second, and the new plan's share of the same rest of the period, both
//! from the account's proration rule; a change of interval starts a new period at once.

use super::invoices::InvoiceSpec;
use super::messages::{PlanChange, ProrationBehavior};
use crate::actor::{ActorError, CustomerActor};
use crate::billing::invoicing::{DraftLine, InvoiceInput, ProrationInput, price_invoice, prorate};
use crate::billing::lines::{pending_line, plan_line, remaining_time, unused_time};
use crate::domain::{
    BillingReason, Invoice, PendingLine, Plan, PluginRef, Subscription, SubscriptionStatus,
};
use crate::store::ChangeSet;

impl CustomerActor {
    /// The line of a first period cut short by a later `billing_cycle_anchor`: the plan's price
    /// prorated over the part of a whole period that is billed.
    pub(super) fn partial_period_line(
        &self,
        plan: &Plan,
        quantity: u32,
        now: i64,
        anchor: i64,
    ) -> Result<DraftLine, ActorError> {
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
        let charge = proration.charge_minor;
        let line = remaining_time(plan, quantity, charge, (now, anchor), &proration.rule);
        Ok(pending_line(&line))
    }

    /// What `quantity` of `plan` costs for a whole period, after discounts, as the pricing
    /// rule prices it at `now` (tax-inclusive when the plan is).
    pub(super) fn full_period_price(
        &self,
        plan: &Plan,
        quantity: u32,
        now: i64,
    ) -> Result<i64, ActorError> {
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

    /// Applies a change of plan and/or seats to `subscription` at `now`; answers the invoice
    /// to charge now, if the change makes one.
    pub(super) fn change_plan(
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
    pub(super) fn change_interval(
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
    pub(super) fn interval_change_lines(
        &self,
        subscription: &mut Subscription,
        old_plan: &Plan,
        new_plan: &Plan,
        quantity: u32,
        now: i64,
    ) -> Result<(Vec<DraftLine>, i64), ActorError> {
        let (credit, rule) = self.unused_credit(subscription, now)?;
        let end = new_plan.interval.boundary(now, 1);
        let mut lines: Vec<_> = subscription.pending_lines.iter().map(pending_line).collect();
        if credit > 0 {
            let old_end = subscription.current_period_end;
            let rule = rule.expect("a credit comes from the proration rule");
            let unused =
                unused_time(old_plan, subscription.quantity, credit, (now, old_end), &rule);
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
    pub(super) fn unused_credit(
        &self,
        subscription: &Subscription,
        at: i64,
    ) -> Result<(i64, Option<PluginRef>), ActorError> {
        if subscription.period_invoiced_minor <= 0 {
            return Ok((0, None));
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
        Ok((proration.credit_minor, Some(proration.rule)))
    }

    /// The credit for the unused old plan and the charge for the new one, from `at` to the
    /// period's end.
    pub(super) fn proration_lines(
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
            let credit = proration.credit_minor;
            lines.push(unused_time(old_plan, quantity_before, credit, (at, end), &proration.rule));
        }
        if proration.charge_minor > 0 {
            let charge = proration.charge_minor;
            lines.push(remaining_time(new_plan, quantity, charge, (at, end), &proration.rule));
        }
        Ok(lines)
    }

    pub(super) fn check_plan_for(
        &self,
        subscription: &Subscription,
        plan: &Plan,
    ) -> Result<(), ActorError> {
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
}
