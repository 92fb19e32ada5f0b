//! Payment plans as the API changes them, in the customer's actor: created (the first
//! instalment, when due at once, invoiced and charged before the answer), paid off early
//! (`pay_remaining`), canceled; erasure cancels them. Their instalments' invoicing, retries and
//! settlement are [`super::instalments`]'.
//!
//! An instalment is collected by an ordinary invoice, so a payment attempt, its
//! Idempotency-Key, its recovery after a crash, a credit note or a payment by hand work as for a
//! subscription's invoice.

use actix::{ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::Presence;
use super::messages::{CancelPaymentPlan, CreatePaymentPlan, PayRemaining};
use crate::actor::{ActorError, CustomerActor, IdempotencyTicket};
use crate::domain::payment_plan::split_total;
use crate::domain::{
    Cause, Event, EventKind, InstalmentStatus, Invoice, InvoiceId, Money, PaymentMethodId,
    PaymentPlan, PaymentPlanId, PaymentPlanStatus,
};
use crate::store::{ChangeSet, DurableTicket, InFlightObject, Outcome, Write};

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
        let method = state.charging_method(message.payment_method.as_ref())?;
        let customer = state.customer.clone();
        let smallest = Money { amount_minor: *parts.last().expect("2 or more parts"), currency };
        self.refuse_live_gateway_on_clock(&method, smallest)?;
        let minimum = self.min_chargeable(Some(&method.id), smallest);
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
            transfer: message.transfer.clone(),
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
pub(super) fn cancel_schedule(plan: &mut PaymentPlan, now: i64) {
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
