//! Payment plans in the customer's actor: created (the first instalment, when due at once,
//! invoiced and charged before the answer), instalments invoiced and charged when the schedule
//! says so, retried through the account's dunning, paid off early (`pay_remaining`), canceled.
//!
//! An instalment is collected by an ordinary invoice (`billing_reason: payment_plan`, one line
//! per instalment, tax-inclusive so it comes to exactly the instalment), so a payment attempt,
//! its Idempotency-Key, its recovery after a crash, a credit note or a payment by hand work as
//! for a subscription's invoice; the invoice's settlement moves the plan here
//! ([`CustomerActor::payment_plan_after_payment`]).

use actix::{ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::{Payment, Presence, apply_balance};
use super::messages::{CancelPaymentPlan, CreatePaymentPlan, PayRemaining};
use super::overdue::{dunning_for, is_overdue};
use super::renewals::{Collection, Step};
use crate::actor::{ActorError, CustomerActor, IdempotencyTicket};
use crate::billing::invoicing::{DraftAmount, DraftLine, InvoiceInput, price_invoice};
use crate::billing::lines::date;
use crate::config::FinalAction;
use crate::domain::payment_plan::split_total;
use crate::domain::{
    BillingReason, Cause, CollectionMethod, Dunning, Event, EventKind, InstalmentStatus, Invoice,
    InvoiceId, InvoiceStatus, Money, PaymentMethodId, PaymentPlan, PaymentPlanId,
    PaymentPlanStatus, TaxBehavior,
};
use crate::limits::UNPAID_SCAN_MAX;
use crate::store::{ChangeSet, DurableTicket, InFlightObject, InvoiceFilter, Outcome, Write};

/// The sku an instalment's line has, as the tax rule sees it.
const INSTALMENT_SKU: &str = "payment_plan_instalment";

/// What a request decided: the plan to answer with, and an invoice to charge first if any.
struct Decided {
    plan: PaymentPlan,
    durable: DurableTicket,
    collect: Option<Invoice>,
}

impl CustomerActor {
    pub(super) fn payment_plan(&self, id: &PaymentPlanId) -> Result<PaymentPlan, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        state
            .payment_plans
            .iter()
            .find(|plan| &plan.id == id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound { kind: "payment_plan", id: id.to_string() })
    }

    /// Records `record` in memory and in `changes`, moving its schedule entry along.
    pub(crate) fn put_payment_plan(
        &mut self,
        changes: &mut ChangeSet,
        record: PaymentPlan,
    ) -> Result<(), ActorError> {
        let state = self.settling()?;
        let due_before = match state.payment_plans.iter_mut().find(|old| old.id == record.id) {
            Some(old) => {
                let before = old.next_due();
                *old = record.clone();
                before
            }
            None => {
                state.payment_plans.push(record.clone());
                None
            }
        };
        self.publish_grant_sources();
        changes.push(Write::PaymentPlan { record, due_before });
        Ok(())
    }

    fn create_payment_plan(&mut self, message: &CreatePaymentPlan) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let currency = message.amount.currency;
        let parts =
            split_total(message.amount.amount_minor, message.instalments).ok_or_else(|| {
                ActorError::invalid(
                    "validation_error",
                    Some("amount"),
                    format!(
                        "{} minor units cannot be split into {} instalments of at least 1 each",
                        message.amount.amount_minor, message.instalments
                    ),
                )
            })?;
        let start = message.start.unwrap_or(now);
        let state = self.living()?;
        if let Some(billed_in) = state.customer.currency
            && billed_in != currency
        {
            return Err(ActorError::invalid(
                "currency_mismatch",
                Some("currency"),
                format!(
                    "customer {} bills in {}; the plan is in {}",
                    state.customer.id,
                    billed_in.code().to_ascii_lowercase(),
                    currency.code().to_ascii_lowercase()
                ),
            ));
        }
        let method_id = message
            .payment_method
            .clone()
            .or_else(|| state.customer.default_payment_method.clone())
            .ok_or_else(|| {
                ActorError::invalid(
                    "payment_method_invalid",
                    Some("payment_method"),
                    "the customer has no payment method to charge: attach one or pass \
                     `payment_method`",
                )
            })?;
        let method = state
            .payment_methods
            .iter()
            .find(|method| method.id == method_id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound {
                kind: "payment_method",
                id: method_id.to_string(),
            })?;
        let customer = state.customer.clone();
        let smallest = Money { amount_minor: *parts.last().expect("2 or more parts"), currency };
        self.refuse_live_gateway_on_clock(&method, smallest)?;
        let minimum = self.min_chargeable(Some(&method_id), smallest);
        if smallest.amount_minor < minimum {
            return Err(ActorError::invalid(
                "amount_too_small",
                Some("amount"),
                format!(
                    "an instalment of {} is below the {minimum} the gateway takes in {}",
                    smallest.amount_minor,
                    currency.code().to_ascii_lowercase()
                ),
            ));
        }
        let mut plan = PaymentPlan {
            id: PaymentPlanId::generate(),
            customer: customer.id.clone(),
            amount_minor: message.amount.amount_minor,
            currency,
            interval: message.interval,
            start,
            description: message.description.clone(),
            payment_method: message.payment_method.clone(),
            grants: message.grants.clone(),
            schedule: PaymentPlan::schedule_of(&parts, start, message.interval),
            status: PaymentPlanStatus::Active,
            dunning: None,
            metadata: message.metadata.clone(),
            test_clock: customer.test_clock.clone(),
            created: now,
            canceled_at: None,
            paid_at: None,
        };
        let mut changes = self.changes();
        changes.push(Write::Event(Event::new(
            EventKind::PaymentPlanCreated,
            plan.id.as_str(),
            &message.cause,
        )));
        let mut collect = None;
        if start <= now {
            let invoice = self.issue_instalment_invoice(&mut changes, &mut plan, &[0], now)?;
            collect = invoice.collecting.then_some(invoice);
        }
        let state = self.accepting()?;
        state.customer.currency = Some(currency);
        changes.push(Write::Customer(state.customer.clone()));
        record_answer(&mut changes, &message.idempotency, &plan, collect.is_some());
        self.put_payment_plan(&mut changes, plan.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(payment_plan = %plan.id, instalments = plan.schedule.len(), "payment plan created");
        Ok(Decided { plan, durable, collect })
    }

    /// Invoices the instalments at `indices` of `plan` as one open invoice (finalized, numbered,
    /// the customer's balance applied), to be charged when it is `collecting`; marks them open
    /// (or paid, when the balance covered them).
    fn issue_instalment_invoice(
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
                now,
            },
        )?;
        let (balance_applied_minor, amount_due_minor) =
            apply_balance(totals.total_minor, state.customer.balance_minor);
        let draft = Invoice {
            id: InvoiceId::generate(),
            number: None,
            customer: plan.customer.clone(),
            subscription: None,
            status: InvoiceStatus::Draft,
            billing_reason: BillingReason::PaymentPlan,
            currency: plan.currency,
            tax_behavior: TaxBehavior::Inclusive,
            lines: totals.lines,
            subtotal_minor: totals.subtotal_minor,
            discounts: totals.discounts,
            tax: totals.tax,
            total_minor: totals.total_minor,
            balance_applied_minor,
            amount_due_minor,
            amount_paid_minor: 0,
            attempt_count: 0,
            collection_method: CollectionMethod::ChargeAutomatically,
            due_date: None,
            charge: None,
            payment_pending: false,
            collecting: false,
            rules: Some(totals.rules),
            proration_rule: None,
            period_start,
            period_end,
            created: now,
            finalized_at: None,
            paid_at: None,
            voided_at: None,
            credited_minor: 0,
            post_payment_credited_minor: 0,
            next_payment_attempt: None,
            reminders_sent: 0,
            next_reminder_at: None,
            reverse_charge: totals.reverse_charge,
            discount: None,
            payment_plan: Some(plan.id.clone()),
        };
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

    /// `pay_remaining`: every instalment not yet paid, on one invoice charged now; the open
    /// instalment invoices it replaces are voided.
    fn pay_remaining(&mut self, message: &PayRemaining) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut plan = self.payment_plan(&message.id)?;
        refuse_terminal(&plan)?;
        let mut changes = self.changes();
        let mut replaced: Vec<InvoiceId> = Vec::new();
        for invoice_id in plan.schedule.iter().filter_map(|instalment| {
            (instalment.status == InstalmentStatus::Open).then_some(instalment.invoice.clone())?
        }) {
            if replaced.contains(&invoice_id) {
                continue;
            }
            let invoice = self.services.store.invoice(&self.key.account, &invoice_id)?;
            let Some(mut invoice) = invoice.filter(|invoice| invoice.status.is_collectible())
            else {
                continue;
            };
            if invoice.payment_pending || invoice.collecting {
                return Err(ActorError::invalid(
                    "invoice_state_invalid",
                    None,
                    format!("invoice {} of the plan has a payment under way", invoice.id),
                ));
            }
            self.void_invoice(&mut changes, &mut invoice, now)?;
            changes.push(Write::Invoice(invoice));
            replaced.push(invoice_id);
        }
        let unpaid: Vec<usize> = (0..plan.schedule.len())
            .filter(|index| {
                matches!(
                    plan.schedule[*index].status,
                    InstalmentStatus::Upcoming | InstalmentStatus::Open
                )
            })
            .collect();
        plan.dunning = None;
        let invoice = self.issue_instalment_invoice(&mut changes, &mut plan, &unpaid, now)?;
        if plan.status == PaymentPlanStatus::PastDue {
            plan.status = PaymentPlanStatus::Active;
        }
        changes.push(Write::Event(Event::new(
            EventKind::PaymentPlanUpdated,
            plan.id.as_str(),
            &message.cause,
        )));
        let collect = invoice.collecting.then_some(invoice);
        record_answer(&mut changes, &message.idempotency, &plan, collect.is_some());
        self.put_payment_plan(&mut changes, plan.clone())?;
        let durable = self.commit(changes)?;
        Ok(Decided { plan, durable, collect })
    }

    /// `cancel`: nothing more is collected; open instalment invoices with no payment under way
    /// are voided (one under way settles as it comes), and the plan's grants end.
    fn cancel_payment_plan(&mut self, message: &CancelPaymentPlan) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut plan = self.payment_plan(&message.id)?;
        refuse_terminal(&plan)?;
        let mut changes = self.changes();
        let mut voided: Vec<InvoiceId> = Vec::new();
        for instalment in plan.schedule.iter_mut() {
            let Some(invoice_id) = instalment.invoice.clone() else { continue };
            if instalment.status != InstalmentStatus::Open {
                continue;
            }
            if !voided.contains(&invoice_id) {
                let invoice = self.services.store.invoice(&self.key.account, &invoice_id)?;
                let Some(mut invoice) = invoice.filter(|invoice| invoice.status.is_collectible())
                else {
                    continue;
                };
                if invoice.payment_pending || invoice.collecting {
                    continue;
                }
                self.void_invoice(&mut changes, &mut invoice, now)?;
                changes.push(Write::Invoice(invoice));
                voided.push(invoice_id.clone());
            }
            instalment.status = InstalmentStatus::Void;
        }
        cancel_schedule(&mut plan, now);
        changes.push(Write::Event(Event::new(
            EventKind::PaymentPlanCanceled,
            plan.id.as_str(),
            &message.cause,
        )));
        record_answer(&mut changes, &message.idempotency, &plan, false);
        self.put_payment_plan(&mut changes, plan.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(payment_plan = %plan.id, "payment plan canceled");
        Ok(Decided { plan, durable, collect: None })
    }

    /// Erasure: every running plan is canceled, each in its own change set.
    pub(crate) fn cancel_payment_plans_for_erasure(
        &mut self,
        cause: &Cause,
    ) -> Result<(), ActorError> {
        let state = self.accepting()?;
        let running: Vec<PaymentPlanId> = state
            .payment_plans
            .iter()
            .filter(|plan| !plan.status.is_terminal())
            .map(|plan| plan.id.clone())
            .collect();
        for id in running {
            let message = CancelPaymentPlan { id, idempotency: None, cause: cause.clone() };
            self.cancel_payment_plan(&message)?;
        }
        Ok(())
    }

    /// Erasure: what the platform wrote about the person on its plans (description,
    /// metadata) goes, in the erasure's `changes`; amounts and schedules stay.
    pub(crate) fn forget_payment_plan_texts(
        &mut self,
        changes: &mut ChangeSet,
    ) -> Result<(), ActorError> {
        let state = self.accepting()?;
        let written: Vec<PaymentPlan> = state
            .payment_plans
            .iter()
            .filter(|plan| plan.description.is_some() || !plan.metadata.is_empty())
            .cloned()
            .collect();
        for mut plan in written {
            plan.description = None;
            plan.metadata.clear();
            self.put_payment_plan(changes, plan)?;
        }
        Ok(())
    }

    /// Answers a decided request: at once, or after charging its invoice, with the plan as it
    /// then stands.
    fn answer_plan(
        &mut self,
        ctx: &mut Context<Self>,
        decided: Decided,
        payment_method: Option<PaymentMethodId>,
        ticket: Option<IdempotencyTicket>,
        cause: &Cause,
    ) -> ResponseActFuture<Self, Result<Outcome, ActorError>> {
        let Decided { plan, durable, collect } = decided;
        let Some(invoice) = collect else {
            return Box::pin(
                async move {
                    durable.wait().await?;
                    Ok(Outcome::PaymentPlan(plan))
                }
                .into_actor(self),
            );
        };
        let id = plan.id.clone();
        let presence = Presence::OnSession;
        Box::pin(
            self.collect_then_answer(ctx, invoice, payment_method, durable, cause, presence).then(
                move |charged, actor, _| {
                    // A declined instalment is the plan's news (`past_due`), not the request's
                    // failure; a charge that could not even be made is.
                    let answered = charged.and_then(|_| {
                        let outcome = Outcome::PaymentPlan(actor.payment_plan(&id)?);
                        let Some(ticket) = ticket else { return Ok((outcome, None)) };
                        let write = Write::idempotency_completed(
                            &ticket.key,
                            ticket.fingerprint,
                            outcome.clone(),
                        );
                        Ok((outcome, Some(actor.commit(actor.changes().with(write))?)))
                    });
                    async move {
                        let (outcome, durable) = answered?;
                        if let Some(durable) = durable {
                            durable.wait().await?;
                        }
                        Ok(outcome)
                    }
                    .into_actor(actor)
                },
            ),
        )
    }
}

/// Nothing more is collected: upcoming instalments are void and no retry is planned.
fn cancel_schedule(plan: &mut PaymentPlan, now: i64) {
    plan.status = PaymentPlanStatus::Canceled;
    plan.canceled_at = Some(now);
    plan.dunning = None;
    for instalment in plan.schedule.iter_mut() {
        if instalment.status == InstalmentStatus::Upcoming {
            instalment.status = InstalmentStatus::Void;
        }
    }
}

fn refuse_terminal(plan: &PaymentPlan) -> Result<(), ActorError> {
    if !plan.status.is_terminal() {
        return Ok(());
    }
    Err(ActorError::invalid(
        "payment_plan_state_invalid",
        Some("payment_plan"),
        format!("payment plan {} is {}", plan.id, plan.status.as_str()),
    ))
}

/// The idempotency record of a plan request: in flight while an instalment is being charged
/// (a replay shows the plan as it then stands), else the answer itself.
fn record_answer(
    changes: &mut ChangeSet,
    ticket: &Option<IdempotencyTicket>,
    plan: &PaymentPlan,
    paying: bool,
) {
    let Some(ticket) = ticket else { return };
    changes.push(match paying {
        true => Write::idempotency_in_flight(
            &ticket.key,
            ticket.fingerprint,
            InFlightObject::PaymentPlan(plan.id.clone()),
        ),
        false => Write::idempotency_completed(
            &ticket.key,
            ticket.fingerprint,
            Outcome::PaymentPlan(plan.clone()),
        ),
    });
}

/// Answers a keyed plan request: a replay with what the key first answered, else decided by
/// `$decide` and answered with `$method` charged.
macro_rules! keyed_plan {
    ($actor:expr, $ctx:expr, $message:expr, $decide:ident, $method:expr) => {{
        match $actor.earlier_outcome($message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(outcome @ Outcome::PaymentPlan(_))) => {
                return Box::pin($actor.once_durable(outcome).into_actor($actor));
            }
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        match $actor.$decide(&$message) {
            Ok(decided) => {
                let method = $method(&decided);
                $actor.answer_plan(
                    $ctx,
                    decided,
                    method,
                    $message.idempotency.clone(),
                    &$message.cause,
                )
            }
            Err(error) => Box::pin(fut::ready(Err(error))),
        }
    }};
}

impl Handler<CreatePaymentPlan> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CreatePaymentPlan, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            let method = |decided: &Decided| decided.plan.payment_method.clone();
            keyed_plan!(actor, ctx, message, create_payment_plan, method)
        })
    }
}

impl Handler<PayRemaining> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: PayRemaining, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            let asked = message.payment_method.clone();
            let method =
                move |decided: &Decided| asked.clone().or(decided.plan.payment_method.clone());
            keyed_plan!(actor, ctx, message, pay_remaining, method)
        })
    }
}

impl Handler<CancelPaymentPlan> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CancelPaymentPlan, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            let method = |_: &Decided| None;
            keyed_plan!(actor, ctx, message, cancel_payment_plan, method)
        })
    }
}
