//! Subscriptions as the API changes them: created (with a trial, or with its first invoice
//! charged before the answer), changed (what a change of plan or seats costs is
//! [`super::proration`]'s), cancelled now or at the period's end, reactivated, paused and
//! resumed. A change that makes an invoice answers once that invoice's charge has.

use actix::{ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::invoices::{InvoiceSpec, Presence};
use super::messages::{
    CancelSubscription, CreateSubscription, PauseSubscription, PaymentBehavior,
    ReactivateSubscription, ResumeSubscription, TrialEnd, TrialRequest, UpdateSubscription,
};
use super::renewals::Step;
use crate::actor::{ActorError, CustomerActor, IdempotencyTicket};
use crate::billing::lines::plan_line;
use crate::billing::periods::{Interval, IntervalUnit};
use crate::coupons::Resolved;
use crate::domain::{
    BillingReason, Cause, Charge, ChargeStatus, CollectionMethod, CouponDuration, Event, EventKind,
    Invoice, InvoiceStatus, Money, PaymentMethodId, PaymentMethodKind, Subscription,
    SubscriptionDiscount, SubscriptionId, SubscriptionStatus,
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

/// A coupon as a new subscription keeps it: its terms now, and until when it discounts.
fn attached_discount(resolved: &Resolved, now: i64) -> SubscriptionDiscount {
    let coupon = &resolved.coupon;
    let end = match coupon.duration {
        CouponDuration::Repeating { months } => {
            Some(Interval { unit: IntervalUnit::Month, count: months }.boundary(now, 1))
        }
        CouponDuration::Once | CouponDuration::Forever => None,
    };
    SubscriptionDiscount {
        coupon: coupon.id.clone(),
        promotion_code: resolved.code.as_ref().map(|code| code.id.clone()),
        off: coupon.off,
        duration: coupon.duration,
        applies_to_plans: coupon.applies_to_plans.clone(),
        start: now,
        end,
        used: false,
        redeemed: false,
    }
}

pub(super) fn canceled(subscription: &Subscription) -> ActorError {
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
    /// A new subscription; its coupon, if it has one, is reserved against the coupon's limits
    /// first, and let go again if the subscription is not made after all.
    fn begin_subscription(&mut self, message: &CreateSubscription) -> Result<Decided, ActorError> {
        let id = SubscriptionId::generate();
        // A checkout session's hold on the coupon goes first, so the subscription's own
        // reservation fits within the limit it kept.
        let checkout = match &message.checkout_session {
            Some(session) => self.checkout_started_subscription(session, &id)?,
            None => Vec::new(),
        };
        let reservation = match &message.coupon {
            Some(resolved) => Some(self.reserve_redemption(resolved, id.as_str())?),
            None => None,
        };
        let opened = self.open_subscription(message, id.clone(), reservation, checkout);
        if opened.is_err()
            && let Some(resolved) = &message.coupon
        {
            let code = resolved.code.as_ref().map(|code| &code.id);
            self.services.redemptions.settled(
                &self.key.account,
                &resolved.coupon.id,
                code,
                id.as_str(),
                false,
            );
        }
        opened
    }

    fn open_subscription(
        &mut self,
        message: &CreateSubscription,
        id: SubscriptionId,
        reservation: Option<Write>,
        checkout: Vec<Write>,
    ) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let plan = &message.plan;
        let state = self.living()?;
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
        let customer = state.customer.clone();
        if let Some(method) = &method
            && collection_method == CollectionMethod::ChargeAutomatically
        {
            // Refused before anything is kept: such a subscription could never be charged.
            let amount = Money { amount_minor: plan.amount_minor.max(1), currency: plan.currency };
            self.refuse_live_gateway_on_clock(method, amount)?;
        }
        let anchor = message.billing_cycle_anchor.or(trial_end).unwrap_or(now);
        let period_end = match trial_end {
            Some(end) => end,
            None if anchor > now => anchor,
            None => plan.interval.boundary(now, 1),
        };
        let mut subscription = Subscription {
            id,
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
            pending_update: None,
            period_invoice: None,
            dunning: None,
            resumes_at: None,
            access_withdrawn_until: None,
            trial_will_end_sent: false,
            discount: message
                .coupon
                .as_ref()
                .map(|resolved| Box::new(attached_discount(resolved, now))),
            checkout_session: message.checkout_session.clone(),
            transfer: message.transfer.clone(),
        };
        let mut changes = self.changes();
        changes.extend(checkout);
        changes.push(Write::Event(Event::new(
            EventKind::SubscriptionCreated,
            subscription.id.as_str(),
            &message.cause,
        )));
        if let Some(reservation) = reservation {
            changes.push(reservation);
        }
        let mut collect = None;
        if trial_end.is_none() {
            let (line, whole_period) = if anchor > now {
                let discount = subscription.discount.as_deref();
                let (line, whole) =
                    self.partial_period_line(plan, message.quantity, discount, (now, anchor))?;
                (line, Some(whole.net_minor))
            } else {
                (plan_line(plan, message.quantity, now, period_end), None)
            };
            let spec = InvoiceSpec {
                reason: BillingReason::SubscriptionCreate,
                tax_behavior: plan.tax_behavior,
                lines: vec![line],
                period_start: now,
                period_end,
                now,
            };
            let invoice = self.issue_invoice(&mut changes, &mut subscription, spec)?;
            subscription.period_invoiced_minor =
                whole_period.unwrap_or_else(|| invoice.period_line_amount());
            subscription.period_invoice = Some(invoice.id.clone());
            subscription.latest_invoice = Some(invoice.id.clone());
            subscription.status = match (invoice.status, collection_method) {
                (InvoiceStatus::Paid, _) | (_, CollectionMethod::SendInvoice) => {
                    SubscriptionStatus::Active
                }
                _ => SubscriptionStatus::Incomplete,
            };
            collect = invoice.collecting.then_some(invoice);
        }
        // Fixed only now that nothing can fail before the commit: a refused subscription leaves
        // the customer free to bill in another currency.
        let state = self.accepting()?;
        state.customer.currency = Some(plan.currency);
        changes.push(Write::Customer(state.customer.clone()));
        self.record_answer(&mut changes, &message.idempotency, &subscription, collect.is_some());
        self.put_subscription(&mut changes, subscription.clone())?;
        let durable = self.commit(changes)?;
        tracing::info!(subscription = %subscription.id, status = subscription.status.as_str(), "subscription created");
        Ok(Decided { subscription, durable, collect })
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
        cause: &Cause,
        presence: Presence,
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
        Box::pin(
            self.collect_then_answer(ctx, invoice, payment_method, durable, cause, presence).then(
                move |paid, actor, _| {
                    let answered =
                        paid.and_then(|invoice| actor.paid_outcome(&id, &invoice, ticket));
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
        if let Some(method) = &message.payment_method {
            self.use_payment_method(&mut changes, &mut subscription, method, now)?;
        }
        if message.change.plan.is_some() || message.change.quantity.is_some() {
            if let Some(pending) = &subscription.pending_update {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("plan"),
                    format!(
                        "subscription {} has a change waiting for invoice {} to be paid: pay or \
                         void it first",
                        subscription.id, pending.invoice
                    ),
                ));
            }
            let change = &message.change;
            let invoiced = match message.payment_behavior {
                PaymentBehavior::AllowIncomplete => {
                    self.change_plan(&mut changes, &mut subscription, change, now)?
                }
                PaymentBehavior::PendingIfIncomplete => {
                    self.change_once_paid(&mut changes, &mut subscription, change, now)?
                }
            };
            collect = invoiced.filter(|invoice| invoice.collecting);
        } else if message.payment_behavior == PaymentBehavior::PendingIfIncomplete {
            return Err(ActorError::invalid(
                "validation_error",
                Some("payment_behavior"),
                "`pending_if_incomplete` applies to a change of plan or quantity".to_owned(),
            ));
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
                // The paid period starts now, through the same step as a trial that ran out,
                // in one change set with the request's other changes and its answer.
                self.record_answer(&mut changes, &message.idempotency, &subscription, true);
                subscription.billing_cycle_anchor = now;
                let Step::Done { durable, collect } =
                    self.start_paid_period(changes, subscription.clone(), now)?
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

    /// The subscription pays with `method` (one of the customer's) from now on; a new one
    /// tries its invoice in dunning at once, whatever the earlier decline.
    fn use_payment_method(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        method: &PaymentMethodId,
        now: i64,
    ) -> Result<(), ActorError> {
        let state = self.accepting()?;
        if !state.payment_methods.iter().any(|own| &own.id == method) {
            return Err(ActorError::invalid(
                "payment_method_invalid",
                Some("payment_method"),
                format!("{method} is not a payment method of customer {}", subscription.customer),
            ));
        }
        if subscription.payment_method.as_ref() == Some(method) {
            return Ok(());
        }
        subscription.payment_method = Some(method.clone());
        let charged = subscription.collection_method == CollectionMethod::ChargeAutomatically;
        if let Some(dunning) = subscription.dunning.as_mut().filter(|_| charged) {
            dunning.next_retry_at = Some(now);
            self.show_next_retry(changes, dunning)?;
        }
        Ok(())
    }

    /// Cancels a running subscription at once, crediting nothing and collecting nothing: its
    /// customer is being erased.
    pub(crate) fn cancel_for_erasure(
        &mut self,
        id: &SubscriptionId,
        cause: &Cause,
    ) -> Result<(), ActorError> {
        let message = CancelSubscription {
            id: id.clone(),
            at_period_end: false,
            prorate: false,
            idempotency: None,
            cause: cause.clone(),
        };
        self.cancel(&message).map(|_| ())
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
                let (credit, _) = self.unused_credit(&subscription, now)?;
                let taken = self.credit_open_period_invoice(&subscription, credit, now)?;
                let credit = credit - taken.as_ref().map_or(0, |taken| taken.taken_minor);
                let credited = taken.map(|taken| taken.invoice);
                self.write_credited_invoice(&mut changes, &mut subscription, credited)?;
                let state = self.accepting()?;
                state.customer.balance_minor -= credit;
                changes.push(Write::Customer(state.customer.clone()));
            }
            subscription.status = SubscriptionStatus::Canceled;
            subscription.canceled_at = Some(now);
            subscription.ended_at = Some(now);
            collect = self.settle_pending_lines(&mut changes, &mut subscription, now)?;
            self.discount_released(&mut changes, &subscription)?;
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
}

impl CustomerActor {
    /// Pauses a running subscription now: no invoices, no retries of a failed payment (its
    /// invoice stays payable by hand) and no features until it resumes. The period it was in
    /// is not credited.
    fn pause(&mut self, message: &PauseSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let mut subscription = self.subscription(&message.id)?;
        if subscription.status.is_terminal() {
            return Err(canceled(&subscription));
        }
        let pausable = matches!(
            subscription.status,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
        );
        if !pausable {
            return Err(ActorError::invalid(
                "validation_error",
                Some("subscription"),
                format!(
                    "subscription {} is {}: only an active, past_due or unpaid one can be paused",
                    subscription.id,
                    subscription.status.as_str()
                ),
            ));
        }
        if let Some(at) = message.resumes_at
            && at <= now
        {
            return Err(ActorError::invalid(
                "validation_error",
                Some("resumes_at"),
                format!("`resumes_at` {at} is not after the customer's now ({now})"),
            ));
        }
        let mut changes = self.changes();
        if let Some(mut dunning) = subscription.dunning.take() {
            dunning.next_retry_at = None;
            self.show_next_retry(&mut changes, &dunning)?;
        }
        subscription.status = SubscriptionStatus::Paused;
        subscription.resumes_at = message.resumes_at;
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

    /// Resumes a paused subscription now: a new period from now, invoiced and charged before
    /// the answer (see [`CustomerActor::resume_period`]).
    fn resume(&mut self, message: &ResumeSubscription) -> Result<Decided, ActorError> {
        let now = self.billing_now()?;
        let subscription = self.subscription(&message.id)?;
        if subscription.status != SubscriptionStatus::Paused {
            return Err(ActorError::invalid(
                "validation_error",
                Some("subscription"),
                format!(
                    "subscription {} is {}, not paused",
                    subscription.id,
                    subscription.status.as_str()
                ),
            ));
        }
        let mut changes = self.changes();
        self.record_answer(&mut changes, &message.idempotency, &subscription, true);
        let Step::Done { durable, collect } =
            self.resume_period(changes, subscription.clone(), now)?
        else {
            unreachable!("a resumed subscription always starts a period");
        };
        let subscription = self.subscription(&subscription.id)?;
        let collect = collect.map(|collection| collection.invoice);
        Ok(Decided { subscription, durable, collect })
    }
}

/// Runs `decide` unless the request's key answered before, then answers as decided; in rule
/// rounds (`rule_rounds`), since a change may price an invoice.
macro_rules! keyed {
    ($actor:expr, $ctx:expr, $message:expr, $decide:ident) => {
        keyed!($actor, $ctx, $message, $decide, Presence::OnSession)
    };
    ($actor:expr, $ctx:expr, $message:expr, $decide:ident, $presence:expr) => {{
        match $actor.earlier_outcome($message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(
                outcome @ (Outcome::Subscription(_) | Outcome::SubscriptionDeclined { .. }),
            )) => return Box::pin($actor.once_durable(outcome).into_actor($actor)),
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        match $actor.$decide(&$message) {
            Ok(decided) => $actor.answer(
                $ctx,
                decided,
                $message.idempotency.clone(),
                &$message.cause,
                $presence,
            ),
            Err(error) => Box::pin(fut::ready(Err(error))),
        }
    }};
}

impl Handler<CreateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CreateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            // A subscription started for a customer who is not there (by a processor's
            // webhook, with the card it saved for later) makes its first payment off-session.
            let presence = match message.off_session {
                true => Presence::OffSession,
                false => Presence::OnSession,
            };
            keyed!(actor, ctx, message, begin_subscription, presence)
        })
    }
}

impl Handler<UpdateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: UpdateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            keyed!(actor, ctx, message, change_subscription)
        })
    }
}

impl Handler<CancelSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: CancelSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| keyed!(actor, ctx, message, cancel))
    }
}

impl Handler<PauseSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: PauseSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| keyed!(actor, ctx, message, pause))
    }
}

impl Handler<ResumeSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: ResumeSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| keyed!(actor, ctx, message, resume))
    }
}

impl Handler<ReactivateSubscription> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: ReactivateSubscription, ctx: &mut Context<Self>) -> Self::Result {
        self.in_rule_rounds(ctx, message, |actor, message, ctx| {
            keyed!(actor, ctx, message, reactivate)
        })
    }
}
