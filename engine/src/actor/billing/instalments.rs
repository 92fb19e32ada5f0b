//! A payment plan's instalments in the customer's actor: each invoiced when the schedule says
//! so (one ordinary invoice, `billing_reason: payment_plan`, tax-inclusive so it comes to exactly
//! the instalment), charged, retried through the account's dunning, and moved on by its
//! invoice's settlement ([`CustomerActor::payment_plan_after_payment`]) or voiding.

use super::dunning::Payment;
use super::invoices::apply_balance;
use super::overdue::{dunning_for, is_overdue};
use super::payment_plans::cancel_schedule;
use super::renewals::{Collection, Step};
use crate::actor::{ActorError, CustomerActor};
use crate::billing::invoicing::{
    DraftAmount, DraftLine, InvoiceHeader, InvoiceInput, price_invoice,
};
use crate::billing::lines::date;
use crate::config::FinalAction;
use crate::domain::{
    BillingReason, Cause, CollectionMethod, Dunning, Event, EventKind, InstalmentStatus, Invoice,
    InvoiceId, InvoiceStatus, PaymentPlan, PaymentPlanId, PaymentPlanStatus, TaxBehavior,
};
use crate::limits::UNPAID_SCAN_MAX;
use crate::store::{ChangeSet, InvoiceFilter, Write};

/// The sku an instalment's line has, as the tax rule sees it.
const INSTALMENT_SKU: &str = "payment_plan_instalment";

impl CustomerActor {
    /// Invoices the instalments at `indices` of `plan` as one open invoice (finalized, numbered,
    /// the customer's balance applied), to be charged when it is `collecting`; marks them open
    /// (or paid, when the balance covered them).
    pub(super) fn issue_instalment_invoice(
        &mut self,
        changes: &mut ChangeSet,
        plan: &mut PaymentPlan,
        indices: &[usize],
        now: i64,
    ) -> Result<Invoice, ActorError> {
        let count = plan.schedule.len();
        let lines: Vec<DraftLine> = indices
            .iter()
            .map(|index| {
                let instalment = &plan.schedule[*index];
                let end = plan.interval.boundary(plan.start, *index as i64 + 1);
                let about = plan.description.as_deref().unwrap_or("Payment plan");
                DraftLine {
                    description: format!(
                        "{about}: instalment {} of {count} (due {})",
                        index + 1,
                        date(instalment.due)
                    ),
                    plan: None,
                    quantity: 1,
                    period_start: instalment.due,
                    period_end: end,
                    amount: DraftAmount::Fixed {
                        amount_minor: instalment.amount_minor,
                        sku: INSTALMENT_SKU.to_owned(),
                        rule: None,
                        discount: None,
                    },
                }
            })
            .collect();
        let period_start = lines.iter().map(|line| line.period_start).min().unwrap_or(now);
        let period_end = lines.iter().map(|line| line.period_end).max().unwrap_or(now);
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        // Tax-inclusive: the tax rule says what part of each instalment is tax, and the
        // instalments still sum to exactly the plan's total.
        let totals = price_invoice(
            &self.turn_rules(),
            InvoiceInput {
                account: &self.key.account,
                customer: &state.customer,
                currency: plan.currency,
                tax_behavior: TaxBehavior::Inclusive,
                lines,
                discount: None,
                sponsors: Vec::new(),
                now,
            },
        )?;
        let (balance_applied_minor, amount_due_minor) =
            apply_balance(totals.total_minor, state.customer.balance_minor);
        let draft = totals.into_draft(InvoiceHeader {
            customer: plan.customer.clone(),
            subscription: None,
            payment_plan: Some(plan.id.clone()),
            billing_reason: BillingReason::PaymentPlan,
            currency: plan.currency,
            tax_behavior: TaxBehavior::Inclusive,
            collection_method: CollectionMethod::ChargeAutomatically,
            due_date: None,
            balance_applied_minor,
            amount_due_minor,
            period_start,
            period_end,
            created: now,
            discount: None,
        });
        let invoice = self.finalize_invoice(changes, draft, true)?;
        let status = match invoice.status {
            InvoiceStatus::Paid => InstalmentStatus::Paid,
            _ => InstalmentStatus::Open,
        };
        for index in indices {
            let instalment = &mut plan.schedule[*index];
            instalment.invoice = Some(invoice.id.clone());
            instalment.status = status;
        }
        plan.settle_if_done(now);
        Ok(invoice)
    }

    /// Runs the earliest thing due for the plan at or before `at`, if any: a retry of the
    /// instalment in dunning, or the next instalment.
    pub(crate) fn payment_plan_due_step(
        &mut self,
        id: &PaymentPlanId,
        at: i64,
    ) -> Result<Step, ActorError> {
        let mut plan = self.payment_plan(id)?;
        let Some(due) = plan.next_due() else { return Ok(Step::Nothing) };
        if due > at {
            return Ok(Step::Nothing);
        }
        let retry_at = plan.dunning.as_ref().and_then(|dunning| dunning.next_retry_at);
        if retry_at.is_some_and(|retry_at| retry_at <= at) {
            return self.retry_instalment(plan);
        }
        let index = plan.next_upcoming().expect("next_due names an upcoming instalment");
        let mut changes = self.changes();
        let instalment_due = plan.schedule[index].due;
        let invoice =
            self.issue_instalment_invoice(&mut changes, &mut plan, &[index], instalment_due)?;
        changes.push(Write::Event(Event::new(
            EventKind::PaymentPlanUpdated,
            plan.id.as_str(),
            &Cause::system("billing"),
        )));
        let payment_method = plan.payment_method.clone();
        self.put_payment_plan(&mut changes, plan)?;
        let durable = self.commit(changes)?;
        tracing::info!(payment_plan = %id, invoice = %invoice.id, instalment = index + 1, "instalment invoiced");
        let collect = invoice.collecting.then(|| Box::new(Collection { invoice, payment_method }));
        Ok(Step::Done { durable, collect })
    }

    /// The next retry of the instalment invoice in dunning: a new attempt, decided and recorded
    /// here, charged (off-session) by the caller. An invoice no longer open ends the dunning.
    fn retry_instalment(&mut self, mut plan: PaymentPlan) -> Result<Step, ActorError> {
        let Some(dunning) = plan.dunning.as_mut() else { return Ok(Step::Nothing) };
        let mut changes = self.changes();
        let found = self.services.store.invoice(&self.key.account, &dunning.invoice)?;
        let Some(mut invoice) = found.filter(|invoice| invoice.status.is_collectible()) else {
            plan.dunning = None;
            self.put_payment_plan(&mut changes, plan)?;
            return Ok(Step::Done { durable: self.commit(changes)?, collect: None });
        };
        dunning.next_retry_at = None;
        if invoice.payment_pending || invoice.collecting {
            // A payment by hand is under way: its outcome plans what follows.
            self.put_payment_plan(&mut changes, plan)?;
            return Ok(Step::Done { durable: self.commit(changes)?, collect: None });
        }
        dunning.retries += 1;
        invoice.attempt_count += 1;
        invoice.collecting = true;
        invoice.next_payment_attempt = None;
        changes.push(Write::Invoice(invoice.clone()));
        let payment_method = plan.payment_method.clone();
        self.put_payment_plan(&mut changes, plan)?;
        let durable = self.commit(changes)?;
        Ok(Step::Done { durable, collect: Some(Box::new(Collection { invoice, payment_method })) })
    }

    /// The plan of `invoice` after an attempt to pay it, in the settlement's `changes`: paid
    /// marks its instalments paid (the plan `paid` once nothing is left) and hands the dunning
    /// to the oldest instalment still unpaid; a failure makes the plan `past_due` with its
    /// retries planned, and after the last, `billing.dunning.final_action`.
    pub(super) fn payment_plan_after_payment(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        payment: Payment,
    ) -> Result<(), ActorError> {
        let Some(id) = &invoice.payment_plan else { return Ok(()) };
        let mut plan = self.payment_plan(id)?;
        let before = plan.clone();
        let now = self.settlement_now();
        let dunned = plan.dunning.as_ref().is_some_and(|dunning| dunning.invoice == invoice.id);
        match payment {
            Payment::Paid => {
                invoice.next_payment_attempt = None;
                for instalment in plan.instalments_of(&invoice.id) {
                    instalment.status = InstalmentStatus::Paid;
                }
                if dunned {
                    let next = self.oldest_unpaid_instalment(&plan, &invoice.id)?;
                    plan.dunning = next.as_ref().map(|next| dunning_for(next, now));
                    if let Some(next) = &plan.dunning {
                        self.show_next_retry(changes, next)?;
                    }
                }
                if plan.status == PaymentPlanStatus::PastDue {
                    let still_overdue = match &plan.dunning {
                        Some(dunning) => self
                            .services
                            .store
                            .invoice(&self.key.account, &dunning.invoice)?
                            .is_some_and(|next| is_overdue(&next, now)),
                        None => false,
                    };
                    if !still_overdue {
                        plan.status = PaymentPlanStatus::Active;
                    }
                }
                plan.settle_if_done(now);
            }
            Payment::Failed { hard } if !plan.status.is_terminal() => {
                plan.status = PaymentPlanStatus::PastDue;
                if dunned || plan.dunning.is_none() {
                    self.plan_instalment_retry(&mut plan, invoice, hard, now);
                }
            }
            Payment::Failed { .. } => {}
        }
        if plan != before {
            changes.push(Write::Event(Event::new(
                EventKind::PaymentPlanUpdated,
                plan.id.as_str(),
                &Cause::system("billing"),
            )));
            self.put_payment_plan(changes, plan)?;
        }
        Ok(())
    }

    /// After a failed payment of an instalment invoice: the next retry on the configured day,
    /// none after a hard decline (until the payment method changes); after the last, the
    /// account's final action — `cancel` cancels the plan and writes the invoice off, the
    /// others leave it `past_due`, its grants ending with the grace.
    fn plan_instalment_retry(
        &mut self,
        plan: &mut PaymentPlan,
        invoice: &mut Invoice,
        hard: bool,
        now: i64,
    ) {
        let by_mpesa = self.pays_by_mpesa(plan.payment_method.as_ref());
        let dunning = plan.dunning.get_or_insert_with(|| Dunning::first_failure(&invoice.id, now));
        let next = self.next_retry_at(dunning, by_mpesa);
        dunning.next_retry_at = if hard { None } else { next };
        invoice.next_payment_attempt = dunning.next_retry_at;
        if hard || next.is_some() {
            return;
        }
        if self.services.billing.dunning.final_action == FinalAction::Cancel {
            invoice.status = InvoiceStatus::Uncollectible;
            cancel_schedule(plan, now);
        }
    }

    /// The plan's oldest open instalment invoice with no payment under way, `paid` aside.
    fn oldest_unpaid_instalment(
        &self,
        plan: &PaymentPlan,
        paid: &InvoiceId,
    ) -> Result<Option<Invoice>, ActorError> {
        let filter = InvoiceFilter {
            customer: Some(plan.customer.clone()),
            subscription: None,
            status: Some(InvoiceStatus::Open),
        };
        let page =
            self.services.store.invoices(&self.key.account, &filter, UNPAID_SCAN_MAX, None)?;
        let oldest = page.items.into_iter().rev().find(|invoice| {
            invoice.payment_plan.as_ref() == Some(&plan.id)
                && &invoice.id != paid
                && !self.paid_together.contains(&invoice.id)
                && !invoice.payment_pending
                && !invoice.collecting
        });
        Ok(oldest)
    }

    /// An instalment invoice voided by hand: its instalments are forgiven (`void`), a dunning on
    /// it ends, and the plan is `paid` if nothing else is left.
    pub(super) fn payment_plan_invoice_voided(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
        now: i64,
    ) -> Result<(), ActorError> {
        let Some(id) = &invoice.payment_plan else { return Ok(()) };
        let mut plan = self.payment_plan(id)?;
        for instalment in plan.instalments_of(&invoice.id) {
            if instalment.status == InstalmentStatus::Open {
                instalment.status = InstalmentStatus::Void;
            }
        }
        if plan.dunning.as_ref().is_some_and(|dunning| dunning.invoice == invoice.id) {
            let next = self.oldest_unpaid_instalment(&plan, &invoice.id)?;
            plan.dunning = next.as_ref().map(|next| dunning_for(next, now));
            if plan.dunning.is_none() && plan.status == PaymentPlanStatus::PastDue {
                plan.status = PaymentPlanStatus::Active;
            }
        }
        plan.settle_if_done(now);
        changes.push(Write::Event(Event::new(
            EventKind::PaymentPlanUpdated,
            plan.id.as_str(),
            &Cause::system("billing"),
        )));
        self.put_payment_plan(changes, plan)
    }
}
