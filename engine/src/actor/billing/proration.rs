//! Changes of plan and seats, and what they cost: the unused share of what the period was
//! invoiced for, to the second, and the new plan's share of the same rest of the period, both
//! from the account's proration rule; a change of interval starts a new period at once.

use super::invoices::InvoiceSpec;
use super::messages::{PlanChange, ProrationBehavior};
use crate::actor::{ActorError, CustomerActor};
use crate::billing::invoicing::{
    DraftLine, InvoiceInput, Proration, ProrationInput, divide_half_up, price_invoice, prorate,
};
use crate::billing::lines::{pending_line, plan_line, remaining_time, unused_time};
use crate::domain::{
    BillingReason, Currency, Invoice, InvoiceStatus, LineDiscount, PendingLine, PendingUpdate,
    Plan, PluginRef, Subscription, SubscriptionDiscount, SubscriptionStatus, TaxBehavior,
};
use crate::limits::INCOMPLETE_EXPIRY_SECS;
use crate::store::{ChangeSet, Write};

/// What a plan costs for a whole period, before and after the subscription's coupon.
pub(super) struct PeriodPrice {
    pub gross_minor: i64,
    pub net_minor: i64,
}

/// What an open invoice of the current period took of a credit.
pub(super) struct TakenCredit {
    /// The invoice, lowered (not stored yet).
    pub invoice: Invoice,
    /// How much of the credit, in its period line's own terms, it took.
    pub taken_minor: i64,
}

impl CustomerActor {
    /// The line of a first period cut short by a later `billing_cycle_anchor`: the plan's price
    /// prorated over the part of a whole period that is billed; and the whole period's price, as
    /// the period counts as invoiced for a later change.
    pub(super) fn partial_period_line(
        &self,
        plan: &Plan,
        quantity: u32,
        discount: Option<&SubscriptionDiscount>,
        (now, anchor): (i64, i64),
    ) -> Result<(DraftLine, PeriodPrice), ActorError> {
        let full_start = plan.interval.boundary(anchor, -1);
        let full = self.full_period_price(plan, quantity, discount, now)?;
        let share = |full_minor: i64| {
            prorate(
                &self.turn_rules(),
                ProrationInput {
                    account: &self.key.account,
                    currency: plan.currency,
                    credited_minor: 0,
                    new_full_minor: full_minor,
                    period_start: full_start,
                    period_end: anchor,
                    changed_at: now.max(full_start),
                },
            )
        };
        let proration = share(full.gross_minor)?;
        let charge = Self::discounted_share(&full, discount, proration.charge_minor, |net| {
            Ok(share(net)?.charge_minor)
        })?;
        let line = remaining_time(plan, quantity, charge, (now, anchor), &proration.rule);
        Ok((pending_line(&line), full))
    }

    /// What `quantity` of `plan` costs for a whole period as the pricing rule prices it at
    /// `now` (tax-inclusive when the plan is), before and after `discount`.
    pub(super) fn full_period_price(
        &self,
        plan: &Plan,
        quantity: u32,
        discount: Option<&SubscriptionDiscount>,
        now: i64,
    ) -> Result<PeriodPrice, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let totals = price_invoice(
            &self.turn_rules(),
            InvoiceInput {
                account: &self.key.account,
                customer: &state.customer,
                currency: plan.currency,
                tax_behavior: plan.tax_behavior,
                lines: vec![plan_line(plan, quantity, now, now)],
                discount,
                sponsors: Vec::new(),
                now,
            },
        )?;
        let line = &totals.lines[0];
        Ok(PeriodPrice {
            gross_minor: line.amount_minor,
            net_minor: line.amount_minor - line.discount_minor,
        })
    }

    /// A prorated charge of `full`'s price, `gross_share_minor` before `discount`, as a line
    /// amount and the coupon's share: the proration rule prorates the discounted price too
    /// (`prorate_net`), so an `amount_off` is prorated as the price is, and the coupon's share
    /// is the difference.
    fn discounted_share(
        full: &PeriodPrice,
        discount: Option<&SubscriptionDiscount>,
        gross_share_minor: i64,
        prorate_net: impl FnOnce(i64) -> Result<i64, ActorError>,
    ) -> Result<(i64, Option<LineDiscount>), ActorError> {
        let Some(discount) = discount.filter(|_| full.net_minor < full.gross_minor) else {
            return Ok((gross_share_minor, None));
        };
        let net_share_minor = prorate_net(full.net_minor)?;
        let off = (gross_share_minor - net_share_minor).clamp(0, gross_share_minor);
        let line_discount = LineDiscount { coupon: discount.coupon.clone(), amount_minor: off };
        Ok((gross_share_minor, (off > 0).then_some(line_discount)))
    }

    /// The subscription's coupon, when it discounts `plan` in the current period.
    fn period_discount<'a>(
        subscription: &'a Subscription,
        plan: &Plan,
    ) -> Option<&'a SubscriptionDiscount> {
        let discount = subscription.discount.as_deref()?;
        discount.applies(subscription.current_period_start, &plan.id).then_some(discount)
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
        let (lines, credited) =
            self.proration_lines(subscription, &old_plan, &new_plan, quantity, now)?;
        if change.proration_behavior != ProrationBehavior::None {
            self.write_credited_invoice(changes, subscription, credited)?;
            // From now on the period counts as invoiced at the new plan's price: a later
            // change credits the unused share of that.
            let discount = Self::period_discount(subscription, &new_plan);
            subscription.period_invoiced_minor =
                self.full_period_price(&new_plan, quantity, discount, now)?.net_minor;
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
                Ok(Some(invoice))
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
        let (lines, end, credited) =
            self.interval_change_lines(subscription, old_plan, new_plan, quantity, now)?;
        self.write_credited_invoice(changes, subscription, credited)?;
        let spec = InvoiceSpec {
            reason: BillingReason::SubscriptionUpdate,
            tax_behavior: new_plan.tax_behavior,
            lines,
            period_start: now,
            period_end: end,
            now,
        };
        let invoice = self.issue_invoice(changes, subscription, spec)?;
        subscription.period_invoiced_minor = invoice.period_line_amount();
        subscription.period_invoice = Some(invoice.id.clone());
        subscription.latest_invoice = Some(invoice.id.clone());
        Ok(Some(invoice))
    }

    /// A change with `pending_if_incomplete`: its invoice is made now, but the subscription
    /// keeps its terms until that invoice is paid (the change then applies, see
    /// [`CustomerActor::subscription_after_payment`]); unpaid at the expiry, the change is
    /// dropped and its invoice voided. A change with nothing to pay applies at once.
    pub(super) fn change_once_paid(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        change: &PlanChange,
        now: i64,
    ) -> Result<Option<Invoice>, ActorError> {
        let new_interval = change.plan.as_ref().map(|plan| plan.interval);
        let invoices_now = change.proration_behavior == ProrationBehavior::AlwaysInvoice
            || new_interval.is_some_and(|interval| interval != subscription.interval);
        if !invoices_now && subscription.status != SubscriptionStatus::Trialing {
            return Err(ActorError::invalid(
                "validation_error",
                Some("payment_behavior"),
                "`pending_if_incomplete` waits for an invoice made now: use \
                 `proration_behavior: always_invoice`"
                    .to_owned(),
            ));
        }
        if let Some(id) = &subscription.period_invoice
            && let Some(invoice) = self.services.store.invoice(&self.key.account, id)?
            && invoice.status == InvoiceStatus::Open
        {
            // Its credit would lower that invoice at once, while the change might never apply.
            return Err(ActorError::invalid(
                "validation_error",
                Some("payment_behavior"),
                format!(
                    "the current period's invoice {id} is still open: pay it first, or change \
                     with `allow_incomplete`"
                ),
            ));
        }
        let mut changed = subscription.clone();
        let invoice = self.change_plan(changes, &mut changed, change, now)?;
        let Some(invoice) = invoice.filter(|invoice| invoice.status != InvoiceStatus::Paid) else {
            *subscription = changed;
            return Ok(None);
        };
        let expires_at = (now + INCOMPLETE_EXPIRY_SECS).min(subscription.current_period_end);
        subscription.pending_update =
            Some(PendingUpdate::of(&changed, invoice.id.clone(), expires_at));
        subscription.latest_invoice = Some(invoice.id.clone());
        Ok(Some(invoice))
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
    ) -> Result<(Vec<DraftLine>, i64, Option<Invoice>), ActorError> {
        let (credit, rule) = self.unused_credit(subscription, now)?;
        let taken = self.credit_open_period_invoice(subscription, credit, now)?;
        let credit = credit - taken.as_ref().map_or(0, |taken| taken.taken_minor);
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
        Ok((lines, end, taken.map(|taken| taken.invoice)))
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
        let proration = self.prorate_rest_of_period(subscription, plan.currency, 0, at)?;
        Ok((proration.credit_minor, Some(proration.rule)))
    }

    /// The account's proration rule over the current period from `at` to its end: the unused
    /// share of what the period was invoiced for, and `new_full_minor`'s share of the same rest.
    /// A first period cut short by the anchor counts as the whole period it was cut from, invoiced
    /// at the whole period's price (see `Subscription::proration_start`).
    fn prorate_rest_of_period(
        &self,
        subscription: &Subscription,
        currency: Currency,
        new_full_minor: i64,
        at: i64,
    ) -> Result<Proration, ActorError> {
        let input = ProrationInput {
            account: &self.key.account,
            currency,
            credited_minor: subscription.period_invoiced_minor,
            new_full_minor,
            period_start: subscription.proration_start(),
            period_end: subscription.current_period_end,
            changed_at: at,
        };
        Ok(prorate(&self.turn_rules(), input)?)
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
    ) -> Result<(Vec<PendingLine>, Option<Invoice>), ActorError> {
        let discount = Self::period_discount(subscription, new_plan);
        let new_full = self.full_period_price(new_plan, quantity, discount, at)?;
        let proration =
            self.prorate_rest_of_period(subscription, new_plan.currency, new_full.gross_minor, at)?;
        let end = subscription.current_period_end;
        let taken = self.credit_open_period_invoice(subscription, proration.credit_minor, at)?;
        let credit = proration.credit_minor - taken.as_ref().map_or(0, |taken| taken.taken_minor);
        let mut lines = Vec::new();
        if credit > 0 {
            let quantity_before = subscription.quantity;
            lines.push(unused_time(old_plan, quantity_before, credit, (at, end), &proration.rule));
        }
        if proration.charge_minor > 0 {
            let charge =
                Self::discounted_share(&new_full, discount, proration.charge_minor, |net| {
                    let currency = new_plan.currency;
                    Ok(self.prorate_rest_of_period(subscription, currency, net, at)?.charge_minor)
                })?;
            lines.push(remaining_time(new_plan, quantity, charge, (at, end), &proration.rule));
        }
        Ok((lines, taken.map(|taken| taken.invoice)))
    }

    /// A credit for the current period while the invoice that billed it is still open (no
    /// payment under way) lowers that invoice's amount due instead, as a credit note does: the
    /// customer is not credited for what they never paid. The invoice takes the credit with
    /// the tax its period line carried, at most what it has due (then it is paid); answers it
    /// as lowered, not stored, and how much of `credit_minor` (in the line's own terms) it
    /// took. `None` when there is no such open invoice.
    pub(super) fn credit_open_period_invoice(
        &self,
        subscription: &Subscription,
        credit_minor: i64,
        at: i64,
    ) -> Result<Option<TakenCredit>, ActorError> {
        let Some(id) = &subscription.period_invoice else { return Ok(None) };
        if credit_minor <= 0 {
            return Ok(None);
        }
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, id)? else {
            return Ok(None);
        };
        let open = invoice.status == InvoiceStatus::Open && invoice.amount_due_minor > 0;
        if !open || invoice.payment_pending || invoice.collecting {
            return Ok(None);
        }
        let Some(line) = invoice.period_line() else { return Ok(None) };
        let net = line.amount_minor - line.discount_minor;
        let gross = match invoice.tax_behavior {
            TaxBehavior::Inclusive => net,
            TaxBehavior::Exclusive => {
                net + line.tax.iter().map(|tax| tax.amount_minor).sum::<i64>()
            }
        };
        let scale = |amount: i64, to: i64, from: i64| match from > 0 {
            true => divide_half_up(i128::from(amount) * i128::from(to), i128::from(from)),
            false => amount,
        };
        let credit_gross = scale(credit_minor, gross, net);
        let taken_gross = credit_gross.min(invoice.amount_due_minor);
        let taken_minor = match taken_gross == credit_gross {
            true => credit_minor,
            false => scale(taken_gross, net, gross),
        };
        invoice.amount_due_minor -= taken_gross;
        invoice.credited_minor += taken_gross;
        if invoice.amount_due_minor == 0 {
            invoice.status = InvoiceStatus::Paid;
            invoice.paid_at = Some(at);
        }
        Ok(Some(TakenCredit { invoice, taken_minor }))
    }

    /// Stores an invoice a credit lowered, with the credit note that books the credit (VAT law
    /// asks for one whenever an invoiced amount is given back); one it paid brings a
    /// subscription that was behind on it back to `active`.
    pub(super) fn write_credited_invoice(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        invoice: Option<Invoice>,
    ) -> Result<(), ActorError> {
        let Some(invoice) = invoice else { return Ok(()) };
        self.note_open_invoice_credit(changes, &invoice)?;
        let behind_on_it = subscription.status == SubscriptionStatus::PastDue
            && subscription.latest_invoice.as_ref() == Some(&invoice.id);
        if invoice.status == InvoiceStatus::Paid && behind_on_it {
            subscription.status = SubscriptionStatus::Active;
        }
        changes.push(Write::Invoice(invoice));
        Ok(())
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
